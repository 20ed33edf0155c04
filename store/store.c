/*
 * The store: opening, ingest of one instance, and the catalog queries other modules use.
 * Invariants: an instance row exists only after its object is durable; every change
 * commits in one transaction and bumps the generation; identifying values never reach
 * the log (internal keys and counts only). One SQLite connection guarded by s->mu.
 */
#include "core/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon/anon.h"
#include "store/store_int.h"

#define STORE_MAX_FILE ((size_t)4 << 30)

int store_open(const struct fiona_config *cfg, struct fiona_log *log, struct store **out,
	       struct fiona_err *err)
{
	char path[4200];
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	s->cfg = cfg;
	s->log = log;
	pthread_mutex_init(&s->mu, NULL);
	int rc = core_mkdir_p(cfg->data_dir, 0700);
	if (rc) {
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", cfg->data_dir,
			strerror(-rc));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/objects", cfg->data_dir);
	rc = objstore_open(&s->obj, path, err);
	if (rc)
		goto fail;
	snprintf(path, sizeof(path), "%s/catalog.sqlite", cfg->data_dir);
	rc = catalog_open(path, &s->db, err);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

uint64_t store_generation(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t g = s->generation;
	pthread_mutex_unlock(&s->mu);
	return g;
}

int store_object_path(const struct store *s, const char *hash, char *out, size_t cap)
{
	return objstore_path(&s->obj, hash, out, cap);
}

/* ---- small SQL helpers (caller holds s->mu) ---------------------------------------- */

/* Prepares sql and binds the arguments described by fmt: 't' text, 'i' int64. */
sqlite3_stmt *store_prep(struct store *s, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 't')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	}
	va_end(ap);
	return st;
}

