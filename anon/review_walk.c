/*
 * review_walk: the attributes of one de-identified file into a review summary. Every
 * element, sequence and item is walked with the reader; an element's path is the tags of
 * the sequences around it (items are not numbered: the summary is about which attributes
 * exist). Private elements are named by the creator that reserved their block in the same
 * dataset or item, as dcmtk resolves them.
 *
 * A file is read through a callback and never whole: its first bytes (64 KiB, more while
 * the header does not fit, up to REVIEW_HEAD_MAX) up to the pixel data, then only the
 * element headers of the pixel data (its 12 bytes, or each fragment's 8), then whatever
 * follows the pixel data (up to REVIEW_TAIL_MAX). A first walk over the head only finds
 * out how much of it is needed, so a file counts once or not at all.
 */
#include "core/core.h"
#include "anon/review_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <xxhash.h>

#define RV_HEAD_FIRST  ((uint64_t)64 << 10)
#define RV_SHOW_BYTES  64  /* value bytes shown of a text */
#define RV_SHOW_VALUES 16  /* values shown of a number list */
#define RV_SHOW_HEX    8   /* bytes shown of a binary value */
#define RV_CREATORS    256 /* private creators in scope at once */
#define RV_FRAGS_MAX   ((uint64_t)1 << 24)

struct rv_creator {
	int level;
	uint16_t group;
	uint8_t block, len;
	char name[64];
};

struct rv_walk {
	struct review_sum *s; /* NULL: only find out where the walk stops */
	uint8_t path[RV_KEY_MAX + 70];
	size_t plen[DCM_READ_MAX_DEPTH + 2]; /* key bytes of the sequences at each level */
	int level;			     /* dataset level of the next element */
	bool pixel_open;		     /* top-level encapsulated pixel data begun */
	struct rv_creator cr[RV_CREATORS];
	size_t n_cr;
};

/* ---- values as shown -------------------------------------------------------------- */

static bool vr_in(uint16_t vr, const char *list)
{
	for (; list[0] && list[1]; list += 2)
		if (DCM_VR(list[0], list[1]) == vr)
			return true;
	return false;
}

static void show_text(const struct dcm_elem *e, char *out, size_t cap, uint64_t *hash)
{
	size_t n = dcm_value_str(e, NULL, 0); /* the length without padding */

	*hash = XXH3_64bits(e->value, n);
	if (!n) {
		snprintf(out, cap, "<empty>");
		return;
	}
	size_t o = review_escape(e->value, n < RV_SHOW_BYTES ? n : RV_SHOW_BYTES, out, cap - 3);
	if (n > RV_SHOW_BYTES)
		memcpy(out + o, "...", 4);
}

static uint64_t rd_le(const uint8_t *p, size_t k, bool be)
{
	uint64_t v = 0;

	for (size_t i = 0; i < k; i++)
		v = be ? v << 8 | p[i] : v | (uint64_t)p[i] << (8 * i);
	return v;
}

static int show_one(uint16_t vr, const uint8_t *p, bool be, char *t, size_t cap)
{
	uint64_t v = rd_le(p, dcm_vr_value_size(vr), be);
	union {
		uint32_t u;
		float f;
	} f32 = {(uint32_t)v};
	union {
		uint64_t u;
		double d;
	} f64 = {v};

	switch (vr) {
	case DCM_VR('S', 'S'):
		return snprintf(t, cap, "%d", (int16_t)v);
	case DCM_VR('S', 'L'):
		return snprintf(t, cap, "%" PRId32, (int32_t)v);
	case DCM_VR('S', 'V'):
		return snprintf(t, cap, "%" PRId64, (int64_t)v);
	case DCM_VR('F', 'L'):
		return snprintf(t, cap, "%.9g", (double)f32.f);
	case DCM_VR('F', 'D'):
		return snprintf(t, cap, "%.17g", f64.d);
	case DCM_VR('A', 'T'):
		return snprintf(t, cap, "(%04X,%04X)", (unsigned)rd_le(p, 2, be),
				(unsigned)rd_le(p + 2, 2, be));
	default:
		return snprintf(t, cap, "%" PRIu64, v);
	}
}

