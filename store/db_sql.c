/*
 * db_sql: SQLite's dialect, as the store writes it, into PostgreSQL's (db_pg.c translates
 * every statement once, at prepare). One pass over the text; string literals, quoted
 * identifiers and comments are copied as they are, and only these constructs change:
 *
 *   ?  ?N                      -> $n  $N (a bare ? after ?N takes the highest so far + 1)
 *   BEGIN IMMEDIATE|EXCLUSIVE|DEFERRED -> BEGIN
 *   INSERT OR IGNORE INTO ...  -> INSERT INTO ... ON CONFLICT DO NOTHING
 *   INSERT OR REPLACE INTO t(cols) ...
 *                              -> INSERT INTO t(cols) ... ON CONFLICT(<key of t>) DO UPDATE
 *                                 SET c=EXCLUDED.c for the listed columns and c=DEFAULT for
 *                                 the others (SQLite deletes the old row: unlisted columns
 *                                 get their defaults there too)
 *   max(a,b,...) min(a,b,...)  -> GREATEST(...) LEAST(...) (one argument: the aggregate)
 *   group_concat([DISTINCT] x[, sep]) -> string_agg([DISTINCT] (x)::text, sep or ',')
 *   a IS b, a IS NOT b (b not NULL/TRUE/FALSE) -> IS [NOT] DISTINCT FROM
 *   rowid                      -> ctid (a row's physical id: good for "delete these
 *                                 rows", not for ordering)
 *   FROM (SELECT ...) without an alias -> FROM (SELECT ...) AS fiona_sqN (PostgreSQL 15
 *                                 wants one)
 *   ON CONFLICT ... DO UPDATE SET c=c+1 -> SET c=t.c+1: a bare column of the table there
 *                                 is the existing row in SQLite, ambiguous with EXCLUDED
 *                                 in PostgreSQL
 *   PRAGMA ...                 -> -EINVAL (each engine's caller has its own)
 *
 * $tag$...$tag$ bodies (PostgreSQL's own scripts) are copied as they are too.
 *
 * The conflict clause goes at the end of its statement: before a `;`, before RETURNING, or
 * at the end of the text. The table of keys below follows the migrations in catalog.c; an
 * INSERT OR REPLACE into a table missing from it is -EINVAL, so a new table is noticed by
 * the first test that writes it. What cannot be done lexically (an integer column used as
 * a condition, `WHERE complete`) the store writes in both dialects (docs/scale-out.md).
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/db_int.h"

#define SQL_MAX	 (1u << 24)
#define GC_DEPTH 8

/* Every catalog table: its primary key and all its columns (migrations 1..11). */
struct pg_table {
	const char *name;
	const char *key;  /* "a, b"; NULL: no key (OR REPLACE refused) */
	const char *cols; /* every column, in order */
};

static const struct pg_table tables[] = {
	{"objects", "hash", "hash,size,stored_at"},
	{"leads", "job", "job,gateway,until"},
	{"patients", "id", "id,patient_id,patient_name,birth_date"},
	{"studies", "id",
	 "id,patient,study_uid,study_date,study_time,accession,description,calling_aet,"
	 "called_aet,first_arrival,last_arrival,complete,institution"},
	{"series", "id",
	 "id,study,series_uid,number,modality,description,labels,date,time,sequence"},
	{"instances", "id",
	 "id,series,sop_uid,sop_class_uid,ts_uid,number,hash,size,burned_in,received_at"},
	{"participants", "project,participant", "project,participant,created_by,created_at,source"},
	{"assignments", "study", "study,project,participant,event,who,at,how,requested_by"},
	{"coupling", "project,key", "project,key,participant,event,source"},
	{"transfers", "instance,project",
	 "instance,project,destination,state,attempts,next_try,last_error,sent_at,verified_at,"
	 "lease"},
	{"audit", "id", "id,at,uid,action,detail"},
	{"derived", "instance,profile", "instance,profile,size,plan,source,description,crc"},
	{"changes", "seq", "seq,study,what,project,participant,event"},
	{"cleaned", "instance,settings", "instance,settings,state,hash,reason,regions,at"},
	{"instance_versions", NULL, "instance,hash,size,ts_uid,received_at,replaced_at"},
	{"rc_outbox", "study", "study,gen,queued_at,attempts,next_try,parked"},
	{"rc_rows", "target,record,event,instrument,key",
	 "target,record,event,instrument,key,instance,origin,study,body_hash,error,at"},
	{"rc_state", "key", "key,value,at"},
	{"project_events", "project,event", "project,event,label,source"},
	{"routing_rules", "project,key",
	 "project,key,patient_id,patient_name,calling_aet,called_aet,event,source"},
	{"autoid", "project,patient_key", "project,patient_key,participant,at"},
	{"review", "study,profile", "study,profile,gen,summary"},
	{"review_text", "project,profile", "project,profile,text,at"},
	{"nifti", "series", "series,profile,key,state,reason,at"},
	{"nifti_files", "id", "id,series,name,hash,size"},
};

