/*
 * redcap: keeping REDCap in step with the catalog and taking its orders, over REDCap's
 * HTTP API (libcurl + jansson). This header is the module's whole public interface;
 * docs/redcap.md maps every field fiona reads and writes.
 *
 * One thread does everything: it writes the studies the catalog's outbox names (Incoming
 * study, series and transfers rows; the project's own participant and imaging rows), and
 * on an interval reads what REDCap adds (projects' settings, events, participants,
 * CouplingList, Routing, transfer requests) into the catalog. It never blocks arrival,
 * forwarding or the mount: they read and write the catalog only. Every request waits for
 * a token of a per-minute budget, far below the count at which REDCap bans the IP.
 */
#ifndef FIONA_REDCAP_H
#define FIONA_REDCAP_H

#include <stdbool.h>
#include <stddef.h>

#include "anon/anon.h"
#include "core/core.h"
#include "store/store.h"

struct redcap_sync;
/* Loads the token files (mode 0600, 32-64 letters and digits; refused otherwise, err
 * says which file) and starts the thread. cfg, s and log are borrowed; secret is copied. */
int redcap_sync_start(struct store *s, const struct fiona_config *cfg,
		      const struct deid_secret *secret, struct fiona_log *log,
		      struct redcap_sync **out, struct fiona_err *err);
/* Finishes the request in flight, then stops; NULL is fine. */
void redcap_sync_stop(struct redcap_sync *r);

/* Reads a token file: refuses one group or others may read, or that is not 32-64 letters
 * and digits (a trailing newline is fine). */
int redcap_token_load(const char *path, char *out, size_t cap, struct fiona_err *err);

/* ---- REDCap's answers, parsed tolerantly (redcap/json.c; fuzzed) ---------------------- */
/* One exported row: field names and string values as REDCap sent them (an integer
 * redcap_repeat_instance becomes its decimal text). */
struct redcap_row {
	char **keys, **values;
	size_t n;
};
struct redcap_rows {
	struct redcap_row *rows;
	size_t n;
};
/* Parses a flat JSON export (an array of objects). -EPROTO with err->reason saying what
 * was not a REDCap answer (an HTML page on status 200 when its database is down). */
int redcap_parse_rows(const char *body, size_t len, struct redcap_rows *out, struct fiona_err *err);
void redcap_rows_free(struct redcap_rows *r);
/* The value of key in row ("" when absent). Borrowed. */
const char *redcap_get(const struct redcap_row *row, const char *key);
/* An import's answer: {"count": N} with or without spaces, or a bare number. */
int redcap_parse_count(const char *body, size_t len, long *count);
/* A dropdown's choices "1, Yes | 2, No": the label of code ("" if none) into out. */
void redcap_choice_label(const char *choices, const char *code, char *out, size_t cap);

/* How an answer is taken (docs/redcap.md "Faults"). */
enum redcap_class {
	REDCAP_OK,	  /* 200 with a body that parses */
	REDCAP_TRANSIENT, /* try again later: 5xx, 408, timeouts, HTML on 200, offline */
	REDCAP_PERMANENT, /* 400/403 other than offline: the request itself is refused */
	REDCAP_BANNED,	  /* 429 / "banned due to suspected abuse": stop all traffic */
};
/* Classifies status + body (json expected when json is set) and writes a one-line reason
 * without any value of the request into why. */
enum redcap_class redcap_classify(long status, const char *body, size_t len, bool json, char *why,
				  size_t cap);

#endif
