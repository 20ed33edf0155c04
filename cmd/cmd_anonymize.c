/*
 * fiona anonymize: de-identifies files and folders into OUTDIR with the engine the mount
 * and the forwarder use (anon/deid.c), for one project, participant and event.
 *
 * Output layout: a file argument becomes OUTDIR/<its name>; the files under a folder
 * argument keep their paths relative to that folder. Each output is written under a
 * temporary name and renamed, so OUTDIR never holds half a file. Workers (-j) take files
 * from a shared counter; every file that fails is reported as FILE: offset: tag: reason
 * and the others go on. uid-map.csv and patient-map.csv (the coupling list: original
 * identifiers next to pseudonyms) go to a separate 0700 folder, --maps or OUTDIR.maps
 * beside OUTDIR, never into OUTDIR: whoever copies OUTDIR to a collaborator must not ship
 * them. They are sorted, so two runs over the same input with the same secret give
 * byte-identical output and maps.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anon/anon.h"
#include "cmd/cmd.h"
#include "cmd/anon_files.h"

struct anon_worker {
	struct anon_run *run;
	struct buf uids;	/* "old,new\n" lines */
	struct buf patients;	/* "old,new\n" lines */
	struct ocr_engine *ocr; /* made at the worker's first candidate; owned */
	pthread_t thread;
};

struct anon_run {
	struct deid_job job;
	struct anon_files files;
	const char *outdir;
	bool keep_pixels, all_text;	/* --keep-pixels, --all-text */
	const struct burn_rules *rules; /* --pixel-rules; borrowed */
	atomic_size_t next, done, failed, burned_in, cleaned, held;
	pthread_mutex_t err_lock; /* one error line at a time on stderr */
};

static void on_uid(void *opaque, const char *old_uid, const char *new_uid)
{
	struct anon_worker *w = opaque;

	buf_appendf(&w->uids, "%s,%s\n", old_uid, new_uid);
}

static void report(struct anon_run *run, const char *path, const struct fiona_err *err)
{
	char line[1024];

	err_format(err, path, line, sizeof(line));
	pthread_mutex_lock(&run->err_lock);
	fprintf(stderr, "\r%s\n", line);
	pthread_mutex_unlock(&run->err_lock);
	atomic_fetch_add(&run->failed, 1);
}

/* Writes the plan to out_path through a temporary name in the same folder. */
static int write_output(const struct deid_plan *plan, int src_fd, const char *out_path)
{
	char tmp[4300];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.fiona-tmp", out_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = deid_plan_materialize(plan, src_fd, fd);
	if (close(fd) != 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, out_path) != 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* A candidate for burned-in text: its pixels cleaned and checked (anon/burn.c) into an
 * anonymous memory file (nothing identifying touches a filesystem), which the plan then
 * reads from. A candidate that cannot be cleaned is held: not written, named with why. */
static int clean_candidate(struct anon_worker *w, const struct core_map *m, int *fd,
			   uint8_t **clean, size_t *len, struct fiona_err *err)
{
	struct burn_report rep;
	int rc = w->ocr ? 0 : ocr_engine_new(&w->ocr, err);

	rc = rc ? rc
		: burn_clean_instance(w->ocr, w->run->rules, w->run->all_text, m->p, m->len, clean,
				      len, &rep, err);
	if (!rc && (*fd = memfd_create("fiona-clean", MFD_CLOEXEC)) < 0)
		rc = err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "memfd: %s",
			     strerror(errno));
	if (!rc && (rc = core_write_all(*fd, *clean, *len)))
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "memfd: %s", strerror(-rc));
	if (rc && rc != -ENOMEM)
		atomic_fetch_add(&w->run->held, 1);
	return rc;
}

