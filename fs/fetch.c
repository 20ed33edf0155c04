/*
 * fetch: reads of instance files whose object is on S3 only (no local copy yet). The
 * mount's request threads must not wait for the outside world: op_read hands such a read
 * here and returns, and one of FETCH_THREADS threads fetches the object, reads and
 * replies. A slow or hung S3 store then ties up these threads only, while listings, stat
 * and reads of objects already here are answered as before. The kernel's read-ahead of
 * one file sends several reads at once: the first one fetches, the others wait for it on
 * the handle's lock (on these threads, not on libfuse's).
 *
 * Stopped before the session is unmounted, so no reply is written after the device is
 * closed; a read that comes after the stop is served on its request thread (blocking).
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/fs_int.h"

#define FETCH_THREADS 4

struct fetch_job {
	fuse_req_t req;
	struct fs_fh *fh; /* the kernel holds the file open until this read is answered */
	size_t size;
	off_t off;
	struct fetch_job *next;
};

struct fs_fetch {
	struct fs_mount *m;
	pthread_mutex_t lock; /* guards the queue and stop */
	pthread_cond_t cond;
	struct fetch_job *head, *tail;
	bool stop;
	pthread_t threads[FETCH_THREADS];
	int started;
};

static void *fetch_main(void *arg)
{
	struct fs_fetch *f = arg;
	struct fetch_job *j;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->head && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (!(j = f->head))
			break; /* stopping, and nothing left to answer */
		if (!(f->head = j->next))
			f->tail = NULL;
		pthread_mutex_unlock(&f->lock);
		fs_read_reply(f->m, j->req, j->fh, j->size, j->off);
		free(j);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int fs_fetch_start(struct fs_mount *m)
{
	struct fs_fetch *f = calloc(1, sizeof(*f));
	int rc = 0;

	if (!f)
		return -ENOMEM;
	f->m = m;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	m->fetch = f;
	for (; f->started < FETCH_THREADS && !rc; f->started += !rc)
		rc = -pthread_create(&f->threads[f->started], NULL, fetch_main, f);
	return f->started ? 0 : rc; /* fewer threads still serve */
}

int fs_fetch_queue(struct fs_mount *m, fuse_req_t req, struct fs_fh *fh, size_t size, off_t off)
{
	struct fs_fetch *f = m->fetch;
	struct fetch_job *j = f ? malloc(sizeof(*j)) : NULL;

	if (!j)
		return -ENOMEM; /* served on the request's own thread */
	*j = (struct fetch_job){req, fh, size, off, NULL};
	pthread_mutex_lock(&f->lock);
	if (f->stop) {
		pthread_mutex_unlock(&f->lock);
		free(j);
		return -ESHUTDOWN;
	}
	if (f->tail)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* Answers what is queued (each read is fetched and served), then joins the threads. The
 * request threads may still call fs_fetch_queue (served on their own thread from now on),
 * so the queue itself stays until fs_fetch_free, after the session loop has ended. */
void fs_fetch_stop(struct fs_mount *m)
{
	struct fs_fetch *f = m->fetch;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; i < f->started; i++)
		pthread_join(f->threads[i], NULL);
	f->started = 0;
}

void fs_fetch_free(struct fs_mount *m)
{
	struct fs_fetch *f = m->fetch;

	if (!f)
		return;
	fs_fetch_stop(m);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	m->fetch = NULL;
}
