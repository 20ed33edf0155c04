/* Unit tests for core/genid.c: parse errors say where, spaces count distinct IDs, the k-th
 * ID is a bijection whose every value the same pattern accepts as a POSIX ERE, and
 * generation finds the last free IDs or gives up within its tries. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>

/* A deterministic 64-bit source (splitmix64). */
static uint64_t mix(void *arg)
{
	uint64_t *s = arg, z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t zero(void *arg)
{
	(void)arg;
	return 0;
}

/* The pattern as the POSIX ERE that validates IDs (genid_ere: \d becomes [0-9]). */
static int ere_compile(const char *pattern, regex_t *re)
{
	char ere[3 * GENID_PATTERN_MAX];

	if (genid_ere(pattern, ere, sizeof(ere)))
		return -1;
	return regcomp(re, ere, REG_EXTENDED) ? -1 : 0;
}

/* Does id match over its whole length? regexec's leftmost-longest match from offset 0
 * covers all of id exactly when id matches as a whole, so patterns without ^...$ need no
 * wrapping (which would renumber \1). */
static bool ere_match(const regex_t *re, const char *id)
{
	regmatch_t m;

	return !regexec(re, id, 1, &m, 0) && m.rm_so == 0 && (size_t)m.rm_eo == strlen(id);
}

static int ere_full(const char *pattern, const char *id)
{
	regex_t re;
	int ok;

	if (ere_compile(pattern, &re))
		return -1;
	ok = ere_match(&re, id);
	regfree(&re);
	return ok;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_parse_errors(struct tt *t)
{
	static const struct {
		const char *pattern, *reason;
	} cases[] = {
		{"P(AB", "offset 1: unbalanced '('"},
		{"AB)", "offset 2: unbalanced ')'"},
		{"A(B))", "offset 4: unbalanced ')'"},
		{"[0-9", "offset 0: unterminated '['"},
		{"P[^0]", "offset 2: negated classes"},
		{"a*", "offset 1: unbounded repetition"},
		{"a+", "offset 1: unbounded repetition"},
		{"a{3,}", "offset 1: unbounded repetition {n,}"},
		{"a{65}", "offset 2: repetition count above 64"},
		{"a{3,99}", "offset 4: repetition count above 64"},
		{"a{3,2}", "offset 1: {n,m} with m below n"},
		{"a{x}", "offset 2: '{' must start"},
		{"a{3", "offset 1: unterminated '{'"},
		{"a{2}{3}", "offset 4: a repetition cannot follow another"},
		{"{3}", "offset 0: nothing to repeat"},
		{"(?:a)", "offset 0: '(?' groups"},
		{"a/b", "offset 1: '/' is not allowed"},
		{"a b", "offset 1: a space is not allowed"},
		{"a\tb", "offset 1: character 0x09"},
		{"\xc3\xa9", "offset 0: character 0xc3"},
		{"[!-0]", "offset 1: range includes '/'"},
		{"[z-a]", "offset 1: range out of order"},
		{"[a-c-e]", "offset 4: '-' after a range"},
		{"[a\\d]", "offset 2: '\\' and '['"},
		{"\\w", "offset 0: unsupported escape"},
		{"\\s", "offset 0: \\s would put whitespace"},
		{"ab\\", "offset 2: '\\' at the end"},
		{"a^", "offset 1: '^' and '$' only"},
		{"a$b", "offset 1: '^' and '$' only"},
		{"", "offset 0: the pattern can make an empty ID"},
		{"^$", "offset 0: the pattern can make an empty ID"},
		{"a?", "offset 0: the pattern can make an empty ID"},
		{"\\.", "offset 0: an ID could start with '.'"},
		{"\\.\\.", "offset 0: an ID could start with '.'"},
		{"(\\.|a)b", "offset 0: an ID could start with '.'"},
		{"^A|B$", "offset 2: '|' outside (...)"},
		{"x{64}y", "offset 5: IDs could be longer than 64"},
		{"(ab){33}", "offset 0: IDs could be longer than 64"},
		{"(((((((((a)))))))))", "offset 8: groups nested deeper than 8"},
		{"a\\1", "offset 1: \\N must name"},
		{"(a){2}\\1", "offset 6: \\N must name"},
		{"((a))\\2", "offset 5: \\N must name"},
		{"(a)|\\1", "offset 4: \\N must name"},
		{"(a\\1)", "offset 2: \\N must name"},
		/* two choices, one ID: refused so that genid_nth stays a bijection */
		{"(a|a)", "offset 3: two alternatives could make the same ID"},
		{"x(ab|c|ab)", "offset 7: two alternatives"},
		{"[0-9]{1,2}[0-9]{1,2}", "offset 10: this part can start where"},
		{"(ab|a)(c|bc)", "offset 6: this part can start where"},
		{"(a|)?b", "offset 0: repeating something that can be empty"},
		{"(a|aa){2}", "offset 0: the repeated part can be cut"},
	};
	char long_pattern[GENID_PATTERN_MAX + 2];

	for (size_t i = 0; i < CORE_ARRAY_SIZE(cases); i++) {
		struct genid *g = (struct genid *)1;
		struct fiona_err err = {0};
		int rc = genid_parse(cases[i].pattern, &g, &err);

		TT_CHECK_MSG(t, rc == -EINVAL, "%s: rc %d", cases[i].pattern, rc);
		TT_CHECK_MSG(t, g == (struct genid *)1, "%s: out written on failure",
			     cases[i].pattern);
		TT_CHECK_MSG(t, !strncmp(err.reason, cases[i].reason, strlen(cases[i].reason)),
			     "%s: got \"%s\"", cases[i].pattern, err.reason);
		TT_CHECK(t, err.code == -EINVAL && err.offset == CORE_NO_OFFSET);
	}
	memset(long_pattern, 'a', sizeof(long_pattern) - 1);
	long_pattern[sizeof(long_pattern) - 1] = '\0';
	{
		struct genid *g = NULL;
		struct fiona_err err = {0};

		TT_CHECK(t, genid_parse(long_pattern, &g, &err) == -EINVAL && !g);
		TT_CHECK(t, !strcmp(err.reason, "offset 256: pattern longer than 256 bytes"));
	}
}

static void test_space(struct tt *t)
{
	static const struct {
		const char *pattern;
		uint64_t space;
	} cases[] = {
		{"PROJ01-[0-9]{4}", 10000},
		{"^PROJ01-[0-9]{4}$", 10000},
		{"(AB|CD)[A-Z]{2}[0-9]{3}", 2ull * 26 * 26 * 1000},
		{"P_0\\d{4}", 10000}, /* gen-id's README example */
		{"PROJ_(a|[0-9][a-z][A-Z])_[0-9][0-9][0-9][a-z]", (1 + 10 * 26 * 26) * 1000 * 26},
		{"([0-9]{4})_\\1", 10000}, /* the copy adds no choice */
		{"P[0-9]{2,3}", 100 + 1000},
		{"P-?[0-9]{3}", 2000},
		{"(A|AB)C", 2},
		{".{2}", 62 * 62},
		{"x{0}y", 1},
		{"(BGO|OSL|TRD|TOS)-[0-9]{3}", 4000},
		{"(AA|AB|BA|BB)", 4},
		{"(baseline|followup)", 2},
		{"a|bc", 2},
		{"[]a-]", 3},
		{"[a-cx]{2}", 16},
		{"S\\.\\{\\}\\\\$", 1},
		{"[A-Za-z0-9]{20}", UINT64_MAX}, /* 62^20: saturates */
		{"[0-9]{19}", 10000000000000000000ull},
		{"[0-9]{20}", UINT64_MAX},
	};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(cases); i++) {
		struct genid *g = NULL;
		struct fiona_err err = {0};
		int rc = genid_parse(cases[i].pattern, &g, &err);

		TT_CHECK_MSG(t, rc == 0, "%s: %s", cases[i].pattern, err.reason);
		TT_CHECK_MSG(t, genid_space(g) == cases[i].space, "%s: %llu", cases[i].pattern,
			     (unsigned long long)genid_space(g));
		genid_free(g);
	}
	genid_free(NULL);
	TT_CHECK(t, genid_space(NULL) == 0);
}

/* Every k of the space gives a different ID, and the pattern as a POSIX ERE accepts each. */
static int check_bijection(struct tt *t, const char *pattern, size_t *out_max_len)
{
	struct genid *g = NULL;
	struct fiona_err err = {0};
	char(*ids)[GENID_ID_MAX + 1] = NULL;
	uint64_t n;
	size_t max_len = 0;
	regex_t re;

	if (ere_compile(pattern, &re)) {
		snprintf(t->why, sizeof(t->why), "%s: not a POSIX ERE", pattern);
		return -1;
	}
	if (genid_parse(pattern, &g, &err)) {
		snprintf(t->why, sizeof(t->why), "%s: %s", pattern, err.reason);
		regfree(&re);
		return -1;
	}
	n = genid_space(g);
	if (n > 20000 || !(ids = calloc(n, sizeof(*ids)))) {
		snprintf(t->why, sizeof(t->why), "%s: space %llu", pattern, (unsigned long long)n);
		goto fail;
	}
	for (uint64_t k = 0; k < n; k++) {
		size_t len;

		if (genid_nth(g, k, ids[k], sizeof(ids[k]))) {
			snprintf(t->why, sizeof(t->why), "%s: nth %llu failed", pattern,
				 (unsigned long long)k);
			goto fail;
		}
		len = strlen(ids[k]);
		max_len = len > max_len ? len : max_len;
		if (!len || len > GENID_ID_MAX || ids[k][0] == '.' || strchr(ids[k], '/') ||
		    !ere_match(&re, ids[k])) {
			snprintf(t->why, sizeof(t->why), "%s: k %llu gave \"%s\"", pattern,
				 (unsigned long long)k, ids[k]);
			goto fail;
		}
	}
	qsort(ids, n, sizeof(*ids), cmp_str);
	for (uint64_t k = 1; k < n; k++)
		if (!strcmp(ids[k - 1], ids[k])) {
			snprintf(t->why, sizeof(t->why), "%s: \"%s\" twice", pattern, ids[k]);
			goto fail;
		}
	free(ids);
	genid_free(g);
	regfree(&re);
	if (out_max_len)
		*out_max_len = max_len;
	return (int)(n > INT32_MAX ? INT32_MAX : n);
fail:
	free(ids);
	genid_free(g);
	regfree(&re);
	return -1;
}

static void test_nth_bijection(struct tt *t)
{
	static const char *patterns[] = {
		"PROJ01-[0-9]{3}",
		"^(AB|CD)[A-C]{2}[0-9]$",
		"P_0\\d{2}",
		"PROJ_(a|[0-9][a-z][A-C])_[0-9]",
		"([0-9]{2})_\\1",
		"^([a-c]{2})-(x|yy)-\\2\\1$",
		"P[0-9]{1,3}",
		"P-?[0-9]{2}",
		"(A|AB)C",
		"(x(y|z){0,2}|w)[]a-]",
		"a|bc|d[0-9]",
		"S\\.[a-c]\\{\\}\\$",
		"(AA|AB|BA|BB){2}",
		"[0-9]{2}(-[a-c]{1,2})?",
		"(BGO|OSL|TRD|TOS)-[0-9]{2}",
		"Z.",
	};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(patterns); i++)
		if (check_bijection(t, patterns[i], NULL) < 0) {
			t->failed = 1;
			return;
		}
}

