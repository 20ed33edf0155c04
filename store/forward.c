/*
 * forward: the thread that empties the transfer queue. Each round takes the due
 * transfers, groups them by destination, sends each group with net_send_batch() over the
 * destination's parallel associations — every instance de-identified by its plan into a
 * buffer just for the send, never a copy on disk — records the outcomes (failures with
 * their reason and an exponential backoff) every RECORD_EVERY instances while the group
 * is sent and the rest at its end, then verifies
 * studies whose instances are all sent by asking the destination for its count (C-FIND).
 *
 * The plan for an instance is built exactly as the mount builds it (same profile, secret,
 * project, participant and event), so Orthanc holds the bytes `cat` shows.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "store/store_int.h"

#define ROUND_LIMIT 512
/* Outcomes are recorded in transactions of this many while a group is sent: a gateway
 * stopped mid-group past its lease leaves at most this many sent but unrecorded (the
 * gateway that takes the rows over sends those again), and a crash loses no more. */
#define RECORD_EVERY 32

struct store_forwarder {
	struct store *s;
	const struct fiona_config *cfg;
	struct deid_secret secret;
	struct fiona_log *log;
	struct deid_profile **profiles; /* per configured project, owned */
	pthread_t thread;
	pthread_mutex_t lock; /* guards stop, kicked */
	pthread_cond_t cond;
	bool stop, kicked, started;
	/* an outcome could not be recorded (a catalog write failed): its rows are still
	 * 'sending'; the next round queues them again (the thread's own; no lock) */
	bool unrecorded;
};

struct batch {
	struct store_forwarder *f;
	const struct xfer *x;
	struct xfer_result *r;
	struct net_send_item *items;
	/* the round's lease, renewed while the group is sent (src_get runs on every
	 * association's thread: atomics) */
	atomic_llong renewed_at;
	atomic_bool lease_lost;
	/* outcomes known but not recorded yet: indexes into x (src_done runs on every
	 * association's thread, so under mu); recorded[i] once its outcome is written */
	pthread_mutex_t mu;
	size_t done[RECORD_EVERY], n_done;
	bool *recorded;
	bool unrecorded; /* a record failed: those rows stay 'sending' (under mu) */
};

static const struct deid_profile *profile_of(struct store_forwarder *f, const char *project)
{
	for (size_t i = 0; i < f->cfg->n_projects; i++)
		if (!strcmp(f->cfg->projects[i].name, project))
			return f->profiles[i];
	return NULL;
}

/* The de-identified Part-10 bytes of one queued instance, in a new buffer. */
static int deid_bytes(struct store_forwarder *f, const struct xfer *x, uint8_t **p, size_t *n,
		      struct fiona_err *err)
{
	const struct deid_profile *prof = profile_of(f, x->project);
	struct deid_plan *plan = NULL;
	struct deid_outcome o;
	struct deid_job job;
	struct core_map m = {0};
	char path[4200];
	int rc;

	if (!prof)
		return err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG, "project not configured");
	if ((rc = store_object_path(f->s, x->hash, path, sizeof(path))) ||
	    (rc = core_map_file(path, &m)))
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "object unreadable: %s",
			       strerror(-rc));
	rc = deid_job_init(&job, prof, &f->secret, x->project, x->participant, x->event);
	job.pixels_cleaned = x->cleaned;
	rc = rc ? rc : deid_instance_plan(&job, m.p, m.len, &plan, &o, err);
	if (!rc && !(*p = malloc(deid_plan_size(plan) + 1)))
		rc = -ENOMEM;
	if (!rc) {
		ssize_t got = deid_plan_read(plan, m.fd, 0, *p, deid_plan_size(plan));

		rc = got == (ssize_t)deid_plan_size(plan) ? 0 : got < 0 ? (int)got : -EIO;
		*n = (size_t)deid_plan_size(plan);
		if (rc)
			free(*p);
	}
	deid_plan_free(plan);
	core_map_release(&m);
	return rc;
}

