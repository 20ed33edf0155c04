/*
 * zip: the layout of a stored (not deflated) zip composed from kept sizes and CRCs, for
 * the mount's zip exports (docs/mount.md). Nothing is compressed and nothing is written:
 * a zip is its entries (name, size, CRC-32, the instance whose de-identified bytes are the
 * entry's data) plus the bytes fiona composes around them — local headers, made again at
 * every read that touches one, and the central directory with the end records, made once.
 * So its size is known before any byte is read, any range can be read on its own, and the
 * same entries give the same bytes every time (a fixed DOS timestamp, 1980-01-01 00:00).
 *
 * ZIP64 (APPNOTE 6.3.10, 4.5.3 and 4.3.14): an entry of lim32 bytes or more carries its
 * sizes in a ZIP64 extra field in both headers; one whose local header starts at lim32 or
 * beyond carries its offset in the central one; a zip with lim16 entries or more, or whose
 * central directory starts or ends past lim32, has the ZIP64 end record and locator.
 * lim32 and lim16 are 0xFFFFFFFF and 0xFFFF; tests lower them to reach every case with
 * small files.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#include "fs/fs_int.h"

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END	    0x06054b50u
#define SIG_END64   0x06064b50u
#define SIG_LOC64   0x07064b50u
#define DOS_TIME    0x0000u
#define DOS_DATE    0x0021u /* 1980-01-01 */
#define LOCAL_FIXED 30u
#define CENTR_FIXED 46u
#define NAME_MAX_Z  1024u

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffffu);
	put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int fs_zip_new(struct fs_zip **out)
{
	struct fs_zip *z = calloc(1, sizeof(*z));

	if (!z)
		return -ENOMEM;
	buf_init(&z->names, (size_t)1 << 30);
	buf_init(&z->tail, (size_t)1 << 30);
	z->lim32 = 0xFFFFFFFFu;
	z->lim16 = 0xFFFFu;
	*out = z;
	return 0;
}

void fs_zip_free(struct fs_zip *z)
{
	if (!z)
		return;
	free(z->f);
	buf_release(&z->names);
	buf_release(&z->tail);
	free(z);
}

