/*
 * j2k: one JPEG 2000 frame decoded by OpenJPEG (libopenjp2) into native samples, for the
 * JPEG 2000 transfer syntaxes of anon/codec.cc (dcmtk has no JPEG 2000 decoder). A frame
 * is a J2K codestream or, when it starts with the JP2 signature box, a JP2 file; OpenJPEG
 * reads it from memory through a stream with read, skip and seek callbacks.
 *
 * Invariants:
 * - What OpenJPEG reports after the main header (columns, rows, components, precision, no
 *   subsampling) must agree with the dataset before a tile is decoded, so decoding never
 *   allocates more than the dataset's own frame size.
 * - Strict mode (OpenJPEG's default, set anyway): a truncated codestream is an error, not
 *   a frame with its lower part missing, which would then be cleaned blind.
 * - OpenJPEG's messages never reach stderr: its first error message becomes err's reason
 *   (codestream internals only, never pixel or header values), the rest are dropped.
 * - The output is written only once the whole frame has decoded.
 */
#include "core/core.h"

#include <errno.h>
#include <limits.h>
#include <openjpeg.h>

#include "anon/anon.h"
#include "anon/codec_int.h"

/* The JP2 signature box (ISO/IEC 15444-1 I.5.1); a codestream starts with SOC, SIZ. */
static const uint8_t jp2_sig[12] = {0, 0, 0, 12, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A};
static const uint8_t j2k_soc[4] = {0xFF, 0x4F, 0xFF, 0x51};

struct j2k_src {
	const uint8_t *p;
	size_t n, pos;
};

struct j2k_msg {
	char text[160];
};

static OPJ_SIZE_T src_read(void *buf, OPJ_SIZE_T want, void *user)
{
	struct j2k_src *s = user;
	size_t left = s->n - s->pos;

	if (!left)
		return (OPJ_SIZE_T)-1; /* OpenJPEG's end of stream */
	if (want > left)
		want = left;
	memcpy(buf, s->p + s->pos, want);
	s->pos += want;
	return want;
}

/* At the end -1, never 0: OpenJPEG's skip loop would call again for ever. */
static OPJ_OFF_T src_skip(OPJ_OFF_T by, void *user)
{
	struct j2k_src *s = user;
	size_t left = s->n - s->pos;

	if (by < 0 || !left)
		return -1;
	if ((uint64_t)by > left)
		by = (OPJ_OFF_T)left;
	s->pos += (size_t)by;
	return by;
}

static OPJ_BOOL src_seek(OPJ_OFF_T to, void *user)
{
	struct j2k_src *s = user;

	if (to < 0 || (uint64_t)to > s->n)
		return OPJ_FALSE;
	s->pos = (size_t)to;
	return OPJ_TRUE;
}

static void msg_keep_first(const char *msg, void *user)
{
	struct j2k_msg *m = user;
	size_t len;

	if (m->text[0] || !msg)
		return;
	snprintf(m->text, sizeof(m->text), "%s", msg);
	len = strlen(m->text);
	while (len && (m->text[len - 1] == '\n' || m->text[len - 1] == ' '))
		m->text[--len] = '\0';
}

static void msg_drop(const char *msg, void *user)
{
	(void)msg;
	(void)user;
}

bool j2k_frame_starts(const uint8_t *p, size_t n)
{
	return (n >= sizeof(jp2_sig) && !memcmp(p, jp2_sig, sizeof(jp2_sig))) ||
	       (n >= sizeof(j2k_soc) && !memcmp(p, j2k_soc, sizeof(j2k_soc)));
}

size_t j2k_frame_size(const struct j2k_frame_info *fi)
{
	return (size_t)fi->rows * fi->cols * fi->spp * (fi->bits_alloc / 8u);
}

static int j2k_fail(struct fiona_err *err, int code, const char *what, const struct j2k_msg *m)
{
	return err_set(err, code, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA, "JPEG 2000 %s%s%s", what,
		       m->text[0] ? ": " : "", m->text);
}

