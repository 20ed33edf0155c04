/* Unit tests for fs/zip.c: the stored zip composed from sizes and CRCs — exact size,
 * field values, ZIP64 reached with small files by lowering the thresholds, reads at any
 * offset, the same bytes every time — and checked by unzip and Python's zipfile when they
 * are installed; fs/names.c's readable series names. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "fs/fs_int.h"

/* Entry data: byte k of instance i is (i * 31 + k) & 0xff. */
static ssize_t gen_read(void *opaque, const struct fs_zip_file *f, uint64_t off, void *dst,
			size_t len)
{
	uint8_t *p = dst;

	(void)opaque;
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)((uint64_t)f->instance * 31 + off + k);
	return (ssize_t)len;
}

static uint32_t gen_crc(int64_t instance, size_t size)
{
	uint8_t b[4096];
	struct fs_zip_file f = {.instance = instance};
	uLong c = crc32(0L, Z_NULL, 0);

	for (size_t off = 0; off < size; off += sizeof(b)) {
		size_t n = size - off < sizeof(b) ? size - off : sizeof(b);

		gen_read(NULL, &f, off, b, n);
		c = crc32(c, b, (uInt)n);
	}
	return (uint32_t)c;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Three entries of small sizes (one empty); lim32/lim16 as given. */
static struct fs_zip *make(uint64_t lim32, uint32_t lim16)
{
	static const size_t sizes[] = {1000, 0, 70000};
	static const char *const names[] = {"baseline/MR/1_T1/0001.dcm",
					    "baseline/MR/1_T1/0002.dcm",
					    "baseline/CT/2_Thorax/0001.dcm"};
	struct fs_zip *z = NULL;

	if (fs_zip_new(&z))
		return NULL;
	z->lim32 = lim32;
	z->lim16 = lim16;
	for (int i = 0; i < 3; i++)
		if (fs_zip_add(z, names[i], sizes[i], gen_crc(i + 1, sizes[i]), i + 1)) {
			fs_zip_free(z);
			return NULL;
		}
	if (fs_zip_finish(z)) {
		fs_zip_free(z);
		return NULL;
	}
	return z;
}

static uint8_t *whole(const struct fs_zip *z)
{
	uint8_t *b = malloc(z->size + 1);

	if (b && fs_zip_read(z, 0, b, z->size + 1, gen_read, NULL) != (ssize_t)z->size) {
		free(b);
		return NULL;
	}
	return b;
}

/* Every (offset, length) of a walk agrees with the whole read. */
static bool reads_agree(const struct fs_zip *z, const uint8_t *all)
{
	uint8_t b[9000];

	for (uint64_t off = 0; off < z->size; off += 997)
		for (size_t len = 1; len < sizeof(b); len = len * 3 + 1) {
			ssize_t n = fs_zip_read(z, off, b, len, gen_read, NULL);
			size_t want = z->size - off < len ? (size_t)(z->size - off) : len;

			if (n != (ssize_t)want || memcmp(b, all + off, want))
				return false;
		}
	return fs_zip_read(z, z->size, b, 10, gen_read, NULL) == 0;
}

/* Runs cmd on the zip's bytes written to a temporary file: 0 ok, 1 failed, -1 no tool. */
static int check_with(const char *tool, const char *cmd, const uint8_t *b, size_t n)
{
	char path[] = "/tmp/t_zip_XXXXXX", line[512];
	int fd, rc;

	snprintf(line, sizeof(line), "command -v %s >/dev/null 2>&1", tool);
	if (system(line) != 0)
		return -1;
	if ((fd = mkstemp(path)) < 0)
		return 1;
	rc = write(fd, b, n) == (ssize_t)n ? 0 : 1;
	close(fd);
	snprintf(line, sizeof(line), "%s %s >/dev/null 2>&1", cmd, path);
	rc = rc ? rc : system(line) != 0;
	unlink(path);
	return rc;
}

#define UNZIP_T "unzip -tq"
#define PY_ZIP                                                                                     \
	"python3 -c 'import zipfile,sys; sys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not "  \
	"None)'"

static void test_layout_plain(struct tt *t)
{
	struct fs_zip *z = make(0xFFFFFFFFu, 0xFFFFu);
	uint8_t *b = z ? whole(z) : NULL;
	uint64_t want = 0;

	TT_CHECK(t, z && b);
	for (size_t i = 0; i < z->n; i++)
		want += 30 + z->f[i].name_len + z->f[i].size + 46 + z->f[i].name_len;
	want += 22;
	TT_CHECK_MSG(t, z->size == want, "size %llu, want %llu", (unsigned long long)z->size,
		     (unsigned long long)want);
	TT_CHECK(t, le32(b) == 0x04034b50u && le32(b + 14) == z->f[0].crc && le32(b + 18) == 1000);
	TT_CHECK(t, le32(b + z->cd_off) == 0x02014b50u);
	TT_CHECK(t, le32(b + z->size - 22) == 0x06054b50u && le32(b + z->size - 6) == z->cd_off);
	TT_CHECK(t, b[z->size - 12] == 3 && b[z->size - 14] == 3); /* entries */
	TT_CHECK(t, reads_agree(z, b));
	TT_CHECK(t, check_with("unzip", UNZIP_T, b, z->size) != 1);
	TT_CHECK(t, check_with("python3", PY_ZIP, b, z->size) != 1);
	free(b);
	fs_zip_free(z);
}

/* lim32 = 500, lim16 = 2: the 1000- and 70000-byte entries carry ZIP64 sizes, the third
 * header's offset is past the limit, and the zip has the ZIP64 end records. */
static void test_layout_zip64(struct tt *t)
{
	struct fs_zip *z = make(500, 2);
	uint8_t *b = z ? whole(z) : NULL;
	const uint8_t *loc, *end;

	TT_CHECK(t, z && b);
	TT_CHECK(t, le32(b + 18) == 0xFFFFFFFFu && le32(b + 22) == 0xFFFFFFFFu);
	TT_CHECK(t, b[28] == 20 && b[30 + z->f[0].name_len] == 1); /* ZIP64 extra, id 1 */
	end = b + z->size - 22;
	loc = end - 20;
	TT_CHECK(t, le32(end) == 0x06054b50u && le32(end + 16) == 0xFFFFFFFFu);
	TT_CHECK(t, le32(loc) == 0x07064b50u && le32(loc + 8) == z->size - 22 - 20 - 56);
	TT_CHECK(t, le32(b + le32(loc + 8)) == 0x06064b50u);
	TT_CHECK(t, z->f[2].hdr >= 500);
	TT_CHECK(t, reads_agree(z, b));
	TT_CHECK(t, check_with("unzip", UNZIP_T, b, z->size) != 1);
	TT_CHECK(t, check_with("python3", PY_ZIP, b, z->size) != 1);
	free(b);
	fs_zip_free(z);
}

/* A 5 GiB entry is laid out without a byte of it: sizes in ZIP64, the next header's
 * offset too, and the size is the sum of the parts. */
static void test_layout_big(struct tt *t)
{
	struct fs_zip *z = NULL;
	uint64_t big = (uint64_t)5 << 30;
	uint8_t h[64];

	TT_CHECK(t, fs_zip_new(&z) == 0);
	TT_CHECK(t,
		 fs_zip_add(z, "a.dcm", big, 1, 1) == 0 && fs_zip_add(z, "b.dcm", 10, 2, 2) == 0);
	TT_CHECK(t, fs_zip_finish(z) == 0);
	TT_CHECK(t, z->f[1].hdr == 30 + 5 + 20 + big);
	/* a: 46+5+4+16, b: 46+5+4+8 (offset only), then the ZIP64 end records (cd_off) */
	TT_CHECK_MSG(t,
		     z->size == z->f[1].hdr + 30 + 5 + 10 + (46 + 5 + 20) + (46 + 5 + 12) + 56 +
					20 + 22,
		     "size %llu", (unsigned long long)z->size);
	TT_CHECK(t, fs_zip_read(z, z->f[1].hdr, h, 30, gen_read, NULL) == 30);
	TT_CHECK(t, le32(h) == 0x04034b50u && le32(h + 18) == 10 && h[28] == 0);
	TT_CHECK(t, fs_zip_read(z, 0, h, 30, gen_read, NULL) == 30 && le32(h + 18) == 0xFFFFFFFFu);
	fs_zip_free(z);
}

static void test_stable_id(struct tt *t)
{
	struct fs_zip *a = make(0xFFFFFFFFu, 0xFFFFu), *b = make(0xFFFFFFFFu, 0xFFFFu), *c = NULL;
	uint8_t *x = a ? whole(a) : NULL, *y = b ? whole(b) : NULL;

	TT_CHECK(t, x && y && a->size == b->size && !memcmp(x, y, a->size) && a->id == b->id);
	TT_CHECK(t, fs_zip_new(&c) == 0 &&
			    fs_zip_add(c, "baseline/MR/1_T1/0001.dcm", 1000, a->f[0].crc, 99) == 0);
	TT_CHECK(t, fs_zip_finish(c) == 0 && c->id != a->id && c->id >= 0);
	TT_CHECK(t, fs_zip_add(c, "", 1, 1, 1) == -ENAMETOOLONG);
	free(x);
	free(y);
	fs_zip_free(a);
	fs_zip_free(b);
	fs_zip_free(c);
	fs_zip_free(NULL);
}

static void test_readable_names(struct tt *t)
{
	char o[FS_NAME_MAX + 1];

	fs_name_series_readable(3, "MR", "T1 MPRAGE ", "MR,T1", o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "3_T1_MPRAGE"));
	fs_name_series_readable(3, "MR", "", "MR,DWI", o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "3_DWI"));
	fs_name_series_readable(4, "MR", "  ", "mr,T1,multiframe", o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "4_T1_multiframe"));
	fs_name_series_readable(5, "CT", "", "CT", o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "5_CT"));
	fs_name_series_readable(-1, "CT", "../x/..", "", o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "0__x_"));
	fs_name_series_readable(6, NULL, NULL, NULL, o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "6_unknown"));
}

TT_MAIN(TT_CASE(test_layout_plain), TT_CASE(test_layout_zip64), TT_CASE(test_layout_big),
	TT_CASE(test_stable_id), TT_CASE(test_readable_names))
