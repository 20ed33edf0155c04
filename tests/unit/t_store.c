/* Unit tests for store/: ingest (duplicates stored once, conflicts kept, non-DICOM
 * refused), assignment validation, arrival with coupling rows and routing rules, the
 * transfer queue, reopening a catalog, and refusing a catalog newer than the code.
 * Instances are written with anon's writer into a temporary data directory. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_int.h" /* the transfer queue's leases */

struct fx {
	char dir[64], cfgjson[2048];
	const char *gateway; /* NULL: the host name */
	struct fiona_log log;
	struct fiona_config *cfg;
	struct store *s;
};

static int fx_open(struct fx *f)
{
	struct fiona_err err = {0};

	snprintf(f->cfgjson, sizeof(f->cfgjson),
		 "{\"data_dir\": \"%s/var\", \"mount_point\": \"%s/mnt\", \"secret_file\": "
		 "\"%s/secret\", \"admin_group\": \"root\", \"dicom\": {\"aet\": \"FIONA\", "
		 "\"bind\": \"127.0.0.1\", \"port\": 11112, \"allowed_callers\": []}, "
		 "\"gateway\": \"%s\", \"lease_seconds\": 30, "
		 "\"quiet_seconds\": 5, \"quarantine_days\": 7, \"disk_high_watermark\": 0.8, "
		 "\"destinations\": {\"research\": {\"aet\": \"R\", \"host\": \"127.0.0.1\", "
		 "\"port\": 4242, \"calling_aet\": \"FIONA\", \"associations\": 1}}, "
		 "\"projects\": {\"PROJ01\": {\"group\": \"root\", \"participant_pattern\": "
		 "\"^PROJ01-[0-9]{4}$\", \"events\": [\"baseline\", \"followup\"], "
		 "\"destination\": \"research\", \"pixels\": {\"drop\": "
		 "[\"secondary_capture\"]}, \"routing\": [{\"patient_id\": "
		 "\"^PROJ01-[0-9]{4}$\", "
		 "\"event\": \"baseline\"}]}}}",
		 f->dir, f->dir, f->dir, f->gateway ? f->gateway : "t_store");
	log_init(&f->log, stderr, LOG_ERROR);
	if (config_parse(f->cfgjson, strlen(f->cfgjson), &f->cfg, &err))
		return -1;
	return store_open(f->cfg, &f->log, &f->s, &err);
}

static void fx_close(struct fx *f)
{
	store_close(f->s);
	config_free(f->cfg);
	f->s = NULL;
	f->cfg = NULL;
}

/* A fresh data directory and its store, as gateway (NULL: "t_store"). */
static int fx_setup_as(struct fx *f, const char *gateway)
{
	memset(f, 0, sizeof(*f));
	f->gateway = gateway;
	snprintf(f->dir, sizeof(f->dir), "/tmp/t_store_XXXXXX");
	return mkdtemp(f->dir) ? fx_open(f) : -1;
}

static int fx_setup(struct fx *f)
{
	return fx_setup_as(f, NULL);
}

static void fx_teardown(struct fx *f)
{
	char cmd[128];

	fx_close(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "t_store: could not remove %s\n", f->dir);
}

/* Writes an MR instance; pixel byte varies the content for the same UIDs. */
static int write_instance(const char *path, const char *pid, const char *acc, const char *study,
			  const char *series, const char *sop, uint8_t pixel)
{
	struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.4", sop, "1.2.840.10008.1.2.1"};
	struct buf b;
	uint8_t px[64];
	int rc;

	memset(px, pixel, sizeof(px));
	buf_init(&b, 1u << 20);
	rc = dcm_write_part10_header(&b, &m);
	rc = rc ? rc
		: dcm_write_str(&b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), m.sop_class_uid);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), sop);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0008, 0x0050), DCM_VR('S', 'H'), acc);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "Doe^Jane");
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), pid);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0020, 0x000D), DCM_VR('U', 'I'), study);
	rc = rc ? rc : dcm_write_str(&b, DCM_TAG(0x0020, 0x000E), DCM_VR('U', 'I'), series);
	rc = rc ? rc : dcm_write_elem(&b, DCM_TAG_PIXEL_DATA, DCM_VR('O', 'W'), px, sizeof(px));
	rc = rc ? rc : core_write_file_atomic(path, b.data, b.len, 0600);
	buf_release(&b);
	return rc;
}

static int ingest(struct fx *f, const char *pid, const char *acc, const char *study,
		  const char *sop, uint8_t pixel, struct store_ingest_result *r)
{
	char path[128];
	struct fiona_err err = {0};

	snprintf(path, sizeof(path), "%s/in.dcm", f->dir);
	if (write_instance(path, pid, acc, study, "1.2.3.9.1", sop, pixel))
		return -EIO;
	return store_ingest(f->s, path, NULL, false, r, &err);
}

