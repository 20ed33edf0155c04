/*
 * lead: once-per-site work on several gateways (docs/scale-out.md). Arrival,
 * housekeeping, the REDCap sync and pixel cleaning each run on one gateway at a time, the
 * one holding that job's PostgreSQL advisory lock. The lock is a session lock of the
 * writer connection: it is held for as long as the connection lives, and a gateway that
 * dies (or whose connection is reset) frees it, so another gateway takes the job over at
 * its next round. The state these jobs need (last arrival per study, the REDCap outbox)
 * is in the catalog, so whoever holds the lock carries on where the other stopped.
 */
#include "core/core.h"

#include <errno.h>

#include "store/store_int.h"

static const char *const job_names[STORE_JOB_N] = {"arrival", "housekeeping", "redcap",
						   "pixels"};

/* Advisory lock keys: "fiona" in the high bytes, the job in the low one. */
#define LEAD_KEY(job) ((int64_t)0x66696f6e6100 | (int64_t)(job))

static int try_lock(struct store *s, enum store_job job, bool *held)
{
	struct db_stmt *st = NULL;
	int rc = cat_stmt(s, "SELECT pg_try_advisory_lock(?)", &st);

	if (rc)
		return rc;
	db_bind_int64(st, 1, LEAD_KEY(job));
	rc = db_step(st);
	*held = rc == DB_ROW && db_column_int64(st, 0) != 0;
	db_reset(st);
	return rc == DB_ROW ? 0 : cat_errno(rc) ? cat_errno(rc) : -EIO;
}

bool store_lead(struct store *s, enum store_job job)
{
	bool held = false, was;

	if (db_kind(s->db) != DB_POSTGRES)
		return true;
	pthread_mutex_lock(&s->lock);
	was = s->lead[job];
	/* asked every time, also when held: a reset connection lost its locks. PostgreSQL
	 * counts a session's takes of one lock, which only matters to an unlock that never
	 * comes (the connection's end frees them all). */
	if (try_lock(s, job, &held))
		held = false;
	s->lead[job] = held;
	pthread_mutex_unlock(&s->lock);
	if (held != was)
		log_msg(s->log, LOG_INFO, "lead", "%s: %s", job_names[job],
			held ? "this gateway runs it now" : "another gateway runs it");
	return held;
}
