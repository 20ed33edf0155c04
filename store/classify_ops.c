/*
 * Series classification: evaluating parsed rules (classify.c) against one series (given
 * as bytes, or as files that are mapped for the call), and fiona's built-in default rules.
 *
 * One pass of anon's reader over the representative instance collects the text of every
 * top-level attribute the rules name (and nothing else: the walk stops at the first
 * top-level tag past the largest one needed, so pixel data is not visited). Values are
 * normalised once: components of multi-valued attributes are separated by a backslash and
 * trimmed of spaces; binary numbers (US, SS, UL, SL, FL, FD, UV, SV) become decimal text.
 * Then each rule set is evaluated at most once (memoised), following references, which
 * classify.c guarantees to be acyclic.
 *
 * Invariants: no value read here is logged or put into an error (they may identify a
 * patient); errors name offsets and tags only. The rules object is only read, so one
 * object serves any number of threads.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anon/anon.h"
#include "store/classify_int.h"
#include "store/store.h"

#define CLASSIFY_MAX_COLLECTED (1u << 20) /* all attribute texts of one series */

struct attr {
	bool present;
	size_t off; /* text at eval.texts.data + off, NUL-terminated */
};

struct eval {
	const struct classify_rules *r;
	const struct classify_series_facts *facts;
	struct attr *attrs; /* parallel to r->tags */
	struct buf texts;
	signed char *result; /* per set: 0 not yet evaluated, 1 false, 2 true */
	bool *every_ok;	     /* per rule (flat index): every-instance result; NULL: not known */
};

/* ---- collecting attribute values -------------------------------------------------- */

static bool vr_is_binary_number(uint16_t vr, size_t *size)
{
	static const struct {
		uint16_t vr;
		size_t size;
	} t[] = {
		{DCM_VR('U', 'S'), 2}, {DCM_VR('S', 'S'), 2}, {DCM_VR('U', 'L'), 4},
		{DCM_VR('S', 'L'), 4}, {DCM_VR('F', 'L'), 4}, {DCM_VR('F', 'D'), 8},
		{DCM_VR('U', 'V'), 8}, {DCM_VR('S', 'V'), 8},
	};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(t); i++)
		if (t[i].vr == vr) {
			*size = t[i].size;
			return true;
		}
	return false;
}

/* Values compared as empty text. UN is not among them: private attributes of implicit VR
 * files arrive as UN and are most often text (or numbers as text). */
static bool vr_is_bulk(uint16_t vr)
{
	static const uint16_t bulk[] = {
		DCM_VR('O', 'B'), DCM_VR('O', 'W'), DCM_VR('O', 'F'), DCM_VR('O', 'D'),
		DCM_VR('O', 'L'), DCM_VR('O', 'V'), DCM_VR_SQ,
	};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(bulk); i++)
		if (bulk[i] == vr)
			return true;
	return false;
}

static uint64_t load_uint(const uint8_t *p, size_t size, bool big_endian)
{
	uint64_t v = 0;

	for (size_t i = 0; i < size; i++)
		v |= (uint64_t)p[big_endian ? size - 1 - i : i] << (8 * i);
	return v;
}

static double binary_number(const uint8_t *p, size_t size, uint16_t vr, bool be)
{
	uint64_t u = load_uint(p, size, be);
	float f;
	double d;

	switch (vr) {
	case DCM_VR('S', 'S'):
		return (int16_t)u;
	case DCM_VR('S', 'L'):
		return (int32_t)u;
	case DCM_VR('S', 'V'):
		return (double)(int64_t)u;
	case DCM_VR('F', 'L'): {
		uint32_t u32 = (uint32_t)u;

		memcpy(&f, &u32, sizeof(f));
		return f;
	}
	case DCM_VR('F', 'D'):
		memcpy(&d, &u, sizeof(d));
		return d;
	default:
		return (double)u;
	}
}

static int append_binary(struct buf *b, const struct dcm_elem *e, size_t size)
{
	size_t n = e->value ? e->length / size : 0;
	int rc = 0;

	if (n > CLASSIFY_MAX_VALUES)
		n = CLASSIFY_MAX_VALUES;
	for (size_t i = 0; i < n && !rc; i++)
		rc = buf_appendf(b, "%s%.17g", i ? "\\" : "",
				 binary_number(e->value + i * size, size, e->vr, e->big_endian));
	return rc;
}

