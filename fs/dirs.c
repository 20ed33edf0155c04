/*
 * dirs: folder listings and their cache. A listing is built when a folder is first
 * looked at, by the indexed catalog queries of that folder alone (build.c), and kept in a
 * cache bounded by its total number of entries (least recently used out first).
 *
 * Validity: each listing depends on one scope (quarantine/, one study, one project, one
 * participant, one event) and remembers the generation of that scope's slot when its
 * build began. The change feed (store_changes_read) names what changed; fs_feed_pump bumps
 * the slots of the scopes each record touches, so a change costs a few slot increments
 * and the listings it touched are built again when next looked at. A slot shared by two
 * scopes (hash collision) costs an extra build, never a stale listing. A feed that was
 * lost (-ESTALE) bumps the epoch: every listing is built again.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#include "fs/fs_int.h"

#define DIR_ENTRIES_MAX (1u << 18) /* all cached listings together */

int fs_dirs_init(struct fs_mount *m)
{
	pthread_mutex_init(&m->feed_lock, NULL);
	m->slots = calloc(FS_SLOTS, sizeof(*m->slots));
	m->dirs_cap = 1024;
	m->dirs = calloc(m->dirs_cap, sizeof(*m->dirs));
	m->dir_entries_max = DIR_ENTRIES_MAX;
	m->cursor = store_change_seq(m->store);
	return m->slots && m->dirs ? 0 : -ENOMEM;
}

static void dir_free(struct fs_dir *d)
{
	if (!d)
		return;
	free(d->e);
	free(d->idx);
	buf_release(&d->arena);
	free(d);
}

void fs_dir_put(struct fs_dir *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1)
		dir_free(d);
}

void fs_dirs_release(struct fs_mount *m)
{
	for (struct fs_dir *d = m->lru_head, *next; d; d = next) {
		next = d->lnext;
		fs_dir_put(d);
	}
	free(m->dirs);
	free((void *)m->slots);
	pthread_mutex_destroy(&m->feed_lock);
}

uint32_t fs_scope_slot(char kind, int64_t study, const char *project, const char *participant,
		       const char *event)
{
	char key[256];
	int n = snprintf(key, sizeof(key), "%c%lld|%s|%s|%s", kind, (long long)study,
			 project ? project : "", participant ? participant : "",
			 event ? event : "");

	n = n < 0 ? 0 : n >= (int)sizeof(key) ? (int)sizeof(key) - 1 : n;
	return (uint32_t)(XXH3_64bits(key, (size_t)n) % (FS_SLOTS - 1)) + 1; /* 0: static */
}

static void bump(struct fs_mount *m, uint32_t slot)
{
	atomic_fetch_add(&m->slots[slot], 1);
}

/* The scopes one record touches: the study's own folders, and the folders of the place it
 * is (or was) at. A change of assignment also changes the folder lists above the event;
 * any change of a study changes its participant's folder, which holds the event zips. */
static void feed_apply(struct fs_mount *m, const struct store_change *c)
{
	if (!c->what)
		return;
	if (c->study)
		bump(m, fs_scope_slot('S', c->study, NULL, NULL, NULL));
	if (!c->project[0]) {
		if (c->study)
			bump(m, fs_scope_slot('Q', 0, NULL, NULL, NULL));
		return;
	}
	if (c->what & (STORE_CHG_ASSIGN | STORE_CHG_PARTICIPANTS | STORE_CHG_REVIEW))
		bump(m, fs_scope_slot('P', 0, c->project, NULL, NULL));
	if (!c->study)
		return;
	bump(m, fs_scope_slot('A', 0, c->project, c->participant, NULL));
	bump(m, fs_scope_slot('E', 0, c->project, c->participant, c->event));
}

/* Studies with a re-sent instance in a batch of records: their files' kernel entries are
 * dropped after the feed lock is released (lock order: m->lock before feed_lock). */
struct replaced {
	int64_t study[16];
	size_t n;
	bool all; /* more than fit: every file node's entry is dropped */
};

static void note_replaced(struct replaced *r, const struct store_change *c)
{
	if (!(c->what & STORE_CHG_REPLACED) || !c->study)
		return;
	for (size_t i = 0; i < r->n; i++)
		if (r->study[i] == c->study)
			return;
	if (r->n < CORE_ARRAY_SIZE(r->study))
		r->study[r->n++] = c->study;
	else
		r->all = true;
}

