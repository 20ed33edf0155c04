/*
 * Keyed pseudonyms and date shifting. Every expected value was computed outside fiona:
 * HMACs with `printf 'projA\0...' | openssl dgst -sha256 -hmac KEY`, the 128-bit decimal
 * with bc, base32 with coreutils base32, calendar results with GNU `date -d`.
 */
#include "core/core.h"
#include "anon/anon.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY "fiona-unit-test-secret-0123456789"

static struct deid_secret key(void)
{
	struct deid_secret s = {0};
	memcpy(s.key, KEY, strlen(KEY));
	s.len = strlen(KEY);
	return s;
}

static void t_uid_vector(struct tt *t)
{
	struct deid_secret s = key();
	char out[65], again[65];

	TT_CHECK(t, deid_uid_derive(&s, "projA", "1.2.3.4.5", out) == 0);
	TT_CHECK_MSG(t, !strcmp(out, "2.25.304954082940062489578883109902603048003"), "%s", out);
	TT_CHECK(t, deid_uid_derive(&s, "projA", "1.2.3.4.5", again) == 0 && !strcmp(out, again));
	TT_CHECK(t, deid_uid_derive(&s, "projB", "1.2.3.4.5", again) == 0 && strcmp(out, again));
	for (int i = 0; i < 2000; i++) { /* shape: <= 64 chars, no leading zero after 2.25. */
		char uid[32];
		snprintf(uid, sizeof(uid), "1.2.826.0.1.%d", i);
		TT_CHECK(t, deid_uid_derive(&s, "p", uid, out) == 0);
		TT_CHECK(t, strlen(out) <= 64 && !strncmp(out, "2.25.", 5));
		TT_CHECK(t, out[5] != '0' || out[6] == '\0');
	}
}

static void t_date_offset_vector(struct tt *t)
{
	struct deid_secret s = key();
	int d = 0;

	TT_CHECK(t, deid_date_offset_days(&s, "projA", "P001", -3650, -365, &d) == 0);
	TT_CHECK_MSG(t, d == -3628, "%d", d); /* first 64 bits mod 3286 = 22 */
	TT_CHECK(t, deid_date_offset_days(&s, "projA", "P001", -10, 10, &d) == 0);
	TT_CHECK_MSG(t, d == -4, "%d", d); /* mod 20 = 6 */
	TT_CHECK(t, deid_date_offset_days(&s, "projB", "P002", -10, 10, &d) == 0);
	TT_CHECK_MSG(t, d == -1, "%d", d); /* mod 20 = 9 */
	TT_CHECK(t, deid_date_offset_days(&s, "projA", "P001", 0, 0, &d) == 0 && d == 0);
	TT_CHECK(t, deid_date_offset_days(&s, "projA", "P001", 5, 1, &d) == -EINVAL);
	for (int i = 0; i < 500; i++) { /* range [-1, 1] without 0: only -1 and 1 */
		char part[16];
		snprintf(part, sizeof(part), "P%d", i);
		TT_CHECK(t, deid_date_offset_days(&s, "x", part, -1, 1, &d) == 0);
		TT_CHECK(t, d == -1 || d == 1);
		TT_CHECK(t, deid_date_offset_days(&s, "x", part, 0, 3, &d) == 0);
		TT_CHECK(t, d >= 1 && d <= 3);
	}
}

static void t_hash16_vector(struct tt *t)
{
	struct deid_secret s = key();
	char out[17];

	TT_CHECK(t, deid_keyed_hash16(&s, "projA", "accession", "ACC123", out) == 0);
	TT_CHECK_MSG(t, !strcmp(out, "UVPZI36HZMK5ALSZ"), "%s", out);
	TT_CHECK(t, deid_keyed_hash16(&s, "projA", "studyid", "ACC123", out) == 0);
	TT_CHECK(t, strcmp(out, "UVPZI36HZMK5ALSZ") && strlen(out) == 16);
}

static int shift(const char *in, uint16_t vr, int days, char *out)
{
	return deid_date_shift(in, vr, days, out, 64);
}

