/*
 * burn: burned-in text found and removed from an image's frames. Each frame is rendered
 * to 8-bit luminance and read by OCR at native scale and at 2x; a text line is
 * identifying when
 *   1. it holds one of the instance's own identifying header values (name parts, IDs,
 *      birth date in its common written forms, accession, institution), matched
 *      approximately: both sides upper-cased, reduced to letters and digits, with the
 *      letters OCR confuses with digits (O I L S B Z) folded into them, and an edit
 *      distance of at most len/5 anywhere in the line;
 *   2. or it has a pattern that needs no header: a date, an 11-digit national identity
 *      number, a run of 6+ digits, an accession-like token (6+ characters, letters and
 *      4+ digits);
 * or, in all-text mode, whenever it holds two letters or digits. Each such line's box,
 * enlarged by max(3 px, 20 % of its height), is filled with the image's own black. Then
 * the frame is read again: if anything identifying is still read, the boxes grow and the
 * frame is cleaned once more; if that fails too the image cannot be cleaned (-EAGAIN)
 * and the caller holds the instance. Identical frames (a cine loop's still banner) are
 * read once. Nothing read leaves this file: no log line carries OCR text.
 */
#include "core/core.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <xxhash.h>

#include "anon/anon.h"

#define TERM_MIN 3 /* shorter header values match by accident */

