/*
 * api.c: POST /api/ as REDCap's API/index.php dispatches it. Order: ban (done by
 * the caller), injected faults, token, content, rights, then the endpoint. Silent
 * defaults are copied: format and returnFormat fall back to xml, unknown values of
 * type/overwriteBehavior/returnContent to their defaults, flags are true only for
 * "1" or "true", unknown parameters are ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/redcap/emu.h"

#define MSG_NO_API  "You do not have permissions to use the API"
#define MSG_CONTENT "The value of the parameter \"content\" is not valid"
#define MSG_ACTION  "The value of the parameter \"action\" is not valid"
#define MSG_OFFLINE "This project is currently OFFLINE and is not accessible to normal users."
#define MSG_SYSOFFLINE                                                                             \
	"REDCap is currently offline. Please return at another time. We apologize for any "        \
	"inconvenience."
#define MSG_OOM                                                                                    \
	"REDCap ran out of server memory. The request cannot be processed. Please try "            \
	"importing/exporting a smaller amount of data."
#define DBDOWN_PAGE                                                                                \
	"<!DOCTYPE html>\n<html><head><title>REDCap</title></head><body>\n"                        \
	"<div style=\"font-family:arial;\"><b>CRITICAL ERROR: REDCap server is offline!</b>"       \
	"<br><br>For unknown reasons, REDCap cannot communicate with its database server, "        \
	"which may be offline. Please contact your local REDCap administrator to inform them "     \
	"of this issue immediately.</div>\n</body></html>\n"

static int flag(const struct form *f, const char *k)
{
	const char *v = form_get(f, k);

	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

int api_is_import(const struct form *f)
{
	const char *c = form_get(f, "content"), *a = form_get(f, "action");

	return c && strcmp(c, "record") == 0 && form_get(f, "data") &&
	       !(a && strcmp(a, "delete") == 0);
}

static int token_ok(const char *t)
{
	if (!t || !*t)
		return 0;
	for (; *t; t++)
		if (!isalnum((unsigned char)*t))
			return 0;
	return 1;
}

static const struct token *find_token(struct emu *e, const char *t, struct project **pp)
{
	size_t i, j;

	if (!token_ok(t))
		return NULL;
	for (i = 0; i < e->nprojects; i++)
		for (j = 0; j < e->projects[i].ntokens; j++)
			if (strcmp(e->projects[i].tokens[j].token, t) == 0) {
				*pp = &e->projects[i];
				return &e->projects[i].tokens[j];
			}
	return NULL;
}

/* fields[]/forms[] filter; unknown names are ignored, *_complete never listed. */
static int ex_metadata(struct project *p, const struct form *f, enum fmt fmt, struct resp *r)
{
	size_t nf = 0, nfo = 0, i;
	const char **fields = form_array(f, "fields", 1, &nf);
	const char **forms = form_array(f, "forms", 1, &nfo);
	json_t *arr = json_array();
	int rc = -ENOMEM;

	if (!arr)
		goto fail;
	for (i = 0; i < p->nfields; i++) {
		const struct field *fd = &p->fields[i];

		if ((nf || nfo) && !emu_in_list(fields, nf, fd->name) &&
		    !emu_in_list(forms, nfo, fd->form))
			continue;
		if (json_array_append(arr, fd->meta))
			goto fail;
	}
	rc = resp_table(r, fmt, arr, "records");
fail:
	json_decref(arr);
	free(fields);
	free(forms);
	return rc;
}

static int ex_project(struct project *p, enum fmt fmt, struct resp *r)
{
	json_t *o = json_pack(
		"{si ss ss ss si ss si ss ss ss ss si si si si si si si ss ss ss ss "
		"si ss ss si}",
		"project_id", p->project_id, "project_title", p->title, "creation_time",
		"2017-01-01 00:00:00", "production_time",
		p->in_production ? "2017-01-02 00:00:00" : "", "in_production", p->in_production,
		"project_language", "English", "purpose", 1, "purpose_other", "", "project_notes",
		"", "custom_record_label", "", "secondary_unique_field", "", "is_longitudinal",
		p->longitudinal, "has_repeating_instruments_or_events", project_has_repeating(p),
		"surveys_enabled", 0, "scheduling_enabled", 0, "record_autonumbering_enabled",
		p->autonumbering, "randomization_enabled", 0, "ddp_enabled", 0,
		"project_irb_number", "", "project_grant_number", "", "project_pi_firstname", "",
		"project_pi_lastname", "", "display_today_now_button", 1, "missing_data_codes", "",
		"external_modules", "", "bypass_branching_erase_field_prompt", 0);
	int rc;

	if (!o)
		return -ENOMEM;
	rc = resp_table(r, fmt, o, "project");
	json_decref(o);
	return rc;
}

/* Encodes a built table and frees it; rc is the building's outcome. */
static int finish_table(struct resp *r, enum fmt fmt, json_t *arr, const char *root, int rc)
{
	if (rc == 0)
		rc = arr ? resp_table(r, fmt, arr, root) : -ENOMEM;
	json_decref(arr);
	return rc;
}