/* Appends the components of a text value, each trimmed of spaces, backslash-separated. */
static int append_text(struct buf *b, const struct dcm_elem *e)
{
	char *tmp = malloc(CLASSIFY_MAX_TEXT);
	const char *s;
	int rc = 0;

	if (!tmp)
		return -ENOMEM;
	dcm_value_str(e, tmp, CLASSIFY_MAX_TEXT);
	for (s = tmp; !rc;) {
		const char *end = strchr(s, '\\'), *a = s, *z;

		z = end ? end : s + strlen(s);
		while (a < z && *a == ' ')
			a++;
		while (z > a && z[-1] == ' ')
			z--;
		rc = buf_append(b, a, (size_t)(z - a));
		if (!end)
			break;
		rc = rc ? rc : buf_append_u8(b, '\\');
		s = end + 1;
	}
	free(tmp);
	return rc;
}

static int attr_store(struct eval *ev, size_t i, const struct dcm_elem *e)
{
	size_t size;
	int rc = 0;

	if (ev->attrs[i].present) /* a repeated tag: the first one counts */
		return 0;
	ev->attrs[i].off = ev->texts.len;
	if (e->kind != DCM_ELEMENT || vr_is_bulk(e->vr))
		rc = 0;
	else if (vr_is_binary_number(e->vr, &size))
		rc = append_binary(&ev->texts, e, size);
	else
		rc = append_text(&ev->texts, e);
	rc = rc ? rc : buf_append_u8(&ev->texts, 0);
	if (rc == 0)
		ev->attrs[i].present = true;
	return rc;
}

static int collect(struct eval *ev, const uint8_t *p, size_t n, struct fiona_err *err)
{
	const struct classify_rules *r = ev->r;
	struct dcm_reader *rd = NULL;
	struct dcm_elem e;
	int rc;

	if (r->n_tags == 0)
		return 0;
	rc = dcm_reader_new(p, n, &rd, err);
	if (rc)
		return rc;
	while ((rc = dcm_reader_next(rd, &e)) == 1) {
		const uint32_t *hit;

		if (e.depth != 0 || e.kind == DCM_SEQ_END || e.kind == DCM_ITEM_BEGIN ||
		    e.kind == DCM_ITEM_END || e.kind == DCM_FRAGMENT || e.kind == DCM_PIXEL_END)
			continue;
		if (!e.in_meta && e.tag > r->tags[r->n_tags - 1])
			break; /* top-level tags ascend: nothing needed follows */
		hit = bsearch(&e.tag, r->tags, r->n_tags, sizeof(*r->tags), classify_tag_cmp);
		if (hit && (rc = attr_store(ev, (size_t)(hit - r->tags), &e)) != 0)
			break;
	}
	if (rc < 0 && err && dcm_reader_error(rd) && dcm_reader_error(rd)->code)
		*err = *dcm_reader_error(rd);
	else if (rc < 0)
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "collecting attributes: %s",
			strerror(-rc));
	dcm_reader_free(rd);
	return rc < 0 ? rc : 0;
}

/* ---- evaluating rules ------------------------------------------------------------- */

/* Next backslash-separated component of *s: start and length; false when none left. */
static bool next_comp(const char **s, bool *done, const char **c, size_t *len)
{
	const char *end;

	if (*done)
		return false;
	end = strchr(*s, '\\');
	*c = *s;
	*len = end ? (size_t)(end - *s) : strlen(*s);
	if (end)
		*s = end + 1;
	else
		*done = true;
	return true;
}

static bool comp_equal(const char *c, size_t len, const struct classify_value *v)
{
	double x;

	if (v->is_num && classify_number(c, len, &x) == 0)
		return x == v->num;
	return strlen(v->text) == len && !memcmp(c, v->text, len);
}

