/*
 * changes: the catalog's change feed. Every committed change that a reader caching what
 * it derived from the catalog (the mount's listings, the preparer) must see is noted as a
 * row of the `changes` table: which study changed, what about it, and where it is (its
 * project, participant and event, or quarantine). A change of assignment is noted twice:
 * where the study was and where it is now. Readers keep a cursor (a seq) and read the rows
 * after it, so the cost of a change is one row, never a pass over the catalog.
 *
 * The rows are written in the transaction of the change itself (cat_commit), so a change is
 * in the feed exactly when it is committed — whichever process made it: `fiona assign`
 * from a script, `fiona import`, and later other gateways on a shared catalog reach the
 * mount of `fiona serve` the same way its own receiver does. Readers learn that something
 * may have been committed cheaply: from this process's commit counter, and from SQLite's
 * data_version for every other connection. The table keeps the newest FEED_KEEP rows; a
 * reader further behind gets -ESTALE and must forget what it derived.
 *
 * Records are collected while a transaction runs (under s->lock: the pending list belongs
 * to the lock holder). Lock order: s->lock, then s->rlock, then s->feed_lock.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

#define FEED_KEEP 200000 /* rows kept: minutes of the busiest ingest */

int feed_init(struct store *s)
{
	pthread_mutex_init(&s->feed_lock, NULL);
	pthread_cond_init(&s->feed_cond, NULL);
	return 0;
}

void feed_release(struct store *s)
{
	free(s->pending);
	s->pending = NULL;
	pthread_cond_destroy(&s->feed_cond);
	pthread_mutex_destroy(&s->feed_lock);
}

void note_at(struct store *s, int64_t study, unsigned what, const char *project,
	     const char *participant, const char *event)
{
	struct store_change c = {0}, *slot;

	c.study = study;
	c.what = what;
	snprintf(c.project, sizeof(c.project), "%s", project ? project : "");
	snprintf(c.participant, sizeof(c.participant), "%s", participant ? participant : "");
	snprintf(c.event, sizeof(c.event), "%s", event ? event : "");
	for (size_t i = 0; i < s->n_pending; i++) { /* one record per study and place */
		struct store_change *p = &s->pending[i];

		if (p->study == c.study && !strcmp(p->project, c.project) &&
		    !strcmp(p->participant, c.participant) && !strcmp(p->event, c.event)) {
			p->what |= what;
			return;
		}
	}
	slot = store_grow((void **)&s->pending, &s->n_pending, &s->cap_pending, sizeof(c));
	if (slot)
		*slot = c;
	else
		s->feed_lost = true; /* readers will be told to forget everything */
}

int cat_study_place(struct store *s, int64_t study, char project[32], char participant[65],
		    char event[65])
{
	struct db_stmt *st = NULL;
	int rc = cat_stmt(s, "SELECT project, participant, event FROM assignments WHERE study=?",
			  &st);

	project[0] = participant[0] = event[0] = '\0';
	if (rc)
		return rc;
	db_bind_int64(st, 1, study);
	if ((rc = db_step(st)) == DB_ROW) {
		store_col_text(st, 0, project, 32);
		store_col_text(st, 1, participant, 65);
		store_col_text(st, 2, event, 65);
	}
	db_reset(st);
	return cat_errno(rc);
}

void note_study(struct store *s, int64_t study, unsigned what)
{
	char project[32], participant[65], event[65];

	cat_study_place(s, study, project, participant, event);
	note_at(s, study, what, project, participant, event);
}

/* The transaction's records as rows (inside it, before COMMIT). A record that could not be
 * kept in memory becomes a row of what 0 and study -1: "forget everything". */
/* The REDCap outbox (docs/redcap.md): a study that has arrived and changed gets one row,
 * in the transaction of the change, so a change is never reported twice nor lost; gen
 * counts the changes, and a new assignment takes a parked study out of the park. */
static int outbox_note(struct store *s, const struct store_change *c)
{
	if (!s->rc_on || c->study <= 0 ||
	    !(c->what & (STORE_CHG_INSTANCES | STORE_CHG_STATE | STORE_CHG_ASSIGN)))
		return 0;
	return cat_run(s,
		       "INSERT INTO rc_outbox(study, queued_at) SELECT ?1, ?2 WHERE EXISTS("
		       "SELECT 1 FROM studies WHERE id=?1 AND complete=1)"
		       " ON CONFLICT(study) DO UPDATE SET gen=rc_outbox.gen+1,"
		       " parked=CASE WHEN ?3<>0 THEN NULL ELSE rc_outbox.parked END,"
		       " next_try=CASE WHEN ?3<>0 THEN 0 ELSE rc_outbox.next_try END",
		       "iii", c->study, (int64_t)time(NULL),
		       (int64_t)((c->what & STORE_CHG_ASSIGN) != 0));
}

/* On PostgreSQL, gateways commit concurrently. A reader that saw seq N must never find a
 * smaller seq committed later, so the transactions that write feed rows take one lock
 * from their first row to their COMMIT: seqs are then given in commit order. That span is
 * a few inserts long. The NOTIFY wakes every gateway's mount (delivered at COMMIT, once
 * per transaction). */
static int feed_order(struct store *s)
{
	if (db_kind(s->db) != DB_POSTGRES || (!s->n_pending && !s->feed_lost))
		return 0;
	return cat_exec(s, "SELECT pg_advisory_xact_lock(7020383744883); NOTIFY fiona_changes");
}

