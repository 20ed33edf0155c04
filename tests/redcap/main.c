/*
 * redcap-emu: an emulator of the REDCap HTTP API for fiona's tests.
 *
 *   redcap-emu --fixture FILE.json [--port N] [--port-file PATH] [--latency-ms N]
 *              [--rate-limit N] [--tls-cert FILE.pem --tls-key FILE.pem]
 *
 * Listens on 127.0.0.1 (port 0 picks one; the port is written to --port-file as a
 * decimal line once listening, so a test can wait for the file). With --tls-cert and
 * --tls-key it speaks HTTPS only (TLS 1.2+), /control included. SIGTERM or SIGINT
 * end it cleanly. The state lives in one struct emu owned here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "tests/redcap/emu.h"

static void usage(void)
{
	fprintf(stderr, "usage: redcap-emu --fixture FILE.json [--port N] [--port-file PATH] "
			"[--latency-ms N] [--rate-limit N] [--tls-cert FILE --tls-key FILE]\n");
}

static int parse_num(const char *s, long *out)
{
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	*out = strtol(s, &end, 10);
	return *end || errno || *out < 0 ? -EINVAL : 0;
}

/* Written to a temporary name and renamed, so a reader never sees half a line. */
static int write_port_file(const char *path, int port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", port);
	if (fclose(f) || rename(tmp, path))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct emu e = {.listen_fd = -1, .stop_fd = -1, .rate_limit = 600};
	const char *fixture = NULL, *port_file = NULL, *cert = NULL, *key = NULL;
	long port = 0;
	sigset_t mask;
	int i, bound = 0, rc = 1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--fixture") == 0 && v)
			fixture = v;
		else if (strcmp(a, "--port-file") == 0 && v)
			port_file = v;
		else if (strcmp(a, "--tls-cert") == 0 && v)
			cert = v;
		else if (strcmp(a, "--tls-key") == 0 && v)
			key = v;
		else if (strcmp(a, "--port") == 0 && parse_num(v, &port) == 0 && port < 65536)
			;
		else if (strcmp(a, "--latency-ms") == 0 && parse_num(v, &e.latency_ms) == 0)
			;
		else if (strcmp(a, "--rate-limit") == 0 && parse_num(v, &e.rate_limit) == 0)
			;
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!fixture || !cert != !key) {
		usage();
		return 2;
	}
	e.stats.by_content = json_object();
	if (!e.stats.by_content)
		goto fail;
	if (project_load_fixture(&e, fixture))
		goto fail;
	if (cert && tls_setup(&e, cert, key))
		goto fail;
	/* SIGTERM and SIGINT arrive on a descriptor the poll loop watches */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) ||
	    (e.stop_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		perror("redcap-emu: signalfd");
		goto fail;
	}
	signal(SIGPIPE, SIG_IGN);
	if (http_listen(&e, (int)port, &bound)) {
		perror("redcap-emu: listen");
		goto fail;
	}
	if (port_file && write_port_file(port_file, bound)) {
		perror("redcap-emu: port file");
		goto fail;
	}
	fprintf(stderr, "redcap-emu: listening on %s://127.0.0.1:%d (%zu projects)\n",
		e.tls ? "https" : "http", bound, e.nprojects);
	if (http_run(&e) == 0)
		rc = 0;
	fprintf(stderr, "redcap-emu: stopped\n");
fail:
	http_release(&e);
	tls_release(&e);
	control_release(&e);
	for (size_t k = 0; k < e.nprojects; k++)
		project_release(&e.projects[k]);
	free(e.projects);
	free(e.version);
	if (e.stop_fd >= 0)
		close(e.stop_fd);
	return rc;
}