/* Random small patterns over {a, b}: whatever parses is a bijection, and genid_space()
 * equals the number of strings of up to the longest ID's length that the ERE accepts. */
static void gen_pattern(uint64_t *seed, int depth, char *out, size_t cap, size_t *len)
{
	int atoms = 1 + (int)(mix(seed) % 3);

	/* 64 bytes spare: the groups still open close with at most 9 bytes each */
	for (int a = 0; a < atoms && *len + 64 < cap; a++) {
		unsigned r = (unsigned)(mix(seed) % 8);

		if (r < 3) {
			out[(*len)++] = "ab"[r % 2];
		} else if (r == 3) {
			memcpy(out + *len, "[ab]", 4), *len += 4;
		} else if (depth < 3) {
			int alts = 1 + (int)(mix(seed) % 3);

			out[(*len)++] = '(';
			for (int k = 0; k < alts; k++) {
				if (k)
					out[(*len)++] = '|';
				gen_pattern(seed, depth + 1, out, cap, len);
			}
			out[(*len)++] = ')';
		}
		r = (unsigned)(mix(seed) % 7);
		if (r == 0)
			out[(*len)++] = '?';
		else if (r == 1)
			memcpy(out + *len, "{0,2}", 5), *len += 5;
		else if (r == 2)
			memcpy(out + *len, "{2}", 3), *len += 3;
		else if (r == 3)
			memcpy(out + *len, "{1,2}", 5), *len += 5;
	}
	out[*len] = '\0';
}