static void test_ingest(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_counts c;
	struct fiona_err err = {0};
	char path[128];
	int64_t id;

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0 && !r.duplicate);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0 && r.duplicate);
	id = r.instance_id;
	/* the same SOPInstanceUID with other bytes: one logical instance, newest wins */
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 2, &r) == 0 && r.replaced &&
			    !r.duplicate && r.instance_id == id);
	TT_CHECK(t, store_counts(f.s, &c) == 0);
	TT_CHECK(t, c.instances == 1 && c.objects == 2 && c.versions == 1 && c.conflicts == 0 &&
			    c.studies == 1);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 2, &r) == 0 && r.duplicate);
	snprintf(path, sizeof(path), "%s/bad.dcm", f.dir);
	TT_CHECK(t, core_write_file_atomic(path, "not dicom at all, sorry", 23, 0600) == 0);
	TT_CHECK(t, store_ingest(f.s, path, NULL, false, &r, &err) < 0 && err.reason[0]);
	TT_CHECK(t, store_counts(f.s, &c) == 0 && c.instances == 1);
	/* reopen: everything is still there */
	fx_close(&f);
	TT_CHECK(t, fx_open(&f) == 0);
	TT_CHECK(t, store_counts(f.s, &c) == 0 && c.instances == 1 && c.objects == 2 &&
			    c.versions == 1);
	fx_teardown(&f);
}

static void test_assign(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_study st;
	struct store_counts c;
	struct fiona_err err = {0};

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "NOPROJ", "PROJ01-0001", "baseline", 0, &err) < 0);
	TT_CHECK(t, strstr(err.reason, "NOPROJ") != NULL);
	TT_CHECK(t, store_assign(f.s, r.study_id, "PROJ01", "p 01", "baseline", 0, &err) < 0);
	TT_CHECK(t, strstr(err.reason, "does not match") != NULL && !strstr(err.reason, "MRN1"));
	TT_CHECK(t, store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "later", 0, &err) < 0);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 7, &err) == 0);
	TT_CHECK(t, store_get_study(f.s, r.study_id, &st) == 0 &&
			    !strcmp(st.participant, "PROJ01-0001"));
	TT_CHECK(t, store_counts(f.s, &c) == 0 && c.queued == 1 && c.assigned == 1);
	/* a late instance of the assigned study is queued at once */
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.2", 3, &r) == 0);
	TT_CHECK(t, store_counts(f.s, &c) == 0 && c.queued == 2);
	TT_CHECK(t, store_unassign(f.s, r.study_id, 7, &err) == 0);
	TT_CHECK(t, store_counts(f.s, &c) == 0 && c.queued == 0 && c.assigned == 0);
	fx_teardown(&f);
}

/* A version sent already: an identical re-send changes nothing, other bytes queue the
 * instance again (it replaces the destination's copy); housekeeping's objects stay. */
static void test_resend(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_counts c;
	struct fiona_err err = {0};
	char path[160];
	sqlite3 *db = NULL;

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 7, &err) == 0);
	snprintf(path, sizeof(path), "%s/var/catalog.db", f.dir);
	TT_CHECK(t, sqlite3_open(path, &db) == SQLITE_OK);
	TT_CHECK(t, sqlite3_exec(db, "UPDATE transfers SET state='sent', attempts=1", NULL, NULL,
				 NULL) == SQLITE_OK);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0 && r.duplicate);
	TT_CHECK(t, store_counts(f.s, &c) == 0 && c.sent == 1 && c.queued == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 4, &r) == 0 && r.replaced);
	TT_CHECK(t, store_counts(f.s, &c) == 0 && c.sent == 0 && c.queued == 1 &&
			    c.instances == 1 && c.versions == 1 && c.objects == 2);
	sqlite3_close(db);
	fx_teardown(&f);
}

/* What may leave, by SOP class: the project drops secondary captures (and only them: VL
 * endoscopic's 1.1.77.1.1.1 begins with the same digits as 1.1.7 but is a candidate). */
