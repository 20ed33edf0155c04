/* Fuzz target for core/genid.c: any bytes as a pattern give a pattern or an error, never a
 * crash, leak or hang. A pattern that parses makes IDs that fit, are folder-safe, differ
 * for different k, and match the pattern read as the POSIX ERE that validates them. */
#include "core/core.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(const regex_t *re, const char *id)
{
	size_t n = strlen(id);
	regmatch_t m;

	if (n == 0 || n > GENID_ID_MAX || id[0] == '.')
		abort();
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] >= 0x7f || id[i] == '/')
			abort();
	/* leftmost-longest from 0 spans all of id exactly when all of id matches */
	if (regexec(re, id, 1, &m, 0) || m.rm_so != 0 || (size_t)m.rm_eo != n)
		abort();
}

static uint64_t fixed_rnd(void *arg)
{
	return *(uint64_t *)arg;
}

static int none_taken(void *arg, const char *id)
{
	(void)arg, (void)id;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pattern[GENID_PATTERN_MAX + 2], ere[3 * GENID_PATTERN_MAX];
	char a[GENID_ID_MAX + 1], b[GENID_ID_MAX + 1];
	struct genid *g = NULL;
	struct fiona_err err = {0};
	uint64_t space, r = 0;
	regex_t re;

	/* one byte past the maximum, so the length check is reached too */
	if (size > GENID_PATTERN_MAX + 1)
		size = GENID_PATTERN_MAX + 1;
	memcpy(pattern, data, size);
	pattern[size] = '\0';
	if (genid_parse(pattern, &g, &err)) {
		if (err.code != -EINVAL || !err.reason[0])
			abort();
		return 0;
	}
	space = genid_space(g);
	if (space == 0 || genid_ere(pattern, ere, sizeof(ere)) || regcomp(&re, ere, REG_EXTENDED))
		abort(); /* what parses must also be a valid POSIX ERE */
	if (genid_nth(g, 0, a, sizeof(a)) || genid_nth(g, space - 1, b, sizeof(b)))
		abort();
	check_id(&re, a);
	check_id(&re, b);
	if (space > 1 && !strcmp(a, b))
		abort();
	if (genid_nth(g, space, a, sizeof(a)) != -EINVAL && space != UINT64_MAX)
		abort();
	/* a k taken from the input, and the same k through genid_generate */
	for (size_t i = 0; i < size && i < 8; i++)
		r = r << 8 | data[i];
	if (genid_generate(g, fixed_rnd, &r, none_taken, NULL, 1, a, sizeof(a), &err))
		abort();
	check_id(&re, a);
	regfree(&re);
	genid_free(g);
	return 0;
}
