/*
 * pixel: an instance's image as native frames — what burned-in text removal reads and
 * writes. pix_image_read() takes the image description from the top level (rows,
 * columns, samples, bits, sign, planar configuration, frames, photometric
 * interpretation, palette) and, for native (uncompressed) transfer syntaxes, the pixel
 * data's bytes, byte-swapped from big endian when needed. Frames are kept in native
 * layout, little endian: pix_frame_gray8() renders one to 8-bit luminance for OCR
 * (stored range stretched, MONOCHROME1 inverted, colour and palette to luma) and
 * pix_fill_rect() blanks a rectangle with the image's own black (the smallest value for
 * MONOCHROME2, the largest for MONOCHROME1, Y=0 Cb=Cr=128 for YBR, the darkest palette
 * entry, the signed minimum for signed pixels).
 *
 * Untrusted input: every size is checked against the bytes present and against
 * PIX_MAX_FRAME_BYTES before anything is allocated.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "anon/anon.h"
#include "anon/codec_int.h"

#define PIX_MAX_FRAME_BYTES ((size_t)256 << 20)

static const struct {
	const char *name;
	enum pix_pi pi;
	unsigned spp;
} pis[] = {
	{"MONOCHROME1", PIX_MONO1, 1},
	{"MONOCHROME2", PIX_MONO2, 1},
	{"RGB", PIX_RGB, 3},
	{"YBR_FULL", PIX_YBR_FULL, 3},
	{"YBR_FULL_422", PIX_YBR_422, 3},
	{"PALETTE COLOR", PIX_PALETTE, 1},
};

void pix_image_release(struct pix_image *im)
{
	if (!im)
		return;
	free(im->data);
	free(im->decoded);
	for (int c = 0; c < 3; c++)
		free(im->pal[c]);
	memset(im, 0, sizeof(*im));
}

static int set_pi(struct pix_image *im, const char *name)
{
	for (size_t i = 0; i < CORE_ARRAY_SIZE(pis); i++)
		if (!strcmp(name, pis[i].name)) {
			im->pi = pis[i].pi;
			return 0;
		}
	return -ENOTSUP;
}

/* Palette descriptor (entries, first mapped value, bits) and data of one channel. */
static int take_palette(struct pix_image *im, const struct dcm_elem *e, int ch, bool desc)
{
	const uint8_t *v = e->value;

	if (desc) {
		if (e->length < 6)
			return -EINVAL;
		im->pal_entries = (uint32_t)(v[0] | v[1] << 8);
		im->pal_entries = im->pal_entries ? im->pal_entries : 65536;
		im->pal_first = (int32_t)(v[2] | v[3] << 8);
		im->pal_bits = (uint16_t)(v[4] | v[5] << 8);
		return 0;
	}
	free(im->pal[ch]);
	if (!(im->pal[ch] = malloc(e->length ? e->length : 1)))
		return -ENOMEM;
	memcpy(im->pal[ch], v, e->length);
	im->pal_len[ch] = e->length;
	if (e->big_endian)
		for (size_t i = 0; i + 1 < e->length; i += 2) {
			uint8_t t = im->pal[ch][i];

			im->pal[ch][i] = im->pal[ch][i + 1];
			im->pal[ch][i + 1] = t;
		}
	return 0;
}

static int take_u16(const struct dcm_elem *e, uint16_t *out)
{
	uint32_t v;
	int rc = dcm_value_u32(e, &v);

	if (!rc)
		*out = (uint16_t)v;
	return rc;
}

