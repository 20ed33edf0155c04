/*
 * catalog: the SQLite database that names everything fiona holds — patients, studies,
 * series, instances, objects, participants, assignments, coupling rows, transfers and
 * the audit trail. Identifying values live only here and in the original objects.
 *
 * Durability: WAL with synchronous=FULL, so a committed transaction is on disk before
 * sqlite3_step returns; the receiver answers success only after its transaction commits.
 * After kill -9 SQLite rolls back whatever was not committed, and objects are always
 * written before the rows that name them, so every row names a complete object.
 *
 * Concurrency: one connection, used under s->lock by every thread (receiver threads,
 * FUSE threads, the arrival thread). Transactions are short (one instance, one
 * assignment), so one writer at a time costs little and keeps the code simple.
 *
 * Schema versions live in PRAGMA user_version; migrations[i] takes version i to i+1 and
 * runs in one transaction with the version bump.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "store/store_int.h"

static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE objects(hash TEXT PRIMARY KEY, size INTEGER NOT NULL,"
	"  stored_at INTEGER NOT NULL);"
	"CREATE TABLE patients(id INTEGER PRIMARY KEY, patient_id TEXT NOT NULL,"
	"  patient_name TEXT NOT NULL, birth_date TEXT NOT NULL,"
	"  UNIQUE(patient_id, patient_name, birth_date));"
	"CREATE TABLE studies(id INTEGER PRIMARY KEY, patient INTEGER NOT NULL REFERENCES patients,"
	"  study_uid TEXT UNIQUE NOT NULL, study_date TEXT, study_time TEXT, accession TEXT,"
	"  description TEXT, calling_aet TEXT, called_aet TEXT, first_arrival INTEGER NOT NULL,"
	"  last_arrival INTEGER NOT NULL, complete INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE series(id INTEGER PRIMARY KEY, study INTEGER NOT NULL REFERENCES studies,"
	"  series_uid TEXT UNIQUE NOT NULL, number INTEGER, modality TEXT, description TEXT,"
	"  labels TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE instances(id INTEGER PRIMARY KEY, series INTEGER NOT NULL REFERENCES series,"
	"  sop_uid TEXT NOT NULL, sop_class_uid TEXT, ts_uid TEXT, number INTEGER,"
	"  hash TEXT NOT NULL REFERENCES objects, size INTEGER NOT NULL, burned_in INTEGER,"
	"  received_at INTEGER NOT NULL, UNIQUE(sop_uid, hash));"
	"CREATE INDEX instances_series ON instances(series);"
	"CREATE INDEX series_study ON series(study);"
	"CREATE TABLE participants(project TEXT NOT NULL, participant TEXT NOT NULL,"
	"  created_by INTEGER, created_at INTEGER, PRIMARY KEY(project, participant));"
	"CREATE TABLE assignments(study INTEGER PRIMARY KEY REFERENCES studies,"
	"  project TEXT NOT NULL, participant TEXT NOT NULL, event TEXT NOT NULL,"
	"  who INTEGER, at INTEGER NOT NULL, how TEXT NOT NULL);"
	"CREATE TABLE coupling(project TEXT NOT NULL, key TEXT NOT NULL, participant TEXT NOT NULL,"
	"  event TEXT NOT NULL, PRIMARY KEY(project, key));"
	"CREATE TABLE transfers(instance INTEGER NOT NULL REFERENCES instances, project TEXT NOT "
	"NULL,"
	"  destination TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_try INTEGER NOT NULL DEFAULT 0, last_error TEXT, sent_at INTEGER,"
	"  verified_at INTEGER, PRIMARY KEY(instance, project));"
	"CREATE TABLE audit(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, uid INTEGER,"
	"  action TEXT NOT NULL, detail TEXT NOT NULL);",
	/* 1 -> 2: every query a request or a periodic thread runs is an index lookup at a
	 * million instances (docs/store.md "Scale"); kept de-identified headers */
	"CREATE INDEX studies_pending ON studies(complete, last_arrival);"
	"CREATE INDEX assignments_place ON assignments(project, participant, event);"
	"CREATE INDEX transfers_state ON transfers(state, next_try);"
	"CREATE INDEX instances_hash ON instances(hash);"
	"CREATE TABLE derived(instance INTEGER NOT NULL, profile TEXT NOT NULL,"
	"  size INTEGER NOT NULL, plan BLOB, PRIMARY KEY(instance, profile));"
	"CREATE TABLE changes(seq INTEGER PRIMARY KEY, study INTEGER NOT NULL,"
	"  what INTEGER NOT NULL, project TEXT, participant TEXT, event TEXT);",
	/* 2 -> 3: burned-in text (docs/burn.md): the outcome of cleaning each candidate under
	 * a project's pixel settings, the cleaned copy an object of its own; the object a
	 * kept header was made from */
	"CREATE TABLE cleaned(instance INTEGER NOT NULL, settings TEXT NOT NULL,"
	"  state TEXT NOT NULL, hash TEXT, reason TEXT, regions INTEGER NOT NULL DEFAULT 0,"
	"  at INTEGER NOT NULL, PRIMARY KEY(instance, settings));"
	"CREATE INDEX cleaned_hash ON cleaned(hash);"
	"ALTER TABLE derived ADD COLUMN source TEXT;",
	/* 3 -> 4: one logical instance per SOPInstanceUID (docs/store.md "Re-sent
	 * instances"): a new version takes the row over, earlier ones are kept here */
	"CREATE TABLE instance_versions(instance INTEGER NOT NULL, hash TEXT NOT NULL,"
	"  size INTEGER NOT NULL, ts_uid TEXT, received_at INTEGER NOT NULL,"
	"  replaced_at INTEGER NOT NULL);"
	"CREATE INDEX instance_versions_instance ON instance_versions(instance);"
	"CREATE INDEX instance_versions_hash ON instance_versions(hash);",
	/* 4 -> 5: REDCap (docs/redcap.md). rc_outbox: studies whose REDCap rows must be
	 * written, one row per study written in the transaction of the change (gen counts the
	 * changes, so a send that raced a change leaves the row); rc_rows: every REDCap row
	 * fiona writes or carries out, with the repeat instance fixed once, so a retry merges
	 * into the same instance; what REDCap adds to projects (events, routing rules; coupling
	 * and participants carry their source); automatic participant IDs by keyed hash */
	"CREATE TABLE rc_outbox(study INTEGER PRIMARY KEY, gen INTEGER NOT NULL DEFAULT 1,"
	"  queued_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_try INTEGER NOT NULL DEFAULT 0, parked TEXT);"
	"CREATE INDEX rc_outbox_due ON rc_outbox(parked, next_try);"
	"CREATE TABLE rc_rows(target TEXT NOT NULL, record TEXT NOT NULL, event TEXT NOT NULL,"
	"  instrument TEXT NOT NULL, key TEXT NOT NULL, instance INTEGER NOT NULL,"
	"  origin TEXT NOT NULL, study INTEGER, body_hash TEXT, error TEXT, at INTEGER,"
	"  PRIMARY KEY(target, record, event, instrument, key));"
	"CREATE UNIQUE INDEX rc_rows_instance ON rc_rows(target, record, event, instrument,"
	"  instance);"
	"CREATE INDEX rc_rows_study ON rc_rows(study);"
	"CREATE TABLE rc_state(key TEXT PRIMARY KEY, value TEXT NOT NULL, at INTEGER NOT NULL);"
	"CREATE TABLE project_events(project TEXT NOT NULL, event TEXT NOT NULL, label TEXT,"
	"  source TEXT NOT NULL, PRIMARY KEY(project, event));"
	"CREATE TABLE routing_rules(project TEXT NOT NULL, key TEXT NOT NULL, patient_id TEXT,"
	"  patient_name TEXT, calling_aet TEXT, called_aet TEXT, event TEXT NOT NULL,"
	"  source TEXT NOT NULL, PRIMARY KEY(project, key));"
	"CREATE TABLE autoid(project TEXT NOT NULL, patient_key TEXT NOT NULL,"
	"  participant TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(project, patient_key));"
	"CREATE UNIQUE INDEX autoid_participant ON autoid(project, participant);"
	"ALTER TABLE coupling ADD COLUMN source TEXT;"
	"ALTER TABLE participants ADD COLUMN source TEXT;"
	"ALTER TABLE assignments ADD COLUMN requested_by TEXT;"
	"ALTER TABLE studies ADD COLUMN institution TEXT;"
	"ALTER TABLE series ADD COLUMN date TEXT;"
	"ALTER TABLE series ADD COLUMN time TEXT;"
	"ALTER TABLE series ADD COLUMN sequence TEXT;",
	/* 5 -> 6: what the mount's readable names and zip exports need of each kept header
	 * (docs/mount.md): the SeriesDescription the de-identified file carries ('' none) and
	 * the CRC-32 of its bytes (NULL until the preparer computed it). Kept headers are
	 * computed again so every row has its description. */
	"ALTER TABLE derived ADD COLUMN description TEXT;"
	"ALTER TABLE derived ADD COLUMN crc INTEGER;"
	"DELETE FROM derived;",
	/* 6 -> 7: the project's review file (docs/review.md): a summary of the attributes of
	 * each study's de-identified files per profile, made stale (gen bumped, summary NULL) by
	 * triggers whenever a kept header of the study comes or goes, so a summary computed from
	 * rows that changed meanwhile is refused; and each project's merged text */
	"CREATE TABLE review(study INTEGER NOT NULL, profile TEXT NOT NULL,"
	"  gen INTEGER NOT NULL DEFAULT 0, summary BLOB, PRIMARY KEY(study, profile));"
	"CREATE TABLE review_text(project TEXT NOT NULL, profile TEXT NOT NULL,"
	"  text BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(project, profile));"
	"CREATE TRIGGER derived_review_in AFTER INSERT ON derived BEGIN"
	"  INSERT OR IGNORE INTO review(study, profile) SELECT r.study, NEW.profile FROM"
	"   instances i JOIN series r ON r.id=i.series WHERE i.id=NEW.instance;"
	"  UPDATE review SET gen=gen+1, summary=NULL WHERE profile=NEW.profile AND study=(SELECT"
	"   r.study FROM instances i JOIN series r ON r.id=i.series WHERE i.id=NEW.instance);"
	"  END;"
	"CREATE TRIGGER derived_review_out AFTER DELETE ON derived BEGIN"
	"  UPDATE review SET gen=gen+1, summary=NULL WHERE profile=OLD.profile AND study=(SELECT"
	"   r.study FROM instances i JOIN series r ON r.id=i.series WHERE i.id=OLD.instance);"
	"  END;"
	"INSERT OR IGNORE INTO review(study, profile) SELECT DISTINCT r.study, d.profile FROM"
	"  derived d JOIN instances i ON i.id=d.instance JOIN series r ON r.id=i.series;",
	/* 7 -> 8: NIfTI exports (docs/export.md): one run of dcm2niix per series under the
	 * key of its input, and the files it made, kept as derived objects by content hash
	 * (ids never reused: a file id names one content) */
	"CREATE TABLE nifti(series INTEGER PRIMARY KEY, profile TEXT NOT NULL,"
	"  key TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, at INTEGER NOT NULL);"
	"CREATE TABLE nifti_files(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  series INTEGER NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,"
	"  size INTEGER NOT NULL);"
	"CREATE INDEX nifti_files_series ON nifti_files(series);"
	"CREATE INDEX nifti_files_hash ON nifti_files(hash);",
	/* 8 -> 9: the insert trigger of 7 said INSERT OR IGNORE, which the OR REPLACE of the
	 * statement that fires it overrides: the review row was replaced and its gen began
	 * again, so a summary computed before a kept header changed could still be kept. The
	 * trigger inserts only a missing row now (no conflict clause), and every summary is
	 * made again. */
	"DROP TRIGGER derived_review_in;"
	"CREATE TRIGGER derived_review_in AFTER INSERT ON derived BEGIN"
	"  INSERT INTO review(study, profile) SELECT r.study, NEW.profile FROM instances i"
	"   JOIN series r ON r.id=i.series WHERE i.id=NEW.instance AND NOT EXISTS (SELECT 1"
	"   FROM review v WHERE v.study=r.study AND v.profile=NEW.profile);"
	"  UPDATE review SET gen=gen+1, summary=NULL WHERE profile=NEW.profile AND study=(SELECT"
	"   r.study FROM instances i JOIN series r ON r.id=i.series WHERE i.id=NEW.instance);"
	"  END;"
	"UPDATE review SET gen=gen+1, summary=NULL;",
	/* 9 -> 10: several gateways on one catalog (docs/scale-out.md): the transfer queue is
	 * a lease queue, each 'sending' row carrying the token of the gateway that took it */
	"ALTER TABLE transfers ADD COLUMN lease TEXT;"
	"CREATE INDEX transfers_lease ON transfers(lease);",
	/* 10 -> 11: once-per-site jobs are held by a gateway until a time it keeps moving on
	 * (lead.c), so a gateway that stalls (kill -STOP) loses them; used on PostgreSQL */
	"CREATE TABLE leads(job TEXT PRIMARY KEY, gateway TEXT NOT NULL, until INTEGER NOT NULL);",
};

