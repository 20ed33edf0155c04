/*
 * Private to fs/: nodes the kernel knows, folder listings built from indexed catalog
 * queries, the preparer of de-identified headers, and the mount's state (docs/mount.md).
 */
#ifndef FIONA_FS_INT_H
#define FIONA_FS_INT_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>

#include "anon/anon.h"
#include "fs/fs.h"

enum fs_role {
	FS_ROOT,
	FS_QUARANTINE,	/* quarantine/ */
	FS_QSTUDY,	/* quarantine/<study>/ */
	FS_QSERIES,	/* quarantine/<study>/<series>/ */
	FS_PROJECTS,	/* projects/ or export/ */
	FS_PROJECT,	/* projects/<P>/ */
	FS_PARTICIPANT, /* projects/<P>/<ID>/ */
	FS_EVENT,	/* projects/<P>/<ID>/<EVENT>/ */
	FS_MODALITY,	/* projects/<P>/<ID>/<EVENT>/<Modality>/ */
	FS_SERIES,	/* .../<Modality>/<SeriesNumber>_<Modality>/ */
	FS_ORIGINAL,	/* quarantine .dcm: the object's bytes */
	FS_DEID,	/* projects/ and export/ .dcm: a kept plan over the object */
	FS_TEXT,	/* study.json, .project.json, .status */
	FS_COUPLING,	/* .coupling.csv: readable, append adds rows */
	FS_ZIP,		/* export/<P>/<ID>/<EVENT>.zip: composed from kept sizes and CRCs */
	FS_PZIP,	/* export/<P>/<ID>.zip: every event; laid out at lookup, not listing */
	FS_NIFTI,	/* export/<P>/<ID>/<EVENT>/nifti/ */
	FS_NIFTI_FILE,	/* .../nifti/<file>: a kept derived object (id: its nifti_files row) */
};

/* One project as the mount sees it: its group, its two profiles and their fingerprints
 * (the key under which the catalog keeps de-identified headers: profile, secret and
 * engine version, so a change of any of them makes every header be computed again). */
struct fs_extra_events {      /* events.c */
	pthread_mutex_t lock; /* writers; readers load n first */
	atomic_size_t n;
	char *name[256];
};
struct fs_project {
	const struct config_project *cfg;
	struct fs_extra_events *extra; /* REDCap's events beyond the configuration's (owned) */
	gid_t gid;
	struct deid_profile *profile, *export_profile; /* owned */
	char fp[33], fp_export[33];
};

/* Where a node below projects/ or export/ is: shared by a folder and everything below it
 * under a reference count (so a node carries a pointer, not copies of names). */
struct fs_place {
	atomic_int refs;
	const struct fs_project *project;
	bool export_tree;
	int event;	      /* the project's event (fs_project_event); -1 above event folders */
	char participant[65]; /* "" above participant folders */
};

/*
 * A node the kernel knows: created by a lookup, counted by lookups and dropped by FORGET,
 * so the table holds what the kernel caches, not the catalog. Everything a request on the
 * inode needs is here or in its parent's listing. Immutable but for nlookup and size
 * (both under the mount's lock).
 */
struct fs_node {
	uint64_t ino, parent;
	uint64_t nlookup;
	struct fs_node *next; /* hash chain */
	enum fs_role role;
	mode_t mode; /* with S_IFDIR / S_IFREG */
	gid_t gid;
	uint64_t size;
	int64_t id;		/* QSTUDY: study; QSERIES, SERIES: series; files: instance */
	int64_t study;		/* QSERIES, SERIES and files: their study */
	struct fs_place *place; /* PROJECT and below: one reference */
	char name[];
};

