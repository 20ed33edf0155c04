/*
 * fiona ocr FILE...: the text lines tesseract reads in every frame of DICOM images, at
 * native scale and at 2x, one line each: "FILE frame N x0 y0 x1 y1 TEXT". An
 * administrator's and the tests' tool to check what pixel cleaning left: it prints what it
 * reads to stdout only, never to a log. A file that cannot be read gets one error line.
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
	if (!rc && im.encapsulated)
		rc = err_set(&err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			     "compressed pixel data: not decoded yet");
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

int cmd_ocr(int argc, char **argv)
{
	struct ocr_engine *e = NULL;
	struct fiona_err err = {0};
	int bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: fiona ocr FILE...\n");
		return 2;
	}
	if (ocr_engine_new(&e, &err)) {
		fprintf(stderr, "fiona ocr: %s\n", err.reason);
		return 1;
	}
	for (int i = 1; i < argc; i++)
		bad |= ocr_file(e, argv[i]) != 0;
	ocr_engine_free(e);
	return bad;
}
