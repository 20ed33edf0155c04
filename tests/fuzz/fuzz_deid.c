/* libFuzzer target for the de-identification engine: any bytes either fail with an error
 * or give a plan whose size equals what deid_plan_read() produces from them, and whose
 * output the reader accepts again (fiona never writes a file it cannot read). */
#include "core/core.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_plan(const struct deid_plan *plan, const uint8_t *data, size_t size)
{
	uint64_t n = deid_plan_size(plan);
	int fd = memfd_create("fuzz_deid", 0);
	struct dcm_reader *r = NULL;
	struct fiona_err err;
	struct dcm_elem e;
	uint8_t *out;

	if (fd < 0 || core_write_all(fd, data, size) || n > (64u << 20) || !(out = malloc(n + 1)))
		goto done;
	if (deid_plan_read(plan, fd, 0, out, n) != (ssize_t)n)
		__builtin_trap();
	if (dcm_reader_new(out, n, &r, &err) != 0)
		__builtin_trap();
	while (dcm_reader_next(r, &e) == 1)
		;
	if (dcm_reader_error(r)->reason[0])
		__builtin_trap();
	dcm_reader_free(r);
	free(out);
done:
	if (fd >= 0)
		close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct deid_profile *prof;
	struct deid_secret secret = {.key = {1, 2, 3}, .len = 32};
	struct deid_job job;
	struct deid_plan *plan = NULL;
	struct deid_outcome o;
	struct fiona_err err;

	if (!prof && deid_profile_new_default(&prof))
		return 0;
	if (deid_job_init(&job, prof, &secret, "PROJ01", "PROJ01-0001", "baseline"))
		return 0;
	if (deid_instance_plan(&job, data, size, &plan, &o, &err) == 0)
		check_plan(plan, data, size);
	deid_plan_free(plan);
	return 0;
}
