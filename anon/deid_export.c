/*
 * deid_export: the profile keys the original FIONA's project-specific exports had —
 * participant_rewrite (the participant ID as the tree shows it and the files carry it),
 * rewrite/normalize of the value the engine writes for a tag, leave_out (series not
 * exported) and zip_layout (entry names of the zips). Schema and exact semantics in
 * docs/deid.md "Export profile keys"; the mount side in docs/export.md.
 *
 * Invariants: regexes pass the profile's safety limits (deid_regex_simple) and compile
 * at parse time; a replacement only names groups its regex has; every parse error starts
 * with its JSON path. Rewrites see only the value the engine would write anyway (already
 * de-identified), never the original, so no rule can bring an original value back.
 */
#include "core/core.h"
#include "anon/anon.h"
#include "anon/deid_int.h"

#include <errno.h>
#include <stdlib.h>

#define REPL_MAX      256
#define LEAVE_SOP_MAX 256

void deid_export_free(struct deid_profile *p)
{
	if (p->part_rx)
		regfree(p->part_rx);
	free(p->part_rx);
	free(p->part_repl);
	for (size_t i = 0; i < p->n_leave_sop; i++)
		free(p->leave_sop[i]);
	free(p->leave_sop);
}

/* The replacement's escapes: \0-\9 (a group the regex has) and \\ only. */
static bool repl_valid(const char *repl, size_t nsub)
{
	if (strlen(repl) > REPL_MAX)
		return false;
	for (const char *c = repl; *c; c++) {
		if (*c != '\\')
			continue;
		c++;
		if (*c == '\\')
			continue;
		if (*c < '0' || *c > '9' || (size_t)(*c - '0') > nsub)
			return false;
	}
	return true;
}

int deid_rewrite_compile(const char *re, const char *repl, regex_t **rx, const char **why)
{
	regex_t *r;

	*rx = NULL;
	if (!re || !deid_regex_simple(re)) {
		*why = "need a simple extended regex (<= 128 chars, no {m,n}, no stacked "
		       "quantifiers)";
		return -EINVAL;
	}
	if (!(r = malloc(sizeof(*r))))
		return -ENOMEM;
	if (regcomp(r, re, REG_EXTENDED) != 0) {
		free(r);
		*why = "regex does not compile";
		return -EINVAL;
	}
	if (!repl || !repl_valid(repl, r->re_nsub)) {
		regfree(r);
		free(r);
		*why = "replacement: string of <= 256 chars; \\0-\\9 name groups of the regex, "
		       "\\\\ is a backslash";
		return -EINVAL;
	}
	*rx = r;
	return 0;
}

struct out {
	char *p;
	size_t n, cap;
	bool full;
};

static void emit(struct out *o, const char *s, size_t len)
{
	if (o->full || o->n + len + 1 > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, s, len);
	o->n += len;
}

static void emit_repl(struct out *o, const char *repl, const char *base, const regmatch_t *m)
{
	for (const char *c = repl; *c; c++) {
		if (*c != '\\') {
			emit(o, c, 1);
			continue;
		}
		c++;
		if (*c == '\\') {
			emit(o, c, 1);
		} else if (m[*c - '0'].rm_so >= 0) {
			const regmatch_t *g = &m[*c - '0'];
			emit(o, base + g->rm_so, (size_t)(g->rm_eo - g->rm_so));
		}
	}
}

int deid_regex_replace(const regex_t *rx, const char *repl, const char *in, char *out, size_t cap)
{
	struct out o = {out, 0, cap, cap == 0};
	const char *p = in;
	regmatch_t m[10];
	int flags = 0;
	bool after_match = false; /* no empty match right after a match (as sed does) */

	while (!o.full && regexec(rx, p, 10, m, flags) == 0) {
		size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;

		if (so == eo && so == 0 && after_match) {
			if (!*p)
				break;
			emit(&o, p, 1);
			p++;
			after_match = false;
			flags = REG_NOTBOL;
			continue;
		}
		emit(&o, p, so);
		emit_repl(&o, repl, p, m);
		after_match = eo > so;
		if (eo == so) {
			if (!p[eo]) {
				p += eo;
				break;
			}
			emit(&o, p + eo, 1);
			eo++;
		}
		p += eo;
		flags = REG_NOTBOL;
		if (!*p && after_match)
			break;
	}
	emit(&o, p, strlen(p));
	if (o.full)
		return -ENOSPC;
	out[o.n] = '\0';
	return 0;
}

size_t deid_normalize(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	bool gap = false;

	if (!cap)
		return 0;
	for (const unsigned char *c = (const unsigned char *)in; *c; c++) {
		bool keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9');
		if (!keep) {
			gap = true;
			continue;
		}
		if (n + 1 + (gap && n) >= cap)
			break;
		if (gap && n)
			out[n++] = '_';
		gap = false;
		out[n++] = (char)*c;
	}
	out[n] = '\0';
	return n;
}

void deid_profile_participant(const struct deid_profile *p, const char *id, char out[65])
{
	char tmp[65];

	snprintf(out, 65, "%s", id);
	if (p && p->part_rx &&
	    deid_regex_replace(p->part_rx, p->part_repl, id, tmp, sizeof(tmp)) == 0 && tmp[0])
		memcpy(out, tmp, sizeof(tmp));
}

