/*
 * http.c: a single-threaded poll() HTTP/1.1 server on 127.0.0.1 with
 * non-blocking sockets, enough for libcurl and curl: Content-Length bodies,
 * "Expect: 100-continue", keep-alive, one request at a time per connection.
 * A delayed answer (latency) is a per-connection timer and a hung one a
 * connection state, so neither blocks the other connections.
 * Routes: /control (never rate counted or delayed), /api/ (REDCap), anything else
 * is Apache's 404 page. Each request logs one line to stderr, never the token.
 * With a certificate (e->tls) every connection speaks TLS through tls.c, behind
 * conn_recv()/conn_send(); the rest of this file does not know the difference.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/redcap/emu.h"

#define HEAD_MAX (64 * 1024)
#define BODY_MAX ((size_t)128 << 20)
#define CONN_MAX 1000

enum cstate { C_READ, C_WAIT, C_HANG, C_CLOSING };

struct conn {
	int fd;
	char ip[64];
	struct tls_conn *tls; /* NULL: plain HTTP */
	int dropped;	      /* closed on purpose without an answer (no close_notify) */
	struct buf in, out;
	enum cstate state;
	int64_t deadline;  /* C_WAIT: when to answer */
	int keepalive;	   /* of the request being served */
	int sent_continue; /* 100 Continue already sent for this request */
	int peer_gone;	   /* closed while its answer was delayed: serve, then drop */
	char method[16];
	char path[512];
	struct buf body; /* the request being served */
};

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	default:
		return "Status";
	}
}

int http_listen(struct emu *e, int port, int *bound_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(a);
	int one = 1, fd, rc;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	e->listen_fd = fd;
	*bound_port = ntohs(a.sin_port);
	return 0;
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	tls_close(c->tls, !c->dropped);
	if (c->fd >= 0)
		close(c->fd);
	buf_release(&c->in);
	buf_release(&c->out);
	buf_release(&c->body);
	free(c);
}

static void conn_remove(struct emu *e, size_t i)
{
	conn_free(e->conns[i]);
	e->conns[i] = e->conns[--e->nconns];
}

static void accept_all(struct emu *e)
{
	for (;;) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		int fd = accept4(e->listen_fd, (struct sockaddr *)&a, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c, **v;

		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		v = realloc(e->conns, (e->nconns + 1) * sizeof(*v));
		if (v)
			e->conns = v;
		if (!c || !v || e->nconns >= CONN_MAX) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		inet_ntop(AF_INET, &a.sin_addr, c->ip, sizeof(c->ip));
		if (e->tls && !(c->tls = tls_accept(e, fd, c->ip))) {
			conn_free(c);
			continue;
		}
		e->conns[e->nconns++] = c;
	}
}

/* Queues a complete answer on the connection. */
static int put_answer(struct conn *c, int status, const char *ctype, const struct buf *body)
{
	int rc = buf_addf(&c->out,
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: %s\r\n\r\n",
			  status, reason(status), ctype, body->n,
			  c->keepalive ? "keep-alive" : "close");

	if (rc == 0 && body->n)
		rc = buf_add(&c->out, body->p, body->n);
	if (!c->keepalive)
		c->state = C_CLOSING;
	return rc;
}

static int put_simple(struct conn *c, int status, const char *ctype, const char *text)
{
	struct buf b = {0};
	int rc = buf_adds(&b, text);

	if (rc == 0)
		rc = put_answer(c, status, ctype, &b);
	buf_release(&b);
	return rc;
}

static const char *record_action(const struct form *f)
{
	const char *a = form_get(f, "action");

	if (a && strcmp(a, "delete") == 0)
		return "delete";
	return form_get(f, "data") ? "import" : "export";
}

static void log_line(const struct conn *c, const char *what, const struct form *f, int status,
		     size_t bytes)
{
	const char *content = f ? form_get(f, "content") : NULL;
	const char *action = f ? form_get(f, "action") : NULL;

	if (content && strcmp(content, "record") == 0)
		action = record_action(f);
	fprintf(stderr, "redcap-emu: %s %s %s content=%s action=%s status=%d bytes=%zu\n", c->ip,
		c->method, what, content ? content : "-", action ? action : "-", status, bytes);
}

static int serve_api(struct emu *e, struct conn *c, const struct form *f)
{
	struct resp r = {.status = 200, .ctype = "text/plain", .mode = RESP_ANSWER};
	int rc = api_handle(e, c->ip, f, &r);

	if (rc) {
		buf_reset(&r.body);
		r.status = 500;
		r.ctype = "text/html; charset=utf-8";
		r.mode = RESP_ANSWER;
	}
	if (r.mode == RESP_DROP) {
		log_line(c, "/api/", f, 0, 0);
		c->state = C_CLOSING;
		c->dropped = 1;
		buf_reset(&c->out);
		shutdown(c->fd, SHUT_RDWR);
	} else if (r.mode == RESP_HANG) {
		log_line(c, "/api/", f, -1, 0);
		c->state = C_HANG;
	} else {
		log_line(c, "/api/", f, r.status, r.body.n);
		rc = put_answer(c, r.status, r.ctype, &r.body);
	}
	buf_release(&r.body);
	return rc;
}

