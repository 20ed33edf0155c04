/* Private to store/config*.c: the helpers every section parser uses. */
#ifndef FIONA_CONFIG_INT_H
#define FIONA_CONFIG_INT_H

#include <jansson.h>

#include "store/store.h"

/* A key path for messages: parent "." key, bounded (a cut path still helps). */
struct kpath {
	char s[256];
};
struct kpath config_kp(const char *parent, const char *key);
/* -EINVAL with "path: why" in err. */
int config_bad(struct fiona_err *err, const char *path, const char *why);
/* A non-empty string without NUL, copied into *out (strdup). */
int config_take_str(json_t *v, const char *path, char **out, struct fiona_err *err);
/* A JSON boolean into *out. */
int config_take_bool(json_t *v, const char *path, bool *out, struct fiona_err *err);

/* An integer in [min, max] into *out. */
int config_take_long(json_t *v, const char *path, long min, long max, long *out,
		     struct fiona_err *err);

/* config_redcap.c: the "redcap" object and a project's "autoid" object. */
int config_parse_redcap(json_t *o, struct config_redcap **out, struct fiona_err *err);
void config_redcap_free(struct config_redcap *r);
int config_parse_autoid(json_t *o, const char *path, struct config_autoid **out,
			struct fiona_err *err);
void config_autoid_free(struct config_autoid *a);

/* config_pixels.c: a project's "pixels" object. */
int config_parse_pixels(json_t *o, const char *path, struct config_pixels *px,
			struct fiona_err *err);
void config_pixels_free(struct config_pixels *px);

/* An http:// URL to a loopback host (tests run plain http there; elsewhere https). */
bool config_loopback_http(const char *url);
/* config_shared.c: "catalog", "objects", "gateway", "lease_seconds" and the "s3" object. */
/* 1 when k is one of those keys (parsed into c->shared), 0 when not, or -errno. */
int config_parse_shared_key(const char *k, json_t *v, struct config_shared *c,
			    struct fiona_err *err);
int config_check_shared(const struct config_shared *c, struct fiona_err *err);
void config_shared_free(struct config_shared *c);

#endif
