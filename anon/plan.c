/*
 * Plans: an output file described as segments of plan-owned bytes and byte ranges of
 * the original, so de-identified bytes can be served (mount) or written (anonymize)
 * without copying pixel data through memory.
 *
 * Invariants: segments are in output order and their out_off values are the running
 * sum of the lengths before them (binary search by offset relies on it); owned bytes
 * live in one arena referenced by offset (the arena may move while the plan is built);
 * zero-length additions add no segment; adjacent owned segments are merged. Once a
 * plan is shared it is never modified, so reads need no lock and allocate nothing.
 */
#include "core/core.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "anon/anon.h"

struct plan_seg {
	uint64_t out_off; /* where the segment starts in the output */
	uint64_t len;
	uint64_t src_off; /* arena offset (owned) or original-file offset (range) */
	bool owned;
};

struct deid_plan {
	struct plan_seg *segs;
	size_t n, cap;
	struct buf arena; /* owned bytes */
	uint64_t size, copied;
};

#define PLAN_ARENA_MAX	((size_t)64 << 20) /* headers are small; this bounds a bad plan */
#define PLAN_COPY_CHUNK ((size_t)1 << 20)

int deid_plan_new(struct deid_plan **out)
{
	struct deid_plan *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	buf_init(&p->arena, PLAN_ARENA_MAX);
	*out = p;
	return 0;
}

void deid_plan_free(struct deid_plan *p)
{
	if (!p)
		return;
	buf_release(&p->arena);
	free(p->segs);
	free(p);
}