struct xl {
	const char *sql;  /* the SQLite text */
	const char *p;	  /* cursor in it */
	struct buf out;	  /* the PostgreSQL text */
	struct buf tail;  /* the conflict clause owed to the current statement */
	int max_param;	  /* highest $n so far */
	int depth;	  /* parentheses open */
	int words;	  /* words seen in the current statement */
	int gc[GC_DEPTH]; /* depth of each open group_concat( */
	bool gc_sep[GC_DEPTH];
	int n_gc;
	bool from_kw;		     /* the last token was FROM or JOIN */
	bool last_as;		     /* the last word was AS */
	const struct pg_table *into; /* the table of this statement's INSERT */
	bool upd;		     /* in its ON CONFLICT ... DO UPDATE SET */
	bool target_next;	     /* the next word is a column assigned there */
	int upd_depth;
	int upd_sub;	   /* depth of a subquery inside it (its names are its own); 0 none */
	int sub[GC_DEPTH]; /* depth of each open FROM ( / JOIN ( */
	int n_sub, n_alias;
};

static bool is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static size_t word_len(const char *p)
{
	size_t n = 0;

	while (is_word(p[n]))
		n++;
	return n;
}

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* The word at p is w (case-insensitive, whole word). */
static bool word_is(const char *p, const char *w)
{
	size_t n = strlen(w);

	return !strncasecmp(p, w, n) && !is_word(p[n]);
}

/* Copies a '...' literal or a "..." identifier, the doubled quote being an escape. */
static int copy_quoted(struct xl *x)
{
	char q = *x->p;
	const char *s = x->p++;

	for (;;) {
		if (!*x->p)
			return -EINVAL;
		if (*x->p++ == q) {
			if (*x->p != q)
				break;
			x->p++;
		}
	}
	return buf_append(&x->out, s, (size_t)(x->p - s));
}

/* $tag$ ... $tag$ (PostgreSQL's own scripts, e.g. schema_pg.c's function bodies): as is. */
static int copy_dollar(struct xl *x)
{
	const char *s = x->p;
	size_t n = 1 + word_len(s + 1);
	char tag[64];
	const char *e;

	if (s[n] != '$' || n + 1 >= sizeof(tag))
		return -EINVAL;
	memcpy(tag, s, n + 1);
	tag[n + 1] = '\0';
	if (!(e = strstr(s + n + 1, tag)))
		return -EINVAL;
	x->p = e + n + 1;
	return buf_append(&x->out, s, (size_t)(x->p - s));
}

static int copy_comment(struct xl *x)
{
	const char *s = x->p, *e;

	if (x->p[0] == '-') {
		e = strchr(s, '\n');
		e = e ? e : s + strlen(s);
	} else {
		e = strstr(s + 2, "*/");
		if (!e)
			return -EINVAL;
		e += 2;
	}
	x->p = e;
	return buf_append(&x->out, s, (size_t)(e - s));
}

static int param(struct xl *x)
{
	long n = 0;

	x->p++;
	if (isdigit((unsigned char)*x->p)) {
		while (isdigit((unsigned char)*x->p) && n <= 32766)
			n = n * 10 + (*x->p++ - '0');
		if (n < 1 || n > 32766 || isdigit((unsigned char)*x->p))
			return -EINVAL;
	} else {
		n = x->max_param + 1;
	}
	if (n > x->max_param)
		x->max_param = (int)n;
	return buf_appendf(&x->out, "$%ld", n);
}

static int flush_tail(struct xl *x)
{
	/* the tail starts with a space: not a second one after the text's own */
	size_t skip = x->tail.len && x->out.len && x->out.data[x->out.len - 1] == ' ';
	int rc = x->tail.len ? buf_append(&x->out, x->tail.data + skip, x->tail.len - skip) : 0;

	buf_reset(&x->tail);
	return rc;
}

