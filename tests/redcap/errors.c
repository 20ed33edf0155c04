/*
 * errors.c: how REDCap encodes an error and a table in the format a request asked
 * for (RestUtility): json {"error":"msg"} without spaces, a message already starting
 * with {"error" passed through; csv "ERROR: msg"; xml <hash><error>msg</error></hash>.
 * The format is returnFormat, else format, else xml: callers pass the resolved one.
 */
#include <errno.h>
#include <string.h>

#include "tests/redcap/emu.h"

enum fmt fmt_parse(const char *s)
{
	if (s && strcmp(s, "json") == 0)
		return FMT_JSON;
	if (s && strcmp(s, "csv") == 0)
		return FMT_CSV;
	if (s && strcmp(s, "odm") == 0)
		return FMT_ODM;
	return FMT_XML;
}

const char *fmt_ctype(enum fmt f)
{
	switch (f) {
	case FMT_JSON:
		return "application/json; charset=utf-8";
	case FMT_CSV:
		return "text/csv; charset=utf-8";
	default:
		return "text/xml; charset=utf-8";
	}
}

/* XML text escaping for the <error> element (REDCap escapes with htmlspecialchars). */
static int xml_text(struct buf *b, const char *s)
{
	int rc = 0;

	for (; rc == 0 && *s; s++) {
		switch (*s) {
		case '<':
			rc = buf_adds(b, "&lt;");
			break;
		case '>':
			rc = buf_adds(b, "&gt;");
			break;
		case '&':
			rc = buf_adds(b, "&amp;");
			break;
		case '"':
			rc = buf_adds(b, "&quot;");
			break;
		default:
			rc = buf_addc(b, *s);
		}
	}
	return rc;
}

int resp_error(struct resp *r, int status, enum fmt f, const char *msg)
{
	json_t *o;
	int rc;

	r->status = status;
	r->ctype = fmt_ctype(f);
	buf_reset(&r->body);
	switch (f) {
	case FMT_JSON:
		if (strncmp(msg, "{\"error\"", 8) == 0)
			return buf_adds(&r->body, msg);
		o = json_pack("{ss}", "error", msg);
		if (!o)
			return -ENOMEM;
		rc = enc_json(&r->body, o);
		json_decref(o);
		return rc;
	case FMT_CSV:
		return buf_addf(&r->body, "ERROR: %s", msg);
	default:
		rc = buf_adds(&r->body, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><hash><error>");
		if (rc == 0)
			rc = xml_text(&r->body, msg);
		return rc ? rc : buf_adds(&r->body, "</error></hash>");
	}
}

int resp_text(struct resp *r, int status, const char *ctype, const char *text)
{
	r->status = status;
	r->ctype = ctype;
	buf_reset(&r->body);
	return buf_adds(&r->body, text);
}

int resp_table(struct resp *r, enum fmt f, const json_t *arr, const char *xml_root)
{
	r->status = 200;
	r->ctype = fmt_ctype(f);
	buf_reset(&r->body);
	switch (f) {
	case FMT_JSON:
		return enc_json(&r->body, arr);
	case FMT_CSV:
		if (json_is_object(arr)) {
			json_t *a = json_pack("[O]", arr);
			int rc = a ? enc_csv_table(&r->body, a, NULL) : -ENOMEM;

			json_decref(a);
			return rc;
		}
		return enc_csv_table(&r->body, arr, NULL);
	default:
		return enc_xml_table(&r->body, arr, xml_root, "item");
	}
}
