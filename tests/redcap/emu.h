/*
 * redcap-emu: an emulator of the REDCap 15.7.6 HTTP API for fiona's tests.
 * Private header of tests/redcap/. Everything the emulator knows lives in one
 * struct emu that main() owns; no file keeps mutable state of its own.
 * The behaviour copied (defaults, shapes, error strings) is described in
 * /work/shared/research/redcap-api.md and tests/redcap/README.md.
 */
#ifndef REDCAP_EMU_H
#define REDCAP_EMU_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/banned.h"

/* ---- util.c: growable buffer and small helpers ---- */

#define EMU_BUF_MAX ((size_t)256 << 20) /* a single answer or request never exceeds this */

struct buf {
	char *p;
	size_t n, cap;
};

int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_release(struct buf *b);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);

char *emu_strdup(const char *s);
/* Current time in ms on the monotonic clock (timers). */
int64_t emu_now_ms(void);
/* "YYYY-MM-DD HH:MM:SS" in server local time. */
void emu_fmt_local(time_t t, char out[20]);
/* Parses a date, date time or date H:M in local time; 0 on success. */
int emu_parse_local(const char *s, time_t *out);
int emu_is_uint(const char *s);
int emu_in_list(const char **list, size_t n, const char *s);
/* Appends v (taking it) to arr; -ENOMEM if either is NULL or the append fails. */
int emu_push(json_t *arr, json_t *v);

/* ---- form.c: application/x-www-form-urlencoded with PHP arrays ---- */

struct kv {
	char *k, *v;
};

struct form {
	struct kv *v;
	size_t n;
};

/* Decodes a body; returns 0 or -ENOMEM. Takes the bytes by copy. */
int form_parse(struct form *f, const char *p, size_t n);
void form_release(struct form *f);
/* Value of the plain key (not an array), or NULL. Borrowed from f. */
const char *form_get(const struct form *f, const char *key);
/* Collects name[N] and name[] values in order of appearance; a plain name=a,b
 * is split on commas when comma_ok. Returns a new array of borrowed strings
 * (free the array only) and its count in *n; NULL with *n == 0 when absent. */
const char **form_array(const struct form *f, const char *name, int comma_ok, size_t *n);
/* True if any key is name[...] (delete insists on an array). */
int form_has_array(const struct form *f, const char *name);

/* ---- project.c: fixture, metadata, events ---- */

enum ftype {
	FT_TEXT,
	FT_NOTES,
	FT_DROPDOWN,
	FT_RADIO,
	FT_CHECKBOX,
	FT_YESNO,
	FT_TRUEFALSE,
	FT_CALC,
	FT_FILE,
	FT_DESCRIPTIVE,
	FT_SLIDER,
	FT_SQL,
	FT_OTHER
};

struct choice {
	char *code;   /* as written in the dictionary */
	char *suffix; /* the checkbox export suffix (lower, [a-z0-9_]) */
	char *label;
};

struct field {
	json_t *meta;			      /* the 18 string keys, in REDCap's order */
	const char *name, *form, *validation; /* borrowed from meta */
	enum ftype type;
	struct choice *choices;
	size_t nchoices;
};

struct event {
	char *name, *label, *unique;
	int arm, id;
};

struct arm {
	int num;
	char *name;
};

struct token {
	char *token;
	int can_export, can_import, can_delete;
};

/* A stored row: one record x event x (instrument, instance). instrument is "" and
 * instance 0 for the base row. vals holds export names (field, field___code,
 * form_complete) mapped to non-blank strings; a checkbox code is stored only
 * when checked. */
struct row {
	char *record, *event, *instrument;
	int instance;
	json_t *vals;
	time_t modified;
};

struct rep {
	char *event; /* unique event name, "" in a classic project */
	char *form;  /* "" for a repeating event */
	char *label;
};

struct fem {
	int arm;
	char *event, *form;
};

struct instrument {
	char *name, *label;
};

struct project {
	char *title;
	int project_id;
	int longitudinal, in_production, autonumbering;
	struct token *tokens;
	size_t ntokens;
	struct field *fields;
	size_t nfields;
	struct instrument *forms;
	size_t nforms;
	struct arm *arms;
	size_t narms;
	struct event *events;
	size_t nevents;
	struct rep *reps;
	size_t nreps;
	struct fem *fems;
	size_t nfems;
	struct row *rows;
	size_t nrows, caprows;
};

