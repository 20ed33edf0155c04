/*
 * The configuration file: SPEC.md's keys, parsed with jansson into struct fiona_config.
 *
 * Every key is checked (type, range, references between sections) and every error names
 * its key path, because an operator reads these messages at 3 a.m. Unknown keys are
 * errors: a misspelt "quiet_secnds" must not silently run with the default. The file is
 * trusted less than code but more than DICOM: it is still fuzzed (fuzz_config).
 */
#include "core/core.h"

#include <errno.h>
#include <jansson.h>

#include "store/config_int.h"

/* What `make run` starts on without -c. DEMO01 lets a newcomer try the workflow (mkdir a
 * participant, mv a study) at once; its group is the admin group so whoever may see the
 * quarantine may also assign. It has no destination because no research PACS is known
 * here: its studies are read through the mount only, and .status says so. */
static const char default_json[] =
	"{ \"data_dir\": \"./var\", \"mount_point\": \"./mnt\",\n"
	"  \"secret_file\": \"./var/secret\", \"admin_group\": \"root\",\n"
	"  \"dicom\": { \"aet\": \"FIONA\", \"bind\": \"127.0.0.1\", \"port\": 11112,\n"
	"             \"allowed_callers\": [] },\n"
	"  \"quiet_seconds\": 15, \"quarantine_days\": 7, \"disk_high_watermark\": 0.80,\n"
	"  \"destinations\": {},\n"
	"  \"projects\": { \"DEMO01\": { \"group\": \"root\",\n"
	"                           \"participant_pattern\": \"^DEMO01-[0-9]{4}$\",\n"
	"                           \"events\": [ \"baseline\", \"followup\" ] } } }\n";

const char *config_default_json(void)
{
	return default_json;
}

/* Key path for messages: parent "." key, bounded. */
struct kpath config_kp(const char *parent, const char *key)
{
	struct kpath k;
	if (snprintf(k.s, sizeof(k.s), "%s%s%s", parent, *parent ? "." : "", key) < 0)
		k.s[0] = '\0'; /* a cut path is still a useful message */
	return k;
}

int config_bad(struct fiona_err *err, const char *path, const char *why)
{
	return err_set(err, -EINVAL, 0, 0, "%s: %s", path, why);
}

int config_take_str(json_t *v, const char *path, char **out, struct fiona_err *err)
{
	if (!json_is_string(v) || !json_string_length(v))
		return config_bad(err, path, "must be a non-empty string");
	if (memchr(json_string_value(v), 0, json_string_length(v)))
		return config_bad(err, path, "must not contain NUL");
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

int config_take_bool(json_t *v, const char *path, bool *out, struct fiona_err *err)
{
	if (!json_is_boolean(v))
		return config_bad(err, path, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

int config_take_long(json_t *v, const char *path, long min, long max, long *out,
		     struct fiona_err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		char why[96];
		snprintf(why, sizeof(why), "must be an integer from %ld to %ld", min, max);
		return config_bad(err, path, why);
	}
	*out = (long)json_integer_value(v);
	return 0;
}

static int aet_check(const char *aet, const char *path, struct fiona_err *err)
{
	size_t n = strlen(aet);

	if (n > 16)
		return config_bad(err, path, "an AE title has at most 16 characters");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)aet[i] < 0x20 || (unsigned char)aet[i] >= 0x7f || aet[i] == '\\')
			return config_bad(err, path,
					  "an AE title holds printable ASCII without '\\'");
	return 0;
}

