/*
 * deid_profile: the project profile — PS3.15 options, per-tag actions, private attributes
 * to keep and the date-shift range — parsed from JSON (schema in docs/deid.md) or built as
 * fiona's default. Also the CID 7050 codes and DeidentificationMethod text for the output.
 * Invariants: a finished profile is immutable; rules are sorted by tag and unique; the two
 * longitudinal date options are never both on; date_min <= date_max; every CAPTURE regex
 * compiles (POSIX ERE) and has a capture group. Every parse error names its JSON key.
 */
#include "core/core.h"
#include "anon/anon.h"
#include "anon/deid_int.h"

#include <errno.h>
#include <jansson.h>
#include <regex.h>

#define PROFILE_MAX_BYTES (1u << 20)
#define DATE_LIMIT	  36500 /* |days| <= 100 years */

/* Option names in the JSON, CID 7050 codes and meanings, in enum deid_opt bit order. */
static const struct {
	const char *name, *code, *meaning;
} opt_info[DEID_NOPT] = {
	{"RetainLongFullDates", "113106",
	 "Retain Longitudinal Temporal Information Full Dates Option"},
	{"RetainLongModifDates", "113107",
	 "Retain Longitudinal Temporal Information Modified Dates Option"},
	{"RetainPatientChars", "113108", "Retain Patient Characteristics Option"},
	{"RetainDeviceId", "113109", "Retain Device Identity Option"},
	{"RetainInstitutionId", "113112", "Retain Institution Identity Option"},
	{"RetainUIDs", "113110", "Retain UIDs Option"},
	{"CleanDescriptors", "113105", "Clean Descriptors Option"},
	{"CleanStructContent", "113104", "Clean Structured Content Option"},
	{"CleanGraphics", "113103", "Clean Graphics Option"},
	{"RetainSafePrivate", "113111", "Retain Safe Private Option"},
};
static const char basic_meaning[] = "Basic Application Confidentiality Profile";

static const struct {
	const char *name;
	enum deid_action action;
} action_names[] = {
	{"keep", DEID_KEEP},   {"remove", DEID_REMOVE},	  {"empty", DEID_EMPTY},
	{"dummy", DEID_DUMMY}, {"uid", DEID_UID},	  {"shift", DEID_SHIFT},
	{"set", DEID_SET},     {"capture", DEID_CAPTURE}, {"hash", DEID_HASH},
	{"clean", DEID_CLEAN}, /* a project's way back to cleaned patient text */
};

void deid_profile_free(struct deid_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_rules; i++) {
		free(p->rules[i].arg);
		if (p->rules[i].rx)
			regfree(p->rules[i].rx);
		free(p->rules[i].rx);
		free(p->rules[i].repl);
	}
	deid_export_free(p);
	for (size_t i = 0; i < p->n_keep; i++)
		free(p->keep[i].creator);
	free(p->rules);
	free(p->keep);
	free(p);
}

unsigned deid_profile_options(const struct deid_profile *p)
{
	return p ? p->options : 0;
}

void deid_profile_date_range(const struct deid_profile *p, int *min_days, int *max_days)
{
	*min_days = p ? p->date_min : 0;
	*max_days = p ? p->date_max : 0;
}

void deid_profile_finish(struct deid_profile *p)
{
	size_t len;

	snprintf(p->method_text, sizeof(p->method_text), "%s", basic_meaning);
	for (unsigned i = 0; i < DEID_NOPT; i++) {
		if (!(p->options & (1u << i)))
			continue;
		len = strlen(p->method_text);
		snprintf(p->method_text + len, sizeof(p->method_text) - len, "\\%s",
			 opt_info[i].meaning);
	}
}

