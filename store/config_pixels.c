/*
 * A project's burned-in text settings, the "pixels" object (docs/burn.md):
 *
 *   "pixels": { "clean": true, "all_text": false, "every_series": false,
 *               "skip": [ { "tag": "SeriesDescription", "matches": "^Dose Report$" } ],
 *               "drop": [ "secondary_capture", "presentation_state" ] }
 *
 * Everything is optional; the defaults clean the flagged kinds and remove identifying
 * text only. A skip names a top-level attribute by keyword or as "gggg,eeee".
 */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/config_int.h"

static int skip_tag(const char *name, const char *path, uint32_t *tag, struct fiona_err *err)
{
	unsigned g, e;
	char end;

	if (sscanf(name, "%4x,%4x%c", &g, &e, &end) == 2 && strlen(name) == 9) {
		*tag = (uint32_t)g << 16 | e;
		return 0;
	}
	if (dcm_dict_find_keyword(name, tag, NULL) == 0)
		return 0;
	return config_bad(err, path, "not a DICOM keyword or \"gggg,eeee\"");
}

static int parse_skip(json_t *o, const char *path, struct config_pixel_skip *sk,
		      struct fiona_err *err)
{
	const char *k;
	json_t *v;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, path, "must be an object with \"tag\" and \"matches\"");
	json_object_foreach(o, k, v)
	{
		struct kpath kp = config_kp(path, k);

		if (!strcmp(k, "tag"))
			rc = config_take_str(v, kp.s, &sk->tag_name, err);
		else if (!strcmp(k, "matches"))
			rc = config_take_str(v, kp.s, &sk->pattern, err);
		else
			rc = config_bad(err, kp.s, "unknown key");
		if (rc)
			return rc;
	}
	if (!sk->tag_name || !sk->pattern)
		return config_bad(err, path, "needs \"tag\" and \"matches\"");
	if ((rc = skip_tag(sk->tag_name, config_kp(path, "tag").s, &sk->tag, err)))
		return rc;
	if (regcomp(&sk->re, sk->pattern, REG_EXTENDED | REG_NOSUB))
		return config_bad(err, config_kp(path, "matches").s,
				  "not a valid regular expression");
	sk->re_ok = true;
	return 0;
}

static int parse_skips(json_t *a, const char *path, struct config_pixels *px, struct fiona_err *err)
{
	char ip[320];
	size_t i;
	json_t *it;
	int rc;

	if (!json_is_array(a))
		return config_bad(err, path, "must be a list");
	if (!(px->skip = calloc(json_array_size(a) + 1, sizeof(*px->skip))))
		return -ENOMEM;
	json_array_foreach(a, i, it)
	{
		if (snprintf(ip, sizeof(ip), "%s[%zu]", path, i) < 0)
			ip[0] = '\0';
		if ((rc = parse_skip(it, ip, &px->skip[px->n_skip++], err)))
			return rc;
	}
	return 0;
}

static int parse_drop(json_t *a, const char *path, struct config_pixels *px, struct fiona_err *err)
{
	size_t i;
	json_t *it;

	if (!json_is_array(a))
		return config_bad(err, path, "must be a list");
	json_array_foreach(a, i, it)
	{
		const char *v = json_string_value(it);

		if (v && !strcmp(v, "secondary_capture"))
			px->drop_sc = true;
		else if (v && !strcmp(v, "presentation_state"))
			px->drop_pr = true;
		else
			return config_bad(err, path,
					  "holds \"secondary_capture\" and \"presentation_state\"");
	}
	return 0;
}

int config_parse_pixels(json_t *o, const char *path, struct config_pixels *px,
			struct fiona_err *err)
{
	const char *k;
	json_t *v;
	bool clean = true;
	int rc = 0;

	if (!json_is_object(o))
		return config_bad(err, path, "must be an object");
	json_object_foreach(o, k, v)
	{
		struct kpath kp = config_kp(path, k);

		if (!strcmp(k, "clean"))
			rc = config_take_bool(v, kp.s, &clean, err);
		else if (!strcmp(k, "all_text"))
			rc = config_take_bool(v, kp.s, &px->all_text, err);
		else if (!strcmp(k, "every_series"))
			rc = config_take_bool(v, kp.s, &px->every_series, err);
		else if (!strcmp(k, "skip"))
			rc = parse_skips(v, kp.s, px, err);
		else if (!strcmp(k, "drop"))
			rc = parse_drop(v, kp.s, px, err);
		else
			rc = config_bad(err, kp.s, "unknown key");
		if (rc)
			return rc;
	}
	px->keep = !clean;
	return 0;
}

void config_pixels_free(struct config_pixels *px)
{
	for (size_t i = 0; i < px->n_skip; i++) {
		if (px->skip[i].re_ok)
			regfree(&px->skip[i].re);
		free(px->skip[i].tag_name), free(px->skip[i].pattern);
	}
	free(px->skip);
}
