/*
 * deid_decide() on known rows of Table E.1-1 under different profiles, the project
 * profile's overrides, private tags, ranges, combined codes by IOD type, free text about
 * the patient (removed even where an option gives C), and the profile parser's errors
 * (each naming its key).
 */
#include "core/core.h"
#include "anon/anon.h"
#include "anon/annexe_int.h"
#include "tests/unit/tt.h"

#include <errno.h>

#define VR(a, b) DCM_VR(a, b)
#define CT "1.2.840.10008.5.1.4.1.1.2"
#define EMR "1.2.840.10008.5.1.4.1.1.4.1"

static struct deid_profile *parse(const char *json, struct fiona_err *err)
{
	struct deid_profile *p = NULL;
	struct fiona_err e;

	if (deid_profile_parse((const uint8_t *)json, strlen(json), &p, err ? err : &e) < 0)
		return NULL;
	return p;
}

static enum deid_action act(const struct deid_profile *p, uint32_t tag, uint16_t vr,
			    const char *creator, const char *sop)
{
	struct deid_decision d;
	if (deid_decide(p, tag, vr, creator, sop, &d) < 0)
		return (enum deid_action)-1;
	return d.action;
}

static void t_default_profile(struct tt *t)
{
	struct deid_profile *p = NULL;
	struct deid_decision d;
	int lo, hi;

	TT_CHECK(t, deid_profile_new_default(&p) == 0);
	TT_CHECK(t, act(p, DCM_TAG(0x0010, 0x0010), VR('P', 'N'), NULL, CT) == DEID_PARTICIPANT);
	TT_CHECK(t, act(p, DCM_TAG(0x0010, 0x0020), VR('L', 'O'), NULL, CT) == DEID_PARTICIPANT);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0050), VR('S', 'H'), NULL, CT) == DEID_HASH);
	TT_CHECK(t, act(p, DCM_TAG(0x0020, 0x0010), VR('S', 'H'), NULL, CT) == DEID_HASH);
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x0008, 0x0080), VR('L', 'O'), NULL, CT, &d) == 0);
	TT_CHECK(t, d.action == DEID_SET && !strcmp(d.arg, "{project}"));
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x0008, 0x0090), VR('P', 'N'), NULL, CT, &d) == 0);
	TT_CHECK(t, d.action == DEID_SET && !strcmp(d.arg, "EventName:{event}"));
	/* Modified dates: DA/DT/TM with a C in that column shift */
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0020), VR('D', 'A'), NULL, CT) == DEID_SHIFT);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x002A), VR('D', 'T'), NULL, CT) == DEID_SHIFT);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0030), VR('T', 'M'), NULL, CT) == DEID_SHIFT);
	/* Retain Patient Characteristics: PatientSex K; Clean Descriptors: StudyDescription C */
	TT_CHECK(t, act(p, DCM_TAG(0x0010, 0x0040), VR('C', 'S'), NULL, CT) == DEID_KEEP);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x1030), VR('L', 'O'), NULL, CT) == DEID_CLEAN);
	/* UIDs */
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0018), VR('U', 'I'), NULL, CT) == DEID_UID);
	TT_CHECK(t, act(p, DCM_TAG(0x0020, 0x000D), VR('U', 'I'), NULL, CT) == DEID_UID);
	TT_CHECK(t, act(p, DCM_TAG(0x0002, 0x0003), VR('U', 'I'), NULL, CT) == DEID_UID);
	TT_CHECK(t, act(p, DCM_TAG(0x0002, 0x0010), VR('U', 'I'), NULL, CT) == DEID_KEEP);
	/* not in the table: kept; sequences recurse */
	TT_CHECK(t, act(p, DCM_TAG(0x0028, 0x0010), VR('U', 'S'), NULL, CT) == DEID_KEEP);
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x5200, 0x9229), DCM_VR_SQ, NULL, EMR, &d) == 0);
	TT_CHECK(t, d.action == DEID_KEEP && d.recurse);
	/* ranges: curves and overlays */
	TT_CHECK(t, act(p, DCM_TAG(0x6002, 0x3000), VR('O', 'W'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x6000, 0x4000), VR('L', 'T'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x5000, 0x3000), VR('O', 'W'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x501E, 0x0010), VR('U', 'S'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x6000, 0x0010), VR('U', 'S'), NULL, CT) == DEID_KEEP);
	/* group lengths, private */
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0000), VR('U', 'L'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x0029, 0x0010), VR('L', 'O'), "SIEMENS CSA HEADER", CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x0029, 0x1010), VR('O', 'B'), "SIEMENS CSA HEADER", CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x0019, 0x100C), VR('I', 'S'), "SIEMENS MR HEADER", CT) == DEID_REMOVE);
	deid_profile_date_range(p, &lo, &hi);
	TT_CHECK(t, lo == -3650 && hi == -365);
	deid_profile_free(p);
}

