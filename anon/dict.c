/*
 * The DICOM tag dictionary: lookups in the table generated from dcmtk's dicom.dic
 * (build/gen/dict_table.c) and the VR helpers.
 *
 * Invariants: the generated table is sorted by (group_lo, elem_lo) (checked by
 * tests/unit/t_dict.c), so exact tags are found by binary search; repeating-group rows
 * (6000-60FF,3000) and element ranges are found by a scan of range rows only. Group
 * lengths (gggg,0000) and private creators (odd gggg,0010-00FF) are answered by rule,
 * as dcmtk does. The table is read-only: lookups are thread safe.
 */
#include "core/core.h"
#include "anon/anon.h"
#include "anon/dict_int.h"

#include <errno.h>

static uint16_t dict_vr_parse(const char *s)
{
	if (!s || s[0] == '-' || !s[0] || !s[1])
		return 0;
	return DCM_VR(s[0], s[1]);
}

static void dict_fill(const struct dcm_dict_entry *d, struct dcm_dict_info *info)
{
	info->vr = dict_vr_parse(d->vr);
	info->keyword = d->keyword;
	info->vm = d->vm;
}

static int dict_cmp(const struct dcm_dict_entry *d, uint16_t g, uint16_t e)
{
	if (d->group_lo != g)
		return d->group_lo < g ? -1 : 1;
	if (d->elem_lo != e)
		return d->elem_lo < e ? -1 : 1;
	return 0;
}

static const struct dcm_dict_entry *dict_find_exact(uint16_t g, uint16_t e)
{
	size_t lo = 0, hi = dcm_dict_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = dict_cmp(&dcm_dict_table[mid], g, e);

		if (c == 0)
			return &dcm_dict_table[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Range rows: repeating groups are even groups only (odd groups are private). */
static const struct dcm_dict_entry *dict_find_range(uint16_t g, uint16_t e)
{
	for (size_t i = 0; i < dcm_dict_count; i++) {
		const struct dcm_dict_entry *d = &dcm_dict_table[i];

		if (d->group_lo == d->group_hi && d->elem_lo == d->elem_hi)
			continue;
		if (g < d->group_lo || g > d->group_hi || e < d->elem_lo || e > d->elem_hi)
			continue;
		if (d->group_lo != d->group_hi && (g & 1))
			continue;
		return d;
	}
	return NULL;
}

int dcm_dict_lookup(uint32_t tag, struct dcm_dict_info *info)
{
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEM(tag);
	const struct dcm_dict_entry *d = dict_find_exact(g, e);

	if (!d && !(g & 1)) /* odd groups are private: no repeating ranges */
		d = dict_find_range(g, e);
	if (d) {
		if (info)
			dict_fill(d, info);
		return 0;
	}
	if (e == 0x0000 && g != 0xFFFE) {
		if (info) {
			info->vr = DCM_VR('U', 'L');
			info->keyword = "GenericGroupLength";
			info->vm = "1";
		}
		return 0;
	}
	if ((g & 1) && g > 0x0008 && g != 0xFFFF && e >= 0x0010 && e <= 0x00FF) {
		if (info) {
			info->vr = DCM_VR('L', 'O');
			info->keyword = "PrivateCreator";
			info->vm = "1";
		}
		return 0;
	}
	return -ENOENT;
}

int dcm_dict_find_keyword(const char *keyword, uint32_t *tag, struct dcm_dict_info *info)
{
	if (!keyword || !*keyword)
		return -ENOENT;
	for (size_t i = 0; i < dcm_dict_count; i++) {
		const struct dcm_dict_entry *d = &dcm_dict_table[i];

		if (strcmp(d->keyword, keyword))
			continue;
		if (tag)
			*tag = DCM_TAG(d->group_lo, d->elem_lo);
		if (info)
			dict_fill(d, info);
		return 0;
	}
	return -ENOENT;
}

/* ---- VRs -------------------------------------------------------------------------- */

static const char dict_vrs[] =
	"AEASATCSDADSDTFDFLISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";

bool dcm_vr_is_known(uint16_t vr)
{
	for (size_t i = 0; i + 1 < sizeof(dict_vrs); i += 2)
		if (DCM_VR(dict_vrs[i], dict_vrs[i + 1]) == vr)
			return true;
	return false;
}

bool dcm_vr_has_long_length(uint16_t vr)
{
	static const char longs[] = "OBODOFOLOVOWSQSVUCUNURUTUV";

	for (size_t i = 0; i + 1 < sizeof(longs); i += 2)
		if (DCM_VR(longs[i], longs[i + 1]) == vr)
			return true;
	return false;
}

const char *dcm_vr_str(uint16_t vr, char out[3])
{
	unsigned char a = (unsigned char)(vr >> 8), b = (unsigned char)(vr & 0xff);

	if (vr == 0) {
		out[0] = out[1] = '-';
	} else {
		out[0] = (a >= 0x20 && a < 0x7f) ? (char)a : '?';
		out[1] = (b >= 0x20 && b < 0x7f) ? (char)b : '?';
	}
	out[2] = '\0';
	return out;
}
