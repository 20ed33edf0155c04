/*
 * form.c: application/x-www-form-urlencoded bodies as PHP's $_POST reads them.
 * Arrays use PHP syntax: records[0]=A&records[1]=B or records[]=A. A later plain
 * key wins over an earlier one, as in PHP. Misspelt keys are kept and simply never
 * asked for, which is how REDCap ignores them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/redcap/emu.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX and + into a new NUL-terminated string. */
static char *url_decode(const char *p, size_t n)
{
	char *out = malloc(n + 1);
	size_t i, o = 0;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (p[i] == '+') {
			out[o++] = ' ';
		} else if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 &&
			   hexval(p[i + 2]) >= 0) {
			out[o++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			i += 2;
		} else {
			out[o++] = p[i];
		}
	}
	out[o] = '\0';
	return out;
}

static int form_add(struct form *f, const char *p, size_t n)
{
	const char *eq = memchr(p, '=', n);
	size_t kn = eq ? (size_t)(eq - p) : n;
	struct kv *v;
	char *k, *val;

	if (n == 0)
		return 0;
	k = url_decode(p, kn);
	val = eq ? url_decode(eq + 1, n - kn - 1) : emu_strdup("");
	v = realloc(f->v, (f->n + 1) * sizeof(*v));
	if (!k || !val || !v) {
		free(k);
		free(val);
		if (v)
			f->v = v;
		return -ENOMEM;
	}
	f->v = v;
	f->v[f->n].k = k;
	f->v[f->n].v = val;
	f->n++;
	return 0;
}

int form_parse(struct form *f, const char *p, size_t n)
{
	size_t i = 0;

	f->v = NULL;
	f->n = 0;
	while (i < n) {
		const char *amp = memchr(p + i, '&', n - i);
		size_t len = amp ? (size_t)(amp - (p + i)) : n - i;
		int rc = form_add(f, p + i, len);

		if (rc) {
			form_release(f);
			return rc;
		}
		i += len + 1;
	}
	return 0;
}

void form_release(struct form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].k);
		free(f->v[i].v);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

const char *form_get(const struct form *f, const char *key)
{
	const char *v = NULL;
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].k, key) == 0)
			v = f->v[i].v;
	return v;
}

/* Is k "name[...]"? */
static int is_elem(const char *k, const char *name)
{
	size_t n = strlen(name), kl = strlen(k);

	return kl >= n + 2 && strncmp(k, name, n) == 0 && k[n] == '[' && k[kl - 1] == ']';
}

int form_has_array(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (is_elem(f->v[i].k, name))
			return 1;
	return 0;
}

static int push(const char ***arr, size_t *n, const char *s)
{
	const char **a = realloc(*arr, (*n + 1) * sizeof(*a));

	if (!a)
		return -ENOMEM;
	a[(*n)++] = s;
	*arr = a;
	return 0;
}

/* A comma string is split into pieces that REDCap trims. The pieces are kept alive
 * as extra entries of the form under the empty key, which nothing asks for. */
static int split_commas(const struct form *f, const char *s, const char ***arr, size_t *n)
{
	struct form *mf = (struct form *)f; /* the pieces live as long as the form */
	const char *p = s;

	while (*p) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		const char *b = p, *e = p + len;
		char *piece;
		struct kv *v;

		while (b < e && *b == ' ')
			b++;
		while (e > b && e[-1] == ' ')
			e--;
		if (e > b) {
			piece = strndup(b, (size_t)(e - b));
			v = realloc(mf->v, (mf->n + 1) * sizeof(*v));
			if (!piece || !v) {
				free(piece);
				if (v)
					mf->v = v;
				return -ENOMEM;
			}
			mf->v = v;
			mf->v[mf->n].k = emu_strdup("");
			mf->v[mf->n].v = piece;
			if (!mf->v[mf->n].k) {
				free(piece);
				return -ENOMEM;
			}
			mf->n++;
			if (push(arr, n, piece))
				return -ENOMEM;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

const char **form_array(const struct form *f, const char *name, int comma_ok, size_t *n)
{
	const char **arr = NULL;
	const char *plain;
	size_t i, nf = f->n;

	*n = 0;
	for (i = 0; i < nf; i++) {
		if (is_elem(f->v[i].k, name) && push(&arr, n, f->v[i].v)) {
			free(arr);
			*n = 0;
			return NULL;
		}
	}
	if (*n == 0 && comma_ok && (plain = form_get(f, name)) != NULL) {
		if (split_commas(f, plain, &arr, n)) {
			free(arr);
			*n = 0;
			return NULL;
		}
	}
	return arr;
}
