/* Unit tests for the DICOM reader (anon/reader*.c): hand-built buffers in every transfer
 * syntax, nested and undefined-length sequences, encapsulated pixel data, deflate, values,
 * the summary, and truncated or malformed inputs that must fail with the right offset. */
#include "core/core.h"
#include "anon/anon.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <zlib.h>

/* ---- builders ---------------------------------------------------------------------- */

static void put16(struct buf *b, uint16_t v, int be)
{
	uint8_t x[2] = {be ? v >> 8 : v & 0xff, be ? v & 0xff : v >> 8};
	buf_append(b, x, 2);
}

static void put32(struct buf *b, uint32_t v, int be)
{
	if (be) {
		put16(b, (uint16_t)(v >> 16), 1);
		put16(b, (uint16_t)v, 1);
	} else {
		put16(b, (uint16_t)v, 0);
		put16(b, (uint16_t)(v >> 16), 0);
	}
}

/* Explicit VR header (be: big endian). */
static void ex(struct buf *b, uint32_t tag, const char *vr, uint32_t len, int be)
{
	put16(b, DCM_GROUP(tag), be);
	put16(b, DCM_ELEM(tag), be);
	buf_append(b, vr, 2);
	if (dcm_vr_has_long_length(DCM_VR(vr[0], vr[1]))) {
		put16(b, 0, be);
		put32(b, len, be);
	} else {
		put16(b, (uint16_t)len, be);
	}
}

static void ex_str(struct buf *b, uint32_t tag, const char *vr, const char *s, int be)
{
	size_t n = strlen(s);

	ex(b, tag, vr, (uint32_t)(n + (n & 1)), be);
	buf_append(b, s, n);
	if (n & 1)
		buf_append(b, vr[0] == 'U' && vr[1] == 'I' ? "\0" : " ", 1);
}

/* Implicit VR header, and item/delimiter headers (any syntax). */
static void im(struct buf *b, uint32_t tag, uint32_t len, int be)
{
	put16(b, DCM_GROUP(tag), be);
	put16(b, DCM_ELEM(tag), be);
	put32(b, len, be);
}

static void im_str(struct buf *b, uint32_t tag, const char *s)
{
	size_t n = strlen(s);

	im(b, tag, (uint32_t)(n + (n & 1)), 0);
	buf_append(b, s, n);
	if (n & 1)
		buf_append(b, " ", 1);
}

/* Preamble, DICM and a meta header with transfer syntax uid. */
static void part10(struct buf *b, const char *uid)
{
	static const uint8_t zero[128];
	struct buf m;

	buf_init(&m, 1 << 20);
	ex_str(&m, DCM_TAG(0x0002, 0x0002), "UI", "1.2.840.10008.5.1.4.1.1.7", 0);
	ex_str(&m, DCM_TAG(0x0002, 0x0010), "UI", uid, 0);
	buf_append(b, zero, sizeof(zero));
	buf_append(b, "DICM", 4);
	ex(b, DCM_TAG(0x0002, 0x0000), "UL", 4, 0);
	put32(b, (uint32_t)m.len, 0);
	buf_append(b, m.data, m.len);
	buf_release(&m);
}

/* Reads all events into ev (up to cap); returns the count, or the error code. */
static int walk(const struct buf *b, struct dcm_elem *ev, int cap, struct fiona_err *err)
{
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	int n = 0, rc;

	rc = dcm_reader_new(b->data, b->len, &r, err);
	if (rc < 0)
		return rc;
	while ((rc = dcm_reader_next(r, &e)) == 1)
		if (n < cap)
			ev[n++] = e;
	if (rc < 0) {
		*err = *dcm_reader_error(r);
		if (dcm_reader_next(r, &e) != rc) /* sticky */
			rc = -999;
		n = rc;
	}
	dcm_reader_free(r);
	return n;
}

/* ---- cases ------------------------------------------------------------------------- */

