/*
 * deid_text: what the engine learns about an instance before it rewrites it, and the
 * "clean" action for text.
 *
 * Annex E's C code asks to replace a value "with values of similar meaning known not to
 * contain identifying information". fiona does this for descriptors and free text by
 * removing, case-insensitively, every word of the instance's own identifying values
 * (names anywhere in the dataset, IDs, addresses, phone numbers, dates, accession and
 * study IDs, institution and station) and every run of 6 or more digits (dates and
 * numbers that may be IDs). "T1 for Jane Doe, A1234567" becomes "T1 for ,". A scan
 * runs first because descriptors (group 0008) precede the patient module (0010).
 *
 * Invariants: words live in the fixed arena of struct deid_idents (no allocation);
 * overflowing words are dropped and counted, and then cleaning empties the value
 * instead of trusting an incomplete list.
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>

#include "anon/deid_int.h"

/* Tags whose values (besides every PN anywhere) are identifying words. */
static const uint32_t ident_tags[] = {
	DCM_TAG(0x0008, 0x0050), /* AccessionNumber */
	DCM_TAG(0x0008, 0x0080), /* InstitutionName */
	DCM_TAG(0x0008, 0x0081), /* InstitutionAddress */
	DCM_TAG(0x0008, 0x1010), /* StationName */
	DCM_TAG(0x0008, 0x1040), /* InstitutionalDepartmentName */
	DCM_TAG(0x0010, 0x0020), /* PatientID */
	DCM_TAG(0x0010, 0x0030), /* PatientBirthDate */
	DCM_TAG(0x0010, 0x1000), /* OtherPatientIDs */
	DCM_TAG(0x0010, 0x1040), /* PatientAddress */
	DCM_TAG(0x0010, 0x2154), /* PatientTelephoneNumbers */
	DCM_TAG(0x0018, 0x1000), /* DeviceSerialNumber */
	DCM_TAG(0x0020, 0x0010), /* StudyID */
	DCM_TAG(0x0040, 0x0009), /* ScheduledProcedureStepID */
	DCM_TAG(0x0040, 0x0253), /* PerformedProcedureStepID */
	DCM_TAG(0x0040, 0x1001), /* RequestedProcedureID */
};

static bool is_ident_tag(uint32_t tag, uint16_t vr)
{
	if (vr == DCM_VR('P', 'N') || vr == DCM_VR('D', 'A'))
		return true;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(ident_tags); i++)
		if (ident_tags[i] == tag)
			return true;
	return false;
}

static bool word_sep(char c)
{
	return c == '^' || c == ' ' || c == ',' || c == '\\' || c == '=' || c == '/' || c == '(' ||
	       c == ')' || c == '.' || c == ';' || c == ':';
}

static bool word_known(const struct deid_idents *ids, const char *w, size_t len)
{
	for (size_t i = 0; i < ids->n_words; i++)
		if (strlen(ids->words[i]) == len && !strncasecmp(ids->words[i], w, len))
			return true;
	return false;
}

/* Adds the words of one value: pieces of 3 or more characters between separators. */
static void idents_add_value(struct deid_idents *ids, const char *v, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && !word_sep(v[j]))
			j++;
		if (j - i >= 3 && !word_known(ids, v + i, j - i)) {
			if (ids->n_words == CORE_ARRAY_SIZE(ids->words) ||
			    ids->used + (j - i) + 1 > sizeof(ids->arena)) {
				ids->overflow++;
			} else {
				char *w = ids->arena + ids->used;

				memcpy(w, v + i, j - i);
				w[j - i] = '\0';
				ids->used += j - i + 1;
				ids->words[ids->n_words++] = w;
			}
		}
		i = j + 1;
	}
}

static void idents_take(struct deid_idents *ids, const struct dcm_elem *e)
{
	char v[256];
	size_t len;

	if (e->depth == 0 && e->tag == DCM_TAG(0x0008, 0x0016))
		dcm_value_str(e, ids->sop_class, sizeof(ids->sop_class));
	if (e->depth == 0 && e->tag == DCM_TAG(0x0008, 0x0060))
		dcm_value_str(e, ids->modality, sizeof(ids->modality));
	if (e->depth == 0 && e->tag == DCM_TAG(0x0028, 0x0301)) {
		dcm_value_str(e, v, sizeof(v));
		ids->burned_in_yes = !strcmp(v, "YES");
	}
	if (e->in_meta && e->tag == DCM_TAG(0x0002, 0x0002) && !ids->sop_class[0])
		dcm_value_str(e, ids->sop_class, sizeof(ids->sop_class));
	if (e->in_meta || !is_ident_tag(e->tag, e->vr) || e->length == 0)
		return;
	len = dcm_value_str(e, v, sizeof(v));
	if (len >= sizeof(v))
		ids->overflow++; /* a longer identifying value: do not trust partial words */
	idents_add_value(ids, v, len < sizeof(v) ? len : sizeof(v) - 1);
}

