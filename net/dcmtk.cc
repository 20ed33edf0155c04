/*
 * The only C++ in fiona: dcmtk's DICOM upper layer and DIMSE behind net/net.h.
 *
 * SCP: one acceptor thread polls the listening socket (so a stop request is seen within
 * a second) and hands each association to its own detached thread; at most
 * max_associations run at once, further ones are rejected as transient. Each C-STORE is
 * received bit-preserving straight into a temporary file in tmp_dir (dcmtk writes a
 * meta header built from the request, then the data set bytes exactly as they arrived);
 * the store callback runs after the file is closed and decides the response status.
 * net_scp_stop() waits until every association thread has finished.
 *
 * SCU: each net_assoc owns its own T_ASC_Network, so distinct handles share nothing.
 * Part-10 bytes are parsed from memory; when a presentation context with their own
 * transfer syntax was accepted, the data set goes out as the exact original bytes.
 *
 * No identifying values are logged: AE titles and addresses are not patient data.
 */
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dul.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include "core/core.h"
#include "net/net.h"
}

#define COMP "net"

/* ---- shared helpers ---------------------------------------------------------------- */

static int cond_err(struct fiona_err *err, int code, const char *what, const OFCondition &c)
{
	return err_set(err, code, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", what, c.text());
}

/* Disables Nagle on the association's socket. dcmtk only does so when the environment
 * says TCP_NODELAY=1 (the Debian build does not by default): without it every small
 * DIMSE exchange waits for the peer's delayed ACK (~40 ms per instance). */
struct socket_peek : DcmTransportConnection {
	using DcmTransportConnection::getSocket; /* protected in dcmtk; the fd is all we need */
};

static void set_nodelay(T_ASC_Association *a)
{
	DcmTransportConnection *tc = a ? DUL_getTransportConnection(a->DULassociation) : NULL;
	int one = 1;

	if (tc)
		setsockopt((tc->*(&socket_peek::getSocket))(), IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
}

/* Copies a string into a fixed buffer, truncating; dst always terminated. */
static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- SCP --------------------------------------------------------------------------- */

struct net_scp {
	char aet[17];
	char (*aliases)[17]; /* owned */
	size_t n_aliases;
	bool any_called;
	char tmp_dir[4096];
	struct net_caller *allowed; /* owned copies */
	size_t n_allowed;
	int max_assoc, timeout_s;
	net_store_fn fn;
	void *ctx;
	struct fiona_log *log;
	T_ASC_Network *net;
	pthread_t acceptor;
	std::atomic<bool> stop;
	std::atomic<unsigned long> seq; /* temp file names */
	pthread_mutex_t mu;		/* guards active */
	pthread_cond_t idle;
	int active;
};

struct assoc_job {
	struct net_scp *scp;
	T_ASC_Association *assoc;
	struct net_peer peer;
};

struct store_cb {
	struct assoc_job *job;
	const char *path;
};

/* Final C-STORE callback: the temp file is complete and closed; hand it over. */
static void store_callback(void *data, T_DIMSE_StoreProgress *progress, T_DIMSE_C_StoreRQ *, char *,
			   DcmDataset **, T_DIMSE_C_StoreRSP *rsp, DcmDataset **)
{
	struct store_cb *cb = (struct store_cb *)data;
	struct stat st;
	int rc;

	if (progress->state != DIMSE_StoreEnd)
		return;
	if (stat(cb->path, &st) != 0) { /* receive failed; dcmtk removed the file */
		rsp->DimseStatus = NET_STATUS_OUT_OF_RESOURCES;
		return;
	}
	rc = cb->job->scp->fn(cb->job->scp->ctx, cb->path, &cb->job->peer);
	rsp->DimseStatus = net_status_from_errno(rc);
	if (rc)
		log_msg(cb->job->scp->log, LOG_WARN, COMP,
			"store from %s failed (%d), status 0x%04x", cb->job->peer.calling_aet, rc,
			rsp->DimseStatus);
}

static OFCondition scp_store(struct assoc_job *job, T_ASC_PresentationContextID pres,
			     T_DIMSE_C_StoreRQ *req)
{
	struct net_scp *scp = job->scp;
	char path[4200];
	struct store_cb cb = {job, path};

	snprintf(path, sizeof(path), "%s/.rx-%ld-%lu.dcm", scp->tmp_dir, (long)getpid(),
		 scp->seq.fetch_add(1));
	/* File name + meta header = dcmtk's bit-preserving mode (storescp --bit-preserving). */
	OFCondition c = DIMSE_storeProvider(job->assoc, pres, req, path, OFTrue, NULL,
					    store_callback, &cb, DIMSE_BLOCKING, scp->timeout_s);
	if (c.bad()) {
		unlink(path); /* a partial file must not be left behind */
		log_msg(scp->log, LOG_WARN, COMP, "C-STORE receive failed: %s", c.text());
	}
	return c;
}

/* Serves DIMSE messages until release, abort, idle timeout or error. */
static void scp_serve(struct assoc_job *job)
{
	T_ASC_Association *a = job->assoc;
	int idle = 0;

	for (;;) {
		T_ASC_PresentationContextID pres;
		T_DIMSE_Message msg;
		/* Wait in 1 s steps: an idle association ends at timeout_s, or at once when
		 * the receiver stops; one in the middle of a transfer is never cut. */
		OFCondition c = DIMSE_receiveCommand(a, DIMSE_NONBLOCKING, 1, &pres, &msg, NULL);

		if (c == DIMSE_NODATAAVAILABLE && !job->scp->stop.load() &&
		    ++idle < job->scp->timeout_s)
			continue;
		idle = 0;
		if (c == DUL_PEERREQUESTEDRELEASE) {
			ASC_acknowledgeRelease(a);
			return;
		}
		if (c == DUL_PEERABORTEDASSOCIATION)
			return;
		if (c.good() && msg.CommandField == DIMSE_C_ECHO_RQ)
			c = DIMSE_sendEchoResponse(a, pres, &msg.msg.CEchoRQ, STATUS_Success, NULL);
		else if (c.good() && msg.CommandField == DIMSE_C_STORE_RQ)
			c = scp_store(job, pres, &msg.msg.CStoreRQ);
		else if (c.good())
			c = DIMSE_BADCOMMANDTYPE;
		if (c.bad()) { /* idle timeout included: abort frees the peer at once */
			log_msg(job->scp->log, LOG_INFO, COMP, "aborting association from %s: %s",
				job->peer.calling_aet, c.text());
			ASC_abortAssociation(a);
			return;
		}
	}
}

static bool scp_alias(const struct net_scp *scp, const char *called)
{
	if (scp->any_called)
		return true;
	for (size_t i = 0; i < scp->n_aliases; i++)
		if (!strcmp(scp->aliases[i], called))
			return true;
	return false;
}

/* Checks the caller and negotiates; returns false when the association was rejected. */
static bool scp_negotiate(struct assoc_job *job)
{
	struct net_scp *scp = job->scp;
	T_ASC_Parameters *p = job->assoc->params;
	T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
				      ASC_REASON_SU_NOREASON};
	char calling[64] = "", called[64] = "", from[128] = "", to[128] = "";
	size_t nts;
	const char *const *ts = net_ts_accepted(&nts);
	const char *verif[] = {UID_VerificationSOPClass};
	int rc;

	ASC_getAPTitles(p, calling, sizeof(calling), called, sizeof(called), NULL, 0);
	ASC_getPresentationAddresses(p, from, sizeof(from), to, sizeof(to));
	char *colon = strrchr(from, ':'); /* "host:port" -> host */
	if (colon)
		*colon = '\0';
	copy_str(job->peer.calling_aet, sizeof(job->peer.calling_aet), calling);
	copy_str(job->peer.called_aet, sizeof(job->peer.called_aet), called);
	copy_str(job->peer.host, sizeof(job->peer.host), from);

	rc = net_caller_check(scp->allowed, scp->n_allowed, calling, from);
	if (rc == 0 && scp->aet[0] && strcmp(called, scp->aet) != 0 && !scp_alias(scp, called)) {
		rej.reason = ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED;
		rc = -EACCES;
	} else if (rc == -EACCES) {
		rej.reason = ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED;
	}
	if (rc) {
		log_msg(scp->log, LOG_WARN, COMP, "refused association from %s at %s to %s",
			calling, from, called);
		ASC_rejectAssociation(job->assoc, &rej);
		return false;
	}
	OFCondition c = ASC_acceptContextsWithPreferredTransferSyntaxes(
		p, verif, 1, (const char **)ts, (int)nts);
	if (c.good())
		c = ASC_acceptContextsWithPreferredTransferSyntaxes(
			p, dcmAllStorageSOPClassUIDs, numberOfDcmAllStorageSOPClassUIDs,
			(const char **)ts, (int)nts);
	if (c.good())
		c = ASC_acknowledgeAssociation(job->assoc);
	if (c.bad()) {
		log_msg(scp->log, LOG_WARN, COMP, "negotiation with %s failed: %s", calling,
			c.text());
		return false;
	}
	return true;
}

static void *assoc_thread(void *arg)
{
	struct assoc_job *job = (struct assoc_job *)arg;
	struct net_scp *scp = job->scp;

	if (scp_negotiate(job))
		scp_serve(job);
	ASC_dropSCPAssociation(job->assoc);
	ASC_destroyAssociation(&job->assoc);
	delete job;
	pthread_mutex_lock(&scp->mu);
	if (--scp->active == 0)
		pthread_cond_broadcast(&scp->idle);
	pthread_mutex_unlock(&scp->mu);
	return NULL;
}

/* Takes one waiting association: starts its thread, or rejects it when at capacity. */
static void scp_accept_one(struct net_scp *scp)
{
	T_ASC_Association *assoc = NULL;
	OFCondition c = ASC_receiveAssociation(scp->net, &assoc, ASC_DEFAULTMAXPDU, NULL, NULL,
					       OFFalse, DUL_NOBLOCK, 1);
	pthread_t th;
	pthread_attr_t attr;
	bool full;

	if (c.bad()) {
		if (assoc)
			ASC_destroyAssociation(&assoc);
		return;
	}
	pthread_mutex_lock(&scp->mu);
	full = scp->active >= scp->max_assoc;
	if (!full)
		scp->active++;
	pthread_mutex_unlock(&scp->mu);
	if (full) {
		T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDTRANSIENT,
					      ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
					      ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
		ASC_rejectAssociation(assoc, &rej);
		ASC_dropAssociation(assoc);
		ASC_destroyAssociation(&assoc);
		log_msg(scp->log, LOG_WARN, COMP, "association rejected: %d already active",
			scp->max_assoc);
		return;
	}
	set_nodelay(assoc);
	struct assoc_job *job = new assoc_job();
	job->scp = scp;
	job->assoc = assoc;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, assoc_thread, job) != 0) {
		ASC_abortAssociation(assoc);
		ASC_destroyAssociation(&assoc);
		delete job;
		pthread_mutex_lock(&scp->mu);
		if (--scp->active == 0)
			pthread_cond_broadcast(&scp->idle);
		pthread_mutex_unlock(&scp->mu);
	}
	pthread_attr_destroy(&attr);
}

