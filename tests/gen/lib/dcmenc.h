/*
 * dcmenc: a small DICOM encoder for test tools (the synthetic corpus generator).
 *
 * It is deliberately independent of anon/'s reader and writer, so the corpus can test
 * them: an in-memory dataset (elements kept sorted by tag at write time) is serialised as
 * explicit VR little endian, implicit VR little endian, explicit VR big endian, deflated
 * explicit VR little endian or RLE Lossless (encapsulated pixel data), with sequences and
 * items of defined or undefined length. Binary values are given in host (little endian)
 * order and swapped per VR for big endian. Not thread safe per dataset.
 */
#ifndef FIONA_GEN_DCMENC_H
#define FIONA_GEN_DCMENC_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define ENC_TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))

#define ENC_UID_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define ENC_UID_IMPLICIT_LE "1.2.840.10008.1.2"
#define ENC_UID_EXPLICIT_BE "1.2.840.10008.1.2.2"
#define ENC_UID_DEFLATED    "1.2.840.10008.1.2.1.99"
#define ENC_UID_RLE	    "1.2.840.10008.1.2.5"

enum enc_ts { ENC_EXPLICIT_LE, ENC_IMPLICIT_LE, ENC_EXPLICIT_BE, ENC_DEFLATED, ENC_RLE };

struct enc_opts {
	enum enc_ts ts;
	int undef_seq;	/* sequences and items with undefined length (else defined) */
	int undef_item; /* items with undefined length inside defined-length sequences too */
};

struct enc_ds;

/* Returns a new object; free with enc_ds_free(). NULL on out of memory. */
struct enc_ds *enc_ds_new(void);
void enc_ds_free(struct enc_ds *ds);

/*
 * Sets element tag with VR vr (two letters) to a copy of len raw bytes (binary VRs in
 * little endian). Replaces an element with the same tag. Odd lengths are padded (space
 * for strings, NUL for UI and binary). 0 or -ENOMEM.
 */
int enc_put(struct enc_ds *ds, uint32_t tag, const char *vr, const void *val, size_t len);
/* String value (may be empty: a type 2 element with zero length). */
int enc_str(struct enc_ds *ds, uint32_t tag, const char *vr, const char *s);
int enc_strf(struct enc_ds *ds, uint32_t tag, const char *vr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int enc_us(struct enc_ds *ds, uint32_t tag, uint16_t v);
int enc_ss(struct enc_ds *ds, uint32_t tag, int16_t v);
int enc_ul(struct enc_ds *ds, uint32_t tag, uint32_t v);
int enc_sl(struct enc_ds *ds, uint32_t tag, int32_t v);
int enc_fd(struct enc_ds *ds, uint32_t tag, double v);
int enc_fl(struct enc_ds *ds, uint32_t tag, float v);
/* Attribute Tag value (VR AT). */
int enc_at(struct enc_ds *ds, uint32_t tag, uint32_t v);

/*
 * Appends a new item to sequence tag (created when missing) and returns it.
 * Borrowed; valid until enc_ds_free(ds). NULL on out of memory.
 */
struct enc_ds *enc_seq_item(struct enc_ds *ds, uint32_t tag);
/*
 * Like enc_seq_item() for a private sequence whose VR is unknown to the writer: in explicit
 * VR it is written as UN with undefined length, its items in implicit VR little endian
 * (PS3.5 6.2.2), as data converted from implicit VR by a VR-unaware node looks. In
 * explicit VR big endian it is written as SQ (readers disagree on UN there).
 */
struct enc_ds *enc_seq_item_un(struct enc_ds *ds, uint32_t tag);
/* An empty sequence (zero items). 0 or -ENOMEM. */
int enc_seq_empty(struct enc_ds *ds, uint32_t tag);

/*
 * Native pixel data (7FE0,0010) with VR vr ("OW" or "OB"): len bytes at p, little endian
 * samples of unit bytes (1 or 2). Borrowed; p must stay valid until the dataset is written.
 */
int enc_pixels(struct enc_ds *ds, const char *vr, const uint8_t *p, size_t len, unsigned unit);
/*
 * Encapsulated pixel data: nframes fragments, one per frame, with a basic offset table.
 * Borrowed; frames[i] must stay valid until the dataset is written.
 */
int enc_pixels_encap(struct enc_ds *ds, const uint8_t *const *frames, const size_t *lens,
		     size_t nframes);

/*
 * Writes ds as a Part-10 file (preamble, DICM, group 0002 with group length) to path with
 * transfer syntax opts->ts (ENC_RLE requires enc_pixels_encap()). *size gets the file size.
 * 0 or -errno.
 */
int enc_file_write(const char *path, const struct enc_ds *ds, const struct enc_opts *opts,
		   const char *sop_class, const char *sop_inst, size_t *size);

/* The UID of a transfer syntax. */
const char *enc_ts_uid(enum enc_ts ts);

/*
 * RLE Lossless encoding (PS3.5 annex G) of one frame of npix samples of bps bytes each
 * (1 or 2, little endian, one sample per pixel), appended to out. 0 or -errno.
 */
int enc_rle_frame(const uint8_t *pix, size_t npix, unsigned bps, struct buf *out);

/* ---- a tiny bitmap font for burned-in text ---------------------------------------- */

/*
 * Draws ASCII text into an 8-bit image (cols x rows) at (x, y), each font pixel scale x
 * scale, value v. Glyphs are 5x7 in 6x8 cells; non-printable characters draw as '?'.
 * Clipped at the image border.
 */
void font_draw(uint8_t *img, unsigned cols, unsigned rows, unsigned x, unsigned y, unsigned scale,
	       uint8_t v, const char *text);

#endif
