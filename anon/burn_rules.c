/*
 * burn_rules: per-device rectangles that always hold burned-in text (an ultrasound
 * machine's banner, a CT console's patient box), in the spirit of RSNA CTP's pixel
 * script, from a JSON file:
 *
 *   { "rules": [ { "name": "ACME US banner",
 *                  "match": { "Modality": "US", "Manufacturer": "acme", "Rows": 480 },
 *                  "regions": [ [0, 0, 640, 60], [-120, -40, 120, 40] ] } ] }
 *
 * A rule matches when every "match" key holds: a text value contains the given text,
 * case ignored; a number equals it. Keys are DICOM keywords of top-level attributes.
 * Regions are [x, y, width, height]; a negative x or y counts from the right or bottom
 * edge. Every matching rule applies (CTP applies only the first). Unknown keys, bad
 * keywords and bad rectangles are errors naming the rule and the key.
 */
#include "core/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <strings.h>

#include "anon/anon.h"

#define RULES_MAX_BYTES ((size_t)1 << 22)

struct rule_cond {
	uint32_t tag;
	bool is_number;
	long number;
	char text[65];
};

struct burn_rule {
	char name[80];
	struct rule_cond *conds;
	size_t n_conds;
	int (*rects)[4];
	size_t n_rects;
};

struct burn_rules {
	struct burn_rule *v;
	size_t n;
};

void burn_rules_free(struct burn_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].conds);
		free(r->v[i].rects);
	}
	free(r->v);
	free(r);
}

static int bad(struct fiona_err *err, size_t i, const char *key, const char *why)
{
	return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "rules[%zu].%s: %s", i, key, why);
}

static int parse_match(json_t *m, struct burn_rule *r, size_t i, struct fiona_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(m) || !json_object_size(m))
		return bad(err, i, "match", "must be an object with at least one attribute");
	if (!(r->conds = calloc(json_object_size(m), sizeof(*r->conds))))
		return -ENOMEM;
	json_object_foreach(m, k, v)
	{
		struct rule_cond *c = &r->conds[r->n_conds];

		if (dcm_dict_find_keyword(k, &c->tag, NULL))
			return bad(err, i, "match", "names no DICOM keyword");
		if (json_is_integer(v)) {
			c->is_number = true;
			c->number = (long)json_integer_value(v);
		} else if (json_is_string(v) && json_string_length(v) < sizeof(c->text)) {
			snprintf(c->text, sizeof(c->text), "%s", json_string_value(v));
		} else {
			return bad(err, i, "match",
				   "values are text (64 characters at most) or integers");
		}
		r->n_conds++;
	}
	return 0;
}

static int parse_regions(json_t *a, struct burn_rule *r, size_t i, struct fiona_err *err)
{
	size_t k;
	json_t *q;

	if (!json_is_array(a) || !json_array_size(a) || json_array_size(a) > 64)
		return bad(err, i, "regions", "must be an array of 1 to 64 rectangles");
	if (!(r->rects = calloc(json_array_size(a), sizeof(*r->rects))))
		return -ENOMEM;
	json_array_foreach(a, k, q)
	{
		for (size_t j = 0; j < 4; j++) {
			json_t *x = json_array_get(q, j);
			json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;

			if (json_array_size(q) != 4 || !json_is_integer(x) || v < -65535 ||
			    v > 65535 || (j >= 2 && v <= 0))
				return bad(err, i, "regions",
					   "each rectangle is [x, y, width, height] with width and "
					   "height above 0");
			r->rects[k][j] = (int)v;
		}
		r->n_rects++;
	}
	return 0;
}

static int parse_rule(json_t *o, struct burn_rule *r, size_t i, struct fiona_err *err)
{
	const char *k;
	json_t *v;
	int rc = 0;

	if (!json_is_object(o))
		return bad(err, i, "", "must be an object");
	json_object_foreach(o, k, v)
	{
		if (!strcmp(k, "name") && json_is_string(v))
			snprintf(r->name, sizeof(r->name), "%s", json_string_value(v));
		else if (!strcmp(k, "match"))
			rc = parse_match(v, r, i, err);
		else if (!strcmp(k, "regions"))
			rc = parse_regions(v, r, i, err);
		else
			rc = bad(err, i, k, "unknown key (name, match, regions)");
		if (rc)
			return rc;
	}
	if (!r->n_conds || !r->n_rects)
		return bad(err, i, "", "needs \"match\" and \"regions\"");
	return 0;
}

