/* Unit tests for anon/pixel.c: every photometric interpretation at 8 and 16 bits, signed
 * and unsigned, planar 0 and 1, multi-frame: the frames read back as written, a filled
 * rectangle renders black in 8-bit luminance and nothing outside it changes; short pixel
 * data and unsupported kinds are refused with the tag. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>

#include "anon/anon.h"

struct spec {
	const char *pi;
	uint16_t spp, bits, stored, planar;
	bool is_signed;
	long frames;
};

static int put_us(struct buf *b, uint32_t tag, uint16_t v)
{
	uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	return dcm_write_elem(b, tag, DCM_VR('U', 'S'), le, 2);
}

/* An instance of 16 x 8 pixels whose bytes count up from seed; palettes map value v to
 * red v, green v/2, blue 255-v (entry 0 darkest but for blue, entry 200 darkest overall). */
static int make(struct buf *b, const struct spec *sp, uint8_t seed, size_t *px_len)
{
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.7", "1.2.3.4", "1.2.840.10008.1.2.1"};
	size_t n = 16 * 8 * sp->spp * (sp->bits / 8) * (size_t)sp->frames;
	uint8_t *px = malloc(n), lut[3][256];
	char frames[16];
	int rc;

	if (!strcmp(sp->pi, "YBR_FULL_422"))
		n = 16 * 8 * 2 * (size_t)sp->frames;
	for (size_t i = 0; i < n; i++)
		px[i] = (uint8_t)(seed + i * 7);
	for (int v = 0; v < 256; v++) {
		lut[0][v] = (uint8_t)v;
		lut[1][v] = (uint8_t)(v / 2);
		lut[2][v] = (uint8_t)(v == 200 ? 0 : 255 - v / 4);
	}
	lut[0][200] = lut[1][200] = 0;
	snprintf(frames, sizeof(frames), "%ld", sp->frames);
	b->len = 0;
	rc = dcm_write_part10_header(b, &m);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0002), sp->spp);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x0004), DCM_VR('C', 'S'), sp->pi);
	if (sp->spp == 3)
		rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0006), sp->planar);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x0008), DCM_VR('I', 'S'), frames);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0010), 8);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0011), 16);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0100), sp->bits);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0101), sp->stored);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0102), (uint16_t)(sp->stored - 1));
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0103), sp->is_signed);
	if (!strcmp(sp->pi, "PALETTE COLOR")) {
		uint8_t desc[6] = {0, 1, 0, 0, 8, 0}; /* 256 entries from 0, 8 bits */

		rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x1101), DCM_VR('U', 'S'), desc, 6);
		rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x1201), DCM_VR('O', 'W'), lut[0], 256);
		rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x1202), DCM_VR('O', 'W'), lut[1], 256);
		rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x1203), DCM_VR('O', 'W'), lut[2], 256);
	}
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG_PIXEL_DATA, DCM_VR('O', 'W'), px, n);
	free(px);
	*px_len = n;
	return rc;
}

static const struct spec specs[] = {
	{"MONOCHROME2", 1, 8, 8, 0, false, 1},	  {"MONOCHROME2", 1, 16, 12, 0, false, 2},
	{"MONOCHROME2", 1, 16, 16, 0, true, 1},	  {"MONOCHROME1", 1, 16, 12, 0, false, 1},
	{"MONOCHROME1", 1, 8, 8, 0, true, 3},	  {"RGB", 3, 8, 8, 0, false, 1},
	{"RGB", 3, 8, 8, 1, false, 2},		  {"YBR_FULL", 3, 8, 8, 0, false, 1},
	{"YBR_FULL", 3, 8, 8, 1, false, 1},	  {"YBR_FULL_422", 3, 8, 8, 0, false, 2},
	{"PALETTE COLOR", 1, 8, 8, 0, false, 1},
};

