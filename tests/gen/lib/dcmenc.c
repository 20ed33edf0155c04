/*
 * dcmenc: an in-memory DICOM dataset and its serialisation for the test tools.
 *
 * Invariants: a dataset's elements are kept sorted by tag (insertion by binary search,
 * a second put of a tag replaces the first), so the writer emits them in order. Values
 * are stored padded to even length. Binary values are little endian in memory and
 * swapped per VR unit on output for explicit VR big endian. Pixel data is borrowed and
 * written straight from the caller's memory except where a transform (swap, deflate)
 * needs a copy. Group 0002 is always explicit VR little endian with a group length.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/gen/lib/dcmenc.h"

#define ENC_UNDEF  0xFFFFFFFFu
#define ENC_MAXBUF ((size_t)1 << 31)

enum enc_kind { K_VAL, K_SEQ, K_PIX, K_ENCAP };

struct enc_elem {
	uint32_t tag;
	char vr[3];
	enum enc_kind kind;
	uint8_t *val; /* owned (K_VAL) */
	size_t len;
	struct enc_ds **items; /* owned (K_SEQ) */
	size_t nitems;
	const uint8_t *pix; /* borrowed (K_PIX) */
	unsigned unit;
	const uint8_t **frames; /* array owned, bytes borrowed (K_ENCAP) */
	size_t *flens;
	size_t nframes;
};

struct enc_ds {
	struct enc_elem *e;
	size_t n, cap;
};

struct enc_out {
	struct buf *b;
	int explicit_vr;
	int be;
	const struct enc_opts *opts;
};

const char *enc_ts_uid(enum enc_ts ts)
{
	switch (ts) {
	case ENC_IMPLICIT_LE:
		return ENC_UID_IMPLICIT_LE;
	case ENC_EXPLICIT_BE:
		return ENC_UID_EXPLICIT_BE;
	case ENC_DEFLATED:
		return ENC_UID_DEFLATED;
	case ENC_RLE:
		return ENC_UID_RLE;
	case ENC_EXPLICIT_LE:
		break;
	}
	return ENC_UID_EXPLICIT_LE;
}

struct enc_ds *enc_ds_new(void)
{
	return calloc(1, sizeof(struct enc_ds));
}

static void elem_release(struct enc_elem *el)
{
	free(el->val);
	for (size_t i = 0; i < el->nitems; i++)
		enc_ds_free(el->items[i]);
	free(el->items);
	free(el->frames);
	free(el->flens);
	memset(el, 0, sizeof(*el));
}

void enc_ds_free(struct enc_ds *ds)
{
	if (!ds)
		return;
	for (size_t i = 0; i < ds->n; i++)
		elem_release(&ds->e[i]);
	free(ds->e);
	free(ds);
}

/* Returns the element for tag, inserted empty in sorted position when missing. */
static struct enc_elem *ds_slot(struct enc_ds *ds, uint32_t tag, const char *vr)
{
	size_t lo = 0, hi = ds->n;
	struct enc_elem *el;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ds->e[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ds->n && ds->e[lo].tag == tag) {
		el = &ds->e[lo];
		if (el->kind == K_SEQ && !strcmp(vr, el->vr))
			return el;
		elem_release(el);
	} else {
		if (ds->n == ds->cap) {
			size_t cap = ds->cap ? ds->cap * 2 : 32;
			struct enc_elem *ne = realloc(ds->e, cap * sizeof(*ne));

			if (!ne)
				return NULL;
			ds->e = ne;
			ds->cap = cap;
		}
		memmove(&ds->e[lo + 1], &ds->e[lo], (ds->n - lo) * sizeof(ds->e[0]));
		ds->n++;
		el = &ds->e[lo];
		memset(el, 0, sizeof(*el));
	}
	el->tag = tag;
	el->vr[0] = vr[0];
	el->vr[1] = vr[1];
	el->vr[2] = '\0';
	return el;
}

