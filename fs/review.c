/*
 * review: each project's .review.tsv (docs/review.md), kept current by a thread of its
 * own so that no FUSE handler ever walks a project: a listing copies the kept text.
 *
 * Two steps, both incremental. (1) A study's summary: once the preparer has every kept
 * header of a study (and while it has no header work waiting), the de-identified files of
 * the study are read through their kept plans — headers only, never the pixels — into a
 * summary (anon's review_sum) that the catalog keeps per study and profile; the catalog
 * refuses it if a kept header of the study came or went meanwhile. (2) A project's text:
 * when a study joins or leaves the project, or its summary is kept, the project's file is
 * due, at most once a second per project and profile; the merge reads the studies'
 * summaries in batches from the reader connection (no lock is held while it merges) and
 * keeps the text, whose change the feed carries to every listing of the project.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#include "fs/fs_int.h"

#define MERGE_EVERY 1.0 /* seconds: a project's file is merged at most this often */

struct rv_tree { /* one project under one profile (projects/, and export/ if it differs) */
	const struct fs_project *p;
	const char *fp;
	bool dirty;
	double due, last; /* monotonic seconds: merge at or after due; last merge */
	uint64_t text_hash;
	bool kept; /* text_hash is what the catalog has */
};

struct fs_review {
	struct fs_mount *m;
	pthread_t th;
	bool started;
	pthread_mutex_t lock; /* guards stop */
	pthread_cond_t cond;
	bool stop;
	/* the thread's own */
	struct core_idq studies; /* whose summary may be due */
	struct rv_tree *t;
	size_t n_t;
	uint64_t cursor, hint;
	bool rescan;
};

static bool stopping(struct fs_review *rv)
{
	bool yes;

	pthread_mutex_lock(&rv->lock);
	yes = rv->stop;
	pthread_mutex_unlock(&rv->lock);
	return yes;
}

/* Waits up to seconds, or until stopped. */
static void pause_for(struct fs_review *rv, double seconds)
{
	struct timespec until = core_deadline(seconds);

	pthread_mutex_lock(&rv->lock);
	if (!rv->stop)
		pthread_cond_timedwait(&rv->cond, &rv->lock, &until);
	pthread_mutex_unlock(&rv->lock);
}

static void mark_dirty(struct fs_review *rv, const char *project)
{
	double now = core_now_mono();

	for (size_t i = 0; i < rv->n_t; i++) {
		struct rv_tree *t = &rv->t[i];

		if (strcmp(t->p->cfg->name, project) || t->dirty)
			continue;
		t->dirty = true;
		t->due = t->last + MERGE_EVERY > now ? t->last + MERGE_EVERY : now;
	}
}

/* ---- a study's summary ------------------------------------------------------------ */

static ssize_t output_read(void *opaque, uint64_t off, void *dst, size_t len)
{
	const struct fs_output *o = opaque;

	return deid_plan_read(o->plan, o->map.fd, off, dst, len);
}

/* Whether every instance of the study (st->n_instances, as store_get_study counted them)
 * has its row under fp (a file, or failed, held, dropped): a summary of part of a study
 * would be made again with each batch. */
static bool study_prepared(struct fs_mount *m, const struct store_study *st, const char *fp)
{
	struct store_derived_counts dc;

	return !store_derived_count(m->store, st->id, fp, &dc) &&
	       dc.ready + dc.failed + dc.held + dc.dropped == st->n_instances;
}

static void add_file(struct fs_review *rv, const struct fs_project *p, const char *fp,
		     const struct store_study *st, int64_t instance, struct review_sum *sum)
{
	struct fs_output o;
	struct fiona_err err = {0};
	char why[300];
	int rc = fs_output_open(rv->m, p, fp, st, instance, &o);

	if (!rc && (rc = review_sum_add_file(sum, deid_plan_size(o.plan), output_read, &o, &err)))
		log_msg(rv->m->log, LOG_ERROR, "review",
			"instance %lld: left out of the review: %s", (long long)instance,
			err_format(&err, "its de-identified file", why, sizeof(why)));
	fs_output_close(&o);
}

/* Whether the tree of fp shows the series (its profile's leave_out may drop it). */
static bool series_shown(const struct fs_project *p, const char *fp,
			 const struct store_series_name *se, size_t n, int64_t series)
{
	const struct deid_profile *prof = !strcmp(fp, p->fp) ? p->profile : p->export_profile;

	for (size_t i = 0; i < n; i++)
		if (se[i].id == series)
			return !deid_profile_leaves_out(prof, se[i].sop_class, se[i].modality);
	return true;
}

