/* Private to fs/: the tree snapshot, the mount's state, and what ops.c needs of both. */
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
	FS_PROJECTS,	/* projects/ or export/ */
	FS_PROJECT,	/* projects/<P>/ */
	FS_PARTICIPANT, /* projects/<P>/<ID>/ */
	FS_EVENT,	/* projects/<P>/<ID>/<EVENT>/ */
	FS_PLAIN_DIR,	/* series and modality folders */
	FS_ORIGINAL,	/* quarantine .dcm: the object's bytes */
	FS_DEID,	/* projects/ and export/ .dcm: a plan over the object */
	FS_TEXT,	/* study.json, .project.json, .status */
	FS_COUPLING,	/* .coupling.csv: readable, append adds rows */
};

/* One project as the mount sees it: its group and its two profiles. */
struct fs_project {
	const struct config_project *cfg;
	gid_t gid;
	struct deid_profile *profile, *export_profile; /* owned */
};

struct fs_node {
	uint64_t ino, parent;
	char name[FS_NAME_MAX + 16]; /* room for a uniqueness suffix */
	enum fs_role role;
	mode_t mode; /* with S_IFDIR / S_IFREG */
	gid_t gid;
	uint64_t size;		      /* files: exact size (FS_DEID: computed at build) */
	size_t *kids, nkids, capkids; /* dirs: indexes of their children, owned */
	struct fs_nameset *names;     /* while building: names taken in this dir */
	int64_t study_id;	      /* QSTUDY, EVENT's studies are found through files */
	int64_t instance_id;
	char hash[33];
	const struct fs_project *project; /* PROJECT and below */
	bool export_tree;
	char participant[65], event[65];
	char *text; /* FS_TEXT/FS_COUPLING content, owned by the tree */
};

/* An immutable snapshot of the whole tree, built from the catalog. */
struct fs_tree {
	struct fs_node *nodes; /* nodes[0] is the root */
	size_t n, cap;
	size_t *by_ino; /* open-addressing table: ino -> node index + 1 (0 empty) */
	size_t ino_cap;
	uint64_t generation;
	atomic_int refs;
};

struct fs_inval {
	uint64_t parent;
	char name[FS_NAME_MAX + 16]; /* "" : invalidate the inode's attributes and data */
};

/* Sizes of de-identified files survive snapshots: (inode, instance) -> size. */
struct fs_size_entry {
	uint64_t ino;
	int64_t instance;
	uint64_t size;
};

struct fs_grave {
	struct fs_grave *next;
	void *p;
	void (*fn)(void *);
	double at;
};

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
	pthread_mutex_t tree_lock;  /* guards tree (the pointer) */
	pthread_mutex_t build_lock; /* one builder at a time (the size cache is theirs) */
	struct fs_tree *tree;
	atomic_bool force_rebuild;
	pthread_mutex_t inval_lock; /* guards the invalidation queue */
	pthread_cond_t inval_cond;
	struct fs_inval *inval;
	size_t n_inval, cap_inval;
	bool stopping;
	struct store_audit_row *audit; /* reads waiting to be written (guarded by inval_lock) */
	struct fs_grave *grave;	       /* released handles to free later (inval_lock) */
	size_t n_audit, cap_audit;
	pthread_key_t read_buf;	     /* per-thread read buffer (deid reads) */
	struct fs_size_entry *sizes; /* open addressing; touched only by builders (build_lock) */
	size_t sizes_cap, sizes_n;
};

/* tree.c */
int fs_tree_build(struct fs_mount *m, struct fs_tree **out);
void fs_tree_put(struct fs_tree *t);
/* Current snapshot; release with fs_tree_put(). Built here only when there is none yet or
 * after the mount's own change (force_rebuild). */
struct fs_tree *fs_tree_get(struct fs_mount *m);
/* A new snapshot if the catalog changed since the current one (the notifier thread). */
void fs_tree_refresh_if_changed(struct fs_mount *m);
const struct fs_node *fs_tree_find(const struct fs_tree *t, uint64_t ino);
const struct fs_node *fs_tree_child(const struct fs_tree *t, const struct fs_node *dir,
				    const char *name);
/* Builds the plan of an FS_DEID node (new plan: free with deid_plan_free()). */
int fs_deid_plan(struct fs_mount *m, const struct fs_node *n, const uint8_t *p, size_t len,
		 struct deid_plan **out);

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
/* mount.c: asks the notifier thread to drop a kernel entry ("" name: the inode). */
void fs_inval_queue(struct fs_mount *m, uint64_t parent, const char *name);
/* mount.c: frees p with fn after a few seconds, from the notifier thread. */
void fs_free_later(struct fs_mount *m, void *p, void (*fn)(void *));
/* mount.c: an audit row, written by the notifier thread within a second (batched, so a
 * `cp -r` of a project costs one fsync per second, not one per file). */
void fs_audit_queue(struct fs_mount *m, uid_t who, const char *action, const char *detail);

#endif
