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

#endif
