/*
 * genid: participant-ID patterns read as generators (docs/autoid.md).
 *
 * The original FIONA ran gen-id.py, which walked Python's regex parse tree and drew each
 * choice at random. Here a pattern becomes a tree of nodes (character sets, sequences,
 * alternatives, repetitions, references), each knowing how many strings it makes, so the
 * k-th string is a mixed-radix decoding of k and a uniform k is a uniform ID.
 *
 * Invariants, checked by genid_parse so that genid_nth needs no error paths:
 *   - the mapping k -> ID is injective: a pattern under which two choices could spell
 *     the same ID is refused. The check is conservative (see struct gprops): it may
 *     refuse an unambiguous pattern, never accept an ambiguous one;
 *   - every ID is 1..GENID_ID_MAX characters from 0x21..0x7e without '/', and does not
 *     start with '.' (no hidden entry, no "." or "..").
 */
#include "core/core.h"

#include <errno.h>

/* Nodes are an array in struct genid, linked by index (0 = none): one allocation per
 * pattern. Every pattern byte adds at most two nodes. */
#define GENID_NODES (2 * GENID_PATTERN_MAX + 8)
#define GENID_REFS  10 /* \1..\9 */

enum gkind { GK_SET, GK_SEQ, GK_ALT, GK_REP, GK_REF };

struct gnode {
	uint8_t kind;
	uint8_t group;	  /* GK_ALT: capture group number (0: none); GK_REF: the group */
	uint8_t min, max; /* GK_REP */
	uint16_t kid;	  /* first child */
	uint16_t next;	  /* next sibling */
	uint64_t set[2];  /* GK_SET: characters, bit c for c < 128 */
	uint64_t count;	  /* distinct strings, saturating */
};

struct genid {
	uint64_t space;
	uint16_t root, n;
	struct gnode node[GENID_NODES];
};

/*
 * What the ambiguity check knows about a part of a pattern: which lengths its strings
 * can have, which characters can stand at each offset from the front and from the back
 * (over-approximations), and three properties:
 *   unamb  different choices give different strings;
 *   pfree  no string is a proper prefix of another (so a sequence can be split after
 *          this part in one way only);
 *   sfree  the same for suffixes.
 * A sequence XY is unambiguous when X and Y are and X is prefix-free or Y suffix-free.
 * Two alternatives are disjoint when their length sets are, or some offset (from the
 * front or the back) that all their strings have holds disjoint characters.
 */
struct gprops {
	uint64_t lens[2]; /* bit l: a string of length l (l <= GENID_ID_MAX) */
	uint64_t front[GENID_ID_MAX][2];
	uint64_t back[GENID_ID_MAX][2];
	bool unamb, pfree, sfree;
};

struct gparse {
	const char *p;
	size_t n, pos;
	struct genid *g;
	struct fiona_err *err;
	unsigned depth, groups, branch; /* branch: index among top-level alternatives */
	size_t first_bar;		/* offset of the first top-level '|', or SIZE_MAX */
	struct gprops *ref;		/* [GENID_REFS]: props of groups \N may name */
	bool ref_ok[GENID_REFS];
	unsigned ref_branch[GENID_REFS];
};

/* ---- small arithmetic ----------------------------------------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	if (a && b > UINT64_MAX / a)
		return UINT64_MAX;
	return a * b;
}

static void bits_set(uint64_t *b, unsigned i)
{
	b[i / 64] |= 1ull << (i % 64);
}

static bool bits_has(const uint64_t *b, unsigned i)
{
	return (b[i / 64] >> (i % 64)) & 1;
}

static bool bits_meet(const uint64_t *a, const uint64_t *b)
{
	return (a[0] & b[0]) || (a[1] & b[1]);
}

static unsigned bits_count(const uint64_t *b)
{
	return (unsigned)(__builtin_popcountll(b[0]) + __builtin_popcountll(b[1]));
}

static unsigned lens_min(const struct gprops *pr)
{
	for (unsigned l = 0; l <= GENID_ID_MAX; l++)
		if (bits_has(pr->lens, l))
			return l;
	return GENID_ID_MAX + 1;
}

static unsigned lens_max(const struct gprops *pr)
{
	for (unsigned l = GENID_ID_MAX + 1; l-- > 0;)
		if (bits_has(pr->lens, l))
			return l;
	return 0;
}

/* May an ID hold c? Printable ASCII; ' ' and '/' would make awkward or unsafe names. */
static bool id_char_ok(int c)
{
	return c > 0x20 && c < 0x7f && c != '/';
}

/* ---- parse errors -------------------------------------------------------------- */

