/*
 * s3: the client's handle, its credentials and the one request path every operation of
 * s3_ops.c goes through. A request is signed by libcurl (SigV4) with the body's real
 * SHA-256 in x-amz-content-sha256 (libcurl 7.88 would otherwise sign an empty body and
 * the server refuses the PUT). Redirects are not followed: a 3xx means a wrong endpoint
 * or region, which is a configuration error to report, not to chase with the keys. TLS is
 * verified whenever the endpoint is https. curl's verbose output stays off: it would print
 * the Authorization header. 500 and 503 (S3's "slow down") are retried a bounded number of
 * times with jittered exponential backoff, as is a connection that dropped mid-request;
 * a refused or unreachable endpoint is reported at once, because the caller (a C-STORE
 * waiting for its answer) must refuse quickly rather than hang.
 */
#include "core/core.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/s3_int.h"

#define S3_KEYFILE_MAX	  4096
#define S3_BACKOFF_CAP_MS 2000

void s3_creds_wipe(struct s3_creds *c)
{
	explicit_bzero(c, sizeof(*c));
}

/* "name = value" on one line of the key file into out; -EINVAL if too long or empty. */
static int creds_value(const char *v, size_t n, char *out, size_t cap)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= cap)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)v[i] <= ' ' || (uint8_t)v[i] >= 0x7F)
			return -EINVAL;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int creds_parse(char *text, size_t len, struct s3_creds *c, const char *path,
		       struct fiona_err *err)
{
	size_t line = 0;

	for (char *p = text, *end = text + len; p < end; line++) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int rc = -EINVAL;

		eq = memchr(p, '=', n);
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		if (n == 0 || *p == '#' || (n == 1 && *p == '\r')) {
			p += n + 1;
			continue;
		}
		if (eq && !strncmp(p, "access_key_id", 13) &&
		    strspn(p + 13, " \t") == (size_t)(eq - p - 13))
			rc = creds_value(eq + 1, n - (size_t)(eq + 1 - p), c->access_key,
					 sizeof(c->access_key));
		else if (eq && !strncmp(p, "secret_access_key", 17) &&
			 strspn(p + 17, " \t") == (size_t)(eq - p - 17))
			rc = creds_value(eq + 1, n - (size_t)(eq + 1 - p), c->secret_key,
					 sizeof(c->secret_key));
		if (rc) /* the line itself is never quoted: it may hold a key */
			return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
				       "%s: line %zu: expected access_key_id = ... or "
				       "secret_access_key = ... (1-128 printable characters)",
				       path, line + 1);
		p += n + 1;
	}
	if (!c->access_key[0] || !c->secret_key[0])
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "%s: needs both access_key_id and secret_access_key", path);
	return 0;
}

int s3_creds_load(const char *path, struct s3_creds *out, struct fiona_err *err)
{
	char text[S3_KEYFILE_MAX + 1];
	struct s3_creds c = {0};
	struct stat st;
	ssize_t n;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", path,
			       strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return err_set(err, -EPERM, CORE_NO_OFFSET, CORE_NO_TAG,
			       "%s: an S3 key file must be a regular file readable by its owner "
			       "only (chmod 600)",
			       path);
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0 || n > S3_KEYFILE_MAX) {
		explicit_bzero(text, sizeof(text));
		return err_set(err, n < 0 ? -EIO : -EFBIG, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s",
			       path, n < 0 ? "cannot read" : "larger than 4 KiB");
	}
	rc = creds_parse(text, (size_t)n, &c, path, err);
	explicit_bzero(text, sizeof(text));
	if (rc == 0)
		*out = c;
	s3_creds_wipe(&c);
	return rc;
}

static bool name_ok(const char *s, size_t min, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr(extra, s[i])))
			return false;
	return true;
}

static int config_check(const struct s3_config *cfg, struct fiona_err *err)
{
	const char *e = cfg->endpoint;
	size_t n = strlen(e);

	if (strncmp(e, "http://", 7) && strncmp(e, "https://", 8))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 endpoint \"%.100s\": must start with http:// or https://", e);
	if (n < 9 || e[n - 1] == '/' || strchr(e + 8, '/') || strchr(e, '?') || strchr(e, '@'))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 endpoint \"%.100s\": scheme://host[:port] only (no path, user "
			       "or trailing slash; the bucket is configured apart)",
			       e);
	if (!name_ok(cfg->bucket, 3, 63, ".-"))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 bucket \"%.70s\": 3-63 lower-case letters, digits, '.' or '-'",
			       cfg->bucket);
	if (cfg->region[0] && !name_ok(cfg->region, 1, 40, "-"))
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 region \"%.50s\": lower-case letters, digits and '-'",
			       cfg->region);
	return 0;
}

