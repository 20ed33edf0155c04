/*
 * deid_rules: the per-attribute decision of de-identification (deid_decide()).
 *
 * Order of precedence, first match wins:
 *   1. the project profile's per-tag rules (exact tag);
 *   2. file meta (group 0002) and group lengths: fixed handling, see docs/deid.md;
 *   3. private tags: kept only when the profile's keep list (or, with Retain Safe Private,
 *      the built-in safe list) names their (group, creator, element); else removed;
 *   4. PatientName/PatientID -> participant, AccessionNumber/StudyID -> keyed hash;
 *   5. free text about the patient (patient_text[] below) -> removed, whatever the options;
 *   6. PS3.15 Table E.1-1: basic code, overridden by the column of every option that is on;
 *      combined codes resolved by the attribute's type in the IOD (table below);
 *   7. anything else public is kept.
 * Invariants: pure (no allocation, no state), so it is thread safe and cheap per element.
 */
#include "core/core.h"
#include "anon/anon.h"
#include "anon/annexe_int.h"
#include "anon/deid_int.h"

#include <errno.h>

enum iod {
	IOD_NONE = 0,
	IOD_CT,
	IOD_ECT,
	IOD_MR,
	IOD_EMR,
	IOD_SC,
	IOD_PET,
	IOD_US,
	IOD_CR,
	IOD_DX
};
#define B(i) (1u << (i))
#define IOD_CLASSIC                                                                                \
	(B(IOD_CT) | B(IOD_MR) | B(IOD_SC) | B(IOD_PET) | B(IOD_US) | B(IOD_CR) | B(IOD_DX))
#define IOD_ENH (B(IOD_ECT) | B(IOD_EMR))

static const struct {
	const char *uid;
	enum iod iod;
} sop_classes[] = {
	{"1.2.840.10008.5.1.4.1.1.1", IOD_CR},	   {"1.2.840.10008.5.1.4.1.1.1.1", IOD_DX},
	{"1.2.840.10008.5.1.4.1.1.1.1.1", IOD_DX}, {"1.2.840.10008.5.1.4.1.1.2", IOD_CT},
	{"1.2.840.10008.5.1.4.1.1.2.1", IOD_ECT},  {"1.2.840.10008.5.1.4.1.1.3.1", IOD_US},
	{"1.2.840.10008.5.1.4.1.1.4", IOD_MR},	   {"1.2.840.10008.5.1.4.1.1.4.1", IOD_EMR},
	{"1.2.840.10008.5.1.4.1.1.6.1", IOD_US},   {"1.2.840.10008.5.1.4.1.1.7", IOD_SC},
	{"1.2.840.10008.5.1.4.1.1.128", IOD_PET},
};

/*
 * Type (1 or 2) of attributes with combined codes in the IODs fiona knows (PS3.3). An
 * attribute of a known IOD that is not listed here is Type 3 (or not in the IOD): X.
 */
static const struct {
	uint32_t tag;
	unsigned iods;
	int type;
} iod_types[] = {
	{DCM_TAG(0x0008, 0x0023), IOD_CLASSIC, 2}, /* Content Date: General Image 2C */
	{DCM_TAG(0x0008, 0x0023), IOD_ENH, 1},	   /* Multi-frame Functional Groups */
	{DCM_TAG(0x0008, 0x0033), IOD_CLASSIC, 2}, /* Content Time */
	{DCM_TAG(0x0008, 0x0033), IOD_ENH, 1},
	{DCM_TAG(0x0008, 0x002A), IOD_ENH, 1}, /* Acquisition DateTime: Enhanced * Image 1C */
	{DCM_TAG(0x0018, 0x1000), IOD_ENH,
	 1}, /* Device Serial Number: Enhanced General Equipment */
	{DCM_TAG(0x0018, 0x0010),
	 B(IOD_CT) | B(IOD_MR) | B(IOD_PET) | B(IOD_US) | B(IOD_CR) | B(IOD_DX), 2},
	{DCM_TAG(0x0040, 0x0555), IOD_ENH | B(IOD_DX), 2}, /* Acquisition Context module */
};

