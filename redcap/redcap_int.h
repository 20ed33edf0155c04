/* Private to redcap/: the HTTP client, the sync's context and its parts. */
#ifndef FIONA_REDCAP_INT_H
#define FIONA_REDCAP_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "redcap/redcap.h"

/* http.c: one connection (kept alive between requests) and the request budget. */
struct rc_client {
	const struct config_redcap *cfg; /* borrowed */
	struct fiona_log *log;		 /* borrowed */
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE]; /* curl's specific reason ("SSL certificate problem: ...") */
	double per_second, burst, tokens, refilled; /* the budget, a token bucket */
	unsigned long requests;
};
struct rc_reply {
	long status; /* 0: no answer (error says why) */
	struct buf body;
	char error[160];
};
int rc_client_init(struct rc_client *c, const struct config_redcap *cfg, struct fiona_log *log);
void rc_client_release(struct rc_client *c);
/* Seconds to wait before the budget allows the next request (0: now). */
double rc_budget_wait(struct rc_client *c);
/* POSTs token + kv pairs (kv[0]=kv[1]&...): 0 with out filled (status 0 when the request
 * failed), or -ENOMEM. Free out with rc_reply_free(). */
int rc_post(struct rc_client *c, const char *token, const char *const *kv, size_t n,
	    struct rc_reply *out);
void rc_reply_free(struct rc_reply *r);

/* A REDCap project fiona talks to: its token and the fields its dictionary has. */
struct rc_target {
	char name[32];	   /* "incoming", "projects", "routing", "coupling", "autoid", or P */
	char token[72];	   /* empty: not configured */
	char **fields;	   /* the data dictionary's field names (NULL: not read yet) */
	char **validation; /* text_validation_type of each field */
	char **choices;	   /* select_choices_or_calculations of each field */
	size_t n_fields;
	char **forms; /* form of each field */
	char record_field[64];
	char first_event[65];	/* longitudinal: the first unique event name ("" classic) */
	char imaging_event[65]; /* where the repeating imaging form is (project REDCaps) */
	bool longitudinal;
};

/* sync.c: the thread's context. */
struct redcap_sync {
	struct store *s;		/* borrowed */
	const struct fiona_config *cfg; /* borrowed */
	struct fiona_log *log;		/* borrowed */
	struct deid_secret secret;
	struct rc_client http;
	struct rc_target incoming, projects, routing, coupling, autoid;
	struct rc_target *proj; /* one per configured project (token may be empty) */
	size_t n_proj;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	atomic_bool stop;
	bool banned;
	double next_poll, next_probe, backoff_until;
	int64_t last_request_poll; /* wall time of the last transfer request read */
	long failures;		   /* consecutive transient failures: the backoff */
};

/* One request through the budget: waits (interruptibly) for a token, posts, classifies.
 * Returns the class; why says what went wrong (no value of the request). The sync's ban
 * and backoff state follow the answer. */
enum redcap_class rc_call(struct redcap_sync *r, struct rc_target *t, const char *const *kv,
			  size_t n, struct rc_reply *out, char *why, size_t cap);
/* Reads t's data dictionary (and events when longitudinal) once. 0 or -EAGAIN. */
int rc_target_ready(struct redcap_sync *r, struct rc_target *t);
/* Whether t's dictionary has field f; its validation and choices ("" when none). */
bool rc_has_field(const struct rc_target *t, const char *f);
const char *rc_field_validation(const struct rc_target *t, const char *f);
const char *rc_field_choices(const struct rc_target *t, const char *f);
void rc_target_release(struct rc_target *t);

/* push.c: writes what the outbox names. Returns how many studies were written. */
int rc_push(struct redcap_sync *r);
/* pull.c: reads what REDCap adds. 0, or -EAGAIN when REDCap could not be read. */
int rc_pull(struct redcap_sync *r);

#endif