static int serve_control(struct emu *e, struct conn *c, const struct form *f)
{
	struct resp r = {.status = 200, .ctype = "application/json"};
	int rc = control_handle(e, f, &r);

	if (rc) {
		buf_reset(&r.body);
		buf_adds(&r.body, "{\"error\":\"out of memory\"}\n");
		r.status = 500;
	}
	fprintf(stderr, "redcap-emu: %s %s /control action=%s status=%d bytes=%zu\n", c->ip,
		c->method, form_get(f, "action") ? form_get(f, "action") : "-", r.status, r.body.n);
	rc = put_answer(c, r.status, r.ctype, &r.body);
	buf_release(&r.body);
	return rc;
}

#define NOT_FOUND                                                                                  \
	"<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>404 Not "      \
	"Found</title>\n</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on " \
	"this server.</p>\n</body></html>\n"

/* Serves the request held in c (method, path, body). */
static int serve(struct emu *e, struct conn *c)
{
	char *q = strchr(c->path, '?');
	struct form f = {0};
	int rc;

	if (q)
		*q = '\0';
	rc = form_parse(&f, c->body.p ? c->body.p : "", c->body.n);
	if (rc == 0 && q && strcmp(c->path, "/control") == 0) {
		/* curl 'http://.../control?action=stats' is handy in shell tests */
		struct form qf = {0};
		size_t i;

		rc = form_parse(&qf, q + 1, strlen(q + 1));
		for (i = 0; rc == 0 && i < qf.n; i++) {
			struct kv *v = realloc(f.v, (f.n + 1) * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				break;
			}
			f.v = v;
			f.v[f.n++] = qf.v[i];
			qf.v[i].k = qf.v[i].v = NULL;
		}
		form_release(&qf);
	}
	if (rc)
		goto out;
	if (strcmp(c->path, "/control") == 0) {
		rc = serve_control(e, c, &f);
	} else if (rate_hit(e, c->ip)) {
		char msg[128];

		snprintf(msg, sizeof(msg),
			 "Your IP address (%s) has been banned due to suspected abuse.", c->ip);
		log_line(c, c->path, NULL, 429, strlen(msg));
		rc = put_simple(c, 429, "text/plain; charset=utf-8", msg);
	} else if (strcmp(c->path, "/api/") != 0 && strcmp(c->path, "/api") != 0) {
		log_line(c, c->path, NULL, 404, strlen(NOT_FOUND));
		rc = put_simple(c, 404, "text/html; charset=iso-8859-1", NOT_FOUND);
	} else if (strcmp(c->method, "POST") != 0) {
		log_line(c, c->path, NULL, 501, 0);
		rc = put_simple(c, 501, "text/html; charset=utf-8",
				"The requested method is not implemented.");
	} else {
		rc = serve_api(e, c, &f);
	}
out:
	form_release(&f);
	buf_reset(&c->body);
	return rc;
}

