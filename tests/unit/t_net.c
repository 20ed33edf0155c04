/* Unit tests of net/net_util.c: status mapping, transfer syntax table, allow-list match,
 * presentation context de-duplication. */
#include "core/core.h"

#include <errno.h>

#include "net/net.h"
#include "tests/unit/tt.h"

static void t_status_mapping(struct tt *t)
{
	TT_CHECK(t, net_status_from_errno(0) == 0x0000);
	TT_CHECK(t, net_status_from_errno(-EINVAL) == 0xC000);
	TT_CHECK(t, net_status_from_errno(-ENOSPC) == 0xA700);
	TT_CHECK(t, net_status_from_errno(-EDQUOT) == 0xA700);
	TT_CHECK(t, net_status_from_errno(-EIO) == 0xA700);
	TT_CHECK(t, net_status_from_errno(-ENOMEM) == 0xA700);
	TT_CHECK(t, net_status_from_errno(-EEXIST) == 0xA700);
}

static void t_status_ok(struct tt *t)
{
	TT_CHECK(t, net_status_ok(0x0000));
	TT_CHECK(t, net_status_ok(0x0001));
	TT_CHECK(t, net_status_ok(0xB000));
	TT_CHECK(t, net_status_ok(0xB007));
	TT_CHECK(t, !net_status_ok(0xA700));
	TT_CHECK(t, !net_status_ok(0xC000));
	TT_CHECK(t, !net_status_ok(0x0110));
}

