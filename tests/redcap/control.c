/*
 * control.c: the test-only side of the emulator. The rate limiter copies REDCap's
 * (every page hit per client IP over a rolling minute; above the limit the IP is
 * banned for good and gets 429 before the token is looked at). Faults are queued in
 * order and taken by matching requests. /control (form POST, JSON answers) sets
 * faults, latency, the limit, lifts bans, dumps a project canonically, reports
 * counters and writes rows as a REDCap UI user would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/redcap/emu.h"

#define WINDOW_MS 60000

static struct ipstat *ip_get(struct emu *e, const char *ip)
{
	struct ipstat *s;
	size_t i;

	for (i = 0; i < e->nips; i++)
		if (strcmp(e->ips[i].ip, ip) == 0)
			return &e->ips[i];
	s = realloc(e->ips, (e->nips + 1) * sizeof(*s));
	if (!s)
		return NULL;
	e->ips = s;
	s = &e->ips[e->nips++];
	memset(s, 0, sizeof(*s));
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	return s;
}

int rate_hit(struct emu *e, const char *ip)
{
	struct ipstat *s = ip_get(e, ip);
	int64_t now = emu_now_ms();
	size_t drop = 0;

	if (!s)
		return 0;
	if (s->banned)
		return 1;
	if (e->rate_limit <= 0)
		return 0;
	while (drop < s->nhits && s->hits[drop] <= now - WINDOW_MS)
		drop++;
	if (drop) {
		memmove(s->hits, s->hits + drop, (s->nhits - drop) * sizeof(*s->hits));
		s->nhits -= drop;
	}
	if (s->nhits == s->caphits) {
		size_t cap = s->caphits ? s->caphits * 2 : 64;
		int64_t *h = realloc(s->hits, cap * sizeof(*h));

		if (!h)
			return 0;
		s->hits = h;
		s->caphits = cap;
	}
	s->hits[s->nhits++] = now;
	if ((long)s->nhits > e->rate_limit) {
		s->banned = 1;
		fprintf(stderr, "redcap-emu: banned %s after %zu requests in a minute\n", ip,
			s->nhits);
	}
	return s->banned;
}

enum fault_kind fault_take(struct emu *e, int is_import)
{
	size_t i;

	for (i = 0; i < e->nfaults; i++) {
		struct fault *f = &e->faults[i];
		enum fault_kind k = f->kind;

		if ((f->match == FM_IMPORT && !is_import) || (f->match == FM_EXPORT && is_import))
			continue;
		if (f->left > 0 && --f->left == 0) {
			memmove(f, f + 1, (e->nfaults - i - 1) * sizeof(*f));
			e->nfaults--;
		}
		return k;
	}
	return FK_NONE;
}

static const char *const kind_names[] = {
	[FK_NONE] = "none",
	[FK_OFFLINE] = "offline",
	[FK_SYSOFFLINE] = "sysoffline",
	[FK_DBDOWN] = "dbdown",
	[FK_OOM] = "oom",
	[FK_ERROR500] = "error500",
	[FK_DROP_AFTER_IMPORT] = "drop_after_import",
	[FK_DROP] = "drop",
	[FK_HANG] = "hang",
};

static int answer_json(struct resp *r, int status, json_t *o)
{
	int rc;

	if (!o)
		return -ENOMEM;
	r->status = status;
	r->ctype = "application/json";
	buf_reset(&r->body);
	rc = enc_json(&r->body, o);
	json_decref(o);
	return rc ? rc : buf_addc(&r->body, '\n');
}

static int bad(struct resp *r, const char *why)
{
	return answer_json(r, 400, json_pack("{ss}", "error", why));
}

static int ok(struct resp *r)
{
	return answer_json(r, 200, json_pack("{sb}", "ok", 1));
}

static int get_long(const struct form *f, const char *k, long *out)
{
	const char *v = form_get(f, k);
	char *end;

	if (!v || !*v)
		return -EINVAL;
	*out = strtol(v, &end, 10);
	return *end || *out < 0 ? -EINVAL : 0;
}

static int c_fault(struct emu *e, const struct form *f, struct resp *r)
{
	const char *kind = form_get(f, "kind"), *match = form_get(f, "match");
	struct fault *nf;
	long count = 0;
	size_t i;

	if (!kind)
		return bad(r, "kind is required");
	if (strcmp(kind, "none") == 0) {
		e->nfaults = 0;
		return ok(r);
	}
	for (i = 1; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (strcmp(kind, kind_names[i]) == 0)
			break;
	if (i == sizeof(kind_names) / sizeof(kind_names[0]))
		return bad(r, "unknown kind");
	if (form_get(f, "count") && get_long(f, "count", &count))
		return bad(r, "count must be a non-negative integer");
	if (match && strcmp(match, "any") && strcmp(match, "import") && strcmp(match, "export"))
		return bad(r, "match is any, import or export");
	nf = realloc(e->faults, (e->nfaults + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	e->faults = nf;
	nf[e->nfaults].kind = (enum fault_kind)i;
	nf[e->nfaults].left = count;
	nf[e->nfaults].match = !match || strcmp(match, "any") == 0 ? FM_ANY
			       : strcmp(match, "import") == 0	   ? FM_IMPORT
								   : FM_EXPORT;
	e->nfaults++;
	return ok(r);
}

static int c_stats(struct emu *e, struct resp *r)
{
	json_t *banned = json_array();
	long left = 0;
	size_t i;

	for (i = 0; banned && i < e->nips; i++)
		if (e->ips[i].banned && emu_push(banned, json_string(e->ips[i].ip))) {
			json_decref(banned);
			return -ENOMEM;
		}
	/* an unlimited fault makes the total unknown: -1 */
	for (i = 0; i < e->nfaults && left >= 0; i++)
		left = e->faults[i].left ? left + e->faults[i].left : -1;
	return answer_json(
		r, 200,
		json_pack("{sI sI sI sI so sI sO}", "requests", (json_int_t)e->stats.requests,
			  "imports", (json_int_t)e->stats.imports, "exports",
			  (json_int_t)e->stats.exports, "rows_written",
			  (json_int_t)e->stats.rows_written, "banned", banned, "faults_left",
			  (json_int_t)left, "by_content", e->stats.by_content));
}

