/* Unit tests of store/db_sql.c: SQLite's dialect as the store writes it into PostgreSQL's. */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "store/db_int.h"
#include "tests/unit/tt.h"

/* Translates in and compares with want; "" for a translation that must fail (-EINVAL). */
static int xl_is(const char *in, const char *want, char *got, size_t cap)
{
	char *out = NULL;
	int rc = pg_translate(in, &out);

	snprintf(got, cap, "%s", rc < 0 ? "(refused)" : out);
	free(out);
	return *want ? rc >= 0 && !strcmp(got, want) : rc == -EINVAL;
}

#define XL(t, in, want)                                                                            \
	do {                                                                                       \
		char got_[2048];                                                                   \
		int ok_ = xl_is(in, want, got_, sizeof(got_));                                     \
		TT_CHECK_MSG(t, ok_, "%.120s -> [%.300s]", in, got_);                              \
	} while (0)

static void t_params(struct tt *t)
{
	XL(t, "SELECT a FROM t WHERE b=? AND c=?", "SELECT a FROM t WHERE b=$1 AND c=$2");
	XL(t, "SELECT ?3, ?1, ?", "SELECT $3, $1, $4");
	XL(t, "SELECT ?12", "SELECT $12");
	XL(t, "SELECT '?', \"a?\", ? -- ?\n", "SELECT '?', \"a?\", $1 -- ?\n");
	XL(t, "SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1");
	XL(t, "SELECT /* ? */ ?", "SELECT /* ? */ $1");
	XL(t, "SELECT ?0", "");
	XL(t, "SELECT 'open", "");
}

static void t_empty_is_empty(struct tt *t)
{
	char *out = NULL;

	TT_CHECK(t, pg_translate("", &out) == 0 && out && !*out);
	free(out);
}

static void t_counts_params(struct tt *t)
{
	char *out = NULL;

	TT_CHECK(t, pg_translate("SELECT 1", &out) == 0);
	free(out);
	TT_CHECK(t, pg_translate("SELECT ?, '?', ?", &out) == 2);
	free(out);
	TT_CHECK(t, pg_translate("SELECT ?5, ?2", &out) == 5);
	free(out);
}

static void t_begin(struct tt *t)
{
	XL(t, "BEGIN IMMEDIATE", "BEGIN");
	XL(t, "begin exclusive;", "BEGIN;");
	XL(t, "BEGIN", "BEGIN");
	XL(t, "COMMIT", "COMMIT");
}

static void t_or_ignore(struct tt *t)
{
	XL(t, "INSERT OR IGNORE INTO objects(hash, size, stored_at) VALUES(?,?,?)",
	   "INSERT INTO objects(hash, size, stored_at) VALUES($1,$2,$3) ON CONFLICT DO NOTHING");
	XL(t, "INSERT OR IGNORE INTO patients(patient_id) VALUES(?); SELECT 1",
	   "INSERT INTO patients(patient_id) VALUES($1) ON CONFLICT DO NOTHING; SELECT 1");
	XL(t,
	   "INSERT OR IGNORE INTO review(study, profile) SELECT r.study, 'x' FROM series r"
	   " RETURNING study",
	   "INSERT INTO review(study, profile) SELECT r.study, 'x' FROM series r ON CONFLICT DO"
	   " NOTHING RETURNING study");
	XL(t, "INSERT INTO t(a) VALUES(?)", "INSERT INTO t(a) VALUES($1)");
	XL(t, "INSERT OR ABORT INTO t(a) VALUES(1)", "");
	XL(t, "CREATE TRIGGER x AFTER INSERT OR UPDATE ON derived",
	   "CREATE TRIGGER x AFTER INSERT OR"
	   " UPDATE ON derived");
}

