/* The fiona subcommands. Each returns the process exit code. */
#ifndef FIONA_CMD_H
#define FIONA_CMD_H

struct cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *usage;		   /* one line, shown by "fiona help" */
};

int cmd_dump(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_status(int argc, char **argv);

struct fiona_config;
/* argv[1..2] "-c CONFIG", else the embedded default; prints the error. Returns a new
 * configuration (free with config_free()); 0 or negative errno. */
int cmd_config_load(int argc, char **argv, struct fiona_config **out);

#endif
