/*
 * fiona status [-c CONFIG] [--json]: what the gateway holds and where the queues stand —
 * counts only, never patient data. fiona assign [-c CONFIG] STUDY PROJECT ID EVENT: what
 * `mv quarantine/S projects/P/ID/EVENT` does, for scripts (STUDY is the catalog key shown
 * in the quarantine folder name).
 */
#include "core/core.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cmd/cmd.h"

static void last_heartbeat(const struct fiona_config *c, char *out, size_t cap)
{
	char path[4200], *t = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/heartbeat", c->data_dir);
	if (core_read_file(path, 64, &t, &len) == 0)
		snprintf(out, cap, "%s", t);
	else
		snprintf(out, cap, "never");
	free(t);
}

static void print_queues(const struct store_dest_queue *q, size_t n, bool json)
{
	char when[32];

	for (size_t i = 0; i < n; i++) {
		core_time_iso(q[i].oldest_waiting, when, sizeof(when));
		if (json)
			printf("%s{\"destination\": \"%s\", \"queued\": %ld, \"sent\": %ld, "
			       "\"verified\": %ld, \"failed\": %ld, \"oldest_waiting\": %s%s%s}",
			       i ? ", " : "", q[i].destination, q[i].queued, q[i].sent,
			       q[i].verified, q[i].failed, q[i].oldest_waiting ? "\"" : "",
			       q[i].oldest_waiting ? when : "null",
			       q[i].oldest_waiting ? "\"" : "");
		else
			printf("  %-12s %ld queued, %ld sent, %ld verified, %ld failed%s%s%s%s\n",
			       q[i].destination, q[i].queued, q[i].sent, q[i].verified, q[i].failed,
			       q[i].oldest_waiting ? "; oldest waiting since " : "",
			       q[i].oldest_waiting ? when : "",
			       q[i].last_error[0] ? "; last error: " : "", q[i].last_error);
	}
}

static void print_counts(const struct store_counts *c, const struct statvfs *fs, bool json)
{
	double used = fs->f_blocks ? 1.0 - (double)fs->f_bavail / (double)fs->f_blocks : 0;

	if (json) {
		printf("{\"studies\": %ld, \"quarantine\": %ld, \"assigned\": %ld, \"series\": "
		       "%ld, "
		       "\"instances\": %ld, \"objects\": %ld, \"object_bytes\": %llu, "
		       "\"conflicts\": %ld, \"versions\": %ld, \"transfers\": {\"queued\": %ld, "
		       "\"sent\": %ld, "
		       "\"verified\": %ld, \"failed\": %ld, \"held\": %ld}, \"burned_in_text\": "
		       "{\"cleaned\": %ld, \"held\": %ld, \"skipped\": %ld}, \"disk_used\": %.3f, ",
		       c->studies, c->quarantine, c->assigned, c->series, c->instances, c->objects,
		       (unsigned long long)c->object_bytes, c->conflicts, c->versions, c->queued,
		       c->sent, c->verified, c->failed, c->held, c->px_cleaned, c->px_held,
		       c->px_skipped, used);
		return;
	}
	printf("studies     %ld (%ld in quarantine, %ld assigned)\n", c->studies, c->quarantine,
	       c->assigned);
	printf("series      %ld\ninstances   %ld (%ld objects, %.1f MB; %ld earlier versions of "
	       "re-sent instances kept; %ld conflicting UIDs)\n",
	       c->series, c->instances, c->objects, (double)c->object_bytes / 1e6, c->versions,
	       c->conflicts);
	printf("transfers   %ld queued, %ld sent, %ld verified, %ld failed, %ld held\n", c->queued,
	       c->sent, c->verified, c->failed, c->held);
	printf("pixels      %ld cleaned of burned-in text, %ld held, %ld skipped\n", c->px_cleaned,
	       c->px_held, c->px_skipped);
	printf("disk        %.0f %% used\n", used * 100);
}

