/* Private to store/: the layout of struct store and the catalog helpers. */
#ifndef FIONA_STORE_INT_H
#define FIONA_STORE_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "store/db.h"
#include "store/store.h"

/* fault.c: injected failures for tests (FIONA_FAULT); off otherwise */
enum fault_point {
	FAULT_OBJ_WRITE,
	FAULT_OBJ_RENAME,
	FAULT_SYNCFS,
	FAULT_DB_WRITE,
	FAULT_DB_SYNC,
	FAULT_S3_COMMIT,
	FAULT_N
};
struct store_fault {
	bool on, sticky, vfs_registered;
	bool armed; /* set once the store is open */
	int point, err;
	long nth;
	atomic_long seen;
	struct fault_shim *shim; /* the SQLite VFS of db- points (fault.c; NULL: none yet) */
};

/* A derived object put and relied on, not yet named or dropped (see struct store). */
struct blob_hold {
	char hash[33];
	unsigned refs;
};

struct store {
	const struct fiona_config *cfg; /* borrowed */
	struct fiona_log *log;		/* borrowed */
	char objects[4096];		/* <data_dir>/objects */
	char tmp[4096];			/* <data_dir>/tmp: same filesystem as objects */
	struct db *db;
	pthread_mutex_t lock; /* guards db and pending: one statement sequence at a time */
	/* A second connection for the listings the mount and status read, so that reading
	 * never waits behind a writer's fsync (WAL readers see the last commit). */
	struct db *rdb;
	pthread_mutex_t rlock;		    /* guards rdb */
	const struct classify_rules *rules; /* borrowed; NULL: arrival does not classify */
	struct cat_stmt_slot {
		const char *sql; /* the literal it was prepared from (compared by address) */
		struct db_stmt *st;
	} stmts[64]; /* prepared statements of the writer connection (under lock) */
	unsigned stmt_next;
	/* group commit (ingest.c): instances waiting for the next durable batch */
	int objects_fd;		 /* <data_dir>/objects, for syncfs */
	pthread_mutex_t gc_lock; /* guards gc_* ; taken before lock */
	pthread_cond_t gc_cond;	 /* a batch was committed */
	struct ingest_job *gc_head, **gc_tail;
	bool gc_busy; /* a leader is committing a batch */
	/* the change feed (changes.c); lock order: lock, rlock, feed_lock */
	struct store_change *pending; /* this transaction's records (under lock) */
	size_t n_pending, cap_pending;
	bool feed_lost;		   /* a pending record could not be kept (under lock) */
	pthread_mutex_t feed_lock; /* guards local_commits */
	pthread_cond_t feed_cond;  /* this process committed noted changes */
	uint64_t local_commits;
	int64_t feed_pruned_at;
	char (*pixel_fp)[33]; /* per configured project: its pixel settings (pixels.c) */
	bool rc_on;	      /* REDCap is configured: changes of arrived studies fill rc_outbox */
	struct deid_secret secret; /* keyed hashes of PatientIDs (AutoID); len 0: none */
	/* the transfer queue's leases (transfers.c): "<gateway>/<start time>." and a count */
	char gateway[64], lease_prefix[96];
	uint64_t lease_count; /* under lock */
	int64_t lease_s;      /* how long a lease lasts */
	/* once-per-site jobs this gateway holds (lead.c; under lock) */
	int64_t lead_until[STORE_JOB_N];    /* held until then (0: not held) */
	int64_t lead_next_try[STORE_JOB_N]; /* not held: asked again from then */
	struct store_fault fault;
	struct obj_s3 *s3; /* objects on S3 (objstore_s3.c); NULL: local files only */
	/* derived objects put (store_blob_put) and not yet named or dropped (nifti.c; under
	 * lock): a put that found the same bytes kept already relies on that file, so no
	 * removal of another run's unnamed objects may take it meanwhile */
	struct blob_hold *holds;
	size_t n_holds, cap_holds;
};