static void t_or_replace(struct tt *t)
{
	XL(t, "INSERT OR REPLACE INTO rc_state(key, value, at) VALUES(?,?,?)",
	   "INSERT INTO rc_state(key, value, at) VALUES($1,$2,$3) ON CONFLICT(key) DO UPDATE SET"
	   " value=EXCLUDED.value, at=EXCLUDED.at");
	/* unlisted columns go back to their defaults, as SQLite's delete + insert does */
	XL(t, "INSERT OR REPLACE INTO coupling(project, key, participant, event) VALUES(?,?,?,?)",
	   "INSERT INTO coupling(project, key, participant, event) VALUES($1,$2,$3,$4) ON"
	   " CONFLICT(project,key) DO UPDATE SET participant=EXCLUDED.participant,"
	   " event=EXCLUDED.event, source=DEFAULT");
	XL(t,
	   "insert or replace into assignments (study,project,participant,event,who,at,how)"
	   " VALUES(?1,?2,?3,?4,?5,?6,'mv');",
	   "INSERT INTO assignments (study,project,participant,event,who,at,how) VALUES($1,$2,$3,"
	   "$4,$5,$6,'mv') ON CONFLICT(study) DO UPDATE SET project=EXCLUDED.project,"
	   " participant=EXCLUDED.participant, event=EXCLUDED.event, who=EXCLUDED.who,"
	   " at=EXCLUDED.at, how=EXCLUDED.how, requested_by=DEFAULT;");
	XL(t,
	   "INSERT OR REPLACE INTO participants(project, participant, created_by, created_at,"
	   " source) VALUES(?,?,?,?,?)",
	   "INSERT INTO participants(project, participant, created_by, created_at, source)"
	   " VALUES($1,$2,$3,$4,$5) ON CONFLICT(project,participant) DO UPDATE SET"
	   " created_by=EXCLUDED.created_by, created_at=EXCLUDED.created_at,"
	   " source=EXCLUDED.source");
	XL(t, "INSERT OR REPLACE INTO nosuch(a) VALUES(1)", "");
	XL(t, "INSERT OR REPLACE INTO rc_state(key, nosuch) VALUES(1, 2)", "");
	XL(t, "INSERT OR REPLACE INTO instance_versions(instance) VALUES(1)", "");
	XL(t, "INSERT OR REPLACE INTO rc_state SELECT * FROM x", "");
}

static void t_upsert(struct tt *t)
{
	XL(t,
	   "INSERT INTO rc_outbox(study, queued_at) SELECT ?1, ?2 WHERE EXISTS(SELECT 1 FROM"
	   " studies WHERE id=?1) ON CONFLICT(study) DO UPDATE SET gen=gen+1,"
	   " parked=CASE WHEN ?3<>0 THEN NULL ELSE parked END, next_try=max(next_try, 5)",
	   "INSERT INTO rc_outbox(study, queued_at) SELECT $1, $2 WHERE EXISTS(SELECT 1 FROM"
	   " studies WHERE id=$1) ON CONFLICT(study) DO UPDATE SET gen=rc_outbox.gen+1,"
	   " parked=CASE WHEN $3<>0 THEN NULL ELSE rc_outbox.parked END,"
	   " next_try=GREATEST(rc_outbox.next_try, 5)");
	XL(t,
	   "INSERT INTO studies(study_uid) VALUES(?) ON CONFLICT(study_uid) DO UPDATE"
	   " SET last_arrival=excluded.last_arrival",
	   "INSERT INTO studies(study_uid) VALUES($1) ON CONFLICT(study_uid) DO UPDATE"
	   " SET last_arrival=excluded.last_arrival");
	XL(t,
	   "INSERT INTO review(study, profile) VALUES(1, 'p') ON CONFLICT(study, profile) DO"
	   " UPDATE SET gen=gen+1, summary=CAST(summary AS BLOB) WHERE gen < 5 RETURNING gen;"
	   " SELECT gen FROM review",
	   "INSERT INTO review(study, profile) VALUES(1, 'p') ON CONFLICT(study, profile) DO"
	   " UPDATE SET gen=review.gen+1, summary=CAST(review.summary AS BLOB) WHERE review.gen < 5"
	   " RETURNING gen; SELECT gen FROM review");
	XL(t, "UPDATE review SET gen=gen+1", "UPDATE review SET gen=gen+1");
	XL(t,
	   "INSERT INTO review(study) VALUES(1) ON CONFLICT DO UPDATE SET gen=(SELECT max(gen)"
	   " FROM review r WHERE r.study=study) + gen",
	   "INSERT INTO review(study) VALUES(1) ON CONFLICT DO UPDATE SET gen=(SELECT max(gen)"
	   " FROM review r WHERE r.study=study) + review.gen");
}

static void t_max_min(struct tt *t)
{
	XL(t, "SELECT max(seq) FROM changes", "SELECT max(seq) FROM changes");
	XL(t, "UPDATE studies SET last_arrival=max(last_arrival, ?), first_arrival=MIN(a,(b),c)",
	   "UPDATE studies SET last_arrival=GREATEST(last_arrival, $1), "
	   "first_arrival=LEAST(a,(b),c)");
	XL(t, "SELECT max(coalesce(a, 1)), min(f(a, b))",
	   "SELECT max(coalesce(a, 1)), min(f(a, b))");
	XL(t, "SELECT max(a, ','), t.max FROM t", "SELECT GREATEST(a, ','), t.max FROM t");
	XL(t, "SELECT max(a", "");
}

