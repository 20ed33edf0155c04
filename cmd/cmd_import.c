/*
 * fiona import [-c CONFIG] PATH...: ingests files and folders exactly as the receiver
 * does (parse, keep by content hash, catalog), for migrations and re-classification.
 * Every file that cannot be kept is named with its reason; the rest goes on; the exit
 * status is 1 if any failed. fiona import, status and assign work on the catalog while
 * `fiona serve` runs: SQLite serializes the writers.
 */
#include "core/core.h"

#include <errno.h>
#include <getopt.h>
#include <unistd.h>

#include "cmd/anon_files.h"
#include "cmd/cmd.h"

int cmd_import(int argc, char **argv)
{
	struct anon_files files = {0};
	struct cmd_env env;
	const char *config = NULL;
	size_t ok = 0, dup = 0, failed = 0;
	bool tty = isatty(STDERR_FILENO);
	int c;

	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			goto usage;
		config = optarg;
	}
	if (optind >= argc)
		goto usage;
	if (cmd_store_open(config, &env))
		return 1;
	if (anon_files_collect(&files, argv + optind, argc - optind)) {
		cmd_store_close(&env);
		return 1;
	}
	for (size_t i = 0; i < files.n; i++) {
		struct store_ingest_result res;
		struct fiona_err err = {0};
		char line[1024];

		if (store_ingest(env.store, files.v[i].path, NULL, false, &res, &err)) {
			err_format(&err, files.v[i].path, line, sizeof(line));
			fprintf(stderr, "%s%s\n", tty ? "\r" : "", line);
			failed++;
		} else {
			ok++;
			dup += res.duplicate;
		}
		if (tty && (i % 16 == 0 || i + 1 == files.n))
			fprintf(stderr, "\rimport: %zu/%zu files", i + 1, files.n);
	}
	fprintf(stderr, "%sfiona import: %zu files kept (%zu already there), %zu failed\n",
		tty ? "\n" : "", ok, dup, failed);
	anon_files_release(&files);
	cmd_store_close(&env);
	return failed ? 1 : 0;
usage:
	fprintf(stderr, "usage: fiona import [-c CONFIG] PATH...\n");
	return 2;
}
