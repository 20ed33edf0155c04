/*
 * core: what every module shares — logging, bounded buffers, error context, small
 * parsing helpers and file helpers. No global state: a struct fiona_log is passed in.
 */
#ifndef FIONA_CORE_H
#define FIONA_CORE_H

/* System headers that declare banned functions come before banned.h (as in git). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "core/banned.h"

#define CORE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ---------------------------------------------------------------------- */

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/*
 * A logger: one line per call, "2026-11-22T14:00:00Z level component: message".
 * Thread safe (the mutex serialises lines). Never pass patient data to it: log tags,
 * offsets, internal keys and counts, not values of identifying attributes.
 */
struct fiona_log {
	FILE *fp; /* borrowed; stderr by default */
	enum log_level level;
	pthread_mutex_t mu; /* guards fp */
};

void log_init(struct fiona_log *log, FILE *fp, enum log_level level);
void log_release(struct fiona_log *log);
/* log may be NULL: the line goes to stderr. */
void log_msg(struct fiona_log *log, enum log_level level, const char *component, const char *fmt,
	     ...) __attribute__((format(printf, 4, 5)));

/* ---- errors with context ---------------------------------------------------------- */

/*
 * The context a failure carries up to the user: where (file, byte offset, tag) and why.
 * Filled by the innermost function that knows the reason; callers add the file name.
 * tag is (group << 16 | element), CORE_NO_TAG when none applies.
 */
#define CORE_NO_TAG    0xFFFFFFFFu
#define CORE_NO_OFFSET UINT64_MAX
struct fiona_err {
	int code;	 /* negative errno */
	uint64_t offset; /* byte offset in the input, CORE_NO_OFFSET if none */
	uint32_t tag;	 /* DICOM tag, CORE_NO_TAG if none */
	char reason[256];
};

void err_clear(struct fiona_err *err);
/* Sets code/offset/tag/reason (printf-style) and returns code, so callers can
 * "return err_set(err, -EINVAL, off, tag, "...")". err may be NULL. */
