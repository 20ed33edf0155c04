/*
 * The streaming DICOM reader: one event per call (element, sequence/item begin and end,
 * encapsulated pixel data fragments), in file order, meta header first. Nothing is
 * copied or allocated per element: values are borrowed pointers into the input (or into
 * the inflated dataset of a deflated transfer syntax).
 *
 * Invariants: pos never passes the innermost defined end (frame limit) nor the stream
 * end; every length is checked against what remains before it is used; every call either
 * advances pos or closes a frame, so the walk always terminates; sequences nest at most
 * DCM_READ_MAX_DEPTH deep. Undefined-length UN elements are read as implicit VR little
 * endian sequences (PS3.5 6.2.2). The first error is sticky.
 */
#include "core/core.h"
#include "anon/reader_int.h"

#include <errno.h>

struct hdr {
	uint32_t tag;
	uint16_t vr;
	uint32_t len;
	size_t hlen;
};

void dcm_reader_rewind(struct dcm_reader *r)
{
	r->p = r->in;
	r->n = r->in_n;
	r->pos = r->meta_start;
	r->in_meta = r->meta_end > r->meta_start;
	r->done = false;
	r->nframes = r->nseq = 0;
	r->failed = 0;
	err_clear(&r->err);
	if (!r->in_meta && r->ts.deflated) {
		r->p = r->inflated;
		r->n = r->inflated_n;
		r->pos = 0;
	}
}

int dcm_reader_new(const uint8_t *p, size_t n, struct dcm_reader **out, struct fiona_err *err)
{
	struct dcm_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	r->in = p;
	r->in_n = p ? n : 0;
	err_clear(&r->err);
	rc = reader_meta_scan(r, err);
	if (rc < 0)
		goto fail;
	if (r->ts.deflated) {
		rc = reader_inflate(r, err);
		if (rc < 0)
			goto fail;
	}
	dcm_reader_rewind(r);
	*out = r;
	return 0;
fail:
	dcm_reader_free(r);
	return rc;
}

void dcm_reader_free(struct dcm_reader *r)
{
	if (!r)
		return;
	free(r->inflated);
	free(r);
}

const struct fiona_err *dcm_reader_error(const struct dcm_reader *r)
{
	return &r->err;
}

const struct dcm_ts *dcm_reader_ts(const struct dcm_reader *r)
{
	return &r->ts;
}

bool dcm_reader_has_meta(const struct dcm_reader *r)
{
	return r->has_meta;
}

const uint8_t *dcm_reader_inflated(const struct dcm_reader *r, size_t *len)
{
	if (!r->ts.deflated)
		return NULL;
	if (len)
		*len = r->inflated_n;
	return r->inflated;
}

uint64_t dcm_reader_dataset_offset(const struct dcm_reader *r)
{
	return r->meta_end;
}

/* ---- the walk --------------------------------------------------------------------- */

static int rd_fail(struct dcm_reader *r, uint64_t off, uint32_t tag, const char *reason)
{
	r->failed = err_set(&r->err, -EINVAL, off, tag, "%s", reason);
	return r->failed;
}

static struct reader_frame *rd_top(struct dcm_reader *r)
{
	return r->nframes ? &r->frames[r->nframes - 1] : NULL;
}

static bool rd_implicit(struct dcm_reader *r)
{
	struct reader_frame *f = rd_top(r);

	if (r->in_meta)
		return false;
	return (f && f->implicit) || !r->ts.explicit_vr;
}

static bool rd_big_endian(struct dcm_reader *r)
{
	return !r->in_meta && r->ts.big_endian && !rd_implicit(r);
}

static uint16_t rd_dict_vr(uint32_t tag)
{
	struct dcm_dict_info info;

	if (dcm_dict_lookup(tag, &info) < 0 || info.vr == 0)
		return DCM_VR_UN;
	return info.vr;
}