static int c_dump(struct emu *e, const struct form *f, struct resp *r)
{
	struct project *p = project_by_title(e, form_get(f, "project"));

	if (!p)
		return bad(r, "unknown project");
	r->status = 200;
	r->ctype = "application/json";
	buf_reset(&r->body);
	return records_dump(p, &r->body);
}

/* As the Assign application writes: no token, no rate count, format json. */
static int c_write(struct emu *e, const struct form *f, struct resp *r)
{
	struct project *p = project_by_title(e, form_get(f, "project"));
	const char *data = form_get(f, "data"), *ob = form_get(f, "overwriteBehavior");
	struct import_opts o = {.in_fmt = FMT_JSON, .ret_fmt = FMT_JSON, .ret = "count"};
	size_t written = 0;
	int rc;

	if (!p || !data)
		return bad(r, "project and data are required");
	o.overwrite = ob && strcmp(ob, "overwrite") == 0;
	rc = records_import(e, p, data, &o, r, &written);
	if (rc == 0 && r->status == 200)
		buf_addc(&r->body, '\n');
	return rc;
}

int control_handle(struct emu *e, const struct form *f, struct resp *r)
{
	const char *action = form_get(f, "action");
	long n;
	size_t i;

	if (!action)
		return bad(r, "action is required");
	if (strcmp(action, "fault") == 0)
		return c_fault(e, f, r);
	if (strcmp(action, "latency") == 0) {
		if (get_long(f, "ms", &n))
			return bad(r, "ms must be a non-negative integer");
		e->latency_ms = n;
		return ok(r);
	}
	if (strcmp(action, "rate_limit") == 0) {
		if (get_long(f, "n", &n))
			return bad(r, "n must be a non-negative integer");
		e->rate_limit = n;
		return ok(r);
	}
	if (strcmp(action, "unban") == 0) {
		/* the ban and the minute's count both go, as deleting the SQL rows would */
		for (i = 0; i < e->nips; i++) {
			e->ips[i].banned = 0;
			e->ips[i].nhits = 0;
		}
		return ok(r);
	}
	if (strcmp(action, "dump") == 0)
		return c_dump(e, f, r);
	if (strcmp(action, "stats") == 0)
		return c_stats(e, r);
	if (strcmp(action, "write") == 0)
		return c_write(e, f, r);
	return bad(r, "unknown action");
}

void control_release(struct emu *e)
{
	size_t i;

	for (i = 0; i < e->nips; i++)
		free(e->ips[i].hits);
	free(e->ips);
	free(e->faults);
	json_decref(e->stats.by_content);
	e->ips = NULL;
	e->faults = NULL;
	e->nips = e->nfaults = 0;
}
