/*
 * libFuzzer target: the DICOM reader. Any input is walked to its end or first error:
 * events must stay inside the input (value pointers and lengths), depth within bounds,
 * errors must carry a reason, and dcm_summary_read must agree on success or failure.
 */
#include "core/core.h"
#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_elem(const struct dcm_reader *r, const uint8_t *data, size_t size,
			    const struct dcm_elem *e)
{
	size_t n = size;
	const uint8_t *base = dcm_reader_inflated(r, &n);

	if (!base || e->in_meta) {
		base = data;
		n = size;
	}
	if (e->depth < 0 || e->depth > DCM_READ_MAX_DEPTH)
		abort();
	if (e->value) {
		if (e->value < base || e->value_offset > n || e->length > n - e->value_offset ||
		    e->value != base + e->value_offset)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcm_reader *r = NULL;
	struct dcm_summary s;
	struct fiona_err err;
	struct dcm_elem e;
	char str[80];
	uint32_t u;
	int rc;

	if (dcm_reader_new(data, size, &r, &err) < 0) {
		if (!err.reason[0] || dcm_summary_read(data, size, &s, &err) >= 0)
			abort();
		return 0;
	}
	while ((rc = dcm_reader_next(r, &e)) == 1) {
		fuzz_check_elem(r, data, size, &e);
		if (e.kind == DCM_ELEMENT) {
			(void)dcm_value_str(&e, str, sizeof(str));
			(void)dcm_value_u32(&e, &u);
		}
	}
	if (rc < 0 && (!dcm_reader_error(r)->reason[0] || dcm_reader_next(r, &e) != rc))
		abort();
	dcm_reader_free(r);
	(void)dcm_summary_read(data, size, &s, &err);
	return 0;
}