/* -DGENID_RANDOM_N=200000 for a longer soak (a few seconds) */
#ifndef GENID_RANDOM_N
#define GENID_RANDOM_N 3000
#endif

static void test_nth_random_patterns(struct tt *t)
{
	uint64_t seed = 42;
	int accepted = 0, refused = 0;

	for (int i = 0; i < GENID_RANDOM_N; i++) {
		char p[GENID_PATTERN_MAX], s[16];
		size_t len = 0, max_len = 0;
		struct genid *g = NULL;
		struct fiona_err err = {0};
		uint64_t space, matched = 0;
		regex_t re;
		int n;

		gen_pattern(&seed, 0, p, sizeof(p), &len);
		if (genid_parse(p, &g, &err)) {
			refused++;
			continue;
		}
		space = genid_space(g);
		genid_free(g);
		if (space > 4096)
			continue;
		n = check_bijection(t, p, &max_len);
		if (n < 0) { /* check_bijection wrote why */
			t->failed = 1;
			return;
		}
		accepted++;
		if (max_len > 11 || ere_compile(p, &re))
			continue;
		/* count the ERE's strings over {a,b} of length 1..max_len */
		for (size_t l = 1; l <= max_len; l++)
			for (uint64_t bits = 0; bits < (1ull << l); bits++) {
				for (size_t c = 0; c < l; c++)
					s[c] = "ab"[(bits >> c) & 1];
				s[l] = '\0';
				matched += ere_match(&re, s);
			}
		regfree(&re);
		TT_CHECK_MSG(t, matched == space, "%s: space %llu, ERE accepts %llu", p,
			     (unsigned long long)space, (unsigned long long)matched);
	}
	/* both outcomes occur, or the generator above tests nothing */
	TT_CHECK_MSG(t, accepted > 300 && refused > 100, "accepted %d refused %d", accepted,
		     refused);
}

