/*
 * changes: the catalog's change feed. Every committed change that the mount (or any other
 * reader that caches what it derived from the catalog) must see is noted as a record:
 * which study changed, what about it, and where it is (its project, participant and event,
 * or quarantine). A change of assignment is noted twice: where the study was and where it
 * is now. Readers keep a cursor and read the records after it, so the cost of a change is
 * one record, never a pass over the catalog.
 *
 * Records are collected while a transaction runs (under s->lock: the pending list belongs
 * to the lock holder) and published only after COMMIT returned, so a reader that sees a
 * record finds the change in the catalog. ROLLBACK drops them. Published records live in a
 * ring of CHANGE_RING entries; a reader that fell further behind gets -ESTALE and must
 * forget everything it derived (it then starts again from the newest record).
 *
 * Lock order: s->lock, then s->feed_lock.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

#define CHANGE_RING 8192

int feed_init(struct store *s)
{
	pthread_mutex_init(&s->feed_lock, NULL);
	pthread_cond_init(&s->feed_cond, NULL);
	s->ring = calloc(CHANGE_RING, sizeof(*s->ring));
	return s->ring ? 0 : -ENOMEM;
}

void feed_release(struct store *s)
{
	free(s->ring);
	free(s->pending);
	s->ring = s->pending = NULL;
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
	sqlite3_stmt *st = NULL;
	int rc = cat_stmt(s, "SELECT project, participant, event FROM assignments WHERE study=?",
			  &st);

	project[0] = participant[0] = event[0] = '\0';
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, study);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_col_text(st, 0, project, 32);
		store_col_text(st, 1, participant, 65);
		store_col_text(st, 2, event, 65);
	}
	sqlite3_reset(st);
	return cat_errno(rc);
}

void note_study(struct store *s, int64_t study, unsigned what)
{
	char project[32], participant[65], event[65];

	cat_study_place(s, study, project, participant, event);
	note_at(s, study, what, project, participant, event);
}

void note_commit(struct store *s)
{
	pthread_mutex_lock(&s->feed_lock);
	if (s->feed_lost) { /* a record could not be kept: every reader must start over */
		s->feed_lost = false;
		s->feed_epoch_seq = ++s->feed_seq;
		s->ring[s->feed_seq % CHANGE_RING] = (struct store_change){.seq = s->feed_seq};
	}
	for (size_t i = 0; i < s->n_pending; i++) {
		s->pending[i].seq = ++s->feed_seq;
		s->ring[s->feed_seq % CHANGE_RING] = s->pending[i];
	}
	if (s->n_pending)
		pthread_cond_broadcast(&s->feed_cond);
	pthread_mutex_unlock(&s->feed_lock);
	s->n_pending = 0;
}

void note_rollback(struct store *s)
{
	s->n_pending = 0;
}

uint64_t store_change_seq(struct store *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->feed_lock);
	v = s->feed_seq;
	pthread_mutex_unlock(&s->feed_lock);
	return v;
}

int store_changes_read(struct store *s, uint64_t *cursor, struct store_change *out, size_t cap,
		       size_t *n)
{
	uint64_t from = *cursor, oldest;
	size_t k = 0;
	int rc = 0;

	pthread_mutex_lock(&s->feed_lock);
	oldest = s->feed_seq >= CHANGE_RING ? s->feed_seq - CHANGE_RING + 1 : 1;
	if (from > s->feed_seq || from + 1 < oldest || from < s->feed_epoch_seq) {
		*cursor = s->feed_seq; /* dropped records, or a cursor of another store */
		rc = -ESTALE;
	} else {
		for (uint64_t q = from + 1; q <= s->feed_seq && k < cap; q++)
			out[k++] = s->ring[q % CHANGE_RING];
		*cursor = from + k;
	}
	pthread_mutex_unlock(&s->feed_lock);
	*n = k;
	return rc;
}

bool store_changes_wait(struct store *s, uint64_t cursor, double seconds)
{
	struct timespec until;
	bool more;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)seconds;
	until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->feed_lock);
	while (s->feed_seq <= cursor &&
	       pthread_cond_timedwait(&s->feed_cond, &s->feed_lock, &until) == 0)
		;
	more = s->feed_seq > cursor;
	pthread_mutex_unlock(&s->feed_lock);
	return more;
}
