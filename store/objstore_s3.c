/*
 * objstore_s3: the objects on an S3 store ("objects": "s3:ENDPOINT/BUCKET";
 * docs/scale-out.md "Objects on S3"). Objects keep their content-addressed names, as keys
 * objects/<first two hex>/<32 hex>.dcm; <data_dir>/objects stays, as the receiver's spool
 * target and as a local cache of copies.
 *
 * Derived objects (store/nifti.c's NIfTI outputs) go the same way as keys
 * derived/<first two hex>/<32 hex>, with <data_dir>/derived as their cache: each kind says
 * its keys, its local copies and the rows that name it (struct kind_info); the pool,
 * puts, fetches, the sweep and the eviction are shared.
 *
 * Invariants:
 * - An object is on S3 before any catalog row names it (obj_s3_put runs before the group
 *   commit). A crash in between leaves an orphan key, never a row without its object.
 * - A key is in flight from just before its put until its instance committed or failed
 *   (obj_s3_settled). The sweep never deletes a key in flight, and it re-checks the
 *   catalog for each key right before deleting it, holding s->lock (commits take it) and
 *   flight_lock (registrations take it): a writer that deduplicated against an orphan
 *   either sees the key gone and puts it again, or is seen by the sweep. With several
 *   gateways (PostgreSQL) a writer elsewhere is not seen: it checks its key again after
 *   its commit (obj_s3_confirm), and the sweep asks the catalog again after the delete
 *   and puts the key back if it was named meanwhile. One of the two always notices.
 * - A local copy is evicted only when S3 holds the key with the same size.
 *
 * Clients: one s3_client (one curl handle, one keep-alive connection) per operation,
 * taken from a small pool and given back; the pool grows to S3_POOL_MAX, then waits.
 *
 * Deletion is mark and sweep: marks live in memory, by this gateway's clock (not the
 * server's LastModified, so clock skew between gateway and store does not matter). A key
 * no row names is marked when a sweep first sees it unnamed; a later sweep at least
 * grace_seconds after that deletes it. A restart forgets the marks, which only delays.
 */
#include "core/core.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "store/s3_int.h"
#include "store/store_int.h"

#define S3_POOL_MAX  16
#define S3_BLOCK     (1u << 20) /* ranged GETs of a fetch: 1 MiB, aligned */
#define EVICT_PERIOD 30		/* seconds between scans of the local copies */

struct flight {
	char hash[33];
	unsigned refs;
};

struct mark {
	char hash[33];
	int64_t since; /* first seen unnamed by a sweep */
};

/* Where each kind of object lives. named is a string literal: cat_stmt caches by it. */
struct kind_info {
	const char *prefix; /* of its keys, and the sweep's listing */
	const char *suffix; /* of its keys and local file names */
	const char *named;  /* a row names hash ?1 */
};

static const struct kind_info kinds[OBJ_KINDS] = {
	[OBJ_DICOM] = {"objects/", ".dcm", "SELECT 1 FROM objects WHERE hash=?"},
	[OBJ_DERIVED] = {"derived/", "", "SELECT 1 FROM nifti_files WHERE hash=? LIMIT 1"},
};

struct obj_s3 {
	struct s3_config cfg;
	struct s3_creds creds;
	pthread_mutex_t pool_lock; /* guards idle, n_idle, n_made */
	pthread_cond_t pool_cond;
	struct s3_client *idle[S3_POOL_MAX];
	size_t n_idle, n_made;
	pthread_mutex_t flight_lock; /* guards flight; taken after s->lock */
	struct flight *flight;
	size_t n_flight, cap_flight;
	pthread_mutex_t state_lock; /* guards the last operation's outcome */
	bool last_ok, state_known;
	int64_t last_at, last_error_at, state_written_at;
	char last_error[256];
	char state_path[4200]; /* <data_dir>/s3-state: what `fiona status` reads */
	/* the sweep and the eviction (housekeeping's thread only) */
	struct mark *marks[OBJ_KINDS]; /* per kind, in key order */
	size_t n_marks[OBJ_KINDS];
	int64_t next_sweep, sweep_period, next_evict;
	atomic_ullong added; /* bytes put or fetched since the last eviction scan */
	uint64_t cache_max;
	int64_t grace;
};