size_t deid_method_codes(const struct deid_profile *p, struct deid_code *out, size_t cap)
{
	size_t n = 0;

	if (!p)
		return 0;
	if (n < cap)
		out[n] = (struct deid_code){"113100", "DCM", basic_meaning};
	n++;
	for (unsigned i = 0; i < DEID_NOPT; i++) {
		if (!(p->options & (1u << i)))
			continue;
		if (n < cap)
			out[n] = (struct deid_code){opt_info[i].code, "DCM", opt_info[i].meaning};
		n++;
	}
	return n; /* may exceed cap: the caller can size its array */
}

const char *deid_method_text(const struct deid_profile *p)
{
	return p ? p->method_text : "";
}

static int rule_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct deid_tag_rule *)a)->tag,
		 y = ((const struct deid_tag_rule *)b)->tag;
	return x < y ? -1 : x > y;
}

static int rule_add(struct deid_profile *p, uint32_t tag, enum deid_action a, const char *arg)
{
	struct deid_tag_rule *r = realloc(p->rules, (p->n_rules + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	p->rules = r;
	r[p->n_rules].tag = tag;
	r[p->n_rules].action = a;
	r[p->n_rules].arg = NULL;
	r[p->n_rules].rx = NULL;
	r[p->n_rules].post = DEID_POST_NONE;
	r[p->n_rules].repl = NULL;
	p->n_rules++; /* counted first so deid_profile_free() releases a half-built rule */
	if (arg && !(r[p->n_rules - 1].arg = strdup(arg)))
		return -ENOMEM;
	if (a != DEID_CAPTURE)
		return 0;
	if (!(r[p->n_rules - 1].rx = malloc(sizeof(regex_t))))
		return -ENOMEM;
	if (regcomp(r[p->n_rules - 1].rx, arg, REG_EXTENDED) != 0) {
		free(r[p->n_rules - 1].rx);
		r[p->n_rules - 1].rx = NULL;
		return -EINVAL;
	}
	return 0;
}

int deid_profile_new_default(struct deid_profile **out)
{
	struct deid_profile *p = calloc(1, sizeof(*p));
	int rc = -ENOMEM;

	if (!p)
		return -ENOMEM;
	p->options = DEID_OPT_RETAIN_LONG_MODIF_DATES | DEID_OPT_CLEAN_DESCRIPTORS |
		     DEID_OPT_RETAIN_PATIENT_CHARS;
	p->date_min = -3650;
	p->date_max = -365;
	if ((rc = rule_add(p, DCM_TAG(0x0008, 0x0080), DEID_SET, "{project}")) < 0 ||
	    (rc = rule_add(p, DCM_TAG(0x0008, 0x0090), DEID_SET, "EventName:{event}")) < 0)
		goto fail;
	qsort(p->rules, p->n_rules, sizeof(*p->rules), rule_cmp);
	deid_profile_finish(p);
	*out = p;
	return 0;
fail:
	deid_profile_free(p);
	return rc;
}

/* "(gggg,eeee)" -> tag. Keywords are not accepted yet (no dictionary lookup on main). */
static int parse_tag(const char *s, uint32_t *tag)
{
	unsigned v = 0;

	if (strlen(s) != 11 || s[0] != '(' || s[5] != ',' || s[10] != ')')
		return -EINVAL;
	for (int i = 1; i < 10; i++) {
		int c = s[i], d;
		if (i == 5)
			continue;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -EINVAL;
		v = v << 4 | (unsigned)d;
	}
	*tag = v;
	return 0;
}

static int parse_options(struct deid_profile *p, json_t *a, struct fiona_err *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "options: not an array");
	json_array_foreach(a, i, v)
	{
		unsigned k;
		const char *s = json_string_value(v);
		for (k = 0; s && k < DEID_NOPT && strcmp(s, opt_info[k].name); k++)
			;
		if (!s || k == DEID_NOPT)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				       "options[%zu]: unknown option", i);
		p->options |= 1u << k;
	}
	if ((p->options & DEID_OPT_RETAIN_LONG_FULL_DATES) &&
	    (p->options & DEID_OPT_RETAIN_LONG_MODIF_DATES))
		return err_set(
			err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			"options: RetainLongFullDates and RetainLongModifDates exclude each other");
	return 0;
}