/* Number of top-level arguments of the call whose '(' is at p; -1 when unbalanced. */
static int count_args(const char *p)
{
	int depth = 0, n = 1;

	for (; *p; p++) {
		if (*p == '\'' || *p == '"') {
			char q = *p;

			while (*++p && *p != q)
				;
			if (!*p)
				return -1;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			if (--depth == 0)
				return n;
		} else if (*p == ',' && depth == 1) {
			n++;
		}
	}
	return -1;
}

static const struct pg_table *table_named(const char *p, size_t n)
{
	for (size_t i = 0; i < CORE_ARRAY_SIZE(tables); i++)
		if (strlen(tables[i].name) == n && !strncasecmp(tables[i].name, p, n))
			return &tables[i];
	return NULL;
}

/* name is one of the comma-separated names in list. */
static bool in_list(const char *list, const char *name, size_t n)
{
	for (const char *c = list; *c;) {
		size_t k = strcspn(c, ",");

		if (k == n && !strncasecmp(c, name, n))
			return true;
		c += k + (c[k] == ',');
	}
	return false;
}

/* Reads "t(a, b, ...)" at p into the table and the listed columns ("a,b"). */
static int replace_target(const char *p, const struct pg_table **t, char *cols, size_t cap)
{
	size_t n = word_len(p), used = 0;

	if (!n || !(*t = table_named(p, n)) || !(*t)->key)
		return -EINVAL;
	p = skip_space(p + n);
	if (*p++ != '(')
		return -EINVAL;
	for (;;) {
		p = skip_space(p);
		n = word_len(p);
		if (!n || used + n + 2 > cap || !in_list((*t)->cols, p, n))
			return -EINVAL;
		memcpy(cols + used, p, n);
		used += n;
		cols[used++] = ',';
		p = skip_space(p + n);
		if (*p == ')')
			break;
		if (*p++ != ',')
			return -EINVAL;
	}
	cols[used - 1] = '\0';
	return 0;
}

/* ON CONFLICT(key) DO UPDATE SET: listed columns from EXCLUDED, the others to DEFAULT. */
static int replace_clause(struct xl *x, const char *target)
{
	const struct pg_table *t;
	char cols[1024];
	bool first = true;
	int rc = replace_target(target, &t, cols, sizeof(cols));

	if (rc)
		return rc;
	rc = buf_appendf(&x->tail, " ON CONFLICT(%s) DO ", t->key);
	for (const char *c = t->cols; !rc && *c;) {
		size_t k = strcspn(c, ",");

		if (!in_list(t->key, c, k)) {
			rc = buf_appendf(&x->tail, "%s%.*s=", first ? "UPDATE SET " : ", ", (int)k,
					 c);
			rc = rc ? rc
			     : in_list(cols, c, k)
				     ? buf_appendf(&x->tail, "EXCLUDED.%.*s", (int)k, c)
				     : buf_appendf(&x->tail, "DEFAULT");
			first = false;
		}
		c += k + (c[k] == ',');
	}
	if (!rc && first)
		rc = buf_appendf(&x->tail, "NOTHING");
	return rc;
}

/* INSERT OR IGNORE|REPLACE INTO: p is after INSERT. */
static int insert_or(struct xl *x, const char *p)
{
	const char *q = skip_space(p), *t;
	bool replace;

	if (word_is(q, "INTO")) { /* the table a DO UPDATE SET refers to */
		t = skip_space(q + 4);
		x->into = table_named(t, word_len(t));
	}
	if (!word_is(q, "OR"))
		return buf_append(&x->out, "INSERT", 6);
	q = skip_space(q + 2);
	replace = word_is(q, "REPLACE");
	if (!replace && !word_is(q, "IGNORE")) /* a trigger's INSERT OR UPDATE */
		return word_is(q, "UPDATE") || word_is(q, "DELETE")
			       ? buf_append(&x->out, "INSERT", 6)
			       : -EINVAL;
	q = skip_space(q + word_len(q));
	if (!word_is(q, "INTO") || x->tail.len)
		return -EINVAL;
	t = skip_space(q + 4);
	x->into = table_named(t, word_len(t));
	x->p = q + 4;
	if (buf_append(&x->out, "INSERT INTO", 11))
		return -ENOMEM;
	return replace ? replace_clause(x, skip_space(x->p))
		       : buf_appendf(&x->tail, " ON CONFLICT DO NOTHING");
}