/* Compares component by component; the counts must agree. */
static bool match_values(const struct classify_rule *rule, const char *text)
{
	const char *c;
	size_t len, i = 0;
	bool done = false;
	double x;

	while (next_comp(&text, &done, &c, &len)) {
		const struct classify_value *v = i < rule->n_values ? &rule->values[i] : NULL;

		if (!v)
			return false;
		if (rule->op == CLASSIFY_OP_APPROX) {
			if (classify_number(c, len, &x) || !(fabs(x - v->num) <= rule->tolerance))
				return false;
		} else if (!comp_equal(c, len, v)) {
			return false;
		}
		i++;
	}
	return i == rule->n_values;
}

/* < and >: every component is a number on the right side of the value. */
static bool match_order(const struct classify_rule *rule, const char *text)
{
	const char *c;
	size_t len, n = 0;
	bool done = false;
	double x;

	while (next_comp(&text, &done, &c, &len)) {
		if (classify_number(c, len, &x))
			return false;
		if (rule->op == CLASSIFY_OP_LT ? !(x < rule->values[0].num)
					       : !(x > rule->values[0].num))
			return false;
		n++;
	}
	return n > 0;
}

static bool match_attr(const struct classify_rule *rule, bool present, const char *text)
{
	switch (rule->op) {
	case CLASSIFY_OP_EXIST:
		return present;
	case CLASSIFY_OP_NOTEXIST:
		return !present;
	default:
		break;
	}
	if (!present)
		return false;
	switch (rule->op) {
	case CLASSIFY_OP_REGEXP:
		return regexec(&rule->re, text, 0, NULL, 0) == 0;
	case CLASSIFY_OP_CONTAINS:
		for (size_t i = 0; i < rule->n_values; i++)
			if (strstr(text, rule->values[i].text))
				return true;
		return false;
	case CLASSIFY_OP_EQ:
	case CLASSIFY_OP_APPROX:
		return match_values(rule, text);
	case CLASSIFY_OP_NE:
		return !match_values(rule, text);
	case CLASSIFY_OP_LT:
	case CLASSIFY_OP_GT:
		return match_order(rule, text);
	default:
		return false;
	}
}

/* The collected text of tag, or NULL if the instance does not have it. */
static const char *attr_text(const struct eval *ev, uint32_t tag)
{
	const uint32_t *hit =
		bsearch(&tag, ev->r->tags, ev->r->n_tags, sizeof(*ev->r->tags), classify_tag_cmp);
	const struct attr *a = hit ? &ev->attrs[hit - ev->r->tags] : NULL;

	return a && a->present ? (const char *)ev->texts.data + a->off : NULL;
}

static bool eval_set(struct eval *ev, size_t i);

static bool eval_rule(struct eval *ev, const struct classify_rule *rule)
{
	const char *text;
	char fact[32];
	bool v;

	if (rule->op == CLASSIFY_OP_RULE) {
		v = eval_set(ev, rule->ref);
	} else if (rule->fact == CLASSIFY_FACT_N_INSTANCES) {
		bool known = ev->facts && ev->facts->n_instances >= 0;

		snprintf(fact, sizeof(fact), "%ld", known ? ev->facts->n_instances : 0L);
		v = match_attr(rule, known, fact);
	} else if (rule->every_instance && ev->every_ok) {
		v = ev->every_ok[rule->flat];
	} else {
		text = attr_text(ev, rule->tag);
		v = match_attr(rule, text != NULL, text ? text : "");
	}
	return rule->negate ? !v : v;
}

/* Recursion depth is bounded by the number of sets: references form no cycle. */
static bool eval_set(struct eval *ev, size_t i)
{
	const struct classify_set *s = &ev->r->sets[i];
	bool v = true;

	if (ev->result[i])
		return ev->result[i] == 2;
	for (size_t k = 0; k < s->n_rules && v; k++)
		v = eval_rule(ev, &s->rules[k]);
	ev->result[i] = v ? 2 : 1;
	return v;
}

static int eval_init(struct eval *ev, const struct classify_rules *r,
		     const struct classify_series_facts *facts)
{
	memset(ev, 0, sizeof(*ev));
	ev->r = r;
	ev->facts = facts;
	buf_init(&ev->texts, CLASSIFY_MAX_COLLECTED);
	ev->attrs = calloc(r->n_tags ? r->n_tags : 1, sizeof(*ev->attrs));
	ev->result = calloc(r->n_sets, sizeof(*ev->result));
	return ev->attrs && ev->result ? 0 : -ENOMEM;
}

