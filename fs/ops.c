/*
 * ops: the FUSE low-level handlers. Every handler first reads the change feed
 * (fs_feed_pump: a counter compare when nothing changed), then works on the nodes the
 * kernel knows (nodes.c) and the listing of the one folder concerned (dirs.c): a lookup,
 * getattr or readdir costs index lookups on that folder, never a pass over the catalog.
 * The few writes that mean something (rename = assign, mkdir = new participant, appending
 * to .coupling.csv) go to the store (ops_write.c).
 *
 * Replies never point into memory another thread may free: file and directory bytes are
 * copied into the calling thread's reply buffer first, so a RELEASE answered on another
 * thread while this one is still returning from writev frees nothing it uses, and handles
 * (with their object descriptor) are freed at RELEASE, not later.
 *
 * Opens read the kept plan (one indexed catalog row) instead of de-identifying; reads
 * pread the object into the reply buffer. (No splice: libfuse 3.14 splices without
 * blocking and turns a page-cache miss into a short read, which the kernel takes for the
 * end of the file.) Every refusal logs one line with the reason and no patient data.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs_int.h"

#define DIR_TIMEOUT_S 1.0 /* folders and generated texts change with the catalog */
#define FILE_TIMEOUT_S                                                                             \
	300.0 /* an instance file's inode names its content; a path that now                       \
	       * means something else is reached through a folder whose entry                      \
	       * expires after DIR_TIMEOUT_S or is invalidated at once */

/* An open file. Instance files open their object and load their kept plan at the first
 * read that reaches the daemon, not at open: a file whose pages are in the kernel's cache
 * (keep_cache) is opened and read without a catalog lookup. */
struct fs_fh {
	pthread_mutex_t lock; /* guards fd and plan while they are being set up */
	atomic_bool ready;    /* fd (and plan) set up; read without the lock from then on */
	int fd;
	struct deid_plan *plan; /* FS_DEID */
	char *text;		/* FS_TEXT, FS_COUPLING: taken at open */
	size_t text_len;
	enum fs_role role;
	int64_t instance;
	const struct fs_place *place; /* the node's: the kernel keeps it while the file is open */
	const struct fs_project *project;
	struct fs_mount *m;
	struct fs_zip *zip;	    /* FS_ZIP, FS_PZIP: its layout, composed at open */
	struct fs_fh *part;	    /* FS_ZIP, FS_PZIP: the entry read last (under lock) */
	struct fs_place *own_place; /* a participant zip's entry: the event it is at */
};

/* A listing taken at opendir, in the kernel's dirent format. */
struct fs_dirbuf {
	char *p;
	size_t size;
};

static struct fs_mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static double timeout_of(const struct fs_node *n)
{
	return n->role == FS_ORIGINAL || n->role == FS_DEID || n->role == FS_NIFTI_FILE
		       ? FILE_TIMEOUT_S
		       : DIR_TIMEOUT_S;
}

void fs_fill_attr(const struct fs_mount *m, const struct fs_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mtime = st->st_ctime = st->st_atime = m->started;
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = 1; /* folders: unknown, so find never skips a subfolder */
	st->st_uid = geteuid();
	st->st_gid = n->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 65536;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
}

static void refuse(fuse_req_t req, int err, const char *what, const char *why)
{
	log_msg(mnt(req)->log, LOG_WARN, "mount", "refused %s (uid %u): %s", what,
		(unsigned)fuse_req_ctx(req)->uid, why);
	fuse_reply_err(req, err);
}

uint8_t *fs_thread_buffer(struct fs_mount *m, size_t size)
{
	struct buf *b = pthread_getspecific(m->read_buf);

	if (!b) {
		if (!(b = calloc(1, sizeof(*b))))
			return NULL;
		buf_init(b, (size_t)64 << 20);
		pthread_setspecific(m->read_buf, b);
	}
	b->len = 0;
	return buf_reserve(b, size) ? NULL : b->data;
}

/* The node a request names, after reading the change feed; NULL when the kernel names
 * an inode it was told to forget (ENOENT is then answered). The kernel pins the inode while
 * the request runs, so the node stays valid without the lock. */
static struct fs_node *request_node(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_mount *m = mnt(req);
	struct fs_node *n;

	fs_feed_pump(m);
	pthread_mutex_lock(&m->lock);
	n = fs_node_find(m, ino);
	pthread_mutex_unlock(&m->lock);
	if (!n)
		fuse_reply_err(req, ENOENT);
	return n;
}

