/*
 * nifti: the NIfTI of export event folders, made by dcm2niix in a background thread
 * (docs/export.md). One dcm2niix at a time, as a subprocess (posix_spawn, no shell), with
 * a timeout; its input is the series' de-identified files exactly as `open` serves them
 * (the kept plans over the objects), written to a 0700 folder under <data_dir>/tmp (never
 * /tmp: the bytes are project data) that is removed afterwards, and named as the series
 * folder names them, so dcm2niix's `-f %f` names the output from the de-identified folder
 * name. Outputs are kept as derived objects with a run row per series (store/nifti.c)
 * under the key of their input (nifti_view.c): unchanged input is never converted again,
 * and a series dcm2niix cannot convert is kept as failed with the reason and not retried
 * until its input changes.
 *
 * Work comes from the change feed (a study assigned, its headers or CRCs kept: a series
 * is converted once each of its files has its CRC), from a scan at start (series without
 * a run under the current export profile), and from listings that find a run missing.
 * Runs of series no longer assigned, or under an export profile no project uses, are
 * removed at start, after an un-assignment and once a minute.
 */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "fs/fs_int.h"

#define NIFTI_TIMEOUT_S	  600.0 /* one series; FIONA_NIFTI_TIMEOUT overrides it */
#define VERSION_TIMEOUT_S 10.0	/* `dcm2niix --version`, at mount start */
#define PRUNE_EVERY_S	  60.0
#define COPY_CHUNK	  ((size_t)1 << 20)
#define OUT_MAX		  ((size_t)4 << 30) /* one output file */
#define MAX_OUTPUTS	  64

struct fs_nifti {
	struct fs_mount *m;
	pthread_t th;
	bool started;
	char exe[256];	       /* dcm2niix, or FIONA_DCM2NIIX */
	char version[64];      /* what `dcm2niix --version` says; "" when it cannot run */
	double timeout;	       /* seconds per series */
	bool prune_due;	       /* the worker's own: runs of studies that left may go */
	uint64_t cursor, hint; /* the worker's place in the change feed */
	pthread_mutex_t lock;  /* guards everything below */
	pthread_cond_t cond;
	struct core_idq queue; /* studies to look at */
	bool stop;
	long runs; /* dcm2niix runs so far (logged with each) */
};

extern char **environ;

const char *fs_nifti_version(const struct fs_mount *m)
{
	return m->nifti ? m->nifti->version : "";
}

static bool stopping(struct fs_nifti *nx)
{
	bool yes;

	pthread_mutex_lock(&nx->lock);
	yes = nx->stop;
	pthread_mutex_unlock(&nx->lock);
	return yes;
}

/* Runs argv (no shell) with stdout and stderr to log, stdin from /dev/null, HOME=home (so
 * no defaults file of the daemon's user applies), in its own process group; kills that
 * group at the timeout or when the mount stops. 0 with *status (waitpid's), or -errno
 * (-ETIMEDOUT). */
static int run_child(struct fs_nifti *nx, char *const argv[], const char *home, const char *log,
		     double seconds, int *status)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	char henv[4200];
	char *envp[] = {henv, "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", NULL};
	double until = core_now_mono() + seconds;
	pid_t pid;
	int rc, st = 0;

	snprintf(henv, sizeof(henv), "HOME=%s", home);
	sigemptyset(&none);
	sigfillset(&def);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	rc = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], &fa, &at, argv, envp)
				  : posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc)
		return -rc;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (core_now_mono() > until || stopping(nx)) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			rc = -ETIMEDOUT;
			break;
		}
		usleep(10000);
	}
	if (!rc)
		*status = st;
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new 0700 work folder under <data_dir>/tmp (out: its path). */
static int work_dir(struct fs_mount *m, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/nifti-XXXXXX", store_tmp_dir(m->store));

	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return mkdtemp(out) ? 0 : -errno;
}

