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


/* ---- the store: catalog + object store (store/store.c, catalog.c, objstore.c) -------- */

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct fiona_log;
struct store; /* config + catalog + object store + log; every function is thread safe */

/* Opens <data_dir>/catalog.sqlite (0600, migrated) and <data_dir>/objects. cfg and log are
 * borrowed; valid until store_close(). Returns a new object; free with store_close(). */
int store_open(const struct fiona_config *cfg, struct fiona_log *log, struct store **out,
	       struct fiona_err *err);
void store_close(struct store *s);

struct store_origin {
	const char *calling_aet, *called_aet, *peer_host; /* NULLs ok */
};
struct store_ingest_result {
	int64_t study_id, instance_id;
	bool duplicate, conflict;
};
/* Parses, stores and catalogs one file. move=true: rename path into the store (receiver
 * temp files); false: copy (import). A file that does not parse is refused with the
 * reader's error and nothing is stored. Success only once object and rows are durable. */
int store_ingest(struct store *s, const char *path, const struct store_origin *o, bool move,
		 struct store_ingest_result *res, struct fiona_err *err);

struct store_study {
	int64_t id;
	char study_uid[65], study_date[17], accession[17], modalities[64];
	char patient_id[65];		     /* identifying: never log */
	int64_t first_arrival, last_arrival; /* unix seconds */
	bool complete;			     /* quiet for quiet_seconds */
	long n_series, n_instances;
	char project[32], participant[65], event[65]; /* "" when in quarantine */
};
struct store_series {
	int64_t id, study_id;
	char series_uid[65], modality[17], description[65], labels[128];
	long number, n_instances;
};
struct store_instance {
	int64_t id, series_id;
	char sop_uid[65], sop_class_uid[65], ts_uid[65], hash[33];
	long number;
	uint64_t size;
};
enum store_filter { STORE_QUARANTINE, STORE_ASSIGNED, STORE_ALL };
/* Returns a new array in *out (free with free()); project NULL = every project. */
int store_list_studies(struct store *s, enum store_filter f, const char *project,
		       struct store_study **out, size_t *n);
int store_get_study(struct store *s, int64_t id, struct store_study *out);
int store_list_series(struct store *s, int64_t study_id, struct store_series **out, size_t *n);
int store_list_instances(struct store *s, int64_t series_id, struct store_instance **out,
			 size_t *n);
int store_object_path(const struct store *s, const char *hash, char *out, size_t cap);
/* Validates project (config), participant (pattern, or existing participant), event
 * (project's events); records who; -EINVAL/-ENOENT with err->reason saying which. */
int store_assign(struct store *s, int64_t study_id, const char *project, const char *participant,
		 const char *event, uid_t who, struct fiona_err *err);
int store_unassign(struct store *s, int64_t study_id, uid_t who, struct fiona_err *err);
int store_participant_add(struct store *s, const char *project, const char *id, uid_t who,
			  struct fiona_err *err);
/* Returns a new NULL-terminated array of new strings (free with store_strv_free()). */
int store_list_participants(struct store *s, const char *project, char ***out);
void store_strv_free(char **v);
/* accession: an AccessionNumber or a StudyInstanceUID. */
int store_coupling_add(struct store *s, const char *project, const char *accession,
		       const char *participant, const char *event, struct fiona_err *err);
int store_audit(struct store *s, uid_t who, const char *action, const char *detail);
/* Bumped by every committed change; readers (the mount) compare it to cache. */
uint64_t store_generation(struct store *s);
/* Arrival: marks studies quiet for quiet_seconds complete, then applies coupling rows,
 * then the projects' routing rules (config), else leaves them in quarantine. Returns the
 * number of studies completed. Late series of an assigned study keep its assignment. */
int store_arrival_tick(struct store *s, time_t now);

struct store_stats {
	long studies_quarantine, studies_assigned, instances, objects, conflicts;
	uint64_t object_bytes;
};
int store_stats(struct store *s, struct store_stats *out);

#endif