static void t_explicit_le_bare(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[8];
	struct fiona_err err;
	struct dcm_reader *r;
	char s[64];
	uint32_t u;
	int n;

	buf_init(&b, 1 << 20);
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", 0);
	ex_str(&b, DCM_TAG(0x0010, 0x0010), "PN", "Doe^J", 0);
	ex(&b, DCM_TAG(0x0028, 0x0010), "US", 2, 0);
	put16(&b, 512, 0);
	ex(&b, DCM_TAG(0x0029, 0x1010), "OB", 0, 0);
	n = walk(&b, ev, 8, &err);
	TT_CHECK_MSG(t, n == 4, "n=%d %s", n, err.reason);
	TT_CHECK(t, ev[0].tag == DCM_TAG(0x0008, 0x0060) && ev[0].vr == DCM_VR('C', 'S'));
	TT_CHECK(t, ev[0].offset == 0 && ev[0].value_offset == 8 && ev[0].length == 2);
	TT_CHECK(t, ev[1].offset == 10 && ev[1].value == b.data + 18);
	TT_CHECK(t, dcm_value_str(&ev[1], s, sizeof(s)) == 5 && !strcmp(s, "Doe^J"));
	TT_CHECK(t, dcm_value_u32(&ev[2], &u) == 0 && u == 512);
	TT_CHECK(t, ev[3].vr == DCM_VR('O', 'B') && ev[3].offset == 34 && ev[3].value_offset == 46);
	TT_CHECK(t, ev[0].depth == 0 && !ev[0].in_meta && !ev[0].big_endian);
	TT_CHECK(t, dcm_reader_new(b.data, b.len, &r, &err) == 0);
	TT_CHECK(t, !strcmp(dcm_reader_ts(r)->uid, "1.2.840.10008.1.2.1"));
	TT_CHECK(t, !dcm_reader_has_meta(r) && dcm_reader_dataset_offset(r) == 0);
	TT_CHECK(t, dcm_reader_inflated(r, NULL) == NULL);
	dcm_reader_free(r);
	buf_release(&b);
}

static void t_implicit_le_bare(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[8];
	struct fiona_err err;
	struct dcm_reader *r;
	uint32_t u;
	int n;

	buf_init(&b, 1 << 20);
	im_str(&b, DCM_TAG(0x0008, 0x0060), "CT");
	im(&b, DCM_TAG(0x0028, 0x0011), 2, 0);
	put16(&b, 256, 0);
	im_str(&b, DCM_TAG(0x0029, 0x0010), "ACME");
	im(&b, DCM_TAG(0x0029, 0x1001), 4, 0);
	put32(&b, 7, 0);
	n = walk(&b, ev, 8, &err);
	TT_CHECK_MSG(t, n == 4, "n=%d %s", n, err.reason);
	TT_CHECK(t, ev[0].vr == DCM_VR('C', 'S') && ev[0].value_offset == 8);
	TT_CHECK(t, ev[1].vr == DCM_VR('U', 'S') && dcm_value_u32(&ev[1], &u) == 0 && u == 256);
	TT_CHECK(t, ev[2].vr == DCM_VR('L', 'O'));
	TT_CHECK(t, ev[3].vr == DCM_VR_UN && ev[3].length == 4);
	TT_CHECK(t, dcm_reader_new(b.data, b.len, &r, &err) == 0);
	TT_CHECK(t, !strcmp(dcm_reader_ts(r)->uid, "1.2.840.10008.1.2"));
	TT_CHECK(t, !dcm_reader_ts(r)->explicit_vr);
	dcm_reader_free(r);
	buf_release(&b);
}

/* An item claiming more than its defined-length sequence has left is read as dcmtk reads
 * it (the item's length wins) and the dataset goes on after it; an element overrunning
 * its item is still refused. */
