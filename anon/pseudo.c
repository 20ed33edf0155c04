/*
 * pseudo: keyed pseudonyms — replacement UIDs, per-participant date offsets, keyed hashes
 * of accession numbers and study IDs — all HMAC-SHA256 under the site secret, plus the
 * calendar arithmetic that shifts DA/DT values by whole days.
 *
 * Messages (NUL never occurs inside a UID, project, participant or kind, so the domains
 * cannot collide):
 *   UID          project \0 uid                       -> 2.25.<first 128 bits, decimal>
 *   date offset  project \0 participant \0 "date"     -> first 64 bits mod range
 *   hash16       project \0 kind \0 value             -> first 80 bits, base32 (16 chars)
 * Invariants: same secret + same input = same output on every machine; no value handled
 * here is ever logged; calendar math is proleptic Gregorian via days-from-civil (no libc
 * time zone functions), years 0001-9999.
 */
#include "core/core.h"
#include "anon/anon.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SECRET_MIN 16

int deid_secret_load(const char *path, struct deid_secret *s, struct fiona_err *err)
{
	struct deid_secret tmp = {0};
	struct stat st;
	uint8_t buf[sizeof(tmp.key) + 2];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;

	if (fd < 0)
		return err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "secret: cannot open: %s",
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			     "secret: not a regular file");
		goto fail;
	}
	if (st.st_mode & 077) {
		rc = err_set(err, -EPERM, CORE_NO_OFFSET, CORE_NO_TAG,
			     "secret: file mode %03o lets group/others access it; run chmod 600",
			     (unsigned)(st.st_mode & 0777));
		goto fail;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		rc = err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "secret: read failed");
		goto fail;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--; /* a trailing newline from an editor is not part of the key */
	if (n < SECRET_MIN || (size_t)n > sizeof(tmp.key)) {
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			     "secret: need %d to %zu bytes, file has %zd", SECRET_MIN,
			     sizeof(tmp.key), n);
		goto fail;
	}
	memcpy(tmp.key, buf, (size_t)n);
	tmp.len = (size_t)n;
	*s = tmp;
	rc = 0;
fail:
	memset(buf, 0, sizeof(buf));
	close(fd);
	return rc;
}

/* HMAC-SHA256 over the concatenation of parts (each with its NUL when with_nul). */
static int hmac(const struct deid_secret *s, const char *const *parts, size_t n_parts,
		uint8_t mac[32])
{
	uint8_t msg[1024];
	size_t len = 0;
	unsigned mlen = 32;

	if (!s || s->len == 0 || s->len > sizeof(s->key))
		return -EINVAL;
	for (size_t i = 0; i < n_parts; i++) {
		size_t l = strlen(parts[i]) + (i + 1 < n_parts); /* NUL between parts */
		if (l > sizeof(msg) - len)
			return -E2BIG;
		memcpy(msg + len, parts[i], l);
		len += l;
	}
	if (!HMAC(EVP_sha256(), s->key, (int)s->len, msg, len, mac, &mlen) || mlen != 32)
		return -EIO;
	return 0;
}

int deid_uid_derive(const struct deid_secret *s, const char *project, const char *uid, char out[65])
{
	const char *parts[] = {project, uid};
	uint8_t mac[32], num[16];
	char digits[40];
	size_t nd = 0;
	bool zero;
	int rc;

	if (!project || !uid)
		return -EINVAL;
	if ((rc = hmac(s, parts, 2, mac)) < 0)
		return rc;
	memcpy(num, mac, 16);
	do { /* long division of the 128-bit big-endian number by 10 */
		unsigned rem = 0;
		zero = true;
		for (size_t i = 0; i < 16; i++) {
			unsigned cur = rem << 8 | num[i];
			num[i] = (uint8_t)(cur / 10);
			rem = cur % 10;
			zero &= num[i] == 0;
		}
		digits[nd++] = (char)('0' + rem);
	} while (!zero);
	memcpy(out, "2.25.", 5);
	for (size_t i = 0; i < nd; i++)
		out[5 + i] = digits[nd - 1 - i];
	out[5 + nd] = '\0';
	return 0;
}