static void eval_release(struct eval *ev)
{
	free(ev->every_ok);
	free(ev->result);
	free(ev->attrs);
	buf_release(&ev->texts);
}

/* Clears every_ok[rule] for each every-instance rule that fails in this instance. */
static void every_apply(struct eval *ev, const struct eval *one)
{
	for (size_t i = 0; i < ev->r->n_sets; i++) {
		const struct classify_set *s = &ev->r->sets[i];

		for (size_t k = 0; k < s->n_rules; k++) {
			const struct classify_rule *rule = &s->rules[k];
			const char *text = attr_text(one, rule->tag);

			if (rule->every_instance &&
			    !match_attr(rule, text != NULL, text ? text : ""))
				ev->every_ok[rule->flat] = false;
		}
	}
}

/* "SeriesLevel" rules on a tag: does each hold in every instance of facts->all? */
static int every_check(struct eval *ev, struct fiona_err *err)
{
	const struct classify_rules *r = ev->r;
	struct eval one;
	int rc;

	if (!r->has_every || !ev->facts || !ev->facts->all || !ev->facts->n_all)
		return 0;
	ev->every_ok = malloc(r->n_rules * sizeof(*ev->every_ok));
	if (!ev->every_ok)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_rules; i++)
		ev->every_ok[i] = true;
	rc = eval_init(&one, r, NULL);
	for (size_t k = 0; !rc && k < ev->facts->n_all; k++) {
		buf_reset(&one.texts);
		memset(one.attrs, 0, (r->n_tags ? r->n_tags : 1) * sizeof(*one.attrs));
		rc = collect(&one, ev->facts->all[k].p, ev->facts->all[k].n, err);
		if (!rc)
			every_apply(ev, &one);
	}
	eval_release(&one);
	return rc;
}

static int write_labels(struct eval *ev, char *out, size_t cap)
{
	const struct classify_rules *r = ev->r;
	size_t used = 0;

	if (cap == 0)
		return -ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < r->n_sets; i++) {
		bool seen = false;
		size_t len = strlen(r->sets[i].type);

		if (!eval_set(ev, i))
			continue;
		for (size_t j = 0; j < i && !seen; j++) /* one label per type */
			seen = ev->result[j] == 2 && !strcmp(r->sets[j].type, r->sets[i].type);
		if (seen)
			continue;
		if (used + (used > 0) + len + 1 > cap)
			return -ENOSPC;
		if (used > 0)
			out[used++] = ',';
		memcpy(out + used, r->sets[i].type, len + 1);
		used += len;
	}
	return 0;
}

int classify_series(const struct classify_rules *r, const uint8_t *p, size_t n,
		    const struct classify_series_facts *facts, char *out, size_t cap,
		    struct fiona_err *err)
{
	struct eval ev;
	char *labels = malloc(cap ? cap : 1);
	int rc = eval_init(&ev, r, facts);

	if (!rc && !labels)
		rc = -ENOMEM;
	rc = rc ? rc : collect(&ev, p, n, err);
	rc = rc ? rc : every_check(&ev, err);
	if (rc)
		goto fail;
	rc = write_labels(&ev, labels, cap);
	if (rc) {
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "labels do not fit in %zu bytes",
			cap);
		goto fail;
	}
	memcpy(out, labels, strlen(labels) + 1);
fail:
	if (rc == -ENOMEM)
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	free(labels);
	eval_release(&ev);
	return rc;
}

/* ---- series from files -------------------------------------------------------------- */

/* Maps a whole file read-only and closes the descriptor at once: a series may have more
 * instances than a process may hold open files. */
static int map_instance(const char *path, struct classify_instance *in)
{
	struct stat st;
	void *p = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_size == 0)
		rc = -EINVAL;
	if (!rc) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		rc = p == MAP_FAILED ? -errno : 0;
	}
	close(fd);
	if (rc)
		return rc;
	in->p = p;
	in->n = (size_t)st.st_size;
	return 0;
}

