/* Unit tests for anon/dict.c: generated table order, exact and range lookups, rules for
 * group lengths and private creators, keyword search, VR helpers. */
#include "core/core.h"
#include "anon/anon.h"
#include "anon/dict_int.h"
#include "tests/unit/tt.h"

#include <errno.h>

static void t_table_sorted(struct tt *t)
{
	TT_CHECK(t, dcm_dict_count > 4000);
	for (size_t i = 1; i < dcm_dict_count; i++) {
		const struct dcm_dict_entry *a = &dcm_dict_table[i - 1], *b = &dcm_dict_table[i];
		uint32_t ka = DCM_TAG(a->group_lo, a->elem_lo), kb = DCM_TAG(b->group_lo, b->elem_lo);

		TT_CHECK_MSG(t, ka <= kb, "row %zu out of order", i);
	}
}

static void t_exact(struct tt *t)
{
	struct dcm_dict_info i;

	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0010, 0x0010), &i) == 0);
	TT_CHECK(t, i.vr == DCM_VR('P', 'N'));
	TT_CHECK(t, !strcmp(i.keyword, "PatientName"));
	TT_CHECK(t, !strcmp(i.vm, "1"));
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0008, 0x1115), &i) == 0);
	TT_CHECK(t, i.vr == DCM_VR_SQ);
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0002, 0x0010), &i) == 0);
	TT_CHECK(t, !strcmp(i.keyword, "TransferSyntaxUID"));
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG_PIXEL_DATA, &i) == 0);
	TT_CHECK(t, i.vr == DCM_VR('O', 'W'));
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG_ITEM, &i) == 0);
	TT_CHECK(t, i.vr == 0);
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0028, 0x0010), NULL) == 0);
}

static void t_ranges(struct tt *t)
{
	struct dcm_dict_info i;

	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x6002, 0x3000), &i) == 0);
	TT_CHECK(t, !strcmp(i.keyword, "OverlayData"));
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x60FE, 0x0010), &i) == 0);
	TT_CHECK(t, !strcmp(i.keyword, "OverlayRows"));
	TT_CHECK(t, i.vr == DCM_VR('U', 'S'));
	/* Odd group inside a repeating range is private, not an overlay. */
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x6001, 0x3000), &i) == -ENOENT);
}

static void t_rules(struct tt *t)
{
	struct dcm_dict_info i;

	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0009, 0x0010), &i) == 0);
	TT_CHECK(t, i.vr == DCM_VR('L', 'O'));
	TT_CHECK(t, !strcmp(i.keyword, "PrivateCreator"));
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0029, 0x00FF), &i) == 0);
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0029, 0x1010), &i) == -ENOENT);
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0029, 0x0100), &i) == -ENOENT);
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0011, 0x0000), &i) == 0);
	TT_CHECK(t, i.vr == DCM_VR('U', 'L'));
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0010, 0x0000), &i) == 0);
	TT_CHECK(t, i.vr == DCM_VR('U', 'L'));
	TT_CHECK(t, dcm_dict_lookup(DCM_TAG(0x0010, 0x9999), &i) == -ENOENT);
}

static void t_keyword(struct tt *t)
{
	uint32_t tag = 0;
	struct dcm_dict_info i;

	TT_CHECK(t, dcm_dict_find_keyword("StudyInstanceUID", &tag, &i) == 0);
	TT_CHECK(t, tag == DCM_TAG(0x0020, 0x000D));
	TT_CHECK(t, i.vr == DCM_VR('U', 'I'));
	TT_CHECK(t, dcm_dict_find_keyword("PatientID", &tag, NULL) == 0);
	TT_CHECK(t, tag == DCM_TAG(0x0010, 0x0020));
	TT_CHECK(t, dcm_dict_find_keyword("NoSuchKeyword", &tag, NULL) == -ENOENT);
	TT_CHECK(t, dcm_dict_find_keyword("", &tag, NULL) == -ENOENT);
}

static void t_vr(struct tt *t)
{
	char s[3];

	TT_CHECK(t, dcm_vr_is_known(DCM_VR('P', 'N')));
	TT_CHECK(t, dcm_vr_is_known(DCM_VR('U', 'V')));
	TT_CHECK(t, !dcm_vr_is_known(DCM_VR('Z', 'Z')));
	TT_CHECK(t, !dcm_vr_is_known(0));
	TT_CHECK(t, dcm_vr_has_long_length(DCM_VR('O', 'B')));
	TT_CHECK(t, dcm_vr_has_long_length(DCM_VR_SQ));
	TT_CHECK(t, dcm_vr_has_long_length(DCM_VR('U', 'T')));
	TT_CHECK(t, !dcm_vr_has_long_length(DCM_VR('U', 'S')));
	TT_CHECK(t, !dcm_vr_has_long_length(DCM_VR('L', 'O')));
	TT_CHECK(t, !strcmp(dcm_vr_str(DCM_VR('D', 'A'), s), "DA"));
	TT_CHECK(t, !strcmp(dcm_vr_str(0, s), "--"));
	TT_CHECK(t, !strcmp(dcm_vr_str(0x0102, s), "??"));
}

TT_MAIN(TT_CASE(t_table_sorted), TT_CASE(t_exact), TT_CASE(t_ranges), TT_CASE(t_rules),
	TT_CASE(t_keyword), TT_CASE(t_vr))
