/* Unit tests for anon/j2k.c and the JPEG 2000 path of anon/codec.cc, against OpenJPEG's own
 * encoder (tests/gen/lib/j2kenc.c): reversible frames come back exact (8 and 16 bits,
 * signed, 1 and 3 components, J2K and JP2), irreversible ones close; a frame that does not
 * agree with the dataset, truncated or corrupt bytes give an error and leave the output
 * alone; whole instances decode through pix_image_read() whatever the fragmentation (offset
 * table, several fragments per frame, none), YBR_RCT / YBR_ICT come out RGB. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>

#include "anon/anon.h"
#include "anon/codec_int.h"
#include "tests/gen/lib/j2kenc.h"

#define ROWS 24
#define COLS 40

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A frame of fr: a gradient with noise and a bright block, values in the stored range,
 * signed ones sign-extended to bits_alloc as a native frame holds them. */
static uint8_t *frame_new(const struct j2kenc_frame *fr, uint32_t seed, bool smooth)
{
	size_t n = (size_t)fr->rows * fr->cols * fr->spp, bytes = fr->bits_alloc / 8u;
	uint8_t *p = malloc(n * bytes);
	uint32_t max = (1u << fr->bits_stored) - 1;

	for (size_t i = 0; p && i < n; i++) {
		size_t x = (i / fr->spp) % fr->cols, y = (i / fr->spp) / fr->cols;
		uint32_t v = (uint32_t)((x * 4 + y * 2) * (max / 256 + 1)) % (max + 1);
		int32_t s;

		if (!smooth)
			v = (v + rnd(&seed) % 16) % (max + 1);
		if (x > 10 && x < 20 && y > 5 && y < 12)
			v = max - i % fr->spp;
		s = fr->is_signed ? (int32_t)v - (int32_t)(max + 1) / 2 : (int32_t)v;
		p[i * bytes] = (uint8_t)s;
		if (bytes == 2)
			p[i * bytes + 1] = (uint8_t)((uint32_t)s >> 8);
	}
	return p;
}

static const struct j2kenc_frame frames[] = {
	{ROWS, COLS, 1, 8, 8, false},	{ROWS, COLS, 1, 8, 8, true},
	{ROWS, COLS, 1, 16, 12, false}, {ROWS, COLS, 1, 16, 16, true},
	{ROWS, COLS, 1, 16, 12, true},	{ROWS, COLS, 3, 8, 8, false},
	{ROWS, COLS, 3, 16, 10, false},
};

static void test_reversible_exact(struct tt *t)
{
	for (size_t k = 0; k < CORE_ARRAY_SIZE(frames) * 4; k++) {
		const struct j2kenc_frame *fr = &frames[k / 4];
		struct j2kenc_opts o = {.jp2 = k % 2, .no_mct = k % 4 >= 2};
		struct j2k_frame_info fi = {fr->rows, fr->cols, fr->spp, fr->bits_alloc};
		struct fiona_err err = {0};
		uint8_t *in = frame_new(fr, (uint32_t)k + 1, false),
			*out = malloc(j2k_frame_size(&fi));
		bool mct = false;
		struct buf b;
		int rc;

		buf_init(&b, 1u << 24);
		TT_CHECK(t, in && out && j2kenc_frame(in, fr, &o, &b) == 0);
		rc = j2k_frame_decode(b.data, b.len, &fi, out, j2k_frame_size(&fi), &mct, &err);
		TT_CHECK_MSG(t, rc == 0, "case %zu: %s", k, err.reason);
		TT_CHECK_MSG(t, !memcmp(in, out, j2k_frame_size(&fi)), "case %zu differs", k);
		TT_CHECK_MSG(t, mct == (fr->spp == 3 && !o.no_mct), "case %zu: mct %d", k, mct);
		buf_release(&b);
		free(in);
		free(out);
	}
}