static enum iod iod_of(const char *sop_class_uid)
{
	if (!sop_class_uid)
		return IOD_NONE;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(sop_classes); i++)
		if (!strcmp(sop_classes[i].uid, sop_class_uid))
			return sop_classes[i].iod;
	return IOD_NONE;
}

/* 1, 2, 3, or 0 when the IOD is unknown. */
static int attr_type(uint32_t tag, const char *sop_class_uid)
{
	enum iod iod = iod_of(sop_class_uid);

	if (iod == IOD_NONE)
		return 0;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(iod_types); i++)
		if (iod_types[i].tag == tag && (iod_types[i].iods & B(iod)))
			return iod_types[i].type;
	return 3;
}

/*
 * Combined code -> one of X Z D (or K+recurse for U*). Known type: 1 -> D (U* for X/Z/U*),
 * 2 -> Z, 3 -> X; when a letter is not offered the nearest stronger one is used (Z/D type 3
 * -> Z, X/D type 2 -> D). Unknown IOD: the choice valid for every type (D; X/Z -> Z; X/Z/U*
 * -> keep the sequence and replace the UIDs inside).
 */
static unsigned resolve_combined(unsigned code, int type)
{
	switch (code) {
	case AX_XZ:
		return type == 3 ? AX_X : AX_Z;
	case AX_XD:
		return type == 3 ? AX_X : AX_D;
	case AX_ZD:
		return type == 1 || type == 0 ? AX_D : AX_Z;
	case AX_XZD:
		return type == 3 ? AX_X : type == 2 ? AX_Z : AX_D;
	case AX_XZUS:
		return type == 3 ? AX_X : type == 2 ? AX_Z : AX_U;
	default:
		return code;
	}
}

/* Built-in Retain Safe Private list: parameters PS3.15 Table E.3.10-1 lists as safe. */
static const struct {
	uint16_t group;
	uint8_t elem;
	const char *creator;
} safe_private[] = {
	{0x0019, 0x0A, "SIEMENS MR HEADER"},	  /* NumberOfImagesInMosaic */
	{0x0019, 0x0B, "SIEMENS MR HEADER"},	  /* SliceMeasurementDuration */
	{0x0019, 0x0C, "SIEMENS MR HEADER"},	  /* B_value */
	{0x0019, 0x0D, "SIEMENS MR HEADER"},	  /* DiffusionDirectionality */
	{0x0019, 0x0E, "SIEMENS MR HEADER"},	  /* DiffusionGradientDirection */
	{0x0019, 0x27, "SIEMENS MR HEADER"},	  /* B_matrix */
	{0x0043, 0x39, "GEMS_PARM_01"},		  /* slop_int_6..9 (b-value) */
	{0x2001, 0x03, "Philips Imaging DD 001"}, /* Diffusion B-Factor */
	{0x2001, 0x04, "Philips Imaging DD 001"}, /* Diffusion Direction */
};

/*
 * Free text about the patient — Patient, Patient Study, Patient Medical and Visit modules —
 * is removed even where Clean Descriptors or Retain Patient Characteristics give it C.
 * Cleaning removes only the identifying words the scan found in this instance (names,
 * IDs, dates, addresses of its header); text people write about a person names relatives,
 * places, employers and events that no header holds. Study, series and protocol
 * descriptions are written about the examination, and researchers need them: they stay
 * cleaned. Every row here has basic code X, so removal is always a valid output.
 * Sorted by tag (binary search); the reasons per attribute are in docs/deid.md.
 */
static const uint32_t patient_text[] = {
	DCM_TAG(0x0008, 0x1080), /* Admitting Diagnoses Description */
	DCM_TAG(0x0010, 0x2000), /* Medical Alerts */
	DCM_TAG(0x0010, 0x2110), /* Allergies */
	DCM_TAG(0x0010, 0x2180), /* Occupation */
	DCM_TAG(0x0010, 0x21B0), /* Additional Patient History */
	DCM_TAG(0x0010, 0x4000), /* Patient Comments */
	DCM_TAG(0x0032, 0x1066), /* Reason for Visit */
	DCM_TAG(0x0038, 0x0040), /* Discharge Diagnosis Description */
	DCM_TAG(0x0038, 0x0050), /* Special Needs */
	DCM_TAG(0x0038, 0x0062), /* Service Episode Description */
	DCM_TAG(0x0038, 0x0500), /* Patient State */
	DCM_TAG(0x0038, 0x4000), /* Visit Comments */
};

