/*
 * import.c: content=record with data (flat json or csv). Like REDCap, every row is
 * validated before anything is written, so a request with one bad row changes
 * nothing. Errors come in REDCap's order and wording: unknown fields, bad event
 * names, record names and instances, duplicates, then the value errors, one CSV line
 * per error ("rec","field","value","message") joined by \n.
 * Writing merges into an existing row (normal: a blank keeps the old value,
 * overwrite: a blank erases it; only keys present count); "new" instances become
 * max(instance)+1 per record/event/form, each "new" row its own instance.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/redcap/emu.h"

#define MSG_FORMAT                                                                                 \
	"The value you provided could not be validated because it does not follow the expected "   \
	"format. Please try again."
#define MSG_JSON                                                                                   \
	"The data being imported is not formatted correctly. PHP error from JSON decoder: "        \
	"Syntax error. The JSON must be in an array, as in [{ ... }]."
#define MAX_INSTANCE 32767

struct irow {
	const char *rec, *event, *instr, *inst_s;
	json_t *vals; /* key -> string, the non-addressing keys of the row */
	int inst, is_new;
};

struct batch {
	struct irow *v;
	size_t n;
	json_t *rows; /* owns the normalized row objects */
};

static void batch_release(struct batch *b)
{
	free(b->v);
	json_decref(b->rows);
}

/* REDCap reads JSON numbers and booleans as PHP would print them. */
static json_t *to_string(const json_t *v)
{
	char tmp[64];

	if (json_is_string(v))
		return json_string(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return json_string(tmp);
	}
	if (json_is_real(v)) {
		snprintf(tmp, sizeof(tmp), "%.15g", json_real_value(v));
		return json_string(tmp);
	}
	if (json_is_true(v))
		return json_string("1");
	return json_string("");
}

/* CSV per RFC 4180 into an array of objects keyed by the header line. */
static int csv_parse(const char *s, json_t **out)
{
	json_t *rows = json_array(), *header = json_array(), *cur = json_array();
	struct buf cell = {0};
	int rc = -ENOMEM, quoted = 0, first = 1;

	if (!rows || !header || !cur)
		goto fail;
	for (;;) {
		char c = *s;

		if (quoted) {
			if (!c) {
				rc = -EINVAL;
				goto fail;
			}
			if (c == '"' && s[1] == '"') {
				if (buf_addc(&cell, '"'))
					goto fail;
				s += 2;
			} else if (c == '"') {
				quoted = 0;
				s++;
			} else {
				if (buf_addc(&cell, c))
					goto fail;
				s++;
			}
			continue;
		}
		if (c == '"') {
			quoted = 1;
			s++;
			continue;
		}
		if (c == ',' || c == '\n' || c == '\r' || !c) {
			if (json_array_append_new(cur, json_string(cell.p ? cell.p : "")))
				goto fail;
			buf_reset(&cell);
			if (c == ',') {
				s++;
				continue;
			}
			if (c == '\r' && s[1] == '\n')
				s++;
			/* a line ends: the header, a row, or a blank line */
			if (json_array_size(cur) == 1 &&
			    !*json_string_value(json_array_get(cur, 0))) {
				json_array_clear(cur);
			} else if (first) {
				json_array_extend(header, cur);
				json_array_clear(cur);
				first = 0;
			} else {
				json_t *o = json_object();
				size_t i;

				if (!o || json_array_append_new(rows, o))
					goto fail;
				if (json_array_size(cur) != json_array_size(header)) {
					rc = -EINVAL;
					goto fail;
				}
				for (i = 0; i < json_array_size(header); i++)
					json_object_set(
						o, json_string_value(json_array_get(header, i)),
						json_array_get(cur, i));
				json_array_clear(cur);
			}
			if (!c)
				break;
			s++;
			continue;
		}
		if (buf_addc(&cell, c))
			goto fail;
		s++;
	}
	*out = rows;
	rows = NULL;
	rc = 0;
fail:
	json_decref(rows);
	json_decref(header);
	json_decref(cur);
	buf_release(&cell);
	return rc;
}