static int parse_dates(struct deid_profile *p, json_t *a, struct fiona_err *err)
{
	json_t *lo = json_array_get(a, 0), *hi = json_array_get(a, 1);
	json_int_t l, h;

	if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_integer(lo) ||
	    !json_is_integer(hi))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "date_shift_days: want [min, max] integers");
	l = json_integer_value(lo);
	h = json_integer_value(hi);
	if (l > h || l < -DATE_LIMIT || h > DATE_LIMIT)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "date_shift_days: need min <= max within +-%d", DATE_LIMIT);
	p->date_min = (int)l;
	p->date_max = (int)h;
	return 0;
}

/*
 * glibc's regcomp() is exponential on stacked quantifiers ("a+****") and large intervals,
 * and a profile is outside input: keep regexes small and simple. Rejected: more than
 * REGEX_MAX chars, interval expressions {m,n}, a quantifier directly after a quantifier,
 * more than 8 nested groups.
 */
#define REGEX_MAX 128
bool deid_regex_simple(const char *re)
{
	bool prev_quant = false, in_bracket = false;
	int depth = 0;

	if (strlen(re) > REGEX_MAX)
		return false;
	for (const char *c = re; *c; c++) {
		bool quant = false;
		if (in_bracket) {
			in_bracket = *c != ']' || c[-1] == '[' || (c[-1] == '^' && c[-2] == '[');
			continue;
		}
		if (*c == '\\') {
			if (!*++c)
				return false;
		} else if (*c == '[') {
			in_bracket = true;
		} else if (*c == '{') {
			return false;
		} else if (*c == '*' || *c == '+' || *c == '?') {
			if (prev_quant)
				return false;
			quant = true;
		} else if (*c == '(' && ++depth > 8) {
			return false;
		} else if (*c == ')') {
			depth--;
		}
		prev_quant = quant;
	}
	return true;
}

static int check_regex(const char *re)
{
	regex_t rx;
	int ok;

	if (!deid_regex_simple(re) || regcomp(&rx, re, REG_EXTENDED) != 0)
		return -EINVAL;
	ok = rx.re_nsub >= 1;
	regfree(&rx);
	return ok ? 0 : -EINVAL;
}

/* rewrite (regex + replace) and normalize: applied to what the engine would write. */
static int parse_post(struct deid_profile *p, const char *key, uint32_t tag, json_t *o,
		      bool rewrite, struct fiona_err *err)
{
	const char *re = json_string_value(json_object_get(o, "regex")),
		   *repl = json_string_value(json_object_get(o, "replace")), *why = "";
	regex_t *rx = NULL;
	int rc;

	for (size_t i = 0; i < p->n_rules; i++)
		if (p->rules[i].tag == tag)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, tag, "tags.%s: duplicate tag",
				       key);
	if (rewrite && (rc = deid_rewrite_compile(re, repl, &rx, &why)))
		return rc == -ENOMEM
			       ? rc
			       : err_set(err, rc, CORE_NO_OFFSET, tag, "tags.%s.%s: %s", key,
					 strncmp(why, "replacement", 11) ? "regex" : "replace",
					 why);
	if ((rc = rule_add(p, tag, DEID_KEEP, rewrite ? re : NULL)) < 0) {
		if (rx)
			regfree(rx);
		free(rx);
		return rc;
	}
	p->rules[p->n_rules - 1].post = rewrite ? DEID_POST_REWRITE : DEID_POST_NORMALIZE;
	p->rules[p->n_rules - 1].rx = rx;
	if (rewrite && !(p->rules[p->n_rules - 1].repl = strdup(repl)))
		return -ENOMEM;
	return 0;
}