/* One child in a listing. Names and texts live in the listing's arena. */
struct fs_entry {
	uint64_t ino;
	uint32_t name_off, text_off, text_len; /* text: FS_TEXT content, participant IDs */
	enum fs_role role;
	mode_t mode;
	gid_t gid;
	int event; /* FS_EVENT entries */
	uint64_t size;
	int64_t id, study;
	/* FS_PZIP: size and id laid out at a lookup (under the mount's lock), valid while the
	 * participant's scope slot and the epoch are still these */
	bool laid;
	uint64_t laid_gen, laid_epoch;
};

/*
 * A folder's listing, built by indexed catalog queries on that folder only and cached
 * until the change feed says its scope changed (or valid_until passes). Shared under a
 * reference count: the cache holds one, every handler using it another.
 */
struct fs_dir {
	uint64_t ino;
	uint32_t slot;	    /* scope generation slot it depends on (0: static) */
	uint64_t gen;	    /* that slot's value when the build began */
	uint64_t epoch;	    /* the mount's epoch then */
	double valid_until; /* monotonic seconds; 0: no time limit */
	struct fs_entry *e;
	size_t n, cap;
	struct buf arena;
	uint32_t *idx; /* open addressing, name hash -> entry index + 1 */
	size_t idx_cap;
	atomic_int refs;
	bool cached;
	struct fs_dir *hnext, *prev, *lnext; /* cache hash chain and LRU */
};

#define FS_SLOTS 65536 /* scope generation slots: a shared slot only costs a rebuild */

struct fs_inval {
	uint64_t parent;
	char name[FS_NAME_MAX + 16]; /* "" : invalidate the inode's attributes and data */
};

struct fs_prepare; /* prepare.c */
struct fs_review;  /* review.c */
struct fs_nifti;   /* nifti.c */

struct fs_mount {
	const struct fiona_config *cfg;
	struct store *store;
	struct fiona_log *log;
	struct deid_secret secret;
	bool have_secret;
	struct fs_project *projects;
	size_t n_projects;
	gid_t admin_gid;
	time_t started; /* every node's mtime: the tree has no history of its own */
	struct fuse_session *se;
	pthread_t loop, notifier;
	bool loop_started, notifier_started;

	/* lock guards the node table, the listing cache and its LRU. Never held across a
	 * catalog query or a reply. Lock order: lock, then feed_lock. */
	pthread_mutex_t lock;
	struct fs_node **nodes;
	size_t nodes_cap, n_nodes;
	struct fs_dir **dirs; /* cache by folder inode */
	size_t dirs_cap, n_dirs, dir_entries, dir_entries_max;
	struct fs_dir *lru_head, *lru_tail;

	/* the change feed: records after cursor bump scope slots (feed_lock) */
	pthread_mutex_t feed_lock;
	uint64_t cursor;
	atomic_uint_fast64_t hint;  /* store_change_hint when the feed was last read */
	atomic_uint_fast64_t epoch; /* bumped when the feed says forget everything */
	atomic_uint_fast64_t *slots;

	pthread_mutex_t inval_lock; /* guards the invalidation and audit queues */
	pthread_cond_t inval_cond;
	struct fs_inval *inval;
	size_t n_inval, cap_inval;
	bool stopping;
	struct store_audit_row *audit; /* reads waiting to be written */
	size_t n_audit, cap_audit;
	pthread_key_t read_buf; /* per-thread reply buffer */
	struct fs_prepare *prep;
	struct fs_fetch *fetch; /* reads waiting for an object from S3 (fetch.c); NULL:
				 * the objects are local files */
	struct fs_review *review;
	struct fs_nifti *nifti;
};

/* events.c: a project's events by index: the configuration's, then REDCap's as met */
const char *fs_project_event(const struct fs_project *p, int i);
/* The index of event name (interned when REDCap gave it; the caller knows the name is a
 * valid event of the project, e.g. from its assignments). -ENOSPC past 256 extra ones. */
int fs_project_event_index(const struct fs_project *p, const char *name);
int fs_project_events_init(struct fs_project *p);
void fs_project_events_release(struct fs_project *p);

