/*
 * housekeeping: keeps the data directory's filesystem below disk_high_watermark, inside
 * the daemon (no cron). While it is above, the oldest study whose every transfer is
 * verified at its destination goes first, then the oldest unassigned study whose
 * quarantine listing expired; data still waiting for its destination, and quarantine
 * studies that have not expired, are never removed. Each removal is one transaction
 * (rows, then the object files no other instance shares), an audit row and a log line
 * that says what and why (internal keys, no patient data). With the objects on S3 it
 * also runs the sweep of unnamed keys and the bound on local copies (objstore_s3.c);
 * a removed study's keys are left to that sweep.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

static double used_fraction(const char *dir)
{
	struct statvfs fs;

	if (statvfs(dir, &fs) != 0 || !fs.f_blocks)
		return 0;
	return 1.0 - (double)fs.f_bavail / (double)fs.f_blocks;
}

/* The next study that may go, and why; 0 when there is none. */
static int64_t next_candidate(struct store *s, int64_t now, const char **why)
{
	static const char *const sql[] = {
		"SELECT r.study FROM transfers t JOIN instances i ON t.instance=i.id"
		" JOIN series r ON i.series=r.id GROUP BY r.study"
		" HAVING sum(t.state!='verified')=0 ORDER BY max(t.verified_at) LIMIT 1",
		"SELECT id FROM studies WHERE id NOT IN (SELECT study FROM assignments)"
		" AND last_arrival < ? ORDER BY last_arrival LIMIT 1",
	};
	static const char *const reasons[] = {"verified at its destination",
					      "unassigned and past its quarantine days"};
	int64_t id = 0;

	for (size_t k = 0; k < CORE_ARRAY_SIZE(sql) && !id; k++) {
		struct db_stmt *st = NULL;

		if (cat_prepare(s, sql[k], &st))
			return 0;
		if (k == 1)
			db_bind_int64(st, 1, now - s->cfg->quarantine_days * 86400);
		if (db_step(st) == DB_ROW) {
			id = db_column_int64(st, 0);
			*why = reasons[k];
		}
		db_finalize(st);
	}
	return id;
}

/* Hashes of the study's objects — received (current and earlier versions), and cleaned
 * copies of their pixels — that nothing of another study shares. */
static char **private_hashes(struct store *s, int64_t study)
{
	struct db_stmt *st = NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (cat_prepare(s,
			"WITH mine(hash) AS (SELECT i.hash FROM instances i JOIN series r"
			" ON i.series=r.id WHERE r.study=?1 UNION SELECT c.hash FROM cleaned c"
			" JOIN instances i ON c.instance=i.id JOIN series r ON i.series=r.id"
			" WHERE r.study=?1 AND c.hash IS NOT NULL UNION SELECT v.hash FROM"
			" instance_versions v JOIN instances i ON v.instance=i.id JOIN series r"
			" ON i.series=r.id WHERE r.study=?1)"
			"SELECT m.hash FROM mine m WHERE NOT EXISTS (SELECT 1 FROM instances j"
			" JOIN series q ON j.series=q.id WHERE j.hash=m.hash AND q.study!=?1)"
			" AND NOT EXISTS (SELECT 1 FROM cleaned d JOIN instances j ON"
			" d.instance=j.id JOIN series q ON j.series=q.id WHERE d.hash=m.hash"
			" AND q.study!=?1) AND NOT EXISTS (SELECT 1 FROM instance_versions w"
			" JOIN instances j ON w.instance=j.id JOIN series q ON j.series=q.id"
			" WHERE w.hash=m.hash AND q.study!=?1)",
			&st))
		return NULL;
	db_bind_int64(st, 1, study);
	while (db_step(st) == DB_ROW) {
		if (n + 1 >= cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n] = strdup((const char *)db_column_text(st, 0));
		if (v[n])
			v[++n] = NULL;
	}
	db_finalize(st);
	return v;
}

