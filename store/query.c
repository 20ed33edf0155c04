/*
 * Catalog reads for the mount and the commands: studies with their assignment and
 * counts, series, instances, participants, and the status counters. Every function takes
 * s->mu for its statements only and returns new arrays the caller frees.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define STUDY_SELECT                                                                         \
	"SELECT s.id, s.study_uid, s.study_date, s.accession, p.patient_id, s.first_arrival," \
	" s.last_arrival, s.complete, COALESCE(a.project,''), COALESCE(a.participant,''),"    \
	" COALESCE(a.event,''),"                                                              \
	" (SELECT COUNT(*) FROM series r WHERE r.study=s.id),"                                \
	" (SELECT COUNT(*) FROM instances i JOIN series r ON i.series=r.id WHERE r.study=s.id)," \
	" (SELECT group_concat(m, '\\') FROM (SELECT DISTINCT r.modality m FROM series r"     \
	" WHERE r.study=s.id AND r.modality<>'' ORDER BY m))"                                 \
	" FROM studies s JOIN patients p ON s.patient=p.id"                                   \
	" LEFT JOIN assignments a ON a.study=s.id "

static void query_study_row(sqlite3_stmt *st, struct store_study *o)
{
	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(st, 0);
	store_col(st, 1, o->study_uid, sizeof(o->study_uid));
	store_col(st, 2, o->study_date, sizeof(o->study_date));
	store_col(st, 3, o->accession, sizeof(o->accession));
	store_col(st, 4, o->patient_id, sizeof(o->patient_id));
	o->first_arrival = sqlite3_column_int64(st, 5);
	o->last_arrival = sqlite3_column_int64(st, 6);
	o->complete = sqlite3_column_int(st, 7) != 0;
	store_col(st, 8, o->project, sizeof(o->project));
	store_col(st, 9, o->participant, sizeof(o->participant));
	store_col(st, 10, o->event, sizeof(o->event));
	o->n_series = (long)sqlite3_column_int64(st, 11);
	o->n_instances = (long)sqlite3_column_int64(st, 12);
	store_col(st, 13, o->modalities, sizeof(o->modalities));
}

/* Grows *arr by one element of size sz; the new element's address or NULL. */
static void *query_grow(void **arr, size_t *n, size_t *cap, size_t sz)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16, bytes;
		if (core_mul_size(nc, sz, &bytes))
			return NULL;
		void *p = realloc(*arr, bytes);
		if (!p)
			return NULL;
		*arr = p;
		*cap = nc;
	}
	return (char *)*arr + (*n)++ * sz;
}

int store_list_studies(struct store *s, enum store_filter f, const char *project,
		       struct store_study **out, size_t *n)
{
	static const char *const where[] = {
		[STORE_QUARANTINE] = "WHERE a.study IS NULL ORDER BY s.id",
		[STORE_ASSIGNED] = "WHERE a.study IS NOT NULL AND (?1 IS NULL OR a.project=?1)"
				   " ORDER BY s.id",
		[STORE_ALL] = "WHERE (?1 IS NULL OR a.project=?1) ORDER BY s.id",
	};
	char sql[2048];
	snprintf(sql, sizeof(sql), "%s%s", STUDY_SELECT, where[f]);
	void *arr = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto done;
	}
	if (f != STORE_QUARANTINE && project)
		sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct store_study *e = query_grow(&arr, &len, &cap, sizeof(*e));
		if (!e)
			rc = -ENOMEM;
		else
			query_study_row(st, e);
	}
done:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = len;
	return 0;
}

