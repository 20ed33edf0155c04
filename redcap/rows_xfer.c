/*
 * rows_xfer: the transfers row of a study's assignment (Incoming), the rows of the
 * project's own REDCap once the study has reached its destination, and the AutoID row.
 *
 * A transfers row for an assignment made in fiona gets its instance fixed once: above
 * every instance REDCap holds for the record's transfers (read once, just before, since
 * the Assign application writes rows there too) and above every one fiona fixed. A
 * request written in REDCap keeps its own instance, and fiona writes only the outcome
 * fields into it.
 */
#include "core/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#include "redcap/rows_int.h"

struct rc_target *rc_project_target(struct redcap_sync *r, const char *project)
{
	for (size_t i = 0; i < r->n_proj; i++)
		if (!strcmp(r->proj[i].name, project))
			return r->proj[i].token[0] ? &r->proj[i] : NULL;
	return NULL;
}

static void put(const struct rc_target *t, json_t *o, const char *field, const char *value)
{
	if (rc_has_field(t, field))
		json_object_set_new(o, field, json_string(value ? value : ""));
}

static void put_time(const struct rc_target *t, json_t *o, const char *field, int64_t at)
{
	char buf[32] = "";
	time_t tt = (time_t)at;
	struct tm tm;

	if (at > 0 && localtime_r(&tt, &tm))
		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
	put(t, o, field, buf);
}

static void put_long(const struct rc_target *t, json_t *o, const char *field, long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%ld", v);
	put(t, o, field, buf);
}

/* The highest transfers instances REDCap holds for the records of a round, read in one
 * export (records[i]) before the rows are built. A broken filter would return every
 * record: only the rows of the records asked for count. -EAGAIN: not known now. */
int rc_floors_read(struct redcap_sync *r, struct rc_floor *f, size_t n)
{
	const char **kv = calloc(2 * n + 12, sizeof(*kv));
	char(*keys)[32] = calloc(n + 1, sizeof(*keys));
	struct redcap_rows rows = {0};
	struct fiona_err err = {0};
	struct rc_reply rep = {0};
	size_t k = 0;
	char why[256];
	int rc = -EAGAIN;

	if (!kv || !keys)
		goto out;
	const char *base[] = {"content", "record",   "format",	  "json",	  "type",
			      "flat",	 "forms[0]", "transfers", "returnFormat", "json"};
	for (size_t i = 0; i < CORE_ARRAY_SIZE(base); i++)
		kv[k++] = base[i];
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "records[%zu]", i);
		kv[k++] = keys[i];
		kv[k++] = f[i].record;
		f[i].max = 0;
	}
	if (rc_call(r, &r->incoming, kv, k, &rep, why, sizeof(why)) != REDCAP_OK ||
	    redcap_parse_rows((const char *)rep.body.data, rep.body.len, &rows, &err))
		goto out;
	for (size_t i = 0; i < rows.n; i++) {
		const struct redcap_row *w = &rows.rows[i];
		long v = atol(redcap_get(w, "redcap_repeat_instance"));

		if (strcmp(redcap_get(w, "redcap_repeat_instrument"), "transfers"))
			continue;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(redcap_get(w, r->incoming.record_field), f[j].record) &&
			    v > f[j].max)
				f[j].max = v;
	}
	for (size_t j = 0; j < n; j++)
		f[j].known = true;
	rc = 0;
out:
	redcap_rows_free(&rows);
	rc_reply_free(&rep);
	free(kv);
	free(keys);
	return rc;
}

/* What REDCap holds for record, from the round's export. */
static int redcap_max_instance(struct rc_batch *b, const char *record, long *max)
{
	for (size_t i = 0; i < b->n_floors; i++)
		if (b->floors[i].known && !strcmp(b->floors[i].record, record)) {
			*max = b->floors[i].max;
			return 0;
		}
	return -EAGAIN; /* not read this round: the study waits for the next */
}

static void outcome(const struct rc_target *t, json_t *f, const struct store_rc_study *st)
{
	const struct store_study_transfers *x = &st->xfer;
	long n = st->n_instances;
	bool done = n > 0 && x->verified >= n - x->held;

	put_time(t, f, "transfer_date", st->verified_at ? st->verified_at : st->last_sent_at);
	put(t, f, "transfer_error___1", x->held ? "1" : "0");	/* anonymization error */
	put(t, f, "transfer_error___2", x->failed ? "1" : "0"); /* send error */
	put(t, f, "transfer_error_message", x->failed || x->held ? x->last_error : "");
	put_long(t, f, "transfer_num_files", n);
	put_long(t, f, "transfer_num_verified", x->verified);
	put(t, f, "transfers_complete", done ? "2" : x->failed || x->held ? "1" : "0");
}

static int assignment_row(struct redcap_sync *r, struct rc_batch *b,
			  const struct store_rc_study *st)
{
	const struct rc_target *t = &r->incoming;
	struct store_rc_row a = {.target = "incoming", .instrument = "transfers"};
	char uid[65] = "", by[96];
	json_t *f;
	long floor;
	int rc;

	snprintf(a.record, sizeof(a.record), "%s", st->study_uid);
	snprintf(a.key, sizeof(a.key), "%s|%s|%s", st->project, st->participant, st->event);
	a.study = st->id;
	if (store_rc_row_get(r->s, &a)) {
		if ((rc = redcap_max_instance(b, st->study_uid, &floor)) ||
		    (rc = store_rc_row_fix(r->s, &a, floor)))
			return rc;
	}
	if (!(f = json_object()))
		return -ENOMEM;
	if (strcmp(a.origin, "redcap")) { /* fiona's own request: it writes the request too */
		put_time(t, f, "transfer_requested_date", st->assigned_at);
		put(t, f, "transfer_project_name", st->project);
		put(t, f, "transfer_name", st->participant);
		put(t, f, "transfer_event_name", st->event);
		if (st->xfer.assigned_by >= 0)
			snprintf(by, sizeof(by), "fiona %s (uid %ld)", st->how,
				 st->xfer.assigned_by);
		else
			snprintf(by, sizeof(by), "fiona %s", st->how);
		put(t, f, "transfer_requested_by", by);
	}
	deid_uid_derive(&r->secret, st->project, st->study_uid, uid);
	put(t, f, "transfer_mapped_uid", uid);
	outcome(t, f, st);
	return rc_rows_add(b, t, &a, f);
}