/* Parses data into normalized rows. *msg is set (static text) for a 400. */
static int batch_load(const struct project *p, const char *data, enum fmt in, struct batch *b,
		      const char **msg)
{
	const char *idf = project_id_field(p);
	json_t *in_rows = NULL;
	size_t i;
	int rc;

	*msg = NULL;
	if (in == FMT_CSV) {
		rc = csv_parse(data, &in_rows);
		if (rc == -EINVAL) {
			*msg = "The data being imported is not formatted correctly. Each row must "
			       "have as "
			       "many values as the header line.";
			return 0;
		}
		if (rc)
			return rc;
	} else {
		in_rows = json_loads(data, JSON_DECODE_ANY, NULL);
		if (!in_rows || (!json_is_array(in_rows) && !json_is_object(in_rows))) {
			json_decref(in_rows);
			*msg = MSG_JSON;
			return 0;
		}
		if (json_is_object(in_rows)) /* PyCap #103: an object is a silent no-op */
			json_array_clear(in_rows = (json_decref(in_rows), json_array()));
	}
	b->rows = json_array();
	b->v = calloc(json_array_size(in_rows) + 1, sizeof(*b->v));
	if (!b->rows || !b->v) {
		json_decref(in_rows);
		return -ENOMEM;
	}
	for (i = 0; i < json_array_size(in_rows); i++) {
		const json_t *src = json_array_get(in_rows, i);
		struct irow *r = &b->v[b->n];
		json_t *o = json_object(), *x;
		const char *k;

		if (!o || json_array_append_new(b->rows, o)) {
			json_decref(in_rows);
			return -ENOMEM;
		}
		if (!json_is_object(src)) {
			json_decref(in_rows);
			*msg = MSG_JSON;
			return 0;
		}
		json_object_foreach((json_t *)src, k, x)
		{
			if (json_is_object(x) || json_is_array(x)) {
				json_decref(in_rows);
				*msg = MSG_JSON;
				return 0;
			}
			json_object_set_new(o, k, to_string(x));
		}
		r->vals = o;
		r->rec = json_string_value(json_object_get(o, idf));
		r->event = json_string_value(json_object_get(o, "redcap_event_name"));
		r->instr = json_string_value(json_object_get(o, "redcap_repeat_instrument"));
		r->inst_s = json_string_value(json_object_get(o, "redcap_repeat_instance"));
		b->n++;
	}
	json_decref(in_rows);
	return 0;
}

static int is_complete_field(const struct project *p, const char *k, char *form, size_t fsz)
{
	size_t n = strlen(k);

	if (n <= 9 || strcmp(k + n - 9, "_complete") != 0)
		return 0;
	snprintf(form, fsz, "%.*s", (int)(n - 9), k);
	return project_has_form(p, form);
}

/* Resolves an import key to its field; *code is the checkbox choice (or NULL). */
static const struct field *key_field(const struct project *p, const char *k,
				     const struct choice **code)
{
	const char *sep = strstr(k, "___");
	const struct field *f;
	char base[512];
	size_t i;

	*code = NULL;
	if (!sep) {
		f = project_field(p, k);
		return f && f->type != FT_CHECKBOX && f->type != FT_DESCRIPTIVE ? f : NULL;
	}
	snprintf(base, sizeof(base), "%.*s", (int)(sep - k), k);
	f = project_field(p, base);
	if (!f || f->type != FT_CHECKBOX)
		return NULL;
	for (i = 0; i < f->nchoices; i++)
		if (strcmp(f->choices[i].suffix, sep + 3) == 0)
			*code = &f->choices[i];
	return *code ? f : NULL;
}

static int is_addressing(const char *k)
{
	return strcmp(k, "redcap_event_name") == 0 || strcmp(k, "redcap_repeat_instrument") == 0 ||
	       strcmp(k, "redcap_repeat_instance") == 0;
}

static int check_unknown(const struct project *p, const struct batch *b, struct buf *msg)
{
	json_t *seen = json_object();
	size_t i;
	int rc = 0, n = 0;

	if (!seen)
		return -ENOMEM;
	for (i = 0; rc == 0 && i < b->n; i++) {
		const char *k;
		json_t *v;

		json_object_foreach(b->v[i].vals, k, v)
		{
			const struct choice *c;
			char form[256];

			if (strcmp(k, project_id_field(p)) == 0 || key_field(p, k, &c) ||
			    is_complete_field(p, k, form, sizeof(form)))
				continue;
			if (strcmp(k, "redcap_event_name") == 0 && p->longitudinal)
				continue;
			if ((strcmp(k, "redcap_repeat_instrument") == 0 ||
			     strcmp(k, "redcap_repeat_instance") == 0) &&
			    project_has_repeating(p))
				continue;
			if (json_object_get(seen, k))
				continue;
			json_object_set_new(seen, k, json_true());
			rc = n++ ? buf_addf(msg, ", %s", k)
				 : buf_addf(msg,
					    "The following fields were not found in the project "
					    "as real data fields: %s",
					    k);
		}
	}
	json_decref(seen);
	return rc;
}

