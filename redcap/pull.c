/*
 * pull: what REDCap adds, read every poll_seconds and kept in the catalog (rc_cache.c):
 * projects' settings (DataTransferProjects), each project's events and participants (its
 * own REDCap), CouplingList rows, Routing records, and transfer requests the Assign
 * application wrote into Incoming. Exports are whole forms in one request each, never one
 * call per study; every filter is applied here, on fiona's side, because a broken
 * filterLogic makes REDCap return every record. A read that fails leaves the catalog as it
 * was: what REDCap said last stays in force.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "redcap/redcap_int.h"

/* Exports records (flat, raw) of t; forms/fields given as kv pairs after the base ones. */
static int export_rows(struct redcap_sync *r, struct rc_target *t, const char *const *extra,
		       size_t n_extra, struct redcap_rows *out)
{
	const char *kv[24] = {"content", "record",     "format", "json",	 "type",
			      "flat",	 "rawOrLabel", "raw",	 "returnFormat", "json"};
	size_t n = 10;
	struct fiona_err err = {0};
	struct rc_reply rep;
	char why[256];
	int rc = -EAGAIN;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_extra && n < CORE_ARRAY_SIZE(kv); i++)
		kv[n++] = extra[i];
	if (rc_call(r, t, kv, n, &rep, why, sizeof(why)) == REDCAP_OK) {
		rc = redcap_parse_rows((const char *)rep.body.data, rep.body.len, out, &err);
		if (rc)
			log_msg(r->log, LOG_WARN, "redcap", "%s export: %s", t->name, err.reason);
	}
	rc_reply_free(&rep);
	return rc ? -EAGAIN : 0;
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

/* DataTransferProjects: the REDCap side of each configured project. The configuration
 * stays authoritative; REDCap's AutoID title is used when the configuration has none. */
static void pull_projects(struct redcap_sync *r)
{
	const char *extra[] = {"forms[0]", "projects"};
	struct redcap_rows rows;

	if (!r->projects.token[0] || export_rows(r, &r->projects, extra, 2, &rows))
		return;
	for (size_t i = 0; i < rows.n; i++) {
		const struct redcap_row *w = &rows.rows[i];
		const char *name = redcap_get(w, "project_name");
		const struct config_project *p = config_project(r->cfg, name);
		char key[80], val[300];

		if (!*name)
			continue;
		if (!p) {
			log_msg(r->log, LOG_INFO, "redcap",
				"DataTransferProjects names %s, which the configuration lacks: "
				"ignored",
				name);
			continue;
		}
		snprintf(key, sizeof(key), "active.%s", name);
		store_rc_state_set(r->s, key, redcap_get(w, "project_active"));
		snprintf(key, sizeof(key), "autoid.%s", name);
		store_rc_state_set(r->s, key,
				   !strcmp(redcap_get(w, "project_use_autoid"), "1") &&
						   !p->autoid &&
						   strcmp(redcap_get(w, "project_active"), "0")
					   ? redcap_get(w, "project_autoid_aetitle")
					   : "");
		snprintf(val, sizeof(val), "%s%s%s",
			 !strcmp(redcap_get(w, "project_features___0"), "1") ? "no-pr " : "",
			 !strcmp(redcap_get(w, "project_features___1"), "1") ? "keep-pixels " : "",
			 !strcmp(redcap_get(w, "project_features___2"), "1") ? "no-sc" : "");
		snprintf(key, sizeof(key), "features.%s", name);
		store_rc_state_set(r->s, key, val);
		if (*redcap_get(w, "project_patient_naming") &&
		    strcmp(redcap_get(w, "project_patient_naming"), p->participant_pattern))
			log_msg(r->log, LOG_WARN, "redcap",
				"project %s: REDCap's participant pattern differs from the "
				"configuration's: the configuration's is kept",
				name);
	}
	redcap_rows_free(&rows);
}

/* Each project's own REDCap: its events (unique names as REDCap gives them) and its
 * record ids, which are participant IDs. */