static int ex_events(struct project *p, const struct form *f, enum fmt fmt, enum fmt rf,
		     struct resp *r)
{
	size_t na = 0, i;
	const char **arms = form_array(f, "arms", 1, &na);
	json_t *arr;
	int rc = 0;

	if (!p->longitudinal) {
		free(arms);
		return resp_error(r, 400, rf, "You cannot export events for classic projects");
	}
	arr = json_array();
	for (i = 0; rc == 0 && i < p->nevents; i++) {
		const struct event *ev = &p->events[i];
		char an[16];

		snprintf(an, sizeof(an), "%d", ev->arm);
		if (na && !emu_in_list(arms, na, an))
			continue;
		rc = emu_push(arr, json_pack("{ss si ss ss si}", "event_name", ev->name, "arm_num",
					     ev->arm, "unique_event_name", ev->unique,
					     "custom_event_label", ev->label, "event_id", ev->id));
	}
	free(arms);
	return finish_table(r, fmt, arr, "events", rc);
}

static int ex_arms(struct project *p, enum fmt fmt, enum fmt rf, struct resp *r)
{
	json_t *arr;
	size_t i;
	int rc = 0;

	if (!p->longitudinal)
		return resp_error(r, 400, rf, "You cannot export arms for classic projects");
	arr = json_array();
	for (i = 0; rc == 0 && i < p->narms; i++)
		rc = emu_push(arr, json_pack("{si ss}", "arm_num", p->arms[i].num, "name",
					     p->arms[i].name));
	return finish_table(r, fmt, arr, "arms", rc);
}

static int ex_fem(struct project *p, enum fmt fmt, enum fmt rf, struct resp *r)
{
	json_t *arr;
	size_t i;
	int rc = 0;

	if (!p->longitudinal)
		return resp_error(r, 400, rf,
				  "You cannot export form/event mappings for classic projects");
	arr = json_array();
	for (i = 0; rc == 0 && i < p->nfems; i++)
		rc = emu_push(arr, json_pack("{si ss ss}", "arm_num", p->fems[i].arm,
					     "unique_event_name", p->fems[i].event, "form",
					     p->fems[i].form));
	return finish_table(r, fmt, arr, "items", rc);
}

static int ex_instruments(struct project *p, enum fmt fmt, struct resp *r)
{
	json_t *arr = json_array();
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < p->nforms; i++)
		rc = emu_push(arr, json_pack("{ss ss}", "instrument_name", p->forms[i].name,
					     "instrument_label", p->forms[i].label));
	return finish_table(r, fmt, arr, "instruments", rc);
}

static int ex_repeating(struct project *p, enum fmt fmt, enum fmt rf, struct resp *r)
{
	json_t *arr;
	size_t i;
	int rc = 0;

	if (!project_has_repeating(p))
		return resp_error(r, 400, rf,
				  "You cannot export repeating instruments and events because the "
				  "project does not contain any repeating instruments and events");
	arr = json_array();
	for (i = 0; rc == 0 && i < p->nreps; i++) {
		const struct rep *x = &p->reps[i];

		rc = emu_push(arr, p->longitudinal ? json_pack("{ss ss ss}", "event_name", x->event,
							       "form_name", x->form,
							       "custom_form_label", x->label)
						   : json_pack("{ss ss}", "form_name", x->form,
							       "custom_form_label", x->label));
	}
	return finish_table(r, fmt, arr, "items", rc);
}

static json_t *field_name_row(const char *field, const char *code, const char *export_name)
{
	return json_pack("{ss ss ss}", "original_field_name", field, "choice_value", code,
			 "export_field_name", export_name);
}

static int ex_field_names(struct project *p, const struct form *f, enum fmt fmt, struct resp *r)
{
	const char *only = form_get(f, "field");
	json_t *arr = json_array();
	size_t i, j;
	int rc = 0;

	for (i = 0; rc == 0 && i < p->nfields; i++) {
		const struct field *fd = &p->fields[i];
		char name[512];

		if (fd->type == FT_DESCRIPTIVE || (only && *only && strcmp(only, fd->name)))
			continue;
		if (fd->type != FT_CHECKBOX) {
			rc = emu_push(arr, field_name_row(fd->name, "", fd->name));
			continue;
		}
		for (j = 0; rc == 0 && j < fd->nchoices; j++) {
			snprintf(name, sizeof(name), "%s___%s", fd->name, fd->choices[j].suffix);
			rc = emu_push(arr, field_name_row(fd->name, fd->choices[j].code, name));
		}
	}
	return finish_table(r, fmt, arr, "fields", rc);
}

static int ex_next_name(struct project *p, struct resp *r)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%ld", records_next_name(p));
	return resp_text(r, 200, "text/html; charset=utf-8", tmp);
}

static int do_record(struct emu *e, struct project *p, const struct token *t, const struct form *f,
		     enum fmt fmt, enum fmt rf, struct resp *r)
{
	const char *action = form_get(f, "action"), *data = form_get(f, "data");
	const char *oc = form_get(f, "overwriteBehavior"), *ret = form_get(f, "returnContent");
	struct import_opts o = {0};
	size_t written = 0;
	int rc;

