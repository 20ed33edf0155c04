/*
 * gen_burned: ultrasound-like instances with identifying text burned into the pixels,
 * drawn with a real font (FreeType, DejaVu Sans), for the pixel-cleaning tests.
 *
 *   gen_burned -o DIR [--px N] [--seed S]
 *
 * Writes one 640x480 instance per image kind — MONOCHROME2 8 and 16 bit, MONOCHROME1 16
 * bit signed, RGB planar 0 and 1, YBR_FULL, YBR_FULL_422, PALETTE COLOR, and a 3-frame
 * RGB cine — each with the patient's name, national ID, birth date and accession drawn at
 * N px (default 14) over speckle, plus a clinical line ("12.3 cm 45 Hz") that is not
 * identifying. The header carries the same patient. DIR/manifest.tsv lists every file
 * and planted token (file, kind, token), so a test can OCR the output for each one.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "anon/anon.h"
#include "tests/gen/lib/ftext.h"

#define W 640
#define H 480

struct kind {
	const char *name, *pi;
	uint16_t spp, bits, planar;
	bool is_signed;
	long frames;
};

static const struct kind kinds[] = {
	{"mono2-8", "MONOCHROME2", 1, 8, 0, false, 1},
	{"mono2-16", "MONOCHROME2", 1, 16, 0, false, 1},
	{"mono1-16s", "MONOCHROME1", 1, 16, 0, true, 1},
	{"rgb", "RGB", 3, 8, 0, false, 1},
	{"rgb-planar", "RGB", 3, 8, 1, false, 1},
	{"ybr-full", "YBR_FULL", 3, 8, 0, false, 1},
	{"ybr-422", "YBR_FULL_422", 3, 8, 0, false, 1},
	{"palette", "PALETTE COLOR", 1, 8, 0, false, 1},
	{"rgb-cine", "RGB", 3, 8, 0, false, 3},
};

static const char *const planted[] = {"NORDMANN^OLA", "01017012345", "1970-01-01",
				      "20240315A77"};

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* The gray canvas of one frame: speckle in the lower part, text lines in the banner. */
static int canvas(uint8_t *g, int px, uint32_t *seed, long frame)
{
	static const char *const lines[] = {"NORDMANN^OLA", "ID 01017012345", "DOB 1970-01-01",
					    "ACC 20240315A77", "12.3 cm  45 Hz"};
	int rc = 0;

	memset(g, 0, (size_t)W * H);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			if (y > 200 || x > 320)
				g[y * W + x] = (uint8_t)(rnd(seed) % 90 + (uint32_t)frame * 3);
	for (size_t i = 0; !rc && i < CORE_ARRAY_SIZE(lines); i++)
		rc = ftext_draw(g, W, H, 12, 20 + (int)i * (px * 3 / 2 + 6), px, 235, lines[i], NULL);
	return rc;
}

/* One frame of kind k from the gray canvas, appended to px. */
static void convert(const struct kind *k, const uint8_t *g, uint8_t *out)
{
	size_t n = (size_t)W * H;

	for (size_t i = 0; i < n; i++) {
		unsigned v = g[i];

		if (k->spp == 1 && k->bits == 16) {
			int s = k->is_signed ? (int)(v * 16) - 2048 : (int)(v * 16);

			if (!strcmp(k->pi, "MONOCHROME1"))
				s = (k->is_signed ? 2047 : 4095) - (int)(v * 16);
			out[2 * i] = (uint8_t)s;
			out[2 * i + 1] = (uint8_t)((unsigned)s >> 8);
		} else if (k->spp == 1) {
			out[i] = (uint8_t)v;
		} else if (!strcmp(k->pi, "YBR_FULL_422")) {
			out[(i / 2) * 4 + i % 2] = (uint8_t)v;
			out[(i / 2) * 4 + 2] = out[(i / 2) * 4 + 3] = 128;
		} else {
			uint8_t c[3] = {(uint8_t)v, (uint8_t)v, (uint8_t)(v * 3 / 4)};

			if (!strcmp(k->pi, "YBR_FULL"))
				c[0] = (uint8_t)v, c[1] = c[2] = 128;
			for (size_t s = 0; s < 3; s++)
				out[k->planar ? s * n + i : 3 * i + s] = c[s];
		}
	}
}

static int put_us(struct buf *b, uint32_t tag, uint16_t v)
{
	uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	return dcm_write_elem(b, tag, DCM_VR('U', 'S'), le, 2);
}