int enc_put(struct enc_ds *ds, uint32_t tag, const char *vr, const void *val, size_t len)
{
	struct enc_elem *el = ds_slot(ds, tag, vr);
	uint8_t *v;
	size_t padded = len + (len & 1);

	if (!el)
		return -ENOMEM;
	v = malloc(padded ? padded : 1);
	if (!v)
		return -ENOMEM;
	if (len)
		memcpy(v, val, len);
	if (padded != len) {
		int nul = !strcmp(vr, "UI") || !strcmp(vr, "OB") || !strcmp(vr, "UN");
		v[len] = nul ? '\0' : ' ';
	}
	el->kind = K_VAL;
	el->val = v;
	el->len = padded;
	return 0;
}

int enc_str(struct enc_ds *ds, uint32_t tag, const char *vr, const char *s)
{
	return enc_put(ds, tag, vr, s, strlen(s));
}

int enc_strf(struct enc_ds *ds, uint32_t tag, const char *vr, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -E2BIG;
	return enc_put(ds, tag, vr, tmp, (size_t)n);
}

static void le_store(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int enc_us(struct enc_ds *ds, uint32_t tag, uint16_t v)
{
	uint8_t b[2];

	le_store(b, v, 2);
	return enc_put(ds, tag, "US", b, 2);
}

int enc_ss(struct enc_ds *ds, uint32_t tag, int16_t v)
{
	uint8_t b[2];

	le_store(b, (uint16_t)v, 2);
	return enc_put(ds, tag, "SS", b, 2);
}

int enc_ul(struct enc_ds *ds, uint32_t tag, uint32_t v)
{
	uint8_t b[4];

	le_store(b, v, 4);
	return enc_put(ds, tag, "UL", b, 4);
}

int enc_sl(struct enc_ds *ds, uint32_t tag, int32_t v)
{
	uint8_t b[4];

	le_store(b, (uint32_t)v, 4);
	return enc_put(ds, tag, "SL", b, 4);
}

int enc_fd(struct enc_ds *ds, uint32_t tag, double v)
{
	uint64_t u;
	uint8_t b[8];

	memcpy(&u, &v, 8);
	le_store(b, u, 8);
	return enc_put(ds, tag, "FD", b, 8);
}

int enc_fl(struct enc_ds *ds, uint32_t tag, float v)
{
	uint32_t u;
	uint8_t b[4];

	memcpy(&u, &v, 4);
	le_store(b, u, 4);
	return enc_put(ds, tag, "FL", b, 4);
}

int enc_at(struct enc_ds *ds, uint32_t tag, uint32_t v)
{
	uint8_t b[4];

	le_store(b, v >> 16, 2);
	le_store(b + 2, v & 0xffff, 2);
	return enc_put(ds, tag, "AT", b, 4);
}

static struct enc_ds *seq_item_add(struct enc_ds *ds, uint32_t tag, const char *vr)
{
	struct enc_elem *el = ds_slot(ds, tag, vr);
	struct enc_ds **ni, *item;

	if (!el)
		return NULL;
	el->kind = K_SEQ;
	item = enc_ds_new();
	ni = realloc(el->items, (el->nitems + 1) * sizeof(*ni));
	if (!item || !ni) {
		free(item);
		if (ni)
			el->items = ni;
		return NULL;
	}
	el->items = ni;
	el->items[el->nitems++] = item;
	return item;
}

struct enc_ds *enc_seq_item(struct enc_ds *ds, uint32_t tag)
{
	return seq_item_add(ds, tag, "SQ");
}

struct enc_ds *enc_seq_item_un(struct enc_ds *ds, uint32_t tag)
{
	return seq_item_add(ds, tag, "UN");
}

int enc_seq_empty(struct enc_ds *ds, uint32_t tag)
{
	struct enc_elem *el = ds_slot(ds, tag, "SQ");

	if (!el)
		return -ENOMEM;
	el->kind = K_SEQ;
	return 0;
}

int enc_pixels(struct enc_ds *ds, const char *vr, const uint8_t *p, size_t len, unsigned unit)
{
	struct enc_elem *el = ds_slot(ds, ENC_TAG(0x7FE0, 0x0010), vr);

	if (!el)
		return -ENOMEM;
	el->kind = K_PIX;
	el->pix = p;
	el->len = len;
	el->unit = unit;
	return 0;
}

int enc_pixels_encap(struct enc_ds *ds, const uint8_t *const *frames, const size_t *lens,
		     size_t nframes)
{
	struct enc_elem *el = ds_slot(ds, ENC_TAG(0x7FE0, 0x0010), "OB");

	if (!el)
		return -ENOMEM;
	el->kind = K_ENCAP;
	el->frames = calloc(nframes ? nframes : 1, sizeof(*el->frames));
	el->flens = calloc(nframes ? nframes : 1, sizeof(*el->flens));
	if (!el->frames || !el->flens)
		return -ENOMEM;
	for (size_t i = 0; i < nframes; i++) {
		el->frames[i] = frames[i];
		el->flens[i] = lens[i];
	}
	el->nframes = nframes;
	return 0;
}

/* ---- serialisation ---------------------------------------------------------------- */

static int out_u16(struct enc_out *o, uint16_t v)
{
	uint8_t b[2];

	if (o->be) {
		b[0] = (uint8_t)(v >> 8);
		b[1] = (uint8_t)v;
	} else {
		le_store(b, v, 2);
	}
	return buf_append(o->b, b, 2);
}

static int out_u32(struct enc_out *o, uint32_t v)
{
	uint8_t b[4];

	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(o->be ? v >> (24 - 8 * i) : v >> (8 * i));
	return buf_append(o->b, b, 4);
}

static void patch_u32(struct enc_out *o, size_t at, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		o->b->data[at + i] = (uint8_t)(o->be ? v >> (24 - 8 * i) : v >> (8 * i));
}

static int vr_long(const char *vr)
{
	static const char *const l[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
					"SV", "UC", "UN", "UR", "UT", "UV"};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(l); i++)
		if (!strcmp(vr, l[i]))
			return 1;
	return 0;
}