static void t_ts_table(struct tt *t)
{
	size_t n, i;
	const char *const *ts = net_ts_accepted(&n);
	const char *want[] = {
		"1.2.840.10008.1.2",	  "1.2.840.10008.1.2.1",    "1.2.840.10008.1.2.2",
		"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70",
		"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"};

	TT_CHECK(t, n >= CORE_ARRAY_SIZE(want));
	TT_CHECK(t, !strcmp(ts[0], "1.2.840.10008.1.2.1")); /* explicit LE preferred */
	for (size_t w = 0; w < CORE_ARRAY_SIZE(want); w++) {
		for (i = 0; i < n && strcmp(ts[i], want[w]); i++)
			;
		TT_CHECK_MSG(t, i < n, "%s missing", want[w]);
	}
	for (i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			TT_CHECK_MSG(t, strcmp(ts[i], ts[j]), "%s twice", ts[i]);
	TT_CHECK(t, net_ts_is_native("1.2.840.10008.1.2"));
	TT_CHECK(t, net_ts_is_native("1.2.840.10008.1.2.2"));
	TT_CHECK(t, !net_ts_is_native("1.2.840.10008.1.2.1.99"));
	TT_CHECK(t, !net_ts_is_native("1.2.840.10008.1.2.4.50"));
	TT_CHECK(t, !net_ts_is_native(NULL));
}

static void t_allow_list(struct tt *t)
{
	const struct net_caller allow[] = {
		{"MODALITY1", NULL}, {"PACS", "10.0.0.5"}, {NULL, "10.0.0.9"}};

	TT_CHECK(t, net_caller_check(allow, 0, "ANY", "1.2.3.4") == 0);
	TT_CHECK(t, net_caller_check(allow, 3, "MODALITY1", "1.2.3.4") == 0);
	TT_CHECK(t, net_caller_check(allow, 3, " MODALITY1 ", "1.2.3.4") == 0);
	TT_CHECK(t, net_caller_check(allow, 2, "MODALITY", "1.2.3.4") == -EACCES);
	TT_CHECK(t, net_caller_check(allow, 3, "PACS", "10.0.0.5") == 0);
	TT_CHECK(t, net_caller_check(allow, 2, "PACS", "10.0.0.6") == -EPERM);
	TT_CHECK(t, net_caller_check(allow, 3, "WHOEVER", "10.0.0.9") == 0);
	TT_CHECK(t, net_caller_check(allow, 3, "WHOEVER", "10.0.0.8") == -EPERM); /* any-AE entry */
	TT_CHECK(t, net_caller_check(allow, 2, "", NULL) == -EACCES);
}

static void t_pc_unique(struct tt *t)
{
	const struct net_pc in[] = {{"1.2.3", "1.2.840.10008.1.2.1"},
				    {"1.2.3", "1.2.840.10008.1.2.1"},
				    {"1.2.3", "1.2.840.10008.1.2.4.50"},
				    {"1.2.4", "1.2.840.10008.1.2.1"},
				    {"1.2.3", "1.2.840.10008.1.2.4.50"}};
	struct net_pc out[4];

	TT_CHECK(t, net_pc_unique(in, 5, out, 4) == 3);
	TT_CHECK(t, !strcmp(out[0].sop_class_uid, "1.2.3") &&
			    !strcmp(out[1].ts_uid, "1.2.840.10008.1.2.4.50") &&
			    !strcmp(out[2].sop_class_uid, "1.2.4"));
	TT_CHECK(t, net_pc_unique(in, 5, out, 2) == -E2BIG);
	TT_CHECK(t, net_pc_unique(in, 0, out, 4) == 0);
}

/* Builds a minimal Part-10 header: preamble, DICM, group length, version (OB), SOP class,
 * transfer syntax; returns its length. */
static size_t mk_part10(uint8_t *b, const char *ts)
{
	size_t o = 132, lt = strlen(ts) + (strlen(ts) & 1);
	const char *sop = "1.2.840.10008.5.1.4.1.1.2";

	memset(b, 0, 132);
	memcpy(b + 128, "DICM", 4);
	memcpy(b + o, "\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00", 12);
	o += 12;
	memcpy(b + o, "\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01", 14);
	o += 14;
	memcpy(b + o, "\x02\x00\x02\x00UI\x1a\x00", 8);
	memcpy(b + o + 8, sop, 26); /* 25 chars + NUL pad */
	o += 34;
	memcpy(b + o, "\x02\x00\x10\x00UI", 6);
	b[o + 6] = (uint8_t)lt;
	b[o + 7] = 0;
	memset(b + o + 8, 0, lt);
	memcpy(b + o + 8, ts, strlen(ts));
	o += 8 + lt;
	memcpy(b + o, "\x08\x00\x16\x00", 4); /* first data set element */
	return o + 4;
}

static void t_part10_scan(struct tt *t)
{
	uint8_t b[512];
	char sop[65], ts[65];
	size_t off, n = mk_part10(b, "1.2.840.10008.1.2.1");

	TT_CHECK(t, net_part10_scan(b, n, &off, sop, ts, sizeof(ts)) == 0);
	TT_CHECK(t, off == n - 4);
	TT_CHECK(t, !strcmp(ts, "1.2.840.10008.1.2.1"));
	TT_CHECK(t, !strcmp(sop, "1.2.840.10008.5.1.4.1.1.2"));
	TT_CHECK(t, net_part10_scan(b, n, &off, NULL, ts, sizeof(ts)) == 0);
	TT_CHECK(t, net_part10_scan(b, n, &off, sop, ts, 10) == -EINVAL); /* UID too long */
	for (size_t cut = 0; cut < n - 4; cut++) /* truncated anywhere in the header */
		TT_CHECK_MSG(t, net_part10_scan(b, cut, &off, sop, ts, sizeof(ts)) == -EINVAL,
			     "cut at %zu", cut);
	b[128] = 'X';
	TT_CHECK(t, net_part10_scan(b, n, &off, sop, ts, sizeof(ts)) == -EINVAL);
	b[128] = 'D';
	b[132 + 12 + 8] = 0xff; /* OB length past the end */
	b[132 + 12 + 9] = 0xff;
	TT_CHECK(t, net_part10_scan(b, n, &off, sop, ts, sizeof(ts)) == -EINVAL);
}

TT_MAIN(TT_CASE(t_status_mapping), TT_CASE(t_status_ok), TT_CASE(t_ts_table), TT_CASE(t_allow_list),
	TT_CASE(t_pc_unique), TT_CASE(t_part10_scan))
