/*
 * sync: the REDCap thread. Each round it writes what the outbox names (push.c) and, every
 * poll_seconds, reads what REDCap adds (pull.c). Every request goes through rc_call: the
 * budget first, then the answer's class decides what happens to all traffic — a ban
 * stops everything (one probe every 15 minutes, logged loudly each time), transient
 * failures back off exponentially (2, 4, ... 300 s) with jitter, and a permanent refusal
 * belongs to the request that got it. State for `fiona status` goes to the catalog.
 */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "redcap/redcap_int.h"

#define PROBE_SECONDS 900.0
#define ROUND_SECONDS 1.0

static bool sleep_for(struct redcap_sync *r, double seconds)
{
	struct timespec ts;
	double until = core_now_wall() + seconds;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)seconds;
	ts.tv_nsec += (long)((seconds - floor(seconds)) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_sec++, ts.tv_nsec -= 1000000000L;
	pthread_mutex_lock(&r->mu);
	while (!atomic_load(&r->stop) && (double)core_now_wall() < until)
		if (pthread_cond_timedwait(&r->cond, &r->mu, &ts))
			break;
	pthread_mutex_unlock(&r->mu);
	return !atomic_load(&r->stop);
}

static void note_state(struct redcap_sync *r, const char *key, const char *value)
{
	store_rc_state_set(r->s, key, value);
}

static void after_answer(struct redcap_sync *r, enum redcap_class k, const char *why)
{
	char at[32];

	snprintf(at, sizeof(at), "%lld", (long long)time(NULL));
	if (k == REDCAP_OK) {
		if (r->failures || r->banned)
			log_msg(r->log, LOG_INFO, "redcap", "REDCap answers again");
		if (r->banned)
			note_state(r, "banned", "");
		r->failures = 0;
		r->banned = false;
		note_state(r, "last_ok", at);
		return;
	}
	if (k == REDCAP_BANNED) {
		r->banned = true;
		r->next_probe = core_now_mono() + PROBE_SECONDS;
		log_msg(r->log, LOG_ERROR, "redcap",
			"%s; all REDCap traffic stopped (probing every %.0f minutes)", why,
			PROBE_SECONDS / 60);
		note_state(r, "banned", why);
	} else if (k == REDCAP_TRANSIENT) {
		uint32_t j = 0;
		double wait = pow(2.0, (double)(r->failures < 8 ? r->failures + 1 : 9));

		getrandom(&j, sizeof(j), 0);
		if (wait > (double)r->cfg->redcap->retry_max_seconds)
			wait = (double)r->cfg->redcap->retry_max_seconds;
		wait *= 0.75 + (j % 1000) / 2000.0; /* jitter: gateways do not retry in step */
		r->failures++;
		r->backoff_until = core_now_mono() + wait;
		if (r->failures == 1 || r->failures % 10 == 0)
			log_msg(r->log, LOG_WARN, "redcap", "%s; trying again in %.0f s", why,
				wait);
	}
	note_state(r, "last_error", why);
}

enum redcap_class rc_call(struct redcap_sync *r, struct rc_target *t, const char *const *kv,
			  size_t n, struct rc_reply *out, char *why, size_t cap)
{
	bool json = false;
	enum redcap_class k;
	double wait;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i + 1 < n; i += 2)
		json |= !strcmp(kv[i], "format") && !strcmp(kv[i + 1], "json");
	if (r->banned) {
		snprintf(why, cap, "REDCap banned this address: not asked");
		return REDCAP_BANNED;
	}
	while ((wait = rc_budget_wait(&r->http)) > 0)
		if (!sleep_for(r, wait)) {
			snprintf(why, cap, "stopping");
			return REDCAP_TRANSIENT;
		}
	if (rc_post(&r->http, t->token, kv, n, out)) {
		snprintf(why, cap, "out of memory");
		return REDCAP_TRANSIENT;
	}
	if (out->status == 0) {
		snprintf(why, cap, "REDCap unreachable: %s", out->error);
		k = REDCAP_TRANSIENT;
	} else {
		k = redcap_classify(out->status, (const char *)out->body.data, out->body.len, json,
				    why, cap);
	}
	if (k != REDCAP_PERMANENT)
		after_answer(r, k, why);
	else
		note_state(r, "last_error", why);
	return k;
}

