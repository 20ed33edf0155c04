/*
 * Sending a batch of instances to one destination over several parallel associations,
 * and the pure retry policy the transfer queue uses (issue 6). No catalog here: the
 * caller supplies the instances' bytes through callbacks and records outcomes itself.
 */
#ifndef FIONA_NET_SENDER_H
#define FIONA_NET_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

struct fiona_err;

/* ---- retry policy (net/retry.c, pure) ------------------------------------------------ */

enum net_outcome {
	NET_OUTCOME_SENT,    /* success or warning status: the destination has it */
	NET_OUTCOME_RETRY,   /* transient: network failure, out of resources, busy */
	NET_OUTCOME_GIVE_UP, /* permanent: the destination refuses this instance */
};
/* Classifies one C-STORE attempt: rc from net_assoc_store()/net_assoc_open() (negative
 * errno = no response) and the DIMSE status when rc == 0. */
enum net_outcome net_outcome_classify(int rc, uint16_t status);
/* Seconds to wait before retry number `attempt` (1 = first retry): base_s doubling per
 * attempt, capped at max_s, minus up to 25 % jitter taken from rnd (any 32-bit random
 * value; pass 0 for none). Always >= 1 when base_s >= 1. Overflow-safe for any attempt. */
int64_t net_backoff_s(unsigned attempt, int64_t base_s, int64_t max_s, uint32_t rnd);

/* ---- parallel batch sender (net/sender.c) -------------------------------------------- */

struct net_send_item {
	const char *sop_class_uid, *ts_uid; /* borrowed; used to negotiate contexts */
};
/* Callbacks, called from worker threads concurrently (must be thread safe). */
struct net_send_source {
	/* Supplies the complete Part-10 bytes of item i, valid until put(i) is called. */
	int (*get)(void *ctx, size_t i, const uint8_t **p, size_t *n, struct fiona_err *err);
	void (*put)(void *ctx, size_t i, const uint8_t *p, size_t n); /* may be NULL */
	/* Final outcome of item i: rc 0 and the DIMSE status when a response came, else a
	 * negative errno with err explaining. Called exactly once per item. */
	void (*done)(void *ctx, size_t i, int rc, uint16_t status, const struct fiona_err *err);
	void *ctx;
};
struct net_send_stats {
	size_t sent, failed; /* items with a success/warning status; all others */
	size_t assocs;	     /* associations opened */
};
/* Sends items[0..n) to d over min(parallel, n) associations at once. Contexts are the
 * unique (SOP class, TS) pairs of the batch (at most 128, else -E2BIG: split the batch).
 * An association that breaks is reopened up to `reopen` times per worker; the item in
 * flight is retried on the new one. Returns 0 when every item got a response (statuses
 * go to done()), else the first negative errno of a worker that gave up (remaining items
 * get done() with that error). */
int net_send_batch(const struct net_dest *d, const struct net_send_item *items, size_t n,
		   const struct net_send_source *src, int parallel, int reopen,
		   struct net_send_stats *stats, struct fiona_err *err);

#endif
