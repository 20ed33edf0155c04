/*
 * derived: the de-identified header of each assigned instance, kept in the catalog under
 * the fingerprint of the profile that made it (profile, site secret and engine version:
 * docs/store.md). The mount's preparer computes them in the background when a study is
 * assigned; listings read their sizes and an open reads the saved plan instead of
 * de-identifying again. A re-assignment deletes a study's rows (assign.c) and a row is
 * only kept while the study is still where it was computed for.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "store/store_int.h"

static void todo_fill(struct db_stmt *st, void *row)
{
	struct store_derived_todo *o = row;

	o->instance = db_column_int64(st, 0);
	store_col_text(st, 1, o->hash, sizeof(o->hash));
}

int store_derived_missing(struct store *s, int64_t study, const char *profile,
			  struct store_derived_todo **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT i.id, i.hash FROM series r JOIN instances i ON"
			       " i.series=r.id WHERE r.study=? AND NOT EXISTS (SELECT 1 FROM"
			       " derived d WHERE d.instance=i.id AND d.profile=?) ORDER BY i.id",
			       sizeof(**out), todo_fill, (void **)out, n, "it", study, profile);
}

static bool still_assigned(struct store *s, int64_t study, const char *project,
			   const char *participant, const char *event)
{
	struct db_stmt *st = NULL;
	bool yes = false;

	if (cat_prepare(s,
			"SELECT 1 FROM assignments WHERE study=? AND project=? AND participant=?"
			" AND event=?",
			&st))
		return false;
	db_bind_int64(st, 1, study);
	db_bind_text(st, 2, project, -1);
	db_bind_text(st, 3, participant, -1);
	db_bind_text(st, 4, event, -1);
	yes = db_step(st) == DB_ROW;
	db_finalize(st);
	return yes;
}

static int put_rows(struct store *s, const char *profile, const struct store_derived_row *rows,
		    size_t n)
{
	struct db_stmt *st = NULL;
	int rc = cat_prepare(s,
			     "INSERT OR REPLACE INTO derived(instance, profile, size, plan,"
			     " source, description) VALUES(?,?,?,?,?,?)",
			     &st);

	for (size_t i = 0; !rc && i < n; i++) {
		db_bind_int64(st, 1, rows[i].instance);
		db_bind_text(st, 2, profile, -1);
		db_bind_int64(st, 3, rows[i].size);
		if (rows[i].plan)
			db_bind_blob(st, 4, rows[i].plan, (int)rows[i].plan_len);
		else
			db_bind_null(st, 4);
		if (rows[i].source)
			db_bind_text(st, 5, rows[i].source, -1);
		else
			db_bind_null(st, 5);
		if (rows[i].description)
			db_bind_text(st, 6, rows[i].description, -1);
		else
			db_bind_null(st, 6);
		rc = cat_errno(db_step(st));
		db_reset(st);
	}
	db_finalize(st);
	return rc;
}

static int put_crcs(struct store *s, const char *profile, const struct store_derived_crc *rows,
		    size_t n)
{
	struct db_stmt *st = NULL;
	int rc = cat_prepare(
		s, "UPDATE derived SET crc=? WHERE instance=? AND profile=? AND size>=0", &st);

	for (size_t i = 0; !rc && i < n; i++) {
		db_bind_int64(st, 1, (int64_t)rows[i].crc);
		db_bind_int64(st, 2, rows[i].instance);
		db_bind_text(st, 3, profile, -1);
		rc = cat_errno(db_step(st));
		db_reset(st);
	}
	db_finalize(st);
	return rc;
}

/* Rows of headers or of CRCs, kept in one transaction while the study is still where they
 * were computed for (-ESTALE otherwise), with a STORE_CHG_DERIVED record. */
struct put_job {
	const char *profile;
	const struct store_derived_row *rows; /* either these */
	const struct store_derived_crc *crcs; /* or these */
	size_t n;
};

static int put_in_place(struct store *s, int64_t study, const char *project,
			const char *participant, const char *event, const struct put_job *j)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	if (!rc) {
		int body = still_assigned(s, study, project, participant, event) ? 0 : -ESTALE;

		if (!body)
			body = j->rows ? put_rows(s, j->profile, j->rows, j->n)
				       : put_crcs(s, j->profile, j->crcs, j->n);
		if (!body)
			note_at(s, study, STORE_CHG_DERIVED, project, participant, event);
		rc = cat_commit(s, body);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_derived_put(struct store *s, int64_t study, const char *project, const char *participant,
		      const char *event, const char *profile, const struct store_derived_row *rows,
		      size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].plan_len > (size_t)1 << 30)
			return -E2BIG;
	struct put_job job = {profile, rows, NULL, n};

	return put_in_place(s, study, project, participant, event, &job);
}

