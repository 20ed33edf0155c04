/*
 * The keys that put the catalog and the objects on shared stores (docs/scale-out.md):
 *
 *   "catalog": "postgres:host=db.example.org dbname=fiona user=fiona",
 *   "objects": "s3:https://s3.example.org/fiona-objects",
 *   "gateway": "hus-a",
 *   "lease_seconds": 60,
 *   "s3": { "key_file": "/etc/fiona/s3.key", "region": "us-east-1",
 *           "ca_file": "/etc/ssl/certs/site-ca.pem", "cache_mb": 4096,
 *           "grace_seconds": 3600 }
 *
 * Without them the catalog is SQLite in data_dir and the objects are files there. S3
 * needs its key file; plain http is accepted for a loopback endpoint only, as for REDCap.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "store/config_int.h"

static int parse_s3(json_t *o, struct config_shared *c, struct fiona_err *err)
{
	const char *k;
	json_t *v;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, "s3", "must be an object");
	json_object_foreach(o, k, v)
	{
		struct kpath p = config_kp("s3", k);

		if (!strcmp(k, "key_file"))
			rc = config_take_str(v, p.s, &c->s3_key_file, err);
		else if (!strcmp(k, "region"))
			rc = config_take_str(v, p.s, &c->s3_region, err);
		else if (!strcmp(k, "ca_file"))
			rc = config_take_str(v, p.s, &c->s3_ca_file, err);
		else if (!strcmp(k, "cache_mb"))
			rc = config_take_long(v, p.s, 1, 1L << 24, &c->s3_cache_mb, err);
		else if (!strcmp(k, "grace_seconds"))
			rc = config_take_long(v, p.s, 1, 30L * 86400, &c->s3_grace_seconds, err);
		else
			rc = config_bad(err, p.s, "unknown key");
		if (rc)
			return rc;
	}
	return 0;
}

int config_parse_shared_key(const char *k, json_t *v, struct config_shared *c,
			    struct fiona_err *err)
{
	int rc;

	if (!strcmp(k, "catalog"))
		rc = config_take_str(v, k, &c->catalog, err);
	else if (!strcmp(k, "objects"))
		rc = config_take_str(v, k, &c->objects, err);
	else if (!strcmp(k, "gateway"))
		rc = config_take_str(v, k, &c->gateway, err);
	else if (!strcmp(k, "lease_seconds"))
		rc = config_take_long(v, k, 2, 3600, &c->lease_seconds, err);
	else if (!strcmp(k, "s3"))
		rc = parse_s3(v, c, err);
	else
		return 0;
	return rc ? rc : 1;
}

bool config_loopback_http(const char *url)
{
	const char *h = url + 7;

	return !strncmp(url, "http://", 7) &&
	       (!strncmp(h, "127.0.0.1:", 10) || !strncmp(h, "127.0.0.1/", 10) ||
		!strncmp(h, "localhost:", 10) || !strncmp(h, "localhost/", 10) ||
		!strncmp(h, "[::1]", 5));
}

static int check_objects(const struct config_shared *c, struct fiona_err *err)
{
	const char *url, *slash;

	if (!strncmp(c->objects, "dir:", 4))
		return c->objects[4] ? 0 : config_bad(err, "objects", "\"dir:\" needs a path");
	if (strncmp(c->objects, "s3:", 3))
		return config_bad(err, "objects", "must be \"dir:PATH\" or \"s3:URL/BUCKET\"");
	url = c->objects + 3;
	if (strncmp(url, "https://", 8) && !config_loopback_http(url))
		return config_bad(err, "objects",
				  "the S3 endpoint must be https:// (http:// only on loopback)");
	slash = strchr(strstr(url, "//") + 2, '/');
	if (!slash || !slash[1] || strchr(slash + 1, '/'))
		return config_bad(err, "objects", "must end in /BUCKET (one path element)");
	if (!c->s3_key_file)
		return config_bad(err, "s3.key_file", "is needed for objects on S3");
	return 0;
}

/* The gateway's name starts its lease tokens ("<gateway>/<start>.<n>", transfers.c) and
 * names its rows in leads: a '/' in it would let one gateway's prefix match another's
 * tokens, and a name past the store's 63 bytes would be cut, so two long names could
 * become one. Host-name characters only. */
static int check_gateway(const char *g, struct fiona_err *err)
{
	size_t n = strlen(g);

	if (n > 63 ||
	    strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") != n)
		return config_bad(err, "gateway",
				  "must be 1 to 63 letters, digits, '.', '-' or '_'");
	return 0;
}

int config_check_shared(const struct config_shared *c, struct fiona_err *err)
{
	int rc;

	if (c->gateway && (rc = check_gateway(c->gateway, err)))
		return rc;
	if (c->catalog && strncmp(c->catalog, "sqlite:", 7) && strncmp(c->catalog, "postgres:", 9))
		return config_bad(err, "catalog",
				  "must be \"sqlite:PATH\" or \"postgres:CONNINFO\"");
	if (c->catalog && !strchr(c->catalog, ':')[1])
		return config_bad(err, "catalog", "is empty after its engine");
	return c->objects ? check_objects(c, err) : 0;
}

void config_shared_free(struct config_shared *c)
{
	free(c->catalog), free(c->objects), free(c->gateway);
	free(c->s3_key_file), free(c->s3_region), free(c->s3_ca_file);
}