static int bad(struct gparse *ps, size_t off, const char *why)
{
	return err_set(ps->err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "offset %zu: %s", off, why);
}

static int bad_char(struct gparse *ps, size_t off, int c)
{
	if (c == ' ')
		return bad(ps, off, "a space is not allowed in an ID");
	if (c == '/')
		return bad(ps, off, "'/' is not allowed in an ID (IDs are folder names)");
	return err_set(
		ps->err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
		"offset %zu: character 0x%02x is not allowed in an ID (printable ASCII only)", off,
		(unsigned)(unsigned char)c);
}

static int new_node(struct gparse *ps, enum gkind kind, uint16_t *out)
{
	struct genid *g = ps->g;

	/* cannot happen within GENID_PATTERN_MAX bytes; kept as a bound, not an assert */
	if (g->n >= GENID_NODES)
		return bad(ps, ps->pos, "pattern too complex");
	memset(&g->node[g->n], 0, sizeof(g->node[0]));
	g->node[g->n].kind = (uint8_t)kind;
	*out = g->n++;
	return 0;
}

/* ---- properties ----------------------------------------------------------------- */

static void props_empty(struct gprops *pr)
{
	memset(pr, 0, sizeof(*pr));
	bits_set(pr->lens, 0);
	pr->unamb = pr->pfree = pr->sfree = true;
}

static void props_set(struct gprops *pr, const uint64_t *set)
{
	memset(pr, 0, sizeof(*pr));
	bits_set(pr->lens, 1);
	memcpy(pr->front[0], set, sizeof(pr->front[0]));
	memcpy(pr->back[0], set, sizeof(pr->back[0]));
	pr->unamb = pr->pfree = pr->sfree = true;
}

/* a becomes the profile of the concatenation a·b (the caller checked the length). */
static void props_cat(struct gprops *a, const struct gprops *b)
{
	uint64_t lens[2] = {0, 0};

	/* front of a·b at d: a's own, or b's at d - l after a string of a of length l.
	 * Descending d reads only entries of a not yet rewritten. */
	for (unsigned d = GENID_ID_MAX; d-- > 0;)
		for (unsigned l = 0; l <= d; l++)
			if (bits_has(a->lens, l)) {
				a->front[d][0] |= b->front[d - l][0];
				a->front[d][1] |= b->front[d - l][1];
			}
	for (unsigned e = GENID_ID_MAX; e-- > 0;) {
		uint64_t acc[2] = {b->back[e][0], b->back[e][1]};

		for (unsigned l = 0; l <= e; l++)
			if (bits_has(b->lens, l)) {
				acc[0] |= a->back[e - l][0];
				acc[1] |= a->back[e - l][1];
			}
		a->back[e][0] = acc[0], a->back[e][1] = acc[1];
	}
	for (unsigned i = 0; i <= GENID_ID_MAX; i++)
		if (bits_has(a->lens, i))
			for (unsigned j = 0; i + j <= GENID_ID_MAX; j++)
				if (bits_has(b->lens, j))
					bits_set(lens, i + j);
	a->lens[0] = lens[0], a->lens[1] = lens[1];
	a->unamb = a->unamb && b->unamb && (a->pfree || b->sfree);
	a->pfree = a->pfree && b->pfree;
	a->sfree = a->sfree && b->sfree;
}

/* a takes in b's strings as well (profiles only; the caller decides the properties). */
static void props_union(struct gprops *a, const struct gprops *b)
{
	for (unsigned i = 0; i < 2; i++)
		a->lens[i] |= b->lens[i];
	for (unsigned d = 0; d < GENID_ID_MAX; d++)
		for (unsigned i = 0; i < 2; i++) {
			a->front[d][i] |= b->front[d][i];
			a->back[d][i] |= b->back[d][i];
		}
}

/* Some offset every string of both has (counted from the front, or from the back),
 * holding characters the other never has there. */
static bool sep_at(const struct gprops *a, const struct gprops *b, bool back)
{
	unsigned m = lens_min(a) < lens_min(b) ? lens_min(a) : lens_min(b);
	const uint64_t(*x)[2] = back ? a->back : a->front;
	const uint64_t(*y)[2] = back ? b->back : b->front;

	for (unsigned d = 0; d < m && d < GENID_ID_MAX; d++)
		if (!bits_meet(x[d], y[d]))
			return true;
	return false;
}

static bool sep_front(const struct gprops *a, const struct gprops *b)
{
	return sep_at(a, b, false);
}

static bool sep_back(const struct gprops *a, const struct gprops *b)
{
	return sep_at(a, b, true);
}

