/* Private to db.c and db_pg.c: a connection and a statement of either engine. */
#ifndef FIONA_STORE_DB_INT_H
#define FIONA_STORE_DB_INT_H

#include <sqlite3.h>

#include "store/db.h"

struct pg_db;	/* db_pg.c */
struct pg_stmt; /* db_pg.c */

struct db {
	enum db_kind kind;
	sqlite3 *lite;	  /* DB_SQLITE */
	sqlite3_stmt *dv; /* PRAGMA data_version, prepared on first use */
	struct pg_db *pg; /* DB_POSTGRES */
};

struct db_stmt {
	struct db *db;
	sqlite3_stmt *lite;
	struct pg_stmt *pg;
};

/* db_pg.c: the PostgreSQL side of every db_* call. Codes and types as in db.h. */
int pg_open(const char *conninfo, struct pg_db **out);
void pg_close(struct pg_db *pg);
int pg_exec(struct pg_db *pg, const char *sql);
int pg_prepare(struct pg_db *pg, const char *sql, bool persistent, struct pg_stmt **out);
/* type DB_INTEGER (v), DB_TEXT or DB_BLOB (p, len; copied), DB_NULL. i is 1-based. */
int pg_bind(struct pg_stmt *st, int i, enum db_type type, int64_t v, const void *p, int len);
int pg_step(struct pg_stmt *st);
void pg_reset(struct pg_stmt *st);
void pg_clear_bindings(struct pg_stmt *st);
void pg_finalize(struct pg_stmt *st);
int pg_column_type(struct pg_stmt *st, int i);
int64_t pg_column_int64(struct pg_stmt *st, int i);
const unsigned char *pg_column_text(struct pg_stmt *st, int i);
const void *pg_column_blob(struct pg_stmt *st, int i);
int pg_column_bytes(struct pg_stmt *st, int i);
const char *pg_errmsg(struct pg_db *pg);
int64_t pg_changes(struct pg_db *pg);
int64_t pg_total_changes(struct pg_db *pg);
int64_t pg_last_insert_id(struct pg_db *pg);
bool pg_in_transaction(struct pg_db *pg);
uint64_t pg_data_version(struct pg_db *pg);
bool pg_lost(const struct pg_db *pg);

/* db_sql.c: SQLite's dialect as the store writes it into PostgreSQL's (?N -> $N, INSERT OR
 * IGNORE / OR REPLACE -> ON CONFLICT, BEGIN IMMEDIATE, scalar max/min, group_concat).
 * Returns the number of parameters the statement takes ($1..$n, n >= 0) and a new string
 * in *out (free with free()); -EINVAL for what it cannot translate (PRAGMA, OR REPLACE
 * into an unknown table), -ENOMEM. */
int pg_translate(const char *sql, char **out);

#endif
