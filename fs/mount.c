/*
 * mount: the FUSE session of `fiona serve` — setting it up (groups, profiles, the site
 * secret, a stale mount from a crash cleaned first), running the multi-threaded loop,
 * and the notifier thread that drops kernel entries after renames (doing that inside a
 * handler deadlocks the kernel against libfuse).
 */
#include "core/core.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "fs/fs_int.h"

static gid_t group_gid(struct fs_mount *m, const char *name)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (name && getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res)
		return res->gr_gid;
	log_msg(m->log, LOG_WARN, "mount", "group \"%s\" does not exist: its folders get group %u",
		name ? name : "", (unsigned)getegid());
	return getegid();
}

static int load_profile(struct fs_mount *m, const char *path, struct deid_profile **out)
{
	struct fiona_err err = {0};
	int rc = path ? deid_profile_load(path, out, &err) : deid_profile_new_default(out);

	if (rc)
		log_msg(m->log, LOG_ERROR, "mount", "profile %s: %s", path,
			err.reason[0] ? err.reason : strerror(-rc));
	return rc;
}

/* The key de-identified headers are kept under: the engine version, the profile's bytes,
 * the site secret and the project's pixel settings (a header made over a cleaned copy
 * names that copy). A change of any of them is a new key, so nothing stale is read. */
static int profile_fingerprint(const struct fs_mount *m, const char *path, const char *pixels,
			       char out[33])
{
	char *bytes = NULL;
	size_t len = 0;
	struct buf key;
	XXH128_hash_t h;
	int rc = path ? core_read_file(path, (size_t)1 << 24, &bytes, &len) : 0;

	if (rc)
		return rc;
	buf_init(&key, (size_t)1 << 25);
	rc = buf_appendf(&key, "fiona-plan %d ", DEID_ENGINE_VERSION);
	rc = rc ? rc : buf_append(&key, path ? bytes : "default", path ? len : 7);
	rc = rc ? rc : buf_append(&key, m->secret.key, m->have_secret ? m->secret.len : 0);
	rc = rc ? rc : buf_appendf(&key, " pixels %s", pixels ? pixels : "");
	if (!rc) {
		h = XXH3_128bits(key.data, key.len);
		snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
			 (unsigned long long)h.low64);
	}
	explicit_bzero(key.data, key.len);
	buf_release(&key);
	free(bytes);
	return rc;
}

static int mount_projects(struct fs_mount *m)
{
	const struct fiona_config *c = m->cfg;
	int rc = 0;

	m->projects = calloc(c->n_projects + 1, sizeof(*m->projects));
	if (!m->projects)
		return -ENOMEM;
	for (size_t i = 0; !rc && i < c->n_projects; i++) {
		struct fs_project *p = &m->projects[m->n_projects++];
		const char *ep, *px;

		p->cfg = &c->projects[i];
		if ((rc = fs_project_events_init(p)))
			break;
		ep = p->cfg->export_profile ? p->cfg->export_profile : p->cfg->profile;
		p->gid = group_gid(m, p->cfg->group);
		rc = load_profile(m, p->cfg->profile, &p->profile);
		rc = rc ? rc : load_profile(m, ep, &p->export_profile);
		px = store_pixel_fp(m->store, p->cfg->name);
		rc = rc ? rc : profile_fingerprint(m, p->cfg->profile, px, p->fp);
		rc = rc ? rc : profile_fingerprint(m, ep, px, p->fp_export);
	}
	return rc;
}

void fs_inval_queue(struct fs_mount *m, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&m->inval_lock);
	if (m->n_inval == m->cap_inval) {
		size_t cap = m->cap_inval ? m->cap_inval * 2 : 16;
		struct fs_inval *v = realloc(m->inval, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&m->inval_lock);
			return; /* the entry times out after a second anyway */
		}
		m->inval = v;
		m->cap_inval = cap;
	}
	m->inval[m->n_inval].parent = parent;
	snprintf(m->inval[m->n_inval].name, sizeof(m->inval[0].name), "%s", name);
	m->n_inval++;
	pthread_cond_signal(&m->inval_cond);
	pthread_mutex_unlock(&m->inval_lock);
}

