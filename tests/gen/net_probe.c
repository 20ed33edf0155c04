/*
 * net_probe: a small test CLI over net/net.h, used by the e2e tests.
 *   net_probe scp PORT DIR [AET [ALLOW_AET]]   receive into DIR until SIGTERM/SIGINT
 *   net_probe echo HOST PORT AET
 *   net_probe send [-j N] HOST PORT AET FILE... one association (or N through
 *                                              net_send_batch), contexts from the files
 *   net_probe find HOST PORT AET study STUDY_UID | series STUDY_UID SERIES_UID
 * The calling AE title is NET_PROBE unless $NET_PROBE_AET is set. scp stores the k-th
 * received instance as DIR/k.dcm; with $NET_PROBE_FAIL set it answers every C-STORE with
 * Out of Resources instead (as if the disk were full). Exit status 0 on success.
 */
#include "core/core.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "net/net.h"

struct probe_rx {
	const char *dir;
	atomic_ulong n;
	bool fail; /* $NET_PROBE_FAIL set */
};

static int probe_store(void *ctx, const char *tmp_path, const struct net_peer *peer)
{
	struct probe_rx *rx = ctx;
	char path[4096];

	(void)peer;
	if (rx->fail) { /* simulate a full disk: the sender must get a failure status */
		unlink(tmp_path);
		return -ENOSPC;
	}
	snprintf(path, sizeof(path), "%s/%lu.dcm", rx->dir, atomic_fetch_add(&rx->n, 1));
	if (rename(tmp_path, path) != 0) {
		int rc = -errno;
		unlink(tmp_path);
		return rc;
	}
	return 0;
}

static int probe_port(const char *s)
{
	long v;

	if (core_parse_long(s, 1, 65535, &v)) {
		fprintf(stderr, "net_probe: bad port\n");
		exit(2);
	}
	return (int)v;
}

static int probe_fail(const struct fiona_err *err, const char *what)
{
	char msg[512];

	fprintf(stderr, "net_probe: %s\n", err_format(err, what, msg, sizeof(msg)));
	return 1;
}

static int cmd_scp(int argc, char **argv)
{
	struct net_caller allow = {argc > 3 ? argv[3] : NULL, NULL};
	struct net_scp_config cfg = {argc > 2 ? argv[2] : "NET_PROBE",
				     NULL,
				     probe_port(argv[0]),
				     &allow,
				     argc > 3 ? 1 : 0,
				     argv[1],
				     4,
				     30};
	struct probe_rx rx = {argv[1], 0, getenv("NET_PROBE_FAIL") != NULL};
	struct fiona_err err;
	struct net_scp *scp;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit the mask */
	if (net_scp_start(&cfg, probe_store, &rx, NULL, &scp, &err))
		return probe_fail(&err, "scp");
	printf("listening\n");
	fflush(stdout);
	sigwait(&set, &sig);
	net_scp_stop(scp);
	return 0;
}

static const char *probe_aet(void)
{
	const char *s = getenv("NET_PROBE_AET");
	return s && *s ? s : "NET_PROBE";
}

struct probe_batch {
	struct core_map *maps;
	char **names;
	atomic_int bad;
};

static int batch_get(void *ctx, size_t i, const uint8_t **p, size_t *n, struct fiona_err *err)
{
	struct probe_batch *pb = ctx;

	(void)err;
	*p = pb->maps[i].p;
	*n = pb->maps[i].len;
	return 0;
}

static void batch_done(void *ctx, size_t i, int rc, uint16_t status, const struct fiona_err *err)
{
	struct probe_batch *pb = ctx;

	if (rc)
		probe_fail(err, pb->names[i]);
	else if (!net_status_ok(status))
		fprintf(stderr, "net_probe: %s: status 0x%04x\n", pb->names[i], status);
	if (rc || !net_status_ok(status))
		atomic_fetch_add(&pb->bad, 1);
}

/* send -j N: the files through net_send_batch over N associations. */
static int send_parallel(const struct net_dest *d, int jobs, struct core_map *maps, char **names,
			 struct net_pc *pcs, int nf)
{
	struct net_send_item *items = calloc((size_t)nf, sizeof(*items));
	struct probe_batch pb = {maps, names, 0};
	struct net_send_source src = {batch_get, NULL, batch_done, &pb};
	struct net_send_stats st;
	struct fiona_err err;
	int rc;

