/*
 * s3_xml: the two S3 reply bodies fiona reads, scanned rather than parsed. Both come from
 * the network, so every position is checked against the end and every copy against its
 * cap. The scan relies on one property of well-formed XML: character data holds no '<',
 * so the text of <Key>...</Key> ends at the first '<', which must open "</Key>". Keys and
 * tokens are entity-decoded (S3 escapes &, <, >, quotes and control characters); a key
 * that decodes to a control character is refused rather than handed to a caller that
 * would build paths or log lines from it.
 */
#include "core/core.h"

#include <errno.h>
#include <string.h>

#include "store/s3_int.h"

struct span {
	size_t b, e; /* text of one element: [b, e) */
};

/* The first <name>TEXT</name> in p[from, to): 1 found (text span in *s, *next after the
 * closing tag), 0 none, -EPROTO when the opening tag is not followed by text and its close. */
static int elem_find(const char *p, size_t from, size_t to, const char *name, struct span *s,
		     size_t *next)
{
	char open[40], close[40];
	size_t lo = (size_t)snprintf(open, sizeof(open), "<%s>", name);
	size_t lc = (size_t)snprintf(close, sizeof(close), "</%s>", name);
	const char *a, *lt;

	if (from >= to)
		return 0;
	a = memmem(p + from, to - from, open, lo);
	if (!a)
		return 0;
	s->b = (size_t)(a - p) + lo;
	lt = memchr(p + s->b, '<', to - s->b);
	if (!lt || (size_t)(to - (size_t)(lt - p)) < lc || memcmp(lt, close, lc))
		return -EPROTO;
	s->e = (size_t)(lt - p);
	*next = s->e + lc;
	return 1;
}

static int put_utf8(char *out, size_t cap, size_t *o, uint32_t cp)
{
	uint8_t u[4];
	size_t k;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp, k = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F)), k = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp & 0x3F)), k = 3;
	} else {
		u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F));
		k = 4;
	}
	if (cap - *o <= k)
		return -E2BIG;
	memcpy(out + *o, u, k);
	*o += k;
	return 0;
}

/* "&#123;" or "&#x7B;" at p[i..e): the code point, or -EPROTO. *len is the entity's length. */
static int char_ref(const char *p, size_t i, size_t e, uint32_t *cp, size_t *len)
{
	bool hex = i + 2 < e && (p[i + 2] == 'x' || p[i + 2] == 'X');
	size_t j = i + (hex ? 3 : 2), start = j;
	uint32_t v = 0;

	for (; j < e && p[j] != ';'; j++) {
		int d = p[j] >= '0' && p[j] <= '9'	    ? p[j] - '0'
			: hex && p[j] >= 'a' && p[j] <= 'f' ? p[j] - 'a' + 10
			: hex && p[j] >= 'A' && p[j] <= 'F' ? p[j] - 'A' + 10
							    : -1;
		if (d < 0 || j - start >= 8)
			return -EPROTO;
		v = v * (hex ? 16u : 10u) + (uint32_t)d;
	}
	if (j >= e || j == start || v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return -EPROTO;
	*cp = v;
	*len = j + 1 - i;
	return 0;
}

static const struct {
	const char *name;
	char c;
} entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};

/* The entity at p[i] ('&'), before e: its code point and length, or -EPROTO. */
static int entity(const char *p, size_t i, size_t e, uint32_t *cp, size_t *len)
{
	for (size_t k = 0; k < CORE_ARRAY_SIZE(entities); k++) {
		size_t n = strlen(entities[k].name);

		if (e - i >= n && !memcmp(p + i, entities[k].name, n)) {
			*cp = (uint8_t)entities[k].c;
			*len = n;
			return 0;
		}
	}
	return e - i >= 3 && p[i + 1] == '#' ? char_ref(p, i, e, cp, len) : -EPROTO;
}

/* Decodes p[s) into out (NUL-terminated). Control characters are refused (-EPROTO), as
 * is anything longer than cap - 1 bytes (-E2BIG); *bad is where. Raw bytes >= 0x80 are
 * copied as they are: S3 keys are UTF-8. */
static int text_decode(const char *p, struct span s, char *out, size_t cap, size_t *bad)
{
	size_t o = 0;

	for (size_t i = s.b; i < s.e;) {
		uint32_t cp = (uint8_t)p[i];
		size_t len = 1;
		int rc = p[i] == '&' ? entity(p, i, s.e, &cp, &len) : 0;

		if (!rc && (cp < 0x20 || cp == 0x7F))
			rc = -EPROTO;
		if (!rc && p[i] == '&')
			rc = put_utf8(out, cap, &o, cp);
		else if (!rc && cap - o > 1)
			out[o++] = p[i];
		else if (!rc)
			rc = -E2BIG;
		if (rc) {
			*bad = i;
			return rc;
		}
		i += len;
	}
	out[o] = '\0';
	return 0;
}

