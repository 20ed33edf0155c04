/*
 * s3_ops: the object operations on top of s3_request: a conditional put, head, ranged get,
 * delete and a paged listing, plus the mapping of S3's answers to -errno. Objects are
 * content-addressed, so a put that finds its key taken (HEAD, or 412 from If-None-Match)
 * has nothing left to do; it never overwrites. A ranged GET must come back as exactly the
 * asked range: a server that ignores Range and sends the object from byte 0 would hand the
 * caller the wrong bytes, so that is an error, not a short read.
 */
#include "core/core.h"

#include <errno.h>
#include <string.h>

#include "store/s3_int.h"

#define S3_ERR_BODY_MAX	 (64u << 10)
#define S3_LIST_BODY_MAX (8u << 20) /* 1000 keys of at most 1 KiB each, escaped */

int s3_uri_encode(struct buf *b, const char *s, bool slash_too)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			    *p == '~' || (*p == '/' && !slash_too);
		char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		int rc = keep ? buf_append(b, p, 1) : buf_append(b, e, 3);

		if (rc)
			return rc;
	}
	return 0;
}

static const struct {
	const char *code;
	int err;
} s3_codes[] = {
	{"NoSuchKey", -ENOENT},		 {"NoSuchBucket", -ENOENT},
	{"AccessDenied", -EACCES},	 {"SignatureDoesNotMatch", -EACCES},
	{"InvalidAccessKeyId", -EACCES}, {"RequestTimeTooSkewed", -EACCES},
	{"QuotaExceeded", -EDQUOT},	 {"EntityTooLarge", -EFBIG},
	{"BadDigest", -EBADMSG},	 {"XAmzContentSHA256Mismatch", -EBADMSG},
	{"SlowDown", -EAGAIN},		 {"ServiceUnavailable", -EAGAIN},
	{"InternalError", -EAGAIN},
};

static int status_errno(long status)
{
	if (status / 100 == 3)
		return -EPROTO;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	case 412:
		return -EEXIST;
	case 416:
		return -ERANGE;
	case 500:
	case 503:
		return -EAGAIN;
	case 507:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

int s3_status_error(const struct s3_client *c, const struct s3_req *rq, const struct s3_resp *rs,
		    struct fiona_err *err)
{
	char code[64] = "";
	int e = status_errno(rs->status);
	const char *why = "";

	if (rs->body.len &&
	    s3_xml_error_code((const char *)rs->body.data, rs->body.len, code, sizeof(code)) == 0)
		for (size_t i = 0; i < CORE_ARRAY_SIZE(s3_codes); i++)
			if (!strcmp(code, s3_codes[i].code))
				e = s3_codes[i].err;
	if (rs->status / 100 == 3)
		why = " (a redirect, not followed: check the endpoint and the region)";
	else if (!code[0] && !strcmp(rq->method, "HEAD"))
		why = " (a HEAD reply carries no error code)";
	else if (!code[0])
		why = " (no S3 error code in the reply)";
	return err_set(err, e, CORE_NO_OFFSET, CORE_NO_TAG, "S3 %s %s/%s: HTTP %ld%s%s%s",
		       rq->method, c->cfg->bucket, rq->key ? rq->key : "", rs->status,
		       code[0] ? " " : "", code, why);
}

/* Keys are fiona's own ("objects/<hh>/<hash>"), but a bad one is refused here rather than
 * sent. */
static int key_check(const char *key, struct fiona_err *err)
{
	size_t n = strlen(key);

	if (n == 0 || n > S3_KEY_MAX || key[0] == '/')
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 key \"%.80s\": 1-1024 bytes, not starting with '/'", key);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7F)
			return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				       "S3 key: a control character at byte %zu", i);
	return 0;
}

/* The key checked, then the request. rs->body is initialised whatever happens: the caller
 * releases it. */
static int keyed_request(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs,
			 struct fiona_err *err)
{
	int rc = key_check(rq->key, err);

	buf_init(&rs->body, S3_ERR_BODY_MAX);
	return rc ? rc : s3_request(c, rq, rs, err);
}

/* A HEAD reply has no body, so a refused HEAD says only "403". The same question as a
 * 1-byte GET brings S3's error Code (SignatureDoesNotMatch or AccessDenied are different
 * fixes); its error is reported when it has one, the HEAD's otherwise. */