/* One top-level element of the image description. */
static int take(struct pix_image *im, const struct dcm_elem *e)
{
	char s[32];
	uint32_t v;

	switch (e->tag) {
	case DCM_TAG(0x0028, 0x0002):
		return take_u16(e, &im->spp);
	case DCM_TAG(0x0028, 0x0004):
		dcm_value_str(e, s, sizeof(s));
		return set_pi(im, s);
	case DCM_TAG(0x0028, 0x0006):
		return take_u16(e, &im->planar);
	case DCM_TAG(0x0028, 0x0008):
		if (dcm_value_u32(e, &v) == 0)
			im->frames = v;
		return 0;
	case DCM_TAG(0x0028, 0x0010):
		return take_u16(e, &im->rows);
	case DCM_TAG(0x0028, 0x0011):
		return take_u16(e, &im->cols);
	case DCM_TAG(0x0028, 0x0100):
		return take_u16(e, &im->bits_alloc);
	case DCM_TAG(0x0028, 0x0101):
		return take_u16(e, &im->bits_stored);
	case DCM_TAG(0x0028, 0x0103):
		if (dcm_value_u32(e, &v) == 0)
			im->is_signed = v == 1;
		return 0;
	case DCM_TAG(0x0028, 0x1101):
		return take_palette(im, e, 0, true);
	case DCM_TAG(0x0028, 0x1201):
		return take_palette(im, e, 0, false);
	case DCM_TAG(0x0028, 0x1202):
		return take_palette(im, e, 1, false);
	case DCM_TAG(0x0028, 0x1203):
		return take_palette(im, e, 2, false);
	default:
		return 0;
	}
}

static int check(const struct pix_image *im)
{
	size_t f;

	if (!im->rows || !im->cols || (im->bits_alloc != 8 && im->bits_alloc != 16))
		return -ENOTSUP;
	if (im->spp !=
	    (im->pi == PIX_RGB || im->pi == PIX_YBR_FULL || im->pi == PIX_YBR_422 ? 3 : 1))
		return -ENOTSUP;
	if (im->spp == 3 && im->bits_alloc != 8)
		return -ENOTSUP;
	/* a stored depth the allocation cannot hold: the values' meaning is unknown */
	if (im->bits_stored > im->bits_alloc)
		return -EINVAL;
	if (im->pi == PIX_YBR_422 && im->cols % 2)
		return -ENOTSUP;
	if (im->pi == PIX_PALETTE && (!im->pal[0] || !im->pal[1] || !im->pal[2]))
		return -EINVAL;
	f = pix_frame_size(im);
	return f && f <= PIX_MAX_FRAME_BYTES ? 0 : -E2BIG;
}

size_t pix_frame_size(const struct pix_image *im)
{
	size_t px = (size_t)im->rows * im->cols;

	if (im->pi == PIX_YBR_422)
		return px * 2;
	return px * im->spp * (im->bits_alloc / 8);
}

/* The native pixel data, copied and made little endian. */
static int take_pixels(struct pix_image *im, const struct dcm_elem *e)
{
	size_t need = pix_frame_size(im) * (size_t)im->frames;

	if (e->length == DCM_UNDEFINED_LENGTH || e->length < need)
		return -EINVAL; /* fewer bytes than the frames need */
	if (!(im->data = malloc(need)))
		return -ENOMEM;
	memcpy(im->data, e->value, need);
	im->data_len = need;
	im->data_offset = e->value_offset;
	im->big_endian = e->big_endian;
	if (e->big_endian && im->bits_alloc == 16)
		for (size_t i = 0; i + 1 < need; i += 2) {
			uint8_t t = im->data[i];

			im->data[i] = im->data[i + 1];
			im->data[i + 1] = t;
		}
	return 0;
}

static int image_read(const uint8_t *p, size_t n, struct pix_image *im, bool decoded,
		      struct fiona_err *err);

/* Compressed pixel data: decoded to a native instance, which is read instead (once: an
 * instance whose decoded copy still reads as compressed is refused, not decoded again). */
static int read_decoded(const uint8_t *p, size_t n, struct pix_image *im, struct fiona_err *err)
{
	uint8_t *dec = NULL;
	size_t len = 0;
	int rc = codec_decode(p, n, &dec, &len, err);

	if (rc)
		return rc;
	if ((rc = image_read(dec, len, im, true, err))) {
		free(dec);
		return rc;
	}
	im->decoded = dec;
	im->decoded_len = len;
	return 0;
}

static int image_read(const uint8_t *p, size_t n, struct pix_image *im, bool decoded,
		      struct fiona_err *err)
{
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	int rc, k;

