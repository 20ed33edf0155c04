/*
 * db_pg: the PostgreSQL side of every db_* call (db.h), on libpq. docs/scale-out.md,
 * "Catalog on PostgreSQL", says how it fits; in short:
 *
 * Statements. The SQL is translated once at prepare (db_sql.c). The first step after the
 * binds sends it: PQexecParams, or for a persistent statement a named PQprepare (once per
 * connection) and PQexecPrepared. The whole result comes back at once (the store's reads
 * are bounded); each further step walks one row, DB_DONE after the last, and a step after
 * that runs it again, as in SQLite. Parameters go as text, except blobs (bytea,
 * binary); an int64 is typed int8, text and NULL are left unknown so PostgreSQL takes the
 * type from the context (a text '5' into a bigint column works as in SQLite). A parameter
 * whose type nothing determines (42P18: `SELECT 1 WHERE ? IS NULL`) is retried once typed
 * text, when no transaction is open (an error aborts an open one); in a transaction the
 * statement fails: write a CAST. Results are text: integers are parsed, booleans read
 * 't'/'f' as 1/0, bytea's hex is decoded on demand.
 *
 * Errors. SQLSTATE maps to SQLite's codes (class 23 DB_CONSTRAINT, 53100 DB_FULL, 53200
 * DB_NOMEM, 40001/40P01/55P03 DB_BUSY, 25006 DB_READONLY). db_errmsg carries the primary
 * message and the SQLSTATE only, never DETAIL (it quotes key values), and for class 22
 * (bad input) not even the message. A COMMIT that PostgreSQL answers with ROLLBACK (the
 * transaction had failed) is DB_ERROR, never success.
 *
 * Reconnect. A lost connection is DB_IOERR. If a transaction was open then, every call
 * keeps failing until the caller's ROLLBACK (which succeeds: the server dropped the
 * transaction); the next call outside a transaction tries PQreset once, then LISTEN again,
 * re-prepares persistent statements on first use and counts one data version (what was
 * missed while away is read again).
 *
 * Notifications. pg_open LISTENs on fiona_changes; the store NOTIFYs in every transaction
 * that writes change rows. pg_data_version reads what arrived without a round trip and
 * also moves on once a second by itself, a re-read that bounds what a lost NOTIFY costs.
 *
 * Ownership and threads as db.h: one thread at a time per connection.
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/db_int.h"

/* type OIDs (pg_type.h is a server header) */
#define OID_BOOL    16
#define OID_BYTEA   17
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_TEXT    25
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

#define PG_CHANNEL "fiona_changes"
#define PG_TICK_NS 1000000000LL /* data_version moves on by itself after this */

struct pg_db {
	PGconn *conn;
	char err[256];
	int64_t changes, total;
	uint64_t version;   /* notifications received + ticks + reconnects */
	int64_t tick_ns;    /* monotonic time of the last tick */
	unsigned epoch;	    /* bumped by every reconnect: prepared names are gone */
	unsigned next_name; /* persistent statements: fiona_<n> */
	bool lost;	    /* reset at the next call outside a transaction */
	bool lost_in_tx;    /* ... and a transaction was open: only ROLLBACK until then */
};

struct pg_param {
	char *value; /* NULL: SQL NULL */
	int len;
	Oid type;
	int format; /* 0 text, 1 binary */
};

struct pg_stmt {
	struct pg_db *db;
	char *sql; /* translated */
	int n;	   /* parameters */
	struct pg_param *params;
	/* libpq's arrays of them, filled at each send */
	const char **values;
	int *lens, *fmts;
	Oid *types;
	bool persistent;
	char name[24];
	unsigned prepared; /* epoch + 1 it was prepared in; 0 not prepared */
	bool text_unknown; /* unknown parameters go as text (42P18 seen) */
	PGresult *res;
	int row, rows;
	unsigned char **blobs; /* decoded bytea of the current row, per column */
	size_t *blob_len;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void set_err(struct pg_db *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first line only: libpq's messages go on with hints over several. */
static void set_err(struct pg_db *pg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pg->err, sizeof(pg->err), fmt, ap);
	va_end(ap);
	pg->err[strcspn(pg->err, "\n")] = '\0';
}

/* Warnings and notices would go to stderr and may quote values: kept from the log. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int map_state(const char *st)
{
	static const struct {
		const char *state;
		int rc;
	} map[] = {{"53100", DB_FULL},	{"53200", DB_NOMEM}, {"40001", DB_BUSY},
		   {"40P01", DB_BUSY},	{"55P03", DB_BUSY},  {"25006", DB_READONLY},
		   {"57P01", DB_IOERR}, {"57P02", DB_IOERR}, {"57P03", DB_IOERR}};

	if (!st)
		return DB_ERROR;
	if (!strncmp(st, "23", 2))
		return DB_CONSTRAINT;
	if (!strncmp(st, "08", 2))
		return DB_IOERR;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(map); i++)
		if (!strcmp(st, map[i].state))
			return map[i].rc;
	return DB_ERROR;
}

/* The connection is gone: DB_IOERR, and what the next calls must do. */
static int lost(struct pg_db *pg, bool in_tx)
{
	if (!pg->lost)
		pg->lost_in_tx = in_tx;
	pg->lost = true;
	set_err(pg, "connection to PostgreSQL lost: %s",
		pg->conn ? PQerrorMessage(pg->conn) : "no connection");
	return DB_IOERR;
}

/* The code of a failed result; err says why without values. res may be NULL. */
static int result_error(struct pg_db *pg, const PGresult *res, bool in_tx)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int rc = map_state(st);