bool obj_on_s3(const struct store *s)
{
	return s->s3 != NULL;
}

void obj_s3_key(enum obj_kind k, const char hash[33], char out[48])
{
	snprintf(out, 48, "%s%.2s/%.32s%s", kinds[k].prefix, hash, hash, kinds[k].suffix);
}

/* The local copy of an object of kind k, whether it exists or not. */
static int local_path(const struct store *s, enum obj_kind k, const char *hash, char *out,
		      size_t cap)
{
	return k == OBJ_DICOM ? obj_local_path(s, hash, out, cap)
			      : blob_local_path(s, hash, out, cap);
}

/* ---- the last outcome, for `fiona status` ------------------------------------------- */

/* A reply of the server, even a refusal of one key, shows the store reachable. */
static bool reached(int rc)
{
	return rc == 0 || rc == -ENOENT || rc == -EEXIST;
}

static void state_write(struct obj_s3 *o)
{
	char text[400];
	int n = snprintf(text, sizeof(text), "%s %lld %lld\n%s\n", o->last_ok ? "ok" : "failed",
			 (long long)o->last_at, (long long)o->last_error_at, o->last_error);

	o->state_written_at = o->last_at;
	core_write_file_atomic(o->state_path, text, (size_t)n, 0644); /* best effort */
}

/* Records one operation's outcome; the file is rewritten on a change of state and at
 * most every 10 s otherwise, so a busy gateway does not write it per object. */
static void state_note(struct obj_s3 *o, int rc, const struct fiona_err *err)
{
	bool ok = reached(rc);
	int64_t now = time(NULL);

	pthread_mutex_lock(&o->state_lock);
	bool changed = !o->state_known || ok != o->last_ok;

	o->state_known = true;
	o->last_ok = ok;
	o->last_at = now;
	if (!ok) {
		o->last_error_at = now;
		snprintf(o->last_error, sizeof(o->last_error), "%s",
			 err && err->reason[0] ? err->reason : strerror(-rc));
	}
	if (changed || now - o->state_written_at >= 10)
		state_write(o);
	pthread_mutex_unlock(&o->state_lock);
}

/* ---- the pool of clients ------------------------------------------------------------ */

static struct s3_client *client_take(struct store *s, struct fiona_err *err)
{
	struct obj_s3 *o = s->s3;
	struct s3_client *c = NULL;

	pthread_mutex_lock(&o->pool_lock);
	while (!o->n_idle && o->n_made >= S3_POOL_MAX)
		pthread_cond_wait(&o->pool_cond, &o->pool_lock);
	if (o->n_idle) {
		c = o->idle[--o->n_idle];
		pthread_mutex_unlock(&o->pool_lock);
		return c;
	}
	o->n_made++;
	pthread_mutex_unlock(&o->pool_lock);
	if ((c = calloc(1, sizeof(*c))) && s3_client_init(c, &o->cfg, &o->creds, s->log, err) == 0)
		return c;
	if (c)
		s3_client_release(c);
	else
		err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	free(c);
	pthread_mutex_lock(&o->pool_lock);
	o->n_made--;
	pthread_cond_signal(&o->pool_cond);
	pthread_mutex_unlock(&o->pool_lock);
	return NULL;
}

static void client_give(struct store *s, struct s3_client *c)
{
	struct obj_s3 *o = s->s3;

	pthread_mutex_lock(&o->pool_lock);
	o->idle[o->n_idle++] = c;
	pthread_cond_signal(&o->pool_cond);
	pthread_mutex_unlock(&o->pool_lock);
}

/* ---- opening ------------------------------------------------------------------------ */

