/*
 * tree: the mount's directory tree as an immutable snapshot of the catalog. A snapshot is
 * built by the notifier thread when the catalog changed (checked four times a second),
 * and by a handler only after the mount's own change; it is shared by every FUSE thread
 * under a reference count and freed when the last reader lets go of it.
 *
 * Inode numbers are a 64-bit hash of the node's path (its name seeded with its parent's
 * inode), so a file keeps its inode across snapshots and restarts (the kernel's page cache
 * stays valid), a path that now means something else gets a new one, and a lookup finds
 * a child by computing its inode instead of scanning the folder. Names come from fs/names.c:
 * sanitized and unique per folder, in catalog order. Names under projects/ and export/ use
 * de-identified values only: series folders are <SeriesNumber>_<Modality>.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <jansson.h>
#include <xxhash.h>

#include "fs/fs_int.h"

struct builder {
	struct fs_mount *m;
	struct fs_tree *t;
};

/* A child's inode: its name hashed with its parent's inode as seed, so it is a function of
 * the path (stable across snapshots and restarts) and lookup can compute it. */
static uint64_t ino_of(uint64_t parent, const char *name)
{
	uint64_t h = XXH3_64bits_withSeed(name, strlen(name), parent);

	return h <= FUSE_ROOT_ID ? h + 2 : h; /* 0 is invalid, 1 is the root */
}

/* Adds a child of dir (index) named name (made unique); returns its index or -errno. */
static long add_node(struct builder *b, size_t dir, const char *name, enum fs_role role,
		     mode_t mode)
{
	struct fs_tree *t = b->t;
	struct fs_node *d, *n;
	char nm[FS_NAME_MAX + 16];
	int rc;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct fs_node *v = realloc(t->nodes, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->nodes = v;
		t->cap = cap;
	}
	d = &t->nodes[dir];
	snprintf(nm, sizeof(nm), "%s", name);
	if (!d->names && (rc = fs_nameset_new(&d->names)))
		return rc;
	if ((rc = fs_nameset_add(d->names, nm, sizeof(nm))))
		return rc;
	if (d->nkids == d->capkids) {
		size_t cap = d->capkids ? d->capkids * 2 : 8;
		size_t *k = realloc(d->kids, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		d->kids = k;
		d->capkids = cap;
	}
	d->kids[d->nkids++] = t->n;
	n = &t->nodes[t->n];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", nm);
	n->parent = d->ino;
	n->role = role;
	n->mode = mode;
	n->gid = d->gid;
	n->project = d->project;
	n->export_tree = d->export_tree;
	memcpy(n->participant, d->participant, sizeof(n->participant));
	memcpy(n->event, d->event, sizeof(n->event));
	n->study_id = d->study_id;
	n->ino = ino_of(d->ino, n->name);
	return (long)t->n++;
}

/* The child of dir named name if it exists (index), else a new directory. */
static long dir_child(struct builder *b, size_t dir, const char *name, enum fs_role role,
		      mode_t mode)
{
	const struct fs_node *d = &b->t->nodes[dir];

	for (size_t i = 0; i < d->nkids; i++)
		if (!strcmp(b->t->nodes[d->kids[i]].name, name))
			return (long)d->kids[i];
	return add_node(b, dir, name, role, S_IFDIR | mode);
}

static long add_text(struct builder *b, size_t dir, const char *name, enum fs_role role,
		     mode_t mode, char *text)
{
	long i = add_node(b, dir, name, role, S_IFREG | mode);

	if (i < 0) {
		free(text);
		return i;
	}
	b->t->nodes[i].text = text;
	b->t->nodes[i].size = text ? strlen(text) : 0;
	return i;
}

static char *json_text(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	char *t = s ? malloc(strlen(s) + 2) : NULL;

	if (t)
		snprintf(t, strlen(s) + 2, "%s\n", s);
	free(s);
	json_decref(o);
	return t;
}

/* study.json: what arrived (admins only: identifying values are expected here). */
static char *study_json(const struct fs_mount *m, const struct store_study *st,
			const struct store_series *se, size_t nse)
{
	json_t *o = json_object(), *arr = json_array();
	char t1[32], t2[32], t3[32];

	for (size_t i = 0; i < nse; i++)
		json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:s, s:i, s:s}", "number",
						     (json_int_t)se[i].number, "modality",
						     se[i].modality, "description",
						     se[i].description, "labels", se[i].labels,
						     "instances", (json_int_t)se[i].n_instances,
						     "series_uid", se[i].series_uid));
	json_object_set_new(o, "key", json_integer(st->id));
	json_object_set_new(o, "patient_id", json_string(st->patient_id));
	json_object_set_new(o, "study_uid", json_string(st->study_uid));
	json_object_set_new(o, "study_date", json_string(st->study_date));
	json_object_set_new(o, "accession", json_string(st->accession));
	json_object_set_new(o, "first_arrival",
			    json_string(core_time_iso(st->first_arrival, t1, 32)));
	json_object_set_new(o, "last_arrival",
			    json_string(core_time_iso(st->last_arrival, t2, 32)));
	json_object_set_new(o, "leaves_quarantine_listing",
			    json_string(core_time_iso(
				    st->last_arrival + m->cfg->quarantine_days * 86400, t3, 32)));
	json_object_set_new(o, "series", arr);
	return json_text(o);
}

