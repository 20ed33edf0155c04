/*
 * The transfer retry policy as pure functions: which C-STORE outcomes are worth another
 * attempt, and how long to wait before it (exponential backoff with jitter, capped).
 * Kept apart from the sender so the policy is unit tested without a network.
 */
#include "core/core.h"

#include <errno.h>

#include "net/net.h"

enum net_outcome net_outcome_classify(int rc, uint16_t status)
{
	if (rc < 0) /* no response: the network, the peer or the association failed */
		return rc == -EINVAL || rc == -EPROTONOSUPPORT ? NET_OUTCOME_GIVE_UP
							       : NET_OUTCOME_RETRY;
	if (net_status_ok(status))
		return NET_OUTCOME_SENT;
	/* 0xA7xx out of resources, 0x0213 (resource limitation), 0xA702 etc.: the peer may
	 * recover. 0xA9xx (data set does not match SOP class), 0xCxxx (cannot understand),
	 * 0x0122 (SOP class not supported), 0x0124 (not authorized): resending the same
	 * bytes will fail again. */
	if ((status & 0xFF00) == 0xA700 || status == 0x0213 || status == 0x0110)
		return NET_OUTCOME_RETRY;
	return NET_OUTCOME_GIVE_UP;
}

int64_t net_backoff_s(unsigned attempt, int64_t base_s, int64_t max_s, uint32_t rnd)
{
	int64_t d = base_s < 1 ? 1 : base_s;

	if (max_s < d)
		max_s = d;
	for (unsigned i = 1; i < attempt && d < max_s; i++)
		d = d > max_s / 2 ? max_s : d * 2;
	if (d > max_s)
		d = max_s;
	/* Jitter spreads retries of many instances / senders; at most a quarter off. */
	{ /* q * r / 65536 split in two so no product can overflow */
		int64_t q = d / 4, r = (int64_t)(rnd >> 16);

		d -= q / 65536 * r + q % 65536 * r / 65536;
	}
	return d < 1 ? 1 : d;
}