static void *acceptor_thread(void *arg)
{
	struct net_scp *scp = (struct net_scp *)arg;

	while (!scp->stop.load()) {
		if (ASC_associationWaiting(scp->net, 1))
			scp_accept_one(scp);
	}
	return NULL;
}

static void scp_free(struct net_scp *scp)
{
	if (!scp)
		return;
	for (size_t i = 0; i < scp->n_allowed; i++) {
		free((void *)scp->allowed[i].aet);
		free((void *)scp->allowed[i].host);
	}
	free(scp->allowed);
	free(scp->aliases);
	if (scp->net)
		ASC_dropNetwork(&scp->net);
	pthread_mutex_destroy(&scp->mu);
	pthread_cond_destroy(&scp->idle);
	delete scp;
}

extern "C" int net_scp_start(const struct net_scp_config *cfg, net_store_fn fn, void *ctx,
			     struct fiona_log *log, struct net_scp **out, struct fiona_err *err)
{
	struct net_scp *scp = new (std::nothrow) net_scp();
	int rc = -ENOMEM;

	if (!scp)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	pthread_mutex_init(&scp->mu, NULL);
	pthread_cond_init(&scp->idle, NULL);
	copy_str(scp->aet, sizeof(scp->aet), cfg->aet);
	scp->any_called = cfg->any_called;
	if (cfg->n_aliases) {
		scp->aliases = (char (*)[17])calloc(cfg->n_aliases, sizeof(*scp->aliases));
		if (!scp->aliases) {
			scp_free(scp);
			return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
		}
		for (size_t i = 0; i < cfg->n_aliases; i++)
			copy_str(scp->aliases[i], sizeof(scp->aliases[i]), cfg->aliases[i]);
		scp->n_aliases = cfg->n_aliases;
	}
	copy_str(scp->tmp_dir, sizeof(scp->tmp_dir), cfg->tmp_dir ? cfg->tmp_dir : ".");
	scp->max_assoc = cfg->max_associations > 0 ? cfg->max_associations : 1;
	scp->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 60;
	scp->fn = fn;
	scp->ctx = ctx;
	scp->log = log;
	scp->allowed = (struct net_caller *)calloc(cfg->n_allowed + 1, sizeof(*scp->allowed));
	if (!scp->allowed)
		goto fail;
	for (; scp->n_allowed < cfg->n_allowed; scp->n_allowed++) {
		const struct net_caller *c = &cfg->allowed[scp->n_allowed];
		struct net_caller *d = &scp->allowed[scp->n_allowed];
		d->aet = c->aet ? strdup(c->aet) : NULL;
		d->host = c->host ? strdup(c->host) : NULL;
		if ((c->aet && !d->aet) || (c->host && !d->host)) {
			scp->n_allowed++;
			goto fail;
		}
	}
	/* Peer addresses are compared as numbers; reverse DNS would also cost time. */
	dcmDisableGethostbyaddr.set(OFTrue);
	{
		OFCondition c =
			ASC_initializeNetwork(NET_ACCEPTOR, cfg->port, scp->timeout_s, &scp->net);
		if (c.bad()) {
			rc = cond_err(err, -EADDRINUSE, "cannot listen", c);
			goto fail_quiet;
		}
	}
	if (pthread_create(&scp->acceptor, NULL, acceptor_thread, scp) != 0) {
		rc = err_set(err, -EAGAIN, CORE_NO_OFFSET, CORE_NO_TAG, "cannot start thread");
		goto fail_quiet;
	}
	log_msg(log, LOG_INFO, COMP, "listening on port %d as %s", cfg->port, scp->aet);
	*out = scp;
	return 0;
fail:
	err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
fail_quiet:
	scp_free(scp);
	return rc;
}

