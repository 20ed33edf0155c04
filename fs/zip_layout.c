/*
 * zip_layout: the entries of the export zips, from the kept sizes and CRCs of the files
 * the export tree shows (no byte of data is read). An event zip holds the event folder;
 * a participant zip every event of the participant, each under the participant's folder
 * name. Entry names follow the export profile's zip_layout (docs/export.md):
 *   folders  <EVENT>/<Modality>/<series>/<NNNN>.dcm   (the folders, as listed)
 *   series   <EVENT>/<series>/<NNNN>.dcm              (series names unique per event)
 *   flat     <EVENT>_<series>_<NNNN>.dcm              (unique per zip)
 * and a participant zip puts "<ID>/" ("<ID>_" flat) in front of its events' names.
 * Invariants: entries in folder order (modality folders in the event's order, series in
 * theirs, files by InstanceNumber), so the same catalog gives the same bytes; a zip is
 * only composed once every file it would hold has its size and CRC (-EAGAIN before).
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/fs_int.h"

struct zip_names {
	enum deid_zip_layout layout;
	const char *prefix;	   /* "<ID>/" or "<ID>_" for a participant zip, else "" */
	struct fs_nameset *series; /* series layouts: series names of this event */
	struct fs_nameset *flat;   /* flat: every entry name of the zip */
};

static const char *event_name(const struct fs_place *pl)
{
	return fs_project_event(pl->project, pl->event);
}

/* The entry name of file nm of series se (sname: its name in this layout). */
static int entry_name(const struct zip_names *zn, const struct fs_place *pl,
		      const struct fs_series_dir *se, const char *sname, const char *nm, char *path,
		      size_t cap)
{
	int n;

	if (zn->layout == DEID_ZIP_FOLDERS)
		n = snprintf(path, cap, "%s%s/%s/%s/%s", zn->prefix, event_name(pl), se->mod, sname,
			     nm);
	else if (zn->layout == DEID_ZIP_SERIES)
		n = snprintf(path, cap, "%s%s/%s/%s", zn->prefix, event_name(pl), sname, nm);
	else {
		/* flat: one name; a long series name is cut so the whole stays a valid name */
		size_t fixed = strlen(zn->prefix) + strlen(event_name(pl)) + strlen(nm) + 2;
		int keep = fixed < FS_NAME_MAX ? (int)(FS_NAME_MAX - fixed) : 0;

		n = snprintf(path, cap, "%s%s_%.*s_%s", zn->prefix, event_name(pl), keep, sname,
			     nm);
		if (n < 0 || (size_t)n >= cap || strlen(path) > FS_NAME_MAX)
			return -ENAMETOOLONG;
		return fs_nameset_add(zn->flat, path, cap);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The entries of one series, files named as its folder lists them (fs_nifti_inputs). */
static int zip_series(struct fs_mount *m, const struct fs_place *pl, const struct zip_names *zn,
		      const struct fs_series_dir *se, const char *sname, struct fs_zip *z)
{
	struct fs_nifti_input *in = NULL;
	size_t cnt = 0;
	int rc = fs_nifti_inputs(m, fs_place_fp(pl), se->id, &in, &cnt);

	for (size_t i = 0; !rc && i < cnt; i++) {
		char path[1024];

		rc = entry_name(zn, pl, se, sname, in[i].name, path, sizeof(path));
		rc = rc ? rc : fs_zip_add(z, path, in[i].size, in[i].crc, in[i].instance);
		if (!rc)
			z->f[z->n - 1].event = pl->event;
	}
	free(in);
	return rc;
}

/* Appends the entries of the event at pl (event >= 0) to z. */
static int zip_event_add(struct fs_mount *m, const struct fs_place *pl, struct zip_names *zn,
			 struct fs_zip *z)
{
	struct fs_series_dir *se = NULL;
	size_t cnt = 0;
	int rc = fs_event_layout(m, pl, &se, &cnt);

	if (!rc && zn->layout != DEID_ZIP_FOLDERS)
		rc = fs_nameset_new(&zn->series);
	/* modality folders in the order the event lists them, series in theirs */
	for (size_t i = 0; !rc && i < cnt; i++) {
		bool first = true;

		for (size_t k = 0; k < i && first; k++)
			first = strcmp(se[k].mod, se[i].mod) != 0;
		for (size_t k = i; first && !rc && k < cnt; k++) {
			char sname[FS_NAME_MAX + 16];

			if (strcmp(se[k].mod, se[i].mod))
				continue;
			if (!se[k].ready) {
				rc = -EAGAIN;
				break;
			}
			snprintf(sname, sizeof(sname), "%s", se[k].name);
			if (zn->series)
				rc = fs_nameset_add(zn->series, sname, sizeof(sname));
			rc = rc ? rc : zip_series(m, pl, zn, &se[k], sname, z);
		}
	}
	fs_nameset_free(zn->series);
	zn->series = NULL;
	free(se);
	return rc;
}

static int zip_done(struct fs_zip *z, struct zip_names *zn, int rc, struct fs_zip **out)
{
	rc = rc ? rc : fs_zip_finish(z);
	fs_nameset_free(zn->flat);
	if (rc) {
		fs_zip_free(z);
		return rc;
	}
	*out = z;
	return 0;
}

int fs_zip_event(struct fs_mount *m, const struct fs_place *pl, struct fs_zip **out)
{
	struct zip_names zn = {deid_profile_zip_layout(fs_place_profile(pl)), "", NULL, NULL};
	struct fs_zip *z = NULL;
	int rc = fs_zip_new(&z);

	if (!rc && zn.layout == DEID_ZIP_FLAT)
		rc = fs_nameset_new(&zn.flat);
	rc = rc ? rc : zip_event_add(m, pl, &zn, z);
	return zip_done(z, &zn, rc, out);
}

void fs_name_participant(const struct fs_place *pl, const char *id, char *out, size_t cap)
{
	char shown[65];

	/* projects/ names folders by the ID itself: mkdir and mv write it */
	if (pl->export_tree)
		deid_profile_participant(fs_place_profile(pl), id, shown);
	else
		snprintf(shown, sizeof(shown), "%s", id);
	fs_name_sanitize(shown, strlen(shown), out, cap);
}

int fs_zip_participant(struct fs_mount *m, const struct fs_place *pl, struct fs_zip **out)
{
	const struct config_project *p = pl->project->cfg;
	struct zip_names zn = {deid_profile_zip_layout(fs_place_profile(pl)), NULL, NULL, NULL};
	char name[FS_NAME_MAX + 1], prefix[FS_NAME_MAX + 2];
	struct fs_zip *z = NULL;
	char **evs = NULL;
	size_t shown = 0;
	int rc = fs_zip_new(&z);

	fs_name_participant(pl, pl->participant, name, sizeof(name));
	snprintf(prefix, sizeof(prefix), "%s%c", name, zn.layout == DEID_ZIP_FLAT ? '_' : '/');
	zn.prefix = prefix;
	if (!rc && zn.layout == DEID_ZIP_FLAT)
		rc = fs_nameset_new(&zn.flat);
	rc = rc ? rc : store_list_events(m->store, p->name, pl->participant, &evs);
	for (size_t i = 0; !rc && evs[i]; i++) {
		struct fs_place ev = *pl;

		if ((ev.event = fs_project_event_index(pl->project, evs[i])) < 0)
			continue;
		rc = zip_event_add(m, &ev, &zn, z);
		shown++;
	}
	store_strv_free(evs);
	if (!rc && !shown)
		rc = -ENOENT;
	return zip_done(z, &zn, rc, out);
}
