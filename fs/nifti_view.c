/*
 * nifti_view: what the mount knows of the NIfTI of an export event folder, from kept
 * state only (docs/export.md). A series' input is its de-identified files as its folder
 * lists them (names, kept sizes and CRC-32s); the key of a run is a hash of that input,
 * the series folder name (dcm2niix names its output from it), the export profile's
 * fingerprint and dcm2niix's version and options. A run is shown only while its key is
 * the key of the current input, so a listing never shows what an earlier input made.
 *
 * Also the sidecar filter: dcm2niix's anonymizing switch (-ba y) leaves institution,
 * department, address, station, device serial number and free-text comments in the BIDS
 * sidecar when the DICOM carries them; those members (and the ones -ba y removes, in case
 * it did not) are taken out of every sidecar before it is kept.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#include "fs/fs_int.h"

/* Members of a sidecar that could identify someone (names, IDs, dates, places, devices,
 * free text); none is needed to read the image. */
static const char *const strip_keys[] = {
	"PatientName",
	"PatientID",
	"PatientBirthDate",
	"PatientSex",
	"PatientAge",
	"PatientWeight",
	"PatientSize",
	"AccessionNumber",
	"StudyID",
	"StudyInstanceUID",
	"SeriesInstanceUID",
	"ReferringPhysicianName",
	"PerformingPhysicianName",
	"OperatorsName",
	"InstitutionName",
	"InstitutionalDepartmentName",
	"InstitutionAddress",
	"StationName",
	"DeviceSerialNumber",
	"AcquisitionDateTime",
	"AcquisitionDate",
	"StudyDate",
	"SeriesDate",
	"ContentDate",
	"ImageComments",
	"PatientComments",
	"StudyComments",
};

static bool strip_line(const char *p, size_t len)
{
	for (size_t i = 0; i < CORE_ARRAY_SIZE(strip_keys); i++) {
		size_t k = strlen(strip_keys[i]);

		if (len >= k + 5 && p[0] == '\t' && p[1] == '"' &&
		    !memcmp(p + 2, strip_keys[i], k) && !memcmp(p + 2 + k, "\": ", 3))
			return true;
	}
	return false;
}

int fs_nifti_sidecar_strip(char *json, size_t len, size_t *out_len)
{
	size_t r = 0, w = 0, last_kept = SIZE_MAX; /* where the last kept line ends */
	int removed = 0;

	while (r < len) {
		const char *nl = memchr(json + r, '\n', len - r);
		size_t end = nl ? (size_t)(nl - json) + 1 : len, body = end - r - (nl != NULL);
		const char *p = json + r;

		if (strip_line(p, body)) {
			char last = body ? p[body - 1] : '\0';
			const char *v = memchr(p, ':', body);

			if (v && (v[2] == '[' || v[2] == '{') && last != ',' && last != ']' &&
			    last != '}')
				return -EINVAL; /* a value over several lines: refuse */
			if (last != ',' && last_kept != SIZE_MAX && last_kept > 1 &&
			    json[last_kept - 2] == ',') { /* it was the last member */
				memmove(json + last_kept - 2, json + last_kept - 1,
					w - last_kept + 1);
				w--;
			}
			removed++;
			r = end;
			continue;
		}
		memmove(json + w, p, end - r);
		w += end - r;
		last_kept = w;
		r = end;
	}
	*out_len = w;
	return removed;
}

bool fs_nifti_output_name(const char *name)
{
	static const char *const ext[] = {".nii.gz", ".json", ".bval", ".bvec"};
	char safe[FS_NAME_MAX + 1];
	size_t n = strlen(name);

	/* dcm2niix names the files of its one input series from the folder name (-f %f),
	 * changing some characters and adding suffixes (_e2, _ph, ...): any name is taken
	 * that is already a safe name of the mount, with one of the extensions */
	if (n > FS_NAME_MAX || fs_name_sanitize(name, n, safe, sizeof(safe)) != n ||
	    strcmp(safe, name))
		return false;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(ext); i++) {
		size_t e = strlen(ext[i]);

		if (n > e && !strcmp(name + n - e, ext[i]))
			return true;
	}
	return false;
}

size_t fs_nifti_argv(char *exe, char *out, char *in, char *words, char **argv)
{
	size_t n = 0;

	memcpy(words, FS_NIFTI_OPTIONS, sizeof(FS_NIFTI_OPTIONS));
	argv[n++] = exe;
	for (char *w = words, *sp; w && *w && n < FS_NIFTI_ARGV_MAX - 4; w = sp ? sp + 1 : NULL) {
		if ((sp = strchr(w, ' ')))
			*sp = '\0';
		argv[n++] = w;
	}
	argv[n++] = "-o";
	argv[n++] = out;
	argv[n++] = in;
	argv[n] = NULL;
	return n;
}

static void key_part(XXH3_state_t *st, const char *s)
{
	XXH3_128bits_update(st, s, strlen(s) + 1); /* with its NUL: parts never run together */
}