static int config_from(struct store *s, struct obj_s3 *o, struct fiona_err *err)
{
	const struct config_shared *sh = &s->cfg->shared;
	const char *url = sh->objects + 3, *slash = strchr(strstr(url, "//") + 2, '/');
	int n;

	if (!slash || (size_t)(slash - url) >= sizeof(o->cfg.endpoint))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "objects: the S3 endpoint is too long");
	n = snprintf(o->cfg.endpoint, sizeof(o->cfg.endpoint), "%.*s", (int)(slash - url), url);
	n = n < 0 ? n : snprintf(o->cfg.bucket, sizeof(o->cfg.bucket), "%s", slash + 1);
	if (n < 0 || (size_t)n >= sizeof(o->cfg.bucket))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "objects: the bucket name is too long");
	snprintf(o->cfg.region, sizeof(o->cfg.region), "%s", sh->s3_region ? sh->s3_region : "");
	snprintf(o->cfg.ca_file, sizeof(o->cfg.ca_file), "%s",
		 sh->s3_ca_file ? sh->s3_ca_file : "");
	o->cache_max = (uint64_t)(sh->s3_cache_mb > 0 ? sh->s3_cache_mb : 4096) << 20;
	o->grace = sh->s3_grace_seconds > 0 ? sh->s3_grace_seconds : 3600;
	/* the sweep lists the whole bucket: once per grace period unless a test asks more
	 * often (FIONA_S3_SWEEP_SECONDS, docs/scale-out.md) */
	o->sweep_period = o->grace;
	const char *env = getenv("FIONA_S3_SWEEP_SECONDS");
	long v;

	if (env && !core_parse_long(env, 1, 86400, &v))
		o->sweep_period = v;
	snprintf(o->state_path, sizeof(o->state_path), "%s/s3-state", s->cfg->data_dir);
	return s3_creds_load(sh->s3_key_file, &o->creds, err);
}

int obj_s3_open(struct store *s, struct fiona_err *err)
{
	struct obj_s3 *o;
	struct s3_client *c;
	int rc;

	if (!s->cfg->shared.objects || strncmp(s->cfg->shared.objects, "s3:", 3))
		return 0;
	if (!(o = calloc(1, sizeof(*o))))
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	pthread_mutex_init(&o->pool_lock, NULL);
	pthread_cond_init(&o->pool_cond, NULL);
	pthread_mutex_init(&o->flight_lock, NULL);
	pthread_mutex_init(&o->state_lock, NULL);
	atomic_init(&o->added, 0);
	s->s3 = o;
	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any client: store_open's thread */
	if ((rc = config_from(s, o, err)))
		return rc;
	if (!(c = client_take(s, err))) /* checks endpoint, bucket and region now */
		return err->code ? err->code : -EINVAL;
	client_give(s, c);
	o->next_sweep = time(NULL) + o->sweep_period;
	return 0;
}

void obj_s3_close(struct store *s)
{
	struct obj_s3 *o = s->s3;

	if (!o)
		return;
	for (size_t i = 0; i < o->n_idle; i++) {
		s3_client_release(o->idle[i]);
		free(o->idle[i]);
	}
	s3_creds_wipe(&o->creds);
	free(o->flight);
	for (int k = 0; k < OBJ_KINDS; k++)
		free(o->marks[k]);
	pthread_mutex_destroy(&o->state_lock);
	pthread_mutex_destroy(&o->flight_lock);
	pthread_cond_destroy(&o->pool_cond);
	pthread_mutex_destroy(&o->pool_lock);
	free(o);
	s->s3 = NULL;
	curl_global_cleanup();
}

/* ---- puts and the keys in flight ---------------------------------------------------- */

static struct flight *flight_find(struct obj_s3 *o, const char hash[33])
{
	for (size_t i = 0; i < o->n_flight; i++)
		if (!memcmp(o->flight[i].hash, hash, 32))
			return &o->flight[i];
	return NULL;
}

static int flight_add(struct obj_s3 *o, const char hash[33])
{
	struct flight *f;
	int rc = 0;

	pthread_mutex_lock(&o->flight_lock);
	if ((f = flight_find(o, hash)))
		f->refs++;
	else if ((f = store_grow((void **)&o->flight, &o->n_flight, &o->cap_flight, sizeof(*f)))) {
		memcpy(f->hash, hash, 33);
		f->refs = 1;
	} else
		rc = -ENOMEM;
	pthread_mutex_unlock(&o->flight_lock);
	return rc;
}