static void test_nth_bounds(struct tt *t)
{
	struct genid *g = NULL;
	struct fiona_err err = {0};
	char out[GENID_ID_MAX + 1] = "unchanged", small[4] = "xyz";

	TT_CHECK(t, genid_parse("ID[0-9]{3}", &g, &err) == 0);
	TT_CHECK(t, genid_nth(g, 0, out, sizeof(out)) == 0 && !strcmp(out, "ID000"));
	TT_CHECK(t, genid_nth(g, 999, out, sizeof(out)) == 0 && !strcmp(out, "ID999"));
	TT_CHECK(t, genid_nth(g, 1000, out, sizeof(out)) == -EINVAL && !strcmp(out, "ID999"));
	TT_CHECK(t, genid_nth(g, 5, small, sizeof(small)) == -ENOSPC && !strcmp(small, "xyz"));
	TT_CHECK(t, genid_nth(g, 5, out, 6) == 0 && !strcmp(out, "ID005"));
	genid_free(g);

	/* a saturated space still decodes every k below UINT64_MAX, to 64 characters */
	TT_CHECK(t, genid_parse("[A-Za-z0-9]{64}", &g, &err) == 0);
	TT_CHECK(t, genid_space(g) == UINT64_MAX);
	TT_CHECK(t, genid_nth(g, UINT64_MAX - 1, out, sizeof(out)) == 0 && strlen(out) == 64);
	TT_CHECK(t, ere_full("[A-Za-z0-9]{64}", out) == 1);
	TT_CHECK(t, genid_nth(g, UINT64_MAX, out, sizeof(out)) == -EINVAL);
	genid_free(g);
}