void fs_audit_queue(struct fs_mount *m, uid_t who, const char *action, const char *detail)
{
	struct store_audit_row *r;

	pthread_mutex_lock(&m->inval_lock);
	if (m->n_audit == m->cap_audit) {
		size_t cap = m->cap_audit ? m->cap_audit * 2 : 64;
		struct store_audit_row *v = realloc(m->audit, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&m->inval_lock);
			log_msg(m->log, LOG_ERROR, "mount",
				"audit row lost (out of memory): uid %u %s", (unsigned)who, action);
			return;
		}
		m->audit = v;
		m->cap_audit = cap;
	}
	r = &m->audit[m->n_audit++];
	r->at = time(NULL);
	r->who = who;
	snprintf(r->action, sizeof(r->action), "%s", action);
	snprintf(r->detail, sizeof(r->detail), "%s", detail);
	pthread_mutex_unlock(&m->inval_lock);
}

/* Writes the queued audit rows; called with inval_lock held, returns with it held. */
static void audit_flush(struct fs_mount *m)
{
	struct store_audit_row *rows = m->audit;
	size_t n = m->n_audit;

	if (!n)
		return;
	m->audit = NULL;
	m->n_audit = m->cap_audit = 0;
	pthread_mutex_unlock(&m->inval_lock);
	if (store_audit_many(m->store, rows, n))
		log_msg(m->log, LOG_ERROR, "mount", "cannot write %zu audit rows", n);
	free(rows);
	pthread_mutex_lock(&m->inval_lock);
}

/* The notifier: kernel invalidations (never from inside a handler: that deadlocks the
 * kernel against libfuse), the audit rows of reads once a second, and the change feed
 * while no request comes (so the mount never falls behind the kept rows into a full rebuild). */
static void *notifier_main(void *arg)
{
	struct fs_mount *m = arg;
	struct fs_inval one;
	struct timespec until;

	pthread_mutex_lock(&m->inval_lock);
	while (!m->stopping) {
		if (!m->n_inval) {
			audit_flush(m);
			pthread_mutex_unlock(&m->inval_lock);
			fs_feed_pump(m);
			pthread_mutex_lock(&m->inval_lock);
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&m->inval_cond, &m->inval_lock, &until);
			continue;
		}
		one = m->inval[0];
		memmove(m->inval, m->inval + 1, --m->n_inval * sizeof(*m->inval));
		pthread_mutex_unlock(&m->inval_lock);
		if (one.name[0])
			fuse_lowlevel_notify_inval_entry(m->se, one.parent, one.name,
							 strlen(one.name));
		else
			fuse_lowlevel_notify_inval_inode(m->se, one.parent, 0, 0);
		pthread_mutex_lock(&m->inval_lock);
	}
	audit_flush(m);
	pthread_mutex_unlock(&m->inval_lock);
	return NULL;
}

static void *loop_main(void *arg)
{
	struct fs_mount *m = arg;
	struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = 8};

	fuse_session_loop_mt(m->se, &lc);
	return NULL;
}

static void free_read_buf(void *p)
{
	buf_release(p);
	free(p);
}

/* A mount point whose daemon died answers ENOTCONN: unmount it before mounting again. */
static void clean_stale_mount(struct fs_mount *m, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0 || errno != ENOTCONN)
		return;
	log_msg(m->log, LOG_WARN, "mount", "%s: stale mount of a dead daemon; unmounting it", dir);
	if (umount2(dir, MNT_DETACH) != 0) {
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "fusermount3 -uz '%s' 2>/dev/null", dir);
		if (system(cmd) != 0)
			log_msg(m->log, LOG_ERROR, "mount", "%s: cannot unmount the stale mount",
				dir);
	}
}

