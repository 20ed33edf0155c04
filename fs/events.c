/*
 * events: the event folders a project shows. The configuration's events come first (their
 * index is their place in the file); events REDCap gives a project (its own REDCap's
 * `content=event`, which `mv` and transfer requests may name) are interned here the first
 * time a participant's assignments name one, and keep their index for the mount's life,
 * so a node's place can keep an index instead of a copy of the name.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/fs_int.h"

const char *fs_project_event(const struct fs_project *p, int i)
{
	size_t n = p->cfg->n_events;

	if (i < 0)
		return NULL;
	if ((size_t)i < n)
		return p->cfg->events[i];
	if ((size_t)i - n < atomic_load(&p->extra->n))
		return p->extra->name[(size_t)i - n];
	return NULL;
}

int fs_project_event_index(const struct fs_project *p, const char *name)
{
	struct fs_extra_events *x = p->extra;
	size_t n = p->cfg->n_events, k;
	char *copy;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(p->cfg->events[i], name))
			return (int)i;
	pthread_mutex_lock(&x->lock);
	for (k = 0; k < x->n; k++)
		if (!strcmp(x->name[k], name))
			break;
	if (k == x->n) {
		/* published after the name is written: readers load n, then read below it */
		if (k == CORE_ARRAY_SIZE(x->name) || !(copy = strdup(name))) {
			pthread_mutex_unlock(&x->lock);
			return -ENOSPC;
		}
		x->name[k] = copy;
		atomic_store(&x->n, k + 1);
	}
	pthread_mutex_unlock(&x->lock);
	return (int)(n + k);
}

int fs_project_events_init(struct fs_project *p)
{
	if (!(p->extra = calloc(1, sizeof(*p->extra))))
		return -ENOMEM;
	pthread_mutex_init(&p->extra->lock, NULL);
	return 0;
}

void fs_project_events_release(struct fs_project *p)
{
	if (!p->extra)
		return;
	for (size_t i = 0; i < p->extra->n; i++)
		free(p->extra->name[i]);
	pthread_mutex_destroy(&p->extra->lock);
	free(p->extra);
	p->extra = NULL;
}
