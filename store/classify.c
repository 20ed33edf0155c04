/*
 * Series classification rules: parsing and checking the JSON rules file (docs/classify.md).
 *
 * The file is a list of rule sets; each set has a label ("type"), an optional "id" other
 * sets refer to, and rules that must all hold. Everything that can be checked without a
 * series is checked here, so evaluation (classify_ops.c) never meets an unknown operator,
 * a bad regular expression or a dangling reference: operators and keys are known, tags
 * resolve, regexes compile, ids are unique, references resolve and form no cycle.
 * Errors name the rule set (index and id or type) and the key path.
 *
 * Invariants: a returned struct classify_rules is complete and immutable; the tag list
 * is sorted and unique; every RULE reference points at another set and the reference
 * graph is acyclic (so evaluation terminates and recursion depth is < n_sets).
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>

#include "anon/anon.h"
#include "store/classify_int.h"
#include "store/store.h"

#define CLASSIFY_MAX_FILE (16u << 20)

struct parse_ctx {
	struct fiona_err *err;
	char where[160]; /* "rule set 3 (id \"t1\")" */
};

static int perr(struct parse_ctx *c, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parse_ctx *c, const char *key, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(c->err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s: %s", c->where, key,
		       why);
}

int classify_number(const char *s, size_t len, double *out)
{
	char tmp[64], *end;
	double v;

	while (len > 0 && s[0] == ' ')
		s++, len--;
	while (len > 0 && s[len - 1] == ' ')
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	/* Only decimal notation: strtod would also take "nan", "inf" and hex floats. */
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)tmp[i]) && !strchr("+-.eE", tmp[i]))
			return -EINVAL;
	errno = 0;
	v = strtod(tmp, &end);
	if (*end || errno || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- tags ------------------------------------------------------------------------- */

static int hex16(const char *s, size_t len, uint16_t *out)
{
	unsigned v = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2, len -= 2;
	if (len == 0 || len > 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 16 + (unsigned)(isdigit((unsigned char)s[i]) ? s[i] - '0'
								     : (tolower(s[i]) - 'a' + 10));
	}
	*out = (uint16_t)v;
	return 0;
}

/* "gggg,eeee", "(gggg,eeee)" or "ggggeeee"; -EINVAL if it is none of them. */
static int tag_from_hex(const char *s, uint32_t *tag)
{
	size_t len = strlen(s);
	uint16_t g, e;

	if (len == 11 && s[0] == '(' && s[10] == ')')
		s++, len -= 2;
	if (len == 9 && s[4] == ',' && !hex16(s, 4, &g) && !hex16(s + 5, 4, &e))
		goto ok;
	if (len == 8 && !hex16(s, 4, &g) && !hex16(s + 4, 4, &e))
		goto ok;
	return -EINVAL;
ok:
	*tag = DCM_TAG(g, e);
	return 0;
}

static int tag_part(json_t *j, uint16_t *out)
{
	if (json_is_integer(j)) {
		json_int_t v = json_integer_value(j);

		if (v < 0 || v > 0xFFFF)
			return -EINVAL;
		*out = (uint16_t)v;
		return 0;
	}
	if (json_is_string(j))
		return hex16(json_string_value(j), json_string_length(j), out);
	return -EINVAL;
}

static int parse_tag(struct parse_ctx *c, json_t *j, const char *key, uint32_t *tag)
{
	uint16_t g, e;

	if (json_is_array(j)) {
		if (json_array_size(j) != 2 || tag_part(json_array_get(j, 0), &g) ||
		    tag_part(json_array_get(j, 1), &e))
			return perr(c, key, "expected [group, element] (numbers or hex strings)");
		*tag = DCM_TAG(g, e);
		return 0;
	}
	if (!json_is_string(j))
		return perr(c, key, "expected a keyword, \"gggg,eeee\" or [group, element]");
	if (!tag_from_hex(json_string_value(j), tag) ||
	    !dcm_dict_find_keyword(json_string_value(j), tag, NULL))
		return 0;
	return perr(c, key, "unknown attribute keyword \"%.64s\"", json_string_value(j));
}

/* ---- values ----------------------------------------------------------------------- */

static int value_add(struct classify_rule *r, const char *s, size_t len)
{
	struct classify_value *v;

	if (r->n_values >= CLASSIFY_MAX_VALUES)
		return -E2BIG;
	v = &r->values[r->n_values];
	v->text = strndup(s, len);
	if (!v->text)
		return -ENOMEM;
	v->is_num = classify_number(s, len, &v->num) == 0;
	r->n_values++;
	return 0;
}

/* A string becomes its backslash-separated components (split=true) or one value. */
static int value_add_json(struct classify_rule *r, json_t *j, bool split)
{
	char num[40];
	const char *s;
	size_t len;
	int rc;

	if (json_is_number(j)) {
		snprintf(num, sizeof(num), "%.15g", json_number_value(j));
		return value_add(r, num, strlen(num));
	}
	if (!json_is_string(j))
		return -EINVAL;
	s = json_string_value(j);
	len = json_string_length(j);
	if (memchr(s, '\0', len))
		return -EINVAL;
	while (split) {
		const char *bs = memchr(s, '\\', len);

		if (!bs)
			break;
		rc = value_add(r, s, (size_t)(bs - s));
		if (rc)
			return rc;
		len -= (size_t)(bs - s) + 1;
		s = bs + 1;
	}
	return value_add(r, s, len);
}

/* Skips a bracket expression starting at s[i] == '['; returns the index after its ']'. */
static size_t skip_bracket(const char *s, size_t i)
{
	i++;
	if (s[i] == '^')
		i++;
	if (s[i] == ']')
		i++;
	while (s[i] && s[i] != ']')
		i += s[i] == '[' && s[i + 1] && strchr(":.=", s[i + 1]) ? 2 : 1;
	return s[i] ? i + 1 : i;
}

/* Parses a bound "{n}", "{n,}" or "{n,m}" at s[i]; *copies = the largest count (an
 * open bound counts as n + 1). Returns the index after '}', or 0 if malformed. */
static size_t parse_bound(const char *s, size_t i, unsigned long *copies)
{
	char *end;
	unsigned long lo = strtoul(s + i + 1, &end, 10), hi = lo;

	if (*end == ',' && end[1] == '}')
		hi = lo + 1, end++;
	else if (*end == ',')
		hi = strtoul(end + 1, &end, 10);
	if (*end != '}' || hi > CLASSIFY_MAX_BOUND)
		return 0;
	*copies = hi > lo ? hi : lo;
	return (size_t)(end - s) + 1;
}

/*
 * glibc's regcomp copies the syntax tree for every "+" and bound, so stacked or nested
 * repetitions grow it exponentially (found by fuzzing: "a+++++..." exhausts memory), and
 * back-references make regexec exponential. This refuses back-references, stacked
 * repetitions and patterns whose copies multiply past CLASSIFY_MAX_COPIES, counting every
 * repetition as if nested. Returns NULL or the reason.
 */
static const char *regex_untame(const char *s)
{
	unsigned long cost = 1;
	bool prev_rep = false;
	size_t i = 0;

	if (strlen(s) > CLASSIFY_MAX_PATTERN)
		return "longer than 256 bytes";
	while (s[i]) {
		char ch = s[i];
		bool rep = strchr("*+?{", ch) != NULL;
		unsigned long copies = ch == '+' ? 2 : 1;
		size_t next;

		if (rep && prev_rep)
			return "stacked repetitions (a** a+{2} ...)";
		if (ch == '\\' && isdigit((unsigned char)s[i + 1]))
			return "back-references";
		if (ch == '{' && (next = parse_bound(s, i, &copies)) == 0)
			return "bounds are {n}, {n,} or {n,m} with n, m <= 32";
		if (ch == '[')
			next = skip_bracket(s, i);
		else if (ch != '{')
			next = i + (ch == '\\' && s[i + 1] ? 2 : 1);
		if (copies > 1 && (cost *= copies) > CLASSIFY_MAX_COPIES)
			return "too many repetitions (+ and {n,m} multiply)";
		prev_rep = rep;
		i = next;
	}
	return NULL;
}

static int parse_value(struct parse_ctx *c, struct classify_rule *r, json_t *j, const char *key)
{
	bool split = r->op != CLASSIFY_OP_CONTAINS && r->op != CLASSIFY_OP_REGEXP;
	size_t n = json_is_array(j) ? json_array_size(j) : 1;
	int rc = 0;

	if (n == 0 || n > CLASSIFY_MAX_VALUES)
		return perr(c, key, "expected 1 to %d values", CLASSIFY_MAX_VALUES);
	r->values = calloc(CLASSIFY_MAX_VALUES, sizeof(*r->values));
	if (!r->values)
		return -ENOMEM;
	if (!json_is_array(j))
		rc = value_add_json(r, j, split);
	for (size_t i = 0; json_is_array(j) && i < n && !rc; i++)
		rc = value_add_json(r, json_array_get(j, i), false);
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return perr(c, key, "expected a string, a number or a list of them");
	if (r->op == CLASSIFY_OP_REGEXP && (json_is_array(j) || !json_is_string(j)))
		return perr(c, key, "regexp needs one string");
	if (r->op == CLASSIFY_OP_REGEXP) {
		const char *why = regex_untame(r->values[0].text);

		if (why)
			return perr(c, key, "regexp refused: %s", why);
		r->pattern = r->values[0].text;
		if (regcomp(&r->re, r->pattern, REG_EXTENDED | REG_NOSUB))
			return perr(c, key, "not a valid POSIX extended regular expression");
		r->re_ok = true;
	}
	for (size_t i = 0; i < r->n_values; i++)
		if ((r->op == CLASSIFY_OP_LT || r->op == CLASSIFY_OP_GT ||
		     r->op == CLASSIFY_OP_APPROX) &&
		    !r->values[i].is_num)
			return perr(c, key, "operator needs numbers");
	if ((r->op == CLASSIFY_OP_LT || r->op == CLASSIFY_OP_GT) && r->n_values != 1)
		return perr(c, key, "operator needs exactly one number");
	return 0;
}

/* ---- rules ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	enum classify_op op;
} ops[] = {
	{"regexp", CLASSIFY_OP_REGEXP},
	{"contains", CLASSIFY_OP_CONTAINS},
	{"==", CLASSIFY_OP_EQ},
	{"!=", CLASSIFY_OP_NE},
	{"<", CLASSIFY_OP_LT},
	{">", CLASSIFY_OP_GT},
	{"approx", CLASSIFY_OP_APPROX},
	{"exist", CLASSIFY_OP_EXIST},
	{"notexist", CLASSIFY_OP_NOTEXIST},
};

static const char *const rule_keys[] = {"tag",	"operator", "value",	 "negate",
					"rule", "check",    "tolerance", NULL};

static int check_keys(struct parse_ctx *c, json_t *obj, const char *const *keys, const char *prefix)
{
	const char *k;
	json_t *v;
	char key[96];

	json_object_foreach(obj, k, v)
	{
		size_t i = 0;

		(void)v;
		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (!keys[i]) {
			snprintf(key, sizeof(key), "%s%.48s", prefix, k);
			return perr(c, key, "unknown key");
		}
	}
	return 0;
}

static int parse_negate(struct parse_ctx *c, json_t *j, const char *key, bool *out)
{
	const char *s = json_string_value(j);

	if (!j)
		return 0;
	if (json_is_boolean(j)) {
		*out = json_is_true(j);
		return 0;
	}
	if (s &&
	    (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "no") || !strcmp(s, "false"))) {
		*out = s[0] == 'y' || s[0] == 't';
		return 0;
	}
	return perr(c, key, "expected true/false or \"yes\"/\"no\"");
}

static int parse_target(struct parse_ctx *c, struct classify_rule *r, json_t *o, const char *p)
{
	json_t *check = json_object_get(o, "check"), *tag = json_object_get(o, "tag");
	char key[96];

	snprintf(key, sizeof(key), "%scheck", p);
	if (check && (!json_is_string(check) || strcmp(json_string_value(check), "SeriesLevel")))
		return perr(c, key, "the only check is \"SeriesLevel\"");
	snprintf(key, sizeof(key), "%stag", p);
	if (!tag)
		return perr(c, key, "missing (or give \"rule\")");
	if (!check)
		return parse_tag(c, tag, key, &r->tag);
	if (json_is_string(tag) && (!strcmp(json_string_value(tag), "NumberOfInstances") ||
				    !strcmp(json_string_value(tag), "InstanceCount"))) {
		r->fact = CLASSIFY_FACT_N_INSTANCES;
		return 0;
	}
	/* Any other attribute: the rule must hold in every instance of the series. */
	r->every_instance = true;
	return parse_tag(c, tag, key, &r->tag);
}