extern "C" void net_scp_stop(struct net_scp *scp)
{
	if (!scp)
		return;
	scp->stop.store(true);
	pthread_join(scp->acceptor, NULL);
	pthread_mutex_lock(&scp->mu);
	while (scp->active > 0)
		pthread_cond_wait(&scp->idle, &scp->mu);
	pthread_mutex_unlock(&scp->mu);
	scp_free(scp);
}

/* ---- SCU --------------------------------------------------------------------------- */

struct net_assoc {
	T_ASC_Network *net;
	T_ASC_Association *assoc;
	int timeout_s;
	bool broken; /* abort instead of release */
};

extern "C" void net_assoc_close(struct net_assoc *a)
{
	if (!a)
		return;
	if (a->assoc) {
		if (a->broken || ASC_releaseAssociation(a->assoc).bad())
			ASC_abortAssociation(a->assoc);
		ASC_destroyAssociation(&a->assoc);
	}
	if (a->net)
		ASC_dropNetwork(&a->net);
	delete a;
}

extern "C" int net_assoc_open(const struct net_dest *d, const struct net_pc *pcs, size_t n,
			      struct net_assoc **out, struct fiona_err *err)
{
	struct net_assoc *a = new (std::nothrow) net_assoc();
	T_ASC_Parameters *params = NULL;
	char peer[128];
	int rc;