static bool is_patient_text(uint32_t tag)
{
	size_t lo = 0, hi = CORE_ARRAY_SIZE(patient_text);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (patient_text[mid] == tag)
			return true;
		if (patient_text[mid] < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool vr_is_seq(uint16_t vr)
{
	return vr == DCM_VR_SQ || vr == DCM_VR_UN;
}

static int set(struct deid_decision *out, enum deid_action a, const char *arg, bool recurse)
{
	out->action = a;
	out->arg = arg;
	out->recurse = recurse;
	out->post = DEID_POST_NONE;
	return 0;
}

static bool private_kept(const struct deid_profile *p, uint16_t g, uint8_t el, bool creator_elem,
			 const char *creator)
{
	if (!creator)
		return false;
	for (size_t i = 0; i < p->n_keep; i++) {
		const struct deid_private_keep *k = &p->keep[i];
		if ((k->group == 0 || k->group == g) && (creator_elem || k->elem == el) &&
		    !strcmp(k->creator, creator))
			return true;
	}
	if (!(p->options & DEID_OPT_RETAIN_SAFE_PRIVATE))
		return false;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(safe_private); i++)
		if (safe_private[i].group == g && (creator_elem || safe_private[i].elem == el) &&
		    !strcmp(safe_private[i].creator, creator))
			return true;
	return false;
}

static int decide_private(const struct deid_profile *p, uint32_t tag, uint16_t vr,
			  const char *creator, struct deid_decision *out)
{
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEM(tag);

	/* Groups 0001-0007 and FFFF are not usable for private data (PS3.5 7.8.1). */
	if (g <= 0x0007 || g == 0xFFFF || e < 0x0010)
		return set(out, DEID_REMOVE, NULL, false);
	if (e <= 0x00FF) /* a private creator: creator is its own value */
		return private_kept(p, g, 0, true, creator) ? set(out, DEID_KEEP, NULL, false)
							    : set(out, DEID_REMOVE, NULL, false);
	if (private_kept(p, g, (uint8_t)e, false, creator))
		return set(out, DEID_KEEP, NULL, vr_is_seq(vr));
	return set(out, DEID_REMOVE, NULL, false);
}

static bool vr_is_date(uint16_t vr)
{
	return vr == DCM_VR('D', 'A') || vr == DCM_VR('D', 'T') || vr == DCM_VR('T', 'M');
}

/* The code of a row under the profile's options: an option column overrides the basic code;
 * among options, C wins over K (cleaning is the conservative one). */
static unsigned row_code(const struct annexe_row *r, unsigned options, bool *from_modif)
{
	unsigned code = r->basic, opt_code = AX_NONE;

	*from_modif = false;
	for (unsigned i = 0; i < ANNEXE_NOPT; i++) {
		if (!(options & (1u << i)) || r->opt[i] == AX_NONE)
			continue;
		if (opt_code == AX_NONE || r->opt[i] == AX_C)
			opt_code = r->opt[i];
	}
	*from_modif = (options & DEID_OPT_RETAIN_LONG_MODIF_DATES) && r->opt[1] != AX_NONE;
	return opt_code != AX_NONE ? opt_code : code;
}

static int decide_code(unsigned code, bool modif, uint16_t vr, struct deid_decision *out)
{
	bool seq = vr == DCM_VR_SQ;

	switch (code) {
	case AX_K:
		return set(out, DEID_KEEP, NULL, vr_is_seq(vr));
	case AX_X:
		return set(out, DEID_REMOVE, NULL, false);
	case AX_Z:
		return set(out, DEID_EMPTY, NULL, false);
	case AX_D: /* a dummy sequence: keep the items, their attributes are processed */
		return seq ? set(out, DEID_KEEP, NULL, true) : set(out, DEID_DUMMY, NULL, false);
	case AX_U:
		return seq ? set(out, DEID_KEEP, NULL, true) : set(out, DEID_UID, NULL, false);
	case AX_C:
		if (seq)
			return set(out, DEID_KEEP, NULL, true);
		if (vr_is_date(vr) && modif)
			return set(out, DEID_SHIFT, NULL, false);
		return set(out, DEID_CLEAN, NULL, false);
	default:
		return -EINVAL;
	}
}

static const struct deid_tag_rule *rule_find(const struct deid_profile *p, uint32_t tag)
{
	size_t lo = 0, hi = p->n_rules;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->rules[mid].tag == tag)
			return &p->rules[mid];
		if (p->rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int decide_meta(const struct deid_profile *p, uint32_t tag, struct deid_decision *out)
{
	switch (DCM_ELEM(tag)) {
	case 0x0003: /* MediaStorageSOPInstanceUID follows SOPInstanceUID */
		return set(out, p->options & DEID_OPT_RETAIN_UIDS ? DEID_KEEP : DEID_UID, NULL,
			   false);
	case 0x0016: /* Source/Sending/Receiving AE titles name hospital systems */
	case 0x0017:
	case 0x0018:
	case 0x0100: /* private information creator and data */
	case 0x0102:
		return set(out, DEID_REMOVE, NULL, false);
	default:
		return set(out, DEID_KEEP, NULL, false);
	}
}

static int decide_builtin(const struct deid_profile *p, uint32_t tag, uint16_t vr,
			  const char *creator, const char *sop_class_uid,
			  struct deid_decision *out);

int deid_decide(const struct deid_profile *p, uint32_t tag, uint16_t vr, const char *creator,
		const char *sop_class_uid, struct deid_decision *out)
{
	const struct deid_tag_rule *rule;

	if (!p || !out)
		return -EINVAL;
	rule = rule_find(p, tag);
	if (rule && rule->post == DEID_POST_NONE)
		return set(out, rule->action, rule->arg,
			   rule->action == DEID_KEEP && vr_is_seq(vr));
	if (rule) { /* rewrite / normalize: of what the rest of the rules decide */
		int rc = decide_builtin(p, tag, vr, creator, sop_class_uid, out);

		out->post = rule->post;
		return rc;
	}
	return decide_builtin(p, tag, vr, creator, sop_class_uid, out);
}

/* Steps 2-7 of the order above: everything but the profile's own rule. */
static int decide_builtin(const struct deid_profile *p, uint32_t tag, uint16_t vr,
			  const char *creator, const char *sop_class_uid, struct deid_decision *out)
{
	const struct annexe_row *row;
	unsigned code;
	bool modif;

	if (DCM_GROUP(tag) == 0x0002)
		return decide_meta(p, tag, out);
	if (DCM_ELEM(tag) == 0x0000) /* group lengths: retired, and wrong after any edit */
		return set(out, DEID_REMOVE, NULL, false);
	if (DCM_GROUP(tag) & 1)
		return decide_private(p, tag, vr, creator, out);
	switch (tag) {
	case DCM_TAG(0x0010, 0x0010):
	case DCM_TAG(0x0010, 0x0020):
		return set(out, DEID_PARTICIPANT, NULL, false);
	case DCM_TAG(0x0008, 0x0050):
	case DCM_TAG(0x0020, 0x0010):
		return set(out, DEID_HASH, NULL, false);
	}
	if (is_patient_text(tag))
		return set(out, DEID_REMOVE, NULL, false);
	row = annexe_find(tag);
	if (!row)
		return set(out, DEID_KEEP, NULL, vr_is_seq(vr));
	code = row_code(row, p->options, &modif);
	code = resolve_combined(code, code >= AX_XZ ? attr_type(tag, sop_class_uid) : 3);
	return decide_code(code, modif, vr, out);
}
