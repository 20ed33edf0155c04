/*
 * project.c: the fixture (tests/redcap/README.md describes its format), the data
 * dictionary of each project with REDCap's 18 metadata keys filled in, and REDCap's
 * unique_event_name algorithm. After loading, a project's structure never changes;
 * only its rows do (records.c, import.c).
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/redcap/emu.h"

/* The 18 keys of content=metadata, in REDCap's order (MetaData.php). */
static const char *const meta_keys[] = {
	"field_name",	       "form_name",
	"section_header",      "field_type",
	"field_label",	       "select_choices_or_calculations",
	"field_note",	       "text_validation_type_or_show_slider_number",
	"text_validation_min", "text_validation_max",
	"identifier",	       "branching_logic",
	"required_field",      "custom_alignment",
	"question_number",     "matrix_group_name",
	"matrix_ranking",      "field_annotation",
};

static const struct {
	const char *name;
	enum ftype type;
} ftypes[] = {
	{"text", FT_TEXT},	     {"notes", FT_NOTES},
	{"dropdown", FT_DROPDOWN},   {"radio", FT_RADIO},
	{"checkbox", FT_CHECKBOX},   {"yesno", FT_YESNO},
	{"truefalse", FT_TRUEFALSE}, {"calc", FT_CALC},
	{"file", FT_FILE},	     {"descriptive", FT_DESCRIPTIVE},
	{"slider", FT_SLIDER},	     {"sql", FT_SQL},
};

static const char *jstr(const json_t *o, const char *k, const char *def)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : def;
}

static long jint(const json_t *o, const char *k, long def)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v))
		return strtol(json_string_value(v), NULL, 10);
	return def;
}

