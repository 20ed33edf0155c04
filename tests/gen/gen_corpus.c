/*
 * gen_corpus: writes a synthetic, deterministic DICOM corpus for tests and benchmarks.
 *
 *   gen_corpus --preset tiny|small|large --seed N -o DIR
 *
 * Per invented patient: a classic MR study (T1, T2, DWI, FLAIR series, 256x256x16 bit), a
 * CT study (512x512 slices, an RLE-compressed series and a secondary-capture dose page with
 * the patient's name burned into the pixels) and an enhanced multi-frame MR study. Files go
 * to DIR/Pnn/STn_MOD/SEnn_NAME/nnnn.dcm; DIR/manifest.txt lists every planted identifying
 * string, DIR/index.tsv every file. Transfer syntaxes are mixed (explicit/implicit LE,
 * explicit BE, deflated, RLE) as are defined and undefined sequence lengths.
 *
 * Invariants: the same seed and preset give the same bytes. Stored pixel values stay below
 * 4096 for 16-bit images (and 8-bit pixels avoid ASCII letters), so no planted string can
 * appear by chance in pixel data of uncompressed files.
 */
#include "core/core.h"

#include <errno.h>
#include <math.h>

#include "tests/gen/lib/corpus.h"

#define T ENC_TAG

#define UID_MR	"1.2.840.10008.5.1.4.1.1.4"
#define UID_EMR "1.2.840.10008.5.1.4.1.1.4.1"
#define UID_CT	"1.2.840.10008.5.1.4.1.1.2"
#define UID_SC	"1.2.840.10008.5.1.4.1.1.7"

static const struct corpus_preset presets[] = {
	{"tiny", 2, 3, 4, 5, 2, 4, 5},
	{"small", 3, 4, 16, 50, 6, 16, 10},
	{"large", 6, 4, 24, 440, 20, 48, 20},
};

/* ---- pixels ----------------------------------------------------------------------- */

static int inside(double x, double y, double cx, double cy, double a, double b)
{
	double dx = (x - cx) / a, dy = (y - cy) / b;

	return dx * dx + dy * dy <= 1.0;
}

/* Contrast of each tissue per MR weighting: scalp, skull, grey, white, CSF. */
static const uint16_t mr_contrast[4][5] = {
	{900, 120, 800, 1100, 300}, /* T1 */
	{650, 90, 1000, 800, 2200}, /* T2 */
	{300, 40, 520, 460, 150},   /* DWI b=1000 */
	{700, 100, 1000, 850, 90},  /* FLAIR */
};

/* A head phantom slice at z in (-1, 1). */
static void mr_slice(struct corpus_gen *g, uint16_t *px, unsigned n, double z, unsigned contrast)
{
	double s = sqrt(1.0 - z * z);
	const uint16_t *v = mr_contrast[contrast];

	for (unsigned r = 0; r < n; r++) {
		double y = 2.0 * r / n - 1.0;

		for (unsigned col = 0; col < n; col++) {
			double x = 2.0 * col / n - 1.0;
			unsigned val = 0;

			if (inside(x, y, 0, 0, 0.72 * s, 0.9 * s)) {
				val = v[0];
				if (inside(x, y, 0, 0, 0.66 * s, 0.84 * s))
					val = v[1];
				if (inside(x, y, 0, 0, 0.62 * s, 0.8 * s))
					val = v[2];
				if (inside(x, y, 0, 0, 0.5 * s, 0.68 * s))
					val = v[3];
				if (inside(x, y, -0.12, -0.05, 0.07, 0.25 * s) ||
				    inside(x, y, 0.12, -0.05, 0.07, 0.25 * s))
					val = v[4];
			}
			val += corpus_noise(g) % 40;
			px[(size_t)r * n + col] = (uint16_t)(val > 4095 ? 4095 : val);
		}
	}
}

/* A chest/abdomen slice; stored value = HU + 1024, kept in [0, 4095]. */
static void ct_slice(struct corpus_gen *g, uint16_t *px, unsigned n, double z)
{
	int thorax = z > -0.2;

	for (unsigned r = 0; r < n; r++) {
		double y = 2.0 * r / n - 1.0;

		for (unsigned col = 0; col < n; col++) {
			double x = 2.0 * col / n - 1.0;
			int hu = -1000;

			if (inside(x, y, 0, 0.05, 0.85, 0.6)) {
				hu = -90; /* fat */
				if (inside(x, y, 0, 0.05, 0.8, 0.55))
					hu = 40;
				if (thorax && (inside(x, y, -0.4, 0, 0.3, 0.4) ||
					       inside(x, y, 0.4, 0, 0.3, 0.4)))
					hu = -820;
				if (inside(x, y, 0, 0.45, 0.09, 0.08))
					hu = 700; /* vertebra */
			}
			hu += (int)(corpus_noise(g) % 41) - 20;
			hu += 1024;
			px[(size_t)r * n + col] = (uint16_t)(hu < 0 ? 0 : hu > 4095 ? 4095 : hu);
		}
	}
}

