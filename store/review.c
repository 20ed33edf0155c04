/*
 * review: what the project's review file is made of (docs/review.md). Per study and
 * profile a summary of the attributes of its de-identified files, computed by the mount in
 * the background; per project and profile the merged text it shows. Triggers on derived
 * (migration 7) bump a study's gen and clear its summary whenever a kept header of it
 * comes or goes, so a summary is kept only if the gen it was computed under is still
 * current: no stale value survives a re-sent instance or a re-assignment. Reads are on the
 * reader connection and, for a project's merge, in batches, so neither lock is held long.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

static void file_fill(struct db_stmt *st, void *row)
{
	struct store_review_file *o = row;

	o->instance = db_column_int64(st, 0);
	o->series = db_column_int64(st, 1);
	o->size = db_column_int64(st, 2);
}

/* gen and whether the summary is there, on the reader connection (caller holds rlock). */
static int gen_read(struct store *s, int64_t study, const char *profile, int64_t *gen,
		    bool *current)
{
	struct db_stmt *st = NULL;
	int rc = cat_prepare_read(s,
				  "SELECT gen, summary IS NOT NULL FROM review WHERE study=?"
				  " AND profile=?",
				  &st);

	*gen = -1;
	*current = false;
	if (rc)
		return rc;
	db_bind_int64(st, 1, study);
	db_bind_text(st, 2, profile, -1);
	if ((rc = db_step(st)) == DB_ROW) {
		*gen = db_column_int64(st, 0);
		*current = (int)db_column_int64(st, 1) != 0;
	}
	db_finalize(st);
	return cat_errno(rc);
}

int store_review_files(struct store *s, int64_t study, const char *profile, int64_t *gen,
		       struct store_review_file **out, size_t *n)
{
	bool current;
	int rc;

	*out = NULL;
	*n = 0;
	/* gen first: a change after this read bumps it, and the summary is refused */
	pthread_mutex_lock(&s->rlock);
	rc = gen_read(s, study, profile, gen, &current);
	pthread_mutex_unlock(&s->rlock);
	if (rc || *gen < 0 || current)
		return rc ? rc : *gen < 0 ? -ENOENT : -EALREADY;
	return store_read_rows(s,
			       "SELECT i.id, i.series, d.size FROM series r JOIN instances i ON"
			       " i.series=r.id JOIN derived d ON d.instance=i.id AND d.profile=?"
			       " WHERE r.study=? AND d.size>=0 ORDER BY i.id",
			       sizeof(**out), file_fill, (void **)out, n, "ti", profile, study);
}

