/*
 * libFuzzer target: the JSON project profile parser. Any accepted profile must answer
 * deid_decide() for a spread of tags (public, ranges, private, meta) and produce its
 * method codes and text, and its export keys (participant and per-tag rewrites stay
 * bounded, the zip layout is a known one); everything is freed (ASan checks leaks).
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
		DCM_TAG(0x0008, 0x103E), DCM_TAG(0x0018, 0x0015),
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
	{ /* export keys: rewrites stay bounded and NUL-terminated, layouts known */
		static const char *const vals[] = {"", "P_01_x", "T1 MPRAGE (sag)", "aaaaaaaa"};
		char out[65], small[8];
		for (size_t i = 0; i < CORE_ARRAY_SIZE(vals); i++) {
			deid_profile_participant(p, vals[i], out);
			if (!out[0] && vals[i][0])
				abort();
			for (size_t k = 0; k < CORE_ARRAY_SIZE(tags); k++)
				if (deid_profile_post(p, tags[k], vals[i], small, sizeof(small)) ==
					    0 &&
				    strlen(small) >= sizeof(small))
					abort();
		}
		if (deid_profile_zip_layout(p) > DEID_ZIP_FLAT)
			abort();
		(void)deid_profile_leaves_out(p, "1.2.840.10008.5.1.4.1.1.7", "OT");
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