/* "operator", "value" and "tolerance" of a rule on an attribute or series fact. */
static int parse_comparison(struct parse_ctx *c, struct classify_rule *r, json_t *o, const char *p)
{
	json_t *op = json_object_get(o, "operator"), *val = json_object_get(o, "value");
	json_t *tol = json_object_get(o, "tolerance");
	char key[96];
	size_t i;
	int rc;

	snprintf(key, sizeof(key), "%soperator", p);
	for (i = 0; json_is_string(op) && i < CORE_ARRAY_SIZE(ops); i++)
		if (!strcmp(ops[i].name, json_string_value(op)))
			break;
	if (!json_is_string(op) || i == CORE_ARRAY_SIZE(ops))
		return perr(c, key,
			    "expected regexp, contains, ==, !=, <, >, approx, exist or "
			    "notexist");
	r->op = ops[i].op;
	snprintf(key, sizeof(key), "%svalue", p);
	if (r->op == CLASSIFY_OP_EXIST || r->op == CLASSIFY_OP_NOTEXIST) {
		if (val)
			return perr(c, key, "exist/notexist take no value");
	} else if (!val) {
		return perr(c, key, "missing");
	} else if ((rc = parse_value(c, r, val, key)) != 0) {
		return rc;
	}
	snprintf(key, sizeof(key), "%stolerance", p);
	if (tol &&
	    (r->op != CLASSIFY_OP_APPROX || !json_is_number(tol) || !(json_number_value(tol) >= 0)))
		return perr(c, key, "only for approx, a number >= 0");
	r->tolerance = tol ? json_number_value(tol) : 0.01;
	return 0;
}

