/*
 * Replays a libFuzzer corpus without libFuzzer: every file under the directories (or
 * files) named on the command line goes through LLVMFuzzerTestOneInput once. make test
 * runs this for each target, so the corpus and every saved crash stay regression tests.
 * Prints "PASS <target> corpus (N inputs)"; a crash is the failure.
 */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long replay_path(const char *path)
{
	struct stat st;
	long n = 0;

	if (stat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;

		if (!d)
			return 0;
		while ((de = readdir(d))) {
			char sub[4096];

			if (de->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			n += replay_path(sub);
		}
		closedir(d);
		return n;
	}
	{
		char *data = NULL;
		size_t len = 0;

		if (core_read_file(path, 64u << 20, &data, &len))
			return 0;
		/* a heap copy of exactly len bytes, so ASan sees reads past the end */
		uint8_t *exact = malloc(len ? len : 1);
		if (exact) {
			memcpy(exact, data, len);
			LLVMFuzzerTestOneInput(exact, len);
			free(exact);
		}
		free(data);
		return 1;
	}
}

int main(int argc, char **argv)
{
	long n = 0;
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	for (int i = 1; i < argc; i++)
		n += replay_path(argv[i]);
	/* the built-in empty input and a few trivial ones, always */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	LLVMFuzzerTestOneInput((const uint8_t *)"DICM", 4);
	printf("PASS %s corpus (%ld inputs)\n", name, n);
	return 0;
}