	if (!pg->conn || PQstatus(pg->conn) == CONNECTION_BAD)
		return lost(pg, in_tx);
	if (!res)
		set_err(pg, "PostgreSQL: %s", PQerrorMessage(pg->conn));
	else if (st && !strncmp(st, "22", 2))
		set_err(pg, "PostgreSQL: invalid input value (SQLSTATE %s)", st);
	else
		set_err(pg, "PostgreSQL: %s (SQLSTATE %s)", msg ? msg : "error", st ? st : "none");
	if (!res)
		return DB_NOMEM;
	return rc == DB_IOERR ? lost(pg, in_tx) : rc;
}

static bool in_tx(struct pg_db *pg)
{
	PGTransactionStatusType t = pg->conn ? PQtransactionStatus(pg->conn) : PQTRANS_UNKNOWN;

	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

/* The session settings every connection needs, after open and after a reset. */
static int session_setup(struct pg_db *pg)
{
	/* idle_in_transaction_session_timeout: a gateway stopped in the middle of one of its
	 * (millisecond) transactions (kill -STOP, a paused VM) would hold its row locks and
	 * the feed's lock, and every other gateway would wait for it; the server ends such a
	 * session after 5 s instead, freeing them, and the stalled gateway reconnects when it
	 * runs again */
	PGresult *res = PQexec(pg->conn, "SET client_min_messages=warning;"
					 " SET idle_in_transaction_session_timeout='5s';"
					 " LISTEN " PG_CHANNEL);
	int rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? DB_OK
								: result_error(pg, res, false);

	PQclear(res);
	return rc;
}

/* Before each call: a lost connection is reset once when no transaction is in the way. */
static int ready(struct pg_db *pg)
{
	if (!pg->lost)
		return DB_OK;
	if (pg->lost_in_tx)
		return DB_IOERR; /* until the caller's ROLLBACK */
	if (!pg->conn)
		return DB_CANTOPEN;
	PQreset(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		set_err(pg, "PostgreSQL reconnect failed: %s", PQerrorMessage(pg->conn));
		return DB_IOERR;
	}
	pg->lost = false;
	pg->epoch++;
	pg->version++; /* notifications may have been missed meanwhile */
	pg->err[0] = '\0';
	return session_setup(pg);
}

bool pg_lost(const struct pg_db *pg)
{
	return !pg || pg->lost;
}

/* libpq's reason for a conninfo it cannot parse quotes the text around the mistake
 * ("missing \"=\" after \"...\""), which may be the password: it is not passed on. */
static bool conninfo_parses(struct pg_db *pg, const char *conninfo)
{
	char *why = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &why);

	PQconninfoFree(opts);
	if (opts)
		return true;
	if (why)
		explicit_bzero(why, strlen(why));
	PQfreemem(why);
	set_err(pg, "cannot connect to PostgreSQL: the catalog's conninfo does not parse (libpq's "
		    "reason is not shown: it may quote a password)");
	return false;
}

int pg_open(const char *conninfo, struct pg_db **out)
{
	struct pg_db *pg = calloc(1, sizeof(*pg));

	*out = pg;
	if (!pg)
		return DB_NOMEM;
	pg->tick_ns = now_ns();
	pg->lost = true; /* until connected: no call goes to a connection that is not there */
	if (!conninfo_parses(pg, conninfo))
		return DB_CANTOPEN;
	pg->conn = PQconnectdb(conninfo);
	if (!pg->conn) {
		set_err(pg, "PostgreSQL: out of memory");
		return DB_NOMEM;
	}
	PQsetNoticeProcessor(pg->conn, quiet, NULL);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		set_err(pg, "cannot connect to PostgreSQL: %s", PQerrorMessage(pg->conn));
		return DB_CANTOPEN;
	}
	pg->lost = false;
	return session_setup(pg) == DB_OK ? DB_OK : DB_CANTOPEN;
}