static int parse_rule(struct parse_ctx *c, struct classify_rule *r, json_t *o, size_t idx)
{
	json_t *ref = json_object_get(o, "rule");
	char p[32], key[96];
	int rc;

	snprintf(p, sizeof(p), "rules[%zu].", idx);
	if (!json_is_object(o))
		return perr(c, p, "expected an object");
	rc = check_keys(c, o, rule_keys, p);
	snprintf(key, sizeof(key), "%snegate", p);
	rc = rc ? rc : parse_negate(c, json_object_get(o, "negate"), key, &r->negate);
	if (rc)
		return rc;
	if (!ref) {
		rc = parse_target(c, r, o, p);
		return rc ? rc : parse_comparison(c, r, o, p);
	}
	snprintf(key, sizeof(key), "%srule", p);
	if (!json_is_string(ref) || json_string_length(ref) == 0)
		return perr(c, key, "expected the id of another rule set");
	if (json_object_get(o, "operator") || json_object_get(o, "value") ||
	    json_object_get(o, "tag") || json_object_get(o, "check") ||
	    json_object_get(o, "tolerance"))
		return perr(c, key,
			    "a reference takes no tag, check, operator, value or tolerance");
	r->op = CLASSIFY_OP_RULE;
	r->ref_id = strdup(json_string_value(ref));
	return r->ref_id ? 0 : -ENOMEM;
}