static void t_item_overruns_sequence(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[12];
	struct fiona_err err;
	char s[64];
	int n;

	buf_init(&b, 1 << 20);
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", 0);
	ex(&b, DCM_TAG(0x0008, 0x1140), "SQ", 20, 0); /* 20: the item below needs 34 */
	im(&b, DCM_TAG_ITEM, 26, 0);
	ex_str(&b, DCM_TAG(0x0008, 0x1150), "UI", "1.2.840.10008.5.1", 0);
	ex_str(&b, DCM_TAG(0x0010, 0x0010), "PN", "Doe^J", 0);
	n = walk(&b, ev, 12, &err);
	TT_CHECK_MSG(t, n == 7, "n=%d %s", n, err.reason);
	TT_CHECK(t, ev[1].kind == DCM_SEQ_BEGIN && ev[2].kind == DCM_ITEM_BEGIN);
	TT_CHECK(t, ev[3].tag == DCM_TAG(0x0008, 0x1150) && ev[3].depth == 1);
	TT_CHECK(t, ev[4].kind == DCM_ITEM_END && ev[5].kind == DCM_SEQ_END);
	TT_CHECK(t, ev[6].tag == DCM_TAG(0x0010, 0x0010) && ev[6].depth == 0);
	TT_CHECK(t, dcm_value_str(&ev[6], s, sizeof(s)) == 5 && !strcmp(s, "Doe^J"));
	buf_release(&b);
	/* an element longer than its item: refused with the offset */
	buf_init(&b, 1 << 20);
	ex(&b, DCM_TAG(0x0008, 0x1140), "SQ", 34, 0);
	im(&b, DCM_TAG_ITEM, 10, 0);
	ex_str(&b, DCM_TAG(0x0008, 0x1150), "UI", "1.2.840.10008.5.1", 0);
	TT_CHECK(t, walk(&b, ev, 12, &err) < 0 && err.reason[0]);
	buf_release(&b);
}

/* A bare dataset in explicit VR big endian (no meta header) is detected as dcmtk does. */
static void t_explicit_be_bare(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[8];
	struct fiona_err err;
	struct dcm_reader *r;
	char s[64];
	uint32_t u;
	int n;

	buf_init(&b, 1 << 20);
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "US", 1);
	ex_str(&b, DCM_TAG(0x0010, 0x0010), "PN", "Doe^J", 1);
	ex(&b, DCM_TAG(0x0028, 0x0010), "US", 2, 1);
	put16(&b, 0x0102, 1);
	n = walk(&b, ev, 8, &err);
	TT_CHECK_MSG(t, n == 3, "n=%d %s", n, err.reason);
	TT_CHECK(t, ev[0].tag == DCM_TAG(0x0008, 0x0060) && ev[0].big_endian);
	TT_CHECK(t, dcm_value_str(&ev[1], s, sizeof(s)) == 5 && !strcmp(s, "Doe^J"));
	TT_CHECK(t, dcm_value_u32(&ev[2], &u) == 0 && u == 0x0102);
	TT_CHECK(t, dcm_reader_new(b.data, b.len, &r, &err) == 0);
	TT_CHECK(t, !strcmp(dcm_reader_ts(r)->uid, "1.2.840.10008.1.2.2"));
	dcm_reader_free(r);
	buf_release(&b);
}

static void t_part10_big_endian(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[8];
	struct fiona_err err;
	struct dcm_reader *r;
	size_t ds;
	uint32_t u;
	int n;

	buf_init(&b, 1 << 20);
	part10(&b, "1.2.840.10008.1.2.2");
	ds = b.len;
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "OT", 1);
	ex(&b, DCM_TAG(0x0028, 0x0010), "US", 2, 1);
	put16(&b, 0x0102, 1);
	ex(&b, DCM_TAG(0x0028, 0x0008), "IS", 2, 1);
	buf_append(&b, "3 ", 2);
	n = walk(&b, ev, 8, &err);
	TT_CHECK_MSG(t, n == 6, "n=%d %s", n, err.reason);
	TT_CHECK(t, ev[0].in_meta && ev[0].tag == DCM_TAG(0x0002, 0x0000) && ev[0].offset == 132);
	TT_CHECK(t, ev[2].in_meta && !ev[2].big_endian);
	TT_CHECK(t, !ev[3].in_meta && ev[3].big_endian && ev[3].offset == ds);
	TT_CHECK(t, ev[3].tag == DCM_TAG(0x0008, 0x0060));
	TT_CHECK(t, dcm_value_u32(&ev[4], &u) == 0 && u == 0x0102);
	TT_CHECK(t, dcm_value_u32(&ev[5], &u) == 0 && u == 3);
	TT_CHECK(t, dcm_reader_new(b.data, b.len, &r, &err) == 0);
	TT_CHECK(t, dcm_reader_has_meta(r) && dcm_reader_dataset_offset(r) == ds);
	TT_CHECK(t, dcm_reader_ts(r)->big_endian && !dcm_reader_ts(r)->encapsulated);
	dcm_reader_free(r);
	buf_release(&b);
}