void obj_s3_settled(struct store *s, const char hash[33])
{
	struct obj_s3 *o = s->s3;
	struct flight *f;

	if (!o)
		return;
	pthread_mutex_lock(&o->flight_lock);
	if ((f = flight_find(o, hash)) && !--f->refs)
		*f = o->flight[--o->n_flight];
	pthread_mutex_unlock(&o->flight_lock);
}

int obj_s3_put(struct store *s, enum obj_kind k, const char hash[33], const uint8_t *p, size_t n,
	       struct fiona_err *err)
{
	struct s3_client *c;
	char key[48];
	int rc;

	obj_s3_key(k, hash, key);
	if ((rc = flight_add(s->s3, hash)))
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	if (!(c = client_take(s, err))) {
		rc = err->code ? err->code : -ENOMEM;
	} else {
		rc = s3_put(c, key, p, n, 0, NULL, err);
		client_give(s, c);
		state_note(s->s3, rc, err);
	}
	if (!rc) {
		atomic_fetch_add(&s->s3->added, n); /* its local copy, for the cache bound */
		return 0;
	}
	obj_s3_settled(s, hash);
	log_msg(s->log, LOG_ERROR, "store", "object %s not stored on S3: %s", key, err->reason);
	/* -EINVAL means "not DICOM" to the receiver; a store that refuses is out of resources */
	return rc == -EINVAL ? err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG, "%s", err->reason)
			     : rc;
}

/* Several gateways share the catalog (PostgreSQL): another one's sweep cannot see this
 * process's keys in flight. */
static bool shared_catalog(const struct store *s)
{
	return db_kind(s->db) == DB_POSTGRES;
}

int obj_s3_confirm(struct store *s, enum obj_kind k, const char hash[33], const uint8_t *p,
		   size_t n, struct fiona_err *err)
{
	struct s3_client *c;
	char key[48];
	uint64_t size;
	int rc;

	if (!s->s3 || !shared_catalog(s))
		return 0;
	obj_s3_key(k, hash, key);
	if (!(c = client_take(s, err)))
		return err->code ? err->code : -ENOMEM;
	rc = s3_head(c, key, &size, err);
	if (rc == -ENOENT) { /* another gateway's sweep took it between our put and commit */
		log_msg(s->log, LOG_WARN, "store",
			"object %s was removed by a sweep while its row was committed: put "
			"again",
			key);
		rc = s3_put(c, key, p, n, 0, NULL, err);
	}
	client_give(s, c);
	state_note(s->s3, rc, err);
	if (rc)
		log_msg(s->log, LOG_ERROR, "store", "object %s not confirmed on S3: %s", key,
			err->reason);
	return rc == -EINVAL ? -EIO : rc;
}

/* ---- reads: the local copy ---------------------------------------------------------- */

/* Reads key into fd by aligned 1 MiB ranges; the XXH3-128 of the bytes must be hash. */
static int fetch_into(struct s3_client *c, const char *key, const char hash[33], int fd,
		      uint64_t *total, struct fiona_err *err)
{
	uint8_t *buf = malloc(S3_BLOCK);
	XXH3_state_t *h = XXH3_createState();
	uint64_t off = 0;
	size_t got = S3_BLOCK;
	int rc = buf && h ? 0 : -ENOMEM;

	if (!rc)
		XXH3_128bits_reset(h);
	while (!rc && got == S3_BLOCK) {
		rc = s3_get(c, key, off, S3_BLOCK, buf, &got, err);
		rc = rc ? rc : core_write_all(fd, buf, got);
		if (!rc)
			XXH3_128bits_update(h, buf, got);
		off += got;
	}
	if (!rc) {
		XXH128_hash_t d = XXH3_128bits_digest(h);
		char name[33];

		snprintf(name, sizeof(name), "%016llx%016llx", (unsigned long long)d.high64,
			 (unsigned long long)d.low64);
		if (memcmp(name, hash, 32))
			rc = err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG,
				     "S3 GET %s: the bytes do not hash to their name", key);
	}
	rc = rc ? rc : fdatasync(fd) ? -errno : 0;
	*total = off;
	XXH3_freeState(h);
	free(buf);
	return rc;
}

