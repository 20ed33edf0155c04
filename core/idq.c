/*
 * idq: a queue of ids in which each id waits at most once — the studies a background
 * thread (the mount's preparer, the burned-in text cleaner) still has to look at. Work
 * comes per study, so the queue holds studies, never instances: a linear scan is enough.
 * Not thread safe: its owner holds a lock around it.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

bool core_idq_has(const struct core_idq *q, int64_t id)
{
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i] == id)
			return true;
	return false;
}

int core_idq_push(struct core_idq *q, int64_t id, bool urgent)
{
	size_t at = q->n;

	for (size_t i = 0; i < q->n; i++)
		if (q->v[i] == id) {
			if (!urgent)
				return 0;
			at = i;
			break;
		}
	if (at == q->n) {
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 64;
			int64_t *v = realloc(q->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			q->v = v;
			q->cap = cap;
		}
		q->n++;
	}
	if (urgent) {
		memmove(q->v + 1, q->v, at * sizeof(*q->v));
		q->v[0] = id;
	} else {
		q->v[q->n - 1] = id;
	}
	return 0;
}

bool core_idq_pop(struct core_idq *q, int64_t *id)
{
	if (!q->n)
		return false;
	*id = q->v[0];
	memmove(q->v, q->v + 1, --q->n * sizeof(*q->v));
	return true;
}

void core_idq_release(struct core_idq *q)
{
	free(q->v);
	memset(q, 0, sizeof(*q));
}