static void test_pixel_state(struct tt *t)
{
	static const struct {
		const char *cls;
		enum store_px want;
	} cases[] = {
		{"1.2.840.10008.5.1.4.1.1.7", STORE_PX_DROPPED},
		{"1.2.840.10008.5.1.4.1.1.7.2", STORE_PX_DROPPED},
		{"1.2.840.10008.5.1.4.1.1.77.1.1.1", STORE_PX_PENDING},
		{"1.2.840.10008.5.1.4.1.1.6.1", STORE_PX_PENDING},
		{"1.2.840.10008.5.1.4.1.1.4", STORE_PX_ORIGINAL},
	};
	struct fx f;
	struct store_ingest_result r;
	struct store_px_state px;
	char path[160], sql[256];
	sqlite3 *db = NULL;

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	snprintf(path, sizeof(path), "%s/var/catalog.db", f.dir);
	TT_CHECK(t, sqlite3_open(path, &db) == SQLITE_OK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(sql, sizeof(sql), "UPDATE instances SET sop_class_uid='%s'", cases[i].cls);
		TT_CHECK(t, sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
		TT_CHECK(t, store_pixel_state(f.s, r.instance_id, "PROJ01", &px) == 0);
		TT_CHECK_MSG(t, px.state == cases[i].want, "%s: state %d", cases[i].cls, px.state);
	}
	TT_CHECK(t, store_pixel_state(f.s, r.instance_id, "NOPROJ", &px) == -ENOENT);
	sqlite3_close(db);
	fx_teardown(&f);
}

static void test_arrival(struct tt *t)
{
	struct fx f;
	struct store_ingest_result a, b, c;
	struct store_study st;
	struct fiona_err err = {0};
	time_t now = time(NULL);

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "ACC1", "1.2.3.1", "1.2.3.1.1", 1, &a) == 0);
	TT_CHECK(t, ingest(&f, "PROJ01-0042", "ACC2", "1.2.3.2", "1.2.3.2.1", 1, &b) == 0);
	TT_CHECK(t, ingest(&f, "MRN3", "ACC3", "1.2.3.3", "1.2.3.3.1", 1, &c) == 0);
	TT_CHECK(t,
		 store_coupling_add(f.s, "PROJ01", "ACC1", "PROJ01-0001", "followup", &err) == 0);
	TT_CHECK(t, store_coupling_add(f.s, "PROJ01", "ACC9", "bad id", "followup", &err) < 0);
	/* not quiet yet: nothing happens */
	TT_CHECK(t, store_arrival_tick(f.s, now) == 0);
	TT_CHECK(t, store_arrival_tick(f.s, now + 10) == 3);
	TT_CHECK(t, store_get_study(f.s, a.study_id, &st) == 0 && st.complete);
	TT_CHECK(t, !strcmp(st.participant, "PROJ01-0001") && !strcmp(st.event, "followup"));
	TT_CHECK(t, store_get_study(f.s, b.study_id, &st) == 0);
	TT_CHECK(t, !strcmp(st.participant, "PROJ01-0042") && !strcmp(st.event, "baseline"));
	TT_CHECK(t, store_get_study(f.s, c.study_id, &st) == 0 && !st.project[0] && st.complete);
	fx_teardown(&f);
}