static void study_summary(struct fs_review *rv, const struct fs_project *p, const char *fp,
			  const struct store_study *st)
{
	struct fs_mount *m = rv->m;
	struct store_review_file *f = NULL;
	struct store_series_name *se = NULL;
	size_t nse = 0;
	struct review_sum *sum = NULL;
	struct buf saved;
	int64_t gen;
	size_t n = 0;
	int rc;

	if (!study_prepared(m, st, fp) || store_review_files(m->store, st->id, fp, &gen, &f, &n))
		return; /* not all there yet (its next rows come with a change), or current */
	buf_init(&saved, (size_t)1 << 30);
	rc = review_sum_new(REVIEW_STUDY_HASHES, &sum);
	rc = rc ? rc : store_list_series_names(m->store, st->id, fp, &se, &nse);
	for (size_t i = 0; !rc && i < n; i++) {
		while (fs_prepare_busy(m) && !stopping(rv)) /* listings wait for headers */
			pause_for(rv, 0.05);
		if (stopping(rv))
			rc = -ECANCELED;
		else if (series_shown(p, fp, se, nse, f[i].series)) /* as the folders are */
			add_file(rv, p, fp, st, f[i].instance, sum);
	}
	rc = rc ? rc : review_sum_save(sum, &saved);
	rc = rc ? rc : store_review_put(m->store, st->id, fp, gen, saved.data, saved.len);
	if (!rc)
		mark_dirty(rv, p->cfg->name);
	else if (rc != -ESTALE && rc != -ECANCELED) /* stale: its change is in the feed */
		log_msg(m->log, LOG_ERROR, "review", "study %lld: summary not kept: %s",
			(long long)st->id, strerror(-rc));
	buf_release(&saved);
	review_sum_free(sum);
	free(se);
	free(f);
}

static void study_due(struct fs_review *rv, int64_t study)
{
	struct store_study st;
	const struct fs_project *p;

	if (store_get_study(rv->m->store, study, &st) || !st.project[0] ||
	    !(p = fs_project_named(rv->m, st.project)) || !rv->m->have_secret)
		return;
	study_summary(rv, p, p->fp, &st);
	if (strcmp(p->fp, p->fp_export))
		study_summary(rv, p, p->fp_export, &st);
	explicit_bzero(&st, sizeof(st));
}

/* ---- a project's text ------------------------------------------------------------- */

struct merge_job {
	struct fs_review *rv;
	struct review_sum *sum;
	size_t studies, bytes;
};

static int merge_one(void *opaque, int64_t study, const uint8_t *b, size_t n)
{
	struct merge_job *j = opaque;
	int rc = review_sum_merge(j->sum, b, n);

	if (rc == -EINVAL) {
		log_msg(j->rv->m->log, LOG_ERROR, "review",
			"study %lld: its kept summary is damaged: left out", (long long)study);
		return 0;
	}
	j->studies++;
	j->bytes += n;
	return rc;
}

/* The hash of the text kept in the catalog, so a restart that merges the same text
 * writes nothing (a start must not cost a write per project). */
static int kept_text_hash(struct fs_mount *m, const struct rv_tree *t, uint64_t *h)
{
	char *old = NULL;
	size_t n = 0;
	int rc = store_review_text_get(m->store, t->p->cfg->name, t->fp, &old, &n);

	if (!rc)
		*h = XXH3_64bits(old, n);
	free(old);
	return rc;
}

static void tree_merge(struct fs_review *rv, struct rv_tree *t)
{
	struct fs_mount *m = rv->m;
	struct merge_job j = {rv, NULL, 0, 0};
	struct buf text;
	double t0 = core_now_mono();
	uint64_t h;
	int rc = review_sum_new(REVIEW_MERGE_HASHES, &j.sum);

	buf_init(&text, (size_t)1 << 30);
	t->dirty = false;
	t->last = t0;
	rc = rc ? rc : store_review_project(m->store, t->p->cfg->name, t->fp, merge_one, &j);
	rc = rc ? rc : review_sum_text(j.sum, &text);
	h = XXH3_64bits(text.data, text.len);
	if (!rc && !t->kept) /* first merge since start: the text an earlier run kept */
		t->kept = kept_text_hash(m, t, &t->text_hash) == 0;
	if (!rc && !(t->kept && h == t->text_hash)) {
		rc = store_review_text_put(m->store, t->p->cfg->name, t->fp, text.data, text.len);
		t->kept = rc == 0;
		t->text_hash = h;
	}
	if (rc)
		log_msg(m->log, LOG_ERROR, "review", "%s: review file not made: %s",
			t->p->cfg->name, strerror(-rc));
	else
		log_msg(m->log, LOG_INFO, "review",
			"%s: %zu attributes from %zu studies (%zu bytes of summaries) merged in "
			"%.1f ms",
			t->p->cfg->name, review_sum_count(j.sum), j.studies, j.bytes,
			(core_now_mono() - t0) * 1e3);
	buf_release(&text);
	review_sum_free(j.sum);
}