static int parse_callers(json_t *arr, struct fiona_config *c, struct fiona_err *err)
{
	size_t i;
	json_t *it;

	if (!json_is_array(arr))
		return config_bad(err, "dicom.allowed_callers", "must be a list");
	c->allowed_callers = calloc(json_array_size(arr) + 1, sizeof(*c->allowed_callers));
	if (!c->allowed_callers)
		return -ENOMEM;
	json_array_foreach(arr, i, it)
	{
		struct config_caller *cc = &c->allowed_callers[c->n_allowed_callers++];
		char path[64];
		const char *k;
		json_t *v;
		int rc = 0;

		snprintf(path, sizeof(path), "dicom.allowed_callers[%zu]", i);
		if (!json_is_object(it) || !json_object_size(it))
			return config_bad(err, path,
					  "must be an object with \"aet\" and/or \"host\"");
		json_object_foreach(it, k, v)
		{
			struct kpath p = config_kp(path, k);
			if (!strcmp(k, "aet"))
				rc = config_take_str(v, p.s, &cc->aet, err)
					     ?: aet_check(cc->aet, p.s, err);
			else if (!strcmp(k, "host"))
				rc = config_take_str(v, p.s, &cc->host, err);
			else
				rc = config_bad(err, p.s, "unknown key");
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int parse_dicom(json_t *o, struct fiona_config *c, struct fiona_err *err)
{
	const char *k;
	json_t *v;
	long port;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, "dicom", "must be an object");
	json_object_foreach(o, k, v)
	{
		struct kpath p = config_kp("dicom", k);
		if (!strcmp(k, "aet"))
			rc = config_take_str(v, p.s, &c->aet, err) ?: aet_check(c->aet, p.s, err);
		else if (!strcmp(k, "bind"))
			rc = config_take_str(v, p.s, &c->bind, err);
		else if (!strcmp(k, "port"))
			rc = config_take_long(v, p.s, 1, 65535, &port, err)
				     ?: (c->port = (int)port, 0);
		else if (!strcmp(k, "allowed_callers"))
			rc = parse_callers(v, c, err);
		else
			rc = config_bad(err, p.s, "unknown key");
		if (rc)
			return rc;
	}
	if (!c->aet || !c->bind || !c->port)
		return config_bad(err, "dicom", "needs \"aet\", \"bind\" and \"port\"");
	return 0;
}

static int parse_destination(const char *name, json_t *o, struct config_destination *d,
			     struct fiona_err *err)
{
	struct kpath base = config_kp("destinations", name);
	const char *k;
	json_t *v;
	long n;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, base.s, "must be an object");
	d->name = strdup(name);
	d->associations = 1;
	if (!d->name)
		return -ENOMEM;
	json_object_foreach(o, k, v)
	{
		struct kpath p = config_kp(base.s, k);
		if (!strcmp(k, "aet"))
			rc = config_take_str(v, p.s, &d->aet, err) ?: aet_check(d->aet, p.s, err);
		else if (!strcmp(k, "calling_aet"))
			rc = config_take_str(v, p.s, &d->calling_aet, err)
				     ?: aet_check(d->calling_aet, p.s, err);
		else if (!strcmp(k, "host"))
			rc = config_take_str(v, p.s, &d->host, err);
		else if (!strcmp(k, "port"))
			rc = config_take_long(v, p.s, 1, 65535, &n, err) ?: (d->port = (int)n, 0);
		else if (!strcmp(k, "associations"))
			rc = config_take_long(v, p.s, 1, 32, &n, err)
				     ?: (d->associations = (int)n, 0);
		else
			rc = config_bad(err, p.s, "unknown key");
		if (rc)
			return rc;
	}
	if (!d->aet || !d->host || !d->port)
		return config_bad(err, base.s, "needs \"aet\", \"host\" and \"port\"");
	return 0;
}

static int regex_check(const char *re, const char *path, struct fiona_err *err)
{
	regex_t r;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB))
		return config_bad(err, path, "not a valid regular expression");
	regfree(&r);
	return 0;
}

static bool project_has_event(const struct config_project *p, const char *ev)
{
	for (size_t i = 0; i < p->n_events; i++)
		if (!strcmp(p->events[i], ev))
			return true;
	return false;
}

static int parse_events(json_t *a, const char *path, struct config_project *p,
			struct fiona_err *err)
{
	size_t i;
	json_t *it;

	if (!json_is_array(a) || !json_array_size(a))
		return config_bad(err, path, "must be a non-empty list of event names");
	p->events = calloc(json_array_size(a), sizeof(*p->events));
	if (!p->events)
		return -ENOMEM;
	json_array_foreach(a, i, it)
	{
		char ip[300];
		int rc;
		if (snprintf(ip, sizeof(ip), "%s[%zu]", path, i) < 0)
			ip[0] = '\0';
		rc = config_take_str(it, ip, &p->events[p->n_events], err);
		if (rc)
			return rc;
		p->n_events++;
		if (strchr(p->events[i], '/') || p->events[i][0] == '.')
			return config_bad(err, ip,
					  "an event name is a folder name: no '/', no leading '.'");
	}
	return 0;
}