static void test_newer_schema_refused(struct tt *t)
{
	struct fx f;
	sqlite3 *db;
	char path[128];

	TT_CHECK(t, fx_setup(&f) == 0);
	fx_close(&f);
	snprintf(path, sizeof(path), "%s/var/catalog.db", f.dir);
	TT_CHECK(t, sqlite3_open(path, &db) == SQLITE_OK);
	TT_CHECK(t, sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	TT_CHECK(t, fx_open(&f) < 0);
	fx_teardown(&f);
}

/* A database at version 0 (exists, no schema) is migrated to the latest version. */
static void test_migration_from_zero(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	char path[128];
	int v = -1;

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/t_store_XXXXXX");
	TT_CHECK(t, mkdtemp(f.dir) != NULL);
	snprintf(path, sizeof(path), "%s/var", f.dir);
	TT_CHECK(t, core_mkdir_p(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/var/catalog.db", f.dir);
	TT_CHECK(t, sqlite3_open(path, &db) == SQLITE_OK);
	TT_CHECK(t, sqlite3_exec(db, "CREATE TABLE unrelated(x); PRAGMA user_version=0", NULL, NULL,
				 NULL) == SQLITE_OK);
	sqlite3_close(db);
	TT_CHECK(t, fx_open(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	fx_close(&f);
	TT_CHECK(t, sqlite3_open(path, &db) == SQLITE_OK);
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	TT_CHECK(t, v >= 1);
	TT_CHECK(t, fx_open(&f) == 0);
	fx_teardown(&f);
}

/* The catalog is 0600; move=true takes the file away; the object holds the same bytes
 * and is found by its hash. */
static void test_mode_move_and_bytes(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_series *se = NULL;
	struct store_instance *in = NULL;
	struct core_map a = {.fd = -1}, b = {.fd = -1};
	struct fiona_err err = {0};
	struct stat sb;
	char path[128], copy[128], obj[4200];
	size_t ns = 0, ni = 0;
	bool same;

	TT_CHECK(t, fx_setup(&f) == 0);
	snprintf(path, sizeof(path), "%s/var/catalog.db", f.dir);
	TT_CHECK(t, stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	snprintf(path, sizeof(path), "%s/rx.dcm", f.dir);
	snprintf(copy, sizeof(copy), "%s/copy.dcm", f.dir);
	TT_CHECK(t,
		 write_instance(path, "MRN1", "A1", "1.2.3.1", "1.2.3.1.9", "1.2.3.1.9.1", 5) == 0);
	TT_CHECK(t,
		 write_instance(copy, "MRN1", "A1", "1.2.3.1", "1.2.3.1.9", "1.2.3.1.9.1", 5) == 0);
	TT_CHECK(t, store_ingest(f.s, path, NULL, true, &r, &err) == 0);
	TT_CHECK(t, access(path, F_OK) != 0);
	TT_CHECK(t, store_list_series(f.s, r.study_id, &se, &ns) == 0 && ns == 1);
	TT_CHECK(t, store_list_instances(f.s, se[0].id, &in, &ni) == 0 && ni == 1);
	TT_CHECK(t, store_object_path(f.s, in[0].hash, obj, sizeof(obj)) == 0);
	TT_CHECK(t, core_map_file(obj, &a) == 0 && core_map_file(copy, &b) == 0);
	same = a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
	core_map_release(&a);
	core_map_release(&b);
	free(se);
	free(in);
	TT_CHECK(t, same);
	fx_teardown(&f);
}

/* A late series makes an assigned study arrive again (so it is classified again) and it
 * keeps its assignment. */
static void test_late_series_keeps_assignment(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_study st;
	struct fiona_err err = {0};
	char path[128];
	time_t now = time(NULL);

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "ACC1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t,
		 store_coupling_add(f.s, "PROJ01", "ACC1", "PROJ01-0001", "followup", &err) == 0);
	TT_CHECK(t, store_arrival_tick(f.s, now + 10) == 1);
	snprintf(path, sizeof(path), "%s/late.dcm", f.dir);
	TT_CHECK(t, write_instance(path, "MRN1", "ACC1", "1.2.3.1", "1.2.3.1.77", "1.2.3.1.77.1",
				   4) == 0);
	TT_CHECK(t, store_ingest(f.s, path, NULL, false, &r, &err) == 0);
	TT_CHECK(t, store_get_study(f.s, r.study_id, &st) == 0 && !st.complete);
	TT_CHECK(t, store_arrival_tick(f.s, time(NULL) + 20) == 1);
	TT_CHECK(t, store_get_study(f.s, r.study_id, &st) == 0 && st.complete);
	TT_CHECK(t, !strcmp(st.project, "PROJ01") && !strcmp(st.participant, "PROJ01-0001"));
	TT_CHECK(t, st.n_series == 2);
	fx_teardown(&f);
}

/* The change feed: a committed change is one record naming the study and where it is;
 * an assignment names where it left and where it went; a refused change names nothing. */
static void test_change_feed(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_change c[16];
	struct fiona_err err = {0};
	uint64_t cur, bad;
	size_t n;

	TT_CHECK(t, fx_setup(&f) == 0);
	cur = store_change_seq(f.s);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t, store_changes_read(f.s, &cur, c, 16, &n) == 0 && n == 1);
	TT_CHECK(t,
		 c[0].study == r.study_id && (c[0].what & STORE_CHG_INSTANCES) && !c[0].project[0]);
	TT_CHECK(t, store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "later", 0, &err) < 0);
	TT_CHECK(t, store_changes_read(f.s, &cur, c, 16, &n) == 0 && n == 0);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 0, &err) == 0);
	TT_CHECK(t, store_changes_read(f.s, &cur, c, 16, &n) == 0 && n == 2);
	TT_CHECK(t, (c[0].what & STORE_CHG_ASSIGN) && !c[0].project[0]);
	TT_CHECK(t, (c[1].what & STORE_CHG_ASSIGN) && !strcmp(c[1].project, "PROJ01") &&
			    !strcmp(c[1].participant, "PROJ01-0001") &&
			    !strcmp(c[1].event, "baseline"));
	TT_CHECK(t, store_participant_add(f.s, "PROJ01", "PROJ01-0002", 0, &err) == 0);
	TT_CHECK(t, store_changes_read(f.s, &cur, c, 16, &n) == 0 && n == 1);
	TT_CHECK(t, c[0].study == 0 && (c[0].what & STORE_CHG_PARTICIPANTS));
	TT_CHECK(t, !store_changes_wait(f.s, cur, 0.05));
	bad = cur + 5; /* a cursor the feed never gave: start over */
	TT_CHECK(t, store_changes_read(f.s, &bad, c, 16, &n) == -ESTALE && bad == cur);
	fx_teardown(&f);
}

/* Kept headers: missing until put, listed with their size, deleted by a re-assignment,
 * refused for a study that moved meanwhile, pruned under an old fingerprint. */
static void test_derived(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_series *se = NULL;
	struct store_deid_file *df = NULL;
	struct store_derived_todo *todo = NULL;
	struct fiona_err err = {0};
	uint8_t *plan = NULL;
	size_t n, ns, plen;
	int64_t size;
	char hash[33];
	bool cleaned;
	const char *keep[] = {"fp"};

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.2", 2, &r) == 0);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 0, &err) == 0);
	TT_CHECK(t, store_list_series(f.s, r.study_id, &se, &ns) == 0 && ns == 1);
	TT_CHECK(t, store_derived_missing(f.s, r.study_id, "fp", &todo, &n) == 0 && n == 2);
	struct store_derived_row rows[2] = {{todo[0].instance, 100, (const uint8_t *)"abc", 3},
					    {todo[1].instance, STORE_DERIVED_FAILED, NULL, 0}};
	TT_CHECK(t, store_derived_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", "fp",
				      rows, 2) == 0);
	TT_CHECK(t, store_list_deid_files(f.s, se[0].id, "fp", &df, &n) == 0 && n == 2);
	TT_CHECK(t, df[0].size == 100 && df[1].size == STORE_DERIVED_FAILED);
	TT_CHECK(t, store_instance_open(f.s, todo[0].instance, "fp", hash, &cleaned, &size, &plan,
					&plen) == 0);
	TT_CHECK(t, size == 100 && plen == 3 && !memcmp(plan, "abc", 3) && hash[0] && !cleaned);
	free(plan);
	free(df);
	TT_CHECK(t, store_derived_put(f.s, r.study_id, "PROJ01", "PROJ01-0002", "baseline", "fp",
				      rows, 2) == -ESTALE);
	TT_CHECK(t, store_derived_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", "old",
				      rows, 1) == 0);
	TT_CHECK(t, store_derived_prune(f.s, keep, 1, 100) == 1);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0002", "baseline", 0, &err) == 0);
	free(todo);
	TT_CHECK(t, store_derived_missing(f.s, r.study_id, "fp", &todo, &n) == 0 && n == 2);
	free(todo);
	free(se);
	fx_teardown(&f);
}