/* Reads the element header at pos, checking it and its value against limit. */
static int rd_header(struct dcm_reader *r, size_t limit, struct hdr *h)
{
	const uint8_t *p = r->p + r->pos;
	size_t avail = limit - r->pos, end;
	bool be = rd_big_endian(r);

	if (avail < 8)
		return rd_fail(r, r->pos, CORE_NO_TAG, "truncated element header");
	h->tag = DCM_TAG(reader_rd16(p, be), reader_rd16(p + 2, be));
	h->hlen = 8;
	if (DCM_GROUP(h->tag) == 0xFFFE) {
		h->vr = 0;
		h->len = reader_rd32(p + 4, be);
	} else if (rd_implicit(r)) {
		h->vr = rd_dict_vr(h->tag);
		h->len = reader_rd32(p + 4, false);
	} else {
		h->vr = DCM_VR(p[4], p[5]);
		if (!dcm_vr_is_known(h->vr))
			return rd_fail(r, r->pos, h->tag, "invalid VR");
		if (dcm_vr_has_long_length(h->vr)) {
			if (avail < 12)
				return rd_fail(r, r->pos, h->tag, "truncated element header");
			h->len = reader_rd32(p + 8, be);
			h->hlen = 12;
		} else {
			h->len = reader_rd16(p + 6, be);
		}
	}
	if (h->len == DCM_UNDEFINED_LENGTH)
		return 0;
	if (core_add_size(r->pos + h->hlen, h->len, &end) || end > limit) {
		r->failed = err_set(&r->err, -EINVAL, r->pos, h->tag,
				    "value length %u exceeds the %zu bytes remaining", h->len,
				    avail - h->hlen);
		return r->failed;
	}
	return 0;
}

static void rd_fill(struct dcm_reader *r, struct dcm_elem *e, enum dcm_kind kind,
		    const struct hdr *h)
{
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->tag = h->tag;
	e->vr = h->vr;
	e->length = h->len;
	e->offset = r->pos;
	e->value_offset = r->pos + h->hlen;
	e->depth = r->nseq;
	e->in_meta = r->in_meta;
	e->big_endian = rd_big_endian(r);
}

static int rd_push(struct dcm_reader *r, enum reader_frame_kind kind, const struct hdr *h,
		   bool implicit)
{
	struct reader_frame *parent = rd_top(r), *f;
	size_t limit = parent ? parent->limit : r->n;

	if (kind != FRAME_ITEM && r->nseq >= DCM_READ_MAX_DEPTH)
		return rd_fail(r, r->pos, h->tag, "sequences nested deeper than 32");
	f = &r->frames[r->nframes++];
	f->kind = kind;
	f->tag = h->tag;
	f->implicit = implicit || (parent && parent->implicit);
	f->end = h->len == DCM_UNDEFINED_LENGTH ? READER_NO_END : r->pos + h->hlen + h->len;
	f->limit = f->end == READER_NO_END ? limit : f->end;
	if (kind != FRAME_ITEM)
		r->nseq++;
	return 0;
}

static void rd_pop(struct dcm_reader *r)
{
	if (r->frames[r->nframes - 1].kind != FRAME_ITEM)
		r->nseq--;
	r->nframes--;
}

static enum dcm_kind rd_end_kind(const struct reader_frame *f)
{
	return f->kind == FRAME_SEQ    ? DCM_SEQ_END
	       : f->kind == FRAME_ITEM ? DCM_ITEM_END
				       : DCM_PIXEL_END;
}

/* A frame of defined length ended exactly at pos: report its end with no bytes. */
static int rd_close_defined(struct dcm_reader *r, struct dcm_elem *e)
{
	struct reader_frame *f = rd_top(r);
	struct hdr h = {f->kind == FRAME_ITEM ? DCM_TAG_ITEM_DELIM : DCM_TAG_SEQ_DELIM, 0, 0, 0};
	enum dcm_kind kind = rd_end_kind(f);

	rd_pop(r);
	rd_fill(r, e, kind, &h);
	return 1;
}

static int rd_in_sequence(struct dcm_reader *r, struct reader_frame *f, const struct hdr *h,
			  struct dcm_elem *e)
{
	if (h->tag == DCM_TAG_SEQ_DELIM && f->end == READER_NO_END) {
		rd_pop(r);
		rd_fill(r, e, f->kind == FRAME_SEQ ? DCM_SEQ_END : DCM_PIXEL_END, h);
		r->pos += h->hlen;
		return 1;
	}
	if (h->tag != DCM_TAG_ITEM)
		return rd_fail(r, r->pos, h->tag, "expected an item or sequence delimiter");
	if (f->kind == FRAME_PIXEL) {
		if (h->len == DCM_UNDEFINED_LENGTH)
			return rd_fail(r, r->pos, h->tag,
				       "pixel data fragment of undefined length");
		rd_fill(r, e, DCM_FRAGMENT, h);
		e->value = r->p + r->pos + h->hlen;
		r->pos += h->hlen + h->len;
		return 1;
	}
	rd_fill(r, e, DCM_ITEM_BEGIN, h);
	if (rd_push(r, FRAME_ITEM, h, false) < 0)
		return r->failed;
	r->pos += h->hlen;
	return 1;
}

static int rd_element(struct dcm_reader *r, struct reader_frame *f, const struct hdr *h,
		      struct dcm_elem *e)
{
	bool undef = h->len == DCM_UNDEFINED_LENGTH;