int store_review_put(struct store *s, int64_t study, const char *profile, int64_t gen,
		     const uint8_t *b, size_t n)
{
	struct db_stmt *st = NULL;
	int rc;

	if (n > (size_t)1 << 30)
		return -E2BIG;
	pthread_mutex_lock(&s->lock);
	rc = cat_stmt(s, "UPDATE review SET summary=? WHERE study=? AND profile=? AND gen=?", &st);
	if (!rc) {
		db_bind_blob(st, 1, b, (int)n);
		db_bind_int64(st, 2, study);
		db_bind_text(st, 3, profile, -1);
		db_bind_int64(st, 4, gen);
		rc = cat_errno(db_step(st));
		if (!rc && db_changes(s->db) == 0)
			rc = -ESTALE;
		db_reset(st);
		db_clear_bindings(st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_review_studies_missing(struct store *s, const char *project, const char *profile,
				 int64_t **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT a.study FROM assignments a JOIN review v ON v.study=a.study"
			       " AND v.profile=? WHERE a.project=? AND v.summary IS NULL"
			       " ORDER BY a.study",
			       sizeof(**out), store_id_fill, (void **)out, n, "tt", profile,
			       project);
}

struct batch_row {
	int64_t study;
	uint8_t *b;
	size_t n;
};

/* Up to limit summaries after study *after, copied out under rlock. */
static int batch_read(struct store *s, const char *project, const char *profile, int64_t after,
		      int limit, struct batch_row *rows, int *got)
{
	struct db_stmt *st = NULL;
	int rc, k = 0;

	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s,
			      "SELECT a.study, v.summary FROM assignments a JOIN review v ON"
			      " v.study=a.study AND v.profile=?2 WHERE a.project=?1 AND"
			      " a.study>?3 AND v.summary IS NOT NULL ORDER BY a.study LIMIT ?4",
			      &st);
	if (!rc) {
		db_bind_text(st, 1, project, -1);
		db_bind_text(st, 2, profile, -1);
		db_bind_int64(st, 3, after);
		db_bind_int64(st, 4, limit);
		while ((rc = db_step(st)) == DB_ROW) {
			size_t n = (size_t)db_column_bytes(st, 1);
			const void *p = db_column_blob(st, 1);

			rows[k] = (struct batch_row){db_column_int64(st, 0), malloc(n ? n : 1), n};
			if (!rows[k].b) {
				rc = DB_NOMEM;
				break;
			}
			memcpy(rows[k++].b, p, n);
		}
		rc = cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	*got = k;
	return rc;
}

int store_review_project(struct store *s, const char *project, const char *profile,
			 store_review_fn fn, void *opaque)
{
	struct batch_row rows[32];
	int64_t after = 0;
	int got, rc;

	do {
		rc = batch_read(s, project, profile, after, (int)CORE_ARRAY_SIZE(rows), rows, &got);
		for (int i = 0; i < got; i++) {
			if (!rc)
				rc = fn(opaque, rows[i].study, rows[i].b, rows[i].n);
			after = rows[i].study;
			free(rows[i].b);
		}
	} while (!rc && got == (int)CORE_ARRAY_SIZE(rows));
	return rc;
}

int store_review_text_put(struct store *s, const char *project, const char *profile,
			  const uint8_t *text, size_t n)
{
	struct db_stmt *st = NULL;
	int rc;

	if (n > (size_t)1 << 30)
		return -E2BIG;
	pthread_mutex_lock(&s->lock);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	if (!rc) {
		int body = cat_stmt(s,
				    "INSERT OR REPLACE INTO review_text(project, profile, text, at)"
				    " VALUES(?,?,?,?)",
				    &st);

		if (!body) {
			db_bind_text(st, 1, project, -1);
			db_bind_text(st, 2, profile, -1);
			db_bind_blob(st, 3, text, (int)n);
			db_bind_int64(st, 4, (int64_t)time(NULL));
			body = cat_errno(db_step(st));
			db_reset(st);
			db_clear_bindings(st);
		}
		if (!body) /* the project's folders list the file with its new size */
			note_at(s, 0, STORE_CHG_REVIEW, project, NULL, NULL);
		rc = cat_commit(s, body);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_review_text_get(struct store *s, const char *project, const char *profile, char **out,
			  size_t *n)
{
	struct db_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s, "SELECT text FROM review_text WHERE project=? AND profile=?", &st);
	if (!rc) {
		db_bind_text(st, 1, project, -1);
		db_bind_text(st, 2, profile, -1);
		rc = db_step(st);
		if (rc == DB_ROW) {
			size_t len = (size_t)db_column_bytes(st, 0);
			char *t = malloc(len + 1);

			rc = t ? 0 : -ENOMEM;
			if (t) {
				memcpy(t, db_column_blob(st, 0), len);
				t[len] = '\0';
				*out = t;
				*n = len;
			}
		} else {
			rc = rc == DB_DONE ? -ENOENT : cat_errno(rc);
		}
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

int store_review_prune(struct store *s, const char *const *keep, size_t n)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;

	buf_init(&sql, 1 << 16);
	rc = buf_appendf(&sql, "DELETE FROM review WHERE profile NOT IN (''");
	for (size_t i = 0; !rc && i < n; i++)
		rc = buf_appendf(&sql, ",?%zu", i + 1);
	rc = rc ? rc : buf_appendf(&sql, ")");
	pthread_mutex_lock(&s->lock);
	if (!rc && !(rc = cat_prepare(s, (const char *)sql.data, &st))) {
		for (size_t i = 0; i < n; i++)
			db_bind_text(st, (int)i + 1, keep[i], -1);
		rc = cat_errno(db_step(st));
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->lock);
	buf_release(&sql);
	return rc;
}
