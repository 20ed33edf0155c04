/* The fiona subcommands. Each returns the process exit code. */
#ifndef FIONA_CMD_H
#define FIONA_CMD_H

struct cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *usage;		   /* one line, shown by "fiona help" */
};

int cmd_classify(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
