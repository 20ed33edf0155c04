/*
 * Private to anon/review*.c: the entries of a review summary. An entry is one attribute
 * path and VR. Its key is the path as components of 4 bytes of tag (big endian, so keys
 * sort by tag), 1 byte of creator length and the creator: a private element with a known
 * creator is (group, 0x1000 | low byte) with that creator; anything else its own tag with
 * an empty creator. A parent's key is a prefix of its children's, so they sort after it.
 */
#ifndef FIONA_REVIEW_INT_H
#define FIONA_REVIEW_INT_H

#include "anon/anon.h"

#define RV_KEY_MAX 2048 /* bytes of one path key (32 levels of 64-byte creators) */
#define RV_EX_MAX  200	/* bytes of one example as shown (escaped) */

struct rv_set { /* open addressing over uint64; 0 marks a free slot */
	uint64_t *v;
	size_t n, cap;
};

struct rv_entry {
	uint8_t *key;
	uint16_t key_len, vr;
	bool capped;	    /* more distinct values than the hashes kept */
	bool no_values;	    /* sequences, pixel data: no distinct count */
	uint64_t instances; /* files the attribute is in */
	uint64_t at_least;  /* distinct values a capped part counted */
	uint64_t last_file; /* the file that counted last (1-based) */
	struct rv_set set;
	char *ex[REVIEW_EXAMPLES];
	uint8_t n_ex;
};

struct review_sum {
	struct rv_entry *e;
	size_t n, cap;
	uint32_t *idx; /* hash of (key, vr) -> entry index + 1 */
	size_t idx_cap;
	size_t hash_cap;
	uint64_t file; /* files added so far: the current file's number */
};

/* The entry of (key, vr), made when new; NULL when out of memory. */
struct rv_entry *rv_entry_get(struct review_sum *s, const uint8_t *key, size_t key_len,
			      uint16_t vr);
/* Counts the current file once for e. */
void rv_entry_seen(const struct review_sum *s, struct rv_entry *e);
/* A value of e: its hash (of the value bytes) and, if new and room is left, its example
 * as shown (copied). 0 or -ENOMEM. */
int rv_entry_value(const struct review_sum *s, struct rv_entry *e, uint64_t hash,
		   const char *example);
/* The path of key as shown: (GGGG,EEEE) or (GGGG,"creator",LL), joined by '>'. */
int rv_key_text(const uint8_t *key, size_t len, struct buf *out);
/* Walks the components of key: 0 when it is well formed (1..32 components). */
int rv_key_check(const uint8_t *key, size_t len);

#endif
