/*
 * cmd_common: what several subcommands share — loading the configuration (a file given
 * with -c, else the embedded default) and opening the store with a log on stderr.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "cmd/cmd.h"

int cmd_config_load(const char *path, struct fiona_config **out)
{
	struct fiona_err err = {0};
	const char *def = config_default_json();
	int rc = path ? config_load(path, out, &err) : config_parse(def, strlen(def), out, &err);

	if (rc)
		fprintf(stderr, "fiona: %s: %s\n", path ? path : "default configuration",
			err.reason[0] ? err.reason : strerror(-rc));
	return rc;
}

int cmd_store_open(const char *config_path, struct cmd_env *env)
{
	struct fiona_err err = {0};
	int rc;

	memset(env, 0, sizeof(*env));
	log_init(&env->log, stderr, LOG_INFO);
	if ((rc = cmd_config_load(config_path, &env->cfg)))
		return rc;
	if ((rc = store_open(env->cfg, &env->log, &env->store, &err))) {
		fprintf(stderr, "fiona: %s\n", err.reason[0] ? err.reason : strerror(-rc));
		config_free(env->cfg);
		env->cfg = NULL;
	}
	return rc;
}

void cmd_store_close(struct cmd_env *env)
{
	store_close(env->store);
	config_free(env->cfg);
	log_release(&env->log);
	memset(env, 0, sizeof(*env));
}
