/*
 * ops_write: the operations of SPEC.md "Operations and what they do".
 *
 *   mv quarantine/S projects/P/ID/EVENT      rename(S -> ID, EVENT): assign
 *   mv quarantine/S projects/P/ID/EVENT/     same; into an existing EVENT: (S -> EVENT, S)
 *   mv projects/P/ID/EV projects/P/ID2/EV2   re-assign every study of ID/EV
 *   mv projects/P/ID/EV quarantine/          un-assign them
 *   mkdir projects/P/ID                      new participant (pattern checked)
 *
 * A rename commits to the catalog and returns; it never answers EXDEV (GNU mv would
 * start copying) and never touches the network or de-identifies. Afterwards the change
 * feed is read (the next request sees the move) and the kernel's entries for both names
 * are dropped by the notifier thread. Refusals carry one log line that says why, without patient
 * data.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs_int.h"

static struct fs_mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* A write that failed because the catalog cannot be reached (PostgreSQL down) is EROFS:
 * the mount serves what it showed last, read-only, until the catalog is back. */
static void refuse(fuse_req_t req, int err, const char *what, const char *why)
{
	if (err == EIO && !store_catalog_reachable(mnt(req)->store)) {
		err = EROFS;
		why = "the catalog cannot be reached: the mount is read-only until it is back";
	}
	log_msg(mnt(req)->log, LOG_WARN, "mount", "refused %s (uid %u): %s", what,
		(unsigned)fuse_req_ctx(req)->uid, why);
	fuse_reply_err(req, err);
}

/* A study moved meanwhile (-ESTALE) is ENOENT to mv: its source is no longer there. */
static int errno_of(int rc)
{
	return rc == -ENOENT || rc == -EINVAL ? EINVAL
	       : rc == -EEXIST		      ? EEXIST
	       : rc == -ESTALE		      ? ENOENT
					      : -rc;
}

static const char *event_of(const struct fs_place *pl)
{
	return pl->event >= 0 ? fs_project_event(pl->project, pl->event) : "";
}

/* Assigns (or, with p == NULL, un-assigns) studies the mount showed at from; stops at the
 * first refusal. A study moved meanwhile by another mount or gateway is refused (ESTALE). */
static int move_studies(fuse_req_t req, const int64_t *ids, size_t n,
			const struct store_place *from, const struct fs_project *p,
			const char *participant, const char *event)
{
	struct fs_mount *m = mnt(req);
	uid_t who = fuse_req_ctx(req)->uid;
	struct fiona_err err = {0};
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++)
		rc = p ? store_assign_from(m->store, ids[i], from, p->cfg->name, participant, event,
					   who, &err)
		       : store_unassign_from(m->store, ids[i], from, who, &err);
	if (rc)
		refuse(req, errno_of(rc), p ? "assignment" : "un-assignment", err.reason);
	return rc;
}

/* Every study of an event folder moves: to quarantine (to == NULL) or to (participant,
 * event) of the same project. */
static int move_event(fuse_req_t req, const struct fs_place *from, const struct fs_project *to,
		      const char *participant, const char *event)
{
	struct store_place was = {from->project->cfg->name, from->participant, event_of(from)};
	int64_t *ids = NULL;
	size_t n = 0;
	int rc = store_list_event_studies(mnt(req)->store, was.project, was.participant, was.event,
					  &ids, &n);

	if (rc) {
		refuse(req, EIO, "move", "the event's studies could not be listed");
		return rc;
	}
	rc = move_studies(req, ids, n, &was, to, participant, event);
	free(ids);
	return rc;
}

static void renamed(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		    const char *newname)
{
	struct fs_mount *m = mnt(req);

	fs_feed_pump(m); /* the next request sees the change */
	fs_inval_queue(m, parent, name);
	fs_inval_queue(m, newparent, newname);
	fs_inval_queue(m, parent, "");
	fs_inval_queue(m, newparent, "");
	fuse_reply_err(req, 0);
}

static int rename_target(const struct fs_node *dst, const char *newname, const char **participant,
			 const char **event)
{
	if (!dst->place || dst->place->export_tree)
		return -EROFS;
	if (dst->role == FS_PARTICIPANT) {
		*participant = dst->place->participant;
		*event = newname;
		return 0;
	}
	if (dst->role == FS_EVENT) {
		*participant = dst->place->participant;
		*event = event_of(dst->place);
		return 0;
	}
	return -EPERM;
}