static int check_events(const struct project *p, const struct batch *b, struct buf *msg)
{
	json_t *seen;
	size_t i;
	int rc = 0, n = 0;

	if (!p->longitudinal)
		return 0;
	for (i = 0; i < b->n; i++)
		if (!b->v[i].event || !*b->v[i].event)
			return buf_adds(msg, "The record event name is missing.");
	seen = json_object();
	if (!seen)
		return -ENOMEM;
	for (i = 0; rc == 0 && i < b->n; i++) {
		const char *ev = b->v[i].event;

		if (project_event(p, ev) || json_object_get(seen, ev))
			continue;
		json_object_set_new(seen, ev, json_true());
		rc = n++ ? buf_addf(msg, ", %s", ev)
			 : buf_addf(msg,
				    "The following values of redcap_event_name are invalid: %s",
				    ev);
	}
	json_decref(seen);
	return rc;
}

static int check_record_name(const char *rec, struct buf *msg)
{
	if (!rec || !*rec)
		return buf_adds(msg, "The record name is missing: every row needs a value for the "
				     "record ID field.");
	if (strlen(rec) > 100)
		return buf_addf(msg, "The record name (%s) is longer than 100 characters.", rec);
	if (strpbrk(rec, "+&#'\r\n"))
		return buf_addf(msg,
				"The record name (%s) contains characters that are not allowed "
				"(+ & # ' or a line break).",
				rec);
	return 0;
}

/* Addressing: record name, event, instance ("new" or 1..32767), instrument. */
static int check_address(const struct project *p, struct batch *b, struct buf *msg,
			 struct buf *lines)
{
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && msg->n == 0 && i < b->n; i++) {
		struct irow *r = &b->v[i];
		const char *ev = p->longitudinal ? r->event : "";
		int rep_event = p->longitudinal && project_event_repeats(p, ev);

		if ((rc = check_record_name(r->rec, msg)) || msg->n)
			break;
		r->inst = 0;
		if (!r->instr)
			r->instr = "";
		if (r->inst_s && *r->inst_s) {
			if (strcmp(r->inst_s, "new") == 0) {
				r->is_new = 1;
			} else if (emu_is_uint(r->inst_s) && strlen(r->inst_s) <= 5 &&
				   strtol(r->inst_s, NULL, 10) >= 1 &&
				   strtol(r->inst_s, NULL, 10) <= MAX_INSTANCE) {
				r->inst = (int)strtol(r->inst_s, NULL, 10);
			} else {
				rc = buf_addf(msg,
					      "The record name (%s) has an invalid value for "
					      "'redcap_repeat_instance'. The value must either be "
					      "a positive integer or the value 'new'. Value "
					      "provided: %s",
					      r->rec, r->inst_s);
				break;
			}
		}
		if (*r->instr && !project_form_repeats(p, ev, r->instr)) {
			rc = buf_addf(lines,
				      "%s\"%s\",\"redcap_repeat_instrument\",\"%s\",\""
				      "redcap_repeat_instrument must be the unique form name of a "
				      "Repeating Instrument%s. '%s' is not.\"",
				      lines->n ? "\n" : "", r->rec, r->instr,
				      p->longitudinal ? " in this event" : "", r->instr);
		} else if (*r->instr && !r->inst && !r->is_new) {
			rc = buf_addf(msg,
				      "The record name (%s) has an invalid value for "
				      "'redcap_repeat_instance'. The value must either be a "
				      "positive integer or the value 'new'. Value provided: %s",
				      r->rec, r->inst_s ? r->inst_s : "");
		} else if (!*r->instr && (r->inst || r->is_new) && !rep_event) {
			rc = buf_addf(msg,
				      "The record name (%s) has a value for "
				      "'redcap_repeat_instance' but no 'redcap_repeat_instrument', "
				      "and %s is not a repeating event.",
				      r->rec, p->longitudinal ? ev : "the project");
		} else if (rep_event && !*r->instr && !r->inst && !r->is_new) {
			rc = buf_addf(msg,
				      "The record name (%s) is in the repeating event %s but has "
				      "no value for 'redcap_repeat_instance'.",
				      r->rec, ev);
		}
	}
	return rc;
}