/* A group can take longer to send than a lease lasts (a slow destination, 512 rows): the
 * lease is moved on every third of lease_seconds, so another gateway does not take the
 * rows over and send them a second time. Once it lapsed anyway (this gateway was stopped,
 * or its catalog writes stalled) and another gateway holds the rows, the rest of the
 * group is not sent: duplicates stay bounded by what was in flight. */
static int lease_check(struct batch *b, struct fiona_err *err)
{
	long long now = time(NULL), at = atomic_load(&b->renewed_at);
	int64_t every = b->f->s->lease_s / 3 > 0 ? b->f->s->lease_s / 3 : 1;

	if (!atomic_load(&b->lease_lost) &&
	    (now - at < every || !atomic_compare_exchange_strong(&b->renewed_at, &at, now) ||
	     xfer_lease_renew(b->f->s, b->x[0].lease) != 0))
		return 0; /* kept, renewed by another thread, or renewed (an error: sent anyway) */
	if (!atomic_exchange(&b->lease_lost, true))
		log_msg(b->f->log, LOG_WARN, "forward",
			"lease %s holds no row any more (taken over by another gateway after it "
			"lapsed, or queued again): the rest of its batch is not sent from here",
			b->x[0].lease);
	return err_set(err, -ESTALE, CORE_NO_OFFSET, CORE_NO_TAG,
		       "the lease lapsed: sent by whoever holds the row now");
}

static int src_get(void *ctx, size_t i, const uint8_t **p, size_t *n, struct fiona_err *err)
{
	struct batch *b = ctx;
	uint8_t *buf = NULL;
	int rc = lease_check(b, err);

	if (rc)
		return rc;
	rc = deid_bytes(b->f, &b->x[i], &buf, n, err);

	*p = buf;
	return rc;
}

static void src_put(void *ctx, size_t i, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)i;
	(void)n;
	free((void *)p);
}

/* Records the outcomes of idx[0..m) in one transaction (xfer_record checks each row's
 * lease, so a row another gateway took over is left alone). Called with b->mu held. */
static void record_some(struct batch *b, const size_t *idx, size_t m)
{
	if (xfer_record(b->f->s, b->x, b->r, idx, m)) {
		log_msg(b->f->log, LOG_ERROR, "forward", "cannot record %zu transfer outcomes", m);
		b->unrecorded = true;
		return;
	}
	for (size_t k = 0; k < m; k++)
		b->recorded[idx[k]] = true;
}

static void note_outcome(struct batch *b, size_t i)
{
	pthread_mutex_lock(&b->mu);
	b->done[b->n_done++] = i;
	if (b->n_done == RECORD_EVERY) {
		record_some(b, b->done, b->n_done);
		b->n_done = 0;
	}
	pthread_mutex_unlock(&b->mu);
}

static void outcome_error(struct batch *b, size_t i, int rc, uint16_t status,
			  const struct fiona_err *err)
{
	struct xfer_result *r = &b->r[i];

	if (rc)
		snprintf(r->error, sizeof(r->error), "%s",
			 err && err->reason[0] ? err->reason : strerror(-rc));
	else
		snprintf(r->error, sizeof(r->error), "the destination answered status 0x%04x",
			 status);
	r->next_try = time(NULL) + net_backoff_s((unsigned)b->x[i].attempts + 1,
						 r->state == XFER_RETRY ? 5 : 600, 3600,
						 (uint32_t)(b->x[i].instance * 2654435761u));
}

static void src_done(void *ctx, size_t i, int rc, uint16_t status, const struct fiona_err *err)
{
	struct batch *b = ctx;
	struct xfer_result *r = &b->r[i];
	enum net_outcome oc = net_outcome_classify(rc, status);

	r->state = oc == NET_OUTCOME_SENT    ? XFER_SENT
		   : oc == NET_OUTCOME_RETRY ? XFER_RETRY
					     : XFER_GIVE_UP;
	if (r->state != XFER_SENT)
		outcome_error(b, i, rc, status, err);
	note_outcome(b, i);
}

