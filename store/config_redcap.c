/*
 * The "redcap" section and a project's "autoid" object (docs/redcap.md):
 *
 *   "redcap": { "url": "https://redcap.example.org/api/",
 *               "token_file": "./var/redcap/incoming.token",
 *               "tokens": { "projects": "...", "routing": "...", "coupling": "...",
 *                           "autoid": "..." },
 *               "ca_file": "/etc/ssl/certs/site-ca.pem",
 *               "requests_per_minute": 60, "poll_seconds": 60,
 *               "timeout_seconds": 60, "batch_rows": 200, "retry_max_seconds": 300 }
 *
 *   "autoid": { "aet": "PROJ01AUTO", "event": "baseline", "pattern": "^PROJ01-[0-9]{4}$" }
 *
 * The URL must end in "/api/" (REDCap answers anything else with an HTML page) and be
 * https; plain http is accepted for a loopback host only, which is what tests use. The
 * request budget is capped at 300 a minute because REDCap bans an IP for good at its
 * limit (600 by default), and every gateway process shares that IP's count.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "store/config_int.h"

static int url_check(const char *url, struct fiona_err *err)
{
	size_t n = strlen(url);

	if (n < 6 || strcmp(url + n - 5, "/api/"))
		return config_bad(err, "redcap.url", "must end in \"/api/\"");
	if (!strncmp(url, "https://", 8))
		return 0;
	if (strncmp(url, "http://", 7))
		return config_bad(err, "redcap.url", "must be an https:// URL");
	if (config_loopback_http(url))
		return 0;
	return config_bad(err, "redcap.url",
			  "plain http is only accepted for a loopback host: use https");
}

static int parse_tokens(json_t *o, struct config_redcap *r, struct fiona_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return config_bad(err, "redcap.tokens", "must be an object");
	json_object_foreach(o, k, v)
	{
		struct kpath p = config_kp("redcap.tokens", k);
		char **dst = !strcmp(k, "projects")   ? &r->projects_token_file
			     : !strcmp(k, "routing")  ? &r->routing_token_file
			     : !strcmp(k, "coupling") ? &r->coupling_token_file
			     : !strcmp(k, "autoid")   ? &r->autoid_token_file
						      : NULL;
		int rc;

		if (!dst)
			return config_bad(err, p.s,
					  "unknown key (projects, routing, coupling, autoid)");
		if ((rc = config_take_str(v, p.s, dst, err)))
			return rc;
	}
	return 0;
}

static int redcap_key(const char *k, json_t *v, struct config_redcap *r, struct fiona_err *err)
{
	struct kpath p = config_kp("redcap", k);

	if (!strcmp(k, "url"))
		return config_take_str(v, p.s, &r->url, err);
	if (!strcmp(k, "token_file"))
		return config_take_str(v, p.s, &r->token_file, err);
	if (!strcmp(k, "ca_file"))
		return config_take_str(v, p.s, &r->ca_file, err);
	if (!strcmp(k, "tokens"))
		return parse_tokens(v, r, err);
	if (!strcmp(k, "requests_per_minute"))
		return config_take_long(v, p.s, 1, 300, &r->requests_per_minute, err);
	if (!strcmp(k, "poll_seconds"))
		return config_take_long(v, p.s, 1, 86400, &r->poll_seconds, err);
	if (!strcmp(k, "timeout_seconds"))
		return config_take_long(v, p.s, 1, 3600, &r->timeout_seconds, err);
	if (!strcmp(k, "retry_max_seconds"))
		return config_take_long(v, p.s, 1, 3600, &r->retry_max_seconds, err);
	if (!strcmp(k, "batch_rows"))
		return config_take_long(v, p.s, 1, 1000, &r->batch_rows, err);
	return config_bad(err, p.s, "unknown key");
}

int config_parse_redcap(json_t *o, struct config_redcap **out, struct fiona_err *err)
{
	struct config_redcap *r;
	const char *k;
	json_t *v;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, "redcap", "must be an object");
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	*out = r; /* config_free() frees what was parsed when a key fails */
	r->requests_per_minute = 60;
	r->poll_seconds = 60;
	r->timeout_seconds = 60;
	r->batch_rows = 200;
	r->retry_max_seconds = 300;
	json_object_foreach(o, k, v)
	{
		if ((rc = redcap_key(k, v, r, err)))
			return rc;
	}
	if (!r->url || !r->token_file)
		return config_bad(err, "redcap", "needs \"url\" and \"token_file\"");
	return url_check(r->url, err);
}

void config_redcap_free(struct config_redcap *r)
{
	if (!r)
		return;
	free(r->url), free(r->token_file), free(r->projects_token_file);
	free(r->routing_token_file), free(r->coupling_token_file), free(r->autoid_token_file);
	free(r->ca_file);
	free(r);
}

int config_parse_autoid(json_t *o, const char *path, struct config_autoid **out,
			struct fiona_err *err)
{
	struct config_autoid *a;
	const char *k;
	json_t *v;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, path, "must be an object");
	if (!(a = calloc(1, sizeof(*a))))
		return -ENOMEM;
	*out = a;
	json_object_foreach(o, k, v)
	{
		struct kpath p = config_kp(path, k);

		if (!strcmp(k, "aet"))
			rc = config_take_str(v, p.s, &a->aet, err);
		else if (!strcmp(k, "event"))
			rc = config_take_str(v, p.s, &a->event, err);
		else if (!strcmp(k, "pattern"))
			rc = config_take_str(v, p.s, &a->pattern, err);
		else
			rc = config_bad(err, p.s, "unknown key (aet, event, pattern)");
		if (rc)
			return rc;
	}
	if (!a->aet)
		return config_bad(err, path, "needs \"aet\" (the AE title studies are sent to)");
	if (strlen(a->aet) > 16)
		return config_bad(err, config_kp(path, "aet").s, "an AE title has 1-16 characters");
	return 0;
}

void config_autoid_free(struct config_autoid *a)
{
	if (!a)
		return;
	free(a->aet), free(a->event), free(a->pattern);
	free(a);
}