static void field_add(struct rc_target *t, const char *name, const char *form, const char *val,
		      const char *choices)
{
	size_t n = t->n_fields;
	char **f = realloc(t->fields, (n + 2) * sizeof(*f));
	char **v = f ? realloc(t->validation, (n + 2) * sizeof(*v)) : NULL;
	char **c = v ? realloc(t->choices, (n + 2) * sizeof(*c)) : NULL;
	char **m = c ? realloc(t->forms, (n + 2) * sizeof(*m)) : NULL;

	if (f)
		t->fields = f;
	if (v)
		t->validation = v;
	if (c)
		t->choices = c;
	if (!m)
		return;
	t->forms = m;
	f[n] = strdup(name), v[n] = strdup(val), c[n] = strdup(choices), m[n] = strdup(form);
	f[n + 1] = v[n + 1] = c[n + 1] = m[n + 1] = NULL;
	t->n_fields = n + 1;
}

/* A checkbox f is exported and imported as f___code per choice, the code lower-cased. */
static void checkbox_fields(struct rc_target *t, const char *name, const char *form,
			    const char *choices)
{
	for (const char *p = choices; p && *p;) {
		const char *bar = strchr(p, '|'), *comma;
		char f[160];
		size_t n = 0, len = bar ? (size_t)(bar - p) : strlen(p);

		while (len && *p == ' ')
			p++, len--;
		comma = memchr(p, ',', len);
		if (comma) {
			n = (size_t)snprintf(f, sizeof(f), "%s___", name);
			for (const char *c = p; c < comma && n + 1 < sizeof(f); c++)
				if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
				    *c == '_')
					f[n++] = *c;
				else if (*c >= 'A' && *c <= 'Z')
					f[n++] = (char)(*c - 'A' + 'a');
			f[n] = '\0';
			field_add(t, f, form, "", "");
		}
		p = bar ? bar + 1 : NULL;
	}
}

/* Reads the dictionary: field names (a checkbox f also as f___code), validations,
 * choices; every form's <form>_complete; the record id field is the first. */
static int read_metadata(struct redcap_sync *r, struct rc_target *t)
{
	const char *kv[] = {"content", "metadata", "format", "json", "returnFormat", "json"};
	struct redcap_rows rows = {0};
	struct fiona_err err = {0};
	struct rc_reply rep;
	char why[256];
	int rc = -EAGAIN;

	if (rc_call(r, t, kv, CORE_ARRAY_SIZE(kv), &rep, why, sizeof(why)) != REDCAP_OK)
		goto out;
	if (redcap_parse_rows((const char *)rep.body.data, rep.body.len, &rows, &err)) {
		after_answer(r, REDCAP_TRANSIENT, err.reason);
		goto out;
	}
	for (size_t i = 0; i < rows.n; i++) {
		const struct redcap_row *m = &rows.rows[i];
		const char *name = redcap_get(m, "field_name"), *form = redcap_get(m, "form_name");
		char complete[128];

		if (i == 0)
			snprintf(t->record_field, sizeof(t->record_field), "%s", name);
		field_add(t, name, form,
			  redcap_get(m, "text_validation_type_or_show_slider_number"),
			  redcap_get(m, "select_choices_or_calculations"));
		if (!strcmp(redcap_get(m, "field_type"), "checkbox"))
			checkbox_fields(t, name, form,
					redcap_get(m, "select_choices_or_calculations"));
		snprintf(complete, sizeof(complete), "%s_complete", form);
		if (!rc_has_field(t, complete))
			field_add(t, complete, form, "", "");
	}
	rc = t->n_fields ? 0 : -EAGAIN;
out:
	redcap_rows_free(&rows);
	rc_reply_free(&rep);
	return rc;
}

/* The event the repeating imaging form is designated for (the original's event_1_arm_1),
 * as repeatingFormsEvents says; the first event when it names none. */
