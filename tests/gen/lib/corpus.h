/*
 * corpus: the pieces of the synthetic corpus generator (tests/gen/gen_corpus.c).
 * Everything is derived from one seeded PRNG, so a seed gives the same bytes every run.
 * All people, places and numbers are invented; nothing comes from real patients.
 */
#ifndef FIONA_GEN_CORPUS_H
#define FIONA_GEN_CORPUS_H

#include <stdint.h>
#include <stdio.h>

#include "tests/gen/lib/dcmenc.h"

/* splitmix64: small, fast, and good enough for test data. */
struct rng {
	uint64_t s;
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
unsigned rng_below(struct rng *r, unsigned n); /* uniform in [0, n) */

/*
 * The manifest of planted identifying strings: each distinct (category, string) once,
 * written as "category<TAB>string" lines. Strings shorter than 4 bytes are not listed.
 */
struct manifest {
	FILE *fp;    /* borrowed */
	char **keys; /* owned hash set of "category\tstring" */
	size_t cap, n;
};
int manifest_init(struct manifest *m, FILE *fp);
void manifest_release(struct manifest *m);
int manifest_add(struct manifest *m, const char *category, const char *s);

struct patient {
	char family[32], given[24], middle[2];
	char name[80];	/* DICOM PN "Family^Given^M" */
	char plain[80]; /* "Given Family" as in free text */
	char birth_name[80];
	char mother_name[80];
	char id[16];	   /* 11-digit national-number style */
	char other_id[24]; /* "MRN-" + 7 digits */
	char birth[9], sex[2], age[5];
	char address[96], phone[32];
	char history[256];
	char comments[256];
};

struct study {
	char uid[65], prior_uid[65], pps_uid[65];
	char date[9], time[7];
	char accession[17], study_id[17], rp_id[17], sps_id[17], pps_id[17];
	char description[64];
	char referring[64], requesting[64], performing[64], reader[64], operator_[64];
	char referring_phone[32];
	char institution[64], inst_address[96], department[64];
	char station[17], serial[24];
	char comment[200];
	char site_ref[24]; /* private-only string */
	char modality[3];
};

struct series {
	char uid[65], for_uid[65];
	unsigned number;
	char description[64], protocol[64];
	char date[9], time[7];
};

struct corpus_ctx {
	struct rng rng;
	uint64_t seed;
	unsigned uid_seq;
	struct manifest man;
};

/* A new UID under fiona's test root, fixed width so no UID is a prefix of another. */
void corpus_uid(struct corpus_ctx *c, char out[65]);
/* Generates a patient and plants its strings in the manifest. 0 or -errno. */
int corpus_patient_make(struct corpus_ctx *c, unsigned index, struct patient *p);
/* Generates a study of modality mod ("MR", "CT") for p and plants its strings. */
int corpus_study_make(struct corpus_ctx *c, const struct patient *p, const char *mod,
		      struct study *st);
/* A series minutes after the study start; with_for: it has a frame of reference. */
int corpus_series_make(struct corpus_ctx *c, const struct study *st, unsigned number,
		       const char *description, unsigned minutes, int with_for, struct series *se);

/* The header modules every image carries: SOP common, patient, study, series, equipment,
 * request attributes, private site block. Per-modality code adds the rest. */
int corpus_ds_common(struct enc_ds *ds, const struct patient *p, const struct study *st,
		     const struct series *se, const char *sop_class, const char *sop_uid,
		     unsigned instance);

/* ---- writing a corpus ------------------------------------------------------------- */

struct corpus_preset {
	const char *name;
	unsigned patients;
	unsigned mr_series; /* of T1, T2, DWI, FLAIR */
	unsigned mr_slices;
	unsigned ct_slices;
	unsigned ct_rle_slices;
	unsigned emr_frames;
	unsigned mix; /* in each run of mix CT slices: one big endian, one deflated, one implicit */
};

struct corpus_gen {
	struct corpus_ctx c;
	const struct corpus_preset *pr;
	const char *out; /* borrowed: output directory */
	FILE *index;	 /* owned: DIR/index.tsv */
	size_t files, bytes;
	uint16_t *pix; /* owned: room for emr_frames 512x512 16-bit frames (at least 4) */
	uint8_t *pix8; /* owned: one 640x480 8-bit page */
	struct buf rle;
	uint32_t noise; /* xorshift state for pixel noise */
};

/* What one image file needs besides its dataset: where it goes and how it is encoded. */
struct corpus_image {
	const struct patient *p;
	const struct study *st;
	const struct series *se;
	const char *dir; /* relative to the output directory */
	const char *sop_class;
	unsigned number;
	struct enc_opts opts;
	int burned_in;
};

uint32_t corpus_noise(struct corpus_gen *g);
/* Creates DIR/Pnn/STsi_MOD/SEnn_NAME and puts its relative path in dir. 0 or -errno. */
int corpus_series_dir(struct corpus_gen *g, char *dir, size_t cap, unsigned pi, unsigned si,
		      const char *mod, const struct series *se, const char *name);
/* ImageComments naming the patient; the text is planted in the manifest. */
int corpus_ds_comment(struct corpus_gen *g, struct enc_ds *ds, const struct corpus_image *im);
/* Writes DIR/<im->dir>/<number>.dcm and its index line. 0 or -errno. */
int corpus_image_write(struct corpus_gen *g, const struct corpus_image *im, struct enc_ds *ds,
		       const char *sop_uid);
/* The secondary-capture dose pages (burned-in text) of a CT study. */
int corpus_sc_series_write(struct corpus_gen *g, const struct patient *p, const struct study *st,
			   unsigned pi);
/* An enhanced MR multi-frame image with functional groups, in its own study. */
int corpus_emr_series_write(struct corpus_gen *g, const struct patient *p, const struct study *st,
			    unsigned pi);

#endif