/* Which instances are held for burned-in text, and why (numbers, never values). */
static void print_held(struct store *s, const struct fiona_config *cfg, bool json)
{
	bool first = true;

	printf(json ? "\"held\": [" : "");
	for (size_t p = 0; p < cfg->n_projects; p++) {
		struct store_held *h = NULL;
		size_t n = 0;

		if (store_list_held(s, 0, cfg->projects[p].name, &h, &n))
			continue;
		for (size_t i = 0; i < n; i++, first = false) {
			if (!json && first)
				printf("held for burned-in text:\n");
			if (json)
				printf("%s{\"project\": \"%s\", \"study\": %lld, \"series\": %ld, "
				       "\"instance\": %ld, \"reason\": \"%s\"}",
				       first ? "" : ", ", cfg->projects[p].name,
				       (long long)h[i].study, h[i].series, h[i].number,
				       h[i].reason);
			else
				printf("  %s study %lld series %ld instance %ld: %s\n",
				       cfg->projects[p].name, (long long)h[i].study, h[i].series,
				       h[i].number, h[i].reason);
		}
		free(h);
	}
	printf(json ? "], " : "");
}

/* Projects without a destination keep their studies for the mount only: name them, so
 * that an empty queue does not read as transfers that never started. */
/* A value for JSON: the reasons are fiona's own texts, but quotes are not trusted. */
static void json_safe(char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			*s = '\'';
}

/* The REDCap sync's state (docs/redcap.md): the outbox, the last error, a ban. */
static void print_redcap(struct store *s, const struct fiona_config *cfg, bool json)
{
	struct store_rc_outbox o;
	char err[300] = "", ban[300] = "", ok[32] = "";
	int64_t err_at = 0;

	if (!cfg->redcap || store_rc_outbox_counts(s, &o))
		return;
	store_rc_state_get(s, "last_error", err, sizeof(err), &err_at);
	store_rc_state_get(s, "banned", ban, sizeof(ban), NULL);
	store_rc_state_get(s, "last_ok", ok, sizeof(ok), NULL);
	json_safe(err), json_safe(ban), json_safe(o.parked_reason);
	if (json) {
		printf("\"redcap\": {\"outbox\": %ld, \"parked\": %ld, \"oldest\": %lld, "
		       "\"last_ok\": %s, \"last_error\": \"%s\", \"last_error_at\": %lld, "
		       "\"banned\": \"%s\", \"parked_reason\": \"%s\"}, ",
		       o.depth, o.parked, (long long)o.oldest, ok[0] ? ok : "0", err,
		       (long long)err_at, ban, o.parked_reason);
		return;
	}
	printf("redcap      outbox %ld studies (%ld parked)", o.depth, o.parked);
	if (o.oldest)
		printf(", oldest waiting %lld s", (long long)(time(NULL) - o.oldest));
	printf("\n");
	if (ban[0])
		printf("            BANNED: %s\n", ban);
	if (err[0])
		printf("            last error %lld s ago: %s\n", (long long)(time(NULL) - err_at),
		       err);
	if (o.parked)
		printf("            parked study %lld: %s\n", (long long)o.parked_study,
		       o.parked_reason);
}

/* Where the objects are; on S3, whether it answers now and the gateway's last outcome. */
static void print_objects(struct store *s, bool json)
{
	struct store_objects_state o;
	int64_t now = time(NULL);

	if (store_objects_state(s, true, &o))
		return;
	json_safe(o.where), json_safe(o.probe_error), json_safe(o.last_error);
	if (json) {
		printf("\"objects\": {\"backend\": \"%s\", \"where\": \"%s\", \"reachable\": %s, "
		       "\"probe_error\": \"%s\", \"last_ok\": %s, \"last_at\": %lld, "
		       "\"last_error\": \"%s\", \"last_error_at\": %lld}, ",
		       o.s3 ? "s3" : "dir", o.where, o.reachable ? "true" : "false", o.probe_error,
		       !o.known	   ? "null"
		       : o.last_ok ? "true"
				   : "false",
		       (long long)o.last_at, o.last_error, (long long)o.last_error_at);
		return;
	}
	if (!o.s3)
		return;
	printf("objects     S3 %s: %s%s\n", o.where,
	       o.reachable ? "reachable" : "UNREACHABLE: ", o.probe_error);
	if (o.known)
		printf("            last operation %lld s ago %s\n", (long long)(now - o.last_at),
		       o.last_ok ? "succeeded" : "FAILED");
	if (o.last_error_at)
		printf("            last error %lld s ago: %s\n",
		       (long long)(now - o.last_error_at), o.last_error);
}