static int add_files(struct builder *b, size_t dir, int64_t series, enum fs_role role)
{
	struct store_instance *in = NULL;
	size_t n = 0;
	int rc = store_list_instances(b->m->store, series, &in, &n);

	for (size_t i = 0; !rc && i < n; i++) {
		char nm[32];
		long k;

		fs_name_instance(in[i].number, nm, sizeof(nm));
		k = add_node(b, dir, nm, role, S_IFREG | 0440);
		if (k < 0) {
			rc = (int)k;
			break;
		}
		b->t->nodes[k].instance_id = in[i].id;
		b->t->nodes[k].size = in[i].size; /* FS_DEID: replaced by the plan's size */
		snprintf(b->t->nodes[k].hash, sizeof(b->t->nodes[k].hash), "%s", in[i].hash);
	}
	free(in);
	return rc;
}

static int build_qstudy(struct builder *b, size_t qdir, const struct store_study *st)
{
	struct store_series *se = NULL;
	size_t nse = 0;
	char raw[128], nm[FS_NAME_MAX + 1];
	long sdir;
	int rc;

	snprintf(raw, sizeof(raw), "%s_%s_%lld", st->study_date[0] ? st->study_date : "nodate",
		 st->accession[0] ? st->accession : "noaccession", (long long)st->id);
	fs_name_sanitize(raw, strlen(raw), nm, sizeof(nm));
	if ((sdir = add_node(b, qdir, nm, FS_QSTUDY, S_IFDIR | 0770)) < 0)
		return (int)sdir;
	b->t->nodes[sdir].study_id = st->id;
	if ((rc = store_list_series(b->m->store, st->id, &se, &nse)))
		return rc;
	rc = (int)add_text(b, (size_t)sdir, "study.json", FS_TEXT, 0440,
			   study_json(b->m, st, se, nse));
	rc = rc < 0 ? rc : 0;
	for (size_t i = 0; !rc && i < nse; i++) {
		long d;

		fs_name_series(se[i].number, se[i].modality, se[i].description, nm, sizeof(nm));
		if ((d = add_node(b, (size_t)sdir, nm, FS_PLAIN_DIR, S_IFDIR | 0550)) < 0) {
			rc = (int)d;
			break;
		}
		rc = add_files(b, (size_t)d, se[i].id, FS_ORIGINAL);
	}
	free(se);
	return rc;
}

static int build_quarantine(struct builder *b, size_t qdir)
{
	struct store_study *st = NULL;
	size_t n = 0;
	int rc = store_list_studies(b->m->store, STORE_QUARANTINE, NULL, &st, &n);

	for (size_t i = 0; !rc && i < n; i++)
		rc = build_qstudy(b, qdir, &st[i]);
	free(st);
	return rc;
}

static struct fs_size_entry *size_slot(struct fs_mount *m, uint64_t ino)
{
	size_t i = ino & (m->sizes_cap - 1);

	while (m->sizes[i].ino && m->sizes[i].ino != ino)
		i = (i + 1) & (m->sizes_cap - 1);
	return &m->sizes[i];
}

static int size_cache_grow(struct fs_mount *m)
{
	struct fs_size_entry *old = m->sizes;
	size_t old_cap = m->sizes_cap;

	m->sizes_cap = old_cap ? old_cap * 2 : 1024;
	m->sizes = calloc(m->sizes_cap, sizeof(*m->sizes));
	if (!m->sizes) {
		m->sizes = old;
		m->sizes_cap = old_cap;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].ino)
			*size_slot(m, old[i].ino) = old[i];
	free(old);
	return 0;
}

