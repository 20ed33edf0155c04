/*
 * gen_scale: many small MR instances for the scale tests and `make bench-scale`, made in
 * memory with anon's writer (64x64, 16 bit, 200 per study by default: what a department's
 * routine series look like to a catalog).
 *
 *   gen_scale files -o DIR [--first K] [--studies N] [--per-study M] [--seed S] [--pid-prefix X]
 *   gen_scale send [-j A] [--first K] [--studies N] ... HOST PORT AET
 *
 * `files` writes DIR/sNNNNNNN/NNNN.dcm; `send` sends them over A associations (C-STORE,
 * net_send_batch) without touching the disk, so a million instances cost no source files,
 * and prints "sent N failed F seconds T rate R/s". Study k (counting from --first) belongs
 * to patient SCALE-<k mod 100000> with PatientID PROJ01-<k mod 10000> (what routing rules
 * of project PROJ01 match; --pid-prefix X makes it X-<k mod 10000>), accession A<k>. The same seed
 * and numbers give the same bytes. Calling AE: GEN_SCALE, unless $NET_PROBE_AET is set.
 */
#include "core/core.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anon/anon.h"
#include "net/net.h"

#define SIDE	  64
#define MR_CLASS  "1.2.840.10008.5.1.4.1.1.4"
#define EXPLICITL "1.2.840.10008.1.2.1"
#define BATCH	  2000

struct scale {
	long first, studies, per_study, seed;
	const char *pid_prefix; /* PatientID is <prefix>-<k mod 10000> */
};

static int put_us(struct buf *b, uint32_t tag, uint16_t v)
{
	uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	return dcm_write_elem(b, tag, DCM_VR('U', 'S'), le, 2);
}

/* Instance i (0-based, over the whole run) into b. */
static int make_instance(const struct scale *sc, long i, struct buf *b)
{
	long study = sc->first + i / sc->per_study, k = i % sc->per_study;
	char sop[96], st_uid[64], se_uid[80], pid[32], name[48], acc[32], num[24];
	struct dcm_meta m = {MR_CLASS, sop, EXPLICITL};
	uint16_t px[SIDE * SIDE];
	int rc;

	snprintf(st_uid, sizeof(st_uid), "1.3.6.1.4.1.99999.%ld.%ld", sc->seed, study);
	snprintf(se_uid, sizeof(se_uid), "%s.1", st_uid);
	snprintf(sop, sizeof(sop), "%s.1.%ld", st_uid, k + 1);
	snprintf(pid, sizeof(pid), "%.16s-%04ld", sc->pid_prefix, study % 10000);
	snprintf(name, sizeof(name), "SCALE^PATIENT%ld", study % 100000);
	snprintf(acc, sizeof(acc), "A%ld", study);
	for (size_t p = 0; p < CORE_ARRAY_SIZE(px); p++) /* a gradient that differs per slice */
		px[p] = (uint16_t)((p % SIDE + p / SIDE + (size_t)k * 7 + (size_t)study) & 0x0FFF);
	b->len = 0;
	rc = dcm_write_part10_header(b, &m);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), MR_CLASS);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), sop);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0020), DCM_VR('D', 'A'), "20260301");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0030), DCM_VR('T', 'M'), "101500");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0050), DCM_VR('S', 'H'), acc);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'), "T1 AX");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), name);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), pid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0030), DCM_VR('D', 'A'), "19700101");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000D), DCM_VR('U', 'I'), st_uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000E), DCM_VR('U', 'I'), se_uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x0011), DCM_VR('I', 'S'), "1");
	snprintf(num, sizeof(num), "%ld", k + 1);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x0013), DCM_VR('I', 'S'), num);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0002), 1);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x0004), DCM_VR('C', 'S'), "MONOCHROME2");
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0010), SIDE);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0011), SIDE);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0100), 16);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0101), 12);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0102), 11);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0103), 0);
	return rc ? rc : dcm_write_elem(b, DCM_TAG_PIXEL_DATA, DCM_VR('O', 'W'), px, sizeof(px));
}

static int write_files(const struct scale *sc, const char *dir)
{
	long n = sc->studies * sc->per_study;
	struct buf b;
	int rc = 0;

	buf_init(&b, 1u << 20);
	for (long i = 0; !rc && i < n; i++) {
		char sub[4200], path[4300];

		snprintf(sub, sizeof(sub), "%s/s%07ld", dir, sc->first + i / sc->per_study);
		if (i % sc->per_study == 0 && (rc = core_mkdir_p(sub, 0755)))
			break;
		snprintf(path, sizeof(path), "%s/%04ld.dcm", sub, i % sc->per_study + 1);
		rc = make_instance(sc, i, &b);
		rc = rc ? rc : core_write_file_atomic(path, b.data, b.len, 0644);
	}
	buf_release(&b);
	if (rc)
		fprintf(stderr, "gen_scale: %s: %s\n", dir, strerror(-rc));
	return rc ? 1 : 0;
}

