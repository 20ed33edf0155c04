/*
 * deid_walk: what happens to each element, sequence and pixel fragment of a walk
 * (deid.c drives it). Decisions come from deid_decide(); changed values are produced in
 * deid_value.c; this file keeps values verbatim, tracks private creators, and writes the
 * attributes that say the instance was de-identified.
 *
 * Invariants: every element is written in explicit VR little endian; a value that
 * cannot be written under its own VR (too long for a 16-bit length, odd length of a
 * binary VR) is written as UN, the VR that can hold any bytes; big endian values are
 * swapped into owned bytes, little endian ones kept as ranges when long.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>

#include "anon/annexe_int.h"
#include "anon/deid_walk.h"

#define RANGE_MIN 256

void walk_creators_reset(struct deid_walk *w, int depth)
{
	if (depth >= 0 && depth <= DCM_READ_MAX_DEPTH)
		w->levels[depth].n = 0;
}

static struct walk_level *level(struct deid_walk *w, int depth)
{
	return &w->levels[depth < 0 ? 0 : depth > DCM_READ_MAX_DEPTH ? DCM_READ_MAX_DEPTH : depth];
}

static bool is_creator(uint32_t tag)
{
	return (DCM_GROUP(tag) & 1) && DCM_ELEM(tag) >= 0x10 && DCM_ELEM(tag) <= 0xFF;
}

static void creator_remember(struct deid_walk *w, const struct dcm_elem *e, const char *name)
{
	struct walk_level *l = level(w, e->depth);

	if (l->n < WALK_CREATORS) {
		l->c[l->n].group = DCM_GROUP(e->tag);
		l->c[l->n].block = (uint8_t)DCM_ELEM(e->tag);
		snprintf(l->c[l->n].name, sizeof(l->c[l->n].name), "%s", name);
		l->n++;
	}
}

/* The creator of a private data element, or NULL (unknown: the element is removed). */
static const char *creator_of(struct deid_walk *w, const struct dcm_elem *e)
{
	struct walk_level *l = level(w, e->depth);
	uint8_t block = (uint8_t)(DCM_ELEM(e->tag) >> 8);

	for (size_t i = 0; i < l->n; i++)
		if (l->c[i].group == DCM_GROUP(e->tag) && l->c[i].block == block)
			return l->c[i].name;
	return NULL;
}

void walk_meta(struct deid_walk *w, const struct dcm_elem *e)
{
	if (e->tag == DCM_TAG(0x0002, 0x0002) && !w->o->sop_class_uid[0])
		dcm_value_str(e, w->o->sop_class_uid, sizeof(w->o->sop_class_uid));
}

static int decide(struct deid_walk *w, const struct dcm_elem *e, struct deid_decision *d)
{
	const char *creator = NULL;
	char own[65];

	if (DCM_GROUP(e->tag) & 1) {
		if (is_creator(e->tag)) {
			dcm_value_str(e, own, sizeof(own));
			creator = own;
		} else if (DCM_ELEM(e->tag) >= 0x1000) {
			creator = creator_of(w, e);
		}
	}
	return deid_decide(w->job->profile, e->tag, e->vr, creator,
			   w->o->sop_class_uid[0] ? w->o->sop_class_uid : NULL, d);
}

/* fiona's own top-level attributes; the original's are dropped in walk_element. */
static const uint32_t own_tags[] = {
	DCM_TAG(0x0012, 0x0062), /* PatientIdentityRemoved */
	DCM_TAG(0x0012, 0x0063), /* DeidentificationMethod */
	DCM_TAG(0x0012, 0x0064), /* DeidentificationMethodCodeSequence */
	DCM_TAG(0x0028, 0x0301), /* BurnedInAnnotation: fiona's only once pixels are cleaned */
	DCM_TAG(0x0028, 0x0303), /* LongitudinalTemporalInformationModified */
};

static bool is_own_tag(const struct deid_walk *w, uint32_t tag)
{
	if (tag == own_tags[3])
		return w->job->pixels_cleaned;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(own_tags); i++)
		if (own_tags[i] == tag)
			return true;
	return false;
}