/* Returns 1 when the move was made, 0 when it was refused (the reply is sent). */
static int rename_nodes(fuse_req_t req, const struct fs_node *src, const struct fs_node *dst,
			const char *newname)
{
	static const struct store_place quarantine = {"", "", ""};
	const char *participant = NULL, *event = NULL;
	bool src_event = src->role == FS_EVENT && !src->place->export_tree;

	if (src_event && dst->role == FS_QUARANTINE)
		return !move_event(req, src->place, NULL, NULL, NULL);
	if ((src->role != FS_QSTUDY && !src_event) ||
	    rename_target(dst, newname, &participant, &event)) {
		refuse(req, EPERM, "rename",
		       "mv assigns quarantine/<study> to projects/<P>/<ID>/<EVENT>, moves an "
		       "event between participants, or un-assigns it to quarantine/");
		return 0;
	}
	if (src_event && src->place->project != dst->place->project) {
		refuse(req, EPERM, "rename", "studies move between projects through quarantine/");
		return 0;
	}
	if (src->role == FS_QSTUDY)
		return !move_studies(req, &src->id, 1, &quarantine, dst->place->project,
				     participant, event);
	return !move_event(req, src->place, dst->place->project, participant, event);
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags)
{
	struct fs_mount *m = mnt(req);
	struct fs_node *src = NULL, *dst;
	int rc, done = 0;

	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		refuse(req, EINVAL, "rename", "only plain and no-replace renames are supported");
		return;
	}
	if ((rc = fs_lookup_child(m, parent, name, &src))) {
		if (rc == -EIO)
			refuse(req, EIO, "rename", "the source could not be looked up");
		else
			fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&m->lock);
	dst = fs_node_find(m, newparent);
	pthread_mutex_unlock(&m->lock);
	if (!dst)
		fuse_reply_err(req, ENOENT);
	else
		done = rename_nodes(req, src, dst, newname);
	pthread_mutex_lock(&m->lock);
	fs_node_forget(m, src->ino, 1);
	pthread_mutex_unlock(&m->lock);
	if (done)
		renamed(req, parent, name, newparent, newname);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs_mount *m = mnt(req);
	struct fuse_entry_param e;
	struct fiona_err err = {0};
	struct fs_node *d, *n;
	int rc;

	(void)mode;
	pthread_mutex_lock(&m->lock);
	d = fs_node_find(m, parent);
	pthread_mutex_unlock(&m->lock);
	if (!d || d->role != FS_PROJECT || d->place->export_tree) {
		refuse(req, EPERM, "mkdir", "only projects/<P>/<participant> can be created");
		return;
	}
	rc = store_participant_add(m->store, d->place->project->cfg->name, name,
				   fuse_req_ctx(req)->uid, &err);
	if (rc) {
		refuse(req, errno_of(rc), "mkdir", err.reason);
		return;
	}
	if ((rc = fs_lookup_child(m, parent, name, &n))) { /* pumps the feed first */
		fuse_reply_err(req, rc == -ENOENT ? EIO : -rc);
		return;
	}
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&m->lock);
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = 1.0;
	fs_fill_attr(m, n, &e.attr);
	pthread_mutex_unlock(&m->lock);
	if (fuse_reply_entry(req, &e) != 0) {
		pthread_mutex_lock(&m->lock);
		fs_node_forget(m, e.ino, 1);
		pthread_mutex_unlock(&m->lock);
	}
}

static int coupling_row(struct fs_mount *m, const struct fs_project *p, char *line)
{
	char *f[3], *save = NULL;
	struct fiona_err err = {0};
	int k = 0, rc;

	for (char *c = strtok_r(line, ",", &save); c && k < 3; c = strtok_r(NULL, ",", &save))
		f[k++] = c;
	if (k != 3 || strtok_r(NULL, ",", &save)) {
		log_msg(m->log, LOG_WARN, "mount", "%s/.coupling.csv: row refused: needs 3 fields",
			p->cfg->name);
		return -EINVAL;
	}
	rc = store_coupling_add(m->store, p->cfg->name, f[0], f[1], f[2], &err);
	if (rc)
		log_msg(m->log, LOG_WARN, "mount", "%s/.coupling.csv: row refused: %s",
			p->cfg->name, err.reason);
	return rc;
}

int fs_coupling_rows(struct fs_mount *m, const struct fs_project *p, const char *data, size_t size)
{
	char *copy = malloc(size + 1), *save = NULL;
	int good = 0, bad = 0;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *l = strtok_r(copy, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
		if (!*l || !strncmp(l, "accession,", 10))
			continue; /* blank lines and the header */
		if (coupling_row(m, p, l) == 0)
			good++;
		else
			bad++;
	}
	free(copy);
	fs_feed_pump(m);
	return bad && !good ? -EINVAL : good;
}