static int session_start(struct fs_mount *m)
{
	char *argv[] = {"fiona", "-o", "allow_other,default_permissions,fsname=fiona,subtype=fiona",
			NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	const char *dir = m->cfg->mount_point;

	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		log_msg(m->log, LOG_WARN, "mount", "no /dev/fuse on this machine: no mount");
		return -ENODEV;
	}
	clean_stale_mount(m, dir);
	if (core_mkdir_p(dir, 0755) && errno != EEXIST)
		return -errno;
	m->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), m);
	fuse_opt_free_args(&args); /* libfuse may have copied them (LeakSanitizer) */
	if (!m->se)
		return -EIO;
	if (fuse_session_mount(m->se, dir) != 0) {
		log_msg(m->log, LOG_ERROR, "mount", "%s: cannot mount", dir);
		return -EIO;
	}
	return 0;
}

/* Objects on S3: a first read may have to wait for a fetch, so fetch.c's threads serve
 * those (asked once; where the objects are does not change while the gateway runs). */
static bool objects_remote(struct fs_mount *m)
{
	struct store_objects_state st;

	return store_objects_state(m->store, false, &st) == 0 && st.s3;
}

int fs_mount_start(const struct fiona_config *cfg, struct store *store, struct fiona_log *log,
		   struct fs_mount **out)
{
	struct fs_mount *m = calloc(1, sizeof(*m));
	struct fiona_err err = {0};
	int rc;

	if (!m)
		return -ENOMEM;
	m->cfg = cfg;
	m->store = store;
	m->log = log;
	m->started = time(NULL);
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->inval_lock, NULL);
	pthread_cond_init(&m->inval_cond, NULL);
	pthread_key_create(&m->read_buf, free_read_buf);
	m->admin_gid = group_gid(m, cfg->admin_group);
	m->have_secret =
		cfg->secret_file && deid_secret_load(cfg->secret_file, &m->secret, &err) == 0;
	if (!m->have_secret)
		log_msg(log, LOG_ERROR, "mount",
			"no usable site secret (%s): projects/ cannot be read", err.reason);
	if ((rc = mount_projects(m)) || (rc = fs_nodes_init(m)) || (rc = fs_dirs_init(m)) ||
	    (rc = fs_nodes_static(m)) || (rc = fs_nifti_start(m)) || (rc = fs_prepare_start(m)) ||
	    (rc = objects_remote(m) ? fs_fetch_start(m) : 0) || (rc = fs_review_start(m)) ||
	    (rc = session_start(m)))
		goto fail;
	if ((rc = -pthread_create(&m->notifier, NULL, notifier_main, m)))
		goto fail;
	m->notifier_started = true;
	if ((rc = -pthread_create(&m->loop, NULL, loop_main, m)))
		goto fail;
	m->loop_started = true;
	log_msg(log, LOG_INFO, "mount", "mounted at %s", cfg->mount_point);
	*out = m;
	return 0;
fail:
	fs_mount_stop(m);
	return rc;
}

void fs_mount_stop(struct fs_mount *m)
{
	if (!m)
		return;
	fs_fetch_stop(m); /* its replies go out before the device is closed */
	if (m->se) {
		fuse_session_exit(m->se);
		fuse_session_unmount(m->se); /* wakes the loop: its reads return ENODEV */
	}
	if (m->loop_started)
		pthread_join(m->loop, NULL);
	pthread_mutex_lock(&m->inval_lock);
	m->stopping = true;
	pthread_cond_signal(&m->inval_cond);
	pthread_mutex_unlock(&m->inval_lock);
	if (m->notifier_started)
		pthread_join(m->notifier, NULL);
	if (m->se)
		fuse_session_destroy(m->se);
	fs_fetch_free(m);
	fs_review_stop(m);
	fs_nifti_stop(m);
	fs_prepare_stop(m);
	if (m->nodes)
		fs_nodes_release(m);
	if (m->slots)
		fs_dirs_release(m);
	for (size_t i = 0; i < m->n_projects; i++) {
		deid_profile_free(m->projects[i].profile);
		deid_profile_free(m->projects[i].export_profile);
		fs_project_events_release(&m->projects[i]);
	}
	free(m->projects);
	free(m->inval);
	free(m->audit);
	pthread_key_delete(m->read_buf);
	explicit_bzero(&m->secret, sizeof(m->secret));
	free(m);
}
