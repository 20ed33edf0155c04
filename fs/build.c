/*
 * build: the listing of one folder, from the indexed catalog queries of that folder only
 * (store/listing.c). Nothing here walks the catalog: quarantine/ reads the complete,
 * unassigned studies through an index; a project its participants; a participant its
 * events; an event its studies and their series; a series its instances with their kept
 * sizes. Names under projects/ and export/ come from de-identified values only: series
 * folders are <SeriesNumber>_<description> from the SeriesDescription the de-identified
 * files carry (kept by the preparer), else from the series' labels, else its modality,
 * and are shown once the series is prepared, so a name never changes under a reader.
 * Names are sanitized and made unique per folder in catalog order (fs/names.c), so they
 * are stable across rebuilds and restarts. Participant folders of export/ also hold one
 * zip per event (fs_zip_event), listed once every file of it has its CRC.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs_int.h"

#define PREPARE_WAIT_S 10.0 /* a listing waits this long for its study's headers */

static const char *event_name(const struct fs_place *pl)
{
	return pl && pl->event >= 0 ? fs_project_event(pl->project, pl->event) : NULL;
}

uint32_t fs_build_slot(const struct fs_mount *m, const struct fs_node *n)
{
	const struct fs_place *pl = n->place;

	(void)m;
	switch (n->role) {
	case FS_QUARANTINE:
		return fs_scope_slot('Q', 0, NULL, NULL, NULL);
	case FS_QSTUDY:
		return fs_scope_slot('S', n->id, NULL, NULL, NULL);
	case FS_QSERIES:
		return fs_scope_slot('S', n->study, NULL, NULL, NULL);
	case FS_PROJECT:
		return fs_scope_slot('P', 0, pl->project->cfg->name, NULL, NULL);
	case FS_PARTICIPANT:
		return fs_scope_slot('A', 0, pl->project->cfg->name, pl->participant, NULL);
	case FS_EVENT:
	case FS_MODALITY:
	case FS_SERIES:
	case FS_NIFTI:
		return fs_scope_slot('E', 0, pl->project->cfg->name, pl->participant,
				     event_name(pl));
	default:
		return 0; /* the fixed folders */
	}
}

static int add_dir(struct fs_dir *d, struct fs_nameset *ns, const char *name, enum fs_role role,
		   mode_t mode, gid_t gid, int64_t id, int64_t study)
{
	struct fs_entry *e;
	int rc = fs_dir_add(d, ns, name, role, S_IFDIR | mode, gid, id, &e);

	if (!rc)
		e->study = study;
	return rc;
}

static int add_text(struct fs_dir *d, const char *name, enum fs_role role, mode_t mode, gid_t gid,
		    const char *text)
{
	struct fs_entry *e;
	int rc;

	if (!text)
		return -ENOMEM;
	rc = fs_dir_add(d, NULL, name, role, S_IFREG | mode, gid, 0, &e);
	return rc ? rc : fs_dir_text(d, e, text, strlen(text));
}

static int build_root(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d)
{
	int rc = add_dir(d, NULL, "quarantine", FS_QUARANTINE, 0770, m->admin_gid, 0, 0);

	rc = rc ? rc : add_dir(d, NULL, "projects", FS_PROJECTS, 0755, n->gid, 0, 0);
	return rc ? rc : add_dir(d, NULL, "export", FS_PROJECTS, 0755, n->gid, 0, 0);
}

static int build_projects(struct fs_mount *m, struct fs_dir *d)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < m->n_projects; i++)
		rc = add_dir(d, NULL, m->projects[i].cfg->name, FS_PROJECT, 0770,
			     m->projects[i].gid, 0, 0);
	return rc;
}

static int build_quarantine(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
			    struct fs_nameset *ns)
{
	struct store_qstudy *st = NULL;
	size_t cnt = 0;
	int64_t expires = 0;
	int rc = store_list_quarantine(m->store, &st, &cnt, &expires);