	if (!a)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	if (n == 0 || n > 128) {
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			     "%zu presentation contexts (1..128 allowed)", n);
		goto fail;
	}
	a->timeout_s = d->timeout_s > 0 ? d->timeout_s : 30;
	{
		OFCondition c = ASC_initializeNetwork(NET_REQUESTOR, 0, a->timeout_s, &a->net);
		if (c.bad()) {
			rc = cond_err(err, -EIO, "network init", c);
			goto fail;
		}
		ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
		ASC_setAPTitles(params, d->calling_aet ? d->calling_aet : "FIONA", d->aet, NULL);
		snprintf(peer, sizeof(peer), "%s:%d", d->host, d->port);
		ASC_setPresentationAddresses(params, "localhost", peer);
		for (size_t i = 0; i < n && c.good(); i++) {
			const char *ts[] = {pcs[i].ts_uid};
			c = ASC_addPresentationContext(params,
						       (T_ASC_PresentationContextID)(2 * i + 1),
						       pcs[i].sop_class_uid, ts, 1);
		}
		if (c.good())
			c = ASC_requestAssociation(a->net, params, &a->assoc);
		else
			ASC_destroyAssociationParameters(&params);
		if (c.bad()) { /* params belong to a->assoc once requested */
			rc = cond_err(err, c == DUL_ASSOCIATIONREJECTED ? -ECONNREFUSED : -EIO,
				      "association request", c);
			goto fail;
		}
		set_nodelay(a->assoc);
		if (ASC_countAcceptedPresentationContexts(a->assoc->params) == 0) {
			a->broken = false;
			rc = err_set(err, -EPROTONOSUPPORT, CORE_NO_OFFSET, CORE_NO_TAG,
				     "no presentation context accepted");
			goto fail;
		}
	}
	*out = a;
	return 0;
