/*
 * Tests for store/classify.c and classify_ops.c: every operator, negate, references,
 * cycles refused, errors that name the place, series-level checks, tag spellings,
 * binary numbers, and the default rules on the synthetic corpus (tests/gen/gen_corpus).
 */
#include "core/core.h"

#include <errno.h>
#include <unistd.h>

#include "anon/anon.h"
#include "store/store.h"
#include "tests/unit/tt.h"

#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define UID_MR	    "1.2.840.10008.5.1.4.1.1.4"

/* A synthetic MR instance with the attributes the rules below look at. */
static int make_mr_te(struct buf *b, const char *te)
{
	static const struct dcm_meta m = {UID_MR, "2.25.1234", TS_EXPLICIT};
	uint16_t rows = 256;
	double bval = 1000.0;
	int rc = dcm_write_part10_header(b, &m);

	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0008), DCM_VR('C', 'S'),
				     "ORIGINAL\\PRIMARY\\M\\ND");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), UID_MR);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'),
				     " T1 MPRAGE sag ");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0020), DCM_VR('C', 'S'), "GR\\IR");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0080), DCM_VR('D', 'S'), "2300");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0081), DCM_VR('D', 'S'), te);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0082), DCM_VR('D', 'S'), "900");
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0018, 0x9087), DCM_VR('F', 'D'), &bval, 8);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0019, 0x0010), DCM_VR('L', 'O'), "ACME HDR");
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0019, 0x100C), DCM_VR_UN, "1000", 4);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x0037), DCM_VR('D', 'S'),
				     "1\\0\\0\\0\\0.9999\\-0.01");
	return rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), &rows, 2);
}

static int make_mr(struct buf *b)
{
	return make_mr_te(b, "2.98");
}

/* Labels of rules (JSON) on the MR instance; "ERR:<reason>" if parsing fails. */
static const char *run(const char *json, long n_instances, char *out, size_t cap)
{
	struct classify_series_facts facts = {n_instances};
	struct classify_rules *r = NULL;
	struct fiona_err err = {0};
	struct buf b;
	int rc;

	buf_init(&b, 1 << 20);
	if (classify_rules_parse(json, strlen(json), &r, &err)) {
		snprintf(out, cap, "ERR:%s", err.reason);
		buf_release(&b);
		return out;
	}
	rc = make_mr(&b);
	rc = rc ? rc : classify_series(r, b.data, b.len, n_instances < 0 ? NULL : &facts, out,
				       cap, &err);
	if (rc)
		snprintf(out, cap, "FAILED:%d", rc);
	classify_rules_free(r);
	buf_release(&b);
	return out;
}

/* One rule set per line: label L if {tag, op, value} holds. */
#define ONE(label, rule) "{\"type\": \"" label "\", \"rules\": [" rule "]}"

