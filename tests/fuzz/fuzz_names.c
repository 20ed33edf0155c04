/* Fuzz target for fs/names.c: whatever bytes a sender puts in a header, the name is
 * non-empty, bounded, has no '/', no control or non-ASCII bytes, and is not hidden. */
#include "core/core.h"

#include <stdlib.h>

#include "fs/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[FS_NAME_MAX + 1];
	size_t n = fs_name_sanitize((const char *)data, size, out, sizeof(out));

	if (n == 0 || n > FS_NAME_MAX || strlen(out) != n || out[0] == '.' || out[0] == ' ')
		abort();
	for (size_t i = 0; i < n; i++)
		if (out[i] == '/' || (unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
			abort();
	return 0;
}