/* taken(): a set of IDs in a sorted-free flat array (small spaces only). */
struct taken_set {
	char ids[1100][GENID_ID_MAX + 1];
	size_t n;
	int calls, fail;
};

static int is_taken(void *arg, const char *id)
{
	struct taken_set *s = arg;

	s->calls++;
	if (s->fail)
		return -EIO;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->ids[i], id))
			return 1;
	return 0;
}

static void take(struct taken_set *s, const char *id)
{
	snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", id);
}

static void test_generate_last_free(struct tt *t)
{
	static struct taken_set set; /* large: not on the stack */
	struct genid *g = NULL;
	struct fiona_err err = {0};
	char id[GENID_ID_MAX + 1];
	uint64_t seed = 7;

	TT_CHECK(t, genid_parse("T[0-9]{3}", &g, &err) == 0);
	memset(&set, 0, sizeof(set));
	for (uint64_t k = 0; k < 1000; k++) {
		char s[GENID_ID_MAX + 1];

		genid_nth(g, k, s, sizeof(s));
		if (strcmp(s, "T007") && strcmp(s, "T500") && strcmp(s, "T999"))
			take(&set, s);
	}
	/* 997 of 1000 taken: a space no larger than max_tries is searched completely */
	for (int round = 0; round < 3; round++) {
		set.calls = 0;
		TT_CHECK_MSG(t,
			     genid_generate(g, mix, &seed, is_taken, &set, 1000, id, sizeof(id),
					    &err) == 0,
			     "round %d: %s", round, err.reason);
		TT_CHECK(t, set.calls <= 1000);
		TT_CHECK(t, !strcmp(id, "T007") || !strcmp(id, "T500") || !strcmp(id, "T999"));
		take(&set, id);
	}
	set.calls = 0;
	snprintf(id, sizeof(id), "unchanged");
	TT_CHECK(t, genid_generate(g, mix, &seed, is_taken, &set, 5000, id, sizeof(id), &err) ==
			    -EEXIST);
	TT_CHECK(t, set.calls == 1000 && !strcmp(id, "unchanged"));
	TT_CHECK_MSG(t, !strcmp(err.reason, "pattern space used up (all 1000 IDs taken)"), "%s",
		     err.reason);

	/* fewer tries than IDs: at most max_tries calls, then "nearly used up" */
	set.n = 990;
	set.calls = 0;
	for (int i = 0; i < 50; i++) {
		int rc = genid_generate(g, mix, &seed, is_taken, &set, 10, id, sizeof(id), &err);

		TT_CHECK(t, rc == 0 || rc == -EEXIST);
		if (rc == -EEXIST) {
			static const char want[] = "pattern space nearly used up (10 of 10 tries";

			TT_CHECK_MSG(t, !strncmp(err.reason, want, sizeof(want) - 1), "%s",
				     err.reason);
		}
	}
	TT_CHECK(t, set.calls <= 50 * 10);
	genid_free(g);
}

