/*
 * nifti: what dcm2niix made of each series of an export event folder (docs/export.md),
 * kept as derived objects. A run is one row per series, `nifti(series, profile, key,
 * state, reason, at)`: the key is a hash of everything the output depends on (the
 * de-identified files' names, kept sizes and CRC-32s, the series folder name, the export
 * profile's fingerprint, dcm2niix's version and options; fs/nifti.c computes it), so an
 * unchanged input is never converted again, and a failed one is not retried until its
 * input changes. Its files are rows of `nifti_files` naming objects by content hash under
 * <data_dir>/derived/; ids come from AUTOINCREMENT and are never reused, so a file id
 * names one content (the mount's inodes rely on it).
 *
 * Objects are durable (fsynced, renamed into place) before a row names them; when rows go
 * (a run replaced, pruned, or refused because the study moved), the objects no row names
 * any more are removed after the commit.
 *
 * With the objects on S3 (objstore_s3.c), a derived object is also put as key
 * derived/<hh>/<hash> before a row names it, and <data_dir>/derived is its cache: a
 * missing local copy is fetched at store_blob_path. From its put until its run is kept or
 * dropped, the key is in flight (safe from the sweep). Removal of unused outputs unlinks
 * only the local copies; their keys are left to the sweep, which deletes what no row names
 * after the grace period and re-checks first (a gateway elsewhere may have just put the
 * same bytes; and no S3 request is made under s->lock here).
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"

int blob_local_path(const struct store *s, const char *hash, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/derived/%.2s/%s", s->cfg->data_dir, hash, hash);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int store_blob_path(struct store *s, const char *hash, char *out, size_t cap)
{
	struct stat st;
	int rc = blob_local_path(s, hash, out, cap);

	if (rc || !obj_on_s3(s))
		return rc;
	if (stat(out, &st) == 0) {
		obj_s3_touch(AT_FDCWD, out, &st);
		return 0;
	}
	return strlen(hash) == 32 ? obj_s3_fetch(s, OBJ_DERIVED, hash, out) : -ENOENT;
}

/* fsync of a folder, so the rename of a new object in it is durable */
static void sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void drop_unnamed(struct store *s, char (*v)[33], size_t n);

static struct blob_hold *hold_find(struct store *s, const char *hash)
{
	for (size_t i = 0; i < s->n_holds; i++)
		if (!memcmp(s->holds[i].hash, hash, 32))
			return &s->holds[i];
	return NULL;
}

/* Under s->lock. */
static int hold_add(struct store *s, const char *hash)
{
	struct blob_hold *h = hold_find(s, hash);

	if (!h && (h = store_grow((void **)&s->holds, &s->n_holds, &s->cap_holds, sizeof(*h)))) {
		memcpy(h->hash, hash, 33);
		h->refs = 0;
	}
	if (!h)
		return -ENOMEM;
	h->refs++;
	return 0;
}

/* Under s->lock: the puts of n hashes, the first at first and each stride bytes after the
 * one before, are settled (named, or about to be dropped). */
static void holds_release(struct store *s, const char *first, size_t stride, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct blob_hold *h = hold_find(s, first + i * stride);

		if (h && !--h->refs)
			*h = s->holds[--s->n_holds];
	}
}

int store_blob_put(struct store *s, const char *path, char hash[33])
{
	char dir[4200], dst[4300];
	struct fiona_err err = {0};
	struct core_map map;
	int rc = core_map_file(path, &map);

	if (rc)
		return rc;
	obj_hash(map.p, map.len, hash);
	/* held before the look for the same bytes: a removal either ran before it (the
	 * file is gone, these bytes take its place) or sees the hold */
	pthread_mutex_lock(&s->lock);
	rc = hold_add(s, hash);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		core_map_release(&map);
		return rc;
	}
	rc = fsync(map.fd) ? -errno : 0;
	snprintf(dir, sizeof(dir), "%s/derived/%.2s", s->cfg->data_dir, hash);
	rc = rc ? rc : core_mkdir_p(dir, 0700);
	rc = rc ? rc : blob_local_path(s, hash, dst, sizeof(dst));
	if (!rc && access(dst, F_OK) == 0) /* the same bytes are kept already */
		unlink(path);
	else if (!rc && rename(path, dst) != 0)
		rc = -errno;
	else if (!rc)
		sync_dir(dir);
	/* the mapping outlives the rename: the same bytes go to S3, logged when they cannot */
	if (!rc && obj_on_s3(s))
		rc = obj_s3_put(s, OBJ_DERIVED, hash, map.p, map.len, &err);
	if (rc) { /* not kept: the run is not done */
		pthread_mutex_lock(&s->lock);
		holds_release(s, hash, 33, 1);
		drop_unnamed(s, (char(*)[33])hash, 1);
		pthread_mutex_unlock(&s->lock);
	}
	core_map_release(&map);
	return rc;
}