static bool disjoint(const struct gprops *a, const struct gprops *b)
{
	return !bits_meet(a->lens, b->lens) || sep_front(a, b) || sep_back(a, b);
}

/* Appends kid to parent's children; *last is the current last child (0: none yet). */
static void link_kid(struct genid *g, uint16_t parent, uint16_t *last, uint16_t kid)
{
	if (*last)
		g->node[*last].next = kid;
	else
		g->node[parent].kid = kid;
	*last = kid;
}

/* ---- parser: atoms ---------------------------------------------------------------- */

static int parse_alt(struct gparse *ps, struct gprops *out, uint16_t *node);

static int atom_set(struct gparse *ps, const uint64_t *set, struct gprops *pr, uint16_t *node)
{
	int rc = new_node(ps, GK_SET, node);

	if (rc)
		return rc;
	memcpy(ps->g->node[*node].set, set, sizeof(ps->g->node[*node].set));
	ps->g->node[*node].count = bits_count(set);
	props_set(pr, set);
	return 0;
}

/* [...] at ps->pos. Backslashes and '[' inside are refused: POSIX reads "[\d]" as '\' or
 * 'd', Python as a digit, and the same string is also the validating regex. */
static int parse_class(struct gparse *ps, struct gprops *pr, uint16_t *node)
{
	size_t open = ps->pos++;
	uint64_t set[2] = {0, 0};
	bool first = true;

	if (ps->pos < ps->n && ps->p[ps->pos] == '^')
		return bad(ps, ps->pos, "negated classes [^...] are not supported (nor by gen-id)");
	for (;;) {
		size_t at = ps->pos;
		int lo, hi;

		if (at >= ps->n)
			return bad(ps, open, "unterminated '['");
		lo = (unsigned char)ps->p[at];
		if (lo == ']' && !first)
			break;
		first = false;
		if (lo == '\\' || lo == '[')
			return bad(ps, at,
				   "'\\' and '[' inside [...] mean different things to "
				   "POSIX and Python regexes");
		if (!id_char_ok(lo))
			return bad_char(ps, at, lo);
		hi = lo;
		if (at + 2 < ps->n && ps->p[at + 1] == '-' && ps->p[at + 2] != ']') {
			hi = (unsigned char)ps->p[at + 2];
			if (hi == '\\' || hi == '[')
				return bad(ps, at + 2,
					   "'\\' and '[' inside [...] mean different "
					   "things to POSIX and Python regexes");
			if (!id_char_ok(hi))
				return bad_char(ps, at + 2, hi);
			if (hi < lo)
				return bad(ps, at, "range out of order");
			if (lo < '/' && hi > '/')
				return bad(ps, at,
					   "range includes '/', which is not allowed in an ID");
			ps->pos += 2;
			if (ps->pos + 2 < ps->n && ps->p[ps->pos + 1] == '-' &&
			    ps->p[ps->pos + 2] != ']')
				return bad(ps, ps->pos + 1,
					   "'-' after a range: write it first or last");
		}
		for (int c = lo; c <= hi; c++)
			bits_set(set, (unsigned)c);
		ps->pos++;
	}
	ps->pos++; /* ']' */
	return atom_set(ps, set, pr, node);
}

/* \N: a copy of top-level group N. Only groups that are surely set when \N is reached
 * qualify: closed, not repeated, in the same top-level alternative. */
static int parse_ref(struct gparse *ps, struct gprops *pr, uint16_t *node)
{
	size_t at = ps->pos;
	unsigned n = (unsigned)(ps->p[at + 1] - '0');
	int rc;

	if (n > ps->groups || !ps->ref_ok[n] || ps->ref_branch[n] != ps->branch)
		return bad(ps, at,
			   "\\N must name an earlier top-level (...) group that is "
			   "not repeated and in the same alternative");
	rc = new_node(ps, GK_REF, node);
	if (rc)
		return rc;
	ps->g->node[*node].group = (uint8_t)n;
	ps->g->node[*node].count = 1;
	/* The copy spells what the group spelled, so as far as ambiguity goes it is one
	 * more independent instance of the group: if that product is unambiguous, the
	 * correlated subset is too. */
	*pr = ps->ref[n];
	ps->pos += 2;
	return 0;
}

