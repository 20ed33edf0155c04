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

/* ---- series classification (store/classify.c, classify_ops.c; docs/classify.md) ---- */

/*
 * Rules that label series ("T1", "DTI", "localizer", ...), in the spirit of the original
 * FIONA classifyRules.json. A parsed object is immutable: any number of threads may call
 * classify_series() with it at once.
 */
struct classify_rules;
/* Returns a new object in *out (free with classify_rules_free()); -EINVAL with err->reason
 * naming the rule set index/id and key ("rule set 3 (id \"t1\"): rules[0].operator: ..."),
 * or the line and column of a JSON syntax error (err->offset = byte position). */
int classify_rules_parse(const char *json, size_t n, struct classify_rules **out,
			 struct fiona_err *err);
/* classify_rules_parse of a file; -errno if it cannot be read (err names the path). */
int classify_rules_load(const char *path, struct classify_rules **out, struct fiona_err *err);
void classify_rules_free(struct classify_rules *r);

/* One instance's Part-10 bytes. Borrowed for the call. */
struct classify_instance {
	const uint8_t *p;
	size_t n;
};
/*
 * Facts about the whole series, for "check": "SeriesLevel" rules. n_instances < 0: unknown.
 * all/n_all (optional, NULL/0 when not known): every instance of the series, for rules
 * that must hold in each one; without them the representative instance stands in.
 */
struct classify_series_facts {
	long n_instances;
	const struct classify_instance *all;
	size_t n_all;
};
/*
 * Labels one series: p/n are the Part-10 bytes of a representative instance (the first),
 * borrowed for the call; facts may be NULL. Writes the labels of the matching rule sets,
 * comma-separated, in file order, each type once, into out ("" if none). Returns 0,
 * -ENOSPC if they do not fit in cap (out untouched), or the reader's error with err filled
 * (offset, tag; never a value).
 */
int classify_series(const struct classify_rules *r, const uint8_t *p, size_t n,
		    const struct classify_series_facts *facts, char *out, size_t cap,
		    struct fiona_err *err);
/* fiona's built-in default rules (T1, T2, FLAIR, DWI/DTI, localizer, CT, SC, ...). Static
 * string; classify_rules_parse() accepts it. */
const char *classify_default_rules_json(void);

#endif