/* ---- files ------------------------------------------------------------------------ */

/* Image Plane + Image Pixel for a slice of n x n, 16 bit, 12 stored. */
static int ds_plane(struct enc_ds *ds, const struct series *se, unsigned n, double spacing,
		    double thick, double z)
{
	double half = n * spacing / 2.0;
	int rc = enc_strf(ds, T(0x0018, 0x0050), "DS", "%g", thick);

	rc = rc ? rc : enc_strf(ds, T(0x0020, 0x0032), "DS", "%.4f\\%.4f\\%.2f", -half, -half, z);
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0037), "DS", "1\\0\\0\\0\\1\\0");
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0052), "UI", se->for_uid);
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x1040), "LO", "");
	rc = rc ? rc : enc_strf(ds, T(0x0020, 0x1041), "DS", "%.2f", z);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0002), 1);
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x0004), "CS", "MONOCHROME2");
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0010), (uint16_t)n);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0011), (uint16_t)n);
	rc = rc ? rc : enc_strf(ds, T(0x0028, 0x0030), "DS", "%g\\%g", spacing, spacing);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0100), 16);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0101), 12);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0102), 11);
	return rc ? rc : enc_us(ds, T(0x0028, 0x0103), 0);
}

static const char *const mr_names[4] = {"T1", "T2", "DWI", "FLAIR"};

static int mr_module(struct enc_ds *ds, unsigned kind, const struct series *se)
{
	static const char *const seq[4] = {"SE", "SE", "EP", "IR\\SE"};
	static const char *const tr[4] = {"550", "4200", "5100", "9000"};
	static const char *const te[4] = {"12", "95", "78", "120"};
	int rc = enc_str(ds, T(0x0008, 0x0008), "CS", "ORIGINAL\\PRIMARY\\M\\ND");

	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0022), "DA", se->date);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0032), "TM", se->time);
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0020), "CS", seq[kind]);
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0021), "CS", "SK\\SP");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0022), "CS", "");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0023), "CS", "2D");
	rc = rc ? rc : enc_strf(ds, T(0x0018, 0x0024), "SH", "*%s2d1", kind == 2 ? "ep_b" : "se");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0080), "DS", tr[kind]);
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0081), "DS", te[kind]);
	if (kind == 3)
		rc = rc ? rc : enc_str(ds, T(0x0018, 0x0082), "DS", "2500");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0083), "DS", "1");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0084), "DS", "123.2");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0085), "SH", "1H");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0086), "IS", "1");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0087), "DS", "3");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0088), "DS", "6");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0091), "IS", kind == 0 ? "1" : "16");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0095), "DS", "200");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1250), "SH", "Head_32");
	if (!rc) {
		uint8_t m[8] = {0, 0, 0, 1, 0, 1, 0, 0}; /* 0\256\256\0 */

		rc = enc_put(ds, T(0x0018, 0x1310), "US", m, 8);
	}
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1312), "CS", "ROW");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1314), "DS", kind == 0 ? "90" : "150");
	if (kind == 2)
		rc = rc ? rc : enc_fd(ds, T(0x0018, 0x9087), 1000.0);
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0012), "IS", "1");
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0020), "CS", "L\\P");
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x1050), "DS", "800");
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x1051), "DS", "1600");
	return rc;
}