static int parse_escape(struct gparse *ps, struct gprops *pr, uint16_t *node)
{
	size_t at = ps->pos;
	uint64_t set[2] = {0, 0};
	int c;

	if (at + 1 >= ps->n)
		return bad(ps, at, "'\\' at the end");
	c = (unsigned char)ps->p[at + 1];
	if (c == 'd') {
		for (int d = '0'; d <= '9'; d++)
			bits_set(set, (unsigned)d);
	} else if (c >= '1' && c <= '9') {
		return parse_ref(ps, pr, node);
	} else if (c && strchr("\\.[](){}|*+?^$", c)) {
		/* only escapes of metacharacters: glibc gives \< \w \b ... other meanings */
		if (!id_char_ok(c))
			return bad_char(ps, at, c);
		bits_set(set, (unsigned)c);
	} else if (c == 's') {
		return bad(ps, at, "\\s would put whitespace in an ID");
	} else {
		return bad(ps, at,
			   "unsupported escape (\\d, \\1..\\9 and \\ before a "
			   "metacharacter are)");
	}
	ps->pos += 2;
	return atom_set(ps, set, pr, node);
}

static int parse_group(struct gparse *ps, struct gprops *pr, uint16_t *node)
{
	size_t open = ps->pos;
	unsigned num, branch = ps->branch;
	int rc;

	if (ps->depth >= GENID_DEPTH_MAX)
		return bad(ps, open, "groups nested deeper than 8");
	if (open + 1 < ps->n && ps->p[open + 1] == '?')
		return bad(ps, open, "'(?' groups are not supported (not POSIX)");
	num = ++ps->groups;
	ps->pos++;
	ps->depth++;
	rc = parse_alt(ps, pr, node);
	ps->depth--;
	if (rc)
		return rc;
	if (ps->pos >= ps->n || ps->p[ps->pos] != ')')
		return bad(ps, open, "unbalanced '('");
	ps->pos++;
	if (num < GENID_REFS) {
		ps->g->node[*node].group = (uint8_t)num;
		if (ps->depth == 0) {
			ps->ref[num] = *pr;
			ps->ref_ok[num] = true;
			ps->ref_branch[num] = branch;
		}
	}
	return 0;
}

static int parse_atom(struct gparse *ps, struct gprops *pr, uint16_t *node)
{
	size_t at = ps->pos;
	int c = (unsigned char)ps->p[at];
	uint64_t set[2] = {0, 0};

	switch (c) {
	case '[':
		return parse_class(ps, pr, node);
	case '(':
		return parse_group(ps, pr, node);
	case '\\':
		return parse_escape(ps, pr, node);
	case '.':
		/* as gen-id: any letter or digit, a safe subset of what '.' matches */
		for (int d = '0'; d <= '9'; d++)
			bits_set(set, (unsigned)d);
		for (int d = 'A'; d <= 'Z'; d++)
			bits_set(set, (unsigned)d), bits_set(set, (unsigned)(d - 'A' + 'a'));
		ps->pos++;
		return atom_set(ps, set, pr, node);
	case '*':
	case '+':
		return bad(ps, at, "unbounded repetition: use {n} or {n,m}");
	case '?':
	case '{':
		return bad(ps, at, "nothing to repeat");
	case '^':
	case '$':
		return bad(ps, at, "'^' and '$' only at the very start and end");
	default:
		if (!id_char_ok(c))
			return bad_char(ps, at, c);
		bits_set(set, (unsigned)c);
		ps->pos++;
		return atom_set(ps, set, pr, node);
	}
}

/* ---- parser: repetition, sequences, alternatives ---------------------------------- */

static int parse_count(struct gparse *ps, unsigned *v)
{
	size_t at = ps->pos;
	unsigned n = 0;

	if (ps->pos >= ps->n || ps->p[ps->pos] < '0' || ps->p[ps->pos] > '9')
		return bad(ps, at, "'{' must start {n} or {n,m}");
	while (ps->pos < ps->n && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9') {
		n = n * 10 + (unsigned)(ps->p[ps->pos++] - '0');
		if (n > GENID_REPEAT_MAX)
			return bad(ps, at, "repetition count above 64");
	}
	*v = n;
	return 0;
}

