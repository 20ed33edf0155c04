/* Fuzz target for anon/review*.c: the input is walked as a DICOM file (headers only, read
 * through a callback, pixel data skipped by its element headers), the summary saved and
 * merged again and shown; and the input is merged as a saved summary from the catalog
 * (damaged bytes are refused and leave the summary as it was). Every row of the text is
 * one line of 8 fields whatever the bytes held. */
#include "core/core.h"

#include <stdlib.h>

#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const struct review_sum *s)
{
	struct buf t;

	buf_init(&t, (size_t)1 << 28);
	if (review_sum_text(s, &t) == 0)
		for (size_t i = 0, tabs = 0; i < t.len; i++) {
			if (t.data[i] == '\n') {
				if (tabs != 7)
					abort();
				tabs = 0;
			} else if (t.data[i] == '\t') {
				tabs++;
			} else if (t.data[i] < 0x20 || t.data[i] >= 0x7f) {
				abort(); /* escaped: printable ASCII only */
			}
		}
	buf_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct review_sum *a = NULL, *b = NULL;
	struct buf saved;

	if (review_sum_new(8, &a) || review_sum_new(8, &b))
		goto out;
	buf_init(&saved, (size_t)1 << 28);
	if (review_sum_add(a, data, size, NULL) == 0 && review_sum_save(a, &saved) == 0) {
		if (review_sum_merge(b, saved.data, saved.len) ||
		    review_sum_count(b) != review_sum_count(a))
			abort(); /* what is saved merges back whole */
		check_text(b);
	}
	buf_release(&saved);
	review_sum_free(b);
	b = NULL;
	if (review_sum_new(8, &b) == 0 && review_sum_merge(b, data, size) == 0)
		check_text(b);
	check_text(a);
out:
	review_sum_free(a);
	review_sum_free(b);
	return 0;
}