static void t_deflated(struct tt *t)
{
	struct buf b, ds;
	struct dcm_elem ev[32];
	struct fiona_err err;
	struct dcm_reader *r;
	uint8_t z[512];
	z_stream zs;
	size_t ilen = 0;
	char s[32];
	int n;

	buf_init(&b, 1 << 20);
	buf_init(&ds, 1 << 20);
	for (int i = 0; i < 20; i++)
		ex_str(&ds, DCM_TAG(0x0009, 0x1000 + i), "LO", "REPEATED VALUE", 0);
	ex_str(&ds, DCM_TAG(0x0010, 0x0020), "LO", "PID42", 0);
	memset(&zs, 0, sizeof(zs));
	TT_CHECK(t, deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	zs.next_in = ds.data;
	zs.avail_in = (uInt)ds.len;
	zs.next_out = z;
	zs.avail_out = sizeof(z);
	TT_CHECK(t, deflate(&zs, Z_FINISH) == Z_STREAM_END);
	part10(&b, "1.2.840.10008.1.2.1.99");
	buf_append(&b, z, sizeof(z) - zs.avail_out);
	deflateEnd(&zs);
	n = walk(&b, ev, 32, &err);
	TT_CHECK_MSG(t, n == 3 + 21, "n=%d %s", n, err.reason);
	TT_CHECK(t, dcm_reader_new(b.data, b.len, &r, &err) == 0);
	TT_CHECK(t, dcm_reader_ts(r)->deflated);
	TT_CHECK(t, dcm_reader_inflated(r, &ilen) != NULL && ilen == ds.len);
	TT_CHECK(t, memcmp(dcm_reader_inflated(r, NULL), ds.data, ds.len) == 0);
	dcm_reader_free(r);
	TT_CHECK(t, ev[3].offset == 0 && ev[3].value_offset == 8 && !ev[3].in_meta);
	/* The last element, read through the summary. */
	struct dcm_summary sum;
	TT_CHECK(t, dcm_summary_read(b.data, b.len, &sum, &err) == 0);
	TT_CHECK(t, !strcmp(sum.patient_id, "PID42"));
	TT_CHECK(t, !strcmp(sum.transfer_syntax, "1.2.840.10008.1.2.1.99"));
	(void)s;
	/* Corrupt deflate stream: error at the dataset offset or later. */
	b.data[b.len - 5] ^= 0xff;
	b.data[b.len - 20] ^= 0xff;
	b.data[b.len - 40] ^= 0x55;
	n = walk(&b, ev, 32, &err);
	TT_CHECK(t, n == 24 || n < 0); /* damage may still inflate to valid bytes */
	buf_release(&ds);
	buf_release(&b);
}

/* SQ (undefined) > item (undefined) > SQ (defined) > item (defined) > element. */
static void t_nested(struct tt *t)
{
	static const enum dcm_kind want[] = {
		DCM_SEQ_BEGIN,	DCM_ITEM_BEGIN, DCM_ELEMENT,  DCM_SEQ_BEGIN,
		DCM_ITEM_BEGIN, DCM_ELEMENT,	DCM_ITEM_END, DCM_SEQ_END,
		DCM_ITEM_END,	DCM_SEQ_END,	DCM_ELEMENT,
	};
	static const int depth[] = {0, 1, 1, 1, 2, 2, 2, 1, 1, 0, 0};
	struct buf b;
	struct dcm_elem ev[16];
	struct fiona_err err;
	char s[16];
	int n;

	buf_init(&b, 1 << 20);
	ex(&b, DCM_TAG(0x0008, 0x1115), "SQ", DCM_UNDEFINED_LENGTH, 0);
	im(&b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH, 0);
	ex_str(&b, DCM_TAG(0x0020, 0x000E), "UI", "1.2.3", 0);
	ex(&b, DCM_TAG(0x0008, 0x1199), "SQ", 8 + 14, 0);
	im(&b, DCM_TAG_ITEM, 14, 0);
	ex_str(&b, DCM_TAG(0x0008, 0x1155), "UI", "1.2.34", 0);
	im(&b, DCM_TAG_ITEM_DELIM, 0, 0);
	im(&b, DCM_TAG_SEQ_DELIM, 0, 0);
	ex_str(&b, DCM_TAG(0x0010, 0x0020), "LO", "X1", 0);
	n = walk(&b, ev, 16, &err);
	TT_CHECK_MSG(t, n == (int)CORE_ARRAY_SIZE(want), "n=%d %s", n, err.reason);
	for (int i = 0; i < n; i++) {
		TT_CHECK_MSG(t, ev[i].kind == want[i], "event %d kind %d", i, ev[i].kind);
		TT_CHECK_MSG(t, ev[i].depth == depth[i], "event %d depth %d", i, ev[i].depth);
	}
	TT_CHECK(t, ev[0].length == DCM_UNDEFINED_LENGTH && ev[0].vr == DCM_VR_SQ);
	TT_CHECK(t, dcm_value_str(&ev[5], s, sizeof(s)) == 6 && !strcmp(s, "1.2.34"));
	/* Defined-length ends carry no bytes; delimiters do. */
	TT_CHECK(t, ev[6].offset == ev[6].value_offset && ev[6].tag == DCM_TAG_ITEM_DELIM);
	TT_CHECK(t, ev[8].value_offset == ev[8].offset + 8);
	TT_CHECK(t, ev[9].tag == DCM_TAG_SEQ_DELIM && ev[10].offset == ev[9].offset + 8);
	buf_release(&b);
}

static void t_un_undefined(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[8];
	struct fiona_err err;
	int n;

	buf_init(&b, 1 << 20);
	ex_str(&b, DCM_TAG(0x0029, 0x0010), "LO", "ACME", 0);
	ex(&b, DCM_TAG(0x0029, 0x1020), "UN", DCM_UNDEFINED_LENGTH, 0);
	im(&b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH, 0);
	im_str(&b, DCM_TAG(0x0008, 0x0060), "MR"); /* implicit inside */
	im(&b, DCM_TAG_ITEM_DELIM, 0, 0);
	im(&b, DCM_TAG_SEQ_DELIM, 0, 0);
	ex_str(&b, DCM_TAG(0x0029, 0x1030), "LO", "after", 0);
	n = walk(&b, ev, 8, &err);
	TT_CHECK_MSG(t, n == 7, "n=%d %s", n, err.reason);
	TT_CHECK(t, ev[1].kind == DCM_SEQ_BEGIN && ev[1].vr == DCM_VR_UN);
	TT_CHECK(t, ev[3].kind == DCM_ELEMENT && ev[3].vr == DCM_VR('C', 'S') && ev[3].depth == 1);
	TT_CHECK(t, ev[6].tag == DCM_TAG(0x0029, 0x1030) && ev[6].vr == DCM_VR('L', 'O'));
	buf_release(&b);
}

static void t_encapsulated(struct tt *t)
{
	static const enum dcm_kind want[] = {DCM_ELEMENT, DCM_PIXEL_BEGIN, DCM_FRAGMENT,
					     DCM_FRAGMENT, DCM_PIXEL_END};
	struct buf b;
	struct dcm_elem ev[16];
	struct fiona_err err;
	struct dcm_reader *r;
	size_t px;
	int n;

	buf_init(&b, 1 << 20);
	part10(&b, "1.2.840.10008.1.2.5");
	ex(&b, DCM_TAG(0x0028, 0x0010), "US", 2, 0);
	put16(&b, 4, 0);
	px = b.len;
	ex(&b, DCM_TAG_PIXEL_DATA, "OB", DCM_UNDEFINED_LENGTH, 0);
	im(&b, DCM_TAG_ITEM, 0, 0);
	im(&b, DCM_TAG_ITEM, 6, 0);
	buf_append(&b, "\x01\x02\x03\x04\x05\x06", 6);
	im(&b, DCM_TAG_SEQ_DELIM, 0, 0);
	n = walk(&b, ev, 16, &err);
	TT_CHECK_MSG(t, n == 3 + 5, "n=%d %s", n, err.reason);
	for (int i = 0; i < 5; i++)
		TT_CHECK_MSG(t, ev[3 + i].kind == want[i], "event %d", i);
	TT_CHECK(t, ev[4].offset == px && ev[5].length == 0 && ev[6].length == 6);
	TT_CHECK(t, ev[6].value == b.data + px + 12 + 8 + 8 && ev[6].value[5] == 6);
	TT_CHECK(t, dcm_reader_new(b.data, b.len, &r, &err) == 0);
	TT_CHECK(t, dcm_reader_ts(r)->encapsulated);
	dcm_reader_free(r);
	buf_release(&b);
}

static void t_errors(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[8];
	struct fiona_err err;

	/* Value length beyond the end: error at the element, with its tag. */
	buf_init(&b, 1 << 20);
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", 0);
	ex(&b, DCM_TAG(0x0010, 0x0010), "PN", 100, 0);
	buf_append(&b, "short", 5);
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL);
	TT_CHECK(t, err.offset == 10 && err.tag == DCM_TAG(0x0010, 0x0010));
	TT_CHECK(t, strstr(err.reason, "exceeds") != NULL);
	/* Truncated header. */
	buf_reset(&b);
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", 0);
	buf_append(&b, "\x10\x00\x10", 3);
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL && err.offset == 10);
	/* Invalid VR in an explicit dataset. */
	buf_reset(&b);
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", 0);
	ex_str(&b, DCM_TAG(0x0008, 0x0070), "zz", "AB", 0);
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL && err.offset == 10);
	TT_CHECK(t, err.tag == DCM_TAG(0x0008, 0x0070));
	/* Undelimited sequence at the end of data. */
	buf_reset(&b);
	ex(&b, DCM_TAG(0x0008, 0x1115), "SQ", DCM_UNDEFINED_LENGTH, 0);
	im(&b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH, 0);
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL && err.offset == 20);
	/* An item delimiter at the top level. */
	buf_reset(&b);
	im(&b, DCM_TAG_ITEM_DELIM, 0, 0);
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL && err.offset == 0);
	/* A defined item longer than its sequence. */
	buf_reset(&b);
	ex(&b, DCM_TAG(0x0008, 0x1115), "SQ", 8, 0);
	im(&b, DCM_TAG_ITEM, 20, 0);
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL && err.offset == 12);
	/* Undefined length on a string. */
	buf_reset(&b);
	ex(&b, DCM_TAG(0x0008, 0x1030), "UT", DCM_UNDEFINED_LENGTH, 0);
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL && err.offset == 0);
	/* Meta header cut inside an element: dcm_reader_new fails. */
	buf_reset(&b);
	part10(&b, "1.2.840.10008.1.2.1");
	b.len -= 3;
	TT_CHECK(t, walk(&b, ev, 8, &err) == -EINVAL && err.offset > 132);
	buf_release(&b);
}

