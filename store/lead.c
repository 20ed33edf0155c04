/*
 * lead: once-per-site work on several gateways (docs/scale-out.md). Arrival,
 * housekeeping, the REDCap sync and pixel cleaning each run on one gateway at a time: the
 * one whose row in `leads` names it with a time not yet passed. The holder moves that
 * time on as it works (when less than half of LEAD_SECONDS is left, so about one write
 * per job every few seconds); another gateway takes the row over once the time passed.
 * A gateway that dies, loses its catalog connection or stalls (kill -STOP, a VM paused)
 * therefore loses its jobs within LEAD_SECONDS, and one that comes back finds the row
 * taken and stops. The state these jobs need is in the catalog (last arrival per study,
 * the REDCap outbox, the outcomes of cleaning), so the new holder carries on where the
 * other stopped. Gateways compare their own clocks with the row: keep them in NTP sync.
 *
 * On SQLite a catalog file has one gateway: every job is always this one's, with no write.
 */
#include "core/core.h"

#include <errno.h>
#include <time.h>

#include "store/store_int.h"

#define LEAD_SECONDS 10

static const char *const job_names[STORE_JOB_N] = {"arrival", "housekeeping", "redcap", "pixels"};

/* Takes or keeps job until now + LEAD_SECONDS when it is free, lapsed or already ours. */
static int claim(struct store *s, enum store_job job, int64_t now, bool *held)
{
	struct db_stmt *st = NULL;
	int rc = cat_stmt(s,
			  "INSERT INTO leads(job, gateway, until) VALUES(?1, ?2, ?3)"
			  " ON CONFLICT(job) DO UPDATE SET gateway=excluded.gateway,"
			  " until=excluded.until WHERE leads.gateway=excluded.gateway"
			  " OR leads.until<?4",
			  &st);

	if (rc)
		return rc;
	db_bind_text(st, 1, job_names[job], -1);
	db_bind_text(st, 2, s->gateway, -1);
	db_bind_int64(st, 3, now + LEAD_SECONDS);
	db_bind_int64(st, 4, now);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_DONE)
		return cat_errno(rc) ? cat_errno(rc) : -EIO;
	*held = db_changes(s->db) > 0;
	return 0;
}

bool store_lead(struct store *s, enum store_job job)
{
	int64_t now = time(NULL);
	bool held = false, was;

	if (db_kind(s->db) != DB_POSTGRES)
		return true;
	pthread_mutex_lock(&s->lock);
	was = s->lead_until[job] > now;
	if (was && s->lead_until[job] - now > LEAD_SECONDS / 2) {
		held = true; /* most of the time: no round trip */
	} else if (was || s->lead_next_try[job] <= now) {
		if (claim(s, job, now, &held))
			held = false; /* the catalog is unreachable: nobody leads anything */
		s->lead_until[job] = held ? now + LEAD_SECONDS : 0;
		s->lead_next_try[job] = now + 1; /* held by another: asked again in a second */
	}
	pthread_mutex_unlock(&s->lock);
	if (held != was)
		log_msg(s->log, LOG_INFO, "lead", "%s: %s", job_names[job],
			held ? "this gateway runs it now" : "another gateway runs it");
	return held;
}