static int mr_series_write(struct corpus_gen *g, const struct patient *p, const struct study *st,
			   unsigned pi, unsigned kind)
{
	struct series se;
	struct corpus_image im = {p, st, &se, NULL, UID_MR, 0, {ENC_EXPLICIT_LE, 0, 0}, 0};
	unsigned n = g->pr->mr_slices;
	char dir[256], uid[65];
	int rc = corpus_series_make(&g->c, st, kind + 1, mr_names[kind], 4 * kind, 1, &se);

	rc = rc ? rc : corpus_series_dir(g, dir, sizeof(dir), pi, 1, "MR", &se, mr_names[kind]);
	im.dir = dir;
	/* T1 explicit LE defined lengths, T2 implicit LE undefined, the rest explicit LE
	 * with undefined-length sequences and defined items. */
	im.opts.ts = kind == 1 ? ENC_IMPLICIT_LE : ENC_EXPLICIT_LE;
	im.opts.undef_seq = kind == 1 || kind == 3;
	im.opts.undef_item = kind == 2;
	for (unsigned i = 0; !rc && i < n; i++) {
		double zr = ((double)i + 0.5) / n * 1.6 - 0.8;
		struct enc_ds *ds = enc_ds_new();

		if (!ds)
			return -ENOMEM;
		mr_slice(g, g->pix, 256, zr, kind);
		corpus_uid(&g->c, uid);
		im.number = i + 1;
		rc = manifest_add(&g->c.man, "uid", uid);
		rc = rc ? rc : corpus_ds_common(ds, p, st, &se, UID_MR, uid, i + 1);
		rc = rc ? rc : mr_module(ds, kind, &se);
		rc = rc ? rc : ds_plane(ds, &se, 256, 0.9375, 5.0, (i - n / 2.0) * 6.0);
		rc = rc ? rc : corpus_ds_comment(g, ds, &im);
		rc = rc ? rc : enc_pixels(ds, "OW", (const uint8_t *)g->pix, 256 * 256 * 2, 2);
		rc = rc ? rc : corpus_image_write(g, &im, ds, uid);
		enc_ds_free(ds);
	}
	return rc;
}

static int ct_module(struct enc_ds *ds, const struct series *se)
{
	int rc = enc_str(ds, T(0x0008, 0x0008), "CS", "ORIGINAL\\PRIMARY\\AXIAL");

	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0022), "DA", se->date);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0032), "TM", se->time);
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0022), "CS", "HELICAL_CT");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0060), "DS", "120");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x0090), "DS", "500");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1100), "DS", "350");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1120), "DS", "0");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1130), "DS", "160");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1140), "CS", "CW");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1150), "IS", "500");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1151), "IS", "210");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1152), "IS", "105");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1160), "SH", "BODY");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1210), "SH", "B30f");
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0012), "IS", "1");
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0020), "CS", "L\\P");
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x1050), "DS", "40");
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x1051), "DS", "400");
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x1052), "DS", "-1024");
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x1053), "DS", "1");
	return rc ? rc : enc_str(ds, T(0x0028, 0x1054), "LO", "HU");
}

/* One CT series: native with a mix of transfer syntaxes, or all RLE. */
static int ct_series_write(struct corpus_gen *g, const struct patient *p, const struct study *st,
			   unsigned pi, unsigned number, int rle)
{
	struct series se;
	struct corpus_image im = {p, st, &se, NULL, UID_CT, 0, {ENC_EXPLICIT_LE, 0, 0}, 0};
	unsigned n = rle ? g->pr->ct_rle_slices : g->pr->ct_slices, mix = g->pr->mix;
	const char *name = rle ? "BONE_RLE" : "AXIAL";
	char dir[256], uid[65];
	int rc = corpus_series_make(&g->c, st, number, rle ? "Bone 2.0 RLE" : "Thorax Abd 1.25",
				    3 * number, 1, &se);

	rc = rc ? rc : corpus_series_dir(g, dir, sizeof(dir), pi, 2, "CT", &se, name);
	im.dir = dir;
	for (unsigned i = 0; !rc && i < n; i++) {
		double zr = 0.9 - 1.8 * ((double)i + 0.5) / n;
		struct enc_ds *ds = enc_ds_new();
		const uint8_t *frame;
		size_t flen;

		if (!ds)
			return -ENOMEM;
		ct_slice(g, g->pix, 512, zr);
		corpus_uid(&g->c, uid);
		im.number = i + 1;
		im.opts.ts = rle	    ? ENC_RLE
			     : i % mix == 2 ? ENC_EXPLICIT_BE
			     : i % mix == 3 ? ENC_DEFLATED
			     : i % mix == 4 ? ENC_IMPLICIT_LE
					    : ENC_EXPLICIT_LE;
		im.opts.undef_seq = i & 1;
		rc = manifest_add(&g->c.man, "uid", uid);
		rc = rc ? rc : corpus_ds_common(ds, p, st, &se, UID_CT, uid, i + 1);
		rc = rc ? rc : ct_module(ds, &se);
		rc = rc ? rc : ds_plane(ds, &se, 512, 0.683594, 1.25, -100.0 - 1.25 * i);
		rc = rc ? rc : corpus_ds_comment(g, ds, &im);
		if (!rc && rle) {
			buf_reset(&g->rle);
			rc = enc_rle_frame((const uint8_t *)g->pix, 512 * 512, 2, &g->rle);
			frame = g->rle.data;
			flen = g->rle.len;
			rc = rc ? rc : enc_pixels_encap(ds, &frame, &flen, 1);
		} else if (!rc) {
			rc = enc_pixels(ds, "OW", (const uint8_t *)g->pix, 512 * 512 * 2, 2);
		}
		rc = rc ? rc : corpus_image_write(g, &im, ds, uid);
		enc_ds_free(ds);
	}
	return rc;
}