int s3_client_init(struct s3_client *c, const struct s3_config *cfg, const struct s3_creds *creds,
		   struct fiona_log *log, struct fiona_err *err)
{
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = config_check(cfg, err)))
		return rc;
	if (!creds->access_key[0] || !creds->secret_key[0])
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "S3: no credentials");
	c->cfg = cfg;
	c->log = log;
	c->sock = -1;
	snprintf(c->user, sizeof(c->user), "%s", creds->access_key);
	snprintf(c->secret, sizeof(c->secret), "%s", creds->secret_key);
	snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3",
		 cfg->region[0] ? cfg->region : "us-east-1");
	if (getrandom(&c->rnd, sizeof(c->rnd), GRND_NONBLOCK) != sizeof(c->rnd) || !c->rnd)
		c->rnd = (uint64_t)core_now_wall() * 0x9E3779B97F4A7C15ull | 1;
	c->curl = curl_easy_init();
	if (!c->curl) {
		s3_client_release(c);
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "S3: curl_easy_init");
	}
	return 0;
}

void s3_client_release(struct s3_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	explicit_bzero(c->user, sizeof(c->user));
	explicit_bzero(c->secret, sizeof(c->secret));
}

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256(p, n, d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- one request -------------------------------------------------------------------- */

struct xfer {
	struct s3_client *c;
	const struct s3_req *rq;
	struct s3_resp *rs;
	size_t sent; /* of the body */
	bool overflow;
	bool acked; /* quickack after the first header line of this reply */
};

static size_t on_read(char *dst, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nitems, left = x->rq->body_len - x->sent;

	if (n > left)
		n = left;
	memcpy(dst, (const char *)x->rq->body + x->sent, n);
	x->sent += n;
	return n;
}

static void quickack(curl_socket_t fd);

/* The status line has arrived: acknowledge it now (see quickack). */
static size_t on_header(char *p, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;

	(void)p;
	if (!x->acked && x->c->sock >= 0)
		quickack(x->c->sock);
	x->acked = true;
	return size * nitems;
}

/* 2xx bodies of a ranged GET go to the caller's buffer, everything else to rs->body. */
static size_t on_write(char *p, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nitems;
	long status = 0;

	curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 == 2 && x->rq->out) {
		if (n > x->rq->out_cap - x->rs->got) {
			x->overflow = true;
			return 0;
		}
		memcpy((char *)x->rq->out + x->rs->got, p, n);
		x->rs->got += n;
		return n;
	}
	if (buf_append(&x->rs->body, p, n)) {
		x->overflow = true;
		return 0;
	}
	return n;
}

static int url_build(const struct s3_client *c, const struct s3_req *rq, struct buf *u)
{
	int rc = buf_appendf(u, "%s/%s", c->cfg->endpoint, c->cfg->bucket);

	if (!rc && rq->key)
		rc = buf_append(u, "/", 1) ? -ENOMEM : s3_uri_encode(u, rq->key, false);
	if (!rc && rq->query && rq->query[0])
		rc = buf_appendf(u, "?%s", rq->query);
	return rc;
}

static struct curl_slist *headers_build(const struct s3_req *rq)
{
	char sha[65], line[96];
	struct curl_slist *h, *t;

	s3_sha256_hex(rq->body_len ? rq->body : "", rq->body_len, sha);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
	if (!(h = curl_slist_append(NULL, line)) || !rq->if_none_match)
		return h;
	/* curl's own "Expect: 100-continue" (bodies over 1 MiB) stays: suppressing it with an
	 * empty "Expect:" header makes libcurl 7.88 sign a header it does not send, and the
	 * server answers SignatureDoesNotMatch */
	if (!(t = curl_slist_append(h, "If-None-Match: *")))
		curl_slist_free_all(h);
	return t;
}

/* Acknowledge what has arrived now. radosgw writes a reply's headers and body apart; a
 * body smaller than the MSS (a 4 KiB range on loopback) then waits in the server's Nagle
 * buffer until our delayed ACK of the headers goes out, 40 ms later. Setting TCP_QUICKACK
 * when the status line has arrived sends that ACK at once (Linux leaves quick-ack mode by
 * itself, so it is set again for every reply). */
