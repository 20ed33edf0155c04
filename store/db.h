/*
 * db: one catalog connection, on SQLite (the embedded default) or on PostgreSQL (several
 * gateways sharing one catalog; docs/scale-out.md). Private to store/: nothing of either
 * engine is visible outside this module, and only db.c and db_pg.c include their headers.
 *
 * The calls mirror SQLite's statement API, which every catalog file was written against:
 * prepare, bind (1-based), step, column (0-based), reset, finalize. The SQL the store
 * writes is SQLite's dialect; on PostgreSQL it is translated once per prepare (db_pg.c:
 * ?N parameters, INSERT OR IGNORE / OR REPLACE, scalar max/min, group_concat, BEGIN
 * IMMEDIATE). Result codes are SQLite's numbers, so cat_errno() maps both engines.
 *
 * Ownership: a statement belongs to its connection and to one thread at a time (the
 * store's locks); text and blob pointers from db_column_* stay valid until the next step,
 * reset or finalize of that statement. Bound text and blobs are copied.
 */
#ifndef FIONA_STORE_DB_H
#define FIONA_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_rc {
	DB_OK = 0,
	DB_ERROR = 1,
	DB_BUSY = 5,
	DB_NOMEM = 7,
	DB_READONLY = 8,
	DB_IOERR = 10,
	DB_FULL = 13,
	DB_CANTOPEN = 14,
	DB_CONSTRAINT = 19,
	DB_ROW = 100,
	DB_DONE = 101,
};

/* Column types, as SQLite numbers them. */
enum db_type { DB_INTEGER = 1, DB_FLOAT = 2, DB_TEXT = 3, DB_BLOB = 4, DB_NULL = 5 };

enum db_kind { DB_SQLITE, DB_POSTGRES };

struct db;
struct db_stmt;

/* SQLite: path, read-only or read-write-create, with vfs (NULL: SQLite's own). */
int db_open_sqlite(const char *path, bool readonly, const char *vfs, struct db **out);
/* PostgreSQL: a libpq conninfo ("host=... port=... dbname=..."). *out is set even when the
 * connection failed (db_errmsg says why; db_close it). */
int db_open_pg(const char *conninfo, struct db **out);
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);

/* Runs one or more statements without parameters or rows. */
int db_exec(struct db *db, const char *sql);
/* persistent: kept for the connection's life (SQLite's SQLITE_PREPARE_PERSISTENT). */
int db_prepare(struct db *db, const char *sql, bool persistent, struct db_stmt **out);
int db_bind_int64(struct db_stmt *st, int i, int64_t v);
int db_bind_text(struct db_stmt *st, int i, const char *t, int len); /* len -1: to NUL */
int db_bind_blob(struct db_stmt *st, int i, const void *p, int len);
int db_bind_null(struct db_stmt *st, int i);
/* DB_ROW, DB_DONE, or an error code. */
int db_step(struct db_stmt *st);
void db_reset(struct db_stmt *st);
void db_clear_bindings(struct db_stmt *st);
void db_finalize(struct db_stmt *st); /* NULL: nothing */

int db_column_type(struct db_stmt *st, int i);
int64_t db_column_int64(struct db_stmt *st, int i);
const unsigned char *db_column_text(struct db_stmt *st, int i); /* NULL for NULL */
const void *db_column_blob(struct db_stmt *st, int i);
int db_column_bytes(struct db_stmt *st, int i);

/* The last error on this connection, without values (safe to log). */
const char *db_errmsg(struct db *db);
const char *db_errstr(int rc);
/* Rows changed by the last INSERT/UPDATE/DELETE; all rows changed since open. */
int64_t db_changes(struct db *db);
int64_t db_total_changes(struct db *db);
/* The id the last INSERT into a table with an INTEGER PRIMARY KEY gave its row. */
int64_t db_last_insert_id(struct db *db);
/* A transaction is open (SQLite may have rolled it back by itself, e.g. on SQLITE_FULL). */
bool db_in_transaction(struct db *db);
/* False while the connection is lost (PostgreSQL down or unreachable); SQLite: true. */
bool db_reachable(struct db *db);
/* Changes when another connection committed: SQLite's data_version; on PostgreSQL the
 * count of notifications this connection received (db_pg.c). */
uint64_t db_data_version(struct db *db);

/* schema_pg.c: brings a PostgreSQL catalog to target_version (SQLite's migrations in
 * PostgreSQL's dialect), under an advisory lock; DB_ERROR with why when it is newer. */
int pg_schema_migrate(struct db *db, int target_version, char *why, size_t cap);

#endif