	memset(im, 0, sizeof(*im));
	im->frames = 1;
	if ((rc = dcm_reader_new(p, n, &r, err)))
		return rc;
	im->encapsulated = dcm_reader_ts(r)->encapsulated;
	while ((k = dcm_reader_next(r, &e)) > 0) {
		if (e.depth || e.in_meta)
			continue;
		if (e.kind == DCM_PIXEL_BEGIN ||
		    (e.kind == DCM_ELEMENT && e.tag == DCM_TAG_PIXEL_DATA))
			break;
		/* compressed: the description is read from the decoded instance, which may
		 * differ (JPEG 2000's YBR_RCT and YBR_ICT, JPEG's YBR_FULL_422 come out RGB) */
		if (e.kind == DCM_ELEMENT && !im->encapsulated && (rc = take(im, &e))) {
			rc = err_set(err, rc, e.offset, e.tag,
				     rc == -ENOTSUP ? "image kind not supported" : "bad value");
			goto out;
		}
	}
	if (k < 0) {
		rc = k;
		*err = *dcm_reader_error(r);
		goto out;
	}
	if (k == 0) {
		rc = err_set(err, -ENOENT, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA, "no pixel data");
		goto out;
	}
	if (im->encapsulated && decoded) {
		rc = err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			     "pixel data still compressed after decoding");
		goto out;
	}
	if (im->encapsulated) { /* the decoded instance describes itself */
		/* every length checked here first: dcmtk allocates what an item claims before
		 * it finds the bytes missing (a fuzzed 3 GB fragment length) */
		while ((k = dcm_reader_next(r, &e)) > 0)
			;
		if (k < 0) {
			rc = k;
			*err = *dcm_reader_error(r);
			goto out;
		}
		dcm_reader_free(r);
		pix_image_release(im);
		return read_decoded(p, n, im, err);
	}
	if ((rc = check(im))) {
		rc = err_set(err, rc, CORE_NO_OFFSET, DCM_TAG(0x0028, 0x0004),
			     "image kind not supported (%u x %u, %u samples of %u bits)", im->cols,
			     im->rows, im->spp, im->bits_alloc);
		goto out;
	}
	if ((rc = take_pixels(im, &e)))
		rc = err_set(err, rc, e.offset, DCM_TAG_PIXEL_DATA,
			     "pixel data shorter than %ld frames of %zu bytes", (long)im->frames,
			     pix_frame_size(im));
out:
	dcm_reader_free(r);
	if (rc)
		pix_image_release(im);
	return rc;
}

int pix_image_read(const uint8_t *p, size_t n, struct pix_image *im, struct fiona_err *err)
{
	return image_read(p, n, im, false, err);
}

/* Stored value of pixel i of a 1-sample frame, sign-extended from bits_stored. */
static int32_t stored(const struct pix_image *im, const uint8_t *f, size_t i)
{
	uint32_t v = im->bits_alloc == 8 ? f[i] : (uint32_t)(f[2 * i] | f[2 * i + 1] << 8);
	unsigned bits = im->bits_stored && im->bits_stored <= im->bits_alloc ? im->bits_stored
									     : im->bits_alloc;

	v &= bits >= 32 ? 0xffffffffu : (1u << bits) - 1;
	if (im->is_signed && (v >> (bits - 1)) & 1)
		return (int32_t)v - (int32_t)(1u << bits);
	return (int32_t)v;
}

