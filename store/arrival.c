/*
 * Arrival: a study with no new instance for quiet_seconds is complete; an unassigned
 * complete study is then assigned by a coupling row for its accession number (or study
 * UID), else by the first routing rule of a project whose patterns all match (the data
 * is already pseudonymized there, so the participant is the PatientID), else it stays in
 * quarantine. An assigned study that gets late series keeps its assignment: only the
 * complete flag is reset by ingest.
 */
#include "core/core.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

struct arrival_study {
	int64_t id;
	char accession[17], study_uid[65], patient_id[65], patient_name[325];
	char calling_aet[17], called_aet[17];
	bool assigned;
};

/* NULL pattern matches anything; a pattern that does not compile matches nothing. */
static bool arrival_match(const char *pattern, const char *value)
{
	regex_t re;
	if (!pattern)
		return true;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
		return false;
	bool ok = regexec(&re, value, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

static int arrival_insert(struct store *s, int64_t study, const char *project,
			  const char *participant, const char *event, const char *why)
{
	char detail[160];
	int rc = store_run(store_prep(
		s, "INSERT INTO participants(project, id) VALUES(?,?) ON CONFLICT DO NOTHING",
		"tt", project, participant));
	rc = rc ? rc
		: store_run(store_prep(s,
				       "INSERT OR IGNORE INTO assignments(study, project,"
				       " participant, event, who, at) VALUES(?,?,?,?,0,?)",
				       "ittti", study, project, participant, event,
				       core_now_wall()));
	snprintf(detail, sizeof(detail), "study %lld -> project %s by %s", (long long)study,
		 project, why);
	return rc ? rc
		  : store_run(store_prep(s,
					 "INSERT INTO audit(at, uid, action, detail)"
					 " VALUES(?,0,'auto-assign',?)",
					 "it", core_now_wall(), detail));
}

/* Coupling row for the accession number or the study UID. 0 assigned, -ENOENT none. */
static int arrival_coupling(struct store *s, const struct arrival_study *a)
{
	sqlite3_stmt *st = store_prep(s,
				      "SELECT project, participant, event FROM coupling"
				      " WHERE key=? OR key=? ORDER BY project LIMIT 1",
				      "tt", a->accession[0] ? a->accession : "\x01",
				      a->study_uid);
	if (!st)
		return -EIO;
	char project[64], participant[65], event[65];
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		store_col(st, 0, project, sizeof(project));
		store_col(st, 1, participant, sizeof(participant));
		store_col(st, 2, event, sizeof(event));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : -EIO;
	return arrival_insert(s, a->id, project, participant, event, "coupling");
}

static int arrival_routing(struct store *s, const struct arrival_study *a)
{
	for (size_t i = 0; i < s->cfg->n_projects; i++) {
		const struct config_project *p = &s->cfg->projects[i];
		for (size_t j = 0; j < p->n_routing; j++) {
			const struct config_route *r = &p->routing[j];
			if (!a->patient_id[0] || !arrival_match(r->patient_id, a->patient_id) ||
			    !arrival_match(r->patient_name, a->patient_name) ||
			    !arrival_match(r->calling_aet, a->calling_aet) ||
			    !arrival_match(r->called_aet, a->called_aet))
				continue;
			return arrival_insert(s, a->id, p->name, a->patient_id,
					      r->event ? r->event : "", "routing");
		}
	}
	return -ENOENT;
}

/* The studies that became quiet, into a new array. */
static int arrival_due(struct store *s, int64_t cutoff, struct arrival_study **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(
		s,
		"SELECT s.id, s.accession, s.study_uid, p.patient_id, p.name, s.calling_aet,"
		" s.called_aet, (SELECT COUNT(*) FROM assignments a WHERE a.study=s.id)"
		" FROM studies s JOIN patients p ON p.id=s.patient"
		" WHERE s.complete=0 AND s.last_arrival<=?",
		"i", cutoff);
	struct arrival_study *arr = NULL;
	size_t len = 0;
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct arrival_study *g = realloc(arr, (len + 1) * sizeof(*arr));
		if (!g) {
			free(arr);
			sqlite3_finalize(st);
			return -ENOMEM;
		}
		arr = g;
		struct arrival_study *a = &arr[len++];
		a->id = sqlite3_column_int64(st, 0);
		store_col(st, 1, a->accession, sizeof(a->accession));
		store_col(st, 2, a->study_uid, sizeof(a->study_uid));
		store_col(st, 3, a->patient_id, sizeof(a->patient_id));
		store_col(st, 4, a->patient_name, sizeof(a->patient_name));
		store_col(st, 5, a->calling_aet, sizeof(a->calling_aet));
		store_col(st, 6, a->called_aet, sizeof(a->called_aet));
		a->assigned = sqlite3_column_int(st, 7) > 0;
	}
	sqlite3_finalize(st);
	*out = arr;
	*n = len;
	return 0;
}

int store_arrival_tick(struct store *s, time_t now)
{
	struct arrival_study *due = NULL;
	size_t n = 0;
	pthread_mutex_lock(&s->mu);
	int rc = arrival_due(s, (int64_t)now - s->cfg->quiet_seconds, &due, &n);
	if (rc || n == 0)
		goto done;
	rc = store_begin(s);
	for (size_t i = 0; !rc && i < n; i++) {
		rc = store_run(
			store_prep(s, "UPDATE studies SET complete=1 WHERE id=?", "i", due[i].id));
		if (rc || due[i].assigned)
			continue;
		rc = arrival_coupling(s, &due[i]);
		if (rc == -ENOENT)
			rc = arrival_routing(s, &due[i]);
		if (rc == -ENOENT)
			rc = 0;
	}
	rc = store_end(s, rc);
done:
	pthread_mutex_unlock(&s->mu);
	free(due);
	return rc ? rc : (int)n;
}