/* Output transfer syntax of a de-identified instance (deid.c writes explicit LE unless
 * the source was encapsulated). */
static const char *output_ts(const char *ts)
{
	return net_ts_is_native(ts) || !strcmp(ts, "1.2.840.10008.1.2.1.99") ? "1.2.840.10008.1.2.1"
									     : ts;
}

static void dest_of(const struct config_destination *d, struct net_dest *nd)
{
	*nd = (struct net_dest){d->aet, d->host, d->port, d->calling_aet ? d->calling_aet : "FIONA",
				30};
}

/* What of x may leave (store/pixels.c): the cleaned copy of a candidate's pixels, or the
 * object. A candidate not cleaned yet waits; held and dropped ones are never sent.
 * Returns true when x is to be sent (its hash and transfer syntax then name what). */
static bool pixels_sendable(struct store_forwarder *f, struct xfer *x, struct xfer_result *r)
{
	struct store_px_state px;
	int rc = store_pixel_state(f->s, x->instance, x->project, &px);

	if (!rc && store_px_may_leave(&px)) {
		x->cleaned = px.state == STORE_PX_CLEANED;
		memcpy(x->hash, px.source, sizeof(x->hash));
		if (x->cleaned) /* a cleaned copy is never compressed */
			snprintf(x->ts, sizeof(x->ts), "1.2.840.10008.1.2.1");
		return true;
	}
	*r = (struct xfer_result){XFER_WAIT, "waiting for burned-in text cleaning", time(NULL) + 3};
	if (rc)
		snprintf(r->error, sizeof(r->error), "not in the catalog");
	else if (px.state == STORE_PX_HELD || px.state == STORE_PX_DROPPED)
		*r = (struct xfer_result){px.state == STORE_PX_HELD ? XFER_HELD : XFER_DROPPED, "",
					  0};
	if (!rc && r->state != XFER_WAIT)
		snprintf(r->error, sizeof(r->error), "%s: %.200s",
			 r->state == XFER_HELD ? "held" : "dropped", px.reason);
	return false;
}

/* Moves the transfers that may be sent to the front of x and records the others.
 * Returns how many are to be sent. */
static size_t sort_out(struct store_forwarder *f, struct xfer *x, size_t n)
{
	struct xfer_result *r = calloc(n ? n : 1, sizeof(*r));
	struct xfer *rest = calloc(n ? n : 1, sizeof(*rest));
	size_t k = 0, m = 0;

	if (!r || !rest) {
		free(r);
		free(rest);
		f->unrecorded = true; /* queued again next round; nothing sent unchecked */
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct xfer cur = x[i];

		if (pixels_sendable(f, &cur, &r[m]))
			x[k++] = cur;
		else
			rest[m++] = cur;
	}
	if (m && xfer_record(f->s, rest, r, NULL, m)) {
		log_msg(f->log, LOG_ERROR, "forward", "cannot record %zu transfer outcomes", m);
		f->unrecorded = true;
	}
	free(r);
	free(rest);
	return k;
}

/* Before each group its lease runs from now. The groups before took time, or this
 * gateway was stopped between its take and the send (kill -STOP, a paused VM): a lease
 * that lapsed meanwhile and was taken over holds no row, and nothing of the group is sent
 * from here. A catalog error keeps the lease as it was: sent anyway (the outcomes are
 * recorded only under the lease). */
static bool lease_renewed(struct store_forwarder *f, const char *lease)
{
	if (xfer_lease_renew(f->s, lease) != 0)
		return true;
	log_msg(f->log, LOG_WARN, "forward",
		"lease %s lapsed before its group was sent and holds no row any more (taken "
		"over by another gateway): not sent from here",
		lease);
	return false;
}

/* Sends x[0..n), which share one destination, and records the outcomes. Returns how
 * many the destination took. */