fail:
	net_assoc_close(a);
	return rc;
}

/*
 * A data set that DIMSE sends as the exact bytes it was read from. dcmtk's DIMSE layer
 * always serialises a DcmDataset (there is no "send these bytes" call) and by default
 * re-encodes sequences with explicit lengths and recalculates group lengths, which would
 * change the bytes. When the negotiated transfer syntax equals the data set's own, write()
 * copies the original bytes instead, in as many pieces as the PDV buffer takes.
 */
class raw_dataset : public DcmDataset
{
      public:
	raw_dataset(const uint8_t *p, size_t n) : raw(false), raw_p(p), raw_n(n), raw_off(0)
	{
	}
	bool raw; /* send raw bytes (set once the transfer syntax matched) */
	void transferInit() override
	{
		DcmDataset::transferInit();
		raw_off = 0;
	}
	OFCondition write(DcmOutputStream &out, const E_TransferSyntax oxfer,
			  const E_EncodingType enctype, DcmWriteCache *wcache,
			  const E_GrpLenEncoding glenc,
			  const E_PaddingEncoding padenc = EPD_noChange, const Uint32 padlen = 0,
			  const Uint32 subPadlen = 0, Uint32 instanceLength = 0) override
	{
		if (!raw)
			return DcmDataset::write(out, oxfer, enctype, wcache, glenc, padenc, padlen,
						 subPadlen, instanceLength);
		while (raw_off < raw_n) {
			offile_off_t k = out.avail();
			if (k <= 0)
				return EC_StreamNotifyClient;
			if ((size_t)k > raw_n - raw_off)
				k = (offile_off_t)(raw_n - raw_off);
			raw_off += (size_t)out.write(raw_p + raw_off, k);
		}
		return EC_Normal;
	}