int burn_rules_parse(const char *json, size_t n, struct burn_rules **out, struct fiona_err *err)
{
	struct burn_rules *r = calloc(1, sizeof(*r));
	json_error_t je;
	json_t *root = NULL, *rules;
	int rc = 0;

	if (!r)
		return -ENOMEM;
	if (n > RULES_MAX_BYTES) {
		rc = err_set(err, -E2BIG, CORE_NO_OFFSET, CORE_NO_TAG, "rules file too big");
		goto out;
	}
	if (!(root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je))) {
		rc = err_set(err, -EINVAL, (uint64_t)je.position, CORE_NO_TAG,
			     "line %d column %d: %s", je.line, je.column, je.text);
		goto out;
	}
	rules = json_object_get(root, "rules");
	if (!json_is_array(rules) || json_object_size(root) != 1) {
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			     "the file is {\"rules\": [...]} and nothing else");
		goto out;
	}
	if (json_array_size(rules) && !(r->v = calloc(json_array_size(rules), sizeof(*r->v)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; !rc && i < json_array_size(rules); i++, r->n++)
		rc = parse_rule(json_array_get(rules, i), &r->v[i], i, err);
out:
	json_decref(root);
	if (rc) {
		burn_rules_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int burn_rules_load(const char *path, struct burn_rules **out, struct fiona_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = core_read_file(path, RULES_MAX_BYTES, &text, &len);

	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", path, strerror(-rc));
	rc = burn_rules_parse(text, len, out, err);
	free(text);
	return rc;
}

/* Whether one condition holds for element e (a top-level attribute's value). */
static bool cond_holds(const struct rule_cond *c, const struct dcm_elem *e)
{
	char v[256];
	uint32_t u;

	if (c->is_number) {
		if (dcm_value_u32(e, &u) == 0)
			return (long)u == c->number;
		dcm_value_str(e, v, sizeof(v));
		return strtol(v, NULL, 10) == c->number;
	}
	dcm_value_str(e, v, sizeof(v));
	return strcasestr(v, c->text) != NULL;
}

static int add_rect(struct ocr_lines *out, const int q[4], int rows, int cols)
{
	int x = q[0] < 0 ? cols + q[0] : q[0], y = q[1] < 0 ? rows + q[1] : q[1];

	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 8;
		struct ocr_line *v = realloc(out->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		out->v = v;
		out->cap = cap;
	}
	out->v[out->n++] = (struct ocr_line){x, y, x + q[2], y + q[3], ""};
	return 0;
}

int burn_rules_regions(const struct burn_rules *r, const uint8_t *p, size_t n, int rows, int cols,
		       struct ocr_lines *out, struct fiona_err *err)
{
	size_t *count = calloc(r->n ? r->n : 1, sizeof(*count)); /* conditions held per rule */
	struct dcm_reader *rd = NULL;
	struct dcm_elem e;
	int rc = count ? dcm_reader_new(p, n, &rd, err) : -ENOMEM, k = 0;

	while (!rc && (k = dcm_reader_next(rd, &e)) > 0) {
		if (e.kind != DCM_ELEMENT || e.depth || e.in_meta)
			continue;
		if (e.tag == DCM_TAG_PIXEL_DATA)
			break;
		for (size_t i = 0; i < r->n; i++)
			for (size_t c = 0; c < r->v[i].n_conds; c++)
				if (r->v[i].conds[c].tag == e.tag &&
				    cond_holds(&r->v[i].conds[c], &e))
					count[i]++;
	}
	if (!rc && k < 0) {
		rc = k;
		*err = *dcm_reader_error(rd);
	}
	for (size_t i = 0; !rc && i < r->n; i++) /* every condition held: every rectangle */
		for (size_t q = 0; !rc && count[i] == r->v[i].n_conds && q < r->v[i].n_rects; q++)
			rc = add_rect(out, r->v[i].rects[q], rows, cols);
	dcm_reader_free(rd);
	free(count);
	return rc;
}
