/*
 * Values of reader elements (strings trimmed of padding, the first integer of binary or
 * IS values) and the catalog summary of one instance: its top-level attributes, read with
 * the streaming reader and stopping at pixel data.
 *
 * Invariants: values are read only within e->length bytes of e->value; output strings are
 * always NUL-terminated; nothing read here is logged (summary values identify patients).
 */
#include "core/core.h"
#include "anon/reader_int.h"

#include <errno.h>

size_t dcm_value_str(const struct dcm_elem *e, char *out, size_t cap)
{
	size_t len = (e->value && e->kind == DCM_ELEMENT) ? e->length : 0, n;

	while (len > 0 && (e->value[len - 1] == ' ' || e->value[len - 1] == '\0'))
		len--;
	if (cap == 0)
		return len;
	n = len < cap - 1 ? len : cap - 1;
	if (n)
		memcpy(out, e->value, n);
	out[n] = '\0';
	return len;
}

static int value_is(const struct dcm_elem *e, uint32_t *out)
{
	char s[32];
	long v;
	size_t len = dcm_value_str(e, s, sizeof(s)), i = 0;

	if (len >= sizeof(s))
		return -EINVAL;
	while (s[i] == ' ')
		i++;
	for (size_t j = i; s[j]; j++)
		if (s[j] == '\\') {
			s[j] = '\0';
			break;
		}
	for (size_t j = strlen(s); j > i && s[j - 1] == ' '; j--)
		s[j - 1] = '\0';
	if (s[i] == '+')
		i++;
	if (core_parse_long(s + i, 0, UINT32_MAX, &v) < 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int dcm_value_u32(const struct dcm_elem *e, uint32_t *out)
{
	if (e->kind != DCM_ELEMENT || !e->value)
		return -EINVAL;
	switch (e->vr) {
	case DCM_VR('U', 'S'):
		if (e->length < 2)
			return -EINVAL;
		*out = reader_rd16(e->value, e->big_endian);
		return 0;
	case DCM_VR('S', 'S'): {
		if (e->length < 2)
			return -EINVAL;
		int16_t v = (int16_t)reader_rd16(e->value, e->big_endian);
		if (v < 0)
			return -EINVAL;
		*out = (uint32_t)v;
		return 0;
	}
	case DCM_VR('U', 'L'):
		if (e->length < 4)
			return -EINVAL;
		*out = reader_rd32(e->value, e->big_endian);
		return 0;
	case DCM_VR('S', 'L'): {
		if (e->length < 4)
			return -EINVAL;
		int32_t v = (int32_t)reader_rd32(e->value, e->big_endian);
		if (v < 0)
			return -EINVAL;
		*out = (uint32_t)v;
		return 0;
	}
	case DCM_VR('I', 'S'):
		return value_is(e, out);
	default:
		return -EINVAL;
	}
}

/* ---- summary ---------------------------------------------------------------------- */

struct summary_field {
	uint32_t tag;
	size_t off, cap;
};

#define SF(g, e, f)                                                                                \
	{                                                                                          \
		DCM_TAG(g, e), offsetof(struct dcm_summary, f),                                    \
			sizeof(((struct dcm_summary *)0)->f)                                       \
	}
static const struct summary_field summary_fields[] = {
	SF(0x0010, 0x0020, patient_id),		SF(0x0010, 0x0010, patient_name),
	SF(0x0010, 0x0030, patient_birth_date), SF(0x0020, 0x000D, study_uid),
	SF(0x0020, 0x000E, series_uid),		SF(0x0008, 0x0018, sop_uid),
	SF(0x0008, 0x0016, sop_class_uid),	SF(0x0008, 0x0020, study_date),
	SF(0x0008, 0x0030, study_time),		SF(0x0008, 0x0050, accession),
	SF(0x0008, 0x1030, study_description),	SF(0x0008, 0x0060, modality),
	SF(0x0008, 0x103E, series_description), SF(0x0008, 0x0080, institution),
	SF(0x0008, 0x0021, series_date),	SF(0x0008, 0x0031, series_time),
	SF(0x0018, 0x0024, sequence_name),
};

static void summary_long(const struct dcm_elem *e, long *out)
{
	uint32_t v;

	if (dcm_value_u32(e, &v) == 0)
		*out = (long)v;
}

static void summary_take(struct dcm_summary *s, const struct dcm_elem *e)
{
	char yes[8];

	for (size_t i = 0; i < CORE_ARRAY_SIZE(summary_fields); i++)
		if (summary_fields[i].tag == e->tag) {
			dcm_value_str(e, (char *)s + summary_fields[i].off, summary_fields[i].cap);
			return;
		}
	switch (e->tag) {
	case DCM_TAG(0x0020, 0x0011):
		summary_long(e, &s->series_number);
		break;
	case DCM_TAG(0x0020, 0x0013):
		summary_long(e, &s->instance_number);
		break;
	case DCM_TAG(0x0028, 0x0301):
		dcm_value_str(e, yes, sizeof(yes));
		s->burned_in_annotation = !strcmp(yes, "YES");
		break;
	case DCM_TAG(0x0028, 0x0010):
		(void)dcm_value_u32(e, &s->rows);
		break;
	case DCM_TAG(0x0028, 0x0011):
		(void)dcm_value_u32(e, &s->columns);
		break;
	case DCM_TAG(0x0028, 0x0008):
		(void)dcm_value_u32(e, &s->frames);
		break;
	}
}

/* Rows, columns and frames are 0 when absent (frames absent = a single-frame object). */
int dcm_summary_read(const uint8_t *p, size_t n, struct dcm_summary *s, struct fiona_err *err)
{
	struct dcm_reader *r = NULL;
	struct dcm_summary tmp;
	struct dcm_elem e;
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	tmp.series_number = tmp.instance_number = -1;
	rc = dcm_reader_new(p, n, &r, err);
	if (rc < 0)
		return rc;
	snprintf(tmp.transfer_syntax, sizeof(tmp.transfer_syntax), "%s", dcm_reader_ts(r)->uid);
	while ((rc = dcm_reader_next(r, &e)) == 1) {
		if (e.in_meta || e.depth != 0)
			continue;
		if (DCM_GROUP(e.tag) != 0xFFFE && e.tag >= DCM_TAG_PIXEL_DATA)
			break; /* pixel data (and trailing padding) are not catalogued */
		if (e.kind == DCM_ELEMENT)
			summary_take(&tmp, &e);
	}
	if (rc < 0) {
		const struct fiona_err *re = dcm_reader_error(r);

		err_set(err, re->code, re->offset, re->tag, "%s", re->reason);
		goto fail;
	}
	*s = tmp;
	rc = 0;
fail:
	dcm_reader_free(r);
	return rc;
}