static int head_error(struct s3_client *c, const struct s3_req *head, const struct s3_resp *hs,
		      struct fiona_err *err)
{
	char byte;
	struct s3_req rq = {
		.method = "GET", .key = head->key, .range_len = 1, .out = &byte, .out_cap = 1};
	struct s3_resp rs = {0};
	struct fiona_err e = {0};
	int rc;

	buf_init(&rs.body, S3_ERR_BODY_MAX);
	if (s3_request(c, &rq, &rs, &e) == 0 && rs.status == hs->status && rs.body.len)
		rc = s3_status_error(c, head, &rs, err);
	else
		rc = s3_status_error(c, head, hs, err);
	buf_release(&rs.body);
	return rc;
}

int s3_head(struct s3_client *c, const char *key, uint64_t *size, struct fiona_err *err)
{
	struct s3_req rq = {.method = "HEAD", .key = key};
	struct s3_resp rs = {0};
	int rc;

	rc = keyed_request(c, &rq, &rs, err);
	if (rc == 0 && rs.status == 200 && rs.length >= 0)
		*size = (uint64_t)rs.length;
	else if (rc == 0 && rs.status == 200)
		rc = err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG,
			     "S3 HEAD %s: no Content-Length in the reply", key);
	else if (rc == 0 && rs.status / 100 == 4 && rs.status != 404)
		rc = head_error(c, &rq, &rs, err);
	else if (rc == 0)
		rc = s3_status_error(c, &rq, &rs, err);
	buf_release(&rs.body);
	return rc;
}

static int put_known(struct s3_client *c, const char *key, size_t len, enum s3_put_result *res,
		     struct fiona_err *err)
{
	uint64_t size = 0;
	int rc = s3_head(c, key, &size, err);

	if (rc)
		return rc;
	if (size != len)
		return err_set(err, -EEXIST, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 PUT %s: the key holds %llu bytes, not %zu", key,
			       (unsigned long long)size, len);
	c->stats.head_skips++;
	if (res)
		*res = S3_PUT_HEAD_SEEN;
	return 0;
}

int s3_put(struct s3_client *c, const char *key, const void *p, size_t len, unsigned flags,
	   enum s3_put_result *res, struct fiona_err *err)
{
	struct s3_req rq = {.method = "PUT",
			    .key = key,
			    .body = p,
			    .body_len = len,
			    .if_none_match = true,
			    .retry_409 = true};
	struct s3_resp rs = {0};
	int rc;

	if ((rc = key_check(key, err)))
		return rc;
	if (!(flags & S3_PUT_NO_HEAD) && (rc = put_known(c, key, len, res, err)) != -ENOENT)
		return rc;
	rc = keyed_request(c, &rq, &rs, err);
	if (rc == 0 && rs.status == 200 && res)
		*res = S3_PUT_CREATED;
	else if (rc == 0 && rs.status == 412 && res)
		*res = S3_PUT_EXISTED;
	else if (rc == 0 && rs.status == 409) /* still racing after the retries: unproven */
		rc = err_set(err, -EAGAIN, CORE_NO_OFFSET, CORE_NO_TAG,
			     "S3 PUT %s: HTTP 409, a concurrent write of the key did not finish",
			     key);
	else if (rc == 0 && rs.status != 200 && rs.status != 412)
		rc = s3_status_error(c, &rq, &rs, err);
	buf_release(&rs.body);
	return rc;
}

int s3_get(struct s3_client *c, const char *key, uint64_t off, size_t len, void *out, size_t *got,
	   struct fiona_err *err)
{
	struct s3_req rq = {.method = "GET",
			    .key = key,
			    .range_off = off,
			    .range_len = len,
			    .out = out,
			    .out_cap = len};
	struct s3_resp rs = {0};
	int rc;

	if (len == 0) {
		*got = 0;
		return key_check(key, err);
	}
	if (off > UINT64_MAX - len)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 GET %s: range past 2^64", key);
	rc = keyed_request(c, &rq, &rs, err);
	if (rc == 0 && rs.status == 206 && (rs.length < 0 || (uint64_t)rs.length == rs.got))
		*got = rs.got;
	else if (rc == 0 && rs.status == 200 && off == 0) /* the whole object, and it fits */
		*got = rs.got;
	else if (rc == 0 && rs.status == 416) /* at or past the end */
		*got = 0;
	else if (rc == 0 && rs.status / 100 == 2)
		rc = err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG,
			     "S3 GET %s: HTTP %ld does not hold bytes %llu-%llu as asked", key,
			     rs.status, (unsigned long long)off,
			     (unsigned long long)(off + len - 1));
	else if (rc == 0)
		rc = s3_status_error(c, &rq, &rs, err);
	buf_release(&rs.body);
	return rc;
}

