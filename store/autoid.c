/*
 * autoid: automatic participant IDs (the original's AutoID; docs/autoid.md, redcap.md).
 * A study addressed to a project's AutoID AE title gets a participant ID generated from
 * the project's pattern, unique among the project's participants, and the same patient
 * always gets the same ID: the mapping is kept in the catalog under a keyed hash of the
 * PatientID (HMAC with the site secret, per project), never the value — the original
 * kept an unsalted hash of a hash, which anyone holding the list of national IDs can
 * reverse. The study is then assigned like an mv, recorded as "autoid".
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "store/store_int.h"

#define AUTOID_TRIES 4096 /* bounded: a nearly full pattern space is an error, not a hang */

static uint64_t autoid_rnd(void *arg)
{
	uint64_t v = 0;

	(void)arg;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)time(NULL) * 6364136223846793005ULL + (uint64_t)clock();
	return v;
}

struct taken_ctx {
	struct store *s;
	const char *project;
};

static int autoid_taken(void *arg, const char *id)
{
	struct taken_ctx *t = arg;
	struct db_stmt *st = NULL;
	int rc = cat_stmt(t->s,
			  "SELECT 1 FROM participants WHERE project=?1 AND participant=?2"
			  " UNION ALL SELECT 1 FROM autoid WHERE project=?1 AND participant=?2",
			  &st);

	if (rc)
		return rc;
	db_bind_text(st, 1, t->project, -1);
	db_bind_text(st, 2, id, -1);
	rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : cat_errno(rc);
}

static int lookup(struct store *s, const char *project, const char *key, char out[65])
{
	struct db_stmt *st = NULL;
	int rc = cat_stmt(s, "SELECT participant FROM autoid WHERE project=? AND patient_key=?",
			  &st);

	out[0] = '\0';
	if (rc)
		return rc;
	db_bind_text(st, 1, project, -1);
	db_bind_text(st, 2, key, -1);
	if ((rc = db_step(st)) == DB_ROW)
		store_col_text(st, 0, out, 65);
	db_reset(st);
	return cat_errno(rc);
}

/* A new ID for the patient with key, kept with the mapping (under s->lock). */
static int generate(struct store *s, const struct config_project *p, const char *key, char out[65],
		    struct fiona_err *err)
{
	const char *pattern =
		p->autoid && p->autoid->pattern ? p->autoid->pattern : p->participant_pattern;
	struct taken_ctx t = {s, p->name};
	struct genid *g = NULL;
	int rc = genid_parse(pattern, &g, err);

	if (rc)
		return rc;
	rc = genid_generate(g, autoid_rnd, NULL, autoid_taken, &t, AUTOID_TRIES, out, 65, err);
	genid_free(g);
	if (!rc && regexec(&p->participant_re, out, 0, NULL, 0) != 0)
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			     "the AutoID pattern makes IDs that do not match %s",
			     p->participant_pattern);
	if (!rc)
		rc = cat_run(s,
			     "INSERT INTO autoid(project, patient_key, participant, at)"
			     " VALUES(?,?,?,?)",
			     "ttti", p->name, key, out, (int64_t)time(NULL));
	return rc;
}

/* The AE title a project's AutoID listens on: the configuration's, else REDCap's
 * (DataTransferProjects project_autoid_aetitle, kept by the sync as rc_state). */
static bool autoid_aet(struct store *s, const struct config_project *p, char out[17])
{
	struct db_stmt *st = NULL;
	char key[64];
	bool ok = false;

	if (p->autoid) {
		snprintf(out, 17, "%s", p->autoid->aet);
		return true;
	}
	if (!s->rc_on || cat_stmt(s, "SELECT value FROM rc_state WHERE key=?", &st))
		return false;
	snprintf(key, sizeof(key), "autoid.%s", p->name);
	db_bind_text(st, 1, key, -1);
	if (db_step(st) == DB_ROW) {
		store_col_text(st, 0, out, 17);
		ok = out[0] != '\0';
	}
	db_reset(st);
	return ok;
}

static int autoid_assign(struct store *s, const struct config_project *p, int64_t study,
			 const char *patient_id, bool *done)
{
	const char *event = p->autoid && p->autoid->event ? p->autoid->event : p->events[0];
	struct fiona_err err = {0};
	char key[17], participant[65];
	int rc;

	if (!*patient_id || !s->secret.len) {
		log_msg(s->log, LOG_WARN, "autoid", "study %lld for %s: %s: stays in quarantine",
			(long long)study, p->name, *patient_id ? "no site secret" : "no PatientID");
		return 0;
	}
	if ((rc = deid_keyed_hash16(&s->secret, p->name, "autoid", patient_id, key)))
		return rc;
	rc = lookup(s, p->name, key, participant);
	if (!rc && !participant[0] && (rc = generate(s, p, key, participant, &err))) {
		log_msg(s->log, LOG_ERROR, "autoid", "study %lld for %s: no ID: %s",
			(long long)study, p->name, err.reason);
		return rc == -EEXIST || rc == -EINVAL ? 0 : rc;
	}
	if (!rc && (rc = assign_locked(s, study, p->name, participant, event, (uid_t)-1, "autoid",
				       &err))) {
		log_msg(s->log, LOG_ERROR, "autoid", "study %lld for %s: not assigned: %s",
			(long long)study, p->name, err.reason);
		return rc == -EINVAL || rc == -ENOENT ? 0 : rc;
	}
	if (!rc)
		*done = true;
	return rc;
}

int autoid_try(struct store *s, int64_t study, const char *called, const char *patient_id,
	       bool *done)
{
	for (size_t i = 0; i < s->cfg->n_projects && !*done; i++) {
		const struct config_project *p = &s->cfg->projects[i];
		char aet[17];
		int rc;

		if (!autoid_aet(s, p, aet) || strcmp(aet, called))
			continue;
		if ((rc = autoid_assign(s, p, study, patient_id, done)))
			return rc;
		return 0; /* one AE title, one project */
	}
	return 0;
}
