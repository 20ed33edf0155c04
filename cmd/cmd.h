/* The fiona subcommands. Each returns the process exit code. */
#ifndef FIONA_CMD_H
#define FIONA_CMD_H

#include "store/store.h"

struct cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *usage;		   /* one line, shown by "fiona help" */
};

int cmd_classify(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_anonymize(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_assign(int argc, char **argv);
int cmd_ocr(int argc, char **argv);

/* cmd_common.c: configuration from -c PATH (NULL: the embedded default), printing the
 * error that names the key; a store opened on it with a log on stderr. */
struct cmd_env {
	struct fiona_log log;
	struct fiona_config *cfg;
	struct store *store;
};
int cmd_config_load(const char *path, struct fiona_config **out);
int cmd_store_open(const char *config_path, struct cmd_env *env);
void cmd_store_close(struct cmd_env *env);

#endif
