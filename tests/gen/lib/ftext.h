/* Text drawn with FreeType and DejaVu Sans into 8-bit images (tests/gen/lib/ftext.c). */
#ifndef FIONA_TESTS_FTEXT_H
#define FIONA_TESTS_FTEXT_H

#include <stdint.h>

/* Draws s with its baseline at (x, y), px pixels high, blending ink over img (cols x rows,
 * one byte per pixel). box (may be NULL) gets the inked pixels' bounds x0 y0 x1 y1.
 * 0, -ENOENT if the font is missing, -EIO if FreeType fails. */
int ftext_draw(uint8_t *img, int cols, int rows, int x, int y, int px, uint8_t ink,
	       const char *s, int box[4]);

#endif