static void test_generate_unique_and_errors(struct tt *t)
{
	static struct taken_set set;
	struct genid *g = NULL;
	struct fiona_err err = {0};
	char id[GENID_ID_MAX + 1], small[3];
	uint64_t seed = 1, seed2 = 1;
	char first[GENID_ID_MAX + 1];

	TT_CHECK(t, genid_parse("^DEMO01-[0-9]{4}$", &g, &err) == 0);
	memset(&set, 0, sizeof(set));
	for (int i = 0; i < 1000; i++) {
		TT_CHECK(t, genid_generate(g, mix, &seed, is_taken, &set, 20, id, sizeof(id),
					   &err) == 0);
		TT_CHECK(t, ere_full("^DEMO01-[0-9]{4}$", id) == 1);
		take(&set, id); /* is_taken() proves it was not among the earlier ones */
	}
	/* the same random source gives the same IDs */
	memset(&set, 0, sizeof(set));
	TT_CHECK(t, genid_generate(g, mix, &seed2, is_taken, &set, 20, first, sizeof(first),
				   &err) == 0);
	seed2 = 1;
	TT_CHECK(t, genid_generate(g, mix, &seed2, is_taken, &set, 20, id, sizeof(id), &err) == 0);
	TT_CHECK(t, !strcmp(first, id));

	/* a source stuck at 0 still ends */
	TT_CHECK(t, genid_generate(g, zero, NULL, is_taken, &set, 20, id, sizeof(id), &err) == 0);
	TT_CHECK(t, !strcmp(id, "DEMO01-0000"));

	/* taken()'s error is passed on; small buffers and bad arguments are refused */
	set.fail = 1;
	TT_CHECK(t,
		 genid_generate(g, mix, &seed, is_taken, &set, 20, id, sizeof(id), &err) == -EIO);
	set.fail = 0;
	TT_CHECK(t, genid_generate(g, mix, &seed, is_taken, &set, 20, small, sizeof(small), &err) ==
			    -ENOSPC);
	TT_CHECK(t,
		 genid_generate(g, mix, &seed, is_taken, &set, 0, id, sizeof(id), &err) == -EINVAL);
	TT_CHECK(t, genid_generate(NULL, mix, &seed, is_taken, &set, 5, id, sizeof(id), &err) ==
			    -EINVAL);
	genid_free(g);

	/* past 2^64 IDs every character is drawn, the leading ones too */
	TT_CHECK(t, genid_parse("X(Y|Z)[A-Z0-9]{16}", &g, &err) == 0);
	TT_CHECK(t, genid_space(g) == UINT64_MAX);
	{
		int lead[128] = {0}, kinds = 0, y = 0;

		memset(&set, 0, sizeof(set));
		for (int i = 0; i < 200; i++) {
			TT_CHECK(t, genid_generate(g, mix, &seed, is_taken, &set, 3, id, sizeof(id),
						   &err) == 0);
			TT_CHECK(t, ere_full("X(Y|Z)[A-Z0-9]{16}", id) == 1);
			kinds += !lead[(unsigned char)id[2]]++;
			y += id[1] == 'Y';
		}
		TT_CHECK_MSG(t, kinds > 20 && y > 50 && y < 150, "kinds %d y %d", kinds, y);
	}
	genid_free(g);
}

static void test_ere(struct tt *t)
{
	char out[64];

	TT_CHECK(t, genid_ere("^P\\d{2}\\\\d\\.$", out, sizeof(out)) == 0);
	TT_CHECK(t, !strcmp(out, "^P[0-9]{2}\\\\d\\.$"));
	TT_CHECK(t, genid_ere("\\d\\d", out, 10) == -ENOSPC);
	TT_CHECK(t, genid_ere("\\d\\d", out, 11) == 0 && !strcmp(out, "[0-9][0-9]"));
	/* what glibc would do without the rewrite: \d is a plain 'd' */
	{
		regex_t re;

		TT_CHECK(t, regcomp(&re, "^\\d$", REG_EXTENDED | REG_NOSUB) == 0);
		TT_CHECK(t, regexec(&re, "5", 0, NULL, 0) != 0);
		regfree(&re);
	}
}

TT_MAIN(TT_CASE(test_parse_errors), TT_CASE(test_space), TT_CASE(test_nth_bijection),
	TT_CASE(test_nth_random_patterns), TT_CASE(test_nth_bounds),
	TT_CASE(test_generate_last_free), TT_CASE(test_generate_unique_and_errors),
	TT_CASE(test_ere))