static void t_string_operators(struct tt *t)
{
	char out[256];

	run("[" ONE("eq", "{\"tag\": \"Modality\", \"operator\": \"==\", \"value\": \"MR\"}") ","
	    ONE("eqno", "{\"tag\": \"Modality\", \"operator\": \"==\", \"value\": \"CT\"}") ","
	    ONE("ne", "{\"tag\": \"Modality\", \"operator\": \"!=\", \"value\": \"CT\"}") ","
	    ONE("neno", "{\"tag\": \"Modality\", \"operator\": \"!=\", \"value\": \"MR\"}") ","
	    ONE("trim", "{\"tag\": \"SeriesDescription\", \"operator\": \"==\","
			" \"value\": \"T1 MPRAGE sag\"}") ","
	    ONE("re", "{\"tag\": \"SeriesDescription\", \"operator\": \"regexp\","
		      " \"value\": \"^T1 MP[A-Z]+ sag$\"}") ","
	    ONE("tame", "{\"tag\": \"SeriesDescription\", \"operator\": \"regexp\","
			" \"value\": \"^(T[12]) [A-Z]{2,8} (sag|cor)$\"}") ","
	    ONE("reno", "{\"tag\": \"SeriesDescription\", \"operator\": \"regexp\","
			" \"value\": \"T2\"}") ","
	    ONE("has", "{\"tag\": \"ImageType\", \"operator\": \"contains\", \"value\": \"PRIMARY\"}") ","
	    ONE("hasany", "{\"tag\": \"ImageType\", \"operator\": \"contains\","
			  " \"value\": [\"MOSAIC\", \"ND\"]}") ","
	    ONE("hasno", "{\"tag\": \"ImageType\", \"operator\": \"contains\", \"value\": \"MOSAIC\"}") ","
	    ONE("multi", "{\"tag\": \"ImageType\", \"operator\": \"==\","
			 " \"value\": \"ORIGINAL\\\\PRIMARY\\\\M\\\\ND\"}") ","
	    ONE("multilist", "{\"tag\": \"ScanningSequence\", \"operator\": \"==\","
			     " \"value\": [\"GR\", \"IR\"]}") ","
	    ONE("multishort", "{\"tag\": \"ScanningSequence\", \"operator\": \"==\","
			      " \"value\": \"GR\"}") ","
	    ONE("ex", "{\"tag\": \"EchoTime\", \"operator\": \"exist\"}") ","
	    ONE("exno", "{\"tag\": \"PatientName\", \"operator\": \"exist\"}") ","
	    ONE("nex", "{\"tag\": \"PatientName\", \"operator\": \"notexist\"}") ","
	    ONE("nexno", "{\"tag\": \"Modality\", \"operator\": \"notexist\"}") ","
	    ONE("absent", "{\"tag\": \"PatientName\", \"operator\": \"!=\", \"value\": \"X\"}") "]",
	    -1, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "eq,ne,trim,re,tame,has,hasany,multi,multilist,ex,nex"), "%.300s", out);
}

static void t_numeric_operators(struct tt *t)
{
	char out[256];

	run("[" ONE("lt", "{\"tag\": \"EchoTime\", \"operator\": \"<\", \"value\": 3}") ","
	    ONE("ltno", "{\"tag\": \"EchoTime\", \"operator\": \"<\", \"value\": 2.98}") ","
	    ONE("gt", "{\"tag\": \"RepetitionTime\", \"operator\": \">\", \"value\": \"2000\"}") ","
	    ONE("gtno", "{\"tag\": \"RepetitionTime\", \"operator\": \">\", \"value\": 2300}") ","
	    ONE("numeq", "{\"tag\": \"RepetitionTime\", \"operator\": \"==\", \"value\": 2300.0}") ","
	    ONE("us", "{\"tag\": \"Rows\", \"operator\": \"==\", \"value\": 256}") ","
	    ONE("usgt", "{\"tag\": \"Rows\", \"operator\": \">\", \"value\": 255}") ","
	    ONE("fd", "{\"tag\": \"DiffusionBValue\", \"operator\": \"approx\", \"value\": 1000}") ","
	    ONE("ap", "{\"tag\": \"ImageOrientationPatient\", \"operator\": \"approx\","
		      " \"value\": [1, 0, 0, 0, 1, 0], \"tolerance\": 0.05}") ","
	    ONE("apno", "{\"tag\": \"ImageOrientationPatient\", \"operator\": \"approx\","
			" \"value\": [1, 0, 0, 0, 1, 0], \"tolerance\": 0.001}") ","
	    ONE("apcount", "{\"tag\": \"ImageOrientationPatient\", \"operator\": \"approx\","
			   " \"value\": [1, 0, 0], \"tolerance\": 0.05}") ","
	    ONE("un", "{\"tag\": \"0019,100C\", \"operator\": \"==\", \"value\": 1000}") ","
	    ONE("txt", "{\"tag\": \"Modality\", \"operator\": \"<\", \"value\": 5}") "]",
	    -1, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "lt,gt,numeq,us,usgt,fd,ap,un"), "%.300s", out);
}