/* The node of ino with the lock held, or NULL (the lock is then released). */
static struct fs_node *node_locked(struct fs_mount *m, uint64_t ino)
{
	struct fs_node *n;

	pthread_mutex_lock(&m->lock);
	if (!(n = fs_node_find(m, ino)))
		pthread_mutex_unlock(&m->lock);
	return n;
}

/* A participant zip's size and id, laid out at its lookup and kept in the listing's entry
 * until the participant's scope changes: listing export/<P>/ costs nothing per
 * participant, a lookup the participant's indexed rows. -ENOENT while not ready. */
static int pzip_layout(struct fs_mount *m, const struct fs_node *p, struct fs_dir *d,
		       struct fs_entry *e)
{
	const char *id = (const char *)d->arena.data + e->text_off;
	const struct fs_project *pr = p->place->project;
	uint32_t slot = fs_scope_slot('A', 0, pr->cfg->name, id, NULL);
	uint64_t gen = atomic_load(&m->slots[slot]), epoch = atomic_load(&m->epoch);
	struct fs_place *pl;
	struct fs_zip *z = NULL;
	bool fresh;
	int rc;

	pthread_mutex_lock(&m->lock);
	fresh = e->laid && e->laid_gen == gen && e->laid_epoch == epoch;
	pthread_mutex_unlock(&m->lock);
	if (fresh)
		return 0;
	if (!(pl = fs_place_new(pr, true, -1, id)))
		return -ENOMEM;
	rc = fs_zip_participant(m, pl, &z);
	fs_place_put(pl);
	if (rc) {
		if (rc != -EAGAIN && rc != -ENOENT)
			log_msg(m->log, LOG_WARN, "mount", "zip of a participant of %s: %s",
				pr->cfg->name, strerror(-rc));
		return rc == -EAGAIN ? -ENOENT : rc;
	}
	pthread_mutex_lock(&m->lock);
	e->size = z->size;
	e->id = z->id;
	e->laid = true;
	e->laid_gen = gen;
	e->laid_epoch = epoch;
	pthread_mutex_unlock(&m->lock);
	fs_zip_free(z);
	return 0;
}

int fs_lookup_child(struct fs_mount *m, uint64_t parent, const char *name, struct fs_node **out)
{
	struct fs_node *p, *n = NULL;
	const struct fs_entry *e;
	struct fs_dir *d;
	int rc = 0;

	fs_feed_pump(m);
	if (!(p = node_locked(m, parent)))
		return -ENOENT;
	pthread_mutex_unlock(&m->lock); /* the kernel holds parent while it asks */
	if (!S_ISDIR(p->mode))
		return -ENOTDIR;
	if (!(d = fs_dir_get(m, p, &rc)))
		return rc;
	e = fs_dir_find(d, name);
	if (e && e->role == FS_PZIP && (rc = pzip_layout(m, p, d, (struct fs_entry *)e))) {
		fs_dir_put(d);
		return rc;
	}
	pthread_mutex_lock(&m->lock);
	if (!e)
		rc = -ENOENT;
	else if (!(n = fs_node_ref(m, p, d, e, true)))
		rc = -ENOMEM;
	pthread_mutex_unlock(&m->lock);
	fs_dir_put(d);
	if (!rc)
		*out = n;
	return rc;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_mount *m = mnt(req);
	struct fuse_entry_param e;
	struct fs_node *n;
	int rc = fs_lookup_child(m, parent, name, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&m->lock);
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = timeout_of(n);
	fs_fill_attr(m, n, &e.attr);
	pthread_mutex_unlock(&m->lock);
	if (fuse_reply_entry(req, &e) != 0) { /* the kernel did not take the reference */
		pthread_mutex_lock(&m->lock);
		fs_node_forget(m, e.ino, 1);
		pthread_mutex_unlock(&m->lock);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_mount *m = mnt(req);

	pthread_mutex_lock(&m->lock);
	fs_node_forget(m, ino, nlookup);
	pthread_mutex_unlock(&m->lock);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs_mount *m = mnt(req);

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < count; i++)
		fs_node_forget(m, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&m->lock);
	fuse_reply_none(req);
}

/* Generated texts change size under the same inode: their attributes come from the
 * parent's current listing. */
