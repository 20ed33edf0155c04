/*
 * ocr: text lines in an 8-bit image, through tesseract's C API (tesseract/capi.h). One
 * engine per worker thread, initialised once (Init costs 55-90 ms) and reused; page
 * segmentation PSM 3 (automatic), 300 ppi. Small text is read better at 2x (7-10 px
 * text: 89 % of tokens exact at 2x against 58 % native, research notes); callers read
 * both scales and take the union. tesseract reads both polarities itself
 * (tessedit_do_invert). Its internal OpenMP threading is slower on 2 cores: `fiona` sets
 * OMP_THREAD_LIMIT=1 before libgomp starts (cmd/main.c).
 *
 * Nothing read is logged or written anywhere: the caller gets the text in memory.
 * Confidence is not used (a correctly read name came back at confidence 0).
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <leptonica/allheaders.h>
#include <tesseract/capi.h>

#include "anon/anon.h"

struct ocr_engine {
	TessBaseAPI *api;
};

int ocr_engine_new(struct ocr_engine **out, struct fiona_err *err)
{
	struct ocr_engine *e = calloc(1, sizeof(*e));

	if (!e || !(e->api = TessBaseAPICreate())) {
		free(e);
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	}
	/* quiet: tesseract and leptonica print warnings about layout on stderr */
	TessBaseAPISetVariable(e->api, "debug_file", "/dev/null");
	setMsgSeverity(L_SEVERITY_NONE);
	if (TessBaseAPIInit3(e->api, NULL, "eng") != 0) {
		TessBaseAPIDelete(e->api);
		free(e);
		return err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG,
			       "tesseract has no English model (Debian: tesseract-ocr-eng)");
	}
	TessBaseAPISetPageSegMode(e->api, PSM_AUTO);
	*out = e;
	return 0;
}

void ocr_engine_free(struct ocr_engine *e)
{
	if (!e)
		return;
	TessBaseAPIEnd(e->api);
	TessBaseAPIDelete(e->api);
	free(e);
}

void ocr_lines_release(struct ocr_lines *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Bilinear upscale by an integer factor (new buffer: free()). */
static uint8_t *upscale(const uint8_t *g, int w, int h, int k)
{
	uint8_t *o = malloc((size_t)w * k * (size_t)h * k);

	if (!o)
		return NULL;
	for (int y = 0; y < h * k; y++) {
		int y0 = y / k, y1 = y0 + 1 < h ? y0 + 1 : y0, fy = y % k;

		for (int x = 0; x < w * k; x++) {
			int x0 = x / k, x1 = x0 + 1 < w ? x0 + 1 : x0, fx = x % k;
			int a = g[y0 * w + x0], b = g[y0 * w + x1], c = g[y1 * w + x0],
			    d = g[y1 * w + x1];
			int top = a * (k - fx) + b * fx, bot = c * (k - fx) + d * fx;

			o[(size_t)y * w * k + x] = (uint8_t)((top * (k - fy) + bot * fy) / (k * k));
		}
	}
	return o;
}

static int add_line(struct ocr_lines *out, const TessResultIterator *it, int k)
{
	const TessPageIterator *pi = TessResultIteratorGetPageIteratorConst(it);
	struct ocr_line *l;
	int x0, y0, x1, y1;
	char *text;

	if (!TessPageIteratorBoundingBox(pi, RIL_TEXTLINE, &x0, &y0, &x1, &y1))
		return 0;
	if (!(text = TessResultIteratorGetUTF8Text(it, RIL_TEXTLINE)))
		return 0;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 16;
		struct ocr_line *v = realloc(out->v, cap * sizeof(*v));

		if (!v) {
			TessDeleteText(text);
			return -ENOMEM;
		}
		out->v = v;
		out->cap = cap;
	}
	l = &out->v[out->n++];
	*l = (struct ocr_line){x0 / k, y0 / k, (x1 + k - 1) / k, (y1 + k - 1) / k, ""};
	snprintf(l->text, sizeof(l->text), "%s", text);
	for (char *c = l->text; *c; c++) /* one line: the trailing newline and any inside */
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	explicit_bzero(text, strlen(text));
	TessDeleteText(text);
	return 0;
}

int ocr_read(struct ocr_engine *e, const uint8_t *gray, int w, int h, int scale,
	     struct ocr_lines *out)
{
	uint8_t *big = scale > 1 ? upscale(gray, w, h, scale) : NULL;
	int k = scale > 1 ? scale : 1, rc = 0;
	TessResultIterator *it;

	if (scale > 1 && !big)
		return -ENOMEM;
	TessBaseAPISetImage(e->api, big ? big : gray, w * k, h * k, 1, w * k);
	TessBaseAPISetSourceResolution(e->api, 300);
	if (TessBaseAPIRecognize(e->api, NULL) != 0) {
		rc = -EIO;
		goto out;
	}
	if ((it = TessBaseAPIGetIterator(e->api))) {
		do
			rc = add_line(out, it, k);
		while (!rc && TessResultIteratorNext(it, RIL_TEXTLINE));
		TessResultIteratorDelete(it);
	}
out:
	TessBaseAPIClear(e->api);
	if (big) {
		explicit_bzero(big, (size_t)w * k * (size_t)h * k);
		free(big);
	}
	return rc;
}