static void t_depth_bound(struct tt *t)
{
	struct buf b;
	struct dcm_elem ev[4];
	struct fiona_err err;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < DCM_READ_MAX_DEPTH + 1; i++) {
		ex(&b, DCM_TAG(0x0008, 0x1115), "SQ", DCM_UNDEFINED_LENGTH, 0);
		im(&b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH, 0);
	}
	TT_CHECK(t, walk(&b, ev, 4, &err) == -EINVAL);
	TT_CHECK(t, err.offset == (uint64_t)DCM_READ_MAX_DEPTH * 20);
	TT_CHECK(t, strstr(err.reason, "deeper") != NULL);
	buf_release(&b);
}

static void t_garbage(struct tt *t)
{
	uint8_t junk[1024];
	uint32_t x = 12345;
	struct dcm_elem ev[4];
	struct fiona_err err;
	struct buf b;

	buf_init(&b, 1 << 20);
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245u + 12345u;
			junk[i] = (uint8_t)(x >> 16);
		}
		buf_reset(&b);
		buf_append(&b, junk, (size_t)(round * 5) % sizeof(junk));
		int n = walk(&b, ev, 4, &err);
		TT_CHECK(t, n >= 0 || (err.reason[0] && err.offset <= b.len));
	}
	buf_release(&b);
	/* Empty input: a valid, empty dataset. */
	buf_init(&b, 16);
	TT_CHECK(t, walk(&b, ev, 4, &err) == 0);
	buf_release(&b);
}