/* A derived object of the given bytes (store_blob_put), its hash in hash. */
static int blob(struct fx *f, const char *bytes, char hash[33])
{
	char path[128];

	snprintf(path, sizeof(path), "%s/out.nii.gz", f->dir);
	if (core_write_file_atomic(path, bytes, strlen(bytes), 0600))
		return -EIO;
	return store_blob_put(f->s, path, hash);
}

static bool blob_exists(struct fx *f, const char *hash)
{
	char path[4300];

	return store_blob_path(f->s, hash, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

/* NIfTI runs (store/nifti.c): objects by content; a run kept only while its study is at
 * its place; a replaced run's objects removed, file ids never reused; runs of a profile
 * no project uses, or of an un-assigned study, pruned with their objects. */
static void test_nifti(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct fiona_err err = {0};
	struct store_series *se = NULL;
	struct store_nifti_run run = {.profile = "fp1", .key = "k1"}, got;
	struct store_nifti_file file = {.name = "1_T1.nii.gz", .size = 3}, *fl = NULL;
	const char *keep[] = {"fp1"}, *other[] = {"fp2"};
	char h1[33], h2[33], hash[33];
	int64_t *ids = NULL, size, first_id;
	size_t n = 0;

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 7, &err) == 0);
	TT_CHECK(t, store_list_series(f.s, r.study_id, &se, &n) == 0 && n == 1);
	run.series = se[0].id;
	free(se);
	TT_CHECK(t, store_nifti_studies_missing(f.s, "PROJ01", "fp1", &ids, &n) == 0 && n == 1);
	free(ids);
	TT_CHECK(t, blob(&f, "abc", h1) == 0 && blob_exists(&f, h1));
	memcpy(file.hash, h1, 33);
	/* computed for another place: refused, its object removed */
	TT_CHECK(t, store_nifti_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "followup", &run,
				    &file, 1) == -ESTALE);
	TT_CHECK(t, !blob_exists(&f, h1) && store_nifti_get(f.s, run.series, &got) == -ENOENT);
	TT_CHECK(t, blob(&f, "abc", h1) == 0);
	TT_CHECK(t, store_nifti_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", &run,
				    &file, 1) == 0);
	TT_CHECK(t, store_nifti_get(f.s, run.series, &got) == 0 && !strcmp(got.key, "k1") &&
			    !got.failed && !strcmp(got.profile, "fp1"));
	TT_CHECK(t, store_nifti_files(f.s, run.series, &fl, &n) == 0 && n == 1 &&
			    !strcmp(fl[0].hash, h1) && fl[0].size == 3);
	first_id = fl[0].id;
	free(fl);
	TT_CHECK(t, store_nifti_file_get(f.s, first_id, hash, &size) == 0 && size == 3 &&
			    !strcmp(hash, h1));
	TT_CHECK(t, store_nifti_studies_missing(f.s, "PROJ01", "fp1", &ids, &n) == 0 && n == 0);
	free(ids);
	/* a new run replaces it: the old object goes, the new file has a new id */
	TT_CHECK(t, blob(&f, "defg", h2) == 0);
	memcpy(file.hash, h2, 33);
	file.size = 4;
	snprintf(run.key, sizeof(run.key), "k2");
	TT_CHECK(t, store_nifti_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", &run,
				    &file, 1) == 0);
	TT_CHECK(t, !blob_exists(&f, h1) && blob_exists(&f, h2));
	TT_CHECK(t, store_nifti_file_get(f.s, first_id, hash, &size) == -ENOENT);
	TT_CHECK(t,
		 store_nifti_files(f.s, run.series, &fl, &n) == 0 && n == 1 && fl[0].id > first_id);
	free(fl);
	/* a failed run keeps its reason and no file */
	run.failed = true;
	snprintf(run.reason, sizeof(run.reason), "dcm2niix made no NIfTI of it");
	TT_CHECK(t, store_nifti_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", &run,
				    NULL, 0) == 0);
	TT_CHECK(t, !blob_exists(&f, h2) && store_nifti_get(f.s, run.series, &got) == 0 &&
			    got.failed && !strcmp(got.reason, run.reason));
	/* pruned: under a profile no project uses; then after an un-assignment */
	TT_CHECK(t, store_nifti_prune(f.s, keep, 1) == 0);
	TT_CHECK(t, store_nifti_prune(f.s, other, 1) == 1);
	TT_CHECK(t, store_nifti_get(f.s, run.series, &got) == -ENOENT);
	run.failed = false;
	TT_CHECK(t, blob(&f, "abc", h1) == 0);
	memcpy(file.hash, h1, 33);
	TT_CHECK(t, store_nifti_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", &run,
				    &file, 1) == 0);
	TT_CHECK(t, store_unassign(f.s, r.study_id, 7, &err) == 0);
	/* the same bytes put again by a conversion under way (found kept already): the prune
	 * of the run that named them leaves the file to that put until it is settled */
	TT_CHECK(t, blob(&f, "abc", hash) == 0 && !strcmp(hash, h1));
	TT_CHECK(t, store_nifti_prune(f.s, keep, 1) == 1 && blob_exists(&f, h1));
	store_blob_drop(f.s, &file, 1);
	TT_CHECK(t, !blob_exists(&f, h1));
	fx_teardown(&f);
}

