/*
 * Private to store/classify*.c: the parsed form of a classification rules file.
 * classify.c builds and checks it (operators known, references resolved, no cycles);
 * classify_ops.c evaluates it against one series. After classify_rules_parse() returns,
 * the object is immutable and may be shared by threads.
 */
#ifndef FIONA_STORE_CLASSIFY_INT_H
#define FIONA_STORE_CLASSIFY_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLASSIFY_MAX_SETS    512  /* rule sets per file */
#define CLASSIFY_MAX_RULES   64	  /* rules per set */
#define CLASSIFY_MAX_VALUES  64	  /* values in one rule's "value" list */
#define CLASSIFY_MAX_TEXT    4096 /* attribute text kept for comparison */
#define CLASSIFY_MAX_PATTERN 256  /* regexp length */
#define CLASSIFY_MAX_BOUND   32	  /* n, m in a regexp bound {n,m} */
#define CLASSIFY_MAX_COPIES  1024 /* product of all repetition copies in a regexp */

enum classify_op {
	CLASSIFY_OP_REGEXP,
	CLASSIFY_OP_CONTAINS,
	CLASSIFY_OP_EQ,
	CLASSIFY_OP_NE,
	CLASSIFY_OP_LT,
	CLASSIFY_OP_GT,
	CLASSIFY_OP_APPROX,
	CLASSIFY_OP_EXIST,
	CLASSIFY_OP_NOTEXIST,
	CLASSIFY_OP_RULE, /* "rule": another set's result */
};

/* Series-level facts a "check": "SeriesLevel" rule may name. */
enum classify_fact {
	CLASSIFY_FACT_NONE,
	CLASSIFY_FACT_N_INSTANCES,
};

/* One value of a rule: its text and, when it reads as a finite number, that number. */
struct classify_value {
	char *text;
	double num;
	bool is_num;
};

struct classify_rule {
	enum classify_op op;
	uint32_t tag;		 /* attribute; unused for RULE and series facts */
	enum classify_fact fact; /* != NONE: a series-level fact instead of a tag */
	bool every_instance;	 /* SeriesLevel on a tag: must hold in every instance */
	size_t flat;		 /* index over all rules of the file, in file order */
	bool negate;
	struct classify_value *values; /* "value" as components (backslash-separated) */
	size_t n_values;
	char *pattern; /* REGEXP / CONTAINS: the whole value string */
	regex_t re;
	bool re_ok;
	double tolerance; /* APPROX */
	char *ref_id;	  /* RULE: the referenced set id as written */
	size_t ref;	  /* RULE: index of the referenced set */
};

struct classify_set {
	char *type, *id, *description;
	struct classify_rule *rules;
	size_t n_rules;
};

struct classify_rules {
	struct classify_set *sets;
	size_t n_sets;
	uint32_t *tags; /* every attribute tag the rules read, ascending, unique */
	size_t n_tags;
	size_t n_rules; /* over all sets */
	bool has_every; /* some rule has every_instance */
};

/* Reads s (leading/trailing spaces allowed) as a finite number: 0 or -EINVAL. */
int classify_number(const char *s, size_t len, double *out);
/* qsort/bsearch comparison of uint32_t tags. */
int classify_tag_cmp(const void *a, const void *b);

#endif
