/* Fuzz target for store/s3_xml.c: any bytes as an S3 reply body give a list page or an
 * error, never a crash, leak or hang. Every key handed out is 1-1024 bytes without
 * control characters and sizes are plain numbers; a truncated page carries a token; an
 * error carries a reason; an error Code is printable ASCII. */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "store/s3_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_key(void *arg, const char *key, uint64_t size)
{
	size_t n = strlen(key);

	(void)size;
	if (n == 0 || n > S3_KEY_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7F)
			abort();
	++*(size_t *)arg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_list_page page;
	struct fiona_err err = {0};
	char code[64];
	size_t keys = 0;
	int rc = s3_xml_list((const char *)data, size, check_key, &keys, &page, &err);

	if (rc == 0 && (page.n_keys != keys || (page.truncated && !page.next_token[0])))
		abort();
	if (rc && (rc != -EPROTO || !err.reason[0]))
		abort();
	if (s3_xml_error_code((const char *)data, size, code, sizeof(code)) == 0)
		for (size_t i = 0; code[i]; i++)
			if ((unsigned char)code[i] < 0x20 || (unsigned char)code[i] >= 0x7F)
				abort();
	return 0;
}