/* Runs a statement to completion; 0 or -EIO. */
int store_run(sqlite3_stmt *st)
{
	if (!st)
		return -EIO;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

/* First column of the first row as int64; -ENOENT if no row. */
int store_get_i64(sqlite3_stmt *st, int64_t *out)
{
	if (!st)
		return -EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

void store_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int store_begin(struct store *s)
{
	return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

int store_end(struct store *s, int rc)
{
	if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		s->generation++;
		return 0;
	}
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc ? rc : -EIO;
}

/* ---- ingest ------------------------------------------------------------------------ */

/* Inserts or finds a row by its unique key; the row id into *id. */
static int store_upsert_patient(struct store *s, const struct dcm_summary *d, int64_t *id)
{
	int rc = store_run(store_prep(s,
				      "INSERT INTO patients(patient_id, name, birth_date) VALUES(?,?,?)"
				      " ON CONFLICT(patient_id) DO NOTHING",
				      "ttt", d->patient_id, d->patient_name, d->patient_birth_date));
	return rc ? rc
		  : store_get_i64(store_prep(s, "SELECT id FROM patients WHERE patient_id=?", "t",
					     d->patient_id),
				  id);
}

static int store_upsert_study(struct store *s, const struct dcm_summary *d,
			      const struct store_origin *o, int64_t patient, int64_t now,
			      int64_t *id)
{
	int rc = store_run(store_prep(
		s,
		"INSERT INTO studies(patient, study_uid, study_date, accession, description,"
		" calling_aet, called_aet, peer_host, first_arrival, last_arrival)"
		" VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(study_uid) DO UPDATE SET"
		" last_arrival=excluded.last_arrival, complete=0",
		"itttttttii", patient, d->study_uid, d->study_date, d->accession,
		d->study_description, o && o->calling_aet ? o->calling_aet : "",
		o && o->called_aet ? o->called_aet : "", o && o->peer_host ? o->peer_host : "",
		now, now));
	return rc ? rc
		  : store_get_i64(store_prep(s, "SELECT id FROM studies WHERE study_uid=?", "t",
					     d->study_uid),
				  id);
}

static int store_upsert_series(struct store *s, const struct dcm_summary *d, int64_t study,
			       int64_t *id)
{
	int rc = store_run(store_prep(
		s,
		"INSERT INTO series(study, series_uid, modality, description, number)"
		" VALUES(?,?,?,?,?) ON CONFLICT(series_uid) DO NOTHING",
		"ittti", study, d->series_uid, d->modality, d->series_description,
		(int64_t)d->series_number));
	return rc ? rc
		  : store_get_i64(store_prep(s, "SELECT id FROM series WHERE series_uid=?", "t",
					     d->series_uid),
				  id);
}

/* The rows of one instance whose object (hash) is already durable. */
static int store_catalog_instance(struct store *s, const struct dcm_summary *d,
				  const struct store_origin *o, const char *hash, uint64_t size,
				  struct store_ingest_result *r)
{
	int64_t patient, series, other;
	int rc = store_upsert_patient(s, d, &patient);
	rc = rc ? rc : store_upsert_study(s, d, o, patient, core_now_wall(), &r->study_id);
	rc = rc ? rc : store_upsert_series(s, d, r->study_id, &series);
	rc = rc ? rc
		: store_run(store_prep(s,
				       "INSERT INTO objects(hash, size) VALUES(?,?)"
				       " ON CONFLICT(hash) DO NOTHING",
				       "ti", hash, (int64_t)size));
	if (rc)
		return rc;
	rc = store_get_i64(store_prep(s, "SELECT id FROM instances WHERE sop_uid=? AND hash=?",
				      "tt", d->sop_uid, hash),
			   &r->instance_id);
	if (rc != -ENOENT) {
		r->duplicate = rc == 0;
		return rc;
	}
	r->conflict = store_get_i64(store_prep(s, "SELECT id FROM instances WHERE sop_uid=?",
					       "t", d->sop_uid),
				    &other) == 0;
	rc = store_run(store_prep(s,
				  "INSERT INTO instances(series, sop_uid, sop_class_uid, ts_uid,"
				  " number, hash) VALUES(?,?,?,?,?,?)",
				  "itttit",
				  series, d->sop_uid, d->sop_class_uid, d->transfer_syntax,
				  (int64_t)d->instance_number, hash));
	if (!rc)
		r->instance_id = sqlite3_last_insert_rowid(s->db);
	return rc;
}

int store_ingest(struct store *s, const char *path, const struct store_origin *o, bool move,
		 struct store_ingest_result *res, struct fiona_err *err)
{
	struct core_map m = { .fd = -1 };
	struct dcm_summary *d = calloc(1, sizeof(*d));
	struct store_ingest_result r = { 0 };
	char hash[33];
	bool existed = false;
	int rc = d ? core_map_file(path, &m) : -ENOMEM;
	if (rc) {
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s", strerror(-rc));
		goto fail;
	}
	rc = dcm_summary_read(m.p, m.len, d, err);
	if (rc)
		goto fail;
	if (!d->study_uid[0] || !d->series_uid[0] || !d->sop_uid[0]) {
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			     "missing Study, Series or SOP Instance UID");
		goto fail;
	}
	objstore_hash(m.p, m.len, hash);
	rc = objstore_put(&s->obj, hash, path, m.p, m.len, move, &existed, err);
	if (rc)
		goto fail;
	pthread_mutex_lock(&s->mu);
	rc = store_begin(s);
	rc = rc ? rc : store_catalog_instance(s, d, o, hash, m.len, &r);
	rc = store_end(s, rc);
	if (!rc && r.conflict)
		s->conflicts++;
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: cannot record instance");
		goto fail;
	}
	if (r.conflict)
		log_msg(s->log, LOG_WARN, "store",
			"instance %lld: same SOP Instance UID as an earlier instance, different "
			"bytes (object %s); both kept",
			(long long)r.instance_id, hash);
	*res = r;
	core_map_release(&m);
	free(d);
	return 0;
fail:
	core_map_release(&m);
	free(d);
	return rc;
}