/* With several gateways on the catalog: after the commit naming it, the key of hash is
 * checked again and put again if another gateway's sweep took it (obj_s3_confirm). */
static int blob_confirm(struct store *s, const char *hash)
{
	struct fiona_err err = {0};
	struct core_map map;
	char path[4300];
	int rc;

	if (!obj_on_s3(s) || db_kind(s->db) != DB_POSTGRES)
		return 0;
	rc = store_blob_path(s, hash, path, sizeof(path)); /* evicted: fetched */
	rc = rc ? rc : core_map_file(path, &map);
	if (rc)
		return rc;
	rc = obj_s3_confirm(s, OBJ_DERIVED, hash, map.p, map.len, &err);
	core_map_release(&map);
	return rc;
}

static void run_fill(struct db_stmt *st, void *row)
{
	struct store_nifti_run *o = row;

	o->series = db_column_int64(st, 0);
	store_col_text(st, 1, o->profile, sizeof(o->profile));
	store_col_text(st, 2, o->key, sizeof(o->key));
	o->failed = (int)db_column_int64(st, 3) != 0;
	store_col_text(st, 4, o->reason, sizeof(o->reason));
}

int store_nifti_get(struct store *s, int64_t series, struct store_nifti_run *out)
{
	struct store_nifti_run *r = NULL;
	size_t n = 0;
	int rc = store_read_rows(s,
				 "SELECT series, profile, key, state='failed', coalesce(reason,'')"
				 " FROM nifti WHERE series=?",
				 sizeof(*r), run_fill, (void **)&r, &n, "i", series);

	if (!rc && !n)
		rc = -ENOENT;
	if (!rc)
		*out = r[0];
	free(r);
	return rc;
}

static void file_fill(struct db_stmt *st, void *row)
{
	struct store_nifti_file *o = row;

	o->id = db_column_int64(st, 0);
	store_col_text(st, 1, o->name, sizeof(o->name));
	store_col_text(st, 2, o->hash, sizeof(o->hash));
	o->size = db_column_int64(st, 3);
}

int store_nifti_files(struct store *s, int64_t series, struct store_nifti_file **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT id, name, hash, size FROM nifti_files WHERE series=?"
			       " ORDER BY name",
			       sizeof(**out), file_fill, (void **)out, n, "i", series);
}

int store_nifti_file_get(struct store *s, int64_t id, char hash[33], int64_t *size)
{
	struct store_nifti_file *f = NULL;
	size_t n = 0;
	int rc = store_read_rows(s, "SELECT id, name, hash, size FROM nifti_files WHERE id=?",
				 sizeof(*f), file_fill, (void **)&f, &n, "i", id);

	if (!rc && !n)
		rc = -ENOENT;
	if (!rc) {
		memcpy(hash, f[0].hash, 33);
		*size = f[0].size;
	}
	free(f);
	return rc;
}

/* Hashes of the files of the series' run (appended to *v; under s->lock). */
static int hashes_of(struct store *s, int64_t series, char (**v)[33], size_t *n, size_t *cap)
{
	struct db_stmt *st = NULL;
	int rc = cat_prepare(s, "SELECT hash FROM nifti_files WHERE series=?", &st);

	if (rc)
		return rc;
	db_bind_int64(st, 1, series);
	while ((rc = db_step(st)) == DB_ROW) {
		char(*slot)[33] = store_grow((void **)v, n, cap, sizeof(**v));

		if (!slot) {
			rc = DB_NOMEM;
			break;
		}
		store_col_text(st, 0, *slot, 33);
	}
	db_finalize(st);
	return cat_errno(rc);
}