char *project_checkbox_suffix(const char *code)
{
	char *out = malloc(strlen(code) + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (; *code; code++) {
		char c = (char)tolower((unsigned char)*code);

		if (c == '-' || c == '.')
			c = '_';
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
			out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

static char *trimdup(const char *b, const char *e)
{
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	return strndup(b, (size_t)(e - b));
}

static int add_choice(struct field *f, const char *code, const char *label)
{
	struct choice *c = realloc(f->choices, (f->nchoices + 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	f->choices = c;
	c = &f->choices[f->nchoices];
	c->code = emu_strdup(code);
	c->label = emu_strdup(label);
	c->suffix = project_checkbox_suffix(code);
	if (!c->code || !c->label || !c->suffix)
		return -ENOMEM;
	f->nchoices++;
	return 0;
}

/* "1, Yes | 0, No": items split on '|', code and label on the first ','. */
static int parse_choices(struct field *f, const char *s)
{
	const char *p = s;
	int rc = 0;

	if (f->type == FT_YESNO)
		return add_choice(f, "1", "Yes") || add_choice(f, "0", "No") ? -ENOMEM : 0;
	if (f->type == FT_TRUEFALSE)
		return add_choice(f, "1", "True") || add_choice(f, "0", "False") ? -ENOMEM : 0;
	if (f->type != FT_DROPDOWN && f->type != FT_RADIO && f->type != FT_CHECKBOX)
		return 0;
	while (*p && rc == 0) {
		const char *bar = strchr(p, '|');
		const char *end = bar ? bar : p + strlen(p);
		const char *comma = memchr(p, ',', (size_t)(end - p));
		char *code = trimdup(p, comma ? comma : end);
		char *label = comma ? trimdup(comma + 1, end) : emu_strdup(code ? code : "");

		if (!code || !label)
			rc = -ENOMEM;
		else if (*code)
			rc = add_choice(f, code, label);
		free(code);
		free(label);
		p = bar ? bar + 1 : end;
	}
	return rc;
}

static int load_field(struct field *f, const json_t *src)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->meta = json_object();
	if (!f->meta)
		return -ENOMEM;
	for (i = 0; i < sizeof(meta_keys) / sizeof(meta_keys[0]); i++)
		if (json_object_set_new(f->meta, meta_keys[i],
					json_string(jstr(src, meta_keys[i], ""))))
			return -ENOMEM;
	if (json_object_set_new(f->meta, "field_type",
				json_string(jstr(src, "field_type", "text"))))
		return -ENOMEM;
	f->name = json_string_value(json_object_get(f->meta, "field_name"));
	f->form = json_string_value(json_object_get(f->meta, "form_name"));
	f->validation = json_string_value(
		json_object_get(f->meta, "text_validation_type_or_show_slider_number"));
	f->type = FT_OTHER;
	for (i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++)
		if (strcmp(jstr(f->meta, "field_type", ""), ftypes[i].name) == 0)
			f->type = ftypes[i].type;
	if (!*f->name || !*f->form) {
		fprintf(stderr,
			"redcap-emu: fixture: a metadata row lacks field_name or form_name\n");
		return -EINVAL;
	}
	return parse_choices(f, jstr(f->meta, "select_choices_or_calculations", ""));
}

/* "incoming_studies" -> "Incoming Studies", as REDCap titles a form made from a CSV. */
static char *form_label(const char *name)
{
	char *s = emu_strdup(name);
	int up = 1;
	char *p;

	if (!s)
		return NULL;
	for (p = s; *p; p++) {
		if (*p == '_') {
			*p = ' ';
			up = 1;
		} else if (up) {
			*p = (char)toupper((unsigned char)*p);
			up = 0;
		}
	}
	return s;
}

static int load_forms(struct project *p, const json_t *pj)
{
	const json_t *labels = json_object_get(pj, "instruments");
	size_t i, j;

	for (i = 0; i < p->nfields; i++) {
		const char *fn = p->fields[i].form;
		struct instrument *in;
		const char *lab = NULL;

		if (project_has_form(p, fn))
			continue;
		in = realloc(p->forms, (p->nforms + 1) * sizeof(*in));
		if (!in)
			return -ENOMEM;
		p->forms = in;
		in = &p->forms[p->nforms++];
		for (j = 0; j < json_array_size(labels); j++)
			if (strcmp(jstr(json_array_get(labels, j), "instrument_name", ""), fn) == 0)
				lab = jstr(json_array_get(labels, j), "instrument_label", NULL);
		in->name = emu_strdup(fn);
		in->label = lab ? emu_strdup(lab) : form_label(fn);
		if (!in->name || !in->label)
			return -ENOMEM;
	}
	return 0;
}

static void md5_hex10(const char *s, char out[11])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (!EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL) || n < 5) {
		snprintf(out, 11, "event");
		return;
	}
	for (i = 0; i < 5; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void project_unique_event_name(const char *label, int arm, char *const *taken, size_t ntaken,
			       char *out, size_t outsz)
{
	char base[20], cand[64];
	size_t o = 0, i;
	const char *s;
	int letter = -1, clash;

	/* keep [0-9A-Za-z_ ], spaces to _, lower, cut to 18, trim _ */
	for (s = label; *s && o < 18; s++) {
		char c = *s;

		if (!(isalnum((unsigned char)c) || c == '_' || c == ' '))
			continue;
		base[o++] = c == ' ' ? '_' : (char)tolower((unsigned char)c);
	}
	base[o] = '\0';
	while (o > 0 && base[o - 1] == '_')
		base[--o] = '\0';
	s = base;
	while (*s == '_')
		s++;
	if (!*s) {
		md5_hex10(label, base);
		s = base;
	}
	do {
		if (letter < 0)
			snprintf(cand, sizeof(cand), "%s_arm_%d", s, arm);
		else
			snprintf(cand, sizeof(cand), "%s%c_arm_%d", s, 'a' + letter, arm);
		clash = 0;
		for (i = 0; i < ntaken; i++)
			if (taken[i] && strcmp(taken[i], cand) == 0)
				clash = 1;
		letter++;
	} while (clash && letter < 26);
	snprintf(out, outsz, "%s", cand);
}

static int load_events(struct project *p, const json_t *pj)
{
	const json_t *arms = json_object_get(pj, "arms"), *evs = json_object_get(pj, "events");
	char **taken = NULL;
	size_t i;
	int rc = -ENOMEM;

	p->narms = json_array_size(arms) ? json_array_size(arms) : 1;
	p->arms = calloc(p->narms, sizeof(*p->arms));
	if (!p->arms)
		return -ENOMEM;
	for (i = 0; i < p->narms; i++) {
		const json_t *a = json_array_get(arms, i);
		char def[32];

		p->arms[i].num = (int)jint(a, "num", (long)i + 1);
		snprintf(def, sizeof(def), "Arm %d", p->arms[i].num);
		p->arms[i].name = emu_strdup(jstr(a, "name", def));
		if (!p->arms[i].name)
			return -ENOMEM;
	}
	p->nevents = json_array_size(evs);
	if (p->longitudinal && p->nevents == 0) {
		fprintf(stderr, "redcap-emu: fixture: %s is longitudinal but has no events\n",
			p->title);
		return -EINVAL;
	}
	p->events = calloc(p->nevents ? p->nevents : 1, sizeof(*p->events));
	taken = calloc(p->nevents ? p->nevents : 1, sizeof(*taken));
	if (!p->events || !taken)
		goto fail;
	for (i = 0; i < p->nevents; i++) {
		const json_t *ej = json_array_get(evs, i);
		struct event *ev = &p->events[i];
		char u[64];

		ev->name = emu_strdup(jstr(ej, "name", "Event"));
		ev->label = emu_strdup(jstr(ej, "custom_event_label", ""));
		ev->arm = (int)jint(ej, "arm", 1);
		ev->id = (int)jint(ej, "event_id", 40 + (long)i + 1);
		if (!ev->name || !ev->label)
			goto fail;
		project_unique_event_name(ev->name, ev->arm, taken, i, u, sizeof(u));
		ev->unique = emu_strdup(u);
		if (!ev->unique)
			goto fail;
		taken[i] = ev->unique;
	}
	rc = 0;
fail:
	free(taken);
	return rc;
}

static int load_reps(struct project *p, const json_t *pj)
{
	const json_t *reps = json_object_get(pj, "repeating");
	size_t i;

	p->nreps = json_array_size(reps);
	p->reps = calloc(p->nreps ? p->nreps : 1, sizeof(*p->reps));
	if (!p->reps)
		return -ENOMEM;
	for (i = 0; i < p->nreps; i++) {
		const json_t *r = json_array_get(reps, i);
		const char *form = jstr(r, "form", "");

		p->reps[i].event = emu_strdup(p->longitudinal ? jstr(r, "event", "") : "");
		p->reps[i].form = emu_strdup(form);
		p->reps[i].label = emu_strdup(jstr(r, "custom_form_label", ""));
		if (!p->reps[i].event || !p->reps[i].form || !p->reps[i].label)
			return -ENOMEM;
		if ((*form && !project_has_form(p, form)) ||
		    (p->longitudinal && !project_event(p, p->reps[i].event))) {
			fprintf(stderr, "redcap-emu: fixture: %s: bad repeating entry %zu\n",
				p->title, i);
			return -EINVAL;
		}
	}
	return 0;
}

static int add_fem(struct project *p, int arm, const char *ev, const char *form)
{
	struct fem *m = realloc(p->fems, (p->nfems + 1) * sizeof(*m));

	if (!m)
		return -ENOMEM;
	p->fems = m;
	m = &p->fems[p->nfems];
	m->arm = arm;
	m->event = emu_strdup(ev);
	m->form = emu_strdup(form);
	if (!m->event || !m->form)
		return -ENOMEM;
	p->nfems++;
	return 0;
}

/* Without a mapping in the fixture every form is designated for every event. */
static int load_fems(struct project *p, const json_t *pj)
{
	const json_t *map = json_object_get(pj, "form_event_mapping");
	size_t i, j;

	for (i = 0; i < p->nevents; i++) {
		const struct event *ev = &p->events[i];
		const json_t *forms = NULL;

		for (j = 0; j < json_array_size(map); j++)
			if (strcmp(jstr(json_array_get(map, j), "event", ""), ev->unique) == 0)
				forms = json_object_get(json_array_get(map, j), "forms");
		for (j = 0; j < (map ? json_array_size(forms) : p->nforms); j++) {
			const char *fn = map ? json_string_value(json_array_get(forms, j))
					     : p->forms[j].name;

			if (!fn || !project_has_form(p, fn)) {
				fprintf(stderr,
					"redcap-emu: fixture: %s: unknown form in mapping\n",
					p->title);
				return -EINVAL;
			}
			if (add_fem(p, ev->arm, ev->unique, fn))
				return -ENOMEM;
		}
	}
	return 0;
}

static int load_tokens(struct project *p, const json_t *pj)
{
	const json_t *toks = json_object_get(pj, "tokens");
	size_t i;

	p->ntokens = json_array_size(toks);
	p->tokens = calloc(p->ntokens ? p->ntokens : 1, sizeof(*p->tokens));
	if (!p->tokens)
		return -ENOMEM;
	for (i = 0; i < p->ntokens; i++) {
		const json_t *t = json_array_get(toks, i);

		p->tokens[i].token = emu_strdup(jstr(t, "token", ""));
		if (!p->tokens[i].token)
			return -ENOMEM;
		p->tokens[i].can_export = (int)jint(t, "export", 1);
		p->tokens[i].can_import = (int)jint(t, "import", 1);
		p->tokens[i].can_delete = (int)jint(t, "delete", 1);
	}
	return 0;
}

static int load_project(struct project *p, const json_t *pj)
{
	const json_t *meta = json_object_get(pj, "metadata");
	size_t i;
	int rc;

	memset(p, 0, sizeof(*p));
	p->title = emu_strdup(jstr(pj, "title", ""));
	if (!p->title)
		return -ENOMEM;
	p->project_id = (int)jint(pj, "project_id", 1);
	p->longitudinal = (int)jint(pj, "longitudinal", 0);
	p->in_production = (int)jint(pj, "in_production", 1);
	p->autonumbering = (int)jint(pj, "record_autonumbering_enabled", 0);
	p->nfields = json_array_size(meta);
	if (p->nfields == 0) {
		fprintf(stderr, "redcap-emu: fixture: %s has no metadata\n", p->title);
		return -EINVAL;
	}
	p->fields = calloc(p->nfields, sizeof(*p->fields));
	if (!p->fields)
		return -ENOMEM;
	for (i = 0; i < p->nfields; i++)
		if ((rc = load_field(&p->fields[i], json_array_get(meta, i))) != 0)
			return rc;
	if ((rc = load_tokens(p, pj)) || (rc = load_forms(p, pj)) || (rc = load_events(p, pj)) ||
	    (rc = load_reps(p, pj)) || (rc = load_fems(p, pj)))
		return rc;
	return 0;
}

void project_release(struct project *p)
{
	size_t i, j;

	for (i = 0; i < p->nfields; i++) {
		for (j = 0; j < p->fields[i].nchoices; j++) {
			free(p->fields[i].choices[j].code);
			free(p->fields[i].choices[j].suffix);
			free(p->fields[i].choices[j].label);
		}
		free(p->fields[i].choices);
		json_decref(p->fields[i].meta);
	}
	for (i = 0; i < p->ntokens; i++)
		free(p->tokens[i].token);
	for (i = 0; i < p->nforms; i++) {
		free(p->forms[i].name);
		free(p->forms[i].label);
	}
	for (i = 0; i < p->narms; i++)
		free(p->arms[i].name);
	for (i = 0; i < p->nevents; i++) {
		free(p->events[i].name);
		free(p->events[i].label);
		free(p->events[i].unique);
	}
	for (i = 0; i < p->nreps; i++) {
		free(p->reps[i].event);
		free(p->reps[i].form);
		free(p->reps[i].label);
	}
	for (i = 0; i < p->nfems; i++) {
		free(p->fems[i].event);
		free(p->fems[i].form);
	}
	for (i = 0; i < p->nrows; i++) {
		free(p->rows[i].record);
		free(p->rows[i].event);
		free(p->rows[i].instrument);
		json_decref(p->rows[i].vals);
	}
	free(p->title);
	free(p->fields);
	free(p->tokens);
	free(p->forms);
	free(p->arms);
	free(p->events);
	free(p->reps);
	free(p->fems);
	free(p->rows);
	memset(p, 0, sizeof(*p));
}

/* Fixture rows may carry "_modified" (local time) so dateRange filters can be tested. */
static int load_records(struct emu *e, struct project *p, const json_t *recs)
{
	struct import_opts o = {
		.overwrite = 0, .in_fmt = FMT_JSON, .ret_fmt = FMT_JSON, .ret = "count"};
	json_t *clean = json_array();
	struct resp r = {0};
	size_t i, written = 0;
	char *data = NULL;
	int rc = -ENOMEM;

	if (!clean)
		return -ENOMEM;
	for (i = 0; i < json_array_size(recs); i++) {
		json_t *row = json_deep_copy(json_array_get(recs, i));

		if (!row || json_array_append_new(clean, row))
			goto fail;
		json_object_del(row, "_modified");
	}
	data = json_dumps(clean, JSON_COMPACT);
	if (!data || records_import(e, p, data, &o, &r, &written))
		goto fail;
	if (r.status != 200) {
		fprintf(stderr, "redcap-emu: fixture: %s: records refused: %s\n", p->title,
			r.body.p ? r.body.p : "");
		rc = -EINVAL;
		goto fail;
	}
	for (i = 0; i < json_array_size(recs); i++) {
		const char *m = jstr(json_array_get(recs, i), "_modified", NULL);
		const char *id = jstr(json_array_get(recs, i), project_id_field(p), NULL);
		time_t t;
		size_t k;

		if (!m || !id || emu_parse_local(m, &t))
			continue;
		for (k = 0; k < p->nrows; k++)
			if (strcmp(p->rows[k].record, id) == 0)
				p->rows[k].modified = t;
	}
	rc = 0;
fail:
	free(data);
	json_decref(clean);
	buf_release(&r.body);
	return rc;
}

int project_load_fixture(struct emu *e, const char *path)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err), *projs;
	size_t i;
	int rc = -EINVAL;

	if (!root) {
		fprintf(stderr, "redcap-emu: %s:%d: %s\n", path, err.line, err.text);
		return -EINVAL;
	}
	projs = json_object_get(root, "projects");
	e->version = emu_strdup(jstr(root, "version", "15.7.6"));
	e->nprojects = 0;
	e->projects = calloc(json_array_size(projs) + 1, sizeof(*e->projects));
	if (!e->version || !e->projects) {
		rc = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < json_array_size(projs); i++) {
		e->nprojects++;
		rc = load_project(&e->projects[i], json_array_get(projs, i));
		if (rc)
			goto fail;
	}
	for (i = 0; i < e->nprojects; i++) {
		rc = load_records(e, &e->projects[i],
				  json_object_get(json_array_get(projs, i), "records"));
		if (rc)
			goto fail;
	}
	rc = 0;
fail:
	json_decref(root);
	return rc;
}

struct project *project_by_title(struct emu *e, const char *title)
{
	size_t i;

	for (i = 0; title && i < e->nprojects; i++)
		if (strcmp(e->projects[i].title, title) == 0)
			return &e->projects[i];
	return NULL;
}

struct field *project_field(const struct project *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nfields; i++)
		if (strcmp(p->fields[i].name, name) == 0)
			return &p->fields[i];
	return NULL;
}

const struct event *project_event(const struct project *p, const char *unique)
{
	size_t i;

	for (i = 0; i < p->nevents; i++)
		if (strcmp(p->events[i].unique, unique) == 0)
			return &p->events[i];
	return NULL;
}

int project_has_form(const struct project *p, const char *form)
{
	size_t i;

	for (i = 0; i < p->nforms; i++)
		if (strcmp(p->forms[i].name, form) == 0)
			return 1;
	return 0;
}

int project_has_repeating(const struct project *p)
{
	return p->nreps > 0;
}

int project_form_repeats(const struct project *p, const char *event, const char *form)
{
	size_t i;

	for (i = 0; i < p->nreps; i++)
		if (*p->reps[i].form && strcmp(p->reps[i].form, form) == 0 &&
		    strcmp(p->reps[i].event, p->longitudinal ? event : "") == 0)
			return 1;
	return 0;
}

int project_event_repeats(const struct project *p, const char *event)
{
	size_t i;

	for (i = 0; p->longitudinal && i < p->nreps; i++)
		if (!*p->reps[i].form && strcmp(p->reps[i].event, event) == 0)
			return 1;
	return 0;
}

int project_form_in_event(const struct project *p, const char *event, const char *form)
{
	size_t i;

	if (!p->longitudinal)
		return project_has_form(p, form);
	for (i = 0; i < p->nfems; i++)
		if (strcmp(p->fems[i].event, event) == 0 && strcmp(p->fems[i].form, form) == 0)
			return 1;
	return 0;
}

const char *project_id_field(const struct project *p)
{
	return p->fields[0].name;
}