static int check_duplicates(const struct project *p, const struct batch *b, struct buf *msg)
{
	json_t *keys = json_object(), *dups = json_object();
	size_t i;
	int rc = 0, n = 0;

	if (!keys || !dups) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; rc == 0 && i < b->n; i++) {
		const struct irow *r = &b->v[i];
		char key[1024];

		if (r->is_new)
			continue;
		snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%d", r->rec,
			 p->longitudinal ? r->event : "", r->instr, r->inst);
		if (!json_object_get(keys, key)) {
			json_object_set_new(keys, key, json_true());
			continue;
		}
		if (json_object_get(dups, r->rec))
			continue;
		json_object_set_new(dups, r->rec, json_true());
		rc = n++ ? buf_addf(msg, ", %s", r->rec)
			 : buf_addf(msg,
				    "The records listed below occur more than once. Please "
				    "remove any duplicates and try again: %s",
				    r->rec);
	}
out:
	json_decref(keys);
	json_decref(dups);
	return rc;
}

static int valid_date(const char *s, size_t *used)
{
	int y, m, d, n = 0;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (strlen(s) < 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    s[4] != '-' || s[7] != '-' || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[8]) || !isdigit((unsigned char)s[9]))
		return 0;
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	*used = 10;
	return 1;
}

/* " HH:MM" or " HH:MM:SS" exactly. */
static int valid_time(const char *s, int seconds)
{
	size_t want = seconds ? 9 : 6, i;

	if (strlen(s) != want || s[0] != ' ' || s[3] != ':' || (seconds && s[6] != ':'))
		return 0;
	for (i = 1; i < want; i++)
		if (i != 3 && i != 6 && !isdigit((unsigned char)s[i]))
			return 0;
	return (s[1] - '0') * 10 + (s[2] - '0') < 24 && s[4] < '6' && (!seconds || s[7] < '6');
}

static int valid_number(const char *s)
{
	char *end;

	if (strspn(s, "+-0123456789.eE") != strlen(s))
		return 0;
	strtod(s, &end);
	return *end == '\0' && end != s;
}

static int valid_value(const struct field *f, const char *v)
{
	const char *val = f->validation;
	size_t used = 0;

	if (f->type != FT_TEXT || !*val)
		return 1;
	if (strcmp(val, "integer") == 0)
		return emu_is_uint(v + (*v == '-' || *v == '+'));
	if (strcmp(val, "number") == 0)
		return valid_number(v);
	if (strcmp(val, "date_ymd") == 0)
		return valid_date(v, &used) && v[used] == '\0';
	if (strcmp(val, "datetime_ymd") == 0)
		return valid_date(v, &used) && valid_time(v + used, 0);
	if (strcmp(val, "datetime_seconds_ymd") == 0)
		return valid_date(v, &used) && valid_time(v + used, 1);
	if (strcmp(val, "time") == 0)
		return strlen(v) == 5 &&
		       valid_time((char[8]){' ', v[0], v[1], v[2], v[3], v[4], 0}, 0);
	if (strcmp(val, "email") == 0)
		return strchr(v, '@') && strchr(strchr(v, '@'), '.');
	return 1;
}

static int has_choice(const struct field *f, const char *v)
{
	size_t i;

	for (i = 0; i < f->nchoices; i++)
		if (strcmp(f->choices[i].code, v) == 0)
			return 1;
	return 0;
}

static const char *event_label(const struct project *p, const char *ev)
{
	const struct event *e = project_event(p, ev);

	return e ? e->name : ev;
}

static int add_line(struct buf *lines, const char *rec, const char *k, const char *v,
		    const char *msg)
{
	int rc = buf_adds(lines, lines->n ? "\n\"" : "\"");
	const char *parts[4] = {rec, k, v, msg};
	int i;

	for (i = 0; rc == 0 && i < 4; i++) {
		const char *s;

		if (i)
			rc = buf_adds(lines, ",\"");
		for (s = parts[i]; rc == 0 && *s; s++)
			rc = *s == '"' ? buf_adds(lines, "\"\"") : buf_addc(lines, *s);
		if (rc == 0)
			rc = buf_addc(lines, '"');
	}
	return rc;
}

