/*
 * j2kenc: JPEG 2000 test inputs through OpenJPEG's encoder. A frame goes to OpenJPEG as
 * one image component per sample, encoded into a growable memory sink that supports the
 * skip and seek OpenJPEG uses to go back and fill in JP2 box lengths. An instance is
 * rewritten element by element (raw bytes copied: the input must be explicit VR little
 * endian, as gen_burned writes) with its pixel data encapsulated: the Basic Offset Table
 * is written first and patched once the fragments are in place.
 *
 * OpenJPEG's messages are dropped: this is a generator, its errors are the return codes.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <openjpeg.h>

#include "anon/anon.h"
#include "tests/gen/lib/j2kenc.h"

struct sink {
	uint8_t *p;
	size_t len, cap, pos;
};

/* Makes [pos, pos + n) writable, zero-filling any gap past the end. */
static bool sink_grow(struct sink *s, size_t n)
{
	size_t end = s->pos + n;

	if (end > s->cap) {
		size_t cap = s->cap ? s->cap : 65536;
		uint8_t *np;

		while (cap < end)
			cap *= 2;
		if (!(np = realloc(s->p, cap)))
			return false;
		s->p = np;
		s->cap = cap;
	}
	if (end > s->len) {
		if (s->pos > s->len)
			memset(s->p + s->len, 0, s->pos - s->len);
		s->len = end;
	}
	return true;
}

static OPJ_SIZE_T sink_write(void *buf, OPJ_SIZE_T n, void *user)
{
	struct sink *s = user;

	if (!sink_grow(s, n))
		return (OPJ_SIZE_T)-1;
	memcpy(s->p + s->pos, buf, n);
	s->pos += n;
	return n;
}

static OPJ_OFF_T sink_skip(OPJ_OFF_T by, void *user)
{
	struct sink *s = user;

	if (by < 0 || !sink_grow(s, (size_t)by))
		return -1;
	s->pos += (size_t)by;
	return by;
}

static OPJ_BOOL sink_seek(OPJ_OFF_T to, void *user)
{
	struct sink *s = user;

	if (to < 0 || (size_t)to > s->len)
		return OPJ_FALSE;
	s->pos = (size_t)to;
	return OPJ_TRUE;
}

static void quiet(const char *msg, void *user)
{
	(void)msg;
	(void)user;
}

/* One stored sample of the frame, sign-extended from bits_stored. */
static int32_t sample(const uint8_t *pix, const struct j2kenc_frame *fr, size_t i)
{
	uint32_t v = fr->bits_alloc == 16 ? (uint32_t)(pix[2 * i] | pix[2 * i + 1] << 8) : pix[i];
	uint32_t mask = (1u << fr->bits_stored) - 1, sign = 1u << (fr->bits_stored - 1);

	v &= mask;
	return fr->is_signed && (v & sign) ? (int32_t)v - (int32_t)(mask + 1) : (int32_t)v;
}

static opj_image_t *image_new(const uint8_t *pix, const struct j2kenc_frame *fr)
{
	opj_image_cmptparm_t cp[3];
	opj_image_t *im;
	size_t npix = (size_t)fr->rows * fr->cols;

	if (fr->spp != 1 && fr->spp != 3)
		return NULL;
	memset(cp, 0, sizeof(cp));
	for (unsigned c = 0; c < fr->spp; c++) {
		cp[c].dx = cp[c].dy = 1;
		cp[c].w = fr->cols;
		cp[c].h = fr->rows;
		cp[c].prec = fr->bits_stored;
		cp[c].sgnd = fr->is_signed;
	}
	im = opj_image_create(fr->spp, cp, fr->spp == 3 ? OPJ_CLRSPC_SRGB : OPJ_CLRSPC_GRAY);
	if (!im)
		return NULL;
	im->x1 = fr->cols;
	im->y1 = fr->rows;
	for (unsigned c = 0; c < fr->spp; c++)
		for (size_t i = 0; i < npix; i++)
			im->comps[c].data[i] = sample(pix, fr, i * fr->spp + c);
	return im;
}

