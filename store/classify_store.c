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
	if (!(rc = cat_exec(s, "BEGIN IMMEDIATE"))) {
		rc = cat_run(s, "UPDATE series SET labels=? WHERE id=?", "ti", labels,
			     (int64_t)se->id);
		note_study(s, se->study_id, STORE_CHG_STATE);
		rc = cat_commit(s, rc);
	}
	pthread_mutex_unlock(&s->lock);
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
