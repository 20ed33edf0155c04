/*
 * store: ingest of generated files into a temporary data_dir; duplicates stored once,
 * conflicts kept, unparsable files refused, assignment validation, the arrival tick with
 * a coupling row and a routing rule, reopening, and migration from an empty catalog.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anon/anon.h"
#include "store/store.h"
#include "tt.h"

struct fixture {
	char dir[64];
	struct fiona_config *cfg;
	struct store *s;
};

static int fx_open(struct fixture *f)
{
	char json[2048];
	struct fiona_err err = { 0 };
	snprintf(json, sizeof(json),
		 "{ \"data_dir\": \"%s/data\", \"mount_point\": \"%s/mnt\","
		 " \"secret_file\": \"%s/secret\", \"admin_group\": \"root\","
		 " \"dicom\": { \"aet\": \"FIONA\", \"bind\": \"127.0.0.1\", \"port\": 11112 },"
		 " \"quiet_seconds\": 15,"
		 " \"destinations\": { \"research\": { \"aet\": \"R\", \"host\": \"127.0.0.1\","
		 " \"port\": 4242 } },"
		 " \"projects\": { \"PROJ01\": { \"group\": \"root\","
		 " \"participant_pattern\": \"^PROJ01-[0-9]{4}$\", \"events\": [\"baseline\","
		 " \"followup\"], \"destination\": \"research\","
		 " \"routing\": [ { \"patient_id\": \"^PROJ01-[0-9]{4}$\", \"event\": \"baseline\" } ]"
		 " } } }",
		 f->dir, f->dir, f->dir);
	if (config_parse(json, strlen(json), &f->cfg, &err))
		return -1;
	return store_open(f->cfg, NULL, &f->s, &err);
}

static int fx_init(struct fixture *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/t_store.XXXXXX");
	f->cfg = NULL;
	f->s = NULL;
	return mkdtemp(f->dir) ? fx_open(f) : -1;
}

static void fx_close(struct fixture *f)
{
	store_close(f->s);
	config_free(f->cfg);
	f->s = NULL;
	f->cfg = NULL;
}

static void fx_free(struct fixture *f)
{
	char cmd[128];
	fx_close(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
}

/* Writes one synthetic instance to dir/name; px varies the bytes. */
static int write_instance(const char *dir, const char *name, const char *study,
			  const char *series, const char *sop, const char *pid, const char *acc,
			  uint8_t px, char *path, size_t cap)
{
	struct buf b;
	const uint8_t pix[4] = { px, 0, px, 0 };
	struct dcm_meta m = { "1.2.840.10008.5.1.4.1.1.7", sop, "1.2.840.10008.1.2.1" };
	buf_init(&b, 1 << 20);
	int rc = dcm_write_part10_header(&b, &m);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), m.sop_class_uid);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), sop);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0008, 0x0050), DCM_VR('S', 'H'), acc);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "OT");
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "SYNTH^ONE");
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), pid);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0020, 0x000d), DCM_VR('U', 'I'), study);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0020, 0x000e), DCM_VR('U', 'I'), series);
	rc = rc ? rc : dcm_write_elem(&b, DCM_TAG(0x7fe0, 0x0010), DCM_VR('O', 'W'), pix, 4);
	snprintf(path, cap, "%s/%s", dir, name);
	if (!rc)
		rc = core_write_file_atomic(path, b.data, b.len, 0600);
	buf_release(&b);
	return rc;
}

static void test_ingest_dup_conflict(struct tt *t)
{
	struct fixture f;
	struct store_ingest_result r1, r2, r3;
	struct store_stats st;
	struct fiona_err err = { 0 };
	char p[256];
	TT_CHECK(t, fx_init(&f) == 0);
	TT_CHECK(t, write_instance(f.dir, "a", "2.25.1", "2.25.11", "2.25.111", "X1", "A1", 1, p,
				   sizeof(p)) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, false, &r1, &err) == 0);
	TT_CHECK(t, !r1.duplicate && !r1.conflict);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &r2, &err) == 0);
	TT_CHECK(t, r2.duplicate && r2.instance_id == r1.instance_id);
	TT_CHECK(t, access(p, F_OK) != 0); /* move: the source is gone */
	TT_CHECK(t, write_instance(f.dir, "b", "2.25.1", "2.25.11", "2.25.111", "X1", "A1", 2, p,
				   sizeof(p)) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &r3, &err) == 0);
	TT_CHECK(t, r3.conflict && r3.instance_id != r1.instance_id);
	TT_CHECK(t, store_stats(f.s, &st) == 0);
	TT_CHECK(t, st.instances == 2 && st.objects == 2 && st.conflicts == 1);
	TT_CHECK(t, st.studies_quarantine == 1 && st.studies_assigned == 0);
	/* object bytes equal the source bytes and the file is found by its hash */
	struct store_series *se = NULL;
	struct store_instance *in = NULL;
	size_t ns = 0, ni = 0;
	TT_CHECK(t, store_list_series(f.s, r1.study_id, &se, &ns) == 0 && ns == 1);
	TT_CHECK(t, store_list_instances(f.s, se[0].id, &in, &ni) == 0 && ni == 2);
	TT_CHECK(t, store_object_path(f.s, in[0].hash, p, sizeof(p)) == 0 && access(p, R_OK) == 0);
	free(se);
	free(in);
	fx_free(&f);
}

