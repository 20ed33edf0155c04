/* Unit tests for the export profile keys (anon/deid_export.c): participant_rewrite,
 * rewrite and normalize rules, leave_out and zip_layout — their parsing (every error names
 * its JSON path), the regex replacement and normalization, and what the engine writes
 * with them: PatientID/PatientName and {participant} templates rewritten, date shifts
 * unchanged (they stay keyed on the participant itself), a rule applied to the
 * de-identified value, never the original. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>

#include "anon/anon.h"
#include "anon/deid_int.h"

static struct deid_profile *parse(const char *json, struct fiona_err *err)
{
	struct deid_profile *p = NULL;

	memset(err, 0, sizeof(*err));
	return deid_profile_parse((const uint8_t *)json, strlen(json), &p, err) ? NULL : p;
}

static void test_parse_keys(struct tt *t)
{
	struct fiona_err err;
	struct deid_profile *p = parse(
		"{\"participant_rewrite\": {\"regex\": \"_\", \"replace\": \"-\"},"
		" \"leave_out\": {\"presentation_states\": true, \"secondary_captures\": false,"
		" \"sop_classes\": [\"1.2.840.10008.5.1.4.1.1.104.1\"]},"
		" \"zip_layout\": \"series\","
		" \"tags\": {\"(0008,103E)\": {\"action\": \"normalize\"},"
		" \"(0018,0015)\": {\"action\": \"rewrite\", \"regex\": \"^(HE)AD$\","
		" \"replace\": \"\\\\1LLO\"}}}",
		&err);
	struct deid_decision d;
	char out[65];

	TT_CHECK_MSG(t, p != NULL, "%s", err.reason);
	TT_CHECK(t, deid_profile_zip_layout(p) == DEID_ZIP_SERIES);
	deid_profile_participant(p, "P_01_a", out);
	TT_CHECK_MSG(t, !strcmp(out, "P-01-a"), "%s", out);
	TT_CHECK(t, deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.11.1", "PR"));
	TT_CHECK(t, deid_profile_leaves_out(p, "", "PR"));
	TT_CHECK(t, !deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.7", "OT"));
	TT_CHECK(t, deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.104.1", "DOC"));
	TT_CHECK(t, !deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.104.12", "DOC"));
	TT_CHECK(t, !deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.4", "MR"));
	/* a rule's decision is the built-in one, with the transform on top */
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'), NULL, NULL, &d) == 0);
	TT_CHECK(t, d.post == DEID_POST_NORMALIZE && d.action == DEID_REMOVE); /* X, no options */
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), NULL, NULL, &d) == 0);
	TT_CHECK(t, d.post == DEID_POST_NONE && d.action == DEID_PARTICIPANT);
	TT_CHECK(t, deid_profile_post(p, DCM_TAG(0x0018, 0x0015), "HEAD", out, sizeof(out)) == 0);
	TT_CHECK_MSG(t, !strcmp(out, "HELLO"), "%s", out);
	TT_CHECK(t, deid_profile_post(p, DCM_TAG(0x0018, 0x0015), "CHEST", out, sizeof(out)) == 0);
	TT_CHECK(t, !strcmp(out, "CHEST"));
	TT_CHECK(t,
		 deid_profile_post(p, DCM_TAG(0x0008, 0x0020), "x", out, sizeof(out)) == -ENOENT);
	deid_profile_free(p);
	/* defaults: folders, nothing left out, the ID as it is */
	TT_CHECK(t, (p = parse("{}", &err)) != NULL);
	TT_CHECK(t, deid_profile_zip_layout(p) == DEID_ZIP_FOLDERS);
	TT_CHECK(t, !deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.11.1", "PR"));
	deid_profile_participant(p, "P_01", out);
	TT_CHECK(t, !strcmp(out, "P_01"));
	deid_profile_free(p);
	TT_CHECK(t, (p = parse("{\"zip_layout\": \"flat\", \"leave_out\": {\"secondary_captures\":"
			       " true}}",
			       &err)) != NULL);
	TT_CHECK(t, deid_profile_zip_layout(p) == DEID_ZIP_FLAT);
	TT_CHECK(t, deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.7", "OT"));
	TT_CHECK(t, deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.7.4", "OT"));
	TT_CHECK(t, !deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.77.1", "OT"));
	deid_profile_free(p);
}

static void test_parse_errors(struct tt *t)
{
	static const struct {
		const char *json, *reason;
	} bad[] = {
		{"{\"zip_layout\": \"tree\"}", "zip_layout: "},
		{"{\"zip_layout\": 1}", "zip_layout: "},
		{"{\"leave_out\": []}", "leave_out: not an object"},
		{"{\"leave_out\": {\"videos\": true}}", "leave_out.videos: unknown key"},
		{"{\"leave_out\": {\"secondary_captures\": 1}}", "leave_out.secondary_captures: "},
		{"{\"leave_out\": {\"sop_classes\": \"1.2\"}}", "leave_out.sop_classes: "},
		{"{\"leave_out\": {\"sop_classes\": [\"1.2\", \"1..2\"]}}",
		 "leave_out.sop_classes[1]: "},
		{"{\"leave_out\": {\"sop_classes\": [\"MR\"]}}", "leave_out.sop_classes[0]: "},
		{"{\"participant_rewrite\": \"_\"}", "participant_rewrite: "},
		{"{\"participant_rewrite\": {\"regex\": \"_\"}}",
		 "participant_rewrite.replace: missing"},
		{"{\"participant_rewrite\": {\"replace\": \"-\"}}",
		 "participant_rewrite.regex: missing"},
		{"{\"participant_rewrite\": {\"regex\": \"_\", \"replace\": \"-\", \"flags\": "
		 "\"g\"}}",
		 "participant_rewrite.flags: unknown key"},
		{"{\"participant_rewrite\": {\"regex\": \"a{1,9}\", \"replace\": \"-\"}}",
		 "participant_rewrite.regex: "},
		{"{\"participant_rewrite\": {\"regex\": \"a+*\", \"replace\": \"-\"}}",
		 "participant_rewrite.regex: "},
		{"{\"participant_rewrite\": {\"regex\": \"(a\", \"replace\": \"-\"}}",
		 "participant_rewrite.regex: regex does not compile"},
		{"{\"participant_rewrite\": {\"regex\": \"(a)\", \"replace\": \"\\\\2\"}}",
		 "participant_rewrite.replace: "},
		{"{\"participant_rewrite\": {\"regex\": \"a\", \"replace\": \"\\\\n\"}}",
		 "participant_rewrite.replace: "},
		{"{\"participant_rewrite\": {\"regex\": \"a\", \"replace\": 5}}",
		 "participant_rewrite.replace: not a string"},
		{"{\"tags\": {\"(0008,103E)\": {\"action\": \"rewrite\", \"replace\": \"x\"}}}",
		 "tags.(0008,103E).regex: "},
		{"{\"tags\": {\"(0008,103E)\": {\"action\": \"rewrite\", \"regex\": \"x\"}}}",
		 "tags.(0008,103E).replace: "},
		{"{\"tags\": {\"(0008,103E)\": {\"action\": \"rewrite\", \"regex\": \"x{2}\","
		 " \"replace\": \"y\"}}}",
		 "tags.(0008,103E).regex: "},
		{"{\"tags\": {\"(0008,103E)\": {\"action\": \"normalize\", \"regx\": \"x\"}}}",
		 "tags.(0008,103E).regx: unknown key"},
		{"{\"tags\": {\"(0008,103E)\": {\"action\": \"normalise\"}}}",
		 "tags.(0008,103E).action: unknown action"},
		{"{\"export\": {}}", "export: unknown key"},
	};
	struct fiona_err err;

	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		struct deid_profile *p = parse(bad[i].json, &err);

		deid_profile_free(p);
		TT_CHECK_MSG(t, p == NULL, "accepted %s", bad[i].json);
		TT_CHECK_MSG(t, !strncmp(err.reason, bad[i].reason, strlen(bad[i].reason)),
			     "%s: reason \"%s\"", bad[i].json, err.reason);
	}
}

static int replace(const char *re, const char *repl, const char *in, char *out, size_t cap)
{
	regex_t *rx = NULL;
	const char *why = NULL;
	int rc = deid_rewrite_compile(re, repl, &rx, &why);

	rc = rc ? rc : deid_regex_replace(rx, repl, in, out, cap);
	if (rx)
		regfree(rx);
	free(rx);
	return rc;
}

/* Expected values are what GNU sed -E 's/re/repl/g' prints for the same input. */
static void test_replace(struct tt *t)
{
	static const struct {
		const char *re, *repl, *in, *want;
	} v[] = {
		{"_", "-", "PROJ01_0001_b", "PROJ01-0001-b"},
		{"_", "-", "none", "none"},
		{"^P([0-9]+)_(.*)$", "\\2-\\1", "P42_x", "x-42"},
		{"x*", "-", "ab", "-a-b-"},
		{"b*", "-", "abc", "-a-c-"},
		{"x*", "-", "abx", "-a-b-"},
		{"$", "!", "ab", "ab!"},
		{"^", ">", "ab", ">ab"},
		{"[^A-Za-z0-9]+", "_", "T1 MPRAGE (sag)", "T1_MPRAGE_sag_"},
		{"a", "\\\\", "banana", "b\\n\\n\\"},
		{"(a)|b", "[\\1]", "ab", "[a][]"},
		{"a", "", "aaa", ""},
		{"a", "\\0\\0", "xa", "xaa"},
	};
	char out[64];

	for (size_t i = 0; i < CORE_ARRAY_SIZE(v); i++) {
		TT_CHECK_MSG(t, replace(v[i].re, v[i].repl, v[i].in, out, sizeof(out)) == 0, "%s",
			     v[i].re);
		TT_CHECK_MSG(t, !strcmp(out, v[i].want), "%s on %s: got \"%s\", want \"%s\"",
			     v[i].re, v[i].in, out, v[i].want);
	}
	TT_CHECK(t, replace("a", "bbbb", "aaaa", out, 16) == -ENOSPC);
	TT_CHECK(t, replace("a", "bbb", "aaaa", out, 13) == 0 && strlen(out) == 12);
	TT_CHECK(t, replace("a", "bbb", "aaaa", out, 12) == -ENOSPC);
}

static void test_normalize(struct tt *t)
{
	static const struct {
		const char *in, *want;
	} v[] = {
		{"T1 MPRAGE (sag)", "T1_MPRAGE_sag"},
		{"  ep2d_diff  b1000 ", "ep2d_diff_b1000"},
		{"__a__", "a"},
		{"***", ""},
		{"", ""},
		{"DWI\\ADC", "DWI_ADC"},
		{"T2 \xc3\xa9t\xc3\xa9", "T2_t"},
		{"abc", "abc"},
	};
	char out[65];

	for (size_t i = 0; i < CORE_ARRAY_SIZE(v); i++) {
		size_t n = deid_normalize(v[i].in, out, sizeof(out));
		TT_CHECK_MSG(t, !strcmp(out, v[i].want) && n == strlen(v[i].want),
			     "\"%s\": got \"%s\"", v[i].in, out);
	}
	TT_CHECK(t, deid_normalize("ab cd", out, 4) == 2 && !strcmp(out, "ab"));
	TT_CHECK(t, deid_normalize("ab cd", out, 5) == 4 && !strcmp(out, "ab_c"));
	/* the participant stays itself when a rewrite would make it empty or too long */
	{
		struct fiona_err err;
		struct deid_profile *p = parse(
			"{\"participant_rewrite\": {\"regex\": \".*\", \"replace\": \"\"}}", &err);
		TT_CHECK(t, p != NULL);
		deid_profile_participant(p, "P_1", out);
		deid_profile_free(p);
		TT_CHECK(t, !strcmp(out, "P_1"));
		p = parse("{\"participant_rewrite\": {\"regex\": \".\", \"replace\":"
			  " \"\\\\0\\\\0\\\\0\\\\0\\\\0\\\\0\"}}",
			  &err);
		TT_CHECK(t, p != NULL);
		deid_profile_participant(p, "P_1_2_3_4_5_6", out);
		deid_profile_free(p);
		TT_CHECK(t, !strcmp(out, "P_1_2_3_4_5_6"));
	}
}

/* An MR instance with a patient name/ID, a description with words of the patient's name,
 * a kept body part, a date and a SET target. */
static int build_instance(struct buf *b)
{
	static const struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.4", "1.2.3.4.5.6.7.8",
					  "1.2.840.10008.1.2.1"};
	int rc = dcm_write_part10_header(b, &m);

	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), m.sop_class_uid);
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), m.sop_instance_uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0020), DCM_VR('D', 'A'), "20230501");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'),
				"T1 mprage (sag) Doe 1234567");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "Doe^Jane");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), "MRN_0042");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0015), DCM_VR('C', 'S'), "HEAD");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000D), DCM_VR('U', 'I'), "1.2.3.4.1");
	return rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000E), DCM_VR('U', 'I'), "1.2.3.4.2");
}