static uint8_t luma(int r, int g, int b)
{
	return (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
}

static uint8_t pal_channel(const struct pix_image *im, int ch, int32_t v)
{
	long i = (long)v - im->pal_first;
	size_t bytes = im->pal_bits > 8 ? 2 : 1;

	i = i < 0 ? 0 : i >= (long)im->pal_entries ? (long)im->pal_entries - 1 : i;
	if ((size_t)(i + 1) * bytes > im->pal_len[ch])
		return 0;
	if (bytes == 1)
		return im->pal[ch][i];
	return im->pal[ch][2 * i + 1]; /* the high byte of a 16-bit entry */
}

static void gray_mono(const struct pix_image *im, const uint8_t *f, uint8_t *out)
{
	size_t n = (size_t)im->rows * im->cols;
	int32_t lo = INT32_MAX, hi = INT32_MIN;

	for (size_t i = 0; i < n; i++) {
		int32_t v = stored(im, f, i);

		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t v = hi > lo ? ((int64_t)stored(im, f, i) - lo) * 255 / (hi - lo) : 0;

		out[i] = (uint8_t)(im->pi == PIX_MONO1 ? 255 - v : v);
	}
}

/* Sample s (0..2) of pixel i of a 3-sample 8-bit frame. */
static int sample3(const struct pix_image *im, const uint8_t *f, size_t i, int s)
{
	size_t n = (size_t)im->rows * im->cols;

	return im->planar ? f[(size_t)s * n + i] : f[3 * i + (size_t)s];
}

int pix_frame_gray8(const struct pix_image *im, const uint8_t *f, uint8_t *out)
{
	size_t n = (size_t)im->rows * im->cols;

	switch (im->pi) {
	case PIX_MONO1:
	case PIX_MONO2:
		gray_mono(im, f, out);
		break;
	case PIX_RGB:
		for (size_t i = 0; i < n; i++)
			out[i] = luma(sample3(im, f, i, 0), sample3(im, f, i, 1),
				      sample3(im, f, i, 2));
		break;
	case PIX_YBR_FULL: /* the luma is the Y sample itself */
		for (size_t i = 0; i < n; i++)
			out[i] = (uint8_t)sample3(im, f, i, 0);
		break;
	case PIX_YBR_422: /* Y0 Y1 Cb Cr per pixel pair */
		for (size_t i = 0; i < n; i++)
			out[i] = f[(i / 2) * 4 + i % 2];
		break;
	case PIX_PALETTE:
		for (size_t i = 0; i < n; i++) {
			int32_t v = stored(im, f, i);

			out[i] = luma(pal_channel(im, 0, v), pal_channel(im, 1, v),
				      pal_channel(im, 2, v));
		}
		break;
	}
	return 0;
}

/* The stored value that shows black: the darkest palette entry for PALETTE COLOR. */
static int32_t black_value(const struct pix_image *im)
{
	unsigned bits = im->bits_stored && im->bits_stored <= im->bits_alloc ? im->bits_stored
									     : im->bits_alloc;
	int32_t lo = im->is_signed ? -(int32_t)(1u << (bits - 1)) : 0;
	int32_t hi = im->is_signed ? (int32_t)(1u << (bits - 1)) - 1 : (int32_t)((1u << bits) - 1);

	if (im->pi == PIX_MONO1)
		return hi;
	if (im->pi == PIX_PALETTE) {
		int32_t best = im->pal_first;
		int dark = 256;

		for (uint32_t k = 0; k < im->pal_entries; k++) {
			int32_t v = im->pal_first + (int32_t)k;
			int l = luma(pal_channel(im, 0, v), pal_channel(im, 1, v),
				     pal_channel(im, 2, v));

			if (l < dark) {
				dark = l;
				best = v;
			}
		}
		return best;
	}
	return lo;
}

static void put_mono(const struct pix_image *im, uint8_t *f, size_t i, int32_t v)
{
	uint32_t u = (uint32_t)v;

	if (im->bits_alloc == 8) {
		f[i] = (uint8_t)u;
	} else {
		f[2 * i] = (uint8_t)u;
		f[2 * i + 1] = (uint8_t)(u >> 8);
	}
}

void pix_fill_rect(const struct pix_image *im, uint8_t *f, int x, int y, int w, int h)
{
	int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
	int x1 = x + w > im->cols ? im->cols : x + w, y1 = y + h > im->rows ? im->rows : y + h;
	size_t n = (size_t)im->rows * im->cols;
	int32_t black = im->spp == 1 ? black_value(im) : 0;
	bool ybr = im->pi == PIX_YBR_FULL;

	if (im->pi == PIX_YBR_422) { /* whole pixel pairs: they share their chroma */
		x0 &= ~1;
		x1 = (x1 + 1) & ~1;
	}
	for (int r = y0; r < y1; r++)
		for (int c = x0; c < x1; c++) {
			size_t i = (size_t)r * im->cols + (size_t)c;

			if (im->spp == 1) {
				put_mono(im, f, i, black);
			} else if (im->pi == PIX_YBR_422) {
				f[(i / 2) * 4 + i % 2] = 0;
				f[(i / 2) * 4 + 2] = f[(i / 2) * 4 + 3] = 128;
			} else {
				for (int s = 0; s < 3; s++) {
					size_t at =
						im->planar ? (size_t)s * n + i : 3 * i + (size_t)s;

					f[at] = (uint8_t)(ybr && s ? 128 : 0);
				}
			}
		}
}