static void print_unforwarded(struct store *s, const struct fiona_config *cfg, bool json)
{
	bool first = true;

	printf(json ? "\"not_forwarded\": [" : "");
	for (size_t p = 0; p < cfg->n_projects; p++) {
		long studies = 0, instances = 0;

		if (cfg->projects[p].destination ||
		    store_project_counts(s, cfg->projects[p].name, &studies, &instances))
			continue;
		if (json)
			printf("%s{\"project\": \"%s\", \"assigned_studies\": %ld, "
			       "\"assigned_instances\": %ld, "
			       "\"reason\": \"no destination configured: not forwarded\"}",
			       first ? "" : ", ", cfg->projects[p].name, studies, instances);
		else
			printf("%s  %-12s %ld studies, %ld instances: no destination configured: "
			       "not forwarded\n",
			       first ? "per project without a destination:\n" : "",
			       cfg->projects[p].name, studies, instances);
		first = false;
	}
	printf(json ? "]" : "");
}

int cmd_status(int argc, char **argv)
{
	static const struct option longs[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct store_counts counts;
	struct statvfs fs = {0};
	char heartbeat[64];
	struct cmd_env env;
	const char *config = NULL;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:", longs, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else if (c == 'j')
			json = true;
		else {
			fprintf(stderr, "usage: fiona status [-c CONFIG] [--json]\n");
			return 2;
		}
	}
	if (cmd_store_open(config, &env))
		return 1;
	statvfs(env.cfg->data_dir, &fs);
	last_heartbeat(env.cfg, heartbeat, sizeof(heartbeat));
	rc = store_counts(env.store, &counts);
	if (!rc) {
		struct store_dest_queue *q = NULL;
		size_t nq = 0;

		print_counts(&counts, &fs, json);
		print_held(env.store, env.cfg, json);
		print_redcap(env.store, env.cfg, json);
		print_objects(env.store, json);
		printf(json ? "\"last_heartbeat\": \"%s\", " : "heartbeat   %s\n", heartbeat);
		rc = store_queue_by_destination(env.store, &q, &nq);
		printf(json ? "\"destinations\": [" : "per destination:\n");
		if (!rc)
			print_queues(q, nq, json);
		if (!rc && !json && !env.cfg->n_destinations)
			printf("  none configured\n");
		printf(json ? "], " : "");
		print_unforwarded(env.store, env.cfg, json);
		printf(json ? "}\n" : "");
		free(q);
	}
	if (rc)
		fprintf(stderr, "fiona status: %s\n", strerror(-rc));
	cmd_store_close(&env);
	return rc ? 1 : 0;
}

int cmd_assign(int argc, char **argv)
{
	struct fiona_err err = {0};
	struct cmd_env env;
	const char *config = NULL;
	long study;
	int c, rc;

	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			goto usage;
		config = optarg;
	}
	if (argc - optind != 4 || core_parse_long(argv[optind], 1, INT64_MAX, &study))
		goto usage;
	if (cmd_store_open(config, &env))
		return 1;
	rc = store_assign(env.store, study, argv[optind + 1], argv[optind + 2], argv[optind + 3],
			  getuid(), &err);
	if (rc)
		fprintf(stderr, "fiona assign: %s\n", err.reason[0] ? err.reason : strerror(-rc));
	cmd_store_close(&env);
	return rc ? 1 : 0;
usage:
	fprintf(stderr, "usage: fiona assign [-c CONFIG] STUDY PROJECT PARTICIPANT EVENT\n");
	return 2;
}
