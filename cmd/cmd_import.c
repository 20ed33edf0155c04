/*
 * fiona import [-c CONFIG] PATH... and fiona status [-c CONFIG] [--json]. import copies
 * files (folders recursively) into the store the same way the receiver does; every file
 * that fails is named with its reason and the rest go on; exit 1 if any failed. status
 * prints the catalog counts and the disk use of data_dir (no identifying values).
 */
#include "core/core.h"

#include <errno.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "store/store.h"

struct import_run {
	struct store *s;
	long ok, dup, failed;
	bool tty;
};

static void import_one(struct import_run *r, const char *path)
{
	struct store_ingest_result res;
	struct fiona_err err = { 0 };
	char msg[600];
	if (store_ingest(r->s, path, NULL, false, &res, &err)) {
		r->failed++;
		fprintf(stderr, "%s%s\n", r->tty ? "\r" : "",
			err_format(&err, path, msg, sizeof(msg)));
		return;
	}
	r->ok++;
	r->dup += res.duplicate;
	if (r->tty && (r->ok + r->failed) % 50 == 0)
		fprintf(stderr, "\r%ld imported, %ld failed", r->ok, r->failed);
}

/* A file, or a folder walked in name order (depth-bounded, symlinks not followed). */
static void import_walk(struct import_run *r, const char *path, int depth)
{
	struct stat sb;
	struct dirent **names = NULL;
	char sub[4096];
	if (lstat(path, &sb) != 0 || depth > 32) {
		fprintf(stderr, "%s: %s\n", path, depth > 32 ? "too deep" : strerror(errno));
		r->failed++;
		return;
	}
	if (S_ISREG(sb.st_mode)) {
		import_one(r, path);
		return;
	}
	if (!S_ISDIR(sb.st_mode))
		return;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		r->failed++;
		return;
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..") &&
		    snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name) < (int)sizeof(sub))
			import_walk(r, sub, depth + 1);
		free(names[i]);
	}
	free(names);
}

int cmd_import(int argc, char **argv)
{
	struct fiona_config *c = NULL;
	struct fiona_err err = { 0 };
	struct import_run r = { .tty = isatty(2) };
	int first = argc >= 3 && strcmp(argv[1], "-c") == 0 ? 3 : 1;
	if (first >= argc) {
		fprintf(stderr, "usage: fiona import [-c CONFIG] PATH...\n");
		return 2;
	}
	if (cmd_config_load(argc, argv, &c))
		return 1;
	if (store_open(c, NULL, &r.s, &err)) {
		fprintf(stderr, "fiona import: %s\n", err.reason);
		config_free(c);
		return 1;
	}
	for (int i = first; i < argc; i++)
		import_walk(&r, argv[i], 0);
	fprintf(stderr, "%s%ld imported (%ld already stored), %ld failed\n", r.tty ? "\r" : "",
		r.ok, r.dup, r.failed);
	store_close(r.s);
	config_free(c);
	return r.failed ? 1 : 0;
}

int cmd_status(int argc, char **argv)
{
	struct fiona_config *c = NULL;
	struct fiona_err err = { 0 };
	struct store *s = NULL;
	struct store_stats st;
	struct statvfs vfs;
	bool json = argc > 1 && strcmp(argv[argc - 1], "--json") == 0;
	if (cmd_config_load(json ? argc - 1 : argc, argv, &c))
		return 1;
	if (store_open(c, NULL, &s, &err) || store_stats(s, &st)) {
		fprintf(stderr, "fiona status: %s\n", err.reason[0] ? err.reason : "catalog error");
		store_close(s);
		config_free(c);
		return 1;
	}
	double used = statvfs(c->data_dir, &vfs) == 0 && vfs.f_blocks
			      ? 1.0 - (double)vfs.f_bavail / (double)vfs.f_blocks
			      : 0.0;
	if (json)
		printf("{\"studies_quarantine\": %ld, \"studies_assigned\": %ld, \"instances\": %ld,"
		       " \"objects\": %ld, \"object_bytes\": %llu, \"conflicts\": %ld,"
		       " \"disk_used\": %.3f}\n",
		       st.studies_quarantine, st.studies_assigned, st.instances, st.objects,
		       (unsigned long long)st.object_bytes, st.conflicts, used);
	else
		printf("studies in quarantine  %ld\nstudies assigned       %ld\ninstances"
		       "              %ld\nobjects                %ld (%llu bytes)\nconflicts"
		       "              %ld\ndisk used              %.1f%%\n",
		       st.studies_quarantine, st.studies_assigned, st.instances, st.objects,
		       (unsigned long long)st.object_bytes, st.conflicts, used * 100.0);
	store_close(s);
	config_free(c);
	return 0;
}