int deid_idents_scan(struct dcm_reader *r, struct deid_idents *ids, struct fiona_err *err)
{
	struct dcm_elem e;
	int rc;

	memset(ids, 0, sizeof(*ids));
	while ((rc = dcm_reader_next(r, &e)) == 1) {
		if (e.depth == 0 && !e.in_meta && DCM_GROUP(e.tag) != 0xFFFE &&
		    e.tag >= DCM_TAG_PIXEL_DATA)
			break;
		if (e.kind == DCM_ELEMENT)
			idents_take(ids, &e);
	}
	if (rc < 0) {
		const struct fiona_err *re = dcm_reader_error(r);

		err_set(err, re->code, re->offset, re->tag, "%s", re->reason);
		return rc;
	}
	dcm_reader_rewind(r);
	return 0;
}

/* True if the len characters at p are a known word bounded by separators or the ends. */
static size_t known_word_at(const struct deid_idents *ids, const char *s, size_t len, size_t i)
{
	if (i > 0 && isalnum((unsigned char)s[i - 1]))
		return 0;
	for (size_t k = 0; k < ids->n_words; k++) {
		size_t wl = strlen(ids->words[k]);

		if (wl <= len - i && !strncasecmp(s + i, ids->words[k], wl) &&
		    (i + wl == len || !isalnum((unsigned char)s[i + wl])))
			return wl;
	}
	return 0;
}

static size_t digit_run_at(const char *s, size_t len, size_t i)
{
	size_t j = i;

	while (j < len && isdigit((unsigned char)s[j]))
		j++;
	return j - i >= 6 ? j - i : 0;
}

size_t deid_text_clean(const struct deid_idents *ids, const char *in, size_t len, char *out,
		       size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return 0;
	if (ids->overflow) { /* the list of words is incomplete: keep nothing */
		out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < len && o + 1 < cap;) {
		size_t skip = known_word_at(ids, in, len, i);

		if (!skip)
			skip = digit_run_at(in, len, i);
		if (skip) {
			i += skip;
			continue;
		}
		/* collapse the doubled spaces that removed words leave behind */
		if (!(in[i] == ' ' && (o == 0 || out[o - 1] == ' ')))
			out[o++] = in[i];
		i++;
		while (i < len && o + 1 < cap && isalnum((unsigned char)in[i - 1]) &&
		       isalnum((unsigned char)in[i]))
			out[o++] = in[i++]; /* rest of a word that was not identifying */
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

bool deid_burned_in_kind(const char *sop_class, const char *modality, bool annotation_yes)
{
	static const char *const classes[] = {
		"1.2.840.10008.5.1.4.1.1.7",	    /* secondary capture (and .7.x) */
		"1.2.840.10008.5.1.4.1.1.6.",	    /* ultrasound */
		"1.2.840.10008.5.1.4.1.1.3.1",	    /* ultrasound multi-frame */
		"1.2.840.10008.5.1.4.1.1.77.1.1.1", /* video endoscopic */
		"1.2.840.10008.5.1.4.1.1.77.1.2.1", /* video microscopic */
		"1.2.840.10008.5.1.4.1.1.77.1.4.1", /* video photographic */
		"1.2.840.10008.5.1.4.1.1.104.",	    /* encapsulated documents */
	};

	if (annotation_yes)
		return true;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(classes); i++)
		if (!strncmp(sop_class, classes[i], strlen(classes[i])))
			return true;
	return !strcmp(modality, "US") || !strcmp(modality, "XC") || !strcmp(modality, "ES") ||
	       !strcmp(modality, "OT");
}

bool deid_idents_burned_in(const struct deid_idents *ids)
{
	return deid_burned_in_kind(ids->sop_class, ids->modality, ids->burned_in_yes);
}
