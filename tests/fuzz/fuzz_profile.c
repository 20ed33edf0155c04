/*
 * libFuzzer target: the JSON project profile parser. Any accepted profile must answer
 * deid_decide() for a spread of tags (public, ranges, private, meta) and produce its
 * method codes and text; everything is freed (ASan checks leaks).
 */
#include "core/core.h"
#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t tags[] = {
		DCM_TAG(0x0002, 0x0003), DCM_TAG(0x0008, 0x0018), DCM_TAG(0x0008, 0x0020),
		DCM_TAG(0x0008, 0x0080), DCM_TAG(0x0010, 0x0010), DCM_TAG(0x0011, 0x0010),
		DCM_TAG(0x0011, 0x1010), DCM_TAG(0x0019, 0x100C), DCM_TAG(0x5000, 0x3000),
		DCM_TAG(0x6002, 0x3000), DCM_TAG(0x0008, 0x2112), DCM_TAG(0x0018, 0x1000),
	};
	struct deid_profile *p = NULL;
	struct deid_decision d;
	struct deid_code codes[12];
	struct fiona_err err;
	int lo, hi;

	if (deid_profile_parse(data, size, &p, &err) < 0)
		return 0;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(tags); i++) {
		if (deid_decide(p, tags[i], DCM_VR('L', 'O'), "ACME 1.0", NULL, &d) < 0)
			abort();
		if ((d.action == DEID_SET || d.action == DEID_CAPTURE) && !d.arg)
			abort();
	}
	{
		char out[64];
		(void)deid_profile_capture(p, DCM_TAG(0x0010, 0x0020), "SITE-P042 abc", out,
					   sizeof(out));
	}
	if (deid_method_codes(p, codes, CORE_ARRAY_SIZE(codes)) > CORE_ARRAY_SIZE(codes))
		abort();
	if (!deid_method_text(p)[0])
		abort();
	deid_profile_date_range(p, &lo, &hi);
	if (lo > hi)
		abort();
	deid_profile_free(p);
	return 0;
}
