/*
 * query: what the mount, status and the forwarder read from the catalog — studies with
 * their assignment, series, instances. Every call takes a snapshot into a new array, so
 * callers never hold the catalog lock while they work. They read through the reader
 * connection (s->rdb under s->rlock), so they never wait behind a writer's fsync.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

void store_col_text(struct db_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = db_column_text(st, i);

	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

void *store_grow(void **arr, size_t *n, size_t *cap, size_t elem)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *a = realloc(*arr, nc * elem);

		if (!a)
			return NULL;
		*arr = a;
		*cap = nc;
	}
	return memset((char *)*arr + elem * (*n)++, 0, elem);
}

#define STUDY_COLS                                                                                 \
	"SELECT s.id, s.study_uid, s.study_date, s.accession, p.patient_id, s.first_arrival,"      \
	" s.last_arrival, s.complete,"                                                             \
	" (SELECT count(*) FROM series r WHERE r.study=s.id),"                                     \
	" (SELECT count(*) FROM instances i JOIN series r ON i.series=r.id WHERE r.study=s.id),"   \
	" coalesce(a.project,''), coalesce(a.participant,''), coalesce(a.event,''),"               \
	" coalesce((SELECT group_concat(DISTINCT r.modality) FROM series r WHERE "                 \
	"r.study=s.id),'')"                                                                        \
	" FROM studies s JOIN patients p ON s.patient=p.id"                                        \
	" LEFT JOIN assignments a ON a.study=s.id "

static void study_row(struct db_stmt *st, struct store_study *o)
{
	o->id = db_column_int64(st, 0);
	store_col_text(st, 1, o->study_uid, sizeof(o->study_uid));
	store_col_text(st, 2, o->study_date, sizeof(o->study_date));
	store_col_text(st, 3, o->accession, sizeof(o->accession));
	store_col_text(st, 4, o->patient_id, sizeof(o->patient_id));
	o->first_arrival = db_column_int64(st, 5);
	o->last_arrival = db_column_int64(st, 6);
	o->complete = (int)db_column_int64(st, 7) != 0;
	o->n_series = (long)db_column_int64(st, 8);
	o->n_instances = (long)db_column_int64(st, 9);
	store_col_text(st, 10, o->project, sizeof(o->project));
	store_col_text(st, 11, o->participant, sizeof(o->participant));
	store_col_text(st, 12, o->event, sizeof(o->event));
	store_col_text(st, 13, o->modalities, sizeof(o->modalities));
}

int store_list_studies(struct store *s, enum store_filter f, const char *project,
		       struct store_study **out, size_t *n)
{
	static const char *const where[] = {
		"WHERE a.study IS NULL AND s.complete=1 AND s.last_arrival>=? ORDER BY s.id",
		"WHERE a.study IS NOT NULL AND (?1 IS NULL OR a.project=?1) ORDER BY s.id",
		"ORDER BY s.id",
	};
	struct store_study *arr = NULL, *o;
	size_t cnt = 0, cap = 0;
	struct db_stmt *st = NULL;
	char sql[2048];
	int rc;

	snprintf(sql, sizeof(sql), "%s%s", STUDY_COLS, where[f]);
	pthread_mutex_lock(&s->rlock);
	if ((rc = cat_prepare_read(s, sql, &st)))
		goto out;
	if (f == STORE_QUARANTINE)
		db_bind_int64(st, 1, time(NULL) - s->cfg->quarantine_days * 86400);
	else if (f == STORE_ASSIGNED && project)
		db_bind_text(st, 1, project, -1);
	while ((rc = db_step(st)) == DB_ROW) {
		if (!(o = store_grow((void **)&arr, &cnt, &cap, sizeof(*arr)))) {
			rc = DB_NOMEM;
			break;
		}
		study_row(st, o);
	}
	rc = cat_errno(rc);
out:
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	if (rc) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int store_get_study(struct store *s, int64_t id, struct store_study *out)
{
	struct db_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->rlock);
	if (!(rc = cat_prepare_read(s, STUDY_COLS "WHERE s.id=?", &st))) {
		db_bind_int64(st, 1, id);
		rc = db_step(st);
		if (rc == DB_ROW) {
			memset(out, 0, sizeof(*out));
			study_row(st, out);
			rc = 0;
		} else {
			rc = rc == DB_DONE ? -ENOENT : cat_errno(rc);
		}
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

/* Binds arguments given as a format ('t' text, 'i' int64) to st; -EINVAL for a wrong
 * letter (it would read the argument as the wrong type). */
