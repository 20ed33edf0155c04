/*
 * Parallel batch sender: N worker threads, each with its own association to the same
 * destination, take the next unsent item from a shared index and C-STORE it. Items are
 * handed out exactly once; each gets exactly one done() call. A worker whose association
 * breaks reopens it (bounded) and retries the item in flight on the new association,
 * so a peer restart costs one retry, not the batch. Whether and when to send failed
 * items again later is the transfer queue's decision (net_outcome_classify,
 * net_backoff_s in net/retry.c).
 * Lock order: only batch.mu, never held across network calls or callbacks.
 */
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"

#define SENDER_MAX_THREADS 32
#define SENDER_MAX_PCS	   128

struct batch {
	const struct net_dest *d;
	const struct net_send_item *items;
	size_t n;
	const struct net_send_source *src;
	struct net_pc pcs[SENDER_MAX_PCS];
	size_t n_pcs;
	int reopen;
	pthread_mutex_t mu; /* guards next, stats, rc, err */
	size_t next;
	struct net_send_stats stats;
	int rc;
	struct fiona_err err;
};

/* Next item index, or n when none is left (or the batch was given up). */
static size_t batch_take(struct batch *b)
{
	size_t i;

	pthread_mutex_lock(&b->mu);
	i = b->rc ? b->n : b->next;
	if (i < b->n)
		b->next++;
	pthread_mutex_unlock(&b->mu);
	return i;
}

static void batch_count(struct batch *b, int rc, uint16_t status, bool opened)
{
	pthread_mutex_lock(&b->mu);
	if (opened)
		b->stats.assocs++;
	else if (rc == 0 && net_status_ok(status))
		b->stats.sent++;
	else
		b->stats.failed++;
	pthread_mutex_unlock(&b->mu);
}

/* A worker gives up: remember the first error; items not yet taken fail with it. */
static void batch_give_up(struct batch *b, int rc, const struct fiona_err *err)
{
	pthread_mutex_lock(&b->mu);
	if (!b->rc) {
		b->rc = rc;
		b->err = *err;
	}
	pthread_mutex_unlock(&b->mu);
}

/* Opens the worker's association if it has none; counts reopen attempts. */
static int worker_connect(struct batch *b, struct net_assoc **a, int *opens, struct fiona_err *err)
{
	int rc;

	if (*a)
		return 0;
	if (*opens > b->reopen)
		return err->code ? err->code : -ECONNABORTED;
	if (*opens > 0) /* a peer restarting needs a moment: wait 1 s, 2 s, ... (max 10) */
		sleep((unsigned)(*opens < 10 ? *opens : 10));
	(*opens)++;
	rc = net_assoc_open(b->d, b->pcs, b->n_pcs, a, err);
	if (rc == 0)
		batch_count(b, 0, 0, true);
	return rc;
}

/* Sends item i, reopening the association when it breaks. Returns 0 when a response
 * came (status in *status), else the error that ended the worker. */
static int worker_send(struct batch *b, size_t i, struct net_assoc **a, int *opens,
		       uint16_t *status, struct fiona_err *err)
{
	const uint8_t *p = NULL;
	size_t len = 0;
	int rc = b->src->get(b->src->ctx, i, &p, &len, err);

	if (rc)
		return rc; /* this item only: no bytes, nothing sent */
	for (;;) {
		rc = worker_connect(b, a, opens, err);
		if (rc)
			break;
		rc = net_assoc_store(*a, p, len, status, err);
		if (rc == 0 || net_outcome_classify(rc, 0) == NET_OUTCOME_GIVE_UP)
			break;
		net_assoc_close(*a); /* broken: aborts */
		*a = NULL;
	}
	if (b->src->put)
		b->src->put(b->src->ctx, i, p, len);
	return rc;
}

static void *worker_main(void *arg)
{
	struct batch *b = arg;
	struct net_assoc *a = NULL;
	struct fiona_err err;
	int opens = 0;
	size_t i;

	err_clear(&err);
	while ((i = batch_take(b)) < b->n) {
		uint16_t status = 0;
		int rc = worker_send(b, i, &a, &opens, &status, &err);

		batch_count(b, rc, status, false);
		b->src->done(b->src->ctx, i, rc, status, rc ? &err : NULL);
		if (rc && !a && opens > b->reopen) { /* connection lost for good */
			batch_give_up(b, rc, &err);
			break;
		}
		err_clear(&err);
	}
	net_assoc_close(a);
	return NULL;
}

static int batch_contexts(struct batch *b, struct fiona_err *err)
{
	struct net_pc *all = calloc(b->n ? b->n : 1, sizeof(*all));
	int k;

	if (!all)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	for (size_t i = 0; i < b->n; i++) {
		all[i].sop_class_uid = b->items[i].sop_class_uid;
		all[i].ts_uid = b->items[i].ts_uid;
	}
	k = net_pc_unique(all, b->n, b->pcs, SENDER_MAX_PCS);
	free(all);
	if (k < 0)
		return err_set(err, k, CORE_NO_OFFSET, CORE_NO_TAG,
			       "more than %d (SOP class, transfer syntax) pairs in one batch",
			       SENDER_MAX_PCS);
	b->n_pcs = (size_t)k;
	return 0;
}

int net_send_batch(const struct net_dest *d, const struct net_send_item *items, size_t n,
		   const struct net_send_source *src, int parallel, int reopen,
		   struct net_send_stats *stats, struct fiona_err *err)
{
	struct batch b = {.d = d, .items = items, .n = n, .src = src, .reopen = reopen};
	pthread_t th[SENDER_MAX_THREADS];
	size_t nt = parallel < 1 ? 1 : (size_t)parallel, started = 0;
	int rc;

	if (n == 0)
		return 0;
	if (nt > SENDER_MAX_THREADS)
		nt = SENDER_MAX_THREADS;
	if (nt > n)
		nt = n;
	rc = batch_contexts(&b, err);
	if (rc)
		return rc;
	pthread_mutex_init(&b.mu, NULL);
	for (; started < nt; started++)
		if (pthread_create(&th[started], NULL, worker_main, &b) != 0)
			break;
	if (started == 0)
		worker_main(&b); /* no thread available: send from the caller's thread */
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	/* Items never taken (all workers gave up) still get their done() call. */
	for (size_t i = b.next; i < n; i++) {
		b.stats.failed++;
		src->done(src->ctx, i, b.rc, 0, &b.err);
	}
	pthread_mutex_destroy(&b.mu);
	if (stats)
		*stats = b.stats;
	if (b.rc && err)
		*err = b.err;
	return b.rc;
}