static size_t send_group(struct store_forwarder *f, const struct xfer *x, size_t n)
{
	const struct config_destination *d = config_destination(f->cfg, x[0].destination);
	struct xfer_result *r = calloc(n, sizeof(*r));
	struct net_send_item *items = calloc(n, sizeof(*items));
	struct batch b = {.f = f, .x = x, .r = r, .items = items, .renewed_at = time(NULL)};
	struct net_send_source src = {src_get, src_put, src_done, &b};
	struct net_send_stats stats = {0};
	struct fiona_err err = {0};
	struct net_dest nd;
	size_t *rest = calloc(n, sizeof(*rest)), m = 0;

	pthread_mutex_init(&b.mu, NULL);
	if (!r || !items || !rest || !(b.recorded = calloc(n, sizeof(*b.recorded))))
		goto out;
	for (size_t i = 0; i < n; i++) {
		items[i] = (struct net_send_item){x[i].sop_class, output_ts(x[i].ts)};
		r[i] = (struct xfer_result){XFER_RETRY, "", time(NULL) + 60};
		snprintf(r[i].error, sizeof(r[i].error), "destination \"%s\" is not configured",
			 x[i].destination);
	}
	if (d) {
		dest_of(d, &nd);
		if (net_send_batch(&nd, items, n, &src, d->associations > 0 ? d->associations : 1,
				   3, &stats, &err))
			log_msg(f->log, LOG_WARN, "forward", "%s: %s", d->name, err.reason);
		log_msg(f->log, LOG_INFO, "forward", "%s: %zu sent, %zu not yet (%zu associations)",
			d->name, stats.sent, stats.failed, stats.assocs);
	}
	for (size_t i = 0; i < n; i++) /* the last outcomes, and those never reached */
		if (!b.recorded[i])
			rest[m++] = i;
	pthread_mutex_lock(&b.mu);
	if (m)
		record_some(&b, rest, m);
	f->unrecorded |= b.unrecorded;
	pthread_mutex_unlock(&b.mu);
out:
	pthread_mutex_destroy(&b.mu);
	free(b.recorded);
	free(rest);
	free(r);
	free(items);
	return stats.sent;
}

/* Series-level counts of one study; a short series is queued again. Returns the number
 * of short series, or -1 when the destination could not answer. */
static int verify_series(struct store_forwarder *f, const struct net_dest *nd,
			 const struct xfer_verify *v, const char *study_uid)
{
	struct xfer_series *se = NULL;
	size_t n = 0;
	int shortfall = 0;

	if (xfer_series_of(f->s, v->study, v->project, &se, &n))
		return -1;
	for (size_t i = 0; i < n && shortfall >= 0; i++) {
		struct fiona_err err = {0};
		char uid[65];
		long count = -1;

		if (deid_uid_derive(&f->secret, v->project, se[i].series_uid, uid) ||
		    net_find_count(nd, NET_FIND_SERIES, study_uid, uid, &count, &err) ||
		    count < 0) {
			shortfall = -1;
		} else if (count < se[i].sent) {
			xfer_requeue_series(f->s, v->study, v->project, se[i].series_uid);
			shortfall++;
		}
	}
	free(se);
	return shortfall;
}

/* Study-level count first (NumberOfStudyRelatedInstances), then each series
 * (NumberOfSeriesRelatedInstances): what is short is queued again, the rest verified. */