int cat_exec(struct store *s, const char *sql)
{
	int rc = db_exec(s->db, sql);

	if (rc != DB_OK) {
		log_msg(s->log, LOG_ERROR, "catalog", "%s", db_errmsg(s->db));
		return cat_errno(rc);
	}
	return 0;
}

int cat_errno(int db_rc)
{
	switch (db_rc & 0xff) {
	case DB_OK:
	case DB_DONE:
	case DB_ROW:
		return 0;
	case DB_FULL:
		return -ENOSPC;
	case DB_NOMEM:
		return -ENOMEM;
	case DB_CONSTRAINT:
		return -EEXIST;
	case DB_BUSY:
		return -EBUSY;
	case DB_READONLY:
		return -EROFS;
	case DB_CANTOPEN:
		return -ENOTCONN;
	default:
		return -EIO;
	}
}

int cat_prepare(struct store *s, const char *sql, struct db_stmt **st)
{
	int rc = db_prepare(s->db, sql, false, st);

	if (rc != DB_OK) {
		log_msg(s->log, LOG_ERROR, "catalog", "prepare: %s", db_errmsg(s->db));
		return cat_errno(rc);
	}
	return 0;
}

/* Statements are keyed by the address of their SQL literal: the per-instance statements
 * of ingest are compiled once, not a dozen times per instance. */