static void pull_project_db(struct redcap_sync *r, struct rc_target *t)
{
	const char *ev[] = {"content", "event", "format", "json", "returnFormat", "json"};
	struct redcap_rows rows = {0};
	struct fiona_err err = {0};
	struct rc_reply rep;
	char why[256];

	if (rc_target_ready(r, t))
		return;
	if (t->longitudinal &&
	    rc_call(r, t, ev, CORE_ARRAY_SIZE(ev), &rep, why, sizeof(why)) == REDCAP_OK &&
	    redcap_parse_rows((const char *)rep.body.data, rep.body.len, &rows, &err) == 0) {
		char **names = calloc(rows.n + 1, sizeof(*names));
		char **labels = calloc(rows.n + 1, sizeof(*labels));

		for (size_t i = 0; names && labels && i < rows.n; i++) {
			names[i] = (char *)redcap_get(&rows.rows[i], "unique_event_name");
			labels[i] = (char *)redcap_get(&rows.rows[i], "event_name");
		}
		if (names && labels)
			store_rc_events_set(r->s, t->name, names, labels, rows.n);
		free(names), free(labels);
	}
	if (t->longitudinal)
		rc_reply_free(&rep);
	redcap_rows_free(&rows);
	{
		const char *extra[] = {"fields[0]", t->record_field};

		if (export_rows(r, t, extra, 2, &rows) == 0) {
			char **ids = calloc(rows.n + 1, sizeof(*ids));
			size_t n = 0;

			for (size_t i = 0; ids && i < rows.n; i++) {
				const char *id = redcap_get(&rows.rows[i], t->record_field);
				bool dup = false;

				for (size_t k = 0; k < n && !dup; k++)
					dup = !strcmp(ids[k], id);
				if (*id && !dup)
					ids[n++] = (char *)id;
			}
			if (ids)
				store_rc_participants_add(r->s, t->name, ids, n);
			free(ids);
			redcap_rows_free(&rows);
		}
	}
}

static void pull_coupling(struct redcap_sync *r)
{
	struct store_rc_coupling *c;
	struct redcap_rows rows;
	size_t n = 0;

	if (!r->coupling.token[0] || export_rows(r, &r->coupling, NULL, 0, &rows))
		return;
	if ((c = calloc(rows.n + 1, sizeof(*c)))) {
		for (size_t i = 0; i < rows.n; i++) {
			const struct redcap_row *w = &rows.rows[i];
			const char *key = redcap_get(w, "cl_accessionnumber");

			if (!*key)
				key = redcap_get(w, "cl_studyinstanceuid");
			copy(c[n].project, sizeof(c[n].project), redcap_get(w, "cl_projectname"));
			copy(c[n].key, sizeof(c[n].key), key);
			copy(c[n].participant, sizeof(c[n].participant),
			     redcap_get(w, "cl_subjectid"));
			copy(c[n].event, sizeof(c[n].event), redcap_get(w, "cl_eventname"));
			n += c[n].project[0] != '\0';
		}
		store_rc_coupling_set(r->s, c, n);
		free(c);
	}
	redcap_rows_free(&rows);
}

/* An AE title in a Routing record is a name, not a pattern: matched exactly. */
static void aet_regex(const char *aet, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	if (!*aet)
		return;
	out[n++] = '^';
	for (const char *p = aet; *p && n + 3 < cap; p++) {
		if (strchr("\\^$.|?*+()[]{}", *p))
			out[n++] = '\\';
		out[n++] = *p;
	}
	out[n++] = '$';
	out[n] = '\0';
}

