/*
 * transfers: the per-instance transfer queue in the catalog. States: queued -> sending
 * -> sent -> verified, or failed (with its reason and the time of the next try) -> sending
 * again.
 *
 * It is a lease queue, so that several gateways on one catalog drain it together
 * (docs/scale-out.md): taking rows marks them 'sending' under a lease token of this
 * gateway, "<gateway>/<start time>.<n>", with next_try as the time the lease lapses. A
 * row whose lease lapsed (its gateway died or stalled) is due again for any gateway; an
 * outcome is recorded only while the row still carries the token that took it, so a
 * gateway whose lease was taken over never records a success it cannot prove. At start a
 * gateway queues its own leases of an earlier run again. An instance is sent twice at most
 * when a crash or a lapsed lease came between its send and its record.
 */
#include "core/core.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

/* This gateway's leases from an earlier run (or a batch whose outcome was not recorded)
 * go back to the queue; other gateways' leases are theirs until they lapse. */
int xfer_reset_sending(struct store *s)
{
	char mine[80];
	int rc;

	snprintf(mine, sizeof(mine), "%s/", s->gateway);
	pthread_mutex_lock(&s->lock);
	rc = cat_run(s,
		     "UPDATE transfers SET state='queued', lease=NULL WHERE state='sending'"
		     " AND substr(lease,1,length(?1))=?1",
		     "t", mine);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Leases rows of one state due at cutoff (at most limit) with token lease, which lapses at
 * until. On PostgreSQL the candidates are locked with SKIP LOCKED, so gateways taking at
 * the same moment get disjoint rows instead of waiting for each other; a 'sending' row
 * whose lease lapsed (its gateway died or stalled) is taken over like a due one. */
static int lease_state(struct store *s, const char *state, int64_t cutoff, size_t limit,
		       const char *lease, int64_t until, size_t *taken)
{
	struct db_stmt *st = NULL;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql),
		 "UPDATE transfers SET state='sending', lease=?1, next_try=?2"
		 " WHERE (instance, project) IN (SELECT instance, project FROM transfers"
		 " WHERE state=?3 AND next_try<=?4 ORDER BY next_try LIMIT ?5%s)",
		 db_kind(s->db) == DB_POSTGRES ? " FOR UPDATE SKIP LOCKED" : "");
	if ((rc = cat_prepare(s, sql, &st)))
		return rc;
	db_bind_text(st, 1, lease, -1);
	db_bind_int64(st, 2, until);
	db_bind_text(st, 3, state, -1);
	db_bind_int64(st, 4, cutoff);
	db_bind_int64(st, 5, (int64_t)limit);
	rc = db_step(st);
	db_finalize(st);
	if (rc != DB_DONE)
		return cat_errno(rc) ? cat_errno(rc) : -EIO;
	*taken += (size_t)db_changes(s->db);
	return 0;
}

static void xfer_fill(struct db_stmt *st, void *row)
{
	struct xfer *x = row;

	x->instance = db_column_int64(st, 0);
	x->study = db_column_int64(st, 1);
	store_col_text(st, 2, x->project, sizeof(x->project));
	store_col_text(st, 3, x->participant, sizeof(x->participant));
	store_col_text(st, 4, x->event, sizeof(x->event));
	store_col_text(st, 5, x->destination, sizeof(x->destination));
	store_col_text(st, 6, x->hash, sizeof(x->hash));
	store_col_text(st, 7, x->sop_class, sizeof(x->sop_class));
	store_col_text(st, 8, x->ts, sizeof(x->ts));
	store_col_text(st, 9, x->study_uid, sizeof(x->study_uid));
	x->attempts = (long)db_column_int64(st, 10);
	store_col_text(st, 11, x->lease, sizeof(x->lease));
}

/* The rows of one lease, with what sending them needs (the lease is committed, so the
 * reader connection sees it; s->lock is held, and lock comes before rlock). */
static int lease_rows(struct store *s, const char *lease, struct xfer **out, size_t *n)
{
	return store_read_rows(
		s,
		"SELECT t.instance, r.study, t.project, a.participant, a.event, t.destination,"
		" i.hash, coalesce(i.sop_class_uid,''), coalesce(i.ts_uid,''), s.study_uid,"
		" t.attempts, t.lease FROM transfers t JOIN instances i ON t.instance=i.id"
		" JOIN series r ON i.series=r.id JOIN studies s ON r.study=s.id"
		" JOIN assignments a ON a.study=r.study AND a.project=t.project"
		" WHERE t.lease=? AND t.state='sending'",
		sizeof(**out), xfer_fill, (void **)out, n, "t", lease);
}

