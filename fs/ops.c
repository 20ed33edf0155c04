/*
 * ops: the FUSE low-level handlers. Reads come from a tree snapshot (tree.c); the few
 * writes that mean something (rename = assign, mkdir = new participant, appending to
 * .coupling.csv) go to the store, force a new snapshot and queue kernel invalidations
 * for the notifier thread (invalidating inside a handler deadlocks).
 *
 * Reads: quarantine files are pread and de-identified files produced by the open file's
 * plan, both into a per-thread buffer, so no read allocates. (No splice: libfuse 3.14
 * splices without blocking and turns a page-cache miss into a short read, which the
 * kernel takes for the end of the file.) Every refusal logs one line with the reason and no patient
 * data.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs_int.h"

#define TIMEOUT_S 1.0

struct fs_fh {
	int fd;
	struct deid_plan *plan; /* FS_DEID */
	char *text;		/* FS_TEXT, FS_COUPLING: snapshot at open */
	size_t text_len;
	enum fs_role role;
	const struct fs_project *project;
};

/* A listing taken at opendir. Freed some seconds after releasedir (fs_free_later): the
 * kernel can release a directory handle while the thread that answered its last readdir
 * is still returning from writev, and the listing must outlive both. */
struct fs_dirbuf {
	char *p;
	size_t size;
};

static void dirbuf_free(void *p)
{
	struct fs_dirbuf *b = p;

	if (b)
		free(b->p);
	free(b);
}

static struct fs_mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_attr(const struct fs_node *n, struct stat *st, time_t t)
{
	memset(st, 0, sizeof(*st));
	st->st_mtime = st->st_ctime = st->st_atime = t;
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 + n->nkids : 1;
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

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_tree *t = fs_tree_get(mnt(req));
	const struct fs_node *d = t ? fs_tree_find(t, parent) : NULL;
	const struct fs_node *n = d ? fs_tree_child(t, d, name) : NULL;
	struct fuse_entry_param e;

	if (!n) {
		fuse_reply_err(req, ENOENT);
	} else {
		memset(&e, 0, sizeof(e));
		e.ino = n->ino;
		e.attr_timeout = e.entry_timeout = TIMEOUT_S;
		fill_attr(n, &e.attr, mnt(req)->started);
		fuse_reply_entry(req, &e);
	}
	fs_tree_put(t);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_tree *t = fs_tree_get(mnt(req));
	const struct fs_node *n = t ? fs_tree_find(t, ino) : NULL;
	struct stat st;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ENOENT);
	} else {
		fill_attr(n, &st, mnt(req)->started);
		fuse_reply_attr(req, &st, TIMEOUT_S);
	}
	fs_tree_put(t);
}

static void dirbuf_add(fuse_req_t req, struct fs_dirbuf *b, const char *name, const struct stat *st)
{
	size_t old = b->size, need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	char *p = realloc(b->p, old + need);

	if (!p)
		return;
	b->p = p;
	b->size = old + need;
	fuse_add_direntry(req, b->p + old, need, name, st, (off_t)b->size);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_tree *t = fs_tree_get(mnt(req));
	const struct fs_node *n = t ? fs_tree_find(t, ino) : NULL;
	struct fs_dirbuf *b;
	struct stat st;

	if (!n || !S_ISDIR(n->mode) || !(b = calloc(1, sizeof(*b)))) {
		fuse_reply_err(req, n ? ENOTDIR : ENOENT);
		fs_tree_put(t);
		return;
	}
	memset(&st, 0, sizeof(st));
	st.st_ino = n->ino;
	st.st_mode = S_IFDIR;
	dirbuf_add(req, b, ".", &st);
	st.st_ino = n->parent;
	dirbuf_add(req, b, "..", &st);
	for (size_t i = 0; i < n->nkids; i++) {
		fill_attr(&t->nodes[n->kids[i]], &st, mnt(req)->started);
		dirbuf_add(req, b, t->nodes[n->kids[i]].name, &st);
	}
	fs_tree_put(t);
	fi->fh = (uint64_t)(uintptr_t)b;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs_dirbuf *b = (struct fs_dirbuf *)(uintptr_t)fi->fh;

	(void)ino;
	if ((size_t)off < b->size)
		fuse_reply_buf(req, b->p + off,
			       b->size - (size_t)off < size ? b->size - (size_t)off : size);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_dirbuf *b = (struct fs_dirbuf *)(uintptr_t)fi->fh;

	(void)ino;
	fs_free_later(mnt(req), b, dirbuf_free);
	fuse_reply_err(req, 0);
}

