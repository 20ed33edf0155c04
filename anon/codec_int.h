/* Private to anon/: dcmtk's pixel decoders behind a C interface (anon/codec.cc), and the
 * JPEG 2000 frame decoder (anon/j2k.c, OpenJPEG) that codec.cc calls for the transfer
 * syntaxes dcmtk cannot decode. */
#ifndef FIONA_CODEC_INT_H
#define FIONA_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Decodes an instance with encapsulated pixel data (n bytes at p) into a new Part-10 file
 * in explicit VR little endian with native pixel data (*out: new buffer, free()). 0,
 * -ENOTSUP when no decoder handles its transfer syntax or image kind, -EINVAL when it does
 * not parse, -EIO when decoding fails; err names the reason. JPEG 2000 (.90, .91) goes
 * through j2k_frame_decode() frame by frame. */
int codec_decode(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len, struct fiona_err *err);

/* One frame as the dataset describes it (Rows, Columns, SamplesPerPixel, BitsAllocated). */
struct j2k_frame_info {
	uint16_t rows, cols, spp, bits_alloc;
};

/* Bytes of one decoded frame: rows * cols * spp * bits_alloc / 8. */
size_t j2k_frame_size(const struct j2k_frame_info *fi);
/* Whether n bytes at p begin a JPEG 2000 frame (SOC and SIZ markers, or the JP2 signature):
 * how a frame's first fragment is told from the next ones when there is no offset table. */
bool j2k_frame_starts(const uint8_t *p, size_t n);

/*
 * Decodes one JPEG 2000 frame (n bytes at p: a J2K codestream, or a JP2 file when it starts
 * with the JP2 signature box) into out, which holds j2k_frame_size(fi) bytes: rows x cols
 * pixels of spp samples interleaved (planar configuration 0), bits_alloc / 8 bytes each,
 * little endian, signed samples in two's complement. out and *mct are written only on
 * success; *mct tells that the codestream asked for the inverse multi-component transform,
 * which OpenJPEG has applied (three components are then R, G, B).
 * 0; -EINVAL when the bytes are no JPEG 2000 or do not agree with fi (columns, rows,
 * components, a precision over bits_alloc); -ENOTSUP for subsampled components, spp other
 * than 1 and 3 or bits_alloc other than 8 and 16; -EIO when decoding fails (truncated or
 * corrupt data); -ENOMEM. err names the reason (OpenJPEG's own message when it has one).
 * Thread safe: nothing is shared between calls.
 */
int j2k_frame_decode(const uint8_t *p, size_t n, const struct j2k_frame_info *fi, uint8_t *out,
		     size_t out_len, bool *mct, struct fiona_err *err);
/* Only the checks of j2k_frame_decode() that need no decoding: the main header read and
 * compared with fi (a frame's claim proved before the whole pixel data is allocated). */
int j2k_frame_check(const uint8_t *p, size_t n, const struct j2k_frame_info *fi,
		    struct fiona_err *err);

#endif
