/*
 * json: REDCap's answers, read tolerantly (research notes §6.7): values are strings but
 * redcap_repeat_instance is an integer on repeating rows and "" on base rows; {"count": N}
 * comes with or without the space; errors are objects with extra keys or plain text; a
 * database outage is an HTML page with status 200. Nothing here trusts the body.
 */
#include "core/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "redcap/redcap.h"

#define ROWS_MAX   2000000 /* far above any export fiona asks for */
#define FIELDS_MAX 4096

static char *value_text(json_t *v)
{
	char buf[32];

	if (json_is_string(v))
		return strndup(json_string_value(v), json_string_length(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		return strdup(buf);
	}
	if (json_is_true(v) || json_is_false(v))
		return strdup(json_is_true(v) ? "1" : "0");
	return strdup(""); /* null, arrays and objects are no REDCap values */
}

static int row_take(json_t *o, struct redcap_row *r)
{
	const char *k;
	json_t *v;
	size_t n = json_object_size(o);

	if (n > FIELDS_MAX)
		return -EPROTO;
	r->keys = calloc(n + 1, sizeof(*r->keys));
	r->values = calloc(n + 1, sizeof(*r->values));
	if (!r->keys || !r->values)
		return -ENOMEM;
	json_object_foreach(o, k, v)
	{
		r->keys[r->n] = strdup(k);
		r->values[r->n] = value_text(v);
		if (!r->keys[r->n] || !r->values[r->n]) {
			r->n++;
			return -ENOMEM;
		}
		r->n++;
	}
	return 0;
}

int redcap_parse_rows(const char *body, size_t len, struct redcap_rows *out, struct fiona_err *err)
{
	json_error_t je;
	json_t *a = NULL, *it;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len && body[0] == '<')
		return err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG,
			       "REDCap answered an HTML or XML page instead of JSON");
	a = json_loadb(body, len, 0, &je);
	if (!a)
		return err_set(err, -EPROTO, (uint64_t)je.position, CORE_NO_TAG,
			       "REDCap's answer is not JSON (line %d: %s)", je.line, je.text);
	if (json_is_object(a) && json_object_get(a, "error")) {
		rc = err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG, "REDCap error: %.200s",
			     json_is_string(json_object_get(a, "error"))
				     ? json_string_value(json_object_get(a, "error"))
				     : "(not a string)");
		goto out;
	}
	if (!json_is_array(a) || json_array_size(a) > ROWS_MAX) {
		rc = err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG,
			     "REDCap's answer is not a list of records");
		goto out;
	}
	out->rows = calloc(json_array_size(a) + 1, sizeof(*out->rows));
	if (!out->rows) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(a, i, it)
	{
		if (!json_is_object(it))
			continue; /* tolerated: a stray value is no row */
		if ((rc = row_take(it, &out->rows[out->n++])))
			break;
	}
	if (rc)
		err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "REDCap's records: %s",
			rc == -ENOMEM ? "out of memory" : "a row has too many fields");
out:
	json_decref(a);
	if (rc)
		redcap_rows_free(out);
	return rc;
}