int fs_zip_add(struct fs_zip *z, const char *name, uint64_t size, uint32_t crc, int64_t instance)
{
	size_t len = strlen(name);
	struct fs_zip_file *f;
	int rc;

	if (!len || len > NAME_MAX_Z)
		return -ENAMETOOLONG;
	if (z->n == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 64;
		struct fs_zip_file *v = realloc(z->f, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		z->f = v;
		z->cap = cap;
	}
	f = &z->f[z->n];
	*f = (struct fs_zip_file){.name_off = z->names.len,
				  .name_len = (uint16_t)len,
				  .size = size,
				  .crc = crc,
				  .instance = instance,
				  .event = -1};
	if ((rc = buf_append(&z->names, name, len)))
		return rc;
	z->n++;
	return 0;
}

static bool local64(const struct fs_zip *z, const struct fs_zip_file *f)
{
	return f->size >= z->lim32;
}

static size_t local_len(const struct fs_zip *z, const struct fs_zip_file *f)
{
	return LOCAL_FIXED + f->name_len + (local64(z, f) ? 20u : 0u);
}

/* The local header of f into out (at least local_len bytes). */
static size_t local_header(const struct fs_zip *z, const struct fs_zip_file *f, uint8_t *out)
{
	bool big = local64(z, f);
	uint8_t *p = out;

	put32(p, SIG_LOCAL);
	put16(p + 4, big ? 45 : 20); /* version needed: ZIP64 or stored */
	put16(p + 6, 0);	     /* flags */
	put16(p + 8, 0);	     /* stored */
	put16(p + 10, DOS_TIME);
	put16(p + 12, DOS_DATE);
	put32(p + 14, f->crc);
	put32(p + 18, big ? 0xFFFFFFFFu : (uint32_t)f->size);
	put32(p + 22, big ? 0xFFFFFFFFu : (uint32_t)f->size);
	put16(p + 26, f->name_len);
	put16(p + 28, big ? 20 : 0);
	memcpy(p + 30, z->names.data + f->name_off, f->name_len);
	p += 30 + f->name_len;
	if (big) {
		put16(p, 0x0001);
		put16(p + 2, 16);
		put64(p + 4, f->size);
		put64(p + 12, f->size);
	}
	return local_len(z, f);
}

static int central_header(struct fs_zip *z, const struct fs_zip_file *f)
{
	bool big = f->size >= z->lim32, far = f->hdr >= z->lim32;
	unsigned extra = (big ? 16u : 0u) + (far ? 8u : 0u);
	uint8_t h[CENTR_FIXED + 4 + 24], *p = h;
	int rc;

	put32(p, SIG_CENTRAL);
	put16(p + 4, (3u << 8) | 45u); /* made by: Unix, 4.5 */
	put16(p + 6, big || far ? 45 : 20);
	put16(p + 8, 0);
	put16(p + 10, 0);
	put16(p + 12, DOS_TIME);
	put16(p + 14, DOS_DATE);
	put32(p + 16, f->crc);
	put32(p + 20, big ? 0xFFFFFFFFu : (uint32_t)f->size);
	put32(p + 24, big ? 0xFFFFFFFFu : (uint32_t)f->size);
	put16(p + 28, f->name_len);
	put16(p + 30, extra ? extra + 4 : 0);
	put16(p + 32, 0);			/* comment */
	put16(p + 34, 0);			/* disk */
	put16(p + 36, 0);			/* internal attributes */
	put32(p + 38, (uint32_t)0100440 << 16); /* external: a regular file, 0440 */
	put32(p + 42, far ? 0xFFFFFFFFu : (uint32_t)f->hdr);
	rc = buf_append(&z->tail, h, CENTR_FIXED);
	rc = rc ? rc : buf_append(&z->tail, z->names.data + f->name_off, f->name_len);
	if (rc || !extra)
		return rc;
	p = h;
	put16(p, 0x0001);
	put16(p + 2, extra);
	p += 4;
	if (big) {
		put64(p, f->size);
		put64(p + 8, f->size);
		p += 16;
	}
	if (far)
		put64(p, f->hdr);
	return buf_append(&z->tail, h, 4 + extra);
}

static int end_records(struct fs_zip *z, uint64_t cd_size)
{
	uint64_t end64 = z->cd_off + cd_size;
	bool big = z->n >= z->lim16 || z->cd_off >= z->lim32 || cd_size >= z->lim32;
	uint8_t h[56 + 20 + 22], *p = h;

	if (big) {
		put32(p, SIG_END64);
		put64(p + 4, 44); /* what follows this field */
		put16(p + 12, (3u << 8) | 45u);
		put16(p + 14, 45);
		put32(p + 16, 0);
		put32(p + 20, 0);
		put64(p + 24, z->n);
		put64(p + 32, z->n);
		put64(p + 40, cd_size);
		put64(p + 48, z->cd_off);
		p += 56;
		put32(p, SIG_LOC64);
		put32(p + 4, 0);
		put64(p + 8, end64);
		put32(p + 16, 1);
		p += 20;
	}
	put32(p, SIG_END);
	put16(p + 4, 0);
	put16(p + 6, 0);
	put16(p + 8, big ? 0xFFFFu : (unsigned)z->n);
	put16(p + 10, big ? 0xFFFFu : (unsigned)z->n);
	put32(p + 12, big ? 0xFFFFFFFFu : (uint32_t)cd_size);
	put32(p + 16, big ? 0xFFFFFFFFu : (uint32_t)z->cd_off);
	put16(p + 20, 0);
	p += 22;
	return buf_append(&z->tail, h, (size_t)(p - h));
}

int fs_zip_finish(struct fs_zip *z)
{
	uint64_t off = 0, cd_size;
	XXH3_state_t *hs;
	int rc = 0;

	z->tail.len = 0;
	for (size_t i = 0; i < z->n; i++) {
		z->f[i].hdr = off;
		off += local_len(z, &z->f[i]) + z->f[i].size;
	}
	z->cd_off = off;
	for (size_t i = 0; !rc && i < z->n; i++)
		rc = central_header(z, &z->f[i]);
	cd_size = z->tail.len;
	rc = rc ? rc : end_records(z, cd_size);
	if (rc)
		return rc;
	z->size = z->cd_off + z->tail.len;
	/* what the zip shows: its bytes around the data, and whose data it is */
	if (!(hs = XXH3_createState()))
		return -ENOMEM;
	XXH3_64bits_reset(hs);
	XXH3_64bits_update(hs, z->tail.data, z->tail.len);
	for (size_t i = 0; i < z->n; i++)
		XXH3_64bits_update(hs, &z->f[i].instance, sizeof(z->f[i].instance));
	z->id = (int64_t)(XXH3_64bits_digest(hs) & (uint64_t)INT64_MAX);
	XXH3_freeState(hs);
	return 0;
}

/* The entry whose local header or data holds off (< cd_off). */
static size_t entry_at(const struct fs_zip *z, uint64_t off)
{
	size_t lo = 0, hi = z->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (z->f[mid].hdr <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

ssize_t fs_zip_read(const struct fs_zip *z, uint64_t off, void *dst, size_t len, fs_zip_read_fn fn,
		    void *opaque)
{
	uint8_t *out = dst, hdr[LOCAL_FIXED + NAME_MAX_Z + 20];
	size_t done = 0;

	while (done < len && off < z->size) {
		size_t want = len - done, k;

		if (off >= z->cd_off) {
			k = (size_t)(z->size - off) < want ? (size_t)(z->size - off) : want;
			memcpy(out + done, z->tail.data + (off - z->cd_off), k);
		} else {
			const struct fs_zip_file *f = &z->f[entry_at(z, off)];
			uint64_t in = off - f->hdr, hl = local_len(z, f);

			if (in < hl) {
				local_header(z, f, hdr);
				k = (size_t)(hl - in) < want ? (size_t)(hl - in) : want;
				memcpy(out + done, hdr + in, k);
			} else {
				uint64_t at = in - hl;
				ssize_t got;

				k = f->size - at < want ? (size_t)(f->size - at) : want;
				got = fn(opaque, f, at, out + done, k);
				if (got < 0)
					return got;
				if ((size_t)got != k)
					return -EIO; /* shorter than its kept size */
			}
		}
		off += k;
		done += k;
	}
	return (ssize_t)done;
}
