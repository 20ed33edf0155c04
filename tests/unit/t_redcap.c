/* redcap/: REDCap's answers parsed tolerantly, classified as the research notes say, token
 * files refused unless private and well-formed, and the "redcap"/"autoid" config keys. */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redcap/redcap.h"
#include "tests/unit/tt.h"

static void test_rows(struct tt *t)
{
	static const char body[] =
		"[{\"study_instance_uid\":\"1.2.3\",\"redcap_repeat_instrument\":\"\","
		"\"redcap_repeat_instance\":\"\",\"study_date\":\"20240101\"},"
		"{\"study_instance_uid\":\"1.2.3\",\"redcap_repeat_instrument\":\"series\","
		"\"redcap_repeat_instance\":2,\"series_num_files\":\"3\",\"x\":null}, 7]";
	struct redcap_rows r;
	struct fiona_err err = {0};

	TT_CHECK(t, redcap_parse_rows(body, strlen(body), &r, &err) == 0);
	TT_CHECK(t, r.n == 2); /* the stray 7 is no row */
	TT_CHECK(t, !strcmp(redcap_get(&r.rows[0], "redcap_repeat_instance"), ""));
	TT_CHECK(t, !strcmp(redcap_get(&r.rows[1], "redcap_repeat_instance"), "2"));
	TT_CHECK(t, !strcmp(redcap_get(&r.rows[1], "series_num_files"), "3"));
	TT_CHECK(t, !strcmp(redcap_get(&r.rows[1], "x"), ""));
	TT_CHECK(t, !strcmp(redcap_get(&r.rows[1], "absent"), ""));
	redcap_rows_free(&r);
	TT_CHECK(t, redcap_parse_rows("<html>CRITICAL ERROR</html>", 27, &r, &err) == -EPROTO);
	TT_CHECK(t, strstr(err.reason, "HTML") != NULL);
	TT_CHECK(t, redcap_parse_rows("{\"error\":\"no\"}", 14, &r, &err) == -EPROTO);
	TT_CHECK(t, redcap_parse_rows("{\"count\": 1}", 12, &r, &err) == -EPROTO);
	TT_CHECK(t, redcap_parse_rows("[{\"a\":", 6, &r, &err) == -EPROTO);
}

static void test_count(struct tt *t)
{
	long n = -1;

	TT_CHECK(t, redcap_parse_count("{\"count\": 3}", 12, &n) == 0 && n == 3);
	TT_CHECK(t, redcap_parse_count("{\"count\":12}", 12, &n) == 0 && n == 12);
	TT_CHECK(t, redcap_parse_count("5\n", 2, &n) == 0 && n == 5);
	TT_CHECK(t, redcap_parse_count("{\"success\":true}", 16, &n) == -EPROTO);
	TT_CHECK(t, redcap_parse_count("", 0, &n) == -EPROTO);
	TT_CHECK(t, redcap_parse_count("3 records", 9, &n) == -EPROTO);
}

static void test_choices(struct tt *t)
{
	char out[64];

	redcap_choice_label("1, Yes | 0, No", "0", out, sizeof(out));
	TT_CHECK(t, !strcmp(out, "No"));
	redcap_choice_label("PROJ01, PROJ01 | QC-NH, QC - NH Phantom", "QC-NH", out, sizeof(out));
	TT_CHECK(t, !strcmp(out, "QC - NH Phantom"));
	redcap_choice_label("1, Yes", "2", out, sizeof(out));
	TT_CHECK(t, out[0] == '\0');
}

static void test_classify(struct tt *t)
{
	static const char html[] = "<html><body>CRITICAL ERROR: REDCap server is offline!</body>";
	static const char off[] =
		"{\"error\":\"This project is currently OFFLINE and is not accessible to normal "
		"users.\"}";
	static const char value[] = "{\"error\":\"\\\"1.2.3\\\",\\\"series_num_files\\\","
				    "\\\"08107276488\\\",\\\"The value you provided could not be "
				    "validated\\\"\"}";
	static const char ban[] =
		"Your IP address (1.2.3.4) has been banned due to suspected abuse.";
	static const char perm[] = "{\"error\":\"You do not have permissions to use the API\"}";
	char why[256];

	TT_CHECK(t, redcap_classify(200, "[]", 2, true, why, sizeof(why)) == REDCAP_OK);
	TT_CHECK(t, redcap_classify(200, html, strlen(html), true, why, sizeof(why)) ==
			    REDCAP_TRANSIENT);
	TT_CHECK(t, redcap_classify(400, off, strlen(off), true, why, sizeof(why)) ==
			    REDCAP_TRANSIENT);
	TT_CHECK(t, redcap_classify(500, "", 0, true, why, sizeof(why)) == REDCAP_TRANSIENT);
	TT_CHECK(t, redcap_classify(0, "", 0, true, why, sizeof(why)) == REDCAP_TRANSIENT);
	TT_CHECK(t, redcap_classify(429, "", 0, true, why, sizeof(why)) == REDCAP_BANNED);
	TT_CHECK(t,
		 redcap_classify(403, ban, strlen(ban), false, why, sizeof(why)) == REDCAP_BANNED);
	TT_CHECK(t, redcap_classify(403, perm, strlen(perm), true, why, sizeof(why)) ==
			    REDCAP_PERMANENT);
	TT_CHECK(t, strstr(why, "permissions") != NULL);
	/* a value error names the field, never the value REDCap quotes */
	TT_CHECK(t, redcap_classify(400, value, strlen(value), true, why, sizeof(why)) ==
			    REDCAP_PERMANENT);
	TT_CHECK_MSG(t, strstr(why, "series_num_files") && !strstr(why, "08107276488"), "%s", why);
}