int cat_stmt(struct store *s, const char *sql, struct db_stmt **st)
{
	struct cat_stmt_slot *slot;
	int rc;

	for (size_t i = 0; i < CORE_ARRAY_SIZE(s->stmts); i++)
		if (s->stmts[i].sql == sql) {
			db_reset(s->stmts[i].st);
			db_clear_bindings(s->stmts[i].st);
			*st = s->stmts[i].st;
			return 0;
		}
	slot = &s->stmts[s->stmt_next++ % CORE_ARRAY_SIZE(s->stmts)];
	db_finalize(slot->st);
	*slot = (struct cat_stmt_slot){NULL, NULL};
	rc = db_prepare(s->db, sql, true, &slot->st);
	if (rc != DB_OK) {
		log_msg(s->log, LOG_ERROR, "catalog", "prepare: %s", db_errmsg(s->db));
		return cat_errno(rc);
	}
	slot->sql = sql;
	*st = slot->st;
	return 0;
}

void cat_stmts_release(struct store *s)
{
	for (size_t i = 0; i < CORE_ARRAY_SIZE(s->stmts); i++) {
		db_finalize(s->stmts[i].st);
		s->stmts[i] = (struct cat_stmt_slot){NULL, NULL};
	}
}

/* Runs one statement with text/int64 arguments given as a format: 't' text, 'i' int64. */
int cat_run(struct store *s, const char *sql, const char *fmt, ...)
{
	struct db_stmt *st = NULL;
	va_list ap;
	int rc = cat_stmt(s, sql, &st);

	if (rc)
		return rc;
	va_start(ap, fmt);
	rc = cat_bind_va(st, fmt, ap);
	va_end(ap);
	if (!rc)
		rc = db_step(st);
	db_reset(st);
	return rc < 0 ? rc : rc == DB_DONE || rc == DB_ROW ? 0 : cat_errno(rc);
}

