/*
 * The object store: every received instance's bytes once, named by XXH3-128 of the
 * bytes, under <data_dir>/objects/ab/<32 hex>.dcm. Invariant: a file under its final
 * name is complete and fsynced, and its directory entry is fsynced before objstore_put
 * returns; temporaries are named tmp.* in the root and removed at open.
 */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "store/store_int.h"

void objstore_hash(const void *p, size_t n, char out[33])
{
	XXH128_hash_t h = XXH3_128bits(p, n);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
}

static bool objstore_hash_ok(const char *h)
{
	size_t i = 0;
	for (; h[i]; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return i == 32;
}

int objstore_path(const struct objstore *o, const char *hash, char *out, size_t cap)
{
	if (!objstore_hash_ok(hash))
		return -EINVAL;
	int n = snprintf(out, cap, "%s/%.2s/%s.dcm", o->root, hash, hash);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int objstore_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int objstore_open(struct objstore *o, const char *root, struct fiona_err *err)
{
	int n = snprintf(o->root, sizeof(o->root), "%s", root);
	if (n < 0 || (size_t)n >= sizeof(o->root))
		return err_set(err, -ENAMETOOLONG, CORE_NO_OFFSET, CORE_NO_TAG, "%s: too long",
			       root);
	int rc = core_mkdir_p(root, 0700);
	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", root,
			       strerror(-rc));
	DIR *d = opendir(root);
	if (!d)
		return err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", root,
			       strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "tmp.", 4) == 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return 0;
}

/* Writes n bytes to a new fsynced temporary in the root; its name into tmp. */
static int objstore_write_tmp(struct objstore *o, const void *p, size_t n, char *tmp,
			      size_t cap)
{
	snprintf(tmp, cap, "%s/tmp.XXXXXX", o->root);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = core_write_all(fd, p, n);
	if (!rc && fsync(fd))
		rc = -errno;
	if (!rc && fchmod(fd, 0600))
		rc = -errno;
	close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

static int objstore_fsync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int objstore_put(struct objstore *o, const char *hash, const char *src, const void *p, size_t n,
		 bool move, bool *existed, struct fiona_err *err)
{
	char final[4200], dir[4200], tmp[4200];
	int rc = objstore_path(o, hash, final, sizeof(final));
	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "bad object name");
	snprintf(dir, sizeof(dir), "%s/%.2s", o->root, hash);
	struct stat sb;
	if (stat(final, &sb) == 0 && (uint64_t)sb.st_size == n) {
		if (move && src)
			unlink(src);
		*existed = true;
		return 0;
	}
	rc = core_mkdir_p(dir, 0700);
	if (rc)
		goto fail;
	/* A receiver's temp file on the same filesystem moves without a copy. */
	if (move && src && objstore_fsync_file(src) == 0 && rename(src, final) == 0)
		goto synced;
	rc = objstore_write_tmp(o, p, n, tmp, sizeof(tmp));
	if (rc)
		goto fail;
	if (rename(tmp, final)) {
		rc = -errno;
		unlink(tmp);
		goto fail;
	}
	if (move && src)
		unlink(src);
synced:
	rc = objstore_fsync_dir(dir);
	if (!rc)
		rc = objstore_fsync_dir(o->root);
	if (rc)
		goto fail;
	*existed = false;
	return 0;
fail:
	return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "object store: %s", strerror(-rc));
}
