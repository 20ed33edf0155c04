/*
 * store: configuration, catalog, object store and queues. This header is the module's
 * whole public interface; today it offers the configuration (SPEC.md "Configuration and
 * commands": the key names are a contract with operators and scripts).
 */
#ifndef FIONA_STORE_H
#define FIONA_STORE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

struct config_caller {
	char *aet, *host; /* either may be NULL: any */
};

struct config_destination {
	char *name, *aet, *host, *calling_aet;
	int port, associations;
};

struct config_route {
	char *patient_id, *patient_name, *calling_aet, *called_aet; /* regexes; NULL: any */
	char *event;
};

struct config_project {
	char *name, *group, *participant_pattern, *destination, *profile, *export_profile;
	regex_t participant_re; /* compiled participant_pattern (anchored as written) */
	bool participant_re_ok;
	char **events;
	size_t n_events;
	struct config_route *routing;
	size_t n_routing;
};

struct fiona_config {
	char *data_dir, *mount_point, *secret_file, *admin_group, *classify_rules;
	char *aet, *bind; /* "dicom" */
	int port;
	struct config_caller *allowed_callers;
	size_t n_allowed_callers;
	long quiet_seconds, quarantine_days;
	double disk_high_watermark;
	struct config_destination *destinations;
	size_t n_destinations;
	struct config_project *projects;
	size_t n_projects;
	char *redcap_url, *redcap_token_file; /* NULL when there is no "redcap" */
};

/* The configuration `make run` uses: data under ./var, mount at ./mnt, C-STORE on
 * 127.0.0.1:11112, no projects. Static string. */
const char *config_default_json(void);

/*
 * Parses a configuration. Every error names the key path and the reason in err->reason
 * ("projects.PROJ01.participant_pattern: not a valid regular expression"); unknown keys
 * are errors too, so a typo never silently falls back to a default. Returns 0 and a new
 * configuration (free with config_free()), or -EINVAL / -ENOMEM.
 */
int config_parse(const char *json, size_t len, struct fiona_config **out, struct fiona_err *err);
/* config_parse of a file; -errno if it cannot be read (err names the path). */
int config_load(const char *path, struct fiona_config **out, struct fiona_err *err);
void config_free(struct fiona_config *c);
/* Borrowed from c; NULL if there is no such project / destination. */
const struct config_project *config_project(const struct fiona_config *c, const char *name);
const struct config_destination *config_destination(const struct fiona_config *c, const char *name);

#endif