/* One value of one row: its form must be in the row, its value valid. */
static int check_value(const struct project *p, const struct irow *r, const char *k, const char *v,
		       struct buf *lines)
{
	const char *ev = p->longitudinal ? r->event : "";
	const struct choice *code;
	const struct field *f;
	char form[256], msg[1024];

	if (!*v || strcmp(k, project_id_field(p)) == 0 || is_addressing(k))
		return 0;
	f = key_field(p, k, &code);
	if (!f && !is_complete_field(p, k, form, sizeof(form)))
		return 0; /* reported as unknown before */
	if (f)
		snprintf(form, sizeof(form), "%s", f->form);
	if (!project_form_in_event(p, ev, form)) {
		snprintf(msg, sizeof(msg),
			 "This field ('%s') exists on an instrument that is not "
			 "designated for the event named '%s'. You are not allowed to import data "
			 "for "
			 "this field into this event.",
			 f ? f->name : k, event_label(p, ev));
		return add_line(lines, r->rec, k, v, msg);
	}
	if (!records_form_in_row(p, ev, r->instr, form)) {
		snprintf(msg, sizeof(msg),
			 *r->instr
				 ? "This field ('%s') is not on the repeating "
				   "instrument '%s' named in redcap_repeat_instrument."
				 : "This field ('%s') is "
				   "on a repeating instrument%s: give redcap_repeat_instrument and "
				   "redcap_repeat_instance.",
			 f ? f->name : k, *r->instr ? r->instr : "");
		return add_line(lines, r->rec, k, v, msg);
	}
	if (!f) {
		if (strcmp(v, "0") && strcmp(v, "1") && strcmp(v, "2")) {
			snprintf(msg, sizeof(msg), "The value is not a valid category for %s", k);
			return add_line(lines, r->rec, k, v, msg);
		}
		return 0;
	}
	if (code) {
		if (strcmp(v, "0") && strcmp(v, "1")) {
			snprintf(msg, sizeof(msg), "The value is not a valid category for %s", k);
			return add_line(lines, r->rec, k, v, msg);
		}
		return 0;
	}
	if ((f->type == FT_DROPDOWN || f->type == FT_RADIO || f->type == FT_YESNO ||
	     f->type == FT_TRUEFALSE) &&
	    !has_choice(f, v)) {
		snprintf(msg, sizeof(msg), "The value is not a valid category for %s", f->name);
		return add_line(lines, r->rec, k, v, msg);
	}
	if (!valid_value(f, v))
		return add_line(lines, r->rec, k, v, MSG_FORMAT);
	return 0;
}

static int check_values(const struct project *p, const struct batch *b, struct buf *lines)
{
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < b->n; i++) {
		const char *k;
		json_t *v;

		json_object_foreach(b->v[i].vals, k, v)
		{
			if (rc == 0)
				rc = check_value(p, &b->v[i], k, json_string_value(v), lines);
		}
	}
	return rc;
}

static int max_instance(const struct project *p, const char *rec, const char *ev, const char *ins)
{
	size_t i;
	int m = 0;

	for (i = 0; i < p->nrows; i++) {
		const struct row *r = &p->rows[i];

		if (r->instance > m && strcmp(r->record, rec) == 0 && strcmp(r->event, ev) == 0 &&
		    strcmp(r->instrument, ins) == 0)
			m = r->instance;
	}
	return m;
}

/* Merges one value; returns 1 if the row changed. */
static int merge_value(const struct project *p, struct row *row, const char *k, const char *v,
		       int overwrite, json_t *forms_touched)
{
	const json_t *old = json_object_get(row->vals, k);
	const struct choice *code;
	const struct field *f = key_field(p, k, &code);
	char form[256];

	if (f)
		snprintf(form, sizeof(form), "%s", f->form);
	else if (!is_complete_field(p, k, form, sizeof(form)))
		return 0;
	if (!*v || (code && strcmp(v, "0") == 0)) {
		if (!old || (!*v && !overwrite))
			return 0;
		json_object_del(row->vals, k);
		return 1;
	}
	if (f)
		json_object_set_new(forms_touched, form, json_true());
	if (old && strcmp(json_string_value(old), v) == 0)
		return 0;
	json_object_set_new(row->vals, k, json_string(v));
	return 1;
}