static void test_token(struct tt *t)
{
	char dir[] = "/tmp/t_redcap.XXXXXX", path[64], tok[80];
	struct fiona_err err = {0};
	FILE *f;

	TT_CHECK(t, mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/tok", dir);
	TT_CHECK(t, (f = fopen(path, "w")) != NULL);
	fputs("0123456789ABCDEF0123456789abcdef\n", f);
	fclose(f);
	chmod(path, 0600);
	TT_CHECK(t, redcap_token_load(path, tok, sizeof(tok), &err) == 0);
	TT_CHECK(t, !strcmp(tok, "0123456789ABCDEF0123456789abcdef"));
	chmod(path, 0640);
	TT_CHECK(t, redcap_token_load(path, tok, sizeof(tok), &err) == -EPERM);
	TT_CHECK(t, strstr(err.reason, path) && strstr(err.reason, "owner only"));
	TT_CHECK(t, (f = fopen(path, "w")) != NULL);
	fputs("short&bad\n", f);
	fclose(f);
	chmod(path, 0600);
	TT_CHECK(t, redcap_token_load(path, tok, sizeof(tok), &err) == -EINVAL);
	TT_CHECK(t, !strstr(err.reason, "short&bad")); /* a token is never echoed */
	unlink(path);
	rmdir(dir);
}

static void test_config(struct tt *t)
{
	static const char base[] =
		"{ \"data_dir\": \"v\", \"mount_point\": \"m\", \"secret_file\": \"s\","
		"  \"dicom\": { \"aet\": \"FIONA\", \"bind\": \"127.0.0.1\", \"port\": 11112 },"
		"  \"projects\": { \"PROJ01\": { \"group\": \"g\", \"participant_pattern\": "
		"\"^P$\","
		"    \"events\": [\"baseline\"] %s } }, \"redcap\": { %s } }";
	static const char *const bad[][3] = {
		{"", "\"url\": \"https://r/api\", \"token_file\": \"t\"", "must end in"},
		{"", "\"url\": \"http://redcap.example.org/api/\", \"token_file\": \"t\"",
		 "loopback"},
		{"", "\"url\": \"https://r/api/\"", "needs \"url\" and \"token_file\""},
		{"",
		 "\"url\": \"https://r/api/\", \"token_file\": \"t\", \"requests_per_minute\": 600",
		 "redcap.requests_per_minute: must be"},
		{"",
		 "\"url\": \"https://r/api/\", \"token_file\": \"t\", \"tokens\": {\"x\": \"y\"}",
		 "redcap.tokens.x: unknown key"},
		{", \"autoid\": { \"event\": \"baseline\" }",
		 "\"url\": \"https://r/api/\", \"token_file\": \"t\"", "needs \"aet\""},
		{", \"autoid\": { \"aet\": \"A\", \"event\": \"week1\" }",
		 "\"url\": \"https://r/api/\", \"token_file\": \"t\"",
		 "autoid.event: names an event"},
	};
	struct fiona_config *c = NULL;
	struct fiona_err err = {0};
	char buf[2048];

	snprintf(buf, sizeof(buf), base, ", \"autoid\": { \"aet\": \"PROJ01AUTO\" }",
		 "\"url\": \"http://127.0.0.1:8080/api/\", \"token_file\": \"t\", \"tokens\": "
		 "{\"routing\": \"r\"}, \"poll_seconds\": 5");
	TT_CHECK_MSG(t, config_parse(buf, strlen(buf), &c, &err) == 0, "%s", err.reason);
	TT_CHECK(t,
		 c->redcap && c->redcap->poll_seconds == 5 && c->redcap->requests_per_minute == 60);
	TT_CHECK(t, c->redcap->routing_token_file && !c->redcap->coupling_token_file);
	TT_CHECK(t, c->projects[0].autoid && !strcmp(c->projects[0].autoid->aet, "PROJ01AUTO"));
	config_free(c);
	for (size_t i = 0; i < CORE_ARRAY_SIZE(bad); i++) {
		c = NULL;
		snprintf(buf, sizeof(buf), base, bad[i][0], bad[i][1]);
		TT_CHECK_MSG(t, config_parse(buf, strlen(buf), &c, &err) == -EINVAL, "case %zu", i);
		TT_CHECK_MSG(t, strstr(err.reason, bad[i][2]) != NULL, "case %zu: %s", i,
			     err.reason);
		config_free(c);
	}
}

TT_MAIN(TT_CASE(test_rows), TT_CASE(test_count), TT_CASE(test_choices), TT_CASE(test_classify),
	TT_CASE(test_token), TT_CASE(test_config))
