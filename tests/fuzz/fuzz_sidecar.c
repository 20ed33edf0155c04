/* Fuzz target for fs/nifti_view.c's sidecar filter: whatever dcm2niix writes (its values
 * come from DICOM headers), the filter either refuses it or returns a text no longer than
 * its input from which a second pass takes nothing more (every member that could identify
 * is gone, and taking one out never makes another). */
#include "core/core.h"

#include <stdlib.h>

#include "fs/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *b = malloc(size + 1);
	size_t n = 0, n2 = 0;
	int rc;

	if (!b)
		return 0;
	memcpy(b, data, size);
	b[size] = '\0';
	rc = fs_nifti_sidecar_strip(b, size, &n);
	if (rc >= 0 && (n > size || fs_nifti_sidecar_strip(b, n, &n2) != 0 || n2 != n))
		abort();
	free(b);
	return 0;
}