/* nodes.c */
/* A child's inode: a hash of its name and (for catalog objects) id, seeded with the
 * parent's inode: a function of the path and of what it shows, stable across restarts. */
uint64_t fs_ino_of(uint64_t parent, const char *name, int64_t id);
int fs_nodes_init(struct fs_mount *m);
void fs_nodes_release(struct fs_mount *m);
/* The node of ino (caller holds m->lock), or NULL. */
struct fs_node *fs_node_find(struct fs_mount *m, uint64_t ino);
/* The node of entry e of dir's listing (parent: its node), created or refreshed, with one
 * more kernel reference when counted. Caller holds m->lock. NULL when out of memory. */
struct fs_node *fs_node_ref(struct fs_mount *m, const struct fs_node *parent,
			    const struct fs_dir *dir, const struct fs_entry *e, bool counted);
/* Queues the kernel entries of every file node of study to be dropped (a re-sent
 * instance: the next lookup finds its new inode instead of the cached one). A walk over
 * the nodes the kernel holds, only when a study's instance got other bytes (rare); the
 * caller holds m->lock. study 0: every file node. Returns how many. */
size_t fs_nodes_inval_study(struct fs_mount *m, int64_t study);
/* FORGET: drops n kernel references; the node goes when none is left. */
void fs_node_forget(struct fs_mount *m, uint64_t ino, uint64_t n);
struct fs_place *fs_place_new(const struct fs_project *p, bool export_tree, int event,
			      const char *participant);
void fs_place_put(struct fs_place *pl);
/* Adds the permanent nodes (root, quarantine/, projects/, export/, the projects). */
int fs_nodes_static(struct fs_mount *m);

/* dirs.c */
int fs_dirs_init(struct fs_mount *m);
void fs_dirs_release(struct fs_mount *m);
/* Reads the change feed and bumps the slots of the scopes it names; cheap when nothing
 * changed. Every handler calls it first, so a request sees every committed change. */
void fs_feed_pump(struct fs_mount *m);
/* The listing of folder node n: cached and valid, or built now (indexed queries on that
 * folder only). Returns a reference (fs_dir_put()) or NULL with *err set (-errno). */
struct fs_dir *fs_dir_get(struct fs_mount *m, const struct fs_node *n, int *err);
void fs_dir_put(struct fs_dir *d);
const struct fs_entry *fs_dir_find(const struct fs_dir *d, const char *name);
/* fs_dir_find while a listing is being built (before its index exists). */
const struct fs_entry *fs_dir_find_linear(const struct fs_dir *d, const char *name);
static inline const char *fs_entry_name(const struct fs_dir *d, const struct fs_entry *e)
{
	return (const char *)d->arena.data + e->name_off;
}
/* Listing construction (build.c uses these). */
int fs_dir_add(struct fs_dir *d, struct fs_nameset *names, const char *name, enum fs_role role,
	       mode_t mode, gid_t gid, int64_t id, struct fs_entry **out);
int fs_dir_text(struct fs_dir *d, struct fs_entry *e, const char *text, size_t len);
/* Makes a file entry's inode depend on which version of the instance it shows (its
 * object's hash), so a re-sent instance with other bytes is a new inode: the kernel never
 * serves the earlier version's cached pages (keep_cache) or size for it. */
void fs_entry_version(const struct fs_dir *d, struct fs_entry *e, uint64_t version);
/* The scope slot of a listing: kind 'Q' quarantine, 'S' a study, 'P' a project, 'A' a
 * participant, 'E' an event (NULL strings: not part of the key). */
uint32_t fs_scope_slot(char kind, int64_t study, const char *project, const char *participant,
		       const char *event);

/* build.c: fills d with the children of folder node n; may set d->valid_until. */
int fs_build(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d);
uint32_t fs_build_slot(const struct fs_mount *m, const struct fs_node *n);