/* The exact size of a de-identified file: from the cache, else from its plan. */
static int deid_size(struct fs_mount *m, struct fs_node *n)
{
	struct fs_size_entry *e;
	struct deid_plan *plan = NULL;
	struct core_map map;
	char path[4200];
	int rc;

	if (m->sizes_n * 2 >= m->sizes_cap && (rc = size_cache_grow(m)))
		return rc;
	e = size_slot(m, n->ino);
	if (e->ino == n->ino && e->instance == n->instance_id) {
		n->size = e->size;
		return 0;
	}
	if ((rc = store_object_path(m->store, n->hash, path, sizeof(path))) ||
	    (rc = core_map_file(path, &map)))
		return rc;
	rc = fs_deid_plan(m, n, map.p, map.len, &plan);
	core_map_release(&map);
	if (rc)
		return rc;
	n->size = deid_plan_size(plan);
	deid_plan_free(plan);
	if (e->ino != n->ino)
		m->sizes_n++;
	*e = (struct fs_size_entry){n->ino, n->instance_id, n->size};
	return 0;
}

/* Series number and labels of each series: "1 MR,T1; 2 MR,T2" (de-identified facts). */
static void series_labels(const struct store_series *se, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		int k = snprintf(out + o, cap - o, "%s%ld %s", i ? "; " : "", se[i].number,
				 se[i].labels[0] ? se[i].labels : "unlabelled");
		if (k < 0)
			break;
		o += (size_t)k;
	}
}

static int append_status(struct fs_node *ev, struct fs_mount *m, const struct store_study *st,
			 const struct store_series *se, size_t nse)
{
	struct store_study_transfers tr;
	char when[32], line[2048], labels[1024];
	size_t old = ev->text ? strlen(ev->text) : 0;
	char *t;
	int n;

	if (store_study_transfers(m->store, st->id, &tr))
		return -EIO;
	series_labels(se, nse, labels, sizeof(labels));
	n = snprintf(line, sizeof(line),
		     "study %lld: assigned %s by %s%ld (%s); %ld instances: %ld queued, %ld sent, "
		     "%ld verified, %ld failed%s%s\n  series: %s\n",
		     (long long)st->id, core_time_iso(tr.assigned_at, when, sizeof(when)),
		     tr.assigned_by >= 0 ? "uid " : "", tr.assigned_by >= 0 ? tr.assigned_by : 0,
		     tr.how, st->n_instances, tr.queued, tr.sent, tr.verified, tr.failed,
		     tr.last_error[0] ? "; last error: " : "", tr.last_error, labels);
	if (n < 0 || !(t = realloc(ev->text, old + (size_t)n + 1)))
		return -ENOMEM;
	memcpy(t + old, line, (size_t)n + 1);
	ev->text = t;
	return 0;
}

static int build_series(struct builder *b, size_t ev, const struct store_series *se)
{
	char mod[FS_NAME_MAX + 1], nm[FS_NAME_MAX + 1];

	long md, d;
	int rc = 0;

	fs_name_sanitize(se->modality, strlen(se->modality), mod, sizeof(mod));
	if ((md = dir_child(b, ev, mod, FS_PLAIN_DIR, 0550)) < 0)
		return (int)md;
	fs_name_series(se->number, se->modality, "", nm, sizeof(nm));
	if ((d = add_node(b, (size_t)md, nm, FS_PLAIN_DIR, S_IFDIR | 0550)) < 0) {
		return (int)d;
	}
	rc = add_files(b, (size_t)d, se->id, FS_DEID);
	for (size_t i = 0; !rc && i < b->t->nodes[d].nkids; i++)
		rc = deid_size(b->m, &b->t->nodes[b->t->nodes[d].kids[i]]);
	return rc;
}

/* One assigned study under projects/P (or export/P): participant, event, series. */
static int build_assigned(struct builder *b, size_t pdir, const struct store_study *st)
{
	struct store_series *se = NULL;
	size_t nse = 0;
	long pd, ev, status;
	int rc;

	if ((pd = dir_child(b, pdir, st->participant, FS_PARTICIPANT, 0770)) < 0)
		return (int)pd;
	snprintf(b->t->nodes[pd].participant, 65, "%s", st->participant);
	if ((ev = dir_child(b, (size_t)pd, st->event, FS_EVENT, 0770)) < 0) {
		rc = (int)ev;
		goto out1;
	}
	snprintf(b->t->nodes[ev].event, 65, "%s", st->event);
	status = b->t->nodes[ev].nkids ? (long)b->t->nodes[ev].kids[0]
				       : add_text(b, (size_t)ev, ".status", FS_TEXT, 0440, NULL);
	rc = status < 0 ? (int)status : store_list_series(b->m->store, st->id, &se, &nse);
	if (!rc)
		rc = append_status(&b->t->nodes[status], b->m, st, se, nse);
	if (status >= 0)
		b->t->nodes[status].size =
			b->t->nodes[status].text ? strlen(b->t->nodes[status].text) : 0;
	b->t->nodes[ev].study_id = st->id; /* the series below belong to this study */
	for (size_t i = 0; !rc && i < nse; i++)
		rc = build_series(b, (size_t)ev, &se[i]);
	free(se);
out1:
	return rc;
}

