/*
 * fiona classify [--rules FILE] [--print-default] FILE|DIR...: labels series with the
 * classification rules (docs/classify.md) and prints "<path>\t<labels>" per series.
 *
 * A directory is walked recursively (sorted, so the output is stable); every folder that
 * holds Part-10 files ("DICM" at byte 128) is one series: its first file by name is the
 * representative, all of its files are the series-level facts. A FILE argument is a
 * series of one instance. Output names paths and labels only, never UIDs or other values
 * from the files. Exit 0 if every series was classified, 1 otherwise (one err_format()
 * line per failure on stderr), 2 for usage or rules errors.
 */
#include "core/core.h"
#include "cmd/cmd.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLASSIFY_CMD_MAX_DEPTH 32 /* folder nesting walked below an argument */

struct classify_cmd {
	struct classify_rules *rules;
	int failures;
};

static bool is_part10(const char *path)
{
	char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes = fd >= 0 && pread(fd, magic, 4, 128) == 4 && !memcmp(magic, "DICM", 4);

	if (fd >= 0)
		close(fd);
	return yes;
}

static void report(struct classify_cmd *c, const char *path, const struct fiona_err *err)
{
	char line[512];

	fprintf(stderr, "fiona classify: %s\n", err_format(err, path, line, sizeof(line)));
	c->failures++;
}

/* Classifies one series given its files (sorted paths) and prints its line. */
static void series_print(struct classify_cmd *c, const char *label_path, char **files, size_t n)
{
	struct fiona_err err = {0};
	char labels[1024];
	size_t bad;

	if (classify_series_files(c->rules, files, n, labels, sizeof(labels), &bad, &err))
		report(c, bad < n ? files[bad] : label_path, &err);
	else
		printf("%s\t%s\n", label_path, labels);
}

static char *path_join(const char *dir, const char *name)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *p = malloc(len);

	if (p)
		snprintf(p, len, "%s/%s", dir, name);
	return p;
}

/* Prints the series in dir (if it holds Part-10 files), then walks its subfolders. */
static void dir_walk(struct classify_cmd *c, const char *dir, int depth)
{
	struct dirent **list = NULL;
	char **files = NULL;
	size_t n_files = 0;
	int n = scandir(dir, &list, NULL, alphasort);
	struct fiona_err err = {0};

	if (n < 0 || depth > CLASSIFY_CMD_MAX_DEPTH) {
		err_set(&err, n < 0 ? -errno : -ELOOP, CORE_NO_OFFSET, CORE_NO_TAG, "%s",
			n < 0 ? strerror(errno) : "folders nested too deep");
		report(c, dir, &err);
		goto fail;
	}
	files = calloc((size_t)n + 1, sizeof(*files));
	for (int i = 0; files && i < n; i++) {
		char *p = list[i]->d_name[0] == '.' ? NULL : path_join(dir, list[i]->d_name);
		struct stat st;

		if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode) && is_part10(p))
			files[n_files++] = p;
		else
			free(p);
	}
	if (n_files)
		series_print(c, dir, files, n_files);
	for (int i = 0; i < n; i++) {
		char *p = list[i]->d_name[0] == '.' ? NULL : path_join(dir, list[i]->d_name);
		struct stat st;

		if (p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			dir_walk(c, p, depth + 1);
		free(p);
	}
fail:
	for (size_t i = 0; i < n_files; i++)
		free(files[i]);
	free(files);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int classify_usage(void)
{
	fprintf(stderr, "usage: fiona classify [--rules FILE] [--print-default] FILE|DIR...\n");
	return 2;
}

int cmd_classify(int argc, char **argv)
{
	struct classify_cmd c = {NULL, 0};
	struct fiona_err err = {0};
	const char *rules_path = NULL, *def = classify_default_rules_json();
	char line[512];
	int i = 1, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--rules") && i + 1 < argc) {
			rules_path = argv[++i];
		} else if (!strcmp(argv[i], "--print-default")) {
			fputs(def, stdout);
			return 0;
		} else {
			return classify_usage();
		}
	}
	if (i == argc)
		return classify_usage();
	rc = rules_path ? classify_rules_load(rules_path, &c.rules, &err)
			: classify_rules_parse(def, strlen(def), &c.rules, &err);
	if (rc) {
		fprintf(stderr, "fiona classify: %s\n",
			err_format(&err,
				   rc == -EINVAL ? (rules_path ? rules_path : "default rules")
						 : NULL,
				   line, sizeof(line)));
		return 2;
	}
	for (; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			dir_walk(&c, argv[i], 0);
		else
			series_print(&c, argv[i], &argv[i], 1);
	}
	classify_rules_free(c.rules);
	return c.failures ? 1 : 0;
}