static void test_irreversible_close(struct tt *t)
{
	const struct j2kenc_frame fr = {ROWS * 4, COLS * 4, 3, 8, 8, false};
	struct j2kenc_opts o = {.ratio = 8};
	struct j2k_frame_info fi = {fr.rows, fr.cols, fr.spp, fr.bits_alloc};
	size_t n = j2k_frame_size(&fi), diff = 0;
	uint8_t *in = frame_new(&fr, 7, true), *out = malloc(n);
	struct fiona_err err = {0};
	bool mct = false;
	struct buf b;

	buf_init(&b, 1u << 24);
	TT_CHECK(t, in && out && j2kenc_frame(in, &fr, &o, &b) == 0);
	TT_CHECK(t, b.len < n / 4);
	TT_CHECK_MSG(t, j2k_frame_decode(b.data, b.len, &fi, out, n, &mct, &err) == 0, "%s",
		     err.reason);
	for (size_t i = 0; i < n; i++)
		diff += (size_t)abs((int)in[i] - (int)out[i]);
	TT_CHECK_MSG(t, diff < n * 3, "mean error %zu/%zu", diff, n);
	TT_CHECK(t, mct);
	buf_release(&b);
	free(in);
	free(out);
}

/* Decoding p into fi must fail with rc and leave out as it was. */
static int refused(const uint8_t *p, size_t n, struct j2k_frame_info fi, size_t out_len)
{
	struct fiona_err err = {0};
	uint8_t *out = malloc(out_len + 1);
	bool mct = false;
	int rc;

	if (!out)
		return -ENOMEM;
	memset(out, 0xA5, out_len + 1);
	rc = j2k_frame_decode(p, n, &fi, out, out_len, &mct, &err);
	for (size_t i = 0; i <= out_len; i++)
		if (out[i] != 0xA5)
			rc = 1; /* written although refused */
	if (rc < 0 && (!err.reason[0] || err.tag != DCM_TAG_PIXEL_DATA))
		rc = 2;
	free(out);
	return rc;
}

static void test_disagreeing_frame(struct tt *t)
{
	const struct j2kenc_frame fr = {ROWS, COLS, 1, 16, 12, false};
	struct j2kenc_opts o = {0};
	struct j2k_frame_info fi = {ROWS, COLS, 1, 16};
	struct fiona_err err = {0};
	uint8_t *in = frame_new(&fr, 3, false);
	struct buf b;

	buf_init(&b, 1u << 24);
	TT_CHECK(t, in && j2kenc_frame(in, &fr, &o, &b) == 0);
	TT_CHECK(t, j2k_frame_check(b.data, b.len, &fi, &err) == 0);
	fi.rows = ROWS - 1;
	TT_CHECK(t, j2k_frame_check(b.data, b.len, &fi, &err) == -EINVAL);
	TT_CHECK(t, refused(b.data, b.len, fi, j2k_frame_size(&fi)) == -EINVAL);
	fi.rows = ROWS, fi.cols = COLS + 2;
	TT_CHECK(t, refused(b.data, b.len, fi, j2k_frame_size(&fi)) == -EINVAL);
	fi.cols = COLS, fi.spp = 3;
	TT_CHECK(t, refused(b.data, b.len, fi, j2k_frame_size(&fi)) == -EINVAL);
	fi.spp = 1, fi.bits_alloc = 8; /* 12-bit precision in 8 bits */
	TT_CHECK(t, refused(b.data, b.len, fi, j2k_frame_size(&fi)) == -EINVAL);
	fi.bits_alloc = 32;
	TT_CHECK(t, refused(b.data, b.len, fi, (size_t)ROWS * COLS * 4) == -ENOTSUP);
	fi.bits_alloc = 16;
	TT_CHECK(t, refused(b.data, b.len, fi, j2k_frame_size(&fi) - 2) == -EINVAL);
	buf_release(&b);
	free(in);
}

static void test_bad_bytes(struct tt *t)
{
	const struct j2kenc_frame fr = {ROWS * 2, COLS * 2, 3, 8, 8, false};
	struct j2k_frame_info fi = {fr.rows, fr.cols, fr.spp, fr.bits_alloc};
	size_t fs = j2k_frame_size(&fi);
	uint8_t *in = frame_new(&fr, 5, false), *bad;
	uint32_t seed = 99;

	for (int jp2 = 0; jp2 < 2; jp2++) {
		struct j2kenc_opts o = {.jp2 = jp2};
		struct buf b;

		buf_init(&b, 1u << 24);
		TT_CHECK(t, in && j2kenc_frame(in, &fr, &o, &b) == 0);
		/* cut anywhere but in the final EOC marker, which OpenJPEG does not need */
		for (size_t cut = 0; cut + 2 < b.len; cut += cut < 300 ? 7 : b.len / 40 + 1)
			TT_CHECK_MSG(t, refused(b.data, cut, fi, fs) < 0,
				     "jp2 %d, cut at %zu of %zu", jp2, cut, b.len);
		TT_CHECK(t, (bad = malloc(b.len)) != NULL);
		for (int k = 0; k < 200; k++) { /* corrupt: an error or some frame, no crash */
			struct fiona_err err = {0};
			uint8_t *out = malloc(fs);
			bool mct;
			int rc;

			memcpy(bad, b.data, b.len);
			for (int j = 0; j < 1 + k % 8; j++)
				bad[rnd(&seed) % b.len] ^= (uint8_t)(1u << (rnd(&seed) % 8));
			rc = j2k_frame_decode(bad, b.len, &fi, out, fs, &mct, &err);
			TT_CHECK(t, rc == 0 || (rc < 0 && err.reason[0]));
			free(out);
		}
		free(bad);
		buf_release(&b);
	}
	TT_CHECK(t, refused((const uint8_t *)"\xFF\xD8\xFF\xE0 JFIF", 10, fi, fs) == -EINVAL);
	TT_CHECK(t, refused(NULL, 0, fi, fs) == -EINVAL);
	free(in);
}