static void t_options_switch(struct tt *t)
{
	struct deid_profile *basic = parse("{}", NULL), *full, *uids, *dev;

	full = parse("{\"options\":[\"RetainLongFullDates\"]}", NULL);
	uids = parse("{\"options\":[\"RetainUIDs\",\"CleanGraphics\"]}", NULL);
	dev = parse("{\"options\":[\"RetainDeviceId\",\"RetainInstitutionId\"]}", NULL);
	TT_CHECK(t, basic && full && uids && dev);
	/* StudyDate: basic Z; full dates K */
	TT_CHECK(t, act(basic, DCM_TAG(0x0008, 0x0020), VR('D', 'A'), NULL, CT) == DEID_EMPTY);
	TT_CHECK(t, act(full, DCM_TAG(0x0008, 0x0020), VR('D', 'A'), NULL, CT) == DEID_KEEP);
	TT_CHECK(t, act(basic, DCM_TAG(0x0008, 0x0018), VR('U', 'I'), NULL, CT) == DEID_UID);
	TT_CHECK(t, act(uids, DCM_TAG(0x0008, 0x0018), VR('U', 'I'), NULL, CT) == DEID_KEEP);
	TT_CHECK(t, act(uids, DCM_TAG(0x0002, 0x0003), VR('U', 'I'), NULL, CT) == DEID_KEEP);
	/* Clean Graphics turns overlay data from X to C */
	TT_CHECK(t, act(uids, DCM_TAG(0x6002, 0x3000), VR('O', 'W'), NULL, CT) == DEID_CLEAN);
	/* StationName X/Z/D: type 3 in CT -> X; unknown IOD -> D; device id option -> K */
	TT_CHECK(t, act(basic, DCM_TAG(0x0008, 0x1010), VR('S', 'H'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(basic, DCM_TAG(0x0008, 0x1010), VR('S', 'H'), NULL, NULL) == DEID_DUMMY);
	TT_CHECK(t, act(dev, DCM_TAG(0x0008, 0x1010), VR('S', 'H'), NULL, CT) == DEID_KEEP);
	TT_CHECK(t, act(basic, DCM_TAG(0x0008, 0x0080), VR('L', 'O'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(dev, DCM_TAG(0x0008, 0x0080), VR('L', 'O'), NULL, CT) == DEID_KEEP);
	deid_profile_free(basic);
	deid_profile_free(full);
	deid_profile_free(uids);
	deid_profile_free(dev);
}

static void t_combined_by_type(struct tt *t)
{
	struct deid_profile *p = parse("{}", NULL);
	struct deid_decision d;

	TT_CHECK(t, p != NULL);
	/* Content Date Z/D: type 1 in enhanced MR -> D; type 2 in CT -> Z; unknown -> D */
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0023), VR('D', 'A'), NULL, EMR) == DEID_DUMMY);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0023), VR('D', 'A'), NULL, CT) == DEID_EMPTY);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0023), VR('D', 'A'), NULL, "1.2.3") == DEID_DUMMY);
	/* Device Serial Number X/Z/D: type 1 in enhanced MR -> D; type 3 in CT -> X */
	TT_CHECK(t, act(p, DCM_TAG(0x0018, 0x1000), VR('L', 'O'), NULL, EMR) == DEID_DUMMY);
	TT_CHECK(t, act(p, DCM_TAG(0x0018, 0x1000), VR('L', 'O'), NULL, CT) == DEID_REMOVE);
	/* Acquisition Date X/Z: type 3 in CT -> X; unknown -> Z */
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0022), VR('D', 'A'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x0022), VR('D', 'A'), NULL, NULL) == DEID_EMPTY);
	/* Source Image Sequence X/Z/U*: unknown IOD -> keep and recurse; CT type 3 -> X */
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x0008, 0x2112), DCM_VR_SQ, NULL, NULL, &d) == 0);
	TT_CHECK(t, d.action == DEID_KEEP && d.recurse);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x2112), DCM_VR_SQ, NULL, CT) == DEID_REMOVE);
	/* Contrast/Bolus Agent Z/D: type 2 in CT -> Z */
	TT_CHECK(t, act(p, DCM_TAG(0x0018, 0x0010), VR('L', 'O'), NULL, CT) == DEID_EMPTY);
	deid_profile_free(p);
}