int s3_delete(struct s3_client *c, const char *key, struct fiona_err *err)
{
	struct s3_req rq = {.method = "DELETE", .key = key};
	struct s3_resp rs = {0};
	int rc;

	rc = keyed_request(c, &rq, &rs, err);
	if (rc == 0 && rs.status != 204 && rs.status != 200) {
		rc = s3_status_error(c, &rq, &rs, err);
		if (rc == -ENOENT && !strstr(err ? err->reason : "", "NoSuchBucket"))
			rc = 0; /* the key is gone: what was asked */
	}
	buf_release(&rs.body);
	return rc;
}

/* ---- listing -------------------------------------------------------------------------- */

struct list_ctx {
	const char *prefix;
	size_t prefix_len;
	s3_list_cb cb;
	void *arg;
	char last[S3_KEY_MAX + 1]; /* keys must come in increasing order */
	bool stray;		   /* a key outside the prefix or out of order */
};

static int list_one(void *arg, const char *key, uint64_t size)
{
	struct list_ctx *l = arg;

	/* a server that strays outside the prefix or goes backwards would make a collector
	 * that trusts the listing delete the wrong things */
	if (strncmp(key, l->prefix, l->prefix_len) || (l->last[0] && strcmp(key, l->last) <= 0)) {
		l->stray = true;
		return -EPROTO;
	}
	snprintf(l->last, sizeof(l->last), "%s", key);
	return l->cb(l->arg, key, size);
}

/* "continuation-token=T&list-type=2&max-keys=N&prefix=P": SigV4 wants the names sorted
 * and every value encoded, and libcurl 7.88 does neither. */
static int list_query(struct buf *q, const char *token, int max_keys, const char *prefix)
{
	int rc = 0;

	buf_reset(q);
	if (token[0])
		rc = buf_append(q, "continuation-token=", 19) ? -ENOMEM
							      : s3_uri_encode(q, token, true);
	rc = rc ? rc : buf_appendf(q, "%slist-type=2&max-keys=%d", token[0] ? "&" : "", max_keys);
	if (!rc && prefix[0])
		rc = buf_append(q, "&prefix=", 8) ? -ENOMEM : s3_uri_encode(q, prefix, true);
	return rc;
}

static int list_page(struct s3_client *c, struct list_ctx *l, const char *query,
		     struct s3_list_page *page, struct fiona_err *err)
{
	struct s3_req rq = {.method = "GET", .query = query};
	struct s3_resp rs = {0};
	int rc;

	buf_init(&rs.body, S3_LIST_BODY_MAX);
	rc = s3_request(c, &rq, &rs, err);
	if (rc == 0 && rs.status != 200)
		rc = s3_status_error(c, &rq, &rs, err);
	else if (rc == 0) {
		rc = s3_xml_list((const char *)rs.body.data, rs.body.len, list_one, l, page, err);
		if (l->stray)
			rc = err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG,
				     "S3 list %s: a key outside the prefix or out of order",
				     c->cfg->bucket);
	}
	buf_release(&rs.body);
	return rc;
}

int s3_list(struct s3_client *c, const char *prefix, int page_keys, s3_list_cb cb, void *arg,
	    struct fiona_err *err)
{
	struct list_ctx *l = calloc(1, sizeof(*l));
	struct s3_list_page *page = calloc(1, sizeof(*page));
	char *token = calloc(1, S3_TOKEN_MAX + 1);
	struct buf q;
	int rc = 0;

	buf_init(&q, 8192);
	if (!l || !page || !token) {
		rc = err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "S3 list: out of memory");
		goto out;
	}
	if (page_keys <= 0 || page_keys > 1000)
		page_keys = 1000;
	*l = (struct list_ctx){
		.prefix = prefix, .prefix_len = strlen(prefix), .cb = cb, .arg = arg};
	do {
		if ((rc = list_query(&q, token, page_keys, prefix))) {
			err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "S3 list: out of memory");
			break;
		}
		if ((rc = list_page(c, l, (const char *)q.data, page, err)))
			break;
		if (page->truncated && !strcmp(page->next_token, token)) {
			rc = err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG,
				     "S3 list %s: the same continuation token twice",
				     c->cfg->bucket);
			break;
		}
		snprintf(token, S3_TOKEN_MAX + 1, "%s", page->next_token);
	} while (page->truncated);
out:
	buf_release(&q);
	free(token);
	free(page);
	free(l);
	return rc;
}
