/*
 * arrival: a study has arrived when nothing of it came for quiet_seconds. Then, in this
 * order, a coupling row for its AccessionNumber (or StudyInstanceUID) assigns it (rows
 * from REDCap's CouplingList and its transfer requests included); a project's AutoID AE
 * title gives it a generated participant ID (autoid.c); a
 * project's routing rule (regexes on PatientID / PatientName and optionally the calling
 * and called AE titles) assigns data that is already pseudonymized, with the PatientID as
 * participant (the configuration's rules, then REDCap's Routing records); otherwise it
 * stays in quarantine. Late instances of an assigned study are
 * queued at ingest (ingest.c) and follow the study's assignment.
 */
#include "core/core.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>

#include "store/store_int.h"

struct arrived {
	int64_t id;
	char accession[17], study_uid[65], patient_id[65], patient_name[325];
	char calling[17], called[17];
	bool assigned;
};

static bool rx_match(const char *pattern, const char *value)
{
	regex_t rx;
	bool ok;

	if (!pattern)
		return true; /* no condition */
	if (regcomp(&rx, pattern, REG_EXTENDED | REG_NOSUB))
		return false;
	ok = regexec(&rx, value, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

static bool route_matches(const struct config_route *r, const struct arrived *a)
{
	return rx_match(r->patient_id, a->patient_id) &&
	       rx_match(r->patient_name, a->patient_name) && rx_match(r->calling_aet, a->calling) &&
	       rx_match(r->called_aet, a->called);
}

static int try_coupling(struct store *s, const struct arrived *a, bool *done)
{
	struct db_stmt *st = NULL;
	char project[64] = "", participant[65] = "", event[65] = "";
	struct fiona_err err = {0};
	int rc = cat_prepare(s,
			     "SELECT project, participant, event FROM coupling WHERE key=? OR key=?"
			     " ORDER BY key=? DESC LIMIT 1",
			     &st);

	if (rc)
		return rc;
	db_bind_text(st, 1, a->accession, -1);
	db_bind_text(st, 2, a->study_uid, -1);
	db_bind_text(st, 3, a->accession, -1);
	if (a->accession[0] || a->study_uid[0]) {
		if (db_step(st) == DB_ROW) {
			snprintf(project, sizeof(project), "%s", db_column_text(st, 0));
			snprintf(participant, sizeof(participant), "%s", db_column_text(st, 1));
			snprintf(event, sizeof(event), "%s", db_column_text(st, 2));
		}
	}
	db_finalize(st);
	if (!project[0])
		return 0;
	rc = assign_locked(s, a->id, project, participant, event, 0, "coupling", &err);
	if (rc)
		log_msg(s->log, LOG_WARN, "arrival", "study %lld: coupling row not applied: %s",
			(long long)a->id, err.reason);
	*done = rc == 0;
	return 0;
}

static void try_routing(struct store *s, const struct arrived *a, bool *done)
{
	for (size_t i = 0; i < s->cfg->n_projects; i++) {
		const struct config_project *p = &s->cfg->projects[i];

		for (size_t k = 0; k < p->n_routing; k++) {
			struct fiona_err err = {0};

			if (!route_matches(&p->routing[k], a))
				continue;
			if (assign_locked(s, a->id, p->name, a->patient_id, p->routing[k].event, 0,
					  "routing", &err) == 0) {
				*done = true;
				return;
			}
			log_msg(s->log, LOG_WARN, "arrival",
				"study %lld: routing rule %zu of %s matched but: %s",
				(long long)a->id, k, p->name, err.reason);
		}
	}
}

/* Routing rules REDCap gave (rc_cache.c), after the configuration's own. */
static void try_rc_routing(struct store *s, const struct arrived *a, bool *done)
{
	struct db_stmt *st = NULL;

	if (!s->rc_on || cat_prepare(s,
				     "SELECT project, key, patient_id, patient_name, calling_aet,"
				     " called_aet, event FROM routing_rules ORDER BY project, key",
				     &st))
		return;
	while (!*done && db_step(st) == DB_ROW) {
		char project[32], key[32], f[4][256], event[65];
		struct config_route r;
		struct fiona_err err = {0};

		store_col_text(st, 0, project, sizeof(project));
		store_col_text(st, 1, key, sizeof(key));
		for (int i = 0; i < 4; i++)
			store_col_text(st, 2 + i, f[i], sizeof(f[i]));
		store_col_text(st, 6, event, sizeof(event));
		r = (struct config_route){f[0][0] ? f[0] : NULL, f[1][0] ? f[1] : NULL,
					  f[2][0] ? f[2] : NULL, f[3][0] ? f[3] : NULL, event};
		if (!route_matches(&r, a))
			continue;
		if (assign_locked(s, a->id, project, a->patient_id, event, 0, "routing", &err) == 0)
			*done = true;
		else
			log_msg(s->log, LOG_WARN, "arrival",
				"study %lld: REDCap routing record %s of %s matched but: %s",
				(long long)a->id, key, project, err.reason);
	}
	db_finalize(st);
}

static int collect_quiet(struct store *s, time_t now, struct arrived **out, size_t *n)
{
	struct db_stmt *st = NULL;
	struct arrived *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = cat_prepare(
		s,
		"SELECT s.id, coalesce(s.accession,''), s.study_uid, p.patient_id,"
		" p.patient_name, coalesce(s.calling_aet,''), coalesce(s.called_aet,''),"
		" (SELECT count(*) FROM assignments a WHERE a.study=s.id)"
		" FROM studies s JOIN patients p ON s.patient=p.id"
		" WHERE s.complete=0 AND s.last_arrival<=?",
		&st);

	if (rc)
		return rc;
	db_bind_int64(st, 1, (int64_t)now - s->cfg->quiet_seconds);
	while ((rc = db_step(st)) == DB_ROW) {
		struct arrived *a = store_grow((void **)&v, &cnt, &cap, sizeof(*v));

		if (!a)
			break;
		a->id = db_column_int64(st, 0);
		snprintf(a->accession, sizeof(a->accession), "%s", db_column_text(st, 1));
		snprintf(a->study_uid, sizeof(a->study_uid), "%s", db_column_text(st, 2));
		snprintf(a->patient_id, sizeof(a->patient_id), "%s", db_column_text(st, 3));
		snprintf(a->patient_name, sizeof(a->patient_name), "%s", db_column_text(st, 4));
		snprintf(a->calling, sizeof(a->calling), "%s", db_column_text(st, 5));
		snprintf(a->called, sizeof(a->called), "%s", db_column_text(st, 6));
		a->assigned = (int)db_column_int64(st, 7) > 0;
	}
	db_finalize(st);
	*out = v;
	*n = cnt;
	return rc == DB_DONE ? 0 : -ENOMEM;
}

int store_arrival_tick(struct store *s, time_t now)
{
	struct arrived *v = NULL;
	size_t n = 0;
	int rc;

	if (!store_lead(s, STORE_JOB_ARRIVAL))
		return 0;
	if (now - s->feed_pruned_at >= 60) { /* the change feed keeps its newest rows only */
		s->feed_pruned_at = now;
		feed_prune(s);
	}
	pthread_mutex_lock(&s->lock);
	rc = collect_quiet(s, now, &v, &n); /* an index range: empty while nothing arrives */
	if (rc || !n) {
		pthread_mutex_unlock(&s->lock);
		free(v);
		return rc;
	}
	if ((rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		pthread_mutex_unlock(&s->lock);
		free(v);
		return rc;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		bool done = v[i].assigned;

		rc = cat_run(s, "UPDATE studies SET complete=1 WHERE id=?", "i", v[i].id);
		note_study(s, v[i].id, STORE_CHG_STATE);
		if (!rc && !done)
			rc = try_coupling(s, &v[i], &done);
		if (!rc && !done)
			rc = autoid_try(s, v[i].id, v[i].called, v[i].patient_id, &done);
		if (!rc && !done)
			try_routing(s, &v[i], &done);
		if (!rc && !done)
			try_rc_routing(s, &v[i], &done);
	}
	rc = cat_commit(s, rc);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; !rc && s->rules && i < n; i++) /* reads objects: outside the lock */
		if (store_study_classify(s, s->rules, v[i].id) < 0)
			log_msg(s->log, LOG_WARN, "arrival", "study %lld: not classified",
				(long long)v[i].id);
	free(v);
	return rc ? rc : (int)n;
}

void store_set_classify_rules(struct store *s, const struct classify_rules *r)
{
	s->rules = r;
}