/* {n} {n,m} or ? after an atom; none: *min = *max = 1. */
static int parse_quant(struct gparse *ps, unsigned *min, unsigned *max)
{
	size_t at = ps->pos;
	int rc;

	*min = *max = 1;
	if (at >= ps->n)
		return 0;
	if (ps->p[at] == '?') {
		*min = 0;
		ps->pos++;
	} else if (ps->p[at] == '{') {
		ps->pos++;
		rc = parse_count(ps, min);
		if (rc)
			return rc;
		*max = *min;
		if (ps->pos < ps->n && ps->p[ps->pos] == ',') {
			ps->pos++;
			if (ps->pos < ps->n && ps->p[ps->pos] == '}')
				return bad(ps, at, "unbounded repetition {n,}: give the maximum");
			rc = parse_count(ps, max);
			if (rc)
				return rc;
		}
		if (ps->pos >= ps->n || ps->p[ps->pos] != '}')
			return bad(ps, at, "unterminated '{'");
		ps->pos++;
		if (*max < *min)
			return bad(ps, at, "{n,m} with m below n");
	} else if (ps->p[at] == '*' || ps->p[at] == '+') {
		return bad(ps, at, "unbounded repetition: use {n} or {n,m}");
	} else {
		return 0;
	}
	if (ps->pos < ps->n && strchr("?{*+", ps->p[ps->pos]))
		return bad(ps, ps->pos, "a repetition cannot follow another");
	return 0;
}

/*
 * Wraps atom (props in *pr, scratch in tmp[0..1]) in a GK_REP node. The strings are the
 * union over r of atom^r; different r cannot meet when the atom is non-empty and
 * prefix- or suffix-free (one way to cut into pieces, so the piece count is fixed).
 */
static int make_rep(struct gparse *ps, size_t at, unsigned min, unsigned max, struct gprops *pr,
		    struct gprops *tmp, uint16_t *node)
{
	const struct gnode *kid = &ps->g->node[*node];
	uint64_t count = 0, pow = 1;
	uint16_t rep = 0;
	int rc;

	if (bits_has(pr->lens, 0) && (max >= 2 || (min == 0 && max == 1)))
		return bad(ps, at, "repeating something that can be empty: IDs could repeat");
	if (max >= 2 && !pr->pfree && !pr->sfree)
		return bad(ps, at,
			   "the repeated part can be cut in more than one way: IDs "
			   "could repeat");
	if ((uint64_t)lens_max(pr) * max > GENID_ID_MAX)
		return bad(ps, at, "IDs could be longer than 64 characters");
	for (unsigned r = 0; r <= max; r++) {
		if (r >= min)
			count = sat_add(count, pow);
		pow = sat_mul(pow, kid->count);
	}
	rc = new_node(ps, GK_REP, &rep);
	if (rc)
		return rc;
	ps->g->node[rep].kid = *node;
	ps->g->node[rep].min = (uint8_t)min;
	ps->g->node[rep].max = (uint8_t)max;
	ps->g->node[rep].count = count;
	*node = rep;

	props_empty(&tmp[0]); /* atom^r */
	memset(&tmp[1], 0, sizeof(tmp[1]));
	if (min == 0)
		props_union(&tmp[1], &tmp[0]);
	for (unsigned r = 1; r <= max; r++) {
		props_cat(&tmp[0], pr);
		if (r >= min)
			props_union(&tmp[1], &tmp[0]);
	}
	tmp[1].unamb = pr->unamb;
	tmp[1].pfree = (min == max && pr->pfree) || max == 0;
	tmp[1].sfree = (min == max && pr->sfree) || max == 0;
	*pr = tmp[1];
	return 0;
}