static int write_row(struct project *p, const struct irow *r, int inst, int overwrite,
		     size_t *written)
{
	const char *ev = p->longitudinal ? r->event : "";
	json_t *touched = json_object();
	struct row *row;
	const char *k, *fk;
	json_t *v, *x;
	int changed = 0, created = 0;

	if (!touched)
		return -ENOMEM;
	row = records_find(p, r->rec, ev, r->instr, inst);
	if (!row) {
		row = records_add(p, r->rec, ev, r->instr, inst);
		created = 1;
	}
	if (!row) {
		json_decref(touched);
		return -ENOMEM;
	}
	json_object_foreach(r->vals, k, v)
	{
		if (strcmp(k, project_id_field(p)) && !is_addressing(k))
			changed |= merge_value(p, row, k, json_string_value(v), overwrite, touched);
	}
	/* A form that receives data without a status is "Incomplete" (0), as in REDCap. */
	json_object_foreach(touched, fk, x)
	{
		char ck[300];

		snprintf(ck, sizeof(ck), "%s_complete", fk);
		if (!json_object_get(row->vals, ck)) {
			json_object_set_new(row->vals, ck, json_string("0"));
			changed = 1;
		}
	}
	json_decref(touched);
	if (created && json_object_size(row->vals) == 0) {
		/* key-only rows report their id but store nothing */
		json_decref(row->vals);
		free(row->record);
		free(row->event);
		free(row->instrument);
		p->nrows--;
		return 0;
	}
	if (!changed)
		return 0;
	row->modified = time(NULL);
	(*written)++;
	/* the record id lives in the base row of the event, so it always exists */
	if ((*r->instr || inst) && !records_find(p, r->rec, ev, "", 0) &&
	    !records_add(p, r->rec, ev, "", 0))
		return -ENOMEM;
	return 0;
}