/* Removes the objects of hashes no nifti_files row names and no put holds (after the
 * commit that dropped their rows; under s->lock, so no put names them meanwhile). */
static void drop_unnamed(struct store *s, char (*v)[33], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct db_stmt *st = NULL;
		char path[4300];
		bool named = true;

		if (hold_find(s, v[i]))
			continue;
		if (!cat_stmt(s, "SELECT 1 FROM nifti_files WHERE hash=? LIMIT 1", &st)) {
			db_bind_text(st, 1, v[i], -1);
			named = db_step(st) != DB_DONE; /* a row or an error: keep it */
			db_reset(st);
		}
		if (!named && !blob_local_path(s, v[i], path, sizeof(path)))
			unlink(path);
	}
}

void store_blob_drop(struct store *s, const struct store_nifti_file *f, size_t n)
{
	char(*v)[33] = calloc(n ? n : 1, sizeof(*v));

	for (size_t i = 0; v && i < n; i++)
		memcpy(v[i], f[i].hash, 33);
	pthread_mutex_lock(&s->lock);
	if (n)
		holds_release(s, f[0].hash, sizeof(*f), n);
	if (v) /* else left for the next removal of unnamed objects */
		drop_unnamed(s, v, n);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		obj_s3_settled(s, f[i].hash); /* their keys are left to the sweep */
	free(v);
}

static bool still_at(struct store *s, int64_t study, const char *project, const char *participant,
		     const char *event)
{
	char p[32], a[65], e[65];

	return cat_study_place(s, study, p, a, e) == 0 && !strcmp(p, project) &&
	       !strcmp(a, participant) && !strcmp(e, event);
}

static int put_rows(struct store *s, const struct store_nifti_run *run,
		    const struct store_nifti_file *files, size_t n)
{
	int rc = cat_run(s, "DELETE FROM nifti_files WHERE series=?", "i", run->series);

	rc = rc ? rc
		: cat_run(s,
			  "INSERT OR REPLACE INTO nifti(series, profile, key, state, reason, at)"
			  " VALUES(?,?,?,?,?,?)",
			  "itttti", run->series, run->profile, run->key,
			  run->failed ? "failed" : "ready", run->reason, (int64_t)time(NULL));
	for (size_t i = 0; !rc && i < n; i++)
		rc = cat_run(s, "INSERT INTO nifti_files(series, name, hash, size) VALUES(?,?,?,?)",
			     "itti", run->series, files[i].name, files[i].hash, files[i].size);
	return rc;
}

/* Removes the run just kept (if it is still the kept one) and its files' rows, so the
 * series is converted again; their objects no row names are removed locally. */
