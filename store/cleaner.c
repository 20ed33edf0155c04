/*
 * cleaner: the background thread that removes burned-in text from the candidates of
 * assigned studies (docs/burn.md). It follows the change feed (a study assigned, or
 * instances added to an assigned one) and, once at start, every assigned study; for each
 * candidate without an outcome under its project's pixel settings it cleans and checks
 * the pixels with anon/burn.c (one OCR engine, reused), keeps the cleaned copy as an
 * object of its own and records the outcome (pixels.c). The mount and the forwarder wait
 * for that outcome: nothing of a candidate leaves before it.
 *
 * An instance that cannot be cleaned and checked is held with the reason; one the project
 * marks safe is skipped. Running out of memory, or OCR not installed, records nothing:
 * the candidate stays waiting (and says so) until it can be done.
 */
#include "core/core.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store_int.h"

struct store_cleaner {
	struct store *s;
	struct fiona_log *log;
	struct burn_rules *rules; /* NULL: no rules file */
	char rules_error[200];	  /* non-empty: the rules file does not parse (all held) */
	struct ocr_engine *ocr;	  /* made at the first candidate; owned */
	time_t ocr_retry_at;	  /* OCR could not start: not before then again */
	time_t rescan_at;	  /* a candidate had to wait: look at every study then */
	pthread_t th;
	bool started;
	pthread_mutex_t lock; /* guards stop, queue */
	pthread_cond_t cond;
	bool stop, rescan;
	struct core_idq queue; /* studies to look at */
	uint64_t cursor, hint;
};

/* The top-level value of tag, as text (without padding); false when absent. */
static bool top_value(const uint8_t *p, size_t n, uint32_t tag, char *out, size_t cap)
{
	struct fiona_err err = {0};
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	bool found = false;

	if (dcm_reader_new(p, n, &r, &err))
		return false;
	while (!found && dcm_reader_next(r, &e) > 0)
		if (e.kind == DCM_ELEMENT && !e.depth && !e.in_meta && e.tag == tag) {
			dcm_value_str(&e, out, cap);
			found = true;
		}
	dcm_reader_free(r);
	return found;
}

/* The project's skip list: the first entry whose attribute matches, or NULL. */
static const struct config_pixel_skip *skipped_by(const struct config_project *p, const uint8_t *b,
						  size_t n)
{
	char v[1024];

	for (size_t i = 0; i < p->pixels.n_skip; i++) {
		const struct config_pixel_skip *sk = &p->pixels.skip[i];

		if (top_value(b, n, sk->tag, v, sizeof(v)) && !regexec(&sk->re, v, 0, NULL, 0)) {
			explicit_bzero(v, sizeof(v));
			return sk;
		}
	}
	explicit_bzero(v, sizeof(v));
	return NULL;
}

/* Keeps the cleaned copy as an object, durable before the catalog names it. */
static int keep_copy(struct store_cleaner *c, const uint8_t *p, size_t n, struct pixel_outcome *o)
{
	int rc;

	obj_hash(p, n, o->hash);
	if ((rc = obj_put(c->s, NULL, p, n, false, o->hash, NULL)))
		return rc;
	o->size = (int64_t)n;
	if ((rc = fault_hit(c->s, FAULT_SYNCFS)))
		return rc;
	if (syncfs(c->s->objects_fd))
		return -errno;
	if (obj_on_s3(c->s)) { /* in flight until pixel_put names it (clean_one) */
		struct fiona_err err = {0};

		return obj_s3_put(c->s, OBJ_DICOM, o->hash, p, n, &err);
	}
	return 0;
}

static bool ocr_ready(struct store_cleaner *c)
{
	struct fiona_err err = {0};

	if (c->ocr)
		return true;
	if (time(NULL) < c->ocr_retry_at)
		return false;
	if (ocr_engine_new(&c->ocr, &err) == 0)
		return true;
	log_msg(c->log, LOG_ERROR, "pixels",
		"OCR cannot start (%s): candidates for burned-in text wait", err.reason);
	c->ocr_retry_at = time(NULL) + 60;
	return false;
}