static int group_concat(struct xl *x)
{
	const char *q = skip_space(x->p);
	int rc;

	if (*q != '(' || x->n_gc == GC_DEPTH)
		return -EINVAL;
	q = skip_space(q + 1);
	x->depth++;
	rc = buf_appendf(&x->out, "string_agg(");
	if (!rc && word_is(q, "DISTINCT")) {
		rc = buf_appendf(&x->out, "DISTINCT ");
		q = skip_space(q + 8);
	}
	x->p = q;
	x->gc[x->n_gc] = x->depth;
	x->gc_sep[x->n_gc++] = false;
	return rc ? rc : buf_append(&x->out, "(", 1);
}

/* a IS b and a IS NOT b compare values in SQLite; PostgreSQL's IS takes NULL/TRUE/FALSE. */
static int is_op(struct xl *x)
{
	const char *q = skip_space(x->p);
	bool neg = word_is(q, "NOT");
	const char *v = neg ? skip_space(q + 3) : q;

	if (word_is(v, "NULL") || word_is(v, "TRUE") || word_is(v, "FALSE") ||
	    word_is(v, "DISTINCT") || word_is(v, "UNKNOWN") || !*v)
		return buf_append(&x->out, "IS", 2);
	x->p = v;
	return buf_appendf(&x->out, "IS %sDISTINCT FROM ", neg ? "" : "NOT ");
}

/* Words after a subquery in FROM that are not its alias. */
static bool clause_word(const char *p)
{
	static const char *const words[] = {"WHERE",  "GROUP", "ORDER",	    "LIMIT",  "UNION",
					    "EXCEPT", "JOIN",  "INTERSECT", "ON",     "LEFT",
					    "INNER",  "CROSS", "HAVING",    "OFFSET", "USING",
					    "RIGHT",  "FULL",  "NATURAL",   "WINDOW", "RETURNING"};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(words); i++)
		if (word_is(p, words[i]))
			return true;
	return false;
}

/* The ')' at x->p closes a FROM subquery: its alias when the text gives none. */
static int sub_alias(struct xl *x)
{
	const char *q = skip_space(x->p + 1);

	x->n_sub--;
	if (is_word(*q) && !clause_word(q))
		return 0;
	return buf_appendf(&x->out, ") AS fiona_sq%d", ++x->n_alias) ? -ENOMEM : 1;
}

/* DO UPDATE SET: the words of its assignments. 1: handled; 0: go on as elsewhere. */
static int upsert_word(struct xl *x, const char *w, size_t n, bool call, bool as_before)
{
	const char *after = skip_space(w + n);

	if (word_is(w, "DO") && word_is(after, "UPDATE") && word_is(skip_space(after + 6), "SET")) {
		x->p = skip_space(after + 6) + 3;
		x->upd = x->target_next = true;
		x->upd_depth = x->depth;
		return buf_append(&x->out, "DO UPDATE SET", 13) ? -ENOMEM : 1;
	}
	if (!x->upd)
		return 0;
	if (!x->upd_sub && word_is(w, "SELECT"))
		x->upd_sub = x->depth;
	if (x->upd_sub)
		return 0;
	if (x->depth == x->upd_depth && (word_is(w, "WHERE") || word_is(w, "RETURNING"))) {
		x->upd = !word_is(w, "RETURNING");
		x->target_next = false;
		return 0;
	}
	if (x->target_next) {
		x->target_next = false;
		return buf_append(&x->out, w, n) ? -ENOMEM : 1;
	}
	if (!x->into || call || w[n] == '.' || as_before || !in_list(x->into->cols, w, n))
		return 0;
	return buf_appendf(&x->out, "%s.%.*s", x->into->name, (int)n, w) ? -ENOMEM : 1;
}