int deid_date_offset_days(const struct deid_secret *s, const char *project, const char *participant,
			  int min_days, int max_days, int *days)
{
	const char *parts[] = {project, participant, "date"};
	uint8_t mac[32];
	uint64_t v = 0, count;
	int64_t d;
	bool has_zero = min_days <= 0 && max_days >= 0;
	int rc;

	if (!project || !participant || min_days > max_days)
		return -EINVAL;
	count = (uint64_t)((int64_t)max_days - min_days + 1) - has_zero;
	if (count == 0) { /* the range is {0, 0}: no shift requested */
		*days = 0;
		return 0;
	}
	if ((rc = hmac(s, parts, 3, mac)) < 0)
		return rc;
	for (int i = 0; i < 8; i++)
		v = v << 8 | mac[i];
	/* modulo bias < count / 2^64, i.e. below 2^-46 for any range that fits an int */
	d = min_days + (int64_t)(v % count);
	if (has_zero && d >= 0)
		d++; /* skip 0: a participant's dates always move */
	*days = (int)d;
	return 0;
}

int deid_keyed_hash16(const struct deid_secret *s, const char *project, const char *kind,
		      const char *value, char out[17])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	const char *parts[] = {project, kind, value};
	uint8_t mac[32];
	int rc;

	if (!project || !kind || !value)
		return -EINVAL;
	if ((rc = hmac(s, parts, 3, mac)) < 0)
		return rc;
	for (int i = 0; i < 16; i++) { /* 16 x 5 bits = the first 80 bits */
		int bit = i * 5;
		unsigned w = (unsigned)mac[bit / 8] << 8 | mac[bit / 8 + 1];
		out[i] = b32[(w >> (11 - bit % 8)) & 31];
	}
	out[16] = '\0';
	return 0;
}

/* ---- calendar ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : md[m - 1];
}

static bool all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static unsigned num(const char *p, size_t n)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(p[i] - '0');
	return v;
}

/* Checks the time part "HH[MM[SS[.F{1,6}]]]" of a TM or DT (len chars at p). */
static bool time_valid(const char *p, size_t len)
{
	const char *dot = memchr(p, '.', len);
	size_t ilen = dot ? (size_t)(dot - p) : len, flen = dot ? len - ilen - 1 : 0;
	static const unsigned lim[] = {23, 59, 60};

	if (ilen % 2 || ilen > 6 || (dot && (ilen != 6 || flen < 1 || flen > 6)))
		return false;
	if (!all_digits(p, ilen) || (dot && !all_digits(dot + 1, flen)))
		return false;
	for (size_t i = 0; i < ilen / 2; i++)
		if (num(p + 2 * i, 2) > lim[i])
			return false;
	return true;
}

/* Shifts one value (len chars at in) into out. DA: exactly YYYYMMDD. DT: YYYY[MM[DD[time]]]
 * [&ZZXX]: a partial date is completed with 01 for the arithmetic and written back at the
 * precision it had; time and offset are copied unchanged (whole days do not move them). */
static int shift_one(const char *in, size_t len, bool is_dt, int days, char *out, size_t cap)
{
	size_t dlen, tz = len;
	unsigned m = 1, d = 1;
	int64_t y, z;
	char buf[32];
	int n;

	for (size_t i = 0; is_dt && i < len; i++)
		if (in[i] == '+' || in[i] == '-') {
			tz = i;
			break;
		}
	if (tz != len && (len - tz != 5 || !all_digits(in + tz + 1, 4) ||
			  num(in + tz + 1, 2) > 14 || num(in + tz + 3, 2) > 59))
		return -EINVAL;
	dlen = tz < 8 ? tz : 8;
	if (!is_dt ? len != 8 : (dlen != 4 && dlen != 6 && dlen != 8))
		return -EINVAL;
	if (!all_digits(in, dlen) || (is_dt && dlen < 8 && tz > dlen))
		return -EINVAL;
	if (is_dt && tz > 8 && !time_valid(in + 8, tz - 8))
		return -EINVAL;
	y = num(in, 4);
	if (dlen >= 6)
		m = num(in + 4, 2);
	if (y < 1 || m < 1 || m > 12)
		return -EINVAL;
	if (dlen == 8)
		d = num(in + 6, 2);
	if (d < 1 || d > month_days(y, m))
		return -EINVAL;
	z = days_from_civil(y, m, d) + days;
	civil_from_days(z, &y, &m, &d);
	if (y < 1 || y > 9999)
		return -ERANGE;
	n = snprintf(buf, sizeof(buf), "%04d%02u%02u", (int)y, m, d);
	if (n != 8 || len - dlen + dlen + 1 > cap)
		return -ENOSPC;
	memcpy(out, buf, dlen);
	memcpy(out + dlen, in + dlen, len - dlen);
	out[len] = '\0';
	return 0;
}