static void test_bad_file_refused(struct tt *t)
{
	struct fixture f;
	struct store_ingest_result r;
	struct store_stats st;
	struct fiona_err err = { 0 };
	char p[256];
	TT_CHECK(t, fx_init(&f) == 0);
	snprintf(p, sizeof(p), "%s/bad", f.dir);
	TT_CHECK(t, core_write_file_atomic(p, "not dicom at all", 16, 0600) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &r, &err) < 0);
	TT_CHECK(t, err.reason[0] != 0);
	TT_CHECK(t, access(p, F_OK) == 0); /* refused files stay where they were */
	TT_CHECK(t, store_stats(f.s, &st) == 0 && st.instances == 0 && st.objects == 0);
	fx_free(&f);
}

static void test_assign_validation(struct tt *t)
{
	struct fixture f;
	struct store_ingest_result r;
	struct store_study sd;
	struct fiona_err err = { 0 };
	char p[256];
	uint64_t g;
	TT_CHECK(t, fx_init(&f) == 0);
	TT_CHECK(t, write_instance(f.dir, "a", "2.25.2", "2.25.21", "2.25.211", "X2", "A2", 1, p,
				   sizeof(p)) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &r, &err) == 0);
	g = store_generation(f.s);
	TT_CHECK(t, store_assign(f.s, r.study_id, "NOPE", "PROJ01-0001", "baseline", 0, &err) ==
			    -ENOENT);
	TT_CHECK(t, strstr(err.reason, "project") != NULL);
	TT_CHECK(t, store_assign(f.s, r.study_id, "PROJ01", "bad id", "baseline", 0, &err) ==
			    -EINVAL);
	TT_CHECK(t, strstr(err.reason, "participant") != NULL);
	TT_CHECK(t, store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "later", 0, &err) ==
			    -EINVAL);
	TT_CHECK(t, strstr(err.reason, "event") != NULL);
	TT_CHECK(t, store_assign(f.s, 999, "PROJ01", "PROJ01-0001", "baseline", 0, &err) == -ENOENT);
	TT_CHECK(t, store_generation(f.s) == g);
	TT_CHECK(t, store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 0, &err) == 0);
	TT_CHECK(t, store_generation(f.s) > g);
	TT_CHECK(t, store_get_study(f.s, r.study_id, &sd) == 0);
	TT_CHECK(t, strcmp(sd.project, "PROJ01") == 0 && strcmp(sd.event, "baseline") == 0);
	char **v = NULL;
	TT_CHECK(t, store_list_participants(f.s, "PROJ01", &v) == 0);
	TT_CHECK(t, v[0] && strcmp(v[0], "PROJ01-0001") == 0 && !v[1]);
	store_strv_free(v);
	TT_CHECK(t, store_unassign(f.s, r.study_id, 0, &err) == 0);
	TT_CHECK(t, store_unassign(f.s, r.study_id, 0, &err) == -ENOENT);
	TT_CHECK(t, store_get_study(f.s, r.study_id, &sd) == 0 && sd.project[0] == 0);
	fx_free(&f);
}

