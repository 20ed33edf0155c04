/*
 * corpus_mf: file output for the corpus generator (paths, index lines, free-text comments)
 * and the two special image kinds: secondary-capture dose pages with the patient's name
 * burned into the pixels, and an enhanced MR multi-frame image with shared and per-frame
 * functional groups.
 *
 * Invariants: every file written gets exactly one index.tsv line; every SOP Instance UID
 * and every comment naming the patient is planted in the manifest before the file is written.
 */
#include "core/core.h"

#include <errno.h>

#include "tests/gen/lib/corpus.h"

#define T ENC_TAG

#define UID_EMR "1.2.840.10008.5.1.4.1.1.4.1"
#define UID_SC	"1.2.840.10008.5.1.4.1.1.7"

uint32_t corpus_noise(struct corpus_gen *g)
{
	g->noise ^= g->noise << 13;
	g->noise ^= g->noise >> 17;
	g->noise ^= g->noise << 5;
	return g->noise;
}

int corpus_series_dir(struct corpus_gen *g, char *dir, size_t cap, unsigned pi, unsigned si,
		      const char *mod, const struct series *se, const char *name)
{
	char path[1024];
	int n = snprintf(dir, cap, "P%02u/ST%u_%s/SE%02u_%s", pi + 1, si, mod, se->number, name);

	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	n = snprintf(path, sizeof(path), "%s/%s", g->out, dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	return core_mkdir_p(path, 0755);
}

int corpus_ds_comment(struct corpus_gen *g, struct enc_ds *ds, const struct corpus_image *im)
{
	char text[256];

	snprintf(text, sizeof(text), "%s for %s, %s. Operator %s.", im->se->description,
		 im->p->plain, im->st->accession, im->st->operator_);
	if (enc_str(ds, T(0x0020, 0x4000), "LT", text))
		return -ENOMEM;
	return manifest_add(&g->c.man, "comment", text);
}

int corpus_image_write(struct corpus_gen *g, const struct corpus_image *im, struct enc_ds *ds,
		       const char *sop_uid)
{
	char path[1024];
	size_t size = 0;
	int rc, n;

	n = snprintf(path, sizeof(path), "%s/%s/%04u.dcm", g->out, im->dir, im->number);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	rc = enc_file_write(path, ds, &im->opts, im->sop_class, sop_uid, &size);
	if (rc) {
		fprintf(stderr, "gen_corpus: %s/%04u.dcm: %s\n", im->dir, im->number,
			strerror(-rc));
		return rc;
	}
	g->files++;
	g->bytes += size;
	n = fprintf(g->index, "%s/%04u.dcm\t%s\t%s\t%s\t%s\t%s\t%zu\t%d\n", im->dir, im->number,
		    im->sop_class, enc_ts_uid(im->opts.ts), im->st->uid, im->se->uid, sop_uid, size,
		    im->burned_in);
	return n < 0 ? -EIO : 0;
}

/* ---- secondary capture ------------------------------------------------------------ */

#define SC_COLS 640
#define SC_ROWS 480

/* A dose-report screen: dark background, table rules and the patient's data as text.
 * Pixel values are 16, 128, 200 and 255: never ASCII letters. */
static void sc_page(struct corpus_gen *g, const struct patient *p, const struct study *st,
		    unsigned page)
{
	uint8_t *px = g->pix8;
	char line[160];

	memset(px, 16, (size_t)SC_COLS * SC_ROWS);
	for (unsigned c = 20; c < SC_COLS - 20; c++) {
		px[(size_t)150 * SC_COLS + c] = 128;
		px[(size_t)(SC_ROWS - 40) * SC_COLS + c] = 128;
	}
	font_draw(px, SC_COLS, SC_ROWS, 20, 20, 2, 255, p->name);
	snprintf(line, sizeof(line), "ID %s  DOB %s  %s", p->id, p->birth, p->sex);
	font_draw(px, SC_COLS, SC_ROWS, 20, 50, 2, 255, line);
	snprintf(line, sizeof(line), "Acc %s  %s %s", st->accession, st->date, st->time);
	font_draw(px, SC_COLS, SC_ROWS, 20, 80, 2, 255, line);
	font_draw(px, SC_COLS, SC_ROWS, 20, 110, 2, 255, st->institution);
	snprintf(line, sizeof(line), "Dose report page %u  Total DLP %u.%u mGy*cm", page,
		 300 + corpus_noise(g) % 400, corpus_noise(g) % 10);
	font_draw(px, SC_COLS, SC_ROWS, 20, 170, 2, 200, line);
}

static int sc_module(struct enc_ds *ds, const struct series *se)
{
	int rc = enc_str(ds, T(0x0008, 0x0008), "CS", "DERIVED\\SECONDARY");

	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0064), "CS", "WSD");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1012), "DA", se->date);
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1014), "TM", se->time);
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1016), "LO", "ACME Medical Systems");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1018), "LO", "DoseWatch Screen");
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0020), "CS", "");
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0002), 1);
	rc = rc ? rc : enc_str(ds, T(0x0028, 0x0004), "CS", "MONOCHROME2");
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0010), SC_ROWS);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0011), SC_COLS);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0100), 8);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0101), 8);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0102), 7);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0103), 0);
	return rc ? rc : enc_str(ds, T(0x0028, 0x0301), "CS", "YES");
}

