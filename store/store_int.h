/*
 * store internals shared by catalog.c, objstore.c and store.c. Not for other modules:
 * they use store/store.h only.
 */
#ifndef FIONA_STORE_INT_H
#define FIONA_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

/* catalog.c: opens (creating mode 0600) and migrates to the latest schema. */
int catalog_open(const char *path, sqlite3 **out, struct fiona_err *err);
int catalog_version(sqlite3 *db);
int catalog_version_latest(void);

/* objstore.c: content-addressed files under <root>/ab/<32 hex>.dcm. */
struct objstore {
	char root[4096];
};
/* Creates root and removes stale temporaries ("tmp.*") left by a crash. */
int objstore_open(struct objstore *o, const char *root, struct fiona_err *err);
/* XXH3-128 of the bytes as 32 lowercase hex digits. */
void objstore_hash(const void *p, size_t n, char out[33]);
int objstore_path(const struct objstore *o, const char *hash, char *out, size_t cap);
/*
 * Makes the object hash durable: move=true renames src into place (same filesystem;
 * falls back to a copy), else copies the n bytes at p. The file is fsynced before it
 * gets its name and the directory after. *existed is set when the object was already
 * there (src is then removed when move). 0 or -errno with err filled.
 */
int objstore_put(struct objstore *o, const char *hash, const char *src, const void *p, size_t n,
		 bool move, bool *existed, struct fiona_err *err);

struct store {
	const struct fiona_config *cfg; /* borrowed */
	struct fiona_log *log;		/* borrowed */
	struct objstore obj;
	/* Lock order: mu only. One connection guarded by mu: SQLite serialises writers
	 * anyway and the catalog's statements are short. */
	pthread_mutex_t mu;
	sqlite3 *db;
	uint64_t generation; /* guarded by mu */
	uint64_t conflicts;  /* conflicts seen since open, guarded by mu */
};

/* SQL helpers in store.c; the caller holds s->mu. store_prep binds fmt args: 't' text,
 * 'i' int64. store_run steps to completion (0 or -EIO) and finalizes; store_get_i64 reads
 * the first column of the first row (-ENOENT: none). store_end commits (bumping the
 * generation) when rc is 0, else rolls back; returns rc or -EIO. */
sqlite3_stmt *store_prep(struct store *s, const char *sql, const char *fmt, ...);
int store_run(sqlite3_stmt *st);
int store_get_i64(sqlite3_stmt *st, int64_t *out);
void store_col(sqlite3_stmt *st, int col, char *out, size_t cap);
int store_begin(struct store *s);
int store_end(struct store *s, int rc);

#endif
