/*
 * Private to store/: a small S3 client on libcurl (store/s3.c, s3_ops.c, s3_xml.c), the
 * foundation of the object backend of issue 16. Nothing of it is in store/store.h: no
 * module outside store/ knows that objects may live in S3.
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3"). libcurl 7.88
 * hashes no body and does not canonicalise the query, so this layer always sends
 * x-amz-content-sha256 with the SHA-256 of the body and writes queries sorted, with every
 * value percent-encoded and "k=" even for empty values. URLs are path-style
 * (ENDPOINT/BUCKET/KEY), which radosgw, MinIO and AWS all accept.
 *
 * Threads: one struct s3_client per thread (it owns one curl handle and its keep-alive
 * connection); clients share nothing. Call curl_global_init() once before the threads
 * that make clients start (s3_probe does; the gateway's backend will).
 */
#ifndef FIONA_STORE_S3_INT_H
#define FIONA_STORE_S3_INT_H

#include "core/core.h"

#define S3_KEY_MAX	  1024 /* S3's own limit on a key, in bytes */
#define S3_ACCESS_KEY_MAX 128
#define S3_SECRET_MAX	  128

/* Where the objects are and how patiently to talk to it. */
struct s3_config {
	char endpoint[512]; /* "http://127.0.0.1:7480" or "https://s3.example.org" */
	char bucket[64];
	char region[64];	 /* "us-east-1" when empty */
	char ca_file[4096];	 /* https: CA bundle to verify the server with; "" = system */
	long connect_timeout_ms; /* 0: 3000 */
	long timeout_ms;	 /* whole request; 0: 60000 */
	int max_retries;	 /* 500/503 (and 409 on a conditional put); 0: 4; -1: none */
	long backoff_ms;	 /* first retry waits about this long, doubling; 0: 50 */
};

/* Credentials, never logged. Wipe with s3_creds_wipe() when done. */
struct s3_creds {
	char access_key[S3_ACCESS_KEY_MAX + 1];
	char secret_key[S3_SECRET_MAX + 1];
};

/*
 * Reads a key file: lines "access_key_id = ..." and "secret_access_key = ..." ('#'
 * comments and blank lines allowed). The file must be readable by its owner only (mode
 * 0600 or stricter): -EPERM otherwise. 0, or -errno with the reason in err (never a key).
 */
int s3_creds_load(const char *path, struct s3_creds *out, struct fiona_err *err);
void s3_creds_wipe(struct s3_creds *c);

struct s3_stats {
	uint64_t requests; /* HTTP requests sent, retries included */
	uint64_t retries;
	uint64_t head_skips; /* puts that a HEAD showed to be there already */
};

/* One caller's S3 connection. Owned by one thread. */
struct s3_client {
	const struct s3_config *cfg; /* borrowed; outlives the client */
	struct fiona_log *log;	     /* borrowed; may be NULL */
	void *curl;		     /* CURL *, kept across requests for keep-alive */
	int sock;		     /* its connection's socket, -1 before the first */
	char user[S3_ACCESS_KEY_MAX + 1];
	char secret[S3_SECRET_MAX + 1];
	char sigv4[96]; /* "aws:amz:REGION:s3" */
	char errbuf[256];
	uint64_t rnd; /* xorshift state for retry jitter */
	struct s3_stats stats;
};

/* 0, -EINVAL (bad endpoint/bucket/region: reason in err) or -ENOMEM. The client keeps
 * its own copy of the keys; creds may be wiped afterwards. */
int s3_client_init(struct s3_client *c, const struct s3_config *cfg, const struct s3_creds *creds,
		   struct fiona_log *log, struct fiona_err *err);
/* Accepts a client that was never initialised (zeroed) or already released. */
void s3_client_release(struct s3_client *c);

/*
 * Errors of every operation below: -errno and a reason in err naming the method, key,
 * HTTP status and the S3 error Code of the reply body when there is one:
 *   -ECONNREFUSED/-EHOSTUNREACH/-ETIMEDOUT  the endpoint cannot be reached (no retry)
 *   -EACCES    403 (SignatureDoesNotMatch, AccessDenied, InvalidAccessKeyId, ...)
 *   -ENOENT    404 (NoSuchKey, NoSuchBucket)
 *   -EAGAIN    500/503 still failing after the bounded, jittered retries
 *   -EPROTO    a redirect (not followed) or a reply this layer cannot read; TLS failure
 *   -EDQUOT/-ENOSPC/-EFBIG/-EINVAL/-EIO     the rest, by Code or status
 */

#define S3_PUT_NO_HEAD 1u /* skip the HEAD (tests of the conditional write itself) */

enum s3_put_result {
	S3_PUT_CREATED,	  /* this call stored the bytes */
	S3_PUT_HEAD_SEEN, /* a HEAD found the key with this size: nothing sent */
	S3_PUT_EXISTED,	  /* the conditional PUT was refused (412/409): someone stored it */
};

