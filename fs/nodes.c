/*
 * nodes: the inodes the kernel knows. A node is made when a LOOKUP answers with it and
 * counted per answer; FORGET gives the counts back and the node goes with the last one, so
 * the table holds the kernel's working set (what it caches), never the catalog.
 *
 * Inode numbers are a hash of the node's name and, for catalog objects, their id, seeded
 * with the parent's inode: a function of the path and of what it shows. So a file keeps
 * its inode across rebuilt listings and restarts (the kernel's page cache stays valid with
 * keep_cache), and a path that now shows something else (a re-assigned series, another
 * instance) gets a new inode, never stale cached pages.
 *
 * Locking: every function here runs under m->lock.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "fs/fs_int.h"

uint64_t fs_ino_of(uint64_t parent, const char *name, int64_t id)
{
	uint64_t seed = parent ^ ((uint64_t)id * 0x9E3779B97F4A7C15ull);
	uint64_t h = XXH3_64bits_withSeed(name, strlen(name), seed);

	return h <= FUSE_ROOT_ID ? h + 2 : h; /* 0 is invalid, 1 is the root */
}

struct fs_place *fs_place_new(const struct fs_project *p, bool export_tree, int event,
			      const char *participant)
{
	struct fs_place *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	atomic_init(&pl->refs, 1);
	pl->project = p;
	pl->export_tree = export_tree;
	pl->event = event;
	snprintf(pl->participant, sizeof(pl->participant), "%s", participant ? participant : "");
	return pl;
}

void fs_place_put(struct fs_place *pl)
{
	if (pl && atomic_fetch_sub(&pl->refs, 1) == 1)
		free(pl);
}

static struct fs_place *place_ref(struct fs_place *pl)
{
	if (pl)
		atomic_fetch_add(&pl->refs, 1);
	return pl;
}

static size_t slot_of(const struct fs_mount *m, uint64_t ino)
{
	return (size_t)(ino * 0x9E3779B97F4A7C15ull >> 20) & (m->nodes_cap - 1);
}

static int nodes_grow(struct fs_mount *m)
{
	size_t cap = m->nodes_cap * 2, old_cap = m->nodes_cap;
	struct fs_node **old = m->nodes, **v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	m->nodes = v;
	m->nodes_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		for (struct fs_node *n = old[i], *next; n; n = next) {
			size_t k = slot_of(m, n->ino);

			next = n->next;
			n->next = m->nodes[k];
			m->nodes[k] = n;
		}
	free(old);
	return 0;
}

int fs_nodes_init(struct fs_mount *m)
{
	m->nodes_cap = 1024;
	m->nodes = calloc(m->nodes_cap, sizeof(*m->nodes));
	return m->nodes ? 0 : -ENOMEM;
}

static void node_free(struct fs_node *n)
{
	if (n)
		fs_place_put(n->place);
	free(n);
}

void fs_nodes_release(struct fs_mount *m)
{
	for (size_t i = 0; i < m->nodes_cap; i++)
		for (struct fs_node *n = m->nodes[i], *next; n; n = next) {
			next = n->next;
			node_free(n);
		}
	free(m->nodes);
	m->nodes = NULL;
}

size_t fs_nodes_inval_study(struct fs_mount *m, int64_t study)
{
	size_t k = 0;

	for (size_t i = 0; i < m->nodes_cap; i++)
		for (struct fs_node *n = m->nodes[i]; n; n = n->next)
			if ((n->role == FS_DEID || n->role == FS_ORIGINAL) &&
			    (!study || n->study == study)) {
				fs_inval_queue(m, n->parent, n->name);
				k++;
			}
	return k;
}

struct fs_node *fs_node_find(struct fs_mount *m, uint64_t ino)
{
	for (struct fs_node *n = m->nodes[slot_of(m, ino)]; n; n = n->next)
		if (n->ino == ino)
			return n;
	return NULL;
}

static struct fs_node *node_insert(struct fs_mount *m, struct fs_node *n)
{
	size_t k;

	if (m->n_nodes >= m->nodes_cap && nodes_grow(m)) {
		node_free(n);
		return NULL;
	}
	k = slot_of(m, n->ino);
	n->next = m->nodes[k];
	m->nodes[k] = n;
	m->n_nodes++;
	return n;
}

