/*
 * ingest: one received or imported instance into the store — parse its top-level
 * attributes, keep its bytes as an object, then catalog it in one transaction.
 *
 * Order matters for crash safety: the object is durable before the transaction that
 * names it commits (with the objects on S3: put there first), and the caller answers
 * success only after the commit. A file that
 * does not parse is refused (never cataloged, never kept). The same bytes twice are one
 * object and one instance row; other bytes under a known SOPInstanceUID are a conflict:
 * kept as a second instance row and reported.
 */
#include "core/core.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "anon/anon.h"
#include "store/store_int.h"

static int64_t row_id(struct store *s, const char *sql, const char *a, const char *b, const char *c)
{
	struct db_stmt *st = NULL;
	int64_t id = 0;

	if (cat_stmt(s, sql, &st))
		return -1;
	db_bind_text(st, 1, a, -1);
	if (b)
		db_bind_text(st, 2, b, -1);
	if (c)
		db_bind_text(st, 3, c, -1);
	if (db_step(st) == DB_ROW)
		id = db_column_int64(st, 0);
	db_reset(st);
	return id;
}

static int catalog_patient_study(struct store *s, const struct dcm_summary *m,
				 const struct store_origin *o, int64_t now, int64_t *study)
{
	int64_t pat;
	int rc = cat_run(s,
			 "INSERT OR IGNORE INTO patients(patient_id, patient_name, birth_date)"
			 " VALUES(?,?,?)",
			 "ttt", m->patient_id, m->patient_name, m->patient_birth_date);

	if (rc)
		return rc;
	pat = row_id(
		s, "SELECT id FROM patients WHERE patient_id=? AND patient_name=? AND birth_date=?",
		m->patient_id, m->patient_name, m->patient_birth_date);
	rc = cat_run(s,
		     "INSERT INTO studies(patient, study_uid, study_date, study_time, accession,"
		     " description, calling_aet, called_aet, first_arrival, last_arrival,"
		     " institution) VALUES(?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(study_uid) DO UPDATE"
		     " SET last_arrival=excluded.last_arrival", /* complete=0: ingest_catalog */
		     "itttttttiit", pat, m->study_uid, m->study_date, m->study_time, m->accession,
		     m->study_description, o && o->calling_aet ? o->calling_aet : "",
		     o && o->called_aet ? o->called_aet : "", now, now, m->institution);
	*study = row_id(s, "SELECT id FROM studies WHERE study_uid=?", m->study_uid, NULL, NULL);
	return rc ? rc : *study > 0 ? 0 : -EIO;
}

/* A re-sent instance with other bytes (another transfer syntax, re-encoded lengths, an
 * import after its C-STORE): one logical instance per SOPInstanceUID. The newest version
 * takes the row over — same id, so the transfer row and the place stay (the mount's inode
 * of the file changes with the hash: fs_entry_version) — and
 * the earlier one is kept in instance_versions (its object too) for the audit trail until
 * housekeeping removes the study. What was derived from the old bytes goes; the transfer
 * is queued again, which replaces the destination's copy. */
static int replace_version(struct store *s, const struct dcm_summary *m, int64_t series, int64_t id,
			   const char *hash, uint64_t size, int64_t now)
{
	int rc =
		cat_run(s,
			"INSERT INTO instance_versions(instance, hash, size, ts_uid, received_at,"
			" replaced_at) SELECT id, hash, size, ts_uid, received_at, ? FROM instances"
			" WHERE id=?",
			"ii", now, id);

	rc = rc ? rc
		: cat_run(s,
			  "UPDATE instances SET series=?, sop_class_uid=?, ts_uid=?, number=?,"
			  " hash=?, size=?, burned_in=?, received_at=? WHERE id=?",
			  "ittitiiii", series, m->sop_class_uid, m->transfer_syntax,
			  (int64_t)m->instance_number, hash, (int64_t)size,
			  (int64_t)m->burned_in_annotation, now, id);
	rc = rc ? rc : cat_run(s, "DELETE FROM derived WHERE instance=?", "i", id);
	rc = rc ? rc : cat_run(s, "DELETE FROM cleaned WHERE instance=?", "i", id);
	return rc ? rc
		  : cat_run(s,
			    "UPDATE transfers SET state='queued', next_try=0,"
			    " last_error=NULL WHERE instance=?",
			    "i", id);
}

static int catalog_instance(struct store *s, const struct dcm_summary *m, int64_t study,
			    const char *hash, uint64_t size, int64_t now,
			    struct store_ingest_result *res)
{
	int64_t series, other;
	int rc = cat_run(s,
			 "INSERT INTO series(study, series_uid, number, modality, description,"
			 " date, time, sequence) VALUES(?,?,?,?,?,?,?,?)"
			 " ON CONFLICT(series_uid) DO NOTHING",
			 "itittttt", study, m->series_uid, (int64_t)m->series_number, m->modality,
			 m->series_description, m->series_date, m->series_time, m->sequence_name);

