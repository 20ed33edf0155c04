/*
 * annexe: lookup in the compiled PS3.15 Table E.1-1 (build/gen/annexe_table.c).
 * Invariant (guaranteed by tools/gen_annexe.sh): exact rows first, sorted by tag; the few
 * pattern rows after them. A lookup is one binary search plus a scan of the pattern rows,
 * no allocation.
 */
#include "core/core.h"
#include "anon/annexe_int.h"

const char *const annexe_opt_keys[ANNEXE_NOPT] = {
	"rtnLongFullDatesOpt", "rtnLongModifDatesOpt", "rtnPatCharsOpt", "rtnDevIdOpt",
	"rtnInstIdOpt",	       "rtnUIDsOpt",	       "cleanDescOpt",	 "cleanStructContOpt",
	"cleanGraphOpt",       "rtnSafePrivOpt",
};

const char *annexe_code_str(unsigned code)
{
	static const char *const names[] = {
		[AX_NONE] = "",	 [AX_K] = "K",	  [AX_X] = "X",	      [AX_Z] = "Z",
		[AX_D] = "D",	 [AX_C] = "C",	  [AX_U] = "U",	      [AX_XZ] = "X/Z",
		[AX_XD] = "X/D", [AX_ZD] = "Z/D", [AX_XZD] = "X/Z/D", [AX_XZUS] = "X/Z/U*",
	};
	return code < CORE_ARRAY_SIZE(names) ? names[code] : "?";
}

static uint32_t row_tag(const struct annexe_row *r)
{
	return ((uint32_t)r->group << 16) | r->elem;
}

static int row_exact(const struct annexe_row *r)
{
	return !r->any_private && r->group_mask == 0xFFFF && r->elem_mask == 0xFFFF;
}

const struct annexe_row *annexe_find(uint32_t tag)
{
	size_t lo = 0, hi = annexe_count, n_exact;

	while (lo < hi) { /* first non-exact row = number of exact rows */
		size_t mid = lo + (hi - lo) / 2;
		if (row_exact(&annexe_table[mid]))
			lo = mid + 1;
		else
			hi = mid;
	}
	n_exact = lo;
	lo = 0;
	hi = n_exact;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t t = row_tag(&annexe_table[mid]);
		if (t == tag)
			return &annexe_table[mid];
		if (t < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = n_exact; i < annexe_count; i++) {
		const struct annexe_row *r = &annexe_table[i];
		uint16_t g = (uint16_t)(tag >> 16), e = (uint16_t)tag;
		if (r->any_private) {
			if (g & 1)
				return r;
			continue;
		}
		if ((g & r->group_mask) == r->group && (e & r->elem_mask) == r->elem)
			return r;
	}
	return NULL;
}