static void t_negate_and_tags(struct tt *t)
{
	char out[256];

	run("[" ONE("n1", "{\"tag\": \"Modality\", \"operator\": \"==\", \"value\": \"CT\","
		      " \"negate\": true}") ","
	    ONE("n2", "{\"tag\": \"Modality\", \"operator\": \"==\", \"value\": \"MR\","
		      " \"negate\": \"yes\"}") ","
	    ONE("n3", "{\"tag\": \"PatientName\", \"operator\": \"exist\", \"negate\": \"yes\"}") ","
	    ONE("hex", "{\"tag\": \"0008,0060\", \"operator\": \"==\", \"value\": \"MR\"}") ","
	    ONE("paren", "{\"tag\": \"(0008,0060)\", \"operator\": \"==\", \"value\": \"MR\"}") ","
	    ONE("arr", "{\"tag\": [8, 96], \"operator\": \"==\", \"value\": \"MR\"}") ","
	    ONE("arrhex", "{\"tag\": [\"0x0008\", \"0060\"], \"operator\": \"==\", \"value\": \"MR\"}") ","
	    ONE("desc", "{\"tag\": [8, 4158], \"operator\": \"contains\", \"value\": \"MPRAGE\"}") "]",
	    -1, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "n1,n3,hex,paren,arr,arrhex,desc"), "%.300s", out);
}

static void t_references(struct tt *t)
{
	char out[256];

	/* "T1" refers forward to "mr"; "notct" negates a reference; same type printed once. */
	run("[{\"type\": \"T1\", \"rules\": [{\"rule\": \"mr\"}, {\"rule\": \"ir\"}]},"
	    " {\"type\": \"T1\", \"rules\": [{\"rule\": \"mr\"}]},"
	    " {\"type\": \"MR\", \"id\": \"mr\", \"rules\": [{\"tag\": \"Modality\","
	    "  \"operator\": \"==\", \"value\": \"MR\"}]},"
	    " {\"type\": \"IR\", \"id\": \"ir\", \"rules\": [{\"tag\": \"ScanningSequence\","
	    "  \"operator\": \"contains\", \"value\": \"IR\"}]},"
	    " {\"type\": \"CT\", \"id\": \"ct\", \"rules\": [{\"tag\": \"Modality\","
	    "  \"operator\": \"==\", \"value\": \"CT\"}]},"
	    " {\"type\": \"notct\", \"rules\": [{\"rule\": \"ct\", \"negate\": true}]},"
	    " {\"type\": \"ctt1\", \"rules\": [{\"rule\": \"ct\"}, {\"rule\": \"mr\"}]}]",
	    -1, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "T1,MR,IR,notct"), "%.300s", out);
}

static void t_cycles_refused(struct tt *t)
{
	char out[512];

	run("[{\"type\": \"A\", \"id\": \"a\", \"rules\": [{\"rule\": \"b\"}]},"
	    " {\"type\": \"B\", \"id\": \"b\", \"rules\": [{\"rule\": \"c\"}]},"
	    " {\"type\": \"C\", \"id\": \"c\", \"rules\": [{\"rule\": \"a\"}]}]",
	    -1, out, sizeof(out));
	TT_CHECK_MSG(t, strstr(out, "ERR:rule set 2 (id \"c\"): rules[0].rule: reference cycle"),
		     "%.300s", out);
	run("[{\"type\": \"S\", \"id\": \"self\", \"rules\": [{\"rule\": \"self\"}]}]", -1, out,
	    sizeof(out));
	TT_CHECK_MSG(t, strstr(out, "ERR:rule set 0 (id \"self\")") && strstr(out, "cycle"), "%.300s",
		     out);
	/* A diamond is no cycle. */
	run("[{\"type\": \"A\", \"id\": \"a\", \"rules\": [{\"rule\": \"b\"}, {\"rule\": \"c\"}]},"
	    " {\"type\": \"B\", \"id\": \"b\", \"rules\": [{\"rule\": \"d\"}]},"
	    " {\"type\": \"C\", \"id\": \"c\", \"rules\": [{\"rule\": \"d\"}]},"
	    " {\"type\": \"D\", \"id\": \"d\", \"rules\": ["
	    "{\"tag\": \"Rows\", \"operator\": \"exist\"}]}]",
	    -1, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "A,B,C,D"), "%.300s", out);
}

#define RE(p) "[{\"type\": \"A\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"regexp\", " \
	      "\"value\": \"" p "\"}]}]"

