/* Unit tests for anon/review*.c: the attributes of de-identified files as paths (nested,
 * private by creator), values as shown (escaped, binary as a length and short hex),
 * reading a file without its pixel bytes (native and encapsulated, with elements after
 * the pixel data, headers longer than the first read), saved summaries merged (counts,
 * distinct values, caps) and damaged ones refused, and the TSV. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>

#include "anon/anon.h"

#define T_PIXELS 200000

struct t_file {
	struct buf b;
	uint64_t px_from, px_to; /* value bytes of the pixel data: never to be read */
	int bad_reads;		 /* reads of pixel bytes but the file's head */
	uint64_t px_read;
	uint64_t read_bytes;
};

static ssize_t t_read(void *opaque, uint64_t off, void *dst, size_t len)
{
	struct t_file *f = opaque;

	if (off >= f->b.len)
		return 0;
	if (len > f->b.len - off)
		len = f->b.len - (size_t)off;
	if (off < f->px_to && off + len > f->px_from) { /* the first 64 KiB may hold some */
		uint64_t a = off > f->px_from ? off : f->px_from;
		uint64_t z = off + len < f->px_to ? off + len : f->px_to;

		f->px_read += z - a;
		f->bad_reads += off > 0;
	}
	memcpy(dst, f->b.data + off, len);
	f->read_bytes += len;
	return (ssize_t)len;
}

/* A file: meta, a few public elements, a private block, a nested sequence, a value of
 * long_text bytes, pixel data (native, or encapsulated in 3 fragments), then a trailing
 * element. name: PatientName's value. */
static int t_make(struct t_file *f, const char *name, size_t long_text, bool encapsulated)
{
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.4", "1.2.3.4",
			     encapsulated ? "1.2.840.10008.1.2.4.50" : "1.2.840.10008.1.2.1"};
	struct buf *b = &f->b;
	uint8_t *px = calloc(1, T_PIXELS * 8);
	int rc;

	buf_init(b, 1 << 26);
	rc = px ? dcm_write_part10_header(b, &m) : -ENOMEM;
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'), "T1\tax\\x");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), name);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0019, 0x0010), DCM_VR('L', 'O'), "ACME 1");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0019, 0x100C), DCM_VR('L', 'O'), "kept");
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), "\x00\x02", 2);
	rc = rc ? rc : dcm_write_seq_begin(b, DCM_TAG(0x0040, 0x0275));
	for (int i = 0; !rc && i < 2; i++) {
		rc = dcm_write_item_begin(b);
		rc = rc ? rc
			: dcm_write_str(b, DCM_TAG(0x0040, 0x0009), DCM_VR('S', 'H'),
					i ? "B" : "A");
		rc = rc ? rc : dcm_write_item_end(b);
	}
	rc = rc ? rc : dcm_write_seq_end(b);
	if (!rc && long_text) {
		char *t = malloc(long_text + 1);

		rc = t ? 0 : -ENOMEM;
		if (t) {
			memset(t, 'x', long_text);
			t[long_text] = '\0';
			rc = dcm_write_str(b, DCM_TAG(0x0040, 0xA160), DCM_VR('U', 'T'), t);
		}
		free(t);
	}
	if (!rc && !encapsulated) {
		rc = dcm_write_header(b, DCM_TAG_PIXEL_DATA, DCM_VR('O', 'W'), T_PIXELS);
		f->px_from = b->len;
		rc = rc ? rc : buf_append(b, px, T_PIXELS);
		f->px_to = b->len;
	} else if (!rc) {
		static const uint8_t beg[] = {0xe0, 0x7f, 0x10, 0x00, 'O',  'B',
					      0,    0,	  0xff, 0xff, 0xff, 0xff};
		rc = buf_append(b, beg, sizeof(beg));
		for (int i = 0; !rc && i < 3; i++) {
			uint32_t n = i ? T_PIXELS * 8 : 0;
			uint8_t h[8] = {0xfe,
					0xff,
					0x00,
					0xe0,
					(uint8_t)n,
					(uint8_t)(n >> 8),
					(uint8_t)(n >> 16),
					0};

			rc = buf_append(b, h, 8);
			if (i == 1)
				f->px_from = b->len;
			rc = rc ? rc : buf_append(b, px, n);
			if (i == 1)
				f->px_to = b->len; /* one fragment's bytes */
		}
		rc = rc ? rc : buf_append(b, "\xfe\xff\xdd\xe0\0\0\0\0", 8);
	}
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0xFFFC, 0xFFFC), DCM_VR('O', 'B'), "\x01\x02", 2);
	free(px);
	return rc;
}

