/* Fuzz target for store/config.c: any bytes give a configuration or an error, never a
 * crash, leak or hang. */
#include "core/core.h"

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fiona_config *c = NULL;
	struct fiona_err err = {0};

	if (config_parse((const char *)data, size, &c, &err) == 0)
		config_free(c);
	return 0;
}
