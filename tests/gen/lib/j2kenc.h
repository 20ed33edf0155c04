/*
 * j2kenc: JPEG 2000 encoding through OpenJPEG's encoder for the test tools and unit tests
 * (dcmtk has no JPEG 2000 encoder): one native frame to a J2K codestream or a JP2 file,
 * and a native instance to one with encapsulated JPEG 2000 pixel data.
 */
#ifndef FIONA_GEN_J2KENC_H
#define FIONA_GEN_J2KENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define J2KENC_UID_LOSSLESS "1.2.840.10008.1.2.4.90"
#define J2KENC_UID_LOSSY    "1.2.840.10008.1.2.4.91"

/* A native frame: rows x cols pixels of spp samples interleaved, bits_alloc / 8 bytes each,
 * little endian; bits_stored of them hold the value (two's complement when is_signed). */
struct j2kenc_frame {
	uint16_t rows, cols, spp, bits_alloc, bits_stored;
	bool is_signed;
};

struct j2kenc_opts {
	float ratio; /* 0: reversible 5/3, lossless (.90); else irreversible 9/7, ratio:1 (.91) */
	bool jp2;    /* each frame a JP2 file instead of a bare codestream */
	bool no_mct; /* colour without the multi-component transform */
	unsigned split; /* instance: each frame in this many fragments (0 or 1: one) */
	bool no_bot;	/* instance: an empty Basic Offset Table */
	const char *pi; /* instance: PhotometricInterpretation to write; NULL: YBR_RCT or
			 * YBR_ICT for colour with the transform, else the input's */
};

/* Appends frame pix (described by fr) encoded as o says to out. 0, -EINVAL (OpenJPEG
 * refused the parameters), -EIO (encoding failed), -ENOMEM / -E2BIG from out. */
int j2kenc_frame(const uint8_t *pix, const struct j2kenc_frame *fr, const struct j2kenc_opts *o,
		 struct buf *out);

/*
 * Appends to out a Part-10 file (transfer syntax .90, or .91 when o->ratio) holding the
 * native explicit VR little endian instance at p (n bytes) with every frame encoded: the
 * top-level attributes copied, PhotometricInterpretation as o says, LossyImageCompression
 * 01 when lossy, pixel data encapsulated with a Basic Offset Table (unless o->no_bot).
 * -ENOTSUP for planar configuration 1, YBR_FULL_422 or a top-level sequence; errors of
 * pix_image_read() and j2kenc_frame(); err names the reason.
 */
int j2kenc_instance(const uint8_t *p, size_t n, const struct j2kenc_opts *o, struct buf *out,
		    struct fiona_err *err);

#endif
