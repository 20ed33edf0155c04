/*
 * db_probe: drives store/db on PostgreSQL (db_pg.c, db_sql.c, schema_pg.c) from
 * tests/scaleout/15-db-pg.sh. Prints "PASS pg/name" or "FAIL pg/name: why" per check and
 * "INFO ..." timings.
 *   db_probe CONNINFO basic      schema, binds of every type, OR IGNORE / OR REPLACE,
 *                                constraints, ids, changes, rollback, notifications
 *   db_probe CONNINFO restart    opens two connections (one inside a transaction), prints
 *                                READY, waits for a line on stdin (the server restarted
 *                                meanwhile), then checks DB_IOERR and the reconnect
 *   db_probe CONNINFO sweep FILE PREPAREs each line of FILE (SQL as the store writes it)
 *                                after translation; prints INFO for what PostgreSQL refuses
 *   db_probe CONNINFO timing N   round trips of a one-row select, p50/p90
 */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/db_int.h"
#include "store/store_int.h"

#define PG_TARGET cat_schema_version() /* the sweep prepares on the store's own schema */

static int failures;

static void check(bool ok, const char *name, const char *why)
{
	if (ok)
		printf("PASS pg/%s\n", name);
	else {
		printf("FAIL pg/%s: %s\n", name, why);
		failures++;
	}
	fflush(stdout);
}

#define CHECK(cond, name, db) check((cond), name, (db) ? db_errmsg(db) : #cond)

static struct db *open_db(const char *ci)
{
	struct db *db = NULL;
	int rc = db_open_pg(ci, &db);

	if (rc != DB_OK) {
		printf("FAIL pg/open: %s (%d)\n", db ? db_errmsg(db) : "no memory", rc);
		exit(1);
	}
	return db;
}

/* Runs sql with the given text/int binds ("t" text, "i" int64, "n" NULL); the step's code. */
static int run(struct db *db, const char *sql, const char *fmt, ...)
{
	struct db_stmt *st = NULL;
	va_list ap;
	int rc = db_prepare(db, sql, false, &st), i = 1;

	va_start(ap, fmt);
	for (const char *f = fmt; rc == DB_OK && *f; f++, i++)
		rc = *f == 't'	 ? db_bind_text(st, i, va_arg(ap, const char *), -1)
		     : *f == 'i' ? db_bind_int64(st, i, va_arg(ap, int64_t))
				 : db_bind_null(st, i);
	va_end(ap);
	rc = rc == DB_OK ? db_step(st) : rc;
	db_finalize(st);
	return rc;
}

static int64_t one_int(struct db *db, const char *sql)
{
	struct db_stmt *st = NULL;
	int64_t v = -999;

	if (db_prepare(db, sql, false, &st) == DB_OK && db_step(st) == DB_ROW)
		v = db_column_int64(st, 0);
	db_finalize(st);
	return v;
}