static void expect_err(struct tt *t, const char *json, const char *want)
{
	char out[512];

	run(json, -1, out, sizeof(out));
	TT_CHECK_MSG(t, !strncmp(out, "ERR:", 4) && strstr(out, want), "want \"%.100s\", got %.300s", want,
		     out);
}

static void t_errors_name_the_place(struct tt *t)
{
	struct classify_rules *r = NULL;
	struct fiona_err err = {0};

	TT_CHECK(t, classify_rules_parse("[\n {\"type\": ", 12, &r, &err) == -EINVAL);
	TT_CHECK_MSG(t, strstr(err.reason, "line 2") && err.offset != CORE_NO_OFFSET, "%.300s",
		     err.reason);
	TT_CHECK(t, classify_rules_load("/nonexistent/rules.json", &r, &err) == -ENOENT);
	TT_CHECK(t, strstr(err.reason, "/nonexistent/rules.json"));
	TT_CHECK(t, r == NULL);
	expect_err(t, "{}", "top level");
	expect_err(t, "[]", "top level");
	expect_err(t, "[{\"id\": \"x\", \"rules\": []}]", "rule set 0 (id \"x\"): type: missing");
	expect_err(t, "[{\"type\": \"a,b\", \"rules\": [{\"rule\": \"x\"}]}]", "type: no commas");
	expect_err(t, "[{\"type\": \"A\", \"rules\": []}]", "rule set 0: rules:");
	expect_err(t, "[{\"type\": \"A\", \"colour\": 1, \"rules\": []}]", "colour: unknown key");
	expect_err(t,
		   "[{\"type\": \"A\", \"rules\": [{\"rule\": \"x\"}]},"
		   " {\"type\": \"B\", \"id\": \"b\", \"rules\": [{\"tag\": \"Rows\","
		   " \"operator\": \"~\", \"value\": 1}]}]",
		   "rule set 1 (id \"b\"): rules[0].operator:");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": \"NoSuchKeyword\","
		      " \"operator\": \"exist\"}]}]",
		   "rules[0].tag: unknown attribute keyword");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": [8], \"operator\": \"exist\"}]}]",
		   "rules[0].tag: expected [group, element]");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"regexp\","
		      " \"value\": \"(\"}]}]",
		   "rules[0].value: not a valid");
	/* Patterns that blow up glibc regcomp/regexec are refused (found by fuzzing). */
	expect_err(t, RE("a++"), "rules[0].value: regexp refused: stacked repetitions");
	expect_err(t, RE("a{2}{2}"), "regexp refused: stacked repetitions");
	expect_err(t, RE("a{33}"), "regexp refused: bounds");
	expect_err(t, RE("(a)\\\\1"), "regexp refused: back-references");
	expect_err(t, RE("(((((((((((a+)+)+)+)+)+)+)+)+)+)+)+"), "regexp refused: too many");
	expect_err(t, RE("[a+]{32}(b{32})+"), "regexp refused: too many");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"<\","
		      " \"value\": \"abc\"}]}]",
		   "rules[0].value: operator needs numbers");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"==\"}]}]",
		   "rules[0].value: missing");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"exist\","
		      " \"value\": 1}]}]",
		   "rules[0].value: exist/notexist take no value");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"==\","
		      " \"value\": 1, \"tolerance\": 1}]}]",
		   "rules[0].tolerance");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"exist\","
		      " \"negate\": \"maybe\"}]}]",
		   "rules[0].negate");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"rule\": \"nope\"}]}]",
		   "rule set 0: rules[0].rule: no rule set has id \"nope\"");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"rule\": \"x\", \"tag\": \"Rows\"}]}]",
		   "rules[0].rule: a reference takes no");
	expect_err(t,
		   "[{\"type\": \"A\", \"id\": \"x\", \"rules\": [{\"tag\": \"Rows\", \"operator\": \"exist\"}]},"
		   " {\"type\": \"B\", \"id\": \"x\", \"rules\": ["
		   "{\"tag\": \"Rows\", \"operator\": \"exist\"}]}]",
		   "rule set 1 (id \"x\"): id: duplicate of rule set 0");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"check\": \"StudyLevel\", \"tag\": \"Rows\","
		      " \"operator\": \"exist\"}]}]",
		   "rules[0].check");
	expect_err(t, "[{\"type\": \"A\", \"rules\": [{\"check\": \"SeriesLevel\", \"tag\": \"Rowz\","
		      " \"operator\": \"exist\"}]}]",
		   "rules[0].tag: unknown attribute keyword");
}