/* Work folders an earlier run left (a crash while dcm2niix ran). */
static void clean_leftovers(struct fs_mount *m)
{
	DIR *d = opendir(store_tmp_dir(m->store));
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4400];

		if (strncmp(e->d_name, "nifti-", 6))
			continue;
		snprintf(path, sizeof(path), "%s/%s", store_tmp_dir(m->store), e->d_name);
		rm_tree(path);
	}
	closedir(d);
}

static void find_version(struct fs_nifti *nx)
{
	char dir[4200], log[4300], *text = NULL, *v;
	char *argv[] = {nx->exe, "--version", NULL};
	size_t len = 0;
	int status = 0;

	nx->version[0] = '\0';
	if (work_dir(nx->m, dir, sizeof(dir)))
		return;
	snprintf(log, sizeof(log), "%s/log", dir);
	if (run_child(nx, argv, dir, log, VERSION_TIMEOUT_S, &status) == 0 && WIFEXITED(status) &&
	    core_read_file(log, 1 << 16, &text, &len) == 0 && (v = strstr(text, "version "))) {
		v += 8;
		len = strcspn(v, " \t\r\n");
		if (len && len < sizeof(nx->version))
			snprintf(nx->version, sizeof(nx->version), "%.*s", (int)len, v);
	}
	free(text);
	rm_tree(dir);
}

/* Writes one de-identified file of the study st, read through its kept plan (as `open`
 * reads it), to path, and checks it against the kept size and CRC the key was made from. */
static int write_input(struct fs_mount *m, const struct fs_place *pl, const struct store_study *st,
		       const struct fs_nifti_input *in, const char *path, uint8_t *chunk)
{
	struct fs_output o;
	uLong crc = crc32(0L, Z_NULL, 0);
	uint64_t off = 0;
	int fd = -1, rc = fs_output_open(m, pl->project, fs_place_fp(pl), st, in->instance, &o);

	if (!rc && (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		rc = -errno;
	while (!rc) {
		ssize_t got = deid_plan_read(o.plan, o.map.fd, off, chunk, COPY_CHUNK);

		if (got <= 0) {
			rc = (int)got;
			break;
		}
		crc = crc32(crc, chunk, (uInt)got);
		rc = core_write_all(fd, chunk, (size_t)got);
		off += (uint64_t)got;
	}
	if (!rc && (off != in->size || (uint32_t)crc != in->crc))
		rc = -ESTALE; /* the kept values changed meanwhile: a new key, a new run */
	if (fd >= 0)
		close(fd);
	fs_output_close(&o); /* again after a failed open: nothing left to release */
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct store_nifti_file *)a)->name,
		      ((const struct store_nifti_file *)b)->name);
}

/* The sidecar filter (nifti_view.c) applied to a .json output in place. */
static int strip_sidecar(const char *path, int *removed)
{
	char *text = NULL;
	size_t len = 0, out = 0;
	int fd, rc = core_read_file(path, 1 << 24, &text, &len);

	if (rc)
		return rc;
	if ((*removed = fs_nifti_sidecar_strip(text, len, &out)) < 0) {
		free(text);
		return -EINVAL;
	}
	if (*removed) {
		fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		rc = fd < 0 ? -errno : core_write_all(fd, text, out);
		if (fd >= 0)
			close(fd);
	}
	free(text);
	return rc;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);

	return n >= k && !strcmp(s + n - k, tail);
}

/* The outputs dcm2niix left in out that fiona keeps: names it may give
 * (fs_nifti_output_name), regular files, sidecars filtered. *n files in f, sorted by
 * name; none and a reason when there is no NIfTI among them or one cannot be kept. */