static int plan_push(struct deid_plan *p, bool owned, uint64_t src_off, uint64_t len)
{
	struct plan_seg *last = p->n ? &p->segs[p->n - 1] : NULL;

	if (last && last->owned && owned && last->src_off + last->len == src_off) {
		last->len += len;
		p->size += len;
		return 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct plan_seg *s = realloc(p->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		p->segs = s;
		p->cap = cap;
	}
	p->segs[p->n++] = (struct plan_seg){p->size, len, src_off, owned};
	p->size += len;
	return 0;
}

int deid_plan_adopt(struct deid_plan *p, struct buf *b)
{
	size_t max = b->max;

	if (p->arena.len || p->n)
		return -EINVAL;
	buf_release(&p->arena);
	p->arena = *b;
	buf_init(b, max);
	return 0;
}

int deid_plan_add_owned(struct deid_plan *p, size_t off, size_t len)
{
	if (off > p->arena.len || len > p->arena.len - off)
		return -EINVAL;
	return len ? plan_push(p, true, off, len) : 0;
}

int deid_plan_add_bytes(struct deid_plan *p, const void *bytes, size_t n)
{
	size_t at = p->arena.len;
	int rc;

	if (!n)
		return 0;
	rc = buf_append(&p->arena, bytes, n);
	if (rc)
		return rc;
	rc = plan_push(p, true, at, n);
	if (rc)
		p->arena.len = at;
	return rc;
}

int deid_plan_add_range(struct deid_plan *p, uint64_t src_off, uint64_t len)
{
	int rc;

	if (!len)
		return 0;
	if (src_off > UINT64_MAX - len || p->size > UINT64_MAX - len)
		return -EOVERFLOW;
	rc = plan_push(p, false, src_off, len);
	if (!rc)
		p->copied += len;
	return rc;
}

uint64_t deid_plan_size(const struct deid_plan *p)
{
	return p->size;
}

uint64_t deid_plan_copied_bytes(const struct deid_plan *p)
{
	return p->copied;
}

/* Index of the segment holding output offset off (off < size). */
static size_t plan_find(const struct deid_plan *p, uint64_t off)
{
	size_t lo = 0, hi = p->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->segs[mid].out_off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int pread_full(int fd, void *dst, size_t len, uint64_t off)
{
	uint8_t *d = dst;

	while (len) {
		ssize_t r = pread(fd, d, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* the original is shorter than the plan */
		d += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

ssize_t deid_plan_read(const struct deid_plan *p, int src_fd, uint64_t off, void *dst, size_t len)
{
	uint8_t *d = dst;
	size_t done = 0;

	if (off >= p->size || !len)
		return 0;
	if (len > p->size - off)
		len = (size_t)(p->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	for (size_t i = plan_find(p, off); done < len; i++) {
		const struct plan_seg *s = &p->segs[i];
		uint64_t in = off + done - s->out_off;
		size_t n = (size_t)(s->len - in < len - done ? s->len - in : len - done);
		if (s->owned) {
			memcpy(d + done, p->arena.data + s->src_off + in, n);
		} else {
			int rc = pread_full(src_fd, d + done, n, s->src_off + in);
			if (rc)
				return rc;
		}
		done += n;
	}
	return (ssize_t)done;
}

/* Copies one range without copy_file_range: through one bounded buffer. */
static int copy_range_slow(int src_fd, int out_fd, uint64_t off, uint64_t len)
{
	size_t cap = len < PLAN_COPY_CHUNK ? (size_t)len : PLAN_COPY_CHUNK;
	uint8_t *tmp = malloc(cap);
	int rc = 0;

	if (!tmp)
		return -ENOMEM;
	while (len && !rc) {
		size_t n = len < cap ? (size_t)len : cap;
		rc = pread_full(src_fd, tmp, n, off);
		if (!rc)
			rc = core_write_all(out_fd, tmp, n);
		off += n;
		len -= n;
	}
	free(tmp);
	return rc;
}

static int copy_range(int src_fd, int out_fd, uint64_t off, uint64_t len)
{
	loff_t in = (loff_t)off;

	while (len) {
		size_t want = len < ((size_t)1 << 30) ? (size_t)len : ((size_t)1 << 30);
		ssize_t r = copy_file_range(src_fd, &in, out_fd, NULL, want, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EBADF))
			return copy_range_slow(src_fd, out_fd, (uint64_t)in, len);
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		len -= (uint64_t)r;
	}
	return 0;
}

int deid_plan_materialize(const struct deid_plan *p, int src_fd, int out_fd)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_seg *s = &p->segs[i];
		int rc = s->owned ? core_write_all(out_fd, p->arena.data + s->src_off,
						   (size_t)s->len)
				  : copy_range(src_fd, out_fd, s->src_off, s->len);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Saved plans (kept in the catalog so an open needs no de-identification). Layout, little
 * endian: "FPL1", u32 segment count, u32 arena length, then per segment u8 owned, u64
 * length, u64 source offset, then the arena. Loading checks every field against what the
 * bytes can hold: a damaged row is refused, never trusted.
 */
#define PLAN_MAGIC     "FPL1"
#define PLAN_SEG_BYTES 17

static void put_le(uint8_t *d, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *s, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)s[i] << (8 * i);
	return v;
}

int deid_plan_save(const struct deid_plan *p, struct buf *out)
{
	size_t used = 0, at;
	uint8_t *d;
	int rc;

	for (size_t i = 0; i < p->n; i++) /* only owned bytes the segments use are kept */
		if (p->segs[i].owned)
			used += (size_t)p->segs[i].len;
	if (p->n > UINT32_MAX || used > UINT32_MAX)
		return -E2BIG;
	at = out->len;
	if ((rc = buf_reserve(out, 12 + p->n * PLAN_SEG_BYTES + used)))
		return rc;
	d = out->data + at;
	memcpy(d, PLAN_MAGIC, 4);
	put_le(d + 4, p->n, 4);
	put_le(d + 8, used, 4);
	d += 12;
	used = 0;
	for (size_t i = 0; i < p->n; i++, d += PLAN_SEG_BYTES) {
		const struct plan_seg *s = &p->segs[i];

		d[0] = s->owned;
		put_le(d + 1, s->len, 8);
		put_le(d + 9, s->owned ? used : s->src_off, 8);
		used += s->owned ? (size_t)s->len : 0;
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->segs[i].owned) {
			memcpy(d, p->arena.data + p->segs[i].src_off, (size_t)p->segs[i].len);
			d += p->segs[i].len;
		}
	out->len = at + 12 + p->n * PLAN_SEG_BYTES + used;
	out->data[out->len] = '\0';
	return 0;
}

static int plan_load_segs(struct deid_plan *p, const uint8_t *d, size_t nsegs, size_t arena)
{
	for (size_t i = 0; i < nsegs; i++, d += PLAN_SEG_BYTES) {
		uint64_t len = get_le(d + 1, 8), off = get_le(d + 9, 8);
		int rc;

		if (d[0] > 1 || !len)
			return -EINVAL;
		if (d[0] && (off > arena || len > arena - off))
			return -EINVAL;
		rc = d[0] ? plan_push(p, true, off, len) : deid_plan_add_range(p, off, len);
		if (rc)
			return rc;
	}
	return 0;
}

int deid_plan_load(const uint8_t *b, size_t n, struct deid_plan **out)
{
	struct deid_plan *p = NULL;
	size_t nsegs, arena, need;
	int rc;

	if (n < 12 || memcmp(b, PLAN_MAGIC, 4))
		return -EINVAL;
	nsegs = (size_t)get_le(b + 4, 4);
	arena = (size_t)get_le(b + 8, 4);
	if (core_mul_size(nsegs, PLAN_SEG_BYTES, &need) || core_add_size(need, 12, &need) ||
	    core_add_size(need, arena, &need) || need != n || arena > PLAN_ARENA_MAX)
		return -EINVAL;
	if ((rc = deid_plan_new(&p)))
		return rc;
	rc = buf_append(&p->arena, b + 12 + nsegs * PLAN_SEG_BYTES, arena);
	rc = rc ? rc : plan_load_segs(p, b + 12, nsegs, arena);
	if (rc) {
		deid_plan_free(p);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	*out = p;
	return 0;
}
