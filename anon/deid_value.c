/*
 * deid_value: the new value of an element whose decision changes it — dummies, empty
 * values, cleaned text, keyed UIDs, shifted dates and times, project templates, regex
 * captures, the participant ID and keyed hashes.
 *
 * Invariants: whatever cannot be computed safely (an invalid date, a capture that does
 * not match, a template too long for the VR) becomes an empty value, never the original.
 * Values are read as strings with trailing padding removed; multi-valued UIDs and dates
 * are handled value by value.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "anon/deid_walk.h"

static bool is_string_vr(uint16_t vr)
{
	return deid_dummy_value(vr) != NULL;
}

/* The element's value as a NUL-terminated string in w->scratch (padding trimmed). */
static const char *value_string(struct deid_walk *w, const struct dcm_elem *e)
{
	size_t len = e->length;

	buf_reset(&w->scratch);
	while (len > 0 && (e->value[len - 1] == ' ' || e->value[len - 1] == '\0'))
		len--;
	if (buf_append(&w->scratch, e->value, len))
		return NULL;
	return (const char *)w->scratch.data;
}

bool walk_post_applies(uint16_t vr)
{
	return is_string_vr(vr) && vr != DCM_VR('U', 'I');
}

/* The value of a rewrite or normalize rule: the text the decision made, transformed; what
 * does not fit becomes empty, never the value before the transform. */
static int write_post(struct deid_walk *w, const struct dcm_elem *e, const char *s)
{
	size_t cap = 2 * strlen(s) + 1024;
	char *out = malloc(cap);
	int rc = out ? deid_profile_post(w->job->profile, e->tag, s, out, cap) : -ENOMEM;

	if (rc == -ENOMEM)
		return rc;
	rc = rc ? dcm_write_elem(&w->out, e->tag, e->vr, NULL, 0)
		: dcm_write_str(&w->out, e->tag, e->vr, out);
	if (rc == -EINVAL)
		rc = dcm_write_elem(&w->out, e->tag, e->vr, NULL, 0);
	free(out);
	return rc;
}

static int write_str(struct deid_walk *w, const struct dcm_elem *e, const char *s)
{
	int rc;

	if (w->post != DEID_POST_NONE && walk_post_applies(e->vr))
		return write_post(w, e, s);
	rc = dcm_write_str(&w->out, e->tag, e->vr, s);

	if (rc ==
	    -EINVAL) /* does not fit the VR (e.g. a long template): empty, never the original */
		rc = dcm_write_elem(&w->out, e->tag, e->vr, NULL, 0);
	return rc;
}

static int write_zeros(struct deid_walk *w, const struct dcm_elem *e)
{
	uint8_t *z = calloc(1, e->length ? e->length : 1);
	int rc;

	if (!z)
		return -ENOMEM;
	rc = dcm_write_elem(&w->out, e->tag, e->vr, z, e->length);
	if (rc == -EINVAL)
		rc = dcm_write_elem(&w->out, e->tag, DCM_VR_UN, z, e->length);
	free(z);
	return rc;
}

static int write_empty(struct deid_walk *w, const struct dcm_elem *e)
{
	return dcm_write_elem(&w->out, e->tag, e->vr == 0 ? DCM_VR_UN : e->vr, NULL, 0);
}

/* Each backslash-separated UID replaced by its keyed UID. */
static int write_uids(struct deid_walk *w, const struct dcm_elem *e, const char *v)
{
	struct buf nb;
	int rc = 0;

	buf_init(&nb, 1u << 20);
	for (const char *s = v; *s && !rc;) {
		size_t len = strcspn(s, "\\");
		char old[65], neu[65];

		if (len >= sizeof(old)) {
			rc = -EINVAL;
			break;
		}
		memcpy(old, s, len);
		old[len] = '\0';
		rc = deid_uid_derive(w->job->secret, w->job->project, old, neu);
		if (!rc && w->job->on_uid)
			w->job->on_uid(w->job->opaque, old, neu);
		if (!rc && nb.len)
			rc = buf_append(&nb, "\\", 1);
		rc = rc ? rc : buf_append(&nb, neu, strlen(neu));
		s += len + (s[len] == '\\');
	}
	if (!rc)
		rc = dcm_write_elem(&w->out, e->tag, DCM_VR('U', 'I'), nb.data, nb.len);
	if (rc == -EINVAL) /* not a UID: a value fiona cannot map is not kept */
		rc = write_empty(w, e);
	if (!rc && e->depth == 0 && nb.len < 65) {
		char *dst = e->tag == DCM_TAG(0x0008, 0x0018)	? w->o->sop_uid
			    : e->tag == DCM_TAG(0x0020, 0x000D) ? w->o->study_uid
			    : e->tag == DCM_TAG(0x0020, 0x000E) ? w->o->series_uid
								: NULL;
		if (dst)
			snprintf(dst, 65, "%s", (const char *)nb.data);
	}
	buf_release(&nb);
	return rc;
}

