/* Fuzz target for deid_plan_load (anon/plan.c): a saved plan comes back from the catalog,
 * so whatever bytes a damaged row holds are refused or give a plan whose reads stay inside
 * its own bytes (reads of the original go to /dev/null: a short original is -EIO). */
#include "core/core.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct deid_plan *p = NULL;
	struct buf again;
	uint8_t out[4096];
	int fd;

	if (deid_plan_load(data, size, &p))
		return 0;
	fd = open("/dev/null", O_RDONLY);
	for (uint64_t off = 0; off < deid_plan_size(p) && off < (1u << 20); off += sizeof(out))
		if (deid_plan_read(p, fd, off, out, sizeof(out)) < 0)
			break;
	buf_init(&again, (size_t)1 << 28); /* what loads saves, and loads again the same */
	if (deid_plan_save(p, &again) == 0) {
		struct deid_plan *q = NULL;

		if (deid_plan_load(again.data, again.len, &q) || deid_plan_size(q) != deid_plan_size(p))
			abort();
		deid_plan_free(q);
	}
	buf_release(&again);
	close(fd);
	deid_plan_free(p);
	return 0;
}