/* Atoms up to '|', ')' or the end, as a GK_SEQ node; its props in *acc. */
static int parse_seq(struct gparse *ps, struct gprops *acc, uint16_t *node)
{
	struct gprops *tmp = calloc(3, sizeof(*tmp)); /* atom, and two for make_rep */
	uint16_t last = 0;
	uint64_t count = 1;
	int rc;

	if (!tmp)
		return err_set(ps->err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	rc = new_node(ps, GK_SEQ, node);
	if (rc)
		goto fail;
	props_empty(acc);
	while (ps->pos < ps->n && ps->p[ps->pos] != '|' && ps->p[ps->pos] != ')') {
		size_t at = ps->pos;
		unsigned min, max;
		uint16_t kid = 0;

		if (at == ps->n - 1 && ps->p[at] == '$' && ps->depth == 0) {
			ps->pos++; /* the closing anchor, ignored */
			break;
		}
		rc = parse_atom(ps, &tmp[0], &kid);
		if (rc)
			goto fail;
		rc = parse_quant(ps, &min, &max);
		if (rc)
			goto fail;
		if (min != 1 || max != 1) {
			if (ps->g->node[kid].kind == GK_ALT && ps->g->node[kid].group &&
			    ps->g->node[kid].group < GENID_REFS)
				ps->ref_ok[ps->g->node[kid].group] = false;
			rc = make_rep(ps, at, min, max, &tmp[0], &tmp[1], &kid);
			if (rc)
				goto fail;
		}
		if (lens_max(acc) + lens_max(&tmp[0]) > GENID_ID_MAX) {
			rc = bad(ps, at, "IDs could be longer than 64 characters");
			goto fail;
		}
		props_cat(acc, &tmp[0]);
		if (!acc->unamb) {
			rc = bad(ps, at,
				 "this part can start where the one before could end: "
				 "IDs could repeat");
			goto fail;
		}
		count = sat_mul(count, ps->g->node[kid].count);
		link_kid(ps->g, *node, &last, kid);
	}
	ps->g->node[*node].count = count;
	free(tmp);
	return 0;
fail:
	free(tmp);
	return rc;
}

/* Alternatives separated by '|' up to ')' or the end, as a GK_ALT node. Every pair of
 * alternatives is compared, so their props are kept until the group ends. */
static int parse_alt(struct gparse *ps, struct gprops *out, uint16_t *node)
{
	struct gprops *br = NULL;
	size_t nbr = 0, cap = 0, at = ps->pos;
	uint16_t last = 0;
	uint64_t count = 0;
	int rc = new_node(ps, GK_ALT, node);

	if (rc)
		return rc;
	for (;;) {
		uint16_t kid = 0;

		if (nbr == cap) {
			size_t ncap = cap ? 2 * cap : 4;
			struct gprops *nb = realloc(br, ncap * sizeof(*nb));

			if (!nb) {
				rc = err_set(ps->err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG,
					     "out of memory");
				goto fail;
			}
			br = nb, cap = ncap;
		}
		rc = parse_seq(ps, &br[nbr], &kid);
		if (rc)
			goto fail;
		for (size_t i = 0; i < nbr; i++)
			if (!disjoint(&br[i], &br[nbr])) {
				rc = bad(ps, at, "two alternatives could make the same ID");
				goto fail;
			}
		count = sat_add(count, ps->g->node[kid].count);
		link_kid(ps->g, *node, &last, kid);
		nbr++;
		if (ps->pos >= ps->n || ps->p[ps->pos] != '|')
			break;
		if (ps->depth == 0) {
			if (ps->first_bar == SIZE_MAX)
				ps->first_bar = ps->pos;
			ps->branch++;
		}
		ps->pos++;
		at = ps->pos;
	}
	*out = br[0];
	for (size_t i = 1; i < nbr; i++) {
		props_union(out, &br[i]);
		out->unamb = out->unamb && br[i].unamb;
		out->pfree = out->pfree && br[i].pfree;
		out->sfree = out->sfree && br[i].sfree;
		for (size_t j = 0; j < i; j++) {
			out->pfree = out->pfree && sep_front(&br[i], &br[j]);
			out->sfree = out->sfree && sep_back(&br[i], &br[j]);
		}
	}
	ps->g->node[*node].count = count;
	free(br);
	return 0;
fail:
	free(br);
	return rc;
}

/* ---- public: parse ------------------------------------------------------------- */

static int check_whole(struct gparse *ps, const struct gprops *pr, bool anchored)
{
	if (ps->pos < ps->n)
		return bad(ps, ps->pos, "unbalanced ')'");
	if (anchored && ps->first_bar != SIZE_MAX)
		return bad(ps, ps->first_bar, "'|' outside (...) binds to '^'/'$': write ^(a|b)$");
	if (bits_has(pr->lens, 0))
		return bad(ps, 0, "the pattern can make an empty ID");
	if (bits_has(pr->front[0], '.'))
		return bad(ps, 0, "an ID could start with '.' (hidden, or \".\" / \"..\")");
	return 0;
}

int genid_parse(const char *pattern, struct genid **out, struct fiona_err *err)
{
	struct gparse ps = {.p = pattern, .err = err, .first_bar = SIZE_MAX};
	struct gprops *whole = NULL;
	bool anchored = false;
	int rc;

	if (!pattern || !out)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG, "no pattern");
	ps.n = strnlen(pattern, GENID_PATTERN_MAX + 1);
	if (ps.n > GENID_PATTERN_MAX)
		return bad(&ps, GENID_PATTERN_MAX, "pattern longer than 256 bytes");
	ps.g = calloc(1, sizeof(*ps.g));
	ps.ref = calloc(GENID_REFS + 1, sizeof(*ps.ref)); /* [GENID_REFS] holds the whole */
	if (!ps.g || !ps.ref) {
		rc = err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
		goto fail;
	}
	whole = &ps.ref[GENID_REFS];
	ps.g->n = 1; /* node 0 is "none" */
	if (ps.n && pattern[0] == '^')
		ps.pos = 1, anchored = true;
	/* a closing '$' unless escaped: count the backslashes before it */
	if (ps.n > ps.pos && pattern[ps.n - 1] == '$') {
		size_t bs = 0;

		while (bs < ps.n - 1 && pattern[ps.n - 2 - bs] == '\\')
			bs++;
		anchored |= bs % 2 == 0;
	}
	rc = parse_alt(&ps, whole, &ps.g->root);
	if (rc)
		goto fail;
	rc = check_whole(&ps, whole, anchored);
	if (rc)
		goto fail;
	ps.g->space = ps.g->node[ps.g->root].count;
	free(ps.ref);
	*out = ps.g;
	return 0;
fail:
	free(ps.ref);
	free(ps.g);
	return rc;
}