void burn_terms_release(struct burn_terms *t)
{
	if (t->v)
		explicit_bzero(t->v, t->n * sizeof(*t->v));
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* Upper case, letters and digits only, confusable letters folded into digits. */
static size_t normalize(const char *in, char *out, size_t cap)
{
	static const char from[] = "OILSBZ", to[] = "011582";
	size_t o = 0;

	for (const unsigned char *c = (const unsigned char *)in; *c && o + 1 < cap; c++) {
		int u = *c >= 'a' && *c <= 'z' ? *c - 32 : *c;
		const char *k;

		if (!((u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')))
			continue;
		if ((k = strchr(from, u)))
			u = to[k - from];
		out[o++] = (char)u;
	}
	out[o] = '\0';
	return o;
}

static int add_term(struct burn_terms *t, const char *raw)
{
	char norm[72];

	if (normalize(raw, norm, sizeof(norm)) < TERM_MIN)
		return 0;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i], norm))
			return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char(*v)[72] = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	memcpy(t->v[t->n++], norm, sizeof(norm));
	return 0;
}

/* A person name: the whole and each component ('^' and spaces separate them). */
static int add_name(struct burn_terms *t, const char *pn)
{
	char part[72];
	size_t k = 0;
	int rc = add_term(t, pn);

	for (const char *c = pn;; c++) {
		if (*c && *c != '^' && *c != ' ' && *c != '=' && k + 1 < sizeof(part)) {
			part[k++] = *c;
			continue;
		}
		part[k] = '\0';
		rc = rc ? rc : add_term(t, part);
		k = 0;
		if (!*c)
			break;
	}
	return rc;
}

/* A DA value YYYYMMDD in the forms it is written on screens. */
static int add_date(struct burn_terms *t, const char *da)
{
	char v[16];
	int rc = add_term(t, da);

	if (strlen(da) != 8)
		return rc;
	snprintf(v, sizeof(v), "%.2s%.2s%.4s", da + 6, da + 4, da); /* DD.MM.YYYY */
	rc = rc ? rc : add_term(t, v);
	snprintf(v, sizeof(v), "%.2s%.2s%.4s", da + 4, da + 6, da); /* MM/DD/YYYY */
	rc = rc ? rc : add_term(t, v);
	snprintf(v, sizeof(v), "%.2s%.2s%.2s", da + 6, da + 4, da + 2); /* DD.MM.YY */
	return rc ? rc : add_term(t, v);
}

static const struct {
	uint32_t tag;
	char kind; /* n name, d date, v value */
} term_tags[] = {
	{DCM_TAG(0x0008, 0x0050), 'v'}, /* AccessionNumber */
	{DCM_TAG(0x0008, 0x0080), 'v'}, /* InstitutionName */
	{DCM_TAG(0x0008, 0x0090), 'n'}, /* ReferringPhysicianName */
	{DCM_TAG(0x0008, 0x1050), 'n'}, /* PerformingPhysicianName */
	{DCM_TAG(0x0008, 0x1070), 'n'}, /* OperatorsName */
	{DCM_TAG(0x0010, 0x0010), 'n'}, /* PatientName */
	{DCM_TAG(0x0010, 0x0020), 'v'}, /* PatientID */
	{DCM_TAG(0x0010, 0x0030), 'd'}, /* PatientBirthDate */
	{DCM_TAG(0x0010, 0x1000), 'v'}, /* OtherPatientIDs */
	{DCM_TAG(0x0010, 0x1001), 'n'}, /* OtherPatientNames */
	{DCM_TAG(0x0020, 0x0010), 'v'}, /* StudyID */
};

int burn_terms_read(const uint8_t *p, size_t n, struct burn_terms *t, struct fiona_err *err)
{
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	char v[400];
	int rc = dcm_reader_new(p, n, &r, err), k = 0;

	memset(t, 0, sizeof(*t));
	while (!rc && (k = dcm_reader_next(r, &e)) > 0) {
		if (e.kind != DCM_ELEMENT || e.depth || e.in_meta)
			continue;
		if (e.tag == DCM_TAG_PIXEL_DATA)
			break;
		for (size_t i = 0; !rc && i < CORE_ARRAY_SIZE(term_tags); i++) {
			if (term_tags[i].tag != e.tag)
				continue;
			dcm_value_str(&e, v, sizeof(v));
			rc = term_tags[i].kind == 'n'	? add_name(t, v)
			     : term_tags[i].kind == 'd' ? add_date(t, v)
							: add_term(t, v);
		}
	}
	if (!rc && k < 0) { /* a header that does not parse: nothing can be matched */
		rc = k;
		*err = *dcm_reader_error(r);
	}
	explicit_bzero(v, sizeof(v));
	dcm_reader_free(r);
	if (rc)
		burn_terms_release(t);
	return rc;
}

/* Smallest edit distance of needle against any substring of hay (Sellers). */
static size_t approx_distance(const char *needle, const char *hay)
{
	size_t m = strlen(needle), best = m, col[80];

	if (m >= CORE_ARRAY_SIZE(col))
		return m;
	for (size_t i = 0; i <= m; i++)
		col[i] = i;
	for (const char *h = hay; *h; h++) {
		size_t diag = 0; /* a match may start anywhere: row 0 stays 0 */

		for (size_t i = 1; i <= m; i++) {
			size_t up = col[i], cost = needle[i - 1] != *h;
			size_t v = diag + cost;

			v = col[i - 1] + 1 < v ? col[i - 1] + 1 : v;
			v = up + 1 < v ? up + 1 : v;
			diag = up;
			col[i] = v;
		}
		best = col[m] < best ? col[m] : best;
	}
	return best;
}

static bool header_match(const struct burn_terms *t, const char *norm)
{
	for (size_t i = 0; i < t->n; i++) {
		size_t len = strlen(t->v[i]), allow = len <= 4 ? 0 : len / 5;

		if (approx_distance(t->v[i], norm) <= allow)
			return true;
	}
	return false;
}

/* Dates, national identity numbers, long digit runs and accession-like tokens, in the
 * raw text (token by token; digit-like letters count as digits). */
static bool pattern_match(const char *text)
{
	int digits = 0, run = 0, letters = 0, len = 0, seps = 0;

	for (const char *c = text;; c++) {
		bool alnum = (*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') ||
			     (*c >= 'a' && *c <= 'z');
		bool digit = (*c >= '0' && *c <= '9') || (*c && strchr("OoIlSB", *c));
		bool sep = *c == '-' || *c == '.' || *c == '/';

		if (digit) {
			run++;
			digits++;
			if (run >= 6)
				return true; /* 6+ digits: an ID, a date without separators */
		} else if (!sep) {
			run = 0;
		}
		if (alnum || sep) {
			len++;
			letters += alnum && !digit;
			seps += sep;
			continue;
		}
		/* end of a token: a separated date (8+ digits, 2 separators) or an accession */
		if ((digits >= 6 && seps >= 2) || (len >= 6 && digits >= 4 && letters >= 1))
			return true;
		digits = letters = len = seps = run = 0;
		if (!*c)
			return false;
	}
}

bool burn_line_identifying(const struct burn_terms *t, const char *text, bool all_text)
{
	char norm[600];
	size_t n = normalize(text, norm, sizeof(norm));

	if (n < 2)
		return false;
	if (all_text)
		return true;
	return header_match(t, norm) || pattern_match(text);
}

static int lines_add(struct ocr_lines *l, const struct ocr_line *x)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct ocr_line *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *x;
	return 0;
}

/* The parts of a frame OCR reads again on their own: each box grown by its own height (at
 * least AROUND_MIN_PX) on every side, clipped to the frame, overlapping ones merged. */
#define AROUND_MIN_PX 16
#define SMALL_TEXT_PX 24
static bool overlap(const struct ocr_line *a, const struct ocr_line *b)
{
	return a->x0 <= b->x1 && b->x0 <= a->x1 && a->y0 <= b->y1 && b->y0 <= a->y1;
}

static int around(const struct ocr_lines *boxes, int w, int h, int max_h, struct ocr_lines *out)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < boxes->n; i++) {
		const struct ocr_line *b = &boxes->v[i];

		if (b->y1 - b->y0 > max_h && b->y1 - b->y0 <= 3 * max_h)
			continue; /* a line of large text; a taller "line" is what layout could not
				   * split, read again */
		int g = b->y1 - b->y0;

		/* a line's own height around it, within bounds: a tall block needs no more */
		g = g < AROUND_MIN_PX	    ? AROUND_MIN_PX
		    : g > 2 * AROUND_MIN_PX ? 2 * AROUND_MIN_PX
					    : g;
		struct ocr_line r = {b->x0 - g, b->y0 - g, b->x1 + g, b->y1 + g, ""};

		r.x0 = r.x0 < 0 ? 0 : r.x0, r.y0 = r.y0 < 0 ? 0 : r.y0;
		r.x1 = r.x1 > w ? w : r.x1, r.y1 = r.y1 > h ? h : r.y1;
		if (r.x1 > r.x0 && r.y1 > r.y0)
			rc = lines_add(out, &r);
	}
	for (bool merged = true; !rc && merged;) { /* a handful of boxes per frame */
		merged = false;
		for (size_t i = 0; i < out->n; i++)
			for (size_t j = i + 1; j < out->n; j++) {
				struct ocr_line *a = &out->v[i], *b = &out->v[j];

				if (!overlap(a, b))
					continue;
				a->x0 = b->x0 < a->x0 ? b->x0 : a->x0,
				a->y0 = b->y0 < a->y0 ? b->y0 : a->y0;
				a->x1 = b->x1 > a->x1 ? b->x1 : a->x1,
				a->y1 = b->y1 > a->y1 ? b->y1 : a->y1;
				*b = out->v[--out->n];
				merged = true;
				j--;
			}
	}
	return rc;
}

