/* Fuzz target for anon/pixel.c: any bytes either give no image or an image whose every
 * frame renders and takes a filled rectangle without reading or writing outside it. */
#include "core/core.h"

#include <stdlib.h>

#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fiona_err err = {0};
	struct pix_image im;
	uint8_t *gray;

	if (pix_image_read(data, size, &im, &err))
		return 0;
	if (im.data && (gray = malloc((size_t)im.rows * im.cols))) {
		for (long f = 0; f < im.frames && f < 4; f++) {
			uint8_t *fr = im.data + (size_t)f * pix_frame_size(&im);

			pix_fill_rect(&im, fr, -5, 3, im.cols, 7);
			pix_frame_gray8(&im, fr, gray);
		}
		free(gray);
	}
	pix_image_release(&im);
	return 0;
}