static int header(struct buf *b, const struct kind *k, const char *sop, size_t ki)
{
	const char *cls = k->frames > 1 ? "1.2.840.10008.5.1.4.1.1.3.1" : "1.2.840.10008.5.1.4.1.1.6.1";
	struct dcm_meta m = {cls, sop, "1.2.840.10008.1.2.1"};
	char frames[16], uid[80];
	int rc = dcm_write_part10_header(b, &m);

	snprintf(frames, sizeof(frames), "%ld", k->frames);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), cls);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), sop);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0020), DCM_VR('D', 'A'), "20240315");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0050), DCM_VR('S', 'H'), "20240315A77");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "US");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0070), DCM_VR('L', 'O'), "ACME");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "NORDMANN^OLA");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), "01017012345");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0030), DCM_VR('D', 'A'), "19700101");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000D), DCM_VR('U', 'I'), "1.3.6.1.4.1.99998.1");
	snprintf(uid, sizeof(uid), "1.3.6.1.4.1.99998.1.%zu", ki + 1);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000E), DCM_VR('U', 'I'), uid);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0002), k->spp);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x0004), DCM_VR('C', 'S'), k->pi);
	if (k->spp == 3)
		rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0006), k->planar);
	if (k->frames > 1)
		rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x0008), DCM_VR('I', 'S'), frames);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0010), H);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0011), W);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0100), k->bits);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0101), k->bits == 16 ? 12 : 8);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0102), k->bits == 16 ? 11 : 7);
	rc = rc ? rc : put_us(b, DCM_TAG(0x0028, 0x0103), k->is_signed);
	if (!rc && !strcmp(k->pi, "PALETTE COLOR")) {
		uint8_t desc[6] = {0, 1, 0, 0, 8, 0}, lut[3][256];

		for (int v = 0; v < 256; v++)
			lut[0][v] = lut[1][v] = (uint8_t)v, lut[2][v] = (uint8_t)(v / 2);
		rc = dcm_write_elem(b, DCM_TAG(0x0028, 0x1101), DCM_VR('U', 'S'), desc, 6);
		rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x1102), DCM_VR('U', 'S'), desc, 6);
		rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x1103), DCM_VR('U', 'S'), desc, 6);
		for (int c = 0; !rc && c < 3; c++)
			rc = dcm_write_elem(b, DCM_TAG(0x0028, 0x1201 + c), DCM_VR('O', 'W'), lut[c],
					    256);
	}
	return rc;
}

static int write_kind(const char *dir, const struct kind *k, size_t ki, int px, uint32_t *seed,
		      FILE *man)
{
	size_t fs = (size_t)W * H * k->spp * (k->bits / 8), n;
	uint8_t *g = malloc((size_t)W * H), *pix;
	char sop[80], path[4200];
	struct buf b;
	int rc = 0;

	if (!strcmp(k->pi, "YBR_FULL_422"))
		fs = (size_t)W * H * 2;
	n = fs * (size_t)k->frames;
	pix = malloc(n);
	if (!g || !pix) {
		free(g);
		free(pix);
		return -ENOMEM;
	}
	for (long f = 0; !rc && f < k->frames; f++) {
		rc = canvas(g, px, seed, f);
		convert(k, g, pix + (size_t)f * fs);
	}
	buf_init(&b, (size_t)64 << 20);
	snprintf(sop, sizeof(sop), "1.3.6.1.4.1.99998.1.%zu.1", ki + 1);
	rc = rc ? rc : header(&b, k, sop, ki);
	rc = rc ? rc : dcm_write_elem(&b, DCM_TAG_PIXEL_DATA, DCM_VR('O', k->bits == 16 ? 'W' : 'B'), pix, n);
	snprintf(path, sizeof(path), "%s/%s.dcm", dir, k->name);
	rc = rc ? rc : core_write_file_atomic(path, b.data, b.len, 0644);
	for (size_t i = 0; !rc && i < CORE_ARRAY_SIZE(planted); i++)
		fprintf(man, "%s.dcm\t%s\t%s\n", k->name, k->name, planted[i]);
	buf_release(&b);
	free(g);
	free(pix);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	long px = 14, seed = 1;
	uint32_t s;
	char path[4200];
	FILE *man;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--px") && i + 1 < argc && !core_parse_long(argv[i + 1], 6, 64, &px))
			i++;
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc &&
			 !core_parse_long(argv[i + 1], 1, 1L << 30, &seed))
			i++;
		else
			dir = NULL, i = argc;
	}
	if (!dir) {
		fprintf(stderr, "usage: gen_burned -o DIR [--px N] [--seed S]\n");
		return 2;
	}
	s = (uint32_t)seed;
	snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
	if (core_mkdir_p(dir, 0755) || !(man = fopen(path, "w"))) {
		fprintf(stderr, "gen_burned: %s: cannot write\n", dir);
		return 1;
	}
	for (size_t i = 0; !rc && i < CORE_ARRAY_SIZE(kinds); i++)
		rc = write_kind(dir, &kinds[i], i, (int)px, &s, man);
	fclose(man);
	if (rc)
		fprintf(stderr, "gen_burned: %s\n", strerror(-rc));
	return rc ? 1 : 0;
}