static void verify_round(struct store_forwarder *f)
{
	struct xfer_verify *v = NULL;
	size_t n = 0;

	if (xfer_to_verify(f->s, &v, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct config_destination *d = config_destination(f->cfg, v[i].destination);
		struct fiona_err err = {0};
		char uid[65];
		struct net_dest nd;
		long count = -1;
		int shortfall = 0;

		if (!d || deid_uid_derive(&f->secret, v[i].project, v[i].study_uid, uid))
			continue;
		dest_of(d, &nd);
		if (net_find_count(&nd, NET_FIND_STUDY, uid, NULL, &count, &err) || count < 0)
			continue; /* asked again next round */
		if (count >= v[i].sent && (shortfall = verify_series(f, &nd, &v[i], uid)) < 0)
			continue;
		if (!shortfall)
			xfer_verified(f->s, &v[i], count);
		log_msg(f->log, count >= v[i].sent && !shortfall ? LOG_INFO : LOG_WARN, "forward",
			"study %lld at %s: %ld instances held, %ld sent%s", (long long)v[i].study,
			d->name, count, v[i].sent,
			count >= v[i].sent && !shortfall ? ": verified" : ": sending again");
	}
	free(v);
}

static int by_destination(const void *a, const void *b)
{
	const struct xfer *x = a, *y = b;
	int c = strcmp(x->destination, y->destination);

	return c ? c : (x->instance > y->instance) - (x->instance < y->instance);
}

/* One round: everything due now, destination by destination. Returns how many the
 * destinations took: a round that moved nothing (a destination down) waits before the
 * next, instead of failing the next batch of a million queued rows at once. */
static size_t forward_round(struct store_forwarder *f)
{
	struct xfer *x = NULL;
	size_t n = 0, start = 0, sent = 0;

	/* no batch is in flight between rounds: rows still 'sending' lost their outcome, and
	 * are sent again (an unknown outcome is retried, as after a crash) */
	if (f->unrecorded && xfer_reset_sending(f->s) == 0) {
		f->unrecorded = false;
		log_msg(f->log, LOG_WARN, "forward", "unrecorded transfers queued again");
	}
	if (xfer_take_due(f->s, time(NULL), ROUND_LIMIT, &x, &n) || !n) {
		free(x);
		return 0;
	}
	n = sort_out(f, x, n);
	qsort(x, n, sizeof(*x), by_destination);
	for (size_t i = 1; i <= n; i++)
		if (i == n || strcmp(x[i].destination, x[start].destination)) {
			sent += lease_renewed(f, x[start].lease)
					? send_group(f, x + start, i - start)
					: 0;
			start = i;
		}
	free(x);
	return sent;
}

static void *forward_main(void *arg)
{
	struct store_forwarder *f = arg;
	struct timespec until;

	xfer_reset_sending(f->s); /* a crash mid-batch: those go again */
	for (;;) {
		size_t sent = forward_round(f);

		verify_round(f);
		pthread_mutex_lock(&f->lock);
		if (!sent && !f->kicked && !f->stop) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&f->cond, &f->lock, &until);
		}
		f->kicked = false;
		if (f->stop) {
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
		pthread_mutex_unlock(&f->lock);
	}
}

int store_forwarder_start(struct store *s, const struct fiona_config *cfg,
			  const struct deid_secret *secret, struct fiona_log *log,
			  struct store_forwarder **out)
{
	struct store_forwarder *f = calloc(1, sizeof(*f));
	struct fiona_err err = {0};
	int rc = 0;

	if (!f || !(f->profiles = calloc(cfg->n_projects + 1, sizeof(*f->profiles)))) {
		free(f);
		return -ENOMEM;
	}
	f->s = s;
	f->cfg = cfg;
	f->secret = *secret;
	f->log = log;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	for (size_t i = 0; !rc && i < cfg->n_projects; i++) {
		const char *p = cfg->projects[i].profile;

		rc = p ? deid_profile_load(p, &f->profiles[i], &err)
		       : deid_profile_new_default(&f->profiles[i]);
		if (rc)
			log_msg(log, LOG_ERROR, "forward", "profile %s: %s", p, err.reason);
	}
	if (!rc && !(rc = -pthread_create(&f->thread, NULL, forward_main, f)))
		f->started = true;
	if (rc) {
		store_forwarder_stop(f);
		return rc;
	}
	*out = f;
	return 0;
}

void store_forwarder_kick(struct store_forwarder *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->kicked = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void store_forwarder_stop(struct store_forwarder *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->started)
		pthread_join(f->thread, NULL);
	for (size_t i = 0; f->profiles && i < f->cfg->n_projects; i++)
		deid_profile_free(f->profiles[i]);
	free(f->profiles);
	explicit_bzero(&f->secret, sizeof(f->secret));
	free(f);
}