int fault_init(struct store *s, struct fiona_err *err);
/* 0, or the injected -errno when this is the failing time at point p. */
int fault_hit(struct store *s, enum fault_point p);
/* The VFS name the catalog is opened with (NULL: SQLite's own). */
const char *fault_vfs(struct store *s);
void fault_release(struct store *s);

/* catalog.c */
int cat_open(struct store *s, const char *path, struct fiona_err *err);
void cat_close(struct store *s);
int cat_exec(struct store *s, const char *sql);
int cat_prepare(struct store *s, const char *sql, struct db_stmt **st);
/* A cached prepared statement of the writer connection for the string literal sql (under
 * s->lock): reset and unbound, owned by the cache (never finalize it). */
int cat_stmt(struct store *s, const char *sql, struct db_stmt **st);
void cat_stmts_release(struct store *s);
/* One statement; fmt letters: 't' const char *, 'i' int64_t. 0 or negative errno. */
int cat_run(struct store *s, const char *sql, const char *fmt, ...);
int cat_errno(int sqlite_rc);
int cat_schema_version(void);

/* query.c: row helpers for every catalog listing */
/* Prepares sql on the reader connection (caller holds s->rlock). */
int cat_prepare_read(struct store *s, const char *sql, struct db_stmt **st);
/* Copies column i as text ("" for NULL) into out. */
void store_col_text(struct db_stmt *st, int i, char *out, size_t cap);
/* Binds arguments given as a format ('t' const char *, 'i' int64_t) to st. */
int cat_bind_va(struct db_stmt *st, const char *fmt, va_list ap);
typedef void (*store_row_fill)(struct db_stmt *st, void *row);
/* Runs sql on the reader connection with arguments as in cat_run and fills a new array
 * (free()) of elem-size rows, each filled by fill. *n rows; 0 or a negative errno. */
int store_read_rows(struct store *s, const char *sql, size_t elem, store_row_fill fill, void **out,
		    size_t *n, const char *fmt, ...);
/* store_row_fill of one int64 column (ids). */
void store_id_fill(struct db_stmt *st, void *row);
/* Grows *arr (of elem-size items) to hold one more; returns the new zeroed slot (and
 * counts it in *n), or NULL when out of memory (*arr is then unchanged). */
void *store_grow(void **arr, size_t *n, size_t *cap, size_t elem);

/* ingest.c */
struct ingest_job;
void ingest_init(struct store *s);
void ingest_release(struct store *s);

/* objstore.c */
/* XXH3-128 of n bytes at p as 32 hex digits: the object's name. */
void obj_hash(const uint8_t *p, size_t n, char out[33]);
/* Puts the n bytes at p (the content of src_path) in place as object hash: move renames
 * src_path (receiver temporaries), otherwise the bytes are written to a temporary first
 * (imports). Not yet durable: the group commit makes a whole batch durable with one
 * syncfs before the catalog names any of it. *fresh (may be NULL) is set when this call
 * made the file (it did not exist). 0 or a negative errno. */
int obj_put(struct store *s, const char *src_path, const uint8_t *p, size_t n, bool move,
	    const char hash[33], bool *fresh);
/* The object file of hash exists (checked at commit: a file removed by
 * obj_drop_uncataloged after this instance deduplicated against it is never named). */
bool obj_present(const struct store *s, const char hash[33]);
/* Removes a file obj_put made fresh whose instance was refused, unless the catalog names
 * it by now (another instance of the same bytes committed first). Takes s->lock. */
void obj_drop_uncataloged(struct store *s, const char hash[33]);
void obj_clean_tmp(struct store *s);
/* The local file of object hash, whether it exists or not (no fetch). */
int obj_local_path(const struct store *s, const char *hash, char *out, size_t cap);

/* nifti.c: the local file of derived object hash, whether it exists or not (no fetch). */
int blob_local_path(const struct store *s, const char *hash, char *out, size_t cap);

