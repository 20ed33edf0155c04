/* Unit tests for anon/plan.c: plans with random segments over a temporary original;
 * size == materialized size, and every random range read equals the same range of the
 * materialized file; saved plans load to the same bytes and damaged ones are refused. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anon/anon.h"

#define SRC_SIZE (3u << 20)

/* xorshift: deterministic, so a failure reproduces. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int make_source(char *path, uint8_t **data)
{
	uint64_t s = 42;
	uint8_t *d = malloc(SRC_SIZE);
	int fd = mkstemp(path);

	if (!d || fd < 0)
		goto fail;
	for (size_t i = 0; i < SRC_SIZE; i++)
		d[i] = (uint8_t)rnd(&s);
	if (core_write_all(fd, d, SRC_SIZE))
		goto fail;
	*data = d;
	return fd;
fail:
	free(d);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Random plan; the expected output is built alongside in want. */
static struct deid_plan *random_plan(uint64_t *s, const uint8_t *src, struct buf *want)
{
	struct deid_plan *p = NULL;
	uint8_t hdr[300];

	if (deid_plan_new(&p))
		return NULL;
	for (int i = 0, n = 1 + (int)(rnd(s) % 40); i < n; i++) {
		if (rnd(s) % 2) {
			size_t len = rnd(s) % sizeof(hdr); /* may be 0 */
			for (size_t k = 0; k < len; k++)
				hdr[k] = (uint8_t)rnd(s);
			if (deid_plan_add_bytes(p, hdr, len) || buf_append(want, hdr, len))
				goto fail;
		} else {
			uint64_t off = rnd(s) % SRC_SIZE, len = rnd(s) % (SRC_SIZE - off);
			if (rnd(s) % 4 == 0)
				len %= 64;
			if (deid_plan_add_range(p, off, len) || buf_append(want, src + off, len))
				goto fail;
		}
	}
	return p;
fail:
	deid_plan_free(p);
	return NULL;
}

static void check_plan(struct tt *t, const struct deid_plan *p, int src_fd, const struct buf *want,
		       uint64_t *s)
{
	char out[] = "/tmp/t_plan-out-XXXXXX";
	int ofd = mkstemp(out);
	uint8_t *got = malloc(want->len + 1);
	struct stat st;

	TT_CHECK(t, deid_plan_size(p) == want->len);
	TT_CHECK(t, ofd >= 0 && deid_plan_materialize(p, src_fd, ofd) == 0);
	TT_CHECK(t, fstat(ofd, &st) == 0 && (uint64_t)st.st_size == want->len);
	TT_CHECK(t, pread(ofd, got, want->len, 0) == (ssize_t)want->len);
	TT_CHECK(t, !want->len || !memcmp(got, want->data, want->len));
	for (int i = 0; i < 300; i++) {
		uint64_t off = rnd(s) % (want->len + 10), len = rnd(s) % (want->len + 10);
		uint64_t exp = off >= want->len ? 0 : (len < want->len - off ? len : want->len - off);
		ssize_t r = deid_plan_read(p, src_fd, off, got, (size_t)len);
		TT_CHECK_MSG(t, r == (ssize_t)exp, "read %llu@%llu gave %zd", (unsigned long long)len,
			     (unsigned long long)off, r);
		if (r > 0)
			TT_CHECK(t, !memcmp(got, want->data + off, (size_t)r));
	}
	free(got);
	if (ofd >= 0)
		close(ofd);
	unlink(out);
}

static void test_random_plans(struct tt *t)
{
	char path[] = "/tmp/t_plan-src-XXXXXX";
	uint8_t *src = NULL;
	int fd = make_source(path, &src);
	uint64_t s = 7;

	TT_CHECK(t, fd >= 0);
	for (int i = 0; fd >= 0 && i < 20 && !t->failed; i++) {
		struct buf want;
		buf_init(&want, 1u << 30);
		struct deid_plan *p = random_plan(&s, src, &want);
		TT_CHECK(t, p != NULL);
		if (p)
			check_plan(t, p, fd, &want, &s);
		deid_plan_free(p);
		buf_release(&want);
	}
	free(src);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* A saved plan loads into one that produces the same bytes; every damaged copy of it (a
 * byte flipped, cut short, grown) is refused or still produces bytes of the right size:
 * never a read outside its arena. */
static void test_save_load(struct tt *t)
{
	char path[] = "/tmp/t_plan-src-XXXXXX";
	uint8_t *src = NULL;
	int fd = make_source(path, &src);
	uint64_t s = 11;

	TT_CHECK(t, fd >= 0);
	for (int i = 0; i < 20 && !t->failed; i++) {
		struct buf want, saved;
		struct deid_plan *p, *q = NULL;

		buf_init(&want, 1u << 30);
		buf_init(&saved, 1u << 30);
		p = random_plan(&s, src, &want);
		TT_CHECK(t, p && deid_plan_save(p, &saved) == 0);
		TT_CHECK(t, deid_plan_load(saved.data, saved.len, &q) == 0);
		TT_CHECK(t, deid_plan_size(q) == deid_plan_size(p));
		check_plan(t, q, fd, &want, &s);
		deid_plan_free(q);
		q = NULL;
		TT_CHECK(t, deid_plan_load(saved.data, saved.len - 1, &q) == -EINVAL);
		TT_CHECK(t, buf_append_u8(&saved, 0) == 0);
		TT_CHECK(t, deid_plan_load(saved.data, saved.len, &q) == -EINVAL);
		for (int k = 0; k < 50; k++) {
			size_t at = (size_t)(rnd(&s) % (saved.len - 1));
			uint8_t keep = saved.data[at];

			saved.data[at] ^= (uint8_t)(1u << (rnd(&s) % 8));
			if (deid_plan_load(saved.data, saved.len - 1, &q) == 0) {
				uint8_t b[512];

				deid_plan_read(q, fd, rnd(&s) % (deid_plan_size(q) + 1), b, sizeof(b));
				deid_plan_free(q);
				q = NULL;
			}
			saved.data[at] = keep;
		}
		deid_plan_free(p);
		buf_release(&want);
		buf_release(&saved);
	}
	free(src);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

static void test_edges(struct tt *t)
{
	struct deid_plan *p = NULL;
	uint8_t b[16];
	int fd = open("/dev/null", O_RDONLY);

	TT_CHECK(t, deid_plan_new(&p) == 0);
	TT_CHECK(t, deid_plan_size(p) == 0 && deid_plan_read(p, fd, 0, b, 16) == 0);
	TT_CHECK(t, deid_plan_add_range(p, UINT64_MAX - 1, 5) == -EOVERFLOW);
	/* A plan that promises more than the original holds reports -EIO, never garbage. */
	TT_CHECK(t, deid_plan_add_range(p, 0, 8) == 0);
	TT_CHECK(t, deid_plan_read(p, fd, 0, b, 16) == -EIO);
	TT_CHECK(t, deid_plan_copied_bytes(p) == 8);
	deid_plan_free(p);
	deid_plan_free(NULL);
	close(fd);
}

TT_MAIN(TT_CASE(test_random_plans), TT_CASE(test_save_load), TT_CASE(test_edges))