/* Bytes per swapped unit for big endian output; 1 = no swap. */
static unsigned vr_unit(const char *vr)
{
	if (!strcmp(vr, "US") || !strcmp(vr, "SS") || !strcmp(vr, "OW") || !strcmp(vr, "AT"))
		return 2;
	if (!strcmp(vr, "UL") || !strcmp(vr, "SL") || !strcmp(vr, "FL") || !strcmp(vr, "OF") ||
	    !strcmp(vr, "OL"))
		return 4;
	if (!strcmp(vr, "FD") || !strcmp(vr, "OD") || !strcmp(vr, "SV") || !strcmp(vr, "UV") ||
	    !strcmp(vr, "OV"))
		return 8;
	return 1;
}

/* Writes a tag and VR/length header; returns the offset of the length field in *lenat. */
static int out_header(struct enc_out *o, uint32_t tag, const char *vr, uint32_t len, size_t *lenat)
{
	int rc = out_u16(o, (uint16_t)(tag >> 16));

	rc = rc ? rc : out_u16(o, (uint16_t)tag);
	if (rc)
		return rc;
	if (o->explicit_vr && vr) {
		rc = buf_append(o->b, vr, 2);
		if (!rc && vr_long(vr)) {
			rc = out_u16(o, 0);
		} else if (!rc) {
			if (len > 0xFFFF)
				return -E2BIG;
			return out_u16(o, (uint16_t)len);
		}
		if (rc)
			return rc;
	}
	if (lenat)
		*lenat = o->b->len;
	return out_u32(o, len);
}