static void refresh_text(struct fs_mount *m, struct fs_node *n)
{
	struct fs_node *p;
	struct fs_dir *d;
	int rc;

	pthread_mutex_lock(&m->lock);
	p = fs_node_find(m, n->parent);
	pthread_mutex_unlock(&m->lock);
	if (!p || !(d = fs_dir_get(m, p, &rc)))
		return; /* the last known attributes */
	pthread_mutex_lock(&m->lock);
	const struct fs_entry *e = fs_dir_find(d, n->name);
	if (e && e->ino == n->ino)
		n->size = e->size;
	pthread_mutex_unlock(&m->lock);
	fs_dir_put(d);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt(req);
	struct fs_node *n;
	struct stat st;
	double t;

	(void)fi;
	if (!(n = request_node(req, ino)))
		return;
	if (n->role == FS_TEXT || n->role == FS_COUPLING)
		refresh_text(m, n);
	pthread_mutex_lock(&m->lock);
	fs_fill_attr(m, n, &st);
	t = timeout_of(n);
	pthread_mutex_unlock(&m->lock);
	fuse_reply_attr(req, &st, t);
}

static int dirbuf_add(fuse_req_t req, struct fs_dirbuf *b, const char *name, uint64_t ino,
		      mode_t mode)
{
	struct stat st = {.st_ino = ino, .st_mode = mode};
	size_t old = b->size, need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	char *p = realloc(b->p, old + need);

	if (!p)
		return -ENOMEM;
	b->p = p;
	b->size = old + need;
	fuse_add_direntry(req, b->p + old, need, name, &st, (off_t)b->size);
	return 0;
}