	if (action && strcmp(action, "delete") == 0) {
		if (!t->can_delete)
			return resp_error(r, 403, rf, "You do not have Delete Record privileges");
		return records_delete(e, p, f, rf, r);
	}
	if (action && strcmp(action, "export") && strcmp(action, "import"))
		return resp_error(r, 400, rf, MSG_ACTION);
	if (!data) {
		if (!t->can_export)
			return resp_error(r, 403, rf, "You do not have API Export privileges");
		return records_export(e, p, f, fmt, rf, r);
	}
	if (!t->can_import)
		return resp_error(r, 403, rf, "You do not have API Import/Update privileges");
	o.overwrite = oc && strcmp(oc, "overwrite") == 0;
	o.force_auto = flag(f, "forceAutoNumber");
	o.in_fmt = fmt == FMT_CSV ? FMT_CSV : FMT_JSON;
	o.ret_fmt = rf;
	o.ret = "count";
	if (ret && (strcmp(ret, "ids") == 0 || strcmp(ret, "nothing") == 0 ||
		    strcmp(ret, "auto_ids") == 0))
		o.ret = ret;
	if (fmt == FMT_XML || fmt == FMT_ODM)
		return resp_error(r, 400, rf, "The emulator imports json and csv only.");
	rc = records_import(e, p, data, &o, r, &written);
	e->stats.rows_written += (long)written;
	return rc;
}

static int dispatch(struct emu *e, struct project *p, const struct token *t, const struct form *f,
		    const char *content, enum fmt fmt, enum fmt rf, struct resp *r)
{
	if (strcmp(content, "record") == 0)
		return do_record(e, p, t, f, fmt, rf, r);
	if (strcmp(content, "version") == 0)
		return resp_text(r, 200, "text/csv; charset=utf-8", e->version);
	if (!t->can_export)
		return resp_error(r, 403, rf, "You do not have API Export privileges");
	if (strcmp(content, "metadata") == 0)
		return ex_metadata(p, f, fmt, r);
	if (strcmp(content, "project") == 0)
		return ex_project(p, fmt, r);
	if (strcmp(content, "event") == 0)
		return ex_events(p, f, fmt, rf, r);
	if (strcmp(content, "arm") == 0)
		return ex_arms(p, fmt, rf, r);
	if (strcmp(content, "formEventMapping") == 0)
		return ex_fem(p, fmt, rf, r);
	if (strcmp(content, "instrument") == 0)
		return ex_instruments(p, fmt, r);
	if (strcmp(content, "repeatingFormsEvents") == 0)
		return ex_repeating(p, fmt, rf, r);
	if (strcmp(content, "exportFieldNames") == 0)
		return ex_field_names(p, f, fmt, r);
	if (strcmp(content, "generateNextRecordName") == 0)
		return ex_next_name(p, r);
	return resp_error(r, 400, rf, MSG_CONTENT);
}

static int apply_fault(enum fault_kind k, enum fmt rf, struct resp *r)
{
	switch (k) {
	case FK_OFFLINE:
		return resp_error(r, 400, rf, MSG_OFFLINE);
	case FK_SYSOFFLINE:
		return resp_error(r, 400, rf, MSG_SYSOFFLINE);
	case FK_DBDOWN:
		return resp_text(r, 200, "text/html; charset=utf-8", DBDOWN_PAGE);
	case FK_OOM:
		return resp_error(r, 500, rf, MSG_OOM);
	case FK_ERROR500:
		return resp_text(r, 500, "text/html; charset=utf-8", "");
	case FK_DROP:
		r->mode = RESP_DROP;
		return 0;
	case FK_HANG:
		r->mode = RESP_HANG;
		return 0;
	default:
		return 0;
	}
}

static void count_content(struct emu *e, const char *content)
{
	json_t *v = json_object_get(e->stats.by_content, content);

	json_object_set_new(e->stats.by_content, content,
			    json_integer(v ? json_integer_value(v) + 1 : 1));
}

int api_handle(struct emu *e, const char *ip, const struct form *f, struct resp *r)
{
	const char *content = form_get(f, "content"), *rfs = form_get(f, "returnFormat");
	enum fmt fmt = fmt_parse(form_get(f, "format"));
	enum fmt rf = rfs ? fmt_parse(rfs) : fmt;
	int is_import = api_is_import(f);
	enum fault_kind k = fault_take(e, is_import);
	struct project *p = NULL;
	const struct token *t;
	int rc;

	(void)ip;
	e->stats.requests++;
	if (is_import)
		e->stats.imports++;
	else
		e->stats.exports++;
	count_content(e, content ? content : "");
	if (k != FK_NONE && k != FK_DROP_AFTER_IMPORT)
		return apply_fault(k, rf, r);
	t = find_token(e, form_get(f, "token"), &p);
	if (!t)
		rc = resp_error(r, 403, rf, MSG_NO_API);
	else if (!content)
		rc = resp_error(r, 400, rf, MSG_CONTENT);
	else
		rc = dispatch(e, p, t, f, content, fmt, rf, r);
	if (k == FK_DROP_AFTER_IMPORT)
		r->mode = RESP_DROP; /* the work is done and kept; the answer is lost */
	return rc;
}