static void run_forget(struct store *s, const struct store_nifti_run *run)
{
	char(*old)[33] = NULL;
	size_t n_old = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = hashes_of(s, run->series, &old, &n_old, &cap);
	if (!rc && !(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		int body = cat_run(s,
				   "DELETE FROM nifti_files WHERE series=? AND EXISTS (SELECT 1"
				   " FROM nifti WHERE series=? AND key=?)",
				   "iit", run->series, run->series, run->key);

		body = body ? body
			    : cat_run(s, "DELETE FROM nifti WHERE series=? AND key=?", "it",
				      run->series, run->key);
		if (!(rc = cat_commit(s, body)))
			drop_unnamed(s, old, n_old);
	}
	pthread_mutex_unlock(&s->lock);
	free(old);
	log_msg(s->log, rc ? LOG_ERROR : LOG_WARN, "nifti",
		"series %lld: an output is not on S3: its run %s", (long long)run->series,
		rc ? "could not be removed (its files may read EIO)"
		   : "is removed, to convert again");
}

int store_nifti_put(struct store *s, int64_t study, const char *project, const char *participant,
		    const char *event, const struct store_nifti_run *run,
		    const struct store_nifti_file *files, size_t n)
{
	char(*old)[33] = NULL;
	size_t n_old = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = hashes_of(s, run->series, &old, &n_old, &cap);
	for (size_t i = 0; !rc && i < n; i++) { /* refused: these are dropped too */
		char(*slot)[33] = store_grow((void **)&old, &n_old, &cap, sizeof(*old));

		if (slot)
			memcpy(*slot, files[i].hash, 33);
	}
	rc = rc ? rc : cat_exec(s, "BEGIN IMMEDIATE");
	if (!rc) {
		int body = still_at(s, study, project, participant, event) ? 0 : -ESTALE;

		body = body ? body : put_rows(s, run, files, n);
		if (!body)
			note_at(s, study, STORE_CHG_NIFTI, project, participant, event);
		rc = cat_commit(s, body);
	}
	if (n)
		holds_release(s, files[0].hash, sizeof(*files), n);
	drop_unnamed(s, old, n_old);
	pthread_mutex_unlock(&s->lock);
	free(old);
	for (size_t i = 0; !rc && i < n; i++)
		if ((rc = blob_confirm(s, files[i].hash)))
			run_forget(s, run); /* a row must not name a key S3 lacks: convert again */
	for (size_t i = 0; i < n; i++)
		obj_s3_settled(s, files[i].hash);
	return rc;
}

int store_nifti_prune(struct store *s, const char *const *keep, size_t n)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	int64_t *gone = NULL;
	size_t n_gone = 0, cap = 0, n_old = 0, cap_old = 0;
	char(*old)[33] = NULL;
	int rc;

	buf_init(&sql, 1 << 16);
	rc = buf_appendf(&sql, "SELECT n.series FROM nifti n LEFT JOIN series r ON r.id=n.series"
			       " LEFT JOIN assignments a ON a.study=r.study WHERE r.id IS NULL"
			       " OR a.study IS NULL OR n.profile NOT IN (''");
	for (size_t i = 0; !rc && i < n; i++)
		rc = buf_appendf(&sql, ",?");
	rc = rc ? rc : buf_appendf(&sql, ")");
	pthread_mutex_lock(&s->lock);
	if (!rc && !(rc = cat_prepare(s, (const char *)sql.data, &st))) {
		for (size_t i = 0; i < n; i++)
			db_bind_text(st, (int)i + 1, keep[i], -1);
		while ((rc = db_step(st)) == DB_ROW) {
			int64_t *slot = store_grow((void **)&gone, &n_gone, &cap, sizeof(*gone));

			if (slot)
				*slot = db_column_int64(st, 0);
		}
		rc = cat_errno(rc);
	}
	db_finalize(st);
	for (size_t i = 0; !rc && i < n_gone; i++)
		rc = hashes_of(s, gone[i], &old, &n_old, &cap_old);
	if (!rc && n_gone && !(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		int body = 0;

		for (size_t i = 0; !body && i < n_gone; i++) {
			body = cat_run(s, "DELETE FROM nifti_files WHERE series=?", "i", gone[i]);
			body = body ? body
				    : cat_run(s, "DELETE FROM nifti WHERE series=?", "i", gone[i]);
		}
		rc = cat_commit(s, body);
		if (!rc)
			drop_unnamed(s, old, n_old);
	}
	pthread_mutex_unlock(&s->lock);
	buf_release(&sql);
	free(gone);
	free(old);
	return rc ? rc : (int)n_gone;
}

int store_nifti_studies_missing(struct store *s, const char *project, const char *profile,
				int64_t **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT a.study FROM assignments a WHERE a.project=? AND EXISTS"
			       " (SELECT 1 FROM series r WHERE r.study=a.study AND NOT EXISTS"
			       " (SELECT 1 FROM nifti n WHERE n.series=r.id AND n.profile=?))"
			       " ORDER BY a.study",
			       sizeof(**out), store_id_fill, (void **)out, n, "tt", project,
			       profile);
}
