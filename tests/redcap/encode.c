/*
 * encode.c: the three ways REDCap writes a table. JSON copies PHP's json_encode
 * defaults (compact, "/" written "\/", every non-ASCII character as a lower-case
 * \uXXXX escape with surrogate pairs) because clients see those bytes. CSV quotes a
 * cell only when it must; XML wraps values in CDATA inside <records><item>.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/redcap/emu.h"

/* Decodes one UTF-8 sequence; returns its length, or 1 with U+FFFD for bad bytes. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (len == 0 || len > n) {
		*cp = 0xFFFD;
		return 1;
	}
	*cp = c & (0x7F >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		*cp = (*cp << 6) | (s[i] & 0x3F);
	}
	return len;
}

static int enc_json_str(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	int rc = buf_addc(b, '"');

	while (rc == 0 && i < n) {
		unsigned cp;
		size_t len = utf8_next(p + i, n - i, &cp);

		i += len;
		switch (cp) {
		case '"':
			rc = buf_adds(b, "\\\"");
			break;
		case '\\':
			rc = buf_adds(b, "\\\\");
			break;
		case '/':
			rc = buf_adds(b, "\\/");
			break;
		case '\b':
			rc = buf_adds(b, "\\b");
			break;
		case '\f':
			rc = buf_adds(b, "\\f");
			break;
		case '\n':
			rc = buf_adds(b, "\\n");
			break;
		case '\r':
			rc = buf_adds(b, "\\r");
			break;
		case '\t':
			rc = buf_adds(b, "\\t");
			break;
		default:
			if (cp < 0x20 || (cp >= 0x80 && cp < 0x10000))
				rc = buf_addf(b, "\\u%04x", cp);
			else if (cp >= 0x10000)
				rc = buf_addf(b, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
					      0xDC00 + ((cp - 0x10000) & 0x3FF));
			else
				rc = buf_addc(b, (char)cp);
		}
	}
	return rc ? rc : buf_addc(b, '"');
}

int enc_json(struct buf *b, const json_t *v)
{
	size_t i;
	int rc = 0;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *x;
		int first = 1;

		rc = buf_addc(b, '{');
		json_object_foreach((json_t *)v, k, x)
		{
			if (rc == 0 && !first)
				rc = buf_addc(b, ',');
			first = 0;
			if (rc == 0)
				rc = enc_json_str(b, k, strlen(k));
			if (rc == 0)
				rc = buf_addc(b, ':');
			if (rc == 0)
				rc = enc_json(b, x);
		}
		return rc ? rc : buf_addc(b, '}');
	}
	case JSON_ARRAY:
		rc = buf_addc(b, '[');
		for (i = 0; rc == 0 && i < json_array_size(v); i++) {
			if (i)
				rc = buf_addc(b, ',');
			if (rc == 0)
				rc = enc_json(b, json_array_get(v, i));
		}
		return rc ? rc : buf_addc(b, ']');
	case JSON_STRING:
		return enc_json_str(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return buf_addf(b, "%.17g", json_real_value(v));
	case JSON_TRUE:
		return buf_adds(b, "true");
	case JSON_FALSE:
		return buf_adds(b, "false");
	default:
		return buf_adds(b, "null");
	}
}

/* The text of a scalar as PHP would print it. */
static int scalar_text(struct buf *b, const json_t *v)
{
	if (json_is_string(v))
		return buf_add(b, json_string_value(v), json_string_length(v));
	if (json_is_integer(v))
		return buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v))
		return buf_addf(b, "%.17g", json_real_value(v));
	if (json_is_true(v))
		return buf_adds(b, "1");
	return 0;
}

int enc_csv_cell(struct buf *b, const char *s)
{
	int rc;

	if (!strpbrk(s, ",\"\n\r"))
		return buf_adds(b, s);
	rc = buf_addc(b, '"');
	for (; rc == 0 && *s; s++)
		rc = *s == '"' ? buf_adds(b, "\"\"") : buf_addc(b, *s);
	return rc ? rc : buf_addc(b, '"');
}

int enc_csv_table(struct buf *b, const json_t *arr, const json_t *header_keys)
{
	const json_t *first = json_array_get(arr, 0);
	json_t *keys = NULL;
	struct buf cell = {0};
	size_t i, j;
	int rc = 0;

	if (header_keys) {
		keys = json_incref((json_t *)header_keys);
	} else {
		const char *k;
		json_t *x;

		keys = json_array();
		if (!keys)
			return -ENOMEM;
		json_object_foreach((json_t *)first, k,
				    x) if (json_array_append_new(keys, json_string(k))) rc =
			-ENOMEM;
	}
	for (j = 0; rc == 0 && j < json_array_size(keys); j++) {
		if (j)
			rc = buf_addc(b, ',');
		if (rc == 0)
			rc = enc_csv_cell(b, json_string_value(json_array_get(keys, j)));
	}
	if (rc == 0 && json_array_size(keys))
		rc = buf_addc(b, '\n');
	for (i = 0; rc == 0 && i < json_array_size(arr); i++) {
		const json_t *row = json_array_get(arr, i);

		for (j = 0; rc == 0 && j < json_array_size(keys); j++) {
			const char *k = json_string_value(json_array_get(keys, j));

			buf_reset(&cell);
			if (j)
				rc = buf_addc(b, ',');
			if (rc == 0)
				rc = scalar_text(&cell, json_object_get(row, k));
			if (rc == 0)
				rc = enc_csv_cell(b, cell.p ? cell.p : "");
		}
		if (rc == 0)
			rc = buf_addc(b, '\n');
	}
	buf_release(&cell);
	json_decref(keys);
	return rc;
}

/* CDATA cannot hold "]]>"; split it the usual way. */
static int xml_cdata(struct buf *b, const char *s)
{
	int rc = buf_adds(b, "<![CDATA[");

	while (rc == 0 && *s) {
		const char *e = strstr(s, "]]>");

		if (!e)
			return buf_adds(b, s) ? -ENOMEM : buf_adds(b, "]]>");
		rc = buf_add(b, s, (size_t)(e - s) + 2);
		if (rc == 0)
			rc = buf_adds(b, "]]><![CDATA[");
		s = e + 2;
	}
	return rc ? rc : buf_adds(b, "]]>");
}

static int xml_item(struct buf *b, const json_t *row, const char *item)
{
	struct buf cell = {0};
	const char *k;
	json_t *x;
	int rc = buf_addf(b, "<%s>", item);

	json_object_foreach((json_t *)row, k, x)
	{
		buf_reset(&cell);
		if (rc == 0)
			rc = scalar_text(&cell, x);
		if (rc == 0)
			rc = buf_addf(b, "<%s>", k);
		if (rc == 0)
			rc = xml_cdata(b, cell.p ? cell.p : "");
		if (rc == 0)
			rc = buf_addf(b, "</%s>", k);
	}
	buf_release(&cell);
	return rc ? rc : buf_addf(b, "</%s>", item);
}

int enc_xml_table(struct buf *b, const json_t *arr, const char *root, const char *item)
{
	size_t i;
	int rc = buf_adds(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n");

	if (json_is_object(arr))
		return rc ? rc : xml_item(b, arr, root);
	if (rc == 0)
		rc = buf_addf(b, "<%s>\n", root);
	for (i = 0; rc == 0 && i < json_array_size(arr); i++)
		rc = xml_item(b, json_array_get(arr, i), item);
	return rc ? rc : buf_addf(b, "\n</%s>\n", root);
}
