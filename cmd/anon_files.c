/*
 * anon_files: the list of files fiona anonymize works on, and the helpers its output
 * needs. Inputs are walked with fts(3) (no callback state), symlinks are not followed
 * below the arguments, and the list is sorted so every run assigns the same work.
 */
#include "core/core.h"

#include <errno.h>
#include <fts.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cmd/anon_files.h"

static int files_add(struct anon_files *fs, const char *path, const char *rel)
{
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 256;
		struct anon_file *v = realloc(fs->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		fs->v = v;
		fs->cap = cap;
	}
	fs->v[fs->n].path = strdup(path);
	fs->v[fs->n].rel = strdup(rel);
	if (!fs->v[fs->n].path || !fs->v[fs->n].rel) {
		free(fs->v[fs->n].path);
		free(fs->v[fs->n].rel);
		return -ENOMEM;
	}
	fs->n++;
	return 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* One argument: a file (named by its base name) or a folder (its name, then the paths
 * below it; trailing slashes ignored). */
static int collect_one(struct anon_files *fs, char *input)
{
	char *argv[] = {input, NULL};
	FTS *t = fts_open(argv, FTS_PHYSICAL | FTS_COMFOLLOW | FTS_NOCHDIR, NULL);
	char top[4096];
	FTSENT *e;
	int rc = 0;

	char trimmed[4096];
	size_t tl;

	snprintf(trimmed, sizeof(trimmed), "%s", input);
	for (tl = strlen(trimmed); tl > 1 && trimmed[tl - 1] == '/';)
		trimmed[--tl] = '\0';
	snprintf(top, sizeof(top), "%s", base_name(trimmed));
	if (!t)
		return -errno;
	while (!rc && (e = fts_read(t))) {
		if (e->fts_info == FTS_DNR || e->fts_info == FTS_ERR || e->fts_info == FTS_NS) {
			fprintf(stderr, "%s: %s\n", e->fts_path, strerror(e->fts_errno));
			rc = -e->fts_errno;
		} else if (e->fts_info == FTS_F) {
			/* like cp -r INPUT... OUTDIR: a folder keeps its own name */
			const char *below = e->fts_path + strlen(input);
			char rel[4200];

			while (*below == '/')
				below++;
			if (e->fts_level == 0)
				snprintf(rel, sizeof(rel), "%s", base_name(e->fts_path));
			else
				snprintf(rel, sizeof(rel), "%s/%s", top, below);
			rc = files_add(fs, e->fts_path, rel);
		}
	}
	fts_close(t);
	return rc;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct anon_file *)a)->path, ((const struct anon_file *)b)->path);
}

int anon_files_collect(struct anon_files *fs, char **inputs, int n)
{
	for (int i = 0; i < n; i++) {
		int rc = collect_one(fs, inputs[i]);

		if (rc) {
			fprintf(stderr, "fiona anonymize: %s: %s\n", inputs[i], strerror(-rc));
			return rc;
		}
	}
	if (fs->n)
		qsort(fs->v, fs->n, sizeof(*fs->v), by_path);
	return 0;
}

void anon_files_release(struct anon_files *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->v[i].path);
		free(fs->v[i].rel);
	}
	free(fs->v);
	memset(fs, 0, sizeof(*fs));
}

int anon_files_mkdir_for(const char *path)
{
	char dir[4200];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	return core_mkdir_p(dir, 0755);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int anon_files_sort_unique_lines(struct buf *b, size_t skip)
{
	size_t n = 0, k = 0;
	char **lines, *copy;

	if (b->len <= skip)
		return 0;
	copy = malloc(b->len - skip + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, b->data + skip, b->len - skip);
	copy[b->len - skip] = '\0';
	for (char *c = copy; *c; c++)
		n += *c == '\n';
	lines = calloc(n + 1, sizeof(*lines));
	if (!lines) {
		free(copy);
		return -ENOMEM;
	}
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		lines[k++] = l;
	qsort(lines, k, sizeof(*lines), by_string);
	b->len = skip;
	for (size_t i = 0; i < k; i++)
		if (i == 0 || strcmp(lines[i], lines[i - 1]))
			if (buf_appendf(b, "%s\n", lines[i]))
				break;
	free(lines);
	free(copy);
	return 0;
}

/* Appends "/" and the cl bytes at c to the len bytes of name (cap PATH_MAX). */
static int path_append(char *name, size_t *len, const char *c, size_t cl)
{
	if (*len == 1) /* "/": no second slash */
		*len = 0;
	if (*len + 1 + cl >= PATH_MAX)
		return -ENAMETOOLONG;
	name[(*len)++] = '/';
	memcpy(name + *len, c, cl);
	*len += cl;
	name[*len] = '\0';
	return 0;
}

/* One component onto name. While name exists (len == *real) the kernel resolves it, so a
 * symlink or ".." means what it will mean to mkdir; past that, by name. */
static int canon_step(char *name, size_t *len, size_t *real, const char *c, size_t cl)
{
	char next[PATH_MAX], res[PATH_MAX];
	size_t nl = *len;
	int rc;

	if (*len == *real) {
		memcpy(next, name, *len + 1);
		if ((rc = path_append(next, &nl, c, cl)))
			return rc;
		if (realpath(next, res)) {
			*len = *real = strlen(res);
			memcpy(name, res, *len + 1);
			return 0;
		}
		if (errno != ENOENT)
			return -errno;
	}
	if (cl == 2 && c[0] == '.' && c[1] == '.') {
		while (*len > *real && name[*len - 1] != '/')
			(*len)--;
		if (*len > *real)
			(*len)--;
		name[*len] = '\0';
		return 0;
	}
	return path_append(name, len, c, cl);
}

int anon_files_path_canon(const char *path, char *out, size_t cap)
{
	char name[PATH_MAX];
	size_t len, real, cl;
	int rc = 0;

	if (!*path)
		return -ENOENT;
	if (!realpath(*path == '/' ? "/" : ".", name))
		return -errno;
	len = real = strlen(name);
	for (const char *c = path; *c && !rc; c += cl) {
		while (*c == '/')
			c++;
		cl = strcspn(c, "/");
		if (cl && !(cl == 1 && *c == '.'))
			rc = canon_step(name, &len, &real, c, cl);
	}
	if (!rc && len + 1 > cap)
		rc = -ENAMETOOLONG;
	if (!rc)
		memcpy(out, name, len + 1);
	return rc;
}

static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1) /* "/" */
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

int anon_files_maps_dir(const char *outdir, const char *maps, char *out, size_t cap)
{
	char o[PATH_MAX], m[PATH_MAX];
	const char *bad = maps ? maps : outdir;
	int rc = anon_files_path_canon(outdir, o, sizeof(o));

	if (!rc && maps)
		rc = anon_files_path_canon(maps, m, sizeof(m));
	else if (!rc && snprintf(m, sizeof(m), "%s.maps", o) >= (int)sizeof(m))
		rc = -ENAMETOOLONG;
	if (rc) {
		fprintf(stderr, "fiona anonymize: %s: %s\n", bad, strerror(-rc));
		return rc;
	}
	/* scp -r OUTDIR must not ship the coupling list with the data */
	if (path_within(m, o)) {
		fprintf(stderr,
			"fiona anonymize: the maps folder %s is inside the output %s; the "
			"maps link pseudonyms to patients and must be kept apart from the "
			"data: choose --maps outside it\n",
			m, o);
		return -EINVAL;
	}
	if (strlen(m) + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(out, m, strlen(m) + 1);
	return 0;
}