void pg_close(struct pg_db *pg)
{
	if (!pg)
		return;
	PQfinish(pg->conn);
	free(pg);
}

/* 'B' BEGIN, 'C' COMMIT or END, 'R' ROLLBACK (not TO SAVEPOINT), 0 anything else. */
static int tx_word(const char *sql)
{
	static const struct {
		const char *w;
		int kind;
	} words[] = {
		{"BEGIN", 'B'}, {"START", 'B'}, {"COMMIT", 'C'}, {"END", 'C'}, {"ROLLBACK", 'R'}};

	while (isspace((unsigned char)*sql))
		sql++;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(words); i++) {
		size_t n = strlen(words[i].w);

		if (!strncasecmp(sql, words[i].w, n) && !isalnum((unsigned char)sql[n]) &&
		    (words[i].kind != 'R' || !sql[n + strspn(sql + n, " \t\n;")]))
			return words[i].kind;
	}
	return 0;
}

/*
 * What every call does first. After a connection lost inside a transaction only the
 * caller's ROLLBACK (answered here: the server dropped the transaction) or a new BEGIN
 * ends the wait; then a reset is tried. *tx: a transaction is open that this statement
 * does not end (its loss must be waited out). DB_DONE: answered, nothing to send.
 */
static int enter(struct pg_db *pg, const char *sql, bool *tx)
{
	int w = tx_word(sql), rc;

	if (pg->lost && pg->lost_in_tx && (w == 'R' || w == 'B')) {
		pg->lost_in_tx = false;
		if (w == 'R')
			return DB_DONE;
	}
	if ((rc = ready(pg)))
		return rc;
	*tx = in_tx(pg) && w != 'C' && w != 'R';
	return DB_OK;
}

/* Changes and the aborted-COMMIT check of a successful result. */
static int result_ok(struct pg_db *pg, PGresult *res, const char *sql)
{
	const char *cmd = PQcmdStatus(res);

	if (!strcmp(cmd, "ROLLBACK") && tx_word(sql) != 'R') {
		set_err(pg, "PostgreSQL: the transaction had failed and was rolled back");
		return DB_ERROR;
	}
	if (!strncmp(cmd, "INSERT", 6) || !strncmp(cmd, "UPDATE", 6) ||
	    !strncmp(cmd, "DELETE", 6) || !strncmp(cmd, "MERGE", 5)) {
		pg->changes = strtoll(PQcmdTuples(res), NULL, 10);
		pg->total += pg->changes;
	}
	return DB_OK;
}

int pg_exec(struct pg_db *pg, const char *sql)
{
	char *pgsql = NULL;
	PGresult *res;
	bool tx;
	int rc;

	if ((rc = pg_translate(sql, &pgsql)) < 0) {
		set_err(pg, "statement not translatable to PostgreSQL");
		return rc == -ENOMEM ? DB_NOMEM : DB_ERROR;
	}
	if ((rc = enter(pg, pgsql, &tx))) {
		free(pgsql);
		return rc == DB_DONE ? DB_OK : rc;
	}
	res = PQexec(pg->conn, pgsql);
	if (res &&
	    (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK))
		rc = result_ok(pg, res, pgsql);
	else
		rc = result_error(pg, res, tx);
	PQclear(res);
	free(pgsql);
	return rc;
}

int pg_prepare(struct pg_db *pg, const char *sql, bool persistent, struct pg_stmt **out)
{
	struct pg_stmt *st = calloc(1, sizeof(*st));
	int n;

	*out = NULL;
	if (!st)
		return DB_NOMEM;
	st->db = pg;
	st->persistent = persistent;
	st->row = -1;
	if ((n = pg_translate(sql, &st->sql)) < 0) {
		set_err(pg, "statement not translatable to PostgreSQL");
		free(st);
		return n == -ENOMEM ? DB_NOMEM : DB_ERROR;
	}
	st->n = n;
	if (n && (!(st->params = calloc((size_t)n, sizeof(*st->params))) ||
		  !(st->values = calloc((size_t)n, sizeof(*st->values))) ||
		  !(st->lens = calloc((size_t)n, sizeof(*st->lens))) ||
		  !(st->fmts = calloc((size_t)n, sizeof(*st->fmts))) ||
		  !(st->types = calloc((size_t)n, sizeof(*st->types))))) {
		pg_finalize(st);
		return DB_NOMEM;
	}
	if (persistent)
		snprintf(st->name, sizeof(st->name), "fiona_%u", pg->next_name++);
	*out = st;
	return DB_OK;
}