/*
 * Stores len bytes under key unless the key is there already: content-addressed keys make
 * "already there" a success. First a HEAD (skips the upload of known content; a key with a
 * different size is -EEXIST), then a PUT with If-None-Match: * and the body's SHA-256, so
 * a concurrent writer of the same key makes this a 412 (or a 409 that is retried), never
 * an overwrite. *res (may be NULL) says which happened.
 */
int s3_put(struct s3_client *c, const char *key, const void *p, size_t len, unsigned flags,
	   enum s3_put_result *res, struct fiona_err *err);
/* The object's size. -ENOENT when there is no such key. */
int s3_head(struct s3_client *c, const char *key, uint64_t *size, struct fiona_err *err);
/* Reads up to len bytes from off into out; *got is what was read (0 at or past the end).
 * A reply longer than asked for is -EPROTO. */
int s3_get(struct s3_client *c, const char *key, uint64_t off, size_t len, void *out, size_t *got,
	   struct fiona_err *err);
/* Removes the key. A key that is not there is not an error (S3 answers 204 either way). */
int s3_delete(struct s3_client *c, const char *key, struct fiona_err *err);

/* Called once per listed key (borrowed, NUL-terminated); nonzero stops the listing and is
 * returned by s3_list. */
typedef int (*s3_list_cb)(void *arg, const char *key, uint64_t size);
/* Every key under prefix in key order, page by page (ListObjectsV2, continuation tokens).
 * page_keys: max-keys per request (1..1000; 0 = 1000). */
int s3_list(struct s3_client *c, const char *prefix, int page_keys, s3_list_cb cb, void *arg,
	    struct fiona_err *err);

/* ---- s3_xml.c: the reply bodies (untrusted bytes; fuzzed by tests/fuzz/fuzz_s3_xml) ---- */

#define S3_TOKEN_MAX 1024

struct s3_list_page {
	bool truncated;
	char next_token[S3_TOKEN_MAX + 1]; /* "" unless truncated */
	size_t n_keys;
};

/*
 * Scans a ListObjectsV2 result: cb(arg, key, size) for each Contents (key entity-decoded,
 * at most S3_KEY_MAX bytes, no control characters), then IsTruncated and
 * NextContinuationToken. A truncated page without a token, a Contents without Key or Size,
 * a size that is not a decimal number, or a bad entity is -EPROTO with the byte offset in
 * err. A nonzero cb return stops the scan and is returned.
 */
int s3_xml_list(const char *p, size_t n, s3_list_cb cb, void *arg, struct s3_list_page *page,
		struct fiona_err *err);
/* The text of the first <Code> element of an S3 error body, entity-decoded, printable
 * ASCII only, into out (cap >= 1). -ENOENT when there is none or it is not plain. */
int s3_xml_error_code(const char *p, size_t n, char *out, size_t cap);

/* ---- between s3.c and s3_ops.c: one signed request ---------------------------------- */

struct s3_req {
	const char *method; /* "GET", "PUT", "HEAD", "DELETE" */
	const char *key;    /* NULL: the bucket itself */
	const char *query;  /* canonical (sorted, encoded, "k=v&..."); NULL: none */
	const void *body;   /* PUT: borrowed for the call */
	size_t body_len;
	bool if_none_match; /* send If-None-Match: * */
	bool retry_409;	    /* a conditional PUT that met a concurrent one */
	uint64_t range_off; /* with range_len > 0: Range: bytes=off-(off+len-1) */
	size_t range_len;
	void *out; /* a 2xx body goes here (at most out_cap bytes), else to body */
	size_t out_cap;
};

struct s3_resp {
	long status;	 /* HTTP status of the last attempt */
	int64_t length;	 /* Content-Length, -1 when not sent */
	size_t got;	 /* bytes written to s3_req.out */
	struct buf body; /* the caller inits it with a maximum and releases it */
};

/* Sends rq, retrying 500/503 (and 409 when retry_409) and dropped connections with
 * jittered backoff. 0 with rs->status of the last attempt, or a transport -errno. */
int s3_request(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs,
	       struct fiona_err *err);
/* -errno and a reason naming method, key, status and the body's S3 Code. */
int s3_status_error(const struct s3_client *c, const struct s3_req *rq, const struct s3_resp *rs,
		    struct fiona_err *err);
/* Appends s percent-encoded as SigV4 wants it: all but A-Z a-z 0-9 - . _ ~ (and '/' unless
 * slash_too). 0 or -ENOMEM/-E2BIG. */
int s3_uri_encode(struct buf *b, const char *s, bool slash_too);
void s3_sha256_hex(const void *p, size_t n, char out[65]);

#endif
