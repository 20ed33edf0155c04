/*
 * fiona dump FILE...: prints every element of DICOM files, one line each, in the layout
 * of dcmtk's dcmdump: "(gggg,eeee) VR [value]  # len, VM Keyword", nested sequences and
 * items indented by 2 per level, items and delimiters shown. A debugging tool for the
 * reader: it prints values, so it is for synthetic or already de-identified data.
 * Exit 0 if every file parsed, else 1 with one err_format() line per bad file.
 */
#include "core/core.h"
#include "anon/anon.h"
#include "cmd/cmd.h"

#include <ctype.h>
#include <errno.h>

#define DUMP_MAX_HEX 16 /* binary values show their first bytes or words */

static bool dump_is_string_vr(uint16_t vr)
{
	static const char s[] = "AEASCSDADSDTISLOLTPNSHSTTMUCUIURUT";

	for (size_t i = 0; i + 1 < sizeof(s); i += 2)
		if (DCM_VR(s[i], s[i + 1]) == vr)
			return true;
	return false;
}

static unsigned dump_string(FILE *fp, const struct dcm_elem *e)
{
	size_t len = e->length;
	unsigned vm = 1;

	while (len > 0 && (e->value[len - 1] == ' ' || e->value[len - 1] == '\0'))
		len--;
	/* Like dcmdump: a value made only of padding is shown as it is, not as absent. */
	if (len == 0)
		while (len < e->length && (e->value[len] == ' ' || e->value[len] == '\0'))
			len++;
	if (len == 0) {
		fputs("(no value available)", fp);
		return 0;
	}
	fputc('[', fp);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = e->value[i];

		vm += c == '\\';
		fputc(c >= 0x20 && c != 0x7f ? c : '.', fp);
	}
	fputc(']', fp);
	return vm;
}

static unsigned dump_numbers(FILE *fp, const struct dcm_elem *e, size_t size)
{
	size_t n = e->length / size;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = e->value + i * size;
		uint32_t u =
			size == 2 ? (e->big_endian ? (uint32_t)(v[0] << 8 | v[1])
						   : (uint32_t)(v[1] << 8 | v[0]))
				  : (e->big_endian ? ((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
						      (uint32_t)v[2] << 8 | v[3])
						   : ((uint32_t)v[3] << 24 | (uint32_t)v[2] << 16 |
						      (uint32_t)v[1] << 8 | v[0]));

		if (e->vr == DCM_VR('A', 'T')) /* two 16-bit numbers: group, element */
			u = e->big_endian ? u : (u << 16 | u >> 16);
		if (i)
			fputc('\\', fp);
		if (e->vr == DCM_VR('S', 'S'))
			fprintf(fp, "%d", (int16_t)u);
		else if (e->vr == DCM_VR('S', 'L'))
			fprintf(fp, "%d", (int32_t)u);
		else if (e->vr == DCM_VR('A', 'T'))
			fprintf(fp, "(%04x,%04x)", u >> 16, u & 0xffff);
		else
			fprintf(fp, "%u", u);
	}
	return (unsigned)n;
}

/* FL and FD values, in the byte order of the element. */
static unsigned dump_floats(FILE *fp, const struct dcm_elem *e, size_t size)
{
	size_t n = e->length / size;

	for (size_t i = 0; i < n; i++) {
		uint8_t b[8] = {0};

		for (size_t k = 0; k < size; k++)
			b[k] = e->value[i * size + (e->big_endian ? size - 1 - k : k)];
		if (i)
			fputc('\\', fp);
		if (size == 4) {
			float f;

			memcpy(&f, b, 4);
			fprintf(fp, "%g", (double)f);
		} else {
			double d;

			memcpy(&d, b, 8);
			fprintf(fp, "%g", d);
		}
	}
	return (unsigned)n;
}

static unsigned dump_hex(FILE *fp, const struct dcm_elem *e)
{
	size_t n = e->length < DUMP_MAX_HEX ? e->length : DUMP_MAX_HEX;

	for (size_t i = 0; i < n; i++)
		fprintf(fp, "%s%02x", i ? "\\" : "", e->value[i]);
	if (n < e->length)
		fputs("...", fp);
	return 1;
}