/* ---- whole instances through codec_decode() ------------------------------------------ */

static int put_us(struct buf *b, uint32_t tag, uint16_t v)
{
	uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	return dcm_write_elem(b, tag, DCM_VR('U', 'S'), le, 2);
}

/* A native instance of nf frames of fr (PI pi); *px gets its pixel data (free()). */
static int instance(struct buf *b, const struct j2kenc_frame *fr, const char *pi, int nf,
		    uint8_t **px)
{
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.3.1", "1.2.3.4.5", "1.2.840.10008.1.2.1"};
	size_t fs = (size_t)fr->rows * fr->cols * fr->spp * (fr->bits_alloc / 8u);
	uint8_t *all = malloc(fs * (size_t)nf);
	char frames_is[16];
	int rc;

	for (int f = 0; all && f < nf; f++) {
		uint8_t *one = frame_new(fr, (uint32_t)f + 11, false);

		if (one)
			memcpy(all + (size_t)f * fs, one, fs);
		free(one);
	}
	snprintf(frames_is, sizeof(frames_is), "%d", nf);
	rc = all ? dcm_write_part10_header(b, &m) : -ENOMEM;
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0002), fr->spp);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x0004), DCM_VR('C', 'S'), pi);
	if (fr->spp == 3)
		rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0006), 0);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x0008), DCM_VR('I', 'S'), frames_is);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0010), fr->rows);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0011), fr->cols);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0100), fr->bits_alloc);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0101), fr->bits_stored);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0102), (uint16_t)(fr->bits_stored - 1));
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0103), fr->is_signed);
	rc = rc ? rc
		: dcm_write_elem(b, DCM_TAG_PIXEL_DATA, DCM_VR('O', 'W'), all, fs * (size_t)nf);
	*px = all;
	return rc;
}

static void test_instances(struct tt *t)
{
	static const struct {
		struct j2kenc_frame fr;
		const char *pi;
		enum pix_pi want;
		struct j2kenc_opts o;
	} cases[] = {
		{{ROWS, COLS, 3, 8, 8, false}, "RGB", PIX_RGB, {0}}, /* as YBR_RCT */
		{{ROWS, COLS, 3, 8, 8, false},
		 "RGB",
		 PIX_RGB,
		 {.ratio = 4, .split = 3}}, /* YBR_ICT */
		{{ROWS, COLS, 3, 8, 8, false}, "RGB", PIX_RGB, {.split = 3}},
		{{ROWS, COLS, 3, 8, 8, false}, "RGB", PIX_RGB, {.no_bot = true}},
		{{ROWS, COLS, 3, 8, 8, false},
		 "RGB",
		 PIX_RGB,
		 {.no_bot = true, .split = 2, .jp2 = true}},
		{{ROWS, COLS, 3, 8, 8, false}, "RGB", PIX_RGB, {.no_mct = true, .split = 2}},
		{{ROWS, COLS, 3, 8, 8, false}, "YBR_FULL", PIX_YBR_FULL, {0}},
		{{ROWS, COLS, 1, 16, 12, true}, "MONOCHROME1", PIX_MONO1, {.split = 2}},
		{{ROWS, COLS, 1, 8, 8, false},
		 "MONOCHROME2",
		 PIX_MONO2,
		 {.no_bot = true, .split = 3}},
	};

	for (size_t k = 0; k < CORE_ARRAY_SIZE(cases); k++) {
		struct buf nat, enc;
		struct pix_image im;
		struct fiona_err err = {0};
		uint8_t *px = NULL;
		int rc;

		buf_init(&nat, 1u << 24);
		buf_init(&enc, 1u << 24);
		TT_CHECK(t, instance(&nat, &cases[k].fr, cases[k].pi, 3, &px) == 0);
		TT_CHECK(t, j2kenc_instance(nat.data, nat.len, &cases[k].o, &enc, &err) == 0);
		rc = pix_image_read(enc.data, enc.len, &im, &err);
		TT_CHECK_MSG(t, rc == 0, "case %zu: %s", k, err.reason);
		TT_CHECK(t, im.frames == 3 && im.decoded && im.planar == 0);
		TT_CHECK_MSG(t, im.pi == cases[k].want, "case %zu: pi %d", k, (int)im.pi);
		TT_CHECK(t, im.data_len == pix_frame_size(&im) * 3);
		if (cases[k].o.ratio == 0)
			TT_CHECK_MSG(t, !memcmp(im.data, px, im.data_len), "case %zu: differs", k);
		pix_image_release(&im);
		buf_release(&nat);
		buf_release(&enc);
		free(px);
	}
}