static void drop_replaced(struct fs_mount *m, const struct replaced *r)
{
	if (!r->n && !r->all)
		return;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < (r->all ? 1 : r->n); i++)
		fs_nodes_inval_study(m, r->all ? 0 : r->study[i]);
	pthread_mutex_unlock(&m->lock);
}

void fs_feed_pump(struct fs_mount *m)
{
	struct store_change batch[64];
	struct replaced rep = {.n = 0};
	uint64_t hint = store_change_hint(m->store);
	size_t n;
	int rc;

	if (hint == atomic_load(&m->hint)) /* nothing committed anywhere since the last read */
		return;
	pthread_mutex_lock(&m->feed_lock);
	atomic_store(&m->hint, hint); /* before reading: a commit after it is seen next time */
	do {
		rc = store_changes_read(m->store, &m->cursor, batch, CORE_ARRAY_SIZE(batch), &n);
		if (rc == -ESTALE) {
			atomic_fetch_add(&m->epoch, 1);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			feed_apply(m, &batch[i]);
			note_replaced(&rep, &batch[i]);
		}
	} while (n == CORE_ARRAY_SIZE(batch));
	pthread_mutex_unlock(&m->feed_lock);
	drop_replaced(m, &rep);
}

static bool dir_valid(struct fs_mount *m, const struct fs_dir *d)
{
	if (d->epoch != atomic_load(&m->epoch))
		return false;
	if (d->slot && atomic_load(&m->slots[d->slot]) != d->gen)
		return false;
	return !d->valid_until || core_now_mono() < d->valid_until;
}

static size_t dslot(const struct fs_mount *m, uint64_t ino)
{
	return (size_t)(ino * 0x9E3779B97F4A7C15ull >> 20) & (m->dirs_cap - 1);
}

static void lru_unlink(struct fs_mount *m, struct fs_dir *d)
{
	if (d->prev)
		d->prev->lnext = d->lnext;
	else
		m->lru_head = d->lnext;
	if (d->lnext)
		d->lnext->prev = d->prev;
	else
		m->lru_tail = d->prev;
	d->prev = d->lnext = NULL;
}

static void lru_push_front(struct fs_mount *m, struct fs_dir *d)
{
	d->lnext = m->lru_head;
	d->prev = NULL;
	if (m->lru_head)
		m->lru_head->prev = d;
	m->lru_head = d;
	if (!m->lru_tail)
		m->lru_tail = d;
}

/* Takes d out of the cache (under m->lock); the cache's reference goes with it. */
static void cache_remove(struct fs_mount *m, struct fs_dir *d)
{
	for (struct fs_dir **pp = &m->dirs[dslot(m, d->ino)]; *pp; pp = &(*pp)->hnext)
		if (*pp == d) {
			*pp = d->hnext;
			break;
		}
	lru_unlink(m, d);
	m->n_dirs--;
	m->dir_entries -= d->n;
	d->cached = false;
	fs_dir_put(d);
}

static struct fs_dir *cache_find(struct fs_mount *m, uint64_t ino)
{
	for (struct fs_dir *d = m->dirs[dslot(m, ino)]; d; d = d->hnext)
		if (d->ino == ino)
			return d;
	return NULL;
}

static void cache_grow(struct fs_mount *m)
{
	size_t cap = m->dirs_cap * 2;
	struct fs_dir **v = calloc(cap, sizeof(*v));

	if (!v)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < m->dirs_cap; i++)
		for (struct fs_dir *d = m->dirs[i], *next; d; d = next) {
			size_t k = (size_t)(d->ino * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);

			next = d->hnext;
			d->hnext = v[k];
			v[k] = d;
		}
	free(m->dirs);
	m->dirs = v;
	m->dirs_cap = cap;
}

/* Puts a fresh listing in the cache in place of an older one (under m->lock). */
static void cache_insert(struct fs_mount *m, struct fs_dir *d)
{
	struct fs_dir *old = cache_find(m, d->ino);
	size_t k;

	if (old)
		cache_remove(m, old);
	while (m->lru_tail && m->dir_entries + d->n > m->dir_entries_max)
		cache_remove(m, m->lru_tail);
	if (m->n_dirs >= m->dirs_cap)
		cache_grow(m);
	k = dslot(m, d->ino);
	atomic_fetch_add(&d->refs, 1); /* the cache's */
	d->hnext = m->dirs[k];
	m->dirs[k] = d;
	d->cached = true;
	lru_push_front(m, d);
	m->n_dirs++;
	m->dir_entries += d->n;
}

