/*
 * rc_cache: what REDCap adds to the configured projects, kept in the catalog so arrival,
 * assignment and the mount read it like any other row and a REDCap outage changes
 * nothing (docs/redcap.md "Precedence"). The configuration stays authoritative for
 * groups, destinations and profiles; REDCap adds events (by the unique names REDCap
 * gives them), participants, coupling rows and routing rules. Each set replaces what
 * REDCap gave before in one transaction; a row that names an unknown project, a
 * participant that does not match the pattern or an unknown event is refused and logged
 * by its key, never by patient data.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"

static int begin(struct store *s)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	if ((rc = cat_exec(s, "BEGIN IMMEDIATE")))
		pthread_mutex_unlock(&s->lock);
	return rc;
}

static int end(struct store *s, int rc)
{
	rc = cat_commit(s, rc);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_rc_events_set(struct store *s, const char *project, char *const *events,
			char *const *labels, size_t n)
{
	int rc;

	if (!config_project(s->cfg, project))
		return -ENOENT;
	if ((rc = begin(s)))
		return rc;
	rc = cat_run(s, "DELETE FROM project_events WHERE project=? AND source='redcap'", "t",
		     project);
	for (size_t i = 0; !rc && i < n; i++)
		rc = cat_run(s,
			     "INSERT OR IGNORE INTO project_events(project, event, label, source)"
			     " VALUES(?,?,?,'redcap')",
			     "ttt", project, events[i], labels && labels[i] ? labels[i] : "");
	note_at(s, 0, STORE_CHG_PARTICIPANTS, project, "", "");
	return end(s, rc);
}

struct ev_name {
	char name[65];
};

static void ev_fill(struct db_stmt *st, void *row)
{
	store_col_text(st, 0, ((struct ev_name *)row)->name, sizeof(((struct ev_name *)row)->name));
}

int store_rc_events(struct store *s, const char *project, char ***out)
{
	struct ev_name *v = NULL;
	size_t n = 0;
	char **strv;
	int rc = store_read_rows(s,
				 "SELECT event FROM project_events WHERE project=? ORDER BY event",
				 sizeof(*v), ev_fill, (void **)&v, &n, "t", project);

	*out = NULL;
	if (rc)
		return rc;
	strv = calloc(n + 1, sizeof(*strv));
	for (size_t i = 0; strv && i < n; i++)
		if (!(strv[i] = strdup(v[i].name)))
			rc = -ENOMEM;
	free(v);
	if (!strv)
		return -ENOMEM;
	*out = strv;
	return rc;
}

int store_rc_participants_add(struct store *s, const char *project, char *const *ids, size_t n)
{
	const struct config_project *p = config_project(s->cfg, project);
	int refused = 0, changes, rc;

	if (!p)
		return -ENOENT;
	if ((rc = begin(s)))
		return rc;
	changes = db_total_changes(s->db);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!*ids[i] || strchr(ids[i], '/') || !strcmp(ids[i], ".") ||
		    !strcmp(ids[i], "..") || regexec(&p->participant_re, ids[i], 0, NULL, 0) != 0) {
			refused++; /* a record id that is no participant ID of the project */
			continue;
		}
		rc = cat_run(s,
			     "INSERT OR IGNORE INTO participants(project, participant, created_at,"
			     " source) VALUES(?,?,?,'redcap')",
			     "tti", project, ids[i], (int64_t)time(NULL));
	}
	if (db_total_changes(s->db) != changes)
		note_at(s, 0, STORE_CHG_PARTICIPANTS, project, "", "");
	if (refused)
		log_msg(s->log, LOG_WARN, "redcap",
			"project %s: %d record ids of its REDCap do not match %s: not participants",
			project, refused, p->participant_pattern);
	rc = end(s, rc);
	return rc ? rc : refused;
}

int store_rc_coupling_set(struct store *s, const struct store_rc_coupling *rows, size_t n)
{
	int refused = 0, rc;

	if ((rc = begin(s)))
		return rc;
	rc = cat_run(s, "DELETE FROM coupling WHERE source='redcap'", "");
	for (size_t i = 0; !rc && i < n; i++) {
		const struct store_rc_coupling *c = &rows[i];
		const struct config_project *p;
		struct fiona_err err = {0};

		if (!c->key[0] ||
		    assign_validate(s, c->project, c->participant, c->event, &p, &err)) {
			log_msg(s->log, LOG_WARN, "redcap", "CouplingList row %zu (project %s): %s",
				i, c->project, c->key[0] ? err.reason : "no accession or UID");
			refused++;
			continue;
		}
		/* a row given by hand or by `fiona` stays: the configuration side wins */
		rc = cat_run(s,
			     "INSERT OR IGNORE INTO coupling(project, key, participant, event,"
			     " source) VALUES(?,?,?,?,'redcap')",
			     "tttt", c->project, c->key, c->participant, c->event);
	}
	for (size_t i = 0; i < s->cfg->n_projects; i++)
		note_at(s, 0, STORE_CHG_PARTICIPANTS, s->cfg->projects[i].name, "", "");
	rc = end(s, rc);
	return rc ? rc : refused;
}

static bool regex_ok(const char *re)
{
	regex_t rx;

	if (!*re)
		return true;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB))
		return false;
	regfree(&rx);
	return true;
}

int store_rc_routing_set(struct store *s, const struct store_rc_route *rows, size_t n)
{
	int refused = 0, rc;

	if ((rc = begin(s)))
		return rc;
	rc = cat_run(s, "DELETE FROM routing_rules WHERE source='redcap'", "");
	for (size_t i = 0; !rc && i < n; i++) {
		const struct store_rc_route *r = &rows[i];
		const struct config_project *p;
		struct fiona_err err = {0};
		const char *why = NULL;

		if (assign_validate(s, r->project, NULL, r->event, &p, &err))
			why = err.reason;
		else if (!r->patient_id[0] && !r->patient_name[0] && !r->called_aet[0])
			why = "matches every study (no patient or AE title condition)";
		else if (!regex_ok(r->patient_id) || !regex_ok(r->patient_name) ||
			 !regex_ok(r->calling_aet) || !regex_ok(r->called_aet))
			why = "not a valid regular expression";
		if (why) {
			log_msg(s->log, LOG_WARN, "redcap", "Routing record %s (project %s): %s",
				r->key, r->project, why);
			refused++;
			continue;
		}
		rc = cat_run(s,
			     "INSERT OR REPLACE INTO routing_rules(project, key, patient_id,"
			     " patient_name, calling_aet, called_aet, event, source)"
			     " VALUES(?,?,?,?,?,?,?,'redcap')",
			     "ttttttt", r->project, r->key, r->patient_id, r->patient_name,
			     r->calling_aet, r->called_aet, r->event);
	}
	rc = end(s, rc);
	return rc ? rc : refused;
}

long store_autoid_count(struct store *s, const char *project)
{
	struct one {
		int64_t n;
	} *v = NULL;
	size_t n = 0;
	long cnt = -1;

	if (store_read_rows(s, "SELECT count(*) FROM autoid WHERE project=?", sizeof(*v),
			    store_id_fill, (void **)&v, &n, "t", project) == 0 &&
	    n)
		cnt = (long)v[0].n;
	free(v);
	return cnt;
}