static void pull_routing(struct redcap_sync *r)
{
	struct store_rc_route *v;
	struct redcap_rows rows;
	const char *choices;
	size_t n = 0;

	if (!r->routing.token[0] || rc_target_ready(r, &r->routing) ||
	    export_rows(r, &r->routing, NULL, 0, &rows))
		return;
	choices = rc_field_choices(&r->routing, "routing_dest_project");
	if ((v = calloc(rows.n + 1, sizeof(*v)))) {
		for (size_t i = 0; i < rows.n; i++) {
			const struct redcap_row *w = &rows.rows[i];
			const char *code = redcap_get(w, "routing_dest_project");

			if (strcmp(redcap_get(w, "routing_active"), "1"))
				continue;
			redcap_choice_label(choices, code, v[n].project, sizeof(v[n].project));
			if (!v[n].project[0]) /* a text field, not a dropdown */
				copy(v[n].project, sizeof(v[n].project), code);
			copy(v[n].key, sizeof(v[n].key), redcap_get(w, r->routing.record_field));
			copy(v[n].patient_id, sizeof(v[n].patient_id),
			     redcap_get(w, "routing_allowed_patientid"));
			copy(v[n].patient_name, sizeof(v[n].patient_name),
			     redcap_get(w, "routing_allowed_patientname"));
			aet_regex(redcap_get(w, "routing_sending_aetitle"), v[n].calling_aet,
				  sizeof(v[n].calling_aet));
			aet_regex(redcap_get(w, "routing_incoming_aetitle"), v[n].called_aet,
				  sizeof(v[n].called_aet));
			copy(v[n].event, sizeof(v[n].event), redcap_get(w, "routing_event_name"));
			n++;
		}
		store_rc_routing_set(r->s, v, n);
		free(v);
	}
	redcap_rows_free(&rows);
}

/* Transfer requests: Incoming transfers rows with a requested date and no transfer date
 * that fiona did not write, from records changed since the last read (REDCap's
 * dateRangeBegin, with ten minutes of overlap against clock skew; re-reading a request
 * is harmless, store_rc_request knows it). */
static void pull_requests(struct redcap_sync *r)
{
	char since[32];
	time_t from = (time_t)(r->last_request_poll - 600);
	int64_t started = (int64_t)time(NULL);
	struct tm tm;
	struct redcap_rows rows;

	localtime_r(&from, &tm);
	strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
	{
		const char *extra[] = {"forms[0]", "transfers", "dateRangeBegin", since};

		if (export_rows(r, &r->incoming, extra, 4, &rows))
			return;
	}
	for (size_t i = 0; i < rows.n; i++) {
		const struct redcap_row *w = &rows.rows[i];
		const char *by = redcap_get(w, "transfer_requested_by");
		struct fiona_err err = {0};
		struct store_rc_request q;
		char who[96], key[64], active[8];
		long inst = atol(redcap_get(w, "redcap_repeat_instance"));
		int rc;

		if (strcmp(redcap_get(w, "redcap_repeat_instrument"), "transfers") || inst <= 0 ||
		    !*redcap_get(w, "transfer_requested_date") || *redcap_get(w, "transfer_date") ||
		    !*redcap_get(w, "transfer_project_name"))
			continue;
		snprintf(who, sizeof(who), "REDCap Incoming transfers #%ld%s%.40s", inst,
			 *by ? " by " : "", by);
		q = (struct store_rc_request){redcap_get(w, r->incoming.record_field),
					      redcap_get(w, "transfer_project_name"),
					      redcap_get(w, "transfer_name"),
					      redcap_get(w, "transfer_event_name"),
					      who,
					      inst,
					      NULL};
		snprintf(key, sizeof(key), "active.%s", q.project);
		if (store_rc_state_get(r->s, key, active, sizeof(active), NULL) == 0 &&
		    !strcmp(active, "0"))
			q.refused = "the project is not active in DataTransferProjects";
		rc = store_rc_request(r->s, &q, &err);
		if (rc)
			log_msg(r->log, LOG_WARN, "redcap", "transfer request #%ld refused: %s",
				inst, err.reason[0] ? err.reason : strerror(-rc));
	}
	redcap_rows_free(&rows);
	r->last_request_poll = started;
}

int rc_pull(struct redcap_sync *r)
{
	if (rc_target_ready(r, &r->incoming))
		return -EAGAIN;
	pull_projects(r);
	for (size_t i = 0; i < r->n_proj && !r->banned; i++)
		if (r->proj[i].token[0])
			pull_project_db(r, &r->proj[i]);
	if (!r->banned)
		pull_coupling(r);
	if (!r->banned)
		pull_routing(r);
	if (!r->banned)
		pull_requests(r);
	return 0;
}
