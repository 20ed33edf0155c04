/*
 * Series labels in the catalog: classifies the series of a study with the rules
 * (classify.c, classify_ops.c) and keeps the labels in series.labels, which the mount
 * shows in study.json and .status.
 *
 * Invariants: objects are read without the catalog lock (a big series takes a while);
 * only the one UPDATE per series holds it. A series that cannot be classified (an
 * unreadable object) keeps its labels and is reported in the log by internal ids, tag and
 * offset, never by a value from the files.
 */
#include "core/core.h"

#include <errno.h>

#include "store/store_int.h"

int store_classify_rules_load(const struct fiona_config *cfg, struct classify_rules **out,
			      struct fiona_err *err)
{
	const char *def = classify_default_rules_json();

	if (cfg && cfg->classify_rules)
		return classify_rules_load(cfg->classify_rules, out, err);
	return classify_rules_parse(def, strlen(def), out, err);
}

static void paths_free(char **paths, size_t n)
{
	for (size_t i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
}

/* The object paths of a series' instances, in instance order. New array of new strings. */
static int series_paths(struct store *s, int64_t series_id, char ***out, size_t *n)
{
	struct store_instance *in = NULL;
	char **paths = NULL, path[4200];
	size_t n_in = 0, i = 0;
	int rc = store_list_instances(s, series_id, &in, &n_in);

	if (!rc && n_in && !(paths = calloc(n_in, sizeof(*paths))))
		rc = -ENOMEM;
	for (; !rc && i < n_in; i++) {
		rc = store_object_path(s, in[i].hash, path, sizeof(path));
		if (!rc && !(paths[i] = strdup(path)))
			rc = -ENOMEM;
	}
	free(in);
	if (rc) {
		paths_free(paths, i);
		return rc;
	}
	*out = paths;
	*n = n_in;
	return 0;
}

/* 0 labelled, 1 not (logged), or a negative errno from the catalog or memory. */
static int series_label(struct store *s, const struct classify_rules *r,
			const struct store_series *se)
{
	struct fiona_err err = {0};
	char **paths = NULL, labels[sizeof(se->labels)], line[400];
	size_t n = 0, bad;
	int rc = series_paths(s, se->id, &paths, &n);

	if (rc == 0 && n == 0) {
		rc = 1; /* nothing to read: the labels stay as they are */
		goto done;
	}
	rc = rc ? rc : classify_series_files(r, paths, n, labels, sizeof(labels), &bad, &err);
	if (rc && paths) {
		log_msg(s->log, LOG_WARN, "classify", "series %lld: not labelled: %s",
			(long long)se->id, err_format(&err, NULL, line, sizeof(line)));
		rc = 1;
		goto done;
	}
	if (rc)
		goto done;
	pthread_mutex_lock(&s->lock);
	rc = cat_run(s, "UPDATE series SET labels=? WHERE id=?", "ti", labels, (int64_t)se->id);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		store_changed(s);
done:
	paths_free(paths, n);
	return rc;
}

int store_study_classify(struct store *s, const struct classify_rules *r, int64_t study_id)
{
	struct store_series *se = NULL;
	size_t n = 0;
	int labelled = 0, rc = store_list_series(s, study_id, &se, &n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		int one = series_label(s, r, &se[i]);

		if (one == 0)
			labelled++;
		else if (one < 0)
			rc = one; /* the catalog or memory failed: stop; a bad object does not */
	}
	free(se);
	return rc ? rc : labelled;
}

/* ---- the classifier: which studies to label ------------------------------------------ */

struct seen {
	int64_t id, last_arrival;
};

struct store_classifier {
	struct store *s;		    /* borrowed */
	const struct classify_rules *rules; /* borrowed */
	uint64_t generation;		    /* of the catalog at the last complete pass */
	bool ran;
	struct seen *seen; /* sorted by id: studies labelled, with the arrival they had */
	size_t n_seen, cap_seen;
};

int store_classifier_new(struct store *s, const struct classify_rules *r,
			 struct store_classifier **out)
{
	struct store_classifier *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->s = s;
	c->rules = r;
	*out = c;
	return 0;
}

void store_classifier_free(struct store_classifier *c)
{
	if (!c)
		return;
	free(c->seen);
	free(c);
}

static int cmp_seen(const void *a, const void *b)
{
	int64_t x = ((const struct seen *)a)->id, y = ((const struct seen *)b)->id;

	return x < y ? -1 : x > y;
}

/* Records that study (id, last_arrival) is labelled; keeps c->seen sorted by id. */
static int seen_put(struct store_classifier *c, int64_t id, int64_t last_arrival)
{
	struct seen key = {id, last_arrival}, *hit;

	hit = c->n_seen ? bsearch(&key, c->seen, c->n_seen, sizeof(key), cmp_seen) : NULL;
	if (hit) {
		hit->last_arrival = last_arrival;
		return 0;
	}
	if (c->n_seen == c->cap_seen) {
		size_t cap = c->cap_seen ? 2 * c->cap_seen : 64;
		struct seen *nv = realloc(c->seen, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->seen = nv;
		c->cap_seen = cap;
	}
	c->seen[c->n_seen++] = key;
	qsort(c->seen, c->n_seen, sizeof(key), cmp_seen);
	return 0;
}

static bool seen_is_current(const struct store_classifier *c, const struct store_study *st)
{
	struct seen key = {st->id, 0};
	const struct seen *hit =
		c->n_seen ? bsearch(&key, c->seen, c->n_seen, sizeof(key), cmp_seen) : NULL;

	return hit && hit->last_arrival == st->last_arrival;
}

int store_classifier_tick(struct store_classifier *c)
{
	uint64_t gen = store_generation(c->s);
	struct store_study *st = NULL;
	size_t n = 0;
	int done = 0, rc;

	if (c->ran && gen == c->generation)
		return 0; /* nothing changed in the catalog */
	rc = store_list_studies(c->s, STORE_ALL, NULL, &st, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!st[i].complete || seen_is_current(c, &st[i]))
			continue;
		rc = store_study_classify(c->s, c->rules, st[i].id);
		rc = rc < 0 ? rc : seen_put(c, st[i].id, st[i].last_arrival);
		done += rc == 0;
	}
	free(st);
	if (rc)
		return rc;
	/* The generation read before listing: a change made meanwhile (ours included) brings
	 * one more pass, which finds what is new. */
	c->generation = gen;
	c->ran = true;
	return done;
}