int corpus_sc_series_write(struct corpus_gen *g, const struct patient *p, const struct study *st,
			   unsigned pi)
{
	struct series se;
	struct corpus_image im = {p, st, &se, NULL, UID_SC, 0, {ENC_EXPLICIT_LE, 1, 0}, 1};
	char dir[256], uid[65];
	int rc = corpus_series_make(&g->c, st, 99, "Dose Report", 20, 0, &se);

	rc = rc ? rc : corpus_series_dir(g, dir, sizeof(dir), pi, 2, "CT", &se, "DOSE_SC");
	im.dir = dir;
	/* Page 1 native explicit VR LE, page 2 RLE Lossless. */
	for (unsigned i = 0; !rc && i < 2; i++) {
		struct enc_ds *ds = enc_ds_new();
		const uint8_t *frame;
		size_t flen;

		if (!ds)
			return -ENOMEM;
		sc_page(g, p, st, i + 1);
		corpus_uid(&g->c, uid);
		im.number = i + 1;
		im.opts.ts = i ? ENC_RLE : ENC_EXPLICIT_LE;
		rc = manifest_add(&g->c.man, "uid", uid);
		rc = rc ? rc : corpus_ds_common(ds, p, st, &se, UID_SC, uid, i + 1);
		rc = rc ? rc : sc_module(ds, &se);
		rc = rc ? rc : corpus_ds_comment(g, ds, &im);
		if (!rc && i) {
			buf_reset(&g->rle);
			rc = enc_rle_frame(g->pix8, (size_t)SC_COLS * SC_ROWS, 1, &g->rle);
			frame = g->rle.data;
			flen = g->rle.len;
			rc = rc ? rc : enc_pixels_encap(ds, &frame, &flen, 1);
		} else if (!rc) {
			rc = enc_pixels(ds, "OB", g->pix8, (size_t)SC_COLS * SC_ROWS, 1);
		}
		rc = rc ? rc : corpus_image_write(g, &im, ds, uid);
		enc_ds_free(ds);
	}
	return rc;
}

/* ---- enhanced MR ------------------------------------------------------------------ */