/* Reversible 5/3 or irreversible 9/7 at the ratio; resolutions as many as the size has. */
static void params_set(opj_cparameters_t *par, const struct j2kenc_frame *fr,
		       const struct j2kenc_opts *o)
{
	int res = 1;

	opj_set_default_encoder_parameters(par);
	while (res < 6 && (1 << res) <= (fr->rows < fr->cols ? fr->rows : fr->cols))
		res++;
	par->numresolution = res;
	par->tcp_numlayers = 1;
	par->cp_disto_alloc = 1;
	par->tcp_rates[0] = o->ratio > 0 ? o->ratio : 0; /* 0: lossless */
	par->irreversible = o->ratio > 0;
	par->tcp_mct = fr->spp == 3 && !o->no_mct ? 1 : 0;
}

int j2kenc_frame(const uint8_t *pix, const struct j2kenc_frame *fr, const struct j2kenc_opts *o,
		 struct buf *out)
{
	opj_image_t *im = image_new(pix, fr);
	opj_codec_t *c = opj_create_compress(o->jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
	opj_stream_t *s = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE);
	struct sink snk = {0};
	opj_cparameters_t par;
	int rc = -ENOMEM;

	if (!im || !c || !s)
		goto fail;
	opj_set_info_handler(c, quiet, NULL);
	opj_set_warning_handler(c, quiet, NULL);
	opj_set_error_handler(c, quiet, NULL);
	params_set(&par, fr, o);
	rc = -EINVAL;
	if (!opj_setup_encoder(c, &par, im))
		goto fail;
	opj_stream_set_user_data(s, &snk, NULL);
	opj_stream_set_write_function(s, sink_write);
	opj_stream_set_skip_function(s, sink_skip);
	opj_stream_set_seek_function(s, sink_seek);
	rc = -EIO;
	if (!opj_start_compress(c, im, s) || !opj_encode(c, s) || !opj_end_compress(c, s))
		goto fail;
	rc = buf_append(out, snk.p, snk.len);
fail:
	free(snk.p);
	opj_stream_destroy(s);
	opj_destroy_codec(c);
	opj_image_destroy(im);
	return rc;
}

/* ---- instances --------------------------------------------------------------------- */

static int put_le32_at(struct buf *b, size_t at, uint32_t v)
{
	if (at + 4 > b->len)
		return -EINVAL;
	for (int k = 0; k < 4; k++)
		b->data[at + k] = (uint8_t)(v >> (8 * k));
	return 0;
}

static int item_header(struct buf *b, uint16_t el, uint32_t len)
{
	int rc = buf_append_le16(b, 0xFFFE);

	rc = rc ? rc : buf_append_le16(b, el);
	return rc ? rc : buf_append_le32(b, len);
}

/* One frame's codestream as split fragments of even length (the last one zero-padded). */
static int put_fragments(struct buf *b, const struct buf *cs, unsigned split)
{
	size_t parts = split ? split : 1, part = ((cs->len + parts - 1) / parts + 1) & ~(size_t)1;
	int rc = 0;

	for (size_t at = 0; !rc && at < cs->len; at += part) {
		size_t len = cs->len - at < part ? cs->len - at : part;

		rc = item_header(b, 0xE000, (uint32_t)((len + 1) & ~(size_t)1));
		rc = rc ? rc : buf_append(b, cs->data + at, len);
		if (!rc && len % 2)
			rc = buf_append_u8(b, 0);
	}
	return rc;
}

/* Encapsulated (7FE0,0010): offset table, each frame's fragments, sequence delimiter. */
static int put_pixels(struct buf *b, const struct pix_image *im, const struct j2kenc_opts *o)
{
	static const uint8_t head[12] = {0xE0, 0x7F, 0x10, 0x00, 'O',  'B',
					 0,    0,    0xFF, 0xFF, 0xFF, 0xFF};
	struct j2kenc_frame fr = {im->rows,	  im->cols,	   im->spp,
				  im->bits_alloc, im->bits_stored, im->is_signed};
	uint32_t bot_len = o->no_bot ? 0 : (uint32_t)im->frames * 4;
	size_t bot_at, first;
	struct buf cs;
	int rc;

	buf_init(&cs, (size_t)1 << 30);
	rc = buf_append(b, head, sizeof(head));
	rc = rc ? rc : item_header(b, 0xE000, bot_len);
	bot_at = b->len;
	for (uint32_t k = 0; !rc && k < bot_len; k++)
		rc = buf_append_u8(b, 0);
	first = b->len;
	for (long f = 0; !rc && f < im->frames; f++) {
		buf_reset(&cs);
		rc = j2kenc_frame(im->data + (size_t)f * pix_frame_size(im), &fr, o, &cs);
		if (!rc && bot_len)
			rc = put_le32_at(b, bot_at + (size_t)f * 4, (uint32_t)(b->len - first));
		rc = rc ? rc : put_fragments(b, &cs, o->split);
	}
	rc = rc ? rc : item_header(b, 0xE0DD, 0);
	buf_release(&cs);
	return rc;
}