static int cat_user_version(struct store *s, int *v)
{
	struct db_stmt *st = NULL;
	int rc = cat_prepare(s, "PRAGMA user_version", &st);

	if (rc)
		return rc;
	rc = db_step(st) == DB_ROW ? 0 : -EIO;
	*v = (int)db_column_int64(st, 0);
	db_finalize(st);
	return rc;
}

static int cat_migrate_sqlite(struct store *s)
{
	int v, rc = cat_user_version(s, &v);
	char sql[64];

	if (rc)
		return rc;
	if (v > (int)CORE_ARRAY_SIZE(migrations)) {
		log_msg(s->log, LOG_ERROR, "catalog",
			"catalog schema %d is newer than this fiona (%zu): refusing to touch it", v,
			CORE_ARRAY_SIZE(migrations));
		return -EPROTO;
	}
	for (; v < (int)CORE_ARRAY_SIZE(migrations); v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if ((rc = cat_exec(s, "BEGIN IMMEDIATE")))
			return rc;
		rc = cat_exec(s, migrations[v]);
		rc = rc ? rc : cat_exec(s, sql);
		if (rc) {
			cat_exec(s, "ROLLBACK");
			return rc;
		}
		if ((rc = cat_exec(s, "COMMIT")))
			return rc;
		log_msg(s->log, LOG_INFO, "catalog", "schema migrated to version %d", v + 1);
	}
	return 0;
}

