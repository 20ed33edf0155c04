/* Unit tests of net/retry.c: outcome classification and exponential backoff. */
#include "core/core.h"

#include <errno.h>

#include "net/net.h"
#include "tests/unit/tt.h"

static void t_classify(struct tt *t)
{
	TT_CHECK(t, net_outcome_classify(0, 0x0000) == NET_OUTCOME_SENT);
	TT_CHECK(t, net_outcome_classify(0, 0xB000) == NET_OUTCOME_SENT);
	TT_CHECK(t, net_outcome_classify(0, 0xB007) == NET_OUTCOME_SENT);
	TT_CHECK(t, net_outcome_classify(0, 0xA700) == NET_OUTCOME_RETRY);
	TT_CHECK(t, net_outcome_classify(0, 0xA7FF) == NET_OUTCOME_RETRY);
	TT_CHECK(t, net_outcome_classify(0, 0x0213) == NET_OUTCOME_RETRY);
	TT_CHECK(t, net_outcome_classify(0, 0xA900) == NET_OUTCOME_GIVE_UP);
	TT_CHECK(t, net_outcome_classify(0, 0xC000) == NET_OUTCOME_GIVE_UP);
	TT_CHECK(t, net_outcome_classify(0, 0x0122) == NET_OUTCOME_GIVE_UP);
	TT_CHECK(t, net_outcome_classify(0, 0x0124) == NET_OUTCOME_GIVE_UP);
	TT_CHECK(t, net_outcome_classify(-EIO, 0) == NET_OUTCOME_RETRY);
	TT_CHECK(t, net_outcome_classify(-ECONNREFUSED, 0) == NET_OUTCOME_RETRY);
	TT_CHECK(t, net_outcome_classify(-EINVAL, 0) == NET_OUTCOME_GIVE_UP);
	TT_CHECK(t, net_outcome_classify(-EPROTONOSUPPORT, 0) == NET_OUTCOME_GIVE_UP);
}

static void t_backoff_doubles_and_caps(struct tt *t)
{
	TT_CHECK(t, net_backoff_s(1, 10, 3600, 0) == 10);
	TT_CHECK(t, net_backoff_s(2, 10, 3600, 0) == 20);
	TT_CHECK(t, net_backoff_s(3, 10, 3600, 0) == 40);
	TT_CHECK(t, net_backoff_s(9, 10, 3600, 0) == 2560);
	TT_CHECK(t, net_backoff_s(10, 10, 3600, 0) == 3600);
	TT_CHECK(t, net_backoff_s(4000000000u, 10, 3600, 0) == 3600);
	TT_CHECK(t, net_backoff_s(0, 10, 3600, 0) == 10);
	TT_CHECK(t, net_backoff_s(64, INT64_MAX / 2, INT64_MAX, 0) == INT64_MAX);
}

static void t_backoff_jitter_and_floor(struct tt *t)
{
	int64_t lo = net_backoff_s(3, 10, 3600, UINT32_MAX),
		mid = net_backoff_s(3, 10, 3600, 1u << 31);

	TT_CHECK(t, lo >= 30 && lo <= 31); /* 40 minus (almost) a quarter */
	TT_CHECK(t, mid > 30 && mid < 40); /* in between */
	TT_CHECK(t, net_backoff_s(1, 0, 0, 0) == 1);
	TT_CHECK(t, net_backoff_s(1, -5, 0, UINT32_MAX) == 1);
	TT_CHECK(t, net_backoff_s(5, 1, 3, UINT32_MAX) >= 1);
	TT_CHECK(t, net_backoff_s(70, 1, INT64_MAX, UINT32_MAX) >= INT64_MAX / 4 * 3);
	for (unsigned a = 1; a < 80; a++) {
		int64_t d = net_backoff_s(a, 7, 1000, (uint32_t)a * 2654435761u);
		TT_CHECK_MSG(t, d >= 1 && d <= 1000, "attempt %u: %lld", a, (long long)d);
	}
}

TT_MAIN(TT_CASE(t_classify), TT_CASE(t_backoff_doubles_and_caps),
	TT_CASE(t_backoff_jitter_and_floor))