int obj_s3_fetch(struct store *s, enum obj_kind k, const char hash[33], const char *path)
{
	struct fiona_err err = {0};
	struct s3_client *c = NULL;
	char key[48], tmp[4200], dir[4300];
	uint64_t n = 0;
	int fd = -1, rc;

	obj_s3_key(k, hash, key);
	snprintf(tmp, sizeof(tmp), "%s/.s3-XXXXXX", s->tmp); /* a leftover goes at next start */
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0'; /* its folder, which may be gone (derived/ removed) */
	if ((fd = mkstemp(tmp)) < 0) {
		rc = err_set(&err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", s->tmp,
			     strerror(errno));
		goto fail;
	}
	if (!(c = client_take(s, &err))) {
		rc = err.code ? err.code : -ENOMEM;
		goto fail;
	}
	rc = fetch_into(c, key, hash, fd, &n, &err);
	client_give(s, c);
	state_note(s->s3, rc, &err);
	if (rc)
		goto fail;
	/* each fetcher has its own temporary: the last rename wins, with the same bytes */
	if ((rc = core_mkdir_p(dir, 0700))) {
		err_set(&err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", dir, strerror(-rc));
		goto fail;
	}
	if (rename(tmp, path)) {
		rc = err_set(&err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", path,
			     strerror(errno));
		goto fail;
	}
	close(fd);
	atomic_fetch_add(&s->s3->added, n);
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	log_msg(s->log, LOG_ERROR, "store", "object %s not readable: not cached here and %s", key,
		err.reason[0] ? err.reason : strerror(-rc));
	return -EIO;
}

/* ---- status ------------------------------------------------------------------------- */

static void state_read(struct store *s, struct store_objects_state *out)
{
	char *text = NULL, word[16] = "";
	long long at = 0, err_at = 0;
	size_t len;
	int used = 0;

	if (core_read_file(s->s3->state_path, 1024, &text, &len))
		return;
	if (sscanf(text, "%15s %lld %lld\n%n", word, &at, &err_at, &used) >= 3) {
		out->known = true;
		out->last_ok = !strcmp(word, "ok");
		out->last_at = at;
		out->last_error_at = err_at;
		snprintf(out->last_error, sizeof(out->last_error), "%.*s",
			 (int)strcspn(text + used, "\n"), text + used);
	}
	free(text);
}

int store_objects_state(struct store *s, bool probe, struct store_objects_state *out)
{
	struct fiona_err err = {0};
	struct s3_client *c;
	uint64_t size;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s->s3) {
		snprintf(out->where, sizeof(out->where), "%.500s", s->objects);
		out->reachable = out->known = out->last_ok = true;
		return 0;
	}
	out->s3 = true;
	snprintf(out->where, sizeof(out->where), "%s/%s", s->s3->cfg.endpoint, s->s3->cfg.bucket);
	state_read(s, out); /* what the gateway's own operations met */
	if (!probe)
		return 0;
	if (!(c = client_take(s, &err)))
		return err.code ? err.code : -ENOMEM;
	rc = s3_head(c, "objects/probe", &size, &err); /* any answer shows it reachable */
	client_give(s, c);
	out->reachable = reached(rc);
	if (!out->reachable)
		snprintf(out->probe_error, sizeof(out->probe_error), "%s", err.reason);
	return 0;
}

/* ---- the sweep: keys no row names, older than the grace period ---------------------- */

/* The hash of a key of kind k as obj_s3_key gives it; false for any other form. */
static bool hash_of_key(enum obj_kind k, const char *key, char hash[33])
{
	static const char hex[] = "0123456789abcdef";
	size_t p = strlen(kinds[k].prefix), x = strlen(kinds[k].suffix);

	if (strncmp(key, kinds[k].prefix, p) || strlen(key) != p + 3 + 32 + x ||
	    strcmp(key + p + 3 + 32, kinds[k].suffix) || key[p + 2] != '/' ||
	    memcmp(key + p, key + p + 3, 2))
		return false;
	for (int i = 0; i < 32; i++)
		if (!memchr(hex, key[p + 3 + i], 16))
			return false;
	memcpy(hash, key + p + 3, 32);
	hash[32] = '\0';
	return true;
}