static void free_row(struct pg_stmt *st)
{
	if (st->blobs && st->res)
		for (int c = 0; c < PQnfields(st->res); c++)
			PQfreemem(st->blobs[c]);
	free(st->blobs);
	free(st->blob_len);
	st->blobs = NULL;
	st->blob_len = NULL;
}

void pg_reset(struct pg_stmt *st)
{
	free_row(st);
	PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	st->rows = 0;
}

int pg_bind(struct pg_stmt *st, int i, enum db_type type, int64_t v, const void *p, int len)
{
	struct pg_param *q;
	char num[24];

	if (i < 1 || i > st->n || len < 0)
		return DB_ERROR; /* SQLite says SQLITE_RANGE */
	if (st->res)
		pg_reset(st);
	q = &st->params[i - 1];
	free(q->value);
	*q = (struct pg_param){NULL, 0, 0, 0};
	if (type == DB_INTEGER) {
		len = snprintf(num, sizeof(num), "%" PRId64, v);
		p = num;
		q->type = OID_INT8;
	} else if (type == DB_BLOB && p) { /* a NULL blob pointer binds NULL, as in SQLite */
		q->type = OID_BYTEA;
		q->format = 1;
	} else if (type != DB_TEXT || !p) {
		return DB_OK; /* NULL */
	}
	if (!(q->value = malloc((size_t)len + 1)))
		return DB_NOMEM;
	if (len)
		memcpy(q->value, p, (size_t)len);
	q->value[len] = '\0'; /* text format: to the NUL */
	q->len = len;
	return DB_OK;
}

void pg_clear_bindings(struct pg_stmt *st)
{
	for (int i = 0; i < st->n; i++) {
		free(st->params[i].value);
		st->params[i] = (struct pg_param){NULL, 0, 0, 0};
	}
}

/* One execution with the current binds; the result (ok or not) in *res. */
static void send(struct pg_stmt *st, PGresult **res)
{
	struct pg_db *pg = st->db;
	const char **values = st->values;
	int *lens = st->lens, *fmts = st->fmts;
	Oid *types = st->types;

	for (int i = 0; i < st->n; i++) {
		values[i] = st->params[i].value;
		lens[i] = st->params[i].len;
		fmts[i] = st->params[i].format;
		types[i] = st->params[i].type ? st->params[i].type
			   : st->text_unknown ? OID_TEXT
					      : 0;
	}
	if (!st->persistent) {
		*res = PQexecParams(pg->conn, st->sql, st->n, types, values, lens, fmts, 0);
		return;
	}
	if (st->prepared != pg->epoch + 1) {
		*res = PQprepare(pg->conn, st->name, st->sql, st->n, types);
		if (!*res || PQresultStatus(*res) != PGRES_COMMAND_OK)
			return;
		PQclear(*res);
		st->prepared = pg->epoch + 1;
	}
	*res = PQexecPrepared(pg->conn, st->name, st->n, values, lens, fmts, 0);
}

static int run(struct pg_stmt *st)
{
	struct pg_db *pg = st->db;
	PGresult *res = NULL;
	bool tx;
	int rc;

	if ((rc = enter(pg, st->sql, &tx)))
		return rc;
	send(st, &res);
	if (res && PQresultStatus(res) == PGRES_FATAL_ERROR && !in_tx(pg) && !st->text_unknown &&
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
	    !strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42P18")) {
		PQclear(res); /* nothing was prepared under the name: the same one again */
		st->text_unknown = true;
		send(st, &res);
	}
	if (res &&
	    (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK) &&
	    !(rc = result_ok(pg, res, st->sql))) {
		st->res = res;
		st->rows = PQntuples(res);
		return DB_OK;
	}
	rc = rc ? rc : result_error(pg, res, tx);
	PQclear(res);
	return rc;
}

int pg_step(struct pg_stmt *st)
{
	int rc;

	if (st->res && st->row >= st->rows)
		pg_reset(st); /* a step after DB_DONE runs the statement again, as in SQLite */
	if (!st->res && (rc = run(st)))
		return rc;
	free_row(st);
	if (st->row < st->rows)
		st->row++;
	return st->row < st->rows ? DB_ROW : DB_DONE;
}