void genid_free(struct genid *g)
{
	free(g);
}

uint64_t genid_space(const struct genid *g)
{
	return g ? g->space : 0;
}

/* ---- public: the k-th ID ---------------------------------------------------------- */

struct gout {
	char buf[GENID_ID_MAX + 1];
	size_t len;
	size_t span[GENID_REFS][2]; /* where each top-level group's text went */
};

static void put(struct gout *o, char c)
{
	if (o->len < GENID_ID_MAX) /* always true: parse bounded every length */
		o->buf[o->len++] = c;
}

struct grnd {
	uint64_t (*fn)(void *);
	void *arg;
};

static uint64_t draw_below(uint64_t (*rnd)(void *), void *arg, uint64_t n);

static void emit(const struct genid *g, uint16_t i, uint64_t k, const struct grnd *r,
		 struct gout *o);

/* r copies of node kid, or the children of a sequence, decoded from the last digit
 * (the last part varies fastest), or each drawn on its own; n <= GENID_PATTERN_MAX. */
static void emit_parts(const struct genid *g, const uint16_t *kids, size_t n, uint64_t k,
		       const struct grnd *r, struct gout *o)
{
	uint64_t dig[GENID_PATTERN_MAX];

	for (size_t i = n; i-- > 0;) {
		uint64_t c = g->node[kids[i]].count;

		dig[i] = k % c;
		k /= c;
	}
	for (size_t i = 0; i < n; i++)
		emit(g, kids[i], dig[i], r, o);
}

/*
 * Writes the k-th string of node i. With r (genid_generate on a saturated space) k is
 * drawn afresh at every node instead: there a uniform 64-bit k would leave the leading
 * parts at their first value (k cannot reach them), and every ID of [A-Z0-9]{16} would
 * start "0000". Alternatives and repetition counts are then weighted by their
 * (saturating) counts.
 */
static void emit(const struct genid *g, uint16_t i, uint64_t k, const struct grnd *r,
		 struct gout *o)
{
	const struct gnode *nd = &g->node[i];
	uint16_t kids[GENID_PATTERN_MAX];
	size_t n = 0, start = o->len;

	if (r && nd->kind != GK_REF && nd->kind != GK_SEQ)
		k = draw_below(r->fn, r->arg, nd->count);
	switch (nd->kind) {
	case GK_SET:
		for (unsigned c = 0; c < 128; c++)
			if (bits_has(nd->set, c) && k-- == 0) {
				put(o, (char)c);
				break;
			}
		break;
	case GK_SEQ:
		for (uint16_t c = nd->kid; c && n < GENID_PATTERN_MAX; c = g->node[c].next)
			kids[n++] = c;
		emit_parts(g, kids, n, k, r, o);
		break;
	case GK_ALT:
		for (uint16_t c = nd->kid; c; c = g->node[c].next) {
			if (k < g->node[c].count || !g->node[c].next) {
				emit(g, c, k, r, o);
				break;
			}
			k -= g->node[c].count;
		}
		if (nd->group && nd->group < GENID_REFS) {
			o->span[nd->group][0] = start;
			o->span[nd->group][1] = o->len;
		}
		break;
	case GK_REP: {
		uint64_t pow = 1;

		for (unsigned c = 0; c <= nd->max; c++) {
			if (c >= nd->min) {
				if (k < pow || c == nd->max) {
					for (n = 0; n < c; n++)
						kids[n] = nd->kid;
					emit_parts(g, kids, n, k, r, o);
					break;
				}
				k -= pow;
			}
			pow = sat_mul(pow, g->node[nd->kid].count);
		}
		break;
	}
	case GK_REF:
		for (size_t j = o->span[nd->group][0]; j < o->span[nd->group][1]; j++)
			put(o, o->buf[j]);
		break;
	}
}

