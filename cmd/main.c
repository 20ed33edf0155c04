/*
 * fiona: one binary, subcommands. main() owns nothing but the dispatch; each command
 * builds its own context struct (configuration, logger, catalog) and releases it.
 */
#include "core/core.h"
#include "cmd/cmd.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIONA_VERSION "0.1"

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("fiona %s\n", FIONA_VERSION);
	return 0;
}

static const struct cmd commands[] = {
	{"version", cmd_version, "version                 print the version"},
	{"classify", cmd_classify,
	 "classify [--rules FILE] FILE|DIR...  label series (one line per series folder)"},
	{"dump", cmd_dump,
	 "dump FILE...            print every element of DICOM files (like dcmdump)"},
	{"anonymize", cmd_anonymize,
	 "anonymize -o OUT --project P --participant ID [--event E] INPUT...  de-identify files"},
	{"serve", cmd_serve, "serve [-c CONFIG]       run the gateway: receiver, arrival, mount"},
	{"import", cmd_import, "import [-c CONFIG] PATH...  ingest files and folders"},
	{"status", cmd_status, "status [-c CONFIG] [--json]  what is held, queue counts"},
	{"assign", cmd_assign, "assign [-c CONFIG] STUDY PROJECT ID EVENT  what mv does"},
	{"ocr", cmd_ocr,
	 "ocr [-j N] [--clean DIR [--all-text]] FILE...  text read in DICOM images; clean them"},
};

static int usage(FILE *fp)
{
	fprintf(fp, "usage: fiona COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < CORE_ARRAY_SIZE(commands); i++)
		fprintf(fp, "  %s\n", commands[i].usage);
	return fp == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
	/* tesseract's OpenMP threads are slower on small machines; libgomp reads the limit
	 * when it loads, before main: start again with it set (once) */
	if (!getenv("OMP_THREAD_LIMIT") && setenv("OMP_THREAD_LIMIT", "1", 1) == 0)
		execv("/proc/self/exe", argv);
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(stdout);
	for (size_t i = 0; i < CORE_ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "fiona: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