static int read_imaging_event(struct redcap_sync *r, struct rc_target *t)
{
	const char *kv[] = {"content", "repeatingFormsEvents", "format",
			    "json",    "returnFormat",	       "json"};
	struct redcap_rows rows = {0};
	struct fiona_err err = {0};
	struct rc_reply rep;
	char why[256];
	enum redcap_class k = rc_call(r, t, kv, CORE_ARRAY_SIZE(kv), &rep, why, sizeof(why));
	int rc = 0;

	snprintf(t->imaging_event, sizeof(t->imaging_event), "%s", t->first_event);
	if (k == REDCAP_OK &&
	    redcap_parse_rows((const char *)rep.body.data, rep.body.len, &rows, &err) == 0) {
		for (size_t i = 0; i < rows.n; i++)
			if (!strcmp(redcap_get(&rows.rows[i], "form_name"), "imaging"))
				snprintf(t->imaging_event, sizeof(t->imaging_event), "%s",
					 redcap_get(&rows.rows[i], "event_name"));
	} else if (k != REDCAP_PERMANENT) {
		rc = -EAGAIN;
	}
	redcap_rows_free(&rows);
	rc_reply_free(&rep);
	return rc;
}

/* Longitudinal projects: the first unique event name, as REDCap gives it (never derived
 * from a label: REDCap's rules for it are its own). */
static int read_first_event(struct redcap_sync *r, struct rc_target *t)
{
	const char *kv[] = {"content", "event", "format", "json", "returnFormat", "json"};
	struct redcap_rows rows = {0};
	struct fiona_err err = {0};
	struct rc_reply rep;
	char why[256];
	enum redcap_class k = rc_call(r, t, kv, CORE_ARRAY_SIZE(kv), &rep, why, sizeof(why));
	int rc = 0;

	if (k == REDCAP_PERMANENT) /* "You cannot export events for classic projects" */
		t->longitudinal = false;
	else if (k != REDCAP_OK ||
		 redcap_parse_rows((const char *)rep.body.data, rep.body.len, &rows, &err))
		rc = -EAGAIN;
	else if (rows.n) {
		t->longitudinal = true;
		snprintf(t->first_event, sizeof(t->first_event), "%s",
			 redcap_get(&rows.rows[0], "unique_event_name"));
	}
	redcap_rows_free(&rows);
	rc_reply_free(&rep);
	return rc ? rc : t->longitudinal ? read_imaging_event(r, t) : 0;
}

int rc_target_ready(struct redcap_sync *r, struct rc_target *t)
{
	int rc;

	if (!t->token[0])
		return -ENOENT;
	if (t->fields)
		return 0;
	if ((rc = read_metadata(r, t)) == 0 && (rc = read_first_event(r, t)))
		rc_target_release(t); /* read again next time */
	return rc;
}

bool rc_has_field(const struct rc_target *t, const char *f)
{
	for (size_t i = 0; i < t->n_fields; i++)
		if (!strcmp(t->fields[i], f))
			return true;
	return false;
}

static const char *field_attr(const struct rc_target *t, char **attr, const char *f)
{
	for (size_t i = 0; attr && i < t->n_fields; i++)
		if (!strcmp(t->fields[i], f))
			return attr[i] ? attr[i] : "";
	return "";
}

const char *rc_field_validation(const struct rc_target *t, const char *f)
{
	return field_attr(t, t->validation, f);
}

const char *rc_field_choices(const struct rc_target *t, const char *f)
{
	return field_attr(t, t->choices, f);
}

void rc_target_release(struct rc_target *t)
{
	for (size_t i = 0; i < t->n_fields; i++)
		free(t->fields[i]), free(t->validation[i]), free(t->choices[i]), free(t->forms[i]);
	free(t->fields), free(t->validation), free(t->choices), free(t->forms);
	t->fields = t->validation = t->choices = t->forms = NULL;
	t->n_fields = 0;
}

static void probe(struct redcap_sync *r)
{
	const char *kv[] = {"content", "version"};
	struct rc_reply rep;
	char why[256];

	r->banned = false; /* one request to see whether the ban was lifted */
	if (rc_call(r, &r->incoming, kv, CORE_ARRAY_SIZE(kv), &rep, why, sizeof(why)) ==
	    REDCAP_BANNED)
		log_msg(r->log, LOG_ERROR, "redcap", "still banned: REDCap traffic stays stopped");
	rc_reply_free(&rep);
}