static int answer(struct resp *r, const struct import_opts *o, const json_t *ids,
		  const json_t *orig)
{
	enum fmt f = o->ret_fmt;
	size_t i, n = json_array_size(ids);
	int rc = 0, ids_mode = strcmp(o->ret, "ids") == 0,
	    auto_mode = strcmp(o->ret, "auto_ids") == 0;

	r->status = 200;
	r->ctype = fmt_ctype(f);
	buf_reset(&r->body);
	if (strcmp(o->ret, "nothing") == 0)
		return 0;
	if (auto_mode && !o->force_auto)
		auto_mode = 0; /* auto_ids without forceAutoNumber behaves as count */
	if (!ids_mode && !auto_mode) {
		if (f == FMT_JSON)
			return buf_addf(&r->body, "{\"count\": %zu}", n);
		if (f == FMT_CSV)
			return buf_addf(&r->body, "%zu", n);
		return buf_addf(&r->body,
				"<?xml version=\"1.0\" encoding=\"UTF-8\" ?><count>%zu</count>", n);
	}
	if (f == FMT_JSON) {
		json_t *a = json_array();

		for (i = 0; rc == 0 && i < n; i++) {
			char tmp[256];
			const char *id = json_string_value(json_array_get(ids, i));

			if (auto_mode)
				snprintf(tmp, sizeof(tmp), "%s,%s", id,
					 json_string_value(json_array_get(orig, i)));
			rc = emu_push(a, json_string(auto_mode ? tmp : id));
		}
		if (rc == 0)
			rc = a ? enc_json(&r->body, a) : -ENOMEM;
		json_decref(a);
		return rc;
	}
	if (f == FMT_CSV) {
		rc = buf_adds(&r->body, auto_mode ? "id,original_id\n" : "id\n");
		for (i = 0; rc == 0 && i < n; i++) {
			rc = enc_csv_cell(&r->body, json_string_value(json_array_get(ids, i)));
			if (rc == 0 && auto_mode)
				rc = buf_addc(&r->body, ',') ||
				     enc_csv_cell(&r->body,
						  json_string_value(json_array_get(orig, i)));
			if (rc == 0)
				rc = buf_addc(&r->body, '\n');
		}
		return rc;
	}
	rc = buf_adds(&r->body, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><ids>");
	for (i = 0; rc == 0 && i < n; i++) {
		if (auto_mode)
			rc = buf_addf(&r->body, "<id>%s,%s</id>",
				      json_string_value(json_array_get(ids, i)),
				      json_string_value(json_array_get(orig, i)));
		else
			rc = buf_addf(&r->body, "<id>%s</id>",
				      json_string_value(json_array_get(ids, i)));
	}
	return rc ? rc : buf_adds(&r->body, "</ids>");
}

/* forceAutoNumber: each distinct sent record becomes the next free number. */
static int auto_number(struct project *p, struct batch *b, json_t *names)
{
	json_t *map = json_object();
	long next = records_next_name(p);
	size_t i;

	if (!map)
		return -ENOMEM;
	for (i = 0; i < b->n; i++) {
		json_t *v = json_object_get(map, b->v[i].rec);
		char tmp[32];

		if (!v) {
			snprintf(tmp, sizeof(tmp), "%ld", next++);
			json_object_set_new(map, b->v[i].rec, v = json_string(tmp));
		}
		json_array_append(names, v); /* keeps the string alive for b->v[i].rec */
		b->v[i].rec = json_string_value(v);
	}
	json_decref(map);
	return 0;
}

int records_import(struct emu *e, struct project *p, const char *data, const struct import_opts *o,
		   struct resp *r, size_t *rows_written)
{
	struct batch b = {0};
	struct buf msg = {0}, lines = {0};
	json_t *ids = json_array(), *orig = json_array(), *seen = json_object();
	json_t *autonames = json_array(), *news = json_object();
	const char *bad = NULL;
	size_t i;
	int rc;

	(void)e;
	*rows_written = 0;
	if (!ids || !orig || !seen || !autonames || !news) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = batch_load(p, data, o->in_fmt, &b, &bad);
	if (rc == 0 && bad) {
		rc = resp_error(r, 400, o->ret_fmt, bad);
		goto fail;
	}
	if (rc || (rc = check_unknown(p, &b, &msg)) ||
	    (!msg.n && (rc = check_events(p, &b, &msg))) ||
	    (!msg.n && (rc = check_address(p, &b, &msg, &lines))) ||
	    (!msg.n && (rc = check_duplicates(p, &b, &msg))) ||
	    (!msg.n && (rc = check_values(p, &b, &lines))))
		goto fail;
	if (msg.n || lines.n) {
		rc = resp_error(r, 400, o->ret_fmt, msg.n ? msg.p : lines.p);
		goto fail;
	}
	for (i = 0; i < b.n; i++)
		if ((rc = emu_push(orig, json_string(b.v[i].rec))))
			goto fail;
	if (o->force_auto && (rc = auto_number(p, &b, autonames)))
		goto fail;
	for (i = 0; i < b.n; i++) {
		const struct irow *ir = &b.v[i];
		const char *ev = p->longitudinal ? ir->event : "";
		int inst = ir->inst;

		if (ir->is_new) {
			char key[1024];
			json_t *last;

			/* each "new" row its own instance, counted from the stored maximum */
			snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", ir->rec, ev, ir->instr);
			last = json_object_get(news, key);
			inst = (last ? (int)json_integer_value(last)
				     : max_instance(p, ir->rec, ev, ir->instr)) +
			       1;
			json_object_set_new(news, key, json_integer(inst));
		}
		if ((rc = write_row(p, ir, inst, o->overwrite, rows_written)))
			goto fail;
		if (!json_object_get(seen, ir->rec)) {
			json_object_set_new(seen, ir->rec, json_true());
			if ((rc = emu_push(ids, json_string(ir->rec))))
				goto fail;
		}
	}
	if (o->force_auto) {
		/* original ids per distinct new id, in the same order */
		json_t *o2 = json_array(), *s2 = json_object();

		for (i = 0; o2 && s2 && i < b.n; i++) {
			if (json_object_get(s2, b.v[i].rec))
				continue;
			json_object_set_new(s2, b.v[i].rec, json_true());
			json_array_append(o2, json_array_get(orig, i));
		}
		json_decref(orig);
		json_decref(s2);
		orig = o2;
	}
	rc = answer(r, o, ids, orig);
fail:
	batch_release(&b);
	buf_release(&msg);
	buf_release(&lines);
	json_decref(ids);
	json_decref(orig);
	json_decref(seen);
	json_decref(autonames);
	json_decref(news);
	return rc;
}