static int write_method_codes(struct deid_walk *w)
{
	struct deid_code codes[DEID_NOPT + 2];
	size_t n = deid_method_codes(w->job->profile, codes, CORE_ARRAY_SIZE(codes) - 1);
	int rc = dcm_write_seq_begin(&w->out, own_tags[2]);

	if (w->job->pixels_cleaned) /* the burned-in text check passed (anon/burn.c) */
		codes[n++] = (struct deid_code){"113101", "DCM", "Clean Pixel Data Option"};

	for (size_t i = 0; i < n && !rc; i++) {
		rc = dcm_write_item_begin(&w->out);
		rc = rc ? rc
			: dcm_write_str(&w->out, DCM_TAG(0x0008, 0x0100), DCM_VR('S', 'H'),
					codes[i].value);
		rc = rc ? rc
			: dcm_write_str(&w->out, DCM_TAG(0x0008, 0x0102), DCM_VR('S', 'H'),
					codes[i].scheme);
		rc = rc ? rc
			: dcm_write_str(&w->out, DCM_TAG(0x0008, 0x0104), DCM_VR('L', 'O'),
					codes[i].meaning);
		rc = rc ? rc : dcm_write_item_end(&w->out);
	}
	return rc ? rc : dcm_write_seq_end(&w->out);
}

static const char *temporal_state(const struct deid_job *j)
{
	unsigned opts = deid_profile_options(j->profile);

	if (opts & DEID_OPT_RETAIN_LONG_FULL_DATES)
		return "UNMODIFIED";
	if ((opts & DEID_OPT_RETAIN_LONG_MODIF_DATES) && j->date_offset_days != 0)
		return "MODIFIED";
	return "REMOVED";
}

static int write_own(struct deid_walk *w, unsigned which)
{
	char text[512];

	switch (which) {
	case 0:
		return dcm_write_str(&w->out, own_tags[0], DCM_VR('C', 'S'), "YES");
	case 1:
		snprintf(text, sizeof(text), "%s%s", deid_method_text(w->job->profile),
			 w->job->pixels_cleaned ? "\\Clean Pixel Data Option" : "");
		return dcm_write_str(&w->out, own_tags[1], DCM_VR('L', 'O'), text);
	case 2:
		return write_method_codes(w);
	case 3: /* NO only after the cleaned pixels were read again and found clean */
		return w->job->pixels_cleaned
			       ? dcm_write_str(&w->out, own_tags[3], DCM_VR('C', 'S'), "NO")
			       : 0;
	default:
		return dcm_write_str(&w->out, own_tags[4], DCM_VR('C', 'S'),
				     temporal_state(w->job));
	}
}

/* A profile "set" of a top-level attribute the instance lacks adds it (the original system
 * sets InstitutionName to the project whether or not the modality filled it in). */
static int write_profile_set(struct deid_walk *w, const struct deid_tag_rule *r)
{
	const struct deid_job *j = w->job;
	struct dcm_dict_info info;
	char v[1024];
	int rc;

	if (dcm_dict_lookup(r->tag, &info) || !deid_dummy_value(info.vr) ||
	    deid_template_expand(r->arg, j->project, w->participant, j->event, v, sizeof(v)))
		return 0; /* not a string attribute fiona can name: nothing to add */
	if (!annexe_find(r->tag))
		return 0; /* only attributes Annex E names: they live at the top level */
	rc = dcm_write_str(&w->out, r->tag, info.vr, v);
	return rc == -EINVAL ? 0 : rc; /* too long for the VR: left out, never truncated */
}

static const struct deid_tag_rule *next_set_rule(struct deid_walk *w)
{
	const struct deid_profile *p = w->job->profile;

	while (w->set_next < p->n_rules && p->rules[w->set_next].action != DEID_SET)
		w->set_next++;
	return w->set_next < p->n_rules ? &p->rules[w->set_next] : NULL;
}

int walk_insert_before(struct deid_walk *w, uint32_t tag)
{
	const struct deid_tag_rule *r;
	int rc = 0;

	for (;;) {
		uint32_t own = w->inserted < CORE_ARRAY_SIZE(own_tags) ? own_tags[w->inserted]
								       : UINT32_MAX;
		r = next_set_rule(w);
		if (r && r->tag < own && r->tag <= tag) {
			w->set_next++;
			if (r->tag < tag && (rc = write_profile_set(w, r)))
				return rc; /* equal: the instance has it, walk_element sets it */
			continue;
		}
		if (own >= tag)
			return 0;
		if ((rc = write_own(w, w->inserted++)))
			return rc;
	}
}

/* Byte size of the units a big endian value is swapped in (1: no swap): an AT is two
 * 16-bit numbers, everything else swaps by its value size. */
static size_t swap_unit(uint16_t vr)
{
	return vr == DCM_VR('A', 'T') ? 2 : dcm_vr_value_size(vr);
}

/* Writes an element with these value bytes; UN when its own VR cannot hold them. */
static int write_bytes(struct deid_walk *w, uint32_t tag, uint16_t vr, const uint8_t *v, size_t len)
{
	int rc = dcm_write_elem(&w->out, tag, vr, v, len);

	if (rc == -EINVAL)
		rc = dcm_write_elem(&w->out, tag, DCM_VR_UN, v, len);
	return rc;
}

