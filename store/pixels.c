/*
 * pixels: what leaves fiona of each instance's pixel data (docs/burn.md). An instance of a
 * kind that often carries burned-in text (anon's deid_burned_in_kind), of a series a
 * classification rule labels CHECKBURNEDINFO, or of any series when the project says
 * "every_series", is a candidate: the cleaner (cleaner.c) writes its outcome into the
 * `cleaned` table under the fingerprint of the project's pixel settings — a cleaned copy
 * kept as an object of its own, skipped (the project marks the series safe), or held
 * with the reason. The mount's preparer and the forwarder ask store_pixel_state() which
 * object to de-identify, so both serve the same bytes, and neither shows nor sends a
 * candidate before its outcome is kept.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <xxhash.h>

#include "store/store_int.h"

/* Bumped when the detectors change what they remove: every candidate is cleaned again. */
#define PIXEL_ENGINE "burn-1"

static void fp_hex(const struct buf *b, char out[33])
{
	XXH128_hash_t h = XXH3_128bits(b->data, b->len);

	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

/* The settings that decide a cleaned copy's bytes; the header values the detectors use
 * are the instance's own, so a re-assignment keeps its cleaned copy. */
static int project_fp(const struct config_project *p, const char *rules_hash, char out[33])
{
	struct buf b;
	int rc;

	buf_init(&b, 1 << 20);
	rc = buf_appendf(&b, "%s|keep=%d|all=%d|every=%d|rules=%s", PIXEL_ENGINE, p->pixels.keep,
			 p->pixels.all_text, p->pixels.every_series, rules_hash);
	for (size_t i = 0; !rc && i < p->pixels.n_skip; i++)
		rc = buf_appendf(&b, "|skip=%08x:%s", p->pixels.skip[i].tag,
				 p->pixels.skip[i].pattern);
	if (!rc)
		fp_hex(&b, out);
	buf_release(&b);
	return rc;
}

int pixels_init(struct store *s, struct fiona_err *err)
{
	const struct fiona_config *c = s->cfg;
	char rules_hash[33] = "none";
	struct buf b;
	char *data = NULL;
	size_t len = 0;
	int rc = 0;

	if (c->pixel_rules) {
		if ((rc = core_read_file(c->pixel_rules, 16 << 20, &data, &len)))
			return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "pixel_rules: %s: %s",
				       c->pixel_rules, strerror(-rc));
		b = (struct buf){.data = (uint8_t *)data, .len = len};
		fp_hex(&b, rules_hash);
		free(data);
	}
	if (!(s->pixel_fp = calloc(c->n_projects + 1, sizeof(*s->pixel_fp))))
		return -ENOMEM;
	for (size_t i = 0; !rc && i < c->n_projects; i++)
		rc = project_fp(&c->projects[i], rules_hash, s->pixel_fp[i]);
	return rc;
}

const char *store_pixel_fp(const struct store *s, const char *project)
{
	for (size_t i = 0; i < s->cfg->n_projects; i++)
		if (!strcmp(s->cfg->projects[i].name, project))
			return s->pixel_fp[i];
	return NULL;
}