static int patient_write(struct corpus_gen *g, unsigned pi)
{
	struct patient p;
	struct study mr, ct, emr;
	int rc = corpus_patient_make(&g->c, pi, &p);

	rc = rc ? rc : corpus_study_make(&g->c, &p, "MR", &mr);
	for (unsigned k = 0; !rc && k < g->pr->mr_series; k++)
		rc = mr_series_write(g, &p, &mr, pi, k);
	rc = rc ? rc : corpus_study_make(&g->c, &p, "CT", &ct);
	rc = rc ? rc : ct_series_write(g, &p, &ct, pi, 2, 0);
	rc = rc ? rc : ct_series_write(g, &p, &ct, pi, 3, 1);
	rc = rc ? rc : corpus_sc_series_write(g, &p, &ct, pi);
	rc = rc ? rc : corpus_study_make(&g->c, &p, "MR", &emr);
	for (unsigned f = 0; !rc && f < g->pr->emr_frames; f++) /* frames for the enhanced MR */
		mr_slice(g, g->pix + (size_t)f * 256 * 256, 256,
			 ((double)f + 0.5) / g->pr->emr_frames * 1.6 - 0.8, 0);
	return rc ? rc : corpus_emr_series_write(g, &p, &emr, pi);
}

static int usage(void)
{
	fprintf(stderr, "usage: gen_corpus --preset tiny|small|large --seed N -o DIR\n");
	return 2;
}

static int gen_run(struct corpus_gen *g)
{
	char path[1024];
	FILE *man = NULL;
	int rc = core_mkdir_p(g->out, 0755);

	snprintf(path, sizeof(path), "%s/manifest.txt", g->out);
	man = rc ? NULL : fopen(path, "w");
	snprintf(path, sizeof(path), "%s/index.tsv", g->out);
	g->index = man ? fopen(path, "w") : NULL;
	if (!g->index) {
		rc = rc ? rc : -errno;
		goto fail;
	}
	rc = manifest_init(&g->c.man, man);
	for (unsigned i = 0; !rc && i < g->pr->patients; i++)
		rc = patient_write(g, i);
fail:
	manifest_release(&g->c.man);
	if (g->index && fclose(g->index) && !rc)
		rc = -EIO;
	if (man && fclose(man) && !rc)
		rc = -EIO;
	return rc;
}

int main(int argc, char **argv)
{
	struct corpus_gen g;
	const char *preset = "tiny";
	long seed = 1;
	double t0 = core_now_mono();
	int rc;

	memset(&g, 0, sizeof(g));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--preset") && i + 1 < argc)
			preset = argv[++i];
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			if (core_parse_long(argv[++i], 0, 2147483647L, &seed))
				return usage();
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			g.out = argv[++i];
		else
			return usage();
	}
	for (size_t i = 0; i < CORE_ARRAY_SIZE(presets); i++)
		if (!strcmp(preset, presets[i].name))
			g.pr = &presets[i];
	if (!g.pr || !g.out)
		return usage();
	rng_seed(&g.c.rng, (uint64_t)seed);
	g.c.seed = (uint64_t)seed;
	g.noise = (uint32_t)seed * 2654435761u + 1u;
	buf_init(&g.rle, (size_t)64 << 20);
	g.pix = malloc((size_t)512 * 512 * 2 * (g.pr->emr_frames > 4 ? g.pr->emr_frames : 4));
	g.pix8 = malloc((size_t)640 * 480);
	rc = g.pix && g.pix8 ? gen_run(&g) : -ENOMEM;
	free(g.pix);
	free(g.pix8);
	buf_release(&g.rle);
	if (rc) {
		fprintf(stderr, "gen_corpus: %s\n", strerror(-rc));
		return 1;
	}
	fprintf(stderr, "gen_corpus: preset %s seed %ld: %zu files, %zu bytes, %.1f s\n",
		g.pr->name, seed, g.files, g.bytes, core_now_mono() - t0);
	return 0;
}