/* objstore_s3.c: objects on S3 ("objects": "s3:ENDPOINT/BUCKET"; docs/scale-out.md) */
struct obj_s3;
/* What an object is: an instance's (objects/, named by `objects` rows) or a derived one
 * (derived/, store/nifti.c's outputs, named by `nifti_files` rows). */
enum obj_kind { OBJ_DICOM, OBJ_DERIVED, OBJ_KINDS };
/* Sets up s->s3 (the key file, a pool of clients) when the objects are on S3; 0 and
 * nothing done otherwise. store_close releases it (obj_s3_close). */
int obj_s3_open(struct store *s, struct fiona_err *err);
void obj_s3_close(struct store *s);
bool obj_on_s3(const struct store *s);
/* objects/<hh>/<hash>.dcm, derived/<hh>/<hash> */
void obj_s3_key(enum obj_kind k, const char hash[33], char out[48]);
/* Puts the n bytes of object hash on S3 (a key already there is a success) before the
 * catalog names it. On success the key is in flight, safe from the sweep, until
 * obj_s3_settled(); on failure it is not. 0, or -errno (never -EINVAL: the receiver
 * answers Out of Resources) with the key and reason logged and in err. */
int obj_s3_put(struct store *s, enum obj_kind k, const char hash[33], const uint8_t *p, size_t n,
	       struct fiona_err *err);
/* After the commit of a put's instance, with several gateways on the catalog: the key is
 * checked again and put again if another gateway's sweep removed it meanwhile (0 at once
 * otherwise). 0 or -errno, logged. */
int obj_s3_confirm(struct store *s, enum obj_kind k, const char hash[33], const uint8_t *p,
		   size_t n, struct fiona_err *err);
/* The instance (or NIfTI run) of a put committed or failed. */
void obj_s3_settled(struct store *s, const char hash[33]);
/* Fetches object hash into its local file path (1 MiB ranged GETs into a temporary,
 * checked against its name, renamed into place). 0, or -EIO with a log line. */
int obj_s3_fetch(struct store *s, enum obj_kind k, const char hash[33], const char *path);
/* Housekeeping's thread: deletes keys no row named for grace_seconds (at most every
 * sweep period); evicts least recently used local copies above cache_mb. The number
 * removed, or -errno. */
int obj_s3_sweep(struct store *s, int64_t now);
int obj_s3_evict(struct store *s, int64_t now);
/* Notes a read of the local copy rel (under fd_dir, or AT_FDCWD) for the eviction's LRU
 * order. */
struct stat;
void obj_s3_touch(int fd_dir, const char *rel, const struct stat *st);

/* assign.c: under s->lock. The project is configured, the participant matches its pattern
 * or is known, the event is one of its own or one REDCap gave it (NULLs: not checked). */
int assign_validate(struct store *s, const char *project, const char *participant,
		    const char *event, const struct config_project **pp, struct fiona_err *err);
/* autoid.c: under s->lock inside arrival's transaction. A study addressed to a project's
 * AutoID AE title is assigned with the patient's generated ID (*done set). */
int autoid_try(struct store *s, int64_t study, const char *called, const char *patient_id,
	       bool *done);
/* assign.c: under s->lock, inside a transaction */
int assign_locked(struct store *s, int64_t study_id, const char *project, const char *participant,
		  const char *event, uid_t who, const char *how, struct fiona_err *err);

/* changes.c: the change feed. note_* record a change of the transaction in progress
 * (under s->lock); cat_commit writes them as rows of that transaction. */
int feed_init(struct store *s);
void feed_release(struct store *s);
/* Keeps the newest rows of the feed only (called now and then by arrival). */
int feed_prune(struct store *s);
void note_at(struct store *s, int64_t study, unsigned what, const char *project,
	     const char *participant, const char *event);
/* Where a study is assigned ("" strings: quarantine). Under s->lock. */
int cat_study_place(struct store *s, int64_t study, char project[32], char participant[65],
		    char event[65]);
