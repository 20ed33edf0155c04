/*
 * Tests for store/classify_store.c: the synthetic corpus ingested into a private store,
 * every study classified, and the labels read back from the catalog; an object damaged
 * on disk leaves its series unlabelled without stopping the others.
 */
#include "core/core.h"

#include <errno.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/tt.h"

struct fixture {
	char dir[64];
	struct fiona_config *cfg;
	struct store *store;
	struct classify_rules *rules;
};

static int ingest_index(struct fixture *f)
{
	char path[1200], line[1024];
	FILE *fp;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/c/index.tsv", f->dir);
	fp = fopen(path, "r");
	if (!fp)
		return -errno;
	while (!rc && fgets(line, sizeof(line), fp)) {
		struct store_ingest_result res;
		struct fiona_err err = {0};

		line[strcspn(line, "\t")] = '\0';
		snprintf(path, sizeof(path), "%s/c/%s", f->dir, line);
		rc = store_ingest(f->store, path, NULL, false, &res, &err);
	}
	fclose(fp);
	return rc;
}

static int fixture_open(struct fixture *f)
{
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	const char *def = config_default_json();
	struct fiona_err err = {0};
	char cmd[512];
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/t_classify_store.XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	snprintf(cmd, sizeof(cmd), "%s/tools/gen_corpus --preset tiny --seed 7 -o %s/c 2>/dev/null",
		 build, f->dir);
	if (system(cmd) != 0)
		return -EIO;
	rc = config_parse(def, strlen(def), &f->cfg, &err);
	if (rc)
		return rc;
	free(f->cfg->data_dir);
	snprintf(cmd, sizeof(cmd), "%s/var", f->dir);
	f->cfg->data_dir = strdup(cmd);
	rc = f->cfg->data_dir ? store_open(f->cfg, NULL, &f->store, &err) : -ENOMEM;
	rc = rc ? rc : store_classify_rules_load(f->cfg, &f->rules, &err);
	return rc ? rc : ingest_index(f);
}

static void fixture_close(struct fixture *f)
{
	char cmd[128];

	classify_rules_free(f->rules);
	store_close(f->store);
	config_free(f->cfg);
	if (f->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", f->dir);
	}
}

/* Classifies every study; returns the number of series labelled, or a negative errno. */
static long classify_all(struct fixture *f)
{
	struct store_study *st = NULL;
	size_t n = 0;
	long total = 0;
	int rc = store_list_studies(f->store, STORE_ALL, NULL, &st, &n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		int one = store_study_classify(f->store, f->rules, st[i].id);

		if (one < 0)
			rc = one;
		total += one > 0 ? one : 0;
	}
	free(st);
	return rc ? rc : total;
}

/* Labels of the first series (any study) whose description is desc; "?" if none. */
static const char *labels_of(struct fixture *f, const char *desc, char *out, size_t cap)
{
	struct store_study *st = NULL;
	size_t n = 0;

	snprintf(out, cap, "?");
	if (store_list_studies(f->store, STORE_ALL, NULL, &st, &n))
		return out;
	for (size_t i = 0; i < n && !strcmp(out, "?"); i++) {
		struct store_series *se = NULL;
		size_t m = 0;

		if (store_list_series(f->store, st[i].id, &se, &m))
			continue;
		for (size_t j = 0; j < m; j++)
			if (!strcmp(se[j].description, desc)) {
				snprintf(out, cap, "%s", se[j].labels);
				break;
			}
		free(se);
	}
	free(st);
	return out;
}

