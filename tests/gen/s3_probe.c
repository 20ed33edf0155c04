/*
 * s3_probe: drives store/s3 (the private S3 client) from the scale-out tests.
 *   s3_probe ENDPOINT BUCKET KEYFILE put KEY FILE [--no-head]  prints created|head-seen|existed
 *   s3_probe ... head KEY                 prints the size, or "absent" (exit 3)
 *   s3_probe ... get KEY OFF LEN OUT      writes the bytes read to OUT, prints their count
 *   s3_probe ... del KEY
 *   s3_probe ... list PREFIX PAGE_KEYS    prints "KEY SIZE" lines, then "requests N"
 *   s3_probe ... race KEY FILE N          N threads, each with its own client, put the same
 *                                         key at once without the HEAD; prints
 *                                         "created C existed E failed F"
 *   s3_probe ... timing PREFIX N          N PUTs of 512 KiB, then N ranged GETs of 4 KiB and
 *                                         of 64 KiB on one keep-alive handle: p50/p90 in ms
 * A failure prints "error: ENAME: reason (N ms)" on stdout and exits 1. $S3_RETRIES sets
 * max_retries (default the client's). Keys are never printed.
 */
#include "core/core.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_int.h"

static struct s3_config cfg;
static struct s3_creds creds;

static int fail(const struct fiona_err *err, double t0)
{
	const char *name = strerrorname_np(-err->code);

	printf("error: %s: %s (%.0f ms)\n", name ? name : "?", err->reason,
	       (core_now_mono() - t0) * 1000.0);
	return 1;
}

static int client(struct s3_client *c, struct fiona_err *err)
{
	return s3_client_init(c, &cfg, &creds, NULL, err);
}

static int cmd_put(struct s3_client *c, char **av, int ac, struct fiona_err *err)
{
	static const char *const names[] = {"created", "head-seen", "existed"};
	enum s3_put_result res;
	char *data = NULL;
	size_t len = 0;
	int rc = core_read_file(av[1], 512u << 20, &data, &len);

	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: cannot read", av[1]);
	rc = s3_put(c, av[0], data, len, ac > 2 && !strcmp(av[2], "--no-head") ? S3_PUT_NO_HEAD : 0,
		    &res, err);
	if (!rc)
		printf("%s\n", names[res]);
	free(data);
	return rc;
}

static int cmd_get(struct s3_client *c, char **av, struct fiona_err *err)
{
	long off, len;
	size_t got = 0;
	char *out;
	FILE *fp;
	int rc;

	if (core_parse_long(av[1], 0, LONG_MAX, &off) || core_parse_long(av[2], 1, 1L << 30, &len))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "bad OFF or LEN");
	if (!(out = malloc((size_t)len)))
		return -ENOMEM;
	rc = s3_get(c, av[0], (uint64_t)off, (size_t)len, out, &got, err);
	if (!rc && (!(fp = fopen(av[3], "wb")) || fwrite(out, 1, got, fp) != got || fclose(fp)))
		rc = err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG, "%s: cannot write", av[3]);
	if (!rc)
		printf("%zu\n", got);
	free(out);
	return rc;
}

static int print_key(void *arg, const char *key, uint64_t size)
{
	(void)arg;
	printf("%s %llu\n", key, (unsigned long long)size);
	return 0;
}

static int cmd_list(struct s3_client *c, char **av, struct fiona_err *err)
{
	long page;
	int rc;

	if (core_parse_long(av[1], 1, 1000, &page))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "bad PAGE_KEYS");
	rc = s3_list(c, av[0], (int)page, print_key, NULL, err);
	if (!rc)
		printf("requests %llu\n", (unsigned long long)c->stats.requests);
	return rc;
}

struct racer {
	pthread_t t;
	pthread_barrier_t *go;
	const char *key;
	const char *data;
	size_t len;
	enum s3_put_result res;
	struct fiona_err err;
	int rc;
};

static void *race_one(void *arg)
{
	struct racer *r = arg;
	struct s3_client c;

	r->rc = client(&c, &r->err);
	/* connect first, so that the PUTs leave together */
	if (!r->rc && s3_head(&c, r->key, &(uint64_t){0}, &r->err) == 0)
		r->rc = err_set(&r->err, -EEXIST, CORE_NO_OFFSET, CORE_NO_TAG, "key already there");
	pthread_barrier_wait(r->go);
	if (!r->rc)
		r->rc = s3_put(&c, r->key, r->data, r->len, S3_PUT_NO_HEAD, &r->res, &r->err);
	s3_client_release(&c);
	return NULL;
}