static int emr_top(struct enc_ds *ds, const struct series *se, const char *dt, unsigned frames)
{
	static const struct {
		uint16_t g, e;
		const char *vr, *v;
	} fixed[] = {
		{0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\VOLUME\\NONE"},
		{0x0008, 0x9205, "CS", "MONOCHROME"},
		{0x0008, 0x9206, "CS", "VOLUME"},
		{0x0008, 0x9207, "CS", "NONE"},
		{0x0008, 0x9208, "CS", "MAGNITUDE"},
		{0x0008, 0x9209, "CS", "T1"},
		{0x0018, 0x0023, "CS", "2D"},
		{0x0018, 0x0087, "DS", "3"},
		{0x0018, 0x9004, "CS", "PRODUCT"},
		{0x0018, 0x9005, "SH", "tse2d1"},
		{0x0018, 0x9008, "CS", "SPIN"},
		{0x0018, 0x9011, "CS", "NO"},
		{0x0018, 0x9012, "CS", "NO"},
		{0x0018, 0x9014, "CS", "NO"},
		{0x0018, 0x9015, "CS", "NO"},
		{0x0018, 0x9017, "CS", "NONE"},
		{0x0018, 0x9018, "CS", "NO"},
		{0x0018, 0x9024, "CS", "NO"},
		{0x0018, 0x9025, "CS", "NONE"},
		{0x0018, 0x9174, "CS", "IEC"},
		{0x0018, 0x9029, "CS", "NONE"},
		{0x0018, 0x9032, "CS", "RECTILINEAR"},
		{0x0018, 0x9033, "CS", "PARTIAL"},
		{0x0018, 0x9034, "CS", "LINEAR"},
		{0x0018, 0x9064, "CS", "NONE"},
		{0x0018, 0x9100, "CS", "1H"},
		{0x0020, 0x1040, "LO", ""},
		{0x0028, 0x0004, "CS", "MONOCHROME2"},
		{0x0028, 0x0301, "CS", "NO"},
		{0x0028, 0x2110, "CS", "00"},
		{0x2050, 0x0020, "CS", "IDENTITY"},
	};
	int rc = 0;

	for (size_t i = 0; !rc && i < CORE_ARRAY_SIZE(fixed); i++)
		rc = enc_str(ds, T(fixed[i].g, fixed[i].e), fixed[i].vr, fixed[i].v);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x002A), "DT", dt);
	rc = rc ? rc : enc_fd(ds, T(0x0018, 0x9073), 245.5);
	rc = rc ? rc : enc_us(ds, T(0x0018, 0x9093), 1);
	rc = rc ? rc : enc_seq_empty(ds, T(0x0040, 0x0555));
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0052), "UI", se->for_uid);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0002), 1);
	rc = rc ? rc : enc_strf(ds, T(0x0028, 0x0008), "IS", "%u", frames);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0010), 256);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0011), 256);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0100), 16);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0101), 12);
	rc = rc ? rc : enc_us(ds, T(0x0028, 0x0102), 11);
	return rc ? rc : enc_us(ds, T(0x0028, 0x0103), 0);
}

static int emr_dimensions(struct corpus_gen *g, struct enc_ds *ds)
{
	char uid[65];
	struct enc_ds *it;
	int rc;

	corpus_uid(&g->c, uid);
	rc = manifest_add(&g->c.man, "uid", uid);
	it = rc ? NULL : enc_seq_item(ds, T(0x0020, 0x9221));
	rc = it ? enc_str(it, T(0x0020, 0x9164), "UI", uid) : rc ? rc : -ENOMEM;
	it = rc ? NULL : enc_seq_item(ds, T(0x0020, 0x9222));
	rc = it ? enc_str(it, T(0x0020, 0x9164), "UI", uid) : rc ? rc : -ENOMEM;
	rc = rc ? rc : enc_at(it, T(0x0020, 0x9165), T(0x0020, 0x9057));
	rc = rc ? rc : enc_at(it, T(0x0020, 0x9167), T(0x0020, 0x9111));
	return rc ? rc : enc_str(it, T(0x0020, 0x9421), "LO", "In-Stack Position");
}

/* One item of sequence tag in parent with a single string element. */
static int item_str(struct enc_ds *parent, uint32_t seq, uint32_t tag, const char *vr,
		    const char *v, struct enc_ds **out)
{
	struct enc_ds *it = enc_seq_item(parent, seq);

	if (!it)
		return -ENOMEM;
	if (out)
		*out = it;
	return enc_str(it, tag, vr, v);
}

/* Safety sequences of the MR Timing and Related Parameters macro. */
static int emr_safety(struct enc_ds *timing)
{
	struct enc_ds *it = enc_seq_item(timing, T(0x0018, 0x9239));
	int rc;

	if (!it)
		return -ENOMEM;
	rc = enc_str(it, T(0x0018, 0x9179), "CS", "IEC_WHOLE_BODY");
	rc = rc ? rc : enc_fd(it, T(0x0018, 0x9181), 0.8);
	it = rc ? NULL : enc_seq_item(timing, T(0x0018, 0x9176));
	if (!it)
		return rc ? rc : -ENOMEM;
	rc = enc_str(it, T(0x0018, 0x9177), "CS", "IEC_SAR");
	return rc ? rc : enc_str(it, T(0x0018, 0x9178), "CS", "IEC_NORMAL");
}

