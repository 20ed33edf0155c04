/* Unit tests for store/config.c: the embedded default and SPEC.md's example parse;
 * each kind of mistake is refused with a message naming its key. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>

#include "store/store.h"

static const char spec_example[] =
	"{ \"data_dir\": \"./var\", \"mount_point\": \"./mnt\", \"secret_file\": \"./var/secret\","
	"  \"admin_group\": \"fiona-admin\","
	"  \"dicom\": { \"aet\": \"FIONA\", \"bind\": \"127.0.0.1\", \"port\": 11112,"
	"    \"allowed_callers\": [ { \"aet\": \"MODALITY1\", \"host\": \"127.0.0.1\" } ] },"
	"  \"quiet_seconds\": 15, \"quarantine_days\": 7, \"disk_high_watermark\": 0.80,"
	"  \"classify_rules\": \"./classify-rules.json\","
	"  \"destinations\": { \"research\": { \"aet\": \"RESEARCHPACS\", \"host\": \"127.0.0.1\","
	"    \"port\": 4242, \"calling_aet\": \"FIONA\", \"associations\": 2 } },"
	"  \"projects\": { \"PROJ01\": { \"group\": \"proj01\","
	"    \"participant_pattern\": \"^PROJ01-[0-9]{4}$\", \"events\": [\"baseline\", "
	"\"followup\"],"
	"    \"destination\": \"research\", \"profile\": \"./profiles/PROJ01.json\","
	"    \"export_profile\": \"./profiles/PROJ01-export.json\","
	"    \"routing\": [ { \"patient_id\": \"^PROJ01-[0-9]{4}$\", \"event\": \"baseline\" } ] } "
	"},"
	"  \"redcap\": { \"url\": \"https://redcap.example.org/api/\","
	"    \"token_file\": \"./var/redcap.token\" } }";

static void test_default_and_spec(struct tt *t)
{
	struct fiona_config *c = NULL;
	const struct config_project *p;
	struct fiona_err err = {0};
	const char *d = config_default_json();

	TT_CHECK_MSG(t, config_parse(d, strlen(d), &c, &err) == 0, "%s", err.reason);
	TT_CHECK(t, !strcmp(c->data_dir, "./var") && !strcmp(c->mount_point, "./mnt"));
	TT_CHECK(t, c->port == 11112 && !strcmp(c->bind, "127.0.0.1") && c->n_destinations == 0);
	/* the demo project of `make run`: assignable by the admin group, never forwarded */
	p = config_project(c, "DEMO01");
	TT_CHECK(t, c->n_projects == 1 && p && !strcmp(p->group, c->admin_group));
	TT_CHECK(t, p && !p->destination && p->n_events == 2 && !strcmp(p->events[0], "baseline"));
	TT_CHECK(t, p && regexec(&p->participant_re, "DEMO01-0001", 0, NULL, 0) == 0);
	config_free(c);
	c = NULL;
	TT_CHECK_MSG(t, config_parse(spec_example, strlen(spec_example), &c, &err) == 0, "%s",
		     err.reason);
	TT_CHECK(t, c->n_allowed_callers == 1 && !strcmp(c->allowed_callers[0].aet, "MODALITY1"));
	TT_CHECK(t, config_destination(c, "research")->associations == 2);
	p = config_project(c, "PROJ01");
	TT_CHECK(t, p && p->n_events == 2 && p->n_routing == 1 && !strcmp(p->group, "proj01"));
	TT_CHECK(t, regexec(&p->participant_re, "PROJ01-0042", 0, NULL, 0) == 0);
	TT_CHECK(t, regexec(&p->participant_re, "PROJ01-42", 0, NULL, 0) != 0);
	TT_CHECK(t, !config_project(c, "NOPE1") && c->disk_high_watermark == 0.80);
	TT_CHECK(t, !p->nifti_off); /* NIfTI unless "nifti": false */
	config_free(c);
	config_free(NULL);
}

/* Each case: a mutation of the SPEC example and the key path its error must name. */
struct bad_case {
	const char *from, *to, *path;
};