	for (size_t i = 0; !rc && i < cnt; i++) {
		char raw[128], nm[FS_NAME_MAX + 1];

		snprintf(raw, sizeof(raw), "%s_%s_%lld",
			 st[i].study_date[0] ? st[i].study_date : "nodate",
			 st[i].accession[0] ? st[i].accession : "noaccession", (long long)st[i].id);
		fs_name_sanitize(raw, strlen(raw), nm, sizeof(nm));
		rc = add_dir(d, ns, nm, FS_QSTUDY, 0770, n->gid, st[i].id, st[i].id);
	}
	free(st);
	if (expires) /* the oldest study leaves the listing then, without a change */
		d->valid_until = core_now_mono() + (double)(expires - time(NULL)) + 1;
	return rc;
}

static int build_qstudy(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
			struct fs_nameset *ns)
{
	struct store_series *se = NULL;
	size_t cnt = 0;
	char *json = fs_text_study_json(m, n->id);
	int rc = add_text(d, "study.json", FS_TEXT, 0440, n->gid, json);

	free(json);
	rc = rc ? rc : store_list_series(m->store, n->id, &se, &cnt);
	for (size_t i = 0; !rc && i < cnt; i++) {
		char nm[FS_NAME_MAX + 1];

		fs_name_series(se[i].number, se[i].modality, se[i].description, nm, sizeof(nm));
		rc = add_dir(d, ns, nm, FS_QSERIES, 0550, n->gid, se[i].id, n->id);
	}
	free(se);
	return rc;
}

static int build_qseries(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
			 struct fs_nameset *ns)
{
	struct store_instance *in = NULL;
	size_t cnt = 0;
	int rc = store_list_instances(m->store, n->id, &in, &cnt);

	for (size_t i = 0; !rc && i < cnt; i++) {
		struct fs_entry *e;
		char nm[32];

		fs_name_instance(in[i].number, nm, sizeof(nm));
		rc = fs_dir_add(d, ns, nm, FS_ORIGINAL, S_IFREG | 0440, n->gid, in[i].id, &e);
		if (!rc) {
			fs_entry_version(d, e, store_hash_version(in[i].hash));
			e->size = in[i].size;
			e->study = n->study;
		}
	}
	free(in);
	return rc;
}

/* "<ID>.zip" beside each participant folder of export/: named now, laid out only when
 * a lookup asks for it (fs_lookup_child), so listing a project of thousands of
 * participants costs no query per participant. After the folders, so their names come
 * first in the name set. */
static int add_participant_zips(struct fs_dir *d, struct fs_nameset *ns, gid_t gid,
				const char *const *parts)
{
	size_t k = 0, n = d->n;
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++) {
		struct fs_entry *e = &d->e[i];
		char nm[FS_NAME_MAX + 16];

		if (e->role != FS_PARTICIPANT)
			continue;
		snprintf(nm, sizeof(nm), "%s.zip", fs_entry_name(d, e));
		rc = fs_dir_add(d, ns, nm, FS_PZIP, S_IFREG | 0440, gid, 0, &e);
		rc = rc ? rc : fs_dir_text(d, e, parts[k], strlen(parts[k]));
		k++;
	}
	return rc;
}

static int build_project(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
			 struct fs_nameset *ns)
{
	const struct fs_project *p = n->place->project;
	char *json = fs_text_project_json(p), *csv = NULL, **parts = NULL;
	int rc = add_text(d, ".project.json", FS_TEXT, 0440, n->gid, json);

	free(json);
	if (!rc) { /* kept by fs/review.c: copied, never computed here */
		char *tsv = fs_text_review(m, n->place);

		rc = add_text(d, ".review.tsv", FS_TEXT, 0440, n->gid, tsv);
		free(tsv);
	}
	if (!rc && !n->place->export_tree &&
	    !(rc = store_coupling_csv(m->store, p->cfg->name, &csv)))
		rc = add_text(d, ".coupling.csv", FS_COUPLING, 0660, n->gid, csv);
	free(csv);
	rc = rc ? rc : store_list_participants(m->store, p->cfg->name, &parts);
	for (size_t i = 0; !rc && parts[i]; i++) {
		char nm[FS_NAME_MAX + 1];
		struct fs_entry *e;

		fs_name_participant(n->place, parts[i], nm, sizeof(nm));
		rc = fs_dir_add(d, ns, nm, FS_PARTICIPANT, S_IFDIR | 0770, n->gid, 0, &e);
		rc = rc ? rc : fs_dir_text(d, e, parts[i], strlen(parts[i])); /* the real ID */
	}
	if (!rc && n->place->export_tree)
		rc = add_participant_zips(d, ns, n->gid, (const char *const *)parts);
	store_strv_free(parts);
	return rc;
}