static int anonymize_one(struct anon_worker *w, const struct anon_file *f, struct deid_job *job)
{
	struct deid_outcome o;
	struct deid_plan *plan = NULL;
	struct fiona_err err = {0};
	struct core_map m;
	char out_path[4200];
	uint8_t *clean = NULL;
	size_t clean_len = 0;
	int rc = core_map_file(f->path, &m), src = m.fd, cfd = -1;

	if (rc) {
		err_set(&err, rc, 0, 0, "cannot read: %s", strerror(-rc));
		goto fail;
	}
	job->pixels_cleaned = false;
	rc = deid_instance_plan(job, m.p, m.len, &plan, &o, &err);
	if (!rc && o.burned_in && !w->run->keep_pixels) {
		deid_plan_free(plan);
		plan = NULL;
		rc = clean_candidate(w, &m, &cfd, &clean, &clean_len, &err);
		job->pixels_cleaned = true;
		rc = rc ? rc : deid_instance_plan(job, clean, clean_len, &plan, &o, &err);
		src = cfd;
		if (!rc)
			atomic_fetch_add(&w->run->cleaned, 1);
	}
	if (!rc) {
		snprintf(out_path, sizeof(out_path), "%s/%s", w->run->outdir, f->rel);
		rc = anon_files_mkdir_for(out_path);
		rc = rc ? rc : write_output(plan, src, out_path);
		if (rc)
			err_set(&err, rc, 0, 0, "cannot write %s: %s", out_path, strerror(-rc));
	}
	if (!rc && o.old_patient_id[0])
		buf_appendf(&w->patients, "%s,%s\n", o.old_patient_id, job->participant);
	if (!rc && o.burned_in)
		atomic_fetch_add(&w->run->burned_in, 1);
	deid_plan_free(plan);
	if (cfd >= 0)
		close(cfd);
	if (clean)
		explicit_bzero(clean, clean_len);
	free(clean);
	core_map_release(&m);
fail:
	if (rc)
		report(w->run, f->path, &err);
	return rc;
}

static void progress(struct anon_run *run, bool last)
{
	pthread_mutex_lock(&run->err_lock);
	fprintf(stderr, "\ranonymize: %zu/%zu files, %zu failed%s", atomic_load(&run->done),
		run->files.n, atomic_load(&run->failed), last ? "\n" : "");
	pthread_mutex_unlock(&run->err_lock);
}

/* Workers take the next file until none is left. The first worker runs on the main
 * thread and, on a terminal, redraws the progress line at most every 0.2 s. */
static void anon_work(struct anon_worker *w, bool show)
{
	struct anon_run *run = w->run;
	struct deid_job job = run->job; /* per worker: on_uid writes into this worker's buffer */
	double last = 0;
	size_t i;

	job.on_uid = on_uid;
	job.opaque = w;
	while ((i = atomic_fetch_add(&run->next, 1)) < run->files.n) {
		anonymize_one(w, &run->files.v[i], &job);
		atomic_fetch_add(&run->done, 1);
		if (show && core_now_mono() - last > 0.2) {
			progress(run, false);
			last = core_now_mono();
		}
	}
}

static void *anon_worker_main(void *arg)
{
	anon_work(arg, false);
	return NULL;
}

static int run_workers(struct anon_run *run, struct anon_worker *ws, int jobs)
{
	bool tty = isatty(STDERR_FILENO);
	int started = 1;

	for (int i = 0; i < jobs; i++) {
		ws[i].run = run;
		buf_init(&ws[i].uids, (size_t)1 << 31);
		buf_init(&ws[i].patients, (size_t)1 << 24);
	}
	for (; started < jobs; started++)
		if (pthread_create(&ws[started].thread, NULL, anon_worker_main, &ws[started]))
			break; /* fewer workers: the rest of the files still get done */
	anon_work(&ws[0], tty);
	for (int i = 1; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	if (tty)
		progress(run, true);
	return 0;
}

/* Runs into the same maps folder (one per participant) add to its maps instead of
 * replacing them: the lines of an existing map, without its header, join the new ones. */
static int append_existing(struct buf *all, const char *path, size_t header_len)
{
	char *old = NULL;
	size_t len = 0;
	int rc = core_read_file(path, (size_t)1 << 31, &old, &len);

	if (rc == -ENOENT)
		return 0;
	if (!rc && len > header_len)
		rc = buf_append(all, old + header_len, len - header_len);
	free(old);
	return rc;
}

/* Concatenates the workers' lines, sorts them and writes each distinct line once. */
static int write_map(const char *dir, const char *name, const char *header, struct anon_worker *ws,
		     int jobs, bool patients)
{
	struct buf all;
	char path[4200];
	int rc = 0;

	buf_init(&all, (size_t)1 << 32);
	rc = buf_append(&all, header, strlen(header));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!rc)
		rc = append_existing(&all, path, strlen(header));
	for (int i = 0; i < jobs && !rc; i++) {
		struct buf *b = patients ? &ws[i].patients : &ws[i].uids;

		rc = buf_append(&all, b->data ? b->data : (const uint8_t *)"", b->len);
	}
	if (!rc)
		rc = anon_files_sort_unique_lines(&all, strlen(header));
	if (!rc)
		rc = core_write_file_atomic(path, all.data, all.len, 0600);
	if (rc)
		fprintf(stderr, "fiona anonymize: cannot write %s: %s\n", path, strerror(-rc));
	buf_release(&all);
	return rc;
}

