/*
 * prepare: the de-identified header (a saved plan) and exact size of every assigned
 * instance, computed in the background and kept in the catalog (store/derived.c) under
 * the fingerprint of the profile that made it. Listings read the sizes and an open reads
 * the plan, so neither ever de-identifies: `stat` of a million files costs catalog
 * lookups, not a million de-identifications.
 *
 * Work comes from the change feed (a study assigned, or an instance added to an assigned
 * study), from a scan at start (a profile or secret change makes every fingerprint new),
 * and from listings that find a series not ready yet: those go first, and the listing
 * waits for its study (fs_prepare_wait). A plan whose own bytes exceed PLAN_KEEP_MAX
 * (big-endian or deflated sources re-encode their pixels) keeps only its size; an open of
 * such a file builds its plan. An instance that cannot be de-identified is kept as failed,
 * logged by its internal key, and not shown.
 *
 * Each kept row also carries the SeriesDescription of the de-identified output (series
 * folders are named from it, never from the original value) and, computed in a second
 * pass once no header work waits, the CRC-32 of the output's bytes (zip exports compose
 * their headers from kept sizes and CRCs).
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "fs/fs_int.h"

#define PLAN_KEEP_MAX ((size_t)256 << 10)
#define PUT_BATCH     256
#define CRC_BATCH     64
#define CRC_CHUNK     ((size_t)1 << 20)
#define DESC_HEAD     ((size_t)64 << 10) /* SeriesDescription is in the first bytes */
#define DESC_HEAD_MAX ((size_t)4 << 20)

struct fs_prepare {
	struct fs_mount *m;
	pthread_t th;
	bool started;
	pthread_mutex_t lock;  /* guards everything below */
	pthread_cond_t cond;   /* work came, or a study was done */
	struct core_idq queue; /* studies to prepare; urgent ones are put first */
	struct core_idq crcq;  /* studies whose files need a CRC: when queue is empty */
	int64_t current;       /* being prepared now (0: none) */
	bool stop, rescan;
	uint64_t cursor; /* the preparer's own place in the change feed */
	uint64_t hint;	 /* store_change_hint when it was last read */
};

const char *fs_place_fp(const struct fs_place *pl)
{
	return pl->export_tree ? pl->project->fp_export : pl->project->fp;
}

const struct deid_profile *fs_place_profile(const struct fs_place *pl)
{
	return pl->export_tree ? pl->project->export_profile : pl->project->profile;
}

static const struct deid_profile *fp_profile(const struct fs_project *p, const char *fp)
{
	return !strcmp(fp, p->fp) ? p->profile : p->export_profile;
}

static int plan_for(struct fs_mount *m, const struct fs_project *p, const struct deid_profile *prof,
		    const char *participant, const char *event, int64_t instance, bool cleaned,
		    const uint8_t *b, size_t len, struct deid_plan **out)
{
	struct deid_outcome o;
	struct deid_job job;
	struct fiona_err err = {0};
	int rc;

	if (!m->have_secret)
		return -EACCES;
	rc = deid_job_init(&job, prof, &m->secret, p->cfg->name, participant, event);
	job.pixels_cleaned = cleaned;
	rc = rc ? rc : deid_instance_plan(&job, b, len, out, &o, &err);
	if (rc)
		log_msg(m->log, LOG_ERROR, "mount", "instance %lld: cannot de-identify: %s",
			(long long)instance, err.reason[0] ? err.reason : strerror(-rc));
	return rc;
}

int fs_deid_plan(struct fs_mount *m, const struct fs_place *pl, int64_t instance, bool cleaned,
		 const uint8_t *p, size_t len, struct deid_plan **out)
{
	const struct fs_project *pr = pl ? pl->project : NULL;

	if (!pr || pl->event < 0)
		return -EACCES;
	return plan_for(m, pr, fs_place_profile(pl), pl->participant,
			fs_project_event(pr, pl->event), instance, cleaned, p, len, out);
}

/* What the cleaner decided of an instance's pixels (store/pixels.c): the object to
 * de-identify (source; *cleaned when it is the cleaned copy), or a row without a header
 * (held, dropped); false while a candidate waits for its cleaning, which notes the study
 * again when it is done. */