static int open_object(struct fs_mount *m, const struct fs_node *n, struct fs_fh *fh)
{
	char path[4200];
	struct core_map map;
	int rc;

	if ((rc = store_object_path(m->store, n->hash, path, sizeof(path))))
		return rc;
	if ((fh->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (n->role != FS_DEID)
		return 0;
	if ((rc = core_map_file(path, &map)))
		return rc;
	rc = fs_deid_plan(m, n, map.p, map.len, &fh->plan);
	core_map_release(&map);
	return rc;
}

static void audit_read(fuse_req_t req, const struct fs_node *n)
{
	char detail[512];

	snprintf(detail, sizeof(detail), "instance %lld as %s%s/%s/%s", (long long)n->instance_id,
		 n->export_tree ? "export " : "", n->project ? n->project->cfg->name : "?",
		 n->participant, n->event);
	fs_audit_queue(mnt(req), fuse_req_ctx(req)->uid, "read", detail);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt(req);
	struct fs_tree *t = fs_tree_get(m);
	const struct fs_node *n = t ? fs_tree_find(t, ino) : NULL;
	struct fs_fh *fh = NULL;
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	int rc = 0;

	if (!n) {
		rc = -ENOENT;
	} else if (writing && n->role != FS_COUPLING) {
		rc = -EROFS;
	} else if (!(fh = calloc(1, sizeof(*fh)))) {
		rc = -ENOMEM;
	} else {
		fh->fd = -1;
		fh->role = n->role;
		fh->project = n->project;
		if (n->role == FS_ORIGINAL || n->role == FS_DEID)
			rc = open_object(m, n, fh);
		else if (n->text && !(fh->text = strdup(n->text)))
			rc = -ENOMEM;
		fh->text_len = fh->text ? strlen(fh->text) : 0;
	}
	if (!rc && n->role == FS_DEID)
		audit_read(req, n);
	fs_tree_put(t);
	if (rc) {
		if (fh && fh->fd >= 0)
			close(fh->fd);
		free(fh);
		if (rc == -EROFS)
			refuse(req, EROFS, "open for writing",
			       "DICOM files in the mount are read-only");
		else
			fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)fh;
	fi->keep_cache = fh->fd >= 0; /* content never changes under an inode */
	fuse_reply_open(req, fi);
}

/* The calling thread's read buffer, grown to at least size (never shrunk). */
static uint8_t *thread_buffer(struct fs_mount *m, size_t size)
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	uint8_t *p;
	ssize_t n;

	(void)ino;
	if (fh->role == FS_ORIGINAL) {
		/* pread into the thread's buffer, not splice: libfuse splices without blocking
		 * and answers a short read (the kernel takes it for the end of the file) when
		 * the object's pages are not in the page cache */
		if (!(p = thread_buffer(mnt(req), size))) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n = pread(fh->fd, p, size, off);
		if (n < 0)
			fuse_reply_err(req, errno);
		else
			fuse_reply_buf(req, (const char *)p, (size_t)n);
	} else if (fh->role == FS_DEID) {
		if (!(p = thread_buffer(mnt(req), size))) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n = deid_plan_read(fh->plan, fh->fd, (uint64_t)off, p, size);
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_buf(req, (const char *)p, (size_t)n);
	} else if ((size_t)off < fh->text_len) {
		fuse_reply_buf(req, fh->text + off,
			       fh->text_len - (size_t)off < size ? fh->text_len - (size_t)off
								 : size);
	} else {
		fuse_reply_buf(req, NULL, 0);
	}
}

static void fh_free(void *p)
{
	struct fs_fh *fh = p;

	if (!fh)
		return;
	if (fh->fd >= 0)
		close(fh->fd);
	deid_plan_free(fh->plan);
	free(fh->text);
	free(fh);
}

/* The kernel ends a read request as soon as it has copied the reply, and may then send
 * RELEASE, which another thread answers while the reading thread is still returning from
 * writev: the handle is freed some seconds later, never under a reply. */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_free_later(mnt(req), (struct fs_fh *)(uintptr_t)fi->fh, fh_free);
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
	struct fs_tree *t = fs_tree_get(mnt(req));
	const struct fs_node *n = t ? fs_tree_find(t, ino) : NULL;
	struct stat st;

	(void)attr;
	(void)fi;
	/* `echo row > .coupling.csv` truncates first: rows are only ever added, so that is
	 * a no-op; every other change of attributes is refused */
	if (n && n->role == FS_COUPLING &&
	    !(to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		fill_attr(n, &st, mnt(req)->started);
		fuse_reply_attr(req, &st, TIMEOUT_S);
	} else {
		op_forbidden(req, n ? "setattr" : "setattr of a missing file");
	}
	fs_tree_put(t);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
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