static void test_errors_name_the_key(struct tt *t)
{
	static const struct bad_case cases[] = {
		{"\"quiet_seconds\": 15", "\"quiet_secnds\": 15", "quiet_secnds: unknown key"},
		{"\"quiet_seconds\": 15", "\"quiet_seconds\": -1", "quiet_seconds: must be"},
		{"\"port\": 11112", "\"port\": 70000", "dicom.port: must be"},
		{"\"aet\": \"FIONA\"", "\"aet\": \"FIONA_IS_FAR_TOO_LONG\"", "dicom.aet: "},
		{"^PROJ01-[0-9]{4}$\", \"events", "^PROJ01-[0-9{4}$\", \"events",
		 "projects.PROJ01.participant_pattern: not a valid"},
		{"\"destination\": \"research\"", "\"destination\": \"elsewhere\"",
		 "projects.PROJ01.destination: names no entry"},
		{"\"PROJ01\": {", "\"P1\": {", "projects.P1: a project name has 5 to 20"},
		{"\"event\": \"baseline\"", "\"event\": \"week12\"", "projects.PROJ01.routing: "},
		{"\"disk_high_watermark\": 0.80", "\"disk_high_watermark\": 1.5",
		 "disk_high_watermark: must be"},
		{"\"associations\": 2", "\"associations\": \"2\"",
		 "destinations.research.associations: must be"},
		{"\"host\": \"127.0.0.1\" } ]", "\"hots\": \"127.0.0.1\" } ]",
		 "dicom.allowed_callers[0].hots: unknown key"},
		{"\"events\": [\"baseline\", \"followup\"]", "\"events\": []",
		 "projects.PROJ01.events: must be a non-empty"},
		{"\"token_file\"", "\"token_fil\"", "redcap.token_fil: unknown key"},
		{"\"destination\": \"research\"",
		 "\"destination\": \"research\", \"nifti\": \"no\"",
		 "projects.PROJ01.nifti: must be"},
		{"\"data_dir\": \"./var\",", "\"data_dir\": \"./var\", \"data_dir\": \"./x\",",
		 "duplicate"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[4096];
		const char *at = strstr(spec_example, cases[i].from);
		struct fiona_config *c = NULL;
		struct fiona_err err = {0};
		TT_CHECK_MSG(t, at != NULL, "case %zu: pattern not in example", i);
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - spec_example), spec_example,
			 cases[i].to, at + strlen(cases[i].from));
		TT_CHECK_MSG(t, config_parse(buf, strlen(buf), &c, &err) == -EINVAL,
			     "case %zu accepted", i);
		TT_CHECK_MSG(t, strstr(err.reason, cases[i].path) != NULL, "case %zu: \"%s\"", i,
			     err.reason);
	}
}

/* A project's "pixels" settings (burned-in text) and the global rules file. */
static void test_pixels(struct tt *t)
{
	static const char *const bad[][2] = {
		{"\"clean\": 1", "projects.PROJ01.pixels.clean: must be true or false"},
		{"\"skip\": [ { \"tag\": \"NoSuchKeyword\", \"matches\": \"x\" } ]",
		 "projects.PROJ01.pixels.skip[0].tag: not a DICOM keyword"},
		{"\"skip\": [ { \"tag\": \"ImageComments\", \"matches\": \"(\" } ]",
		 "projects.PROJ01.pixels.skip[0].matches: not a valid regular expression"},
		{"\"skip\": [ { \"tag\": \"ImageComments\" } ]",
		 "projects.PROJ01.pixels.skip[0]: needs \"tag\" and \"matches\""},
		{"\"drop\": [ \"structured_report\" ]", "projects.PROJ01.pixels.drop: holds"},
		{"\"all_txt\": true", "projects.PROJ01.pixels.all_txt: unknown key"},
	};
	const char *good = "\"all_text\": true, \"every_series\": true, \"skip\": [ { \"tag\":"
			   " \"SeriesDescription\", \"matches\": \"^SAFE\" }, { \"tag\":"
			   " \"0020,4000\", \"matches\": \"no text\" } ], \"drop\": ["
			   " \"secondary_capture\", \"presentation_state\" ]";
	const char *at = strstr(spec_example, "\"routing\"");
	char buf[4096];
	struct fiona_config *c = NULL;
	struct fiona_err err = {0};
	const struct config_pixels *px;

	snprintf(buf, sizeof(buf), "%.*s\"pixels\": { %s }, %s", (int)(at - spec_example),
		 spec_example, good, at);
	TT_CHECK_MSG(t, config_parse(buf, strlen(buf), &c, &err) == 0, "%s", err.reason);
	px = &c->projects[0].pixels;
	TT_CHECK(t, !px->keep && px->all_text && px->every_series && px->drop_sc && px->drop_pr);
	TT_CHECK(t,
		 px->n_skip == 2 && px->skip[0].tag == 0x0008103E && px->skip[1].tag == 0x00204000);
	TT_CHECK(t, regexec(&px->skip[0].re, "SAFE overlay", 0, NULL, 0) == 0);
	config_free(c);
	c = NULL;
	snprintf(buf, sizeof(buf), "%.*s\"pixels\": { \"clean\": false }, %s",
		 (int)(at - spec_example), spec_example, at);
	TT_CHECK(t, config_parse(buf, strlen(buf), &c, &err) == 0 && c->projects[0].pixels.keep);
	config_free(c);
	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		c = NULL;
		snprintf(buf, sizeof(buf), "%.*s\"pixels\": { %s }, %s", (int)(at - spec_example),
			 spec_example, bad[i][0], at);
		TT_CHECK_MSG(t, config_parse(buf, strlen(buf), &c, &err) == -EINVAL, "case %zu", i);
		TT_CHECK_MSG(t, strstr(err.reason, bad[i][1]) != NULL, "case %zu: %s", i,
			     err.reason);
		config_free(c);
	}
}

