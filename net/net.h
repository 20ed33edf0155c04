/*
 * DICOM networking behind a C interface: a C-STORE SCP (receiver) and C-STORE / C-ECHO /
 * C-FIND SCU functions. The implementation uses dcmtk (net/dcmtk.cc, the only C++ file);
 * pure helpers (transfer syntax table, status mapping, allow-list matching) are plain C
 * in net/net_util.c. All functions are thread safe for distinct handles. TCP_NODELAY is
 * on for every socket (dcmtk disables Nagle unless the environment says TCP_NODELAY=0).
 */
#ifndef FIONA_NET_H
#define FIONA_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fiona_log;
struct fiona_err;

struct net_peer {
	char calling_aet[17];
	char called_aet[17];
	char host[64];
};
struct net_caller {
	const char *aet;
	const char *host;
}; /* either may be NULL = any */
struct net_scp_config {
	const char *aet, *bind;
	int port;
	const struct net_caller *allowed;
	size_t n_allowed;     /* n_allowed == 0: accept all */
	const char *tmp_dir;  /* received instances are written here (same filesystem as
				 the object store, so the store can rename them) */
	int max_associations; /* concurrent associations (threads) */
	int timeout_s;
	/* other called AE titles accepted besides aet (projects' AutoID titles), copied */
	const char *const *aliases;
	size_t n_aliases;
	bool any_called; /* accept every called AE title (REDCap names them at run time) */
};
/* Called once per received instance from an association thread. tmp_path is a complete
 * Part-10 file holding the bytes exactly as sent (bit-preserving). The callee takes
 * ownership of the file (renames or unlinks it). Return 0 -> Success (0x0000) is sent;
 * -ENOSPC/-EDQUOT/-EIO/-ENOMEM/other -> Out of Resources (0xA700); -EINVAL -> 0xC000
 * (cannot understand). Success must only be returned once the instance is durable. */
typedef int (*net_store_fn)(void *ctx, const char *tmp_path, const struct net_peer *peer);
struct net_scp;
/* Starts listening and returns at once; associations are served by threads.
 * Returns a new object; stop and free with net_scp_stop(). cfg strings are copied. */
int net_scp_start(const struct net_scp_config *cfg, net_store_fn fn, void *ctx,
		  struct fiona_log *log, struct net_scp **out, struct fiona_err *err);
void net_scp_stop(struct net_scp *scp); /* stop accepting, finish associations; NULL ok */
int net_echo(const char *calling_aet, const char *called_aet, const char *host, int port,
	     int timeout_s, struct fiona_err *err);

struct net_dest {
	const char *aet, *host;
	int port;
	const char *calling_aet;
	int timeout_s;
};
struct net_pc {
	const char *sop_class_uid;
	const char *ts_uid;
}; /* one presentation context */
struct net_assoc;
/* Returns a new association; free with net_assoc_close(). At most 128 contexts. */
int net_assoc_open(const struct net_dest *d, const struct net_pc *pcs, size_t n,
		   struct net_assoc **out, struct fiona_err *err);
/* Sends one instance given as complete Part-10 bytes (p, n). *status = DIMSE status.
 * Returns 0 when a response came (check status), negative errno on association/network
 * failure (the association is then unusable). */
int net_assoc_store(struct net_assoc *a, const uint8_t *p, size_t n, uint16_t *status,
		    struct fiona_err *err);
void net_assoc_close(struct net_assoc *a); /* release (or abort on error); NULL ok */
enum net_find_level { NET_FIND_STUDY, NET_FIND_SERIES };
/* C-FIND (Study Root) for NumberOfStudyRelatedInstances / NumberOfSeriesRelatedInstances of
 * one study / series. *count = -1 if the destination does not know it. */
int net_find_count(const struct net_dest *d, enum net_find_level level, const char *study_uid,
		   const char *series_uid, long *count, struct fiona_err *err);

/* ---- pure helpers (net/net_util.c) ------------------------------------------------ */

#define NET_STATUS_SUCCESS	     0x0000
#define NET_STATUS_OUT_OF_RESOURCES  0xA700
#define NET_STATUS_CANNOT_UNDERSTAND 0xC000

/* DIMSE C-STORE status for a net_store_fn result (see net_store_fn). */
uint16_t net_status_from_errno(int rc);
/* True for the DIMSE success and warning statuses (0x0000, 0x0001, 0xB000-0xBFFF). */
bool net_status_ok(uint16_t status);
/* Transfer syntaxes the SCP accepts, most preferred first. Borrowed; static table. */
const char *const *net_ts_accepted(size_t *n);
/* True if ts_uid is one of the uncompressed (native) transfer syntaxes. */
bool net_ts_is_native(const char *ts_uid);
/* Allow-list check: 0 if allowed, -EACCES when the calling AE title matches no entry,
 * -EPERM when an entry matches the AE but none matches the host. n == 0 allows all.
 * AE titles compare with surrounding spaces ignored. */
int net_caller_check(const struct net_caller *allowed, size_t n, const char *calling_aet,
		     const char *host);
/* Unique (sop class, ts) pairs of in[0..n) into out (cap entries), order kept.
 * Returns the count, or -E2BIG when more than cap unique pairs exist. Pointers borrowed. */
int net_pc_unique(const struct net_pc *in, size_t n, struct net_pc *out, size_t cap);
/* Scans the meta header of Part-10 bytes: *ds_off = offset of the data set, ts = Transfer
 * Syntax UID, sop_class (may be NULL) = Media Storage SOP Class UID ("" if absent); both
 * buffers of cap bytes. 0, or -EINVAL for anything malformed. Untrusted input. */
int net_part10_scan(const uint8_t *p, size_t n, size_t *ds_off, char *sop_class, char *ts,
		    size_t cap);

/* ---- batch sending and retry policy (net/sender.c, net/retry.c) ------------------- */
/* Sending a batch of instances to one destination over several parallel associations,
 * and the pure retry policy the transfer queue uses (issue 6). No catalog here: the
 * caller supplies the instances' bytes through callbacks and records outcomes itself. */

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
