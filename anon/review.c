/*
 * review: summaries of which attributes de-identified files carry, for a project to check
 * its pseudonymization (docs/review.md). A summary holds one entry per attribute path and
 * VR: how many files carry it, the hashes of its distinct values (exact up to hash_cap,
 * a lower bound past it) and a few examples as the files show them. A study's summary is
 * saved (review_sum_save) and kept by the catalog; a project's is the merge of its
 * studies' (review_sum_merge, which checks every byte: a damaged row is refused, never
 * trusted) and is shown as TSV sorted by path. Reading files is review_walk.c.
 */
#include "core/core.h"
#include "anon/review_int.h"

#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#define RV_MAGIC     "FRV1"
#define RV_SAVED_MAX (1u << 22) /* hashes of one entry in saved bytes */

int review_sum_new(size_t hash_cap, struct review_sum **out)
{
	struct review_sum *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->hash_cap = hash_cap ? hash_cap : 1;
	*out = s;
	return 0;
}

void review_sum_free(struct review_sum *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].key);
		free(s->e[i].set.v);
		for (int k = 0; k < s->e[i].n_ex; k++)
			free(s->e[i].ex[k]);
	}
	free(s->e);
	free(s->idx);
	free(s);
}

size_t review_sum_count(const struct review_sum *s)
{
	return s ? s->n : 0;
}

/* ---- value hashes ----------------------------------------------------------------- */

static bool set_has(const struct rv_set *t, uint64_t h)
{
	if (!t->cap)
		return false;
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (t->v[i] == h)
			return true;
		if (!t->v[i])
			return false;
	}
}

static void set_put(struct rv_set *t, uint64_t h)
{
	size_t i = h & (t->cap - 1);

	while (t->v[i])
		i = (i + 1) & (t->cap - 1);
	t->v[i] = h;
	t->n++;
}

static int set_grow(struct rv_set *t)
{
	struct rv_set g = {calloc(t->cap ? t->cap * 2 : 16, sizeof(uint64_t)), 0,
			   t->cap ? t->cap * 2 : 16};

	if (!g.v)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i])
			set_put(&g, t->v[i]);
	free(t->v);
	*t = g;
	return 0;
}

/* 1 when h was new, 0 when known or the set is full (capped), -ENOMEM. */
static int set_add(const struct review_sum *s, struct rv_entry *e, uint64_t h)
{
	h = h ? h : 1; /* 0 marks a free slot */
	if (set_has(&e->set, h))
		return 0;
	if (e->set.n >= s->hash_cap) {
		e->capped = true;
		return 0;
	}
	if ((e->set.n + 1) * 2 > e->set.cap && set_grow(&e->set))
		return -ENOMEM;
	set_put(&e->set, h);
	return 1;
}

/* ---- entries ---------------------------------------------------------------------- */

static uint64_t entry_hash(const uint8_t *key, size_t len, uint16_t vr)
{
	return XXH3_64bits_withSeed(key, len, vr);
}

static int idx_grow(struct review_sum *s)
{
	size_t cap = s->idx_cap ? s->idx_cap * 2 : 64;
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		size_t k = entry_hash(s->e[i].key, s->e[i].key_len, s->e[i].vr) & (cap - 1);

		while (idx[k])
			k = (k + 1) & (cap - 1);
		idx[k] = (uint32_t)i + 1;
	}
	free(s->idx);
	s->idx = idx;
	s->idx_cap = cap;
	return 0;
}

static struct rv_entry *entry_new(struct review_sum *s, const uint8_t *key, size_t key_len,
				  uint16_t vr, size_t slot)
{
	struct rv_entry *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		struct rv_entry *v = realloc(s->e, cap * sizeof(*v));

		if (!v)
			return NULL;
		s->e = v;
		s->cap = cap;
	}
	e = &s->e[s->n];
	*e = (struct rv_entry){
		.key = malloc(key_len ? key_len : 1), .key_len = (uint16_t)key_len, .vr = vr};
	if (!e->key)
		return NULL;
	memcpy(e->key, key, key_len);
	s->idx[slot] = (uint32_t)++s->n;
	return e;
}