/* Four ranges of the transfers_state index, each cut at what is left of the limit: a
 * million queued rows cost no more than limit. */
int xfer_take_due(struct store *s, int64_t now, size_t limit, struct xfer **out, size_t *n)
{
	/* queued rows go in order whatever their next_try; the others once it has come ('sending'
	 * ones: once their lease lapsed) */
	static const char *const states[] = {"queued", "failed", "waiting", "sending"};
	char lease[128];
	size_t taken = 0;
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->lock);
	snprintf(lease, sizeof(lease), "%s%llu", s->lease_prefix,
		 (unsigned long long)++s->lease_count);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	for (size_t i = 0; !rc && taken < limit && i < CORE_ARRAY_SIZE(states); i++)
		rc = lease_state(s, states[i], i ? now : INT64_MAX, limit - taken, lease,
				 now + s->lease_s, &taken);
	rc = cat_commit(s, rc); /* 'sending' shows as queued: nothing to note */
	if (!rc && taken)
		rc = lease_rows(s, lease, out, n);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int xfer_record(struct store *s, const struct xfer *x, const struct xfer_result *r,
		const size_t *idx, size_t n)
{
	int64_t now = time(NULL);
	size_t kept = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	for (size_t i = 0; !rc && i < n; i++) {
		const struct xfer *xi = &x[idx ? idx[i] : i];
		const struct xfer_result *ri = &r[idx ? idx[i] : i];

		if (ri->state == XFER_SENT)
			rc = cat_run(
				s,
				"UPDATE transfers SET state='sent', sent_at=?, last_error=NULL,"
				" attempts=attempts+1, lease=NULL WHERE instance=? AND project=?"
				" AND state='sending' AND lease=?", /* queued again meanwhile: a new
								     * version; or leased again */
				"iitt", now, xi->instance, xi->project, xi->lease);
		else if (ri->state >= XFER_WAIT)
			rc = cat_run(
				s,
				"UPDATE transfers SET state=?, last_error=?, next_try=?, lease=NULL"
				" WHERE instance=? AND project=? AND state='sending' AND lease=?",
				"ttiitt",
				ri->state == XFER_WAIT	 ? "waiting"
				: ri->state == XFER_HELD ? "held"
							 : "dropped",
				ri->error, ri->next_try, xi->instance, xi->project, xi->lease);
		else
			rc = cat_run(
				s,
				"UPDATE transfers SET state='failed', last_error=?, next_try=?,"
				" attempts=attempts+1, lease=NULL WHERE instance=? AND project=?"
				" AND state='sending' AND lease=?",
				"tiitt", ri->error, ri->next_try, xi->instance, xi->project,
				xi->lease);
		kept += !rc && db_changes(s->db) > 0;
		note_at(s, xi->study, STORE_CHG_STATE, xi->project, xi->participant,
			xi->event); /* one record per study of the batch */
	}
	rc = cat_commit(s, rc);
	pthread_mutex_unlock(&s->lock);
	if (!rc && kept < n) /* queued again by a new version, or a lease lost while sending */
		log_msg(s->log, LOG_INFO, "forward",
			"%zu of %zu outcomes not recorded: those rows were queued again or taken "
			"over by another gateway after their lease lapsed",
			n - kept, n);
	return rc;
}