	if (h->tag == DCM_TAG_ITEM_DELIM) {
		if (!f || f->kind != FRAME_ITEM || f->end != READER_NO_END)
			return rd_fail(r, r->pos, h->tag,
				       "item delimiter outside an undefined-length item");
		rd_pop(r);
		rd_fill(r, e, DCM_ITEM_END, h);
		r->pos += h->hlen;
		return 1;
	}
	if (DCM_GROUP(h->tag) == 0xFFFE)
		return rd_fail(r, r->pos, h->tag, "item or delimiter outside a sequence");
	if (r->in_meta && (undef || h->vr == DCM_VR_SQ))
		return rd_fail(r, r->pos, h->tag, "meta header: sequence or undefined length");
	if (undef && h->tag == DCM_TAG_PIXEL_DATA) {
		rd_fill(r, e, DCM_PIXEL_BEGIN, h);
		return rd_push(r, FRAME_PIXEL, h, false) < 0 ? r->failed : (r->pos += h->hlen, 1);
	}
	if (h->vr == DCM_VR_SQ || (undef && (h->vr == DCM_VR_UN || rd_implicit(r)))) {
		bool as_implicit = h->vr == DCM_VR_UN && undef;

		rd_fill(r, e, DCM_SEQ_BEGIN, h);
		return rd_push(r, FRAME_SEQ, h, as_implicit) < 0 ? r->failed
								 : (r->pos += h->hlen, 1);
	}
	if (undef)
		return rd_fail(r, r->pos, h->tag, "undefined length on a non-sequence element");
	rd_fill(r, e, DCM_ELEMENT, h);
	e->value = r->p + r->pos + h->hlen;
	r->pos += h->hlen + h->len;
	return 1;
}

/* Leaves the meta header for the dataset (the inflated stream if deflated). */
static void rd_enter_dataset(struct dcm_reader *r)
{
	r->in_meta = false;
	if (r->ts.deflated) {
		r->p = r->inflated;
		r->n = r->inflated_n;
		r->pos = 0;
	}
}

/* An item of a defined-length sequence may claim more bytes than the sequence has left:
 * dcmtk reads such a file (the item's length wins, the sequence's is taken as wrong), and
 * so does fiona — the writer encodes every sequence it writes again, so the wrong length
 * never leaves. The item is checked against what encloses the sequence instead. */
static size_t rd_seq_item_limit(struct dcm_reader *r, const struct reader_frame *f)
{
	const struct reader_frame *parent = r->nframes > 1 ? &r->frames[r->nframes - 2] : NULL;

	(void)f;
	return parent ? parent->limit : r->n;
}

static int rd_seq_overrun(struct dcm_reader *r, struct reader_frame *f, const struct hdr *h)
{
	size_t end = r->pos + h->hlen + (h->len == DCM_UNDEFINED_LENGTH ? 0 : h->len);

	if (end <= f->limit)
		return 0;
	if (h->tag != DCM_TAG_ITEM || h->len == DCM_UNDEFINED_LENGTH)
		return rd_fail(r, r->pos, h->tag, "value length exceeds its sequence");
	f->end = f->limit = end; /* the sequence ends with this item */
	r->recovered++;
	return 0;
}

static int rd_step(struct dcm_reader *r, struct dcm_elem *e)
{
	struct reader_frame *f = rd_top(r);
	size_t limit;
	struct hdr h;

	if (f && f->end != READER_NO_END && r->pos == f->end)
		return rd_close_defined(r, e);
	if (r->in_meta && r->pos >= r->meta_end)
		rd_enter_dataset(r);
	limit = f ? f->limit : r->in_meta ? r->meta_end : r->n;
	if (r->pos >= limit) {
		if (f)
			return rd_fail(r, r->pos, f->tag,
				       "data ends inside an undelimited sequence or item");
		r->done = true;
		return 0;
	}
	if (f && f->kind == FRAME_SEQ && f->end != READER_NO_END)
		limit = rd_seq_item_limit(r, f);
	if (rd_header(r, limit, &h) < 0)
		return r->failed;
	if (f && f->kind == FRAME_SEQ && f->end != READER_NO_END && rd_seq_overrun(r, f, &h) < 0)
		return r->failed;
	if (f && f->kind != FRAME_ITEM)
		return rd_in_sequence(r, f, &h, e);
	return rd_element(r, f, &h, e);
}

int dcm_reader_next(struct dcm_reader *r, struct dcm_elem *e)
{
	struct dcm_elem tmp;
	int rc;

	if (r->failed)
		return r->failed;
	if (r->done)
		return 0;
	rc = rd_step(r, &tmp);
	if (rc == 1)
		*e = tmp;
	return rc;
}