struct rv_entry *rv_entry_get(struct review_sum *s, const uint8_t *key, size_t key_len, uint16_t vr)
{
	uint64_t h = entry_hash(key, key_len, vr);
	size_t k;

	if (key_len > RV_KEY_MAX)
		return NULL;
	if ((s->n + 1) * 2 > s->idx_cap && idx_grow(s))
		return NULL;
	for (k = h & (s->idx_cap - 1); s->idx[k]; k = (k + 1) & (s->idx_cap - 1)) {
		struct rv_entry *e = &s->e[s->idx[k] - 1];

		if (e->vr == vr && e->key_len == key_len && !memcmp(e->key, key, key_len))
			return e;
	}
	return entry_new(s, key, key_len, vr, k);
}

void rv_entry_seen(const struct review_sum *s, struct rv_entry *e)
{
	if (e->last_file != s->file) {
		e->last_file = s->file;
		e->instances++;
	}
}

static int example_add(struct rv_entry *e, const char *example)
{
	if (!example || e->n_ex >= REVIEW_EXAMPLES)
		return 0;
	for (int k = 0; k < e->n_ex; k++)
		if (!strcmp(e->ex[k], example))
			return 0;
	if (!(e->ex[e->n_ex] = strdup(example)))
		return -ENOMEM;
	e->n_ex++;
	return 0;
}

int rv_entry_value(const struct review_sum *s, struct rv_entry *e, uint64_t hash,
		   const char *example)
{
	int rc = set_add(s, e, hash);

	return rc <= 0 ? rc : example_add(e, example);
}

/* ---- escaping and paths ----------------------------------------------------------- */

size_t review_escape(const uint8_t *p, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!cap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char t[5] = {'\\', 0, 0, 0, 0};
		size_t k = 2;

		switch (p[i]) {
		case '\\':
			t[1] = '\\';
			break;
		case '\t':
			t[1] = 't';
			break;
		case '\n':
			t[1] = 'n';
			break;
		case '\r':
			t[1] = 'r';
			break;
		default:
			if (p[i] >= 0x20 && p[i] < 0x7f) {
				t[0] = (char)p[i];
				k = 1;
			} else {
				t[1] = 'x';
				t[2] = hex[p[i] >> 4];
				t[3] = hex[p[i] & 15];
				k = 4;
			}
		}
		if (o + k >= cap)
			break;
		memcpy(out + o, t, k);
		o += k;
	}
	out[o] = '\0';
	return o;
}

int rv_key_check(const uint8_t *key, size_t len)
{
	size_t at = 0, comps = 0;

	while (at < len) {
		if (len - at < 5 || key[at + 4] > 64 || len - at - 5 < key[at + 4])
			return -EINVAL;
		at += 5 + key[at + 4];
		comps++;
	}
	return comps >= 1 && comps <= DCM_READ_MAX_DEPTH + 1 ? 0 : -EINVAL;
}