/* Reads each part at scale; the lines' boxes are put back in frame coordinates. */
static int read_parts(struct ocr_engine *e, const uint8_t *gray, int w,
		      const struct ocr_lines *parts, int scale, struct ocr_lines *l)
{
	const struct ocr_line *p;
	uint8_t *crop;
	int rc = 0;

	for (size_t i = 0; !rc && i < parts->n; i++) {
		size_t before = l->n;
		int pw, ph;

		p = &parts->v[i];
		pw = p->x1 - p->x0, ph = p->y1 - p->y0;
		if (!(crop = malloc((size_t)pw * ph)))
			return -ENOMEM;
		for (int y = 0; y < ph; y++)
			memcpy(crop + (size_t)y * pw, gray + (size_t)(p->y0 + y) * w + p->x0, pw);
		rc = ocr_read(e, crop, pw, ph, scale, l);
		explicit_bzero(crop, (size_t)pw * ph);
		free(crop);
		for (size_t j = before; !rc && j < l->n; j++) {
			l->v[j].x0 += p->x0, l->v[j].x1 += p->x0;
			l->v[j].y0 += p->y0, l->v[j].y1 += p->y0;
		}
	}
	return rc;
}

/* What OCR reads of a frame. The first look (near NULL) reads the whole frame natively,
 * then at 2x the parts around every line that read found (small text is found as a line
 * natively even where its letters are not read) — the whole frame at 2x when it found
 * none. A check after cleaning (near: the boxes just filled) reads the parts around them
 * at both scales: the rest of the frame is unchanged since the first look. */
