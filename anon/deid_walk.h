/*
 * Private to anon/: the state of one de-identification walk, shared by deid.c (driver,
 * segments, plan) and deid_walk.c / deid_value.c (what each element becomes).
 */
#ifndef FIONA_ANON_DEID_WALK_H
#define FIONA_ANON_DEID_WALK_H

#include "anon/deid_int.h"

struct deid_seg {
	bool range;	   /* true: bytes of the original; false: bytes of walk.out */
	uint64_t off, len; /* offset in the original or in walk.out */
};

#define WALK_CREATORS 16 /* private creators remembered per item and group */

struct walk_creator {
	uint16_t group;
	uint8_t block;
	char name[65];
};

struct walk_level {
	struct walk_creator c[WALK_CREATORS];
	size_t n;
};

struct deid_walk {
	const struct deid_job *job;
	struct deid_outcome *o;
	struct dcm_reader *r;
	struct deid_idents ids;
	bool ranges_ok;	   /* value offsets are offsets of the original, little endian */
	struct buf out;	   /* dataset bytes the plan owns */
	size_t owned_from; /* start of the owned bytes not yet in a segment */
	struct deid_seg *segs;
	size_t nsegs, capsegs;
	struct buf scratch;   /* value strings being rewritten */
	int skip_depth;	      /* >= 0: skipping a removed sequence that began at this depth */
	uint64_t frags_from;  /* encapsulated pixel data: first fragment, UINT64_MAX none */
	unsigned inserted;    /* how many of fiona's own attributes are written */
	size_t set_next;      /* next profile rule to look at for a missing "set" attribute */
	bool err_set;	      /* err below holds the failure */
	char participant[65]; /* as the profile's participant_rewrite makes it */
	enum deid_post post;  /* of the element being written: write_str applies it */
	struct fiona_err err;
	struct walk_level levels[DCM_READ_MAX_DEPTH + 1];
};

int walk_add_range(struct deid_walk *w, uint64_t src_off, uint64_t len);
void walk_creators_reset(struct deid_walk *w, int depth);
void walk_meta(struct deid_walk *w, const struct dcm_elem *e);
int walk_element(struct deid_walk *w, const struct dcm_elem *e);
int walk_seq_begin(struct deid_walk *w, const struct dcm_elem *e);
int walk_fragment(struct deid_walk *w, const struct dcm_elem *e);
int walk_pixel_end(struct deid_walk *w, const struct dcm_elem *e);
/* Writes fiona's own top-level attributes whose tag sorts before tag. */
int walk_insert_before(struct deid_walk *w, uint32_t tag);
/* deid_value.c: the new value of an element whose decision changes it. */
int walk_value_write(struct deid_walk *w, const struct dcm_elem *e, const struct deid_decision *d);
int walk_keep(struct deid_walk *w, const struct dcm_elem *e);
/* deid_value.c: a kept text value written again, for a rewrite or normalize rule. */
int walk_keep_text(struct deid_walk *w, const struct dcm_elem *e);
/* Whether a rule's post-transform applies to values of vr (text VRs, not UI). */
bool walk_post_applies(uint16_t vr);

#endif