static int t_text(struct review_sum *s, struct buf *out)
{
	buf_init(out, 1 << 24);
	return review_sum_text(s, out);
}

static bool t_has(const struct buf *b, const char *row)
{
	return strstr((const char *)b->data, row) != NULL;
}

static void review_escape_bytes(struct tt *t)
{
	char out[64];

	review_escape((const uint8_t *)"a\tb\nc\rd\\e\x01\xff", 11, out, sizeof(out));
	TT_CHECK_MSG(t, !strcmp(out, "a\\tb\\nc\\rd\\\\e\\x01\\xff"), "%s", out);
	review_escape((const uint8_t *)"\x01\x02", 2, out, 6);
	TT_CHECK_MSG(t, !strcmp(out, "\\x01"), "cut at a whole escape: %s", out);
}

static void review_file_native(struct tt *t)
{
	struct t_file f = {0};
	struct review_sum *s = NULL;
	struct fiona_err err = {0};
	struct buf out = {0};
	int rc;

	TT_CHECK(t, t_make(&f, "DOE^JOHN", 0, false) == 0);
	TT_CHECK(t, review_sum_new(REVIEW_STUDY_HASHES, &s) == 0);
	rc = review_sum_add_file(s, f.b.len, t_read, &f, &err);
	TT_CHECK_MSG(t, rc == 0, "%d %s", rc, err.reason);
	TT_CHECK_MSG(t, f.bad_reads == 0, "pixel bytes read %d times", f.bad_reads);
	TT_CHECK_MSG(t, f.px_read <= 65536, "%llu pixel bytes read", (unsigned long long)f.px_read);
	TT_CHECK(t, t_text(s, &out) == 0);
	TT_CHECK(t, !strncmp((char *)out.data, "path\tkeyword\tvr\tinstances\tdistinct\t", 35));
	TT_CHECK_MSG(t,
		     t_has(&out, "\n(0008,103E)\tSeriesDescription\tLO\t1\t1\tT1\\tax\\\\x\t\t\n"),
		     "%s", out.data);
	TT_CHECK(t, t_has(&out, "\n(0019,0010)\tPrivateCreator\tLO\t1\t1\tACME 1\t\t\n"));
	TT_CHECK(t, t_has(&out, "\n(0019,\"ACME 1\",0C)\t\tLO\t1\t1\tkept\t\t\n"));
	TT_CHECK(t, t_has(&out, "\n(0028,0010)\tRows\tUS\t1\t1\t512\t\t\n"));
	TT_CHECK(t, t_has(&out, "\n(0040,0275)\tRequestAttributesSequence\tSQ\t1\t-\t\t\t\n"));
	TT_CHECK(t,
		 t_has(&out,
		       "\n(0040,0275)>(0040,0009)\tScheduledProcedureStepID\tSH\t1\t2\tA\tB\t\n"));
	TT_CHECK(t, t_has(&out, "\n(7FE0,0010)\tPixelData\tOW\t1\t-\t<200000 bytes>\t\t\n"));
	TT_CHECK_MSG(
		t,
		t_has(&out,
		      "\n(FFFC,FFFC)\tDataSetTrailingPadding\tOB\t1\t1\t<2 bytes: 0102>\t\t\n"),
		"%s", out.data);
	TT_CHECK(t,
		 t_has(&out, "\n(0002,0010)\tTransferSyntaxUID\tUI\t1\t1\t1.2.840.10008.1.2.1\t"));
	/* sorted by path: meta first, the sequence before its item's element */
	TT_CHECK(t,
		 strstr((char *)out.data, "(0002,0010)") < strstr((char *)out.data, "(0008,0060)"));
	TT_CHECK(t, strstr((char *)out.data, "(0019,0010)") <
			    strstr((char *)out.data, "(0019,\"ACME"));
	TT_CHECK(t,
		 strstr((char *)out.data, "(7FE0,0010)") < strstr((char *)out.data, "(FFFC,FFFC)"));
	buf_release(&out);
	buf_release(&f.b);
	review_sum_free(s);
}

