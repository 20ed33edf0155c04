/*
 * fiona ocr FILE...: the text lines tesseract reads in every frame of DICOM images, at
 * native scale and at 2x, one line each: "FILE frame N x0 y0 x1 y1 TEXT". An
 * administrator's and the tests' tool to check what pixel cleaning left: it prints what it
 * reads to stdout only, never to a log. A file that cannot be read gets one error line.
 * fiona ocr --clean DIR [--all-text] FILE...: cleans the pixels (anon/burn.c) and writes
 * each file with its cleaned pixels into DIR (0600), header unchanged.
 * -j N: N files at a time, one OCR engine each (default: one per core, at most 8).
 * Tesseract reads one image on one core, so files are what is spread; what each file
 * prints is held until the end and printed in the order of the arguments.
 */
#include "core/core.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anon/anon.h"
#include "cmd/cmd.h"

static int ocr_file(struct ocr_engine *e, const char *path, FILE *out, FILE *errs)
{
	struct fiona_err err = {0};
	struct pix_image im;
	struct core_map map;
	uint8_t *gray = NULL;
	char line[400];
	int rc = core_map_file(path, &map);

	if (rc) {
		fprintf(errs, "%s: cannot read: %s\n", path, strerror(-rc));
		return rc;
	}
	rc = pix_image_read(map.p, map.len, &im, &err);
	core_map_release(&map);
	if (!rc && !(gray = malloc((size_t)im.rows * im.cols)))
		rc = -ENOMEM;
	for (long f = 0; !rc && f < im.frames; f++) {
		struct ocr_lines l = {0};

		pix_frame_gray8(&im, im.data + (size_t)f * pix_frame_size(&im), gray);
		for (int scale = 1; !rc && scale <= 2; scale++)
			rc = ocr_read(e, gray, im.cols, im.rows, scale, &l);
		for (size_t i = 0; !rc && i < l.n; i++)
			fprintf(out, "%s frame %ld %d %d %d %d %s\n", path, f + 1, l.v[i].x0,
				l.v[i].y0, l.v[i].x1, l.v[i].y1, l.v[i].text);
		ocr_lines_release(&l);
	}
	if (rc)
		fprintf(errs, "%s\n", err_format(&err, path, line, sizeof(line)));
	free(gray);
	pix_image_release(&im);
	return rc;
}

/* --clean DIR: the file with its pixels cleaned (header unchanged) goes to DIR. A file
 * whose pixels cannot be cleaned is not written: its reason goes to stderr. */
static int clean_file(struct ocr_engine *e, const char *path, const char *dir, bool all_text,
		      const struct burn_rules *rules, FILE *out, FILE *errs)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct fiona_err err = {0};
	struct burn_report rep;
	struct core_map map;
	uint8_t *clean = NULL;
	size_t len = 0;
	char dst[4200], line[400];
	int rc = core_map_file(path, &map);

	if (rc) {
		fprintf(errs, "%s: cannot read: %s\n", path, strerror(-rc));
		return rc;
	}
	rc = burn_clean_instance(e, rules, all_text, map.p, map.len, &clean, &len, &rep, &err);
	core_map_release(&map);
	if (!rc) {
		snprintf(dst, sizeof(dst), "%s/%s", dir, base);
		if ((rc = core_write_file_atomic(dst, clean, len, 0600)))
			fprintf(errs, "%s: cannot write %s: %s\n", path, dst, strerror(-rc));
		else
			fprintf(out, "%s: %ld frames read, %ld lines removed\n", path, rep.frames,
				rep.lines);
	} else {
		fprintf(errs, "%s\n", err_format(&err, path, line, sizeof(line)));
	}
	free(clean);
	return rc;
}

/* One run over the files: workers take the next file by index. Each file's stdout and
 * stderr text goes to its own buffer (out[k], errs[k], owned by the run). */
struct ocr_run {
	char **paths; /* borrowed from argv */
	size_t n;
	const char *clean; /* --clean DIR, or NULL */
	bool all_text;
	const struct burn_rules *rules; /* borrowed */
	char **out, **errs;
	size_t *order; /* file indexes, largest file first: the long ones do not come last */
	atomic_size_t next;
	atomic_int bad;
};

static int ocr_one(struct ocr_run *r, struct ocr_engine *e, size_t k)
{
	size_t olen = 0, elen = 0;
	FILE *out = open_memstream(&r->out[k], &olen);
	FILE *errs = open_memstream(&r->errs[k], &elen);
	int rc = -ENOMEM;

	if (out && errs)
		rc = r->clean ? clean_file(e, r->paths[k], r->clean, r->all_text, r->rules, out,
					   errs)
			      : ocr_file(e, r->paths[k], out, errs);
	if (out)
		fclose(out);
	if (errs)
		fclose(errs);
	return rc;
}