/* Loads the fixture file into e->projects. 0 or -errno with a message on stderr. */
struct emu;
int project_load_fixture(struct emu *e, const char *path);
void project_release(struct project *p);
struct project *project_by_title(struct emu *e, const char *title);
struct field *project_field(const struct project *p, const char *name);
const struct event *project_event(const struct project *p, const char *unique);
int project_has_form(const struct project *p, const char *form);
int project_has_repeating(const struct project *p);
/* Is form repeating in event (classic: event ""); is event a repeating event. */
int project_form_repeats(const struct project *p, const char *event, const char *form);
int project_event_repeats(const struct project *p, const char *event);
int project_form_in_event(const struct project *p, const char *event, const char *form);
/* REDCap's unique event name for a label within an arm, given names already taken.
 * Writes into out (at least 64 bytes). */
void project_unique_event_name(const char *label, int arm, char *const *taken, size_t ntaken,
			       char *out, size_t outsz);
/* The record id field name (first metadata row). */
const char *project_id_field(const struct project *p);
/* Checkbox suffix for a code: lower, - and . to _, other chars dropped. New string. */
char *project_checkbox_suffix(const char *code);

/* ---- encode.c: PHP-like json_encode, csv and xml writers ---- */

/* json_encode with PHP defaults: compact, "/" as "\/", non-ASCII as \uXXXX. */
int enc_json(struct buf *b, const json_t *v);
/* An array of flat objects as CSV (header from the first object's keys, or keys if
 * given) and as REDCap's <records><item> XML. */
int enc_csv_table(struct buf *b, const json_t *arr, const json_t *header_keys);
int enc_xml_table(struct buf *b, const json_t *arr, const char *root, const char *item);
int enc_csv_cell(struct buf *b, const char *s);

/* ---- errors.c: error and result encodings ---- */

enum fmt { FMT_JSON, FMT_CSV, FMT_XML, FMT_ODM };

struct resp {
	int status;
	const char *ctype;
	struct buf body;
	enum { RESP_ANSWER, RESP_DROP, RESP_HANG } mode;
};

enum fmt fmt_parse(const char *s); /* json|csv|xml|odm, anything else xml */
const char *fmt_ctype(enum fmt f);
/* Sets status and an error body in the given format. Returns 0 or -ENOMEM. */
int resp_error(struct resp *r, int status, enum fmt f, const char *msg);
int resp_text(struct resp *r, int status, const char *ctype, const char *text);
/* Encodes an array of flat objects as the format asks (json, csv or xml). */
int resp_table(struct resp *r, enum fmt f, const json_t *arr, const char *xml_root);

/* ---- logic.c: filterLogic subset ---- */

/* Compiles logic; NULL means "no filter" (what REDCap does with logic it cannot
 * parse or that names no known field: all rows are returned). Free with
 * logic_free(). */
struct logic;
struct logic *logic_compile(const struct project *p, const char *src);
/* Evaluates for one row; lookup(name) returns the row's value or "". */
int logic_eval(const struct logic *l, const char *(*lookup)(void *ctx, const char *name),
	       void *ctx);
void logic_free(struct logic *l);

/* ---- records.c, import.c: record export, import, delete ---- */

struct import_opts {
	int overwrite;	  /* overwriteBehavior=overwrite */
	int force_auto;	  /* forceAutoNumber */
	enum fmt in_fmt;  /* format of data */
	enum fmt ret_fmt; /* returnFormat */
	const char *ret;  /* returnContent */
};

int records_export(struct emu *e, struct project *p, const struct form *f, enum fmt fmt,
		   enum fmt ret_fmt, struct resp *r);
/* Validates everything, then writes. On a validation failure nothing changes and r
 * holds the 400. Returns 0 (r filled) or -ENOMEM. *rows_written counts rows written. */
int records_import(struct emu *e, struct project *p, const char *data, const struct import_opts *o,
		   struct resp *r, size_t *rows_written);
int records_delete(struct emu *e, struct project *p, const struct form *f, enum fmt ret_fmt,
		   struct resp *r);
