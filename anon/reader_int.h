/* Private to anon/: the reader's state, shared by reader.c and reader_meta.c. */
#ifndef FIONA_ANON_READER_INT_H
#define FIONA_ANON_READER_INT_H

#include "anon/anon.h"

#define READER_NO_END SIZE_MAX

enum reader_frame_kind { FRAME_SEQ, FRAME_ITEM, FRAME_PIXEL };

/* One open sequence, item or encapsulated pixel data. */
struct reader_frame {
	enum reader_frame_kind kind;
	uint32_t tag;  /* the element that opened it (item tag for items) */
	size_t end;    /* end of its value, READER_NO_END if undefined length */
	size_t limit;  /* innermost defined end among itself and its parents, else stream end */
	bool implicit; /* contents are implicit VR little endian (UN of undefined length) */
};

struct dcm_reader {
	const uint8_t *in; /* borrowed input */
	size_t in_n;
	uint8_t *inflated; /* owned; the deflated dataset, inflated */
	size_t inflated_n;
	struct dcm_ts ts;
	bool has_meta;
	size_t meta_start, meta_end; /* group 0002 span in the input (empty if none) */

	/* The stream being walked: the input, or the inflated dataset. */
	const uint8_t *p;
	size_t n, pos;
	bool in_meta, done;
	struct reader_frame frames[2 * DCM_READ_MAX_DEPTH + 2];
	int nframes, nseq;
	int failed;	/* sticky error code */
	long recovered; /* items that overran their sequence's length, read anyway */
	struct fiona_err err;
};

/* reader_meta.c: finds the meta header and transfer syntax, inflates a deflated dataset. */
int reader_meta_scan(struct dcm_reader *r, struct fiona_err *err);
int reader_inflate(struct dcm_reader *r, struct fiona_err *err);

static inline uint16_t reader_rd16(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t reader_rd32(const uint8_t *p, bool be)
{
	return be ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
		  : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
}

#endif
