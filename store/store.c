/*
 * store: opening and closing the store (catalog + object store), its change counter,
 * and the counts `fiona status` shows.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

/* Temporaries are renamed into the objects: both folders must be on one filesystem. */
static int same_filesystem(struct store *s, struct fiona_err *err)
{
	struct stat a, b;

	if (fstat(s->objects_fd, &a) || stat(s->tmp, &b))
		return err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", s->tmp,
			       strerror(errno));
	if (a.st_dev != b.st_dev)
		return err_set(err, -EXDEV, CORE_NO_OFFSET, CORE_NO_TAG,
			       "objects: %s is not on the filesystem of %s (data_dir): received "
			       "files are renamed into it",
			       s->objects, s->tmp);
	return 0;
}

/* This gateway's name (configured, else the host name) and its lease prefix. */
static void gateway_name(struct store *s)
{
	const char *g = s->cfg->shared.gateway;
	char host[64] = "gateway";

	if (!g && gethostname(host, sizeof(host) - 1) == 0)
		host[sizeof(host) - 1] = '\0';
	snprintf(s->gateway, sizeof(s->gateway), "%s", g ? g : host);
	snprintf(s->lease_prefix, sizeof(s->lease_prefix), "%s/%lld.", s->gateway,
		 (long long)time(NULL));
	s->lease_s = s->cfg->shared.lease_seconds > 0 ? s->cfg->shared.lease_seconds : 60;
}

int store_open(const struct fiona_config *cfg, struct fiona_log *log, struct store **out,
	       struct fiona_err *err)
{
	struct store *s = calloc(1, sizeof(*s));
	char db[4200];
	int rc;

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->log = log;
	s->rc_on = cfg->redcap != NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	ingest_init(s);
	if ((rc = feed_init(s))) {
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
		goto fail;
	}
	/* objects on S3 keep their local copies (and the spool) in <data_dir>/objects */
	if (cfg->shared.objects && !strncmp(cfg->shared.objects, "dir:", 4))
		snprintf(s->objects, sizeof(s->objects), "%s", cfg->shared.objects + 4);
	else
		snprintf(s->objects, sizeof(s->objects), "%s/objects", cfg->data_dir);
	snprintf(s->tmp, sizeof(s->tmp), "%s/tmp", cfg->data_dir);
	if (cfg->shared.catalog)
		snprintf(db, sizeof(db), "%s", cfg->shared.catalog);
	else
		snprintf(db, sizeof(db), "%s/catalog.db", cfg->data_dir);
	gateway_name(s);
	if ((rc = core_mkdir_p(s->objects, 0700)) || (rc = core_mkdir_p(s->tmp, 0700))) {
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: cannot create: %s",
			cfg->data_dir, strerror(-rc));
		goto fail;
	}
	if ((s->objects_fd = open(s->objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", s->objects, strerror(-rc));
		goto fail;
	}
	if ((rc = same_filesystem(s, err)))
		goto fail;
	if ((rc = fault_init(s, err)) || (rc = cat_open(s, db, err)) ||
	    (rc = pixels_init(s, err)) || (rc = obj_s3_open(s, err)))
		goto fail;
	obj_clean_tmp(s);
	s->fault.armed = s->fault.on;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	obj_s3_close(s);
	cat_close(s);
	fault_release(s);
	if (s->objects_fd >= 0)
		close(s->objects_fd);
	ingest_release(s);
	feed_release(s);
	free(s->pixel_fp);
	free(s->holds);
	pthread_mutex_destroy(&s->rlock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

bool store_catalog_reachable(struct store *s)
{
	bool ok;

	pthread_mutex_lock(&s->lock);
	ok = db_reachable(s->db);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->rlock); /* the mount's lookups notice it first */
	ok = ok && db_reachable(s->rdb);
	pthread_mutex_unlock(&s->rlock);
	return ok;
}

const char *store_tmp_dir(const struct store *s)
{
	return s->tmp;
}

void store_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static long count_of(struct store *s, const char *sql)
{
	struct db_stmt *st = NULL;
	long n = -1;

	if (cat_prepare(s, sql, &st))
		return -1;
	if (db_step(st) == DB_ROW)
		n = (long)db_column_int64(st, 0);
	db_finalize(st);
	return n;
}

int store_counts(struct store *s, struct store_counts *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&s->lock);
	c->studies = count_of(s, "SELECT count(*) FROM studies");
	c->assigned = count_of(s, "SELECT count(*) FROM assignments");
	c->quarantine = count_of(s, "SELECT count(*) FROM studies WHERE id NOT IN"
				    " (SELECT study FROM assignments)");
	c->series = count_of(s, "SELECT count(*) FROM series");
	c->instances = count_of(s, "SELECT count(*) FROM instances");
	c->objects = count_of(s, "SELECT count(*) FROM objects");
	c->object_bytes = (uint64_t)count_of(s, "SELECT coalesce(sum(size),0) FROM objects");
	c->versions = count_of(s, "SELECT count(*) FROM instance_versions");
	c->conflicts = count_of(s, "SELECT count(*) FROM (SELECT sop_uid FROM instances"
				   " GROUP BY sop_uid HAVING count(*) > 1)");
	c->queued = count_of(s, "SELECT count(*) FROM transfers WHERE state IN ('queued','sending',"
				"'waiting')");
	c->sent = count_of(s, "SELECT count(*) FROM transfers WHERE state='sent'");
	c->verified = count_of(s, "SELECT count(*) FROM transfers WHERE state='verified'");
	c->failed = count_of(s, "SELECT count(*) FROM transfers WHERE state='failed'");
	c->held = count_of(s, "SELECT count(*) FROM transfers WHERE state IN ('held','dropped')");
	c->px_cleaned = count_of(s, "SELECT count(*) FROM cleaned WHERE state='cleaned'");
	c->px_held = count_of(s, "SELECT count(*) FROM cleaned WHERE state='held'");
	c->px_skipped = count_of(s, "SELECT count(*) FROM cleaned WHERE state='skipped'");
	pthread_mutex_unlock(&s->lock);
	return c->studies < 0 ? -EIO : 0;
}
