/*
 * assign: who a study belongs to. Assignments come from `mv` on the mount, from
 * `fiona assign`, from coupling rows and from routing rules when a study has arrived;
 * all go through assign_locked(), which validates against the configuration, records
 * who did it and queues every instance for the project's destination in the same
 * transaction. Refusals say which part is wrong, never the patient's values.
 */
#include "core/core.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

static bool participant_known(struct store *s, const char *project, const char *id)
{
	struct db_stmt *st = NULL;
	bool known = false;

	if (cat_prepare(s, "SELECT 1 FROM participants WHERE project=? AND participant=?", &st))
		return false;
	db_bind_text(st, 1, project, -1);
	db_bind_text(st, 2, id, -1);
	known = db_step(st) == DB_ROW;
	db_finalize(st);
	return known;
}

/* An event REDCap gave the project (its unique event name, docs/redcap.md). */
static bool rc_event_known(struct store *s, const char *project, const char *event)
{
	struct db_stmt *st = NULL;
	bool known;

	if (!s->rc_on ||
	    cat_stmt(s, "SELECT 1 FROM project_events WHERE project=? AND event=?", &st))
		return false;
	db_bind_text(st, 1, project, -1);
	db_bind_text(st, 2, event, -1);
	known = db_step(st) == DB_ROW;
	db_reset(st);
	return known;
}

int assign_validate(struct store *s, const char *project, const char *participant,
		    const char *event, const struct config_project **pp, struct fiona_err *err)
{
	const struct config_project *p = config_project(s->cfg, project);
	bool ev = false;

	if (!p)
		return err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG,
			       "no project \"%s\" in the configuration", project);
	if (participant && !participant_known(s, project, participant) &&
	    regexec(&p->participant_re, participant, 0, NULL, 0) != 0)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "participant ID does not match %s of project %s",
			       p->participant_pattern, project);
	for (size_t i = 0; event && i < p->n_events; i++)
		ev |= !strcmp(p->events[i], event);
	if (event && !ev && !rc_event_known(s, project, event))
		return err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG,
			       "project %s has no event \"%s\"", project, event);
	*pp = p;
	return 0;
}

int assign_locked(struct store *s, int64_t study_id, const char *project, const char *participant,
		  const char *event, uid_t who, const char *how, struct fiona_err *err)
{
	const struct config_project *p;
	int64_t now = time(NULL);
	char detail[512];
	int rc = assign_validate(s, project, participant, event, &p, err);

	if (rc)
		return rc;
	note_study(s, study_id, STORE_CHG_ASSIGN); /* the place it leaves */
	note_at(s, study_id, STORE_CHG_ASSIGN, project, participant, event);
	rc = cat_run(s,
		     "INSERT OR IGNORE INTO participants(project, participant, created_by,"
		     " created_at) VALUES(?,?,?,?)",
		     "ttii", project, participant, (int64_t)who, now);
	/* kept headers were computed for the old identity */
	rc = rc ? rc
		: cat_run(s,
			  "DELETE FROM derived WHERE instance IN (SELECT i.id FROM instances i"
			  " JOIN series r ON i.series=r.id WHERE r.study=?)",
			  "i", study_id);
	rc = rc ? rc
		: cat_run(s,
			  "INSERT OR REPLACE INTO assignments(study, project, participant, event,"
			  " who, at, how) VALUES(?,?,?,?,?,?,?)",
			  "itttiit", study_id, project, participant, event, (int64_t)who, now, how);
	/* a (re-)assignment sends the study again under its new identity */
	rc = rc ? rc
		: cat_run(s,
			  "DELETE FROM transfers WHERE instance IN (SELECT i.id FROM instances i"
			  " JOIN series r ON i.series=r.id WHERE r.study=?)",
			  "i", study_id);
	/* a project without a destination is read through the mount only: nothing queued */
	if (!rc && p->destination)
		rc = cat_run(s,
			     "INSERT INTO transfers(instance, project, destination, state)"
			     " SELECT i.id, ?, ?, 'queued' FROM instances i JOIN series r"
			     " ON i.series=r.id WHERE r.study=?",
			     "tti", project, p->destination, study_id);
	snprintf(detail, sizeof(detail), "study %lld -> %s/%s/%s (%s)", (long long)study_id,
		 project, participant, event, how);
	rc = rc ? rc
		: cat_run(s, "INSERT INTO audit(at, uid, action, detail) VALUES(?,?,?,?)", "iitt",
			  now, (int64_t)who, "assign", detail);
	if (rc)
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: %s", strerror(-rc));
	return rc;
}

/* The study is still where the caller saw it: the place a mount showed is the revision
 * an assignment through it is based on. On PostgreSQL the study's row is locked first, so
 * two gateways moving one study at once are ordered and the second sees the first's
 * move. */
static int place_check(struct store *s, int64_t study, const struct store_place *expect,
		       struct fiona_err *err)
{
	char project[32], participant[65], event[65];
	int rc = 0;

