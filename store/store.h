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

#include "anon/anon.h"
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

/* A series a project marks as safe to skip for burned-in text (the original's exclusion
 * list): a top-level attribute whose value matches a regular expression. */
struct config_pixel_skip {
	char *tag_name, *pattern; /* as written */
	uint32_t tag;
	regex_t re;
	bool re_ok;
};
/* A project's burned-in text settings ("pixels" in the configuration; docs/burn.md). */
struct config_pixels {
	bool keep;	   /* "clean": false — candidates are flagged, never cleaned or held */
	bool all_text;	   /* every text line read is removed, not only identifying ones */
	bool every_series; /* every instance is a candidate, not only the flagged kinds */
	bool drop_sc, drop_pr; /* secondary captures / presentation states never leave */
	struct config_pixel_skip *skip;
	size_t n_skip;
};

/* Automatic participant IDs (the original's AutoID; docs/redcap.md): studies addressed
 * to aet get an ID generated from pattern (default: participant_pattern), the same for
 * the same patient, and are assigned to event (default: the project's first). */
struct config_autoid {
	char *aet, *event, *pattern;
};

/* The "redcap" section (docs/redcap.md). Token files are read (mode 0600) by redcap/. */
struct config_redcap {
	char *url;	  /* ends in /api/; https, or http to a loopback host (tests) */
	char *token_file; /* the Incoming project */
	char *projects_token_file, *routing_token_file, *coupling_token_file;
	char *autoid_token_file; /* "tokens": {...}; each optional */
	char *ca_file;		 /* NULL: the system's CA store */
	long requests_per_minute, poll_seconds, timeout_seconds, batch_rows;
	long retry_max_seconds; /* the back-off's cap after failures (default 300) */
};

struct config_project {
	char *name, *group, *participant_pattern, *destination, *profile, *export_profile;
	char *redcap_token_file;      /* the project's own REDCap (participants, imaging rows) */
	struct config_autoid *autoid; /* NULL: IDs are given by hand, coupling or routing */
	struct config_pixels pixels;
	regex_t participant_re; /* compiled participant_pattern (anchored as written) */
	bool participant_re_ok;
	char **events;
	size_t n_events;
	struct config_route *routing;
	size_t n_routing;
	bool nifti_off; /* "nifti": false: no dcm2niix, no nifti/ under export/ */
};

/* Where the catalog and the objects live (docs/scale-out.md). catalog: "sqlite:PATH" or
 * "postgres:CONNINFO" (NULL: sqlite:<data_dir>/catalog.db); objects: "dir:PATH" or
 * "s3:http(s)://HOST[:PORT]/BUCKET" (NULL: dir:<data_dir>/objects). */
struct config_shared {
	char *catalog, *objects;
	char *gateway;	   /* this gateway's name in leases and logs (NULL: the host name) */
	char *s3_key_file; /* "s3": { "key_file": ... } access and secret key, mode 0600 */
	char *s3_region, *s3_ca_file;
	long s3_cache_mb;      /* local copies of S3 objects kept at most (default 4096) */
	long s3_grace_seconds; /* an unnamed object is deleted only after this (default 3600) */
	long lease_seconds;    /* a forwarding lease lasts this long (default 60) */
};