/* "<EVENT>.zip" beside the event's folder, once every file of it has its CRC; until then
 * the listing is built again a second later. */
static int add_zip(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
		   struct fs_nameset *ns, int event)
{
	struct fs_place pl = *n->place;
	struct fs_zip *z = NULL;
	struct fs_entry *e;
	char nm[FS_NAME_MAX + 16];
	int rc;

	pl.event = event;
	if ((rc = fs_zip_event(m, &pl, &z))) {
		if (rc != -EAGAIN)
			log_msg(m->log, LOG_WARN, "mount", "zip of an event of %s: %s",
				pl.project->cfg->name, strerror(-rc));
		d->valid_until = core_now_mono() + 1;
		return 0;
	}
	snprintf(nm, sizeof(nm), "%s.zip", fs_project_event(pl.project, event));
	rc = fs_dir_add(d, ns, nm, FS_ZIP, S_IFREG | 0440, n->gid, z->id, &e);
	if (!rc) {
		e->size = z->size;
		e->event = event;
	}
	fs_zip_free(z);
	return rc;
}

static int build_participant(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
			     struct fs_nameset *ns)
{
	const struct config_project *p = n->place->project->cfg;
	char **evs = NULL;
	int rc = store_list_events(m->store, p->name, n->place->participant, &evs);

	/* every event an assignment names: the configuration's or one REDCap gave the project
	 * (assignments are checked against both when they are made) */
	for (size_t i = 0; !rc && evs[i]; i++) {
		int k = fs_project_event_index(n->place->project, evs[i]);
		struct fs_entry *e;

		if (k < 0)
			continue;
		rc = fs_dir_add(d, ns, evs[i], FS_EVENT, S_IFDIR | 0770, n->gid, 0, &e);
		if (!rc)
			e->event = k;
	}
	for (size_t i = 0; !rc && n->place->export_tree && evs[i]; i++) {
		int k = fs_project_event_index(n->place->project, evs[i]);

		if (k >= 0)
			rc = add_zip(m, n, d, ns, k);
	}
	store_strv_free(evs);
	return rc;
}

static int layout_add(struct fs_series_dir **all, size_t *cnt, const struct store_series_name *se)
{
	struct fs_series_dir *v = realloc(*all, (*cnt + 1) * sizeof(*v)), *o;

	if (!v)
		return -ENOMEM;
	*all = v;
	o = memset(&v[(*cnt)++], 0, sizeof(*o));
	o->id = se->id;
	o->study = se->study_id;
	o->ready = se->prepared;
	fs_name_sanitize(se->modality, strlen(se->modality), o->mod, sizeof(o->mod));
	fs_name_series_readable(se->number, se->modality, se->described ? se->description : "",
				se->labels, o->name, sizeof(o->name));
	return 0;
}

/* Names unique per modality folder, among the prepared series, in catalog order. */
static int layout_unique(struct fs_series_dir *v, size_t n)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++) {
		struct fs_nameset *ns = NULL;
		bool first = true;

		for (size_t k = 0; k < i && first; k++)
			first = strcmp(v[k].mod, v[i].mod) != 0;
		if (!first || (rc = fs_nameset_new(&ns)))
			continue;
		for (size_t k = i; !rc && k < n; k++)
			if (v[k].ready && !strcmp(v[k].mod, v[i].mod))
				rc = fs_nameset_add(ns, v[k].name, sizeof(v[k].name));
		fs_nameset_free(ns);
	}
	return rc;
}

