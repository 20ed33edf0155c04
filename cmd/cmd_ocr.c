/*
 * fiona ocr FILE...: the text lines tesseract reads in every frame of DICOM images, at
 * native scale and at 2x, one line each: "FILE frame N x0 y0 x1 y1 TEXT". An
 * administrator's and the tests' tool to check what pixel cleaning left: it prints what it
 * reads to stdout only, never to a log. A file that cannot be read gets one error line.
 * fiona ocr --clean DIR [--all-text] FILE...: cleans the pixels (anon/burn.c) and writes
 * each file with its cleaned pixels into DIR (0600), header unchanged.
 */
#include "core/core.h"
#include <errno.h>
#include <stdlib.h>

#include "anon/anon.h"
#include "cmd/cmd.h"

static int ocr_file(struct ocr_engine *e, const char *path)
{
	struct fiona_err err = {0};
	struct pix_image im;
	struct core_map map;
	uint8_t *gray = NULL;
	char line[400];
	int rc = core_map_file(path, &map);

	if (rc) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-rc));
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
			printf("%s frame %ld %d %d %d %d %s\n", path, f + 1, l.v[i].x0, l.v[i].y0,
			       l.v[i].x1, l.v[i].y1, l.v[i].text);
		ocr_lines_release(&l);
	}
	if (rc)
		fprintf(stderr, "%s\n", err_format(&err, path, line, sizeof(line)));
	free(gray);
	pix_image_release(&im);
	return rc;
}

/* --clean DIR: the file with its pixels cleaned (header unchanged) goes to DIR. A file
 * whose pixels cannot be cleaned is not written: its reason goes to stderr. */
static int clean_file(struct ocr_engine *e, const char *path, const char *dir, bool all_text,
		      const struct burn_rules *rules)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct fiona_err err = {0};
	struct burn_report rep;
	struct core_map map;
	uint8_t *clean = NULL;
	size_t len = 0;
	char out[4200], line[400];
	int rc = core_map_file(path, &map);

	if (rc) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-rc));
		return rc;
	}
	rc = burn_clean_instance(e, rules, all_text, map.p, map.len, &clean, &len, &rep, &err);
	core_map_release(&map);
	if (!rc) {
		snprintf(out, sizeof(out), "%s/%s", dir, base);
		if ((rc = core_write_file_atomic(out, clean, len, 0600)))
			fprintf(stderr, "%s: cannot write %s: %s\n", path, out, strerror(-rc));
		else
			printf("%s: %ld frames read, %ld lines removed\n", path, rep.frames,
			       rep.lines);
	} else {
		fprintf(stderr, "%s\n", err_format(&err, path, line, sizeof(line)));
	}
	free(clean);
	return rc;
}

int cmd_ocr(int argc, char **argv)
{
	struct ocr_engine *e = NULL;
	struct burn_rules *rules = NULL;
	struct fiona_err err = {0};
	const char *clean = NULL, *rules_path = NULL;
	bool all_text = false;
	int bad = 0, i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i++)
		if (!strcmp(argv[i], "--clean"))
			clean = argv[++i];
		else if (!strcmp(argv[i], "--rules"))
			rules_path = argv[++i];
		else if (!strcmp(argv[i], "--all-text"))
			all_text = true;
		else
			break;
	if (i >= argc || argv[i][0] == '-') {
		fprintf(stderr,
			"usage: fiona ocr [--clean DIR [--all-text] [--rules FILE]] FILE...\n");
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
	if (ocr_engine_new(&e, &err)) {
		fprintf(stderr, "fiona ocr: %s\n", err.reason);
		burn_rules_free(rules);
		return 1;
	}
	for (; i < argc; i++)
		bad |= (clean ? clean_file(e, argv[i], clean, all_text, rules)
			      : ocr_file(e, argv[i])) != 0;
	ocr_engine_free(e);
	burn_rules_free(rules);
	return bad;
}