/* Moves the time of day "HH[MM[SS[.F]]]" (len chars, already validated, in place) by
 * seconds (at the value's own precision), wrapping at midnight without touching the date:
 * a DA and a TM of the same event then move consistently, and DT values move the same
 * way as DA + TM pairs. */
static void shift_time_of_day(char *p, size_t len, int seconds)
{
	const char *dot = memchr(p, '.', len);
	size_t ilen = dot ? (size_t)(dot - p) : len;
	unsigned t, sec = 0, unit = ilen == 2 ? 3600 : ilen == 4 ? 60 : 1;

	if (ilen < 2 || seconds <= 0)
		return;
	if (ilen == 6)
		sec = num(p + 4, 2) > 59 ? 59 : num(p + 4, 2); /* a leap second moves as :59 */
	t = num(p, 2) * 3600 + (ilen >= 4 ? num(p + 2, 2) * 60 : 0) + sec;
	t = (t + (unsigned)seconds / unit * unit) % 86400;
	for (size_t i = 0; i < ilen; i += 2) {
		unsigned v = i == 0 ? t / 3600 : i == 2 ? t / 60 % 60 : t % 60;

		p[i] = (char)('0' + v / 10);
		p[i + 1] = (char)('0' + v % 10);
	}
}

/* The time part of a DT value that shift_one() produced: after YYYYMMDD, before &ZZXX. */
static void shift_dt_time(char *v, size_t len, int seconds)
{
	size_t tz = len;

	for (size_t i = 8; i < len; i++)
		if (v[i] == '+' || v[i] == '-') {
			tz = i;
			break;
		}
	if (len > 8 && tz > 8)
		shift_time_of_day(v + 8, tz - 8, seconds);
}

int deid_date_shift(const char *in, uint16_t vr, int days, char *out, size_t cap)
{
	return deid_datetime_shift(in, vr, days, 0, out, cap);
}

int deid_time_offset_seconds(const struct deid_secret *s, const char *project,
			     const char *participant, int *seconds)
{
	const char *parts[] = {project, participant, "time"};
	uint8_t mac[32];
	uint64_t v = 0;
	int rc;

	if (!project || !participant)
		return -EINVAL;
	if ((rc = hmac(s, parts, 3, mac)) < 0)
		return rc;
	for (int i = 0; i < 8; i++)
		v = v << 8 | mac[i];
	*seconds = 1 + (int)(v % 86399); /* never 0: times always move */
	return 0;
}

int deid_datetime_shift(const char *in, uint16_t vr, int days, int seconds, char *out, size_t cap)
{
	bool is_dt = vr == DCM_VR('D', 'T');
	size_t len, pos = 0;

	if (!in || !out || cap == 0)
		return -EINVAL;
	if (vr != DCM_VR('D', 'A') && !is_dt && vr != DCM_VR('T', 'M'))
		return -EINVAL;
	len = strlen(in);
	if (len + 1 > cap)
		return -ENOSPC;
	/* Multi-valued (backslash-separated) values shift value by value. */
	for (size_t start = 0; start <= len;) {
		const char *bs = memchr(in + start, '\\', len - start);
		size_t vlen = bs ? (size_t)(bs - in) - start : len - start;
		int rc;

		if (vr == DCM_VR('T', 'M')) { /* days leave a time of day alone; seconds move it */
			if (!time_valid(in + start, vlen))
				return -EINVAL;
			memcpy(out + pos, in + start, vlen);
			out[pos + vlen] = '\0';
			shift_time_of_day(out + pos, vlen, seconds);
		} else if ((rc = shift_one(in + start, vlen, is_dt, days, out + pos, cap - pos)) <
			   0) {
			return rc;
		} else if (is_dt) {
			shift_dt_time(out + pos, vlen, seconds);
		}
		pos += vlen;
		if (!bs)
			break;
		out[pos++] = '\\';
		start += vlen + 1;
	}
	out[pos] = '\0';
	return 0;
}
