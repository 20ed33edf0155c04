/*
 * text: the small files the mount generates — study.json (what arrived, admins only),
 * .project.json and .status (de-identified facts only: counts, states, labels), and the
 * kept .review.tsv of a project.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <jansson.h>

#include "fs/fs_int.h"

static char *json_text(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	char *t = s ? malloc(strlen(s) + 2) : NULL;

	if (t)
		snprintf(t, strlen(s) + 2, "%s\n", s);
	free(s);
	json_decref(o);
	return t;
}

char *fs_text_study_json(const struct fs_mount *m, int64_t study)
{
	struct store_study st;
	struct store_series *se = NULL;
	size_t nse = 0;
	json_t *o, *arr;
	char t1[32], t2[32], t3[32];

	if (store_get_study(m->store, study, &st) || store_list_series(m->store, study, &se, &nse))
		return NULL;
	o = json_object();
	arr = json_array();
	for (size_t i = 0; i < nse; i++)
		json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:s, s:i, s:s}", "number",
						     (json_int_t)se[i].number, "modality",
						     se[i].modality, "description",
						     se[i].description, "labels", se[i].labels,
						     "instances", (json_int_t)se[i].n_instances,
						     "series_uid", se[i].series_uid));
	free(se);
	json_object_set_new(o, "key", json_integer(st.id));
	json_object_set_new(o, "patient_id", json_string(st.patient_id));
	json_object_set_new(o, "study_uid", json_string(st.study_uid));
	json_object_set_new(o, "study_date", json_string(st.study_date));
	json_object_set_new(o, "accession", json_string(st.accession));
	json_object_set_new(o, "first_arrival",
			    json_string(core_time_iso(st.first_arrival, t1, 32)));
	json_object_set_new(o, "last_arrival", json_string(core_time_iso(st.last_arrival, t2, 32)));
	json_object_set_new(o, "leaves_quarantine_listing",
			    json_string(core_time_iso(
				    st.last_arrival + m->cfg->quarantine_days * 86400, t3, 32)));
	json_object_set_new(o, "series", arr);
	explicit_bzero(&st, sizeof(st));
	return json_text(o);
}

char *fs_text_project_json(const struct fs_project *p)
{
	json_t *o = json_object(), *ev = json_array();

	for (size_t i = 0; i < p->cfg->n_events; i++)
		json_array_append_new(ev, json_string(p->cfg->events[i]));
	json_object_set_new(o, "name", json_string(p->cfg->name));
	json_object_set_new(o, "participant_pattern", json_string(p->cfg->participant_pattern));
	json_object_set_new(o, "events", ev);
	json_object_set_new(o, "destination",
			    json_string(p->cfg->destination ? p->cfg->destination : ""));
	json_object_set_new(o, "profile",
			    json_string(p->cfg->profile ? p->cfg->profile : "default"));
	return json_text(o);
}

/* Series number and labels of each series: "1 MR,T1; 2 MR,T2" (de-identified facts). */
static int series_labels(struct buf *b, const struct store_series *se, size_t n)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++)
		rc = buf_appendf(b, "%s%ld %s", i ? "; " : "", se[i].number,
				 se[i].labels[0] ? se[i].labels : "unlabelled");
	return rc;
}

/* Held and skipped candidates for burned-in text, one line each (numbers, never
 * values), at most a screenful: the rest are counted. */
static int pixel_lines(struct fs_mount *m, const struct fs_place *pl, int64_t study, struct buf *b)
{
	struct store_held *h = NULL;
	size_t n = 0;
	int rc = store_list_held(m->store, study, pl->project->cfg->name, &h, &n);

	for (size_t i = 0; !rc && i < n && i < 50; i++)
		rc = buf_appendf(b, "  %s: series %ld instance %ld: %s\n",
				 h[i].skipped ? "skipped" : "held", h[i].series, h[i].number,
				 h[i].reason);
	if (!rc && n > 50)
		rc = buf_appendf(b, "  ... and %zu more\n", n - 50);
	free(h);
	return rc;
}

/* Where the study's transfers stand. A project without a destination queues nothing
 * (store_assign), so zero counts would read as "stuck": say it is not forwarded instead,
 * with any rows left from a configuration that had a destination. */
