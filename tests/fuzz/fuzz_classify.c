/* Fuzz target for store/classify.c: any bytes give rules or an error, never a crash, leak
 * or hang. Rules that parse are also evaluated against a fixed small instance, so the
 * evaluator meets whatever operators, values and references the fuzzer invents. */
#include "core/core.h"

#include "anon/anon.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int instance(struct buf *b)
{
	static const struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.4", "2.25.1",
					  "1.2.840.10008.1.2.1"};
	uint16_t rows = 64;
	int rc = dcm_write_part10_header(b, &m);

	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x0008), DCM_VR('C', 'S'), "ORIGINAL\\PRIMARY");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'), "T1 sag");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0080), DCM_VR('D', 'S'), "550");
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0020, 0x0037), DCM_VR('D', 'S'), "1\\0\\0\\0\\1\\0");
	return rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), &rows, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct classify_series_facts facts = {3};
	struct classify_rules *r = NULL;
	struct fiona_err err = {0};
	char out[256];
	struct buf b;

	if (classify_rules_parse((const char *)data, size, &r, &err) != 0)
		return 0;
	buf_init(&b, 1 << 16);
	if (instance(&b) == 0)
		classify_series(r, b.data, b.len, &facts, out, sizeof(out), &err);
	buf_release(&b);
	classify_rules_free(r);
	return 0;
}