static bool has_label(const char *labels, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = labels; *p;) {
		size_t k = strcspn(p, ",");

		if (k == n && !strncasecmp(p, want, n))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

/* uid is root itself or one of the classes under it ("root.x"), not a sibling that only
 * starts with the same digits (VL's 1.1.77.x is not secondary capture's 1.1.7). */
static bool uid_under(const char *uid, const char *root)
{
	size_t n = strlen(root);

	return !strncmp(uid, root, n) && (uid[n] == '\0' || uid[n] == '.');
}

enum store_px pixel_disposition(const struct config_project *p, const char *sop_class,
				const char *modality, bool annotation_yes, const char *labels)
{
	if (p->pixels.drop_sc && uid_under(sop_class, "1.2.840.10008.5.1.4.1.1.7"))
		return STORE_PX_DROPPED;
	if (p->pixels.drop_pr && uid_under(sop_class, "1.2.840.10008.5.1.4.1.1.11"))
		return STORE_PX_DROPPED;
	if (p->pixels.keep)
		return STORE_PX_ORIGINAL;
	if (p->pixels.every_series || deid_burned_in_kind(sop_class, modality, annotation_yes) ||
	    has_label(labels, "CHECKBURNEDINFO"))
		return STORE_PX_PENDING;
	return STORE_PX_ORIGINAL;
}

static enum store_px state_named(const char *st)
{
	return !strcmp(st, "cleaned")	? STORE_PX_CLEANED
	       : !strcmp(st, "skipped") ? STORE_PX_SKIPPED
					: STORE_PX_HELD;
}

static void state_fill(struct db_stmt *st, const struct config_project *p, struct store_px_state *o)
{
	char sop_class[65], modality[17], labels[128], state[16];

	store_col_text(st, 0, o->source, sizeof(o->source));
	store_col_text(st, 1, sop_class, sizeof(sop_class));
	store_col_text(st, 3, modality, sizeof(modality));
	store_col_text(st, 4, labels, sizeof(labels));
	o->state =
		pixel_disposition(p, sop_class, modality, (int)db_column_int64(st, 2) == 1, labels);
	if (o->state == STORE_PX_DROPPED)
		snprintf(o->reason, sizeof(o->reason), "the project drops this kind");
	if (o->state != STORE_PX_PENDING || db_column_type(st, 5) == DB_NULL)
		return;
	store_col_text(st, 5, state, sizeof(state));
	o->state = state_named(state);
	store_col_text(st, 7, o->reason, sizeof(o->reason));
	if (o->state == STORE_PX_CLEANED)
		store_col_text(st, 6, o->source, sizeof(o->source));
}

int store_pixel_state(struct store *s, int64_t instance, const char *project,
		      struct store_px_state *out)
{
	const struct config_project *p = config_project(s->cfg, project);
	const char *fp = store_pixel_fp(s, project);
	struct db_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!p || !fp)
		return -ENOENT;
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s,
			      "SELECT i.hash, coalesce(i.sop_class_uid,''), i.burned_in,"
			      " coalesce(r.modality,''), r.labels, c.state, c.hash, c.reason"
			      " FROM instances i JOIN series r ON i.series=r.id LEFT JOIN cleaned c"
			      " ON c.instance=i.id AND c.settings=? WHERE i.id=?",
			      &st);
	if (!rc) {
		db_bind_text(st, 1, fp, -1);
		db_bind_int64(st, 2, instance);
		rc = db_step(st);
		if (rc == DB_ROW)
			state_fill(st, p, out);
		rc = rc == DB_ROW ? 0 : rc == DB_DONE ? -ENOENT : cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

static void held_fill(struct db_stmt *st, void *row)
{
	struct store_held *o = row;

	o->study = db_column_int64(st, 0);
	o->instance = db_column_int64(st, 1);
	o->series = (long)db_column_int64(st, 2);
	o->number = (long)db_column_int64(st, 3);
	store_col_text(st, 4, o->reason, sizeof(o->reason));
	o->skipped = (int)db_column_int64(st, 5) == 1;
}

int store_list_held(struct store *s, int64_t study, const char *project, struct store_held **out,
		    size_t *n)
{
	const char *fp = store_pixel_fp(s, project);

	*out = NULL;
	*n = 0;
	if (!fp)
		return 0;
	if (!study)
		return store_read_rows(
			s,
			"SELECT r.study, i.id, coalesce(r.number,-1), coalesce(i.number,-1),"
			" c.reason, 0 FROM cleaned c JOIN instances i ON c.instance=i.id"
			" JOIN series r ON i.series=r.id JOIN assignments a ON"
			" a.study=r.study AND a.project=? WHERE c.settings=? AND"
			" c.state='held' ORDER BY r.study, r.number, i.number LIMIT 100",
			sizeof(**out), held_fill, (void **)out, n, "tt", project, fp);
	return store_read_rows(
		s,
		"SELECT r.study, i.id, coalesce(r.number,-1), coalesce(i.number,-1),"
		" c.reason, c.state='skipped' FROM series r JOIN instances i ON i.series=r.id"
		" JOIN cleaned c ON c.instance=i.id AND c.settings=? AND c.state IN"
		" ('held','skipped') WHERE r.study=?"
		" ORDER BY c.state, r.number, i.number",
		sizeof(**out), held_fill, (void **)out, n, "ti", fp, study);
}

static void todo_fill(struct db_stmt *st, void *row)
{
	struct pixel_todo *o = row;

	o->instance = db_column_int64(st, 0);
	store_col_text(st, 1, o->hash, sizeof(o->hash));
	store_col_text(st, 2, o->sop_class, sizeof(o->sop_class));
	o->annotation_yes = (int)db_column_int64(st, 3) == 1;
	store_col_text(st, 4, o->modality, sizeof(o->modality));
	store_col_text(st, 5, o->labels, sizeof(o->labels));
}

int pixel_todo_list(struct store *s, int64_t study, const char *fp, struct pixel_todo **out,
		    size_t *n)
{
	return store_read_rows(s,
			       "SELECT i.id, i.hash, coalesce(i.sop_class_uid,''), i.burned_in,"
			       " coalesce(r.modality,''), r.labels FROM series r JOIN instances i"
			       " ON i.series=r.id WHERE r.study=? AND NOT EXISTS (SELECT 1 FROM"
			       " cleaned c WHERE c.instance=i.id AND c.settings=?) ORDER BY i.id",
			       sizeof(**out), todo_fill, (void **)out, n, "it", study, fp);
}

int pixel_put(struct store *s, int64_t study, const char *fp, const struct pixel_outcome *o)
{
	int64_t now = time(NULL);
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	if (!rc) {
		int body = 0;

		if (o->hash[0])
			body = cat_run(s,
				       "INSERT OR IGNORE INTO objects(hash, size, stored_at)"
				       " VALUES(?,?,?)",
				       "tii", o->hash, o->size, now);
		body = body ? body
			    : cat_run(s,
				      "INSERT OR REPLACE INTO cleaned(instance, settings, state,"
				      " hash, reason, regions, at) VALUES(?,?,?,nullif(?,''),"
				      "nullif(?,''),?,?)",
				      "ittttii", o->instance, fp, o->state, o->hash, o->reason,
				      o->regions, now);
		if (!body)
			note_study(s, study, STORE_CHG_PIXELS);
		rc = cat_commit(s, body);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int pixel_assigned_studies(struct store *s, int64_t **out, size_t *n)
{
	return store_read_rows(s, "SELECT study FROM assignments ORDER BY study", sizeof(**out),
			       store_id_fill, (void **)out, n, "");
}