/* ---- rule sets -------------------------------------------------------------------- */

static const char *const set_keys[] = {"type", "id", "description", "rules", NULL};

static int opt_string(struct parse_ctx *c, json_t *o, const char *k, bool need, char **out)
{
	json_t *j = json_object_get(o, k);
	const char *s = json_string_value(j);

	if (!j && !need)
		return 0;
	if (!s || json_string_length(j) == 0 || json_string_length(j) > 255 ||
	    strlen(s) != json_string_length(j))
		return perr(c, k,
			    j ? "expected a non-empty string (at most 255 bytes)" : "missing");
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int parse_set(struct parse_ctx *c, struct classify_set *s, json_t *o)
{
	json_t *rules = json_object_get(o, "rules");
	int rc;

	if (!json_is_object(o))
		return perr(c, "", "expected an object");
	rc = check_keys(c, o, set_keys, "");
	rc = rc ? rc : opt_string(c, o, "id", false, &s->id);
	if (!rc && s->id)
		snprintf(c->where + strlen(c->where), sizeof(c->where) - strlen(c->where),
			 " (id \"%.64s\")", s->id);
	rc = rc ? rc : opt_string(c, o, "type", true, &s->type);
	rc = rc ? rc : opt_string(c, o, "description", false, &s->description);
	if (rc)
		return rc;
	/* Labels are written comma-separated into study.json and .status. */
	for (const char *t = s->type; *t; t++)
		if (*t == ',' || (unsigned char)*t < 0x20 || *t == '"' || *t == '\\')
			return perr(c, "type",
				    "no commas, quotes, backslashes or control characters");
	if (!json_is_array(rules) || json_array_size(rules) == 0 ||
	    json_array_size(rules) > CLASSIFY_MAX_RULES)
		return perr(c, "rules", "expected a list of 1 to %d rules", CLASSIFY_MAX_RULES);
	s->rules = calloc(json_array_size(rules), sizeof(*s->rules));
	if (!s->rules)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(rules); i++) {
		rc = parse_rule(c, &s->rules[i], json_array_get(rules, i), i);
		s->n_rules = i + 1; /* a half-built rule is freed too */
		if (rc)
			return rc;
	}
	return 0;
}