/* text.c: the small generated files (new strings, free()) */
char *fs_text_study_json(const struct fs_mount *m, int64_t study);
char *fs_text_project_json(const struct fs_project *p);
/* The project's kept .review.tsv under pl's profile (the header line alone while nothing
 * was merged yet); NULL when out of memory. */
char *fs_text_review(struct fs_mount *m, const struct fs_place *pl);
/* Appends one study's .status lines to b; pl: the event folder's place (which profile). */
int fs_text_status(struct fs_mount *m, const struct fs_place *pl, int64_t study, struct buf *b);

/* prepare.c: de-identified headers computed in the background and kept in the catalog */
/* fetch.c: reads whose object must come from S3 first, off the request threads. */
struct fs_fh;
int fs_fetch_start(struct fs_mount *m);
void fs_fetch_stop(struct fs_mount *m); /* before the session is unmounted */
void fs_fetch_free(struct fs_mount *m); /* after its loop ended */
/* 0: queued (answered by a fetch thread); else the caller serves the read itself */
int fs_fetch_queue(struct fs_mount *m, fuse_req_t req, struct fs_fh *fh, size_t size, off_t off);
/* ops.c: reads fh at off and replies (may wait for S3) */
void fs_read_reply(struct fs_mount *m, fuse_req_t req, struct fs_fh *fh, size_t size, off_t off);
int fs_prepare_start(struct fs_mount *m);
void fs_prepare_stop(struct fs_mount *m);
/* Asks for study to be prepared before anything else and waits up to seconds for it;
 * 0 once it is, -ETIMEDOUT otherwise. */
int fs_prepare_wait(struct fs_mount *m, int64_t study, double seconds);
/* Whether the preparer has header work waiting (background passes then yield to it). */
bool fs_prepare_busy(struct fs_mount *m);
/* The configured project named name, or NULL. */
const struct fs_project *fs_project_named(const struct fs_mount *m, const char *name);
/* The de-identified output of an assigned instance under fp: its object mapped and its
 * plan (the kept one, or built again when none is kept). 0 or -errno; release with
 * fs_output_close() (also after a failed open). */
struct fs_output {
	struct core_map map;
	struct deid_plan *plan;
	int64_t size; /* the kept size */
};
int fs_output_open(struct fs_mount *m, const struct fs_project *p, const char *fp,
		   const struct store_study *st, int64_t instance, struct fs_output *out);
void fs_output_close(struct fs_output *o);

/* review.c: the projects' .review.tsv, kept current in the background (docs/review.md) */
int fs_review_start(struct fs_mount *m);
void fs_review_stop(struct fs_mount *m);

/* The profile fingerprint a node under projects/ or export/ reads through. */
const char *fs_place_fp(const struct fs_place *pl);
/* The profile of that tree (leave_out, zip_layout, participant_rewrite). */
const struct deid_profile *fs_place_profile(const struct fs_place *pl);
/* Builds the plan of instance (bytes p/len of its object) for place: the slow path of an
 * open when no plan is kept (new plan: free with deid_plan_free()). */
int fs_deid_plan(struct fs_mount *m, const struct fs_place *pl, int64_t instance, bool cleaned,
		 const uint8_t *p, size_t len, struct deid_plan **out);

/* zip.c: a stored zip composed from its entries' kept sizes and CRCs (no byte of the
 * data is read to lay it out). */