static void t_date_shift(struct tt *t)
{
	const uint16_t DA = DCM_VR('D', 'A'), DT = DCM_VR('D', 'T'), TM = DCM_VR('T', 'M');
	char out[64];

	TT_CHECK(t, shift("20200115", DA, -3650, out) == 0 && !strcmp(out, "20100117"));
	TT_CHECK(t, shift("19850704", DA, -3628, out) == 0 && !strcmp(out, "19750729"));
	TT_CHECK(t, shift("20240229", DA, 365, out) == 0 && !strcmp(out, "20250228"));
	TT_CHECK(t, shift("20200301", DA, -1, out) == 0 && !strcmp(out, "20200229"));
	TT_CHECK(t, shift("19000301", DA, -1, out) == 0 && !strcmp(out, "19000228"));
	TT_CHECK(t, shift("20000301", DA, -1, out) == 0 && !strcmp(out, "20000229"));
	TT_CHECK(t, shift("20231231", DA, 1, out) == 0 && !strcmp(out, "20240101"));
	TT_CHECK(t, shift("20210601\\20200115", DA, -4, out) == 0 &&
		    !strcmp(out, "20210528\\20200111"));
	TT_CHECK(t, shift("20210601123456.123456+0100", DT, -4, out) == 0 &&
		    !strcmp(out, "20210528123456.123456+0100"));
	TT_CHECK(t, shift("2021060112", DT, -4, out) == 0 && !strcmp(out, "2021052812"));
	TT_CHECK(t, shift("202106", DT, -4, out) == 0 && !strcmp(out, "202105"));
	TT_CHECK(t, shift("2021", DT, -4, out) == 0 && !strcmp(out, "2020"));
	TT_CHECK(t, shift("2021-0500", DT, 1, out) == 0 && !strcmp(out, "2021-0500"));
	TT_CHECK(t, shift("123456.5", TM, -4, out) == 0 && !strcmp(out, "123456.5"));
	TT_CHECK(t, shift("20210230", DA, 1, out) == -EINVAL);
	TT_CHECK(t, shift("2021013", DA, 1, out) == -EINVAL);
	TT_CHECK(t, shift("2021.01.03", DA, 1, out) == -EINVAL);
	TT_CHECK(t, shift("20210101256000", DT, 1, out) == -EINVAL);
	TT_CHECK(t, shift("20210101+9900", DT, 1, out) == -EINVAL);
	TT_CHECK(t, shift("", DA, 1, out) == -EINVAL);
	TT_CHECK(t, shift("00010101", DA, -1, out) == -ERANGE);
	TT_CHECK(t, deid_date_shift("20210101", DA, 1, out, 8) == -ENOSPC);
}

static void t_secret_load(struct tt *t)
{
	char dir[] = "/tmp/t_pseudo.XXXXXX", path[64];
	struct deid_secret s;
	struct fiona_err err;
	int fd;

	TT_CHECK(t, mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/secret", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	TT_CHECK(t, fd >= 0);
	TT_CHECK(t, write(fd, KEY "\n", strlen(KEY) + 1) == (ssize_t)strlen(KEY) + 1);
	close(fd);
	TT_CHECK(t, chmod(path, 0640) == 0);
	TT_CHECK(t, deid_secret_load(path, &s, &err) == -EPERM && strstr(err.reason, "chmod 600"));
	TT_CHECK(t, chmod(path, 0604) == 0);
	TT_CHECK(t, deid_secret_load(path, &s, &err) == -EPERM);
	TT_CHECK(t, chmod(path, 0600) == 0);
	TT_CHECK(t, deid_secret_load(path, &s, &err) == 0);
	TT_CHECK(t, s.len == strlen(KEY) && !memcmp(s.key, KEY, s.len));
	fd = open(path, O_WRONLY | O_TRUNC);
	TT_CHECK(t, fd >= 0 && write(fd, "short", 5) == 5);
	close(fd);
	TT_CHECK(t, deid_secret_load(path, &s, &err) == -EINVAL);
	unlink(path);
	rmdir(dir);
}

TT_MAIN(TT_CASE(t_uid_vector), TT_CASE(t_date_offset_vector), TT_CASE(t_hash16_vector),
	TT_CASE(t_date_shift), TT_CASE(t_secret_load))
