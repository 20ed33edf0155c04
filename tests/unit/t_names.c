/* Unit tests for fs/names.c: hostile header values cannot escape their folder, names
 * stay bounded, and uniqueness suffixes are deterministic. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/fs.h"

static const char *san(const char *in, char *out)
{
	fs_name_sanitize(in, strlen(in), out, FS_NAME_MAX + 1);
	return out;
}

static void test_sanitize_hostile(struct tt *t)
{
	char o[FS_NAME_MAX + 1];

	TT_CHECK(t, !strcmp(san("../../etc/passwd", o), "_.._etc_passwd"));
	TT_CHECK(t, !strcmp(san("..", o), "unknown"));
	TT_CHECK(t, !strcmp(san(".", o), "unknown"));
	TT_CHECK(t, !strcmp(san("", o), "unknown"));
	TT_CHECK(t, !strcmp(san("   ", o), "unknown"));
	TT_CHECK(t, !strcmp(san(".hidden", o), "hidden"));
	TT_CHECK(t, !strcmp(san("a\nb\tc\x7f", o), "a_b_c_"));
	TT_CHECK(t, !strcmp(san("T1 MPRAGE  ", o), "T1 MPRAGE"));
	TT_CHECK(t, !strcmp(san("Hj\xc3\xb8rne", o), "Hj__rne"));
	TT_CHECK(t, !strcmp(san("dots...", o), "dots"));
	/* An embedded NUL ends the value (DICOM pads UI values with NUL). */
	TT_CHECK(t, fs_name_sanitize("ab\0cd", 5, o, sizeof(o)) == 2 && !strcmp(o, "ab"));
}

static void test_sanitize_bounded(struct tt *t)
{
	char in[1000], o[FS_NAME_MAX + 1], small[8];

	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	TT_CHECK(t, fs_name_sanitize(in, strlen(in), o, sizeof(o)) == FS_NAME_MAX);
	TT_CHECK(t, strlen(o) == FS_NAME_MAX);
	TT_CHECK(t, fs_name_sanitize(in, strlen(in), small, sizeof(small)) == 7);
	TT_CHECK(t, !strcmp(small, "xxxxxxx"));
}

static void test_series_instance(struct tt *t)
{
	char o[FS_NAME_MAX + 1];

	fs_name_series(3, "MR", "T2 / FLAIR", o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "3_MR_T2 _ FLAIR"));
	fs_name_series(12, "CT", "", o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "12_CT"));
	fs_name_series(-1, NULL, NULL, o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "0_unknown"));
	fs_name_instance(7, o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "0007.dcm"));
	fs_name_instance(12345, o, sizeof(o));
	TT_CHECK(t, !strcmp(o, "12345.dcm"));
}

static void test_nameset_unique(struct tt *t)
{
	struct fs_nameset *s = NULL;
	char a[FS_NAME_MAX + 16] = "0001.dcm", b[FS_NAME_MAX + 16] = "0001.dcm";
	char c[FS_NAME_MAX + 16] = "0001~2.dcm", d[FS_NAME_MAX + 16] = "3_MR";
	char e[FS_NAME_MAX + 16] = "3_MR", tiny[8] = "x";

	TT_CHECK(t, fs_nameset_new(&s) == 0);
	TT_CHECK(t, fs_nameset_add(s, a, sizeof(a)) == 0 && !strcmp(a, "0001.dcm"));
	TT_CHECK(t, fs_nameset_add(s, b, sizeof(b)) == 0 && !strcmp(b, "0001~2.dcm"));
	/* A real name equal to an earlier suffixed one gets its own suffix. */
	TT_CHECK(t, fs_nameset_add(s, c, sizeof(c)) == 0 && !strcmp(c, "0001~2~2.dcm"));
	TT_CHECK(t, fs_nameset_add(s, d, sizeof(d)) == 0 && !strcmp(d, "3_MR"));
	TT_CHECK(t, fs_nameset_add(s, e, sizeof(e)) == 0 && !strcmp(e, "3_MR~2"));
	TT_CHECK(t, fs_nameset_add(s, tiny, sizeof(tiny)) == -ENAMETOOLONG);
	/* Many collisions: grows, stays unique. */
	for (int i = 0; i < 500; i++) {
		char n[FS_NAME_MAX + 16] = "same";
		TT_CHECK(t, fs_nameset_add(s, n, sizeof(n)) == 0);
		if (i == 499)
			TT_CHECK(t, !strcmp(n, "same~500"));
	}
	fs_nameset_free(s);
	fs_nameset_free(NULL);
}

TT_MAIN(TT_CASE(test_sanitize_hostile), TT_CASE(test_sanitize_bounded),
	TT_CASE(test_series_instance), TT_CASE(test_nameset_unique))