/* A decoder for the format the bytes announce, quiet, strict and single-threaded (the
 * workers of `fiona anonymize -j` already use the cores). */
static int codec_open(const uint8_t *p, size_t n, struct j2k_msg *m, opj_codec_t **out,
		      struct fiona_err *err)
{
	opj_dparameters_t par;
	OPJ_CODEC_FORMAT fmt;
	opj_codec_t *c;

	if (n >= sizeof(jp2_sig) && !memcmp(p, jp2_sig, sizeof(jp2_sig)))
		fmt = OPJ_CODEC_JP2;
	else if (n >= sizeof(j2k_soc) && !memcmp(p, j2k_soc, sizeof(j2k_soc)))
		fmt = OPJ_CODEC_J2K;
	else
		return j2k_fail(err, -EINVAL, "frame is neither a codestream nor a JP2 file", m);
	if (!(c = opj_create_decompress(fmt)))
		return j2k_fail(err, -ENOMEM, "decoder: out of memory", m);
	opj_set_info_handler(c, msg_drop, m);
	opj_set_warning_handler(c, msg_drop, m);
	opj_set_error_handler(c, msg_keep_first, m);
	opj_set_default_decoder_parameters(&par);
	if (!opj_setup_decoder(c, &par) || !opj_decoder_set_strict_mode(c, OPJ_TRUE) ||
	    !opj_codec_set_threads(c, 1)) {
		opj_destroy_codec(c);
		return j2k_fail(err, -EIO, "decoder cannot be set up", m);
	}
	*out = c;
	return 0;
}

static opj_stream_t *stream_open(struct j2k_src *src)
{
	opj_stream_t *s = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);

	if (!s)
		return NULL;
	opj_stream_set_user_data(s, src, NULL);
	opj_stream_set_user_data_length(s, src->n);
	opj_stream_set_read_function(s, src_read);
	opj_stream_set_skip_function(s, src_skip);
	opj_stream_set_seek_function(s, src_seek);
	return s;
}

/* The header's image against the dataset's frame, before anything is decoded. */
static int check_image(const opj_image_t *im, const struct j2k_frame_info *fi,
		       struct fiona_err *err)
{
	if (im->numcomps != fi->spp)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000 frame has %u components, SamplesPerPixel is %u",
			       im->numcomps, fi->spp);
	for (unsigned c = 0; c < im->numcomps; c++) {
		const opj_image_comp_t *cp = &im->comps[c];

		if (cp->dx != 1 || cp->dy != 1)
			return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
				       "JPEG 2000 component %u is subsampled", c);
		if (cp->w != fi->cols || cp->h != fi->rows)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
				       "JPEG 2000 frame is %ux%u, Columns x Rows is %ux%u", cp->w,
				       cp->h, fi->cols, fi->rows);
		if (cp->prec < 1 || cp->prec > fi->bits_alloc)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
				       "JPEG 2000 precision %u does not fit BitsAllocated %u",
				       cp->prec, fi->bits_alloc);
	}
	return 0;
}

/* Whether the main header's coding style asks for the multi-component transform. */
static bool header_mct(opj_codec_t *c)
{
	opj_codestream_info_v2_t *info = opj_get_cstr_info(c);
	bool mct = info && info->m_default_tile_info.mct != 0;

	opj_destroy_cstr_info(&info);
	return mct;
}

/* Samples clamped to the component's range (a lossy decode can overshoot it by a little;
 * OpenJPEG clamps too, this keeps the output safe whatever it does). */
