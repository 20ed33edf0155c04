/* Unit tests for anon/burn.c's detectors: header values matched through OCR's usual
 * errors, patterns that need no header, clinical text kept, all-text mode. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
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

static int us_instance(struct buf *b, const char *manufacturer)
{
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.3.5", "1.2.840.10008.1.2.1"};
	uint8_t rows[2] = {0xE0, 0x01}; /* 480 */
	int rc = dcm_write_part10_header(b, &m);

	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "US");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0070), DCM_VR('L', 'O'), manufacturer);
	return rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), rows, 2);
}

/* Region rules: every matching rule applies, text contains (case ignored) and numbers
 * equal, negative corners count from the far edge; bad files name rule and key. */
static void test_region_rules(struct tt *t)
{
	static const char rules_json[] =
		"{\"rules\": ["
		" {\"name\": \"banner\", \"match\": {\"Modality\": \"US\", \"Rows\": 480},"
		"  \"regions\": [[0, 0, 640, 60]]},"
		" {\"match\": {\"Manufacturer\": \"acme\"}, \"regions\": [[-100, -20, 100, 20]]},"
		" {\"match\": {\"Manufacturer\": \"other\"}, \"regions\": [[1, 1, 1, 1]]}]}";
	static const char *const bad[] = {
		"{\"rules\": [{\"match\": {\"NoSuchKeyword\": 1}, \"regions\": [[0,0,1,1]]}]}",
		"{\"rules\": [{\"match\": {\"Rows\": 1}, \"regions\": [[0,0,0,1]]}]}",
		"{\"rules\": [{\"match\": {\"Rows\": 1}, \"regions\": [[0,0,1,1]], \"x\": 1}]}",
		"{\"rules\": [{\"regions\": [[0,0,1,1]]}]}",
		"{\"rules\": [], \"more\": 1}",
		"{\"rules\": [",
	};
	struct burn_rules *r = NULL;
	struct ocr_lines out = {0};
	struct fiona_err err = {0};
	struct buf b;

	buf_init(&b, 1u << 20);
	TT_CHECK(t, burn_rules_parse(rules_json, strlen(rules_json), &r, &err) == 0);
	TT_CHECK(t, us_instance(&b, "ACME Medical") == 0);
	TT_CHECK(t, burn_rules_regions(r, b.data, b.len, 480, 640, &out, &err) == 0 && out.n == 2);
	TT_CHECK(t, out.v[0].x0 == 0 && out.v[0].x1 == 640 && out.v[0].y1 == 60);
	TT_CHECK(t, out.v[1].x0 == 540 && out.v[1].y0 == 460 && out.v[1].x1 == 640);
	ocr_lines_release(&out);
	b.len = 0;
	TT_CHECK(t, us_instance(&b, "Vendor") == 0);
	TT_CHECK(t, burn_rules_regions(r, b.data, b.len, 480, 640, &out, &err) == 0 && out.n == 1);
	ocr_lines_release(&out);
	burn_rules_free(r);
	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		r = NULL;
		TT_CHECK_MSG(t, burn_rules_parse(bad[i], strlen(bad[i]), &r, &err) == -EINVAL && !r,
			     "bad rules %zu accepted", i);
		TT_CHECK_MSG(t, err.reason[0], "bad rules %zu: no reason", i);
	}
	TT_CHECK(t, strstr(err.reason, "line") != NULL); /* the JSON error names its place */
	buf_release(&b);
}

TT_MAIN(TT_CASE(test_detectors), TT_CASE(test_region_rules))
