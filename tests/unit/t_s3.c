/* Unit tests of store/s3 (the private S3 client): the reply scanner, key files, and the
 * request path against a canned HTTP server on 127.0.0.1 (retries of 500/503 and 409,
 * no redirects, the signed headers, sorted list queries, a ranged GET answered whole). */
#include "core/core.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/s3_int.h"
#include "tests/unit/tt.h"

/* ---- the scanner ------------------------------------------------------------------- */

struct keys {
	char k[8][S3_KEY_MAX + 1];
	uint64_t size[8];
	size_t n;
};

static int keep(void *arg, const char *key, uint64_t size)
{
	struct keys *ks = arg;

	if (ks->n == 8)
		return -ENOSPC;
	snprintf(ks->k[ks->n], sizeof(ks->k[0]), "%s", key);
	ks->size[ks->n++] = size;
	return 0;
}

static int scan(const char *xml, struct keys *ks, struct s3_list_page *pg, struct fiona_err *e)
{
	memset(ks, 0, sizeof(*ks));
	return s3_xml_list(xml, strlen(xml), keep, ks, pg, e);
}

static void t_list_scan(struct tt *t)
{
	struct keys ks;
	struct s3_list_page pg;
	struct fiona_err e = {0};

	TT_CHECK(t, scan("<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><Name>b</Name>"
			 "<IsTruncated>true</IsTruncated><Contents><Key>objects/ab/1</Key>"
			 "<ETag>&quot;x&quot;</ETag><Size>513</Size></Contents><Contents><Key>"
			 "a&amp;b &#x41;&#228;&lt;</Key><Size>0</Size></Contents>"
			 "<NextContinuationToken>t&amp;1=</NextContinuationToken>"
			 "</ListBucketResult>",
			 &ks, &pg, &e) == 0);
	TT_CHECK(t, ks.n == 2 && pg.n_keys == 2 && pg.truncated);
	TT_CHECK(t, !strcmp(ks.k[0], "objects/ab/1") && ks.size[0] == 513);
	TT_CHECK(t, !strcmp(ks.k[1], "a&b A\xC3\xA4<") && ks.size[1] == 0);
	TT_CHECK(t, !strcmp(pg.next_token, "t&1="));
	TT_CHECK(t, scan("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
			 &ks, &pg, &e) == 0 &&
			    ks.n == 0 && !pg.truncated);
}

static void t_list_scan_refuses(struct tt *t)
{
	static const char *const bad[] = {
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult><Contents><Key>a</Key><Size>1</Size></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#1;</Key><Size>1</Size></Contents>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
		"<ListBucketResult></ListBucketResult>",
	};
	struct keys ks;
	struct s3_list_page pg;

	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		struct fiona_err e = {0};
		int rc = scan(bad[i], &ks, &pg, &e);

		TT_CHECK_MSG(t, rc == -EPROTO && e.reason[0], "case %zu: %d", i, rc);
	}
}

static void t_error_code(struct tt *t)
{
	static const char body[] = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch"
				   "</Code><Message></Message></Error>";
	char code[64];

	TT_CHECK(t, s3_xml_error_code(body, strlen(body), code, sizeof(code)) == 0);
	TT_CHECK(t, !strcmp(code, "SignatureDoesNotMatch"));
	TT_CHECK(t, s3_xml_error_code("<Error></Error>", 15, code, sizeof(code)) == -ENOENT);
	TT_CHECK(t, s3_xml_error_code("<Code>\xC3\xA4</Code>", 15, code, sizeof(code)) == -ENOENT);
}

static void t_uri_encode(struct tt *t)
{
	struct buf b;

	buf_init(&b, 1024);
	TT_CHECK(t, s3_uri_encode(&b, "a b+c/d~_-.\xC3\xA4", false) == 0);
	TT_CHECK(t, !strcmp((char *)b.data, "a%20b%2Bc/d~_-.%C3%A4"));
	buf_reset(&b);
	TT_CHECK(t, s3_uri_encode(&b, "ab/c=", true) == 0);
	TT_CHECK(t, !strcmp((char *)b.data, "ab%2Fc%3D"));
	buf_release(&b);
}

/* ---- key files ----------------------------------------------------------------------- */

static int write_keys(const char *path, const char *text, unsigned mode)
{
	FILE *fp = fopen(path, "w");

	if (!fp)
		return -1;
	fputs(text, fp);
	fclose(fp);
	return chmod(path, mode);
}