static uint32_t key_tag(const uint8_t *c)
{
	return (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
}

int rv_key_text(const uint8_t *key, size_t len, struct buf *out)
{
	int rc = 0;

	for (size_t at = 0; !rc && at + 5 <= len; at += 5 + key[at + 4]) {
		uint32_t tag = key_tag(key + at);
		char cr[4 * 64 + 1];

		if (at)
			rc = buf_append(out, ">", 1);
		if (rc)
			break;
		if (!key[at + 4]) {
			rc = buf_appendf(out, "(%04X,%04X)", DCM_GROUP(tag), DCM_ELEM(tag));
			continue;
		}
		review_escape(key + at + 5, key[at + 4], cr, sizeof(cr));
		rc = buf_appendf(out, "(%04X,\"", DCM_GROUP(tag));
		for (const char *c = cr; !rc && *c; c++) /* a quote or '>' in a creator: \xHH */
			rc = *c == '"'	 ? buf_append(out, "\\x22", 4)
			     : *c == '>' ? buf_append(out, "\\x3e", 4)
					 : buf_append(out, c, 1);
		rc = rc ? rc : buf_appendf(out, "\",%02X)", DCM_ELEM(tag) & 0xff);
	}
	return rc;
}

/* The keyword of the path's last component. */
static const char *key_keyword(const uint8_t *key, size_t len)
{
	struct dcm_dict_info info;
	size_t at = 0, last = 0;
	uint32_t tag;

	for (; at + 5 <= len; at += 5 + key[at + 4])
		last = at;
	tag = key_tag(key + last);
	if (key[last + 4])
		return ""; /* private: the creator names it */
	if (DCM_GROUP(tag) & 1)
		return DCM_ELEM(tag) >= 0x10 && DCM_ELEM(tag) <= 0xff ? "PrivateCreator" : "";
	return dcm_dict_lookup(tag, &info) == 0 && info.keyword ? info.keyword : "";
}

/* ---- saved bytes ------------------------------------------------------------------ */

/* Distinct values of a capped entry: the most a part counted or the hashes kept. */
static uint64_t capped_distinct(const struct rv_entry *e)
{
	return e->at_least > e->set.n ? e->at_least : e->set.n;
}

static int put_u64(struct buf *b, uint64_t v)
{
	int rc = buf_append_le32(b, (uint32_t)v);

	return rc ? rc : buf_append_le32(b, (uint32_t)(v >> 32));
}

static int save_entry(const struct rv_entry *e, struct buf *b)
{
	int rc = buf_append_le16(b, e->key_len);

	rc = rc ? rc : buf_append(b, e->key, e->key_len);
	rc = rc ? rc : buf_append_le16(b, e->vr);
	rc = rc ? rc : buf_append_u8(b, (uint8_t)(e->capped | e->no_values << 1));
	rc = rc ? rc : put_u64(b, e->instances);
	rc = rc ? rc : put_u64(b, e->capped ? capped_distinct(e) : 0);
	rc = rc ? rc : buf_append_u8(b, e->n_ex);
	for (int k = 0; !rc && k < e->n_ex; k++) {
		size_t n = strlen(e->ex[k]);

		rc = buf_append_le16(b, (uint16_t)n);
		rc = rc ? rc : buf_append(b, e->ex[k], n);
	}
	rc = rc ? rc : buf_append_le32(b, (uint32_t)e->set.n);
	for (size_t i = 0; !rc && i < e->set.cap; i++)
		if (e->set.v[i])
			rc = put_u64(b, e->set.v[i]);
	return rc;
}

int review_sum_save(const struct review_sum *s, struct buf *out)
{
	int rc = buf_append(out, RV_MAGIC, 4);

	rc = rc ? rc : buf_append_le32(out, (uint32_t)s->n);
	for (size_t i = 0; !rc && i < s->n; i++)
		rc = save_entry(&s->e[i], out);
	return rc;
}

struct cur {
	const uint8_t *p;
	size_t n, at;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *p = c->p + c->at;

	if (c->bad || c->n - c->at < n) {
		c->bad = true;
		return NULL;
	}
	c->at += n;
	return p;
}

static uint64_t take_le(struct cur *c, int bytes)
{
	const uint8_t *p = take(c, (size_t)bytes);
	uint64_t v = 0;

	for (int i = bytes - 1; p && i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* An example as kept: escaped, so printable ASCII only (a row stays one line). */
static bool shown_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return false;
	return true;
}

/* One saved entry into s (merged with what s has); with s NULL its bytes are only checked.
 * -EINVAL, -ENOMEM. */
static int merge_entry(struct review_sum *s, struct cur *c)
{
	size_t klen = (size_t)take_le(c, 2);
	const uint8_t *key = take(c, klen);
	uint16_t vr = (uint16_t)take_le(c, 2);
	unsigned flags = (unsigned)take_le(c, 1);
	uint64_t inst = take_le(c, 8), at_least = take_le(c, 8);
	unsigned n_ex = (unsigned)take_le(c, 1);
	uint64_t nh;
	struct rv_entry *e = NULL;
	int rc = 0;

	/* a key no summary can hold (longer than RV_KEY_MAX) is a damaged row, like any
	 * other bad field: the study is left out, the project's merge goes on */
	if (c->bad || !key || klen > RV_KEY_MAX || rv_key_check(key, klen) ||
	    !dcm_vr_is_known(vr) || flags > 3 || n_ex > REVIEW_EXAMPLES)
		return -EINVAL;
	if (s && !(e = rv_entry_get(s, key, klen, vr)))
		return -ENOMEM;
	if (e) {
		e->instances += inst;
		e->no_values |= (flags & 2) != 0;
	}
	if (e && (flags & 1)) {
		e->capped = true;
		e->at_least = at_least > e->at_least ? at_least : e->at_least;
	}
	for (unsigned k = 0; !rc && k < n_ex; k++) {
		size_t len = (size_t)take_le(c, 2);
		const uint8_t *ex = take(c, len);
		char t[RV_EX_MAX + 1];

		if (!ex || len > RV_EX_MAX || !shown_text(ex, len))
			return -EINVAL;
		memcpy(t, ex, len);
		t[len] = '\0';
		rc = e ? example_add(e, t) : 0;
	}
	nh = take_le(c, 4);
	if (c->bad || nh > RV_SAVED_MAX || nh * 8 > c->n - c->at)
		return -EINVAL;
	if (!e)
		return take(c, (size_t)nh * 8) ? 0 : -EINVAL; /* only checked: rc is 0 */
	for (uint64_t i = 0; !rc && i < nh; i++)
		rc = set_add(s, e, take_le(c, 8)) < 0 ? -ENOMEM : 0;
	return rc;
}

/* Checks every byte first, so a damaged row leaves s as it was. */
static int check_saved(const uint8_t *b, size_t n)
{
	struct cur c = {b, n, 0, false};
	const uint8_t *magic = take(&c, 4);
	uint64_t count = take_le(&c, 4);
	int rc = 0;

	if (!magic || memcmp(magic, RV_MAGIC, 4) || count > n)
		rc = -EINVAL;
	for (uint64_t i = 0; !rc && i < count; i++)
		rc = merge_entry(NULL, &c);
	if (!rc && (c.bad || c.at != n))
		rc = -EINVAL;
	return rc;
}

int review_sum_merge(struct review_sum *s, const uint8_t *b, size_t n)
{
	struct cur c = {b, n, 4, false};
	uint64_t count;
	int rc = check_saved(b, n);

	if (rc)
		return rc;
	count = take_le(&c, 4);
	for (uint64_t i = 0; !rc && i < count; i++)
		rc = merge_entry(s, &c);
	return rc;
}

/* ---- the TSV ---------------------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
	const struct rv_entry *x = *(const struct rv_entry *const *)a;
	const struct rv_entry *y = *(const struct rv_entry *const *)b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->vr < y->vr ? -1 : x->vr > y->vr;
}

static int entry_row(const struct rv_entry *e, struct buf *b)
{
	char vr[3];
	int rc = rv_key_text(e->key, e->key_len, b);

	rc = rc ? rc
		: buf_appendf(b, "\t%s\t%s\t%llu\t", key_keyword(e->key, e->key_len),
			      dcm_vr_str(e->vr, vr), (unsigned long long)e->instances);
	if (!rc && e->no_values)
		rc = buf_append(b, "-", 1);
	else if (!rc && e->capped)
		rc = buf_appendf(b, ">=%llu", (unsigned long long)capped_distinct(e));
	else if (!rc)
		rc = buf_appendf(b, "%zu", e->set.n);
	for (int k = 0; !rc && k < REVIEW_EXAMPLES; k++)
		rc = buf_appendf(b, "\t%s", k < e->n_ex ? e->ex[k] : "");
	return rc ? rc : buf_append(b, "\n", 1);
}

int review_sum_text(const struct review_sum *s, struct buf *out)
{
	const struct rv_entry **v = calloc(s->n ? s->n : 1, sizeof(*v));
	int rc = v ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < s->n; i++)
		v[i] = &s->e[i];
	if (!rc)
		qsort(v, s->n, sizeof(*v), entry_cmp);
	rc = rc ? rc
		: buf_appendf(out, "path\tkeyword\tvr\tinstances\tdistinct\texample1\texample2"
				   "\texample3\n");
	for (size_t i = 0; !rc && i < s->n; i++)
		rc = entry_row(v[i], out);
	free(v);
	return rc;
}
