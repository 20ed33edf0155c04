/*
 * fiona serve: the gateway daemon. Today it runs the C-STORE receiver on the embedded
 * default configuration (AE FIONA on 127.0.0.1:11112, data under ./var) and keeps every
 * received instance durably under var/incoming/ named by its content hash; the catalog,
 * arrival, mount and queues of issues 4-6 attach here.
 *
 * Durability: success is answered only after the instance's bytes are fsynced, renamed
 * into place and the directory entry is fsynced, so an instance storescu was told is
 * stored survives kill -9 and power loss. The same bytes sent twice are stored once.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <xxhash.h>

#include "cmd/cmd.h"
#include "net/net.h"

struct serve_ctx {
	char incoming[4096];
	struct fiona_log *log;
	atomic_ulong received;
};

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Content hash of a received file: the name it is kept under. */
static int serve_hash_name(const char *path, char out[33])
{
	struct core_map m;
	int rc = core_map_file(path, &m);
	XXH128_hash_t h;

	if (rc)
		return rc;
	h = XXH3_128bits(m.p, m.len);
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
	core_map_release(&m);
	return 0;
}

static int serve_store(void *opaque, const char *tmp_path, const struct net_peer *peer)
{
	struct serve_ctx *ctx = opaque;
	char name[33], path[4200];
	int rc;

	(void)peer;
	rc = fsync_path(tmp_path, O_RDONLY);
	if (!rc)
		rc = serve_hash_name(tmp_path, name);
	if (rc)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s.dcm", ctx->incoming, name);
	if (rename(tmp_path, path) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = fsync_path(ctx->incoming, O_RDONLY | O_DIRECTORY);
	if (rc)
		goto fail_logged;
	atomic_fetch_add(&ctx->received, 1);
	return 0;
fail:
	unlink(tmp_path);
fail_logged:
	log_msg(ctx->log, LOG_ERROR, "serve", "cannot keep a received instance: %s", strerror(-rc));
	return rc;
}

/* Removes temporaries a killed daemon left behind: they were never acknowledged. */
static void serve_clean_tmp(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "find '%s' -maxdepth 1 -name '.rx-*' -type f -delete", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fiona serve: could not clean %s\n", dir);
}

int cmd_serve(int argc, char **argv)
{
	struct net_scp_config cfg = {"FIONA", "127.0.0.1", 11112, NULL, 0, "var/tmp", 8, 60};
	struct serve_ctx ctx = {.log = NULL};
	struct fiona_log log;
	struct fiona_err err = {0};
	struct net_scp *scp = NULL;
	sigset_t set;
	int sig;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: fiona serve   (embedded default configuration; "
				"configuration files come with the catalog)\n");
		return 2;
	}
	log_init(&log, stderr, LOG_INFO);
	ctx.log = &log;
	snprintf(ctx.incoming, sizeof(ctx.incoming), "var/incoming");
	if (core_mkdir_p("var/tmp", 0700) || core_mkdir_p(ctx.incoming, 0700)) {
		fprintf(stderr, "fiona serve: cannot create var/tmp and var/incoming: %s\n",
			strerror(errno));
		return 1;
	}
	serve_clean_tmp("var/tmp");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* association threads inherit the mask */
	if (net_scp_start(&cfg, serve_store, &ctx, &log, &scp, &err)) {
		fprintf(stderr, "fiona serve: %s\n", err.reason);
		return 1;
	}
	log_msg(&log, LOG_INFO, "serve", "C-STORE SCP %s on %s:%d, instances kept in %s", cfg.aet,
		cfg.bind, cfg.port, ctx.incoming);
	sigwait(&set, &sig);
	net_scp_stop(scp);
	log_msg(&log, LOG_INFO, "serve", "stopped after %lu instances", atomic_load(&ctx.received));
	return 0;
}
