/*
 * logic.c: the subset of REDCap logic fiona's filters use: [field] or
 * [checkbox(code)] compared with a quoted string, a number or another field by
 * = <> != < > <= >=, joined by and/or with parentheses. Like REDCap 15.7.6
 * (Records::applyFilteringLogic), logic that cannot be parsed or names no field of
 * the project is not an error: the compiler returns NULL and the export returns
 * every row ("fail open"). Numbers compare as numbers, anything else as text.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/redcap/emu.h"

#define LOGIC_DEPTH 32 /* parentheses deeper than this are "cannot parse" */

enum node_kind { N_AND, N_OR, N_CMP };
enum op { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE };

struct operand {
	int is_field;
	char *text; /* export name of a field, or the literal */
};

struct logic {
	enum node_kind kind;
	struct logic *a, *b;
	struct operand l, r;
	enum op op;
};

struct parser {
	const struct project *p;
	const char *s;
	int fields, bad, depth;
};

void logic_free(struct logic *l)
{
	if (!l)
		return;
	logic_free(l->a);
	logic_free(l->b);
	free(l->l.text);
	free(l->r.text);
	free(l);
}

static void skip_ws(struct parser *ps)
{
	while (isspace((unsigned char)*ps->s))
		ps->s++;
}

static int keyword(struct parser *ps, const char *kw)
{
	size_t n = strlen(kw);

	skip_ws(ps);
	if (strncasecmp(ps->s, kw, n) == 0 && !isalnum((unsigned char)ps->s[n]) &&
	    ps->s[n] != '_') {
		ps->s += n;
		return 1;
	}
	return 0;
}

/* [name] or [name(code)]: resolved against the dictionary now, so a typo fails open. */
static int parse_field(struct parser *ps, struct operand *o)
{
	const char *end = strchr(ps->s, ']'), *paren;
	const struct field *f;
	char *name;

	if (!end)
		return -EINVAL;
	name = strndup(ps->s + 1, (size_t)(end - ps->s - 1));
	if (!name)
		return -ENOMEM;
	paren = strchr(name, '(');
	if (paren) {
		char *code = strndup(paren + 1, strcspn(paren + 1, ")"));
		char *suf = code ? project_checkbox_suffix(code) : NULL;
		size_t len = (size_t)(paren - name);

		name[len] = '\0';
		f = project_field(ps->p, name);
		o->text = NULL;
		if (f && f->type == FT_CHECKBOX && suf && (o->text = malloc(len + strlen(suf) + 4)))
			snprintf(o->text, len + strlen(suf) + 4, "%s___%s", name, suf);
		free(code);
		free(suf);
		free(name);
		if (!o->text)
			return -EINVAL;
	} else {
		f = project_field(ps->p, name);
		if (!f || f->type == FT_CHECKBOX) {
			/* a form's _complete is a field too */
			size_t n = strlen(name);

			if (!(n > 9 && strcmp(name + n - 9, "_complete") == 0)) {
				free(name);
				return -EINVAL;
			}
			name[n - 9] = '\0';
			if (!project_has_form(ps->p, name)) {
				free(name);
				return -EINVAL;
			}
			name[n - 9] = '_';
		}
		o->text = name;
	}
	o->is_field = 1;
	ps->fields++;
	ps->s = end + 1;
	return 0;
}

static int parse_operand(struct parser *ps, struct operand *o)
{
	const char *b;

	skip_ws(ps);
	o->is_field = 0;
	if (*ps->s == '[')
		return parse_field(ps, o);
	if (*ps->s == '"' || *ps->s == '\'') {
		char q = *ps->s++;

		b = ps->s;
		while (*ps->s && *ps->s != q)
			ps->s++;
		if (*ps->s != q)
			return -EINVAL;
		o->text = strndup(b, (size_t)(ps->s - b));
		ps->s++;
		return o->text ? 0 : -ENOMEM;
	}
	b = ps->s;
	if (*ps->s == '-' || *ps->s == '+')
		ps->s++;
	while (isdigit((unsigned char)*ps->s) || *ps->s == '.')
		ps->s++;
	if (ps->s == b)
		return -EINVAL;
	o->text = strndup(b, (size_t)(ps->s - b));
	return o->text ? 0 : -ENOMEM;
}

