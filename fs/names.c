/*
 * Names of the mount's entries, built from DICOM header values.
 *
 * Header values come from senders and are untrusted: a name must never contain '/',
 * never be "." or ".." or hidden, never carry control characters that confuse a
 * terminal, and stay short enough that a uniqueness suffix fits in NAME_MAX. Bytes
 * >= 0x80 become '_' as well: the character set of a DICOM string depends on
 * SpecificCharacterSet, so passing them through would produce invalid UTF-8 names.
 * Uniqueness is by insertion order, so names are stable when the catalog order is.
 */
#include "core/core.h"

#include <errno.h>
#include <strings.h>

#include "fs/fs.h"

static bool name_byte_ok(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '/';
}

size_t fs_name_sanitize(const char *in, size_t in_len, char *out, size_t cap)
{
	size_t n = 0, i = 0, max = cap ? cap - 1 : 0;

	if (max > FS_NAME_MAX)
		max = FS_NAME_MAX;
	while (i < in_len && in[i] && (in[i] == '.' || in[i] == ' '))
		i++;
	for (; i < in_len && in[i] && n < max; i++)
		out[n++] = name_byte_ok((unsigned char)in[i]) ? in[i] : '_';
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.'))
		n--;
	if (n == 0 && max >= 7) {
		memcpy(out, "unknown", 7);
		n = 7;
	}
	if (cap)
		out[n] = '\0';
	return n;
}

size_t fs_name_series(long series_number, const char *modality, const char *description, char *out,
		      size_t cap)
{
	char mod[FS_NAME_MAX + 1], desc[FS_NAME_MAX + 1];
	bool has_desc = description && *description;
	int n;

	fs_name_sanitize(modality ? modality : "", modality ? strlen(modality) : 0, mod,
			 sizeof(mod));
	if (has_desc)
		fs_name_sanitize(description, strlen(description), desc, sizeof(desc));
	n = has_desc ? snprintf(out, cap, "%ld_%s_%s", series_number < 0 ? 0 : series_number, mod,
				desc)
		     : snprintf(out, cap, "%ld_%s", series_number < 0 ? 0 : series_number, mod);
	if (n < 0)
		return 0;
	if ((size_t)n >= cap || (size_t)n > FS_NAME_MAX) { /* cut, then re-trim the end */
		size_t len = cap - 1 < FS_NAME_MAX ? cap - 1 : FS_NAME_MAX;
		out[len] = '\0';
		while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '.'))
			out[--len] = '\0';
		return len;
	}
	return (size_t)n;
}

/* Whether s holds something other than spaces. */
static bool has_text(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ')
			return true;
	return false;
}

/* The labels of a series without the one that only repeats its modality, '_'-joined. */
static void labels_text(const char *labels, const char *modality, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (const char *p = labels; p && *p;) {
		size_t len = strcspn(p, ",");

		if (len &&
		    !(modality && strlen(modality) == len && !strncasecmp(p, modality, len)) &&
		    n + len + 2 < cap) {
			if (n)
				out[n++] = '_';
			memcpy(out + n, p, len);
			out[n += len] = '\0';
		}
		p += len + (p[len] == ',');
	}
}

size_t fs_name_series_readable(long series_number, const char *modality, const char *description,
			       const char *labels, char *out, size_t cap)
{
	char text[FS_NAME_MAX + 1], lab[FS_NAME_MAX + 1];
	const char *src = description;
	size_t len;
	int n;

	if (!has_text(src)) {
		labels_text(labels, modality, lab, sizeof(lab));
		src = has_text(lab) ? lab : modality ? modality : "";
	}
	len = fs_name_sanitize(src, strlen(src), text, sizeof(text));
	for (size_t i = 0; i < len; i++)
		if (text[i] == ' ')
			text[i] = '_';
	n = snprintf(out, cap, "%ld_%s", series_number < 0 ? 0 : series_number, text);
	if (n < 0)
		return 0;
	len = (size_t)n;
	if (len >= cap || len > FS_NAME_MAX) { /* cut, then re-trim the end */
		len = cap - 1 < FS_NAME_MAX ? cap - 1 : FS_NAME_MAX;
		out[len] = '\0';
		while (len > 0 && (out[len - 1] == '_' || out[len - 1] == '.'))
			out[--len] = '\0';
	}
	return len;
}

size_t fs_name_instance(long instance_number, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%04ld.dcm", instance_number < 0 ? 0 : instance_number);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* ---- uniqueness within a folder: open-addressing set of owned strings ---------------- */

struct fs_nameset {
	char **slots;
	size_t cap, n;
};

int fs_nameset_new(struct fs_nameset **out)
{
	struct fs_nameset *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cap = 64;
	s->slots = calloc(s->cap, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void fs_nameset_free(struct fs_nameset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	free(s);
}

static size_t name_hash(const char *p)
{
	size_t h = 1469598103934665603u;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	return h;
}

/* Slot holding name, or the empty slot where it would go. */
static char **nameset_slot(struct fs_nameset *s, const char *name)
{
	size_t i = name_hash(name) & (s->cap - 1);

	while (s->slots[i] && strcmp(s->slots[i], name))
		i = (i + 1) & (s->cap - 1);
	return &s->slots[i];
}

static int nameset_grow(struct fs_nameset *s)
{
	struct fs_nameset big = {calloc(s->cap * 2, sizeof(char *)), s->cap * 2, s->n};

	if (!big.slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			*nameset_slot(&big, s->slots[i]) = s->slots[i];
	free(s->slots);
	*s = big;
	return 0;
}

/* Candidate k (k >= 2) for base: "base~k", or "stem~k.dcm" for .dcm names. */
static int name_candidate(const char *base, unsigned k, char *out, size_t cap)
{
	size_t len = strlen(base);
	bool dcm = len > 4 && !strcmp(base + len - 4, ".dcm");
	int n = dcm ? snprintf(out, cap, "%.*s~%u.dcm", (int)(len - 4), base, k)
		    : snprintf(out, cap, "%s~%u", base, k);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int fs_nameset_add(struct fs_nameset *s, char *name, size_t cap)
{
	char base[FS_NAME_MAX + 1], cand[FS_NAME_MAX + 16];
	char **slot;
	int rc;

	if (strlen(name) > FS_NAME_MAX || cap < FS_NAME_MAX + 13)
		return -ENAMETOOLONG;
	if (s->n * 2 >= s->cap && (rc = nameset_grow(s)))
		return rc;
	memcpy(base, name, strlen(name) + 1);
	memcpy(cand, name, strlen(name) + 1);
	for (unsigned k = 2; *(slot = nameset_slot(s, cand)); k++) {
		rc = name_candidate(base, k, cand, sizeof(cand));
		if (rc)
			return rc;
	}
	*slot = strdup(cand);
	if (!*slot)
		return -ENOMEM;
	s->n++;
	memcpy(name, cand, strlen(cand) + 1);
	return 0;
}
