/* Unit tests for anon/writer.c: byte-exact encodings built by hand, then a whole
 * Part-10 file read back by fiona's reader and by dcmtk's dcmdump when installed. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "anon/anon.h"

static void test_short_vr_padding(struct tt *t)
{
	static const uint8_t want[] = { 0x10, 0x00, 0x10, 0x00, 'P', 'N', 4, 0, 'D', 'o', 'e', ' ',
					0x20, 0x00, 0x0d, 0x00, 'U', 'I', 4, 0, '1', '.', '2', 0 };
	struct buf b;

	buf_init(&b, 1024);
	TT_CHECK(t, dcm_write_str(&b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "Doe") == 0);
	TT_CHECK(t, dcm_write_str(&b, DCM_TAG(0x0020, 0x000d), DCM_VR('U', 'I'), "1.2") == 0);
	TT_CHECK(t, b.len == sizeof(want) && !memcmp(b.data, want, sizeof(want)));
	buf_release(&b);
}

static void test_long_vr_and_sequences(struct tt *t)
{
	static const uint8_t want[] = {
		0x09, 0x00, 0x10, 0x10, 'O', 'B', 0, 0, 2, 0, 0, 0, 0xAB, 0x00, /* odd OB */
		0x08, 0x00, 0x10, 0x11, 'S', 'Q', 0, 0, 0xff, 0xff, 0xff, 0xff,
		0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff,
		0x28, 0x00, 0x10, 0x00, 'U', 'S', 2, 0, 0x00, 0x02,
		0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0,
		0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0,
	};
	static const uint8_t ob = 0xAB;
	static const uint8_t rows[2] = { 0x00, 0x02 };
	struct buf b;

	buf_init(&b, 1024);
	TT_CHECK(t, dcm_write_elem(&b, DCM_TAG(0x0009, 0x1010), DCM_VR('O', 'B'), &ob, 1) == 0);
	TT_CHECK(t, dcm_write_seq_begin(&b, DCM_TAG(0x0008, 0x1110)) == 0);
	TT_CHECK(t, dcm_write_item_begin(&b) == 0);
	TT_CHECK(t, dcm_write_elem(&b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), rows, 2) == 0);
	TT_CHECK(t, dcm_write_item_end(&b) == 0);
	TT_CHECK(t, dcm_write_seq_end(&b) == 0);
	TT_CHECK(t, b.len == sizeof(want) && !memcmp(b.data, want, sizeof(want)));
	buf_release(&b);
}

static void test_refusals(struct tt *t)
{
	struct buf b;
	char *big = calloc(1, 70000);

	buf_init(&b, 1 << 20);
	TT_CHECK(t, dcm_write_elem(&b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), "x", 1) == -EINVAL);
	TT_CHECK(t, dcm_write_elem(&b, DCM_TAG(0x0010, 0x4000), DCM_VR('L', 'T'), big, 70000) ==
			    -EINVAL);
	TT_CHECK(t, dcm_write_elem(&b, DCM_TAG(0x0010, 0x4000), DCM_VR('U', 'T'), big, 70000) == 0);
	TT_CHECK(t, dcm_write_header(&b, DCM_TAG(0x7fe0, 0x0010), DCM_VR('O', 'W'), 3) == -EINVAL);
	TT_CHECK(t, dcm_write_part10_header(&b, &(struct dcm_meta){ "1.2", NULL, "1.2" }) ==
			    -EINVAL);
	buf_release(&b);
	free(big);
}

/* A file with meta header, strings, a sequence and pixel data. */
static int build_file(struct buf *b)
{
	static const uint8_t px[8] = { 1, 0, 2, 0, 3, 0, 4, 0 };
	static const uint8_t two[2] = { 2, 0 };
	struct dcm_meta m = { "1.2.840.10008.5.1.4.1.1.7", "2.25.1234", "1.2.840.10008.1.2.1" };
	int rc = dcm_write_part10_header(b, &m);

	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), m.sop_class_uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), m.sop_instance_uid);
	rc = rc ? rc : dcm_write_seq_begin(b, DCM_TAG(0x0008, 0x1110));
	rc = rc ? rc : dcm_write_item_begin(b);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x1155), DCM_VR('U', 'I'), "2.25.99");
	rc = rc ? rc : dcm_write_item_end(b);
	rc = rc ? rc : dcm_write_seq_end(b);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "PART-0001");
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), two, 2);
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0011), DCM_VR('U', 'S'), two, 2);
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x7fe0, 0x0010), DCM_VR('O', 'W'), px, 8);
	return rc;
}

static void test_part10_reads_back(struct tt *t)
{
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	struct buf b;
	uint32_t glen = 0;
	size_t meta_end = 0, n_elems = 0;
	char s[80];
	bool saw_ref = false;

	buf_init(&b, 1 << 20);
	TT_CHECK(t, build_file(&b) == 0);
	TT_CHECK(t, b.len > 132 && !memcmp(b.data + 128, "DICM", 4));
	TT_CHECK(t, dcm_reader_new(b.data, b.len, &r, NULL) == 0);
	while (r && dcm_reader_next(r, &e) == 1) {
		n_elems++;
		if (e.tag == DCM_TAG(0x0002, 0x0000))
			TT_CHECK(t, dcm_value_u32(&e, &glen) == 0);
		if (e.in_meta)
			meta_end = e.value_offset + e.length;
		if (e.tag == DCM_TAG(0x0008, 0x1155)) {
			dcm_value_str(&e, s, sizeof(s));
			saw_ref = e.depth == 1 && !strcmp(s, "2.25.99");
		}
	}
	TT_CHECK(t, r && !dcm_reader_error(r)->code);
	/* Group length = bytes after (0002,0000)'s 12 bytes up to the end of group 0002. */
	TT_CHECK_MSG(t, glen == meta_end - (132 + 12), "glen %u meta_end %zu", glen, meta_end);
	TT_CHECK(t, saw_ref && n_elems >= 14);
	dcm_reader_free(r);

	if (system("command -v dcmdump >/dev/null 2>&1") == 0) {
		char path[] = "/tmp/t_writer-XXXXXX";
		int fd = mkstemp(path);
		TT_CHECK(t, fd >= 0 && core_write_all(fd, b.data, b.len) == 0);
		close(fd);
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "dcmdump -q %s 2>&1 | grep -q 'PART-0001'", path);
		TT_CHECK_MSG(t, system(cmd) == 0, "dcmdump did not read the written file");
		unlink(path);
	}
	buf_release(&b);
}

TT_MAIN(TT_CASE(test_short_vr_padding), TT_CASE(test_long_vr_and_sequences), TT_CASE(test_refusals),
	TT_CASE(test_part10_reads_back))