static int parse_op(struct parser *ps, enum op *op)
{
	static const struct {
		const char *t;
		enum op op;
	} ops[] = {{"<>", OP_NE}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
		   {"=", OP_EQ},  {"<", OP_LT},	 {">", OP_GT}};
	size_t i;

	skip_ws(ps);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strncmp(ps->s, ops[i].t, strlen(ops[i].t)) == 0) {
			ps->s += strlen(ops[i].t);
			*op = ops[i].op;
			return 0;
		}
	}
	return -EINVAL;
}

static struct logic *parse_or(struct parser *ps);

static struct logic *parse_unary(struct parser *ps)
{
	struct logic *n;

	skip_ws(ps);
	if (*ps->s == '(') {
		if (++ps->depth > LOGIC_DEPTH) {
			ps->bad = 1;
			return NULL;
		}
		ps->s++;
		n = parse_or(ps);
		skip_ws(ps);
		if (!n || *ps->s != ')') {
			logic_free(n);
			ps->bad = 1;
			return NULL;
		}
		ps->s++;
		ps->depth--;
		return n;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		ps->bad = 1;
		return NULL;
	}
	n->kind = N_CMP;
	if (parse_operand(ps, &n->l) || parse_op(ps, &n->op) || parse_operand(ps, &n->r)) {
		logic_free(n);
		ps->bad = 1;
		return NULL;
	}
	return n;
}

static struct logic *parse_chain(struct parser *ps, const char *kw, enum node_kind kind,
				 struct logic *(*sub)(struct parser *))
{
	struct logic *l = sub(ps);

	while (l && !ps->bad && keyword(ps, kw)) {
		struct logic *n = calloc(1, sizeof(*n)), *r = sub(ps);

		if (!n || !r) {
			free(n);
			logic_free(r);
			logic_free(l);
			ps->bad = 1;
			return NULL;
		}
		n->kind = kind;
		n->a = l;
		n->b = r;
		l = n;
	}
	return l;
}

static struct logic *parse_and(struct parser *ps)
{
	return parse_chain(ps, "and", N_AND, parse_unary);
}

static struct logic *parse_or(struct parser *ps)
{
	return parse_chain(ps, "or", N_OR, parse_and);
}

struct logic *logic_compile(const struct project *p, const char *src)
{
	struct parser ps = {.p = p, .s = src};
	struct logic *l;

	if (!src)
		return NULL;
	l = parse_or(&ps);
	skip_ws(&ps);
	if (!l || ps.bad || *ps.s || ps.fields == 0) {
		logic_free(l);
		return NULL;
	}
	return l;
}

static int as_number(const char *s, double *d)
{
	char *end;

	if (!*s)
		return 0;
	*d = strtod(s, &end);
	return *end == '\0';
}

static const char *value(const struct operand *o, const char *(*lookup)(void *, const char *),
			 void *ctx)
{
	return o->is_field ? lookup(ctx, o->text) : o->text;
}

int logic_eval(const struct logic *l, const char *(*lookup)(void *ctx, const char *name), void *ctx)
{
	const char *a, *b;
	double x, y;
	int c;

	switch (l->kind) {
	case N_AND:
		return logic_eval(l->a, lookup, ctx) && logic_eval(l->b, lookup, ctx);
	case N_OR:
		return logic_eval(l->a, lookup, ctx) || logic_eval(l->b, lookup, ctx);
	default:
		break;
	}
	a = value(&l->l, lookup, ctx);
	b = value(&l->r, lookup, ctx);
	if (as_number(a, &x) && as_number(b, &y))
		c = x < y ? -1 : x > y;
	else
		c = strcmp(a, b);
	switch (l->op) {
	case OP_EQ:
		return c == 0;
	case OP_NE:
		return c != 0;
	case OP_LT:
		return c < 0;
	case OP_GT:
		return c > 0;
	case OP_LE:
		return c <= 0;
	default:
		return c >= 0;
	}
}