	if (!items)
		return 1;
	for (int i = 0; i < nf; i++) {
		items[i].sop_class_uid = pcs[i].sop_class_uid;
		items[i].ts_uid = pcs[i].ts_uid;
	}
	err_clear(&err);
	rc = net_send_batch(d, items, (size_t)nf, &src, jobs, 2, &st, &err);
	free(items);
	if (rc)
		return probe_fail(&err, "batch");
	printf("sent %zu failed %zu associations %zu\n", st.sent, st.failed, st.assocs);
	return atomic_load(&pb.bad) ? 1 : 0;
}

static int cmd_send(int argc, char **argv, int jobs)
{
	struct net_dest d = {argv[2], argv[0], probe_port(argv[1]), probe_aet(), 30};
	int nf = argc - 3, rc = 0;
	struct core_map *maps = calloc((size_t)nf, sizeof(*maps));
	struct net_pc *pcs = calloc((size_t)nf, sizeof(*pcs)), *uniq = calloc(128, sizeof(*uniq));
	char(*uids)[2][65] = calloc((size_t)nf, sizeof(*uids));
	struct net_assoc *a = NULL;
	struct fiona_err err;
	int nu;

	if (!maps || !pcs || !uniq || !uids)
		return 1;
	for (int i = 0; i < nf; i++) {
		size_t off;

		if (core_map_file(argv[3 + i], &maps[i]) ||
		    net_part10_scan(maps[i].p, maps[i].len, &off, uids[i][0], uids[i][1], 65)) {
			fprintf(stderr, "net_probe: %s: not a Part-10 file\n", argv[3 + i]);
			return 1;
		}
		pcs[i].sop_class_uid = uids[i][0];
		pcs[i].ts_uid = uids[i][1];
	}
	if (jobs > 0) {
		rc = send_parallel(&d, jobs, maps, argv + 3, pcs, nf);
		goto out;
	}
	nu = net_pc_unique(pcs, (size_t)nf, uniq, 128);
	if (nu < 0 || net_assoc_open(&d, uniq, (size_t)nu, &a, &err))
		return probe_fail(&err, "open");
	for (int i = 0; i < nf && rc == 0; i++) {
		uint16_t st = 0;
		if (net_assoc_store(a, maps[i].p, maps[i].len, &st, &err)) {
			rc = probe_fail(&err, argv[3 + i]);
		} else if (!net_status_ok(st)) {
			fprintf(stderr, "net_probe: %s: status 0x%04x\n", argv[3 + i], st);
			rc = 1;
		}
	}
	net_assoc_close(a);
out:
	for (int i = 0; i < nf; i++)
		core_map_release(&maps[i]);
	free(maps);
	free(pcs);
	free(uniq);
	free(uids);
	return rc;
}

static int cmd_find(int argc, char **argv)
{
	struct net_dest d = {argv[2], argv[0], probe_port(argv[1]), probe_aet(), 30};
	bool series = !strcmp(argv[3], "series");
	struct fiona_err err;
	long count;

	if (series && argc < 6)
		return 2;
	if (net_find_count(&d, series ? NET_FIND_SERIES : NET_FIND_STUDY, argv[4],
			   series ? argv[5] : NULL, &count, &err))
		return probe_fail(&err, "find");
	printf("%ld\n", count);
	return 0;
}

int main(int argc, char **argv)
{
	struct fiona_err err;

	if (argc >= 4 && !strcmp(argv[1], "scp"))
		return cmd_scp(argc - 2, argv + 2);
	if (argc == 5 && !strcmp(argv[1], "echo")) {
		if (net_echo(probe_aet(), argv[4], argv[2], probe_port(argv[3]), 10, &err))
			return probe_fail(&err, "echo");
		return 0;
	}
	if (argc >= 8 && !strcmp(argv[1], "send") && !strcmp(argv[2], "-j")) {
		long j;
		if (core_parse_long(argv[3], 1, 32, &j))
			return 2;
		return cmd_send(argc - 4, argv + 4, (int)j);
	}
	if (argc >= 6 && !strcmp(argv[1], "send"))
		return cmd_send(argc - 2, argv + 2, 0);
	if (argc >= 7 && !strcmp(argv[1], "find"))
		return cmd_find(argc - 2, argv + 2);
	fprintf(stderr,
		"usage: net_probe scp PORT DIR [AET [ALLOW_AET]] | echo HOST PORT AET |\n"
		"       send [-j N] HOST PORT AET FILE... | find HOST PORT AET study UID |\n"
		"       find HOST PORT AET series STUDY_UID SERIES_UID\n");
	return 2;
}
