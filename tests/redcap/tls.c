/*
 * tls.c: optional HTTPS for the emulator (OpenSSL libssl, TLS 1.2 and 1.3), under
 * http.c's connection I/O. Every socket stays non-blocking: the handshake is
 * driven by tls_recv() (SSL_read in accept state), and an operation that wants
 * more (SSL_ERROR_WANT_READ / WANT_WRITE) returns -1 with errno EAGAIN at once,
 * noting whether it waits for the socket to become writable, so the poll loop
 * asks for POLLOUT and no connection ever blocks another.
 * tls_recv() and tls_send() behave like recv() and send(): >0 bytes, 0 the peer
 * closed (recv), -1 with errno EAGAIN or another errno for a dead connection.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/redcap/emu.h"

struct tls_conn {
	SSL *ssl;
	const char *ip; /* borrowed from the connection, for the log */
	int want_write; /* the last operation waits for POLLOUT */
	int established;
};

static void log_ssl_error(const char *ip, const char *what)
{
	unsigned long err = ERR_get_error();
	char msg[256] = "connection closed";

	if (err)
		ERR_error_string_n(err, msg, sizeof(msg));
	fprintf(stderr, "redcap-emu: %s TLS %s failed: %s\n", ip, what, msg);
	ERR_clear_error();
}

int tls_setup(struct emu *e, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	/* send() semantics: a write may take part of the buffer, and the buffer (c->out)
	 * may have moved or grown at its end before the retry */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* a client leaving without close_notify is a closed connection, as with TCP */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	e->tls = ctx;
	return 0;
fail:
	log_ssl_error("-", "setup");
	fprintf(stderr, "redcap-emu: cannot use certificate %s with key %s\n", cert, key);
	SSL_CTX_free(ctx);
	return -EINVAL;
}

void tls_release(struct emu *e)
{
	SSL_CTX_free(e->tls);
	e->tls = NULL;
}

struct tls_conn *tls_accept(struct emu *e, int fd, const char *ip)
{
	struct tls_conn *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ip = ip;
	t->ssl = SSL_new(e->tls);
	if (!t->ssl || !SSL_set_fd(t->ssl, fd)) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(t->ssl); /* the first SSL_read does the handshake */
	return t;
}

/* Maps an SSL_read/SSL_write result that moved no data to the recv() conventions. */
static ssize_t tls_fail(struct tls_conn *t, int ret, const char *what)
{
	int err = SSL_get_error(t->ssl, ret);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		t->want_write = 0;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		t->want_write = 1;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN: /* close_notify */
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!errno) { /* EOF */
			ERR_clear_error();
			return 0;
		}
		if (!t->established)
			log_ssl_error(t->ip, "handshake");
		ERR_clear_error();
		return -1;
	default:
		log_ssl_error(t->ip, t->established ? what : "handshake");
		errno = EPROTO;
		return -1;
	}
}

/* The end of an SSL_read_ex/SSL_write_ex that returned ret, having moved n bytes. */
static ssize_t tls_done(struct tls_conn *t, int ret, size_t n, const char *what)
{
	if (SSL_is_init_finished(t->ssl))
		t->established = 1;
	if (ret == 1) {
		t->want_write = 0;
		return (ssize_t)n;
	}
	return tls_fail(t, ret, what);
}

ssize_t tls_recv(struct tls_conn *t, void *p, size_t n)
{
	size_t got = 0;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(t->ssl, p, n, &got);
	return tls_done(t, ret, got, "read");
}

ssize_t tls_send(struct tls_conn *t, const void *p, size_t n)
{
	size_t put = 0;
	ssize_t rc;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(t->ssl, p, n, &put);
	rc = tls_done(t, ret, put, "write");
	if (rc == 0) { /* the peer closed: nothing more can be sent */
		errno = EPIPE;
		return -1;
	}
	return rc;
}

int tls_wants_write(const struct tls_conn *t)
{
	return t && t->want_write;
}

void tls_close(struct tls_conn *t, int graceful)
{
	if (!t)
		return;
	/* one non-blocking close_notify, best effort; none for a dropped connection */
	if (graceful && t->established) {
		ERR_clear_error();
		SSL_shutdown(t->ssl);
	}
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
}
