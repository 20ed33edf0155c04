/*
 * push: writes the rows of the studies the outbox names. One round takes up to
 * STUDIES_PER_ROUND due studies, builds their rows from the catalog, drops the rows whose
 * fields did not change since they were last written, and imports the rest per REDCap
 * project in as few requests as batch_rows allows. An import REDCap refuses (400/403) is
 * split in halves by study until the study at fault is found and parked with the reason;
 * the others are written. A transient failure leaves every row where it is: the next
 * round writes the same rows to the same instances, which REDCap merges.
 */
#include "core/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#include "redcap/rows_int.h"

#define STUDIES_PER_ROUND 100

void rc_batch_release(struct rc_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		json_decref(b->rows[i].json);
	free(b->rows);
	free(b->floors);
	memset(b, 0, sizeof(*b));
}

struct push_study {
	struct store_rc_due due;
	bool failed; /* transient: try again later */
	bool parked; /* refused for good */
	char why[256];
};

static bool in_set(const struct push_study *set, size_t n, int64_t study)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].due.study == study)
			return true;
	return false;
}

/* Imports the changed rows for target t of the studies in set[0..n). */
static enum redcap_class import_rows(struct redcap_sync *r, const struct rc_target *t,
				     struct rc_batch *b, const struct push_study *set, size_t n,
				     char *why, size_t cap)
{
	json_t *arr = json_array();
	json_t *ids = json_object();
	enum redcap_class k = REDCAP_OK;
	struct rc_reply rep = {0};
	char *data = NULL;
	long count = -1;

	for (size_t i = 0; arr && ids && i < b->n; i++) {
		const struct rc_out *o = &b->rows[i];

		if (o->target != t || o->unchanged || !in_set(set, n, o->study))
			continue;
		json_array_append(arr, o->json);
		json_object_set_new(ids, o->addr.record, json_true());
	}
	if (!arr || !ids || !json_array_size(arr))
		goto out;
	if (!(data = json_dumps(arr, JSON_COMPACT))) {
		k = REDCAP_TRANSIENT;
		snprintf(why, cap, "out of memory");
		goto out;
	}
	{
		const char *kv[] = {"content",
				    "record",
				    "format",
				    "json",
				    "type",
				    "flat",
				    "overwriteBehavior",
				    "overwrite",
				    "returnContent",
				    "count",
				    "returnFormat",
				    "json",
				    "data",
				    data};
		struct rc_target *mt = (struct rc_target *)t;

		k = rc_call(r, mt, kv, CORE_ARRAY_SIZE(kv), &rep, why, cap);
	}
	if (k == REDCAP_OK &&
	    (redcap_parse_count((const char *)rep.body.data, rep.body.len, &count) ||
	     count != (long)json_object_size(ids))) {
		/* an answer that does not confirm the write: write again (it merges) */
		snprintf(why, cap, "REDCap's answer to an import of %zu records is not their count",
			 json_object_size(ids));
		k = REDCAP_TRANSIENT;
	}
out:
	free(data);
	json_decref(arr);
	json_decref(ids);
	rc_reply_free(&rep);
	return k;
}

static size_t rows_for(const struct rc_target *t, const struct rc_batch *b,
		       const struct push_study *set, size_t n)
{
	size_t cnt = 0;

	for (size_t i = 0; i < b->n; i++)
		cnt += b->rows[i].target == t && !b->rows[i].unchanged &&
		       in_set(set, n, b->rows[i].study);
	return cnt;
}

/* Sends set[0..n) to t; a refusal is narrowed down to the study at fault. */
static void send_set(struct redcap_sync *r, const struct rc_target *t, struct rc_batch *b,
		     struct push_study *set, size_t n)
{
	char why[256] = "";
	enum redcap_class k;
	size_t live = 0;

	for (size_t i = 0; i < n; i++)
		live += !set[i].failed && !set[i].parked;
	if (!live || r->banned)
		return;
	if (n > 1 && rows_for(t, b, set, n) > (size_t)r->cfg->redcap->batch_rows) {
		send_set(r, t, b, set, n / 2); /* REDCap runs out of memory on big imports */
		send_set(r, t, b, set + n / 2, n - n / 2);
		return;
	}
	k = import_rows(r, t, b, set, n, why, sizeof(why));
	if (k == REDCAP_OK)
		return;
	if (k == REDCAP_PERMANENT && n > 1) {
		send_set(r, t, b, set, n / 2);
		send_set(r, t, b, set + n / 2, n - n / 2);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (k == REDCAP_PERMANENT)
			set[i].parked = true;
		else
			set[i].failed = true;
		snprintf(set[i].why, sizeof(set[i].why), "%s", why);
	}
}

