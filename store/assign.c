/*
 * Assignments and arrival: validating and recording which project, participant and event
 * a study belongs to, participants, coupling rows, the audit trail, and the arrival tick
 * that completes quiet studies and applies coupling rows, then routing rules. Every
 * change is one transaction under s->mu and is audited with the acting uid.
 */
#include "core/core.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "anon/anon.h"
#include "store/store_int.h"

/* Caller holds s->mu. */
static int assign_audit_locked(struct store *s, uid_t who, const char *action, const char *detail)
{
	return store_run(store_prep(s, "INSERT INTO audit(at, uid, action, detail) VALUES(?,?,?,?)",
				    "iitt", core_now_wall(), (int64_t)who, action, detail));
}

int store_audit(struct store *s, uid_t who, const char *action, const char *detail)
{
	pthread_mutex_lock(&s->mu);
	int rc = store_begin(s);
	rc = rc ? rc : assign_audit_locked(s, who, action, detail ? detail : "");
	rc = store_end(s, rc);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static bool assign_event_ok(const struct config_project *p, const char *event)
{
	if (!event || !*event)
		return p->n_events == 0;
	for (size_t i = 0; i < p->n_events; i++)
		if (strcmp(p->events[i], event) == 0)
			return true;
	return false;
}

static bool assign_pattern_ok(const struct config_project *p, const char *id)
{
	if (!id || !*id || strlen(id) > 64 || strchr(id, '/'))
		return false;
	return !p->participant_re_ok || regexec(&p->participant_re, id, 0, NULL, 0) == 0;
}

/* Project, participant and event checks; participant may instead already exist. Caller
 * holds s->mu. */
static int assign_validate(struct store *s, const char *project, const char *participant,
			   const char *event, struct fiona_err *err)
{
	const struct config_project *p = project ? config_project(s->cfg, project) : NULL;
	int64_t one;
	if (!p)
		return err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG, "no such project");
	if (!assign_pattern_ok(p, participant) &&
	    store_get_i64(store_prep(s, "SELECT 1 FROM participants WHERE project=? AND id=?",
				     "tt", project, participant ? participant : ""),
			  &one) != 0)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "participant does not match the project's participant_pattern");
	if (!assign_event_ok(p, event))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "event is not one of the project's events");
	return 0;
}

/* Caller holds s->mu and a transaction. */
static int assign_locked(struct store *s, int64_t study, const char *project,
			 const char *participant, const char *event, uid_t who)
{
	char detail[160];
	int rc = store_run(store_prep(
		s,
		"INSERT INTO participants(project, id) VALUES(?,?) ON CONFLICT DO NOTHING", "tt",
		project, participant));
	rc = rc ? rc
		: store_run(store_prep(s,
				       "INSERT OR REPLACE INTO assignments(study, project,"
				       " participant, event, who, at) VALUES(?,?,?,?,?,?)",
				       "itttii",
				       study, project, participant, event ? event : "",
				       (int64_t)who, core_now_wall()));
	snprintf(detail, sizeof(detail), "study %lld -> project %s", (long long)study, project);
	return rc ? rc : assign_audit_locked(s, who, "assign", detail);
}

int store_assign(struct store *s, int64_t study_id, const char *project, const char *participant,
		 const char *event, uid_t who, struct fiona_err *err)
{
	int64_t one;
	pthread_mutex_lock(&s->mu);
	int rc = assign_validate(s, project, participant, event, err);
	if (!rc && store_get_i64(store_prep(s, "SELECT 1 FROM studies WHERE id=?", "i", study_id),
				 &one))
		rc = err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG, "no such study");
	if (!rc) {
		rc = store_begin(s);
		rc = rc ? rc : assign_locked(s, study_id, project, participant, event, who);
		rc = store_end(s, rc);
		if (rc)
			err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: cannot assign");
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_unassign(struct store *s, int64_t study_id, uid_t who, struct fiona_err *err)
{
	char detail[64];
	int64_t one;
	pthread_mutex_lock(&s->mu);
	int rc = store_get_i64(
		store_prep(s, "SELECT 1 FROM assignments WHERE study=?", "i", study_id), &one);
	if (rc) {
		rc = err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG, "study is not assigned");
		goto done;
	}
	snprintf(detail, sizeof(detail), "study %lld", (long long)study_id);
	rc = store_begin(s);
	rc = rc ? rc
		: store_run(store_prep(s, "DELETE FROM assignments WHERE study=?", "i", study_id));
	rc = rc ? rc : assign_audit_locked(s, who, "unassign", detail);
	rc = store_end(s, rc);
	if (rc)
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: cannot unassign");
done:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_participant_add(struct store *s, const char *project, const char *id, uid_t who,
			  struct fiona_err *err)
{
	const struct config_project *p = project ? config_project(s->cfg, project) : NULL;
	if (!p)
		return err_set(err, -ENOENT, CORE_NO_OFFSET, CORE_NO_TAG, "no such project");
	if (!assign_pattern_ok(p, id))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "participant does not match the project's participant_pattern");
	char detail[64];
	snprintf(detail, sizeof(detail), "project %s", project);
	pthread_mutex_lock(&s->mu);
	int rc = store_begin(s);
	rc = rc ? rc
		: store_run(store_prep(s,
				       "INSERT INTO participants(project, id) VALUES(?,?)"
				       " ON CONFLICT DO NOTHING",
				       "tt", project, id));
	rc = rc ? rc : assign_audit_locked(s, who, "participant-add", detail);
	rc = store_end(s, rc);
	pthread_mutex_unlock(&s->mu);
	return rc ? err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: cannot add") : 0;
}

int store_coupling_add(struct store *s, const char *project, const char *accession,
		       const char *participant, const char *event, struct fiona_err *err)
{
	int rc = 0;
	if (!accession || !*accession)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "empty accession");
	pthread_mutex_lock(&s->mu);
	rc = assign_validate(s, project, participant, event, err);
	if (!rc) {
		rc = store_begin(s);
		rc = rc ? rc
			: store_run(store_prep(s,
					       "INSERT OR REPLACE INTO coupling(project, key,"
					       " participant, event) VALUES(?,?,?,?)",
					       "tttt", project, accession, participant,
					       event ? event : ""));
		rc = store_end(s, rc);
		if (rc)
			err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: cannot add row");
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}