static void t_corpus_labels_in_catalog(struct tt *t)
{
	struct fixture f;
	char got[128];
	long n;
	int rc = fixture_open(&f);

	if (rc) {
		fixture_close(&f);
		TT_CHECK_MSG(t, rc == 0, "fixture: %d", rc);
	}
	n = classify_all(&f);
	if (n != 14) /* tiny corpus: 2 patients x (3 MR, 2 CT, 1 SC, 1 enhanced MR) */
		snprintf(t->why, sizeof(t->why), "labelled %ld series", n);
	else if (strcmp(labels_of(&f, "T1", got, sizeof(got)), "MR,T1"))
		snprintf(t->why, sizeof(t->why), "T1 series: %s", got);
	else if (strcmp(labels_of(&f, "DWI", got, sizeof(got)), "MR,DWI"))
		snprintf(t->why, sizeof(t->why), "DWI series: %s", got);
	else if (strcmp(labels_of(&f, "T1 TSE enhanced", got, sizeof(got)), "MR,T1,multiframe"))
		snprintf(t->why, sizeof(t->why), "enhanced series: %s", got);
	t->failed = t->why[0] != '\0';
	fixture_close(&f);
}


/* Overwrites the first object of the first series described desc with bytes that are not
 * DICOM. 0 or a negative errno. */
static int damage_series(struct fixture *f, const char *desc)
{
	struct store_study *st = NULL;
	size_t n = 0;
	int rc = store_list_studies(f->store, STORE_ALL, NULL, &st, &n), done = -ENOENT;

	for (size_t i = 0; !rc && done == -ENOENT && i < n; i++) {
		struct store_series *se = NULL;
		size_t m = 0;

		rc = store_list_series(f->store, st[i].id, &se, &m);
		for (size_t j = 0; !rc && j < m && done == -ENOENT; j++) {
			struct store_instance *in = NULL;
			size_t k = 0;
			char path[4200];

			if (strcmp(se[j].description, desc) ||
			    store_list_instances(f->store, se[j].id, &in, &k) || k == 0)
				continue;
			done = store_object_path(f->store, in[0].hash, path, sizeof(path));
			done = done ? done : core_write_file_atomic(path, "not dicom", 9, 0644);
			free(in);
		}
		free(se);
	}
	free(st);
	return rc ? rc : done;
}

/* A damaged object: its series keeps its labels, the others are labelled again. */
static void t_damaged_object_skipped(struct tt *t)
{
	struct fixture f;
	char got[128];
	long first, second = 0;
	int rc = fixture_open(&f);

	first = rc ? rc : classify_all(&f);
	rc = rc ? rc : damage_series(&f, "T2");
	second = rc ? rc : classify_all(&f);
	labels_of(&f, "T2", got, sizeof(got));
	fixture_close(&f);
	TT_CHECK_MSG(t, rc == 0, "fixture: %d", rc);
	TT_CHECK_MSG(t, first == 14 && second == 13, "labelled %ld, then %ld", first, second);
	TT_CHECK_MSG(t, !strcmp(got, "MR,T2"), "T2 series: %s", got);
}

/* store_set_classify_rules(): studies are labelled by store_arrival_tick() as they arrive. */
static void t_labelled_at_arrival(struct tt *t)
{
	struct fixture f;
	char before[128] = "", after[128] = "";
	int arrived = -1, rc = fixture_open(&f);

	if (!rc) {
		store_set_classify_rules(f.store, f.rules);
		labels_of(&f, "DWI", before, sizeof(before));
		arrived = store_arrival_tick(f.store, time(NULL) + 3600);
		labels_of(&f, "DWI", after, sizeof(after));
		store_set_classify_rules(f.store, NULL);
	}
	fixture_close(&f);
	TT_CHECK_MSG(t, rc == 0, "fixture: %d", rc);
	TT_CHECK_MSG(t, arrived == 6, "%d studies arrived", arrived);
	TT_CHECK_MSG(t, !strcmp(before, "") && !strcmp(after, "MR,DWI"), "before \"%s\", after \"%s\"",
		     before, after);
}

TT_MAIN(TT_CASE(t_corpus_labels_in_catalog), TT_CASE(t_damaged_object_skipped),
	TT_CASE(t_labelled_at_arrival))
