/*
 * Pure helpers of the DICOM network layer, kept out of the C++ file so they can be unit
 * tested: the transfer syntax table the receiver accepts, the mapping from a store
 * callback's errno to a DIMSE status, the allow-list match and presentation context
 * de-duplication. No I/O, no state.
 */
#include "core/core.h"

#include <errno.h>
#include <string.h>

#include "net/net.h"

/* Preference order: uncompressed first (no decoding cost for anyone), then the compressed
 * syntaxes senders commonly use. The SCP accepts what the sender proposes; bytes are
 * stored as received, so the order only matters when a sender offers several. */
static const char *const ts_table[] = {
	"1.2.840.10008.1.2.1",	   /* Explicit VR Little Endian */
	"1.2.840.10008.1.2",	   /* Implicit VR Little Endian */
	"1.2.840.10008.1.2.2",	   /* Explicit VR Big Endian (retired) */
	"1.2.840.10008.1.2.1.99",  /* Deflated Explicit VR Little Endian */
	"1.2.840.10008.1.2.4.50",  /* JPEG Baseline */
	"1.2.840.10008.1.2.4.51",  /* JPEG Extended */
	"1.2.840.10008.1.2.4.57",  /* JPEG Lossless */
	"1.2.840.10008.1.2.4.70",  /* JPEG Lossless SV1 */
	"1.2.840.10008.1.2.4.80",  /* JPEG-LS Lossless */
	"1.2.840.10008.1.2.4.81",  /* JPEG-LS Near-Lossless */
	"1.2.840.10008.1.2.4.90",  /* JPEG 2000 Lossless */
	"1.2.840.10008.1.2.4.91",  /* JPEG 2000 */
	"1.2.840.10008.1.2.4.92",  /* JPEG 2000 Part 2 Lossless */
	"1.2.840.10008.1.2.4.93",  /* JPEG 2000 Part 2 */
	"1.2.840.10008.1.2.4.201", /* HTJ2K Lossless */
	"1.2.840.10008.1.2.4.202", /* HTJ2K Lossless RPCL */
	"1.2.840.10008.1.2.4.203", /* HTJ2K */
	"1.2.840.10008.1.2.5",	   /* RLE Lossless */
	"1.2.840.10008.1.2.4.100", /* MPEG2 MP@ML */
	"1.2.840.10008.1.2.4.101", /* MPEG2 MP@HL */
	"1.2.840.10008.1.2.4.102", /* MPEG-4 AVC/H.264 HP@4.1 */
	"1.2.840.10008.1.2.4.103", /* MPEG-4 AVC/H.264 BD */
	"1.2.840.10008.1.2.4.104", /* MPEG-4 AVC/H.264 HP@4.2 2D */
	"1.2.840.10008.1.2.4.105", /* MPEG-4 AVC/H.264 HP@4.2 3D */
	"1.2.840.10008.1.2.4.106", /* MPEG-4 AVC/H.264 Stereo HP@4.2 */
	"1.2.840.10008.1.2.4.107", /* HEVC/H.265 Main */
	"1.2.840.10008.1.2.4.108", /* HEVC/H.265 Main 10 */
};

const char *const *net_ts_accepted(size_t *n)
{
	*n = CORE_ARRAY_SIZE(ts_table);
	return ts_table;
}

bool net_ts_is_native(const char *ts_uid)
{
	return ts_uid &&
	       (!strcmp(ts_uid, "1.2.840.10008.1.2") || !strcmp(ts_uid, "1.2.840.10008.1.2.1") ||
		!strcmp(ts_uid, "1.2.840.10008.1.2.2"));
}

uint16_t net_status_from_errno(int rc)
{
	if (rc == 0)
		return NET_STATUS_SUCCESS;
	if (rc == -EINVAL)
		return NET_STATUS_CANNOT_UNDERSTAND;
	return NET_STATUS_OUT_OF_RESOURCES;
}

bool net_status_ok(uint16_t status)
{
	return status == 0x0000 || status == 0x0001 || (status & 0xF000) == 0xB000;
}

/* Compares two AE titles ignoring leading and trailing spaces (AE values are padded). */
static bool ae_equal(const char *a, const char *b)
{
	size_t na, nb;

	while (*a == ' ')
		a++;
	while (*b == ' ')
		b++;
	na = strlen(a);
	nb = strlen(b);
	while (na && a[na - 1] == ' ')
		na--;
	while (nb && b[nb - 1] == ' ')
		nb--;
	return na == nb && !memcmp(a, b, na);
}

int net_caller_check(const struct net_caller *allowed, size_t n, const char *calling_aet,
		     const char *host)
{
	bool ae_seen = false;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (allowed[i].aet && !ae_equal(allowed[i].aet, calling_aet ? calling_aet : ""))
			continue;
		ae_seen = true;
		if (!allowed[i].host || (host && !strcmp(allowed[i].host, host)))
			return 0;
	}
	return ae_seen ? -EPERM : -EACCES;
}

int net_pc_unique(const struct net_pc *in, size_t n, struct net_pc *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		for (size_t j = 0; j < k && !dup; j++)
			dup = !strcmp(out[j].sop_class_uid, in[i].sop_class_uid) &&
			      !strcmp(out[j].ts_uid, in[i].ts_uid);
		if (dup)
			continue;
		if (k == cap)
			return -E2BIG;
		out[k++] = in[i];
	}
	return (int)k;
}

/* Copies a UI value (trailing NUL/space padding removed) into out; -EINVAL if too long. */
static int ui_copy(const uint8_t *v, size_t len, char *out, size_t cap)
{
	while (len && (v[len - 1] == '\0' || v[len - 1] == ' '))
		len--;
	if (len >= cap)
		return -EINVAL;
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

int net_part10_scan(const uint8_t *p, size_t n, size_t *ds_off, char *sop_class, char *ts,
		    size_t cap)
{
	size_t off = 132;
	bool have_ts = false;

	if (n < 132 || memcmp(p + 128, "DICM", 4) != 0)
		return -EINVAL;
	if (sop_class && cap)
		sop_class[0] = '\0';
	/* Group 0002 is always Explicit VR Little Endian (PS3.10 7.1). */
	while (n - off >= 8 && p[off] == 0x02 && p[off + 1] == 0x00) {
		uint16_t el = (uint16_t)(p[off + 2] | p[off + 3] << 8);
		const uint8_t *vr = p + off + 4;
		size_t len = (size_t)(p[off + 6] | p[off + 7] << 8), hdr = 8;

		if ((vr[0] == 'O' && (vr[1] == 'B' || vr[1] == 'W' || vr[1] == 'F')) ||
		    (vr[0] == 'U' && (vr[1] == 'N' || vr[1] == 'T')) ||
		    (vr[0] == 'S' && vr[1] == 'Q')) {
			if (n - off < 12)
				return -EINVAL;
			len = (size_t)p[off + 8] | (size_t)p[off + 9] << 8 |
			      (size_t)p[off + 10] << 16 | (size_t)p[off + 11] << 24;
			hdr = 12;
		}
		if (len > n - off - hdr)
			return -EINVAL;
		if (el == 0x0002 && sop_class && ui_copy(p + off + hdr, len, sop_class, cap))
			return -EINVAL;
		if (el == 0x0010) {
			if (ui_copy(p + off + hdr, len, ts, cap))
				return -EINVAL;
			have_ts = ts[0] != '\0';
		}
		off += hdr + len;
	}
	if (!have_ts)
		return -EINVAL;
	*ds_off = off;
	return 0;
}
