/* Private to redcap/: the rows of one push, and who builds them. */
#ifndef FIONA_REDCAP_ROWS_INT_H
#define FIONA_REDCAP_ROWS_INT_H

#include <jansson.h>

#include "redcap/redcap_int.h"

/* One row to write: where it goes, its address, its fields, and whether it changed since
 * it was last written (unchanged rows are not sent again). */
struct rc_out {
	const struct rc_target *target; /* borrowed from the sync */
	struct store_rc_row addr;
	json_t *json; /* owned */
	char hash[33];
	int64_t study;
	bool unchanged;
};
/* What REDCap holds for a record's transfers, read once per round. */
struct rc_floor {
	char record[101];
	long max;
	bool known;
};
struct rc_batch {
	struct rc_out *rows;
	size_t n, cap;
	int64_t study;		 /* the study rows being added belong to */
	struct rc_floor *floors; /* records whose new transfers row needs a number */
	size_t n_floors;
};
/* Adds a row addressed by a with fields (taken over, also on failure). */
int rc_rows_add(struct rc_batch *b, const struct rc_target *t, const struct store_rc_row *a,
		json_t *fields);
void rc_batch_release(struct rc_batch *b);

/* rows.c: every row of a study (Incoming study, series, transfers; the project's own
 * participant and imaging rows; the AutoID row). */
int rc_study_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st);
/* rows_xfer.c */
int rc_transfer_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st);
int rc_project_rows(struct redcap_sync *r, struct rc_batch *b, const struct store_rc_study *st);
/* Reads the floors f[0..n) in one export. 0 or -EAGAIN. */
int rc_floors_read(struct redcap_sync *r, struct rc_floor *f, size_t n);
/* The REDCap project of a configured project (NULL: none, or no token). */
struct rc_target *rc_project_target(struct redcap_sync *r, const char *project);

#endif