static int word(struct xl *x)
{
	const char *w = x->p;
	size_t n = word_len(w);
	const char *after = skip_space(w + n);
	bool first = x->words++ == 0, call = *after == '(', as_before = x->last_as;
	int rc;

	x->p = w + n;
	x->from_kw = word_is(w, "FROM") || word_is(w, "JOIN");
	x->last_as = word_is(w, "AS");
	if (w > x->sql && w[-1] == '.') /* a qualified name: t.max is a column */
		return buf_append(&x->out, w, n);
	if ((rc = upsert_word(x, w, n, call, as_before)))
		return rc < 0 ? rc : 0;
	if (first && word_is(w, "PRAGMA"))
		return -EINVAL;
	if (word_is(w, "BEGIN") && (word_is(after, "IMMEDIATE") || word_is(after, "EXCLUSIVE") ||
				    word_is(after, "DEFERRED"))) {
		x->p = after + word_len(after);
		return buf_append(&x->out, "BEGIN", 5);
	}
	if (word_is(w, "INSERT"))
		return insert_or(x, x->p);
	if (word_is(w, "RETURNING") && x->depth == 0 && x->tail.len)
		return flush_tail(x) ? -ENOMEM : buf_append(&x->out, " RETURNING", 10);
	if (call && (word_is(w, "max") || word_is(w, "min"))) {
		int args = count_args(after);

		if (args < 0)
			return -EINVAL;
		if (args > 1)
			return buf_appendf(&x->out, "%s",
					   tolower((unsigned char)w[1]) == 'a' ? "GREATEST"
									       : "LEAST");
	}
	if (call && word_is(w, "group_concat")) {
		x->p = after;
		return group_concat(x);
	}
	if (word_is(w, "IS"))
		return is_op(x);
	if (word_is(w, "rowid"))
		return buf_append(&x->out, "ctid", 4);
	return buf_append(&x->out, w, n);
}

static int punct(struct xl *x)
{
	char c = *x->p;
	bool gc = x->n_gc && x->gc[x->n_gc - 1] == x->depth;
	int rc;

	if (x->n_sub && c == ')' && x->sub[x->n_sub - 1] == x->depth && (rc = sub_alias(x))) {
		x->p++;
		x->depth--;
		return rc < 0 ? rc : 0;
	}
	x->p++;
	if (c == '(' && x->from_kw && x->n_sub < GC_DEPTH)
		x->sub[x->n_sub++] = x->depth + 1;
	if (!isspace((unsigned char)c))
		x->from_kw = false;
	switch (c) {
	case '(':
		x->depth++;
		break;
	case ')':
		if (x->depth-- == 0)
			return -EINVAL;
		if (x->upd_sub && x->depth < x->upd_sub)
			x->upd_sub = 0;
		if (gc) {
			x->n_gc--;
			if (!x->gc_sep[x->n_gc])
				return buf_appendf(&x->out, ")::text, ',')");
		}
		break;
	case ',':
		if (x->upd && x->depth == x->upd_depth)
			x->target_next = true;
		if (gc && !x->gc_sep[x->n_gc - 1]) {
			x->gc_sep[x->n_gc - 1] = true;
			return buf_appendf(&x->out, ")::text,");
		}
		break;
	case ';':
		if (x->depth)
			return -EINVAL;
		if (flush_tail(x))
			return -ENOMEM;
		x->words = 0;
		x->into = NULL;
		x->upd = false;
		break;
	}
	return buf_append(&x->out, &c, 1);
}

static int step(struct xl *x)
{
	char c = *x->p;

	if (c == '\'' || c == '"')
		return copy_quoted(x);
	if ((c == '-' && x->p[1] == '-') || (c == '/' && x->p[1] == '*'))
		return copy_comment(x);
	if (c == '?')
		return param(x);
	if (c == '$' && (x->p[1] == '$' || (is_word(x->p[1]) && !isdigit((unsigned char)x->p[1]))))
		return copy_dollar(x);
	if (is_word(c) && !isdigit((unsigned char)c))
		return word(x);
	if (isdigit((unsigned char)c)) { /* a number: 1e5 is not the word e5 */
		const char *s = x->p;

		while (is_word(*x->p) || *x->p == '.')
			x->p++;
		return buf_append(&x->out, s, (size_t)(x->p - s));
	}
	return punct(x);
}

int pg_translate(const char *sql, char **out)
{
	struct xl x = {.sql = sql, .p = sql};
	int rc;

	buf_init(&x.out, SQL_MAX);
	buf_init(&x.tail, 1 << 16);
	rc = buf_reserve(&x.out, strlen(sql) + 64);
	if (!rc)
		buf_reset(&x.out); /* NUL-terminated even when nothing is appended */
	while (!rc && *x.p)
		rc = step(&x);
	rc = rc ? rc : x.depth || x.n_gc ? -EINVAL : flush_tail(&x);
	buf_release(&x.tail);
	if (rc) {
		buf_release(&x.out);
		return rc == -EINVAL ? rc : -ENOMEM;
	}
	*out = (char *)buf_detach(&x.out, NULL);
	return x.max_param;
}