/* A rule object has action and the keys its action reads; any other key is an error. */
static int rule_keys(const char *key, uint32_t tag, json_t *o, struct fiona_err *err)
{
	static const char *const known[] = {"action", "value", "regex", "replace"};
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		size_t i = 0;
		while (i < CORE_ARRAY_SIZE(known) && strcmp(k, known[i]))
			i++;
		if (i == CORE_ARRAY_SIZE(known))
			return err_set(err, -EINVAL, CORE_NO_OFFSET, tag,
				       "tags.%s.%.40s: unknown key", key, k);
	}
	return 0;
}

static int parse_rule(struct deid_profile *p, const char *key, json_t *o, struct fiona_err *err)
{
	uint32_t tag;
	const char *act = json_string_value(json_object_get(o, "action")), *arg = NULL;
	size_t k;
	int rc;

	if (parse_tag(key, &tag) < 0)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "tags.%.40s: want a tag \"(gggg,eeee)\"", key);
	if (!json_is_object(o) || !act)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, tag, "tags.%s.action: missing", key);
	if ((rc = rule_keys(key, tag, o, err)))
		return rc;
	if (!strcmp(act, "rewrite") || !strcmp(act, "normalize"))
		return parse_post(p, key, tag, o, act[0] == 'r', err);
	for (k = 0; k < CORE_ARRAY_SIZE(action_names) && strcmp(act, action_names[k].name); k++)
		;
	if (k == CORE_ARRAY_SIZE(action_names))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, tag, "tags.%s.action: unknown action",
			       key);
	if (action_names[k].action == DEID_SET) {
		arg = json_string_value(json_object_get(o, "value"));
		char tmp[256];
		if (!arg)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, tag,
				       "tags.%s.value: string required for set", key);
		if (deid_template_expand(arg, "", "", "", tmp, sizeof(tmp)) == -EINVAL)
			return err_set(
				err, -EINVAL, CORE_NO_OFFSET, tag,
				"tags.%s.value: placeholders are {project} {participant} {event}",
				key);
	} else if (action_names[k].action == DEID_CAPTURE) {
		arg = json_string_value(json_object_get(o, "regex"));
		if (!arg || check_regex(arg) < 0)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, tag,
				       "tags.%s.regex: need a simple extended regex (<= 128 chars, "
				       "no {m,n}, no stacked quantifiers) with a capture group",
				       key);
	}
	for (size_t i = 0; i < p->n_rules; i++)
		if (p->rules[i].tag == tag)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, tag, "tags.%s: duplicate tag",
				       key);
	if ((rc = rule_add(p, tag, action_names[k].action, arg)) < 0)
		return err_set(err, rc, CORE_NO_OFFSET, tag, "tags.%s: %s", key,
			       rc == -ENOMEM ? "out of memory" : "regex does not compile");
	return 0;
}

static int parse_hex_field(json_t *o, const char *name, unsigned max, unsigned *out)
{
	const char *s = json_string_value(json_object_get(o, name));
	long v;

	if (!s || strncmp(s, "0x", 2) || !s[2] || strlen(s) > 6)
		return -EINVAL;
	for (const char *c = s + 2; *c; c++)
		if (!strchr("0123456789abcdefABCDEF", *c))
			return -EINVAL;
	v = strtol(s + 2, NULL, 16);
	if (v < 0 || (unsigned long)v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_keep(struct deid_profile *p, json_t *a, struct fiona_err *err)
{
	size_t i;
	json_t *o;

	if (!json_is_array(a))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "keep_private: not an array");
	p->keep = calloc(json_array_size(a) + 1, sizeof(*p->keep));
	if (!p->keep)
		return -ENOMEM;
	json_array_foreach(a, i, o)
	{
		struct deid_private_keep *k = &p->keep[p->n_keep];
		const char *c = json_string_value(json_object_get(o, "creator"));
		unsigned el = 0, g = 0;

		if (!c || !*c || strlen(c) > 64)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				       "keep_private[%zu].creator: string of 1-64 chars required",
				       i);
		if (parse_hex_field(o, "element", 0xFF, &el) < 0)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				       "keep_private[%zu].element: want \"0x00\"-\"0xFF\"", i);
		if (json_object_get(o, "group") && (parse_hex_field(o, "group", 0xFFFF, &g) < 0 ||
						    !(g & 1) || g <= 7 || g == 0xFFFF))
			return err_set(
				err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				"keep_private[%zu].group: want an odd private group \"0xgggg\"", i);
		if (!(k->creator = strdup(c)))
			return -ENOMEM;
		k->elem = (uint8_t)el;
		k->group = (uint16_t)g;
		p->n_keep++;
	}
	return 0;
}