/* Review summaries (store/review.c): kept only under the gen read before the files, made
 * stale by any kept header that comes or goes (a new one, a re-sent version, a
 * re-assignment), handed out per project; the project's text and its change record. */
static int count_cb(void *opaque, int64_t study, const uint8_t *b, size_t n)
{
	(void)study;
	*(size_t *)opaque += n == 3 && !memcmp(b, "sum", 3);
	return 0;
}

static void test_review(struct tt *t)
{
	struct fx f;
	struct store_ingest_result r;
	struct store_derived_todo *todo = NULL;
	struct store_review_file *files = NULL;
	struct fiona_err err = {0};
	size_t n, got = 0, tn;
	int64_t gen, gen2, *ids = NULL;
	char *text = NULL;

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.2", 2, &r) == 0);
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 0, &err) == 0);
	TT_CHECK(t, store_review_files(f.s, r.study_id, "fp", &gen, &files, &n) == -ENOENT);
	TT_CHECK(t, store_derived_missing(f.s, r.study_id, "fp", &todo, &n) == 0 && n == 2);
	struct store_derived_row rows[2] = {{todo[0].instance, 100, NULL, 0, NULL, ""},
					    {todo[1].instance, STORE_DERIVED_HELD, NULL, 0}};
	TT_CHECK(t, store_derived_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", "fp",
				      rows, 1) == 0);
	TT_CHECK(t, store_review_files(f.s, r.study_id, "fp", &gen, &files, &n) == 0 && n == 1);
	TT_CHECK(t, files[0].instance == todo[0].instance && files[0].size == 100);
	free(files);
	/* a header kept meanwhile: the summary computed before it is refused */
	TT_CHECK(t, store_derived_put(f.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", "fp",
				      rows + 1, 1) == 0);
	TT_CHECK(t, store_review_put(f.s, r.study_id, "fp", gen, (const uint8_t *)"old", 3) ==
			    -ESTALE);
	TT_CHECK(t, store_review_files(f.s, r.study_id, "fp", &gen2, &files, &n) == 0 && n == 1);
	free(files);
	TT_CHECK(t, gen2 > gen);
	TT_CHECK(t, store_review_put(f.s, r.study_id, "fp", gen2, (const uint8_t *)"sum", 3) == 0);
	TT_CHECK(t, store_review_files(f.s, r.study_id, "fp", &gen, &files, &n) == -EALREADY);
	TT_CHECK(t, store_review_project(f.s, "PROJ01", "fp", count_cb, &got) == 0 && got == 1);
	/* a re-sent version replaces a kept header: stale again, and not handed out */
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 5, &r) == 0 && r.replaced);
	got = 0;
	TT_CHECK(t, store_review_project(f.s, "PROJ01", "fp", count_cb, &got) == 0 && got == 0);
	TT_CHECK(t, store_review_files(f.s, r.study_id, "fp", &gen, &files, &n) == 0);
	free(files);
	TT_CHECK(t, store_review_put(f.s, r.study_id, "fp", gen, (const uint8_t *)"sum", 3) == 0);
	/* re-assigned: its headers go, so does its summary */
	TT_CHECK(t,
		 store_assign(f.s, r.study_id, "PROJ01", "PROJ01-0002", "baseline", 0, &err) == 0);
	got = 0;
	TT_CHECK(t, store_review_project(f.s, "PROJ01", "fp", count_cb, &got) == 0 && got == 0);
	TT_CHECK(t, store_review_studies_missing(f.s, "PROJ01", "fp", &ids, &n) == 0 && n == 1);
	TT_CHECK(t, ids[0] == r.study_id);
	free(ids);
	TT_CHECK(t, store_review_text_get(f.s, "PROJ01", "fp", &text, &tn) == -ENOENT);
	TT_CHECK(t, store_review_text_put(f.s, "PROJ01", "fp", (const uint8_t *)"a\tb\n", 4) == 0);
	TT_CHECK(t, store_review_text_get(f.s, "PROJ01", "fp", &text, &tn) == 0 && tn == 4 &&
			    !strcmp(text, "a\tb\n"));
	free(text);
	free(todo);
	fx_teardown(&f);
}

