/*
 * ftext: text drawn with a real font (FreeType, DejaVu Sans from Debian's
 * fonts-dejavu-core), anti-aliased, into an 8-bit image: what burned-in annotations on
 * ultrasound and secondary captures look like, for the pixel-cleaning tests.
 */
#include "core/core.h"

#include <errno.h>
#include <ft2build.h>
#include FT_FREETYPE_H

#include "tests/gen/lib/ftext.h"

#define FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

int ftext_draw(uint8_t *img, int cols, int rows, int x, int y, int px, uint8_t ink,
	       const char *s, int box[4])
{
	FT_Library lib;
	FT_Face face;
	int pen = x, x0 = cols, y0 = rows, x1 = 0, y1 = 0;

	if (FT_Init_FreeType(&lib))
		return -EIO;
	if (FT_New_Face(lib, FONT, 0, &face) || FT_Set_Pixel_Sizes(face, 0, (FT_UInt)px)) {
		FT_Done_FreeType(lib);
		return -ENOENT;
	}
	for (const char *c = s; *c; c++) {
		FT_GlyphSlot g;

		if (FT_Load_Char(face, (FT_ULong)(unsigned char)*c, FT_LOAD_RENDER))
			continue;
		g = face->glyph;
		for (unsigned r = 0; r < g->bitmap.rows; r++)
			for (unsigned k = 0; k < g->bitmap.width; k++) {
				int yy = y - g->bitmap_top + (int)r, xx = pen + g->bitmap_left + (int)k;
				unsigned a = g->bitmap.buffer[r * (unsigned)g->bitmap.pitch + k];

				if (xx < 0 || yy < 0 || xx >= cols || yy >= rows || !a)
					continue;
				img[yy * cols + xx] = (uint8_t)((img[yy * cols + xx] * (255 - a) + ink * a) / 255);
				x0 = xx < x0 ? xx : x0;
				y0 = yy < y0 ? yy : y0;
				x1 = xx + 1 > x1 ? xx + 1 : x1;
				y1 = yy + 1 > y1 ? yy + 1 : y1;
			}
		pen += (int)(g->advance.x >> 6);
	}
	if (box) {
		box[0] = x0, box[1] = y0, box[2] = x1, box[3] = y1;
	}
	FT_Done_Face(face);
	FT_Done_FreeType(lib);
	return 0;
}