static void test_arrival_and_reopen(struct tt *t)
{
	struct fixture f;
	struct store_ingest_result a, b, c;
	struct store_study sd;
	struct store_study *list = NULL;
	size_t n = 0;
	struct fiona_err err = { 0 };
	char p[256];
	TT_CHECK(t, fx_init(&f) == 0);
	/* a: coupling row by accession; b: routing rule; c: stays in quarantine */
	TT_CHECK(t, write_instance(f.dir, "a", "2.25.3", "2.25.31", "2.25.311", "X3", "ACC3", 1, p,
				   sizeof(p)) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &a, &err) == 0);
	TT_CHECK(t, write_instance(f.dir, "b", "2.25.4", "2.25.41", "2.25.411", "PROJ01-0007",
				   "ACC4", 1, p, sizeof(p)) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &b, &err) == 0);
	TT_CHECK(t, write_instance(f.dir, "c", "2.25.5", "2.25.51", "2.25.511", "X5", "ACC5", 1, p,
				   sizeof(p)) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &c, &err) == 0);
	TT_CHECK(t, store_coupling_add(f.s, "PROJ01", "ACC3", "PROJ01-0003", "followup", &err) == 0);
	TT_CHECK(t, store_coupling_add(f.s, "PROJ01", "ACC9", "nope", "followup", &err) == -EINVAL);
	TT_CHECK(t, store_arrival_tick(f.s, time(NULL)) == 0); /* not quiet yet */
	TT_CHECK(t, store_arrival_tick(f.s, time(NULL) + 16) == 3);
	TT_CHECK(t, store_get_study(f.s, a.study_id, &sd) == 0 && sd.complete);
	TT_CHECK(t, strcmp(sd.participant, "PROJ01-0003") == 0 && strcmp(sd.event, "followup") == 0);
	TT_CHECK(t, store_get_study(f.s, b.study_id, &sd) == 0);
	TT_CHECK(t, strcmp(sd.participant, "PROJ01-0007") == 0 && strcmp(sd.event, "baseline") == 0);
	TT_CHECK(t, store_get_study(f.s, c.study_id, &sd) == 0 && sd.project[0] == 0);
	/* a late series keeps the assignment */
	TT_CHECK(t, write_instance(f.dir, "d", "2.25.3", "2.25.32", "2.25.321", "X3", "ACC3", 1, p,
				   sizeof(p)) == 0);
	TT_CHECK(t, store_ingest(f.s, p, NULL, true, &c, &err) == 0);
	TT_CHECK(t, store_get_study(f.s, a.study_id, &sd) == 0 && !sd.complete);
	TT_CHECK(t, strcmp(sd.project, "PROJ01") == 0 && sd.n_series == 2);
	/* reopen */
	fx_close(&f);
	TT_CHECK(t, fx_open(&f) == 0);
	TT_CHECK(t, store_list_studies(f.s, STORE_ASSIGNED, "PROJ01", &list, &n) == 0 && n == 2);
	free(list);
	TT_CHECK(t, store_list_studies(f.s, STORE_QUARANTINE, NULL, &list, &n) == 0 && n == 1);
	TT_CHECK(t, list[0].id != a.study_id && strcmp(list[0].modalities, "OT") == 0);
	free(list);
	fx_free(&f);
}

static void test_migration_from_zero(struct tt *t)
{
	struct fixture f;
	char path[128];
	sqlite3 *db = NULL;
	struct stat sb;
	snprintf(f.dir, sizeof(f.dir), "/tmp/t_store.XXXXXX");
	TT_CHECK(t, mkdtemp(f.dir) != NULL);
	snprintf(path, sizeof(path), "%s/data", f.dir);
	TT_CHECK(t, mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/data/catalog.sqlite", f.dir);
	/* a version-0 database: exists, no schema */
	TT_CHECK(t, sqlite3_open(path, &db) == SQLITE_OK);
	TT_CHECK(t, sqlite3_exec(db, "CREATE TABLE keep(x); PRAGMA user_version=0;", NULL, NULL,
				 NULL) == SQLITE_OK);
	sqlite3_close(db);
	TT_CHECK(t, fx_open(&f) == 0);
	fx_close(&f);
	TT_CHECK(t, sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_stmt *st = NULL;
	TT_CHECK(t, sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK);
	TT_CHECK(t, sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) >= 1);
	sqlite3_finalize(st);
	TT_CHECK(t, sqlite3_exec(db, "SELECT COUNT(*) FROM studies", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	snprintf(path, sizeof(path), "%s/data/catalog.sqlite", f.dir);
	TT_CHECK(t, stat(path, &sb) == 0);
	fx_free(&f);
}

static void test_new_catalog_mode(struct tt *t)
{
	struct fixture f;
	struct stat sb;
	char path[128];
	TT_CHECK(t, fx_init(&f) == 0);
	snprintf(path, sizeof(path), "%s/data/catalog.sqlite", f.dir);
	TT_CHECK(t, stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	fx_free(&f);
}

TT_MAIN(TT_CASE(test_ingest_dup_conflict), TT_CASE(test_bad_file_refused),
	TT_CASE(test_assign_validation), TT_CASE(test_arrival_and_reopen),
	TT_CASE(test_migration_from_zero), TT_CASE(test_new_catalog_mode))