static int parse_route(json_t *o, const char *path, struct config_route *r, struct fiona_err *err)
{
	const char *k;
	json_t *v;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, path, "must be an object");
	json_object_foreach(o, k, v)
	{
		struct kpath p = config_kp(path, k);
		char **dst = !strcmp(k, "patient_id")	  ? &r->patient_id
			     : !strcmp(k, "patient_name") ? &r->patient_name
			     : !strcmp(k, "calling_aet")  ? &r->calling_aet
			     : !strcmp(k, "called_aet")	  ? &r->called_aet
			     : !strcmp(k, "event")	  ? &r->event
							  : NULL;
		if (!dst)
			return config_bad(err, p.s, "unknown key");
		rc = config_take_str(v, p.s, dst, err);
		if (!rc && dst != &r->event)
			rc = regex_check(*dst, p.s, err);
		if (rc)
			return rc;
	}
	if (!r->event)
		return config_bad(err, path, "needs \"event\"");
	if (!r->patient_id && !r->patient_name)
		return config_bad(err, path, "needs \"patient_id\" or \"patient_name\"");
	return 0;
}

static int parse_routing(json_t *a, const char *path, struct config_project *p,
			 struct fiona_err *err)
{
	size_t i;
	json_t *it;

	if (!json_is_array(a))
		return config_bad(err, path, "must be a list");
	p->routing = calloc(json_array_size(a) + 1, sizeof(*p->routing));
	if (!p->routing)
		return -ENOMEM;
	json_array_foreach(a, i, it)
	{
		char ip[300];
		int rc;
		if (snprintf(ip, sizeof(ip), "%s[%zu]", path, i) < 0)
			ip[0] = '\0';
		rc = parse_route(it, ip, &p->routing[p->n_routing++], err);
		if (rc)
			return rc;
	}
	return 0;
}

static int project_key(json_t *v, const char *k, const char *path, struct config_project *p,
		       struct fiona_err *err)
{
	if (!strcmp(k, "group"))
		return config_take_str(v, path, &p->group, err);
	if (!strcmp(k, "participant_pattern"))
		return config_take_str(v, path, &p->participant_pattern, err);
	if (!strcmp(k, "destination"))
		return config_take_str(v, path, &p->destination, err);
	if (!strcmp(k, "profile"))
		return config_take_str(v, path, &p->profile, err);
	if (!strcmp(k, "export_profile"))
		return config_take_str(v, path, &p->export_profile, err);
	if (!strcmp(k, "events"))
		return parse_events(v, path, p, err);
	if (!strcmp(k, "routing"))
		return parse_routing(v, path, p, err);
	if (!strcmp(k, "pixels"))
		return config_parse_pixels(v, path, &p->pixels, err);
	if (!strcmp(k, "redcap_token_file"))
		return config_take_str(v, path, &p->redcap_token_file, err);
	if (!strcmp(k, "autoid"))
		return config_parse_autoid(v, path, &p->autoid, err);
	if (!strcmp(k, "nifti")) { /* default true: export/ event folders hold nifti/ */
		bool on = true;
		int rc = config_take_bool(v, path, &on, err);

		p->nifti_off = !on;
		return rc;
	}
	return config_bad(err, path, "unknown key");
}

static int parse_project(const char *name, json_t *o, struct config_project *p,
			 struct fiona_err *err)
{
	struct kpath base = config_kp("projects", name);
	const char *k;
	json_t *v;
	size_t n = strlen(name);
	int rc;

