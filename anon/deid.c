/*
 * deid: the de-identification engine. One pass of the reader over an instance; every
 * element gets a decision (deid_decide) and is written again in explicit VR little endian
 * into plan-owned bytes, except values kept verbatim from a little-endian, non-deflated
 * source: those (pixel data above all) become byte ranges of the original, so a plan
 * costs the size of the header, not of the image.
 *
 * Invariants:
 * - Sequences and items are always written with undefined length, so nothing written
 *   earlier ever needs patching; the file meta header, which names the new
 *   SOPInstanceUID, is put in front of the dataset when the walk is done.
 * - A removed or emptied sequence skips every event up to its own end (same depth).
 * - Private data elements are judged with their block's creator, looked up per item.
 * - The original's PatientIdentityRemoved, DeidentificationMethod(+CodeSequence) and
 *   LongitudinalTemporalInformationModified are replaced by fiona's own, inserted at
 *   their place in tag order.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "anon/deid_int.h"
#include "anon/deid_walk.h"

int deid_job_init(struct deid_job *j, const struct deid_profile *profile,
		  const struct deid_secret *secret, const char *project, const char *participant,
		  const char *event)
{
	int lo, hi, rc;

	if (!profile || !secret || !project || !participant)
		return -EINVAL;
	memset(j, 0, sizeof(*j));
	j->profile = profile;
	j->secret = secret;
	j->project = project;
	j->participant = participant;
	j->event = event;
	deid_profile_date_range(profile, &lo, &hi);
	rc = deid_date_offset_days(secret, project, participant, lo, hi, &j->date_offset_days);
	if (!rc && j->date_offset_days != 0)
		rc = deid_time_offset_seconds(secret, project, participant,
					      &j->time_offset_seconds);
	return rc;
}

/* ---- segments: owned bytes of w->out and ranges of the original ----------------------- */

