/*
 * fiona serve [-c CONFIG]: the gateway daemon. Loads the configuration (or the embedded
 * default: AE FIONA on 127.0.0.1:11112, data under ./var), opens the store and runs the
 * C-STORE receiver with the configured allow-list; every received instance goes through
 * store_ingest (move) before Success is answered, and a thread runs the arrival tick
 * every second.
 *
 * Durability: store_ingest returns only after the object is fsynced under its final name
 * with its directory, and the catalog transaction committed with synchronous=FULL; a
 * store failure is returned to the SCP, which answers Out of Resources. Receiver
 * temporaries live in <data_dir>/tmp (same filesystem as objects: rename, no copy) and
 * are removed at start: they were never acknowledged.
 */
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "net/net.h"
#include "store/store.h"

struct serve_ctx {
	struct store *store;
	struct fiona_log *log;
	atomic_ulong received;
	atomic_bool stop;
};

static int serve_store(void *opaque, const char *tmp_path, const struct net_peer *peer)
{
	struct serve_ctx *ctx = opaque;
	struct store_origin o = { peer ? peer->calling_aet : NULL, peer ? peer->called_aet : NULL,
				  peer ? peer->host : NULL };
	struct store_ingest_result r;
	struct fiona_err err = { 0 };
	char msg[512];
	int rc = store_ingest(ctx->store, tmp_path, &o, true, &r, &err);
	if (rc) {
		unlink(tmp_path); /* ours now; not acknowledged */
		log_msg(ctx->log, LOG_ERROR, "serve", "%s",
			err_format(&err, "received instance", msg, sizeof(msg)));
		return rc;
	}
	atomic_fetch_add(&ctx->received, 1);
	return 0;
}

static void *serve_arrival(void *opaque)
{
	struct serve_ctx *ctx = opaque;
	while (!atomic_load(&ctx->stop)) {
		int n = store_arrival_tick(ctx->store, time(NULL));
		if (n > 0)
			log_msg(ctx->log, LOG_INFO, "arrival", "%d studies complete", n);
		else if (n < 0)
			log_msg(ctx->log, LOG_ERROR, "arrival", "tick failed: %s", strerror(-n));
		sleep(1);
	}
	return NULL;
}

/* Removes receiver temporaries a killed daemon left behind. */
static void serve_clean_tmp(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "find '%s' -maxdepth 1 -name '.rx-*' -type f -delete", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fiona serve: could not clean %s\n", dir);
}

/* Loads -c CONFIG or the default configuration. Returns a new configuration. */
int cmd_config_load(int argc, char **argv, struct fiona_config **out)
{
	struct fiona_err err = { 0 };
	const char *path = argc >= 3 && strcmp(argv[1], "-c") == 0 ? argv[2] : NULL;
	int rc = path ? config_load(path, out, &err)
		      : config_parse(config_default_json(), strlen(config_default_json()), out,
				     &err);
	if (rc)
		fprintf(stderr, "fiona: %s: %s\n", path ? path : "default configuration",
			err.reason);
	return rc;
}

static int serve_run(struct fiona_config *c, struct fiona_log *log)
{
	struct serve_ctx ctx = { .log = log };
	struct fiona_err err = { 0 };
	struct net_scp *scp = NULL;
	struct net_caller *allowed = calloc(c->n_allowed_callers + 1, sizeof(*allowed));
	char tmp[4000];
	pthread_t th;
	sigset_t set;
	int sig, rc = 1;
	snprintf(tmp, sizeof(tmp), "%s/tmp", c->data_dir);
	if (!allowed || store_open(c, log, &ctx.store, &err) || core_mkdir_p(tmp, 0700)) {
		fprintf(stderr, "fiona serve: %s\n", allowed ? err.reason : "out of memory");
		goto fail;
	}
	serve_clean_tmp(tmp);
	for (size_t i = 0; i < c->n_allowed_callers; i++)
		allowed[i] = (struct net_caller){ c->allowed_callers[i].aet,
						  c->allowed_callers[i].host };
	struct net_scp_config nc = { c->aet, c->bind, c->port, allowed, c->n_allowed_callers,
				     tmp, 8, 60 };
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* association threads inherit the mask */
	if (pthread_create(&th, NULL, serve_arrival, &ctx))
		goto fail;
	if (net_scp_start(&nc, serve_store, &ctx, log, &scp, &err)) {
		fprintf(stderr, "fiona serve: %s\n", err.reason);
	} else {
		log_msg(log, LOG_INFO, "serve", "C-STORE SCP %s on %s:%d, data in %s", nc.aet,
			nc.bind, nc.port, c->data_dir);
		sigwait(&set, &sig);
		net_scp_stop(scp);
		rc = 0;
	}
	atomic_store(&ctx.stop, true);
	pthread_join(th, NULL);
	log_msg(log, LOG_INFO, "serve", "stopped after %lu instances",
		atomic_load(&ctx.received));
fail:
	store_close(ctx.store);
	free(allowed);
	return rc;
}

int cmd_serve(int argc, char **argv)
{
	struct fiona_config *c = NULL;
	struct fiona_log log;
	if (!(argc == 1 || (argc == 3 && strcmp(argv[1], "-c") == 0))) {
		fprintf(stderr, "usage: fiona serve [-c CONFIG]\n");
		return 2;
	}
	if (cmd_config_load(argc, argv, &c))
		return 1;
	log_init(&log, stderr, LOG_INFO);
	int rc = serve_run(c, &log);
	log_release(&log);
	config_free(c);
	return rc;
}