int walk_keep(struct deid_walk *w, const struct dcm_elem *e)
{
	size_t unit = e->big_endian ? swap_unit(e->vr) : 1;
	uint8_t *sw;
	int rc;

	if (w->ranges_ok && e->length >= RANGE_MIN && !(e->length & 1)) {
		uint16_t vr =
			dcm_vr_has_long_length(e->vr) || e->length <= 0xFFFF ? e->vr : DCM_VR_UN;
		rc = dcm_write_header(&w->out, e->tag, vr, e->length);
		return rc ? rc : walk_add_range(w, e->value_offset, e->length);
	}
	if (unit == 1 || e->length % unit)
		return write_bytes(w, e->tag, e->vr, e->value, e->length);
	sw = malloc(e->length ? e->length : 1);
	if (!sw)
		return -ENOMEM;
	for (size_t i = 0; i < e->length; i += unit)
		for (size_t k = 0; k < unit; k++)
			sw[i + k] = e->value[i + unit - 1 - k];
	rc = write_bytes(w, e->tag, e->vr, sw, e->length);
	free(sw);
	return rc;
}

/* Under Retain UIDs the instance keeps its UIDs: the outcome reports them all the same. */
static void note_kept_uid(struct deid_walk *w, const struct dcm_elem *e)
{
	char *dst = e->tag == DCM_TAG(0x0008, 0x0018)	? w->o->sop_uid
		    : e->tag == DCM_TAG(0x0020, 0x000D) ? w->o->study_uid
		    : e->tag == DCM_TAG(0x0020, 0x000E) ? w->o->series_uid
							: NULL;
	if (dst)
		dcm_value_str(e, dst, 65);
}

int walk_element(struct deid_walk *w, const struct dcm_elem *e)
{
	struct deid_decision d;
	int rc;

	if (e->depth == 0 && is_own_tag(w, e->tag))
		return 0;
	if ((rc = decide(w, e, &d)))
		return rc;
	if (d.action == DEID_REMOVE) {
		w->o->removed++;
		return 0;
	}
	if (is_creator(e->tag)) {
		char name[65];

		dcm_value_str(e, name, sizeof(name));
		creator_remember(w, e, name);
	}
	if (d.post != DEID_POST_NONE && walk_post_applies(e->vr) && d.action != DEID_EMPTY) {
		w->post = d.post; /* a rewrite or normalize rule: of the value written now */
		w->o->replaced++;
		rc = d.action == DEID_KEEP ? walk_keep_text(w, e) : walk_value_write(w, e, &d);
		w->post = DEID_POST_NONE;
		return rc;
	}
	if (d.action == DEID_KEEP) {
		if (e->depth == 0)
			note_kept_uid(w, e);
		return walk_keep(w, e);
	}
	w->o->replaced++;
	return walk_value_write(w, e, &d);
}

int walk_seq_begin(struct deid_walk *w, const struct dcm_elem *e)
{
	struct deid_decision d;
	int rc;

	if (e->depth == 0 && is_own_tag(w, e->tag)) {
		w->skip_depth = e->depth;
		return 0;
	}
	if ((rc = decide(w, e, &d)))
		return rc;
	if (d.action == DEID_REMOVE) {
		w->o->removed++;
		w->skip_depth = e->depth;
		return 0;
	}
	if (e->kind == DCM_PIXEL_BEGIN) {
		w->frags_from = UINT64_MAX;
		return dcm_write_header(&w->out, e->tag, DCM_VR('O', 'B'), DCM_UNDEFINED_LENGTH);
	}
	rc = dcm_write_seq_begin(&w->out, e->tag);
	if (!rc && d.action == DEID_EMPTY) {
		w->o->replaced++;
		w->skip_depth = e->depth;
		rc = dcm_write_seq_end(&w->out);
	}
	return rc;
}

int walk_fragment(struct deid_walk *w, const struct dcm_elem *e)
{
	int rc;

	if (w->ranges_ok) {
		if (w->frags_from == UINT64_MAX)
			w->frags_from = e->offset;
		return 0;
	}
	rc = buf_append_le16(&w->out, 0xFFFE);
	rc = rc ? rc : buf_append_le16(&w->out, 0xE000);
	rc = rc ? rc : buf_append_le32(&w->out, e->length);
	return rc ? rc : buf_append(&w->out, e->value, e->length);
}

int walk_pixel_end(struct deid_walk *w, const struct dcm_elem *e)
{
	if (w->ranges_ok && w->frags_from != UINT64_MAX) {
		int rc = walk_add_range(w, w->frags_from, e->offset - w->frags_from);

		w->frags_from = UINT64_MAX;
		if (rc)
			return rc;
	}
	return dcm_write_seq_end(&w->out);
}