int fs_event_layout(struct fs_mount *m, const struct fs_place *pl, struct fs_series_dir **out,
		    size_t *n)
{
	const struct deid_profile *prof = fs_place_profile(pl);
	int64_t *ids = NULL;
	size_t nids = 0, cnt = 0;
	struct fs_series_dir *all = NULL;
	int rc = store_list_event_studies(m->store, pl->project->cfg->name, pl->participant,
					  event_name(pl), &ids, &nids);

	for (size_t i = 0; !rc && i < nids; i++) {
		struct store_series_name *se = NULL;
		size_t k = 0;

		rc = store_list_series_names(m->store, ids[i], fs_place_fp(pl), &se, &k);
		for (size_t j = 0; !rc && j < k; j++) /* series the profile leaves out: not shown */
			if (!deid_profile_leaves_out(prof, se[j].sop_class, se[j].modality))
				rc = layout_add(&all, &cnt, &se[j]);
		free(se);
	}
	free(ids);
	rc = rc ? rc : layout_unique(all, cnt);
	if (rc) {
		free(all);
		return rc;
	}
	*out = all;
	*n = cnt;
	return 0;
}

static int build_event(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
		       struct fs_nameset *ns)
{
	bool nifti = n->place->export_tree && !n->place->project->cfg->nifti_off;
	struct fs_series_dir *se = NULL;
	size_t cnt = 0;
	struct buf status;
	int rc = fs_event_layout(m, n->place, &se, &cnt);

	buf_init(&status, (size_t)1 << 24);
	for (size_t i = 0; !rc && i < cnt; i++)
		if (!i || se[i].study != se[i - 1].study)
			rc = fs_text_status(m, n->place, se[i].study, &status);
	if (!rc && nifti)
		rc = fs_nifti_status(m, n->place, &status);
	rc = rc ? rc
		: add_text(d, ".status", FS_TEXT, 0440, n->gid,
			   status.data ? (const char *)status.data : "");
	/* export/: nifti/ first, so it keeps its name whatever the modalities are */
	if (!rc && nifti)
		rc = add_dir(d, ns, "nifti", FS_NIFTI, 0550, n->gid, 0, 0);
	for (size_t i = 0; !rc && i < cnt; i++)
		if (!fs_dir_find_linear(d, se[i].mod))
			rc = add_dir(d, ns, se[i].mod, FS_MODALITY, 0550, n->gid, 0, 0);
	buf_release(&status);
	free(se);
	return rc;
}

/* Whether a series of modality folder mod is not prepared yet; asks the preparer for its
 * study first and waits for it. */
static bool layout_wait(struct fs_mount *m, const struct fs_series_dir *se, size_t cnt,
			const char *mod)
{
	bool waited = false;

	for (size_t i = 0; i < cnt; i++)
		if (!se[i].ready && !strcmp(se[i].mod, mod)) {
			fs_prepare_wait(m, se[i].study, PREPARE_WAIT_S);
			waited = true;
		}
	return waited;
}

/* The prepared series of one modality folder; the others are asked for and waited for
 * (like a series folder's files), and left out until they are prepared. */
static int build_modality(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
			  struct fs_nameset *ns)
{
	struct fs_series_dir *se = NULL;
	size_t cnt = 0;
	int rc = fs_event_layout(m, n->place, &se, &cnt);

	if (!rc && layout_wait(m, se, cnt, n->name)) {
		free(se);
		se = NULL;
		rc = fs_event_layout(m, n->place, &se, &cnt);
	}
	for (size_t i = 0; !rc && i < cnt; i++) {
		if (strcmp(se[i].mod, n->name))
			continue;
		if (!se[i].ready) {
			d->valid_until = core_now_mono() + 1;
			continue;
		}
		rc = add_dir(d, ns, se[i].name, FS_SERIES, 0550, n->gid, se[i].id, se[i].study);
	}
	free(se);
	return rc;
}

static size_t count_missing(const struct store_deid_file *f, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += f[i].size == STORE_DERIVED_MISSING;
	return k;
}

/* A series' de-identified files with their kept sizes. Headers not computed yet are asked
 * for first and waited for (the preparer computes them; a listing never de-identifies);
 * whatever is still missing then is left out and the listing is built again soon. */