/* Cleans one candidate into o; -EAGAIN when nothing may be recorded now. */
static int clean_pixels(struct store_cleaner *c, const struct config_project *p,
			const struct pixel_todo *t, const uint8_t *b, size_t n,
			struct pixel_outcome *o)
{
	const struct config_pixel_skip *sk;
	struct fiona_err err = {0};
	struct burn_report rep;
	uint8_t *clean = NULL;
	size_t len = 0;
	int rc;

	o->state = "held";
	if (!strncmp(t->sop_class, "1.2.840.10008.5.1.4.1.1.104.", 28)) {
		snprintf(o->reason, sizeof(o->reason),
			 "an encapsulated document: its content "
			 "cannot be checked for burned-in text");
		return 0;
	}
	if ((sk = skipped_by(p, b, n))) {
		o->state = "skipped";
		snprintf(o->reason, sizeof(o->reason), "%.60s matches the project's skip list",
			 sk->tag_name);
		return 0;
	}
	if (c->rules_error[0]) {
		snprintf(o->reason, sizeof(o->reason), "%s", c->rules_error);
		return 0;
	}
	if (!ocr_ready(c))
		return -EAGAIN;
	rc = burn_clean_instance(c->ocr, c->rules, p->pixels.all_text, b, n, &clean, &len, &rep,
				 &err);
	if (rc == -ENOENT) { /* nothing to clean */
		o->state = "skipped";
		snprintf(o->reason, sizeof(o->reason), "no pixel data");
		return 0;
	}
	if (rc == -ENOMEM)
		return -EAGAIN;
	if (rc) {
		snprintf(o->reason, sizeof(o->reason), "%.190s", err.reason);
		return 0;
	}
	o->regions = rep.lines;
	rc = keep_copy(c, clean, len, o);
	o->state = rc ? "held" : "cleaned";
	if (rc) /* a full disk: waits for space, never forwarded uncleaned */
		rc = -EAGAIN;
	explicit_bzero(clean, len);
	free(clean);
	return rc;
}

static void clean_one(struct store_cleaner *c, int64_t study, const struct config_project *p,
		      const char *fp, const struct pixel_todo *t)
{
	struct pixel_outcome o = {.instance = t->instance};
	struct core_map map;
	char path[4200];
	int rc;

	if ((rc = store_object_path(c->s, t->hash, path, sizeof(path))) ||
	    (rc = core_map_file(path, &map))) {
		log_msg(c->log, LOG_ERROR, "pixels", "instance %lld: object unreadable: %s",
			(long long)t->instance, strerror(-rc));
		return;
	}
	rc = clean_pixels(c, p, t, map.p, map.len, &o);
	core_map_release(&map);
	if (rc) {
		if (!c->rescan_at)
			c->rescan_at = time(NULL) + 60;
		return;
	}
	if (!strcmp(o.state, "held"))
		log_msg(c->log, LOG_WARN, "pixels", "instance %lld held: %s",
			(long long)t->instance, o.reason);
	rc = pixel_put(c->s, study, fp, &o);
	if (!strcmp(o.state, "cleaned")) /* keep_copy put it on S3 */
		obj_s3_settled(c->s, o.hash);
	if (rc)
		log_msg(c->log, LOG_ERROR, "pixels", "instance %lld: outcome not kept: %s",
			(long long)t->instance, strerror(-rc));
}