static void t_project_rules(struct tt *t)
{
	static const char json[] =
		"{\"options\":[\"RetainSafePrivate\"],\"date_shift_days\":[-30,30],"
		"\"tags\":{\"(0008,0080)\":{\"action\":\"set\",\"value\":\"{project}\"},"
		"\"(0010,4000)\":{\"action\":\"remove\"},"
		"\"(0010,0020)\":{\"action\":\"capture\",\"regex\":\"^(P[0-9]+)\"},"
		"\"(0008,1030)\":{\"action\":\"keep\"}},"
		"\"keep_private\":[{\"creator\":\"ACME 1.0\",\"element\":\"0x10\"},"
		"{\"group\":\"0x0041\",\"creator\":\"ACME SEQ\",\"element\":\"0x20\"}]}";
	struct deid_profile *p = parse(json, NULL);
	struct deid_code codes[4];
	struct deid_decision d;
	int lo, hi;

	TT_CHECK(t, p != NULL);
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x0010, 0x0020), VR('L', 'O'), NULL, CT, &d) == 0);
	TT_CHECK(t, d.action == DEID_CAPTURE && !strcmp(d.arg, "^(P[0-9]+)"));
	TT_CHECK(t, act(p, DCM_TAG(0x0010, 0x4000), VR('L', 'T'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x0008, 0x1030), VR('L', 'O'), NULL, CT) == DEID_KEEP);
	/* private kept by (creator, element) in any group, or in one group only */
	TT_CHECK(t, act(p, DCM_TAG(0x0011, 0x0010), VR('L', 'O'), "ACME 1.0", CT) == DEID_KEEP);
	TT_CHECK(t, act(p, DCM_TAG(0x0011, 0x1010), VR('L', 'O'), "ACME 1.0", CT) == DEID_KEEP);
	TT_CHECK(t, act(p, DCM_TAG(0x0011, 0x1011), VR('L', 'O'), "ACME 1.0", CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x0011, 0x1010), VR('L', 'O'), "ACME 2.0", CT) == DEID_REMOVE);
	TT_CHECK(t, act(p, DCM_TAG(0x0011, 0x1010), VR('L', 'O'), NULL, CT) == DEID_REMOVE);
	TT_CHECK(t, deid_decide(p, DCM_TAG(0x0041, 0x1020), DCM_VR_SQ, "ACME SEQ", CT, &d) == 0);
	TT_CHECK(t, d.action == DEID_KEEP && d.recurse);
	TT_CHECK(t, act(p, DCM_TAG(0x0043, 0x1020), DCM_VR_SQ, "ACME SEQ", CT) == DEID_REMOVE);
	/* built-in safe list under Retain Safe Private */
	TT_CHECK(t, act(p, DCM_TAG(0x0019, 0x100C), VR('I', 'S'), "SIEMENS MR HEADER", CT) == DEID_KEEP);
	TT_CHECK(t, act(p, DCM_TAG(0x0019, 0x1008), VR('C', 'S'), "SIEMENS MR HEADER", CT) == DEID_REMOVE);
	deid_profile_date_range(p, &lo, &hi);
	TT_CHECK(t, lo == -30 && hi == 30);
	TT_CHECK(t, deid_method_codes(p, codes, 4) == 2);
	TT_CHECK(t, !strcmp(codes[0].value, "113100") && !strcmp(codes[1].value, "113111"));
	TT_CHECK(t, !strcmp(codes[1].scheme, "DCM"));
	TT_CHECK(t, !strcmp(deid_method_text(p),
			    "Basic Application Confidentiality Profile\\Retain Safe Private Option"));
	deid_profile_free(p);
}

/* Patient-level free text: removed under the default profile although Clean Descriptors
 * (and for some Retain Patient Characteristics) gives it C; the examination's descriptions
 * stay cleaned; a project rule "clean" brings one back. */