static int parse_root(struct deid_profile *p, json_t *root, struct fiona_err *err)
{
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(root))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "profile: not a JSON object");
	json_object_foreach(root, key, v)
	{
		if (!strcmp(key, "options"))
			rc = parse_options(p, v, err);
		else if (!strcmp(key, "date_shift_days"))
			rc = parse_dates(p, v, err);
		else if (!strcmp(key, "keep_private"))
			rc = parse_keep(p, v, err);
		else if (!strcmp(key, "tags")) {
			const char *tk;
			json_t *tv;
			rc = json_is_object(v) ? 0
					       : err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
							 "tags: not an object");
			json_object_foreach(v, tk, tv)
			{
				if (rc < 0 || (rc = parse_rule(p, tk, tv, err)) < 0)
					break;
			}
		} else if ((rc = deid_parse_export_key(p, key, v, err)) == -ENOENT)
			rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				     "%.60s: unknown key", key);
		if (rc < 0)
			return rc == -ENOMEM ? err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG,
						       "%.60s: out of memory", key)
					     : rc;
	}
	return 0;
}

int deid_profile_parse(const uint8_t *data, size_t n, struct deid_profile **out,
		       struct fiona_err *err)
{
	struct deid_profile *p = NULL;
	json_error_t je;
	json_t *root;
	int rc;

	if (n > PROFILE_MAX_BYTES)
		return err_set(err, -EFBIG, CORE_NO_OFFSET, CORE_NO_TAG,
			       "profile: larger than %u bytes", PROFILE_MAX_BYTES);
	root = json_loadb((const char *)data, n, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return err_set(err, -EINVAL, (uint64_t)je.position, CORE_NO_TAG, "profile: %.200s",
			       je.text);
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "profile: out of memory");
		goto fail;
	}
	if ((rc = parse_root(p, root, err)) < 0)
		goto fail;
	if (p->n_rules)
		qsort(p->rules, p->n_rules, sizeof(*p->rules), rule_cmp);
	deid_profile_finish(p);
	json_decref(root);
	*out = p;
	return 0;
fail:
	json_decref(root);
	deid_profile_free(p);
	return rc;
}

int deid_profile_capture(const struct deid_profile *p, uint32_t tag, const char *value, char *out,
			 size_t cap)
{
	const struct deid_tag_rule *r = NULL;
	regmatch_t m[2];
	size_t len;

	for (size_t lo = 0, hi = p ? p->n_rules : 0; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->rules[mid].tag == tag) {
			r = &p->rules[mid];
			break;
		}
		if (p->rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!r || !r->rx || !value || regexec(r->rx, value, 2, m, 0) != 0 || m[1].rm_so < 0)
		return -ENOENT;
	len = (size_t)(m[1].rm_eo - m[1].rm_so);
	if (len + 1 > cap)
		return -ENOSPC;
	memcpy(out, value + m[1].rm_so, len);
	out[len] = '\0';
	return 0;
}

int deid_profile_load(const char *path, struct deid_profile **out, struct fiona_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc = core_read_file(path, PROFILE_MAX_BYTES, &data, &len);

	if (rc < 0)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "profile: cannot read: %s",
			       strerror(-rc));
	rc = deid_profile_parse((const uint8_t *)data, len, out, err);
	free(data);
	return rc;
}