static int out_value(struct enc_out *o, const char *vr, const uint8_t *v, size_t len)
{
	unsigned unit = o->be ? vr_unit(vr) : 1;
	int rc;

	if (unit == 1)
		return buf_append(o->b, v, len);
	rc = buf_reserve(o->b, len);
	if (rc)
		return rc;
	for (size_t i = 0; i + unit <= len; i += unit)
		for (unsigned k = 0; k < unit; k++)
			o->b->data[o->b->len + i + k] = v[i + unit - 1 - k];
	o->b->len += len;
	o->b->data[o->b->len] = '\0';
	return 0;
}

static int out_ds(struct enc_out *o, const struct enc_ds *ds, int top, size_t *pix_at);

/* The items of a sequence, each of defined or undefined length. */
static int out_items(struct enc_out *o, const struct enc_elem *el, int undef)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < el->nitems; i++) {
		int iundef = undef || o->opts->undef_item;
		size_t ilenat, istart;

		rc = out_header(o, ENC_TAG(0xFFFE, 0xE000), NULL, iundef ? ENC_UNDEF : 0, &ilenat);
		istart = o->b->len;
		rc = rc ? rc : out_ds(o, el->items[i], 0, NULL);
		if (!rc && iundef)
			rc = out_header(o, ENC_TAG(0xFFFE, 0xE00D), NULL, 0, NULL);
		else if (!rc)
			patch_u32(o, ilenat, (uint32_t)(o->b->len - istart));
	}
	return rc;
}

static int out_seq(struct enc_out *o, const struct enc_elem *el)
{
	int undef = o->opts->undef_seq;
	size_t lenat, start;
	int rc;

	/* Readers disagree on UN inside big endian (dcmtk follows CP-246 and reads implicit
	 * little endian, dicom3tools reads big endian), so there it is written as SQ. */
	if (!strcmp(el->vr, "UN") && o->explicit_vr && !o->be) {
		/* UN of undefined length: the value is implicit VR little endian. */
		struct enc_opts in_opts = *o->opts;
		struct enc_out in = {o->b, 0, 0, &in_opts};

		in_opts.undef_seq = 1;
		rc = out_header(o, el->tag, "UN", ENC_UNDEF, NULL);
		rc = rc ? rc : out_items(&in, el, 1);
		return rc ? rc : out_header(&in, ENC_TAG(0xFFFE, 0xE0DD), NULL, 0, NULL);
	}
	rc = out_header(o, el->tag, "SQ", undef ? ENC_UNDEF : 0, &lenat);
	start = o->b->len;
	rc = rc ? rc : out_items(o, el, undef);
	if (!rc && undef)
		return out_header(o, ENC_TAG(0xFFFE, 0xE0DD), NULL, 0, NULL);
	if (!rc)
		patch_u32(o, lenat, (uint32_t)(o->b->len - start));
	return rc;
}

static int out_encap(struct enc_out *o, const struct enc_elem *el)
{
	uint32_t off = 0;
	int rc = out_header(o, el->tag, "OB", ENC_UNDEF, NULL);

	/* Basic offset table: one offset per frame, relative to the first fragment. */
	rc = rc ? rc
		: out_header(o, ENC_TAG(0xFFFE, 0xE000), NULL, (uint32_t)(4 * el->nframes), NULL);
	for (size_t i = 0; !rc && i < el->nframes; i++) {
		rc = out_u32(o, off);
		off += 8 + (uint32_t)(el->flens[i] + (el->flens[i] & 1));
	}
	for (size_t i = 0; !rc && i < el->nframes; i++) {
		size_t n = el->flens[i];

		rc = out_header(o, ENC_TAG(0xFFFE, 0xE000), NULL, (uint32_t)(n + (n & 1)), NULL);
		rc = rc ? rc : buf_append(o->b, el->frames[i], n);
		if (!rc && (n & 1))
			rc = buf_append_u8(o->b, 0);
	}
	return rc ? rc : out_header(o, ENC_TAG(0xFFFE, 0xE0DD), NULL, 0, NULL);
}

