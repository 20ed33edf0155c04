/*
 * fiona serve [-c CONFIG]: the gateway daemon. It opens the store, runs the C-STORE
 * receiver on the configured AE title, address and port (allow-list of callers), runs
 * arrival (quiet studies are completed, coupled or routed) once a second, forwards
 * assigned studies to their research PACS (store/forward.c), and mounts the tree (fs/).
 *
 * Durability: an instance is answered with success only after store_ingest() returned,
 * i.e. after its bytes are fsynced and renamed into the object store and its catalog
 * transaction committed. A refused instance (not DICOM, disk full, catalog failure) gets
 * a failure status and its temporary is removed.
 */
#include "core/core.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "fs/fs.h" /* fs_mount_start */
#include "redcap/redcap.h"
#include "net/net.h"

struct serve_ctx {
	struct cmd_env env;
	atomic_ulong received, refused;
	atomic_bool stopping;
};

static int serve_store(void *opaque, const char *tmp_path, const struct net_peer *peer)
{
	struct serve_ctx *ctx = opaque;
	struct store_origin o = {peer->calling_aet, peer->called_aet, peer->host};
	struct store_ingest_result res;
	struct fiona_err err = {0};
	char line[512];
	int rc = store_ingest(ctx->env.store, tmp_path, &o, true, &res, &err);

	if (rc) {
		unlink(tmp_path);
		err_format(&err, "received instance", line, sizeof(line));
		log_msg(&ctx->env.log, LOG_ERROR, "serve", "refused from %s: %s", peer->calling_aet,
			line);
		atomic_fetch_add(&ctx->refused, 1);
		return rc == -EINVAL || rc == -EPROTO ? -EINVAL : rc;
	}
	atomic_fetch_add(&ctx->received, 1);
	return 0;
}

/* The daemon C-ECHOs its own port; the time of the last answer goes to
 * <data_dir>/heartbeat for `fiona status`, a failure to the log. */
static void heartbeat(struct serve_ctx *ctx)
{
	const struct fiona_config *c = ctx->env.cfg;
	struct fiona_err err = {0};
	char path[4200], when[32];

	if (net_echo(c->aet, c->aet, c->bind, c->port, 10, &err)) {
		log_msg(&ctx->env.log, LOG_ERROR, "heartbeat", "own C-ECHO failed: %s", err.reason);
		return;
	}
	snprintf(path, sizeof(path), "%s/heartbeat", c->data_dir);
	core_time_iso(time(NULL), when, sizeof(when));
	if (core_write_file_atomic(path, when, strlen(when), 0644))
		log_msg(&ctx->env.log, LOG_ERROR, "heartbeat", "cannot write %s", path);
}

/* Once a second: arrival, and housekeeping when the disk is above its watermark;
 * every 30 s the heartbeat. */
static void *arrival_main(void *arg)
{
	struct serve_ctx *ctx = arg;

	int last_err = 0;

	for (unsigned tick = 0; !atomic_load(&ctx->stopping); tick++) {
		int n = store_arrival_tick(ctx->env.store, time(NULL));

		if (n > 0)
			log_msg(&ctx->env.log, LOG_INFO, "arrival", "%d studies arrived", n);
		/* a catalog that is down fails every tick: said when it starts, once a minute
		 * while it lasts, and when it ends */
		if (n < 0 && (n != last_err || tick % 60 == 0))
			log_msg(&ctx->env.log, LOG_ERROR, "arrival", "tick failed: %s",
				strerror(-n));
		else if (n >= 0 && last_err)
			log_msg(&ctx->env.log, LOG_INFO, "arrival", "ticks work again");
		last_err = n < 0 ? n : 0;
		if ((n = store_housekeeping(ctx->env.store, time(NULL))) < 0 && tick % 60 == 0)
			log_msg(&ctx->env.log, LOG_ERROR, "housekeeping", "failed: %s",
				strerror(-n));
		if (tick % 30 == 1)
			heartbeat(ctx);
		sleep(1);
	}
	return NULL;
}

/* The site secret the mount and the forwarder key pseudonyms with; created (0600) on the
 * first start so `make run` needs no setup. */
static int ensure_secret(struct serve_ctx *ctx)
{
	const char *path = ctx->env.cfg->secret_file;
	uint8_t key[32];
	FILE *f;

	if (!path || access(path, F_OK) == 0)
		return 0;
	f = fopen("/dev/urandom", "rb");
	if (!f || fread(key, 1, sizeof(key), f) != sizeof(key)) {
		if (f)
			fclose(f);
		return -EIO;
	}
	fclose(f);
	log_msg(&ctx->env.log, LOG_INFO, "serve", "created a new site secret in %s", path);
	return core_write_file_atomic(path, key, sizeof(key), 0600);
}

