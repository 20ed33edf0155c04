/*
 * listing: the catalog reads behind the mount's folders. Each one is a range of an index
 * on the folder's own rows (a project's participants, a participant's events, an event's
 * studies, a series' instances with their kept sizes), so a folder costs the same in a
 * catalog of a thousand instances as in one of millions. All read through the reader
 * connection (s->rdb under s->rlock) and return new arrays: no lock is held by callers.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

/* Runs sql (text parameters; NULL ends them) and returns column 0 of every row as a new
 * NULL-terminated array of new strings. */
static int strv_query(struct store *s, const char *sql, char ***out, const char *a, const char *b)
{
	struct db_stmt *st = NULL;
	char **v = calloc(1, sizeof(*v));
	size_t n = 0, cap = 1;
	int rc;

	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s, sql, &st);
	if (!rc) {
		db_bind_text(st, 1, a, -1);
		if (b)
			db_bind_text(st, 2, b, -1);
		while ((rc = db_step(st)) == DB_ROW) {
			if (n + 1 >= cap) {
				char **nv = realloc(v, (cap *= 2) * sizeof(*v));

				if (!nv) {
					rc = DB_NOMEM;
					break;
				}
				v = nv;
			}
			if (!(v[n] = strdup((const char *)db_column_text(st, 0)))) {
				rc = DB_NOMEM;
				break;
			}
			v[++n] = NULL;
		}
		rc = cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	if (rc) {
		store_strv_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int store_list_participants(struct store *s, const char *project, char ***out)
{
	return strv_query(s, "SELECT participant FROM participants WHERE project=? ORDER BY 1", out,
			  project, NULL);
}

int store_list_events(struct store *s, const char *project, const char *participant, char ***out)
{
	return strv_query(s,
			  "SELECT DISTINCT event FROM assignments WHERE project=? AND"
			  " participant=? ORDER BY 1",
			  out, project, participant);
}

static void qstudy_fill(struct db_stmt *st, void *row)
{
	struct store_qstudy *o = row;

	o->id = db_column_int64(st, 0);
	o->last_arrival = db_column_int64(st, 1);
	store_col_text(st, 2, o->study_date, sizeof(o->study_date));
	store_col_text(st, 3, o->accession, sizeof(o->accession));
}

int store_list_quarantine(struct store *s, struct store_qstudy **out, size_t *n,
			  int64_t *expires_at)
{
	int64_t since = time(NULL) - s->cfg->quarantine_days * 86400, oldest = 0;
	int rc = store_read_rows(s,
				 "SELECT s.id, s.last_arrival, coalesce(s.study_date,''),"
				 " coalesce(s.accession,'') FROM studies s WHERE s.complete=1 AND"
				 " s.last_arrival>=? AND NOT EXISTS (SELECT 1 FROM assignments a"
				 " WHERE a.study=s.id) ORDER BY s.id",
				 sizeof(**out), qstudy_fill, (void **)out, n, "i", since);

	for (size_t i = 0; !rc && i < *n; i++)
		if (!oldest || (*out)[i].last_arrival < oldest)
			oldest = (*out)[i].last_arrival;
	if (!rc)
		*expires_at = oldest ? oldest + s->cfg->quarantine_days * 86400 : 0;
	return rc;
}

void store_id_fill(struct db_stmt *st, void *row)
{
	*(int64_t *)row = db_column_int64(st, 0);
}

int store_list_event_studies(struct store *s, const char *project, const char *participant,
			     const char *event, int64_t **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT study FROM assignments WHERE project=? AND participant=?"
			       " AND event=? ORDER BY study",
			       sizeof(**out), store_id_fill, (void **)out, n, "ttt", project,
			       participant, event);
}

uint64_t store_hash_version(const char *hash)
{
	char head[17];

	if (!hash)
		return 0;
	snprintf(head, sizeof(head), "%s", hash);
	return strtoull(head, NULL, 16);
}

static void deid_file_fill(struct db_stmt *st, void *row)
{
	struct store_deid_file *o = row;

	o->id = db_column_int64(st, 0);
	o->number = (long)db_column_int64(st, 1);
	o->size = db_column_int64(st, 2);
	o->crc = db_column_int64(st, 3);
	o->version = store_hash_version((const char *)db_column_text(st, 4));
}

int store_list_deid_files(struct store *s, int64_t series_id, const char *profile,
			  struct store_deid_file **out, size_t *n)
{
	return store_read_rows(
		s,
		"SELECT i.id, coalesce(i.number,-1), coalesce(d.size, -1),"
		" coalesce(d.crc, -1), i.hash FROM instances i LEFT JOIN derived d ON"
		" d.instance=i.id AND d.profile=? WHERE i.series=?"
		" ORDER BY i.number, i.id",
		sizeof(**out), deid_file_fill, (void **)out, n, "ti", profile, series_id);
}

static void series_name_fill(struct db_stmt *st, void *row)
{
	struct store_series_name *o = row;

	o->id = db_column_int64(st, 0);
	o->study_id = db_column_int64(st, 1);
	o->number = (long)db_column_int64(st, 2);
	store_col_text(st, 3, o->modality, sizeof(o->modality));
	store_col_text(st, 4, o->labels, sizeof(o->labels));
	o->described = db_column_type(st, 5) != DB_NULL;
	store_col_text(st, 5, o->description, sizeof(o->description));
	o->prepared = (int)db_column_int64(st, 6) == 1;
	store_col_text(st, 7, o->sop_class, sizeof(o->sop_class));
}

/* The description is the one the de-identified file carries (kept by the preparer),
 * never the catalog's series.description, which is the original value. */
int store_list_series_names(struct store *s, int64_t study_id, const char *profile,
			    struct store_series_name **out, size_t *n)
{
	return store_read_rows(
		s,
		"SELECT r.id, r.study, coalesce(r.number,-1), coalesce(r.modality,''),"
		" r.labels, (SELECT d.description FROM instances i JOIN derived d"
		" ON d.instance=i.id AND d.profile=?1 WHERE i.series=r.id AND"
		" d.size>=0 AND d.description IS NOT NULL ORDER BY i.number, i.id"
		" LIMIT 1), NOT EXISTS (SELECT 1 FROM instances i WHERE"
		" i.series=r.id AND NOT EXISTS (SELECT 1 FROM derived d WHERE"
		" d.instance=i.id AND d.profile=?1)),"
		" (SELECT coalesce(i.sop_class_uid,'') FROM instances i WHERE i.series=r.id"
		" ORDER BY i.number, i.id LIMIT 1)"
		" FROM series r WHERE r.study=?2 ORDER BY r.number, r.id",
		sizeof(**out), series_name_fill, (void **)out, n, "ti", profile, study_id);
}

int store_instance_open(struct store *s, int64_t instance, const char *profile, char hash[33],
			bool *cleaned, int64_t *size, uint8_t **plan, size_t *plan_len)
{
	struct db_stmt *st = NULL;
	int rc;

	*plan = NULL;
	*cleaned = false;
	*plan_len = 0;
	*size = STORE_DERIVED_MISSING;
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(s,
			      "SELECT coalesce(d.source, i.hash), coalesce(d.size, -1), d.plan,"
			      " d.source IS NOT NULL FROM instances i"
			      " LEFT JOIN derived d ON d.instance=i.id AND d.profile=?"
			      " WHERE i.id=?",
			      &st);
	if (!rc) {
		db_bind_text(st, 1, profile ? profile : "", -1);
		db_bind_int64(st, 2, instance);
		rc = db_step(st);
		if (rc == DB_ROW) {
			const void *b = db_column_blob(st, 2);
			size_t len = (size_t)db_column_bytes(st, 2);

			store_col_text(st, 0, hash, 33);
			*size = db_column_int64(st, 1);
			*cleaned = (int)db_column_int64(st, 3) == 1;
			rc = 0;
			if (b && len && (*plan = malloc(len))) {
				memcpy(*plan, b, len);
				*plan_len = len;
			} else if (b && len) {
				rc = -ENOMEM;
			}
		} else {
			rc = rc == DB_DONE ? -ENOENT : cat_errno(rc);
		}
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}