static char *project_json(const struct fs_project *p)
{
	json_t *o = json_object(), *ev = json_array();

	for (size_t i = 0; i < p->cfg->n_events; i++)
		json_array_append_new(ev, json_string(p->cfg->events[i]));
	json_object_set_new(o, "name", json_string(p->cfg->name));
	json_object_set_new(o, "participant_pattern", json_string(p->cfg->participant_pattern));
	json_object_set_new(o, "events", ev);
	json_object_set_new(o, "destination",
			    json_string(p->cfg->destination ? p->cfg->destination : ""));
	json_object_set_new(o, "profile",
			    json_string(p->cfg->profile ? p->cfg->profile : "default"));
	return json_text(o);
}

static int build_project(struct builder *b, size_t top, struct fs_project *p, bool exp)
{
	struct store_study *st = NULL;
	char **parts = NULL, *csv = NULL;
	size_t n = 0;
	long pd;
	int rc;

	if ((pd = add_node(b, top, p->cfg->name, FS_PROJECT, S_IFDIR | 0770)) < 0)
		return (int)pd;
	b->t->nodes[pd].gid = p->gid;
	b->t->nodes[pd].project = p;
	b->t->nodes[pd].export_tree = exp;
	rc = (int)add_text(b, (size_t)pd, ".project.json", FS_TEXT, 0440, project_json(p));
	if (rc >= 0 && !exp && !(rc = store_coupling_csv(b->m->store, p->cfg->name, &csv)))
		rc = (int)add_text(b, (size_t)pd, ".coupling.csv", FS_COUPLING, 0660, csv);
	rc = rc < 0 ? rc : store_list_participants(b->m->store, p->cfg->name, &parts);
	for (size_t i = 0; !rc && parts && parts[i]; i++) {
		long k = dir_child(b, (size_t)pd, parts[i], FS_PARTICIPANT, 0770);

		if (k < 0)
			rc = (int)k;
		else
			snprintf(b->t->nodes[k].participant, 65, "%s", parts[i]);
	}
	store_strv_free(parts);
	rc = rc ? rc : store_list_studies(b->m->store, STORE_ASSIGNED, p->cfg->name, &st, &n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = build_assigned(b, (size_t)pd, &st[i]);
	free(st);
	return rc;
}

static int index_inodes(struct fs_tree *t)
{
	t->ino_cap = 16;
	while (t->ino_cap < t->n * 2)
		t->ino_cap *= 2;
	t->by_ino = calloc(t->ino_cap, sizeof(*t->by_ino));
	if (!t->by_ino)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t k = t->nodes[i].ino & (t->ino_cap - 1);

		while (t->by_ino[k])
			k = (k + 1) & (t->ino_cap - 1);
		t->by_ino[k] = i + 1;
	}
	return 0;
}

static int build_all(struct builder *b)
{
	struct fs_mount *m = b->m;
	long q, pr, ex;

	int rc = 0;

	q = add_node(b, 0, "quarantine", FS_QUARANTINE, S_IFDIR | 0770);
	pr = add_node(b, 0, "projects", FS_PROJECTS, S_IFDIR | 0755);
	ex = add_node(b, 0, "export", FS_PROJECTS, S_IFDIR | 0755);
	if (q < 0 || pr < 0 || ex < 0)
		return -ENOMEM;
	b->t->nodes[q].gid = m->admin_gid;
	b->t->nodes[ex].export_tree = true;
	rc = build_quarantine(b, (size_t)q);
	for (size_t i = 0; !rc && i < m->n_projects; i++)
		rc = build_project(b, (size_t)pr, &m->projects[i], false);
	for (size_t i = 0; !rc && i < m->n_projects; i++)
		rc = build_project(b, (size_t)ex, &m->projects[i], true);
	return rc;
}

static void tree_free(struct fs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].kids);
		free(t->nodes[i].text);
		fs_nameset_free(t->nodes[i].names);
	}
	free(t->nodes);
	free(t->by_ino);
	free(t);
}

