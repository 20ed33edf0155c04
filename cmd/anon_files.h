/* The input files of fiona anonymize, and small helpers for its output (cmd/anon_files.c). */
#ifndef FIONA_CMD_ANON_FILES_H
#define FIONA_CMD_ANON_FILES_H

#include <stddef.h>

#include "core/core.h"

struct anon_file {
	char *path; /* as found, for messages and reading */
	char *rel;  /* output path relative to OUTDIR */
};

struct anon_files {
	struct anon_file *v;
	size_t n, cap;
};

/* Regular files of each input (files, or folders walked recursively), sorted by path.
 * 0, or a negative errno after printing which input failed. */
int anon_files_collect(struct anon_files *fs, char **inputs, int n);
void anon_files_release(struct anon_files *fs);
/* Creates the folders above path (mode 0755). */
int anon_files_mkdir_for(const char *path);
/* Sorts the lines of b after its first skip bytes and drops repeated lines. */
int anon_files_sort_unique_lines(struct buf *b, size_t skip);
/* path as an absolute name: the part that exists resolved by realpath(3), the part that
 * does not (what mkdir -p would create) appended with "." and ".." applied by name.
 * 0, -ENAMETOOLONG, or the errno of a component that cannot be looked up. */
int anon_files_path_canon(const char *path, char *out, size_t cap);
/* The folder for the coupling maps, as an absolute name: maps, or by default OUTDIR.maps
 * beside outdir. -EINVAL, after printing why, if it is outdir or inside it; creates
 * nothing. */
int anon_files_maps_dir(const char *outdir, const char *maps, char *out, size_t cap);

#endif