/* An offset to the first byte of the pixel data's first item (the offset table). */
static size_t bot_at(const struct buf *b)
{
	for (size_t i = 0; i + 20 < b->len; i++)
		if (!memcmp(b->data + i, "\xE0\x7F\x10\x00OB\0\0\xFF\xFF\xFF\xFF", 12))
			return i + 12;
	return 0;
}

static void test_instances_refused(struct tt *t)
{
	const struct j2kenc_frame fr = {ROWS, COLS, 3, 8, 8, false};
	struct j2kenc_opts plain = {.no_mct = true, .pi = "YBR_RCT"}, split = {.split = 2};
	struct fiona_err err = {0};
	uint8_t *out = NULL, *px = NULL;
	struct buf nat, enc;
	size_t len = 0, at, cs;

	buf_init(&nat, 1u << 24);
	buf_init(&enc, 1u << 24);
	TT_CHECK(t, instance(&nat, &fr, "RGB", 2, &px) == 0);
	/* YBR_RCT whose codestream has no transform: the samples are neither */
	TT_CHECK(t, j2kenc_instance(nat.data, nat.len, &plain, &enc, &err) == 0);
	TT_CHECK(t, codec_decode(enc.data, enc.len, &out, &len, &err) == -ENOTSUP);
	TT_CHECK(t, err.tag == DCM_TAG(0x0028, 0x0004));
	/* an offset table entry in the middle of a frame's first fragment */
	buf_reset(&enc);
	TT_CHECK(t, j2kenc_instance(nat.data, nat.len, &split, &enc, &err) == 0);
	TT_CHECK(t, (at = bot_at(&enc)) != 0);
	enc.data[at + 8 + 4] += 2;
	TT_CHECK(t, codec_decode(enc.data, enc.len, &out, &len, &err) == -EINVAL);
	TT_CHECK(t, strstr(err.reason, "offset table"));
	/* the second frame's image size zeroed (Xsiz, Ysiz of its SIZ marker) */
	enc.data[at + 8 + 4] -= 2;
	TT_CHECK(t, codec_decode(enc.data, enc.len, &out, &len, &err) == 0);
	free(out);
	out = NULL;
	cs = at + 16 +
	     (enc.data[at + 12] | (size_t)enc.data[at + 13] << 8 |
	      (size_t)enc.data[at + 14] << 16) +
	     8;
	TT_CHECK(t, cs + 16 < enc.len && !memcmp(enc.data + cs, "\xFF\x4F\xFF\x51", 4));
	memset(enc.data + cs + 8, 0, 8);
	TT_CHECK(t, codec_decode(enc.data, enc.len, &out, &len, &err) == -EINVAL);
	TT_CHECK_MSG(t, strstr(err.reason, "frame 2"), "%s", err.reason);
	TT_CHECK(t, out == NULL);
	buf_release(&nat);
	buf_release(&enc);
	free(px);
}

TT_MAIN(TT_CASE(test_reversible_exact), TT_CASE(test_irreversible_close),
	TT_CASE(test_disagreeing_frame), TT_CASE(test_bad_bytes), TT_CASE(test_instances),
	TT_CASE(test_instances_refused))