void redcap_rows_free(struct redcap_rows *r)
{
	for (size_t i = 0; r->rows && i < r->n; i++) {
		for (size_t k = 0; k < r->rows[i].n; k++)
			free(r->rows[i].keys[k]), free(r->rows[i].values[k]);
		free(r->rows[i].keys), free(r->rows[i].values);
	}
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

const char *redcap_get(const struct redcap_row *row, const char *key)
{
	for (size_t i = 0; i < row->n; i++)
		if (!strcmp(row->keys[i], key))
			return row->values[i];
	return "";
}

int redcap_parse_count(const char *body, size_t len, long *count)
{
	char buf[64], *end;
	const char *p;
	size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
	long v;

	memcpy(buf, body, n);
	buf[n] = '\0';
	p = buf;
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	if (!strncmp(p, "{\"count\"", 8)) {
		p += 8;
		while (*p == ' ')
			p++;
		if (*p++ != ':')
			return -EPROTO;
		while (*p == ' ')
			p++;
	}
	errno = 0;
	v = strtol(p, &end, 10);
	if (end == p || errno || v < 0)
		return -EPROTO;
	while (*end == ' ' || *end == '\n' || *end == '\r')
		end++;
	if (*end && strcmp(end, "}"))
		return -EPROTO;
	*count = v;
	return 0;
}

void redcap_choice_label(const char *choices, const char *code, char *out, size_t cap)
{
	const char *p = choices;
	size_t cl = strlen(code);

	out[0] = '\0';
	while (p && *p) {
		const char *bar = strchr(p, '|'), *comma;
		size_t n = bar ? (size_t)(bar - p) : strlen(p);

		while (n && (*p == ' ' || *p == '\n')) /* "1, Yes | 2, No" */
			p++, n--;
		comma = memchr(p, ',', n);
		if (comma && (size_t)(comma - p) == cl && !strncmp(p, code, cl)) {
			const char *l = comma + 1;
			size_t ln = n - (size_t)(l - p);

			while (ln && *l == ' ')
				l++, ln--;
			while (ln && (l[ln - 1] == ' ' || l[ln - 1] == '\n'))
				ln--;
			snprintf(out, cap, "%.*s", (int)ln, l);
			return;
		}
		p = bar ? bar + 1 : NULL;
	}
}

static bool has(const char *body, size_t len, const char *needle)
{
	return memmem(body, len, needle, strlen(needle)) != NULL;
}

/* The i-th (0-based) double-quoted field of a CSV line into out. */
static bool csv_field(const char *line, int i, char *out, size_t cap)
{
	const char *p = line;

	for (int f = 0;; f++) {
		const char *q;

		if (*p != '"' || !(q = strchr(p + 1, '"')))
			return false;
		if (f == i) {
			snprintf(out, cap, "%.*s", (int)(q - p - 1), p + 1);
			return true;
		}
		p = q + 1;
		if (*p != ',')
			return false;
		p++;
	}
}

/* REDCap's error message, one line, without the values it quotes: a value error reads
 * "record","field","value","message" and the value may be patient data. */
static void error_text(const char *body, size_t len, char *out, size_t cap)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	const char *msg = o && json_is_string(json_object_get(o, "error"))
				  ? json_string_value(json_object_get(o, "error"))
				  : NULL;
	char field[80], text[160], line[512];

	snprintf(line, sizeof(line), "%.*s", msg ? (int)strlen(msg) : (int)len, msg ? msg : body);
	if (csv_field(line, 1, field, sizeof(field)) && csv_field(line, 3, text, sizeof(text)))
		snprintf(out, cap, "field %.60s: %.120s", field, text);
	else
		snprintf(out, cap, "%.180s", line);
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r' || (unsigned char)*p < 0x20)
			*p = ' ';
	json_decref(o);
}

enum redcap_class redcap_classify(long status, const char *body, size_t len, bool json, char *why,
				  size_t cap)
{
	if (status == 429 || has(body, len, "banned due to suspected abuse")) {
		snprintf(why, cap, "REDCap banned this address (HTTP %ld): ask its administrator",
			 status);
		return REDCAP_BANNED;
	}
	if (status == 0) {
		snprintf(why, cap, "REDCap unreachable");
		return REDCAP_TRANSIENT;
	}
	if (has(body, len, "OFFLINE") || has(body, len, "currently offline")) {
		snprintf(why, cap, "REDCap is offline (HTTP %ld)", status);
		return REDCAP_TRANSIENT;
	}
	if (status == 200 && json && len && (body[0] == '<' || has(body, len, "CRITICAL ERROR"))) {
		snprintf(why, cap, "REDCap answered an HTML page (its database may be down)");
		return REDCAP_TRANSIENT;
	}
	if (status == 200)
		return REDCAP_OK;
	if (status == 400 || status == 401 || status == 403 || status == 404 || status == 413) {
		char msg[200];

		error_text(body, len, msg, sizeof(msg));
		snprintf(why, cap, "REDCap refused the request (HTTP %ld): %s", status, msg);
		return REDCAP_PERMANENT;
	}
	snprintf(why, cap, "REDCap failed (HTTP %ld)%s", status,
		 has(body, len, "ran out of server memory") ? ": out of memory" : "");
	return REDCAP_TRANSIENT;
}
