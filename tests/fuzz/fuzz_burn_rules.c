/* Fuzz target for anon/burn_rules.c: any bytes are refused with a reason or give rules
 * that match a small instance without fault. */
#include "core/core.h"

#include <stdlib.h>

#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.3", "1.2.840.10008.1.2.1"};
	struct burn_rules *r = NULL;
	struct ocr_lines out = {0};
	struct fiona_err err = {0};
	struct buf b;

	if (burn_rules_parse((const char *)data, size, &r, &err)) {
		if (!err.reason[0])
			abort();
		return 0;
	}
	buf_init(&b, 1u << 16);
	if (dcm_write_part10_header(&b, &m) == 0 &&
	    dcm_write_str(&b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "US") == 0)
		burn_rules_regions(r, b.data, b.len, 480, 640, &out, &err);
	ocr_lines_release(&out);
	buf_release(&b);
	burn_rules_free(r);
	return 0;
}