int fs_tree_build(struct fs_mount *m, struct fs_tree **out)
{
	struct builder b = {.m = m};
	struct fs_node *root;
	int rc;

	if (!(b.t = calloc(1, sizeof(*b.t))) || !(b.t->nodes = calloc(256, sizeof(*b.t->nodes)))) {
		free(b.t);
		return -ENOMEM;
	}
	b.t->cap = 256;
	b.t->generation = store_generation(m->store);
	root = &b.t->nodes[b.t->n++];
	root->ino = FUSE_ROOT_ID;
	root->parent = FUSE_ROOT_ID;
	root->role = FS_ROOT;
	root->mode = S_IFDIR | 0755;
	rc = build_all(&b);
	for (size_t i = 0; i < b.t->n; i++) { /* names are fixed now */
		fs_nameset_free(b.t->nodes[i].names);
		b.t->nodes[i].names = NULL;
	}
	rc = rc ? rc : index_inodes(b.t);
	if (rc) {
		tree_free(b.t);
		return rc;
	}
	atomic_store(&b.t->refs, 1);
	*out = b.t;
	return 0;
}

void fs_tree_put(struct fs_tree *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		tree_free(t);
}

/* Builds a new snapshot and swaps it in. Builders are serialized by build_lock (they share
 * the size cache); readers keep using the old snapshot while the new one is built. */
static void tree_refresh(struct fs_mount *m)
{
	struct fs_tree *fresh, *old;

	pthread_mutex_lock(&m->build_lock);
	if (fs_tree_build(m, &fresh) != 0) {
		pthread_mutex_unlock(&m->build_lock);
		log_msg(m->log, LOG_ERROR, "mount",
			"cannot rebuild the tree; serving the last one");
		return;
	}
	pthread_mutex_lock(&m->tree_lock);
	old = m->tree;
	m->tree = fresh;
	pthread_mutex_unlock(&m->tree_lock);
	pthread_mutex_unlock(&m->build_lock);
	fs_tree_put(old);
}

void fs_tree_refresh_if_changed(struct fs_mount *m)
{
	uint64_t built;

	pthread_mutex_lock(&m->tree_lock);
	built = m->tree ? m->tree->generation : UINT64_MAX;
	pthread_mutex_unlock(&m->tree_lock);
	if (built != store_generation(m->store))
		tree_refresh(m);
}

struct fs_tree *fs_tree_get(struct fs_mount *m)
{
	struct fs_tree *t;
	bool missing;

	pthread_mutex_lock(&m->tree_lock);
	missing = !m->tree;
	pthread_mutex_unlock(&m->tree_lock);
	/* Handlers build only the first snapshot and the one right after their own change
	 * (a mkdir must find its folder); catalog changes from elsewhere are picked up by the
	 * notifier thread (fs_tree_refresh_if_changed), not on a FUSE request. */
	if (missing || atomic_exchange(&m->force_rebuild, false))
		tree_refresh(m);
	pthread_mutex_lock(&m->tree_lock);
	t = m->tree;
	if (t)
		atomic_fetch_add(&t->refs, 1);
	pthread_mutex_unlock(&m->tree_lock);
	return t;
}

const struct fs_node *fs_tree_find(const struct fs_tree *t, uint64_t ino)
{
	size_t k = ino & (t->ino_cap - 1);

	while (t->by_ino[k]) {
		if (t->nodes[t->by_ino[k] - 1].ino == ino)
			return &t->nodes[t->by_ino[k] - 1];
		k = (k + 1) & (t->ino_cap - 1);
	}
	return NULL;
}

const struct fs_node *fs_tree_child(const struct fs_tree *t, const struct fs_node *dir,
				    const char *name)
{
	const struct fs_node *n = fs_tree_find(t, ino_of(dir->ino, name));

	if (n && n->parent == dir->ino && !strcmp(n->name, name))
		return n; /* the usual case: no scan of big folders on every lookup */
	for (size_t i = 0; i < dir->nkids; i++) /* a hash collision elsewhere in the tree */
		if (!strcmp(t->nodes[dir->kids[i]].name, name))
			return &t->nodes[dir->kids[i]];
	return NULL;
}

int fs_deid_plan(struct fs_mount *m, const struct fs_node *n, const uint8_t *p, size_t len,
		 struct deid_plan **out)
{
	const struct fs_project *pr = n->project;
	struct deid_outcome o;
	struct deid_job job;
	struct fiona_err err = {0};
	int rc;

	if (!pr || !m->have_secret)
		return -EACCES;
	rc = deid_job_init(&job, n->export_tree ? pr->export_profile : pr->profile, &m->secret,
			   pr->cfg->name, n->participant, n->event);
	rc = rc ? rc : deid_instance_plan(&job, p, len, out, &o, &err);
	if (rc)
		log_msg(m->log, LOG_ERROR, "mount", "instance %lld: cannot de-identify: %s",
			(long long)n->instance_id, err.reason[0] ? err.reason : strerror(-rc));
	return rc;
}
