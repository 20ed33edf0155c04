/*
 * fiona: one binary, subcommands. main() owns nothing but the dispatch; each command
 * builds its own context struct (configuration, logger, catalog) and releases it.
 */
#include "core/core.h"
#include "cmd/cmd.h"

#include <string.h>

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
	{"dump", cmd_dump,
	 "dump FILE...            print every element of DICOM files (like dcmdump)"},
	{"serve", cmd_serve,
	 "serve [-c CONFIG]       run the gateway (C-STORE receiver, store, arrival)"},
	{"import", cmd_import, "import [-c CONFIG] PATH... store DICOM files and folders"},
	{"status", cmd_status, "status [-c CONFIG] [--json] catalog counts and disk use"},
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