/* The lease queue (docs/scale-out.md): two gateways on one catalog take disjoint rows; a
 * lapsed lease is taken over, and the gateway that lost it records nothing. */
static void test_lease(struct tt *t)
{
	struct fx a, b;
	struct store_ingest_result r;
	struct store_counts c;
	struct xfer_result sent[3] = {{XFER_SENT, "", 0}, {XFER_SENT, "", 0}, {XFER_SENT, "", 0}};
	struct fiona_err err = {0};
	struct xfer *xa = NULL, *xb = NULL, *xl = NULL;
	size_t na = 0, nb = 0, nl = 0;
	int64_t now = time(NULL);

	TT_CHECK(t, fx_setup_as(&a, "A") == 0);
	for (int i = 0; i < 3; i++) {
		char sop[32];

		snprintf(sop, sizeof(sop), "1.2.3.1.%d", i + 1);
		TT_CHECK(t, ingest(&a, "MRN1", "A1", "1.2.3.1", sop, 1, &r) == 0);
	}
	TT_CHECK(t,
		 store_assign(a.s, r.study_id, "PROJ01", "PROJ01-0001", "baseline", 7, &err) == 0);
	b = a; /* the same data directory and catalog, another gateway */
	b.gateway = "B";
	TT_CHECK(t, fx_open(&b) == 0);
	TT_CHECK(t, store_lead(a.s, STORE_JOB_ARRIVAL) && store_lead(b.s, STORE_JOB_ARRIVAL));
	TT_CHECK(t, xfer_take_due(a.s, now, 2, &xa, &na) == 0 && na == 2);
	TT_CHECK(t, na == 2 && !strncmp(xa[0].lease, "A/", 2) && !strcmp(xa[0].lease, xa[1].lease));
	TT_CHECK(t, xfer_take_due(b.s, now, 5, &xb, &nb) == 0 && nb == 1);
	TT_CHECK(t, nb == 1 && na == 2 && xb[0].instance != xa[0].instance &&
			    xb[0].instance != xa[1].instance);
	TT_CHECK(t, xfer_take_due(b.s, now, 5, &xl, &nl) == 0 && nl == 0); /* A's are A's */
	TT_CHECK(t, nb == 1 && xfer_record(b.s, xb, sent, NULL, nb) == 0);
	/* A stalls past its lease: B takes its rows over */
	free(xl);
	TT_CHECK(t, xfer_take_due(b.s, now + 31, 5, &xl, &nl) == 0 && nl == 2);
	/* renewing says whether the rows are still this gateway's (the forwarder stops sending
	 * a group whose lease was taken over) */
	TT_CHECK(t, nl == 2 && xfer_lease_renew(b.s, xl[0].lease) == 2);
	TT_CHECK(t, na == 2 && xfer_lease_renew(a.s, xa[0].lease) == 0);
	TT_CHECK(t, na == 2 && xfer_record(a.s, xa, sent, NULL, na) == 0);
	TT_CHECK(t, store_counts(a.s, &c) == 0 && c.sent == 1); /* A proves nothing */
	TT_CHECK(t, nl == 2 && xfer_record(b.s, xl, sent, NULL, nl) == 0);
	TT_CHECK(t, store_counts(a.s, &c) == 0 && c.sent == 3 && c.queued == 0);
	/* a gateway's restart queues its own leases of the run before, not another's */
	free(xl);
	TT_CHECK(t,
		 store_assign(a.s, r.study_id, "PROJ01", "PROJ01-0002", "baseline", 7, &err) == 0);
	TT_CHECK(t, xfer_take_due(b.s, now, 5, &xl, &nl) == 0 && nl == 3);
	TT_CHECK(t, xfer_reset_sending(a.s) == 0 && store_counts(a.s, &c) == 0 && c.queued == 3);
	free(xb);
	TT_CHECK(t, xfer_take_due(a.s, now, 5, &xb, &nb) == 0 && nb == 0);
	TT_CHECK(t, xfer_reset_sending(b.s) == 0);
	free(xb);
	TT_CHECK(t, xfer_take_due(a.s, now, 5, &xb, &nb) == 0 && nb == 3);
	free(xa), free(xb), free(xl);
	fx_close(&b);
	fx_teardown(&a);
}

