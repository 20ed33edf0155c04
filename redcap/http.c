/*
 * http: one REDCap API request at a time over libcurl. POST form-encoded to the /api/ URL
 * with the token in the body only (never in the URL, never logged: curl's verbose output
 * stays off), TLS verified (VERIFYPEER, VERIFYHOST 2) against the configured CA file,
 * no redirects (a 3xx is a configuration error), TCP_NODELAY, bounded connect and total
 * time. Before each request the caller's budget hands out a token: REDCap bans an IP
 * for good once it passes its per-minute limit, so fiona stays far below it.
 */
#include "core/core.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redcap/redcap_int.h"

int redcap_token_load(const char *path, char *out, size_t cap, struct fiona_err *err)
{
	char buf[130];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", path,
			       strerror(errno));
	if (fstat(fd, &st) || (st.st_mode & 077)) {
		close(fd);
		return err_set(err, -EPERM, CORE_NO_OFFSET, CORE_NO_TAG,
			       "%s: a token file must be readable by its owner only (chmod 600)",
			       path);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG, "%s: cannot read", path);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'A' && buf[i] <= 'Z') ||
		      (buf[i] >= 'a' && buf[i] <= 'z')))
			n = -1;
	if (n < 32 || n > 64 || (size_t)n >= cap) {
		explicit_bzero(buf, sizeof(buf));
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "%s: not a REDCap API token (32-64 letters and digits)", path);
	}
	memcpy(out, buf, (size_t)n + 1);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int rc_client_init(struct rc_client *c, const struct config_redcap *cfg, struct fiona_log *log)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->log = log;
	c->per_second = (double)cfg->requests_per_minute / 60.0;
	c->burst = cfg->requests_per_minute >= 30 ? cfg->requests_per_minute / 30.0 : 1.0;
	c->tokens = c->burst;
	c->refilled = core_now_mono();
	c->curl = curl_easy_init();
	return c->curl ? 0 : -ENOMEM;
}

void rc_client_release(struct rc_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

double rc_budget_wait(struct rc_client *c)
{
	double now = core_now_mono();

	c->tokens += (now - c->refilled) * c->per_second;
	if (c->tokens > c->burst)
		c->tokens = c->burst;
	c->refilled = now;
	return c->tokens >= 1.0 ? 0.0 : (1.0 - c->tokens) / c->per_second;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* "k=v&k=v" with every value escaped; PHP arrays are written by the caller as "fields[0]". */
static int form_build(CURL *curl, const char *token, const char *const *kv, size_t n,
		      struct buf *out)
{
	int rc = buf_appendf(out, "token=%s", token);

	for (size_t i = 0; !rc && i + 1 < n; i += 2) {
		char *v = curl_easy_escape(curl, kv[i + 1], 0);

		rc = v ? buf_appendf(out, "&%s=%s", kv[i], v) : -ENOMEM;
		curl_free(v);
	}
	return rc;
}

static int sockopt_nodelay(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	int one = 1;

	(void)arg, (void)purpose;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return CURL_SOCKOPT_OK;
}

static void set_options(struct rc_client *c, const char *body, size_t len, struct buf *resp)
{
	CURL *h = c->curl;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, c->cfg->url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->cfg->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg->ca_file);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->cfg->timeout_seconds);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 0L); /* verbose output would carry the token */
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, sockopt_nodelay);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "fiona");
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	/* REDCap answers "Expect: 100-continue" slowly behind some proxies: not needed */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
}

int rc_post(struct rc_client *c, const char *token, const char *const *kv, size_t n,
	    struct rc_reply *out)
{
	struct buf body = {0};
	CURLcode cc;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&body, 64u << 20);
	buf_init(&out->body, 256u << 20);
	if (!c->headers)
		c->headers = curl_slist_append(NULL, "Expect:");
	if ((rc = form_build(c->curl, token, kv, n, &body))) {
		buf_release(&body);
		return rc;
	}
	c->tokens -= 1.0;
	c->requests++;
	set_options(c, (const char *)body.data, body.len, &out->body);
	cc = curl_easy_perform(c->curl);
	explicit_bzero(body.data, body.len); /* the token was in it */
	buf_release(&body);
	if (cc != CURLE_OK) {
		out->status = 0;
		snprintf(out->error, sizeof(out->error), "%.150s",
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		return 0;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
	if (!out->body.data && buf_reserve(&out->body, 1) == 0)
		out->body.data[0] = '\0'; /* the parsers read a NUL-terminated body */
	return out->body.data ? 0 : -ENOMEM;
}

void rc_reply_free(struct rc_reply *r)
{
	buf_release(&r->body);
}
