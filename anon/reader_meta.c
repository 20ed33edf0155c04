/*
 * The reader's set-up: Part-10 detection (preamble + "DICM", or a bare group 0002), the
 * file meta information scan that finds the transfer syntax, transfer syntax properties,
 * detection of implicit vs explicit VR for bare datasets, and raw-deflate inflation of a
 * deflated dataset into a reader-owned buffer capped at DCM_READ_MAX_INFLATED.
 *
 * Invariants: every meta element is checked against the input length here, so the event
 * walk over the meta header in reader.c cannot overrun; meta_start <= meta_end <= in_n.
 */
#include "core/core.h"
#include "anon/reader_int.h"

#include <errno.h>
#include <zlib.h>

#define TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define TS_EXPLICIT_BE "1.2.840.10008.1.2.2"
#define TS_DEFLATED    "1.2.840.10008.1.2.1.99"

static void meta_ts_set(struct dcm_ts *ts, const char *uid)
{
	snprintf(ts->uid, sizeof(ts->uid), "%s", uid);
	ts->explicit_vr = strcmp(uid, TS_IMPLICIT_LE) != 0;
	ts->big_endian = !strcmp(uid, TS_EXPLICIT_BE);
	ts->deflated = !strcmp(uid, TS_DEFLATED);
	/* Every transfer syntax other than the native ones encapsulates pixel data. */
	ts->encapsulated = strcmp(uid, TS_IMPLICIT_LE) && strcmp(uid, TS_EXPLICIT_LE) &&
			   strcmp(uid, TS_EXPLICIT_BE) && strcmp(uid, TS_DEFLATED);
}

/* A dataset whose first element carries two VR letters at bytes 4-5 is explicit VR. */
static bool meta_looks_explicit(const uint8_t *p, size_t n)
{
	if (n < 6 || p[4] < 'A' || p[4] > 'Z' || p[5] < 'A' || p[5] > 'Z')
		return false;
	return dcm_vr_is_known(DCM_VR(p[4], p[5]));
}

/* A bare explicit dataset in big endian, as dcmtk decides it: the first group read little
 * endian is large (0x0800 for 0x0008) while read big endian it is a small group. */
static bool meta_looks_big_endian(const uint8_t *p, size_t n)
{
	unsigned le, be;

	if (n < 2)
		return false;
	le = p[0] | (unsigned)p[1] << 8;
	be = (unsigned)p[0] << 8 | p[1];
	return le > 0xff && be <= 0xff;
}