static void show_numbers(const struct dcm_elem *e, char *out, size_t cap, uint64_t *hash)
{
	size_t unit = e->vr == DCM_VR('A', 'T') ? 4 : dcm_vr_value_size(e->vr);
	size_t n = e->length / unit, o = 0;

	*hash = XXH3_64bits(e->value, e->length);
	out[0] = '\0';
	if (!n || e->length % unit) {
		snprintf(out, cap, e->length ? "<%" PRIu32 " bytes>" : "<empty>", e->length);
		return;
	}
	for (size_t i = 0; i < n && i < RV_SHOW_VALUES && o + 40 < cap; i++) {
		if (i)
			o += (size_t)snprintf(out + o, cap - o, "\\\\");
		o += (size_t)show_one(e->vr, e->value + i * unit, e->big_endian, out + o, cap - o);
	}
	if (n > RV_SHOW_VALUES && o + 6 < cap)
		snprintf(out + o, cap - o, "\\\\...");
}

static void show_binary(const struct dcm_elem *e, char *out, size_t cap, uint64_t *hash)
{
	size_t o;

	*hash = XXH3_64bits(e->value, e->length);
	if (!e->length) {
		snprintf(out, cap, "<empty>");
		return;
	}
	o = (size_t)snprintf(out, cap, "<%" PRIu32 " bytes: ", e->length);
	for (size_t i = 0; i < e->length && i < RV_SHOW_HEX && o + 8 < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%02x", e->value[i]);
	snprintf(out + o, cap - o, "%s>", e->length > RV_SHOW_HEX ? "..." : "");
}

static void show_value(const struct dcm_elem *e, char *out, size_t cap, uint64_t *hash)
{
	if (vr_in(e->vr, "AEASCSDADSDTISLOLTPNSHSTTMUCUIURUT"))
		show_text(e, out, cap, hash);
	else if (vr_in(e->vr, "USSSULSLFLFDATUVSV"))
		show_numbers(e, out, cap, hash);
	else
		show_binary(e, out, cap, hash);
}

/* ---- paths and creators ----------------------------------------------------------- */

static void creators_drop(struct rv_walk *w, int level)
{
	while (w->n_cr && w->cr[w->n_cr - 1].level >= level)
		w->n_cr--;
}

static void creator_note(struct rv_walk *w, const struct dcm_elem *e, int level)
{
	struct rv_creator *c;
	size_t n = dcm_value_str(e, NULL, 0); /* the length without padding */

	if (w->n_cr == RV_CREATORS)
		return; /* its elements are then shown by tag */
	c = &w->cr[w->n_cr++];
	c->level = level;
	c->group = DCM_GROUP(e->tag);
	c->block = (uint8_t)DCM_ELEM(e->tag);
	c->len = (uint8_t)(n < sizeof(c->name) ? n : sizeof(c->name));
	memcpy(c->name, e->value, c->len);
}

/* Appends the component of tag at level to w->path at *len. */
static void comp_put(struct rv_walk *w, uint32_t tag, int level, size_t *len)
{
	uint8_t *p = w->path + *len;
	const struct rv_creator *c = NULL;

	if ((DCM_GROUP(tag) & 1) && DCM_ELEM(tag) >= 0x1000)
		for (size_t i = w->n_cr; i-- > 0 && w->cr[i].level == level;)
			if (w->cr[i].group == DCM_GROUP(tag) &&
			    w->cr[i].block == DCM_ELEM(tag) >> 8) {
				c = &w->cr[i];
				break;
			}
	if (c)
		tag = DCM_TAG(DCM_GROUP(tag), 0x1000 | (DCM_ELEM(tag) & 0xff));
	p[0] = (uint8_t)(tag >> 24);
	p[1] = (uint8_t)(tag >> 16);
	p[2] = (uint8_t)(tag >> 8);
	p[3] = (uint8_t)tag;
	p[4] = c ? c->len : 0;
	if (c)
		memcpy(p + 5, c->name, c->len);
	*len += 5 + (c ? c->len : 0);
}

static struct rv_entry *entry_at(struct rv_walk *w, const struct dcm_elem *e, size_t *len)
{
	struct rv_entry *x;

	*len = w->plen[w->level];
	comp_put(w, e->tag, w->level, len);
	if (*len > RV_KEY_MAX || !(x = rv_entry_get(w->s, w->path, *len, e->vr)))
		return NULL;
	rv_entry_seen(w->s, x);
	return x;
}

/* ---- the walk --------------------------------------------------------------------- */

static int on_element(struct rv_walk *w, const struct dcm_elem *e)
{
	char shown[RV_EX_MAX + 1];
	uint64_t hash;
	size_t len;
	struct rv_entry *x;

	if ((DCM_GROUP(e->tag) & 1) && DCM_ELEM(e->tag) >= 0x10 && DCM_ELEM(e->tag) <= 0xff)
		creator_note(w, e, w->level);
	if (!w->s)
		return 0;
	if (!(x = entry_at(w, e, &len)))
		return -ENOMEM;
	if (e->tag == DCM_TAG_PIXEL_DATA && w->level == 0) {
		x->no_values = true;
		snprintf(shown, sizeof(shown), "<%" PRIu32 " bytes>", e->length);
		return rv_entry_value(w->s, x, e->length, shown);
	}
	show_value(e, shown, sizeof(shown), &hash);
	return rv_entry_value(w->s, x, hash, shown);
}

static int on_sequence(struct rv_walk *w, const struct dcm_elem *e)
{
	size_t len = w->plen[w->level];

	if (w->level > DCM_READ_MAX_DEPTH)
		return -EINVAL;
	if (w->s) {
		struct rv_entry *x = entry_at(w, e, &len);

		if (!x)
			return -ENOMEM;
		x->no_values = true;
	} else {
		comp_put(w, e->tag, w->level, &len);
	}
	if (len > RV_KEY_MAX)
		return -ENOMEM;
	w->plen[++w->level] = len;
	return 0;
}

static int on_event(struct rv_walk *w, const struct dcm_elem *e)
{
	switch (e->kind) {
	case DCM_ELEMENT:
		return on_element(w, e);
	case DCM_SEQ_BEGIN:
		return on_sequence(w, e);
	case DCM_SEQ_END:
		w->level = e->depth;
		return 0;
	case DCM_ITEM_BEGIN:
	case DCM_ITEM_END:
		creators_drop(w, e->depth);
		w->level = e->depth;
		return 0;
	case DCM_PIXEL_BEGIN:
		w->pixel_open = e->depth == 0;
		if (w->s && e->depth == 0) {
			size_t len;
			struct rv_entry *x = entry_at(w, e, &len);

			if (!x)
				return -ENOMEM;
			x->no_values = true;
			return rv_entry_value(w->s, x, 1, "<encapsulated>");
		}
		return 0;
	case DCM_PIXEL_END:
		w->pixel_open = false;
		return 0;
	default:
		return 0; /* fragments */
	}
}

/* Where a walk over a head of the file stopped. */
enum rv_stop { RV_DONE, RV_NATIVE_PIXELS, RV_FRAGMENTS, RV_SHORT };

static int walk(struct rv_walk *w, struct dcm_reader *r, enum rv_stop *stop, uint64_t *at,
		struct fiona_err *err)
{
	const struct fiona_err *re;
	struct dcm_elem e;
	int rc;

	while ((rc = dcm_reader_next(r, &e)) == 1)
		if ((rc = on_event(w, &e)) < 0)
			return err_set(err, rc, e.offset, e.tag, "out of memory");
	*stop = RV_DONE;
	if (rc == 0)
		return 0;
	re = dcm_reader_error(r);
	*at = re->offset;
	if (w->pixel_open)
		*stop = RV_FRAGMENTS;
	else if (w->level == 0 && re->tag == DCM_TAG_PIXEL_DATA)
		*stop = RV_NATIVE_PIXELS;
	else
		*stop = RV_SHORT;
	if (err)
		*err = *re;
	return rc;
}

/* ---- files read through a callback ------------------------------------------------- */

struct rv_file {
	uint64_t size;
	review_read_fn fn;
	void *opaque;
};

static int read_at(const struct rv_file *f, uint64_t off, void *dst, size_t len,
		   struct fiona_err *err)
{
	ssize_t got = off <= f->size && len <= f->size - off ? f->fn(f->opaque, off, dst, len) : 0;

	if (got == (ssize_t)len)
		return 0;
	return err_set(err, got < 0 ? (int)got : -EIO, off, CORE_NO_TAG,
		       "file shorter than its size (%zu bytes wanted)", len);
}

static uint64_t le_at(const uint8_t *p, int k)
{
	return rd_le(p, (size_t)k, false);
}

/* The end of the native pixel data whose header is at off (little endian; explicit: 12
 * bytes with a VR, implicit: 8). */
static int pixels_native(struct rv_walk *w, const struct rv_file *f, bool explicit_vr, uint64_t off,
			 uint64_t *end, struct fiona_err *err)
{
	uint8_t h[12];
	size_t hlen = explicit_vr ? 12 : 8;
	struct dcm_elem e = {0};
	int rc = read_at(f, off, h, hlen, err);

	if (rc)
		return rc;
	e.kind = DCM_ELEMENT;
	e.tag = DCM_TAG(le_at(h, 2), le_at(h + 2, 2));
	e.vr = explicit_vr ? DCM_VR(h[4], h[5]) : DCM_VR('O', 'W');
	e.length = (uint32_t)le_at(h + hlen - 4, 4);
	if (e.tag != DCM_TAG_PIXEL_DATA || (explicit_vr && !dcm_vr_has_long_length(e.vr)) ||
	    e.length == DCM_UNDEFINED_LENGTH || f->size - off - hlen < e.length)
		return err_set(err, -EINVAL, off, e.tag, "pixel data header does not fit the file");
	*end = off + hlen + e.length;
	return on_element(w, &e) ? err_set(err, -ENOMEM, off, e.tag, "out of memory") : 0;
}

/* The end of encapsulated pixel data whose next fragment (or delimiter) is at off. */
static int pixels_fragments(const struct rv_file *f, uint64_t off, uint64_t *end,
			    struct fiona_err *err)
{
	for (uint64_t k = 0; k < RV_FRAGS_MAX; k++) {
		uint8_t h[8];
		uint32_t tag, len;
		int rc = read_at(f, off, h, sizeof(h), err);

		if (rc)
			return rc;
		tag = DCM_TAG(le_at(h, 2), le_at(h + 2, 2));
		len = (uint32_t)le_at(h + 4, 4);
		if (tag == DCM_TAG_SEQ_DELIM) {
			*end = off + 8;
			return 0;
		}
		if (tag != DCM_TAG_ITEM || len == DCM_UNDEFINED_LENGTH || f->size - off - 8 < len)
			return err_set(err, -EINVAL, off, tag,
				       "pixel data fragment does not fit the file");
		off += 8 + len;
	}
	return err_set(err, -EINVAL, off, DCM_TAG_PIXEL_DATA, "too many pixel data fragments");
}

/* What follows the pixel data: a dataset of its own, at the top level. */
static int tail_walk(struct rv_walk *w, const struct rv_file *f, uint64_t end,
		     struct fiona_err *err)
{
	uint64_t n = f->size - end;
	uint8_t *b;
	struct dcm_reader *r = NULL;
	enum rv_stop stop;
	uint64_t at;
	int rc;

	if (!n)
		return 0;
	if (n > REVIEW_TAIL_MAX)
		return err_set(err, -EFBIG, end, CORE_NO_TAG,
			       "%" PRIu64 " bytes after the pixel data", n);
	if (!(b = malloc(n)))
		return -ENOMEM;
	rc = read_at(f, end, b, n, err);
	rc = rc ? rc : dcm_reader_new(b, n, &r, err);
	w->level = 0;
	w->pixel_open = false;
	rc = rc ? rc : walk(w, r, &stop, &at, err);
	if (rc && err && err->offset != CORE_NO_OFFSET)
		err->offset += end;
	dcm_reader_free(r);
	free(b);
	return rc;
}

/* The head of the file that holds everything before its pixel data (or the whole file),
 * found by walking growing heads. */
static int head_find(struct rv_walk *w, const struct rv_file *f, uint8_t **head, size_t *n,
		     struct fiona_err *err)
{
	for (uint64_t want = RV_HEAD_FIRST;; want *= 4) {
		size_t len = (size_t)(f->size < want ? f->size : want);
		uint8_t *b = malloc(len ? len : 1);
		struct dcm_reader *r = NULL;
		enum rv_stop stop = RV_SHORT;
		uint64_t at;
		int rc = b ? read_at(f, 0, b, len, err) : -ENOMEM;

		if (rc) {
			free(b);
			return rc;
		}
		rc = dcm_reader_new(b, len, &r, err);
		memset(w, 0, sizeof(*w));
		if (!rc) {
			rc = walk(w, r, &stop, &at, err);
			/* offsets of a deflated dataset count in its inflated bytes, and big
			 * endian pixel headers are not read here: such a file is read whole */
			if (dcm_reader_ts(r)->deflated || dcm_reader_ts(r)->big_endian)
				stop = RV_SHORT;
		}
		dcm_reader_free(r);
		if (rc == -ENOMEM) {
			free(b);
			return rc;
		}
		if ((!rc && len == f->size) || (rc && stop != RV_SHORT && stop != RV_DONE)) {
			*head = b;
			*n = len;
			return 0;
		}
		free(b);
		if (len == f->size)
			return rc; /* broken where the whole file was read */
		if (len >= REVIEW_HEAD_MAX)
			return err_set(err, -EFBIG, len, CORE_NO_TAG,
				       "header longer than %" PRIu64 " bytes", REVIEW_HEAD_MAX);
		/* the header goes on past this head: read more */
	}
}

/* One pass over the file: the head, the pixel data's element headers, the tail. With s
 * NULL it records nothing and only checks that the file can be walked. */
static int file_pass(struct rv_walk *w, struct review_sum *s, const struct rv_file *f,
		     const uint8_t *head, size_t n, struct fiona_err *err)
{
	struct dcm_reader *r = NULL;
	enum rv_stop stop = RV_SHORT;
	uint64_t at = 0, end = 0;
	int rc = dcm_reader_new(head, n, &r, err);

	memset(w, 0, sizeof(*w));
	w->s = s;
	if (s)
		s->file++;
	bool explicit_vr = r && dcm_reader_ts(r)->explicit_vr;

	rc = rc ? rc : walk(w, r, &stop, &at, err);
	dcm_reader_free(r);
	if (!rc || (stop != RV_NATIVE_PIXELS && stop != RV_FRAGMENTS))
		return rc;
	rc = stop == RV_NATIVE_PIXELS ? pixels_native(w, f, explicit_vr, at, &end, err)
				      : pixels_fragments(f, at, &end, err);
	return rc ? rc : tail_walk(w, f, end, err);
}

int review_sum_add_file(struct review_sum *s, uint64_t size, review_read_fn fn, void *opaque,
			struct fiona_err *err)
{
	struct rv_file f = {size, fn, opaque};
	struct rv_walk *w = calloc(1, sizeof(*w));
	uint8_t *head = NULL;
	size_t n = 0;
	int rc = w ? head_find(w, &f, &head, &n, err) : -ENOMEM;

	/* a first pass records nothing, so a file that cannot be walked counts for nothing */
	rc = rc ? rc : file_pass(w, NULL, &f, head, n, err);
	rc = rc ? rc : file_pass(w, s, &f, head, n, err);
	free(head);
	free(w);
	return rc;
}

struct rv_mem {
	const uint8_t *p;
	size_t n;
};

static ssize_t mem_read(void *opaque, uint64_t off, void *dst, size_t len)
{
	const struct rv_mem *m = opaque;

	if (off >= m->n)
		return 0;
	if (len > m->n - off)
		len = m->n - (size_t)off;
	memcpy(dst, m->p + off, len);
	return (ssize_t)len;
}

int review_sum_add(struct review_sum *s, const uint8_t *p, size_t n, struct fiona_err *err)
{
	struct rv_mem m = {p, n};

	return review_sum_add_file(s, n, mem_read, &m, err);
}
