/*
 * Private to anon/: the layout of struct deid_profile, shared by deid_profile.c (which
 * builds it) and deid_rules.c (which reads it). Immutable after construction, so any
 * number of threads may call deid_decide() on one profile.
 */
#ifndef FIONA_ANON_DEID_INT_H
#define FIONA_ANON_DEID_INT_H

#include "anon/anon.h"

#include <jansson.h>
#include <regex.h>

struct deid_tag_rule {
	uint32_t tag;
	enum deid_action action; /* KEEP REMOVE EMPTY CLEAN SET CAPTURE (DUMMY UID SHIFT HASH) */
	char *arg;		 /* owned: SET template or CAPTURE/REWRITE regex; NULL otherwise */
	regex_t *rx;	     /* owned: compiled CAPTURE/REWRITE regex (regexec is thread safe) */
	enum deid_post post; /* REWRITE/NORMALIZE: action is unused, the built-in one applies */
	char *repl;	     /* owned: REWRITE replacement */
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
	/* export keys (deid_export.c) */
	regex_t *part_rx; /* owned: participant_rewrite (NULL: none) */
	char *part_repl;  /* owned */
	bool leave_pr, leave_sc;
	char **leave_sop; /* owned: SOP classes left out */
	size_t n_leave_sop;
	enum deid_zip_layout zip_layout;
};

/* deid_profile.c: a regex a profile may hold (<= 128 chars, no {m,n}, no stacked
 * quantifiers, <= 8 nested groups): glibc's regcomp is exponential on the others. */
bool deid_regex_simple(const char *re);
/* deid_export.c: the profile's export keys (participant_rewrite, leave_out, zip_layout);
 * -EINVAL with err naming the JSON path. */
int deid_parse_export_key(struct deid_profile *p, const char *key, json_t *v,
			  struct fiona_err *err);
/* A REWRITE rule's pieces checked and compiled: regex (simple, POSIX ERE) and replacement
 * (\0-\9 refer to groups the regex has, \\ a backslash). 0, -EINVAL, -ENOMEM;
 * *why says what is wrong. */
int deid_rewrite_compile(const char *re, const char *repl, regex_t **rx, const char **why);
/* Every match of rx in in replaced by repl (groups expanded), like sed -E s/re/repl/g.
 * 0, or -ENOSPC when the result does not fit cap. */
int deid_regex_replace(const regex_t *rx, const char *repl, const char *in, char *out, size_t cap);
void deid_export_free(struct deid_profile *p);

/* Fills p->method_text from p->options (deid_profile.c). */
void deid_profile_finish(struct deid_profile *p);

/* What deid_idents_scan() learns from an instance before it is rewritten (deid_text.c). */
struct deid_idents {
	char sop_class[65], modality[17];
	bool burned_in_yes;    /* BurnedInAnnotation == YES */
	const char *words[96]; /* identifying words, pointing into arena */
	size_t n_words, used;
	unsigned overflow; /* words that did not fit: cleaning then keeps nothing */
	char arena[4096];
};
/* Scans the dataset up to the pixel data, then rewinds r for the real pass. 0 or a
 * negative errno with err filled. */
int deid_idents_scan(struct dcm_reader *r, struct deid_idents *ids, struct fiona_err *err);
/* Clean (C) of text: removes identifying words and runs of 6+ digits from len chars at in.
 * Writes a NUL-terminated result (at most cap-1 chars) and returns its length. */
size_t deid_text_clean(const struct deid_idents *ids, const char *in, size_t len, char *out,
		       size_t cap);
/* True if the instance may carry text in its pixels (BurnedInAnnotation YES, or a class or
 * modality that usually does). */
bool deid_idents_burned_in(const struct deid_idents *ids);

#endif