static bool pixel_source(struct fs_mount *m, const struct fs_project *p,
			 const struct store_derived_todo *t, struct store_derived_row *row,
			 char source[33], bool *cleaned)
{
	struct store_px_state px;

	memcpy(source, t->hash, 33);
	*cleaned = false;
	if (store_pixel_state(m->store, t->instance, p->cfg->name, &px))
		return true; /* the instance is gone: FAILED, never shown */
	if (px.state == STORE_PX_PENDING)
		return false;
	if (px.state == STORE_PX_HELD || px.state == STORE_PX_DROPPED) {
		row->size = px.state == STORE_PX_HELD ? STORE_DERIVED_HELD : STORE_DERIVED_DROPPED;
		return true;
	}
	*cleaned = px.state == STORE_PX_CLEANED;
	memcpy(source, px.source, 33);
	return true;
}

/* The SeriesDescription of the plan's output (top level, "" when absent), read from
 * its first bytes: what the de-identified file carries, never the original value. */
static void plan_description(const struct deid_plan *plan, int fd, char *out, size_t cap)
{
	uint64_t size = deid_plan_size(plan);

	out[0] = '\0';
	for (size_t want = DESC_HEAD; want <= DESC_HEAD_MAX; want *= 8) {
		size_t n = size < want ? (size_t)size : want;
		uint8_t *b = malloc(n ? n : 1);
		struct dcm_reader *r = NULL;
		struct fiona_err err = {0};
		struct dcm_elem e;
		ssize_t got = b ? deid_plan_read(plan, fd, 0, b, n) : -ENOMEM;
		int rc = got == (ssize_t)n ? dcm_reader_new(b, n, &r, &err) : -EIO;

		while (!rc && (rc = dcm_reader_next(r, &e)) == 1) {
			rc = 0;
			if (e.in_meta || e.depth > 0 || e.tag < DCM_TAG(0x0008, 0x103E))
				continue;
			if (e.tag == DCM_TAG(0x0008, 0x103E) && e.kind == DCM_ELEMENT)
				dcm_value_str(&e, out, cap);
			break;
		}
		dcm_reader_free(r);
		free(b);
		if (rc >= 0 || n == size)
			return; /* found, absent, or the whole file was read */
	}
}

/* One row: the plan of one instance, saved into keep (appended); row->plan points into
 * keep only after the batch is complete (keep may move while it grows). false when the
 * instance waits for its pixels to be cleaned (no row). */
static bool prepare_one(struct fs_mount *m, const struct fs_project *p, const char *fp,
			const struct store_study *st, const struct store_derived_todo *t,
			struct store_derived_row *row, char source[33], bool *cleaned,
			char desc[65], struct buf *keep, size_t *at)
{
	struct deid_plan *plan = NULL;
	struct core_map map;
	char path[4200];
	int rc;

	*row = (struct store_derived_row){t->instance, STORE_DERIVED_FAILED, NULL, 0, NULL};
	*at = SIZE_MAX;
	if (!pixel_source(m, p, t, row, source, cleaned))
		return false;
	if (row->size != STORE_DERIVED_FAILED)
		return true; /* held or dropped */
	if ((rc = store_object_path(m->store, source, path, sizeof(path))) ||
	    (rc = core_map_file(path, &map))) {
		log_msg(m->log, LOG_ERROR, "mount", "instance %lld: object unreadable: %s",
			(long long)t->instance, strerror(-rc));
		return true;
	}
	rc = plan_for(m, p, fp_profile(p, fp), st->participant, st->event, t->instance, *cleaned,
		      map.p, map.len, &plan);
	if (!rc)
		plan_description(plan, map.fd, desc, 65);
	core_map_release(&map);
	if (rc)
		return true;
	row->size = (int64_t)deid_plan_size(plan);
	row->description = desc;
	if (deid_plan_size(plan) - deid_plan_copied_bytes(plan) <= PLAN_KEEP_MAX) {
		size_t before = keep->len;

		if (deid_plan_save(plan, keep) == 0) {
			*at = before;
			row->plan_len = keep->len - before;
		}
	}
	deid_plan_free(plan);
	return true;
}