int cat_bind_va(struct db_stmt *st, const char *fmt, va_list ap)
{
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 't')
			db_bind_text(st, i + 1, va_arg(ap, const char *), -1);
		else if (fmt[i] == 'i')
			db_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else
			return -EINVAL;
	}
	return 0;
}

int store_read_rows(struct store *s, const char *sql, size_t elem, store_row_fill fill, void **out,
		    size_t *n, const char *fmt, ...)
{
	struct db_stmt *st = NULL;
	void *arr = NULL, *o;
	size_t cnt = 0, cap = 0;
	va_list ap;
	int rc;

	pthread_mutex_lock(&s->rlock);
	if (!(rc = cat_prepare_read(s, sql, &st))) {
		va_start(ap, fmt);
		rc = cat_bind_va(st, fmt, ap);
		va_end(ap);
		while (!rc) {
			if ((rc = db_step(st)) != DB_ROW)
				break;
			if (!(o = store_grow(&arr, &cnt, &cap, elem))) {
				rc = DB_NOMEM;
				break;
			}
			fill(st, o);
			rc = 0;
		}
		rc = rc < 0 ? rc : cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	if (rc) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

static void series_fill(struct db_stmt *st, void *row)
{
	struct store_series *o = row;

	o->id = db_column_int64(st, 0);
	o->study_id = db_column_int64(st, 1);
	store_col_text(st, 2, o->series_uid, sizeof(o->series_uid));
	store_col_text(st, 3, o->modality, sizeof(o->modality));
	store_col_text(st, 4, o->description, sizeof(o->description));
	store_col_text(st, 5, o->labels, sizeof(o->labels));
	o->number = (long)db_column_int64(st, 6);
	o->n_instances = (long)db_column_int64(st, 7);
}

int store_list_series(struct store *s, int64_t study_id, struct store_series **out, size_t *n)
{
	return store_read_rows(s,
			       "SELECT r.id, r.study, r.series_uid, coalesce(r.modality,''),"
			       " coalesce(r.description,''), r.labels, coalesce(r.number,-1),"
			       " (SELECT count(*) FROM instances i WHERE i.series=r.id)"
			       " FROM series r WHERE r.study=? ORDER BY r.number, r.id",
			       sizeof(**out), series_fill, (void **)out, n, "i", study_id);
}

static void instance_fill(struct db_stmt *st, void *row)
{
	struct store_instance *o = row;

	o->id = db_column_int64(st, 0);
	o->series_id = db_column_int64(st, 1);
	store_col_text(st, 2, o->sop_uid, sizeof(o->sop_uid));
	store_col_text(st, 3, o->sop_class_uid, sizeof(o->sop_class_uid));
	store_col_text(st, 4, o->ts_uid, sizeof(o->ts_uid));
	store_col_text(st, 5, o->hash, sizeof(o->hash));
	o->number = (long)db_column_int64(st, 6);
	o->size = (uint64_t)db_column_int64(st, 7);
}

int store_list_instances(struct store *s, int64_t series_id, struct store_instance **out, size_t *n)
{
	return store_read_rows(
		s,
		"SELECT id, series, sop_uid, coalesce(sop_class_uid,''), coalesce(ts_uid,''),"
		" hash, coalesce(number,-1), size FROM instances WHERE series=?"
		" ORDER BY number, id",
		sizeof(**out), instance_fill, (void **)out, n, "i", series_id);
}

int store_study_transfers(struct store *s, int64_t study_id, struct store_study_transfers *t)
{
	struct db_stmt *st = NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	t->assigned_by = -1;
	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(
		s,
		"SELECT sum(t.state IN ('queued','sending','waiting')), sum(t.state='sent'),"
		" sum(t.state='verified'), sum(t.state='failed'),"
		" (SELECT last_error FROM transfers t2 JOIN instances i2 ON t2.instance=i2.id"
		"  JOIN series r2 ON i2.series=r2.id WHERE r2.study=?1 AND last_error IS NOT NULL"
		"  ORDER BY t2.next_try DESC LIMIT 1),"
		" (SELECT at FROM assignments WHERE study=?1),"
		" (SELECT who FROM assignments WHERE study=?1),"
		" (SELECT how FROM assignments WHERE study=?1),"
		" sum(t.state IN ('held','dropped'))"
		" FROM transfers t JOIN instances i ON t.instance=i.id"
		" JOIN series r ON i.series=r.id WHERE r.study=?1",
		&st);
	if (!rc) {
		db_bind_int64(st, 1, study_id);
		if ((rc = db_step(st)) == DB_ROW) {
			t->queued = (long)db_column_int64(st, 0);
			t->sent = (long)db_column_int64(st, 1);
			t->verified = (long)db_column_int64(st, 2);
			t->failed = (long)db_column_int64(st, 3);
			store_col_text(st, 4, t->last_error, sizeof(t->last_error));
			t->assigned_at = db_column_int64(st, 5);
			if (db_column_type(st, 6) != DB_NULL &&
			    strcmp((const char *)(db_column_text(st, 7)
							  ? db_column_text(st, 7)
							  : (const unsigned char *)""),
				   "manual") == 0)
				t->assigned_by = (long)db_column_int64(st, 6);
			store_col_text(st, 7, t->how, sizeof(t->how));
			t->held = (long)db_column_int64(st, 8);
		}
		rc = cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

int store_project_counts(struct store *s, const char *project, long *studies, long *instances)
{
	struct db_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->rlock);
	rc = cat_prepare_read(
		s,
		"SELECT (SELECT count(*) FROM assignments WHERE project=?1),"
		" (SELECT count(*) FROM assignments a JOIN series r ON r.study=a.study"
		"  JOIN instances i ON i.series=r.id WHERE a.project=?1)",
		&st);
	if (!rc) {
		db_bind_text(st, 1, project, -1);
		rc = db_step(st);
		if (rc == DB_ROW) {
			*studies = (long)db_column_int64(st, 0);
			*instances = (long)db_column_int64(st, 1);
		}
		rc = rc == DB_DONE ? -EIO : cat_errno(rc);
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	return rc;
}

int store_coupling_csv(struct store *s, const char *project, char **out)
{
	struct db_stmt *st = NULL;
	struct buf b;
	int rc;

	buf_init(&b, 1u << 26);
	rc = buf_appendf(&b, "accession,participant,event\n");
	pthread_mutex_lock(&s->rlock);
	if (!rc &&
	    !(rc = cat_prepare_read(s,
				    "SELECT key, participant, event FROM coupling WHERE project=?"
				    " ORDER BY key",
				    &st))) {
		db_bind_text(st, 1, project, -1);
		while (!rc && db_step(st) == DB_ROW)
			rc = buf_appendf(&b, "%s,%s,%s\n", db_column_text(st, 0),
					 db_column_text(st, 1), db_column_text(st, 2));
	}
	db_finalize(st);
	pthread_mutex_unlock(&s->rlock);
	if (rc) {
		buf_release(&b);
		return rc;
	}
	*out = (char *)buf_detach(&b, NULL);
	return *out ? 0 : -ENOMEM;
}
