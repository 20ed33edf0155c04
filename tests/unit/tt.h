/*
 * A tiny unit-test runner. Each tests/unit/t_<module>.c lists its cases and calls
 * tt_main(); every case prints one line "PASS name" or "FAIL name: file:line: expr",
 * which tests/run.sh counts. A failed check ends its case, not the program.
 */
#ifndef FIONA_TT_H
#define FIONA_TT_H

#include <stdio.h>
#include <string.h>

struct tt {
	const char *name;
	int failed;
	char why[512];
};

struct tt_case {
	const char *name;
	void (*fn)(struct tt *t);
};

#define TT_CASE(fn) { #fn, fn }

#define TT_CHECK(t, cond)                                                                  \
	do {                                                                               \
		if (!(cond)) {                                                             \
			(t)->failed = 1;                                                   \
			snprintf((t)->why, sizeof((t)->why), "%s:%d: %s", __FILE__,        \
				 __LINE__, #cond);                                         \
			return;                                                            \
		}                                                                          \
	} while (0)

#define TT_CHECK_MSG(t, cond, ...)                                                         \
	do {                                                                               \
		if (!(cond)) {                                                             \
			int tt_n_ = snprintf((t)->why, sizeof((t)->why), "%s:%d: %s: ",    \
					     __FILE__, __LINE__, #cond);                   \
			if (tt_n_ > 0 && (size_t)tt_n_ < sizeof((t)->why))                 \
				snprintf((t)->why + tt_n_, sizeof((t)->why) - (size_t)tt_n_,  \
					 __VA_ARGS__);                                     \
			(t)->failed = 1;                                                   \
			return;                                                            \
		}                                                                          \
	} while (0)

/* Runs every case (or those named on the command line). Returns the exit code. */
static inline int tt_main(const struct tt_case *cases, size_t n, int argc, char **argv)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		struct tt t = { cases[i].name, 0, "" };
		int wanted = argc < 2;

		for (int a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], cases[i].name);
		if (!wanted)
			continue;
		cases[i].fn(&t);
		if (t.failed) {
			printf("FAIL %s: %s\n", t.name, t.why);
			failures++;
		} else {
			printf("PASS %s\n", t.name);
		}
		fflush(stdout);
	}
	return failures ? 1 : 0;
}

#define TT_MAIN(...)                                                                       \
	int main(int argc, char **argv)                                                    \
	{                                                                                  \
		static const struct tt_case cases_[] = { __VA_ARGS__ };                    \
		return tt_main(cases_, sizeof(cases_) / sizeof(cases_[0]), argc, argv);    \
	}

#endif