/* PostgreSQL: the same schema in its dialect (schema_pg.c), applied under an advisory
 * lock so that two gateways starting at once do not both create it. */
static int cat_migrate_pg(struct store *s)
{
	char why[300] = "";
	int rc = pg_schema_migrate(s->db, (int)CORE_ARRAY_SIZE(migrations), why, sizeof(why));

	if (rc != DB_OK) {
		log_msg(s->log, LOG_ERROR, "catalog", "schema: %s", *why ? why : db_errstr(rc));
		return rc == DB_ERROR ? -EPROTO : cat_errno(rc);
	}
	return 0;
}

/* The reader connection: opened after the writer migrated the schema; it only reads, and
 * in WAL mode it never waits for a writer. */
static int cat_open_reader(struct store *s, const char *spec)
{
	int rc;

	if (db_kind(s->db) == DB_POSTGRES)
		return cat_errno(db_open_pg(spec, &s->rdb));
	rc = db_open_sqlite(spec, true, fault_vfs(s), &s->rdb);
	if (rc != DB_OK)
		return cat_errno(rc) ? cat_errno(rc) : -EIO;
	return cat_errno(db_exec(s->rdb, "PRAGMA cache_size=-16000"));
}

/* Opens the writer connection of an SQLite catalog (err set when that fails). */
static int cat_open_sqlite(struct store *s, const char *path, struct fiona_err *err)
{
	int rc = db_open_sqlite(path, false, fault_vfs(s), &s->db);

	if (rc != DB_OK)
		return err_set(err, cat_errno(rc) ? cat_errno(rc) : -EIO, CORE_NO_OFFSET,
			       CORE_NO_TAG, "%s: %s", path, db_errstr(rc));
	chmod(path, 0600); /* identifying values: the service user only */
	return 0;
}

static int cat_open_pg(struct store *s, const char *conninfo, struct fiona_err *err)
{
	int rc = db_open_pg(conninfo, &s->db);

	if (rc != DB_OK)
		return err_set(err, cat_errno(rc) ? cat_errno(rc) : -EIO, CORE_NO_OFFSET,
			       CORE_NO_TAG, "catalog on PostgreSQL: %s", db_errmsg(s->db));
	return 0;
}

/* spec: "postgres:CONNINFO", "sqlite:PATH" or a plain path (SQLite). The conninfo is never
 * logged: it may hold a password. */
int cat_open(struct store *s, const char *spec, struct fiona_err *err)
{
	bool pg = !strncmp(spec, "postgres:", 9);
	const char *where = pg ? spec + 9 : strncmp(spec, "sqlite:", 7) ? spec : spec + 7;
	int rc = pg ? cat_open_pg(s, where, err) : cat_open_sqlite(s, where, err);

	if (rc)
		return rc;
	if (pg) {
		rc = cat_migrate_pg(s);
	} else {
		/* cache_size: the indexes ingest touches at a million instances stay in memory
		 * (16 MB per connection keeps the daemon well inside its memory bound) */
		rc = cat_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
				 "PRAGMA foreign_keys=ON; PRAGMA cache_size=-16000;");
		rc = rc ? rc : cat_migrate_sqlite(s);
	}
	rc = rc ? rc : cat_open_reader(s, where);
	if (rc)
		return err_set(err, rc, CORE_NO_OFFSET, CORE_NO_TAG, "%s: cannot open the catalog",
			       pg ? "PostgreSQL" : where);
	return 0;
}

void cat_close(struct store *s)
{
	cat_stmts_release(s);
	db_close(s->rdb);
	db_close(s->db);
	s->db = s->rdb = NULL;
}

int cat_prepare_read(struct store *s, const char *sql, struct db_stmt **st)
{
	int rc = db_prepare(s->rdb, sql, false, st);

	if (rc != DB_OK) {
		log_msg(s->log, LOG_ERROR, "catalog", "prepare: %s", db_errmsg(s->rdb));
		return cat_errno(rc);
	}
	return 0;
}

int cat_schema_version(void)
{
	return (int)CORE_ARRAY_SIZE(migrations);
}