static int dir_index(struct fs_dir *d)
{
	d->idx_cap = 8;
	while (d->idx_cap < d->n * 2)
		d->idx_cap *= 2;
	if (!(d->idx = calloc(d->idx_cap, sizeof(*d->idx))))
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		const char *nm = fs_entry_name(d, &d->e[i]);
		size_t k = XXH3_64bits(nm, strlen(nm)) & (d->idx_cap - 1);

		while (d->idx[k])
			k = (k + 1) & (d->idx_cap - 1);
		d->idx[k] = (uint32_t)i + 1;
	}
	return 0;
}

const struct fs_entry *fs_dir_find(const struct fs_dir *d, const char *name)
{
	size_t k;

	if (!d->idx_cap)
		return NULL;
	k = XXH3_64bits(name, strlen(name)) & (d->idx_cap - 1);
	for (; d->idx[k]; k = (k + 1) & (d->idx_cap - 1))
		if (!strcmp(fs_entry_name(d, &d->e[d->idx[k] - 1]), name))
			return &d->e[d->idx[k] - 1];
	return NULL;
}

const struct fs_entry *fs_dir_find_linear(const struct fs_dir *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(fs_entry_name(d, &d->e[i]), name))
			return &d->e[i];
	return NULL;
}

static struct fs_dir *dir_build(struct fs_mount *m, const struct fs_node *n, int *err)
{
	struct fs_dir *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	atomic_init(&d->refs, 1);
	buf_init(&d->arena, (size_t)1 << 30);
	d->ino = n->ino;
	d->slot = fs_build_slot(m, n);
	/* generation first, then the queries: a change during the build leaves the listing
	 * older than its slot, so it is built again, never kept stale */
	d->epoch = atomic_load(&m->epoch);
	d->gen = d->slot ? atomic_load(&m->slots[d->slot]) : 0;
	rc = fs_build(m, n, d);
	rc = rc ? rc : dir_index(d);
	if (rc) {
		dir_free(d);
		*err = rc;
		return NULL;
	}
	return d;
}

struct fs_dir *fs_dir_get(struct fs_mount *m, const struct fs_node *n, int *err)
{
	struct fs_dir *d;

	pthread_mutex_lock(&m->lock);
	d = cache_find(m, n->ino);
	if (d && dir_valid(m, d)) {
		atomic_fetch_add(&d->refs, 1);
		lru_unlink(m, d);
		lru_push_front(m, d);
		pthread_mutex_unlock(&m->lock);
		return d;
	}
	pthread_mutex_unlock(&m->lock);
	if (!(d = dir_build(m, n, err))) /* outside the lock: catalog queries */
		return NULL;
	pthread_mutex_lock(&m->lock);
	if (d->n <= m->dir_entries_max / 4)
		cache_insert(m, d);
	pthread_mutex_unlock(&m->lock);
	return d;
}

int fs_dir_add(struct fs_dir *d, struct fs_nameset *names, const char *name, enum fs_role role,
	       mode_t mode, gid_t gid, int64_t id, struct fs_entry **out)
{
	char nm[FS_NAME_MAX + 16];
	struct fs_entry *e;
	int rc;

	snprintf(nm, sizeof(nm), "%s", name);
	if (names && (rc = fs_nameset_add(names, nm, sizeof(nm))))
		return rc;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct fs_entry *v = realloc(d->e, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->e = v;
		d->cap = cap;
	}
	e = memset(&d->e[d->n], 0, sizeof(*e));
	e->name_off = (uint32_t)d->arena.len;
	if ((rc = buf_append(&d->arena, nm, strlen(nm) + 1)))
		return rc;
	e->role = role;
	e->mode = mode;
	e->gid = gid;
	e->id = id;
	e->event = -1;
	e->ino = fs_ino_of(d->ino, nm, id);
	d->n++;
	if (out)
		*out = e;
	return 0;
}

void fs_entry_version(const struct fs_dir *d, struct fs_entry *e, uint64_t version)
{
	e->ino = fs_ino_of(d->ino, fs_entry_name(d, e), e->id ^ (int64_t)(version >> 1));
}

int fs_dir_text(struct fs_dir *d, struct fs_entry *e, const char *text, size_t len)
{
	int rc;

	e->text_off = (uint32_t)d->arena.len;
	e->text_len = (uint32_t)len;
	if ((rc = buf_append(&d->arena, text, len)) || (rc = buf_append_u8(&d->arena, 0)))
		return rc;
	if (e->role == FS_TEXT || e->role == FS_COUPLING)
		e->size = len;
	return 0;
}
