/* review_merge: what a project's review file costs at scale, with fiona's own code
 * (anon/review*.c) and no mount: STUDIES studies of FILES synthetic MR files each (35
 * attributes, 12 of them different in every file: UIDs, positions, times, numbers, a
 * nested reference) are summarized and saved as the catalog keeps them; then every saved
 * summary is merged as fs/review.c does and the TSV made. Prints the bytes per study and
 * per file, and the seconds to summarize and to merge. Used by tests/bench/run.sh
 * (BENCH_ONLY=review); not a test.
 *   review_merge [STUDIES [FILES]]   default 1000 200 */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "anon/anon.h"

static int file_make(struct buf *b, long study, long file)
{
	char uid[65], ref[65], num[32], pos[64], t[32];
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.4", uid, "1.2.840.10008.1.2.1"};
	static const uint8_t px[512];
	int rc;

	snprintf(uid, sizeof(uid), "2.25.%ld%06ld", study + 1, file);
	snprintf(ref, sizeof(ref), "2.25.9%ld%06ld", study + 1, file);
	snprintf(num, sizeof(num), "%ld", file + 1);
	snprintf(pos, sizeof(pos), "-120.5\\-98.25\\%ld.5", file * 3 - 300);
	snprintf(t, sizeof(t), "%02ld%02ld%02ld.%03ld", 8 + study % 10, file / 60 % 60, file % 60,
		 file);
	buf_reset(b);
	rc = dcm_write_part10_header(b, &m);
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x0008), DCM_VR('C', 'S'), "ORIGINAL\\PRIMARY");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), m.sop_class_uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0020), DCM_VR('D', 'A'), "20200101");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0032), DCM_VR('T', 'M'), t);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0033), DCM_VR('T', 'M'), t);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0070), DCM_VR('L', 'O'), "ACME");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'), "T1 MPRAGE");
	rc = rc ? rc : dcm_write_seq_begin(b, DCM_TAG(0x0008, 0x1140));
	rc = rc ? rc : dcm_write_item_begin(b);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x1150), DCM_VR('U', 'I'), m.sop_class_uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x1155), DCM_VR('U', 'I'), ref);
	rc = rc ? rc : dcm_write_item_end(b);
	rc = rc ? rc : dcm_write_seq_end(b);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "PROJ01-0001");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), "PROJ01-0001");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0050), DCM_VR('D', 'S'), "1");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0080), DCM_VR('D', 'S'), "2300");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0081), DCM_VR('D', 'S'), "2.98");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x0087), DCM_VR('D', 'S'), "3");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000D), DCM_VR('U', 'I'), ref);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000E), DCM_VR('U', 'I'), ref);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x0011), DCM_VR('I', 'S'), "3");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x0013), DCM_VR('I', 'S'), num);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x0032), DCM_VR('D', 'S'), pos);
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0020, 0x0037), DCM_VR('D', 'S'), "1\\0\\0\\0\\1\\0");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x1041), DCM_VR('D', 'S'), pos + 15);
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0010), DCM_VR('U', 'S'), "\x10\x00", 2);
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG(0x0028, 0x0011), DCM_VR('U', 'S'), "\x10\x00", 2);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0028, 0x1050), DCM_VR('D', 'S'), num);
	rc = rc ? rc : dcm_write_elem(b, DCM_TAG_PIXEL_DATA, DCM_VR('O', 'W'), px, sizeof(px));
	return rc;
}

static int merge_all(struct buf *saved, long n, double *secs, size_t *rows, size_t *text)
{
	struct review_sum *m = NULL;
	struct buf t;
	double t0 = core_now_mono();
	int rc = review_sum_new(REVIEW_MERGE_HASHES, &m);

	buf_init(&t, (size_t)1 << 30);
	for (long i = 0; !rc && i < n; i++)
		rc = review_sum_merge(m, saved[i].data, saved[i].len);
	rc = rc ? rc : review_sum_text(m, &t);
	*secs = core_now_mono() - t0;
	*rows = review_sum_count(m);
	*text = t.len;
	buf_release(&t);
	review_sum_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	long studies = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long files = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
	struct buf *saved = calloc((size_t)(studies > 0 ? studies : 1), sizeof(*saved));
	struct buf f;
	size_t bytes = 0, rows = 0, text = 0;
	double t0 = core_now_mono(), t_sum, t_merge;
	int rc = saved && studies > 0 && files > 0 ? 0 : -EINVAL;

	buf_init(&f, 1 << 20);
	for (long s = 0; !rc && s < studies; s++) {
		struct review_sum *sum = NULL;

		rc = review_sum_new(REVIEW_STUDY_HASHES, &sum);
		for (long k = 0; !rc && k < files; k++)
			rc = file_make(&f, s, k) ? -EIO : review_sum_add(sum, f.data, f.len, NULL);
		buf_init(&saved[s], (size_t)1 << 30);
		rc = rc ? rc : review_sum_save(sum, &saved[s]);
		bytes += saved[s].len;
		review_sum_free(sum);
	}
	t_sum = core_now_mono() - t0;
	rc = rc ? rc : merge_all(saved, studies, &t_merge, &rows, &text);
	if (rc) {
		fprintf(stderr, "review_merge: %s\n", strerror(-rc));
		return 1;
	}
	printf("review: %ld studies x %ld files: summaries %.0f bytes per study (%.0f per file),"
	       " %.1f MB in all, made in %.2f s (%.1f us per file)\n",
	       studies, files, (double)bytes / (double)studies,
	       (double)bytes / (double)(studies * files), (double)bytes / 1e6, t_sum,
	       t_sum * 1e6 / (double)(studies * files));
	printf("review: merged in %.2f s (%.1f ms per 1000 files): %zu rows, %zu bytes of text\n",
	       t_merge, t_merge * 1e6 / (double)(studies * files), rows, text);
	for (long s = 0; s < studies; s++)
		buf_release(&saved[s]);
	free(saved);
	buf_release(&f);
	return 0;
}
