/*
 * db: the engine-neutral catalog connection (db.h). The SQLite side is here, a thin layer
 * over its statement API; every call on a PostgreSQL connection goes to db_pg.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_int.h"

int db_open_sqlite(const char *path, bool readonly, const char *vfs, struct db **out)
{
	int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
		    SQLITE_OPEN_FULLMUTEX;
	struct db *db = calloc(1, sizeof(*db));
	int rc;

	*out = db;
	if (!db)
		return DB_NOMEM;
	db->kind = DB_SQLITE;
	rc = sqlite3_open_v2(path, &db->lite, flags, vfs);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db->lite, 10000);
	return rc;
}

int db_open_pg(const char *conninfo, struct db **out)
{
	struct db *db = calloc(1, sizeof(*db));

	*out = db;
	if (!db)
		return DB_NOMEM;
	db->kind = DB_POSTGRES;
	return pg_open(conninfo, &db->pg);
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->kind == DB_SQLITE) {
		sqlite3_finalize(db->dv);
		sqlite3_close(db->lite);
	} else
		pg_close(db->pg);
	free(db);
}

enum db_kind db_kind(const struct db *db)
{
	return db->kind;
}

int db_exec(struct db *db, const char *sql)
{
	if (db->kind == DB_POSTGRES)
		return pg_exec(db->pg, sql);
	return sqlite3_exec(db->lite, sql, NULL, NULL, NULL);
}

int db_prepare(struct db *db, const char *sql, bool persistent, struct db_stmt **out)
{
	struct db_stmt *st = calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (!st)
		return DB_NOMEM;
	st->db = db;
	if (db->kind == DB_POSTGRES)
		rc = pg_prepare(db->pg, sql, persistent, &st->pg);
	else
		rc = sqlite3_prepare_v3(db->lite, sql, -1,
					persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st->lite,
					NULL);
	if (rc != DB_OK) {
		db_finalize(st);
		return rc;
	}
	*out = st;
	return DB_OK;
}

int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	if (st->pg)
		return pg_bind(st->pg, i, DB_INTEGER, v, NULL, 0);
	return sqlite3_bind_int64(st->lite, i, v);
}

int db_bind_text(struct db_stmt *st, int i, const char *t, int len)
{
	if (st->pg)
		return t ? pg_bind(st->pg, i, DB_TEXT, 0, t, len < 0 ? (int)strlen(t) : len)
			 : pg_bind(st->pg, i, DB_NULL, 0, NULL, 0);
	return sqlite3_bind_text(st->lite, i, t, len, SQLITE_TRANSIENT);
}

int db_bind_blob(struct db_stmt *st, int i, const void *p, int len)
{
	if (st->pg)
		return pg_bind(st->pg, i, DB_BLOB, 0, p, len);
	return sqlite3_bind_blob(st->lite, i, p, len, SQLITE_TRANSIENT);
}

int db_bind_null(struct db_stmt *st, int i)
{
	if (st->pg)
		return pg_bind(st->pg, i, DB_NULL, 0, NULL, 0);
	return sqlite3_bind_null(st->lite, i);
}

int db_step(struct db_stmt *st)
{
	return st->pg ? pg_step(st->pg) : sqlite3_step(st->lite);
}

void db_reset(struct db_stmt *st)
{
	if (st->pg)
		pg_reset(st->pg);
	else
		sqlite3_reset(st->lite);
}

void db_clear_bindings(struct db_stmt *st)
{
	if (st->pg)
		pg_clear_bindings(st->pg);
	else
		sqlite3_clear_bindings(st->lite);
}

void db_finalize(struct db_stmt *st)
{
	if (!st)
		return;
	if (st->pg)
		pg_finalize(st->pg);
	else
		sqlite3_finalize(st->lite);
	free(st);
}

int db_column_type(struct db_stmt *st, int i)
{
	return st->pg ? pg_column_type(st->pg, i) : sqlite3_column_type(st->lite, i);
}

int64_t db_column_int64(struct db_stmt *st, int i)
{
	return st->pg ? pg_column_int64(st->pg, i) : sqlite3_column_int64(st->lite, i);
}

const unsigned char *db_column_text(struct db_stmt *st, int i)
{
	return st->pg ? pg_column_text(st->pg, i) : sqlite3_column_text(st->lite, i);
}

const void *db_column_blob(struct db_stmt *st, int i)
{
	return st->pg ? pg_column_blob(st->pg, i) : sqlite3_column_blob(st->lite, i);
}

int db_column_bytes(struct db_stmt *st, int i)
{
	return st->pg ? pg_column_bytes(st->pg, i) : sqlite3_column_bytes(st->lite, i);
}

const char *db_errmsg(struct db *db)
{
	return db->kind == DB_POSTGRES ? pg_errmsg(db->pg) : sqlite3_errmsg(db->lite);
}

const char *db_errstr(int rc)
{
	return sqlite3_errstr(rc); /* the codes are SQLite's on both engines */
}

int64_t db_changes(struct db *db)
{
	return db->kind == DB_POSTGRES ? pg_changes(db->pg) : sqlite3_changes64(db->lite);
}

int64_t db_total_changes(struct db *db)
{
	return db->kind == DB_POSTGRES ? pg_total_changes(db->pg)
				       : sqlite3_total_changes64(db->lite);
}

int64_t db_last_insert_id(struct db *db)
{
	return db->kind == DB_POSTGRES ? pg_last_insert_id(db->pg)
				       : sqlite3_last_insert_rowid(db->lite);
}

bool db_in_transaction(struct db *db)
{
	return db->kind == DB_POSTGRES ? pg_in_transaction(db->pg)
				       : !sqlite3_get_autocommit(db->lite);
}

bool db_reachable(struct db *db)
{
	return db->kind != DB_POSTGRES || !pg_lost(db->pg);
}

uint64_t db_data_version(struct db *db)
{
	uint64_t v = 0;

	if (db->kind == DB_POSTGRES)
		return pg_data_version(db->pg);
	if (!db->dv && sqlite3_prepare_v3(db->lite, "PRAGMA data_version", -1,
					  SQLITE_PREPARE_PERSISTENT, &db->dv, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(db->dv) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(db->dv, 0);
	sqlite3_reset(db->dv);
	return v;
}