static void t_creds(struct tt *t)
{
	char dir[] = "/tmp/t_s3.XXXXXX", path[64];
	struct s3_creds c;
	struct fiona_err e = {0};

	TT_CHECK(t, mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/keys", dir);
	TT_CHECK(t,
		 write_keys(path, "# test\naccess_key_id = AKID\n\nsecret_access_key=S3CR3T/x+y\n",
			    0600) == 0);
	TT_CHECK(t, s3_creds_load(path, &c, &e) == 0);
	TT_CHECK(t, !strcmp(c.access_key, "AKID") && !strcmp(c.secret_key, "S3CR3T/x+y"));
	s3_creds_wipe(&c);
	TT_CHECK(t, chmod(path, 0640) == 0);
	TT_CHECK(t, s3_creds_load(path, &c, &e) == -EPERM && strstr(e.reason, "chmod 600"));
	TT_CHECK(t, write_keys(path, "access_key_id = AKID\nsecret = S3CR3T\n", 0600) == 0);
	TT_CHECK(t, s3_creds_load(path, &c, &e) == -EINVAL && strstr(e.reason, "line 2"));
	TT_CHECK(t, !strstr(e.reason, "S3CR3T")); /* a bad line is never quoted */
	TT_CHECK(t, write_keys(path, "access_key_id = AKID\n", 0600) == 0);
	TT_CHECK(t, s3_creds_load(path, &c, &e) == -EINVAL && strstr(e.reason, "both"));
	unlink(path);
	rmdir(dir);
}

static void t_config_refused(struct tt *t)
{
	static const char *const endpoints[] = {"ftp://h", "http://h/", "http://h/path",
						"http://u@h", "h:80"};
	struct s3_creds cr = {"AKID", "SECRET"};
	struct s3_config cfg = {.bucket = "fiona"};
	struct s3_client c;
	struct fiona_err e = {0};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(endpoints); i++) {
		snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", endpoints[i]);
		TT_CHECK_MSG(t, s3_client_init(&c, &cfg, &cr, NULL, &e) == -EINVAL, "%s",
			     endpoints[i]);
	}
	snprintf(cfg.endpoint, sizeof(cfg.endpoint), "http://127.0.0.1:1");
	snprintf(cfg.bucket, sizeof(cfg.bucket), "Bad_Bucket");
	TT_CHECK(t,
		 s3_client_init(&c, &cfg, &cr, NULL, &e) == -EINVAL && strstr(e.reason, "bucket"));
}

/* ---- a canned HTTP server ------------------------------------------------------------ */

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

struct canned {
	int lfd, port;
	/* sent in turn, one per request: "STATUS[\r\nHEADER...]|BODY" (no body after HEAD) */
	const char *replies[8];
	size_t n, served;
	char reqs[8][2048]; /* request line and headers of each request */
	pthread_t th;
};

static void read_request(int fd, char *out, size_t cap)
{
	size_t n = 0, body = 0;
	ssize_t r;
	char *end = NULL, *cl;

	while (n + 1 < cap && !end && (r = read(fd, out + n, cap - 1 - n)) > 0) {
		n += (size_t)r;
		out[n] = '\0';
		end = strstr(out, "\r\n\r\n");
	}
	if (!end)
		return;
	if ((cl = strcasestr(out, "content-length: ")))
		body = strtoul(cl + 16, NULL, 10);
	/* libcurl asks before every PUT body */
	if (strcasestr(out, "expect: 100-continue") &&
	    write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 25)
		return;
	{
		size_t have = n - (size_t)(end + 4 - out); /* of the body, read with the head */

		body = body > have ? body - have : 0;
	}
	end[4] = '\0';
	for (char sink[4096]; body && (r = read(fd, sink, body < 4096 ? body : 4096)) > 0;)
		body -= (size_t)r;
}

static int reply(int fd, const char *r, bool head)
{
	const char *bar = strchr(r, '|');
	char top[512];
	int n = snprintf(top, sizeof(top), "HTTP/1.1 %.*s\r\nContent-Length: %zu\r\n\r\n",
			 (int)(bar - r), r, strlen(bar + 1));

	if (write(fd, top, (size_t)n) != n)
		return -1;
	return head || write(fd, bar + 1, strlen(bar + 1)) == (ssize_t)strlen(bar + 1) ? 0 : -1;
}