static void t_schema(struct db *db)
{
	char why[256] = "";
	int rc = pg_schema_migrate(db, PG_TARGET, why, sizeof(why));

	check(rc == DB_OK, "schema migrates 0 -> the store's version", why);
	check(pg_schema_migrate(db, PG_TARGET, why, sizeof(why)) == DB_OK,
	      "migrating again is a no-op", why);
	rc = pg_schema_migrate(db, PG_TARGET - 1, why, sizeof(why));
	check(rc == DB_ERROR && strstr(why, "newer"), "a catalog newer than the target is refused",
	      why);
	check(one_int(db, "SELECT version FROM fiona_schema") == PG_TARGET,
	      "fiona_schema says the store's version", db_errmsg(db));
	check(one_int(db, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'derived_review%'") ==
		      2,
	      "the two review triggers exist", db_errmsg(db));
}

static void t_binds(struct db *db)
{
	static const uint8_t blob[] = {0, 1, 2, 0, 255, 0, 'x'};
	struct db_stmt *st = NULL;
	bool ok;
	int rc = db_prepare(db,
			    "INSERT INTO review_text(project, profile, text, at) VALUES(?,?,?,?)",
			    true, &st);

	rc = rc ? rc : db_bind_text(st, 1, "P1xx", 2);
	rc = rc ? rc : db_bind_text(st, 2, "prof", -1);
	rc = rc ? rc : db_bind_blob(st, 3, blob, sizeof(blob));
	rc = rc ? rc : db_bind_int64(st, 4, INT64_C(9007199254740993));
	rc = rc ? rc : db_step(st);
	CHECK(rc == DB_DONE && db_changes(db) == 1, "insert text, blob with NUL bytes, int64", db);
	db_finalize(st);
	rc = db_prepare(db,
			"SELECT text, at, project, NULL, 1.5, ?1 IS NULL FROM review_text"
			" WHERE project=?",
			true, &st);
	rc = rc ? rc : db_bind_null(st, 1);
	rc = rc ? rc : db_bind_text(st, 2, "P1", -1);
	rc = rc ? rc : db_step(st);
	ok = rc == DB_ROW && db_column_type(st, 0) == DB_BLOB &&
	     db_column_bytes(st, 0) == (int)sizeof(blob) &&
	     !memcmp(db_column_blob(st, 0), blob, sizeof(blob)) &&
	     db_column_type(st, 1) == DB_INTEGER &&
	     db_column_int64(st, 1) == INT64_C(9007199254740993) &&
	     db_column_type(st, 2) == DB_TEXT &&
	     !strcmp((const char *)db_column_text(st, 2), "P1") && db_column_bytes(st, 2) == 2 &&
	     db_column_type(st, 3) == DB_NULL && !db_column_text(st, 3) &&
	     db_column_type(st, 4) == DB_FLOAT && db_column_int64(st, 5) == 1;
	CHECK(ok, "read back: blob bytes, int64, text, NULL, float, a boolean as 1", db);
	CHECK(db_step(st) == DB_DONE, "DB_DONE after the last row", db);
	CHECK(db_step(st) == DB_ROW && db_step(st) == DB_DONE,
	      "a step after DB_DONE runs the statement again, as in SQLite", db);
	db_reset(st);
	db_bind_null(st, 1);
	db_bind_text(st, 2, "nobody", -1);
	CHECK(db_step(st) == DB_DONE, "a persistent statement runs again with new binds", db);
	db_finalize(st);
	CHECK(run(db, "INSERT INTO objects(hash, size, stored_at) VALUES(?,?,?)", "ttt", "h1", "5",
		  "7") == DB_DONE &&
		      one_int(db, "SELECT size + 1 FROM objects WHERE hash='h1'") == 6,
	      "a text '5' bound into a bigint column", db);
	CHECK(run(db, "SELECT 1 WHERE ? IS NULL", "n") == DB_ROW,
	      "a parameter of no inferable type is retried as text", db);
}

static void t_conflicts(struct db *db)
{
	int64_t id1, id2;

	CHECK(run(db, "INSERT OR IGNORE INTO objects(hash, size, stored_at) VALUES(?,?,?)", "tii",
		  "h1", (int64_t)99, (int64_t)1) == DB_DONE &&
		      db_changes(db) == 0 &&
		      one_int(db, "SELECT size FROM objects WHERE hash='h1'") == 5,
	      "INSERT OR IGNORE keeps the row, 0 changes", db);
	run(db, "INSERT INTO rc_state(key, value, at) VALUES('k', 'old', 1)", "");
	CHECK(run(db, "INSERT OR REPLACE INTO rc_state(key, value, at) VALUES(?,?,?)", "tti", "k",
		  "new", (int64_t)2) == DB_DONE &&
		      db_changes(db) == 1 &&
		      one_int(db, "SELECT count(*) FROM rc_state WHERE value='new' AND at=2") == 1,
	      "INSERT OR REPLACE replaces", db);
	run(db,
	    "INSERT INTO coupling(project, key, participant, event, source)"
	    " VALUES('P', 'A1', 'p1', 'e1', 'redcap')",
	    "");
	run(db, "INSERT OR REPLACE INTO coupling(project, key, participant, event) VALUES(?,?,?,?)",
	    "tttt", "P", "A1", "p2", "e2");
	CHECK(one_int(db,
		      "SELECT count(*) FROM coupling WHERE participant='p2' AND source IS NULL") ==
		      1,
	      "OR REPLACE resets the unlisted columns, as SQLite's delete + insert", db);
	CHECK(run(db, "INSERT INTO objects(hash, size, stored_at) VALUES(?,?,?)", "tii", "h1",
		  (int64_t)1, (int64_t)1) == DB_CONSTRAINT,
	      "a duplicate key is DB_CONSTRAINT", db);
	CHECK(run(db,
		  "INSERT INTO studies(patient, study_uid, first_arrival, last_arrival)"
		  " VALUES(12345, 'u', 1, 1)",
		  "") == DB_CONSTRAINT,
	      "a foreign key violation is DB_CONSTRAINT", db);
	run(db, "INSERT INTO patients(patient_id, patient_name, birth_date) VALUES('a','b','c')",
	    "");
	id1 = db_last_insert_id(db);
	run(db, "INSERT INTO patients(patient_id, patient_name, birth_date) VALUES(?,?,?)", "ttt",
	    "a2", "b", "c");
	id2 = db_last_insert_id(db);
	CHECK(id1 > 0 && id2 == id1 + 1 &&
		      one_int(db, "SELECT count(*) FROM patients WHERE id IN (1, 2)") == 2,
	      "identity ids through lastval()", db);
	CHECK(run(db, "UPDATE patients SET birth_date='d'", "") == DB_DONE && db_changes(db) == 2,
	      "changes of an UPDATE", db);
	CHECK(run(db, "SELECT id FROM patients", "") == DB_ROW && db_changes(db) == 2,
	      "a SELECT leaves changes alone", db);
	CHECK(db_total_changes(db) >= 7, "total changes add up", db);
	CHECK(one_int(db, "SELECT max(id, 40) + min(id, 1) FROM patients WHERE id=1") == 41,
	      "scalar max/min", db);
	CHECK(one_int(db, "SELECT count(*) FROM patients WHERE patient_id IS ?") == 0 &&
		      run(db, "SELECT 1 FROM patients WHERE patient_id IS ?", "t", "a") == DB_ROW,
	      "a IS ? compares values", db);
	CHECK(one_int(db, "SELECT sum(id > 1) FROM patients") == 1, "sum() of a condition", db);
}

/* The review triggers: a kept header that comes (OR REPLACE: an update here) or goes makes
 * the study's summary stale; setting its CRC alone does not. */
static void t_triggers(struct db *db)
{
	static const char *const setup =
		"INSERT INTO patients(patient_id, patient_name, birth_date) VALUES('tp','tn','tb');"
		"INSERT INTO studies(patient, study_uid, first_arrival, last_arrival)"
		" SELECT id, 'st1', 1, 1 FROM patients WHERE patient_id='tp';"
		"INSERT INTO series(study, series_uid) SELECT id, 'se1' FROM studies WHERE"
		" study_uid='st1';"
		"INSERT INTO objects(hash, size, stored_at) VALUES('ho', 1, 1);"
		"INSERT INTO instances(series, sop_uid, hash, size, received_at)"
		" SELECT id, 'sop1', 'ho', 1, 1 FROM series WHERE series_uid='se1'";
	static const char *const put =
		"INSERT OR REPLACE INTO derived(instance, profile, size, plan)"
		" SELECT id, 'p', 10, NULL FROM instances WHERE sop_uid='sop1'";
	static const char *const gen = "SELECT gen FROM review WHERE profile='p' AND study=(SELECT"
				       " id FROM studies WHERE study_uid='st1')";
	bool ok = db_exec(db, setup) == DB_OK && db_exec(db, put) == DB_OK;

	CHECK(ok && one_int(db, gen) == 1, "a kept header makes its study's review row (gen 1)",
	      db);
	db_exec(db, put);
	CHECK(one_int(db, gen) == 2, "OR REPLACE of the kept header: the summary is stale again",
	      db);
	db_exec(db, "UPDATE derived SET crc=5");
	CHECK(one_int(db, gen) == 2, "setting the CRC alone does not", db);
	db_exec(db, "DELETE FROM derived");
	CHECK(one_int(db, gen) == 3, "a kept header that goes makes it stale", db);
}

static void t_transactions(struct db *db)
{
	struct db_stmt *st = NULL;
	bool ok;

	CHECK(db_exec(db, "BEGIN IMMEDIATE") == DB_OK && db_in_transaction(db), "BEGIN IMMEDIATE",
	      db);
	run(db, "INSERT INTO audit(at, uid, action, detail) VALUES(1, 0, 'x', 'y')", "");
	CHECK(db_exec(db, "ROLLBACK") == DB_OK && !db_in_transaction(db) &&
		      one_int(db, "SELECT count(*) FROM audit") == 0,
	      "a rolled back insert is gone", db);
	db_exec(db, "BEGIN");
	ok = run(db, "INSERT INTO objects(hash, size, stored_at) VALUES('h1', 1, 1)", "") ==
	     DB_CONSTRAINT;
	ok = db_exec(db, "COMMIT") == DB_ERROR && ok;
	CHECK(ok && !db_in_transaction(db),
	      "COMMIT after a failed statement is an error, not success", db);
	ok = db_prepare(db,
			"SELECT group_concat(DISTINCT x) FROM (SELECT 'b' x UNION ALL SELECT"
			" 'a' UNION ALL SELECT 'b') t",
			false, &st) == DB_OK &&
	     db_step(st) == DB_ROW;
	ok = ok && (!strcmp((const char *)db_column_text(st, 0), "a,b") ||
		    !strcmp((const char *)db_column_text(st, 0), "b,a"));
	db_finalize(st);
	CHECK(ok, "group_concat(DISTINCT x)", db);
	CHECK(db_exec(db, "PRAGMA foreign_keys=ON") == DB_ERROR, "PRAGMA is refused", NULL);
}

static void t_notify(struct db *db, const char *ci)
{
	struct db *other = open_db(ci);
	uint64_t v0, v1;
	int i;

	v0 = db_data_version(db);
	usleep(1100000);
	v1 = db_data_version(db);
	check(v1 == v0 + 1, "data_version moves on by itself after a second", "");
	for (i = 0; i < 3; i++)
		db_exec(other, "NOTIFY fiona_changes");
	for (i = 0; i < 50 && db_data_version(db) < v1 + 3; i++)
		usleep(10000);
	check(db_data_version(db) == v1 + 3, "three NOTIFYs of another connection counted", "");
	db_exec(other, "BEGIN; NOTIFY fiona_changes; ROLLBACK");
	usleep(100000);
	check(db_data_version(db) == v1 + 3, "a rolled back NOTIFY is not counted", "");
	db_close(other);
}

static int basic(const char *ci)
{
	struct db *db = open_db(ci);
	struct db *bad = NULL;
	int rc = db_open_pg("host=127.0.0.1 port=1 dbname=x connect_timeout=2", &bad);

	check(rc == DB_CANTOPEN && strstr(db_errmsg(bad), "connect"),
	      "a refused connection is DB_CANTOPEN with libpq's reason", db_errmsg(bad));
	db_close(bad);
	t_schema(db);
	t_binds(db);
	t_conflicts(db);
	t_triggers(db);
	t_transactions(db);
	t_notify(db, ci);
	db_close(db);
	return failures ? 1 : 0;
}

static int restart(const char *ci)
{
	struct db *idle = open_db(ci), *tx = open_db(ci);
	struct db_stmt *kept = NULL;
	char line[16];
	uint64_t v;
	int rc;

	run(idle, "CREATE TABLE IF NOT EXISTS r(a bigint)", "");
	db_exec(tx, "BEGIN");
	run(tx, "INSERT INTO r VALUES(1)", "");
	db_prepare(idle, "SELECT count(*) FROM r WHERE a > ?", true, &kept);
	db_bind_int64(kept, 1, 0);
	check(db_step(kept) == DB_ROW, "a persistent statement before the restart",
	      db_errmsg(idle));
	db_reset(kept);
	v = db_data_version(idle);
	printf("READY\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	rc = run(idle, "SELECT 1", "");
	check(rc == DB_IOERR, "the first statement after a restart is DB_IOERR", db_errmsg(idle));
	rc = run(idle, "SELECT 1", "");
	check(rc == DB_ROW, "the next one reconnects and succeeds", db_errmsg(idle));
	check(db_data_version(idle) > v, "a reconnect moves data_version on", "");
	check(db_step(kept) == DB_ROW && db_column_int64(kept, 0) == 0,
	      "the persistent statement is prepared again on the new connection", db_errmsg(idle));
	db_finalize(kept);
	check(run(tx, "INSERT INTO r VALUES(2)", "") == DB_IOERR && db_in_transaction(tx),
	      "lost inside a transaction: DB_IOERR, still in the transaction", db_errmsg(tx));
	check(run(tx, "SELECT 1", "") == DB_IOERR,
	      "no reconnect before the caller's ROLLBACK (the transaction is not silently split)",
	      db_errmsg(tx));
	check(db_exec(tx, "ROLLBACK") == DB_OK && !db_in_transaction(tx), "ROLLBACK ends it",
	      db_errmsg(tx));
	check(run(tx, "SELECT count(*) FROM r", "") == DB_ROW &&
		      one_int(tx, "SELECT count(*) FROM r") == 0,
	      "then a reconnect; nothing of the lost transaction was kept", db_errmsg(tx));
	db_close(idle);
	db_close(tx);
	return failures ? 1 : 0;
}

/* A statement the store completes at run time has unbalanced parentheses here. */
static bool balanced(const char *p)
{
	int depth = 0;

	for (; *p; p++)
		depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
	return depth == 0;
}

static int sweep(const char *ci, const char *path)
{
	struct db *db = open_db(ci);
	FILE *f = fopen(path, "r");
	char line[8192], sql[8300];
	int n = 0, bad = 0, parts = 0;

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		char *pg = NULL;

		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		n++;
		if (!balanced(line)) {
			parts++;
			continue;
		}
		if (pg_translate(line, &pg) < 0) {
			printf("INFO pg sweep: not translatable: %s\n", line);
			bad++;
			continue;
		}
		snprintf(sql, sizeof(sql), "PREPARE sweep AS %s", pg);
		free(pg);
		if (db_exec(db, sql) == DB_OK) {
			db_exec(db, "DEALLOCATE sweep");
		} else if (strstr(db_errmsg(db), "at end of input")) {
			parts++;
		} else {
			printf("INFO pg sweep: %s: %s\n", db_errmsg(db), line);
			bad++;
		}
	}
	fclose(f);
	printf("INFO pg sweep: %d statements, %d parts of statements built at run time (not"
	       " checked), %d refused by PostgreSQL\n",
	       n, parts, bad);
	check(bad == 0, "every statement of the store prepares on its PostgreSQL schema",
	      "see the INFO lines above");
	db_close(db);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void timed(struct db *db, bool persistent, int n, double *t)
{
	struct db_stmt *st = NULL;

	db_prepare(db, "SELECT hash, size FROM objects WHERE hash=?", persistent, &st);
	for (int i = 0; i < n; i++) {
		double t0 = now_s();

		db_reset(st);
		db_bind_text(st, 1, "h1", -1);
		if (db_step(st) != DB_ROW)
			printf("FAIL pg/timing: %s\n", db_errmsg(db));
		t[i] = (now_s() - t0) * 1e3;
	}
	db_finalize(st);
	qsort(t, (size_t)n, sizeof(*t), cmp_d);
	printf("INFO pg: one-row select by key, %s: p50 %.3f ms, p90 %.3f ms (%d runs)\n",
	       persistent ? "persistent (PQexecPrepared)" : "PQexecParams", t[n / 2], t[n * 9 / 10],
	       n);
}

static int timing(const char *ci, int n)
{
	struct db *db = open_db(ci);
	double *t = calloc((size_t)n, sizeof(*t)), t0;
	int i;

	if (!t || n < 10)
		return 1;
	timed(db, true, n, t);
	timed(db, false, n, t);
	t0 = now_s();
	for (i = 0; i < n; i++)
		db_data_version(db);
	printf("INFO pg: data_version %.2f us per call\n", (now_s() - t0) * 1e6 / n);
	free(t);
	db_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[2], "basic"))
		return basic(argv[1]);
	if (argc >= 3 && !strcmp(argv[2], "restart"))
		return restart(argv[1]);
	if (argc >= 4 && !strcmp(argv[2], "sweep"))
		return sweep(argv[1], argv[3]);
	if (argc >= 4 && !strcmp(argv[2], "timing"))
		return timing(argv[1], (int)strtol(argv[3], NULL, 10));
	fprintf(stderr, "usage: db_probe CONNINFO basic|restart|sweep FILE|timing N\n");
	return 2;
}
