/*
 * rc_rows: the REDCap rows fiona writes or carries out, by address. A repeating row's
 * instance is fixed once, the first time the row is built, and kept here: every later
 * write of the row (a retry after a dropped connection, an update as a transfer goes)
 * names the same instance, and REDCap merges a write into an existing instance, so
 * nothing is ever duplicated. fiona never asks REDCap for a "new" instance, whose number
 * it would not learn and which a retry would create again.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

static void row_fill(struct db_stmt *st, void *row)
{
	struct store_rc_row *r = row;

	store_col_text(st, 0, r->target, sizeof(r->target));
	store_col_text(st, 1, r->record, sizeof(r->record));
	store_col_text(st, 2, r->event, sizeof(r->event));
	store_col_text(st, 3, r->instrument, sizeof(r->instrument));
	store_col_text(st, 4, r->key, sizeof(r->key));
	r->instance = (long)db_column_int64(st, 5);
	store_col_text(st, 6, r->origin, sizeof(r->origin));
	store_col_text(st, 7, r->body_hash, sizeof(r->body_hash));
	store_col_text(st, 8, r->error, sizeof(r->error));
	r->study = db_column_int64(st, 9);
}

#define ROW_COLS                                                                                   \
	"SELECT target, record, event, instrument, key, instance, origin, body_hash, error,"       \
	" coalesce(study,0) FROM rc_rows "

int store_rc_row_get(struct store *s, struct store_rc_row *r)
{
	struct store_rc_row *v = NULL;
	size_t n = 0;
	int rc = store_read_rows(
		s, ROW_COLS "WHERE target=? AND record=? AND event=? AND instrument=? AND key=?",
		sizeof(*v), row_fill, (void **)&v, &n, "ttttt", r->target, r->record, r->event,
		r->instrument, r->key);

	if (!rc && !n)
		rc = -ENOENT;
	if (!rc)
		*r = v[0];
	free(v);
	return rc;
}

int store_rc_rows_of(struct store *s, int64_t study, const char *target, const char *instrument,
		     struct store_rc_row **out, size_t *n)
{
	return store_read_rows(s,
			       ROW_COLS "WHERE study=? AND target=? AND instrument=?"
					" ORDER BY instance",
			       sizeof(**out), row_fill, (void **)out, n, "itt", study, target,
			       instrument);
}

/* Under s->lock. */
static int row_insert(struct store *s, const struct store_rc_row *r)
{
	return cat_run(s,
		       "INSERT INTO rc_rows(target, record, event, instrument, key, instance,"
		       " origin, study, body_hash, error, at) VALUES(?,?,?,?,?,?,?,?,?,?,?)"
		       " ON CONFLICT(target, record, event, instrument, key) DO UPDATE SET"
		       " error=excluded.error, study=excluded.study",
		       "tttttititti", r->target, r->record, r->event, r->instrument, r->key,
		       (int64_t)r->instance, r->origin[0] ? r->origin : "fiona", r->study,
		       r->body_hash[0] ? r->body_hash : NULL, r->error[0] ? r->error : NULL,
		       (int64_t)time(NULL));
}