static void set_where(struct parse_ctx *c, const struct classify_rules *r, size_t i)
{
	snprintf(c->where, sizeof(c->where), "rule set %zu", i);
	if (r->sets[i].id)
		snprintf(c->where + strlen(c->where), sizeof(c->where) - strlen(c->where),
			 " (id \"%.64s\")", r->sets[i].id);
}

static int resolve_refs(struct parse_ctx *c, struct classify_rules *r)
{
	char key[48];

	for (size_t i = 0; i < r->n_sets; i++) {
		for (size_t j = i + 1; r->sets[i].id && j < r->n_sets; j++)
			if (r->sets[j].id && !strcmp(r->sets[i].id, r->sets[j].id)) {
				set_where(c, r, j);
				return perr(c, "id", "duplicate of rule set %zu", i);
			}
	}
	for (size_t i = 0; i < r->n_sets; i++) {
		for (size_t k = 0; k < r->sets[i].n_rules; k++) {
			struct classify_rule *rule = &r->sets[i].rules[k];
			size_t j = 0;

			if (rule->op != CLASSIFY_OP_RULE)
				continue;
			while (j < r->n_sets &&
			       (!r->sets[j].id || strcmp(r->sets[j].id, rule->ref_id)))
				j++;
			set_where(c, r, i);
			snprintf(key, sizeof(key), "rules[%zu].rule", k);
			if (j == r->n_sets)
				return perr(c, key, "no rule set has id \"%.64s\"", rule->ref_id);
			rule->ref = j;
		}
	}
	return 0;
}

/* Depth-first search; colour 1 = on the current path, 2 = done. Depth < n_sets. */
static int find_cycle(struct parse_ctx *c, const struct classify_rules *r, unsigned char *colour,
		      size_t i)
{
	const struct classify_set *s = &r->sets[i];
	char key[48];

	colour[i] = 1;
	for (size_t k = 0; k < s->n_rules; k++) {
		size_t j = s->rules[k].ref;

		if (s->rules[k].op != CLASSIFY_OP_RULE || colour[j] == 2)
			continue;
		if (colour[j] == 1) {
			set_where(c, r, i);
			snprintf(key, sizeof(key), "rules[%zu].rule", k);
			return perr(c, key, "reference cycle through rule set %zu (id \"%.64s\")",
				    j, r->sets[j].id);
		}
		if (find_cycle(c, r, colour, j))
			return -EINVAL;
	}
	colour[i] = 2;
	return 0;
}

