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
 * start copying) and never touches the network or de-identifies. Afterwards the next
 * snapshot is forced and the kernel's entries for both names are dropped by the notifier
 * thread. Refusals carry one log line that says why, without patient data.
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

static void refuse(fuse_req_t req, int err, const char *what, const char *why)
{
	log_msg(mnt(req)->log, LOG_WARN, "mount", "refused %s (uid %u): %s", what,
		(unsigned)fuse_req_ctx(req)->uid, why);
	fuse_reply_err(req, err);
}

static int errno_of(int rc)
{
	return rc == -ENOENT || rc == -EINVAL ? EINVAL : rc == -EEXIST ? EEXIST : -rc;
}

/* Every study assigned to (project, participant, event): a new array (free()). */
static int event_studies(struct fs_mount *m, const struct fs_node *ev, int64_t **ids, size_t *n)
{
	struct store_study *st = NULL;
	size_t cnt = 0, k = 0;
	int rc = store_list_studies(m->store, STORE_ASSIGNED, ev->project->cfg->name, &st, &cnt);

	if (rc)
		return rc;
	*ids = calloc(cnt + 1, sizeof(**ids));
	for (size_t i = 0; *ids && i < cnt; i++)
		if (!strcmp(st[i].participant, ev->participant) && !strcmp(st[i].event, ev->event))
			(*ids)[k++] = st[i].id;
	free(st);
	*n = k;
	return *ids ? 0 : -ENOMEM;
}

/* Assigns (or, with to == NULL, un-assigns) studies; stops at the first refusal. */
static int move_studies(fuse_req_t req, const int64_t *ids, size_t n, const struct fs_project *p,
			const char *participant, const char *event)
{
	struct fs_mount *m = mnt(req);
	uid_t who = fuse_req_ctx(req)->uid;
	struct fiona_err err = {0};
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++)
		rc = p ? store_assign(m->store, ids[i], p->cfg->name, participant, event, who, &err)
		       : store_unassign(m->store, ids[i], who, &err);
	if (rc)
		refuse(req, errno_of(rc), p ? "assignment" : "un-assignment", err.reason);
	return rc;
}

static void renamed(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		    const char *newname)
{
	struct fs_mount *m = mnt(req);

	atomic_store(&m->force_rebuild, true);
	fs_inval_queue(m, parent, name);
	fs_inval_queue(m, newparent, newname);
	fs_inval_queue(m, parent, "");
	fs_inval_queue(m, newparent, "");
	fuse_reply_err(req, 0);
}

static int rename_target(const struct fs_node *dst, const char *newname, const char **participant,
			 const char **event)
{
	if (dst->export_tree)
		return -EROFS;
	if (dst->role == FS_PARTICIPANT) {
		*participant = dst->participant;
		*event = newname;
		return 0;
	}
	if (dst->role == FS_EVENT) {
		*participant = dst->participant;
		*event = dst->event;
		return 0;
	}
	return -EPERM;
}

static void rename_nodes(fuse_req_t req, const struct fs_node *src, const struct fs_node *dst,
			 const char *newname, int *done)
{
	const char *participant = NULL, *event = NULL;
	int64_t *ids = NULL, one;
	size_t n = 0;
	int rc;

	*done = 0;
	if (src->role == FS_EVENT && !src->export_tree && dst->role == FS_QUARANTINE) {
		if (!event_studies(mnt(req), src, &ids, &n))
			*done = !move_studies(req, ids, n, NULL, NULL, NULL);
		free(ids);
		return;
	}
	if ((src->role != FS_QSTUDY && (src->role != FS_EVENT || src->export_tree)) ||
	    (rc = rename_target(dst, newname, &participant, &event))) {
		refuse(req, EPERM, "rename",
		       "mv assigns quarantine/<study> to projects/<P>/<ID>/<EVENT>, moves an "
		       "event between participants, or un-assigns it to quarantine/");
		return;
	}
	if (src->role == FS_EVENT && src->project != dst->project) {
		refuse(req, EPERM, "rename", "studies move between projects through quarantine/");
		return;
	}
	if (src->role == FS_QSTUDY) {
		one = src->study_id;
		*done = !move_studies(req, &one, 1, dst->project, participant, event);
		return;
	}
	if (!event_studies(mnt(req), src, &ids, &n))
		*done = !move_studies(req, ids, n, dst->project, participant, event);
	free(ids);
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags)
{
	struct fs_tree *t = fs_tree_get(mnt(req));
	const struct fs_node *pd = t ? fs_tree_find(t, parent) : NULL;
	const struct fs_node *src = pd ? fs_tree_child(t, pd, name) : NULL;
	const struct fs_node *dst = t ? fs_tree_find(t, newparent) : NULL;
	int done = 0;

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		refuse(req, EINVAL, "rename", "only plain and no-replace renames are supported");
	else if (!src || !dst)
		fuse_reply_err(req, ENOENT);
	else
		rename_nodes(req, src, dst, newname, &done);
	fs_tree_put(t);
	if (done)
		renamed(req, parent, name, newparent, newname);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs_mount *m = mnt(req);
	struct fs_tree *t = fs_tree_get(m);
	const struct fs_node *d = t ? fs_tree_find(t, parent) : NULL;
	const struct fs_node *n;
	struct fuse_entry_param e;
	struct fiona_err err = {0};
	int rc;

	(void)mode;
	if (!d || d->role != FS_PROJECT || d->export_tree) {
		fs_tree_put(t);
		refuse(req, EPERM, "mkdir", "only projects/<P>/<participant> can be created");
		return;
	}
	rc = store_participant_add(m->store, d->project->cfg->name, name, fuse_req_ctx(req)->uid,
				   &err);
	fs_tree_put(t);
	if (rc) {
		refuse(req, errno_of(rc), "mkdir", err.reason);
		return;
	}
	atomic_store(&m->force_rebuild, true);
	t = fs_tree_get(m);
	d = t ? fs_tree_find(t, parent) : NULL;
	n = d ? fs_tree_child(t, d, name) : NULL;
	if (!n) {
		fuse_reply_err(req, EIO);
	} else {
		memset(&e, 0, sizeof(e));
		e.ino = n->ino;
		e.attr_timeout = e.entry_timeout = 1.0;
		e.attr.st_ino = n->ino;
		e.attr.st_mode = n->mode;
		e.attr.st_nlink = 2;
		e.attr.st_uid = geteuid();
		e.attr.st_gid = n->gid;
		fuse_reply_entry(req, &e);
	}
	fs_tree_put(t);
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
	atomic_store(&m->force_rebuild, true);
	return bad && !good ? -EINVAL : good;
}