/* ---- the thread ------------------------------------------------------------------- */

static void scan_all(struct fs_review *rv)
{
	for (size_t i = 0; i < rv->n_t; i++) {
		int64_t *ids = NULL;
		size_t n = 0;

		if (!store_review_studies_missing(rv->m->store, rv->t[i].p->cfg->name, rv->t[i].fp,
						  &ids, &n))
			for (size_t k = 0; k < n; k++)
				core_idq_push(&rv->studies, ids[k], false);
		free(ids);
		mark_dirty(rv, rv->t[i].p->cfg->name);
	}
}

static void follow_feed(struct fs_review *rv)
{
	struct store_change c[64];
	uint64_t hint = store_change_hint(rv->m->store);
	size_t n;

	if (hint == rv->hint)
		return;
	rv->hint = hint;
	do {
		if (store_changes_read(rv->m->store, &rv->cursor, c, CORE_ARRAY_SIZE(c), &n) ==
		    -ESTALE) {
			rv->rescan = true;
			return;
		}
		for (size_t i = 0; i < n; i++) {
			if (!c[i].project[0])
				continue;
			if (c[i].study && (c[i].what & (STORE_CHG_DERIVED | STORE_CHG_ASSIGN)))
				core_idq_push(&rv->studies, c[i].study, false);
			if (c[i].what & STORE_CHG_ASSIGN) /* joined or left: the merge changes */
				mark_dirty(rv, c[i].project);
		}
	} while (n == CORE_ARRAY_SIZE(c));
}

/* Merges every file that is due; returns the seconds until the next one is (at most 0.2). */
static double merge_due(struct fs_review *rv)
{
	double wait = 0.2, now = core_now_mono();

	for (size_t i = 0; i < rv->n_t && !stopping(rv); i++) {
		struct rv_tree *t = &rv->t[i];

		if (t->dirty && t->due <= now)
			tree_merge(rv, t);
		else if (t->dirty && t->due - now < wait)
			wait = t->due - now;
	}
	return wait;
}

static void prune_old(struct fs_review *rv)
{
	const char **keep = calloc(rv->n_t + 1, sizeof(*keep));

	if (!keep)
		return;
	for (size_t i = 0; i < rv->n_t; i++)
		keep[i] = rv->t[i].fp;
	store_review_prune(rv->m->store, keep, rv->n_t);
	free(keep);
}

static void *review_main(void *arg)
{
	struct fs_review *rv = arg;
	int64_t study;

	prune_old(rv);
	scan_all(rv);
	while (!stopping(rv)) {
		double wait;

		follow_feed(rv);
		if (rv->rescan) {
			rv->rescan = false;
			scan_all(rv);
		}
		wait = merge_due(rv);
		if (!fs_prepare_busy(rv->m) && core_idq_pop(&rv->studies, &study)) {
			study_due(rv, study);
			continue;
		}
		pause_for(rv, wait > 0.01 ? wait : 0.01);
	}
	return NULL;
}

static int trees_init(struct fs_review *rv)
{
	struct fs_mount *m = rv->m;

	rv->t = calloc(2 * m->n_projects + 1, sizeof(*rv->t));
	if (!rv->t)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_projects; i++) {
		const struct fs_project *p = &m->projects[i];

		rv->t[rv->n_t++] = (struct rv_tree){.p = p, .fp = p->fp};
		if (strcmp(p->fp, p->fp_export))
			rv->t[rv->n_t++] = (struct rv_tree){.p = p, .fp = p->fp_export};
	}
	return 0;
}

int fs_review_start(struct fs_mount *m)
{
	struct fs_review *rv = calloc(1, sizeof(*rv));
	int rc;

	if (!rv)
		return -ENOMEM;
	rv->m = m;
	rv->cursor = store_change_seq(m->store);
	pthread_mutex_init(&rv->lock, NULL);
	pthread_cond_init(&rv->cond, NULL);
	m->review = rv;
	if ((rc = trees_init(rv)) || (rc = -pthread_create(&rv->th, NULL, review_main, rv)))
		return rc;
	rv->started = true;
	return 0;
}

void fs_review_stop(struct fs_mount *m)
{
	struct fs_review *rv = m->review;

	if (!rv)
		return;
	pthread_mutex_lock(&rv->lock);
	rv->stop = true;
	pthread_cond_broadcast(&rv->cond);
	pthread_mutex_unlock(&rv->lock);
	if (rv->started)
		pthread_join(rv->th, NULL);
	pthread_cond_destroy(&rv->cond);
	pthread_mutex_destroy(&rv->lock);
	core_idq_release(&rv->studies);
	free(rv->t);
	free(rv);
	m->review = NULL;
}
