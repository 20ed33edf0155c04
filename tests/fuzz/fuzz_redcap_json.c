/* Fuzz target for redcap/json.c: any bytes as REDCap's answer (an export, an import's
 * count, an error) are parsed or refused, never a crash, leak or hang; the classifier
 * always gives a class and a one-line reason. */
#include "core/core.h"

#include <stdlib.h>

#include "redcap/redcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1), why[256], label[128];
	struct redcap_rows rows;
	struct fiona_err err = {0};
	long count;

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	if (redcap_parse_rows(body, size, &rows, &err) == 0) {
		for (size_t i = 0; i < rows.n; i++)
			(void)redcap_get(&rows.rows[i], "redcap_repeat_instance");
		redcap_rows_free(&rows);
	}
	(void)redcap_parse_count(body, size, &count);
	for (long st = 0; st < 600; st += 100) {
		enum redcap_class k =
			redcap_classify(st ? st : 429, body, size, true, why, sizeof(why));

		if (k > REDCAP_BANNED || (k != REDCAP_OK && (!why[0] || strchr(why, '\n'))))
			abort();
	}
	redcap_choice_label(body, "1", label, sizeof(label));
	free(body);
	return 0;
}