static void *serve(void *arg)
{
	struct canned *s = arg;
	int fd = -1;

	while (s->served < s->n) {
		if (fd < 0 && (fd = accept(s->lfd, NULL, NULL)) < 0)
			break;
		read_request(fd, s->reqs[s->served], sizeof(s->reqs[0]));
		if (!s->reqs[s->served][0]) { /* the client closed: take the next connection */
			close(fd);
			fd = -1;
			continue;
		}
		if (reply(fd, s->replies[s->served], !strncmp(s->reqs[s->served], "HEAD ", 5)))
			break;
		s->served++;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int canned_start(struct canned *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);

	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 4) ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &len))
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, serve, s) ? -1 : 0;
}

static void canned_stop(struct canned *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

#define R503 "503 Slow Down|<Error><Code>SlowDown</Code></Error>"
#define R200 "200 OK|"

static int client_for(struct canned *s, struct s3_client *c, struct s3_config *cfg, int retries)
{
	struct s3_creds cr = {"AKIDTEST", "SECRETTEST"};

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->endpoint, sizeof(cfg->endpoint), "http://127.0.0.1:%d", s->port);
	snprintf(cfg->bucket, sizeof(cfg->bucket), "fiona");
	cfg->max_retries = retries;
	cfg->backoff_ms = 1;
	cfg->timeout_ms = 5000; /* a request the script does not expect fails, not hangs */
	return s3_client_init(c, cfg, &cr, NULL, NULL);
}

static void t_put_retries_503_then_signs(struct tt *t)
{
	struct canned s = {.replies = {R503, R503, R200}, .n = 3};
	struct s3_config cfg;
	struct s3_client c;
	enum s3_put_result res;
	struct fiona_err e = {0};
	char sha[65], want[128];
	int rc;

	TT_CHECK(t, canned_start(&s) == 0 && client_for(&s, &c, &cfg, 4) == 0);
	rc = s3_put(&c, "objects/ab/x", "hello", 5, S3_PUT_NO_HEAD, &res, &e);
	s3_client_release(&c);
	canned_stop(&s);
	TT_CHECK_MSG(t, rc == 0 && res == S3_PUT_CREATED, "%d %s", rc, e.reason);
	TT_CHECK(t, c.stats.requests == 3 && c.stats.retries == 2);
	s3_sha256_hex("hello", 5, sha);
	snprintf(want, sizeof(want), "x-amz-content-sha256: %s", sha);
	TT_CHECK(t, starts(s.reqs[2], "PUT /fiona/objects/ab/x HTTP/1.1\r\n"));
	TT_CHECK(t, strcasestr(s.reqs[2], want) && strcasestr(s.reqs[2], "if-none-match: *"));
	TT_CHECK(t, strstr(s.reqs[2], "AWS4-HMAC-SHA256 Credential=AKIDTEST/") &&
			    strstr(s.reqs[2], "/us-east-1/s3/aws4_request"));
	TT_CHECK(t, !strstr(s.reqs[2], "SECRETTEST"));
}

static void t_retries_are_bounded(struct tt *t)
{
	struct canned s = {.replies = {R503, R503, R503}, .n = 3};
	struct s3_config cfg;
	struct s3_client c;
	struct fiona_err e = {0};
	uint64_t size;
	int rc;

	TT_CHECK(t, canned_start(&s) == 0 && client_for(&s, &c, &cfg, 2) == 0);
	rc = s3_head(&c, "k", &size, &e);
	s3_client_release(&c);
	canned_stop(&s);
	TT_CHECK_MSG(t, rc == -EAGAIN && strstr(e.reason, "HTTP 503"), "%d %s", rc, e.reason);
	TT_CHECK(t, c.stats.requests == 3);
}

static void t_conflict_then_exists(struct tt *t)
{
	struct canned s = {.replies = {"409 Conflict|", "412 Precondition Failed|"}, .n = 2};
	struct s3_config cfg;
	struct s3_client c;
	enum s3_put_result res;
	struct fiona_err e = {0};
	int rc;

	TT_CHECK(t, canned_start(&s) == 0 && client_for(&s, &c, &cfg, 4) == 0);
	rc = s3_put(&c, "k", "x", 1, S3_PUT_NO_HEAD, &res, &e);
	s3_client_release(&c);
	canned_stop(&s);
	TT_CHECK_MSG(t, rc == 0 && res == S3_PUT_EXISTED, "%d %s", rc, e.reason);
}