      private:
	const uint8_t *raw_p;
	size_t raw_n, raw_off;
};

/* Chooses the presentation context for (sop_class, ts): the exact pair, else for native
 * data any native syntax accepted for the SOP class (dcmtk re-encodes). 0 if none.
 * *exact tells whether the raw bytes can go out unchanged. */
static T_ASC_PresentationContextID pick_context(T_ASC_Association *a, const char *sop_class,
						const char *ts, bool *exact)
{
	/* dcmtk falls back to any context of the SOP class; check what it picked. */
	T_ASC_PresentationContextID pres = ASC_findAcceptedPresentationContextID(a, sop_class, ts);
	T_ASC_PresentationContext pc;

	if (pres == 0 || ASC_findAcceptedPresentationContext(a->params, pres, &pc).bad())
		return 0;
	*exact = strcmp(pc.acceptedTransferSyntax, ts) == 0;
	if (!*exact && !(net_ts_is_native(pc.acceptedTransferSyntax) && net_ts_is_native(ts)))
		return 0; /* compressed data is never transcoded here */
	return pres;
}

extern "C" int net_assoc_store(struct net_assoc *a, const uint8_t *p, size_t n, uint16_t *status,
			       struct fiona_err *err)
{
	char ts[65], meta_sop[65];
	size_t off;
	OFString sop_class, sop_inst;
	T_DIMSE_C_StoreRQ req;
	T_DIMSE_C_StoreRSP rsp;
	DcmDataset *detail = NULL;
	bool exact = false;

	if (net_part10_scan(p, n, &off, meta_sop, ts, sizeof(ts)))
		return err_set(err, -EINVAL, 0, CORE_NO_TAG, "not a Part-10 file (meta header)");
	DcmXfer xfer(ts);
	if (xfer.getXfer() == EXS_Unknown)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, 0x00020010u,
			       "unknown transfer syntax");
	raw_dataset ds(p + off, n - off);
	DcmInputBufferStream in;
	in.setBuffer(p + off, (offile_off_t)(n - off));
	in.setEos();
	ds.transferInit();
	OFCondition c = ds.read(in, xfer.getXfer(), EGL_noChange, DCM_MaxReadLength);
	ds.transferEnd();
	if (c.bad())
		return cond_err(err, -EINVAL, "cannot parse data set", c);
	ds.findAndGetOFString(DCM_SOPClassUID, sop_class);
	ds.findAndGetOFString(DCM_SOPInstanceUID, sop_inst);
	if (sop_class.empty() || sop_inst.empty())
		return err_set(err, -EINVAL, CORE_NO_OFFSET, 0x00080016u,
			       "SOP class or instance UID missing");
	T_ASC_PresentationContextID pres = pick_context(a->assoc, sop_class.c_str(), ts, &exact);
	if (pres == 0)
		return err_set(err, -EPROTONOSUPPORT, CORE_NO_OFFSET, CORE_NO_TAG,
			       "no accepted presentation context for SOP class %s in %s",
			       sop_class.c_str(), ts);
	ds.raw = exact;
	memset(&req, 0, sizeof(req));
	memset(&rsp, 0, sizeof(rsp));
	req.MessageID = a->assoc->nextMsgID++;
	copy_str(req.AffectedSOPClassUID, sizeof(req.AffectedSOPClassUID), sop_class.c_str());
	copy_str(req.AffectedSOPInstanceUID, sizeof(req.AffectedSOPInstanceUID), sop_inst.c_str());
	req.DataSetType = DIMSE_DATASET_PRESENT;
	req.Priority = DIMSE_PRIORITY_MEDIUM;
	c = DIMSE_storeUser(a->assoc, pres, &req, NULL, &ds, NULL, NULL, DIMSE_BLOCKING,
			    a->timeout_s, &rsp, &detail, NULL, 0);
	delete detail;
	if (c.bad()) {
		a->broken = true;
		return cond_err(err, -EIO, "C-STORE", c);
	}
	*status = rsp.DimseStatus;
	return 0;
}

