/* Unit tests for the de-identification engine (anon/deid*.c) on an instance built with the
 * writer: what each kind of attribute becomes, that pixel data is a range of the original
 * (not a copy), and that the plan's size and random byte ranges equal the materialized
 * file. The corpus-wide promises (no leak, dciodvfy, determinism) are in e2e/20. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "anon/anon.h"

#define PIXELS 8192

static struct deid_secret key(void)
{
	struct deid_secret s = {.len = 32};

	for (size_t i = 0; i < s.len; i++)
		s.key[i] = (uint8_t)(i * 7 + 1);
	return s;
}

/* An MR instance with the kinds of attributes the engine treats differently. */
static int build_instance(struct buf *b)
{
	static const struct dcm_meta m = {"1.2.840.10008.5.1.4.1.1.4", "1.2.3.4.5.6.7.8",
					  "1.2.840.10008.1.2.1"};
	uint8_t px[PIXELS];
	int rc = dcm_write_part10_header(b, &m);

	for (size_t i = 0; i < sizeof(px); i++)
		px[i] = (uint8_t)(i * 31 + 7);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0016), DCM_VR('U', 'I'), m.sop_class_uid);
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x0018), DCM_VR('U', 'I'), m.sop_instance_uid);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0020), DCM_VR('D', 'A'), "20230501");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0030), DCM_VR('T', 'M'), "073537");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0050), DCM_VR('S', 'H'), "A235431555");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0008, 0x0060), DCM_VR('C', 'S'), "MR");
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x1030), DCM_VR('L', 'O'), "Brain MR for Doe");
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x103E), DCM_VR('L', 'O'), "T1 for Doe 1234567");
	rc = rc ? rc
		: dcm_write_seq_begin(b, DCM_TAG(0x0008, 0x1140)); /* ReferencedImageSequence */
	rc = rc ? rc : dcm_write_item_begin(b);
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0008, 0x1155), DCM_VR('U', 'I'), "1.2.3.4.5.6.7.9");
	rc = rc ? rc : dcm_write_item_end(b);
	rc = rc ? rc : dcm_write_seq_end(b);
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0010), DCM_VR('P', 'N'), "Doe^Jane");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0020), DCM_VR('L', 'O'), "MRN-0042");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0010, 0x0030), DCM_VR('D', 'A'), "19760727");
	/* free text about the patient naming what no header holds: cleaning would keep it */
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0010, 0x21B0), DCM_VR('L', 'T'),
				"Headaches since the fall at Fjordvik harbour");
	rc = rc ? rc
		: dcm_write_str(b, DCM_TAG(0x0010, 0x4000), DCM_VR('L', 'T'),
				"Lives with her son Peter, ask for him");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0018, 0x1030), DCM_VR('L', 'O'), "t1_mprage Doe");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000D), DCM_VR('U', 'I'), "1.2.3.4.1");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0020, 0x000E), DCM_VR('U', 'I'), "1.2.3.4.2");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0029, 0x0010), DCM_VR('L', 'O'), "ACME 1.0");
	rc = rc ? rc : dcm_write_str(b, DCM_TAG(0x0029, 0x1001), DCM_VR('L', 'O'), "Doe secret");
	return rc ? rc : dcm_write_elem(b, DCM_TAG_PIXEL_DATA, DCM_VR('O', 'W'), px, sizeof(px));
}

struct fixture {
	char src_path[64], out_path[64];
	int src_fd, out_fd;
	struct buf in, out;
	struct deid_profile *prof;
	struct deid_secret secret;
	struct deid_job job;
	struct deid_plan *plan;
	struct deid_outcome o;
};

static int fixture_setup(struct fixture *f)
{
	struct fiona_err err = {0};
	struct core_map m;
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->src_path, sizeof(f->src_path), "/tmp/t_deid_src_XXXXXX");
	snprintf(f->out_path, sizeof(f->out_path), "/tmp/t_deid_out_XXXXXX");
	buf_init(&f->in, 1u << 20);
	buf_init(&f->out, 1u << 20);
	f->secret = key();
	f->src_fd = mkstemp(f->src_path);
	f->out_fd = mkstemp(f->out_path);
	if (f->src_fd < 0 || f->out_fd < 0 || build_instance(&f->in) ||
	    core_write_all(f->src_fd, f->in.data, f->in.len) || deid_profile_new_default(&f->prof))
		return -1;
	rc = deid_job_init(&f->job, f->prof, &f->secret, "PROJ01", "PROJ01-0001", "baseline");
	rc = rc ? rc : deid_instance_plan(&f->job, f->in.data, f->in.len, &f->plan, &f->o, &err);
	rc = rc ? rc : deid_plan_materialize(f->plan, f->src_fd, f->out_fd);
	rc = rc ? rc : core_map_file(f->out_path, &m);
	if (rc)
		return rc;
	rc = buf_append(&f->out, m.p, m.len);
	core_map_release(&m);
	return rc;
}

static void fixture_teardown(struct fixture *f)
{
	deid_plan_free(f->plan);
	deid_profile_free(f->prof);
	buf_release(&f->in);
	buf_release(&f->out);
	if (f->src_fd >= 0)
		close(f->src_fd), unlink(f->src_path);
	if (f->out_fd >= 0)
		close(f->out_fd), unlink(f->out_path);
}

/* The string value of tag at depth (first match) in the output, "" if absent. */
static int value_of(const struct buf *b, uint32_t tag, int depth, char *out, size_t cap)
{
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	struct fiona_err err;
	int rc, found = 0;

	out[0] = '\0';
	if (dcm_reader_new(b->data, b->len, &r, &err))
		return -1;
	while (!found && (rc = dcm_reader_next(r, &e)) == 1)
		if (e.kind == DCM_ELEMENT && e.tag == tag && e.depth == depth) {
			dcm_value_str(&e, out, cap);
			found = 1;
		}
	dcm_reader_free(r);
	return found ? 0 : -ENOENT;
}

