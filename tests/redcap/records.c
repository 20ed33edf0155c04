/*
 * records.c: content=record export and delete, and the canonical dump.
 * Export is flat: one object per record x event x (repeat instrument, instance),
 * keys in REDCap's order (record id, redcap_event_name when longitudinal,
 * redcap_repeat_instrument/_instance when anything repeats, then fields in
 * metadata order with checkboxes as field___code and <form>_complete after each
 * form), every value a string except redcap_repeat_instance, an integer on
 * repeating rows and "" on base rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/redcap/emu.h"

struct col {
	char *name;	       /* export name */
	const struct field *f; /* NULL for <form>_complete */
	const char *form;
	int is_code; /* a checkbox code column */
};

struct cols {
	struct col *v;
	size_t n;
};

static void cols_release(struct cols *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
}

static int cols_add(struct cols *c, const char *name, const struct field *f, const char *form,
		    int is_code)
{
	struct col *v = realloc(c->v, (c->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	c->v = v;
	v[c->n].name = emu_strdup(name);
	if (!v[c->n].name)
		return -ENOMEM;
	v[c->n].f = f;
	v[c->n].form = form;
	v[c->n].is_code = is_code;
	c->n++;
	return 0;
}

long records_next_name(const struct project *p)
{
	long m = 0;
	size_t i;

	for (i = 0; i < p->nrows; i++)
		if (emu_is_uint(p->rows[i].record) && strlen(p->rows[i].record) < 18 &&
		    strtol(p->rows[i].record, NULL, 10) > m)
			m = strtol(p->rows[i].record, NULL, 10);
	return m + 1;
}

int records_form_in_row(const struct project *p, const char *event, const char *instrument,
			const char *form)
{
	if (!project_form_in_event(p, event, form))
		return 0;
	if (*instrument)
		return strcmp(instrument, form) == 0;
	if (project_event_repeats(p, event))
		return 1;
	return !project_form_repeats(p, event, form);
}

struct row *records_find(struct project *p, const char *rec, const char *ev, const char *ins,
			 int inst)
{
	size_t i;

	for (i = 0; i < p->nrows; i++) {
		struct row *r = &p->rows[i];

		if (r->instance == inst && strcmp(r->record, rec) == 0 &&
		    strcmp(r->event, ev) == 0 && strcmp(r->instrument, ins) == 0)
			return r;
	}
	return NULL;
}

struct row *records_add(struct project *p, const char *rec, const char *ev, const char *ins,
			int inst)
{
	struct row *r;

	if (p->nrows == p->caprows) {
		size_t cap = p->caprows ? p->caprows * 2 : 64;

		r = realloc(p->rows, cap * sizeof(*r));
		if (!r)
			return NULL;
		p->rows = r;
		p->caprows = cap;
	}
	r = &p->rows[p->nrows];
	r->record = emu_strdup(rec);
	r->event = emu_strdup(ev);
	r->instrument = emu_strdup(ins);
	r->vals = json_object();
	r->instance = inst;
	r->modified = time(NULL);
	if (!r->record || !r->event || !r->instrument || !r->vals) {
		free(r->record);
		free(r->event);
		free(r->instrument);
		json_decref(r->vals);
		return NULL;
	}
	p->nrows++;
	return r;
}

static int is_complete_name(const struct project *p, const char *name)
{
	size_t n = strlen(name), i;

	if (n <= 9 || strcmp(name + n - 9, "_complete") != 0)
		return 0;
	for (i = 0; i < p->nforms; i++)
		if (strlen(p->forms[i].name) == n - 9 &&
		    strncmp(p->forms[i].name, name, n - 9) == 0)
			return 1;
	return 0;
}

/* The columns of an export, given fields[] and forms[] (both empty: everything). */
static int build_cols(const struct project *p, const char **fields, size_t nf, const char **forms,
		      size_t nfo, struct cols *c)
{
	const char *idf = project_id_field(p);
	int all = nf == 0 && nfo == 0;
	size_t i, j;
	char name[512];

	if (cols_add(c, idf, &p->fields[0], p->fields[0].form, 0))
		return -ENOMEM;
	for (i = 0; i < p->nfields; i++) {
		const struct field *f = &p->fields[i];
		int last = i + 1 == p->nfields || strcmp(p->fields[i + 1].form, f->form) != 0;
		int want =
			all || emu_in_list(fields, nf, f->name) || emu_in_list(forms, nfo, f->form);

		if (i > 0 && want && f->type != FT_DESCRIPTIVE) {
			if (f->type == FT_CHECKBOX) {
				for (j = 0; j < f->nchoices; j++) {
					snprintf(name, sizeof(name), "%s___%s", f->name,
						 f->choices[j].suffix);
					if (cols_add(c, name, f, f->form, 1))
						return -ENOMEM;
				}
			} else if (cols_add(c, f->name, f, f->form, 0)) {
				return -ENOMEM;
			}
		}
		snprintf(name, sizeof(name), "%s_complete", f->form);
		if (last &&
		    (all || emu_in_list(forms, nfo, f->form) || emu_in_list(fields, nf, name)) &&
		    cols_add(c, name, NULL, f->form, 0))
			return -ENOMEM;
	}
	return 0;
}

static int event_index(const struct project *p, const char *ev)
{
	size_t i;

	for (i = 0; i < p->nevents; i++)
		if (strcmp(p->events[i].unique, ev) == 0)
			return (int)i;
	return -1;
}

static int form_index(const struct project *p, const char *form)
{
	size_t i;

	for (i = 0; i < p->nforms; i++)
		if (strcmp(p->forms[i].name, form) == 0)
			return (int)i;
	return -1;
}

/* Numeric record names in numeric order, others after them by bytes. */
static int rec_cmp(const char *a, const char *b)
{
	int na = emu_is_uint(a), nb = emu_is_uint(b);

	if (na && nb && strlen(a) != strlen(b))
		return strlen(a) < strlen(b) ? -1 : 1;
	if (na != nb)
		return na ? -1 : 1;
	return strcmp(a, b);
}

static int row_cmp(const void *x, const void *y, void *ctx)
{
	const struct project *p = ctx;
	const struct row *a = *(const struct row *const *)x, *b = *(const struct row *const *)y;
	int c = rec_cmp(a->record, b->record);

	if (c)
		return c;
	if ((c = event_index(p, a->event) - event_index(p, b->event)) != 0)
		return c;
	if ((c = form_index(p, a->instrument) - form_index(p, b->instrument)) != 0)
		return *a->instrument == '\0' ? -1 : *b->instrument == '\0' ? 1 : c;
	return a->instance - b->instance;
}

struct lookup_ctx {
	const struct project *p;
	const struct row *row, *base;
};

static const char *row_lookup(void *vctx, const char *name)
{
	const struct lookup_ctx *c = vctx;
	const json_t *v = json_object_get(c->row->vals, name);

	if (!v && c->base)
		v = json_object_get(c->base->vals, name);
	if (!v && strstr(name, "___"))
		return "0";
	return v ? json_string_value(v) : "";
}

static time_t record_modified(const struct project *p, const char *rec)
{
	time_t t = 0;
	size_t i;

	for (i = 0; i < p->nrows; i++)
		if (strcmp(p->rows[i].record, rec) == 0 && p->rows[i].modified > t)
			t = p->rows[i].modified;
	return t;
}

/* A repeating-instrument row is exported only if one of its form's columns is. */
static int row_has_cols(const struct row *r, const struct cols *c)
{
	size_t i;

	if (!*r->instrument)
		return 1;
	for (i = 1; i < c->n; i++)
		if (strcmp(c->v[i].form, r->instrument) == 0)
			return 1;
	return 0;
}

static json_t *row_object(const struct project *p, const struct row *r, const struct cols *c)
{
	json_t *o = json_object();
	size_t i;

	if (!o)
		return NULL;
	json_object_set_new(o, c->v[0].name, json_string(r->record));
	if (p->longitudinal)
		json_object_set_new(o, "redcap_event_name", json_string(r->event));
	if (project_has_repeating(p)) {
		json_object_set_new(o, "redcap_repeat_instrument", json_string(r->instrument));
		json_object_set_new(o, "redcap_repeat_instance",
				    r->instance ? json_integer(r->instance) : json_string(""));
	}
	for (i = 1; i < c->n; i++) {
		const json_t *v = json_object_get(r->vals, c->v[i].name);
		const char *s = v ? json_string_value(v) : "";

		if (!records_form_in_row(p, r->event, r->instrument, c->v[i].form))
			s = "";
		else if (c->v[i].is_code && !v)
			s = "0";
		if (json_object_set_new(o, c->v[i].name, json_string(s))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int bad_names(struct resp *r, enum fmt f, const char *param, const char **bad, size_t n)
{
	struct buf b = {0};
	size_t i;
	int rc =
		buf_addf(&b, "The following values in the parameter \"%s\" are not valid: ", param);

	for (i = 0; rc == 0 && i < n; i++)
		rc = buf_addf(&b, "%s'%s'", i ? ", " : "", bad[i]);
	if (rc == 0)
		rc = resp_error(r, 400, f, b.p);
	buf_release(&b);
	return rc;
}

/* Unknown names in fields[]/forms[]/events[] are a 400 for record export. */
static int check_names(const struct project *p, const char **fields, size_t nf, const char **forms,
		       size_t nfo, const char **events, size_t ne, enum fmt f, struct resp *r,
		       int *refused)
{
	const char **bad = calloc(nf + nfo + ne + 1, sizeof(*bad));
	size_t i, nb = 0;
	int rc = 0;

	if (!bad)
		return -ENOMEM;
	*refused = 1;
	for (i = 0; i < nf; i++)
		if (!project_field(p, fields[i]) && !is_complete_name(p, fields[i]))
			bad[nb++] = fields[i];
	if (nb) {
		rc = bad_names(r, f, "fields", bad, nb);
		goto out;
	}
	for (i = 0; i < nfo; i++)
		if (!project_has_form(p, forms[i]))
			bad[nb++] = forms[i];
	if (nb) {
		rc = bad_names(r, f, "forms", bad, nb);
		goto out;
	}
	for (i = 0; p->longitudinal && i < ne; i++)
		if (!project_event(p, events[i]))
			bad[nb++] = events[i];
	if (nb) {
		rc = bad_names(r, f, "events", bad, nb);
		goto out;
	}
	*refused = 0;
out:
	free(bad);
	return rc;
}

static int want_row(const struct project *p, struct row *row, const char **recs, size_t nr,
		    const char **events, size_t ne, const struct logic *lg, int has_begin,
		    time_t begin, int has_end, time_t end)
{
	struct lookup_ctx lc = {p, row, NULL};

	if (nr && !emu_in_list(recs, nr, row->record))
		return 0;
	if (p->longitudinal && ne && !emu_in_list(events, ne, row->event))
		return 0;
	if (has_begin || has_end) {
		time_t m = record_modified(p, row->record);

		if ((has_begin && m < begin) || (has_end && m > end))
			return 0;
	}
	if (lg) {
		lc.base = records_find((struct project *)p, row->record, row->event, "", 0);
		if (!logic_eval(lg, row_lookup, &lc))
			return 0;
	}
	return 1;
}

static int encode_rows(struct resp *r, enum fmt fmt, const json_t *arr, const struct cols *c)
{
	json_t *keys;
	int rc = 0;

	if (fmt != FMT_CSV)
		return resp_table(r, fmt, arr, "records");
	keys = json_array();
	if (!keys)
		return -ENOMEM;
	if (json_array_size(arr)) {
		const char *k;
		json_t *x;

		json_object_foreach(json_array_get(arr, 0), k, x)
		{
			if (rc == 0)
				rc = emu_push(keys, json_string(k));
		}
	} else {
		size_t i;

		for (i = 0; rc == 0 && i < c->n; i++)
			rc = emu_push(keys, json_string(c->v[i].name));
	}
	if (rc) {
		json_decref(keys);
		return rc;
	}
	r->status = 200;
	r->ctype = fmt_ctype(FMT_CSV);
	buf_reset(&r->body);
	rc = enc_csv_table(&r->body, arr, keys);
	json_decref(keys);
	return rc;
}

int records_export(struct emu *e, struct project *p, const struct form *f, enum fmt fmt,
		   enum fmt ret_fmt, struct resp *r)
{
	size_t nr = 0, nf = 0, nfo = 0, ne = 0, i;
	const char **recs = form_array(f, "records", 1, &nr);
	const char **fields = form_array(f, "fields", 1, &nf);
	const char **forms = form_array(f, "forms", 1, &nfo);
	const char **events = form_array(f, "events", 1, &ne);
	const char *db = form_get(f, "dateRangeBegin"), *de = form_get(f, "dateRangeEnd");
	struct logic *lg = logic_compile(p, form_get(f, "filterLogic"));
	struct cols c = {0};
	struct row **order = NULL;
	json_t *arr = json_array();
	time_t begin = 0, end = 0;
	int has_begin, has_end, refused, rc = -ENOMEM;

	(void)e;
	has_begin = db && *db && emu_parse_local(db, &begin) == 0;
	has_end = de && *de && emu_parse_local(de, &end) == 0;
	if (!arr)
		goto fail;
	rc = check_names(p, fields, nf, forms, nfo, events, ne, ret_fmt, r, &refused);
	if (rc || refused)
		goto fail;
	rc = -ENOMEM;
	if (build_cols(p, fields, nf, forms, nfo, &c))
		goto fail;
	order = calloc(p->nrows + 1, sizeof(*order));
	if (!order)
		goto fail;
	for (i = 0; i < p->nrows; i++)
		order[i] = &p->rows[i];
	qsort_r(order, p->nrows, sizeof(*order), row_cmp, p);
	for (i = 0; i < p->nrows; i++) {
		json_t *o;

		if (!row_has_cols(order[i], &c) || !want_row(p, order[i], recs, nr, events, ne, lg,
							     has_begin, begin, has_end, end))
			continue;
		o = row_object(p, order[i], &c);
		if (!o || json_array_append_new(arr, o))
			goto fail;
	}
	rc = encode_rows(r, fmt, arr, &c);
fail:
	json_decref(arr);
	free(order);
	cols_release(&c);
	logic_free(lg);
	free(recs);
	free(fields);
	free(forms);
	free(events);
	return rc;
}

static void row_remove(struct project *p, size_t i)
{
	struct row *r = &p->rows[i];

	free(r->record);
	free(r->event);
	free(r->instrument);
	json_decref(r->vals);
	memmove(r, r + 1, (p->nrows - i - 1) * sizeof(*r));
	p->nrows--;
}

/* Strips one form's values from a row (instrument-level delete on a base row). */
static int strip_form(const struct project *p, struct row *row, const char *form)
{
	void *tmp;
	const char *k;
	json_t *v;
	int n = 0;

	json_object_foreach_safe(row->vals, tmp, k, v)
	{
		char base[512];
		const struct field *fd;
		const char *sep = strstr(k, "___");

		snprintf(base, sizeof(base), "%.*s", sep ? (int)(sep - k) : (int)strlen(k), k);
		fd = project_field(p, base);
		if ((fd && strcmp(fd->form, form) == 0) ||
		    (is_complete_name(p, k) && strncmp(k, form, strlen(form)) == 0 &&
		     strcmp(k + strlen(form), "_complete") == 0)) {
			json_object_del(row->vals, k);
			n++;
		}
	}
	return n;
}

int records_delete(struct emu *e, struct project *p, const struct form *f, enum fmt ret_fmt,
		   struct resp *r)
{
	const char *ins = form_get(f, "instrument"), *ev = form_get(f, "event");
	const char *ri = form_get(f, "repeat_instance");
	size_t n = 0, i, j, missing = 0;
	const char **recs;
	struct buf b = {0};
	long deleted = 0;
	int rc = -ENOMEM;

	(void)e;
	if (!form_has_array(f, "records"))
		return resp_error(r, 400, ret_fmt,
				  "Incorrect format for 'records' parameter. It must be an array.");
	recs = form_array(f, "records", 0, &n);
	if (buf_adds(&b, "One or more of the records provided cannot be deleted because they do "
			 "not exist in the project. The following records do not exist: "))
		goto fail;
	for (i = 0; i < n; i++) {
		for (j = 0; j < p->nrows && strcmp(p->rows[j].record, recs[i]) != 0; j++)
			;
		if (j == p->nrows && buf_addf(&b, "%s%s", missing++ ? ", " : "", recs[i]))
			goto fail;
	}
	if (missing) {
		rc = resp_error(r, 400, ret_fmt, b.p);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		int hit = 0;

		for (j = p->nrows; j-- > 0;) {
			struct row *row = &p->rows[j];

			if (strcmp(row->record, recs[i]) != 0 ||
			    (ev && *ev && strcmp(row->event, ev)))
				continue;
			if (ins && *ins) {
				if (strcmp(row->instrument, ins) == 0 &&
				    (!ri || !*ri || row->instance == (int)strtol(ri, NULL, 10))) {
					row_remove(p, j);
					hit = 1;
				} else if (!*row->instrument && (!ri || !*ri) &&
					   strip_form(p, row, ins)) {
					row->modified = time(NULL);
					hit = 1;
				}
			} else {
				row_remove(p, j);
				hit = 1;
			}
		}
		deleted += hit;
	}
	buf_reset(&b);
	buf_addf(&b, "%ld", deleted);
	rc = resp_text(r, 200, fmt_ctype(ret_fmt), b.p);
fail:
	buf_release(&b);
	free(recs);
	return rc;
}

static int dump_cmp(const void *x, const void *y)
{
	const struct row *a = *(const struct row *const *)x, *b = *(const struct row *const *)y;
	int c;

	if ((c = strcmp(a->record, b->record)) || (c = strcmp(a->event, b->event)) ||
	    (c = strcmp(a->instrument, b->instrument)))
		return c;
	return a->instance - b->instance;
}

static int key_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int dump_row(struct buf *b, const struct row *r)
{
	size_t n = json_object_size(r->vals), i = 0;
	const char **keys = calloc(n + 1, sizeof(*keys));
	json_t *hdr = json_pack("{sssssssi}", "record", r->record, "event", r->event, "instrument",
				r->instrument, "instance", r->instance);
	const char *k;
	json_t *v;
	int rc = -ENOMEM;

	if (!keys || !hdr)
		goto fail;
	json_object_foreach(r->vals, k, v) keys[i++] = k;
	qsort(keys, n, sizeof(*keys), key_cmp);
	/* {"record":..,"event":..,"instrument":..,"instance":N,"values":{sorted}} */
	rc = enc_json(b, hdr);
	if (rc)
		goto fail;
	b->n--; /* reopen the object to append "values" */
	rc = buf_adds(b, ",\"values\":{");
	for (i = 0; rc == 0 && i < n; i++) {
		json_t *ks = json_string(keys[i]);

		rc = ks ? 0 : -ENOMEM;
		if (rc == 0 && i)
			rc = buf_addc(b, ',');
		if (rc == 0)
			rc = enc_json(b, ks);
		if (rc == 0)
			rc = buf_addc(b, ':');
		if (rc == 0)
			rc = enc_json(b, json_object_get(r->vals, keys[i]));
		json_decref(ks);
	}
	if (rc == 0)
		rc = buf_adds(b, "}}");
fail:
	json_decref(hdr);
	free(keys);
	return rc;
}

int records_dump(struct project *p, struct buf *b)
{
	const struct row **order = calloc(p->nrows + 1, sizeof(*order));
	json_t *title = json_string(p->title);
	size_t i;
	int rc = -ENOMEM;

	if (!order || !title)
		goto fail;
	for (i = 0; i < p->nrows; i++)
		order[i] = &p->rows[i];
	qsort(order, p->nrows, sizeof(*order), dump_cmp);
	rc = buf_adds(b, "{\"project\":");
	if (rc == 0)
		rc = enc_json(b, title);
	if (rc == 0)
		rc = buf_adds(b, ",\"rows\":[");
	for (i = 0; rc == 0 && i < p->nrows; i++) {
		rc = buf_adds(b, i ? ",\n" : "\n");
		if (rc == 0)
			rc = dump_row(b, order[i]);
	}
	if (rc == 0)
		rc = buf_adds(b, "\n]}\n");
fail:
	json_decref(title);
	free(order);
	return rc;
}