static int note_write(struct store *s)
{
	int rc = feed_order(s);

	if (!rc && s->feed_lost)
		rc = cat_run(s, "INSERT INTO changes(study, what) VALUES(-1, 0)", "");
	for (size_t i = 0; !rc && i < s->n_pending; i++) {
		const struct store_change *c = &s->pending[i];

		rc = cat_run(s,
			     "INSERT INTO changes(study, what, project, participant, event)"
			     " VALUES(?,?,?,?,?)",
			     "iittt", c->study, (int64_t)c->what, c->project, c->participant,
			     c->event);
		rc = rc ? rc : outbox_note(s, c);
	}
	return rc;
}

static void note_done(struct store *s, bool committed)
{
	bool any = s->n_pending || s->feed_lost;

	s->n_pending = 0;
	s->feed_lost = false;
	if (!committed || !any)
		return;
	pthread_mutex_lock(&s->feed_lock);
	s->local_commits++;
	pthread_cond_broadcast(&s->feed_cond);
	pthread_mutex_unlock(&s->feed_lock);
}

int cat_commit(struct store *s, int rc)
{
	rc = rc ? rc : note_write(s);
	if (!rc && (rc = cat_exec(s, "COMMIT")) == 0) {
		note_done(s, true);
		return 0;
	}
	if (db_in_transaction(s->db)) /* DB_FULL may have rolled back already */
		cat_exec(s, "ROLLBACK");
	note_done(s, false);
	return rc;
}

/* The smallest and largest seq kept, from the reader connection (caller holds s->rlock). */
static int feed_bounds(struct store *s, uint64_t *min, uint64_t *max)
{
	struct db_stmt *st = NULL;
	/* two subqueries: SQLite answers a lone min() or max() from the end of the table's
	 * b-tree, but min() and max() in one select scan every row */
	int rc = cat_prepare_read(s,
				  "SELECT coalesce((SELECT min(seq) FROM changes),0),"
				  " coalesce((SELECT max(seq) FROM changes),0)",
				  &st);

	if (rc)
		return rc;
	if ((rc = db_step(st)) == DB_ROW) {
		*min = (uint64_t)db_column_int64(st, 0);
		*max = (uint64_t)db_column_int64(st, 1);
	}
	db_finalize(st);
	return cat_errno(rc);
}

uint64_t store_change_seq(struct store *s)
{
	uint64_t min = 0, max = 0;

	pthread_mutex_lock(&s->rlock);
	feed_bounds(s, &min, &max);
	pthread_mutex_unlock(&s->rlock);
	return max;
}

uint64_t store_change_hint(struct store *s)
{
	uint64_t dv, local;

	pthread_mutex_lock(&s->feed_lock);
	local = s->local_commits;
	pthread_mutex_unlock(&s->feed_lock);
	pthread_mutex_lock(&s->rlock);
	dv = db_data_version(s->rdb);
	pthread_mutex_unlock(&s->rlock);
	return local * 0x9E3779B97F4A7C15ull ^ dv;
}

static void change_fill(struct db_stmt *st, struct store_change *c)
{
	memset(c, 0, sizeof(*c));
	c->seq = (uint64_t)db_column_int64(st, 0);
	c->study = db_column_int64(st, 1);
	c->what = (unsigned)db_column_int64(st, 2);
	store_col_text(st, 3, c->project, sizeof(c->project));
	store_col_text(st, 4, c->participant, sizeof(c->participant));
	store_col_text(st, 5, c->event, sizeof(c->event));
}

int store_changes_read(struct store *s, uint64_t *cursor, struct store_change *out, size_t cap,
		       size_t *n)
{
	uint64_t min = 0, max = 0;
	struct db_stmt *st = NULL;
	size_t k = 0;
	int rc;

	*n = 0;
	pthread_mutex_lock(&s->rlock);
	if ((rc = feed_bounds(s, &min, &max)))
		goto out;
	if (*cursor > max || (min && *cursor + 1 < min)) {
		*cursor = max; /* rows gone, or a cursor of another catalog: start over */
		rc = -ESTALE;
		goto out;
	}
	if ((rc = cat_prepare_read(s,
				   "SELECT seq, study, what, coalesce(project,''),"
				   " coalesce(participant,''), coalesce(event,'') FROM changes"
				   " WHERE seq>? ORDER BY seq LIMIT ?",
				   &st)))
		goto out;
	db_bind_int64(st, 1, (int64_t)*cursor);
	db_bind_int64(st, 2, (int64_t)cap);
	while (k < cap && (rc = db_step(st)) == DB_ROW) {
		change_fill(st, &out[k]);
		if (out[k].study < 0) { /* a record was lost: forget everything */
			*cursor = out[k].seq;
			rc = -ESTALE;
			goto out;
		}
		*cursor = out[k++].seq;
	}
	rc = cat_errno(rc);
out:
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	if (rc != -ESTALE)
		*n = rc ? 0 : k;
	return rc;
}

bool store_changes_wait(struct store *s, uint64_t cursor, double seconds)
{
	struct timespec until;
	uint64_t seen;

	if (store_change_seq(s) > cursor)
		return true;
	until = core_deadline(seconds);
	pthread_mutex_lock(&s->feed_lock);
	seen = s->local_commits;
	while (s->local_commits == seen &&
	       pthread_cond_timedwait(&s->feed_cond, &s->feed_lock, &until) == 0)
		;
	pthread_mutex_unlock(&s->feed_lock);
	return store_change_seq(s) > cursor;
}

int feed_prune(struct store *s)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_run(s, "DELETE FROM changes WHERE seq < (SELECT max(seq) FROM changes) - ?", "i",
		     (int64_t)FEED_KEEP);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