static void t_series_level(struct tt *t)
{
	const char *rules =
		"[" ONE("many", "{\"check\": \"SeriesLevel\", \"tag\": \"NumberOfInstances\","
				" \"operator\": \">\", \"value\": 10}") ","
		ONE("one", "{\"check\": \"SeriesLevel\", \"tag\": \"NumberOfInstances\","
			   " \"operator\": \"==\", \"value\": 1}") ","
		ONE("known", "{\"check\": \"SeriesLevel\", \"tag\": \"InstanceCount\","
			     " \"operator\": \"exist\"}") "]";
	char out[128];

	run(rules, 20, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "many,known"), "%.300s", out);
	run(rules, 1, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "one,known"), "%.300s", out);
	run(rules, -1, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, ""), "%.300s", out);
}

/* SeriesLevel on a tag: the rule must hold in every instance given in facts.all. */
static void t_series_every_instance(struct tt *t)
{
	const char *rules =
		"[" ONE("sameTE", "{\"check\": \"SeriesLevel\", \"tag\": \"EchoTime\","
				  " \"operator\": \"==\", \"value\": 2.98}") ","
		ONE("shortTE", "{\"check\": \"SeriesLevel\", \"tag\": \"EchoTime\","
			       " \"operator\": \"<\", \"value\": 10}") ","
		ONE("firstTE", "{\"tag\": \"EchoTime\", \"operator\": \"==\", \"value\": 2.98}") ","
		ONE("notall", "{\"check\": \"SeriesLevel\", \"tag\": \"EchoTime\","
			      " \"operator\": \"==\", \"value\": 2.98, \"negate\": true}") "]";
	struct classify_instance all[2];
	struct classify_series_facts facts = {2, all, 2};
	struct classify_rules *r = NULL;
	struct fiona_err err = {0};
	struct buf b1, b2;
	char out[64] = "", out1[64] = "";
	int rc;

	buf_init(&b1, 1 << 20);
	buf_init(&b2, 1 << 20);
	rc = classify_rules_parse(rules, strlen(rules), &r, &err);
	rc = rc ? rc : make_mr_te(&b1, "2.98");
	rc = rc ? rc : make_mr_te(&b2, "5");
	all[0] = (struct classify_instance){b1.data, b1.len};
	all[1] = (struct classify_instance){b2.data, b2.len};
	rc = rc ? rc : classify_series(r, b1.data, b1.len, &facts, out, sizeof(out), &err);
	facts.n_all = 1; /* only the first instance */
	rc = rc ? rc : classify_series(r, b1.data, b1.len, &facts, out1, sizeof(out1), &err);
	classify_rules_free(r);
	buf_release(&b1);
	buf_release(&b2);
	TT_CHECK_MSG(t, rc == 0, "%d %s", rc, err.reason);
	TT_CHECK_MSG(t, !strcmp(out, "shortTE,firstTE,notall"), "%s", out);
	TT_CHECK_MSG(t, !strcmp(out1, "sameTE,shortTE,firstTE"), "%s", out1);
	/* Without the instances, the representative stands in. */
	run(rules, 2, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "sameTE,shortTE,firstTE"), "%s", out);
}