static int bad_at(struct fiona_err *err, size_t off, const char *what)
{
	return err_set(err, -EPROTO, off, CORE_NO_TAG, "S3 list reply: %s", what);
}

static int parse_size(const char *p, struct span s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.b == s.e || s.e - s.b > 19)
		return -EPROTO;
	for (size_t i = s.b; i < s.e; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EPROTO;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

/* One <Contents>...</Contents> in p[b, e): its Key and Size to cb. */
static int one_contents(const char *p, size_t b, size_t e, s3_list_cb cb, void *arg,
			struct fiona_err *err)
{
	char key[S3_KEY_MAX + 1];
	struct span ks, ss;
	uint64_t size;
	size_t next, bad = b;
	int rc;

	if (elem_find(p, b, e, "Key", &ks, &next) != 1)
		return bad_at(err, b, "a Contents without a readable Key");
	if (elem_find(p, b, e, "Size", &ss, &next) != 1 || parse_size(p, ss, &size))
		return bad_at(err, b, "a Contents without a decimal Size");
	if (ks.b == ks.e)
		return bad_at(err, ks.b, "an empty Key");
	if ((rc = text_decode(p, ks, key, sizeof(key), &bad)))
		return bad_at(err, bad,
			      rc == -E2BIG ? "a Key longer than 1024 bytes"
					   : "a Key with a bad entity or a control character");
	return cb(arg, key, size);
}

/* The next <Contents>...</Contents> in p[from, n): 1 (children in [*b, *e), *next after
 * it), 0 none, -EPROTO for an open without its close or a Contents inside a Contents. */
static int contents_find(const char *p, size_t from, size_t n, size_t *b, size_t *e, size_t *next)
{
	const char *a, *z;

	if (from >= n || !(a = memmem(p + from, n - from, "<Contents>", 10)))
		return 0;
	*b = (size_t)(a - p) + 10;
	z = memmem(p + *b, n - *b, "</Contents>", 11);
	if (!z || memmem(p + *b, (size_t)(z - p) - *b, "<Contents>", 10))
		return -EPROTO;
	*e = (size_t)(z - p);
	*next = *e + 11;
	return 1;
}

int s3_xml_list(const char *p, size_t n, s3_list_cb cb, void *arg, struct s3_list_page *page,
		struct fiona_err *err)
{
	struct span s;
	size_t pos = 0, next, bad = 0, b, e;
	int rc;

	memset(page, 0, sizeof(*page));
	if (!memmem(p, n, "<ListBucketResult", 17))
		return bad_at(err, 0, "not a ListBucketResult");
	while ((rc = contents_find(p, pos, n, &b, &e, &next)) == 1) {
		if ((rc = one_contents(p, b, e, cb, arg, err)))
			return rc;
		page->n_keys++;
		pos = next;
	}
	if (rc < 0)
		return bad_at(err, pos, "a Contents without its close");
	if (elem_find(p, 0, n, "IsTruncated", &s, &next) != 1)
		return bad_at(err, 0, "no IsTruncated");
	if (s.e - s.b == 4 && !memcmp(p + s.b, "true", 4))
		page->truncated = true;
	else if (!(s.e - s.b == 5 && !memcmp(p + s.b, "false", 5)))
		return bad_at(err, s.b, "IsTruncated is neither true nor false");
	if (!page->truncated)
		return 0;
	if (elem_find(p, 0, n, "NextContinuationToken", &s, &next) != 1 || s.b == s.e)
		return bad_at(err, 0, "a truncated page without NextContinuationToken");
	if (text_decode(p, s, page->next_token, sizeof(page->next_token), &bad))
		return bad_at(err, bad, "a NextContinuationToken too long or badly encoded");
	return 0;
}

int s3_xml_error_code(const char *p, size_t n, char *out, size_t cap)
{
	char code[128];
	struct span s;
	size_t next, bad;

	if (elem_find(p, 0, n, "Code", &s, &next) != 1 || s.b == s.e ||
	    text_decode(p, s, code, sizeof(code), &bad))
		return -ENOENT;
	for (size_t i = 0; code[i]; i++)
		if ((uint8_t)code[i] >= 0x7F)
			return -ENOENT;
	snprintf(out, cap, "%s", code);
	return 0;
}