/* The output of the engine under profile json, as bytes in out. */
static int run_engine(const char *json, const struct buf *in, struct buf *out)
{
	struct deid_secret s = {.len = 32};
	struct fiona_err err;
	struct deid_profile *p = parse(json, &err);
	struct deid_plan *plan = NULL;
	struct deid_outcome o;
	struct deid_job job;
	int rc = p ? 0 : -EINVAL;

	for (size_t i = 0; i < s.len; i++)
		s.key[i] = (uint8_t)(i * 5 + 3);
	rc = rc ? rc : deid_job_init(&job, p, &s, "PROJ01", "PROJ01_0007", "baseline");
	rc = rc ? rc : deid_instance_plan(&job, in->data, in->len, &plan, &o, &err);
	if (!rc) {
		uint64_t n = deid_plan_size(plan);
		rc = buf_reserve(out, (size_t)n);
		/* every byte of this plan is its own (no pixel data): no source file needed */
		if (!rc && deid_plan_read(plan, -1, 0, out->data, (size_t)n) != (ssize_t)n)
			rc = -EIO;
		out->len = rc ? 0 : (size_t)n;
	}
	deid_plan_free(plan);
	deid_profile_free(p);
	return rc;
}

static int value_of(const struct buf *b, uint32_t tag, char *out, size_t cap)
{
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	struct fiona_err err;
	int found = 0;

	out[0] = '\0';
	if (dcm_reader_new(b->data, b->len, &r, &err))
		return -1;
	while (!found && dcm_reader_next(r, &e) == 1)
		if (e.kind == DCM_ELEMENT && e.tag == tag && e.depth == 0 && !e.in_meta) {
			dcm_value_str(&e, out, cap);
			found = 1;
		}
	dcm_reader_free(r);
	return found ? 0 : -ENOENT;
}