static void quickack(curl_socket_t fd)
{
	int one = 1;

	if (fd != CURL_SOCKET_BAD)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* A new connection: remember its socket (curl does not tell callbacks which one a
 * transfer uses; a reused connection keeps the last one). */
static int on_socket(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct s3_client *c = arg;

	(void)purpose;
	c->sock = (int)fd;
	return CURL_SOCKOPT_OK;
}

static void options_set(struct s3_client *c, struct xfer *x, const char *url,
			struct curl_slist *hdr, const char *range)
{
	CURL *h = c->curl;
	const struct s3_req *rq = x->rq;

	curl_easy_reset(h); /* keeps the connection cache: the next request reuses it */
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 0L); /* verbose output would show the signature */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_socket);
	curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, c);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 c->cfg->connect_timeout_ms > 0 ? c->cfg->connect_timeout_ms : 3000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			 c->cfg->timeout_ms > 0 ? c->cfg->timeout_ms : 60000L);
	if (!strncmp(c->cfg->endpoint, "https://", 8)) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
		if (c->cfg->ca_file[0])
			curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg->ca_file);
	}
	curl_easy_setopt(h, CURLOPT_USERAGENT, "fiona");
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (!strcmp(rq->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
	} else if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	if (range)
		curl_easy_setopt(h, CURLOPT_RANGE, range);
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EPROTO;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

/* One attempt: 0 with rs->status set (any HTTP status), or -errno for a transport failure
 * with the reason in err. */
static int attempt(struct s3_client *c, const struct s3_req *rq, const char *url,
		   struct curl_slist *hdr, const char *range, struct s3_resp *rs,
		   struct fiona_err *err)
{
	struct xfer x = {c, rq, rs, 0, false, false};
	curl_off_t cl = -1;
	CURLcode cc;

	buf_reset(&rs->body);
	rs->got = 0;
	rs->status = 0;
	options_set(c, &x, url, hdr, range);
	c->stats.requests++;
	cc = curl_easy_perform(c->curl);
	if (x.overflow)
		return err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 %s %s: the reply is longer than asked for", rq->method,
			       rq->key ? rq->key : c->cfg->bucket);
	if (cc != CURLE_OK)
		return err_set(err, curl_errno(cc), CORE_NO_OFFSET, CORE_NO_TAG,
			       "S3 %s %s: %s: %.150s", rq->method,
			       rq->key ? rq->key : c->cfg->bucket, c->cfg->endpoint,
			       c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &rs->status);
	curl_easy_getinfo(c->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	rs->length = (int64_t)cl;
	return 0;
}

static bool retryable(const struct s3_req *rq, int rc, long status)
{
	if (rc)
		return rc == -ECONNRESET;
	return status == 500 || status == 503 || (rq->retry_409 && status == 409);
}

static uint64_t rnd_next(struct s3_client *c)
{
	c->rnd ^= c->rnd << 13;
	c->rnd ^= c->rnd >> 7;
	c->rnd ^= c->rnd << 17;
	return c->rnd;
}

/* base * 2^k, capped, times a uniform factor in [0.5, 1): writers that collided spread out */
static long backoff_ms(struct s3_client *c, int k)
{
	long ms = c->cfg->backoff_ms > 0 ? c->cfg->backoff_ms : 50;

	for (int i = 0; i < k && ms < S3_BACKOFF_CAP_MS; i++)
		ms *= 2;
	if (ms > S3_BACKOFF_CAP_MS)
		ms = S3_BACKOFF_CAP_MS;
	return ms / 2 + (long)(rnd_next(c) % (uint64_t)(ms / 2 + 1));
}

int s3_request(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs,
	       struct fiona_err *err)
{
	int tries = c->cfg->max_retries > 0 ? c->cfg->max_retries : c->cfg->max_retries < 0 ? 0 : 4;
	struct curl_slist *hdr = headers_build(rq);
	char range[48], *rp = NULL;
	struct fiona_err e = {0};
	struct buf url;
	int rc;

	buf_init(&url, 8192);
	if (!hdr || url_build(c, rq, &url)) {
		rc = err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "S3 %s: out of memory",
			     rq->method);
		goto out;
	}
	if (rq->range_len) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)rq->range_off,
			 (unsigned long long)(rq->range_off + rq->range_len - 1));
		rp = range;
	}
	for (int k = 0;; k++) {
		struct timespec ts;
		long ms;

		rc = attempt(c, rq, (const char *)url.data, hdr, rp, rs, &e);
		if (k >= tries || !retryable(rq, rc, rs->status))
			break;
		ms = backoff_ms(c, k);
		if (rc)
			log_msg(c->log, LOG_WARN, "s3", "%s; retry %d of %d in %ld ms", e.reason,
				k + 1, tries, ms);
		else
			log_msg(c->log, LOG_WARN, "s3", "%s %s: HTTP %ld, retry %d of %d in %ld ms",
				rq->method, rq->key ? rq->key : c->cfg->bucket, rs->status, k + 1,
				tries, ms);
		c->stats.retries++;
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
	if (rc && err)
		*err = e;
out:
	curl_slist_free_all(hdr);
	buf_release(&url);
	return rc;
}