static int serve_start_scp(struct serve_ctx *ctx, struct net_scp **scp)
{
	const struct fiona_config *c = ctx->env.cfg;
	struct net_caller *allowed = calloc(c->n_allowed_callers + 1, sizeof(*allowed));
	struct net_scp_config cfg = {c->aet,
				     c->bind,
				     c->port,
				     allowed,
				     c->n_allowed_callers,
				     store_tmp_dir(ctx->env.store),
				     8,
				     60};
	struct fiona_err err = {0};
	int rc;

	const char *aliases[64];

	if (!allowed)
		return -ENOMEM;
	/* studies addressed to a project's AutoID title are received too; with REDCap, its
	 * Routing and DataTransferProjects name AE titles at run time */
	for (size_t i = 0; i < c->n_projects && cfg.n_aliases < 64; i++)
		if (c->projects[i].autoid)
			aliases[cfg.n_aliases++] = c->projects[i].autoid->aet;
	cfg.aliases = aliases;
	cfg.any_called = c->redcap != NULL;
	for (size_t i = 0; i < c->n_allowed_callers; i++)
		allowed[i] =
			(struct net_caller){c->allowed_callers[i].aet, c->allowed_callers[i].host};
	if (c->n_allowed_callers) /* the heartbeat calls in as the gateway itself */
		allowed[cfg.n_allowed++] = (struct net_caller){c->aet, c->bind};
	rc = net_scp_start(&cfg, serve_store, ctx, &ctx->env.log, scp, &err);
	free(allowed); /* net_scp_start copies the list */
	if (rc)
		fprintf(stderr, "fiona serve: %s\n", err.reason);
	else
		log_msg(&ctx->env.log, LOG_INFO, "serve", "C-STORE SCP %s on %s:%d", c->aet,
			c->bind, c->port);
	return rc;
}

static void share_secret(struct serve_ctx *ctx)
{
	struct deid_secret secret;
	struct fiona_err err = {0};

	if (deid_secret_load(ctx->env.cfg->secret_file, &secret, &err) == 0)
		store_set_secret(ctx->env.store, &secret);
	explicit_bzero(&secret, sizeof(secret));
}

/* Forwarding, AutoID and REDCap need the site secret; without it studies queue up and
 * wait. A REDCap that cannot be started (a token file readable by others) is logged and
 * left out: arrival and forwarding never depend on it. */
static void start_forwarder(struct serve_ctx *ctx, struct store_forwarder **fwd,
			    struct redcap_sync **rc)
{
	struct deid_secret secret;
	struct fiona_err err = {0};

	if (deid_secret_load(ctx->env.cfg->secret_file, &secret, &err) ||
	    store_forwarder_start(ctx->env.store, ctx->env.cfg, &secret, &ctx->env.log, fwd)) {
		log_msg(&ctx->env.log, LOG_ERROR, "serve", "no forwarding: %s",
			err.reason[0] ? err.reason : "cannot start the forwarder");
		explicit_bzero(&secret, sizeof(secret));
		return;
	}
	if (ctx->env.cfg->redcap &&
	    redcap_sync_start(ctx->env.store, ctx->env.cfg, &secret, &ctx->env.log, rc, &err))
		log_msg(&ctx->env.log, LOG_ERROR, "serve", "no REDCap sync: %s",
			err.reason[0] ? err.reason : "cannot start it");
	explicit_bzero(&secret, sizeof(secret));
}

/* Analysis jobs read tens of thousands of files through the mount while the receiver
 * holds associations open: the descriptor limit goes up to the hard limit the system
 * allows (the soft default of 1024 is a shell habit, not a need). */
static void raise_fd_limit(struct fiona_log *log)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_msg(log, LOG_WARN, "serve", "cannot raise the descriptor limit: %s",
			strerror(errno));
}

int cmd_serve(int argc, char **argv)
{
	struct serve_ctx ctx = {0};
	struct net_scp *scp = NULL;
	struct fs_mount *mnt = NULL;
	struct store_forwarder *fwd = NULL;
	struct redcap_sync *rcs = NULL;
	struct store_cleaner *cleaner = NULL;
	struct classify_rules *rules = NULL;
	struct fiona_err err = {0};
	const char *config = NULL;
	pthread_t arrival;
	sigset_t set;
	int sig, c, status = 1;

	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c') {
			fprintf(stderr, "usage: fiona serve [-c CONFIG]\n");
			return 2;
		}
		config = optarg;
	}
	if (cmd_store_open(config, &ctx.env))
		return 1;
	raise_fd_limit(&ctx.env.log);
	if (store_classify_rules_load(ctx.env.cfg, &rules, &err))
		log_msg(&ctx.env.log, LOG_ERROR, "serve",
			"classification rules: %s (series stay unlabelled)", err.reason);
	store_set_classify_rules(ctx.env.store, rules);
	if (ensure_secret(&ctx))
		fprintf(stderr, "fiona serve: cannot create %s\n", ctx.env.cfg->secret_file);
	else
		share_secret(&ctx); /* before arrival starts: AutoID keys PatientIDs with it */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits the mask */
	if (serve_start_scp(&ctx, &scp))
		goto out;
	if (pthread_create(&arrival, NULL, arrival_main, &ctx))
		goto out_scp;
	if (store_cleaner_start(ctx.env.store, &ctx.env.log, &cleaner, &err))
		log_msg(&ctx.env.log, LOG_ERROR, "serve",
			"burned-in text cleaning: %s (candidates wait)", err.reason);
	start_forwarder(&ctx, &fwd, &rcs);
	if (fs_mount_start(ctx.env.cfg, ctx.env.store, &ctx.env.log, &mnt))
		log_msg(&ctx.env.log, LOG_WARN, "serve", "running without the mount");
	sigwait(&set, &sig);
	status = 0;
	fs_mount_stop(mnt);
	redcap_sync_stop(rcs);
	store_forwarder_stop(fwd);
	store_cleaner_stop(cleaner);
	atomic_store(&ctx.stopping, true);
	pthread_join(arrival, NULL);
out_scp:
	net_scp_stop(scp);
	log_msg(&ctx.env.log, LOG_INFO, "serve", "stopped after %lu instances (%lu refused)",
		atomic_load(&ctx.received), atomic_load(&ctx.refused));
out:
	store_set_classify_rules(ctx.env.store, NULL);
	cmd_store_close(&ctx.env);
	classify_rules_free(rules);
	return status;
}