static int read_frame(struct ocr_engine *e, const struct pix_image *im, const uint8_t *gray,
		      const struct ocr_lines *near, struct ocr_lines *l)
{
	struct ocr_lines parts = {0};
	int rc = 0;

	if (!near) {
		rc = ocr_read(e, gray, im->cols, im->rows, 1, l);
		if (!rc && !l->n)
			return ocr_read(e, gray, im->cols, im->rows, 2, l);
	}
	/* the 2x look is for small text: a line of large text (taller than SMALL_TEXT_PX)
	 * reads well natively */
	rc = rc ? rc
		: around(near ? near : l, im->cols, im->rows, near ? INT_MAX : SMALL_TEXT_PX,
			 &parts);
	for (int scale = near ? 1 : 2; !rc && scale <= 2; scale++)
		rc = read_parts(e, gray, im->cols, &parts, scale, l);
	ocr_lines_release(&parts);
	return rc;
}

/* Reads a frame (read_frame) and appends the boxes of its identifying lines to found
 * (their text is not kept). */
static int find_boxes(struct ocr_engine *e, const struct pix_image *im, const uint8_t *frame,
		      uint8_t *gray, const struct burn_terms *t, bool all_text,
		      const struct ocr_lines *near, struct ocr_lines *found)
{
	struct ocr_lines l = {0};
	int rc;

	pix_frame_gray8(im, frame, gray);
	rc = read_frame(e, im, gray, near, &l);
	for (size_t i = 0; !rc && i < l.n; i++) {
		struct ocr_line *b;

		if (!burn_line_identifying(t, l.v[i].text, all_text))
			continue;
		if (found->n == found->cap) {
			size_t cap = found->cap ? found->cap * 2 : 16;
			struct ocr_line *v = realloc(found->v, cap * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				break;
			}
			found->v = v;
			found->cap = cap;
		}
		b = &found->v[found->n++];
		*b = l.v[i];
		b->text[0] = '\0';
	}
	if (l.v)
		explicit_bzero(l.v, l.n * sizeof(*l.v));
	ocr_lines_release(&l);
	return rc;
}

/* Appends the boxes of found, each enlarged by max(3 px, grow % of its height), to
 * applied, and fills them. */
