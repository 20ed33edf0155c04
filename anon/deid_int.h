/*
 * Private to anon/: the layout of struct deid_profile, shared by deid_profile.c (which
 * builds it) and deid_rules.c (which reads it). Immutable after construction, so any
 * number of threads may call deid_decide() on one profile.
 */
#ifndef FIONA_ANON_DEID_INT_H
#define FIONA_ANON_DEID_INT_H

#include "anon/anon.h"

#include <regex.h>

struct deid_tag_rule {
	uint32_t tag;
	enum deid_action action; /* KEEP REMOVE EMPTY SET CAPTURE (DUMMY, UID, SHIFT, HASH too) */
	char *arg;		 /* owned: SET template or CAPTURE regex; NULL otherwise */
	regex_t *rx;		 /* owned: compiled CAPTURE regex (regexec is thread safe) */
};

struct deid_private_keep {
	uint16_t group; /* odd group, 0 = any group */
	uint8_t elem;	/* low byte of the element (gggg,xxEE) */
	char *creator;	/* owned */
};

struct deid_profile {
	unsigned options;	     /* enum deid_opt bits */
	int date_min, date_max;	     /* days, date_min <= date_max */
	struct deid_tag_rule *rules; /* owned, sorted by tag, unique */
	size_t n_rules;
	struct deid_private_keep *keep; /* owned */
	size_t n_keep;
	char method_text[512]; /* DeidentificationMethod (LO is 64 chars per value) */
};

/* Fills p->method_text from p->options (deid_profile.c). */
void deid_profile_finish(struct deid_profile *p);

#endif