	if (rc)
		return rc;
	series = row_id(s, "SELECT id FROM series WHERE series_uid=?", m->series_uid, NULL, NULL);
	res->instance_id = row_id(s, "SELECT id FROM instances WHERE sop_uid=? AND hash=?",
				  m->sop_uid, hash, NULL);
	if (res->instance_id > 0) {
		res->duplicate = true;
		return 0;
	}
	other = row_id(s, "SELECT id FROM instances WHERE sop_uid=?", m->sop_uid, NULL, NULL);
	if (other > 0) {
		res->instance_id = other;
		res->replaced = true;
		return replace_version(s, m, series, other, hash, size, now);
	}
	rc = cat_run(s,
		     "INSERT INTO instances(series, sop_uid, sop_class_uid, ts_uid, number, hash,"
		     " size, burned_in, received_at) VALUES(?,?,?,?,?,?,?,?,?)",
		     "itttitiii", series, m->sop_uid, m->sop_class_uid, m->transfer_syntax,
		     (int64_t)m->instance_number, hash, (int64_t)size,
		     (int64_t)m->burned_in_annotation, now);
	res->instance_id = db_last_insert_id(s->db);
	return rc;
}

/* Late instances of an assigned study are queued for its destination right away; the
 * change is noted where the study is (its event folder, or quarantine). */
static int queue_if_assigned(struct store *s, int64_t study, int64_t instance, bool added,
			     bool replaced)
{
	const struct config_project *p;
	char project[32], participant[65], event[65];
	int rc = cat_study_place(s, study, project, participant, event);

	if (rc)
		return rc;
	/* a duplicate is noted too (last_arrival moved), though nothing else changed */
	note_at(s, study,
		(added ? STORE_CHG_INSTANCES | STORE_CHG_STATE : STORE_CHG_STATE) |
			(replaced ? STORE_CHG_REPLACED : 0),
		project, participant, event);
	if (!added || !project[0] || !(p = config_project(s->cfg, project)) || !p->destination)
		return 0;
	return cat_run(s,
		       "INSERT OR IGNORE INTO transfers(instance, project, destination, state)"
		       " VALUES(?,?,?,'queued')",
		       "itt", instance, project, p->destination);
}

/* One instance waiting for the group commit: filled by its receiver thread, committed by
 * whichever thread leads the batch it is in. */
struct ingest_job {
	struct dcm_summary m;
	const struct store_origin *o;
	char hash[33];
	uint64_t size;
	struct store_ingest_result *res;
	int rc;
	bool done;
	struct ingest_job *next;
};

void ingest_init(struct store *s)
{
	pthread_mutex_init(&s->gc_lock, NULL);
	pthread_cond_init(&s->gc_cond, NULL);
	s->gc_tail = &s->gc_head;
	s->objects_fd = -1;
}

void ingest_release(struct store *s)
{
	pthread_cond_destroy(&s->gc_cond);
	pthread_mutex_destroy(&s->gc_lock);
}

/* One instance's rows, inside the batch's transaction (under s->lock). */
static int ingest_catalog(struct store *s, struct ingest_job *j, int64_t now)
{
	struct store_ingest_result *res = j->res;
	int rc = cat_run(s, "INSERT OR IGNORE INTO objects(hash, size, stored_at) VALUES(?,?,?)",
			 "tii", j->hash, (int64_t)j->size, now);

	rc = rc ? rc : catalog_patient_study(s, &j->m, j->o, now, &res->study_id);
	rc = rc ? rc : catalog_instance(s, &j->m, res->study_id, j->hash, j->size, now, res);
	/* a new or changed instance makes the study arrive again (quiet time, classification,
	 * routing); the same bytes again change nothing, so the study stays where it is */
	if (!rc && !res->duplicate)
		rc = cat_run(s, "UPDATE studies SET complete=0 WHERE id=? AND complete=1", "i",
			     res->study_id);
	return rc ? rc
		  : queue_if_assigned(s, res->study_id, res->instance_id, !res->duplicate,
				      res->replaced);
}

/* Makes a batch durable and cataloged: one syncfs for every object of the batch (their
 * bytes and names), then one transaction (one fsync of the WAL) for all their rows. An
 * instance whose rows fail is rolled back to its savepoint alone; the others commit. */
