/* Unit tests for core/: bounded buffer, integer parsing, error formatting, atomic write. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void test_buf_bounded(struct tt *t)
{
	struct buf b;

	buf_init(&b, 8);
	TT_CHECK(t, buf_append(&b, "abcd", 4) == 0);
	TT_CHECK(t, buf_appendf(&b, "%d", 1234) == 0);
	TT_CHECK(t, b.len == 8 && !memcmp(b.data, "abcd1234", 9));
	TT_CHECK(t, buf_append(&b, "x", 1) == -E2BIG);
	TT_CHECK(t, b.len == 8);
	buf_release(&b);
	TT_CHECK(t, b.data == NULL && b.len == 0);
}

static void test_parse_long(struct tt *t)
{
	long v = 7;

	TT_CHECK(t, core_parse_long("42", 0, 100, &v) == 0 && v == 42);
	TT_CHECK(t, core_parse_long("42x", 0, 100, &v) == -EINVAL && v == 42);
	TT_CHECK(t, core_parse_long("101", 0, 100, &v) == -ERANGE);
	TT_CHECK(t, core_parse_long("", 0, 100, &v) == -EINVAL);
}

static void test_size_overflow(struct tt *t)
{
	size_t out = 0;

	TT_CHECK(t, core_add_size(SIZE_MAX, 1, &out) == -EOVERFLOW);
	TT_CHECK(t, core_mul_size(SIZE_MAX / 2, 3, &out) == -EOVERFLOW);
	TT_CHECK(t, core_mul_size(3, 4, &out) == 0 && out == 12);
}

static void test_err_format(struct tt *t)
{
	struct fiona_err e;
	char out[256];

	err_clear(&e);
	err_set(&e, -EINVAL, 132, 0x00100010, "value length %u past end", 99u);
	err_format(&e, "a.dcm", out, sizeof(out));
	TT_CHECK_MSG(t,
		     !strcmp(out, "a.dcm: offset 132: tag (0010,0010): value length 99 past end"),
		     "got '%s'", out);
}

static void test_atomic_write(struct tt *t)
{
	char dir[] = "/tmp/fiona-t-core-XXXXXX", path[512], *data = NULL;
	size_t len = 0;

	TT_CHECK(t, mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a/b/file", dir);
	TT_CHECK(t, core_mkdir_p(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/a/b", dir);
	TT_CHECK(t, core_mkdir_p(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/a/b/file", dir);
	TT_CHECK(t, core_write_file_atomic(path, "hello", 5, 0600) == 0);
	TT_CHECK(t, core_read_file(path, 100, &data, &len) == 0);
	TT_CHECK(t, len == 5 && !strcmp(data, "hello"));
	free(data);
	TT_CHECK(t, core_read_file(path, 3, &data, &len) == -EFBIG);
	unlink(path);
}

/* Each id waits once; an urgent one goes (or moves) to the front. */
static void test_idq(struct tt *t)
{
	struct core_idq q = {0};
	int64_t id;

	for (int64_t i = 1; i <= 100; i++)
		TT_CHECK(t, core_idq_push(&q, i, false) == 0);
	TT_CHECK(t, core_idq_push(&q, 7, false) == 0 && q.n == 100);
	TT_CHECK(t, core_idq_push(&q, 50, true) == 0 && q.n == 100 && q.v[0] == 50);
	TT_CHECK(t, core_idq_push(&q, 500, true) == 0 && q.n == 101 && q.v[0] == 500);
	TT_CHECK(t, core_idq_has(&q, 99) && !core_idq_has(&q, 1000));
	TT_CHECK(t, core_idq_pop(&q, &id) && id == 500 && core_idq_pop(&q, &id) && id == 50);
	TT_CHECK(t, core_idq_pop(&q, &id) && id == 1 && !core_idq_has(&q, 50));
	while (core_idq_pop(&q, &id))
		;
	TT_CHECK(t, q.n == 0 && id == 100);
	core_idq_release(&q);
}

TT_MAIN(TT_CASE(test_buf_bounded), TT_CASE(test_parse_long), TT_CASE(test_size_overflow),
	TT_CASE(test_err_format), TT_CASE(test_atomic_write), TT_CASE(test_idq))