static int remove_rows(struct store *s, int64_t study, char **hashes, const char *why)
{
	char detail[160];
	int rc = cat_exec(s, "BEGIN IMMEDIATE");

	if (rc)
		return rc;
	note_study(s, study, STORE_CHG_ASSIGN | STORE_CHG_INSTANCES);
	rc = cat_run(s,
		     "DELETE FROM derived WHERE instance IN (SELECT i.id FROM"
		     " instances i JOIN series r ON i.series=r.id WHERE r.study=?)",
		     "i", study);
	rc = rc ? rc
		: cat_run(s,
			  "DELETE FROM cleaned WHERE instance IN (SELECT i.id FROM"
			  " instances i JOIN series r ON i.series=r.id WHERE r.study=?)",
			  "i", study);
	rc = rc ? rc
		: cat_run(s,
			  "DELETE FROM instance_versions WHERE instance IN (SELECT i.id FROM"
			  " instances i JOIN series r ON i.series=r.id WHERE r.study=?)",
			  "i", study);
	rc = rc ? rc
		: cat_run(s,
			  "DELETE FROM transfers WHERE instance IN (SELECT i.id FROM"
			  " instances i JOIN series r ON i.series=r.id WHERE r.study=?)",
			  "i", study);
	rc = rc ? rc
		: cat_run(s,
			  "DELETE FROM instances WHERE series IN (SELECT id FROM series"
			  " WHERE study=?)",
			  "i", study);
	rc = rc ? rc : cat_run(s, "DELETE FROM series WHERE study=?", "i", study);
	rc = rc ? rc : cat_run(s, "DELETE FROM assignments WHERE study=?", "i", study);
	rc = rc ? rc : cat_run(s, "DELETE FROM studies WHERE id=?", "i", study);
	for (size_t i = 0; !rc && hashes && hashes[i]; i++)
		rc = cat_run(s, "DELETE FROM objects WHERE hash=?", "t", hashes[i]);
	snprintf(detail, sizeof(detail), "study %lld removed: %s", (long long)study, why);
	rc = rc ? rc
		: cat_run(s, "INSERT INTO audit(at, uid, action, detail) VALUES(?,?,?,?)", "iitt",
			  (int64_t)time(NULL), (int64_t)-1, "housekeeping", detail);
	return cat_commit(s, rc);
}

/* Removes one study (rows first, then files: a crash in between leaves an orphan file,
 * never a row without its object). Returns the bytes freed or a negative errno. */
static int64_t remove_study(struct store *s, int64_t study, const char *why)
{
	char **hashes = private_hashes(s, study), path[4200];
	int64_t freed = 0;
	struct stat st;
	int rc = remove_rows(s, study, hashes, why);

	for (size_t i = 0; !rc && hashes && hashes[i]; i++) {
		if (obj_local_path(s, hashes[i], path, sizeof(path)) == 0 && stat(path, &st) == 0 &&
		    unlink(path) == 0)
			freed += st.st_size;
	}
	for (size_t i = 0; hashes && hashes[i]; i++)
		free(hashes[i]);
	free(hashes);
	return rc ? rc : freed;
}

int store_housekeeping(struct store *s, time_t now)
{
	double used = used_fraction(s->cfg->data_dir);
	int removed = 0;

	if (!store_lead(s, STORE_JOB_HOUSEKEEPING))
		return 0;
	if (obj_on_s3(s)) { /* each paced by itself; their failures are logged there */
		obj_s3_sweep(s, now);
		obj_s3_evict(s, now);
	}
	while (used > s->cfg->disk_high_watermark) {
		const char *why = NULL;
		int64_t id, freed;

		pthread_mutex_lock(&s->lock);
		id = next_candidate(s, now, &why);
		freed = id ? remove_study(s, id, why) : 0;
		pthread_mutex_unlock(&s->lock);
		if (!id) {
			log_msg(s->log, LOG_WARN, "housekeeping",
				"disk %.0f %% used (watermark %.0f %%) and nothing may be removed: "
				"everything left waits for its destination or is in quarantine",
				used * 100, s->cfg->disk_high_watermark * 100);
			break;
		}
		if (freed < 0)
			return (int)freed;
		removed++;
		log_msg(s->log, LOG_INFO, "housekeeping", "removed study %lld (%s): %.1f MB freed",
			(long long)id, why, (double)freed / 1e6);
		used = used_fraction(s->cfg->data_dir);
	}
	return removed;
}