static void t_values(struct tt *t)
{
	struct dcm_elem e;
	char s[8];
	uint32_t u = 99;

	memset(&e, 0, sizeof(e));
	e.kind = DCM_ELEMENT;
	e.vr = DCM_VR('L', 'O');
	e.value = (const uint8_t *)"ABCDEFGHIJ  ";
	e.length = 12;
	TT_CHECK(t, dcm_value_str(&e, s, sizeof(s)) == 10 && !strcmp(s, "ABCDEFG"));
	e.value = (const uint8_t *)"1.2\0";
	e.length = 4;
	TT_CHECK(t, dcm_value_str(&e, s, sizeof(s)) == 3 && !strcmp(s, "1.2"));
	e.vr = DCM_VR('I', 'S');
	e.value = (const uint8_t *)" 12\\4 ";
	e.length = 6;
	TT_CHECK(t, dcm_value_u32(&e, &u) == 0 && u == 12);
	e.value = (const uint8_t *)"-1";
	e.length = 2;
	TT_CHECK(t, dcm_value_u32(&e, &u) == -EINVAL && u == 12);
	e.vr = DCM_VR('U', 'L');
	e.value = (const uint8_t *)"\x01\x00";
	TT_CHECK(t, dcm_value_u32(&e, &u) == -EINVAL);
	e.vr = DCM_VR('S', 'S');
	e.value = (const uint8_t *)"\xff\xff";
	TT_CHECK(t, dcm_value_u32(&e, &u) == -EINVAL);
	e.vr = DCM_VR('D', 'A');
	TT_CHECK(t, dcm_value_u32(&e, &u) == -EINVAL);
}