static void test_engine(struct tt *t)
{
	static const char prof[] =
		"{\"options\": [\"RetainLongModifDates\", \"CleanDescriptors\"],"
		" \"date_shift_days\": [-900, -100],"
		" \"participant_rewrite\": {\"regex\": \"_\", \"replace\": \"-\"},"
		" \"tags\": {\"(0008,103E)\": {\"action\": \"normalize\"},"
		" \"(0018,0015)\": {\"action\": \"rewrite\", \"regex\": \"^HEAD$\", \"replace\": "
		"\"BRAIN\"},"
		" \"(0010,0010)\": {\"action\": \"rewrite\", \"regex\": \"^(.*)$\", \"replace\": "
		"\"SUBJ \\\\1\"},"
		" \"(0008,0080)\": {\"action\": \"set\", \"value\": \"{participant}@{project}\"}}}";
	static const char plain[] =
		"{\"options\": [\"RetainLongModifDates\", \"CleanDescriptors\"],"
		" \"date_shift_days\": [-900, -100]}";
	struct buf in, a, b;
	char v[128], w[128];

	buf_init(&in, 1u << 20);
	buf_init(&a, 1u << 20);
	buf_init(&b, 1u << 20);
	TT_CHECK(t, build_instance(&in) == 0);
	TT_CHECK(t, run_engine(prof, &in, &a) == 0);
	TT_CHECK(t, run_engine(plain, &in, &b) == 0);
	TT_CHECK(t, value_of(&a, DCM_TAG(0x0010, 0x0020), v, sizeof(v)) == 0);
	TT_CHECK_MSG(t, !strcmp(v, "PROJ01-0007"), "PatientID %s", v);
	/* the rule sees the participant the engine writes, never "Doe^Jane" */
	TT_CHECK(t, value_of(&a, DCM_TAG(0x0010, 0x0010), v, sizeof(v)) == 0);
	TT_CHECK_MSG(t, !strcmp(v, "SUBJ PROJ01-0007"), "PatientName %s", v);
	TT_CHECK(t, value_of(&a, DCM_TAG(0x0008, 0x0080), v, sizeof(v)) == 0);
	TT_CHECK_MSG(t, !strcmp(v, "PROJ01-0007@PROJ01"), "InstitutionName %s", v);
	/* cleaned first (the name and the 7 digits go), then normalized */
	TT_CHECK(t, value_of(&a, DCM_TAG(0x0008, 0x103E), v, sizeof(v)) == 0);
	TT_CHECK_MSG(t, !strcmp(v, "T1_mprage_sag"), "SeriesDescription %s", v);
	TT_CHECK(t, value_of(&b, DCM_TAG(0x0008, 0x103E), w, sizeof(w)) == 0);
	TT_CHECK_MSG(t, strcmp(w, v) && !strstr(w, "Doe"), "plain SeriesDescription %s", w);
	TT_CHECK(t, value_of(&a, DCM_TAG(0x0018, 0x0015), v, sizeof(v)) == 0);
	TT_CHECK_MSG(t, !strcmp(v, "BRAIN"), "BodyPartExamined %s", v);
	/* dates stay keyed on the participant itself: the same shift with or without */
	TT_CHECK(t, value_of(&a, DCM_TAG(0x0008, 0x0020), v, sizeof(v)) == 0);
	TT_CHECK(t, value_of(&b, DCM_TAG(0x0008, 0x0020), w, sizeof(w)) == 0);
	TT_CHECK_MSG(t, !strcmp(v, w) && strcmp(v, "20230501"), "%s vs %s", v, w);
	TT_CHECK(t, value_of(&b, DCM_TAG(0x0010, 0x0020), w, sizeof(w)) == 0);
	TT_CHECK(t, !strcmp(w, "PROJ01_0007"));
	buf_release(&in);
	buf_release(&a);
	buf_release(&b);
}

TT_MAIN(TT_CASE(test_parse_keys), TT_CASE(test_parse_errors), TT_CASE(test_replace),
	TT_CASE(test_normalize), TT_CASE(test_engine))