static int build_series(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
			struct fs_nameset *ns)
{
	const char *fp = fs_place_fp(n->place);
	struct store_deid_file *f = NULL;
	size_t cnt = 0;
	int rc = store_list_deid_files(m->store, n->id, fp, &f, &cnt);

	if (!rc && count_missing(f, cnt) && fs_prepare_wait(m, n->study, PREPARE_WAIT_S) == 0) {
		free(f);
		f = NULL;
		rc = store_list_deid_files(m->store, n->id, fp, &f, &cnt);
	}
	if (!rc && count_missing(f, cnt))
		d->valid_until = core_now_mono() + 1;
	for (size_t i = 0; !rc && i < cnt; i++) {
		struct fs_entry *e;
		char nm[32];

		fs_name_instance(f[i].number, nm, sizeof(nm));
		if (f[i].size < 0) { /* not ready, or held: the name stays taken */
			char tmp[FS_NAME_MAX + 16];

			snprintf(tmp, sizeof(tmp), "%s", nm);
			rc = fs_nameset_add(ns, tmp, sizeof(tmp));
			continue;
		}
		rc = fs_dir_add(d, ns, nm, FS_DEID, S_IFREG | 0440, n->gid, f[i].id, &e);
		if (!rc) {
			fs_entry_version(d, e, f[i].version);
			e->size = (uint64_t)f[i].size;
			e->study = n->study;
		}
	}
	free(f);
	return rc;
}

/* export/.../<EVENT>/nifti/: the kept outputs of every series whose run is the one of its
 * current input (nifti_view.c), from the catalog's rows; a series without one is asked
 * for (the worker converts it in the background; its commit makes this be built again). */
static int build_nifti(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d,
		       struct fs_nameset *ns)
{
	struct fs_nifti_series *v = NULL;
	size_t cnt = 0;
	int rc = fs_nifti_event(m, n->place, &v, &cnt);

	for (size_t i = 0; !rc && i < cnt; i++) {
		struct store_nifti_file *f = NULL;
		size_t k = 0;

		if (v[i].state == FS_NIFTI_TODO)
			fs_nifti_request(m, v[i].study);
		if (v[i].state != FS_NIFTI_READY)
			continue;
		rc = store_nifti_files(m->store, v[i].series, &f, &k);
		for (size_t j = 0; !rc && j < k; j++) {
			struct fs_entry *e;

			rc = fs_dir_add(d, ns, f[j].name, FS_NIFTI_FILE, S_IFREG | 0440, n->gid,
					f[j].id, &e);
			if (!rc) {
				e->size = (uint64_t)f[j].size;
				e->study = v[i].study;
			}
		}
		free(f);
	}
	free(v);
	return rc;
}

int fs_build(struct fs_mount *m, const struct fs_node *n, struct fs_dir *d)
{
	struct fs_nameset *ns = NULL;
	int rc = fs_nameset_new(&ns);

	if (rc)
		return rc;
	switch (n->role) {
	case FS_ROOT:
		rc = build_root(m, n, d);
		break;
	case FS_PROJECTS:
		rc = build_projects(m, d);
		break;
	case FS_QUARANTINE:
		rc = build_quarantine(m, n, d, ns);
		break;
	case FS_QSTUDY:
		rc = build_qstudy(m, n, d, ns);
		break;
	case FS_QSERIES:
		rc = build_qseries(m, n, d, ns);
		break;
	case FS_PROJECT:
		rc = build_project(m, n, d, ns);
		break;
	case FS_PARTICIPANT:
		rc = build_participant(m, n, d, ns);
		break;
	case FS_EVENT:
		rc = build_event(m, n, d, ns);
		break;
	case FS_MODALITY:
		rc = build_modality(m, n, d, ns);
		break;
	case FS_SERIES:
		rc = build_series(m, n, d, ns);
		break;
	case FS_NIFTI:
		rc = build_nifti(m, n, d, ns);
		break;
	default:
		rc = -ENOTDIR;
	}
	fs_nameset_free(ns);
	return rc;
}