static void t_group_concat(struct tt *t)
{
	XL(t, "SELECT group_concat(DISTINCT r.modality) FROM series r",
	   "SELECT string_agg(DISTINCT (r.modality)::text, ',') FROM series r");
	XL(t, "SELECT group_concat(a || 'x'), group_concat(b, '|')",
	   "SELECT string_agg((a || 'x')::text, ','), string_agg((b)::text, '|')");
	XL(t, "SELECT coalesce((SELECT group_concat(f(a,b)) FROM t), '')",
	   "SELECT coalesce((SELECT string_agg((f(a,b))::text, ',') FROM t), '')");
}

static void t_is(struct tt *t)
{
	XL(t, "SELECT 1 WHERE a IS NULL AND b IS NOT NULL AND c IS TRUE",
	   "SELECT 1 WHERE a IS NULL AND b IS NOT NULL AND c IS TRUE");
	XL(t, "SELECT 1 WHERE a IS ? AND b IS NOT c.d",
	   "SELECT 1 WHERE a IS NOT DISTINCT FROM $1 AND b IS DISTINCT FROM c.d");
}

static void t_rowid_pragma(struct tt *t)
{
	XL(t, "DELETE FROM derived WHERE rowid IN (SELECT rowid FROM derived LIMIT 5)",
	   "DELETE FROM derived WHERE ctid IN (SELECT ctid FROM derived LIMIT 5)");
	XL(t, "PRAGMA user_version", "");
	XL(t, "SELECT 1; PRAGMA foreign_keys=ON", "");
	XL(t, "SELECT 'PRAGMA'", "SELECT 'PRAGMA'");
	XL(t, "SELECT 1e5, x1", "SELECT 1e5, x1");
	XL(t, "SELECT count(*) FROM (SELECT a FROM t GROUP BY a)",
	   "SELECT count(*) FROM (SELECT a FROM t GROUP BY a) AS fiona_sq1");
	XL(t, "SELECT * FROM (SELECT 1) UNION ALL SELECT * FROM (SELECT 2) x JOIN (SELECT 3)  ON 1",
	   "SELECT * FROM (SELECT 1) AS fiona_sq1 UNION ALL SELECT * FROM (SELECT 2) x JOIN "
	   "(SELECT 3)"
	   " AS fiona_sq2  ON 1");
	XL(t, "SELECT * FROM t WHERE a IN (SELECT b FROM (SELECT c AS b FROM u))",
	   "SELECT * FROM t WHERE a IN (SELECT b FROM (SELECT c AS b FROM u) AS fiona_sq1)");
	XL(t, "CREATE FUNCTION f() RETURNS int AS $$ SELECT max(a, b) IS ? $$; SELECT $q$?$q$, ?",
	   "CREATE FUNCTION f() RETURNS int AS $$ SELECT max(a, b) IS ? $$; SELECT $q$?$q$, $1");
	XL(t, "SELECT $$ open", "");
}

/* A conninfo libpq cannot parse is refused without libpq's reason, which quotes the text
 * around the mistake: here the tail of a password with a space in it. No server needed. */
static void t_conninfo_not_quoted(struct tt *t)
{
	static const char *const bad[] = {"host=/nonexistent password=hunter2 tail-of-secret",
					  "postgresql://fiona:tail-of-secret@[::1"};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		struct db *db = NULL;
		int rc = db_open_pg(bad[i], &db);

		TT_CHECK_MSG(t, rc == DB_CANTOPEN, "case %zu: rc %d", i, rc);
		TT_CHECK_MSG(t,
			     db && !strstr(db_errmsg(db), "secret") &&
				     strstr(db_errmsg(db), "conninfo"),
			     "case %zu: %s", i, db ? db_errmsg(db) : "no db");
		TT_CHECK(t, db && !db_reachable(db));
		db_close(db);
	}
}

TT_MAIN(TT_CASE(t_params), TT_CASE(t_empty_is_empty), TT_CASE(t_counts_params), TT_CASE(t_begin),
	TT_CASE(t_or_ignore), TT_CASE(t_or_replace), TT_CASE(t_upsert), TT_CASE(t_max_min),
	TT_CASE(t_group_concat), TT_CASE(t_is), TT_CASE(t_rowid_pragma),
	TT_CASE(t_conninfo_not_quoted))