/* ---- send: the bytes are made by the sender's worker threads, on demand ---------- */
struct sender {
	const struct scale *sc;
	long base;
	atomic_long sent, failed;
};

static int src_get(void *ctx, size_t i, const uint8_t **p, size_t *n, struct fiona_err *err)
{
	struct sender *s = ctx;
	struct buf *b = malloc(sizeof(*b));
	int rc;

	if (!b)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	buf_init(b, 1u << 20);
	if ((rc = make_instance(s->sc, s->base + (long)i, b))) {
		buf_release(b);
		free(b);
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "cannot make instance");
	}
	*n = b->len;
	*p = buf_detach(b, NULL);
	free(b);
	return 0;
}

static void src_put(void *ctx, size_t i, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)i;
	(void)n;
	free((void *)p);
}

static void src_done(void *ctx, size_t i, int rc, uint16_t status, const struct fiona_err *err)
{
	struct sender *s = ctx;

	(void)i;
	(void)err;
	if (rc == 0 && net_status_ok(status))
		atomic_fetch_add(&s->sent, 1);
	else
		atomic_fetch_add(&s->failed, 1);
}

static int send_all(const struct scale *sc, const char *host, int port, const char *aet, int jobs)
{
	const char *calling = getenv("NET_PROBE_AET") ? getenv("NET_PROBE_AET") : "GEN_SCALE";
	struct net_dest d = {
		.aet = aet, .host = host, .port = port, .calling_aet = calling, .timeout_s = 60};
	struct net_send_item *items = calloc(BATCH, sizeof(*items));
	struct sender s = {.sc = sc};
	struct net_send_source src = {src_get, src_put, src_done, &s};
	long n = sc->studies * sc->per_study;
	double t0 = core_now_mono(), dt;
	int rc = 0;

	if (!items)
		return 1;
	for (size_t i = 0; i < BATCH; i++)
		items[i] = (struct net_send_item){MR_CLASS, EXPLICITL};
	for (s.base = 0; s.base < n && !rc; s.base += BATCH) {
		struct net_send_stats st;
		struct fiona_err err = {0};
		size_t k = (size_t)(n - s.base < BATCH ? n - s.base : BATCH);

		rc = net_send_batch(&d, items, k, &src, jobs, 3, &st, &err);
		if (rc)
			fprintf(stderr, "gen_scale: %s\n", err.reason);
	}
	dt = core_now_mono() - t0;
	printf("sent %ld failed %ld seconds %.3f rate %.1f/s\n", atomic_load(&s.sent),
	       atomic_load(&s.failed), dt, dt > 0 ? (double)atomic_load(&s.sent) / dt : 0.0);
	free(items);
	return rc || atomic_load(&s.failed) ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: gen_scale files -o DIR [--first K] [--studies N] [--per-study M]"
			" [--seed S] [--pid-prefix X]\n"
			"       gen_scale send [-j A] [--first K] [--studies N] [--per-study M]"
			" [--seed S] [--pid-prefix X] HOST PORT AET\n");
	return 2;
}

static int num(const char *s, long min, long max, long *out)
{
	return core_parse_long(s, min, max, out);
}

int main(int argc, char **argv)
{
	struct scale sc = {0, 1, 200, 1, "PROJ01"};
	const char *out = NULL, *pos[3];
	long jobs = 1, port = 0;
	int npos = 0;

	if (argc < 2 || (strcmp(argv[1], "files") && strcmp(argv[1], "send")))
		return usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(a, "-o") && v)
			out = argv[++i];
		else if (!strcmp(a, "-j") && v)
			bad = num(argv[++i], 1, 32, &jobs);
		else if (!strcmp(a, "--first") && v)
			bad = num(argv[++i], 0, 1L << 40, &sc.first);
		else if (!strcmp(a, "--studies") && v)
			bad = num(argv[++i], 1, 1L << 30, &sc.studies);
		else if (!strcmp(a, "--per-study") && v)
			bad = num(argv[++i], 1, 9999, &sc.per_study);
		else if (!strcmp(a, "--seed") && v)
			bad = num(argv[++i], 0, 1L << 40, &sc.seed);
		else if (!strcmp(a, "--pid-prefix") && v)
			sc.pid_prefix = argv[++i];
		else if (a[0] != '-' && npos < 3)
			pos[npos++] = a;
		else
			return usage();
		if (bad)
			return usage();
	}
	if (!strcmp(argv[1], "files"))
		return out && !npos ? write_files(&sc, out) : usage();
	if (npos != 3 || num(pos[1], 1, 65535, &port))
		return usage();
	return send_all(&sc, pos[0], (int)port, pos[2], (int)jobs);
}