struct anon_opts {
	const char *outdir, *maps, *project, *participant, *event, *profile, *secret, *pixel_rules;
	int jobs;
	bool keep_pixels, all_text;
};

static int parse_opts(int argc, char **argv, struct anon_opts *o)
{
	static const struct option longs[] = {
		{"project", required_argument, NULL, 'p'},
		{"participant", required_argument, NULL, 'i'},
		{"event", required_argument, NULL, 'e'},
		{"profile", required_argument, NULL, 'f'},
		{"secret", required_argument, NULL, 's'},
		{"jobs", required_argument, NULL, 'j'},
		{"keep-pixels", no_argument, NULL, 'K'},
		{"all-text", no_argument, NULL, 'A'},
		{"pixel-rules", required_argument, NULL, 'R'},
		{"maps", required_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	long n;
	int c;

	*o = (struct anon_opts){.secret = "var/secret", .jobs = 2};
	while ((c = getopt_long(argc, argv, "o:j:", longs, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->outdir = optarg;
			break;
		case 'p':
			o->project = optarg;
			break;
		case 'i':
			o->participant = optarg;
			break;
		case 'e':
			o->event = optarg;
			break;
		case 'f':
			o->profile = optarg;
			break;
		case 's':
			o->secret = optarg;
			break;
		case 'j':
			if (core_parse_long(optarg, 1, 64, &n))
				return -EINVAL;
			o->jobs = (int)n;
			break;
		case 'K':
			o->keep_pixels = true;
			break;
		case 'A':
			o->all_text = true;
			break;
		case 'R':
			o->pixel_rules = optarg;
			break;
		case 'M':
			o->maps = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!o->outdir || !o->project || !o->participant || optind >= argc)
		return -EINVAL;
	return 0;
}

static int load_keys(const struct anon_opts *o, struct deid_profile **prof, struct deid_secret *s)
{
	struct fiona_err err = {0};
	int rc = o->profile ? deid_profile_load(o->profile, prof, &err)
			    : deid_profile_new_default(prof);

	if (rc) {
		fprintf(stderr, "fiona anonymize: %s: %s\n", o->profile ? o->profile : "profile",
			err.reason[0] ? err.reason : strerror(-rc));
		return rc;
	}
	rc = deid_secret_load(o->secret, s, &err);
	if (rc) {
		fprintf(stderr, "fiona anonymize: %s: %s\n", o->secret,
			err.reason[0] ? err.reason : strerror(-rc));
		if (rc == -ENOENT)
			fprintf(stderr,
				"  create one with: umask 077; head -c 32 /dev/urandom > %s\n",
				o->secret);
	}
	return rc;
}

/* The maps folder: made 0700 when new. One that exists and that others can open is
 * refused, not changed: it is the user's folder, and an earlier run's maps may be in it. */
static int maps_dir_make(const char *dir)
{
	struct stat st;
	int rc = core_mkdir_p(dir, 0700);

	if (!rc && stat(dir, &st) != 0)
		rc = -errno;
	if (!rc && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc) {
		fprintf(stderr, "fiona anonymize: cannot make the maps folder %s: %s\n", dir,
			strerror(-rc));
		return rc;
	}
	if (st.st_mode & 077) {
		fprintf(stderr,
			"fiona anonymize: the maps folder %s can be opened by others, and the maps "
			"hold original identifiers: chmod 700 %s\n",
			dir, dir);
		return -EPERM;
	}
	return 0;
}

static void summary(const struct anon_run *run, const struct anon_opts *o, const char *maps)
{
	fprintf(stderr,
		"fiona anonymize: maps (original identifiers) in %s, outside the output: keep "
		"them apart from the data\n",
		maps);
	if (o->keep_pixels)
		fprintf(stderr,
			"fiona anonymize: %zu files, %zu failed, %zu may carry burned-in text "
			"(pixels not cleaned: --keep-pixels)\n",
			run->files.n, atomic_load(&run->failed), atomic_load(&run->burned_in));
	else
		fprintf(stderr,
			"fiona anonymize: %zu files, %zu failed; %zu burned-in text candidates "
			"cleaned, %zu held (not written)\n",
			run->files.n, atomic_load(&run->failed), atomic_load(&run->cleaned),
			atomic_load(&run->held));
}

int cmd_anonymize(int argc, char **argv)
{
	char maps[PATH_MAX];
	struct anon_opts o;
	struct deid_profile *prof = NULL;
	struct deid_secret secret;
	struct anon_run run = {0};
	struct anon_worker *ws = NULL;
	struct burn_rules *rules = NULL;
	struct fiona_err err = {0};
	int rc, status = 1;

	if (parse_opts(argc, argv, &o)) {
		fprintf(stderr,
			"usage: fiona anonymize -o OUTDIR [--maps DIR (default OUTDIR.maps)] "
			"--project P --participant ID [--event E] [--profile FILE] [--secret FILE] "
			"[-j N] [--keep-pixels | --all-text] [--pixel-rules FILE] INPUT...\n");
		return 2;
	}
	if (load_keys(&o, &prof, &secret))
		goto out;
	if ((rc = deid_job_init(&run.job, prof, &secret, o.project, o.participant, o.event))) {
		fprintf(stderr, "fiona anonymize: %s\n", strerror(-rc));
		goto out;
	}
	run.outdir = o.outdir;
	run.keep_pixels = o.keep_pixels;
	run.all_text = o.all_text;
	if (o.pixel_rules && burn_rules_load(o.pixel_rules, &rules, &err)) {
		fprintf(stderr, "fiona anonymize: %s\n", err.reason);
		goto out;
	}
	run.rules = rules;
	pthread_mutex_init(&run.err_lock, NULL);
	if (anon_files_maps_dir(o.outdir, o.maps, maps, sizeof(maps)) || maps_dir_make(maps))
		goto out;
	if (core_mkdir_p(o.outdir, 0755) ||
	    anon_files_collect(&run.files, argv + optind, argc - optind) || !run.files.n) {
		fprintf(stderr, "fiona anonymize: nothing to do (no files, or %s cannot be made)\n",
			o.outdir);
		goto out;
	}
	ws = calloc((size_t)o.jobs, sizeof(*ws));
	if (!ws)
		goto out;
	run_workers(&run, ws, o.jobs);
	if (write_map(maps, "uid-map.csv", "id_old,id_new\n", ws, o.jobs, false) ||
	    write_map(maps, "patient-map.csv", "id_old,id_new\n", ws, o.jobs, true))
		goto out;
	summary(&run, &o, maps);
	status = atomic_load(&run.failed) ? 1 : 0;
out:
	for (int i = 0; ws && i < o.jobs; i++) {
		buf_release(&ws[i].uids);
		buf_release(&ws[i].patients);
		ocr_engine_free(ws[i].ocr);
	}
	burn_rules_free(rules);
	free(ws);
	anon_files_release(&run.files);
	deid_profile_free(prof);
	explicit_bzero(&secret, sizeof(secret));
	return status;
}
