/* Unit tests for anon/burn.c's detectors: header values matched through OCR's usual
 * errors, patterns that need no header, clinical text kept, all-text mode. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <stdlib.h>

#include "anon/anon.h"

static int instance(struct buf *b)
{
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.3.4", "1.2.840.10008.1.2.1"};
	int rc = dcm_write_part10_header(b, &m);

	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0050), DCM_VR('S', 'H'), "X99");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0080), DCM_VR('L', 'O'), "St Olav");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "Haugland^Kari Mette");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), "K4-77");
	return rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0030), DCM_VR('D', 'A'), "19851231");
}

static void test_detectors(struct tt *t)
{
	static const struct {
		const char *line;
		bool identifying;
	} cases[] = {
		{"HAUGLAND, KARI", true},	/* a name part */
		{"Pt: HAUG1AND", true},		/* OCR: 1 for L */
		{"Kari M", true},		/* a given name alone */
		{"ID K4-77", true},		/* the ID, short but exact */
		{"DOB 31.12.1985", true},	/* the birth date as a Norwegian screen writes it */
		{"12/31/1985", true},		/* and as an American one */
		{"2024-03-15 14:22", true},	/* a date no header names */
		{"12017012345", true},		/* an 11-digit number */
		{"ACC 2O24O315A77", true},	/* accession-like, O for 0 */
		{"12.3 cm  45 Hz", false},	/* clinical */
		{"B-mode  C5-1  MI 0.9", false},/* probe and index */
		{"R", false},			/* a marker */
	};
	struct burn_terms terms;
	struct fiona_err err = {0};
	struct buf b;

	buf_init(&b, 1u << 20);
	TT_CHECK(t, instance(&b) == 0);
	TT_CHECK(t, burn_terms_read(b.data, b.len, &terms, &err) == 0);
	for (size_t i = 0; i < CORE_ARRAY_SIZE(cases); i++)
		TT_CHECK_MSG(t, burn_line_identifying(&terms, cases[i].line, false) == cases[i].identifying,
			     "case %zu: \"%s\"", i, cases[i].line);
	TT_CHECK(t, burn_line_identifying(&terms, "45 Hz", true));
	TT_CHECK(t, !burn_line_identifying(&terms, ".", true));
	burn_terms_release(&terms);
	buf_release(&b);
}

TT_MAIN(TT_CASE(test_detectors))