/* Requests written in REDCap that could not be carried out: the reason goes back. */
static int refused_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st)
{
	struct store_rc_row *v = NULL;
	size_t n = 0;
	int rc = store_rc_rows_of(r->s, st->id, "incoming", "transfers", &v, &n);

	for (size_t i = 0; !rc && i < n; i++) {
		json_t *f;

		if (!v[i].error[0])
			continue;
		if (!(f = json_object())) {
			rc = -ENOMEM;
			break;
		}
		put(&r->incoming, f, "transfer_error_message", v[i].error);
		put(&r->incoming, f, "transfers_complete", "1");
		rc = rc_rows_add(b, &r->incoming, &v[i], f);
	}
	free(v);
	return rc;
}

int rc_transfer_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st)
{
	int rc = refused_rows(r, b, st);

	if (!rc && st->project[0])
		rc = assignment_row(r, b, st);
	return rc;
}

static int autoid_row(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st)
{
	struct store_rc_row a = {.target = "autoid"};
	const struct rc_target *t = &r->autoid;
	char key[17];
	json_t *f;

	if (strcmp(st->how, "autoid") || !t->fields || !st->patient_id[0] ||
	    deid_keyed_hash16(&r->secret, st->project, "autoid", st->patient_id, key))
		return 0;
	/* the record id is fixed by the mapping, so a retry can never make a second record */
	snprintf(a.record, sizeof(a.record), "%s-%s", st->project, key);
	snprintf(a.key, sizeof(a.key), "autoid");
	store_rc_row_get(r->s, &a);
	if (!(f = json_object()))
		return -ENOMEM;
	put(t, f, "autoid_project_name", st->project);
	put(t, f, "autoid_hash", key);
	put(t, f, "autoid_value", st->participant);
	put(t, f, "autoid_method", "1");
	put(t, f, "autoid_complete", "2");
	return rc_rows_add(b, t, &a, f);
}

/* The study date as the project's de-identified files carry it: shifted by the
 * participant's offset within the project profile's range. */
static void shifted_date(struct redcap_sync *r, const struct store_rc_study *st, char *out,
			 size_t cap)
{
	const struct config_project *p = config_project(r->cfg, st->project);
	struct deid_profile *prof = NULL;
	struct fiona_err err = {0};
	int lo, hi, days = 0;
	char da[32];

	out[0] = '\0';
	if (!p || (p->profile ? deid_profile_load(p->profile, &prof, &err)
			      : deid_profile_new_default(&prof)))
		return;
	deid_profile_date_range(prof, &lo, &hi);
	if (deid_date_offset_days(&r->secret, st->project, st->participant, lo, hi, &days) ||
	    deid_date_shift(st->date, DCM_VR('D', 'A'), days, da, sizeof(da)) || strlen(da) < 8)
		out[0] = '\0';
	else /* REDCap's date_ymd */
		snprintf(out, cap, "%.4s-%.2s-%.2s", da, da + 4, da + 6);
	deid_profile_free(prof);
}

int rc_project_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st)
{
	struct rc_target *t = st->project[0] ? rc_project_target(r, st->project) : NULL;
	struct store_rc_row base = {0}, img;
	char uid[65] = "", date[17] = "";
	int rc = autoid_row(r, b, st);
	json_t *f;

	/* the project's REDCap learns of a study once it has reached its destination */
	if (rc || !t || !t->fields || st->xfer.verified == 0 || st->xfer.queued)
		return rc;
	/* the imaging row makes the participant's record: a row of the record id alone would
	 * be reported by REDCap and stored as nothing */
	snprintf(base.target, sizeof(base.target), "%s", st->project);
	snprintf(base.record, sizeof(base.record), "%s", st->participant);
	snprintf(base.event, sizeof(base.event), "%s", t->imaging_event);
	img = base;
	snprintf(img.instrument, sizeof(img.instrument), "imaging");
	deid_uid_derive(&r->secret, st->project, st->study_uid, uid);
	snprintf(img.key, sizeof(img.key), "%s", uid);
	img.instance = 0;
	img.body_hash[0] = '\0';
	img.study = st->id;
	if (store_rc_row_get(r->s, &img) && (rc = store_rc_row_fix(r->s, &img, 0)))
		return rc;
	if (!(f = json_object()))
		return -ENOMEM;
	shifted_date(r, st, date, sizeof(date));
	put(t, f, "img_study_instance_uid", uid);
	put(t, f, "img_event_name", st->event);
	put(t, f, "img_study_date", date);
	put(t, f, "img_study_description", st->description);
	put_long(t, f, "img_num_series", (long)st->n_series);
	put_long(t, f, "img_num_files", st->n_instances);
	put(t, f, "imaging_complete", "2");
	return rc_rows_add(b, t, &img, f);
}