static void t_output_space_and_bad_input(struct tt *t)
{
	const char *rules = "[" ONE("MR", "{\"tag\": \"Modality\", \"operator\": \"exist\"}") ","
			    ONE("RowsKnown", "{\"tag\": \"Rows\", \"operator\": \"exist\"}") "]";
	struct classify_rules *r = NULL;
	struct fiona_err err = {0};
	char out[8] = "keep", big[13];
	struct buf b;
	int rc;
	uint8_t junk[300] = {0};

	TT_CHECK(t, classify_rules_parse(rules, strlen(rules), &r, &err) == 0);
	memcpy(junk + 128, "DICM", 4);
	memcpy(junk + 132, "\x02\x00\x10\x00UI\xff\xff", 8); /* longer than the file */
	TT_CHECK(t, classify_series(r, junk, sizeof(junk), NULL, out, sizeof(out), &err) < 0);
	TT_CHECK(t, !strcmp(out, "keep"));
	buf_init(&b, 1 << 20);
	TT_CHECK(t, make_mr(&b) == 0);
	rc = classify_series(r, b.data, b.len, NULL, out, sizeof(out), &err);
	TT_CHECK_MSG(t, rc == -ENOSPC && !strcmp(out, "keep"), "%d %s", rc, out);
	rc = classify_series(r, b.data, b.len, NULL, big, sizeof(big), &err);
	buf_release(&b);
	classify_rules_free(r);
	TT_CHECK_MSG(t, rc == 0 && !strcmp(big, "MR,RowsKnown"), "%d %s", rc, big);
	classify_rules_free(NULL);
}

/* ---- default rules on the synthetic corpus ---------------------------------------- */

static int series_labels(const struct classify_rules *r, const char *dir, const char *series,
			 long n, char *out, size_t cap)
{
	struct classify_series_facts facts = {n};
	struct fiona_err err = {0};
	struct core_map m;
	char path[1300];
	int rc;

	snprintf(path, sizeof(path), "%s/%s/0001.dcm", dir, series);
	rc = core_map_file(path, &m);
	if (rc)
		return rc;
	rc = classify_series(r, m.p, m.len, &facts, out, cap, &err);
	core_map_release(&m);
	return rc;
}

static void t_default_rules_on_corpus(struct tt *t)
{
	static const struct {
		const char *series, *want;
	} want[] = {
		{"P01/ST1_MR/SE01_T1", "MR,T1"},
		{"P01/ST1_MR/SE02_T2", "MR,T2"},
		{"P01/ST1_MR/SE03_DWI", "MR,DWI"},
		{"P01/ST2_CT/SE02_AXIAL", "CT"},
		{"P02/ST2_CT/SE99_DOSE_SC", "CT,SC,burned-in,single-image"},
		{"P01/ST3_MR/SE01_T1_ENH", "MR,T1,multiframe"},
	};
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	const char *def = classify_default_rules_json();
	char tmpl[] = "/tmp/t_classify.XXXXXX", cmd[1024], out[256];
	struct classify_rules *r = NULL;
	struct fiona_err err = {0};
	char *dir = mkdtemp(tmpl);
	int rc;

	TT_CHECK(t, dir != NULL);
	snprintf(cmd, sizeof(cmd), "%s/tools/gen_corpus --preset tiny --seed 3 -o %s/c 2>/dev/null",
		 build, dir);
	rc = system(cmd);
	TT_CHECK_MSG(t, classify_rules_parse(def, strlen(def), &r, &err) == 0, "%s", err.reason);
	snprintf(cmd, sizeof(cmd), "%s/c", dir);
	for (size_t i = 0; rc == 0 && i < CORE_ARRAY_SIZE(want); i++) {
		long n = strstr(want[i].series, "SC") ? 1 : 4;

		rc = series_labels(r, cmd, want[i].series, n, out, sizeof(out));
		if (rc == 0 && strcmp(out, want[i].want)) {
			snprintf(t->why, sizeof(t->why), "%s: got \"%s\", want \"%s\"",
				 want[i].series, out, want[i].want);
			t->failed = 1;
			break;
		}
	}
	classify_rules_free(r);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	TT_CHECK(t, system(cmd) == 0);
	TT_CHECK_MSG(t, rc == 0, "gen_corpus or classify_series failed: %d", rc);
}

TT_MAIN(TT_CASE(t_string_operators), TT_CASE(t_numeric_operators), TT_CASE(t_negate_and_tags),
	TT_CASE(t_references), TT_CASE(t_cycles_refused), TT_CASE(t_errors_name_the_place),
	TT_CASE(t_series_level), TT_CASE(t_series_every_instance),
	TT_CASE(t_output_space_and_bad_input),
	TT_CASE(t_default_rules_on_corpus))