static void finish(struct redcap_sync *r, struct rc_batch *b, struct push_study *set, size_t n)
{
	for (size_t i = 0; i < b->n; i++) {
		struct rc_out *o = &b->rows[i];
		struct push_study *p = NULL;

		for (size_t k = 0; k < n && !p; k++)
			if (set[k].due.study == o->study)
				p = &set[k];
		if (!o->unchanged && p && !p->failed && !p->parked) {
			snprintf(o->addr.body_hash, sizeof(o->addr.body_hash), "%s", o->hash);
			o->addr.study = o->study;
			store_rc_row_sent(r->s, &o->addr);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct push_study *p = &set[i];

		if (p->parked) {
			log_msg(r->log, LOG_ERROR, "redcap", "study %lld parked: %s",
				(long long)p->due.study, p->why);
			store_rc_park(r->s, p->due.study, p->why);
		} else if (p->failed) {
			double wait = r->backoff_until - core_now_mono();

			store_rc_retry(r->s, p->due.study,
				       (int64_t)time(NULL) + (wait > 2 ? (int64_t)wait : 2));
		} else {
			store_rc_done(r->s, p->due.study, p->due.gen);
		}
	}
}

/* The records of the due studies whose assignment has no transfers row yet: REDCap is
 * asked once, for all of them, which instances it holds (the Assign application writes
 * rows there too), so a new row is numbered above them. */
static void read_floors(struct redcap_sync *r, struct rc_batch *b, struct push_study *set, size_t n)
{
	b->floors = calloc(n + 1, sizeof(*b->floors));
	for (size_t i = 0; b->floors && i < n; i++) {
		struct store_rc_row a = {.target = "incoming", .instrument = "transfers"};
		struct store_rc_study st;

		if (store_rc_study(r->s, set[i].due.study, &st))
			continue;
		snprintf(a.record, sizeof(a.record), "%s", st.study_uid);
		snprintf(a.key, sizeof(a.key), "%s|%s|%s", st.project, st.participant, st.event);
		if (st.project[0] && store_rc_row_get(r->s, &a) == -ENOENT)
			snprintf(b->floors[b->n_floors++].record, sizeof(b->floors[0].record), "%s",
				 st.study_uid);
		store_rc_study_release(&st);
	}
	if (b->n_floors)
		rc_floors_read(r, b->floors, b->n_floors);
}

/* Builds every row of the due studies; a study whose rows cannot be built now (REDCap
 * could not say which instance is free) waits. */
static size_t build(struct redcap_sync *r, struct rc_batch *b, struct push_study *set, size_t n)
{
	size_t written = 0;

	for (size_t i = 0; i < n; i++) {
		struct store_rc_study st;
		int rc = store_rc_study(r->s, set[i].due.study, &st);

		if (rc == -ENOENT) { /* removed by housekeeping: nothing to report */
			store_rc_done(r->s, set[i].due.study, set[i].due.gen);
			set[i].parked = false, set[i].failed = true; /* not touched again */
			set[i].due.study = -set[i].due.study;
			continue;
		}
		b->study = set[i].due.study;
		if (!rc)
			rc = rc_study_rows(r, b, &st);
		store_rc_study_release(&st);
		if (rc) {
			set[i].failed = true;
			snprintf(set[i].why, sizeof(set[i].why), "rows not built (%s)",
				 strerror(-rc));
		}
		written++;
	}
	return written;
}

int rc_push(struct redcap_sync *r)
{
	struct store_rc_due *due = NULL;
	struct push_study *set = NULL;
	struct rc_batch b = {0};
	size_t n = 0;
	int rc;

	if (rc_target_ready(r, &r->incoming))
		return 0; /* the Incoming dictionary first: rows are built from it */
	rc_target_ready(r, &r->autoid);
	for (size_t i = 0; i < r->n_proj; i++)
		rc_target_ready(r, &r->proj[i]);
	rc = store_rc_due(r->s, (int64_t)time(NULL), STUDIES_PER_ROUND, &due, &n);
	if (rc || !n || !(set = calloc(n, sizeof(*set)))) {
		free(due);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		set[i].due = due[i];
	free(due);
	read_floors(r, &b, set, n);
	build(r, &b, set, n);
	send_set(r, &r->incoming, &b, set, n);
	send_set(r, &r->autoid, &b, set, n);
	for (size_t i = 0; i < r->n_proj; i++)
		if (r->proj[i].fields)
			send_set(r, &r->proj[i], &b, set, n);
	if (r->banned) /* nothing is known to be written: all stay */
		for (size_t i = 0; i < n; i++)
			if (!set[i].parked)
				set[i].failed = true;
	finish(r, &b, set, n);
	rc_batch_release(&b);
	free(set);
	return (int)n;
}