static bool stopping(struct store_cleaner *c)
{
	bool stop;

	pthread_mutex_lock(&c->lock);
	stop = c->stop;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

static void clean_study(struct store_cleaner *c, int64_t study)
{
	struct store_study st;
	const struct config_project *p;
	struct pixel_todo *t = NULL;
	const char *fp;
	size_t n = 0;

	if (store_get_study(c->s, study, &st) || !st.project[0] ||
	    !(p = config_project(c->s->cfg, st.project)) || !(fp = store_pixel_fp(c->s, p->name)))
		goto out;
	if (pixel_todo_list(c->s, study, fp, &t, &n))
		goto out;
	for (size_t i = 0; i < n && !stopping(c); i++)
		if (pixel_disposition(p, t[i].sop_class, t[i].modality, t[i].annotation_yes,
				      t[i].labels) == STORE_PX_PENDING)
			clean_one(c, study, p, fp, &t[i]);
	free(t);
out:
	explicit_bzero(&st, sizeof(st));
}

/* Adds study to the queue once; caller holds the lock. */
static void enqueue(struct store_cleaner *c, int64_t study)
{
	if (core_idq_push(&c->queue, study, false))
		c->rescan = true; /* out of memory: found again by the next scan */
	else
		pthread_cond_broadcast(&c->cond);
}

static void scan_all(struct store_cleaner *c)
{
	int64_t *ids = NULL;
	size_t n = 0;

	if (pixel_assigned_studies(c->s, &ids, &n))
		return;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n; i++)
		enqueue(c, ids[i]);
	pthread_mutex_unlock(&c->lock);
	free(ids);
}

static void follow_feed(struct store_cleaner *c)
{
	struct store_change ch[64];
	uint64_t hint = store_change_hint(c->s);
	size_t n;

	if (hint == c->hint)
		return;
	c->hint = hint;
	do {
		if (store_changes_read(c->s, &c->cursor, ch, CORE_ARRAY_SIZE(ch), &n) == -ESTALE) {
			c->rescan = true;
			return;
		}
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < n; i++)
			if (ch[i].study && ch[i].project[0] &&
			    (ch[i].what & (STORE_CHG_ASSIGN | STORE_CHG_INSTANCES)))
				enqueue(c, ch[i].study);
		pthread_mutex_unlock(&c->lock);
	} while (n == CORE_ARRAY_SIZE(ch));
}

static void *cleaner_main(void *arg)
{
	struct store_cleaner *c = arg;
	int64_t study;

	c->rescan = true; /* the first round that runs it looks at every study */
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		pthread_mutex_unlock(&c->lock);
		if (!store_lead(c->s, STORE_JOB_PIXELS)) {
			/* another gateway cleans, and its outcomes are in the shared catalog; if
			 * this one takes over, it looks at every study first */
			struct timespec until = core_deadline(1.0);

			c->rescan = true;
			pthread_mutex_lock(&c->lock);
			if (!c->stop)
				pthread_cond_timedwait(&c->cond, &c->lock, &until);
			continue;
		}
		follow_feed(c);
		if (c->rescan || (c->rescan_at && time(NULL) >= c->rescan_at)) {
			c->rescan = false;
			c->rescan_at = 0;
			scan_all(c);
		}
		pthread_mutex_lock(&c->lock);
		if (!core_idq_pop(&c->queue, &study)) {
			struct timespec until = core_deadline(0.2);

			pthread_cond_timedwait(&c->cond, &c->lock, &until);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		clean_study(c, study);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* A rules file that does not parse holds every candidate (fail closed) and says why. */
static void load_rules(struct store_cleaner *c)
{
	const char *path = c->s->cfg->pixel_rules;
	struct fiona_err err = {0};

	if (!path || burn_rules_load(path, &c->rules, &err) == 0)
		return;
	log_msg(c->log, LOG_ERROR, "pixels", "pixel_rules %s: %s: candidates are held", path,
		err.reason);
	snprintf(c->rules_error, sizeof(c->rules_error), "the pixel rules file does not load");
}

int store_cleaner_start(struct store *s, struct fiona_log *log, struct store_cleaner **out,
			struct fiona_err *err)
{
	struct store_cleaner *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	c->s = s;
	c->log = log;
	c->cursor = store_change_seq(s);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	load_rules(c);
	if ((rc = -pthread_create(&c->th, NULL, cleaner_main, c))) {
		store_cleaner_stop(c);
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "cannot start: %s",
			       strerror(-rc));
	}
	c->started = true;
	*out = c;
	return 0;
}

void store_cleaner_stop(struct store_cleaner *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->started)
		pthread_join(c->th, NULL);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	ocr_engine_free(c->ocr);
	burn_rules_free(c->rules);
	core_idq_release(&c->queue);
	free(c);
}