/* A round a second; a back-off that ends sooner is met when it ends, not up to a round
 * later. */
static double round_nap(const struct redcap_sync *r)
{
	double left = r->backoff_until - core_now_mono();

	return !r->banned && left > 0.05 && left < ROUND_SECONDS ? left : ROUND_SECONDS;
}

static void *sync_main(void *arg)
{
	struct redcap_sync *r = arg;

	while (!atomic_load(&r->stop)) {
		double now = core_now_mono();

		if (!store_lead(r->s, STORE_JOB_REDCAP)) { /* another gateway syncs */
			sleep_for(r, ROUND_SECONDS);
			continue;
		}
		if (r->banned && now >= r->next_probe)
			probe(r);
		if (!r->banned && now >= r->backoff_until) {
			if (now >= r->next_poll) {
				r->next_poll = now + (double)r->cfg->redcap->poll_seconds;
				rc_pull(r);
			}
			if (core_now_mono() >= r->backoff_until)
				rc_push(r);
		}
		sleep_for(r, round_nap(r));
	}
	return NULL;
}

static int load_token(struct rc_target *t, const char *name, const char *path,
		      struct fiona_err *err)
{
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (!path)
		return 0;
	return redcap_token_load(path, t->token, sizeof(t->token), err);
}

static void sync_free(struct redcap_sync *r)
{
	struct rc_target *all[] = {&r->incoming, &r->projects, &r->routing, &r->coupling,
				   &r->autoid};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(all); i++)
		rc_target_release(all[i]), explicit_bzero(all[i]->token, sizeof(all[i]->token));
	for (size_t i = 0; i < r->n_proj; i++)
		rc_target_release(&r->proj[i]), explicit_bzero(r->proj[i].token, 72);
	free(r->proj);
	rc_client_release(&r->http);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cond);
	explicit_bzero(&r->secret, sizeof(r->secret));
	free(r);
}

int redcap_sync_start(struct store *s, const struct fiona_config *cfg,
		      const struct deid_secret *secret, struct fiona_log *log,
		      struct redcap_sync **out, struct fiona_err *err)
{
	const struct config_redcap *c = cfg->redcap;
	struct redcap_sync *r = calloc(1, sizeof(*r));
	int rc = -ENOMEM;

	if (!r)
		return -ENOMEM;
	r->s = s, r->cfg = cfg, r->log = log, r->secret = *secret;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->proj = calloc(cfg->n_projects + 1, sizeof(*r->proj));
	if (!r->proj || rc_client_init(&r->http, c, log))
		goto fail;
	r->n_proj = cfg->n_projects;
	if ((rc = load_token(&r->incoming, "incoming", c->token_file, err)) ||
	    (rc = load_token(&r->projects, "projects", c->projects_token_file, err)) ||
	    (rc = load_token(&r->routing, "routing", c->routing_token_file, err)) ||
	    (rc = load_token(&r->coupling, "coupling", c->coupling_token_file, err)) ||
	    (rc = load_token(&r->autoid, "autoid", c->autoid_token_file, err)))
		goto fail;
	for (size_t i = 0; i < r->n_proj; i++)
		if ((rc = load_token(&r->proj[i], cfg->projects[i].name,
				     cfg->projects[i].redcap_token_file, err)))
			goto fail;
	r->last_request_poll = (int64_t)time(NULL) - 86400; /* requests of the last day */
	if (pthread_create(&r->thread, NULL, sync_main, r)) {
		rc = -EAGAIN;
		goto fail;
	}
	log_msg(log, LOG_INFO, "redcap", "syncing with %s (at most %ld requests a minute)", c->url,
		c->requests_per_minute);
	*out = r;
	return 0;
fail:
	sync_free(r);
	return rc;
}

void redcap_sync_stop(struct redcap_sync *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	atomic_store(&r->stop, true);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	sync_free(r);
}