/* The shared stores' keys (config_shared.c): each refusal names its key; a gateway name
 * that could match another's lease tokens ('/') or be cut (over 63 bytes) is refused. */
static void test_shared(struct tt *t)
{
	static const char good[] =
		"\"catalog\": \"postgres:host=db dbname=fiona\", \"objects\":"
		" \"s3:http://127.0.0.1:7480/fiona-objects\", \"gateway\": \"hus-a.site_1\","
		" \"lease_seconds\": 30, \"s3\": { \"key_file\": \"/etc/fiona/s3.key\","
		" \"region\": \"us-east-1\", \"cache_mb\": 64, \"grace_seconds\": 600 },";
	static const char *const bad[][2] = {
		{"\"gateway\": \"hus/a\",", "gateway: must be 1 to 63"},
		{"\"gateway\": "
		 "\"a234567890123456789012345678901234567890123456789012345678901234\",",
		 "gateway: must be 1 to 63"},
		{"\"gateway\": \"\",", "gateway: must be a non-empty string"},
		{"\"catalog\": \"mysql:x\",", "catalog: must be"},
		{"\"catalog\": \"postgres:\",", "catalog: is empty"},
		{"\"lease_seconds\": 1,", "lease_seconds: must be"},
		{"\"objects\": \"s3:http://s3.example.org/b\", \"s3\": { \"key_file\": \"k\" },",
		 "objects: the S3 endpoint must be https://"},
		{"\"objects\": \"s3:https://s3.example.org/b\",", "s3.key_file: is needed"},
		{"\"s3\": { \"key_fil\": \"k\" },", "s3.key_fil: unknown key"},
	};
	const char *at = strstr(spec_example, "\"quiet_seconds\"");
	struct fiona_config *c = NULL;
	struct fiona_err err = {0};
	char buf[4096];

	snprintf(buf, sizeof(buf), "%.*s%s %s", (int)(at - spec_example), spec_example, good, at);
	TT_CHECK_MSG(t, config_parse(buf, strlen(buf), &c, &err) == 0, "%s", err.reason);
	TT_CHECK(t,
		 c && !strcmp(c->shared.gateway, "hus-a.site_1") && c->shared.lease_seconds == 30);
	TT_CHECK(t, c && c->shared.s3_cache_mb == 64 && c->shared.s3_grace_seconds == 600);
	config_free(c);
	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		c = NULL;
		memset(&err, 0, sizeof(err));
		snprintf(buf, sizeof(buf), "%.*s%s %s", (int)(at - spec_example), spec_example,
			 bad[i][0], at);
		TT_CHECK_MSG(t, config_parse(buf, strlen(buf), &c, &err) == -EINVAL, "case %zu", i);
		TT_CHECK_MSG(t, strstr(err.reason, bad[i][1]) != NULL, "case %zu: %s", i,
			     err.reason);
		TT_CHECK_MSG(t, !strstr(err.reason, "host=db"), "case %zu quotes the conninfo", i);
		config_free(c);
	}
}

TT_MAIN(TT_CASE(test_default_and_spec), TT_CASE(test_errors_name_the_key), TT_CASE(test_pixels),
	TT_CASE(test_shared))