/*
 * Serialises ds. At top level native pixel data is left out when pix_at is not NULL
 * (the caller writes it from its own memory); *pix_at is set to 1 then.
 */
static int out_ds(struct enc_out *o, const struct enc_ds *ds, int top, size_t *pix_at)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < ds->n; i++) {
		const struct enc_elem *el = &ds->e[i];

		switch (el->kind) {
		case K_VAL:
			rc = out_header(o, el->tag, el->vr, (uint32_t)el->len, NULL);
			rc = rc ? rc : out_value(o, el->vr, el->val, el->len);
			break;
		case K_SEQ:
			rc = out_seq(o, el);
			break;
		case K_ENCAP:
			rc = out_encap(o, el);
			break;
		case K_PIX:
			rc = out_header(o, el->tag, el->vr, (uint32_t)(el->len + (el->len & 1)),
					NULL);
			if (!rc && top && pix_at && !o->be && !(el->len & 1)) {
				*pix_at = 1;
				break;
			}
			rc = rc ? rc
				: out_value(o, o->be && el->unit == 2 ? "OW" : "OB", el->pix,
					    el->len);
			if (!rc && (el->len & 1))
				rc = buf_append_u8(o->b, 0);
			break;
		}
	}
	return rc;
}

static const struct enc_elem *ds_pixels(const struct enc_ds *ds)
{
	if (ds->n && ds->e[ds->n - 1].kind == K_PIX)
		return &ds->e[ds->n - 1];
	return NULL;
}

static int meta_str(struct buf *b, uint16_t elem, const char *vr, const char *s)
{
	size_t n = strlen(s), pad = n & 1;
	int rc = buf_append_le16(b, 2);

	rc = rc ? rc : buf_append_le16(b, elem);
	rc = rc ? rc : buf_append(b, vr, 2);
	rc = rc ? rc : buf_append_le16(b, (uint16_t)(n + pad));
	rc = rc ? rc : buf_append(b, s, n);
	if (!rc && pad)
		rc = buf_append_u8(b, !strcmp(vr, "UI") ? 0 : ' ');
	return rc;
}

/* Preamble, DICM and group 0002 with its group length. */
static int out_meta(struct buf *b, enum enc_ts ts, const char *cls, const char *inst)
{
	static const uint8_t version[] = {0x02, 0x00, 0x01, 0x00, 'O', 'B',  0,
					  0,	0x02, 0,    0,	  0,   0x00, 0x01};
	size_t glat;
	int rc = buf_reserve(b, 128);

	if (rc)
		return rc;
	memset(b->data, 0, 128);
	b->len = 128;
	rc = buf_append(b, "DICM", 4);
	rc = rc ? rc : buf_append(b, "\x02\x00\x00\x00UL\x04\x00", 8);
	glat = b->len;
	rc = rc ? rc : buf_append_le32(b, 0);
	rc = rc ? rc : buf_append(b, version, sizeof(version));
	rc = rc ? rc : meta_str(b, 0x0002, "UI", cls);
	rc = rc ? rc : meta_str(b, 0x0003, "UI", inst);
	rc = rc ? rc : meta_str(b, 0x0010, "UI", enc_ts_uid(ts));
	rc = rc ? rc : meta_str(b, 0x0012, "UI", "1.2.826.0.1.3680043.10.1401.1");
	rc = rc ? rc : meta_str(b, 0x0013, "SH", "FIONA_GEN_1");
	if (!rc)
		le_store(b->data + glat, (uint32_t)(b->len - glat - 4), 4);
	return rc;
}