/* generateNextRecordName: the largest all-digit record name + 1 (1 if none). */
long records_next_name(const struct project *p);
/* Finds a stored row or NULL. */
struct row *records_find(struct project *p, const char *rec, const char *ev, const char *ins,
			 int inst);
/* Does a field of form belong to the row (event, instrument)? Base rows hold the
 * non-repeating forms of their event, repeating-instrument rows their instrument,
 * rows of a repeating event every form of the event. */
int records_form_in_row(const struct project *p, const char *event, const char *instrument,
			const char *form);
/* Adds a new empty row; returns it or NULL. Takes nothing: strings are copied. */
struct row *records_add(struct project *p, const char *rec, const char *ev, const char *ins,
			int inst);
/* The canonical dump of a project (control action=dump). */
int records_dump(struct project *p, struct buf *b);

/* ---- api.c: /api/ dispatch ---- */

int api_handle(struct emu *e, const char *ip, const struct form *f, struct resp *r);
/* True if the request is a record import (fault matching). */
int api_is_import(const struct form *f);

/* ---- control.c: faults, rate limiter, /control ---- */

enum fault_kind {
	FK_NONE,
	FK_OFFLINE,
	FK_SYSOFFLINE,
	FK_DBDOWN,
	FK_OOM,
	FK_ERROR500,
	FK_DROP_AFTER_IMPORT,
	FK_DROP,
	FK_HANG
};
enum fault_match { FM_ANY, FM_IMPORT, FM_EXPORT };

struct fault {
	enum fault_kind kind;
	long left; /* 0 = until kind=none */
	enum fault_match match;
};

struct ipstat {
	char ip[64];
	int64_t *hits; /* ms timestamps inside the rolling minute, oldest first */
	size_t nhits, caphits;
	int banned;
};

struct stats {
	long requests, imports, exports, rows_written;
	json_t *by_content; /* content -> count */
};

/* Counts a request from ip; returns 1 if ip is (now) banned. */
int rate_hit(struct emu *e, const char *ip);
/* Takes the first queued fault matching this request (import or not); FK_NONE if none. */
enum fault_kind fault_take(struct emu *e, int is_import);
int control_handle(struct emu *e, const struct form *f, struct resp *r);
void control_release(struct emu *e);

/* ---- tls.c: optional HTTPS under the connection I/O (OpenSSL) ---- */

struct tls_conn;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* Loads the PEM certificate chain and key into e->tls (TLS 1.2+). 0 or -EINVAL with
 * OpenSSL's reason on stderr. */
int tls_setup(struct emu *e, const char *cert, const char *key);
void tls_release(struct emu *e);
/* A server-side TLS session on the non-blocking socket fd; ip is borrowed (log lines).
 * The handshake happens in the first tls_recv() calls. NULL on failure. */
struct tls_conn *tls_accept(struct emu *e, int fd, const char *ip);
/* As recv()/send(): >0 bytes, 0 peer closed (recv only), -1 with errno EAGAIN when
 * TLS wants more (see tls_wants_write) or another errno when the connection is dead. */
ssize_t tls_recv(struct tls_conn *t, void *p, size_t n);
ssize_t tls_send(struct tls_conn *t, const void *p, size_t n);
/* The last operation waits until the socket is writable (poll for POLLOUT). */
int tls_wants_write(const struct tls_conn *t);
/* Frees t; graceful sends one close_notify (never for a dropped connection). The
 * socket is the caller's to close. */
void tls_close(struct tls_conn *t, int graceful);

/* ---- http.c: the server ---- */

struct conn;

struct emu {
	struct project *projects;
	size_t nprojects;
	char *version;
	long latency_ms;
	long rate_limit;
	struct fault *faults;
	size_t nfaults;
	struct ipstat *ips;
	size_t nips;
	struct stats stats;
	struct ssl_ctx_st *tls; /* NULL: plain HTTP */
	int listen_fd;
	int stop_fd; /* signalfd for SIGTERM/SIGINT */
	struct conn **conns;
	size_t nconns;
};

int http_listen(struct emu *e, int port, int *bound_port);
/* Runs until SIGTERM or SIGINT. */
int http_run(struct emu *e);
void http_release(struct emu *e);

#endif