static void commit_batch(struct store *s, struct ingest_job *batch)
{
	int64_t now = time(NULL);
	int rc = fault_hit(s, FAULT_SYNCFS);

	rc = rc ? rc : syncfs(s->objects_fd) != 0 ? -errno : 0;
	pthread_mutex_lock(&s->lock);
	if (!rc && !(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		for (struct ingest_job *j = batch; !rc && j; j = j->next) {
			if ((rc = cat_exec(s, "SAVEPOINT one")))
				break;
			j->rc = obj_present(s, j->hash) ? ingest_catalog(s, j, now) : -ENOENT;
			if (j->rc)
				cat_exec(s, "ROLLBACK TO one");
			rc = cat_exec(s, "RELEASE one");
		}
		rc = cat_commit(s, rc);
	}
	pthread_mutex_unlock(&s->lock);
	for (struct ingest_job *j = batch; j; j = j->next)
		if (rc)
			j->rc = rc;
}

/* Group commit: the first waiter leads and commits everything queued so far; instances
 * arriving meanwhile form the next batch. Concurrent associations share one syncfs and
 * one catalog fsync; a lone one pays the same two as before, never more. */
static int ingest_commit(struct store *s, struct ingest_job *j)
{
	pthread_mutex_lock(&s->gc_lock);
	*s->gc_tail = j;
	s->gc_tail = &j->next;
	while (!j->done) {
		struct ingest_job *batch;

		if (s->gc_busy) {
			pthread_cond_wait(&s->gc_cond, &s->gc_lock);
			continue;
		}
		s->gc_busy = true;
		batch = s->gc_head;
		s->gc_head = NULL;
		s->gc_tail = &s->gc_head;
		pthread_mutex_unlock(&s->gc_lock);
		commit_batch(s, batch);
		pthread_mutex_lock(&s->gc_lock);
		for (struct ingest_job *b = batch, *next; b; b = next) {
			next = b->next; /* b may be freed by its owner once done is seen */
			b->done = true;
		}
		s->gc_busy = false;
		pthread_cond_broadcast(&s->gc_cond);
	}
	pthread_mutex_unlock(&s->gc_lock);
	return j->rc;
}

static bool summary_usable(const struct dcm_summary *m, struct fiona_err *err)
{
	static const struct {
		size_t off;
		uint32_t tag;
	} need[] = {
		{offsetof(struct dcm_summary, study_uid), DCM_TAG(0x0020, 0x000D)},
		{offsetof(struct dcm_summary, series_uid), DCM_TAG(0x0020, 0x000E)},
		{offsetof(struct dcm_summary, sop_uid), DCM_TAG(0x0008, 0x0018)},
		{offsetof(struct dcm_summary, sop_class_uid), DCM_TAG(0x0008, 0x0016)},
	};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(need); i++)
		if (!((const char *)m + need[i].off)[0]) {
			err_set(err, -EINVAL, CORE_NO_OFFSET, need[i].tag,
				"missing: a stored instance needs study, series and SOP UIDs");
			return false;
		}
	return true;
}

int store_ingest(struct store *s, const char *path, const struct store_origin *o, bool move,
		 struct store_ingest_result *res, struct fiona_err *err)
{
	struct ingest_job j = {.o = o, .res = res};
	struct core_map map;
	bool fresh = false, on_s3 = false;
	int rc = core_map_file(path, &map);

	memset(res, 0, sizeof(*res));
	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "cannot read: %s",
			       strerror(-rc));
	rc = dcm_summary_read(map.p, map.len, &j.m, err);
	if (!rc && !summary_usable(&j.m, err))
		rc = -EINVAL;
	if (!rc) {
		obj_hash(map.p, map.len, j.hash);
		j.size = map.len;
		if ((rc = obj_put(s, path, map.p, map.len, move, j.hash, &fresh)))
			err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "cannot keep the object: %s",
				strerror(-rc));
	}
	/* on S3 before the commit names it: a crash in between leaves an orphan key */
	if (!rc && obj_on_s3(s) && !(rc = obj_s3_put(s, OBJ_DICOM, j.hash, map.p, map.len, err)))
		on_s3 = true;
	if (rc) {
		core_map_release(&map);
		if (fresh)
			obj_drop_uncataloged(s, j.hash);
		return rc;
	}
	rc = on_s3 ? fault_hit(s, FAULT_S3_COMMIT) : 0;
	rc = rc ? rc : ingest_commit(s, &j);
	if (!rc && on_s3 && (rc = obj_s3_confirm(s, OBJ_DICOM, j.hash, map.p, map.len, err))) {
		obj_s3_settled(s, j.hash); /* cataloged, not acknowledged: the sender retries */
		core_map_release(&map);
		return rc;
	}
	if (on_s3)
		obj_s3_settled(s, j.hash);
	core_map_release(&map);
	if (rc) {
		if (fresh) /* a full disk must not fill up with objects nobody acknowledged */
			obj_drop_uncataloged(s, j.hash);
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "cannot catalog: %s",
			       strerror(-rc));
	}
	if (res->replaced)
		log_msg(s->log, LOG_INFO, "store",
			"instance %lld received again with other bytes: the new version replaces "
			"it (the earlier one is kept as a version; study %lld)",
			(long long)res->instance_id, (long long)res->study_id);
	return 0;
}