int err_set(struct fiona_err *err, int code, uint64_t offset, uint32_t tag, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Formats "FILE: offset N: tag (gggg,eeee): reason" into out (fields left out when
 * absent). Returns out. */
const char *err_format(const struct fiona_err *err, const char *file, char *out, size_t cap);

/* ---- bounded growable buffer ------------------------------------------------------ */

/*
 * The one growable buffer for bytes fed from outside. It never grows past max:
 * appends beyond it fail with -E2BIG, so a hostile length cannot exhaust memory.
 */
struct buf {
	uint8_t *data; /* owned; NUL-terminated after every append (not counted in len) */
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);		      /* len = 0, keeps memory */
int buf_reserve(struct buf *b, size_t extra); /* 0, -ENOMEM, -E2BIG */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_append_u8(struct buf *b, uint8_t v);
int buf_append_le16(struct buf *b, uint16_t v);
int buf_append_le32(struct buf *b, uint32_t v);
/* Takes the data away from b (caller frees with free()); b is left empty. */
uint8_t *buf_detach(struct buf *b, size_t *len);

/* ---- parsing helpers -------------------------------------------------------------- */

/* Whole-string integer parse in [min,max]; 0 or -EINVAL / -ERANGE. out written on success. */
int core_parse_long(const char *s, long min, long max, long *out);
/* Size arithmetic that reports overflow: 0 or -EOVERFLOW. */
int core_add_size(size_t a, size_t b, size_t *out);
int core_mul_size(size_t a, size_t b, size_t *out);

/* ---- files ------------------------------------------------------------------------ */

/*
 * A read-only mapping of a whole file (empty files map to a NULL pointer, len 0).
 * Release with core_map_release().
 */
struct core_map {
	const uint8_t *p;
	size_t len;
	int fd;
};
int core_map_file(const char *path, struct core_map *m); /* 0 or -errno */
void core_map_release(struct core_map *m);

/* Reads a whole file up to max bytes into a NUL-terminated heap buffer.
 * Returns a new buffer in *out (free with free()); 0 or -errno (-EFBIG past max). */
int core_read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes all bytes, retrying on EINTR and short writes. 0 or -errno. */
int core_write_all(int fd, const void *p, size_t n);
/* Writes path atomically: temp file in the same directory, fsync, rename, fsync dir. */
int core_write_file_atomic(const char *path, const void *p, size_t n, unsigned mode);
/* mkdir -p with mode for each created component. 0 or -errno. */
int core_mkdir_p(const char *path, unsigned mode);
/* Monotonic and wall clock helpers. */
double core_now_mono(void);
/* The CLOCK_REALTIME moment seconds from now, for pthread_cond_timedwait. */
struct timespec core_deadline(double seconds);
int64_t core_now_wall(void);
/* ISO-8601 UTC "YYYY-MM-DDTHH:MM:SSZ" of t into out (cap >= 21). */
const char *core_time_iso(int64_t t, char *out, size_t cap);

/* A queue of ids, each at most once (core/idq.c); the owner locks around it. */
struct core_idq {
	int64_t *v;
	size_t n, cap;
};
/* Adds id at the back (nothing if queued), or when urgent at the front (moved there if
 * queued). 0, or -ENOMEM with the queue unchanged. */
int core_idq_push(struct core_idq *q, int64_t id, bool urgent);
bool core_idq_has(const struct core_idq *q, int64_t id);
/* Takes the first id; false when empty. */
bool core_idq_pop(struct core_idq *q, int64_t *id);
void core_idq_release(struct core_idq *q);

/* ---- participant-ID patterns (core/genid.c, docs/autoid.md) ------------------------ */

/*
 * A pattern is a small regular expression read as a generator, as the original FIONA's
 * gen-id did: literals, [...] classes with ranges, \d, '.', (a|b) alternatives (nested),
 * {n} {n,m} ? repetition and \1..\9 references to top-level groups; ^ and $ at the ends
 * are ignored, so the project's participant_pattern can serve as both. Every ID it makes
 * is 1..GENID_ID_MAX printable ASCII characters without ' ' or '/', and never starts
 * with '.'. Patterns under which two choices could spell the same ID are refused, so
 * the k-th ID is a bijection and genid_space() counts distinct IDs.
 */
#define GENID_PATTERN_MAX 256 /* bytes of a pattern */
#define GENID_ID_MAX	  64  /* characters of an ID (IDs are folder names) */
#define GENID_DEPTH_MAX	  8   /* nesting of ( ) */
#define GENID_REPEAT_MAX  64  /* n and m in {n} {n,m} */

struct genid; /* a parsed pattern; immutable, so one may be shared between threads */

/* Parses pattern (NUL-terminated). Returns a new pattern in *out; free with genid_free().
 * -EINVAL with err->reason "offset N: why" (err->offset stays CORE_NO_OFFSET: the
 * pattern is a configuration value, and config errors quote the reason as it is);
 * -ENOMEM. */
int genid_parse(const char *pattern, struct genid **out, struct fiona_err *err);
void genid_free(struct genid *g);
/* Number of distinct IDs the pattern makes, saturating at UINT64_MAX (then genid_nth
 * reaches the first UINT64_MAX - 1 of them). */
uint64_t genid_space(const struct genid *g);
/* Writes the k-th ID (0 <= k < genid_space(g)) NUL-terminated into out. Different k give
 * different IDs. -EINVAL for k out of range, -ENOSPC if cap is too small (cap >=
 * GENID_ID_MAX + 1 always fits); out is written only on success. */
int genid_nth(const struct genid *g, uint64_t k, char *out, size_t cap);
/*
 * Writes an ID for which taken(taken_arg, id) says 0 (free) into out. rnd(rnd_arg) gives
 * 64 uniform random bits (getrandom in the gateway, a fixed sequence in tests). The first
 * candidate is uniform over the space; later ones walk it with a random step coprime to
 * its size, so no candidate repeats and a space of at most max_tries IDs is searched
 * completely; a saturated space (UINT64_MAX) draws each choice of each candidate instead.
 * taken() returns 1 taken, 0 free or a negative errno, which is returned. At most
 * max_tries (> 0) calls to taken(); then -EEXIST with err->reason "pattern space nearly
 * used up (...)" or "pattern space used up (...)". -ENOSPC if the ID does not fit cap;
 * -EINVAL for bad arguments. out is written only on success.
 */
int genid_generate(const struct genid *g, uint64_t (*rnd)(void *), void *rnd_arg,
		   int (*taken)(void *, const char *), void *taken_arg, int max_tries, char *out,
		   size_t cap, struct fiona_err *err);
/* Rewrites a pattern as a POSIX ERE (regcomp REG_EXTENDED) accepting every ID it makes:
 * \d becomes [0-9], which glibc would read as a plain 'd'; all else is already POSIX.
 * cap >= 3 * GENID_PATTERN_MAX always fits. 0, or -ENOSPC. */
int genid_ere(const char *pattern, char *out, size_t cap);

#endif