static void put_samples(const opj_image_t *im, const struct j2k_frame_info *fi, uint8_t *out)
{
	size_t npix = (size_t)fi->rows * fi->cols, bytes = fi->bits_alloc / 8u;

	for (unsigned c = 0; c < fi->spp; c++) {
		const opj_image_comp_t *cp = &im->comps[c];
		int32_t lo = cp->sgnd ? -(1 << (cp->prec - 1)) : 0;
		int32_t hi = cp->sgnd ? (1 << (cp->prec - 1)) - 1 : (int32_t)((1u << cp->prec) - 1);

		for (size_t i = 0; i < npix; i++) {
			int32_t v = cp->data[i] < lo ? lo : cp->data[i] > hi ? hi : cp->data[i];
			uint8_t *o = out + (i * fi->spp + c) * bytes;

			o[0] = (uint8_t)v;
			if (bytes == 2)
				o[1] = (uint8_t)((uint32_t)v >> 8);
		}
	}
}

static int check_request(size_t n, const struct j2k_frame_info *fi, size_t out_len,
			 struct fiona_err *err)
{
	if ((fi->spp != 1 && fi->spp != 3) || (fi->bits_alloc != 8 && fi->bits_alloc != 16))
		return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000 with %u samples of %u bits is not supported", fi->spp,
			       fi->bits_alloc);
	if (!fi->rows || !fi->cols || out_len != j2k_frame_size(fi))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000 frame of %ux%u pixels into %zu bytes", fi->cols, fi->rows,
			       out_len);
	if (n > (size_t)INT64_MAX)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000 frame too large");
	return 0;
}

/* An open decoder past the main header, which agrees with the dataset. */
struct j2k_dec {
	struct j2k_src src;
	struct j2k_msg m;
	opj_codec_t *c;
	opj_stream_t *s;
	opj_image_t *im;
};

static void dec_close(struct j2k_dec *d)
{
	opj_image_destroy(d->im);
	opj_stream_destroy(d->s);
	opj_destroy_codec(d->c);
}

/* On failure d is closed already. */
static int dec_open(struct j2k_dec *d, const uint8_t *p, size_t n, const struct j2k_frame_info *fi,
		    struct fiona_err *err)
{
	int rc;

	memset(d, 0, sizeof(*d));
	d->src = (struct j2k_src){p, n, 0};
	if ((rc = codec_open(p, n, &d->m, &d->c, err)))
		return rc;
	if (!(d->s = stream_open(&d->src)))
		rc = j2k_fail(err, -ENOMEM, "stream: out of memory", &d->m);
	else if (!opj_read_header(d->s, d->c, &d->im))
		rc = j2k_fail(err, -EINVAL, "header does not parse", &d->m);
	else
		rc = check_image(d->im, fi, err);
	if (rc)
		dec_close(d);
	return rc;
}

int j2k_frame_check(const uint8_t *p, size_t n, const struct j2k_frame_info *fi,
		    struct fiona_err *err)
{
	struct j2k_dec d;
	int rc;

	if ((rc = check_request(n, fi, j2k_frame_size(fi), err)) ||
	    (rc = dec_open(&d, p, n, fi, err)))
		return rc;
	dec_close(&d);
	return 0;
}

int j2k_frame_decode(const uint8_t *p, size_t n, const struct j2k_frame_info *fi, uint8_t *out,
		     size_t out_len, bool *mct, struct fiona_err *err)
{
	struct j2k_dec d;
	bool has_mct;
	int rc;

	if ((rc = check_request(n, fi, out_len, err)) || (rc = dec_open(&d, p, n, fi, err)))
		return rc;
	has_mct = fi->spp == 3 && header_mct(d.c);
	if (!opj_decode(d.c, d.s, d.im) || !opj_end_decompress(d.c, d.s)) {
		rc = j2k_fail(err, -EIO, "decoding failed", &d.m);
		goto fail;
	}
	/* what was decoded must still be the frame that was checked */
	if ((rc = check_image(d.im, fi, err)))
		goto fail;
	for (unsigned k = 0; k < d.im->numcomps; k++)
		if (!d.im->comps[k].data) {
			rc = j2k_fail(err, -EIO, "decoding left a component empty", &d.m);
			goto fail;
		}
	put_samples(d.im, fi, out);
	*mct = has_mct;
	rc = 0;
fail:
	dec_close(&d);
	return rc;
}