	if (n < 5 || n > 20)
		return config_bad(err, base.s, "a project name has 5 to 20 characters");
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '-'))
			return config_bad(err, base.s,
					  "a project name holds letters, digits, '_' and '-'");
	if (!json_is_object(o))
		return config_bad(err, base.s, "must be an object");
	p->name = strdup(name);
	if (!p->name)
		return -ENOMEM;
	json_object_foreach(o, k, v)
	{
		struct kpath path = config_kp(base.s, k);
		rc = project_key(v, k, path.s, p, err);
		if (rc)
			return rc;
	}
	if (!p->group || !p->participant_pattern || !p->events)
		return config_bad(err, base.s,
				  "needs \"group\", \"participant_pattern\" and \"events\"");
	if (regcomp(&p->participant_re, p->participant_pattern, REG_EXTENDED | REG_NOSUB))
		return config_bad(err, config_kp(base.s, "participant_pattern").s,
				  "not a valid regular expression");
	p->participant_re_ok = true;
	for (size_t i = 0; i < p->n_routing; i++)
		if (!project_has_event(p, p->routing[i].event))
			return config_bad(err, config_kp(base.s, "routing").s,
					  "routes to an event the project lacks");
	if (p->autoid && p->autoid->event && !project_has_event(p, p->autoid->event))
		return config_bad(err, config_kp(base.s, "autoid.event").s,
				  "names an event the project lacks");
	return 0;
}
typedef int (*entry_parser)(const char *name, json_t *o, void *slot, struct fiona_err *err);

/* Destinations and projects are both objects of named entries; each entry
 * is parsed into the next slot of a zeroed array so that a failure halfway
 * still leaves config_free() something it can walk. */