extern "C" int net_echo(const char *calling_aet, const char *called_aet, const char *host, int port,
			int timeout_s, struct fiona_err *err)
{
	struct net_dest d = {called_aet, host, port, calling_aet, timeout_s};
	struct net_pc pc = {UID_VerificationSOPClass, UID_LittleEndianImplicitTransferSyntax};
	struct net_assoc *a = NULL;
	DIC_US st = 0;
	DcmDataset *detail = NULL;
	int rc = net_assoc_open(&d, &pc, 1, &a, err);

	if (rc)
		return rc;
	OFCondition c = DIMSE_echoUser(a->assoc, a->assoc->nextMsgID++, DIMSE_BLOCKING,
				       a->timeout_s, &st, &detail);
	delete detail;
	if (c.bad()) {
		a->broken = true;
		rc = cond_err(err, -EIO, "C-ECHO", c);
	} else if (st != STATUS_Success) {
		rc = err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG, "C-ECHO status 0x%04x", st);
	}
	net_assoc_close(a);
	return rc;
}

struct find_cb {
	DcmTagKey key;
	long count;  /* -1 until a match reports the attribute */
	int matches; /* pending responses seen */
};

static void find_callback(void *data, T_DIMSE_C_FindRQ *, int, T_DIMSE_C_FindRSP *, DcmDataset *ids)
{
	struct find_cb *f = (struct find_cb *)data;
	OFString v;
	long n;

	f->matches++;
	if (ids && ids->findAndGetOFString(f->key, v).good() &&
	    core_parse_long(v.c_str(), 0, 1L << 40, &n) == 0)
		f->count =
			(f->count > 0 ? f->count : 0) + n; /* one match expected; sum defensively */
}

extern "C" int net_find_count(const struct net_dest *d, enum net_find_level level,
			      const char *study_uid, const char *series_uid, long *count,
			      struct fiona_err *err)
{
	struct net_pc pc = {UID_FINDStudyRootQueryRetrieveInformationModel,
			    UID_LittleEndianExplicitTransferSyntax};
	struct net_assoc *a = NULL;
	struct find_cb f = {level == NET_FIND_STUDY ? DCM_NumberOfStudyRelatedInstances
						    : DCM_NumberOfSeriesRelatedInstances,
			    -1, 0};
	T_DIMSE_C_FindRQ req;
	T_DIMSE_C_FindRSP rsp;
	DcmDataset q, *detail = NULL;
	int responses = 0;
	int rc = net_assoc_open(d, &pc, 1, &a, err);

	if (rc)
		return rc;
	q.putAndInsertString(DCM_QueryRetrieveLevel, level == NET_FIND_STUDY ? "STUDY" : "SERIES");
	q.putAndInsertString(DCM_StudyInstanceUID, study_uid);
	if (level == NET_FIND_SERIES)
		q.putAndInsertString(DCM_SeriesInstanceUID, series_uid ? series_uid : "");
	q.insertEmptyElement(f.key);
	memset(&req, 0, sizeof(req));
	memset(&rsp, 0, sizeof(rsp));
	req.MessageID = a->assoc->nextMsgID++;
	copy_str(req.AffectedSOPClassUID, sizeof(req.AffectedSOPClassUID), pc.sop_class_uid);
	req.DataSetType = DIMSE_DATASET_PRESENT;
	req.Priority = DIMSE_PRIORITY_MEDIUM;
	OFCondition c = DIMSE_findUser(a->assoc, 1, &req, &q, responses, find_callback, &f,
				       DIMSE_BLOCKING, a->timeout_s, &rsp, &detail);
	delete detail;
	if (c.bad()) {
		a->broken = true;
		rc = cond_err(err, -EIO, "C-FIND", c);
	} else if (rsp.DimseStatus != STATUS_Success) {
		rc = err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG, "C-FIND status 0x%04x",
			     rsp.DimseStatus);
	} else {
		*count = f.matches == 0 ? 0 : f.count;
	}
	net_assoc_close(a);
	return rc;
}