static int prepare_batch(struct fs_mount *m, const struct fs_project *p, const char *fp,
			 const struct store_study *st, const struct store_derived_todo *t, size_t n)
{
	struct store_derived_row rows[PUT_BATCH];
	char sources[PUT_BATCH][33], desc[PUT_BATCH][65];
	bool cleaned[PUT_BATCH];
	size_t at[PUT_BATCH], k = 0;
	struct buf keep;
	int rc;

	buf_init(&keep, (size_t)1 << 30);
	for (size_t i = 0; i < n; i++)
		if (prepare_one(m, p, fp, st, &t[i], &rows[k], sources[k], &cleaned[k], desc[k],
				&keep, &at[k]))
			k++;
	for (size_t i = 0; i < k; i++) {
		if (at[i] != SIZE_MAX)
			rows[i].plan = keep.data + at[i];
		rows[i].source = cleaned[i] ? sources[i] : NULL;
	}
	rc = k ? store_derived_put(m->store, st->id, p->cfg->name, st->participant, st->event, fp,
				   rows, k)
	       : 0;
	buf_release(&keep);
	return rc;
}

const struct fs_project *fs_project_named(const struct fs_mount *m, const char *name)
{
	for (size_t i = 0; i < m->n_projects; i++)
		if (!strcmp(m->projects[i].cfg->name, name))
			return &m->projects[i];
	return NULL;
}

static void prepare_study(struct fs_mount *m, int64_t study)
{
	struct store_study st;
	const struct fs_project *p;

	if (store_get_study(m->store, study, &st) || !st.project[0] ||
	    !(p = fs_project_named(m, st.project)) || !m->have_secret)
		return;
	for (int k = 0; k < 2; k++) {
		const char *fp = k ? p->fp_export : p->fp;
		struct store_derived_todo *t = NULL;
		size_t n = 0;
		int rc = 0;

		if (k && !strcmp(p->fp, p->fp_export))
			break;
		if (store_derived_missing(m->store, study, fp, &t, &n))
			continue;
		for (size_t i = 0; !rc && i < n; i += PUT_BATCH)
			rc = prepare_batch(m, p, fp, &st, t + i,
					   n - i < PUT_BATCH ? n - i : PUT_BATCH);
		free(t);
	}
	explicit_bzero(&st, sizeof(st));
}

/* Whether header work waits (or the thread should stop): the CRC pass then yields. */
static bool header_work_waiting(struct fs_prepare *pp)
{
	bool yes;

	if (!pp)
		return false;
	pthread_mutex_lock(&pp->lock);
	yes = pp->queue.n > 0 || pp->stop;
	pthread_mutex_unlock(&pp->lock);
	return yes;
}

int fs_output_open(struct fs_mount *m, const struct fs_project *p, const char *fp,
		   const struct store_study *st, int64_t instance, struct fs_output *out)
{
	char hash[33], path[4200];
	uint8_t *saved = NULL;
	size_t saved_len = 0;
	bool cleaned;
	int rc = store_instance_open(m->store, instance, fp, hash, &cleaned, &out->size, &saved,
				     &saved_len);

	out->map = (struct core_map){.fd = -1};
	out->plan = NULL;
	rc = rc ? rc : store_object_path(m->store, hash, path, sizeof(path));
	rc = rc ? rc : core_map_file(path, &out->map);
	if (!rc && !(saved && deid_plan_load(saved, saved_len, &out->plan) == 0))
		rc = plan_for(m, p, fp_profile(p, fp), st->participant, st->event, instance,
			      cleaned, out->map.p, out->map.len, &out->plan);
	free(saved);
	if (rc)
		fs_output_close(out);
	return rc;
}

void fs_output_close(struct fs_output *o)
{
	deid_plan_free(o->plan);
	o->plan = NULL;
	core_map_release(&o->map);
}

/* CRC-32 of the de-identified bytes of one instance under fp, read through its kept plan
 * (or one built again when none is kept) and checked against the kept size. */
static int crc_one(struct fs_mount *m, const struct fs_project *p, const char *fp,
		   const struct store_study *st, int64_t instance, uint8_t *chunk, uint32_t *out)
{
	struct fs_output o;
	uLong crc = crc32(0L, Z_NULL, 0);
	uint64_t off = 0;
	int rc = fs_output_open(m, p, fp, st, instance, &o);

	while (!rc) {
		ssize_t got = deid_plan_read(o.plan, o.map.fd, off, chunk, CRC_CHUNK);

		if (got <= 0) {
			rc = (int)got;
			break;
		}
		crc = crc32(crc, chunk, (uInt)got);
		off += (uint64_t)got;
	}
	if (!rc && (o.size < 0 || off != (uint64_t)o.size))
		rc = -EIO;
	if (rc)
		log_msg(m->log, LOG_ERROR, "mount",
			"instance %lld: no CRC of its de-identified bytes: %s", (long long)instance,
			strerror(-rc));
	else
		*out = (uint32_t)crc;
	fs_output_close(&o); /* again after a failed open: nothing left to release */
	return rc;
}