/* The place a child of parent carries: a participant folder (or its zip), an event folder
 * (or an event's zip) starts a new one,
 * everything else shares its parent's. */
static struct fs_place *child_place(const struct fs_node *parent, const struct fs_dir *dir,
				    const struct fs_entry *e)
{
	const struct fs_place *pp = parent->place;

	if ((e->role == FS_PARTICIPANT || e->role == FS_PZIP) && pp)
		return fs_place_new(pp->project, pp->export_tree, -1,
				    (const char *)dir->arena.data + e->text_off);
	if ((e->role == FS_EVENT || e->role == FS_ZIP) && pp)
		return fs_place_new(pp->project, pp->export_tree, e->event, pp->participant);
	return place_ref(parent->place);
}

struct fs_node *fs_node_ref(struct fs_mount *m, const struct fs_node *parent,
			    const struct fs_dir *dir, const struct fs_entry *e, bool counted)
{
	const char *name = fs_entry_name(dir, e);
	struct fs_node *n = fs_node_find(m, e->ino);
	size_t len = strlen(name);

	if (n) {
		n->size = e->size;	/* texts change size under the same inode */
		if (e->role == FS_PZIP) /* and a participant zip its layout */
			n->id = e->id;
		n->nlookup += counted;
		return n;
	}
	if (!(n = calloc(1, sizeof(*n) + len + 1)))
		return NULL;
	n->ino = e->ino;
	n->parent = parent->ino;
	n->nlookup = counted;
	n->role = e->role;
	n->mode = e->mode;
	n->gid = e->gid;
	n->size = e->size;
	n->id = e->id;
	n->study = e->study;
	memcpy(n->name, name, len + 1);
	if (parent->place && !(n->place = child_place(parent, dir, e))) {
		free(n);
		return NULL;
	}
	return node_insert(m, n);
}

void fs_node_forget(struct fs_mount *m, uint64_t ino, uint64_t count)
{
	struct fs_node **pp = &m->nodes[slot_of(m, ino)];

	for (; *pp; pp = &(*pp)->next) {
		struct fs_node *n = *pp;

		if (n->ino != ino)
			continue;
		n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
		if (n->nlookup == 0 && n->role != FS_ROOT) {
			*pp = n->next;
			m->n_nodes--;
			node_free(n);
		}
		return;
	}
}

/* A permanent node: the kernel's FORGET can never bring its count to 0. */
static struct fs_node *static_node(struct fs_mount *m, uint64_t parent, const char *name,
				   enum fs_role role, mode_t mode, gid_t gid, struct fs_place *pl)
{
	size_t len = strlen(name);
	struct fs_node *n = calloc(1, sizeof(*n) + len + 1);

	if (!n) {
		fs_place_put(pl);
		return NULL;
	}
	n->ino = parent ? fs_ino_of(parent, name, 0) : FUSE_ROOT_ID;
	n->parent = parent ? parent : FUSE_ROOT_ID;
	n->nlookup = UINT64_MAX / 2;
	n->role = role;
	n->mode = mode;
	n->gid = gid;
	n->place = pl;
	memcpy(n->name, name, len + 1);
	return node_insert(m, n);
}

int fs_nodes_static(struct fs_mount *m)
{
	struct fs_node *root, *q, *pr, *ex;

	root = static_node(m, 0, "", FS_ROOT, S_IFDIR | 0755, getegid(), NULL);
	q = root ? static_node(m, root->ino, "quarantine", FS_QUARANTINE, S_IFDIR | 0770,
			       m->admin_gid, NULL)
		 : NULL;
	pr = q ? static_node(m, root->ino, "projects", FS_PROJECTS, S_IFDIR | 0755, getegid(), NULL)
	       : NULL;
	ex = pr ? static_node(m, root->ino, "export", FS_PROJECTS, S_IFDIR | 0755, getegid(),
			      fs_place_new(NULL, true, -1, NULL))
		: NULL;
	if (!ex)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_projects; i++) {
		const struct fs_project *p = &m->projects[i];

		for (int e = 0; e < 2; e++)
			if (!static_node(m, e ? ex->ino : pr->ino, p->cfg->name, FS_PROJECT,
					 S_IFDIR | 0770, p->gid, fs_place_new(p, e, -1, NULL)))
				return -ENOMEM;
	}
	return 0;
}
