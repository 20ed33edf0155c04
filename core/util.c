/*
 * Small helpers: checked integer parsing and size arithmetic, whole-file mapping and
 * reading, durable writes, clocks. Durable writes follow the rename dance (temp file,
 * fsync, rename, fsync of the directory) so a crash leaves the old or the new file.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int core_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int core_add_size(size_t a, size_t b, size_t *out)
{
	if (a > SIZE_MAX - b)
		return -EOVERFLOW;
	*out = a + b;
	return 0;
}

int core_mul_size(size_t a, size_t b, size_t *out)
{
	if (a && b > SIZE_MAX / a)
		return -EOVERFLOW;
	*out = a * b;
	return 0;
}

int core_map_file(const char *path, struct core_map *m)
{
	struct stat st;
	void *p = NULL;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto fail;
	}
	if (st.st_size > 0) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			rc = -errno;
			goto fail;
		}
	}
	m->p = p;
	m->len = (size_t)st.st_size;
	m->fd = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

void core_map_release(struct core_map *m)
{
	if (!m)
		return;
	if (m->p)
		munmap((void *)m->p, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->p = NULL;
	m->len = 0;
	m->fd = -1;
}

int core_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct buf b;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf_init(&b, max);
	rc = buf_reserve(&b, 0);
	while (!rc && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		rc = buf_append(&b, chunk, (size_t)n);
		if (rc == -E2BIG)
			rc = -EFBIG;
	}
	close(fd);
	if (rc) {
		buf_release(&b);
		return rc;
	}
	*out = (char *)buf_detach(&b, len);
	return 0;
}

int core_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char tmp[PATH_MAX];
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int core_write_file_atomic(const char *path, const void *p, size_t n, unsigned mode)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	rc = core_write_all(fd, p, n);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return fsync_dir_of(path);
}

int core_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	len = strlen(tmp);
	for (size_t i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		if (i < len)
			tmp[i] = '/';
	}
	return 0;
}

double core_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timespec core_deadline(double seconds)
{
	struct timespec t;
	time_t whole = (time_t)seconds;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += whole;
	t.tv_nsec += (long)((seconds - (double)whole) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

int64_t core_now_wall(void)
{
	return (int64_t)time(NULL);
}

const char *core_time_iso(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "?");
	return out;
}