static int parse_named_map(json_t *o, const char *key, size_t size, void **arr, size_t *n,
			   entry_parser parse, struct fiona_err *err)
{
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(o))
		return config_bad(err, key, "must be an object");
	*arr = calloc(json_object_size(o) + 1, size);
	if (!*arr)
		return -ENOMEM;
	json_object_foreach(o, k, v)
	{
		rc = parse(k, v, (char *)*arr + size * (*n)++, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_destination_entry(const char *k, json_t *v, void *slot, struct fiona_err *err)
{
	return parse_destination(k, v, slot, err);
}

static int parse_project_entry(const char *k, json_t *v, void *slot, struct fiona_err *err)
{
	return parse_project(k, v, slot, err);
}

static int parse_root_key(const char *k, json_t *v, struct fiona_config *c, struct fiona_err *err)
{
	int rc;

	if (!strcmp(k, "data_dir"))
		return config_take_str(v, k, &c->data_dir, err);
	if (!strcmp(k, "mount_point"))
		return config_take_str(v, k, &c->mount_point, err);
	if (!strcmp(k, "secret_file"))
		return config_take_str(v, k, &c->secret_file, err);
	if (!strcmp(k, "admin_group"))
		return config_take_str(v, k, &c->admin_group, err);
	if (!strcmp(k, "classify_rules"))
		return config_take_str(v, k, &c->classify_rules, err);
	if (!strcmp(k, "pixel_rules"))
		return config_take_str(v, k, &c->pixel_rules, err);
	if (!strcmp(k, "quiet_seconds"))
		return config_take_long(v, k, 1, 86400, &c->quiet_seconds, err);
	if (!strcmp(k, "quarantine_days"))
		return config_take_long(v, k, 1, 3650, &c->quarantine_days, err);
	if (!strcmp(k, "disk_high_watermark")) {
		if (!json_is_number(v) || json_number_value(v) <= 0.0 || json_number_value(v) > 1.0)
			return config_bad(err, k, "must be a number above 0 and at most 1");
		c->disk_high_watermark = json_number_value(v);
		return 0;
	}
	if (!strcmp(k, "dicom"))
		return parse_dicom(v, c, err);
	if (!strcmp(k, "destinations"))
		return parse_named_map(v, "destinations", sizeof(*c->destinations),
				       (void **)&c->destinations, &c->n_destinations,
				       parse_destination_entry, err);
	if (!strcmp(k, "projects"))
		return parse_named_map(v, "projects", sizeof(*c->projects), (void **)&c->projects,
				       &c->n_projects, parse_project_entry, err);
	if (!strcmp(k, "redcap"))
		return config_parse_redcap(v, &c->redcap, err);
	if ((rc = config_parse_shared_key(k, v, &c->shared, err)))
		return rc < 0 ? rc : 0;
	return config_bad(err, k, "unknown key");
}

/* Cross-section checks once everything is parsed. */
static int config_check(struct fiona_config *c, struct fiona_err *err)
{
	if (!c->data_dir || !c->mount_point || !c->secret_file || !c->aet)
		return config_bad(
			err, "(top level)",
			"needs \"data_dir\", \"mount_point\", \"secret_file\" and \"dicom\"");
	for (size_t i = 0; i < c->n_projects; i++) {
		const struct config_project *p = &c->projects[i];
		if (p->destination && !config_destination(c, p->destination))
			return config_bad(
				err, config_kp(config_kp("projects", p->name).s, "destination").s,
				"names no entry of \"destinations\"");
	}
	return config_check_shared(&c->shared, err);
}

int config_parse(const char *json, size_t len, struct fiona_config **out, struct fiona_err *err)
{
	struct fiona_config *c = calloc(1, sizeof(*c));
	json_error_t je;
	json_t *root = NULL, *v;
	const char *k;
	int rc = -ENOMEM;

	if (!c)
		goto fail;
	c->quiet_seconds = 15;
	c->quarantine_days = 7;
	c->disk_high_watermark = 0.80;
	c->shared.s3_cache_mb = 4096;
	c->shared.s3_grace_seconds = 3600;
	c->shared.lease_seconds = 60;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		rc = err_set(err, -EINVAL, (uint64_t)je.position, 0, "line %d: %s", je.line,
			     je.text);
		goto fail;
	}
	rc = json_is_object(root) ? 0 : config_bad(err, "(top level)", "must be a JSON object");
	json_object_foreach(root, k, v)
	{
		if (rc)
			break;
		rc = parse_root_key(k, v, c, err);
	}
	if (!rc)
		rc = config_check(c, err);
	if (rc)
		goto fail;
	json_decref(root);
	*out = c;
	return 0;
fail:
	json_decref(root);
	config_free(c);
	return rc;
}

int config_load(const char *path, struct fiona_config **out, struct fiona_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc = core_read_file(path, 1 << 20, &data, &len);

	if (rc)
		return err_set(err, rc, 0, 0, "%s: %s", path, strerror(-rc));
	rc = config_parse(data, len, out, err);
	free(data);
	return rc;
}

static void project_free(struct config_project *p)
{
	for (size_t i = 0; i < p->n_events; i++)
		free(p->events[i]);
	for (size_t i = 0; i < p->n_routing; i++) {
		struct config_route *r = &p->routing[i];
		free(r->patient_id), free(r->patient_name), free(r->calling_aet);
		free(r->called_aet), free(r->event);
	}
	if (p->participant_re_ok)
		regfree(&p->participant_re);
	free(p->events), free(p->routing), free(p->name), free(p->group);
	free(p->participant_pattern), free(p->destination), free(p->profile);
	free(p->export_profile), free(p->redcap_token_file);
	config_pixels_free(&p->pixels);
	config_autoid_free(p->autoid);
}

void config_free(struct fiona_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_allowed_callers; i++)
		free(c->allowed_callers[i].aet), free(c->allowed_callers[i].host);
	for (size_t i = 0; i < c->n_destinations; i++) {
		struct config_destination *d = &c->destinations[i];
		free(d->name), free(d->aet), free(d->host), free(d->calling_aet);
	}
	for (size_t i = 0; i < c->n_projects; i++)
		project_free(&c->projects[i]);
	free(c->allowed_callers), free(c->destinations), free(c->projects);
	free(c->data_dir), free(c->mount_point), free(c->secret_file), free(c->admin_group);
	free(c->classify_rules), free(c->pixel_rules), free(c->aet), free(c->bind);
	config_redcap_free(c->redcap);
	config_shared_free(&c->shared);
	free(c);
}

const struct config_project *config_project(const struct fiona_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_projects; i++)
		if (!strcmp(c->projects[i].name, name))
			return &c->projects[i];
	return NULL;
}

const struct config_destination *config_destination(const struct fiona_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_destinations; i++)
		if (!strcmp(c->destinations[i].name, name))
			return &c->destinations[i];
	return NULL;
}