static void t_summary(struct tt *t)
{
	struct buf b;
	struct dcm_summary s;
	struct fiona_err err;

	buf_init(&b, 1 << 20);
	part10(&b, "1.2.840.10008.1.2.1");
	ex_str(&b, DCM_TAG(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.7", 0);
	ex_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "OT", 0);
	ex(&b, DCM_TAG(0x0008, 0x1115), "SQ", DCM_UNDEFINED_LENGTH, 0);
	im(&b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH, 0);
	ex_str(&b, DCM_TAG(0x0010, 0x0020), "LO", "NESTED", 0); /* not top level */
	im(&b, DCM_TAG_ITEM_DELIM, 0, 0);
	im(&b, DCM_TAG_SEQ_DELIM, 0, 0);
	ex_str(&b, DCM_TAG(0x0010, 0x0010), "PN", "Doe^Jane", 0);
	ex_str(&b, DCM_TAG(0x0020, 0x0013), "IS", "7", 0);
	ex(&b, DCM_TAG(0x0028, 0x0010), "US", 2, 0);
	put16(&b, 64, 0);
	ex_str(&b, DCM_TAG(0x0028, 0x0301), "CS", "YES", 0);
	ex(&b, DCM_TAG_PIXEL_DATA, "OW", 2, 0);
	put16(&b, 0, 0);
	ex_str(&b, DCM_TAG(0xFFFA, 0xFFFA), "zz", "x", 0); /* garbage after pixel data */
	TT_CHECK_MSG(t, dcm_summary_read(b.data, b.len, &s, &err) == 0, "%s", err.reason);
	TT_CHECK(t, !strcmp(s.sop_class_uid, "1.2.840.10008.5.1.4.1.1.7"));
	TT_CHECK_MSG(t, !strcmp(s.modality, "OT") && !strcmp(s.patient_name, "Doe^Jane"),
		     "[%s] [%s]", s.modality, s.patient_name);
	TT_CHECK(t, s.patient_id[0] == '\0' && s.series_number == -1 && s.instance_number == 7);
	TT_CHECK(t, s.rows == 64 && s.columns == 0 && s.burned_in_annotation);
	TT_CHECK(t, !strcmp(s.transfer_syntax, "1.2.840.10008.1.2.1"));
	/* Truncated before pixel data: error, s untouched. */
	s.rows = 1234;
	TT_CHECK(t, dcm_summary_read(b.data, 200, &s, &err) == -EINVAL && s.rows == 1234);
	TT_CHECK(t, err.offset != CORE_NO_OFFSET && err.reason[0]);
	buf_release(&b);
}

TT_MAIN(TT_CASE(t_explicit_le_bare), TT_CASE(t_implicit_le_bare), TT_CASE(t_explicit_be_bare),
	TT_CASE(t_item_overruns_sequence), TT_CASE(t_part10_big_endian), TT_CASE(t_deflated),
	TT_CASE(t_nested), TT_CASE(t_un_undefined), TT_CASE(t_encapsulated), TT_CASE(t_errors),
	TT_CASE(t_depth_bound), TT_CASE(t_garbage), TT_CASE(t_values), TT_CASE(t_summary))