/* The missing CRCs of one profile's files of a study; false when header work came in
 * between (the rest is done later) or the study moved. */
static bool crc_profile(struct fs_prepare *pp, const struct fs_project *p, const char *fp,
			const struct store_study *st, uint8_t *chunk)
{
	struct fs_mount *m = pp->m;
	struct store_derived_crc rows[CRC_BATCH];
	int64_t *ids = NULL;
	size_t n = 0, k = 0, i = 0;
	bool done = true;

	if (store_derived_crc_missing(m->store, st->id, fp, &ids, &n))
		return true;
	for (; i < n && done; i++) {
		if (crc_one(m, p, fp, st, ids[i], chunk, &rows[k].crc) == 0)
			rows[k++].instance = ids[i];
		done = !header_work_waiting(pp);
		if (k == CRC_BATCH || (k && (!done || i + 1 == n))) {
			if (store_derived_crc_put(m->store, st->id, p->cfg->name, st->participant,
						  st->event, fp, rows, k) == -ESTALE)
				i = n; /* the study moved: its new place has work of its own */
			k = 0;
		}
	}
	free(ids);
	return done || i >= n;
}

/* CRCs of a study's files; true when some are left for later (header work waits). */
static bool crc_study(struct fs_prepare *pp, int64_t study, uint8_t *chunk)
{
	struct fs_mount *m = pp->m;
	struct store_study st;
	const struct fs_project *p;
	bool more = false;

	if (!chunk || store_get_study(m->store, study, &st) || !st.project[0] ||
	    !(p = fs_project_named(m, st.project)) || !m->have_secret)
		return false;
	more = !crc_profile(pp, p, p->fp, &st, chunk);
	if (!more && strcmp(p->fp, p->fp_export))
		more = !crc_profile(pp, p, p->fp_export, &st, chunk);
	explicit_bzero(&st, sizeof(st));
	return more;
}

/* Adds study to the queue (first when urgent); caller holds the lock. Out of memory it
 * is found again by the next scan or listing. */
static void enqueue(struct fs_prepare *pp, int64_t study, bool urgent)
{
	if (core_idq_push(&pp->queue, study, urgent) == 0)
		pthread_cond_broadcast(&pp->cond);
}

/* Every assigned study that lacks a header under one of the current fingerprints. */
static void scan_all(struct fs_prepare *pp)
{
	struct fs_mount *m = pp->m;

	for (size_t i = 0; i < m->n_projects; i++)
		for (int k = 0; k < 2; k++) {
			const char *fp = k ? m->projects[i].fp_export : m->projects[i].fp;
			int64_t *ids = NULL;
			size_t n = 0;

			if (!store_derived_studies_missing(m->store, m->projects[i].cfg->name, fp,
							   &ids, &n)) {
				pthread_mutex_lock(&pp->lock);
				for (size_t j = 0; j < n; j++)
					enqueue(pp, ids[j], false);
				pthread_mutex_unlock(&pp->lock);
				free(ids);
			}
			if (!store_derived_studies_crc_missing(m->store, m->projects[i].cfg->name,
							       fp, &ids, &n)) {
				pthread_mutex_lock(&pp->lock);
				for (size_t j = 0; j < n; j++)
					core_idq_push(&pp->crcq, ids[j], false);
				pthread_mutex_unlock(&pp->lock);
				free(ids);
			}
		}
}

/* Headers kept under fingerprints no project uses any more (a profile changed). */
static void prune_old(struct fs_mount *m)
{
	const char **keep = calloc(2 * m->n_projects + 1, sizeof(*keep));
	size_t n = 0;
	long removed = 0;
	int k;

	if (!keep)
		return;
	for (size_t i = 0; i < m->n_projects; i++) {
		keep[n++] = m->projects[i].fp;
		keep[n++] = m->projects[i].fp_export;
	}
	while ((k = store_derived_prune(m->store, keep, n, 5000)) > 0)
		removed += k;
	if (removed)
		log_msg(m->log, LOG_INFO, "mount",
			"%ld kept headers of an older profile or secret removed", removed);
	free(keep);
}