void fs_nifti_key(const char *version, const char *fp, const char *folder,
		  const struct fs_nifti_input *in, size_t n, char key[33])
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_hash_t h;

	if (!st) { /* out of memory: a key no run has, so nothing stale is shown */
		snprintf(key, 33, "%032x", 0);
		return;
	}
	XXH3_128bits_reset(st);
	key_part(st, "fiona-nifti 1");
	key_part(st, version);
	key_part(st, FS_NIFTI_OPTIONS);
	key_part(st, fp);
	key_part(st, folder);
	for (size_t i = 0; i < n; i++) {
		char line[64];

		snprintf(line, sizeof(line), "%llu %08x", (unsigned long long)in[i].size,
			 (unsigned)in[i].crc);
		key_part(st, in[i].name);
		key_part(st, line);
	}
	h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	snprintf(key, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

int fs_nifti_inputs(struct fs_mount *m, const char *fp, int64_t series, struct fs_nifti_input **out,
		    size_t *n)
{
	struct store_deid_file *f = NULL;
	struct fs_nifti_input *v = NULL;
	struct fs_nameset *ns = NULL;
	size_t cnt = 0, k = 0;
	int rc = fs_nameset_new(&ns);

	rc = rc ? rc : store_list_deid_files(m->store, series, fp, &f, &cnt);
	if (!rc && !(v = calloc(cnt ? cnt : 1, sizeof(*v))))
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < cnt; i++) {
		char nm[FS_NAME_MAX + 16];

		fs_name_instance(f[i].number, nm, sizeof(nm));
		if ((rc = fs_nameset_add(ns, nm, sizeof(nm)))) /* named as the folder names it */
			break;
		if (f[i].size == STORE_DERIVED_MISSING || (f[i].size >= 0 && f[i].crc < 0))
			rc = -EAGAIN; /* not kept yet, or no CRC yet */
		else if (f[i].size >= 0) {
			v[k].instance = f[i].id;
			v[k].size = (uint64_t)f[i].size;
			v[k].crc = (uint32_t)f[i].crc;
			snprintf(v[k].name, sizeof(v[k].name), "%s", nm);
			k++;
		}
	}
	fs_nameset_free(ns);
	free(f);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

/* The state of one series folder's NIfTI: its input and key, and the kept run. */
static int series_state(struct fs_mount *m, const char *fp, const struct fs_series_dir *sd,
			bool all_ready, struct fs_nifti_series *o)
{
	struct fs_nifti_input *in = NULL;
	struct store_nifti_run run;
	const char *version = fs_nifti_version(m);
	size_t n = 0;
	int rc;

	memset(o, 0, sizeof(*o));
	o->series = sd->id;
	o->study = sd->study;
	snprintf(o->folder, sizeof(o->folder), "%s", sd->name);
	if (!version[0] || !all_ready ||
	    (rc = fs_nifti_inputs(m, fp, sd->id, &in, &n)) == -EAGAIN) {
		o->state = FS_NIFTI_NOTREADY;
		return 0;
	}
	if (rc)
		return rc;
	if (!n) { /* every file held or dropped: nothing to convert */
		free(in);
		return -ENOENT;
	}
	fs_nifti_key(version, fp, sd->name, in, n, o->key);
	free(in);
	rc = store_nifti_get(m->store, sd->id, &run);
	if (rc == -ENOENT || (!rc && (strcmp(run.key, o->key) || strcmp(run.profile, fp)))) {
		o->state = FS_NIFTI_TODO;
		return 0;
	}
	if (rc)
		return rc;
	o->state = run.failed ? FS_NIFTI_FAILED : FS_NIFTI_READY;
	snprintf(o->reason, sizeof(o->reason), "%s", run.reason);
	return 0;
}

int fs_nifti_event(struct fs_mount *m, const struct fs_place *pl, struct fs_nifti_series **out,
		   size_t *n)
{
	struct fs_series_dir *se = NULL;
	struct fs_nifti_series *v = NULL;
	size_t cnt = 0, k = 0;
	int rc = fs_event_layout(m, pl, &se, &cnt);

	bool all_ready = true;

	if (!rc && !(v = calloc(cnt ? cnt : 1, sizeof(*v))))
		rc = -ENOMEM;
	/* a series prepared later may rename one prepared now (names are unique per modality
	 * folder in catalog order): the event's series are converted once all are prepared */
	for (size_t i = 0; !rc && i < cnt; i++)
		all_ready = all_ready && se[i].ready;
	for (size_t i = 0; !rc && i < cnt; i++) {
		rc = series_state(m, fs_place_fp(pl), &se[i], all_ready, &v[k]);
		if (rc == -ENOENT)
			rc = 0;
		else if (!rc)
			k++;
	}
	free(se);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

int fs_nifti_status(struct fs_mount *m, const struct fs_place *pl, struct buf *b)
{
	struct fs_nifti_series *v = NULL;
	size_t n = 0;
	long done = 0, failed = 0, waiting = 0;
	int rc = fs_nifti_event(m, pl, &v, &n);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (v[i].state == FS_NIFTI_TODO) /* e.g. renamed by a series prepared later */
			fs_nifti_request(m, v[i].study);
		done += v[i].state == FS_NIFTI_READY;
		failed += v[i].state == FS_NIFTI_FAILED;
		waiting += v[i].state == FS_NIFTI_NOTREADY || v[i].state == FS_NIFTI_TODO;
	}
	if (!fs_nifti_version(m)[0])
		rc = buf_appendf(b, "nifti/: dcm2niix is not available: no NIfTI\n");
	else
		rc = buf_appendf(b,
				 "nifti/: %ld of %zu series converted; %ld waiting; %ld could not"
				 " be converted\n",
				 done, n, waiting, failed);
	for (size_t i = 0; !rc && i < n; i++)
		if (v[i].state == FS_NIFTI_FAILED)
			rc = buf_appendf(b, "  series %s: %s\n", v[i].folder, v[i].reason);
	free(v);
	return rc;
}