static int outputs(const char *out, struct store_nifti_file *f, size_t *n, char *reason, size_t cap)
{
	DIR *d = opendir(out);
	struct dirent *e;
	size_t k = 0, images = 0;
	int rc = 0;

	if (!d)
		return -errno;
	while (!rc && !reason[0] && (e = readdir(d))) {
		char path[4700];
		struct stat st;
		int removed = 0;

		snprintf(path, sizeof(path), "%s/%s", out, e->d_name);
		if (!fs_nifti_output_name(e->d_name) || lstat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (k == MAX_OUTPUTS || (uint64_t)st.st_size > OUT_MAX)
			snprintf(reason, cap,
				 "dcm2niix made more than %d files or one over %zu GiB",
				 MAX_OUTPUTS, OUT_MAX >> 30);
		else if (ends_with(e->d_name, ".json") && strip_sidecar(path, &removed))
			snprintf(reason, cap, "its sidecar holds a member fiona cannot take out");
		else if (removed && stat(path, &st))
			rc = -errno;
		if (rc || reason[0])
			break;
		snprintf(f[k].name, sizeof(f[k].name), "%s", e->d_name);
		f[k++].size = st.st_size;
		images += ends_with(e->d_name, ".nii.gz");
	}
	closedir(d);
	if (!rc && !images && !reason[0])
		snprintf(reason, cap, "dcm2niix made no NIfTI of it");
	*n = rc || reason[0] ? 0 : k;
	qsort(f, *n, sizeof(*f), cmp_names);
	return rc;
}

/* Puts each output into the derived objects (their hashes into f); on failure the ones
 * put already are dropped again. */
static int keep_outputs(struct fs_mount *m, const char *out, struct store_nifti_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char path[4700];
		int rc;

		snprintf(path, sizeof(path), "%s/%s", out, f[i].name);
		if ((rc = store_blob_put(m->store, path, f[i].hash))) {
			store_blob_drop(m->store, f, i);
			return rc;
		}
	}
	return 0;
}

