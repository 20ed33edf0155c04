/*
 * j2k_encap: a native instance (explicit VR little endian, as gen_burned writes it)
 * rewritten with JPEG 2000 encapsulated pixel data by OpenJPEG's encoder, for the tests
 * of JPEG 2000 input (dcmtk has no JPEG 2000 encoder).
 *
 *   j2k_encap [--lossy RATIO] [--jp2] [--no-mct] [--split N] [--no-bot] IN OUT
 *
 * Default: lossless, reversible 5/3 (1.2.840.10008.1.2.4.90), colour as YBR_RCT through
 * the reversible component transform, one J2K codestream fragment per frame with a Basic
 * Offset Table. --lossy RATIO: irreversible 9/7 at RATIO:1 (1.2.840.10008.1.2.4.91), colour
 * as YBR_ICT, LossyImageCompression 01. --jp2: each frame a JP2 file. --no-mct: colour
 * stays RGB. --split N: each frame in N fragments. --no-bot: an empty offset table.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "tests/gen/lib/j2kenc.h"

static int usage(void)
{
	fprintf(stderr, "usage: j2k_encap [--lossy RATIO] [--jp2] [--no-mct] [--split N] "
			"[--no-bot] IN OUT\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct j2kenc_opts o = {0};
	struct fiona_err err = {0};
	const char *in = NULL, *out = NULL;
	char *data = NULL, msg[512];
	size_t len = 0;
	long v;
	struct buf b;
	int rc, i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--lossy") && i + 1 < argc &&
		    !core_parse_long(argv[i + 1], 2, 1000, &v))
			o.ratio = (float)v, i++;
		else if (!strcmp(argv[i], "--split") && i + 1 < argc &&
			 !core_parse_long(argv[i + 1], 1, 64, &v))
			o.split = (unsigned)v, i++;
		else if (!strcmp(argv[i], "--jp2"))
			o.jp2 = true;
		else if (!strcmp(argv[i], "--no-mct"))
			o.no_mct = true;
		else if (!strcmp(argv[i], "--no-bot"))
			o.no_bot = true;
		else
			return usage();
	}
	if (argc - i != 2)
		return usage();
	in = argv[i];
	out = argv[i + 1];
	if ((rc = core_read_file(in, (size_t)1 << 30, &data, &len))) {
		fprintf(stderr, "j2k_encap: %s: %s\n", in, strerror(-rc));
		return 1;
	}
	buf_init(&b, (size_t)1 << 30);
	rc = j2kenc_instance((const uint8_t *)data, len, &o, &b, &err);
	if (rc)
		fprintf(stderr, "j2k_encap: %s (%s)\n", err_format(&err, in, msg, sizeof(msg)),
			strerror(-rc));
	else if ((rc = core_write_file_atomic(out, b.data, b.len, 0644)))
		fprintf(stderr, "j2k_encap: %s: %s\n", out, strerror(-rc));
	buf_release(&b);
	free(data);
	return rc ? 1 : 0;
}
