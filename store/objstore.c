/*
 * objstore: instances kept once, by content. An object's name is the XXH3-128 of its
 * bytes; it lives at <data_dir>/objects/<first two hex>/<32 hex>.dcm.
 *
 * The caller has the bytes mapped already (it parsed them): the hash and an import's copy
 * are made from that mapping, so an instance is read once.
 *
 * Durability: the bytes are written under a temporary name in <data_dir>/tmp and renamed
 * into place; the group commit (ingest.c) then makes the whole batch durable with one
 * syncfs of this filesystem before the catalog names any object of it. A temporary left
 * by kill -9 was never named by the catalog and is removed at the next start; an object
 * renamed but never cataloged is an orphan that the same bytes sent again reuse.
 *
 * With the objects on S3 (objstore_s3.c) these files are the local copies: ingest puts
 * each object on S3 before its commit, and store_object_path fetches a missing copy.
 */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "store/store_int.h"

void obj_hash(const uint8_t *p, size_t n, char out[33])
{
	XXH128_hash_t h = XXH3_128bits(p, n);

	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

/* Writes the n bytes at p to a new fsynced temporary under s->tmp; its name goes to out. */
static int write_tmp(struct store *s, const uint8_t *p, size_t n, char *out, size_t cap)
{
	int fd, rc;

	snprintf(out, cap, "%s/.imp-XXXXXX", s->tmp);
	fd = mkstemp(out);
	if (fd < 0)
		return -errno;
	rc = fault_hit(s, FAULT_OBJ_WRITE);
	rc = rc ? rc : core_write_all(fd, p, n); /* made durable with its batch (ingest.c) */
	close(fd);
	if (rc)
		unlink(out);
	return rc;
}

int obj_put(struct store *s, const char *src_path, const uint8_t *p, size_t n, bool move,
	    const char hash[33], bool *fresh)
{
	char dir[4200], path[4300], copy[4200];
	const char *src = src_path;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%.2s", s->objects, hash);
	snprintf(path, sizeof(path), "%s/%s.dcm", dir, hash);
	if (access(path, F_OK) == 0) { /* the same bytes are already kept */
		if (move)
			unlink(src_path);
		return 0;
	}
	if (!move) {
		if ((rc = write_tmp(s, p, n, copy, sizeof(copy))))
			return rc;
		src = copy;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	if ((rc = fault_hit(s, FAULT_OBJ_RENAME)))
		goto fail;
	if (rename(src, path) != 0) {
		rc = -errno;
		goto fail;
	}
	if (fresh)
		*fresh = true;
	return 0;
fail:
	unlink(src);
	return rc;
}

bool obj_present(const struct store *s, const char hash[33])
{
	char rel[40];

	if (obj_on_s3(s)) /* this instance's own put found or stored it, and it is in flight */
		return true;
	snprintf(rel, sizeof(rel), "%.2s/%s.dcm", hash, hash);
	return faccessat(s->objects_fd, rel, F_OK, 0) == 0;
}

void obj_drop_uncataloged(struct store *s, const char hash[33])
{
	struct db_stmt *st = NULL;
	char rel[40];
	bool named = true;

	pthread_mutex_lock(&s->lock);
	if (!cat_stmt(s, "SELECT 1 FROM objects WHERE hash=?", &st)) {
		db_bind_text(st, 1, hash, -1);
		named = db_step(st) != DB_DONE; /* a row, or an error: keep the file */
		db_reset(st);
	}
	snprintf(rel, sizeof(rel), "%.2s/%s.dcm", hash, hash);
	if (!named && unlinkat(s->objects_fd, rel, 0) == 0)
		log_msg(s->log, LOG_INFO, "store",
			"removed object %.8s...: its instance was refused before the catalog named "
			"it",
			hash);
	pthread_mutex_unlock(&s->lock);
}

/* A temporary another running process may still be writing is left alone: `fiona status`
 * or `fiona import` opening the store beside a running `fiona serve` must not remove the
 * files of C-STOREs in flight. A receiver's ".rx-<pid>-..." belongs to a live process
 * while that pid runs; any other temporary is left for an hour after its last write. */
static bool tmp_abandoned(int dirfd, const char *name, time_t now)
{
	struct stat st;
	long pid;

	if (sscanf(name, ".rx-%ld-", &pid) == 1 && pid > 0)
		return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && now - st.st_mtime > 3600;
}

void obj_clean_tmp(struct store *s)
{
	DIR *d = opendir(s->tmp);
	time_t now = time(NULL);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    tmp_abandoned(dirfd(d), e->d_name, now) &&
		    unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	closedir(d);
	if (n)
		log_msg(s->log, LOG_INFO, "store",
			"removed %u unacknowledged temporaries from an earlier run", n);
}

int obj_local_path(const struct store *s, const char *hash, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%.2s/%s.dcm", s->objects, hash, hash);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int store_object_cached(struct store *s, const char *hash, char *out, size_t cap)
{
	struct stat st;
	char rel[40];
	int rc = obj_local_path(s, hash, out, cap);

	if (rc || !obj_on_s3(s))
		return rc;
	snprintf(rel, sizeof(rel), "%.2s/%.32s.dcm", hash, hash);
	if (fstatat(s->objects_fd, rel, &st, 0) != 0)
		return -EWOULDBLOCK;
	obj_s3_touch(s->objects_fd, rel, &st);
	return 0;
}

int store_object_path(struct store *s, const char *hash, char *out, size_t cap)
{
	int rc = store_object_cached(s, hash, out, cap);

	if (rc != -EWOULDBLOCK)
		return rc;
	return strlen(hash) == 32 ? obj_s3_fetch(s, OBJ_DICOM, hash, out) : -ENOENT;
}