static int meta_copy_uid(const uint8_t *v, uint32_t len, char *out, size_t cap)
{
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\0'))
		len--;
	if (len >= cap)
		return -EINVAL;
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

/* Walks group 0002 (explicit VR little endian) from r->meta_start; fills uid. */
static int meta_walk(struct dcm_reader *r, char *uid, size_t cap, struct fiona_err *err)
{
	size_t pos = r->meta_start;
	const uint8_t *p = r->in;

	while (r->in_n - pos >= 8 && reader_rd16(p + pos, false) == 0x0002) {
		uint32_t tag = DCM_TAG(0x0002, reader_rd16(p + pos + 2, false));
		uint16_t vr = DCM_VR(p[pos + 4], p[pos + 5]);
		size_t hlen = 8, end;
		uint32_t len;

		if (!dcm_vr_is_known(vr))
			return err_set(err, -EINVAL, pos, tag, "meta header: invalid VR");
		if (dcm_vr_has_long_length(vr)) {
			if (r->in_n - pos < 12)
				return err_set(err, -EINVAL, pos, tag,
					       "meta header: truncated element header");
			len = reader_rd32(p + pos + 8, false);
			hlen = 12;
		} else {
			len = reader_rd16(p + pos + 6, false);
		}
		if (len == DCM_UNDEFINED_LENGTH || vr == DCM_VR_SQ)
			return err_set(err, -EINVAL, pos, tag,
				       "meta header: sequence or undefined length");
		if (core_add_size(pos + hlen, len, &end) || end > r->in_n)
			return err_set(err, -EINVAL, pos, tag,
				       "value length %u exceeds the %zu bytes remaining", len,
				       r->in_n - pos - hlen);
		if (tag == DCM_TAG(0x0002, 0x0010) && meta_copy_uid(p + pos + hlen, len, uid, cap))
			return err_set(err, -EINVAL, pos, tag,
				       "transfer syntax UID longer than 64");
		pos = end;
	}
	r->meta_end = pos;
	return 0;
}

int reader_meta_scan(struct dcm_reader *r, struct fiona_err *err)
{
	char uid[65] = "";
	int rc;

	if (r->in_n >= 132 && !memcmp(r->in + 128, "DICM", 4)) {
		r->has_meta = true;
		r->meta_start = 132;
	} else if (r->in_n >= 8 && reader_rd16(r->in, false) == 0x0002 &&
		   meta_looks_explicit(r->in, r->in_n)) {
		r->meta_start = 0; /* meta header without preamble */
	} else {
		r->meta_start = r->meta_end = 0;
		meta_ts_set(&r->ts, !meta_looks_explicit(r->in, r->in_n)    ? TS_IMPLICIT_LE
				    : meta_looks_big_endian(r->in, r->in_n) ? TS_EXPLICIT_BE
									    : TS_EXPLICIT_LE);
		return 0;
	}
	rc = meta_walk(r, uid, sizeof(uid), err);
	if (rc < 0)
		return rc;
	if (!uid[0])
		snprintf(uid, sizeof(uid), "%s",
			 meta_looks_explicit(r->in + r->meta_end, r->in_n - r->meta_end)
				 ? TS_EXPLICIT_LE
				 : TS_IMPLICIT_LE);
	meta_ts_set(&r->ts, uid);
	return 0;
}

static int inflate_grow(struct dcm_reader *r, size_t *cap, z_stream *zs)
{
	size_t ncap = *cap ? *cap * 2 : 1u << 16;
	uint8_t *np;

	if (*cap >= DCM_READ_MAX_INFLATED)
		return -E2BIG;
	if (ncap > DCM_READ_MAX_INFLATED)
		ncap = DCM_READ_MAX_INFLATED;
	np = realloc(r->inflated, ncap);
	if (!np)
		return -ENOMEM;
	r->inflated = np;
	zs->next_out = np + r->inflated_n;
	zs->avail_out =
		(uInt)((ncap - r->inflated_n) > UINT32_MAX ? UINT32_MAX : ncap - r->inflated_n);
	*cap = ncap;
	return 0;
}

int reader_inflate(struct dcm_reader *r, struct fiona_err *err)
{
	z_stream zs;
	size_t cap = 0, in_left = r->in_n - r->meta_end;
	int zrc = Z_OK, rc = 0;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
		return err_set(err, -ENOMEM, r->meta_end, CORE_NO_TAG, "inflateInit failed");
	zs.next_in = (Bytef *)(uintptr_t)(r->in + r->meta_end);
	while (zrc != Z_STREAM_END) {
		if (zs.avail_in == 0 && in_left > 0) {
			zs.avail_in = (uInt)(in_left > UINT32_MAX ? UINT32_MAX : in_left);
			in_left -= zs.avail_in;
		}
		if (zs.avail_out == 0) {
			rc = inflate_grow(r, &cap, &zs);
			if (rc < 0) {
				err_set(err, rc, r->meta_end, CORE_NO_TAG,
					rc == -E2BIG ? "inflated dataset larger than the cap"
						     : "out of memory inflating the dataset");
				goto fail;
			}
		}
		size_t before = zs.avail_out;
		zrc = inflate(&zs, Z_NO_FLUSH);
		r->inflated_n += before - zs.avail_out;
		if (zrc == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0)
			break; /* input ended without a final block: accept what came out */
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
			rc = err_set(err, -EINVAL, r->meta_end + zs.total_in, CORE_NO_TAG,
				     "deflated dataset: %s", zs.msg ? zs.msg : "corrupt stream");
			goto fail;
		}
	}
	inflateEnd(&zs);
	return 0;
fail:
	inflateEnd(&zs);
	return rc;
}
