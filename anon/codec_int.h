/* Private to anon/: dcmtk's pixel decoders behind a C interface (anon/codec.cc). */
#ifndef FIONA_CODEC_INT_H
#define FIONA_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Decodes an instance with encapsulated pixel data (n bytes at p) into a new Part-10 file
 * in explicit VR little endian with native pixel data (*out: new buffer, free()). 0,
 * -ENOTSUP when no decoder handles its transfer syntax (JPEG 2000 is not dcmtk's),
 * -EINVAL when it does not parse, -EIO when decoding fails; err names the reason. */
int codec_decode(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len, struct fiona_err *err);

#endif