static int emr_shared(struct enc_ds *ds)
{
	struct enc_ds *sh = enc_seq_item(ds, T(0x5200, 0x9229)), *it = NULL;
	int rc;

	if (!sh)
		return -ENOMEM;
	rc = item_str(sh, T(0x0028, 0x9110), T(0x0028, 0x0030), "DS", "0.9375\\0.9375", &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x0050), "DS", "5");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x0088), "DS", "6");
	rc = rc ? rc
		: item_str(sh, T(0x0020, 0x9116), T(0x0020, 0x0037), "DS", "1\\0\\0\\0\\1\\0",
			   NULL);
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9112), T(0x0018, 0x0080), "DS", "600", &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x1314), "DS", "150");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x0091), "IS", "3");
	rc = rc ? rc : enc_us(it, T(0x0018, 0x9240), 3);
	rc = rc ? rc : enc_us(it, T(0x0018, 0x9241), 0);
	rc = rc ? rc : emr_safety(it);
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9114), T(0x0018, 0x9082), "FD", "", &it);
	rc = rc ? rc : enc_fd(it, T(0x0018, 0x9082), 11.0);
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9115), T(0x0018, 0x9009), "CS", "NO", &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9010), "CS", "NONE");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9021), "CS", "NO");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9026), "CS", "NONE");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9027), "CS", "NONE");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9077), "CS", "NO");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9081), "CS", "NO");
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9006), T(0x0018, 0x9020), "CS", "NONE", &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9022), "CS", "NO");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9028), "CS", "NONE");
	rc = rc ? rc : enc_fd(it, T(0x0018, 0x9098), 123.2);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x0095), "DS", "220");
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9042), T(0x0018, 0x1250), "SH", "Head_32", &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9041), "LO", "ACME Medical Systems");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9043), "CS", "MULTICOIL");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9044), "CS", "NO");
	rc = rc ? rc : item_str(it, T(0x0018, 0x9045), T(0x0018, 0x9047), "SH", "HEA", &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9048), "CS", "YES");
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9049), T(0x0018, 0x1251), "SH", "Body", &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9050), "LO", "ACME Medical Systems");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9051), "CS", "BODY");
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9125), T(0x0018, 0x1312), "CS", "ROW", &it);
	rc = rc ? rc : enc_us(it, T(0x0018, 0x9058), 256);
	rc = rc ? rc : enc_us(it, T(0x0018, 0x9231), 256);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x0093), "DS", "100");
	rc = rc ? rc : enc_str(it, T(0x0018, 0x0094), "DS", "100");
	rc = rc ? rc : item_str(sh, T(0x0018, 0x9119), T(0x0018, 0x0083), "DS", "1", NULL);
	rc = rc ? rc : item_str(sh, T(0x0028, 0x9145), T(0x0028, 0x1052), "DS", "0", &it);
	rc = rc ? rc : enc_str(it, T(0x0028, 0x1053), "DS", "1");
	rc = rc ? rc : enc_str(it, T(0x0028, 0x1054), "LO", "US");
	rc = rc ? rc : item_str(sh, T(0x0028, 0x9132), T(0x0028, 0x1050), "DS", "800", &it);
	rc = rc ? rc : enc_str(it, T(0x0028, 0x1051), "DS", "1600");
	rc = rc ? rc
		: item_str(sh, T(0x0018, 0x9226), T(0x0008, 0x9007), "CS",
			   "ORIGINAL\\PRIMARY\\VOLUME\\NONE", &it);
	rc = rc ? rc : enc_str(it, T(0x0008, 0x9205), "CS", "MONOCHROME");
	rc = rc ? rc : enc_str(it, T(0x0008, 0x9206), "CS", "VOLUME");
	rc = rc ? rc : enc_str(it, T(0x0008, 0x9207), "CS", "NONE");
	rc = rc ? rc : enc_str(it, T(0x0008, 0x9208), "CS", "MAGNITUDE");
	rc = rc ? rc : enc_str(it, T(0x0008, 0x9209), "CS", "T1");
	rc = rc ? rc : item_str(sh, T(0x0020, 0x9071), T(0x0020, 0x9072), "CS", "U", &it);
	rc = rc ? rc : item_str(it, T(0x0008, 0x2218), T(0x0008, 0x0100), "SH", "69536005", &it);
	rc = rc ? rc : enc_str(it, T(0x0008, 0x0102), "SH", "SCT");
	return rc ? rc : enc_str(it, T(0x0008, 0x0104), "LO", "Head");
}