static int write_shifted(struct deid_walk *w, const struct dcm_elem *e, const char *v)
{
	char out[1024];

	if (!*v)
		return write_empty(w, e);
	if (deid_datetime_shift(v, e->vr, w->job->date_offset_days, w->job->time_offset_seconds,
				out, sizeof(out)))
		return write_empty(w, e); /* not a valid date: nothing is better than a guess */
	return write_str(w, e, out);
}

static int write_clean(struct deid_walk *w, const struct dcm_elem *e, const char *v)
{
	char *out;
	size_t cap = strlen(v) + 1;
	int rc;

	if (e->vr == DCM_VR('D', 'A') || e->vr == DCM_VR('D', 'T') || e->vr == DCM_VR('T', 'M'))
		return write_empty(w, e);
	if (e->vr == DCM_VR('U', 'I'))
		return write_uids(w, e, v);
	out = malloc(cap);
	if (!out)
		return -ENOMEM;
	deid_text_clean(&w->ids, v, strlen(v), out, cap);
	rc = write_str(w, e, out);
	free(out);
	return rc;
}

static const char *hash_kind(uint32_t tag)
{
	return tag == DCM_TAG(0x0008, 0x0050)	? "accession"
	       : tag == DCM_TAG(0x0020, 0x0010) ? "studyid"
						: "value";
}

static int write_profile_value(struct deid_walk *w, const struct dcm_elem *e,
			       const struct deid_decision *d, const char *v)
{
	const struct deid_job *j = w->job;
	char out[1024];

	switch (d->action) {
	case DEID_SET:
		if (deid_template_expand(d->arg, j->project, w->participant, j->event, out,
					 sizeof(out)))
			return write_empty(w, e);
		return write_str(w, e, out);
	case DEID_CAPTURE:
		if (deid_profile_capture(j->profile, e->tag, v, out, sizeof(out)))
			return write_empty(w, e);
		return write_str(w, e, out);
	case DEID_PARTICIPANT:
		if (e->depth == 0 && e->tag == DCM_TAG(0x0010, 0x0020))
			snprintf(w->o->old_patient_id, sizeof(w->o->old_patient_id), "%s", v);
		return write_str(w, e, w->participant);
	case DEID_HASH:
		if (!*v)
			return write_empty(w, e);
		if (deid_keyed_hash16(j->secret, j->project, hash_kind(e->tag), v, out))
			return write_empty(w, e);
		return write_str(w, e, out);
	default:
		return write_empty(w, e);
	}
}

int walk_keep_text(struct deid_walk *w, const struct dcm_elem *e)
{
	const char *v = value_string(w, e);

	return v ? write_str(w, e, v) : -ENOMEM;
}

int walk_value_write(struct deid_walk *w, const struct dcm_elem *e, const struct deid_decision *d)
{
	const char *v;

	if (d->action == DEID_EMPTY)
		return write_empty(w, e);
	if (!is_string_vr(e->vr)) {
		/* numbers, bulk data, UN: a dummy is zeros, anything else empties them */
		if (d->action == DEID_DUMMY || d->action == DEID_CLEAN)
			return write_zeros(w, e);
		if (d->action == DEID_UID && (v = value_string(w, e)))
			return write_uids(w, e, v);
		return write_empty(w, e);
	}
	if (!(v = value_string(w, e)))
		return -ENOMEM;
	switch (d->action) {
	case DEID_DUMMY:
		return write_str(w, e, deid_dummy_value(e->vr));
	case DEID_CLEAN:
		return write_clean(w, e, v);
	case DEID_UID:
		return *v ? write_uids(w, e, v) : write_empty(w, e);
	case DEID_SHIFT:
		if (e->vr == DCM_VR('D', 'A') || e->vr == DCM_VR('D', 'T') ||
		    e->vr == DCM_VR('T', 'M'))
			return write_shifted(w, e, v);
		return write_empty(w, e);
	default:
		return write_profile_value(w, e, d, v);
	}
}
