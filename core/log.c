/*
 * Logging and error context. One line per message with a UTC timestamp; the mutex keeps
 * lines from different threads whole. Messages never carry patient data: callers pass
 * tags, offsets and internal keys (see core.h).
 */
#include "core/core.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(struct fiona_log *log, FILE *fp, enum log_level level)
{
	log->fp = fp ? fp : stderr;
	log->level = level;
	pthread_mutex_init(&log->mu, NULL);
}

void log_release(struct fiona_log *log)
{
	if (log)
		pthread_mutex_destroy(&log->mu);
}

void log_msg(struct fiona_log *log, enum log_level level, const char *component, const char *fmt,
	     ...)
{
	char ts[32], line[1024];
	va_list ap;

	if (log && level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	core_time_iso(core_now_wall(), ts, sizeof(ts));
	if (!log) {
		fprintf(stderr, "%s %s %s: %s\n", ts, level_names[level], component, line);
		return;
	}
	pthread_mutex_lock(&log->mu);
	fprintf(log->fp, "%s %s %s: %s\n", ts, level_names[level], component, line);
	fflush(log->fp);
	pthread_mutex_unlock(&log->mu);
}

void err_clear(struct fiona_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->offset = CORE_NO_OFFSET;
	err->tag = CORE_NO_TAG;
	err->reason[0] = '\0';
}

int err_set(struct fiona_err *err, int code, uint64_t offset, uint32_t tag, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->offset = offset;
	err->tag = tag;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return code;
}

const char *err_format(const struct fiona_err *err, const char *file, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	if (file)
		n += (size_t)snprintf(out + n, cap - n, "%s: ", file);
	if (n < cap && err->offset != CORE_NO_OFFSET)
		n += (size_t)snprintf(out + n, cap - n,
				      "offset %llu: ", (unsigned long long)err->offset);
	if (n < cap && err->tag != CORE_NO_TAG)
		n += (size_t)snprintf(out + n, cap - n,
				      "tag (%04x,%04x): ", (unsigned)(err->tag >> 16),
				      (unsigned)(err->tag & 0xffff));
	if (n < cap)
		snprintf(out + n, cap - n, "%s",
			 err->reason[0] ? err->reason : strerror(-err->code));
	return out;
}