	if (!expect)
		return 0;
	if (db_kind(s->db) == DB_POSTGRES)
		rc = cat_run(s, "SELECT id FROM studies WHERE id=? FOR UPDATE", "i", study);
	rc = rc ? rc : cat_study_place(s, study, project, participant, event);
	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: %s", strerror(-rc));
	if (strcmp(project, expect->project) ||
	    (*project &&
	     (strcmp(participant, expect->participant) || strcmp(event, expect->event))))
		return err_set(err, -ESTALE, CORE_NO_OFFSET, CORE_NO_TAG,
			       "study %lld was moved meanwhile (through another mount or gateway): "
			       "list the folders again",
			       (long long)study);
	return 0;
}

int store_assign_from(struct store *s, int64_t study_id, const struct store_place *expect,
		      const char *project, const char *participant, const char *event, uid_t who,
		      struct fiona_err *err)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	if (!rc) {
		int body = place_check(s, study_id, expect, err);

		body = body ? body
			    : assign_locked(s, study_id, project, participant, event, who, "manual",
					    err);
		rc = cat_commit(s, body);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_assign(struct store *s, int64_t study_id, const char *project, const char *participant,
		 const char *event, uid_t who, struct fiona_err *err)
{
	return store_assign_from(s, study_id, NULL, project, participant, event, who, err);
}

int store_unassign(struct store *s, int64_t study_id, uid_t who, struct fiona_err *err)
{
	return store_unassign_from(s, study_id, NULL, who, err);
}

int store_unassign_from(struct store *s, int64_t study_id, const struct store_place *expect,
			uid_t who, struct fiona_err *err)
{
	char detail[64];
	int rc;

	snprintf(detail, sizeof(detail), "study %lld -> quarantine", (long long)study_id);
	pthread_mutex_lock(&s->lock);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	if (!rc && (rc = place_check(s, study_id, expect, err))) {
		cat_commit(s, rc); /* err says why */
	} else if (!rc) {
		int body;

		note_study(s, study_id, STORE_CHG_ASSIGN);
		note_at(s, study_id, STORE_CHG_ASSIGN, "", "", "");
		body = cat_run(
			s,
			"DELETE FROM transfers WHERE state IN ('queued','failed','waiting','held',"
			"'dropped') AND instance"
			" IN (SELECT i.id FROM instances i JOIN series r ON i.series=r.id"
			" WHERE r.study=?)",
			"i", study_id);
		body = body ? body
			    : cat_run(s, "DELETE FROM assignments WHERE study=?", "i", study_id);
		body = body ? body
			    : cat_run(s,
				      "DELETE FROM derived WHERE instance IN (SELECT i.id FROM"
				      " instances i JOIN series r ON i.series=r.id WHERE "
				      "r.study=?)",
				      "i", study_id);
		body = body ? body
			    : cat_run(s,
				      "INSERT INTO audit(at, uid, action, detail) VALUES(?,?,?,?)",
				      "iitt", (int64_t)time(NULL), (int64_t)who, "unassign",
				      detail);
		rc = cat_commit(s, body);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc && !err->reason[0])
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: %s", strerror(-rc));
	return rc;
}

int store_participant_add(struct store *s, const char *project, const char *id, uid_t who,
			  struct fiona_err *err)
{
	const struct config_project *p;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = assign_validate(s, project, id, NULL, &p, err);
	if (!rc && participant_known(s, project, id))
		rc = err_set(err, -EEXIST, CORE_NO_OFFSET, CORE_NO_TAG, "participant exists");
	if (!rc && !(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		rc = cat_run(
			s,
			"INSERT INTO participants(project, participant, created_by, created_at)"
			" VALUES(?,?,?,?)",
			"ttii", project, id, (int64_t)who, (int64_t)time(NULL));
		note_at(s, 0, STORE_CHG_PARTICIPANTS, project, "", "");
		rc = cat_commit(s, rc);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_coupling_add(struct store *s, const char *project, const char *accession,
		       const char *participant, const char *event, struct fiona_err *err)
{
	const struct config_project *p;
	int rc;

	if (!accession || !*accession)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "a coupling row needs an accession number or study UID");
	pthread_mutex_lock(&s->lock);
	rc = assign_validate(s, project, participant, event, &p, err);
	if (!rc && !(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		rc = cat_run(s,
			     "INSERT OR REPLACE INTO coupling(project, key, participant, event)"
			     " VALUES(?,?,?,?)",
			     "tttt", project, accession, participant, event);
		note_at(s, 0, STORE_CHG_PARTICIPANTS, project, "", "");
		rc = cat_commit(s, rc);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_audit(struct store *s, uid_t who, const char *action, const char *detail)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = cat_run(s, "INSERT INTO audit(at, uid, action, detail) VALUES(?,?,?,?)", "iitt",
		     (int64_t)time(NULL), (int64_t)who, action, detail);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_audit_many(struct store *s, const struct store_audit_row *rows, size_t n)
{
	int rc;

	if (!n)
		return 0;
	pthread_mutex_lock(&s->lock);
	rc = cat_exec(s, "BEGIN IMMEDIATE");
	for (size_t i = 0; !rc && i < n; i++)
		rc = cat_run(s, "INSERT INTO audit(at, uid, action, detail) VALUES(?,?,?,?)",
			     "iitt", rows[i].at, (int64_t)rows[i].who, rows[i].action,
			     rows[i].detail);
	rc = rc ? rc : cat_exec(s, "COMMIT");
	if (rc)
		cat_exec(s, "ROLLBACK");
	pthread_mutex_unlock(&s->lock);
	return rc;
}