static void dirbuf_free(struct fs_dirbuf *b)
{
	if (b)
		free(b->p);
	free(b);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt(req);
	struct fs_dirbuf *b = NULL;
	struct fs_node *n;
	struct fs_dir *d = NULL;
	int rc = 0;

	if (!(n = request_node(req, ino)))
		return;
	if (!S_ISDIR(n->mode))
		rc = -ENOTDIR;
	else if (!(b = calloc(1, sizeof(*b))))
		rc = -ENOMEM;
	else if ((d = fs_dir_get(m, n, &rc)))
		rc = dirbuf_add(req, b, ".", n->ino, S_IFDIR);
	rc = rc ? rc : dirbuf_add(req, b, "..", n->parent, S_IFDIR);
	for (size_t i = 0; !rc && i < d->n; i++)
		rc = dirbuf_add(req, b, fs_entry_name(d, &d->e[i]), d->e[i].ino, d->e[i].mode);
	fs_dir_put(d);
	if (rc) {
		dirbuf_free(b);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)b;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs_dirbuf *b = (struct fs_dirbuf *)(uintptr_t)fi->fh;
	size_t n = (size_t)off < b->size ? b->size - (size_t)off : 0;
	uint8_t *p;

	(void)ino;
	n = n < size ? n : size;
	if (!(p = fs_thread_buffer(mnt(req), n ? n : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (n)
		memcpy(p, b->p + off, n);
	fuse_reply_buf(req, (const char *)p, n);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dirbuf_free((struct fs_dirbuf *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The object's local file; with may_fetch false, -EWOULDBLOCK instead of fetching it
 * from S3 (a libfuse thread then hands the read to fs/fetch.c). */
static int object_path(struct fs_mount *m, const char *hash, char *path, size_t cap, bool may_fetch)
{
	return may_fetch ? store_object_path(m->store, hash, path, cap)
			 : store_object_cached(m->store, hash, path, cap);
}

/* Without a kept plan (too big to keep, or not kept yet) an open builds one: only over
 * what may leave fiona — a held or dropped instance, or a candidate not cleaned yet, is
 * not there (the listing does not show them; an inode the kernel kept may still ask). */
static int fs_open_allowed(struct fs_mount *m, struct fs_fh *fh, int64_t size, bool *cleaned,
			   char hash[33], char *path, size_t cap, bool may_fetch)
{
	struct store_px_state px;
	int rc;

	if (size >= 0)
		return 0;
	if (size != STORE_DERIVED_MISSING ||
	    store_pixel_state(m->store, fh->instance, fh->place->project->cfg->name, &px))
		return -ENOENT;
	if (!store_px_may_leave(&px))
		return -ENOENT;
	*cleaned = px.state == STORE_PX_CLEANED;
	if (!strcmp(hash, px.source))
		return 0;
	memcpy(hash, px.source, 33);
	close(fh->fd);
	fh->fd = -1;
	rc = object_path(m, hash, path, cap, may_fetch);
	if (!rc && (fh->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = -errno;
	return rc;
}

/* The object behind an instance file, and for a de-identified one its kept plan (built
 * from the object only when no plan is kept: too big to keep, or a damaged row). */
static int open_object(struct fs_mount *m, struct fs_fh *fh, bool may_fetch)
{
	const char *fp = fh->role == FS_DEID ? fs_place_fp(fh->place) : NULL;
	uint8_t *saved = NULL;
	size_t saved_len = 0;
	int64_t size;
	char hash[33], path[4200];
	struct core_map map;
	bool cleaned;
	int rc = store_instance_open(m->store, fh->instance, fp, hash, &cleaned, &size, &saved,
				     &saved_len);

	rc = rc ? rc : object_path(m, hash, path, sizeof(path), may_fetch);
	if (rc)
		goto out;
	if (fh->fd >= 0) /* an earlier try that stopped short of a fetch */
		close(fh->fd);
	if ((fh->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	if (fh->role != FS_DEID)
		goto out;
	if (saved && deid_plan_load(saved, saved_len, &fh->plan) == 0)
		goto out;
	if ((rc = fs_open_allowed(m, fh, size, &cleaned, hash, path, sizeof(path), may_fetch)))
		goto out;
	if (saved) /* a damaged row: computed again, never trusted */
		log_msg(m->log, LOG_WARN, "mount", "instance %lld: kept header unreadable",
			(long long)fh->instance);
	if ((rc = core_map_file(path, &map)))
		goto out;
	rc = fs_deid_plan(m, fh->place, fh->instance, cleaned, map.p, map.len, &fh->plan);
	core_map_release(&map);
out:
	free(saved);
	return rc;
}

/* Sets up an instance file's object and plan once, at its first read. Without may_fetch
 * (a libfuse thread) it never waits for S3: -EWOULDBLOCK when the object must be fetched
 * first, or another thread is setting the handle up (perhaps fetching). */
static int fh_ready(struct fs_mount *m, struct fs_fh *fh, bool may_fetch)
{
	int rc = 0;

	if (atomic_load_explicit(&fh->ready, memory_order_acquire))
		return 0;
	if (may_fetch)
		pthread_mutex_lock(&fh->lock);
	else if (pthread_mutex_trylock(&fh->lock))
		return -EWOULDBLOCK;
	if (!atomic_load(&fh->ready) && (rc = open_object(m, fh, may_fetch)) == 0)
		atomic_store_explicit(&fh->ready, true, memory_order_release);
	pthread_mutex_unlock(&fh->lock);
	return rc;
}

static void audit_read(fuse_req_t req, const struct fs_node *n)
{
	const struct fs_place *pl = n->place;
	char detail[512];

	snprintf(detail, sizeof(detail), "instance %lld as %s%s/%s/%s", (long long)n->id,
		 pl->export_tree ? "export " : "", pl->project->cfg->name, pl->participant,
		 pl->event >= 0 ? fs_project_event(pl->project, pl->event) : "");
	fs_audit_queue(mnt(req), fuse_req_ctx(req)->uid, "read", detail);
}

/* The current text of a generated file, from its parent's listing. */
static int open_text(struct fs_mount *m, const struct fs_node *n, struct fs_fh *fh)
{
	const struct fs_entry *e;
	struct fs_node *p;
	struct fs_dir *d;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	p = fs_node_find(m, n->parent);
	pthread_mutex_unlock(&m->lock);
	if (!p)
		return -ENOENT;
	if (!(d = fs_dir_get(m, p, &rc)))
		return rc;
	e = fs_dir_find(d, n->name);
	if (!e)
		rc = -ENOENT;
	else if (!(fh->text = malloc(e->text_len + 1)))
		rc = -ENOMEM;
	else {
		memcpy(fh->text, d->arena.data + e->text_off, e->text_len + 1);
		fh->text_len = e->text_len;
	}
	fs_dir_put(d);
	return rc;
}

static void fh_free(struct fs_fh *fh)
{
	if (!fh)
		return;
	if (fh->fd >= 0)
		close(fh->fd);
	deid_plan_free(fh->plan);
	fs_zip_free(fh->zip);
	fh_free(fh->part);
	fs_place_put(fh->own_place);
	free(fh->text);
	pthread_mutex_destroy(&fh->lock);
	free(fh);
}

/* A zip entry's data: the entry's de-identified file, read as an open of it would (its
 * kept plan over its object), the entry read last kept open for the next read. */
static ssize_t zip_part_read(void *opaque, const struct fs_zip_file *f, uint64_t off, void *dst,
			     size_t len)
{
	struct fs_fh *fh = opaque, *part;
	ssize_t n = 0;

	pthread_mutex_lock(&fh->lock);
	if (!fh->part || fh->part->instance != f->instance) {
		fh_free(fh->part);
		if (!(fh->part = part = calloc(1, sizeof(*part)))) {
			pthread_mutex_unlock(&fh->lock);
			return -ENOMEM;
		}
		pthread_mutex_init(&part->lock, NULL);
		part->fd = -1;
		part->role = FS_DEID;
		part->instance = f->instance;
		part->place = fh->place;
		if (fh->role == FS_PZIP) /* the entry's event: a plan built at open needs it */
			part->place = part->own_place = fs_place_new(
				fh->place->project, true, f->event, fh->place->participant);
		if (!part->place) {
			fh_free(part);
			fh->part = NULL;
			pthread_mutex_unlock(&fh->lock);
			return -ENOMEM;
		}
		if ((n = open_object(fh->m, part, true))) {
			fh_free(part);
			fh->part = NULL;
		}
	}
	if (!n)
		n = deid_plan_read(fh->part->plan, fh->part->fd, off, dst, len);
	pthread_mutex_unlock(&fh->lock);
	return n;
}

/* A zip's layout, composed now from the kept sizes and CRCs; it must be the one the
 * listing gave this inode (its id), or the file shows something else by now. */
static int open_zip(fuse_req_t req, const struct fs_node *n, struct fs_fh *fh)
{
	const struct fs_place *pl = n->place;
	char detail[512];
	int rc = n->role == FS_PZIP ? fs_zip_participant(fh->m, pl, &fh->zip)
				    : fs_zip_event(fh->m, pl, &fh->zip);

	if (rc)
		return rc == -EAGAIN ? -ENOENT : rc;
	if (fh->zip->id != n->id || fh->zip->size != n->size)
		return -ESTALE;
	snprintf(detail, sizeof(detail), "zip of %s%s/%s%s%s", pl->export_tree ? "export " : "",
		 pl->project->cfg->name, pl->participant, pl->event >= 0 ? "/" : "",
		 pl->event >= 0 ? fs_project_event(pl->project, pl->event) : "");
	fs_audit_queue(fh->m, fuse_req_ctx(req)->uid, "read", detail);
	return 0;
}

/* A NIfTI output: its kept object, which must still be the one the listing gave (its id
 * and size); an output replaced since is gone (the next lookup finds the new one). */
static int open_nifti(fuse_req_t req, const struct fs_node *n, struct fs_fh *fh)
{
	const struct fs_place *pl = n->place;
	char hash[33], path[4200], detail[512];
	int64_t size;
	int rc = store_nifti_file_get(fh->m->store, n->id, hash, &size);

	if (rc)
		return rc;
	if ((uint64_t)size != n->size)
		return -ESTALE;
	if ((rc = store_blob_path(fh->m->store, hash, path, sizeof(path))))
		return rc;
	if ((fh->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	atomic_store(&fh->ready, true);
	snprintf(detail, sizeof(detail), "nifti %s as export %s/%s/%s", n->name,
		 pl->project->cfg->name, pl->participant, fs_project_event(pl->project, pl->event));
	fs_audit_queue(fh->m, fuse_req_ctx(req)->uid, "read", detail);
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt(req);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fs_fh *fh = NULL;
	struct fs_node *n;
	int rc = 0;

	if (!(n = request_node(req, ino)))
		return;
	if (writing && n->role != FS_COUPLING) {
		refuse(req, EROFS, "open for writing", "DICOM files in the mount are read-only");
		return;
	}
	if (!(fh = calloc(1, sizeof(*fh)))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&fh->lock, NULL);
	fh->fd = -1;
	fh->role = n->role;
	fh->instance = n->id;
	fh->place = n->place;
	fh->project = n->place ? n->place->project : NULL;
	fh->m = m;
	if (n->role == FS_ZIP || n->role == FS_PZIP)
		rc = open_zip(req, n, fh);
	else if (n->role == FS_NIFTI_FILE)
		rc = open_nifti(req, n, fh);
	else if (n->role != FS_ORIGINAL && n->role != FS_DEID)
		rc = open_text(m, n, fh);
	if (rc) {
		fh_free(fh);
		fuse_reply_err(req, -rc);
		return;
	}
	if (n->role == FS_DEID)
		audit_read(req, n);
	fi->fh = (uint64_t)(uintptr_t)fh;
	/* an instance file's and an event zip's inode never change content; a participant
	 * zip's inode is its name's, so its cached pages are dropped at open */
	fi->keep_cache = !fh->text && n->role != FS_PZIP;
	fi->direct_io = !!fh->text; /* texts: always the size read now, not the cached one */
	fuse_reply_open(req, fi);
}

/* Reads and replies; may wait for the object to come from S3 (fs/fetch.c's threads, or a
 * libfuse thread when those cannot take it). */
void fs_read_reply(struct fs_mount *m, fuse_req_t req, struct fs_fh *fh, size_t size, off_t off)
{
	uint8_t *p = fs_thread_buffer(m, size ? size : 1);
	ssize_t n;

	if (!p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((fh->role == FS_ORIGINAL || fh->role == FS_DEID) && (n = fh_ready(m, fh, true))) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	if (fh->role == FS_ORIGINAL || fh->role == FS_NIFTI_FILE) {
		n = pread(fh->fd, p, size, off);
		n = n < 0 ? -errno : n;
	} else if (fh->role == FS_DEID) {
		n = deid_plan_read(fh->plan, fh->fd, (uint64_t)off, p, size);
	} else if (fh->role == FS_ZIP || fh->role == FS_PZIP) {
		n = fs_zip_read(fh->zip, (uint64_t)off, p, size, zip_part_read, fh);
	} else {
		n = (size_t)off < fh->text_len ? (ssize_t)(fh->text_len - (size_t)off) : 0;
		n = (size_t)n < size ? n : (ssize_t)size;
		if (n > 0)
			memcpy(p, fh->text + off, (size_t)n);
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, (const char *)p, (size_t)n);
}

/* With the objects on S3, an instance whose object is not here yet is read on
 * fs/fetch.c's threads, so a slow or hung store never ties up the threads that answer
 * listings and cached reads. With local objects every read is served here. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	struct fs_mount *m = mnt(req);
	int rc = 0;

	(void)ino;
	if (m->fetch && (fh->role == FS_ORIGINAL || fh->role == FS_DEID))
		rc = fh_ready(m, fh, false);
	if (rc == -EWOULDBLOCK && fs_fetch_queue(m, req, fh, size, off) == 0)
		return;
	if (rc && rc != -EWOULDBLOCK) /* not set up, for good: no second try */
		fuse_reply_err(req, -rc);
	else
		fs_read_reply(m, req, fh, size, off);
}

/* Freed now: no reply of another thread points into a handle (replies come from the
 * replying thread's own buffer), so the descriptor goes back at once. */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fh_free((struct fs_fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	int rc;

	(void)ino;
	(void)off; /* rows are added, wherever the writer thinks it writes */
	if (fh->role != FS_COUPLING) {
		refuse(req, EROFS, "write", "only .coupling.csv takes writes");
		return;
	}
	rc = fs_coupling_rows(mnt(req), fh->project, data, size);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA; /* inodes never change content */
}

static void op_forbidden(fuse_req_t req, const char *what)
{
	refuse(req, EPERM, what, "the mount changes only by mv, mkdir and .coupling.csv");
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	op_forbidden(req, "unlink");
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	op_forbidden(req, "rmdir");
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	refuse(req, EACCES, "create", "no new files in the mount");
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt(req);
	struct fs_node *n = node_locked(m, ino);
	struct stat st;

	(void)attr;
	(void)fi;
	/* `echo row > .coupling.csv` truncates first: rows are only ever added, so that is
	 * a no-op; every other change of attributes is refused */
	if (n && n->role == FS_COUPLING &&
	    !(to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		fs_fill_attr(m, n, &st);
		pthread_mutex_unlock(&m->lock);
		fuse_reply_attr(req, &st, DIR_TIMEOUT_S);
		return;
	}
	if (n)
		pthread_mutex_unlock(&m->lock);
	op_forbidden(req, n ? "setattr" : "setattr of a missing file");
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.create = op_create,
	.mkdir = fs_op_mkdir,
	.rename = fs_op_rename,
};