/* Converts one series of the study st: input written, dcm2niix run, outputs kept under key. */
static int convert(struct fs_nifti *nx, const struct fs_place *pl, const struct store_study *st,
		   const struct fs_nifti_series *se, uint8_t *chunk)
{
	struct fs_mount *m = nx->m;
	struct fs_nifti_input *in = NULL;
	struct store_nifti_file *files = NULL;
	struct store_nifti_run run = {.series = se->series};
	char dir[4096], src[4400], out[4400], log[4400], path[4700], key[33];
	char *argv[FS_NIFTI_ARGV_MAX], words[sizeof(FS_NIFTI_OPTIONS)];
	size_t n = 0, nf = 0;
	int status = 0, rc = fs_nifti_inputs(m, fs_place_fp(pl), se->series, &in, &n);
	double t0 = core_now_mono();

	if (rc)
		return rc;
	fs_nifti_key(nx->version, fs_place_fp(pl), se->folder, in, n, key);
	if (strcmp(key, se->key)) { /* the input changed since it was looked at */
		free(in);
		return -ESTALE;
	}
	if ((rc = work_dir(m, dir, sizeof(dir)))) {
		free(in);
		return rc;
	}
	snprintf(src, sizeof(src), "%s/%s", dir, se->folder);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	if (mkdir(src, 0700) || mkdir(out, 0700))
		rc = -errno;
	for (size_t i = 0; !rc && i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", src, in[i].name);
		rc = write_input(m, pl, st, &in[i], path, chunk);
	}
	if (rc)
		goto done;
	pthread_mutex_lock(&nx->lock);
	nx->runs++;
	pthread_mutex_unlock(&nx->lock);
	snprintf(run.profile, sizeof(run.profile), "%s", fs_place_fp(pl));
	memcpy(run.key, key, 33);
	fs_nifti_argv(nx->exe, out, src, words, argv);
	rc = run_child(nx, argv, dir, log, nx->timeout, &status);
	if (rc == -ETIMEDOUT && !stopping(nx))
		snprintf(run.reason, sizeof(run.reason), "dcm2niix did not finish in %.0f s",
			 nx->timeout);
	else if (rc)
		goto done;
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		snprintf(run.reason, sizeof(run.reason), "dcm2niix %s %d",
			 WIFEXITED(status) ? "exited with status" : "was killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	rc = 0;
	if (!run.reason[0] && !(files = calloc(MAX_OUTPUTS, sizeof(*files))))
		rc = -ENOMEM;
	if (!rc && !run.reason[0])
		rc = outputs(out, files, &nf, run.reason, sizeof(run.reason));
	rc = rc ? rc : keep_outputs(m, out, files, nf);
	if (rc)
		goto done;
	run.failed = run.reason[0] != '\0';
	rc = store_nifti_put(m->store, se->study, pl->project->cfg->name, pl->participant,
			     fs_project_event(pl->project, pl->event), &run, files, nf);
	if (!rc && run.failed)
		log_msg(m->log, LOG_WARN, "nifti", "series %lld: not converted: %s",
			(long long)se->series, run.reason);
	else if (!rc)
		log_msg(m->log, LOG_INFO, "nifti",
			"series %lld: %zu files from %zu instances in %.2f s (run %ld)",
			(long long)se->series, nf, n, core_now_mono() - t0, nx->runs);
done:
	if (rc && rc != -ESTALE)
		log_msg(m->log, LOG_ERROR, "nifti", "series %lld: %s", (long long)se->series,
			strerror(-rc));
	rm_tree(dir);
	free(files);
	free(in);
	return rc;
}

/* Every series of the study's event folder (export tree) without a run for its input: a
 * series of another study there may have been renamed by one of this study's. */
static void nifti_study(struct fs_nifti *nx, int64_t study, uint8_t *chunk)
{
	struct fs_mount *m = nx->m;
	struct store_study st;
	struct fs_place pl = {.export_tree = true, .event = -1};
	struct fs_nifti_series *v = NULL;
	size_t n = 0;

	if (store_get_study(m->store, study, &st) || !st.project[0]) {
		nx->prune_due = true; /* gone or un-assigned: its runs go */
		return;
	}
	if ((pl.project = fs_project_named(m, st.project)) && !pl.project->cfg->nifti_off &&
	    m->have_secret)
		pl.event = fs_project_event_index(pl.project, st.event);
	snprintf(pl.participant, sizeof(pl.participant), "%s", st.participant);
	if (pl.event >= 0 && fs_nifti_event(m, &pl, &v, &n) == 0)
		for (size_t i = 0; i < n && !stopping(nx); i++)
			if (v[i].state == FS_NIFTI_TODO)
				convert(nx, &pl, &st, &v[i], chunk); /* failures are logged */
	free(v);
	explicit_bzero(&st, sizeof(st));
}

static void prune(struct fs_nifti *nx)
{
	struct fs_mount *m = nx->m;
	const char **keep = calloc(m->n_projects + 1, sizeof(*keep));
	size_t n = 0;
	int k;

	nx->prune_due = false;
	if (!keep)
		return;
	for (size_t i = 0; i < m->n_projects; i++)
		if (!m->projects[i].cfg->nifti_off) /* "nifti": false: its runs go */
			keep[n++] = m->projects[i].fp_export;
	if ((k = store_nifti_prune(m->store, keep, n)) > 0)
		log_msg(m->log, LOG_INFO, "nifti", "%d series' NIfTI no longer used: removed", k);
	free(keep);
}

static void enqueue(struct fs_nifti *nx, int64_t study)
{
	pthread_mutex_lock(&nx->lock);
	if (core_idq_push(&nx->queue, study, false) == 0)
		pthread_cond_broadcast(&nx->cond);
	pthread_mutex_unlock(&nx->lock);
}

static void scan_all(struct fs_nifti *nx)
{
	struct fs_mount *m = nx->m;

	for (size_t i = 0; i < m->n_projects; i++) {
		int64_t *ids = NULL;
		size_t n = 0;

		if (m->projects[i].cfg->nifti_off ||
		    store_nifti_studies_missing(m->store, m->projects[i].cfg->name,
						m->projects[i].fp_export, &ids, &n))
			continue;
		for (size_t j = 0; j < n; j++)
			enqueue(nx, ids[j]);
		free(ids);
	}
}

static void follow_feed(struct fs_nifti *nx)
{
	struct store_change c[64];
	uint64_t hint = store_change_hint(nx->m->store);
	size_t n;

	if (hint == nx->hint)
		return;
	nx->hint = hint;
	do {
		if (store_changes_read(nx->m->store, &nx->cursor, c, CORE_ARRAY_SIZE(c), &n) ==
		    -ESTALE) {
			scan_all(nx);
			nx->prune_due = true;
			return;
		}
		for (size_t i = 0; i < n; i++) {
			if (!c[i].study || !(c[i].what & (STORE_CHG_ASSIGN | STORE_CHG_DERIVED |
							  STORE_CHG_INSTANCES)))
				continue;
			if (c[i].project[0])
				enqueue(nx, c[i].study);
			else if (c[i].what & STORE_CHG_ASSIGN)
				nx->prune_due = true; /* left for the quarantine */
		}
	} while (n == CORE_ARRAY_SIZE(c));
}

static void *nifti_main(void *arg)
{
	struct fs_nifti *nx = arg;
	uint8_t *chunk = malloc(COPY_CHUNK);
	double pruned = core_now_mono();
	int64_t study;

	clean_leftovers(nx->m);
	prune(nx);
	scan_all(nx);
	while (chunk && !stopping(nx)) {
		bool got;

		follow_feed(nx);
		if (nx->prune_due || core_now_mono() - pruned > PRUNE_EVERY_S) {
			prune(nx);
			pruned = core_now_mono();
		}
		pthread_mutex_lock(&nx->lock);
		if (!(got = core_idq_pop(&nx->queue, &study)) && !nx->stop) {
			struct timespec until = core_deadline(0.5);

			pthread_cond_timedwait(&nx->cond, &nx->lock, &until);
		}
		pthread_mutex_unlock(&nx->lock);
		if (got)
			nifti_study(nx, study, chunk);
	}
	free(chunk);
	return NULL;
}

void fs_nifti_request(struct fs_mount *m, int64_t study)
{
	if (m->nifti && m->nifti->started)
		enqueue(m->nifti, study);
}

int fs_nifti_start(struct fs_mount *m)
{
	struct fs_nifti *nx = calloc(1, sizeof(*nx));
	const char *exe = getenv("FIONA_DCM2NIIX"), *t = getenv("FIONA_NIFTI_TIMEOUT");
	int rc;

	if (!nx)
		return -ENOMEM;
	nx->m = m;
	nx->cursor = store_change_seq(m->store); /* before the preparer keeps anything */
	snprintf(nx->exe, sizeof(nx->exe), "%s", exe && exe[0] ? exe : "dcm2niix");
	nx->timeout = t && strtod(t, NULL) > 0 ? strtod(t, NULL) : NIFTI_TIMEOUT_S;
	pthread_mutex_init(&nx->lock, NULL);
	pthread_cond_init(&nx->cond, NULL);
	m->nifti = nx;
	find_version(nx);
	if (!nx->version[0]) {
		log_msg(m->log, LOG_WARN, "nifti", "%s does not run: export/ has no NIfTI",
			nx->exe);
		return 0;
	}
	log_msg(m->log, LOG_INFO, "nifti", "NIfTI by %s %s", nx->exe, nx->version);
	if ((rc = -pthread_create(&nx->th, NULL, nifti_main, nx)))
		return rc;
	nx->started = true;
	return 0;
}

void fs_nifti_stop(struct fs_mount *m)
{
	struct fs_nifti *nx = m->nifti;

	if (!nx)
		return;
	pthread_mutex_lock(&nx->lock);
	nx->stop = true;
	pthread_cond_broadcast(&nx->cond);
	pthread_mutex_unlock(&nx->lock);
	if (nx->started)
		pthread_join(nx->th, NULL);
	pthread_cond_destroy(&nx->cond);
	pthread_mutex_destroy(&nx->lock);
	core_idq_release(&nx->queue);
	free(nx);
	m->nifti = NULL;
}