static void test_every_kind(struct tt *t)
{
	struct buf b;

	buf_init(&b, 1u << 24);
	for (size_t k = 0; k < CORE_ARRAY_SIZE(specs); k++) {
		const struct spec *sp = &specs[k];
		struct pix_image im;
		struct fiona_err err = {0};
		size_t n, fs;
		uint8_t *before, gray[16 * 8];

		TT_CHECK(t, make(&b, sp, (uint8_t)(k * 13 + 1), &n) == 0);
		TT_CHECK_MSG(t, pix_image_read(b.data, b.len, &im, &err) == 0, "%s %u: %s", sp->pi,
			     sp->bits, err.reason);
		fs = pix_frame_size(&im);
		TT_CHECK_MSG(t, fs * (size_t)sp->frames == n && im.frames == sp->frames, "%s", sp->pi);
		before = malloc(im.data_len);
		memcpy(before, im.data, im.data_len);
		for (long f = 0; f < im.frames; f++) {
			uint8_t *fr = im.data + (size_t)f * fs;

			pix_fill_rect(&im, fr, 4, 2, 6, 3);
			TT_CHECK(t, pix_frame_gray8(&im, fr, gray) == 0);
			for (int r = 2; r < 5; r++)
				for (int c = 4; c < 10; c++) /* dark: at or near the frame's minimum */
					TT_CHECK_MSG(t, gray[r * 16 + c] <= 2, "%s %u bits: %u at %d,%d",
						     sp->pi, sp->bits, gray[r * 16 + c], c, r);
			pix_fill_rect(&im, fr, -3, -3, 2, 2); /* clipped away entirely */
		}
		for (long f = 0; f < im.frames; f++) /* outside the box: bytes unchanged */
			for (int r = 0; r < 8; r++)
				for (int c = 0; c < 16; c++) {
					size_t i = (size_t)r * 16 + (size_t)c, bpp = fs / 128;

					if (r >= 2 && r < 5 && c >= 2 && c < 12)
						continue; /* the box, and 422's shared pair */
					if (sp->planar) {
						for (size_t s = 0; s < 3; s++)
							TT_CHECK(t, im.data[f * fs + s * 128 + i] ==
									    before[f * fs + s * 128 + i]);
						continue;
					}
					TT_CHECK_MSG(t, !memcmp(im.data + f * fs + i * bpp,
								before + f * fs + i * bpp, bpp),
						     "%s changed at %d,%d", sp->pi, c, r);
				}
		free(before);
		pix_image_release(&im);
	}
	buf_release(&b);
}

static void test_refused(struct tt *t)
{
	struct spec sp = {"MONOCHROME2", 1, 16, 12, 0, false, 4};
	struct pix_image im;
	struct fiona_err err = {0};
	struct buf b;
	size_t n;

	buf_init(&b, 1u << 24);
	TT_CHECK(t, make(&b, &sp, 1, &n) == 0);
	for (size_t i = 0; i + 8 < b.len; i++) /* NumberOfFrames 4 -> 8: more than the bytes */
		if (!memcmp(b.data + i, "\x28\x00\x08\x00IS", 6)) {
			b.data[i + 8] = '8';
			break;
		}
	TT_CHECK(t, pix_image_read(b.data, b.len, &im, &err) == -EINVAL);
	TT_CHECK(t, err.tag == DCM_TAG_PIXEL_DATA && strstr(err.reason, "shorter"));
	sp = (struct spec){"MONOCHROME2", 1, 32, 32, 0, false, 1};
	TT_CHECK(t, make(&b, &sp, 1, &n) == 0);
	TT_CHECK(t, pix_image_read(b.data, b.len, &im, &err) == -ENOTSUP);
	sp = (struct spec){"YBR_ICT", 3, 8, 8, 0, false, 1};
	TT_CHECK(t, make(&b, &sp, 1, &n) == 0);
	TT_CHECK(t, pix_image_read(b.data, b.len, &im, &err) == -ENOTSUP);
	buf_release(&b);
}

TT_MAIN(TT_CASE(test_every_kind), TT_CASE(test_refused))