static void t_patient_text(struct tt *t)
{
	static const uint32_t text[] = {
		DCM_TAG(0x0010, 0x4000), DCM_TAG(0x0010, 0x21B0), DCM_TAG(0x0010, 0x2000),
		DCM_TAG(0x0010, 0x2110), DCM_TAG(0x0010, 0x2180), DCM_TAG(0x0038, 0x0500),
		DCM_TAG(0x0038, 0x0050), DCM_TAG(0x0008, 0x1080), DCM_TAG(0x0038, 0x0040),
		DCM_TAG(0x0032, 0x1066), DCM_TAG(0x0038, 0x4000), DCM_TAG(0x0038, 0x0062),
	};
	static const uint32_t exam[] = {
		DCM_TAG(0x0008, 0x1030), DCM_TAG(0x0008, 0x103E), DCM_TAG(0x0018, 0x1030),
		DCM_TAG(0x0020, 0x4000), DCM_TAG(0x0032, 0x1060), DCM_TAG(0x0040, 0x1002),
	};
	struct deid_profile *def = NULL, *cd, *back;

	cd = parse("{\"options\":[\"CleanDescriptors\",\"RetainPatientChars\"]}", NULL);
	back = parse("{\"options\":[\"CleanDescriptors\"],"
		     "\"tags\":{\"(0010,4000)\":{\"action\":\"clean\"}}}",
		     NULL);
	TT_CHECK(t, deid_profile_new_default(&def) == 0 && cd && back);
	for (size_t i = 0; def && cd && i < CORE_ARRAY_SIZE(text); i++) {
		const struct annexe_row *r = annexe_find(text[i]);

		/* the table would clean it (opt[6] cleanDescOpt, opt[2] rtnPatCharsOpt), so this
		 * is the engine's rule, not the table's; its basic code X makes removal valid */
		TT_CHECK_MSG(t, r && r->basic == AX_X && (r->opt[6] == AX_C || r->opt[2] == AX_C),
			     "row of (%04x,%04x)", DCM_GROUP(text[i]), DCM_ELEM(text[i]));
		TT_CHECK_MSG(t, act(def, text[i], VR('L', 'T'), NULL, CT) == DEID_REMOVE,
			     "default keeps (%04x,%04x)", DCM_GROUP(text[i]), DCM_ELEM(text[i]));
		TT_CHECK(t, act(cd, text[i], VR('L', 'O'), NULL, NULL) == DEID_REMOVE);
	}
	for (size_t i = 0; def && i < CORE_ARRAY_SIZE(exam); i++)
		TT_CHECK_MSG(t, act(def, exam[i], VR('L', 'O'), NULL, CT) == DEID_CLEAN,
			     "default does not clean (%04x,%04x)", DCM_GROUP(exam[i]),
			     DCM_ELEM(exam[i]));
	/* ProtocolName is X/D: C under Clean Descriptors whatever the IOD */
	TT_CHECK(t, def && act(def, DCM_TAG(0x0018, 0x1030), VR('L', 'O'), NULL, EMR) == DEID_CLEAN);
	/* coded diagnoses are not prose: kept, their items processed */
	TT_CHECK(t, def && act(def, DCM_TAG(0x0008, 0x1084), DCM_VR_SQ, NULL, CT) == DEID_KEEP);
	TT_CHECK(t, back && act(back, DCM_TAG(0x0010, 0x4000), VR('L', 'T'), NULL, CT) == DEID_CLEAN);
	TT_CHECK(t, back && act(back, DCM_TAG(0x0010, 0x21B0), VR('L', 'T'), NULL, CT) == DEID_REMOVE);
	deid_profile_free(def);
	deid_profile_free(cd);
	deid_profile_free(back);
}