struct fs_zip_file {
	uint32_t name_off;
	uint16_t name_len;
	uint32_t crc;
	uint64_t size, hdr; /* data bytes; offset of the local header (fs_zip_finish) */
	int64_t instance;   /* whose de-identified bytes the data are */
	int event;	    /* the project event the instance is at (-1: not set) */
};
struct fs_zip {
	struct fs_zip_file *f;
	size_t n, cap;
	struct buf names;
	struct buf tail;       /* central directory and end records (fs_zip_finish) */
	uint64_t cd_off, size; /* where the central directory starts; the zip's size */
	uint64_t lim32;	       /* sizes and offsets from here on need ZIP64 (0xFFFFFFFF) */
	uint32_t lim16;	       /* entry counts from here on need ZIP64 (0xFFFF) */
	int64_t id;	       /* hash of the layout and the instances: a new id, new content */
};
/* Returns 0 and a new, empty zip (free with fs_zip_free()) or -ENOMEM. */
int fs_zip_new(struct fs_zip **out);
void fs_zip_free(struct fs_zip *z);
/* Appends an entry (name: 1..1024 bytes, copied). 0, -ENAMETOOLONG or -ENOMEM. */
int fs_zip_add(struct fs_zip *z, const char *name, uint64_t size, uint32_t crc, int64_t instance);
/* Lays the entries out (offsets, central directory, end records, size, id); call once
 * after the last add, or again after changing lim32/lim16. 0 or -ENOMEM. */
int fs_zip_finish(struct fs_zip *z);
/* Reads len bytes of entry f's data at off into dst; returns how many (must be len) or
 * -errno. */
typedef ssize_t (*fs_zip_read_fn)(void *opaque, const struct fs_zip_file *f, uint64_t off,
				  void *dst, size_t len);
/* Copies up to len bytes of the zip from off into dst: headers composed, data through fn.
 * Returns the number of bytes (0 at or past the end) or -errno (-EIO when fn gives fewer
 * bytes than the entry's size promises). The zip is only read: threads may share it. */
ssize_t fs_zip_read(const struct fs_zip *z, uint64_t off, void *dst, size_t len, fs_zip_read_fn fn,
		    void *opaque);
/* build.c: a series folder of an event: its modality folder, its name and whether it is
 * prepared (every instance has a kept row, so its name is the final one). */
struct fs_series_dir {
	int64_t id, study;
	bool ready;
	char mod[FS_NAME_MAX + 1], name[FS_NAME_MAX + 16];
};
/* Every series folder of the studies at an event's place, in catalog order (new array):
 * named from what the de-identified files carry under the place's profile; series the
 * profile leaves out are not in it. */
int fs_event_layout(struct fs_mount *m, const struct fs_place *pl, struct fs_series_dir **out,
		    size_t *n);
/* zip_layout.c: the zip of the event folder at place pl (export tree) from the kept sizes
 * and CRCs, entries named by the profile's zip_layout ("<EVENT>/<Modality>/<series>/<file>"
 * by default, as the folders are). -EAGAIN while some file or series of it is not ready.
 * New zip: free with fs_zip_free(). */
int fs_zip_event(struct fs_mount *m, const struct fs_place *pl, struct fs_zip **out);
/* The zip of every event of the participant at pl (event -1): the event zips' entries
 * under "<ID>/" ("<ID>_" flat), ID as export/ names the participant folder. -EAGAIN while
 * some event is not ready, -ENOENT when the participant has no study. */
int fs_zip_participant(struct fs_mount *m, const struct fs_place *pl, struct fs_zip **out);
/* The participant folder name export/ shows for id: participant_rewrite, sanitized. */
void fs_name_participant(const struct fs_place *pl, const char *id, char *out, size_t cap);

/* nifti.c, nifti_view.c: the NIfTI of export event folders, made by dcm2niix in the
 * background and kept as derived objects (docs/export.md). */
#define FS_NIFTI_OPTIONS  "-b y -ba y -z i -f %f -d 0" /* what dcm2niix runs with */
#define FS_NIFTI_ARGV_MAX 24
/* The argv of a conversion: exe, FS_NIFTI_OPTIONS split at spaces (into words, of
 * sizeof(FS_NIFTI_OPTIONS)), "-o", out, in, NULL. Returns the argument count. */