static const char *pi_name(const struct pix_image *im, const struct j2kenc_opts *o)
{
	static const char *const names[] = {"MONOCHROME1", "MONOCHROME2",  "RGB",
					    "YBR_FULL",	   "YBR_FULL_422", "PALETTE COLOR"};

	if (o->pi)
		return o->pi;
	if (im->spp == 3 && !o->no_mct)
		return o->ratio > 0 ? "YBR_ICT" : "YBR_RCT";
	return names[im->pi];
}

/* The top-level attributes before the pixel data, copied; PI and lossy marking written. */
static int put_header(struct buf *b, const uint8_t *p, size_t n, const struct pix_image *im,
		      const struct j2kenc_opts *o, struct fiona_err *err)
{
	const uint32_t lossy_tag = DCM_TAG(0x0028, 0x2110);
	bool lossy = o->ratio > 0;
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	int rc, k;

	if ((rc = dcm_reader_new(p, n, &r, err)))
		return rc;
	while ((k = dcm_reader_next(r, &e)) > 0 && !rc) {
		if (e.in_meta || e.depth)
			continue;
		if (e.kind != DCM_ELEMENT || e.tag == DCM_TAG_PIXEL_DATA)
			break;
		if (lossy && e.tag >= lossy_tag) {
			rc = dcm_write_str(b, lossy_tag, DCM_VR('C', 'S'), "01");
			lossy = false;
			if (rc || e.tag == lossy_tag)
				continue;
		}
		if (e.tag == DCM_TAG(0x0028, 0x0004))
			rc = dcm_write_str(b, e.tag, DCM_VR('C', 'S'), pi_name(im, o));
		else
			rc = buf_append(b, p + e.offset,
					(size_t)(e.value_offset - e.offset) + e.length);
	}
	if (!rc && k > 0 && e.kind != DCM_ELEMENT && e.kind != DCM_PIXEL_BEGIN)
		rc = err_set(err, -ENOTSUP, e.offset, e.tag, "j2kenc: sequences are not copied");
	if (!rc && k < 0)
		rc = k;
	if (!rc && lossy)
		rc = dcm_write_str(b, lossy_tag, DCM_VR('C', 'S'), "01");
	dcm_reader_free(r);
	return rc;
}

int j2kenc_instance(const uint8_t *p, size_t n, const struct j2kenc_opts *o, struct buf *out,
		    struct fiona_err *err)
{
	struct j2kenc_opts eo = *o;
	struct pix_image im;
	struct dcm_summary s;
	int rc;

	if ((rc = dcm_summary_read(p, n, &s, err)) || (rc = pix_image_read(p, n, &im, err)))
		return rc;
	if (strcmp(s.transfer_syntax, "1.2.840.10008.1.2.1") || im.planar || im.pi == PIX_YBR_422) {
		rc = err_set(err, -ENOTSUP, CORE_NO_OFFSET, CORE_NO_TAG,
			     "j2kenc: explicit VR little endian, planar configuration 0, no 4:2:2");
		goto fail;
	}
	/* the transform is for RGB: on YBR_FULL samples the decoded PI would be wrong */
	eo.no_mct = eo.no_mct || im.pi != PIX_RGB;
	struct dcm_meta m = {s.sop_class_uid, s.sop_uid,
			     o->ratio > 0 ? J2KENC_UID_LOSSY : J2KENC_UID_LOSSLESS};
	rc = dcm_write_part10_header(out, &m);
	rc = rc ? rc : put_header(out, p, n, &im, &eo, err);
	rc = rc ? rc : put_pixels(out, &im, &eo);
fail:
	pix_image_release(&im);
	return rc;
}