static void *ocr_worker(void *arg)
{
	struct ocr_run *r = arg;
	struct ocr_engine *e = NULL;
	struct fiona_err err = {0};

	if (ocr_engine_new(&e, &err)) {
		fprintf(stderr, "fiona ocr: %s\n", err.reason);
		atomic_store(&r->bad, 1);
		return NULL;
	}
	for (size_t k; (k = atomic_fetch_add(&r->next, 1)) < r->n;)
		if (ocr_one(r, e, r->order[k]))
			atomic_store(&r->bad, 1);
	ocr_engine_free(e);
	return NULL;
}

struct sized {
	off_t size;
	size_t k;
};

static int by_size_desc(const void *a, const void *b)
{
	const struct sized *x = a, *y = b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : x->k < y->k ? -1 : x->k > y->k;
}

/* r->order: the files by size, largest first (a file that cannot be read sorts last). */
static int order_by_size(struct ocr_run *r)
{
	struct sized *v = calloc(r->n, sizeof(*v));
	struct stat st;

	if (!v || !(r->order = calloc(r->n, sizeof(*r->order)))) {
		free(v);
		return -ENOMEM;
	}
	for (size_t k = 0; k < r->n; k++)
		v[k] = (struct sized){stat(r->paths[k], &st) ? -1 : st.st_size, k};
	qsort(v, r->n, sizeof(*v), by_size_desc);
	for (size_t k = 0; k < r->n; k++)
		r->order[k] = v[k].k;
	free(v);
	return 0;
}

/* Runs `jobs` workers (the caller's thread is one of them) and prints what each file gave,
 * in order. A file no worker reached (every engine failed) counts as failed. */
static int ocr_run_all(struct ocr_run *r, int jobs)
{
	pthread_t th[8];
	int started = 0;

	r->out = calloc(r->n, sizeof(*r->out));
	r->errs = calloc(r->n, sizeof(*r->errs));
	if (!r->out || !r->errs || order_by_size(r)) {
		fprintf(stderr, "fiona ocr: %s\n", strerror(ENOMEM));
		free(r->out);
		free(r->errs);
		free(r->order);
		return 1;
	}
	for (; started < jobs - 1; started++)
		if (pthread_create(&th[started], NULL, ocr_worker, r))
			break; /* fewer workers: the files still get done */
	ocr_worker(r);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t k = 0; k < r->n; k++) {
		if (r->out[k])
			fputs(r->out[k], stdout);
		if (r->errs[k])
			fputs(r->errs[k], stderr);
		free(r->out[k]);
		free(r->errs[k]);
	}
	free(r->out);
	free(r->errs);
	free(r->order);
	return atomic_load(&r->next) < r->n || atomic_load(&r->bad);
}

static int default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

int cmd_ocr(int argc, char **argv)
{
	struct burn_rules *rules = NULL;
	struct fiona_err err = {0};
	const char *clean = NULL, *rules_path = NULL;
	bool all_text = false;
	int bad = 0, i = 1, jobs = default_jobs();
	long n;

	for (; i + 1 < argc && argv[i][0] == '-'; i++)
		if (!strcmp(argv[i], "--clean"))
			clean = argv[++i];
		else if (!strcmp(argv[i], "--rules"))
			rules_path = argv[++i];
		else if (!strcmp(argv[i], "--all-text"))
			all_text = true;
		else if (!strcmp(argv[i], "-j"))
			jobs = core_parse_long(argv[++i], 1, 8, &n) ? 0 : (int)n;
		else
			break;
	if (i >= argc || argv[i][0] == '-' || jobs < 1 || jobs > 8) {
		fprintf(stderr, "usage: fiona ocr [-j N (1-8)] [--clean DIR [--all-text] "
				"[--rules FILE]] FILE...\n");
		return 2;
	}
	if (rules_path && burn_rules_load(rules_path, &rules, &err)) {
		fprintf(stderr, "fiona ocr: %s\n", err.reason);
		return 1;
	}
	if (clean && (bad = core_mkdir_p(clean, 0700))) { /* copies still hold the header */
		fprintf(stderr, "fiona ocr: cannot create %s: %s\n", clean, strerror(-bad));
		burn_rules_free(rules);
		return 1;
	}
	struct ocr_run r = {.paths = argv + i,
			    .n = (size_t)(argc - i),
			    .clean = clean,
			    .all_text = all_text,
			    .rules = rules};
	if ((size_t)jobs > r.n)
		jobs = (int)r.n;
	bad = ocr_run_all(&r, jobs);
	burn_rules_free(rules);
	return bad;
}