void pg_finalize(struct pg_stmt *st)
{
	char sql[48];

	if (!st)
		return;
	pg_reset(st);
	if (st->prepared == st->db->epoch + 1 && !st->db->lost &&
	    PQtransactionStatus(st->db->conn) != PQTRANS_INERROR) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
		PQclear(PQexec(st->db->conn, sql));
	}
	pg_clear_bindings(st);
	free(st->params);
	free(st->values);
	free(st->lens);
	free(st->fmts);
	free(st->types);
	free(st->sql);
	free(st);
}

static bool has_value(struct pg_stmt *st, int i)
{
	return st->res && st->row >= 0 && st->row < st->rows && i >= 0 && i < PQnfields(st->res) &&
	       !PQgetisnull(st->res, st->row, i);
}

int pg_column_type(struct pg_stmt *st, int i)
{
	if (!has_value(st, i))
		return DB_NULL;
	switch (PQftype(st->res, i)) {
	case OID_BOOL:
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		return DB_INTEGER;
	case OID_NUMERIC:
		return strpbrk(PQgetvalue(st->res, st->row, i), ".eEN") ? DB_FLOAT : DB_INTEGER;
	case OID_FLOAT4:
	case OID_FLOAT8:
		return DB_FLOAT;
	case OID_BYTEA:
		return DB_BLOB;
	default:
		return DB_TEXT;
	}
}

int64_t pg_column_int64(struct pg_stmt *st, int i)
{
	const char *v;

	if (!has_value(st, i))
		return 0;
	v = PQgetvalue(st->res, st->row, i);
	if (PQftype(st->res, i) == OID_BOOL)
		return v[0] == 't';
	return strtoll(v, NULL, 10); /* numeric and float: the integer part, like SQLite */
}

const unsigned char *pg_column_text(struct pg_stmt *st, int i)
{
	return has_value(st, i) ? (const unsigned char *)PQgetvalue(st->res, st->row, i) : NULL;
}

/* bytea arrives as hex text: decoded on first use, kept until the next step or reset. */
static int decode(struct pg_stmt *st, int i)
{
	int nf = PQnfields(st->res);

	if (!st->blobs) {
		st->blobs = calloc((size_t)nf, sizeof(*st->blobs));
		st->blob_len = calloc((size_t)nf, sizeof(*st->blob_len));
		if (!st->blobs || !st->blob_len) {
			free(st->blobs);
			free(st->blob_len);
			st->blobs = NULL;
			st->blob_len = NULL;
			return -ENOMEM;
		}
	}
	if (!st->blobs[i])
		st->blobs[i] = PQunescapeBytea(
			(const unsigned char *)PQgetvalue(st->res, st->row, i), &st->blob_len[i]);
	return st->blobs[i] ? 0 : -ENOMEM;
}

const void *pg_column_blob(struct pg_stmt *st, int i)
{
	if (!has_value(st, i))
		return NULL;
	if (PQftype(st->res, i) != OID_BYTEA)
		return PQgetvalue(st->res, st->row, i);
	return decode(st, i) ? NULL : st->blobs[i];
}

int pg_column_bytes(struct pg_stmt *st, int i)
{
	if (!has_value(st, i))
		return 0;
	if (PQftype(st->res, i) != OID_BYTEA)
		return PQgetlength(st->res, st->row, i);
	return decode(st, i) ? 0 : (int)st->blob_len[i];
}

const char *pg_errmsg(struct pg_db *pg)
{
	return pg && pg->err[0] ? pg->err : "not an error";
}

int64_t pg_changes(struct pg_db *pg)
{
	return pg->changes;
}

int64_t pg_total_changes(struct pg_db *pg)
{
	return pg->total;
}

/* Every id column is an identity column: lastval() is the id the last INSERT drew. */
int64_t pg_last_insert_id(struct pg_db *pg)
{
	PGresult *res;
	int64_t id = 0;

	if (pg->lost || !pg->conn)
		return 0;
	res = PQexec(pg->conn, "SELECT lastval()");
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return id;
}

bool pg_in_transaction(struct pg_db *pg)
{
	return (pg->lost && pg->lost_in_tx) || in_tx(pg);
}

uint64_t pg_data_version(struct pg_db *pg)
{
	int64_t now = now_ns();
	PGnotify *n;

	if (pg->conn && !pg->lost) {
		if (!PQconsumeInput(pg->conn) && PQstatus(pg->conn) == CONNECTION_BAD)
			lost(pg, false);
		while ((n = PQnotifies(pg->conn))) {
			pg->version++;
			PQfreemem(n);
		}
	}
	if (now - pg->tick_ns > PG_TICK_NS) {
		pg->tick_ns = now;
		pg->version++;
	}
	return pg->version;
}
