/*
 * fault: injected failures for the tests of docs/store.md "Faults". Off unless the
 * environment says FIONA_FAULT=POINT:N[+]:ERRNO — the Nth time (1-based, counted once the
 * store is open: opening and migrating the catalog are not counted) the store reaches
 * POINT it fails with ERRNO, and with "+" every time from then on (a disk that stays
 * full). Points:
 *
 *   obj-write   writing an imported object's temporary     (objstore.c)
 *   obj-rename  putting an object in place                 (objstore.c)
 *   syncfs      making a batch of objects durable          (ingest.c, cleaner.c)
 *   db-write    any write SQLite makes to the catalog, WAL or journal
 *   db-sync     any fsync SQLite asks for
 *   s3-commit   an instance whose object is on S3, before its catalog commit: it fails,
 *               and its key stays on S3 as an orphan for the sweep (objstore_s3.c)
 *
 * The two db- points sit in a VFS shim over SQLite's own, registered only when a db-
 * point is asked for, so SQLite sees a real I/O error (SQLITE_FULL, SQLITE_IOERR_*) and
 * handles it as it would on a failing disk. Each injection is logged.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "store/store_int.h"

/* The SQLite VFS the catalog is opened with when a db- fault point is armed. */
struct fault_shim {
	sqlite3_vfs vfs, *real; /* the shim, and SQLite's own */
	char name[48];
};

static const char *const point_names[FAULT_N] = {"obj-write", "obj-rename", "syncfs",
						 "db-write",  "db-sync",    "s3-commit"};

static int errno_named(const char *s)
{
	static const struct {
		const char *name;
		int err;
	} names[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO},	     {"EROFS", EROFS},
		     {"EDQUOT", EDQUOT}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES}};
	long n;

	for (size_t i = 0; i < CORE_ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i].name))
			return names[i].err;
	return core_parse_long(s, 1, 4095, &n) ? 0 : (int)n;
}

int fault_init(struct store *s, struct fiona_err *err)
{
	const char *spec = getenv("FIONA_FAULT");
	char point[32], count[32], name[32];
	long n;

	memset(&s->fault, 0, sizeof(s->fault));
	if (!spec || !*spec)
		return 0;
	if (sscanf(spec, "%31[^:]:%31[^:]:%31s", point, count, name) != 3)
		goto bad;
	s->fault.point = -1;
	for (int i = 0; i < FAULT_N; i++)
		if (!strcmp(point, point_names[i]))
			s->fault.point = i;
	s->fault.sticky = count[0] && count[strlen(count) - 1] == '+';
	if (s->fault.sticky)
		count[strlen(count) - 1] = '\0';
	if (s->fault.point < 0 || core_parse_long(count, 1, 1L << 40, &n) ||
	    !(s->fault.err = errno_named(name)))
		goto bad;
	s->fault.nth = n;
	s->fault.on = true;
	log_msg(s->log, LOG_WARN, "fault", "FIONA_FAULT=%s: failures will be injected", spec);
	return 0;
bad:
	return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
		       "FIONA_FAULT=%s: want POINT:N[+]:ERRNO (points: obj-write, obj-rename, "
		       "syncfs, db-write, db-sync, s3-commit)",
		       spec);
}

int fault_hit(struct store *s, enum fault_point p)
{
	long k;

	if (!s->fault.on || !s->fault.armed || s->fault.point != (int)p)
		return 0;
	k = atomic_fetch_add(&s->fault.seen, 1) + 1;
	if (k != s->fault.nth && !(s->fault.sticky && k > s->fault.nth))
		return 0;
	log_msg(s->log, LOG_WARN, "fault", "%s #%ld: injected %s", point_names[p], k,
		strerror(s->fault.err));
	return -s->fault.err;
}

/* ---- the SQLite VFS shim ------------------------------------------------------------ */

struct fault_file {
	sqlite3_file base;
	struct store *s;
	sqlite3_file *real; /* right after this struct, szOsFile of the real VFS */
};

#define REAL(f) (((struct fault_file *)(f))->real)

static int ff_close(sqlite3_file *f)
{
	return REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
}

static int ff_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}

static int ff_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	int rc = fault_hit(((struct fault_file *)f)->s, FAULT_DB_WRITE);

	if (rc)
		return rc == -ENOSPC || rc == -EDQUOT ? SQLITE_FULL : SQLITE_IOERR_WRITE;
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}

static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int ff_sync(sqlite3_file *f, int flags)
{
	if (fault_hit(((struct fault_file *)f)->s, FAULT_DB_SYNC))
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int ff_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int ff_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int ff_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int ff_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int ff_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int ff_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int ff_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int ff_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **out)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, out);
}

static int ff_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void ff_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int ff_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* No memory-mapped reads through the shim (version 2 methods): every write is seen. */
static const sqlite3_io_methods ff_methods = {
	2,	   ff_close,   ff_read,	    ff_write,	    ff_truncate,  ff_sync,
	ff_size,   ff_lock,    ff_unlock,   ff_reserved,    ff_control,	  ff_sector,
	ff_device, ff_shm_map, ff_shm_lock, ff_shm_barrier, ff_shm_unmap,
};

static int ff_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct store *s = vfs->pAppData;
	struct fault_file *ff = (struct fault_file *)f;
	sqlite3_vfs *real = s->fault.shim->real;
	int rc;

	ff->s = s;
	ff->real = (sqlite3_file *)(ff + 1);
	memset(ff->real, 0, (size_t)real->szOsFile);
	rc = real->xOpen(real, name, ff->real, flags, out_flags);
	ff->base.pMethods = ff->real->pMethods ? &ff_methods : NULL;
	return rc;
}

const char *fault_vfs(struct store *s)
{
	sqlite3_vfs *v;

	if (!s->fault.on || (s->fault.point != FAULT_DB_WRITE && s->fault.point != FAULT_DB_SYNC))
		return NULL;
	if (s->fault.vfs_registered)
		return s->fault.shim->vfs.zName;
	if (!s->fault.shim && !(s->fault.shim = calloc(1, sizeof(*s->fault.shim))))
		return NULL;
	v = &s->fault.shim->vfs;
	if (!(s->fault.shim->real = sqlite3_vfs_find(NULL)))
		return NULL;
	*v = *s->fault.shim->real;
	v->szOsFile = (int)sizeof(struct fault_file) + s->fault.shim->real->szOsFile;
	snprintf(s->fault.shim->name, sizeof(s->fault.shim->name), "fiona-fault-%p", (void *)s);
	v->zName = s->fault.shim->name;
	v->pAppData = s;
	v->xOpen = ff_open;
	v->pNext = NULL;
	if (sqlite3_vfs_register(v, 0) != SQLITE_OK)
		return NULL;
	s->fault.vfs_registered = true;
	return v->zName;
}

void fault_release(struct store *s)
{
	if (s->fault.vfs_registered)
		sqlite3_vfs_unregister(&s->fault.shim->vfs);
	s->fault.vfs_registered = false;
	free(s->fault.shim);
	s->fault.shim = NULL;
}