static const char *header(const char *head, size_t hlen, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	const char *p = head, *end = head + hlen;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;

		if ((size_t)(le - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(le - v);
			while (*vlen && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
				(*vlen)--;
			return v;
		}
		p = le + 1;
	}
	return NULL;
}

static int hval_is(const char *v, size_t n, const char *want)
{
	return v && n == strlen(want) && strncasecmp(v, want, n) == 0;
}

/* Takes a complete request off c->in if there is one: 1 taken, 0 need more, <0 close. */
static int take_request(struct conn *c)
{
	char *end = memmem(c->in.p, c->in.n, "\r\n\r\n", 4);
	const char *v;
	size_t hlen, vlen, clen = 0;
	char version[16] = "";

	if (!end)
		return c->in.n > HEAD_MAX ? -EMSGSIZE : 0;
	hlen = (size_t)(end - c->in.p) + 4;
	if (sscanf(c->in.p, "%15s %511s %15s", c->method, c->path, version) != 3)
		return -EPROTO;
	v = header(c->in.p, hlen, "Connection", &vlen);
	c->keepalive = strcmp(version, "HTTP/1.1") == 0 ? !hval_is(v, vlen, "close")
							: hval_is(v, vlen, "keep-alive");
	if (header(c->in.p, hlen, "Transfer-Encoding", &vlen))
		return -ENOSYS;
	v = header(c->in.p, hlen, "Content-Length", &vlen);
	if (v) {
		char tmp[24];

		snprintf(tmp, sizeof(tmp), "%.*s", (int)(vlen < 23 ? vlen : 23), v);
		if (!emu_is_uint(tmp) || strlen(tmp) > 12)
			return -EPROTO;
		clen = (size_t)strtoull(tmp, NULL, 10);
	}
	if (clen > BODY_MAX)
		return -E2BIG;
	if (c->in.n < hlen + clen) {
		v = header(c->in.p, hlen, "Expect", &vlen);
		if (!c->sent_continue && hval_is(v, vlen, "100-continue")) {
			c->sent_continue = 1;
			if (buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n"))
				return -ENOMEM;
		}
		return 0;
	}
	buf_reset(&c->body);
	if (buf_add(&c->body, c->in.p + hlen, clen))
		return -ENOMEM;
	buf_consume(&c->in, hlen + clen);
	c->sent_continue = 0;
	return 1;
}

/* The connection's byte stream, plain or TLS; recv()/send() conventions. */
static ssize_t conn_recv(struct conn *c, void *p, size_t n)
{
	return c->tls ? tls_recv(c->tls, p, n) : recv(c->fd, p, n, 0);
}

static ssize_t conn_send(struct conn *c, const void *p, size_t n)
{
	return c->tls ? tls_send(c->tls, p, n) : send(c->fd, p, n, MSG_NOSIGNAL);
}

/* Reads what is there (with TLS: until OpenSSL holds nothing more, as poll cannot
 * see its buffer); returns -1 when the peer is gone. */
static int conn_read(struct conn *c)
{
	char tmp[65536];

	for (;;) {
		ssize_t n = conn_recv(c, tmp, sizeof(tmp));

		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		if (c->state == C_HANG)
			continue; /* a hung server reads and never answers */
		if (buf_add(&c->in, tmp, (size_t)n))
			return -1;
	}
}

static int conn_write(struct conn *c)
{
	while (c->out.n) {
		ssize_t n = conn_send(c, c->out.p, c->out.n);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

static int is_api_path(const char *path)
{
	return strncmp(path, "/control", 8) != 0;
}

/* Advances one connection; returns -1 if it should be closed. */
static int conn_step(struct emu *e, struct conn *c)
{
	int rc;

	if (c->state == C_WAIT && emu_now_ms() >= c->deadline) {
		c->state = C_READ;
		if (serve(e, c))
			return -1;
	}
	while (c->state == C_READ && c->out.n == 0 && c->in.n) {
		rc = take_request(c);
		if (rc < 0) {
			c->keepalive = 0;
			put_simple(c,
				   rc == -ENOSYS  ? 411
				   : rc == -E2BIG ? 413
						  : 400,
				   "text/plain", "Bad request");
			break;
		}
		if (rc == 0)
			break;
		if (e->latency_ms > 0 && is_api_path(c->path)) {
			c->state = C_WAIT;
			c->deadline = emu_now_ms() + e->latency_ms;
			break;
		}
		if (serve(e, c))
			return -1;
	}
	if (c->out.n && conn_write(c))
		return -1;
	if (c->state == C_CLOSING && c->out.n == 0)
		return -1;
	return 0;
}

static int poll_timeout(const struct emu *e)
{
	int64_t now = emu_now_ms(), best = -1;
	size_t i;

	for (i = 0; i < e->nconns; i++) {
		if (e->conns[i]->state != C_WAIT)
			continue;
		if (best < 0 || e->conns[i]->deadline - now < best)
			best = e->conns[i]->deadline - now;
	}
	if (best < 0)
		return -1;
	return best > 0 ? (int)(best > 60000 ? 60000 : best) : 0;
}

int http_run(struct emu *e)
{
	struct pollfd *pfd = NULL;
	size_t i;
	int rc = 0;

	for (;;) {
		struct pollfd *np = realloc(pfd, (e->nconns + 2) * sizeof(*pfd));
		size_t n = e->nconns;

		if (!np) {
			rc = -ENOMEM;
			break;
		}
		pfd = np;
		pfd[0] = (struct pollfd){.fd = e->listen_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = e->stop_fd, .events = POLLIN};
		for (i = 0; i < n; i++) {
			const struct conn *c = e->conns[i];

			/* fd -1: poll would report the hang-up of a gone peer forever */
			pfd[i + 2] =
				(struct pollfd){.fd = c->peer_gone ? -1 : c->fd, .events = POLLIN};
			if (c->out.n || tls_wants_write(c->tls))
				pfd[i + 2].events |= POLLOUT;
		}
		if (poll(pfd, n + 2, poll_timeout(e)) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (pfd[1].revents & POLLIN)
			break; /* SIGTERM or SIGINT: leave cleanly */
		/* walk backwards: conn_remove moves the last connection into the hole */
		for (i = n; i-- > 0;) {
			struct conn *c = e->conns[i];
			int gone = 0;

			/* POLLOUT with nothing to send: a TLS handshake waited to write */
			if ((pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) ||
			    ((pfd[i + 2].revents & POLLOUT) && c->out.n == 0 &&
			     tls_wants_write(c->tls)))
				gone = conn_read(c) < 0;
			if (gone && c->state != C_WAIT) {
				conn_remove(e, i);
				continue;
			}
			/* a delayed request is still carried out, as PHP would */
			if (gone)
				c->peer_gone = 1;
			if (conn_step(e, c) < 0 || (c->peer_gone && c->state != C_WAIT))
				conn_remove(e, i);
		}
		if (pfd[0].revents & POLLIN)
			accept_all(e);
	}
	free(pfd);
	return rc;
}

void http_release(struct emu *e)
{
	size_t i;

	for (i = 0; i < e->nconns; i++)
		conn_free(e->conns[i]);
	free(e->conns);
	e->conns = NULL;
	e->nconns = 0;
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	e->listen_fd = -1;
}