/* Raw deflate (RFC 1951, no zlib header) of b from offset start, in place. */
static int deflate_tail(struct buf *b, size_t start)
{
	z_stream z;
	uLong bound;
	uint8_t *tmp;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)(b->len - start));
	tmp = malloc(bound + 1);
	if (!tmp) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = b->data + start;
	z.avail_in = (uInt)(b->len - start);
	z.next_out = tmp;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : -EIO;
	if (!rc) {
		size_t n = z.total_out;

		b->len = start;
		rc = buf_append(b, tmp, n);
		if (!rc && (n & 1)) /* keep the file even; a trailing NUL is ignored by inflate */
			rc = buf_append_u8(b, 0);
	}
	deflateEnd(&z);
	free(tmp);
	return rc;
}

int enc_file_write(const char *path, const struct enc_ds *ds, const struct enc_opts *opts,
		   const char *sop_class, const char *sop_inst, size_t *size)
{
	struct buf b;
	struct enc_out o = {&b, opts->ts != ENC_IMPLICIT_LE, opts->ts == ENC_EXPLICIT_BE, opts};
	const struct enc_elem *pix = ds_pixels(ds);
	size_t direct = 0, start, total;
	int fd = -1, rc;

	buf_init(&b, ENC_MAXBUF);
	rc = out_meta(&b, opts->ts, sop_class, sop_inst);
	start = b.len;
	rc = rc ? rc : out_ds(&o, ds, 1, opts->ts == ENC_DEFLATED ? NULL : &direct);
	if (!rc && opts->ts == ENC_DEFLATED)
		rc = deflate_tail(&b, start);
	if (rc)
		goto fail;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = core_write_all(fd, b.data, b.len);
	total = b.len;
	if (!rc && direct) {
		rc = core_write_all(fd, pix->pix, pix->len);
		total += pix->len;
	}
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && size)
		*size = total;
fail:
	buf_release(&b);
	return rc;
}

/* ---- RLE Lossless ----------------------------------------------------------------- */

/* PackBits of n bytes taken every stride bytes from p. */
static int rle_segment(const uint8_t *p, size_t n, size_t stride, struct buf *out)
{
	size_t i = 0;
	int rc = 0;

	while (!rc && i < n) {
		size_t run = 1;

		while (i + run < n && run < 128 && p[(i + run) * stride] == p[i * stride])
			run++;
		if (run >= 2) {
			rc = buf_append_u8(out, (uint8_t)(257 - run));
			rc = rc ? rc : buf_append_u8(out, p[i * stride]);
			i += run;
			continue;
		}
		/* Literal run until the next repeat of at least two or 128 bytes. */
		size_t lit = 1;

		while (i + lit < n && lit < 128 &&
		       !(i + lit + 1 < n && p[(i + lit) * stride] == p[(i + lit + 1) * stride]))
			lit++;
		rc = buf_append_u8(out, (uint8_t)(lit - 1));
		for (size_t k = 0; !rc && k < lit; k++)
			rc = buf_append_u8(out, p[(i + k) * stride]);
		i += lit;
	}
	if (!rc && (out->len & 1))
		rc = buf_append_u8(out, 0x80); /* no-op code pads the segment to even */
	return rc;
}

int enc_rle_frame(const uint8_t *pix, size_t npix, unsigned bps, struct buf *out)
{
	size_t hdr = out->len;
	int rc;

	if ((bps != 1 && bps != 2) || (hdr & 1)) /* segments are padded to even offsets */
		return -EINVAL;
	rc = buf_reserve(out, 64);
	if (rc)
		return rc;
	memset(out->data + hdr, 0, 64);
	out->len += 64;
	le_store(out->data + hdr, bps, 4);
	/* Segments hold the most significant byte first: for LE 16-bit, byte 1 then 0. */
	for (unsigned s = 0; !rc && s < bps; s++) {
		le_store(out->data + hdr + 4 + 4 * s, (uint32_t)(out->len - hdr), 4);
		rc = rle_segment(pix + (bps - 1 - s), npix, bps, out);
	}
	return rc;
}