static void follow_feed(struct fs_prepare *pp)
{
	struct store_change c[64];
	uint64_t hint = store_change_hint(pp->m->store);
	size_t n;

	if (hint == pp->hint)
		return;
	pp->hint = hint;
	do {
		if (store_changes_read(pp->m->store, &pp->cursor, c, CORE_ARRAY_SIZE(c), &n) ==
		    -ESTALE) {
			pp->rescan = true;
			return;
		}
		pthread_mutex_lock(&pp->lock);
		for (size_t i = 0; i < n; i++)
			if (c[i].study && c[i].project[0] &&
			    (c[i].what &
			     (STORE_CHG_ASSIGN | STORE_CHG_INSTANCES | STORE_CHG_PIXELS)))
				enqueue(pp, c[i].study, false);
		pthread_mutex_unlock(&pp->lock);
	} while (n == CORE_ARRAY_SIZE(c));
}

static void *prepare_main(void *arg)
{
	struct fs_prepare *pp = arg;
	uint8_t *chunk = malloc(CRC_CHUNK);
	int64_t crc_next;

	prune_old(pp->m);
	scan_all(pp);
	pthread_mutex_lock(&pp->lock);
	while (!pp->stop) {
		pthread_mutex_unlock(&pp->lock);
		follow_feed(pp);
		if (pp->rescan) {
			pp->rescan = false;
			scan_all(pp);
		}
		pthread_mutex_lock(&pp->lock);
		if (!core_idq_pop(&pp->queue, &pp->current) && core_idq_pop(&pp->crcq, &crc_next)) {
			pthread_mutex_unlock(&pp->lock);
			bool more = crc_study(pp, crc_next, chunk);
			pthread_mutex_lock(&pp->lock);
			if (more)
				core_idq_push(&pp->crcq, crc_next, true);
			continue;
		}
		if (!pp->current) {
			struct timespec until = core_deadline(0.2);

			pthread_cond_timedwait(&pp->cond, &pp->lock, &until);
			continue;
		}
		pthread_mutex_unlock(&pp->lock);
		prepare_study(pp->m, pp->current);
		pthread_mutex_lock(&pp->lock);
		core_idq_push(&pp->crcq, pp->current, false);
		pp->current = 0;
		pthread_cond_broadcast(&pp->cond);
	}
	pthread_mutex_unlock(&pp->lock);
	free(chunk);
	return NULL;
}

bool fs_prepare_busy(struct fs_mount *m)
{
	return header_work_waiting(m->prep);
}

int fs_prepare_wait(struct fs_mount *m, int64_t study, double seconds)
{
	struct fs_prepare *pp = m->prep;
	struct timespec until = core_deadline(seconds);
	bool pending = true;

	if (!pp || !pp->started)
		return -ETIMEDOUT;
	pthread_mutex_lock(&pp->lock);
	if (pp->current != study)
		enqueue(pp, study, true);
	while (pending && !pp->stop) {
		pending = pp->current == study || core_idq_has(&pp->queue, study);
		if (pending && pthread_cond_timedwait(&pp->cond, &pp->lock, &until) != 0)
			break;
	}
	pthread_mutex_unlock(&pp->lock);
	return pending ? -ETIMEDOUT : 0;
}

int fs_prepare_start(struct fs_mount *m)
{
	struct fs_prepare *pp = calloc(1, sizeof(*pp));
	int rc;

	if (!pp)
		return -ENOMEM;
	pp->m = m;
	pp->cursor = store_change_seq(m->store);
	pthread_mutex_init(&pp->lock, NULL);
	pthread_cond_init(&pp->cond, NULL);
	m->prep = pp;
	if ((rc = -pthread_create(&pp->th, NULL, prepare_main, pp)))
		return rc;
	pp->started = true;
	return 0;
}

void fs_prepare_stop(struct fs_mount *m)
{
	struct fs_prepare *pp = m->prep;

	if (!pp)
		return;
	pthread_mutex_lock(&pp->lock);
	pp->stop = true;
	pthread_cond_broadcast(&pp->cond);
	pthread_mutex_unlock(&pp->lock);
	if (pp->started)
		pthread_join(pp->th, NULL);
	pthread_cond_destroy(&pp->cond);
	pthread_mutex_destroy(&pp->lock);
	core_idq_release(&pp->queue);
	core_idq_release(&pp->crcq);
	free(pp);
	m->prep = NULL;
}