static void review_file_encapsulated_long(struct tt *t)
{
	struct t_file f = {0};
	struct review_sum *s = NULL;
	struct fiona_err err = {0};
	struct buf out = {0};
	int rc;

	TT_CHECK(t, t_make(&f, "X", 300000, true) == 0); /* a header past the first 64 KiB */
	TT_CHECK(t, review_sum_new(REVIEW_STUDY_HASHES, &s) == 0);
	rc = review_sum_add_file(s, f.b.len, t_read, &f, &err);
	TT_CHECK_MSG(t, rc == 0, "%d %s", rc, err.reason);
	TT_CHECK_MSG(t, f.bad_reads == 0, "fragment bytes read %d times", f.bad_reads);
	TT_CHECK(t, f.read_bytes < f.b.len / 2);
	TT_CHECK(t, t_text(s, &out) == 0);
	TT_CHECK(t, t_has(&out, "\n(7FE0,0010)\tPixelData\tOB\t1\t-\t<encapsulated>\t\t\n"));
	TT_CHECK(t, t_has(&out, "\n(0040,A160)"
				"\tTextValue\tUT\t1\t1\txxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				"xxxxxxxxxxxxxxxxxxxxx...\t"));
	TT_CHECK(t, t_has(&out, "\n(FFFC,FFFC)\t"));
	/* a file shorter than its fragments say: an error, and it counts for nothing */
	f.b.len -= 20;
	TT_CHECK(t, review_sum_add_file(s, f.b.len, t_read, &f, &err) < 0);
	buf_reset(&out);
	TT_CHECK(t, review_sum_text(s, &out) == 0);
	TT_CHECK(t, t_has(&out, "\n(0008,0060)\tModality\tCS\t1\t1\tMR\t"));
	buf_release(&out);
	buf_release(&f.b);
	review_sum_free(s);
}

/* Two studies' summaries merged: files add up, distinct values are united. */
static void review_merge_counts(struct tt *t)
{
	const char *names[] = {"A", "B", "C", "B", "D", "E"};
	struct review_sum *st[2] = {NULL, NULL}, *m = NULL;
	struct buf saved[2], out = {0};

	for (int k = 0; k < 2; k++) {
		TT_CHECK(t, review_sum_new(REVIEW_STUDY_HASHES, &st[k]) == 0);
		for (int i = 0; i < 3; i++) {
			struct t_file f = {0};

			TT_CHECK(t, t_make(&f, names[k * 3 + i], 0, false) == 0);
			TT_CHECK(t, review_sum_add(st[k], f.b.data, f.b.len, NULL) == 0);
			buf_release(&f.b);
		}
		buf_init(&saved[k], 1 << 24);
		TT_CHECK(t, review_sum_save(st[k], &saved[k]) == 0);
	}
	TT_CHECK(t, review_sum_new(REVIEW_MERGE_HASHES, &m) == 0);
	for (int k = 0; k < 2; k++)
		TT_CHECK(t, review_sum_merge(m, saved[k].data, saved[k].len) == 0);
	TT_CHECK(t, review_sum_count(m) == review_sum_count(st[0]));
	TT_CHECK(t, t_text(m, &out) == 0);
	TT_CHECK_MSG(t, t_has(&out, "\n(0010,0010)\tPatientName\tPN\t6\t5\tA\tB\tC\n"), "%s",
		     out.data);
	TT_CHECK(t,
		 t_has(&out,
		       "\n(0040,0275)>(0040,0009)\tScheduledProcedureStepID\tSH\t6\t2\tA\tB\t\n"));
	/* every row is one line of 8 fields */
	for (char *l = (char *)out.data; *l;) {
		char *nl = strchr(l, '\n');
		int tabs = 0;

		TT_CHECK(t, nl != NULL);
		for (char *c = l; c < nl; c++)
			tabs += *c == '\t';
		TT_CHECK_MSG(t, tabs == 7, "%.*s", (int)(nl - l), l);
		l = nl + 1;
	}
	for (int k = 0; k < 2; k++) {
		buf_release(&saved[k]);
		review_sum_free(st[k]);
	}
	buf_release(&out);
	review_sum_free(m);
}

/* More distinct values than a summary keeps hashes of: a lower bound, said so. */
static void review_cap(struct tt *t)
{
	struct review_sum *a = NULL, *m = NULL;
	struct buf saved, out = {0};
	char name[16];

	TT_CHECK(t, review_sum_new(4, &a) == 0);
	for (int i = 0; i < 10; i++) {
		struct t_file f = {0};

		snprintf(name, sizeof(name), "N%d", i);
		TT_CHECK(t, t_make(&f, name, 0, false) == 0);
		TT_CHECK(t, review_sum_add(a, f.b.data, f.b.len, NULL) == 0);
		buf_release(&f.b);
	}
	TT_CHECK(t, t_text(a, &out) == 0);
	TT_CHECK_MSG(t, t_has(&out, "\n(0010,0010)\tPatientName\tPN\t10\t>=4\tN0\tN1\tN2\n"), "%s",
		     out.data);
	buf_init(&saved, 1 << 20);
	TT_CHECK(t, review_sum_save(a, &saved) == 0);
	TT_CHECK(t, review_sum_new(1000, &m) == 0);
	TT_CHECK(t, review_sum_merge(m, saved.data, saved.len) == 0);
	buf_reset(&out);
	TT_CHECK(t, review_sum_text(m, &out) == 0);
	TT_CHECK(t, t_has(&out, "\n(0010,0010)\tPatientName\tPN\t10\t>=4\t"));
	buf_release(&saved);
	buf_release(&out);
	review_sum_free(a);
	review_sum_free(m);
}

/* Every truncation and a flipped byte anywhere: refused or merged, never past the bytes,
 * and a refused one leaves the summary as it was. */
static void review_damaged(struct tt *t)
{
	struct review_sum *a = NULL, *m = NULL;
	struct t_file f = {0};
	struct buf saved, before = {0}, after = {0};
	int refused = 0;

	TT_CHECK(t, t_make(&f, "Z", 0, false) == 0);
	TT_CHECK(t, review_sum_new(16, &a) == 0);
	TT_CHECK(t, review_sum_add(a, f.b.data, f.b.len, NULL) == 0);
	buf_init(&saved, 1 << 20);
	TT_CHECK(t, review_sum_save(a, &saved) == 0);
	TT_CHECK(t, review_sum_new(16, &m) == 0);
	TT_CHECK(t, review_sum_merge(m, saved.data, saved.len) == 0);
	TT_CHECK(t, t_text(m, &before) == 0);
	for (size_t n = 0; n < saved.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, saved.data, n);
		refused += review_sum_merge(m, copy, n) == -EINVAL;
		free(copy);
	}
	TT_CHECK_MSG(t, refused == (int)saved.len, "%d of %zu truncations refused", refused,
		     saved.len);
	TT_CHECK(t, t_text(m, &after) == 0);
	TT_CHECK(t, before.len == after.len && !memcmp(before.data, after.data, before.len));
	saved.data[0] ^= 1;
	TT_CHECK(t, review_sum_merge(m, saved.data, saved.len) == -EINVAL);
	buf_release(&saved);
	buf_release(&before);
	buf_release(&after);
	buf_release(&f.b);
	review_sum_free(a);
	review_sum_free(m);
}

int main(int argc, char **argv)
{
	static const struct tt_case cases[] = {
		TT_CASE(review_escape_bytes),
		TT_CASE(review_file_native),
		TT_CASE(review_file_encapsulated_long),
		TT_CASE(review_merge_counts),
		TT_CASE(review_cap),
		TT_CASE(review_damaged),
	};
	return tt_main(cases, CORE_ARRAY_SIZE(cases), argc, argv);
}