/* note_at with the study's current assignment (quarantine when it has none). */
void note_study(struct store *s, int64_t study, unsigned what);
/* With rc 0: writes the noted changes and COMMITs (0); otherwise, or when that fails,
 * ROLLBACK and the error. Every transaction that notes changes ends here. */
int cat_commit(struct store *s, int rc);

/* pixels.c: candidates for burned-in text and their kept outcomes */
int pixels_init(struct store *s, struct fiona_err *err);
enum store_px pixel_disposition(const struct config_project *p, const char *sop_class,
				const char *modality, bool annotation_yes, const char *labels);
struct pixel_todo {
	int64_t instance;
	char hash[33], sop_class[65], modality[17], labels[128];
	bool annotation_yes;
};
/* Instances of a study without an outcome under fp (new array, free()). */
int pixel_todo_list(struct store *s, int64_t study, const char *fp, struct pixel_todo **out,
		    size_t *n);
struct pixel_outcome {
	int64_t instance;
	const char *state; /* "cleaned", "skipped", "held" */
	char hash[33];	   /* the cleaned copy ("" for none) */
	int64_t size, regions;
	char reason[200]; /* skipped or held: why, without patient data */
};
/* Every assigned study (new array, free()). */
int pixel_assigned_studies(struct store *s, int64_t **out, size_t *n);
/* Keeps one outcome (and the cleaned copy's object row); notes STORE_CHG_PIXELS. */
int pixel_put(struct store *s, int64_t study, const char *fp, const struct pixel_outcome *o);

/* transfers.c: the transfer queue in the catalog */
struct xfer {
	int64_t instance, study;
	char project[32], participant[65], event[65], destination[64];
	char hash[33], sop_class[65], ts[65], study_uid[65];
	long attempts;
	char lease[128]; /* the token the row was taken with (xfer_record checks it) */
	bool cleaned;	 /* hash is the cleaned copy of the pixels (forward.c sets it) */
};
/* WAIT: a candidate for burned-in text not cleaned yet (tried again at next_try, not
 * counted as an attempt); HELD and DROPPED: never sent, error says why. */
enum xfer_state { XFER_SENT, XFER_RETRY, XFER_GIVE_UP, XFER_WAIT, XFER_HELD, XFER_DROPPED };
struct xfer_result {
	enum xfer_state state;
	char error[300];
	int64_t next_try;
};
struct xfer_verify {
	int64_t study;
	char project[32], destination[64], study_uid[65];
	long sent;
};
int xfer_reset_sending(struct store *s);
/* Up to limit transfers due at now, marked 'sending'. New array (free()). */
int xfer_take_due(struct store *s, int64_t now, size_t limit, struct xfer **out, size_t *n);
/* Records the outcomes r of the transfers x (those at idx[0..n), or the first n when idx
 * is NULL) in one transaction, each only while the row still carries its lease. */
int xfer_record(struct store *s, const struct xfer *x, const struct xfer_result *r,
		const size_t *idx, size_t n);
/* Extends a lease still held by lease_seconds from now (between the groups of a round and
 * while a group is sent). Returns how many rows still carry it (0: it lapsed and another
 * gateway took them over), or a negative errno. */
int xfer_lease_renew(struct store *s, const char *lease);
/* Studies whose transfers to a project are all sent and not yet verified. */
int xfer_to_verify(struct store *s, struct xfer_verify **out, size_t *n);
struct xfer_series {
	char series_uid[65];
	long sent; /* instances sent or verified */
};
/* The series of a study sent to a project, with their counts. New array (free()). */
int xfer_series_of(struct store *s, int64_t study, const char *project, struct xfer_series **out,
		   size_t *n);
/* Queues the sent instances of one series again (the destination holds fewer). */
int xfer_requeue_series(struct store *s, int64_t study, const char *project,
			const char *series_uid);
/* count >= sent: mark verified; otherwise queue the study's sent instances again. */
int xfer_verified(struct store *s, const struct xfer_verify *v, long count);

#endif