static int fill_grown(const struct pix_image *im, uint8_t *frame, const struct ocr_lines *found,
		      int grow, struct ocr_lines *applied)
{
	for (size_t i = 0; i < found->n; i++) {
		const struct ocr_line *f = &found->v[i];
		int m = (f->y1 - f->y0) * grow / 100;
		struct ocr_line *a;

		m = m < 3 ? 3 : m;
		if (applied->n == applied->cap) {
			size_t cap = applied->cap ? applied->cap * 2 : 16;
			struct ocr_line *v = realloc(applied->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			applied->v = v;
			applied->cap = cap;
		}
		a = &applied->v[applied->n++];
		*a = (struct ocr_line){f->x0 - m, f->y0 - m, f->x1 + m, f->y1 + m, ""};
		pix_fill_rect(im, frame, a->x0, a->y0, a->x1 - a->x0, a->y1 - a->y0);
	}
	return 0;
}

/* Cleans one frame and checks it: what is found filled, the frame read again, what is
 * still read filled wider (twice at most), read once more. -EAGAIN when identifying text
 * is still read then: the image cannot be cleaned. applied gets every filled rectangle. */
static int clean_frame(struct ocr_engine *e, const struct pix_image *im, uint8_t *frame,
		       uint8_t *gray, const struct burn_terms *t, bool all_text,
		       struct ocr_lines *applied, struct burn_report *rep)
{
	struct ocr_lines found = {0}, filled = {0};
	int rc = find_boxes(e, im, frame, gray, t, all_text, NULL, &found);

	rep->lines += found.n;
	for (int pass = 0; !rc && found.n; pass++) {
		size_t first = applied->n;

		if (pass == 3) {
			rc = -EAGAIN;
			break;
		}
		rc = fill_grown(im, frame, &found, pass ? 60 : 20, applied);
		filled.n = 0;
		for (size_t i = first; !rc && i < applied->n; i++)
			rc = lines_add(&filled, &applied->v[i]);
		found.n = 0;
		rc = rc ? rc : find_boxes(e, im, frame, gray, t, all_text, &filled, &found);
	}
	ocr_lines_release(&found);
	ocr_lines_release(&filled);
	return rc;
}

int burn_clean(struct ocr_engine *e, struct pix_image *im, const struct burn_terms *t,
	       bool all_text, const struct ocr_lines *regions, struct burn_report *rep)
{
	size_t fs = pix_frame_size(im);
	uint8_t *gray = malloc((size_t)im->rows * im->cols);
	struct ocr_lines boxes = {0};
	uint64_t prev = 0;
	int rc = 0;

	memset(rep, 0, sizeof(*rep));
	if (!gray)
		return -ENOMEM;
	if (!im->data) {
		free(gray);
		return -ENOTSUP; /* compressed pixel data: the codec decodes it first */
	}
	for (long f = 0; !rc && f < im->frames; f++) {
		uint8_t *frame = im->data + (size_t)f * fs;
		uint64_t h = XXH3_64bits(frame, fs);

		if (f && h == prev) { /* the same frame again: the same boxes, already checked */
			for (size_t i = 0; regions && i < regions->n; i++)
				pix_fill_rect(im, frame, regions->v[i].x0, regions->v[i].y0,
					      regions->v[i].x1 - regions->v[i].x0,
					      regions->v[i].y1 - regions->v[i].y0);
			for (size_t i = 0; i < boxes.n; i++)
				pix_fill_rect(im, frame, boxes.v[i].x0, boxes.v[i].y0,
					      boxes.v[i].x1 - boxes.v[i].x0,
					      boxes.v[i].y1 - boxes.v[i].y0);
			continue;
		}
		prev = h;
		boxes.n = 0;
		for (size_t i = 0; regions && i < regions->n; i++) /* device rules: always */
			pix_fill_rect(im, frame, regions->v[i].x0, regions->v[i].y0,
				      regions->v[i].x1 - regions->v[i].x0,
				      regions->v[i].y1 - regions->v[i].y0);
		rc = clean_frame(e, im, frame, gray, t, all_text, &boxes, rep);
		rep->frames++;
	}
	explicit_bzero(gray, (size_t)im->rows * im->cols);
	free(gray);
	ocr_lines_release(&boxes);
	return rc;
}

/* Puts the cleaned frames back into a copy of the instance: the decoded one for compressed
 * input, the original otherwise (big endian pixel data swapped back). */
static int write_back(const struct pix_image *im, const uint8_t *p, size_t n, uint8_t **out,
		      size_t *out_len)
{
	const uint8_t *src = im->decoded ? im->decoded : p;
	size_t len = im->decoded ? im->decoded_len : n;
	uint8_t *copy;

	if (im->data_offset > len || im->data_len > len - im->data_offset)
		return -EINVAL;
	if (!(copy = malloc(len)))
		return -ENOMEM;
	memcpy(copy, src, len);
	memcpy(copy + im->data_offset, im->data, im->data_len);
	if (im->big_endian && im->bits_alloc == 16)
		for (size_t i = 0; i + 1 < im->data_len; i += 2) {
			uint8_t t = copy[im->data_offset + i];

			copy[im->data_offset + i] = copy[im->data_offset + i + 1];
			copy[im->data_offset + i + 1] = t;
		}
	*out = copy;
	*out_len = len;
	return 0;
}

int burn_clean_instance(struct ocr_engine *e, const struct burn_rules *rules, bool all_text,
			const uint8_t *p, size_t n, uint8_t **out, size_t *out_len,
			struct burn_report *rep, struct fiona_err *err)
{
	struct ocr_lines regions = {0};
	struct burn_terms t = {0};
	struct pix_image im;
	int rc = pix_image_read(p, n, &im, err);

	memset(rep, 0, sizeof(*rep));
	if (rc)
		return rc;
	rc = burn_terms_read(p, n, &t, err);
	if (!rc && rules)
		rc = burn_rules_regions(rules, p, n, im.rows, im.cols, &regions, err);
	if (!rc && (rc = burn_clean(e, &im, &t, all_text, &regions, rep)))
		err_set(err, rc, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA, "%s",
			rc == -EAGAIN ? "burned-in text is still read after cleaning"
				      : "the pixels could not be read for burned-in text");
	if (!rc && (rc = write_back(&im, p, n, out, out_len)))
		err_set(err, rc, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			"cannot write the cleaned pixels");
	ocr_lines_release(&regions);
	burn_terms_release(&t);
	if (im.data)
		explicit_bzero(im.data, im.data_len);
	pix_image_release(&im);
	return rc;
}