static void t_profile_errors(struct tt *t)
{
	static const struct {
		const char *json, *key;
	} bad[] = {
		{"[]", "profile"},
		{"{\"option\":[]}", "option: unknown key"},
		{"{\"options\":[\"RetainEverything\"]}", "options[0]"},
		{"{\"options\":[\"RetainLongFullDates\",\"RetainLongModifDates\"]}", "options"},
		{"{\"date_shift_days\":[5,1]}", "date_shift_days"},
		{"{\"date_shift_days\":[1]}", "date_shift_days"},
		{"{\"tags\":{\"PatientSex\":{\"action\":\"keep\"}}}", "tags.PatientSex"},
		{"{\"tags\":{\"(0010,0040)\":{\"action\":\"shred\"}}}", "tags.(0010,0040).action"},
		{"{\"tags\":{\"(0010,0040)\":{\"action\":\"set\"}}}", "tags.(0010,0040).value"},
		{"{\"tags\":{\"(0010,0040)\":{\"action\":\"capture\",\"regex\":\"([a-\"}}}", "regex"},
		{"{\"tags\":{\"(0010,0040)\":{\"action\":\"capture\",\"regex\":\"abc\"}}}", "regex"},
		{"{\"keep_private\":[{\"creator\":\"X\",\"element\":\"16\"}]}", "keep_private[0].element"},
		{"{\"keep_private\":[{\"element\":\"0x10\"}]}", "keep_private[0].creator"},
		{"{\"keep_private\":[{\"creator\":\"X\",\"element\":\"0x10\",\"group\":\"0x0010\"}]}",
		 "keep_private[0].group"},
		{"{\"tags\":{\"(0010,0040)\":{\"action\":\"capture\",\"regex\":\"(a+**)\"}}}", "regex"},
		{"{\"tags\":{\"(0010,0040)\":{\"action\":\"capture\",\"regex\":\"(a{1,99})\"}}}", "regex"},
		{"{\"tags\":{\"(0008,0080)\":{\"action\":\"set\",\"value\":\"{site}\"}}}",
		 "tags.(0008,0080).value"},
		{"{\"tags\":", "profile"},
	};
	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		struct fiona_err err;
		struct deid_profile *p;
		err_clear(&err);
		p = parse(bad[i].json, &err);
		TT_CHECK_MSG(t, p == NULL, "case %zu accepted", i);
		TT_CHECK_MSG(t, err.code == -EINVAL && strstr(err.reason, bad[i].key),
			     "case %zu: %s", i, err.reason);
	}
}

static void t_values(struct tt *t)
{
	struct deid_profile *p = parse("{\"tags\":{\"(0010,0020)\":{\"action\":\"capture\","
				       "\"regex\":\"^[A-Z]*-(P[0-9]+)\"}}}",
				       NULL);
	char out[32];

	TT_CHECK(t, p != NULL);
	TT_CHECK(t, deid_profile_capture(p, DCM_TAG(0x0010, 0x0020), "SITE-P042x", out, 32) == 0);
	TT_CHECK(t, !strcmp(out, "P042"));
	TT_CHECK(t, deid_profile_capture(p, DCM_TAG(0x0010, 0x0020), "nothing", out, 32) == -ENOENT);
	TT_CHECK(t, deid_profile_capture(p, DCM_TAG(0x0010, 0x0021), "SITE-P042", out, 32) == -ENOENT);
	TT_CHECK(t, deid_profile_capture(p, DCM_TAG(0x0010, 0x0020), "SITE-P042", out, 4) == -ENOSPC);
	deid_profile_free(p);
	TT_CHECK(t, deid_template_expand("EventName:{event}", "prj", "P1", "baseline", out, 32) == 0);
	TT_CHECK(t, !strcmp(out, "EventName:baseline"));
	TT_CHECK(t, deid_template_expand("{project}/{participant}{event}", "prj", "P1", NULL, out,
					 32) == 0 && !strcmp(out, "prj/P1"));
	TT_CHECK(t, deid_template_expand("{patient}", "a", "b", "c", out, 32) == -EINVAL);
	TT_CHECK(t, deid_template_expand("{project}", "abcdef", "b", "c", out, 6) == -ENOSPC);
	TT_CHECK(t, !strcmp(deid_dummy_value(DCM_VR('P', 'N')), "ANONYMOUS"));
	TT_CHECK(t, !strcmp(deid_dummy_value(DCM_VR('D', 'A')), "19000101"));
	TT_CHECK(t, deid_dummy_value(DCM_VR('U', 'S')) == NULL);
	TT_CHECK(t, deid_dummy_value(DCM_VR_SQ) == NULL);
}

TT_MAIN(TT_CASE(t_default_profile), TT_CASE(t_options_switch), TT_CASE(t_combined_by_type),
	TT_CASE(t_project_rules), TT_CASE(t_patient_text), TT_CASE(t_profile_errors),
	TT_CASE(t_values))