static void t_redirect_not_followed(struct tt *t)
{
	struct canned s = {
		.replies = {"301 Moved Permanently\r\nLocation: http://evil.example/|", R200},
		.n = 2};
	struct s3_config cfg;
	struct s3_client c;
	struct fiona_err e = {0};
	int rc;

	TT_CHECK(t, canned_start(&s) == 0 && client_for(&s, &c, &cfg, 4) == 0);
	rc = s3_delete(&c, "k", &e);
	s3_client_release(&c);
	canned_stop(&s);
	TT_CHECK_MSG(t, rc == -EPROTO && strstr(e.reason, "redirect"), "%d %s", rc, e.reason);
	TT_CHECK(t, c.stats.requests == 1);
}

static void t_get_range_ignored(struct tt *t)
{
	struct canned s = {.replies = {"200 OK|abcd"}, .n = 1};
	struct s3_config cfg;
	struct s3_client c;
	struct fiona_err e = {0};
	char out[8];
	size_t got = 99;
	int rc;

	TT_CHECK(t, canned_start(&s) == 0 && client_for(&s, &c, &cfg, 0) == 0);
	rc = s3_get(&c, "k", 2, 8, out, &got, &e);
	s3_client_release(&c);
	canned_stop(&s);
	TT_CHECK_MSG(t, rc == -EPROTO && got == 99, "%d %s", rc, e.reason);
	TT_CHECK(t, strcasestr(s.reqs[0], "range: bytes=2-9"));
}

static void t_list_pages_sorted_query(struct tt *t)
{
	struct canned s = {
		.replies = {"200 OK|<ListBucketResult>"
			    "<IsTruncated>true</IsTruncated><Contents><Key>a/b1</Key><Size>1"
			    "</Size></Contents><NextContinuationToken>T+/=</NextContinuationToken>"
			    "</ListBucketResult>",
			    "200 OK|<ListBucketResult>"
			    "<IsTruncated>false</IsTruncated><Contents><Key>a/b2</Key><Size>22"
			    "</Size></Contents></ListBucketResult>"},
		.n = 2};
	struct s3_config cfg;
	struct s3_client c;
	struct fiona_err e = {0};
	struct keys ks = {0};
	int rc;

	TT_CHECK(t, canned_start(&s) == 0 && client_for(&s, &c, &cfg, 0) == 0);
	rc = s3_list(&c, "a/b", 1, keep, &ks, &e);
	s3_client_release(&c);
	canned_stop(&s);
	TT_CHECK_MSG(t, rc == 0 && ks.n == 2, "%d %s", rc, e.reason);
	TT_CHECK(t, !strcmp(ks.k[1], "a/b2") && ks.size[1] == 22);
	TT_CHECK_MSG(t, starts(s.reqs[0], "GET /fiona?list-type=2&max-keys=1&prefix=a%2Fb "),
		     "%.80s", s.reqs[0]);
	TT_CHECK_MSG(t,
		     starts(s.reqs[1], "GET /fiona?continuation-token=T%2B%2F%3D&list-type=2&"
				       "max-keys=1&prefix=a%2Fb "),
		     "%.100s", s.reqs[1]);
}

static void t_refused_is_quick(struct tt *t)
{
	struct canned s = {.n = 0};
	struct s3_config cfg;
	struct s3_client c;
	struct fiona_err e = {0};
	uint64_t size;
	double t0;
	int rc;

	TT_CHECK(t, canned_start(&s) == 0);
	canned_stop(&s); /* the port is closed now */
	TT_CHECK(t, client_for(&s, &c, &cfg, 4) == 0);
	t0 = core_now_mono();
	rc = s3_head(&c, "k", &size, &e);
	s3_client_release(&c);
	TT_CHECK_MSG(t, rc == -ECONNREFUSED && strstr(e.reason, "127.0.0.1"), "%d %s", rc,
		     e.reason);
	TT_CHECK(t, core_now_mono() - t0 < 1.0 && c.stats.requests == 1);
}

TT_MAIN(TT_CASE(t_list_scan), TT_CASE(t_list_scan_refuses), TT_CASE(t_error_code),
	TT_CASE(t_uri_encode), TT_CASE(t_creds), TT_CASE(t_config_refused),
	TT_CASE(t_put_retries_503_then_signs), TT_CASE(t_retries_are_bounded),
	TT_CASE(t_conflict_then_exists), TT_CASE(t_redirect_not_followed),
	TT_CASE(t_get_range_ignored), TT_CASE(t_list_pages_sorted_query),
	TT_CASE(t_refused_is_quick))