int genid_nth(const struct genid *g, uint64_t k, char *out, size_t cap)
{
	struct gout o;

	if (!g || !out || k >= g->space)
		return -EINVAL;
	memset(&o, 0, sizeof(o));
	emit(g, g->root, k, NULL, &o);
	if (o.len + 1 > cap)
		return -ENOSPC;
	memcpy(out, o.buf, o.len);
	out[o.len] = '\0';
	return 0;
}

/* ---- public: a free ID -------------------------------------------------------------- */

/* Uniform in [0, n), n > 0: draws below 2^64 mod n are thrown away. A source that keeps
 * returning those (a broken or rigged one) falls back to the modulo rather than spin. */
static uint64_t draw_below(uint64_t (*rnd)(void *), void *arg, uint64_t n)
{
	uint64_t low = (0 - n) % n, r = 0;

	for (int i = 0; i < 64; i++) {
		r = rnd(arg);
		if (r >= low)
			break;
	}
	return r % n;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b, b = t;
	}
	return a;
}

/* A step in [1, n) coprime to n (n > 1), so k, k+s, k+2s, ... mod n visits all of
 * [0, n) before repeating. Coprimes are dense, the bounded search ends long before. */
static uint64_t draw_step(uint64_t (*rnd)(void *), void *arg, uint64_t n)
{
	uint64_t s = 1 + draw_below(rnd, arg, n - 1);

	for (int i = 0; i < 4096 && gcd(s, n) != 1; i++)
		s = s + 1 < n ? s + 1 : 1;
	return gcd(s, n) == 1 ? s : 1;
}

int genid_generate(const struct genid *g, uint64_t (*rnd)(void *), void *rnd_arg,
		   int (*taken)(void *, const char *), void *taken_arg, int max_tries, char *out,
		   size_t cap, struct fiona_err *err)
{
	char id[GENID_ID_MAX + 1];
	uint64_t n, k, step, tries;
	int rc;

	if (!g || !rnd || !taken || !out || max_tries <= 0)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "genid_generate: bad arguments");
	n = g->space;
	k = draw_below(rnd, rnd_arg, n);
	step = n > 1 ? draw_step(rnd, rnd_arg, n) : 0;
	tries = (uint64_t)max_tries < n ? (uint64_t)max_tries : n;
	for (uint64_t t = 0; t < tries; t++) {
		if (n == UINT64_MAX) {
			struct grnd r = {rnd, rnd_arg};
			struct gout o;

			memset(&o, 0, sizeof(o));
			emit(g, g->root, 0, &r, &o);
			memcpy(id, o.buf, o.len);
			id[o.len] = '\0';
		} else {
			rc = genid_nth(g, k, id, sizeof(id));
			if (rc)
				return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG,
					       "genid_nth failed");
		}
		rc = taken(taken_arg, id);
		if (rc < 0)
			return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG,
				       "asking whether an ID is taken failed");
		if (rc == 0) {
			size_t len = strlen(id);

			if (len + 1 > cap)
				return err_set(err, -ENOSPC, CORE_NO_OFFSET, CORE_NO_TAG,
					       "ID of %zu characters does not fit %zu bytes", len,
					       cap);
			memcpy(out, id, len + 1);
			return 0;
		}
		k = k < n - step ? k + step : k - (n - step); /* (k + step) mod n, no overflow */
	}
	if (tries == n)
		return err_set(err, -EEXIST, CORE_NO_OFFSET, CORE_NO_TAG,
			       "pattern space used up (all %llu IDs taken)", (unsigned long long)n);
	return err_set(err, -EEXIST, CORE_NO_OFFSET, CORE_NO_TAG,
		       "pattern space nearly used up (%llu of %llu tries hit taken IDs; the "
		       "pattern makes %s%llu IDs): widen the pattern",
		       (unsigned long long)tries, (unsigned long long)tries,
		       n == UINT64_MAX ? "at least " : "", (unsigned long long)n);
}

/* ---- public: as a POSIX ERE ------------------------------------------------------ */

int genid_ere(const char *pattern, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; pattern[i]; i++) {
		const char *piece = NULL;
		size_t len = 1;

		if (pattern[i] == '\\' && pattern[i + 1] == 'd') {
			piece = "[0-9]", len = 5;
			i++;
		} else if (pattern[i] == '\\' && pattern[i + 1]) {
			piece = pattern + i, len = 2; /* keep escapes whole: \\d is not \d */
			i++;
		} else {
			piece = pattern + i;
		}
		if (o + len + 1 > cap)
			return -ENOSPC;
		memcpy(out + o, piece, len);
		o += len;
	}
	if (o + 1 > cap)
		return -ENOSPC;
	out[o] = '\0';
	return 0;
}