static int transfer_counts(struct buf *b, const struct config_project *p,
			   const struct store_study_transfers *tr)
{
	bool rows = tr->queued || tr->sent || tr->verified || tr->failed || tr->held;
	int rc = 0;

	if (!p->destination)
		rc = buf_appendf(b, "; no destination configured: not forwarded");
	if (!rc && (p->destination || rows))
		rc = buf_appendf(b,
				 "%s %ld queued, %ld sent, %ld verified, %ld failed, %ld held%s%s",
				 p->destination ? ":" : "; earlier transfers:", tr->queued,
				 tr->sent, tr->verified, tr->failed, tr->held,
				 tr->last_error[0] ? "; last error: " : "", tr->last_error);
	return rc;
}

/* Where the study's REDCap rows are (docs/redcap.md), when REDCap is configured. */
static int redcap_line(struct fs_mount *m, int64_t study, struct buf *b)
{
	char reason[200];
	int state;

	if (!m->cfg->redcap ||
	    store_rc_study_state(m->store, study, &state, reason, sizeof(reason)))
		return 0;
	return buf_appendf(b, "  REDCap: %s%s\n",
			   state == 0	? "written"
			   : state == 1 ? "waiting to be written"
					: "refused, parked: ",
			   state == 2 ? reason : "");
}

int fs_text_status(struct fs_mount *m, const struct fs_place *pl, int64_t study, struct buf *b)
{
	struct store_study_transfers tr;
	struct store_derived_counts dc;
	struct store_series *se = NULL;
	size_t nse = 0;
	long n_instances = 0, waiting;
	char when[32];
	int rc;

	if (store_study_transfers(m->store, study, &tr) ||
	    store_list_series(m->store, study, &se, &nse) ||
	    store_derived_count(m->store, study, fs_place_fp(pl), &dc)) {
		free(se);
		return -EIO;
	}
	for (size_t i = 0; i < nse; i++)
		n_instances += se[i].n_instances;
	rc = buf_appendf(b, "study %lld: assigned %s by %s%ld (%s); %ld instances",
			 (long long)study, core_time_iso(tr.assigned_at, when, sizeof(when)),
			 tr.assigned_by >= 0 ? "uid " : "",
			 tr.assigned_by >= 0 ? tr.assigned_by : 0, tr.how, n_instances);
	rc = rc ? rc : transfer_counts(b, pl->project->cfg, &tr);
	rc = rc ? rc : buf_appendf(b, "\n  series: ");
	rc = rc ? rc : series_labels(b, se, nse);
	/* what the folder shows: files appear once their de-identified header is kept */
	rc = rc ? rc : buf_appendf(b, "\n  files: %ld of %ld de-identified", dc.ready, n_instances);
	waiting = n_instances - dc.ready - dc.failed - dc.held - dc.dropped;
	if (!rc && dc.held)
		rc = buf_appendf(b, "; %ld held for burned-in text (below)", dc.held);
	if (!rc && dc.dropped)
		rc = buf_appendf(b, "; %ld dropped by the project's pixel settings", dc.dropped);
	if (!rc && dc.failed)
		rc = buf_appendf(b, "; %ld could not be de-identified and are held (see the log)",
				 dc.failed);
	if (!rc && waiting > 0)
		rc = buf_appendf(b, "; %ld not ready yet (burned-in text cleaning, or waiting)",
				 waiting);
	rc = rc ? rc : buf_appendf(b, "\n");
	rc = rc ? rc : pixel_lines(m, pl, study, b);
	rc = rc ? rc : redcap_line(m, study, b);
	free(se);
	return rc;
}

char *fs_text_review(struct fs_mount *m, const struct fs_place *pl)
{
	struct review_sum *none = NULL;
	struct buf b;
	char *t = NULL;
	size_t n;

	if (store_review_text_get(m->store, pl->project->cfg->name, fs_place_fp(pl), &t, &n) !=
	    -ENOENT)
		return t;
	/* nothing merged yet (a project no study was ever assigned to): the header line */
	buf_init(&b, 1 << 12);
	if (!review_sum_new(1, &none) && !review_sum_text(none, &b))
		t = (char *)buf_detach(&b, &n);
	buf_release(&b);
	review_sum_free(none);
	return t;
}