int store_derived_count(struct store *s, int64_t study, const char *profile,
			struct store_derived_counts *out)
{
	struct db_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s,
			      "SELECT coalesce(sum(d.size >= 0),0), coalesce(sum(d.size = ?3),0),"
			      " coalesce(sum(d.size = ?4),0), coalesce(sum(d.size = ?5),0)"
			      " FROM series r JOIN instances i ON i.series=r.id JOIN derived d"
			      " ON d.instance=i.id AND d.profile=?1 WHERE r.study=?2",
			      &st);
	if (!rc) {
		db_bind_text(st, 1, profile, -1);
		db_bind_int64(st, 2, study);
		db_bind_int64(st, 3, STORE_DERIVED_FAILED);
		db_bind_int64(st, 4, STORE_DERIVED_HELD);
		db_bind_int64(st, 5, STORE_DERIVED_DROPPED);
		if ((rc = db_step(st)) == DB_ROW) {
			out->ready = (long)db_column_int64(st, 0);
			out->failed = (long)db_column_int64(st, 1);
			out->held = (long)db_column_int64(st, 2);
			out->dropped = (long)db_column_int64(st, 3);
		}
		rc = cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

int store_derived_studies_missing(struct store *s, const char *project, const char *profile,
				  int64_t **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT a.study FROM assignments a WHERE a.project=? AND EXISTS"
			       " (SELECT 1 FROM series r JOIN instances i ON i.series=r.id"
			       " WHERE r.study=a.study AND NOT EXISTS (SELECT 1 FROM derived d"
			       " WHERE d.instance=i.id AND d.profile=?)) ORDER BY a.study",
			       sizeof(**out), store_id_fill, (void **)out, n, "tt", project,
			       profile);
}

int store_derived_prune(struct store *s, const char *const *keep, size_t n, int limit)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc, removed = 0;

	buf_init(&sql, 1 << 16);
	rc = buf_appendf(&sql, "DELETE FROM derived WHERE rowid IN (SELECT rowid FROM derived"
			       " WHERE profile NOT IN (''");
	for (size_t i = 0; !rc && i < n; i++)
		rc = buf_appendf(&sql, ",?");
	rc = rc ? rc : buf_appendf(&sql, ") LIMIT %d)", limit);
	pthread_mutex_lock(&s->lock);
	if (!rc && !(rc = cat_prepare(s, (const char *)sql.data, &st))) {
		for (size_t i = 0; i < n; i++)
			db_bind_text(st, (int)i + 1, keep[i], -1);
		rc = cat_errno(db_step(st));
		removed = db_changes(s->db);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->lock);
	buf_release(&sql);
	return rc ? rc : removed;
}

int store_derived_crc_missing(struct store *s, int64_t study, const char *profile, int64_t **out,
			      size_t *n)
{
	return store_read_rows(s,
			       "SELECT i.id FROM series r JOIN instances i ON i.series=r.id"
			       " JOIN derived d ON d.instance=i.id AND d.profile=? WHERE"
			       " r.study=? AND d.size>=0 AND d.crc IS NULL ORDER BY i.id",
			       sizeof(**out), store_id_fill, (void **)out, n, "ti", profile, study);
}

int store_derived_studies_crc_missing(struct store *s, const char *project, const char *profile,
				      int64_t **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT a.study FROM assignments a WHERE a.project=? AND EXISTS"
			       " (SELECT 1 FROM series r JOIN instances i ON i.series=r.id"
			       " JOIN derived d ON d.instance=i.id AND d.profile=? WHERE"
			       " r.study=a.study AND d.size>=0 AND d.crc IS NULL) ORDER BY a.study",
			       sizeof(**out), store_id_fill, (void **)out, n, "tt", project,
			       profile);
}

int store_derived_crc_put(struct store *s, int64_t study, const char *project,
			  const char *participant, const char *event, const char *profile,
			  const struct store_derived_crc *rows, size_t n)
{
	struct put_job job = {profile, NULL, rows, n};

	return put_in_place(s, study, project, participant, event, &job);
}