/* A move through a mount is based on where the mount showed the study: the second of two
 * concurrent moves is refused (-ESTALE) instead of overwriting the first. */
static void test_move_revision(struct tt *t)
{
	static const struct store_place q = {"", "", ""};
	const struct store_place shown = {"PROJ01", "PROJ01-0001", "baseline"};
	struct fx f;
	struct store_ingest_result r;
	struct fiona_err err = {0};

	TT_CHECK(t, fx_setup(&f) == 0);
	TT_CHECK(t, ingest(&f, "MRN1", "A1", "1.2.3.1", "1.2.3.1.1", 1, &r) == 0);
	TT_CHECK(t, store_assign_from(f.s, r.study_id, &q, "PROJ01", "PROJ01-0001", "baseline", 7,
				      &err) == 0);
	err = (struct fiona_err){0};
	TT_CHECK(t, store_assign_from(f.s, r.study_id, &q, "PROJ01", "PROJ01-0002", "baseline", 7,
				      &err) == -ESTALE &&
			    strstr(err.reason, "moved meanwhile"));
	err = (struct fiona_err){0};
	TT_CHECK(t, store_unassign_from(f.s, r.study_id, &q, 7, &err) == -ESTALE);
	TT_CHECK(t, store_assign_from(f.s, r.study_id, &shown, "PROJ01", "PROJ01-0002", "followup",
				      7, &err) == 0);
	err = (struct fiona_err){0};
	TT_CHECK(t, store_unassign_from(f.s, r.study_id, &shown, 7, &err) == -ESTALE);
	fx_teardown(&f);
}

/* Opening the store (fiona status, fiona import) beside a running gateway leaves the
 * temporaries of its C-STOREs in flight; a dead receiver's are removed. */
static void test_clean_tmp(struct tt *t)
{
	struct fx f;
	char live[160], dead[160], fresh[160];
	int fd;

	TT_CHECK(t, fx_setup(&f) == 0);
	snprintf(live, sizeof(live), "%s/var/tmp/.rx-%ld-1.dcm", f.dir, (long)getpid());
	snprintf(dead, sizeof(dead), "%s/var/tmp/.rx-%ld-1.dcm", f.dir, 2147483646L);
	snprintf(fresh, sizeof(fresh), "%s/var/tmp/.imp-abcdef", f.dir);
	for (int i = 0; i < 3; i++) {
		fd = open(i == 0 ? live : i == 1 ? dead : fresh, O_CREAT | O_WRONLY, 0600);
		TT_CHECK(t, fd >= 0);
		if (fd >= 0)
			close(fd);
	}
	fx_close(&f);
	TT_CHECK(t, fx_open(&f) == 0);
	TT_CHECK(t, access(live, F_OK) == 0 && access(fresh, F_OK) == 0);
	TT_CHECK(t, access(dead, F_OK) != 0);
	fx_teardown(&f);
}

TT_MAIN(TT_CASE(test_ingest), TT_CASE(test_clean_tmp), TT_CASE(test_lease),
	TT_CASE(test_move_revision), TT_CASE(test_assign), TT_CASE(test_resend),
	TT_CASE(test_pixel_state), TT_CASE(test_arrival), TT_CASE(test_newer_schema_refused),
	TT_CASE(test_migration_from_zero), TT_CASE(test_mode_move_and_bytes),
	TT_CASE(test_late_series_keeps_assignment), TT_CASE(test_change_feed),
	TT_CASE(test_derived), TT_CASE(test_nifti), TT_CASE(test_review))
