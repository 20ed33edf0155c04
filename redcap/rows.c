/*
 * rows: a study's REDCap rows, built from what the catalog says now (docs/redcap.md has
 * the mapping of every field). Only fields the target's data dictionary has are written,
 * so a site's dictionary without fiona's additions (transfer_num_verified, ...) still
 * takes every import. Patient name and ID leave only as keyed hashes.
 */
#include "core/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <time.h>
#include <xxhash.h>

#include "redcap/rows_int.h"

static void put(const struct rc_target *t, json_t *o, const char *field, const char *value)
{
	if (rc_has_field(t, field))
		json_object_set_new(o, field, json_string(value ? value : ""));
}

/* A DICOM DA/TM value in the form the field's validation wants. */
static void put_dicom_date(const struct rc_target *t, json_t *o, const char *field, const char *da)
{
	const char *v = rc_field_validation(t, field);
	char buf[32];

	if (!strncmp(v, "date_", 5) && strlen(da) >= 8)
		snprintf(buf, sizeof(buf), "%.4s-%.2s-%.2s", da, da + 4, da + 6);
	else
		snprintf(buf, sizeof(buf), "%s", da);
	put(t, o, field, buf);
}

static void put_dicom_time(const struct rc_target *t, json_t *o, const char *field, const char *tm)
{
	const char *v = rc_field_validation(t, field);
	char buf[32];

	if (!strcmp(v, "time") && strlen(tm) >= 4)
		snprintf(buf, sizeof(buf), "%.2s:%.2s", tm, tm + 2);
	else
		snprintf(buf, sizeof(buf), "%s", tm);
	put(t, o, field, buf);
}

/* REDCap's datetime_ymd: "YYYY-MM-DD HH:MM" in the server's (here: local) time. */
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

/* A row's address: the record id, the event (longitudinal), the repeat instrument and
 * instance (repeating rows; an integer, never "new"). */
static json_t *row_new(const struct rc_target *t, const struct store_rc_row *a)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, t->record_field, json_string(a->record));
	if (t->longitudinal && a->event[0])
		json_object_set_new(o, "redcap_event_name", json_string(a->event));
	if (a->instrument[0]) {
		json_object_set_new(o, "redcap_repeat_instrument", json_string(a->instrument));
		json_object_set_new(o, "redcap_repeat_instance", json_integer(a->instance));
	}
	return o;
}

int rc_rows_add(struct rc_batch *b, const struct rc_target *t, const struct store_rc_row *a,
		json_t *fields)
{
	struct rc_out *o;
	json_t *row = row_new(t, a);
	char *text;
	XXH128_hash_t h;

	if (!row) {
		json_decref(fields);
		return -ENOMEM;
	}
	json_object_update(row, fields);
	json_decref(fields);
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 64;
		struct rc_out *g = realloc(b->rows, nc * sizeof(*g));

		if (g)
			b->rows = g, b->cap = nc;
	}
	o = b->n < b->cap ? &b->rows[b->n++] : NULL;
	text = o ? json_dumps(row, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	if (!text) {
		if (o)
			b->n--;
		json_decref(row);
		return -ENOMEM;
	}
	h = XXH3_128bits(text, strlen(text));
	free(text);
	o->target = t;
	o->addr = *a;
	o->json = row;
	o->study = b->study;
	snprintf(o->hash, sizeof(o->hash), "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
	o->unchanged = !strcmp(o->hash, a->body_hash);
	return 0;
}

static void labels_json(const char *labels, char *out, size_t cap)
{
	json_t *a = json_array();
	char buf[128], *save = NULL, *tok;
	char *text;

	snprintf(buf, sizeof(buf), "%s", labels);
	for (tok = strtok_r(buf, ",", &save); a && tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(tok));
	text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	snprintf(out, cap, "%s", text ? text : "[]");
	free(text);
	json_decref(a);
}

static int study_row(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st)
{
	const struct rc_target *t = &r->incoming;
	struct store_rc_row a = {.target = "incoming"};
	json_t *f = json_object();
	char pid[17] = "", pname[17] = "";

	snprintf(a.record, sizeof(a.record), "%s", st->study_uid);
	if (!f)
		return -ENOMEM;
	if (st->patient_id[0])
		deid_keyed_hash16(&r->secret, "", "incoming-patient-id", st->patient_id, pid);
	if (st->patient_name[0])
		deid_keyed_hash16(&r->secret, "", "incoming-patient-name", st->patient_name, pname);
	put(t, f, "study_institution_name", st->institution);
	put(t, f, "study_aetitle_sender", st->calling_aet);
	put(t, f, "study_aetitle_addressed", st->called_aet);
	put(t, f, "study_patient_name", pname);
	put(t, f, "study_patient_id", pid);
	put(t, f, "study_description", st->description);
	put_dicom_date(t, f, "study_date", st->date);
	put_dicom_time(t, f, "study_time", st->time);
	put(t, f, "study_accession_number", st->accession);
	put_time(t, f, "study_arrival_date", st->last_arrival);
	put(t, f, "incoming_studies_complete", "2");
	snprintf(a.key, sizeof(a.key), "study");
	store_rc_row_get(r->s, &a);
	return rc_rows_add(b, t, &a, f);
}

static int series_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st)
{
	const struct rc_target *t = &r->incoming;
	int rc = 0;

	for (size_t i = 0; !rc && i < st->n_series; i++) {
		const struct store_rc_series *se = &st->series[i];
		struct store_rc_row a = {.target = "incoming", .instrument = "series"};
		json_t *f;
		char labels[400];

		snprintf(a.record, sizeof(a.record), "%s", st->study_uid);
		snprintf(a.key, sizeof(a.key), "%s", se->uid);
		a.study = st->id;
		if (store_rc_row_get(r->s, &a) && (rc = store_rc_row_fix(r->s, &a, 0)))
			break;
		if (!(f = json_object()))
			return -ENOMEM;
		labels_json(se->labels, labels, sizeof(labels));
		put(t, f, "series_instance_uid", se->uid);
		put(t, f, "series_description", se->description);
		put_dicom_date(t, f, "series_date", se->date);
		put_dicom_time(t, f, "series_time", se->time);
		put(t, f, "series_sequence_name", se->sequence);
		put_long(t, f, "series_num_files", se->n_files);
		put(t, f, "series_classify_types", labels);
		put(t, f, "series_complete", "2");
		rc = rc_rows_add(b, t, &a, f);
	}
	return rc;
}

int rc_study_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st)
{
	int rc = study_row(r, b, st);

	rc = rc ? rc : series_rows(r, b, st);
	rc = rc ? rc : rc_transfer_rows(r, b, st);
	rc = rc ? rc : rc_project_rows(r, b, st);
	return rc;
}