size_t fs_nifti_argv(char *exe, char *out, char *in, char *words, char **argv);
int fs_nifti_start(struct fs_mount *m);
void fs_nifti_stop(struct fs_mount *m);
/* Asks the worker to look at study (a listing found a run missing); never waits. */
void fs_nifti_request(struct fs_mount *m, int64_t study);
/* dcm2niix's version ("" when it does not run: no NIfTI). Valid for the mount's life. */
const char *fs_nifti_version(const struct fs_mount *m);
/* One de-identified file of a series as dcm2niix gets it: named as the folder lists it. */
struct fs_nifti_input {
	int64_t instance;
	uint64_t size;
	uint32_t crc;
	char name[FS_NAME_MAX + 16];
};
/* The shown files of a series under profile fp, in folder order (new array, free());
 * -EAGAIN while some file has no kept header or CRC yet. */
int fs_nifti_inputs(struct fs_mount *m, const char *fp, int64_t series, struct fs_nifti_input **out,
		    size_t *n);
/* The key of a run: XXH3-128 (32 hex digits) of the version, FS_NIFTI_OPTIONS, the
 * profile fingerprint, the series folder name and each input's name, size and CRC. */
void fs_nifti_key(const char *version, const char *fp, const char *folder,
		  const struct fs_nifti_input *in, size_t n, char key[33]);
enum fs_nifti_state {
	FS_NIFTI_NOTREADY, /* a file's header or CRC is not kept yet (or no dcm2niix) */
	FS_NIFTI_TODO,	   /* no run for this input yet */
	FS_NIFTI_READY,
	FS_NIFTI_FAILED,
};
struct fs_nifti_series {
	int64_t series, study;
	char folder[FS_NAME_MAX + 16]; /* the series folder's name: dcm2niix's -f %f */
	enum fs_nifti_state state;
	char key[33];	  /* of the current input (TODO, READY, FAILED) */
	char reason[200]; /* FAILED: why */
};
/* The series of the event folder at pl (export tree) that have files, with their state
 * (new array, free()): indexed queries on that event's series only. */
int fs_nifti_event(struct fs_mount *m, const struct fs_place *pl, struct fs_nifti_series **out,
		   size_t *n);
/* The event's .status lines about nifti/ (counts, and each failed series with why). */
int fs_nifti_status(struct fs_mount *m, const struct fs_place *pl, struct buf *b);
/* Whether name is an output fiona keeps: ending in .nii.gz, .json, .bval or .bvec, and a
 * safe name as it is (fs_name_sanitize leaves it unchanged: not hidden, no '/' or control
 * bytes, at most FS_NAME_MAX bytes). */
bool fs_nifti_output_name(const char *name);

/* ops_write.c: the writes that mean something */
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
/* Adds the CSV rows in data (accession,participant,event) to project's coupling list;
 * bad rows are logged and skipped. Returns the number of rows added, or -EINVAL when
 * no row was good. */
int fs_coupling_rows(struct fs_mount *m, const struct fs_project *p, const char *data, size_t size);

/* ops.c */
extern const struct fuse_lowlevel_ops fs_ops;
/* The child of folder node parent named name, as a node with one more reference: the
 * kernel's for a LOOKUP reply; any other caller gives it back with fs_node_forget(m,
 * ino, 1) when done. -errno on failure (-ENOENT: no such child). */
int fs_lookup_child(struct fs_mount *m, uint64_t parent, const char *name, struct fs_node **out);
void fs_fill_attr(const struct fs_mount *m, const struct fs_node *n, struct stat *st);
/* The calling thread's reply buffer, at least size bytes (never shrunk). */
uint8_t *fs_thread_buffer(struct fs_mount *m, size_t size);
/* mount.c: asks the notifier thread to drop a kernel entry ("" name: the inode). */
void fs_inval_queue(struct fs_mount *m, uint64_t parent, const char *name);
/* mount.c: an audit row, written by the notifier thread within a second (batched, so a
 * `cp -r` of a project costs one fsync per second, not one per file). */
void fs_audit_queue(struct fs_mount *m, uid_t who, const char *action, const char *detail);

#endif
