/*
 * rc_outbox: the catalog side of writing to REDCap (docs/redcap.md). A study that has
 * arrived gets a row in rc_outbox in the transaction of each change (changes.c); the sync
 * thread (redcap/) takes due rows, builds the study's REDCap rows from what the catalog
 * says now (store_rc_study), writes them and removes the row only if no change came
 * meanwhile. So the outbox holds at most one row per study however often it changes, a
 * crash loses nothing (the row is still there) and a retry writes the same rows again.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

void store_set_secret(struct store *s, const struct deid_secret *secret)
{
	s->secret = *secret;
}

static void due_fill(struct db_stmt *st, void *row)
{
	struct store_rc_due *d = row;

	d->study = db_column_int64(st, 0);
	d->gen = db_column_int64(st, 1);
	d->attempts = (long)db_column_int64(st, 2);
}

int store_rc_due(struct store *s, int64_t now, size_t limit, struct store_rc_due **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT study, gen, attempts FROM rc_outbox WHERE parked IS NULL"
			       " AND next_try<=? ORDER BY next_try, study LIMIT ?",
			       sizeof(**out), due_fill, (void **)out, n, "ii", now, (int64_t)limit);
}

static int run_locked(struct store *s, const char *sql, const char *fmt, int64_t a, int64_t b,
		      const char *t)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = t ? cat_run(s, sql, fmt, t, a) : cat_run(s, sql, fmt, a, b);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_rc_done(struct store *s, int64_t study, int64_t gen)
{
	return run_locked(s, "DELETE FROM rc_outbox WHERE study=? AND gen=?", "ii", study, gen,
			  NULL);
}

int store_rc_retry(struct store *s, int64_t study, int64_t next_try)
{
	return run_locked(s, "UPDATE rc_outbox SET attempts=attempts+1, next_try=? WHERE study=?",
			  "ii", next_try, study, NULL);
}

int store_rc_park(struct store *s, int64_t study, const char *reason)
{
	return run_locked(s, "UPDATE rc_outbox SET parked=? WHERE study=?", "ti", study, 0, reason);
}

int store_rc_outbox_counts(struct store *s, struct store_rc_outbox *o)
{
	struct db_stmt *st = NULL;
	int rc;

	memset(o, 0, sizeof(*o));
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s,
			      "SELECT count(*), coalesce(sum(parked IS NOT NULL),0),"
			      " coalesce(min(CASE WHEN parked IS NULL THEN queued_at END),0),"
			      " (SELECT study FROM rc_outbox WHERE parked IS NOT NULL"
			      "  ORDER BY study DESC LIMIT 1),"
			      " (SELECT parked FROM rc_outbox WHERE parked IS NOT NULL"
			      "  ORDER BY study DESC LIMIT 1) FROM rc_outbox",
			      &st);
	if (!rc && (rc = db_step(st)) == DB_ROW) {
		o->depth = (long)db_column_int64(st, 0);
		o->parked = (long)db_column_int64(st, 1);
		o->oldest = db_column_int64(st, 2);
		o->parked_study = db_column_int64(st, 3);
		store_col_text(st, 4, o->parked_reason, sizeof(o->parked_reason));
	}
	rc = rc < 0 ? rc : cat_errno(rc);
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

int store_rc_study_state(struct store *s, int64_t study, int *state, char *reason, size_t cap)
{
	struct db_stmt *st = NULL;
	int rc;

	*state = 0;
	reason[0] = '\0';
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s, "SELECT parked FROM rc_outbox WHERE study=?", &st);
	if (!rc) {
		db_bind_int64(st, 1, study);
		if ((rc = db_step(st)) == DB_ROW) {
			*state = db_column_type(st, 0) == DB_NULL ? 1 : 2;
			store_col_text(st, 0, reason, cap);
		}
		rc = cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

int store_rc_state_set(struct store *s, const char *key, const char *value)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_run(s, "INSERT OR REPLACE INTO rc_state(key, value, at) VALUES(?,?,?)", "tti", key,
		     value, (int64_t)time(NULL));
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_rc_state_get(struct store *s, const char *key, char *out, size_t cap, int64_t *at)
{
	struct db_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s, "SELECT value, at FROM rc_state WHERE key=?", &st);
	if (!rc) {
		db_bind_text(st, 1, key, -1);
		rc = db_step(st);
		if (rc == DB_ROW) {
			store_col_text(st, 0, out, cap);
			if (at)
				*at = db_column_int64(st, 1);
			rc = 0;
		} else {
			rc = rc == DB_DONE ? -ENOENT : cat_errno(rc);
		}
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

static void rc_series_fill(struct db_stmt *st, void *row)
{
	struct store_rc_series *r = row;

	store_col_text(st, 0, r->uid, sizeof(r->uid));
	store_col_text(st, 1, r->description, sizeof(r->description));
	store_col_text(st, 2, r->date, sizeof(r->date));
	store_col_text(st, 3, r->time, sizeof(r->time));
	store_col_text(st, 4, r->sequence, sizeof(r->sequence));
	store_col_text(st, 5, r->labels, sizeof(r->labels));
	r->n_files = (long)db_column_int64(st, 6);
}

static void rc_study_fill(struct db_stmt *st, struct store_rc_study *o)
{
	const char *cols[] = {o->study_uid,   o->date,	       o->time,	       o->accession,
			      o->description, o->institution,  o->calling_aet, o->called_aet,
			      o->patient_id,  o->patient_name, o->project,     o->participant,
			      o->event,	      o->how,	       o->requested_by};
	const size_t caps[] = {65, 17, 17, 17, 65, 65, 17, 17, 65, 325, 32, 65, 65, 16, 80};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(cols); i++)
		store_col_text(st, (int)i, (char *)cols[i], caps[i]);
	o->first_arrival = db_column_int64(st, 15);
	o->last_arrival = db_column_int64(st, 16);
	o->assigned_at = db_column_int64(st, 17);
	o->last_sent_at = db_column_int64(st, 18);
	o->verified_at = db_column_int64(st, 19);
}

int store_rc_study(struct store *s, int64_t study, struct store_rc_study *o)
{
	struct db_stmt *st = NULL;
	int rc;

	memset(o, 0, sizeof(*o));
	o->id = study;
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(
		s,
		"SELECT s.study_uid, s.study_date, s.study_time, s.accession, s.description,"
		" s.institution, s.calling_aet, s.called_aet, p.patient_id, p.patient_name,"
		" a.project, a.participant, a.event, a.how, a.requested_by, s.first_arrival,"
		" s.last_arrival, a.at,"
		" (SELECT max(t.sent_at) FROM transfers t JOIN instances i ON t.instance=i.id"
		"  JOIN series r ON i.series=r.id WHERE r.study=s.id AND t.project=a.project),"
		" (SELECT max(t.verified_at) FROM transfers t JOIN instances i ON t.instance=i.id"
		"  JOIN series r ON i.series=r.id WHERE r.study=s.id AND t.project=a.project)"
		" FROM studies s JOIN patients p ON s.patient=p.id"
		" LEFT JOIN assignments a ON a.study=s.id WHERE s.id=?",
		&st);
	if (!rc) {
		db_bind_int64(st, 1, study);
		rc = db_step(st);
		if (rc == DB_ROW)
			rc_study_fill(st, o);
		rc = rc == DB_ROW ? 0 : rc == DB_DONE ? -ENOENT : cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	if (!rc)
		rc = store_read_rows(s,
				     "SELECT r.series_uid, coalesce(r.description,''), r.date,"
				     " r.time, r.sequence, r.labels,"
				     " (SELECT count(*) FROM instances i WHERE i.series=r.id)"
				     " FROM series r WHERE r.study=? ORDER BY r.number, r.id",
				     sizeof(*o->series), rc_series_fill, (void **)&o->series,
				     &o->n_series, "i", study);
	if (!rc)
		rc = store_study_transfers(s, study, &o->xfer);
	for (size_t i = 0; !rc && i < o->n_series; i++)
		o->n_instances += o->series[i].n_files;
	if (rc)
		store_rc_study_release(o);
	return rc;
}

void store_rc_study_release(struct store_rc_study *st)
{
	free(st->series);
	st->series = NULL;
	st->n_series = 0;
}