int classify_series_files(const struct classify_rules *r, char *const *paths, size_t n, char *out,
			  size_t cap, size_t *bad, struct fiona_err *err)
{
	struct classify_instance *all = n ? calloc(n, sizeof(*all)) : NULL;
	struct classify_series_facts facts = {(long)n, all, n};
	size_t mapped = 0;
	int rc = all ? 0 : (n ? -ENOMEM : -EINVAL);

	*bad = n;
	while (!rc && mapped < n) {
		rc = map_instance(paths[mapped], &all[mapped]);
		if (rc)
			*bad = mapped;
		else
			mapped++;
	}
	if (rc)
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s",
			n ? strerror(-rc) : "a series without instances");
	else if ((rc = classify_series(r, all[0].p, all[0].n, &facts, out, cap, err)) != 0)
		*bad = 0;
	for (size_t i = 0; i < mapped; i++)
		munmap((void *)all[i].p, all[i].n);
	free(all);
	return rc;
}

/* ---- default rules ---------------------------------------------------------------- */

/*
 * Labels from acquisition physics rather than free-text descriptions where possible
 * (descriptions differ per site and language). Helper sets ("MR") are labels too, which
 * keeps the output honest about why a series got its other labels.
 */
/* clang-format off: one JSON line per source line reads better than reflowed text */
static const char default_rules[] =
	"[\n"
	" {\"type\": \"MR\", \"id\": \"mr\", \"description\": \"magnetic resonance\",\n"
	"  \"rules\": [{\"tag\": \"Modality\", \"operator\": \"==\", \"value\": \"MR\"}]},\n"
	" {\"type\": \"CT\", \"id\": \"ct\",\n"
	"  \"rules\": [{\"tag\": \"Modality\", \"operator\": \"==\", \"value\": \"CT\"}]},\n"
	" {\"type\": \"SC\", \"id\": \"sc\", \"description\": \"secondary capture\",\n"
	"  \"rules\": [{\"tag\": \"SOPClassUID\", \"operator\": \"regexp\",\n"
	"   \"value\": \"^1[.]2[.]840[.]10008[.]5[.]1[.]4[.]1[.]1[.]7([.][1-4])?$\"}]},\n"
	" {\"type\": \"burned-in\", \"description\": \"burned-in annotation declared\",\n"
	"  \"rules\": [{\"tag\": \"BurnedInAnnotation\", \"operator\": \"==\", "
	"\"value\": \"YES\"}]},\n"
	" {\"type\": \"localizer\", \"id\": \"localizer\",\n"
	"  \"rules\": [{\"tag\": \"ImageType\", \"operator\": \"contains\", \"value\": "
	"\"LOCALIZER\"}]},\n"
	" {\"type\": \"localizer\", \"id\": \"localizer-name\",\n"
	"  \"rules\": [{\"tag\": \"SeriesDescription\", \"operator\": \"regexp\",\n"
	"   \"value\": \"[Ll][Oo][Cc][Aa][Ll][Ii][Zz]|"
	"[Ss][Cc][Oo][Uu][Tt]|[Ss][Uu][Rr][Vv][Ee][Yy]\"}]},\n"
	" {\"type\": \"mosaic\", \"description\": \"Siemens mosaic (several slices per "
	"image)\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"ImageType\", \"operator\": \"contains\", \"value\": \"MOSAIC\"}]},\n"
	" {\"type\": \"DWI\", \"id\": \"dwi-sequence\", \"description\": \"diffusion EPI\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"ScanningSequence\", \"operator\": \"contains\", \"value\": \"EP\"},\n"
	"   {\"tag\": \"SequenceName\", \"operator\": \"regexp\", \"value\": "
	"\"ep_b|diff|[Dd][Ww][Ii]\"}]},\n"
	" {\"type\": \"DWI\", \"id\": \"dwi-bvalue\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"DiffusionBValue\", \"operator\": \">\", \"value\": 0}]},\n"
	" {\"type\": \"DTI\", \"description\": \"diffusion tensor (by series description)\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"SeriesDescription\", \"operator\": \"regexp\",\n"
	"    \"value\": \"[Dd][Tt][Ii]|[Tt][Ee][Nn][Ss][Oo][Rr]\"}]},\n"
	" {\"type\": \"FLAIR\", \"id\": \"flair\", \"description\": \"fluid-attenuated "
	"inversion recovery\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"ScanningSequence\", \"operator\": \"contains\", \"value\": \"IR\"},\n"
	"   {\"tag\": \"InversionTime\", \"operator\": \">\", \"value\": 1500},\n"
	"   {\"tag\": \"RepetitionTime\", \"operator\": \">\", \"value\": 4000}]},\n"
	" {\"type\": \"T1\", \"id\": \"t1-short-tr\", \"description\": \"short TR, short TE\",\n"
	"  \"rules\": [{\"rule\": \"mr\"}, {\"rule\": \"localizer\", \"negate\": true},\n"
	"   {\"tag\": \"ScanningSequence\", \"operator\": \"contains\", \"value\": "
	"\"EP\", \"negate\": true},\n"
	"   {\"tag\": \"RepetitionTime\", \"operator\": \"<\", \"value\": 1000},\n"
	"   {\"tag\": \"EchoTime\", \"operator\": \"<\", \"value\": 30}]},\n"
	" {\"type\": \"T1\", \"id\": \"t1-mprage\", \"description\": \"inversion "
	"prepared gradient echo\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"ScanningSequence\", \"operator\": \"contains\", \"value\": \"IR\"},\n"
	"   {\"tag\": \"InversionTime\", \"operator\": \"<\", \"value\": 1500},\n"
	"   {\"tag\": \"EchoTime\", \"operator\": \"<\", \"value\": 10}]},\n"
	" {\"type\": \"T1\", \"id\": \"t1-enhanced\", \"description\": \"enhanced MR: "
	"declared contrast\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"AcquisitionContrast\", \"operator\": \"==\", \"value\": \"T1\"}]},\n"
	" {\"type\": \"T2\", \"id\": \"t2\", \"description\": \"long TR, long TE, no "
	"inversion, no EPI\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"ScanningSequence\", \"operator\": \"regexp\", \"value\": "
	"\"IR|EP\", \"negate\": true},\n"
	"   {\"tag\": \"RepetitionTime\", \"operator\": \">\", \"value\": 2000},\n"
	"   {\"tag\": \"EchoTime\", \"operator\": \">\", \"value\": 60}]},\n"
	" {\"type\": \"T2\", \"id\": \"t2-enhanced\", \"description\": \"enhanced MR: "
	"declared contrast\",\n"
	"  \"rules\": [{\"rule\": \"mr\"},\n"
	"   {\"tag\": \"AcquisitionContrast\", \"operator\": \"==\", \"value\": \"T2\"}]},\n"
	" {\"type\": \"3D\",\n"
	"  \"rules\": [{\"tag\": \"MRAcquisitionType\", \"operator\": \"==\", \"value\": "
	"\"3D\"}]},\n"
	" {\"type\": \"multiframe\",\n"
	"  \"rules\": [{\"tag\": \"NumberOfFrames\", \"operator\": \">\", \"value\": 1}]},\n"
	" {\"type\": \"single-image\", \"description\": \"one instance with one frame\",\n"
	"  \"rules\": [{\"check\": \"SeriesLevel\", \"tag\": \"NumberOfInstances\", "
	"\"operator\": \"==\",\n"
	"    \"value\": 1},\n"
	"   {\"tag\": \"NumberOfFrames\", \"operator\": \">\", \"value\": 1, \"negate\": "
	"true}]},\n"
	" {\"type\": \"GE\",\n"
	"  \"rules\": [{\"tag\": \"Manufacturer\", \"operator\": \"regexp\",\n"
	"   \"value\": \"^GE |GE MEDICAL|GE HEALTHCARE|General Electric\"}]},\n"
	" {\"type\": \"SIEMENS\",\n"
	"  \"rules\": [{\"tag\": \"Manufacturer\", \"operator\": \"regexp\",\n"
	"   \"value\": \"[Ss][Ii][Ee][Mm][Ee][Nn][Ss]\"}]},\n"
	" {\"type\": \"PHILIPS\",\n"
	"  \"rules\": [{\"tag\": \"Manufacturer\", \"operator\": \"regexp\",\n"
	"   \"value\": \"[Pp][Hh][Ii][Ll][Ii][Pp][Ss]\"}]}\n"
	"]\n";
/* clang-format on */

const char *classify_default_rules_json(void)
{
	return default_rules;
}