static int cmd_race(char **av, struct fiona_err *err)
{
	struct racer r[16];
	pthread_barrier_t go;
	char *data = NULL;
	size_t len = 0;
	long n;
	int created = 0, existed = 0, failed = 0;

	if (core_parse_long(av[2], 2, 16, &n))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "N: 2..16");
	if (core_read_file(av[1], 512u << 20, &data, &len))
		return err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG, "%s: cannot read", av[1]);
	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (long i = 0; i < n; i++) {
		r[i] = (struct racer){.go = &go, .key = av[0], .data = data, .len = len};
		pthread_create(&r[i].t, NULL, race_one, &r[i]);
	}
	for (long i = 0; i < n; i++) {
		pthread_join(r[i].t, NULL);
		if (r[i].rc)
			failed++, printf("racer %ld: %s\n", i, r[i].err.reason);
		else
			r[i].res == S3_PUT_CREATED ? created++ : existed++;
	}
	printf("created %d existed %d failed %d\n", created, existed, failed);
	pthread_barrier_destroy(&go);
	free(data);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *ms, long n)
{
	qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
	printf("%s p50 %.2f ms p90 %.2f ms (n=%ld)\n", what, ms[n / 2], ms[n * 9 / 10], n);
}

/* Latencies on one handle, keep-alive: informational, never a pass/fail criterion. */
static int cmd_timing(struct s3_client *c, char **av, struct fiona_err *err)
{
	static const size_t sizes[] = {4096, 65536};
	size_t len = 512u << 10, got;
	char key[256], *data = malloc(len), *out = malloc(65536);
	double ms[200];
	long n;
	int rc = 0;

	if (!data || !out || core_parse_long(av[1], 1, 200, &n)) {
		free(data), free(out);
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "N: 1..200");
	}
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 7 + 3);
	for (long i = 0; !rc && i < n; i++) {
		double t = core_now_mono();

		snprintf(key, sizeof(key), "%s/%ld", av[0], i);
		data[0] = (char)i;
		rc = s3_put(c, key, data, len, S3_PUT_NO_HEAD, NULL, err);
		ms[i] = (core_now_mono() - t) * 1000.0;
	}
	if (!rc)
		report("PUT 512 KiB", ms, n);
	for (size_t s = 0; !rc && s < CORE_ARRAY_SIZE(sizes); s++) {
		for (long i = 0; !rc && i < n; i++) {
			double t = core_now_mono();

			snprintf(key, sizeof(key), "%s/%ld", av[0], i);
			rc = s3_get(c, key, 100000 + 13 * (uint64_t)i, sizes[s], out, &got, err);
			ms[i] = (core_now_mono() - t) * 1000.0;
		}
		if (!rc)
			report(sizes[s] == 4096 ? "GET 4 KiB" : "GET 64 KiB", ms, n);
	}
	for (long i = 0; !rc && i < n; i++) {
		snprintf(key, sizeof(key), "%s/%ld", av[0], i);
		rc = s3_delete(c, key, err);
	}
	free(data);
	free(out);
	return rc;
}

static int run(const char *cmd, char **av, int ac, struct fiona_err *err)
{
	struct s3_client c;
	uint64_t size = 0;
	int rc;

	if (!strcmp(cmd, "race") && ac >= 3)
		return cmd_race(av, err);
	if ((rc = client(&c, err)))
		return rc;
	if (!strcmp(cmd, "put") && ac >= 2)
		rc = cmd_put(&c, av, ac, err);
	else if (!strcmp(cmd, "head") && ac >= 1) {
		rc = s3_head(&c, av[0], &size, err);
		if (!rc)
			printf("%llu\n", (unsigned long long)size);
	} else if (!strcmp(cmd, "get") && ac >= 4)
		rc = cmd_get(&c, av, err);
	else if (!strcmp(cmd, "del") && ac >= 1)
		rc = s3_delete(&c, av[0], err);
	else if (!strcmp(cmd, "list") && ac >= 2)
		rc = cmd_list(&c, av, err);
	else if (!strcmp(cmd, "timing") && ac >= 2)
		rc = cmd_timing(&c, av, err);
	else
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "unknown command %s", cmd);
	s3_client_release(&c);
	return rc;
}

int main(int argc, char **argv)
{
	struct fiona_err err = {0};
	double t0 = core_now_mono();
	const char *r = getenv("S3_RETRIES");
	long retries = 0;
	int rc;

	if (argc < 5) {
		fprintf(stderr, "usage: s3_probe ENDPOINT BUCKET KEYFILE CMD ARGS...\n");
		return 2;
	}
	snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", argv[1]);
	snprintf(cfg.bucket, sizeof(cfg.bucket), "%s", argv[2]);
	if (r && !core_parse_long(r, -1, 20, &retries))
		cfg.max_retries = (int)retries;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((rc = s3_creds_load(argv[3], &creds, &err)) == 0)
		rc = run(argv[4], argv + 5, argc - 5, &err);
	s3_creds_wipe(&creds);
	curl_global_cleanup();
	if (rc == -ENOENT && !strcmp(argv[4], "head")) {
		printf("absent\n");
		return 3;
	}
	return rc ? fail(&err, t0) : 0;
}