int deid_profile_post(const struct deid_profile *p, uint32_t tag, const char *in, char *out,
		      size_t cap)
{
	const struct deid_tag_rule *r = NULL;

	for (size_t lo = 0, hi = p ? p->n_rules : 0; lo < hi && !r;) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->rules[mid].tag == tag)
			r = &p->rules[mid];
		else if (p->rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!r || r->post == DEID_POST_NONE)
		return -ENOENT;
	if (r->post == DEID_POST_REWRITE)
		return deid_regex_replace(r->rx, r->repl, in, out, cap);
	if (cap < strlen(in) + 1)
		return -ENOSPC;
	deid_normalize(in, out, cap);
	return 0;
}

static bool has_prefix(const char *s, const char *pre)
{
	return !strncmp(s, pre, strlen(pre));
}

bool deid_profile_leaves_out(const struct deid_profile *p, const char *sop_class,
			     const char *modality)
{
	const char *sc = sop_class ? sop_class : "";

	if (!p)
		return false;
	if (p->leave_pr && (has_prefix(sc, "1.2.840.10008.5.1.4.1.1.11.") ||
			    (modality && !strcmp(modality, "PR"))))
		return true;
	if (p->leave_sc && (!strcmp(sc, "1.2.840.10008.5.1.4.1.1.7") ||
			    has_prefix(sc, "1.2.840.10008.5.1.4.1.1.7.")))
		return true;
	for (size_t i = 0; i < p->n_leave_sop; i++)
		if (!strcmp(sc, p->leave_sop[i]))
			return true;
	return false;
}

enum deid_zip_layout deid_profile_zip_layout(const struct deid_profile *p)
{
	return p ? p->zip_layout : DEID_ZIP_FOLDERS;
}

static int bad(struct fiona_err *err, const char *path, const char *why)
{
	return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "%.60s: %s", path, why);
}

static int parse_participant(struct deid_profile *p, json_t *v, struct fiona_err *err)
{
	const char *re, *repl, *why = "", *k;
	json_t *x;
	int rc;

	if (!json_is_object(v))
		return bad(err, "participant_rewrite", "want {\"regex\": ..., \"replace\": ...}");
	json_object_foreach(v, k, x)
	{
		char path[96];
		snprintf(path, sizeof(path), "participant_rewrite.%.40s", k);
		if (strcmp(k, "regex") && strcmp(k, "replace"))
			return bad(err, path, "unknown key");
		if (!json_is_string(x))
			return bad(err, path, "not a string");
	}
	re = json_string_value(json_object_get(v, "regex"));
	repl = json_string_value(json_object_get(v, "replace"));
	if (!re || !repl)
		return bad(err, re ? "participant_rewrite.replace" : "participant_rewrite.regex",
			   "missing");
	if ((rc = deid_rewrite_compile(re, repl, &p->part_rx, &why)) == -ENOMEM)
		return rc;
	if (rc)
		return bad(err,
			   strncmp(why, "replacement", 11) ? "participant_rewrite.regex"
							   : "participant_rewrite.replace",
			   why);
	return (p->part_repl = strdup(repl)) ? 0 : -ENOMEM;
}

static bool uid_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) ||
		    (s[i] == '.' && s[i + 1] == '.'))
			return false;
	return true;
}

static int parse_sop_list(struct deid_profile *p, json_t *a, struct fiona_err *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a) || json_array_size(a) > LEAVE_SOP_MAX)
		return bad(err, "leave_out.sop_classes", "want an array of up to 256 UIDs");
	if (!(p->leave_sop = calloc(json_array_size(a) + 1, sizeof(*p->leave_sop))))
		return -ENOMEM;
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);
		if (!uid_valid(s))
			return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				       "leave_out.sop_classes[%zu]: want a UID (digits and dots, "
				       "<= 64 chars)",
				       i);
		if (!(p->leave_sop[p->n_leave_sop] = strdup(s)))
			return -ENOMEM;
		p->n_leave_sop++;
	}
	return 0;
}

static int parse_leave_out(struct deid_profile *p, json_t *v, struct fiona_err *err)
{
	const char *k;
	json_t *x;
	int rc = 0;

	if (!json_is_object(v))
		return bad(err, "leave_out", "not an object");
	json_object_foreach(v, k, x)
	{
		char path[96];
		snprintf(path, sizeof(path), "leave_out.%.40s", k);
		if (!strcmp(k, "sop_classes")) {
			if ((rc = parse_sop_list(p, x, err)))
				return rc;
			continue;
		}
		if (strcmp(k, "presentation_states") && strcmp(k, "secondary_captures"))
			return bad(err, path, "unknown key");
		if (!json_is_boolean(x))
			return bad(err, path, "want true or false");
		if (!strcmp(k, "presentation_states"))
			p->leave_pr = json_is_true(x);
		else
			p->leave_sc = json_is_true(x);
	}
	return 0;
}

static int parse_layout(struct deid_profile *p, json_t *v, struct fiona_err *err)
{
	static const char *const names[] = {"folders", "series", "flat"};
	const char *s = json_string_value(v);

	for (int i = 0; s && i < 3; i++)
		if (!strcmp(s, names[i])) {
			p->zip_layout = (enum deid_zip_layout)i;
			return 0;
		}
	return bad(err, "zip_layout", "want \"folders\", \"series\" or \"flat\"");
}

int deid_parse_export_key(struct deid_profile *p, const char *key, json_t *v, struct fiona_err *err)
{
	if (!strcmp(key, "participant_rewrite"))
		return p->part_rx ? bad(err, key, "duplicate key") : parse_participant(p, v, err);
	if (!strcmp(key, "leave_out"))
		return parse_leave_out(p, v, err);
	if (!strcmp(key, "zip_layout"))
		return parse_layout(p, v, err);
	return -ENOENT;
}