int store_rc_row_fix(struct store *s, struct store_rc_row *r, long floor)
{
	struct db_stmt *st = NULL;
	long max = 0;
	int rc;

	if (r->instance > 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	rc = cat_stmt(s,
		      "SELECT coalesce(max(instance),0) FROM rc_rows WHERE target=? AND record=?"
		      " AND event=? AND instrument=?",
		      &st);
	if (!rc) {
		db_bind_text(st, 1, r->target, -1);
		db_bind_text(st, 2, r->record, -1);
		db_bind_text(st, 3, r->event, -1);
		db_bind_text(st, 4, r->instrument, -1);
		if ((rc = db_step(st)) == DB_ROW)
			max = (long)db_column_int64(st, 0);
		rc = cat_errno(rc);
		db_reset(st);
	}
	if (!rc) {
		r->instance = (max > floor ? max : floor) + 1;
		rc = row_insert(s, r);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc)
		r->instance = 0;
	return rc;
}

int store_rc_row_sent(struct store *s, const struct store_rc_row *r)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_run(s,
		     "INSERT INTO rc_rows(target, record, event, instrument, key, instance, origin,"
		     " study, body_hash, at) VALUES(?,?,?,?,?,?,?,?,?,?)"
		     " ON CONFLICT(target, record, event, instrument, key) DO UPDATE SET"
		     " body_hash=excluded.body_hash, at=excluded.at",
		     "tttttititi", r->target, r->record, r->event, r->instrument, r->key,
		     (int64_t)r->instance, r->origin[0] ? r->origin : "fiona", r->study,
		     r->body_hash, (int64_t)time(NULL));
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int find_study(struct store *s, const char *uid, int64_t *id, bool *complete)
{
	struct db_stmt *st = NULL;
	int rc = cat_stmt(s, "SELECT id, complete FROM studies WHERE study_uid=?", &st);

	*id = 0;
	if (rc)
		return rc;
	db_bind_text(st, 1, uid, -1);
	if ((rc = db_step(st)) == DB_ROW) {
		*id = db_column_int64(st, 0);
		*complete = (int)db_column_int64(st, 1) != 0;
	}
	rc = cat_errno(rc);
	db_reset(st);
	return rc;
}

/* Under s->lock in a transaction: the request becomes an assignment now, or a coupling row
 * keyed by the StudyInstanceUID that arrival applies when the study has arrived. */
static int request_apply(struct store *s, const struct store_rc_row *r, const char *project,
			 const char *participant, const char *event, const char *requested_by,
			 struct fiona_err *err)
{
	int64_t id;
	bool complete = false;
	int rc = find_study(s, r->record, &id, &complete);

	if (rc)
		return rc;
	if (!id || !complete)
		return cat_run(s,
			       "INSERT OR REPLACE INTO coupling(project, key, participant, event,"
			       " source) VALUES(?,?,?,?,'request')",
			       "tttt", project, r->record, participant, event);
	rc = assign_locked(s, id, project, participant, event, (uid_t)-1, "redcap", err);
	if (!rc)
		rc = cat_run(s, "UPDATE assignments SET requested_by=? WHERE study=?", "ti",
			     requested_by, id);
	return rc;
}

int store_rc_request(struct store *s, const struct store_rc_request *q, struct fiona_err *err)
{
	struct store_rc_row r = {
		.target = "incoming", .instrument = "transfers", .origin = "redcap"};
	int64_t id = 0;
	bool complete;
	int rc, arc = 0;

	snprintf(r.record, sizeof(r.record), "%s", q->study_uid);
	snprintf(r.key, sizeof(r.key), "%s|%s|%s", q->project, q->participant, q->event);
	if (store_rc_row_get(s, &r) == 0)
		return 0; /* carried out (or refused) before, or fiona's own row */
	r.instance = q->instance;
	pthread_mutex_lock(&s->lock);
	if ((rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	rc = find_study(s, q->study_uid, &id, &complete);
	r.study = id;
	if (!rc && q->refused)
		arc = err_set(err, -EPERM, CORE_NO_OFFSET, CORE_NO_TAG, "%s", q->refused);
	else if (!rc)
		arc = request_apply(s, &r, q->project, q->participant, q->event, q->requested_by,
				    err);
	if (arc && err->reason[0]) { /* refused: the reason goes back to REDCap */
		snprintf(r.error, sizeof(r.error), "%.199s", err->reason);
	} else if (arc) {
		rc = arc;
	}
	rc = rc ? rc : row_insert(s, &r);
	if (!rc && id)
		note_study(s, id, STORE_CHG_STATE); /* the outcome is written back */
	rc = cat_commit(s, rc);
	pthread_mutex_unlock(&s->lock);
	return rc ? rc : arc;
}