static unsigned dump_value(FILE *fp, const struct dcm_elem *e)
{
	uint16_t vr = e->vr;

	if (e->length == 0)
		return fputs("(no value available)", fp), 0;
	if (dump_is_string_vr(vr))
		return dump_string(fp, e);
	if (vr == DCM_VR('U', 'S') || vr == DCM_VR('S', 'S'))
		return dump_numbers(fp, e, 2);
	if (vr == DCM_VR('U', 'L') || vr == DCM_VR('S', 'L') || vr == DCM_VR('A', 'T'))
		return dump_numbers(fp, e, 4);
	if (vr == DCM_VR('F', 'L') || vr == DCM_VR('F', 'D'))
		return dump_floats(fp, e, vr == DCM_VR('F', 'L') ? 4 : 8);
	return dump_hex(fp, e);
}

static const char *dump_keyword(uint32_t tag)
{
	struct dcm_dict_info info;

	if (tag == DCM_TAG_ITEM)
		return "Item";
	if (tag == DCM_TAG_ITEM_DELIM)
		return "ItemDelimitationItem";
	if (tag == DCM_TAG_SEQ_DELIM)
		return "SequenceDelimitationItem";
	if (dcm_dict_lookup(tag, &info) == 0)
		return info.keyword;
	return "Unknown Tag & Data";
}

static void dump_line(FILE *fp, const struct dcm_elem *e, int level)
{
	char vr[3];
	unsigned vm = 1;

	fprintf(fp, "%*s(%04x,%04x) %s ", 2 * level, "", DCM_GROUP(e->tag), DCM_ELEM(e->tag),
		e->kind == DCM_ELEMENT || e->kind == DCM_SEQ_BEGIN || e->kind == DCM_PIXEL_BEGIN
			? dcm_vr_str(e->vr, vr)
			: "na");
	switch (e->kind) {
	case DCM_ELEMENT:
		vm = dump_value(fp, e);
		break;
	case DCM_FRAGMENT:
		vm = dump_hex(fp, e);
		break;
	case DCM_SEQ_BEGIN:
	case DCM_PIXEL_BEGIN:
		fputs(e->length == DCM_UNDEFINED_LENGTH ? "(Sequence with undefined length)"
							: "(Sequence with explicit length)",
		      fp);
		break;
	case DCM_ITEM_BEGIN:
		fputs(e->length == DCM_UNDEFINED_LENGTH ? "(Item with undefined length)"
							: "(Item with explicit length)",
		      fp);
		break;
	default:
		vm = 0;
		fputs(e->value_offset == e->offset ? "(delimiter for re-encoding)" : "(delimiter)",
		      fp);
		break;
	}
	if (e->length == DCM_UNDEFINED_LENGTH)
		fprintf(fp, "  # u/l, %u %s\n", vm, dump_keyword(e->tag));
	else
		fprintf(fp, "  # %u, %u %s\n", e->length, vm, dump_keyword(e->tag));
}

static int dump_file(const char *path, FILE *fp)
{
	struct core_map m = {NULL, 0, -1};
	struct dcm_reader *r = NULL;
	struct fiona_err err;
	struct dcm_elem e;
	char line[512];
	int rc, level = 0;
	bool meta = false;

	err_clear(&err);
	rc = core_map_file(path, &m);
	if (rc < 0) {
		err_set(&err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "cannot read: %s", strerror(-rc));
		goto fail;
	}
	rc = dcm_reader_new(m.p, m.len, &r, &err);
	if (rc < 0)
		goto fail;
	while ((rc = dcm_reader_next(r, &e)) == 1) {
		if (e.in_meta && !meta)
			fputs("# Dicom-Meta-Information-Header\n", fp);
		if (!e.in_meta && meta)
			fputs("\n# Dicom-Data-Set\n", fp);
		meta = e.in_meta;
		if (e.kind == DCM_SEQ_END || e.kind == DCM_ITEM_END || e.kind == DCM_PIXEL_END)
			level = level > 0 ? level - 1 : 0;
		dump_line(fp, &e, level);
		if (e.kind == DCM_SEQ_BEGIN || e.kind == DCM_ITEM_BEGIN ||
		    e.kind == DCM_PIXEL_BEGIN)
			level++;
	}
	if (rc < 0) {
		err = *dcm_reader_error(r);
		goto fail;
	}
	dcm_reader_free(r);
	core_map_release(&m);
	return 0;
fail:
	fflush(fp);
	fprintf(stderr, "%s\n", err_format(&err, path, line, sizeof(line)));
	dcm_reader_free(r);
	core_map_release(&m);
	return rc;
}

int cmd_dump(int argc, char **argv)
{
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: fiona dump FILE...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (argc > 2)
			printf("%s# %s\n", i > 1 ? "\n" : "", argv[i]);
		if (dump_file(argv[i], stdout) < 0)
			status = 1;
	}
	return status;
}
