/*
 * The SQLite catalog: opening, pragmas and the versioned schema. Identifying values
 * (patient IDs, names, dates, UIDs) live only in this database, which is created mode
 * 0600. The schema version is PRAGMA user_version; catalog_migrations[i] moves a database
 * from version i to i+1, applied in order inside one transaction each, so a crash during
 * a migration leaves the previous version intact.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, so every COMMIT fsyncs the WAL
 * before it returns; an instance is acknowledged only after its COMMIT returned.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"

static const char *const catalog_migrations[] = {
	/* 0 -> 1: the first schema */
	"CREATE TABLE patients(id INTEGER PRIMARY KEY, patient_id TEXT NOT NULL UNIQUE,"
	" name TEXT NOT NULL DEFAULT '', birth_date TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE studies(id INTEGER PRIMARY KEY, patient INTEGER NOT NULL REFERENCES patients,"
	" study_uid TEXT NOT NULL UNIQUE, study_date TEXT NOT NULL DEFAULT '',"
	" accession TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',"
	" calling_aet TEXT NOT NULL DEFAULT '', called_aet TEXT NOT NULL DEFAULT '',"
	" peer_host TEXT NOT NULL DEFAULT '', first_arrival INTEGER NOT NULL,"
	" last_arrival INTEGER NOT NULL, complete INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE series(id INTEGER PRIMARY KEY, study INTEGER NOT NULL REFERENCES studies,"
	" series_uid TEXT NOT NULL UNIQUE, modality TEXT NOT NULL DEFAULT '',"
	" description TEXT NOT NULL DEFAULT '', number INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX series_study ON series(study);"
	"CREATE TABLE objects(hash TEXT PRIMARY KEY, size INTEGER NOT NULL);"
	"CREATE TABLE instances(id INTEGER PRIMARY KEY, series INTEGER NOT NULL REFERENCES series,"
	" sop_uid TEXT NOT NULL, sop_class_uid TEXT NOT NULL DEFAULT '',"
	" ts_uid TEXT NOT NULL DEFAULT '', number INTEGER NOT NULL DEFAULT 0,"
	" hash TEXT NOT NULL REFERENCES objects, UNIQUE(sop_uid, hash));"
	"CREATE INDEX instances_series ON instances(series);"
	"CREATE TABLE assignments(study INTEGER PRIMARY KEY REFERENCES studies,"
	" project TEXT NOT NULL, participant TEXT NOT NULL, event TEXT NOT NULL DEFAULT '',"
	" who INTEGER NOT NULL, at INTEGER NOT NULL);"
	"CREATE TABLE participants(project TEXT NOT NULL, id TEXT NOT NULL,"
	" PRIMARY KEY(project, id));"
	"CREATE TABLE coupling(project TEXT NOT NULL, key TEXT NOT NULL,"
	" participant TEXT NOT NULL, event TEXT NOT NULL DEFAULT '', PRIMARY KEY(project, key));"
	"CREATE TABLE transfers(id INTEGER PRIMARY KEY, instance INTEGER NOT NULL"
	" REFERENCES instances, project TEXT NOT NULL, destination TEXT NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT NULL DEFAULT 0,"
	" next_try INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
	" sent_at INTEGER, verified_at INTEGER);"
	"CREATE TABLE labels(series INTEGER NOT NULL REFERENCES series, label TEXT NOT NULL,"
	" PRIMARY KEY(series, label));"
	"CREATE TABLE audit(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, uid INTEGER NOT NULL,"
	" action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');",
};

int catalog_version_latest(void)
{
	return (int)CORE_ARRAY_SIZE(catalog_migrations);
}

int catalog_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int v = -EIO;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int catalog_exec(sqlite3 *db, const char *sql, struct fiona_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: %s", msg ? msg : "error");
	sqlite3_free(msg);
	return -EIO;
}

static int catalog_migrate(sqlite3 *db, struct fiona_err *err)
{
	int v = catalog_version(db);
	if (v < 0)
		return err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG, "catalog: no user_version");
	if (v > catalog_version_latest())
		return err_set(err, -EPROTO, CORE_NO_OFFSET, CORE_NO_TAG,
			       "catalog: schema version %d is newer than this fiona (%d)", v,
			       catalog_version_latest());
	for (; v < catalog_version_latest(); v++) {
		char set[64];
		snprintf(set, sizeof(set), "PRAGMA user_version=%d;", v + 1);
		int rc = catalog_exec(db, "BEGIN IMMEDIATE", err);
		rc = rc ? rc : catalog_exec(db, catalog_migrations[v], err);
		rc = rc ? rc : catalog_exec(db, set, err);
		rc = rc ? rc : catalog_exec(db, "COMMIT", err);
		if (rc) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
	return 0;
}

int catalog_open(const char *path, sqlite3 **out, struct fiona_err *err)
{
	sqlite3 *db = NULL;
	/* Create the file ourselves so it is 0600 from the first byte. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, -errno, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", path,
			       strerror(errno));
	close(fd);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		err_set(err, -EIO, CORE_NO_OFFSET, CORE_NO_TAG, "%s: %s", path,
			db ? sqlite3_errmsg(db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db, 5000);
	if (catalog_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			     " PRAGMA foreign_keys=ON;", err) ||
	    catalog_migrate(db, err))
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return err && err->code ? err->code : -EIO;
}