struct fiona_config {
	char *data_dir, *mount_point, *secret_file, *admin_group, *classify_rules;
	char *pixel_rules; /* per-device regions with burned-in text (NULL: none) */
	char *aet, *bind;  /* "dicom" */
	int port;
	struct config_caller *allowed_callers;
	size_t n_allowed_callers;
	long quiet_seconds, quarantine_days;
	double disk_high_watermark;
	struct config_destination *destinations;
	size_t n_destinations;
	struct config_project *projects;
	size_t n_projects;
	struct config_redcap *redcap; /* NULL when there is no "redcap" */
	struct config_shared shared;
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

/* ---- the store: catalog + object store (store.c, catalog.c, objstore.c, ingest.c,
 * query.c, assign.c). Every function may be called from any thread. ----------------- */
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct store;
/* Opens (creating) <data_dir>/catalog.db, objects/ and tmp/, migrates the schema and
 * removes temporaries a killed daemon left. cfg and log are borrowed for the store's
 * life. Returns 0 and a new store (free with store_close()), or a negative errno. */
int store_open(const struct fiona_config *cfg, struct fiona_log *log, struct store **out,
	       struct fiona_err *err);
void store_close(struct store *s);
/* Where receivers write temporaries (same filesystem as the objects). Borrowed. */
const char *store_tmp_dir(const struct store *s);
/* False while the catalog cannot be reached (PostgreSQL down): the mount is read-only then
 * and the receiver refuses; both catch up by themselves when it is back. */
bool store_catalog_reachable(struct store *s);

struct store_origin {
	const char *calling_aet, *called_aet, *peer_host; /* NULLs ok */
};
struct store_ingest_result {
	int64_t study_id, instance_id;
	bool duplicate; /* the same bytes were kept already: nothing changed */
	/* the SOPInstanceUID was kept with other bytes: this version replaced it (same
	 * instance id; the earlier one is kept as a version, the new one sent again) */
	bool replaced;
	bool conflict; /* legacy rows of a catalog from before versions: both kept */
};
/* Keeps one instance: parsed (a file that is not DICOM is refused with the reader's
 * error), stored by content hash and fsynced, then cataloged in one transaction.
 * move=true renames path into the store (receiver temporaries); false copies it.
 * 0 once durable, or a negative errno (-ENOSPC for a full disk) with err filled. */
int store_ingest(struct store *s, const char *path, const struct store_origin *o, bool move,
		 struct store_ingest_result *res, struct fiona_err *err);

struct store_study {
	int64_t id;
	char study_uid[65], study_date[17], accession[17], modalities[64];
	char patient_id[65]; /* identifying: never log */
	int64_t first_arrival, last_arrival;
	bool complete; /* quiet for quiet_seconds */
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
/* Returns a new array in *out (free with free()); project NULL = every project.
 * STORE_QUARANTINE lists complete, unassigned studies younger than quarantine_days. */
int store_list_studies(struct store *s, enum store_filter f, const char *project,
		       struct store_study **out, size_t *n);
int store_get_study(struct store *s, int64_t id, struct store_study *out);
int store_list_series(struct store *s, int64_t study_id, struct store_series **out, size_t *n);
int store_list_instances(struct store *s, int64_t series_id, struct store_instance **out,
			 size_t *n);
/* The local file of object hash, for reading. With the objects on S3 a missing local copy
 * is fetched first (this blocks for the transfer); -EIO (with a log line) when it is not
 * cached and S3 cannot give it. */
int store_object_path(struct store *s, const char *hash, char *out, size_t cap);
/* The same without waiting: -EWOULDBLOCK when the object is on S3 only (a caller that must
 * not block, the mount's request threads, hands the work to a thread that may). */
int store_object_cached(struct store *s, const char *hash, char *out, size_t cap);
/* Where the objects are and whether that store answers (fiona status). */
struct store_objects_state {
	bool s3;	 /* on S3; else local files (always reachable) */
	char where[600]; /* the folder, or ENDPOINT/BUCKET (never credentials) */
	bool reachable;	 /* probe: a request just now was answered */
	char probe_error[256];
	/* the last operation of the gateway on this data_dir (<data_dir>/s3-state) */
	bool known, last_ok;
	int64_t last_at, last_error_at;
	char last_error[256];
};
/* probe: ask the store now (one HEAD). 0 or -errno. */
int store_objects_state(struct store *s, bool probe, struct store_objects_state *out);

/* Assigns a study: project known, participant matching the project's pattern (it is
 * created) or already known, event one of the project's; records who; queues every
 * instance for the project's destination. -EINVAL/-ENOENT with err->reason saying which
 * part is wrong (without patient data). */
int store_assign(struct store *s, int64_t study_id, const char *project, const char *participant,
		 const char *event, uid_t who, struct fiona_err *err);
int store_unassign(struct store *s, int64_t study_id, uid_t who, struct fiona_err *err);
/* Where a caller (a mount) saw a study: quarantine (project "") or an event. */
struct store_place {
	const char *project, *participant, *event;
};
/* store_assign and store_unassign based on where the caller saw the study: -ESTALE (err
 * says so) when it is no longer there, because another mount or gateway moved it
 * meanwhile; the second of two concurrent moves fails instead of overwriting the first.
 * expect NULL: no check. */
int store_assign_from(struct store *s, int64_t study_id, const struct store_place *expect,
		      const char *project, const char *participant, const char *event, uid_t who,
		      struct fiona_err *err);
int store_unassign_from(struct store *s, int64_t study_id, const struct store_place *expect,
			uid_t who, struct fiona_err *err);
int store_participant_add(struct store *s, const char *project, const char *id, uid_t who,
			  struct fiona_err *err);
/* Returns a new NULL-terminated array of new strings (free with store_strv_free()). */
int store_list_participants(struct store *s, const char *project, char ***out);
void store_strv_free(char **v);
/* A coupling row: the study with this AccessionNumber (or StudyInstanceUID) goes to
 * (project, participant, event) when it has arrived. Validated like store_assign. */
int store_coupling_add(struct store *s, const char *project, const char *accession,
		       const char *participant, const char *event, struct fiona_err *err);
int store_audit(struct store *s, uid_t who, const char *action, const char *detail);
struct store_audit_row {
	int64_t at;
	uid_t who;
	char action[16], detail[240];
};
/* Many audit rows in one transaction (the mount batches reads: one fsync per batch). */
int store_audit_many(struct store *s, const struct store_audit_row *rows, size_t n);

/* ---- the change feed (store/changes.c) ----------------------------------------------
 * Every committed change a cache of catalog listings must see, as records readers follow
 * with a cursor: the cost of a change is one record, never a pass over the catalog. The
 * records are rows of the catalog written with the change, so changes made by other
 * processes (`fiona assign`, `fiona import`, other gateways) are in the feed too. */
enum {
	STORE_CHG_INSTANCES = 1,    /* instances of the study were added or removed */
	STORE_CHG_STATE = 2,	    /* arrival state, series labels, transfer states */
	STORE_CHG_ASSIGN = 4,	    /* the study came to or left this place */
	STORE_CHG_PARTICIPANTS = 8, /* study 0: the project's participants or coupling rows */
	STORE_CHG_DERIVED = 16,	    /* kept de-identified headers of the study were added */
	STORE_CHG_PIXELS = 32,	    /* burned-in text outcomes of the study were kept */
	STORE_CHG_REVIEW = 64,	    /* study 0: the project's review text was kept */
	STORE_CHG_NIFTI = 128,	    /* NIfTI of a series of the study was kept */
	STORE_CHG_REPLACED = 256,   /* an instance of the study got other bytes (re-sent) */
};
struct store_change {
	uint64_t seq;
	int64_t study; /* 0 for project-level records */
	unsigned what; /* STORE_CHG_* bits; 0: nothing (a placeholder) */
	/* where the study is after the change ("" project: quarantine), or for a change of
	 * assignment the place it left (a second record names where it went) */
	char project[32], participant[65], event[65];
};
/* The newest record's seq: a reader starting now begins its cursor here. */
uint64_t store_change_seq(struct store *s);
/* A value that changes whenever a change may have been committed, by this process or any
 * other connection to the catalog: cheap (no table read), so a reader compares it before
 * reading records. */
uint64_t store_change_hint(struct store *s);
/* Copies up to cap records after *cursor into out, oldest first, and advances *cursor.
 * 0 with *n records; -ESTALE when records after *cursor are gone (the reader fell more
 * than the kept rows behind, or a record was lost): it must forget what it derived;
 * *cursor is then past the gap. */
int store_changes_read(struct store *s, uint64_t *cursor, struct store_change *out, size_t cap,
		       size_t *n);
/* Waits up to seconds for a record after cursor (woken by this process's commits; other
 * processes' are seen at the end of the wait); true if there is one. */
bool store_changes_wait(struct store *s, uint64_t cursor, double seconds);

/* ---- listings for the mount (store/listing.c): index lookups on one folder's rows ---- */
struct store_qstudy {
	int64_t id, last_arrival;
	char study_date[17], accession[17];
};
/* Complete, unassigned studies younger than quarantine_days (new array, free()), and
 * *expires_at: when the oldest of them leaves the listing (0 if none). */
int store_list_quarantine(struct store *s, struct store_qstudy **out, size_t *n,
			  int64_t *expires_at);
/* Events of (project, participant) that hold a study: new NULL-terminated array
 * (store_strv_free()). */
int store_list_events(struct store *s, const char *project, const char *participant, char ***out);
/* Studies assigned to (project, participant, event), by id: new array (free()). */
int store_list_event_studies(struct store *s, const char *project, const char *participant,
			     const char *event, int64_t **out, size_t *n);
/* One de-identified file of a series: size < 0 means its header is not kept yet
 * (STORE_DERIVED_MISSING) or de-identification failed (STORE_DERIVED_FAILED). */
#define STORE_DERIVED_MISSING (-1)
#define STORE_DERIVED_FAILED  (-2)
#define STORE_DERIVED_HELD    (-3) /* burned-in text could not be cleaned and checked */
#define STORE_DERIVED_DROPPED (-4) /* the project drops this kind */
struct store_deid_file {
	int64_t id;
	long number;
	int64_t size;
	int64_t crc;	  /* CRC-32 of the file's bytes; -1 when not computed yet */
	uint64_t version; /* from the object's hash: another version of the instance differs */
};
/* The first 64 bits of an object hash (32 hex digits) as a number; 0 for NULL. */
uint64_t store_hash_version(const char *hash);
/* The instances of a series with the size kept under profile (a fingerprint). */
int store_list_deid_files(struct store *s, int64_t series_id, const char *profile,
			  struct store_deid_file **out, size_t *n);
/* What a series folder under projects/ or export/ is named from (docs/mount.md): the
 * SeriesDescription of its first de-identified file under profile, its labels, its
 * modality. */
struct store_series_name {
	int64_t id, study_id;
	long number;
	char modality[17], labels[128];
	char description[65]; /* of the first kept file (by number); "" none */
	char sop_class[65];   /* of the first instance (by number): export leave_out */
	bool described;	      /* some file of the series has a kept header */
	bool prepared;	      /* every instance has a row under profile (kept or not) */
};
/* The series of a study in catalog order (new array, free()). */
int store_list_series_names(struct store *s, int64_t study_id, const char *profile,
			    struct store_series_name **out, size_t *n);
/* The object of an instance (its hash) and, when kept under profile, the size and saved
 * plan (*plan: new buffer, free(); NULL when not kept or too big to keep). A header kept
 * over a cleaned copy of the pixels names that copy: hash is then the copy's and *cleaned
 * is set. -ENOENT if the instance is gone. */
int store_instance_open(struct store *s, int64_t instance, const char *profile, char hash[33],
			bool *cleaned, int64_t *size, uint8_t **plan, size_t *plan_len);

/* ---- kept de-identified headers (store/derived.c) ------------------------------------ */
struct store_derived_todo {
	int64_t instance;
	char hash[33];
};
/* Instances of a study that have no kept header under profile (new array, free()). */
int store_derived_missing(struct store *s, int64_t study, const char *profile,
			  struct store_derived_todo **out, size_t *n);
struct store_derived_row {
	int64_t instance;
	int64_t size;	     /* < 0: STORE_DERIVED_FAILED, _HELD or _DROPPED */
	const uint8_t *plan; /* borrowed; NULL: not kept (too big), opened by building it */
	size_t plan_len;
	const char *source; /* the cleaned copy the plan reads (borrowed); NULL: the object */
	/* the SeriesDescription the de-identified file carries ("" none; borrowed); NULL for
	 * rows without a file (failed, held, dropped) */
	const char *description;
};
/* Keeps the rows in one transaction, only if the study is still assigned to (project,
 * participant, event): a re-assignment while they were computed makes them worthless
 * (-ESTALE, nothing kept). Notes STORE_CHG_DERIVED. */
int store_derived_put(struct store *s, int64_t study, const char *project, const char *participant,
		      const char *event, const char *profile, const struct store_derived_row *rows,
		      size_t n);
/* How many instances of a study have a kept header under profile, and of those without
 * one: could not be de-identified, held for burned-in text, dropped by the project. */
struct store_derived_counts {
	long ready, failed, held, dropped;
};
int store_derived_count(struct store *s, int64_t study, const char *profile,
			struct store_derived_counts *out);
/* Studies assigned to project with an instance lacking a header under profile (once at
 * start: after a profile or secret change they are all computed again). New array. */
int store_derived_studies_missing(struct store *s, const char *project, const char *profile,
				  int64_t **out, size_t *n);
/* Removes up to limit kept headers whose profile is none of keep[0..n): returns how many
 * (call again until 0). */
int store_derived_prune(struct store *s, const char *const *keep, size_t n, int limit);
/* CRC-32 of the de-identified files (zip exports, docs/mount.md): computed by the mount's
 * preparer after the headers and kept beside the size. The instances of a study whose
 * file under profile has a kept header but no CRC yet (new array, free()), and the studies
 * assigned to project with such an instance (once at start). */
int store_derived_crc_missing(struct store *s, int64_t study, const char *profile, int64_t **out,
			      size_t *n);
int store_derived_studies_crc_missing(struct store *s, const char *project, const char *profile,
				      int64_t **out, size_t *n);
struct store_derived_crc {
	int64_t instance;
	uint32_t crc;
};
/* Keeps the CRCs in one transaction, only while the study is still at (project,
 * participant, event) (-ESTALE otherwise); notes STORE_CHG_DERIVED. */
int store_derived_crc_put(struct store *s, int64_t study, const char *project,
			  const char *participant, const char *event, const char *profile,
			  const struct store_derived_crc *rows, size_t n);
/* ---- the review file (store/review.c; docs/review.md) -------------------------------- */
/* A study's summary of the attributes of its de-identified files under a profile (the
 * mount computes it: anon's review_sum_save bytes) and each project's merged text. */
struct store_review_file {
	int64_t instance, series;
	int64_t size; /* of its de-identified file */
};
/* The study's de-identified files under profile (new array, free()) and the gen of its
 * summary, read before them: -EALREADY when the kept summary is current (nothing to do),
 * -ENOENT when the study never had a kept header under profile. */
int store_review_files(struct store *s, int64_t study, const char *profile, int64_t *gen,
		       struct store_review_file **out, size_t *n);
/* Keeps the summary (n bytes at b) if gen is still the study's: 0, or -ESTALE when a kept
 * header of it came or went since (nothing kept; its change is in the feed). */
int store_review_put(struct store *s, int64_t study, const char *profile, int64_t gen,
		     const uint8_t *b, size_t n);
/* Studies assigned to project whose summary under profile is missing (new array). */
int store_review_studies_missing(struct store *s, const char *project, const char *profile,
				 int64_t **out, size_t *n);
/* Calls fn with the kept summary of every study assigned to project (borrowed bytes, valid
 * during the call), read in batches of 32 on the reader connection and released between
 * batches, so neither lock is held while fn works. Stops at fn's first non-zero return. */
typedef int (*store_review_fn)(void *opaque, int64_t study, const uint8_t *b, size_t n);
int store_review_project(struct store *s, const char *project, const char *profile,
			 store_review_fn fn, void *opaque);
/* Keeps the project's text under profile; notes STORE_CHG_REVIEW (study 0). */
int store_review_text_put(struct store *s, const char *project, const char *profile,
			  const uint8_t *text, size_t n);
/* A new copy of the kept text (NUL-terminated, free()) and its length; -ENOENT none. */
int store_review_text_get(struct store *s, const char *project, const char *profile, char **out,
			  size_t *n);
/* Removes the summaries of every profile not in keep[0..n) (an older profile or secret). */
int store_review_prune(struct store *s, const char *const *keep, size_t n);
/* ---- NIfTI exports (store/nifti.c; docs/export.md) ----------------------------------
 * What dcm2niix made of a series of an export event folder: one run per series under the
 * key of its input (computed by the mount), and the files it made, kept as derived
 * objects by content hash under <data_dir>/derived/. */
struct store_nifti_run {
	int64_t series;
	char profile[33]; /* the export profile fingerprint it was made under */
	char key[33];	  /* hash of everything the output depends on */
	bool failed;
	char reason[200]; /* failed: why, without patient data */
};
struct store_nifti_file {
	int64_t id; /* never reused: one id, one content */
	char name[256];
	char hash[33];
	int64_t size;
};
/* The kept run of a series (-ENOENT: none). */
int store_nifti_get(struct store *s, int64_t series, struct store_nifti_run *out);
/* The files of a series' run by name (new array, free()). */
int store_nifti_files(struct store *s, int64_t series, struct store_nifti_file **out, size_t *n);
/* One file by id: its object's hash and size (-ENOENT: gone). */
int store_nifti_file_get(struct store *s, int64_t id, char hash[33], int64_t *size);
/* The path of a derived object's local file. With the objects on S3 a missing local copy
 * is fetched first (which may take a while: docs/scale-out.md); S3 unreachable and not
 * cached: -EIO, logged. */
int store_blob_path(struct store *s, const char *hash, char *out, size_t cap);
/* Moves the file at path (on data_dir's filesystem) into the derived objects under the
 * XXH3-128 of its bytes (written to hash), fsynced before it is renamed into place; with
 * the objects on S3 also put there (a failure is returned, the local copy dropped). Until
 * store_nifti_put or store_blob_drop settles it, the object is held: no removal of unnamed
 * objects takes its local file (which may be another run's, with the same bytes), and
 * its key is safe from the sweep. Every successful put must be settled by one of them. */
int store_blob_put(struct store *s, const char *path, char hash[33]);
/* Removes the objects of f[0..n) that no row names (outputs that will not be kept). */
void store_blob_drop(struct store *s, const struct store_nifti_file *f, size_t n);
/* Keeps a run and its files (objects put with store_blob_put) in place of the series'
 * earlier run, in one transaction, only while the study is still at (project,
 * participant, event) (-ESTALE otherwise); notes STORE_CHG_NIFTI. Objects no row names
 * afterwards (the replaced run's, or these when refused) are removed. */
int store_nifti_put(struct store *s, int64_t study, const char *project, const char *participant,
		    const char *event, const struct store_nifti_run *run,
		    const struct store_nifti_file *files, size_t n);
/* Removes the runs of series that are gone or no longer assigned, or made under a profile
 * none of keep[0..n) (and their objects); returns how many runs went, or -errno. */
int store_nifti_prune(struct store *s, const char *const *keep, size_t n);
/* Studies assigned to project with a series without a run under profile (new array). */
int store_nifti_studies_missing(struct store *s, const char *project, const char *profile,
				int64_t **out, size_t *n);

/* ---- burned-in text (store/pixels.c, store/cleaner.c; docs/burn.md) ------------------ */
enum store_px {
	STORE_PX_ORIGINAL, /* not a candidate (or the project keeps pixels): as received */
	STORE_PX_PENDING,  /* a candidate whose pixels are not cleaned yet: wait */
	STORE_PX_CLEANED,  /* de-identify source, the cleaned copy (deid_job.pixels_cleaned) */
	STORE_PX_SKIPPED,  /* a candidate the project marks safe: as received */
	STORE_PX_HELD,	   /* could not be cleaned and checked: never shown nor sent */
	STORE_PX_DROPPED,  /* the project drops this kind (secondary capture, presentation) */
};
struct store_px_state {
	enum store_px state;
	char source[33];  /* the object to de-identify (ORIGINAL, SKIPPED, CLEANED) */
	char reason[200]; /* SKIPPED, HELD, DROPPED: why, without patient data */
};
/* Whether source may be de-identified and leave (not pending, held or dropped). */
static inline bool store_px_may_leave(const struct store_px_state *px)
{
	return px->state == STORE_PX_ORIGINAL || px->state == STORE_PX_SKIPPED ||
	       px->state == STORE_PX_CLEANED;
}
/* What of an instance may leave fiona for project. -ENOENT if either is unknown. */
int store_pixel_state(struct store *s, int64_t instance, const char *project,
		      struct store_px_state *out);
/* The fingerprint of a project's pixel settings (engine, rules file, options): kept
 * headers made over a cleaned copy depend on it. Borrowed; NULL for an unknown project. */
const char *store_pixel_fp(const struct store *s, const char *project);
struct store_held {
	int64_t study, instance;
	long series, number; /* SeriesNumber, InstanceNumber (-1 when absent) */
	bool skipped;	     /* skipped (the project marks it safe), else held */
	char reason[200];
};
/* The held and skipped candidates of a study under project's settings (new array,
 * free()), held first. study 0: the held ones of every study assigned to project, up to
 * 100 (fiona status). */
int store_list_held(struct store *s, int64_t study, const char *project, struct store_held **out,
		    size_t *n);
/* The thread that cleans the candidates of assigned studies (one OCR engine, reused). */
struct store_cleaner;
int store_cleaner_start(struct store *s, struct fiona_log *log, struct store_cleaner **out,
			struct fiona_err *err);
void store_cleaner_stop(struct store_cleaner *c);

/* Work that runs on one gateway of a site at a time (docs/scale-out.md). */
enum store_job {
	STORE_JOB_ARRIVAL,	/* store_arrival_tick (takes it itself) */
	STORE_JOB_HOUSEKEEPING, /* store_housekeeping (takes it itself) */
	STORE_JOB_REDCAP,	/* the REDCap sync thread's rounds */
	STORE_JOB_PIXELS,	/* burned-in text cleaning */
	STORE_JOB_N
};
/* True when this gateway runs job now. On SQLite always (one gateway per catalog file).
 * On PostgreSQL while it holds the job's advisory lock: taken when free, held by the
 * connection, so the lock of a gateway that dies or loses its connection is free again for
 * another one at its next try. Cheap to ask every round. */
bool store_lead(struct store *s, enum store_job job);

/* Arrival: studies quiet for quiet_seconds become complete, then coupling rows, then the
 * projects' routing rules assign them; the rest wait in quarantine. Returns the number of
 * studies completed, or a negative errno. */
int store_arrival_tick(struct store *s, time_t now);

/* Housekeeping: while the data directory's filesystem is above disk_high_watermark,
 * removes the oldest study verified at its destination, then the oldest expired
 * quarantine study; never data still waiting for its destination. Logs and audits each
 * removal. Returns the number of studies removed, or a negative errno. */
int store_housekeeping(struct store *s, time_t now);

struct store_counts {
	long studies, quarantine, assigned, series, instances, objects, conflicts;
	long versions; /* earlier versions of re-sent instances, kept for the audit trail */
	long queued, sent, verified, failed;
	long held; /* transfers held for burned-in text or dropped: never sent */
	/* burned-in text outcomes kept (under any settings) */
	long px_cleaned, px_held, px_skipped;
	uint64_t object_bytes;
};
int store_counts(struct store *s, struct store_counts *c);
/* Queue counts per destination and since when its oldest waiting instance waits. */
struct store_dest_queue {
	char destination[64];
	long queued, sent, verified, failed;
	int64_t oldest_waiting; /* assignment time of the oldest unsent instance, 0 if none */
	char last_error[160];
};
/* Returns a new array in *out (free with free()). */
int store_queue_by_destination(struct store *s, struct store_dest_queue **out, size_t *n);

/* Transfer state of one study's instances (for .status). */
struct store_study_transfers {
	long queued, sent, verified, failed;
	long held; /* held for burned-in text, or dropped: never sent */
	char last_error[256];
	int64_t assigned_at;
	long assigned_by; /* uid, -1 when arrival rules assigned it */
	char how[16];	  /* manual, coupling, routing */
};
int store_study_transfers(struct store *s, int64_t study_id, struct store_study_transfers *t);
/* How many studies are assigned to project and how many instances they hold (fiona
 * status names what a project without a destination keeps but never forwards). */
int store_project_counts(struct store *s, const char *project, long *studies, long *instances);
/* The coupling rows of a project as CSV lines "key,participant,event\n" (a new string,
 * free with free()). */
int store_coupling_csv(struct store *s, const char *project, char **out);

/* ---- forwarding (store/forward.c, transfers.c) -------------------------------------- */
/*
 * The forwarder: a thread that sends queued transfers to each project's destination —
 * de-identified by the same plans the mount serves, over the destination's parallel
 * associations — records each instance's outcome (sent, or failed with its reason and
 * the time of the next try, backing off exponentially), and verifies sent studies with a
 * C-FIND count. A transfer left 'sending' by a crash is queued again at start.
 */
struct store_forwarder;
/* secret is copied; cfg, s and log are borrowed. 0 or a negative errno. */
int store_forwarder_start(struct store *s, const struct fiona_config *cfg,
			  const struct deid_secret *secret, struct fiona_log *log,
			  struct store_forwarder **out);
/* Finishes the batch in flight, then stops; NULL is fine. */
void store_forwarder_stop(struct store_forwarder *f);
/* Wakes the forwarder now (after an assignment) instead of at its next poll. */
void store_forwarder_kick(struct store_forwarder *f);

/* ---- REDCap: the outbox, the rows fiona writes, what REDCap adds (store/rc_*.c,
 * autoid.c; docs/redcap.md). redcap/ speaks HTTP; the catalog side lives here. ---------- */
/* The site secret, for keyed hashes of PatientIDs (AutoID): copied. */
void store_set_secret(struct store *s, const struct deid_secret *secret);

/* A study whose REDCap rows must be written; gen counts its changes since it was queued. */
struct store_rc_due {
	int64_t study, gen;
	long attempts;
};
/* Up to limit due rows (not parked, next_try <= now), oldest first. New array. */
int store_rc_due(struct store *s, int64_t now, size_t limit, struct store_rc_due **out, size_t *n);
/* Written: removes the row unless it changed again meanwhile (gen moved on). */
int store_rc_done(struct store *s, int64_t study, int64_t gen);
/* Not written this time (REDCap unreachable, busy, offline): try again at next_try. */
int store_rc_retry(struct store *s, int64_t study, int64_t next_try);
/* REDCap refused the rows for good (400/403): parked with the reason until the study
 * changes place; shown by fiona status. */
int store_rc_park(struct store *s, int64_t study, const char *reason);
struct store_rc_outbox {
	long depth, parked;
	int64_t oldest; /* queued_at of the oldest waiting row, 0 if none */
	int64_t parked_study;
	char parked_reason[200]; /* the newest parked row's reason */
};
int store_rc_outbox_counts(struct store *s, struct store_rc_outbox *o);
/* A study's place in the outbox for .status: 0 written (no row), 1 waiting, 2 parked
 * (reason copied). */
int store_rc_study_state(struct store *s, int64_t study, int *state, char *reason, size_t cap);

/* What REDCap's rows of one study are made of, read from the catalog. */
struct store_rc_series {
	char uid[65], description[65], date[17], time[17], sequence[65], labels[128];
	long n_files;
};
struct store_rc_study {
	int64_t id;
	char study_uid[65], date[17], time[17], accession[17], description[65];
	char institution[65], calling_aet[17], called_aet[17];
	char patient_id[65], patient_name[325]; /* identifying: only keyed hashes leave */
	int64_t first_arrival, last_arrival;
	struct store_rc_series *series; /* owned (store_rc_study_release) */
	size_t n_series;
	/* the current assignment ("" project: in quarantine) */
	char project[32], participant[65], event[65], how[16], requested_by[80];
	int64_t assigned_at, last_sent_at, verified_at;
	struct store_study_transfers xfer;
	long n_instances;
};
/* -ENOENT when the study is gone (housekeeping removed it). */
int store_rc_study(struct store *s, int64_t study, struct store_rc_study *out);
void store_rc_study_release(struct store_rc_study *st);

/* A row of a REDCap project fiona writes or carries out: its address and the repeat
 * instance fixed for key (0 for a record's base row). */
struct store_rc_row {
	char target[32]; /* "incoming", "autoid", or a project name */
	char record[101], event[65], instrument[65];
	char key[200];	    /* what the row is about: a SeriesInstanceUID, a place */
	long instance;	    /* 0: not fixed yet (store_rc_row_fix fixes it) */
	char origin[8];	    /* "fiona", or "redcap" for a request written there */
	char body_hash[33]; /* of the fields last written successfully ("" none) */
	char error[200];    /* a request that could not be carried out: why */
	int64_t study;
};
/* Fills r (by target, record, event, instrument, key); -ENOENT if there is no such row. */
int store_rc_row_get(struct store *s, struct store_rc_row *r);
/* Fixes r's instance if it has none: above every instance of its form in the catalog and
 * above floor (what REDCap holds), kept at once. */
int store_rc_row_fix(struct store *s, struct store_rc_row *r, long floor);
/* The fields written successfully for the row now hash to body_hash. */
int store_rc_row_sent(struct store *s, const struct store_rc_row *r);
/* The REDCap-side transfer requests of a study (origin "redcap"), new array. */
int store_rc_rows_of(struct store *s, int64_t study, const char *target, const char *instrument,
		     struct store_rc_row **out, size_t *n);

/* Small named values of the sync (last error, ban, poll times, REDCap-side project
 * settings) kept in the catalog, so `fiona status` in another process sees them. */
int store_rc_state_set(struct store *s, const char *key, const char *value);
/* -ENOENT when unset; at: when it was set. */
int store_rc_state_get(struct store *s, const char *key, char *out, size_t cap, int64_t *at);

/* What REDCap adds to a configured project (docs/redcap.md "Precedence"): events by their
 * unique names, participants, coupling rows, routing rules. Each call replaces what REDCap
 * gave before (rows of source 'redcap'), notes STORE_CHG_PARTICIPANTS and logs a row it
 * refuses by key, never by patient data. Returns how many rows were refused. */
int store_rc_events_set(struct store *s, const char *project, char *const *events,
			char *const *labels, size_t n);
int store_rc_participants_add(struct store *s, const char *project, char *const *ids, size_t n);
struct store_rc_coupling {
	char project[32], key[65], participant[65], event[65];
};
int store_rc_coupling_set(struct store *s, const struct store_rc_coupling *rows, size_t n);
struct store_rc_route {
	char project[32], key[32];
	char patient_id[256], patient_name[256], calling_aet[256], called_aet[256]; /* "" any */
	char event[65];
};
int store_rc_routing_set(struct store *s, const struct store_rc_route *rows, size_t n);
/* A transfer request written in REDCap (Incoming's transfers row `instance` of the study
 * with record id study_uid): carried out like an mv, recorded as asked by requested_by;
 * the outcome goes back into that row. A request already known does nothing; one for a
 * study that has not arrived waits as a coupling row. 0, or -errno with err saying why the
 * request was refused (kept with the row and written back). refused set: refused with that
 * reason without trying (the project is not active in REDCap). */
struct store_rc_request {
	const char *study_uid, *project, *participant, *event, *requested_by;
	long instance;
	const char *refused;
};
int store_rc_request(struct store *s, const struct store_rc_request *q, struct fiona_err *err);
/* The events REDCap gave a project (new NULL-terminated array, store_strv_free()). */
int store_rc_events(struct store *s, const char *project, char ***out);

/* AutoID: the participant ID automatic assignment gave a patient in project, looked up by
 * a keyed hash of the PatientID (never the value). For `fiona status` and tests. */
long store_autoid_count(struct store *s, const char *project);

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
/*
 * classify_series() of a series given as files: paths[0] is the representative, all n are
 * the series-level facts (count and every instance). Files are mapped one after the
 * other for the call only. On failure *bad is the index of the file at fault (n when no
 * file is), for the caller to name it; err has the reason (offset, tag; never a value).
 */
int classify_series_files(const struct classify_rules *r, char *const *paths, size_t n, char *out,
			  size_t cap, size_t *bad, struct fiona_err *err);
/* The rules cfg->classify_rules names, or the built-in ones when it names none. Returns a
 * new object (free with classify_rules_free()); errors as classify_rules_load(). */
int store_classify_rules_load(const struct fiona_config *cfg, struct classify_rules **out,
			      struct fiona_err *err);
/*
 * Labels every series of a study with r and keeps the labels in the catalog (series.labels,
 * shown in study.json and .status); call it when a study has arrived (or again after new
 * series or new rules). Reads the objects without holding the catalog lock. A series whose
 * objects cannot be read keeps its labels and is logged. Returns the number of series
 * labelled, or a negative errno if the catalog failed. Thread safe.
 */
int store_study_classify(struct store *s, const struct classify_rules *r, int64_t study_id);
/* From now on, every study that arrives is labelled with r (borrowed: keep it until the
 * store is closed). NULL turns classification at arrival off. */
void store_set_classify_rules(struct store *s, const struct classify_rules *r);
/* fiona's built-in default rules (T1, T2, FLAIR, DWI/DTI, localizer, CT, SC, ...). Static
 * string; classify_rules_parse() accepts it. */
const char *classify_default_rules_json(void);

#endif
