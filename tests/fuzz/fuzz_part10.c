/* libFuzzer target for net_part10_scan(): the Part-10 meta header scanner that
 * net_assoc_store() runs on every instance it sends. */
#include "core/core.h"

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sop[65], ts[65];
	size_t off;

	if (net_part10_scan(data, size, &off, sop, ts, sizeof(sop)) == 0 && off > size)
		__builtin_trap(); /* the data set offset must lie inside the input */
	return 0;
}