int store_get_study(struct store *s, int64_t id, struct store_study *out)
{
	pthread_mutex_lock(&s->mu);
	sqlite3_stmt *st = store_prep(s, STUDY_SELECT "WHERE s.id=?", "i", id);
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
	if (rc == SQLITE_ROW)
		query_study_row(st, out);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int store_list_series(struct store *s, int64_t study_id, struct store_series **out, size_t *n)
{
	void *arr = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	sqlite3_stmt *st = store_prep(
		s,
		"SELECT r.id, r.study, r.series_uid, r.modality, r.description, r.number,"
		" (SELECT COUNT(*) FROM instances i WHERE i.series=r.id),"
		" COALESCE((SELECT group_concat(label, ',') FROM labels l WHERE l.series=r.id),'')"
		" FROM series r WHERE r.study=? ORDER BY r.number, r.id",
		"i", study_id);
	if (!st)
		rc = -EIO;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct store_series *e = query_grow(&arr, &len, &cap, sizeof(*e));
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		memset(e, 0, sizeof(*e));
		e->id = sqlite3_column_int64(st, 0);
		e->study_id = sqlite3_column_int64(st, 1);
		store_col(st, 2, e->series_uid, sizeof(e->series_uid));
		store_col(st, 3, e->modality, sizeof(e->modality));
		store_col(st, 4, e->description, sizeof(e->description));
		e->number = (long)sqlite3_column_int64(st, 5);
		e->n_instances = (long)sqlite3_column_int64(st, 6);
		store_col(st, 7, e->labels, sizeof(e->labels));
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = len;
	return 0;
}

int store_list_instances(struct store *s, int64_t series_id, struct store_instance **out,
			 size_t *n)
{
	void *arr = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	sqlite3_stmt *st = store_prep(s,
				      "SELECT i.id, i.series, i.sop_uid, i.sop_class_uid, i.ts_uid,"
				      " i.hash, i.number, o.size FROM instances i"
				      " JOIN objects o ON o.hash=i.hash WHERE i.series=?"
				      " ORDER BY i.number, i.id",
				      "i", series_id);
	if (!st)
		rc = -EIO;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct store_instance *e = query_grow(&arr, &len, &cap, sizeof(*e));
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		memset(e, 0, sizeof(*e));
		e->id = sqlite3_column_int64(st, 0);
		e->series_id = sqlite3_column_int64(st, 1);
		store_col(st, 2, e->sop_uid, sizeof(e->sop_uid));
		store_col(st, 3, e->sop_class_uid, sizeof(e->sop_class_uid));
		store_col(st, 4, e->ts_uid, sizeof(e->ts_uid));
		store_col(st, 5, e->hash, sizeof(e->hash));
		e->number = (long)sqlite3_column_int64(st, 6);
		e->size = (uint64_t)sqlite3_column_int64(st, 7);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = len;
	return 0;
}

void store_strv_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

int store_list_participants(struct store *s, const char *project, char ***out)
{
	void *arr = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	sqlite3_stmt *st = store_prep(
		s, "SELECT id FROM participants WHERE project=? ORDER BY id", "t", project);
	if (!st)
		rc = -EIO;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		char **e = query_grow(&arr, &len, &cap, sizeof(*e));
		const unsigned char *t = sqlite3_column_text(st, 0);
		if (!e || !(*e = strdup(t ? (const char *)t : "")))
			rc = -ENOMEM;
	}
	char **end = rc ? NULL : query_grow(&arr, &len, &cap, sizeof(char *));
	if (!rc && !end)
		rc = -ENOMEM;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		for (size_t i = 0; i < len; i++) /* every counted slot was written */
			free(((char **)arr)[i]);
		free(arr);
		return rc;
	}
	*end = NULL;
	*out = arr;
	return 0;
}

int store_stats(struct store *s, struct store_stats *out)
{
	struct store_stats r = { 0 };
	int64_t v[6] = { 0 };
	static const char *const sql[] = {
		"SELECT COUNT(*) FROM studies WHERE id NOT IN (SELECT study FROM assignments)",
		"SELECT COUNT(*) FROM assignments",
		"SELECT COUNT(*) FROM instances",
		"SELECT COUNT(*) FROM objects",
		"SELECT COALESCE(SUM(size),0) FROM objects",
		"SELECT COUNT(*) FROM (SELECT sop_uid FROM instances GROUP BY sop_uid"
		" HAVING COUNT(*) > 1)",
	};
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; !rc && i < CORE_ARRAY_SIZE(sql); i++)
		rc = store_get_i64(store_prep(s, sql[i], ""), &v[i]);
	pthread_mutex_unlock(&s->mu);
	if (rc)
		return rc;
	r.studies_quarantine = (long)v[0];
	r.studies_assigned = (long)v[1];
	r.instances = (long)v[2];
	r.objects = (long)v[3];
	r.object_bytes = (uint64_t)v[4];
	r.conflicts = (long)v[5];
	*out = r;
	return 0;
}