/* Whether a row names hash, on the reader connection (-errno when it cannot tell). */
static int named_read(struct store *s, enum obj_kind k, const char *hash)
{
	struct db_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->rlock);
	if (!(rc = cat_prepare_read(s, kinds[k].named, &st))) {
		db_bind_text(st, 1, hash, -1);
		rc = db_step(st);
		rc = rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : cat_errno(rc) ? cat_errno(rc) : -EIO;
		db_finalize(st);
	}
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

struct sweep {
	struct store *s;
	enum obj_kind kind;
	int64_t now;
	struct mark *marks, *doomed;
	size_t n_marks, cap_marks, n_doomed, cap_doomed, listed;
};

static int64_t marked_since(const struct obj_s3 *o, enum obj_kind k, const char *hash, int64_t now)
{
	const struct mark *v = o->marks[k];
	size_t lo = 0, hi = o->n_marks[k];

	while (lo < hi) { /* the marks are in key order, as the listing was */
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(v[mid].hash, hash, 32);

		if (!c)
			return v[mid].since;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return now;
}

static int sweep_key(void *arg, const char *key, uint64_t size)
{
	struct sweep *w = arg;
	struct mark *m;
	char hash[33];
	int named;

	(void)size;
	w->listed++;
	if (!hash_of_key(w->kind, key, hash))
		return 0; /* not a name fiona gives: never touched */
	if ((named = named_read(w->s, w->kind, hash)) < 0)
		return named;
	if (named)
		return 0;
	if (!(m = store_grow((void **)&w->marks, &w->n_marks, &w->cap_marks, sizeof(*m))))
		return -ENOMEM;
	memcpy(m->hash, hash, 33);
	m->since = marked_since(w->s->s3, w->kind, hash, w->now);
	if (w->now - m->since < w->s->s3->grace)
		return 0;
	if (!(m = store_grow((void **)&w->doomed, &w->n_doomed, &w->cap_doomed, sizeof(*m))))
		return -ENOMEM;
	memcpy(m, &w->marks[w->n_marks - 1], sizeof(*m));
	return 0;
}

/* Whether a row names hash, on the writer connection (under s->lock). */
static int named_write(struct store *s, enum obj_kind k, const char *hash)
{
	struct db_stmt *st = NULL;
	int rc = cat_stmt(s, kinds[k].named, &st);

	if (rc)
		return rc;
	db_bind_text(st, 1, hash, -1);
	rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -EIO;
}

/* With several gateways: a writer elsewhere may have found the key just before the delete
 * and committed right after the check. The key is deleted with a local copy at hand and
 * the catalog asked again afterwards; named by then, the copy is put back (the writer's
 * own check after its commit covers the other order: obj_s3_confirm). */
static int delete_shared(struct store *s, struct s3_client *c, enum obj_kind k, const char *hash,
			 const char *key, struct fiona_err *err)
{
	char path[4300];
	struct core_map map;
	int rc = local_path(s, k, hash, path, sizeof(path));

	if (!rc && access(path, F_OK) != 0)
		rc = obj_s3_fetch(s, k, hash, path);
	rc = rc ? rc : s3_delete(c, key, err);
	if (rc || (rc = named_write(s, k, hash)) <= 0)
		return rc;
	log_msg(s->log, LOG_WARN, "store",
		"object %s was named by another gateway while it was removed: put back", key);
	if (!(rc = core_map_file(path, &map))) {
		rc = s3_put(c, key, map.p, map.len, 0, NULL, err);
		core_map_release(&map);
	}
	return rc ? rc : -EEXIST; /* not removed after all */
}

/* Deletes one unnamed key after checking again, with commits and puts held off. 1 when
 * it was deleted, 0 when it is named or in flight now, -errno. */
static int sweep_delete(struct store *s, struct s3_client *c, enum obj_kind k, const struct mark *m)
{
	struct obj_s3 *o = s->s3;
	struct fiona_err err = {0};
	char key[48], path[4300];
	int rc = 0;

	obj_s3_key(k, m->hash, key);
	pthread_mutex_lock(&s->lock);
	pthread_mutex_lock(&o->flight_lock);
	if (flight_find(o, m->hash) || (rc = named_write(s, k, m->hash)) != 0) {
		rc = rc < 0 ? rc : 0; /* in flight or named now, or an error: kept */
		goto out;
	}
	rc = shared_catalog(s) ? delete_shared(s, c, k, m->hash, key, &err)
			       : s3_delete(c, key, &err);
	if (rc == -EEXIST) {
		rc = 0;
		goto out;
	}
	state_note(o, rc, &err);
	if (!rc && !local_path(s, k, m->hash, path, sizeof(path)))
		unlink(path); /* its local copy, if any */
	rc = rc ? rc : 1;
out:
	pthread_mutex_unlock(&o->flight_lock);
	pthread_mutex_unlock(&s->lock);
	if (rc == 1)
		log_msg(s->log, LOG_INFO, "store",
			"removed object %s from S3: no catalog row has named it for %lld s", key,
			(long long)(time(NULL) - m->since));
	else if (rc < 0)
		log_msg(s->log, LOG_WARN, "store", "object %s not removed: %s", key,
			err.reason[0] ? err.reason : strerror(-rc));
	return rc;
}

/* One listing (the keys of kind k) and its deletions: the number removed, or -errno. */
static int sweep_kind(struct store *s, struct s3_client *c, enum obj_kind k, int64_t now)
{
	struct obj_s3 *o = s->s3;
	struct sweep w = {.s = s, .kind = k, .now = now};
	struct fiona_err err = {0};
	int rc = s3_list(c, kinds[k].prefix, 1000, sweep_key, &w, &err), removed = 0;

	state_note(o, rc, &err);
	if (rc) {
		log_msg(s->log, LOG_WARN, "store", "S3 sweep: cannot list %s: %s", kinds[k].prefix,
			err.reason[0] ? err.reason : strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < w.n_doomed; i++)
		if (sweep_delete(s, c, k, &w.doomed[i]) == 1)
			removed++;
	free(o->marks[k]); /* the marks of this pass replace the last one's */
	o->marks[k] = w.marks;
	o->n_marks[k] = w.n_marks;
	w.marks = NULL;
	if (w.n_marks || removed)
		log_msg(s->log, LOG_INFO, "store",
			"S3 sweep of %s: %zu keys listed, %zu not named by the catalog, %d "
			"removed after %lld s",
			kinds[k].prefix, w.listed, w.n_marks, removed, (long long)o->grace);
out:
	free(w.marks);
	free(w.doomed);
	return rc ? rc : removed;
}

int obj_s3_sweep(struct store *s, int64_t now)
{
	struct obj_s3 *o = s->s3;
	struct fiona_err err = {0};
	struct s3_client *c;
	int rc = 0, removed = 0;

	if (!o || now < o->next_sweep)
		return 0;
	o->next_sweep = now + o->sweep_period;
	if (!(c = client_take(s, &err)))
		return err.code ? err.code : -ENOMEM;
	for (int k = 0; k < OBJ_KINDS && rc >= 0; k++)
		if ((rc = sweep_kind(s, c, (enum obj_kind)k, now)) > 0)
			removed += rc;
	client_give(s, c);
	return rc < 0 ? rc : removed;
}

/* ---- the bound on local copies ------------------------------------------------------ */

struct copy {
	enum obj_kind kind;
	char hash[33];
	int64_t atime;
	uint64_t size;
};

static int copy_older(const void *a, const void *b)
{
	const struct copy *x = a, *y = b;

	return (x->atime > y->atime) - (x->atime < y->atime);
}

/* Every local copy of kind k (objects/<hh>/<hash>.dcm, derived/<hh>/<hash>) with its last
 * use and size, appended to *out. */
static int copies_list(struct store *s, enum obj_kind k, struct copy **out, size_t *n, size_t *cap,
		       uint64_t *total)
{
	const char *x = kinds[k].suffix;
	char base[4300];
	int top, rc = 0;

	if (k == OBJ_DICOM)
		snprintf(base, sizeof(base), "%s", s->objects);
	else
		snprintf(base, sizeof(base), "%s/derived", s->cfg->data_dir);
	if ((top = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0; /* none yet */
	for (int d = 0; d < 256 && !rc; d++) {
		char sub[3];
		int fd;
		DIR *dir;
		struct dirent *e;

		snprintf(sub, sizeof(sub), "%02x", d);
		if ((fd = openat(top, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			continue;
		if (!(dir = fdopendir(fd))) {
			close(fd);
			continue;
		}
		while ((e = readdir(dir))) {
			struct stat st;
			struct copy *c;

			if (strlen(e->d_name) != 32 + strlen(x) || strcmp(e->d_name + 32, x) ||
			    fstatat(dirfd(dir), e->d_name, &st, 0))
				continue;
			if (!(c = store_grow((void **)out, n, cap, sizeof(*c)))) {
				rc = -ENOMEM;
				break;
			}
			c->kind = k;
			memcpy(c->hash, e->d_name, 32);
			c->hash[32] = '\0';
			c->atime = st.st_atim.tv_sec;
			c->size = (uint64_t)st.st_size;
			*total += c->size;
		}
		closedir(dir);
	}
	close(top);
	return rc;
}

/* Removes one local copy if S3 holds the key with its size. */
static bool evict_one(struct store *s, struct s3_client *c, const struct copy *k, int *rc)
{
	struct fiona_err err = {0};
	char key[48], path[4300];
	uint64_t size = 0;

	obj_s3_key(k->kind, k->hash, key);
	*rc = s3_head(c, key, &size, &err);
	if (*rc == -ENOENT)
		*rc = 0; /* only here (not put yet, or an orphan's copy): kept */
	else
		state_note(s->s3, *rc, &err);
	if (*rc || size != k->size)
		return false;
	return !local_path(s, k->kind, k->hash, path, sizeof(path)) && unlink(path) == 0;
}

int obj_s3_evict(struct store *s, int64_t now)
{
	struct obj_s3 *o = s->s3;
	struct fiona_err err = {0};
	struct s3_client *c = NULL;
	struct copy *v = NULL;
	uint64_t total = 0, freed = 0;
	size_t n = 0, cap = 0, gone = 0;
	int rc;

	if (!o || (now < o->next_evict && atomic_load(&o->added) < o->cache_max / 8))
		return 0;
	o->next_evict = now + EVICT_PERIOD;
	atomic_store(&o->added, 0);
	rc = copies_list(s, OBJ_DICOM, &v, &n, &cap, &total);
	rc = rc ? rc : copies_list(s, OBJ_DERIVED, &v, &n, &cap, &total); /* one bound, one LRU */
	if (rc || total <= o->cache_max)
		goto out;
	if (!(c = client_take(s, &err))) {
		rc = err.code ? err.code : -ENOMEM;
		goto out;
	}
	qsort(v, n, sizeof(*v), copy_older); /* least recently used first */
	for (size_t i = 0; i < n && !rc && total - freed > o->cache_max / 10 * 9; i++)
		if (evict_one(s, c, &v[i], &rc)) {
			freed += v[i].size;
			gone++;
		}
	client_give(s, c);
	log_msg(s->log, rc ? LOG_WARN : LOG_INFO, "store",
		"S3 cache: %zu local copies (%.1f MB, bound %.1f MB): %zu evicted (%.1f MB)%s%s", n,
		(double)total / 1e6, (double)o->cache_max / 1e6, gone, (double)freed / 1e6,
		rc ? "; stopped: " : "", rc ? strerror(-rc) : "");
out:
	free(v);
	return rc ? rc : (int)gone;
}

/* Marks a copy as used (its atime), at most once a minute: the eviction's LRU order. */
void obj_s3_touch(int fd_dir, const char *rel, const struct stat *st)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};

	if (time(NULL) - st->st_atim.tv_sec >= 60)
		utimensat(fd_dir, rel, ts, 0);
}