static bool has_odd_group(const struct buf *b)
{
	struct dcm_reader *r = NULL;
	struct dcm_elem e;
	struct fiona_err err;
	bool odd = false;

	if (dcm_reader_new(b->data, b->len, &r, &err))
		return true;
	while (dcm_reader_next(r, &e) == 1)
		odd |= (DCM_GROUP(e.tag) & 1) && DCM_GROUP(e.tag) != 0xFFFF;
	dcm_reader_free(r);
	return odd;
}

static void test_values(struct tt *t)
{
	struct fixture f;
	char v[256], want[65];

	TT_CHECK(t, fixture_setup(&f) == 0);
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0010, 0x0010), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, "PROJ01-0001"));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0010, 0x0020), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, "PROJ01-0001"));
	TT_CHECK(t, !strcmp(f.o.old_patient_id, "MRN-0042"));
	TT_CHECK(t, deid_uid_derive(&f.secret, "PROJ01", "1.2.3.4.5.6.7.8", want) == 0);
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0008, 0x0018), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, want));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0002, 0x0003), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, want));
	TT_CHECK(t, !strcmp(f.o.sop_uid, want));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0008, 0x0020), 0, v, sizeof(v)) == 0);
	TT_CHECK(t, deid_date_shift("20230501", DCM_VR('D', 'A'), f.job.date_offset_days, want,
				    sizeof(want)) == 0 &&
			    !strcmp(v, want) && strcmp(v, "20230501"));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0008, 0x0030), 0, v, sizeof(v)) == 0 &&
			    strlen(v) == 6 && strcmp(v, "073537"));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0008, 0x0050), 0, v, sizeof(v)) == 0 &&
			    strlen(v) == 16 && !strstr(v, "A2354"));
	/* Clean Descriptors: the patient's own words and long digit runs go, the rest stays. */
	TT_CHECK_MSG(t,
		     value_of(&f.out, DCM_TAG(0x0008, 0x103E), 0, v, sizeof(v)) == 0 &&
			     !strcmp(v, "T1 for"),
		     "SeriesDescription [%s]", v);
	TT_CHECK_MSG(t,
		     value_of(&f.out, DCM_TAG(0x0008, 0x1030), 0, v, sizeof(v)) == 0 &&
			     !strcmp(v, "Brain MR for"),
		     "StudyDescription [%s]", v);
	TT_CHECK_MSG(t,
		     value_of(&f.out, DCM_TAG(0x0018, 0x1030), 0, v, sizeof(v)) == 0 &&
			     !strcmp(v, "t1_mprage"),
		     "ProtocolName [%s]", v);
	/* ... but free text about the patient goes, even with Clean Descriptors on */
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0010, 0x4000), 0, v, sizeof(v)) == -ENOENT);
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0010, 0x21B0), 0, v, sizeof(v)) == -ENOENT);
	TT_CHECK(t, !memmem(f.out.data, f.out.len, "Peter", 5));
	TT_CHECK(t, !memmem(f.out.data, f.out.len, "Fjordvik", 8));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0010, 0x0030), 0, v, sizeof(v)) != 0 || !v[0]);
	TT_CHECK(t, !has_odd_group(&f.out));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0012, 0x0062), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, "YES"));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0028, 0x0303), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, "MODIFIED"));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0008, 0x0080), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, "PROJ01"));
	TT_CHECK(t, value_of(&f.out, DCM_TAG(0x0008, 0x0090), 0, v, sizeof(v)) == 0 &&
			    !strcmp(v, "EventName:baseline"));
	TT_CHECK(t, !memmem(f.out.data, f.out.len, "Doe", 3));
	fixture_teardown(&f);
}

static void test_plan_ranges(struct tt *t)
{
	struct fixture f;
	uint64_t s = 7, size;
	uint8_t got[4096];

	TT_CHECK(t, fixture_setup(&f) == 0);
	size = deid_plan_size(f.plan);
	TT_CHECK(t, size == f.out.len);
	/* pixel data is served from the original, not copied into the plan */
	TT_CHECK(t, deid_plan_copied_bytes(f.plan) >= PIXELS);
	TT_CHECK(t,
		 !memcmp(f.out.data + f.out.len - PIXELS, f.in.data + f.in.len - PIXELS, PIXELS));
	for (int i = 0; i < 500; i++) {
		uint64_t off, len;
		ssize_t n;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		off = s % (size + 10);
		len = (s >> 20) % sizeof(got);
		n = deid_plan_read(f.plan, f.src_fd, off, got, len);
		TT_CHECK(t, n >= 0);
		TT_CHECK(t, (uint64_t)n == (off >= size ? 0 : len < size - off ? len : size - off));
		TT_CHECK(t, n == 0 || !memcmp(got, f.out.data + off, (size_t)n));
	}
	fixture_teardown(&f);
}

static void test_bad_input(struct tt *t)
{
	struct fixture f;
	struct deid_plan *p = NULL;
	struct deid_outcome o;
	struct fiona_err err = {0};

	TT_CHECK(t, fixture_setup(&f) == 0);
	/* cut inside the private element: the error names an offset, no plan is made */
	TT_CHECK(t,
		 deid_instance_plan(&f.job, f.in.data, f.in.len - PIXELS - 20, &p, &o, &err) < 0);
	TT_CHECK(t, p == NULL && err.reason[0] && err.offset > 0);
	fixture_teardown(&f);
}

TT_MAIN(TT_CASE(test_values), TT_CASE(test_plan_ranges), TT_CASE(test_bad_input))