int classify_tag_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int collect_tags(struct classify_rules *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_sets; i++)
		n += r->sets[i].n_rules;
	r->tags = calloc(n ? n : 1, sizeof(*r->tags));
	if (!r->tags)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < r->n_sets; i++)
		for (size_t k = 0; k < r->sets[i].n_rules; k++) {
			struct classify_rule *rule = &r->sets[i].rules[k];

			rule->flat = r->n_rules++;
			r->has_every |= rule->every_instance;
			if (rule->op != CLASSIFY_OP_RULE && rule->fact == CLASSIFY_FACT_NONE)
				r->tags[n++] = rule->tag;
		}
	qsort(r->tags, n, sizeof(*r->tags), classify_tag_cmp);
	r->n_tags = 0;
	for (size_t i = 0; i < n; i++)
		if (r->n_tags == 0 || r->tags[r->n_tags - 1] != r->tags[i])
			r->tags[r->n_tags++] = r->tags[i];
	return 0;
}

static int parse_all(struct parse_ctx *c, json_t *root, struct classify_rules *r)
{
	unsigned char *colour;
	int rc = 0;

	snprintf(c->where, sizeof(c->where), "rules file");
	if (!json_is_array(root) || json_array_size(root) == 0 ||
	    json_array_size(root) > CLASSIFY_MAX_SETS)
		return perr(c, "top level", "expected a list of 1 to %d rule sets",
			    CLASSIFY_MAX_SETS);
	r->sets = calloc(json_array_size(root), sizeof(*r->sets));
	if (!r->sets)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(root) && !rc; i++) {
		snprintf(c->where, sizeof(c->where), "rule set %zu", i);
		r->n_sets = i + 1;
		rc = parse_set(c, &r->sets[i], json_array_get(root, i));
	}
	rc = rc ? rc : resolve_refs(c, r);
	if (rc)
		return rc;
	colour = calloc(r->n_sets, 1);
	if (!colour)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_sets && !rc; i++)
		if (!colour[i])
			rc = find_cycle(c, r, colour, i);
	free(colour);
	return rc ? rc : collect_tags(r);
}

int classify_rules_parse(const char *json, size_t n, struct classify_rules **out,
			 struct fiona_err *err)
{
	struct parse_ctx c = {err, ""};
	struct classify_rules *r = NULL;
	json_error_t je;
	json_t *root;
	int rc;

	if (n > CLASSIFY_MAX_FILE)
		return err_set(err, -EFBIG, CORE_NO_OFFSET, CORE_NO_TAG, "rules file too large");
	root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return err_set(err, -EINVAL, (uint64_t)je.position, CORE_NO_TAG,
			       "line %d column %d: %s", je.line, je.column, je.text);
	r = calloc(1, sizeof(*r));
	rc = r ? parse_all(&c, root, r) : -ENOMEM;
	json_decref(root);
	if (rc == -ENOMEM)
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	if (rc)
		goto fail;
	*out = r;
	return 0;
fail:
	classify_rules_free(r);
	return rc;
}

int classify_rules_load(const char *path, struct classify_rules **out, struct fiona_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = core_read_file(path, CLASSIFY_MAX_FILE, &text, &len);

	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", path, strerror(-rc));
	rc = classify_rules_parse(text, len, out, err);
	free(text);
	return rc;
}

void classify_rules_free(struct classify_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_sets; i++) {
		struct classify_set *s = &r->sets[i];

		for (size_t k = 0; k < s->n_rules; k++) {
			struct classify_rule *rule = &s->rules[k];

			for (size_t v = 0; v < rule->n_values; v++)
				free(rule->values[v].text);
			free(rule->values);
			if (rule->re_ok)
				regfree(&rule->re);
			free(rule->ref_id);
		}
		free(s->rules);
		free(s->type);
		free(s->id);
		free(s->description);
	}
	free(r->sets);
	free(r->tags);
	free(r);
}
