/*
 * The compiled Annex E table (build/gen/annexe_table.c) checked row by row against the
 * JSON it was generated from (anon/annexe-2024b.json) and, when present, against the
 * shared reference copy of the standard (../shared/dicom-standard/...): same number of
 * rows, same tags and names, same action code in every column. The JSON is read with
 * jansson here, independently of the awk generator.
 */
#include "core/core.h"
#include "anon/anon.h"
#include "anon/annexe_int.h"
#include "tests/unit/tt.h"

#include <jansson.h>
#include <unistd.h>

#define REF_NAME "dicom-standard/confidentiality_profile_attributes.json"

static const struct annexe_row *row_by_tag(const char *tag)
{
	for (size_t i = 0; i < annexe_count; i++)
		if (!strcmp(annexe_table[i].tag, tag))
			return &annexe_table[i];
	return NULL;
}

static const char *col(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* 0 when every JSON row equals its compiled row; else fills why. */
static int compare_json(const char *path, char *why, size_t cap)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *o;
	size_t i;
	unsigned char *seen = calloc(annexe_count, 1);
	int rc = -1;

	if (!root || !json_is_array(root) || !seen) {
		snprintf(why, cap, "%s: cannot load (%s)", path, root ? "not an array" : je.text);
		goto out;
	}
	if (json_array_size(root) != annexe_count || annexe_count != 621) {
		snprintf(why, cap, "%s: %zu rows, compiled %zu", path, json_array_size(root), annexe_count);
		goto out;
	}
	json_array_foreach(root, i, o) {
		const struct annexe_row *r = row_by_tag(col(o, "tag"));
		if (!r || seen[r - annexe_table]) {
			snprintf(why, cap, "row %zu tag %s: %s", i, col(o, "tag"), r ? "twice" : "missing");
			goto out;
		}
		seen[r - annexe_table] = 1;
		if (strcmp(r->name, col(o, "name")) || strcmp(annexe_code_str(r->basic), col(o, "basicProfile"))) {
			snprintf(why, cap, "row %zu tag %s: name or basic code differs", i, r->tag);
			goto out;
		}
		for (unsigned k = 0; k < ANNEXE_NOPT; k++)
			if (strcmp(annexe_code_str(r->opt[k]), col(o, annexe_opt_keys[k]))) {
				snprintf(why, cap, "row %zu tag %s: column %s differs", i, r->tag,
					 annexe_opt_keys[k]);
				goto out;
			}
	}
	rc = 0;
out:
	free(seen);
	json_decref(root);
	return rc;
}

static void t_project_copy(struct tt *t)
{
	char why[256] = "";
	TT_CHECK_MSG(t, compare_json("anon/annexe-2024b.json", why, sizeof(why)) == 0, "%s", why);
}

static void t_reference(struct tt *t)
{
	static const char *const dirs[] = {"../shared/", "../../shared/", "/work/shared/"};
	char path[256], why[256] = "";
	const char *env = getenv("FIONA_DICOM_STANDARD_DIR");
	int found = 0;

	if (env) {
		snprintf(path, sizeof(path), "%s/confidentiality_profile_attributes.json", env);
		found = access(path, R_OK) == 0;
	}
	for (size_t i = 0; !found && i < CORE_ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s%s", dirs[i], REF_NAME);
		found = access(path, R_OK) == 0;
	}
	if (!found) {
		printf("SKIP t_reference: %s not found\n", REF_NAME);
		return;
	}
	TT_CHECK_MSG(t, compare_json(path, why, sizeof(why)) == 0, "%s", why);
}

static void t_find(struct tt *t)
{
	const struct annexe_row *r;

	for (size_t i = 0; i < annexe_count; i++) {
		const struct annexe_row *x = &annexe_table[i];
		if (x->any_private || x->group_mask != 0xFFFF || x->elem_mask != 0xFFFF)
			continue;
		TT_CHECK_MSG(t, annexe_find(DCM_TAG(x->group, x->elem)) == x, "%s", x->tag);
	}
	r = annexe_find(DCM_TAG(0x5012, 0x3000));
	TT_CHECK(t, r && !strcmp(r->tag, "(50XX,XXXX)"));
	r = annexe_find(DCM_TAG(0x6002, 0x3000));
	TT_CHECK(t, r && !strcmp(r->tag, "(60XX,3000)"));
	r = annexe_find(DCM_TAG(0x6000, 0x4000));
	TT_CHECK(t, r && !strcmp(r->tag, "(60XX,4000)"));
	TT_CHECK(t, annexe_find(DCM_TAG(0x6000, 0x0010)) == NULL); /* OverlayRows: not in table */
	r = annexe_find(DCM_TAG(0x0029, 0x1010));
	TT_CHECK(t, r && r->any_private);
	TT_CHECK(t, annexe_find(DCM_TAG(0x0028, 0x0010)) == NULL); /* Rows */
	r = annexe_find(DCM_TAG(0x0010, 0x0010));
	TT_CHECK(t, r && !strcmp(r->name, "Patient's Name") && r->basic == AX_Z);
}

TT_MAIN(TT_CASE(t_project_copy), TT_CASE(t_reference), TT_CASE(t_find))