/* Per-frame groups: frame content (acquisition date-times) and plane position. */
static int emr_frame(struct enc_ds *ds, const char *date, const char *time, unsigned f,
		     unsigned frames)
{
	struct enc_ds *pf = enc_seq_item(ds, T(0x5200, 0x9230)), *it = NULL;
	char dt[32];
	int rc;

	if (!pf)
		return -ENOMEM;
	snprintf(dt, sizeof(dt), "%s%.4s%02u.%06u", date, time, f % 60, 125000u + f);
	rc = item_str(pf, T(0x0020, 0x9111), T(0x0018, 0x9074), "DT", dt, &it);
	rc = rc ? rc : enc_str(it, T(0x0018, 0x9151), "DT", dt);
	rc = rc ? rc : enc_fd(it, T(0x0018, 0x9220), 4.1);
	rc = rc ? rc : enc_str(it, T(0x0020, 0x9056), "SH", "1");
	rc = rc ? rc : enc_ul(it, T(0x0020, 0x9057), f + 1);
	rc = rc ? rc : enc_ul(it, T(0x0020, 0x9157), f + 1);
	it = NULL;
	if (!rc) {
		it = enc_seq_item(pf, T(0x0020, 0x9113));
		rc = it ? enc_strf(it, T(0x0020, 0x0032), "DS", "-120\\-120\\%.1f",
				   ((double)f - frames / 2.0) * 6.0)
			: -ENOMEM;
	}
	return rc;
}

int corpus_emr_series_write(struct corpus_gen *g, const struct patient *p, const struct study *st,
			    unsigned pi)
{
	struct series se;
	struct corpus_image im = {p, st, &se, NULL, UID_EMR, 1, {ENC_EXPLICIT_LE, 1, 0}, 0};
	unsigned frames = g->pr->emr_frames;
	struct enc_ds *ds = NULL;
	char dir[256], uid[65], dt[32];
	int rc = corpus_series_make(&g->c, st, 1, "T1 TSE enhanced", 2, 1, &se);

	rc = rc ? rc : corpus_series_dir(g, dir, sizeof(dir), pi, 3, "MR", &se, "T1_ENH");
	im.dir = dir;
	snprintf(dt, sizeof(dt), "%s%s.000000", se.date, se.time);
	corpus_uid(&g->c, uid);
	rc = rc ? rc : manifest_add(&g->c.man, "uid", uid);
	rc = rc ? rc : manifest_add(&g->c.man, "date", dt);
	ds = rc ? NULL : enc_ds_new();
	if (!ds)
		return rc ? rc : -ENOMEM;
	rc = corpus_ds_common(ds, p, st, &se, UID_EMR, uid, 1);
	rc = rc ? rc : emr_top(ds, &se, dt, frames);
	rc = rc ? rc : emr_dimensions(g, ds);
	rc = rc ? rc : emr_shared(ds);
	for (unsigned f = 0; !rc && f < frames; f++)
		rc = emr_frame(ds, se.date, se.time, f, frames);
	rc = rc ? rc : corpus_ds_comment(g, ds, &im);
	rc = rc ? rc
		: enc_pixels(ds, "OW", (const uint8_t *)g->pix, (size_t)frames * 256 * 256 * 2, 2);
	rc = rc ? rc : corpus_image_write(g, &im, ds, uid);
	enc_ds_free(ds);
	return rc;
}