int xfer_lease_renew(struct store *s, const char *lease)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_run(s, "UPDATE transfers SET next_try=? WHERE lease=? AND state='sending'", "it",
		     (int64_t)time(NULL) + s->lease_s, lease);
	if (!rc)
		rc = (int)(db_changes(s->db) > INT_MAX ? INT_MAX : db_changes(s->db));
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int xfer_to_verify(struct store *s, struct xfer_verify **out, size_t *n)
{
	struct db_stmt *st = NULL;
	struct xfer_verify *v = NULL;
	size_t k = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	/* candidates from the 'sent' range of transfers_state only (empty when idle), then
	 * each candidate's own rows: never a pass over every transfer */
	rc = cat_prepare(
		s,
		"WITH c(study, project) AS (SELECT DISTINCT r.study, t.project FROM"
		" transfers t JOIN instances i ON t.instance=i.id JOIN series r"
		" ON i.series=r.id WHERE t.state='sent')"
		"SELECT c.study, c.project, max(t.destination), s.study_uid,"
		" sum(t.state IN ('sent','verified')) FROM c JOIN studies s ON s.id=c.study"
		" JOIN series r ON r.study=c.study JOIN instances i ON i.series=r.id"
		" JOIN transfers t ON t.instance=i.id AND t.project=c.project"
		" GROUP BY c.study, c.project, s.study_uid" /* held and dropped ones never go */
		" HAVING sum(t.state IN ('sent','verified','held','dropped')) = count(*)",
		&st);
	while (!rc && db_step(st) == DB_ROW) {
		struct xfer_verify *r = store_grow((void **)&v, &k, &cap, sizeof(*v));

		if (!r) {
			rc = -ENOMEM;
			break;
		}
		r->study = db_column_int64(st, 0);
		store_col_text(st, 1, r->project, sizeof(r->project));
		store_col_text(st, 2, r->destination, sizeof(r->destination));
		store_col_text(st, 3, r->study_uid, sizeof(r->study_uid));
		r->sent = (long)db_column_int64(st, 4);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

int xfer_verified(struct store *s, const struct xfer_verify *v, long count)
{
	const char *sql =
		count >= v->sent
			? "UPDATE transfers SET state='verified', verified_at=?1 WHERE state='sent'"
			  " AND project=?2 AND instance IN (SELECT i.id FROM instances i JOIN "
			  "series r"
			  " ON i.series=r.id WHERE r.study=?3)"
			: "UPDATE transfers SET state='queued', next_try=?1,"
			  " last_error='the destination holds fewer instances than were sent'"
			  " WHERE state='sent' AND project=?2 AND instance IN (SELECT i.id FROM"
			  " instances i JOIN series r ON i.series=r.id WHERE r.study=?3)";
	int rc;

	pthread_mutex_lock(&s->lock);
	if (!(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		rc = cat_run(s, sql, "iti", (int64_t)time(NULL), v->project, v->study);
		note_study(s, v->study, STORE_CHG_STATE);
		rc = cat_commit(s, rc);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_queue_by_destination(struct store *s, struct store_dest_queue **out, size_t *n)
{
	struct store_dest_queue *v = NULL;
	size_t k = 0, cap = 0;
	struct db_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_prepare(
		s,
		"SELECT t.destination, sum(t.state IN ('queued','sending','waiting')),"
		" sum(t.state='sent'),"
		" sum(t.state='verified'), sum(t.state='failed'),"
		" coalesce(min(CASE WHEN t.state IN ('queued','sending','failed') THEN a.at "
		"END),0),"
		" coalesce(max(t.last_error),'') FROM transfers t JOIN instances i ON "
		"t.instance=i.id"
		" JOIN series r ON i.series=r.id JOIN assignments a ON a.study=r.study"
		" GROUP BY t.destination ORDER BY t.destination",
		&st);
	while (!rc && db_step(st) == DB_ROW) {
		struct store_dest_queue *r = store_grow((void **)&v, &k, &cap, sizeof(*v));

		if (!r) {
			rc = -ENOMEM;
			break;
		}
		store_col_text(st, 0, r->destination, sizeof(r->destination));
		r->queued = (long)db_column_int64(st, 1);
		r->sent = (long)db_column_int64(st, 2);
		r->verified = (long)db_column_int64(st, 3);
		r->failed = (long)db_column_int64(st, 4);
		r->oldest_waiting = db_column_int64(st, 5);
		store_col_text(st, 6, r->last_error, sizeof(r->last_error));
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

int xfer_series_of(struct store *s, int64_t study, const char *project, struct xfer_series **out,
		   size_t *n)
{
	struct xfer_series *v = NULL;
	size_t k = 0, cap = 0;
	struct db_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_prepare(s,
			 "SELECT r.series_uid, sum(t.state IN ('sent','verified')) FROM transfers t"
			 " JOIN instances i ON t.instance=i.id JOIN series r ON i.series=r.id"
			 " WHERE r.study=? AND t.project=? GROUP BY r.id",
			 &st);
	if (!rc) {
		db_bind_int64(st, 1, study);
		db_bind_text(st, 2, project, -1);
	}
	while (!rc && db_step(st) == DB_ROW) {
		struct xfer_series *r = store_grow((void **)&v, &k, &cap, sizeof(*v));

		if (!r) {
			rc = -ENOMEM;
			break;
		}
		store_col_text(st, 0, r->series_uid, sizeof(r->series_uid));
		r->sent = (long)db_column_int64(st, 1);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

int xfer_requeue_series(struct store *s, int64_t study, const char *project, const char *series_uid)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	if (!(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		rc = cat_run(s,
			     "UPDATE transfers SET state='queued', next_try=0,"
			     " last_error='the destination holds fewer instances of a series than"
			     " were sent' WHERE state='sent' AND project=? AND instance IN (SELECT"
			     " i.id FROM instances i JOIN series r ON i.series=r.id WHERE"
			     " r.series_uid=?)",
			     "tt", project, series_uid);
		note_study(s, study, STORE_CHG_STATE);
		rc = cat_commit(s, rc);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}