static int seg_push(struct deid_walk *w, bool range, uint64_t off, uint64_t len)
{
	if (w->nsegs == w->capsegs) {
		size_t cap = w->capsegs ? 2 * w->capsegs : 64;
		struct deid_seg *s = realloc(w->segs, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		w->segs = s;
		w->capsegs = cap;
	}
	w->segs[w->nsegs++] = (struct deid_seg){range, off, len};
	return 0;
}

/* Ends the owned bytes written since the last range, then appends a range. */
int walk_add_range(struct deid_walk *w, uint64_t src_off, uint64_t len)
{
	int rc = 0;

	if (w->out.len > w->owned_from)
		rc = seg_push(w, false, w->owned_from, w->out.len - w->owned_from);
	w->owned_from = w->out.len;
	return rc ? rc : seg_push(w, true, src_off, len);
}

/* The plan takes the walk's bytes as they are: the meta header goes at their end and
 * comes first in the output, then the segments in walk order. Nothing is copied. */
static int walk_to_plan(struct deid_walk *w, struct buf *meta, struct deid_plan **out)
{
	struct deid_plan *p = NULL;
	size_t meta_off;
	int rc;

	if (w->out.len > w->owned_from &&
	    (rc = seg_push(w, false, w->owned_from, w->out.len - w->owned_from)))
		return rc;
	meta_off = w->out.len;
	if ((rc = buf_append(&w->out, meta->data, meta->len)))
		return rc;
	w->owned_from = w->out.len;
	if ((rc = deid_plan_new(&p)) || (rc = deid_plan_adopt(p, &w->out)) ||
	    (rc = deid_plan_add_owned(p, meta_off, meta->len)))
		goto fail;
	for (size_t i = 0; i < w->nsegs && !rc; i++)
		rc = w->segs[i].range ? deid_plan_add_range(p, w->segs[i].off, w->segs[i].len)
				      : deid_plan_add_owned(p, w->segs[i].off, w->segs[i].len);
	if (rc)
		goto fail;
	*out = p;
	return 0;
fail:
	deid_plan_free(p);
	return rc;
}

/* ---- the walk --------------------------------------------------------------------------- */

static int walk_event(struct deid_walk *w, const struct dcm_elem *e)
{
	if (w->skip_depth >= 0) {
		if ((e->kind == DCM_SEQ_END || e->kind == DCM_PIXEL_END) &&
		    e->depth == w->skip_depth)
			w->skip_depth = -1;
		return 0;
	}
	if (e->in_meta) {
		walk_meta(w, e);
		return 0;
	}
	switch (e->kind) {
	case DCM_ELEMENT:
		return walk_element(w, e);
	case DCM_SEQ_BEGIN:
	case DCM_PIXEL_BEGIN:
		return walk_seq_begin(w, e);
	case DCM_ITEM_BEGIN:
		walk_creators_reset(w, e->depth);
		return dcm_write_item_begin(&w->out);
	case DCM_ITEM_END:
		return dcm_write_item_end(&w->out);
	case DCM_SEQ_END:
		return dcm_write_seq_end(&w->out);
	case DCM_FRAGMENT:
		return walk_fragment(w, e);
	case DCM_PIXEL_END:
		return walk_pixel_end(w, e);
	}
	return 0;
}

static const char *output_ts(const struct dcm_ts *ts)
{
	return ts->encapsulated && !ts->deflated && !ts->big_endian ? ts->uid
								    : "1.2.840.10008.1.2.1";
}

static int walk_run(struct deid_walk *w, struct fiona_err *err)
{
	struct dcm_elem e;
	int rc;

	while ((rc = dcm_reader_next(w->r, &e)) == 1) {
		if (!e.in_meta && e.depth == 0 && e.kind != DCM_SEQ_END &&
		    e.kind != DCM_PIXEL_END && (rc = walk_insert_before(w, e.tag)))
			break;
		if ((rc = walk_event(w, &e)))
			break;
	}
	if (rc < 0 && !w->err_set) {
		const struct fiona_err *re = dcm_reader_error(w->r);

		if (re->reason[0])
			err_set(err, re->code, re->offset, re->tag, "%s", re->reason);
		else
			err_set(err, rc, e.offset, e.tag,
				"cannot write the de-identified value: %s", strerror(-rc));
		return rc;
	}
	if (rc < 0) {
		*err = w->err;
		return rc;
	}
	return walk_insert_before(w, 0xFFFFFFFFu);
}

static int build_meta(struct deid_walk *w, struct deid_outcome *o, struct buf *meta)
{
	struct dcm_meta m = {o->sop_class_uid, o->sop_uid, o->ts_uid};

	if (!o->sop_class_uid[0] || !o->sop_uid[0])
		return -EINVAL;
	(void)w;
	return dcm_write_part10_header(meta, &m);
}

int deid_instance_plan(const struct deid_job *j, const uint8_t *p, size_t n, struct deid_plan **out,
		       struct deid_outcome *o, struct fiona_err *err)
{
	struct deid_walk *w = calloc(1, sizeof(*w));
	struct buf meta;
	int rc;

	buf_init(&meta, 1u << 16);
	if (!w)
		return -ENOMEM;
	memset(o, 0, sizeof(*o));
	w->job = j;
	w->o = o;
	w->skip_depth = -1;
	buf_init(&w->out, (size_t)1 << 32);
	buf_init(&w->scratch, (size_t)1 << 32);
	if ((rc = dcm_reader_new(p, n, &w->r, err)) || (rc = deid_idents_scan(w->r, &w->ids, err)))
		goto fail;
	{
		const struct dcm_ts *ts = dcm_reader_ts(w->r);

		w->ranges_ok = !ts->deflated && !ts->big_endian;
		/* re-encoded sources copy everything: size the buffer once */
		if (!w->ranges_ok && (rc = buf_reserve(&w->out, n + 4096)))
			goto fail;
		snprintf(o->ts_uid, sizeof(o->ts_uid), "%s", output_ts(ts));
	}
	snprintf(o->sop_class_uid, sizeof(o->sop_class_uid), "%s", w->ids.sop_class);
	deid_profile_participant(j->profile, j->participant, w->participant);
	o->burned_in = deid_idents_burned_in(&w->ids);
	walk_creators_reset(w, 0);
	if ((rc = walk_run(w, err)))
		goto fail;
	if ((rc = build_meta(w, o, &meta))) {
		err_set(err, rc, 0, DCM_TAG(0x0008, 0x0018),
			"no SOPClassUID or SOPInstanceUID: not a composite instance");
		goto fail;
	}
	rc = walk_to_plan(w, &meta, out);
fail:
	dcm_reader_free(w->r);
	buf_release(&w->out);
	buf_release(&w->scratch);
	buf_release(&meta);
	free(w->segs);
	free(w);
	return rc;
}
