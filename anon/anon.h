/*
 * anon: DICOM parsing, writing and de-identification.
 *
 * The reader walks untrusted bytes without copying them: every element is reported with
 * its tag, VR, length and byte offset, and a borrowed pointer to its value. Later code
 * (de-identification plans, the mount) copies value bytes by offset from the original.
 *
 * Thread safety: a reader is used by one thread at a time; the dictionary is read-only.
 */
#ifndef FIONA_ANON_H
#define FIONA_ANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"

/* ---- tags and VRs ----------------------------------------------------------------- */

#define DCM_TAG(g, e)	     (((uint32_t)(g) << 16) | (uint32_t)(e))
#define DCM_GROUP(t)	     ((uint16_t)((t) >> 16))
#define DCM_ELEM(t)	     ((uint16_t)((t)&0xffffu))
#define DCM_TAG_ITEM	     DCM_TAG(0xFFFE, 0xE000)
#define DCM_TAG_ITEM_DELIM   DCM_TAG(0xFFFE, 0xE00D)
#define DCM_TAG_SEQ_DELIM    DCM_TAG(0xFFFE, 0xE0DD)
#define DCM_TAG_PIXEL_DATA   DCM_TAG(0x7FE0, 0x0010)
#define DCM_UNDEFINED_LENGTH 0xFFFFFFFFu

/* A VR is its two ASCII letters packed big-endian: DCM_VR('P','N'). 0 = none (items). */
#define DCM_VR(a, b) ((uint16_t)(((unsigned)(a) << 8) | (unsigned)(b)))
#define DCM_VR_UN    DCM_VR('U', 'N')
#define DCM_VR_SQ    DCM_VR('S', 'Q')

/* True for VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length. */
bool dcm_vr_has_long_length(uint16_t vr);
/* True if the two bytes are a VR the standard defines. */
bool dcm_vr_is_known(uint16_t vr);
/* Size of one value for fixed-size binary VRs (US 2, UL 4, FD 8, AT 4, ...), 1 for
 * everything else. */
size_t dcm_vr_value_size(uint16_t vr);
/* Writes the two letters and a NUL into out[3]; returns out. */
const char *dcm_vr_str(uint16_t vr, char out[3]);

/* ---- dictionary (generated from dcmtk's dicom.dic at build time) ------------------- */

struct dcm_dict_info {
	uint16_t vr;	     /* VR an implicit-VR reader assumes; 0 for item tags */
	const char *keyword; /* static string, e.g. "PatientName" */
	const char *vm;	     /* static string, e.g. "1-n" */
};

/* Looks up a public tag, repeating-group ranges included. Returns 0 and fills info,
 * or -ENOENT (private tags, unknown tags). */
int dcm_dict_lookup(uint32_t tag, struct dcm_dict_info *info);
/* Looks up a keyword. Returns 0 and fills tag (and info if not NULL), or -ENOENT. */
int dcm_dict_find_keyword(const char *keyword, uint32_t *tag, struct dcm_dict_info *info);

/* ---- reader ----------------------------------------------------------------------- */

/* Transfer syntax properties the reader and writer need. */
struct dcm_ts {
	char uid[65];
	bool explicit_vr;
	bool big_endian;
	bool deflated;
	bool encapsulated; /* pixel data is a sequence of fragments */
};

enum dcm_kind {
	DCM_ELEMENT,	/* a value element (possibly empty); value/length describe it */
	DCM_SEQ_BEGIN,	/* SQ, or UN / private element of undefined length holding items */
	DCM_SEQ_END,	/* matching end (delimiter or end of defined length) */
	DCM_ITEM_BEGIN, /* (FFFE,E000) inside a sequence */
	DCM_ITEM_END,
	DCM_PIXEL_BEGIN, /* encapsulated (7FE0,0010) of undefined length */
	DCM_FRAGMENT,	 /* one item of encapsulated pixel data: basic offset table first */
	DCM_PIXEL_END,
};

struct dcm_elem {
	enum dcm_kind kind;
	uint32_t tag;	       /* item events carry the item/delimiter tag */
	uint16_t vr;	       /* explicit: as encoded; implicit: dictionary VR, else UN */
	uint32_t length;       /* value length as encoded, DCM_UNDEFINED_LENGTH if undefined */
	uint64_t offset;       /* offset of the element's first header byte */
	uint64_t value_offset; /* offset of the first value byte */
	const uint8_t *value;  /* borrowed: points into the reader's input, valid until
				* dcm_reader_free(); NULL for begin/end events */
	int depth;	       /* nesting depth of sequences; 0 = top-level dataset */
	bool in_meta;	       /* part of the group-0002 file meta information */
	bool big_endian;       /* value bytes are big endian (explicit VR big endian) */
};

/*
 * Offsets are byte offsets into the buffer given to dcm_reader_new(), except for the
 * dataset of a deflated transfer syntax: it is inflated into a reader-owned buffer and
 * its offsets count from the start of that inflated stream (dcm_reader_inflated()).
 */
struct dcm_reader;

#define DCM_READ_MAX_DEPTH    32	   /* nesting bound for sequences */
#define DCM_READ_MAX_INFLATED (4ULL << 30) /* cap for deflated datasets */

/*
 * Opens a reader over n bytes at p (borrowed: keep them mapped until dcm_reader_free()).
 * Accepts Part-10 files (128-byte preamble, "DICM", group 0002) and bare datasets (the
 * transfer syntax is then detected: implicit or explicit VR little endian).
 * Returns 0 and a new reader in *out (free with dcm_reader_free()), or a negative errno
 * with err filled (offset, tag, reason).
 */
int dcm_reader_new(const uint8_t *p, size_t n, struct dcm_reader **out, struct fiona_err *err);
void dcm_reader_free(struct dcm_reader *r);
/* Starts over at the first element (meta header first); a deflated dataset is not
 * inflated again. Errors of the previous pass are forgotten. */
void dcm_reader_rewind(struct dcm_reader *r);

/*
 * Reports the next element or event in file order, meta header first.
 * Returns 1 with *e filled, 0 at the end of the dataset, or a negative errno with the
 * error (offset, tag, reason) available from dcm_reader_error(). After an error, further
 * calls return the same error.
 */
int dcm_reader_next(struct dcm_reader *r, struct dcm_elem *e);
const struct fiona_err *dcm_reader_error(const struct dcm_reader *r);

/* Borrowed; valid until dcm_reader_free(). Set by dcm_reader_new(). */
const struct dcm_ts *dcm_reader_ts(const struct dcm_reader *r);
/* True if the input had a Part-10 preamble and meta header. */
bool dcm_reader_has_meta(const struct dcm_reader *r);
/* Non-NULL if the dataset was inflated: the inflated bytes and their length. Borrowed. */
const uint8_t *dcm_reader_inflated(const struct dcm_reader *r, size_t *len);
/* Offset of the first dataset byte (after the meta header). */
uint64_t dcm_reader_dataset_offset(const struct dcm_reader *r);

/* ---- values ----------------------------------------------------------------------- */

/* Copies a string value into out (NUL-terminated), trailing spaces and NULs trimmed,
 * truncated to cap-1. Returns the trimmed length before truncation. */
size_t dcm_value_str(const struct dcm_elem *e, char *out, size_t cap);
/* Reads the first US/UL/SS/SL/IS value of e. 0 or -EINVAL. */
int dcm_value_u32(const struct dcm_elem *e, uint32_t *out);

/*
 * The attributes fiona catalogs, read from the top level of one instance.
 * Strings are empty when absent; numbers -1 when absent. Values are identifying:
 * never log them.
 */
struct dcm_summary {
	char patient_id[65], patient_name[325], patient_birth_date[17];
	char study_uid[65], series_uid[65], sop_uid[65], sop_class_uid[65];
	char transfer_syntax[65];
	char study_date[17], study_time[17], accession[17], study_description[65];
	char modality[17], series_description[65], institution[65];
	char series_date[17], series_time[17], sequence_name[65]; /* REDCap's series rows */
	char calling_aet[17]; /* not read from the file: filled by the receiver */
	long series_number, instance_number;
	bool burned_in_annotation; /* BurnedInAnnotation == "YES" */
	uint32_t rows, columns, frames;
};

/* Scans one instance's top-level attributes. 0 or negative errno with err filled. */
int dcm_summary_read(const uint8_t *p, size_t n, struct dcm_summary *s, struct fiona_err *err);

/* ---- review: the attributes de-identified files carry (anon/review.c, review_walk.c) ---- */
/*
 * A summary of the attributes of a set of files: per attribute path (nested ones with the
 * path of their sequences; private ones by creator) and VR, the number of files it is in,
 * the hashes of its distinct values (at most hash_cap kept; past it the count is a lower
 * bound) and up to REVIEW_EXAMPLES example values, escaped as docs/review.md says. A study's
 * summary is saved into the catalog; a project's is merged from them and written as TSV.
 * Not thread safe; examples are de-identified values from the files given, never others.
 */
#define REVIEW_EXAMPLES	    3
#define REVIEW_STUDY_HASHES 4096u   /* hashes per attribute kept in a study's summary */
#define REVIEW_MERGE_HASHES 262144u /* ... in a project's merged summary */
#define REVIEW_HEAD_MAX	    ((uint64_t)64 << 20) /* bytes read before the pixel data */
#define REVIEW_TAIL_MAX	    ((uint64_t)16 << 20) /* bytes read after it */
struct review_sum;
/* Returns 0 and a new, empty summary (free with review_sum_free()) or -ENOMEM. */
int review_sum_new(size_t hash_cap, struct review_sum **out);
void review_sum_free(struct review_sum *s);
/* Attributes in the summary. */
size_t review_sum_count(const struct review_sum *s);
/* Adds the attributes of one DICOM file held whole in memory (n bytes at p). 0, or the
 * reader's error in err (the file then counts for nothing), -ENOMEM. */
int review_sum_add(struct review_sum *s, const uint8_t *p, size_t n, struct fiona_err *err);
/* Reads len bytes of the file at off into dst: the count (len, or fewer at its end) or
 * -errno. */
typedef ssize_t (*review_read_fn)(void *opaque, uint64_t off, void *dst, size_t len);
/* review_sum_add of a file of size bytes read through fn: only its header, the element
 * headers of its pixel data and what follows the pixel data are read, never the pixels.
 * 0, -errno with err (a header past REVIEW_HEAD_MAX is -EFBIG). */
int review_sum_add_file(struct review_sum *s, uint64_t size, review_read_fn fn, void *opaque,
			struct fiona_err *err);
/* Appends the summary's bytes to out (0, -ENOMEM, -E2BIG). */
int review_sum_save(const struct review_sum *s, struct buf *out);
/* Merges a saved summary (n untrusted bytes at b) into s: counts add up, value hashes and
 * examples are united. 0, or -EINVAL (s unchanged) for bytes that are not a summary. */
int review_sum_merge(struct review_sum *s, const uint8_t *b, size_t n);
/* Appends the TSV (a header line, then one row per attribute sorted by path). */
int review_sum_text(const struct review_sum *s, struct buf *out);
/* Writes n bytes escaped for one TSV field into out (NUL-terminated; at most cap-1 bytes,
 * cut at a whole escape): backslash as \\, tab \t, newline \n, CR \r, other bytes below
 * 0x20 or from 0x7F as \xHH. Returns the bytes written. */
size_t review_escape(const uint8_t *p, size_t n, char *out, size_t cap);

/* ---- pixels: native frames for burned-in text removal (anon/pixel.c) ---------------- */

enum pix_pi { PIX_MONO1, PIX_MONO2, PIX_RGB, PIX_YBR_FULL, PIX_YBR_422, PIX_PALETTE };
/*
 * An instance's image. data holds frames native frames of pix_frame_size() bytes each,
 * little endian, in the instance's own layout (planar configuration kept); NULL for an
 * encapsulated transfer syntax, which a codec decodes. Owned; release with
 * pix_image_release().
 */
struct pix_image {
	uint16_t rows, cols, spp, bits_alloc, bits_stored, planar;
	bool is_signed, encapsulated;
	enum pix_pi pi;
	long frames;
	uint32_t pal_entries; /* PALETTE COLOR: descriptor and little-endian channel data */
	int32_t pal_first;
	uint16_t pal_bits;
	uint8_t *pal[3];
	size_t pal_len[3];
	uint8_t *data;
	size_t data_len;
	uint64_t data_offset; /* native: where the pixel data's value starts in the input */
	bool big_endian;      /* native: the input's pixel data is big endian */
	/* compressed input: the instance decoded (dcmtk; OpenJPEG for JPEG 2000) to explicit
	 * VR little endian with native pixel data (owned); data_offset then counts in it */
	uint8_t *decoded;
	size_t decoded_len;
};
/* Reads the image of one instance (n bytes at p); compressed pixel data (JPEG, JPEG-LS,
 * RLE, JPEG 2000) is decoded first (decoded). 0, or -ENOTSUP for an image kind fiona cannot clean
 * (1- or 32-bit, float, unknown photometric interpretation, 2 or 4 samples, a transfer
 * syntax without a decoder), -EINVAL / -ENOENT / -EIO with err naming the tag and reason. */
int pix_image_read(const uint8_t *p, size_t n, struct pix_image *im, struct fiona_err *err);
void pix_image_release(struct pix_image *im);
size_t pix_frame_size(const struct pix_image *im);
/* Renders a frame to rows x cols bytes of 8-bit luminance (what OCR reads). */
int pix_frame_gray8(const struct pix_image *im, const uint8_t *frame, uint8_t *out);
/* Blanks the rectangle (clipped to the image) with the image's own black. */
void pix_fill_rect(const struct pix_image *im, uint8_t *frame, int x, int y, int w, int h);

/* ---- OCR of text lines (anon/ocr.c, tesseract) -------------------------------------- */
struct ocr_engine; /* one per thread: not thread safe, reused across images */
/* Returns a new engine (free with ocr_engine_free()); -ENOENT when the model is missing. */
int ocr_engine_new(struct ocr_engine **out, struct fiona_err *err);
void ocr_engine_free(struct ocr_engine *e);
struct ocr_line {
	int x0, y0, x1, y1; /* box in the image given (not the upscaled one) */
	char text[512];	    /* identifying: never log */
};
struct ocr_lines {
	struct ocr_line *v;
	size_t n, cap;
};
/* Appends the text lines of a w x h 8-bit image read at scale (1, or 2 for small text)
 * to out. 0, -EIO (tesseract failed), -ENOMEM. */
int ocr_read(struct ocr_engine *e, const uint8_t *gray, int w, int h, int scale,
	     struct ocr_lines *out);
void ocr_lines_release(struct ocr_lines *l);

/* ---- burned-in text (anon/burn.c) ------------------------------------------------- */
/* The instance's own identifying header values, normalized for matching OCR text.
 * Identifying: never log. Release with burn_terms_release(). */
struct burn_terms {
	char (*v)[72];
	size_t n, cap;
};
int burn_terms_read(const uint8_t *p, size_t n, struct burn_terms *t, struct fiona_err *err);
void burn_terms_release(struct burn_terms *t);
/* True if an OCR line is to be removed: it holds a header value (approximately), a date,
 * an identity number, a long digit run or an accession-like token; with all_text, any
 * line of two or more letters or digits. */
bool burn_line_identifying(const struct burn_terms *t, const char *text, bool all_text);
struct burn_report {
	long frames; /* distinct frames read */
	long lines;  /* text lines removed */
};
/* Cleans every frame of im in place — the regions (may be NULL: device rules) always, then
 * what OCR finds — and checks the result by reading it again. 0, -EAGAIN when identifying
 * text is still read after widening (the caller holds the instance), -EIO when OCR
 * failed. */
int burn_clean(struct ocr_engine *e, struct pix_image *im, const struct burn_terms *t,
	       bool all_text, const struct ocr_lines *regions, struct burn_report *rep);

struct burn_rules;
/* Cleans the pixels of an instance (n bytes at p) and checks them: *out gets a new copy of
 * the instance (free()) with the cleaned pixel data, explicit VR little endian when the
 * input was compressed; the header is unchanged (de-identification comes next, with
 * deid_job.pixels_cleaned). rules (may be NULL) adds device regions. 0, or a negative
 * errno with err saying why the instance must be held (-EAGAIN: text still read;
 * -ENOTSUP: a kind or transfer syntax fiona cannot read; -EIO: OCR failed). */
int burn_clean_instance(struct ocr_engine *e, const struct burn_rules *rules, bool all_text,
			const uint8_t *p, size_t n, uint8_t **out, size_t *out_len,
			struct burn_report *rep, struct fiona_err *err);

/* Per-device rectangles that always hold text (anon/burn_rules.c; docs/burn.md). */
/* Returns new rules (free with burn_rules_free()); -EINVAL with err naming the rule index
 * and key, or the line and column of a JSON error. */
int burn_rules_parse(const char *json, size_t n, struct burn_rules **out, struct fiona_err *err);
int burn_rules_load(const char *path, struct burn_rules **out, struct fiona_err *err);
void burn_rules_free(struct burn_rules *r);
/* Appends the rectangles of every rule the instance (n bytes at p, rows x cols) matches
 * to out. 0, or the reader's error. */
int burn_rules_regions(const struct burn_rules *r, const uint8_t *p, size_t n, int rows, int cols,
		       struct ocr_lines *out, struct fiona_err *err);

/* ---- de-identification rules (anon/deid_rules.c, deid_profile.c, pseudo.c) ------------ */

enum deid_opt { /* PS3.15 Table E.1-1 options (CID 7050) */
		DEID_OPT_RETAIN_LONG_FULL_DATES = 1u << 0,
		DEID_OPT_RETAIN_LONG_MODIF_DATES = 1u << 1,
		DEID_OPT_RETAIN_PATIENT_CHARS = 1u << 2,
		DEID_OPT_RETAIN_DEVICE_ID = 1u << 3,
		DEID_OPT_RETAIN_INSTITUTION_ID = 1u << 4,
		DEID_OPT_RETAIN_UIDS = 1u << 5,
		DEID_OPT_CLEAN_DESCRIPTORS = 1u << 6,
		DEID_OPT_CLEAN_STRUCT_CONTENT = 1u << 7,
		DEID_OPT_CLEAN_GRAPHICS = 1u << 8,
		DEID_OPT_RETAIN_SAFE_PRIVATE = 1u << 9,
};
#define DEID_NOPT 10
enum deid_action {
	DEID_KEEP,   /* K, or not in the table and public */
	DEID_REMOVE, /* X */
	DEID_EMPTY,  /* Z: zero-length value */
	DEID_DUMMY,  /* D: non-identifying dummy of the VR (e.g. "ANONYMOUS", 19000101) */
	DEID_CLEAN,  /* C: clean; for dates under the Modified Dates option = shift */
	DEID_UID,    /* U: keyed replacement UID */
	DEID_SHIFT,  /* date/time shift by the participant's offset */
	DEID_SET, /* project profile: set value (template with {project} {participant} {event}) */
	DEID_CAPTURE,	  /* project profile: keep the first capture group of a regex */
	DEID_PARTICIPANT, /* PatientID, PatientName -> participant ID */
	DEID_HASH,	  /* AccessionNumber, StudyID -> keyed 16-char hash */
};
/* What a profile's rewrite or normalize rule does to the text value the decision would
 * otherwise write (docs/deid.md "Export profile keys"). */
enum deid_post {
	DEID_POST_NONE,
	DEID_POST_REWRITE,   /* regex replaced, every match (like sed s///g) */
	DEID_POST_NORMALIZE, /* runs of non-alphanumerics -> one '_', trimmed */
};
struct deid_decision {
	enum deid_action action;
	const char *arg;     /* SET template or CAPTURE regex; borrowed from the profile */
	bool recurse;	     /* sequence kept: process its items (U* etc.) */
	enum deid_post post; /* applied to the text value action writes (not UI) */
};
struct deid_profile; /* options + per-tag overrides + private keep list + date range */
/* Returns a new object in *out; free with deid_profile_free(). 0 or -ENOMEM. */
int deid_profile_new_default(struct deid_profile **out); /* fiona's default project profile */
/* Parses a JSON project profile (schema in docs/deid.md). Returns a new object in *out; free
 * with deid_profile_free(). -EINVAL with err->reason naming the offending key. */
int deid_profile_parse(const uint8_t *p, size_t n, struct deid_profile **out,
		       struct fiona_err *err);
int deid_profile_load(const char *path, struct deid_profile **out, struct fiona_err *err);
void deid_profile_free(struct deid_profile *p);
unsigned deid_profile_options(const struct deid_profile *p);
void deid_profile_date_range(const struct deid_profile *p, int *min_days, int *max_days);
/* Decision for one attribute. creator: the private creator string owning a private element
 * (NULL for public tags / unknown creator); sop_class_uid: the instance's SOP class (for the
 * IOD type of combined codes; NULL if unknown). Pure function, thread safe. */
int deid_decide(const struct deid_profile *p, uint32_t tag, uint16_t vr, const char *creator,
		const char *sop_class_uid, struct deid_decision *out);
/* For the output: DeidentificationMethod text and CID 7050 codes of the options in use. */
struct deid_code {
	const char *value, *scheme, *meaning;
};
size_t deid_method_codes(const struct deid_profile *p, struct deid_code *out, size_t cap);
const char *deid_method_text(const struct deid_profile *p); /* borrowed */

/* Applies the profile's CAPTURE rule of tag to value: out gets capture group 1.
 * -ENOENT if tag has no CAPTURE rule or the regex does not match (the caller then empties
 * the value), -ENOSPC if out is too small. Thread safe. */
int deid_profile_capture(const struct deid_profile *p, uint32_t tag, const char *value, char *out,
			 size_t cap);
/* Applies the profile's rewrite or normalize rule of tag to in (the value the engine
 * would otherwise write): out gets the result. -ENOENT when tag has no such rule,
 * -ENOSPC when out is too small (the caller then empties the value). Thread safe. */
int deid_profile_post(const struct deid_profile *p, uint32_t tag, const char *in, char *out,
		      size_t cap);
/* The participant ID as the profile's participant_rewrite makes it (a copy of id when
 * there is none, or when the result would be empty or longer than 64 bytes). */
void deid_profile_participant(const struct deid_profile *p, const char *id, char out[65]);
/* Normalized text: ASCII letters and digits kept, every run of other bytes becomes one
 * '_', none at either end ("T1 MPRAGE (sag)" -> "T1_MPRAGE_sag"). Returns its length
 * (at most cap-1; out is NUL-terminated). */
size_t deid_normalize(const char *in, char *out, size_t cap);
/* Whether the profile's leave_out drops series of this SOP class / modality from the tree
 * it is used for (presentation states, secondary captures, listed SOP classes). */
bool deid_profile_leaves_out(const struct deid_profile *p, const char *sop_class,
			     const char *modality);
enum deid_zip_layout {
	DEID_ZIP_FOLDERS, /* as the mount's folders (default) */
	DEID_ZIP_SERIES,  /* <event>/<SeriesNumber>_<description>/<NNNN>.dcm */
	DEID_ZIP_FLAT,	  /* <event>_<SeriesNumber>_<description>_<NNNN>.dcm */
};
enum deid_zip_layout deid_profile_zip_layout(const struct deid_profile *p);
/* Expands a SET template: {project} {participant} {event} (NULL arguments expand to "").
 * -EINVAL for an unknown or unterminated placeholder, -ENOSPC if out is too small. */
int deid_template_expand(const char *tmpl, const char *project, const char *participant,
			 const char *event, char *out, size_t cap);
/* The D (dummy) value fiona writes for a string VR ("ANONYMOUS" for PN, "19000101" for DA,
 * ...); NULL for binary VRs and SQ (the caller writes zero-valued numbers / keeps items).
 * Static string. */
const char *deid_dummy_value(uint16_t vr);

struct deid_secret {
	uint8_t key[64];
	size_t len;
};
/* Loads the site secret; refuses (-EPERM, reason in err) a file group/other can read. */
int deid_secret_load(const char *path, struct deid_secret *s, struct fiona_err *err);
/* "2.25.<decimal of 128 bits of HMAC-SHA256(secret, project \0 uid)>", <= 64 chars. */
int deid_uid_derive(const struct deid_secret *s, const char *project, const char *uid,
		    char out[65]);
/* Whole days fixed per (project, participant), in [min_days, max_days]. */
int deid_date_offset_days(const struct deid_secret *s, const char *project, const char *participant,
			  int min_days, int max_days, int *days);
/* Shifts a DA ("YYYYMMDD") or DT value by days; out gets the shifted value. -EINVAL if the
 * value is not a valid date (the caller then empties it). */
int deid_date_shift(const char *in, uint16_t vr, int days, char *out, size_t cap);
/* Seconds in [1, 86399] fixed per (project, participant): times of day move by it. */
int deid_time_offset_seconds(const struct deid_secret *s, const char *project,
			     const char *participant, int *seconds);
/* deid_date_shift that also moves times of day (TM values, the time part of DT) by seconds
 * (whole minutes or hours for values of that precision),
 * wrapping at midnight without carrying into the date (DA and TM of one event stay
 * consistent with each other and with DT). TM accepted here too. */
int deid_datetime_shift(const char *in, uint16_t vr, int days, int seconds, char *out, size_t cap);
/* Keyed 16-char hash (uppercase base32 or hex) of value for kind ("accession", "studyid"). */
int deid_keyed_hash16(const struct deid_secret *s, const char *project, const char *kind,
		      const char *value, char out[17]);

/* ---- the de-identification engine (anon/deid.c, deid_text.c) -------------------------- */
struct deid_plan; /* below: output as header bytes + ranges of the original */
/*
 * What one de-identification run applies to every instance: who the data now belongs to
 * and under which keys. Filled by deid_job_init() (which derives the participant's date
 * and time offsets once); read-only afterwards, so threads share one job.
 */
struct deid_job {
	const struct deid_profile *profile;	   /* borrowed */
	const struct deid_secret *secret;	   /* borrowed */
	const char *project, *participant, *event; /* borrowed; event may be NULL */
	int date_offset_days, time_offset_seconds; /* 0 when dates are not shifted */
	/* The instance given is the one whose pixels anon/burn.c cleaned and checked: the
	 * output says so (BurnedInAnnotation NO, code 113101, the method text). */
	bool pixels_cleaned;
	/* Optional: called for every UID replaced (old, new), from the calling thread. */
	void (*on_uid)(void *opaque, const char *old_uid, const char *new_uid);
	void *opaque;
};
int deid_job_init(struct deid_job *j, const struct deid_profile *profile,
		  const struct deid_secret *secret, const char *project, const char *participant,
		  const char *event);
/* What de-identifying one instance produced and found (new UIDs are the output's). */
struct deid_outcome {
	char sop_class_uid[65], sop_uid[65], study_uid[65], series_uid[65];
	char ts_uid[65];	    /* transfer syntax of the output */
	char old_patient_id[65];    /* identifying: for patient-map.csv only, never log */
	bool burned_in;		    /* BurnedInAnnotation YES, or a class that often carries it
				     * (secondary capture, ultrasound, video): pixels not cleaned */
	unsigned removed, replaced; /* attribute counts */
};
/*
 * De-identifies one instance (n bytes at p, the original file: borrowed, and plan ranges
 * refer to its offsets) into a plan. Kept values of explicit or implicit VR little endian
 * sources are plan ranges (pixel data is never copied); big endian and deflated sources
 * are re-encoded. The output is explicit VR little endian (encapsulated syntaxes keep
 * theirs). Returns 0 with a new plan in *out (free with deid_plan_free()) and o filled, or
 * a negative errno with err naming the offset, tag and reason.
 */
int deid_instance_plan(const struct deid_job *j, const uint8_t *p, size_t n, struct deid_plan **out,
		       struct deid_outcome *o, struct fiona_err *err);
/* Whether an instance of this kind often carries burned-in text (deid_outcome.burned_in
 * is this of the instance's own SOPClassUID, Modality and BurnedInAnnotation == YES). */
bool deid_burned_in_kind(const char *sop_class, const char *modality, bool annotation_yes);

/* ---- writer: explicit VR little endian Part-10 (anon/writer.c) --------------------- */

/* ImplementationClassUID fiona writes into every file meta header. */
#define FIONA_IMPLEMENTATION_UID     "2.25.238413672903861794128846516733901715817"
#define FIONA_IMPLEMENTATION_VERSION "FIONA_1"

/*
 * Appends one element in explicit VR little endian. The value is padded to even length
 * (space for text VRs, NUL for UI and OB/UN); binary VRs with fixed-size values (US, UL,
 * FL, ...) must already have a length that is a multiple of their size. -EINVAL for a
 * value the VR cannot hold (odd binary length, longer than a 16-bit length for short
 * VRs), -E2BIG / -ENOMEM from the buffer.
 */
int dcm_write_elem(struct buf *b, uint32_t tag, uint16_t vr, const void *val, size_t len);
/* dcm_write_elem of a NUL-terminated string. */
int dcm_write_str(struct buf *b, uint32_t tag, uint16_t vr, const char *s);
/* Appends only an element header for a value of len bytes that the caller supplies
 * afterwards (plans copy big values from the original). len must be even. */
int dcm_write_header(struct buf *b, uint32_t tag, uint16_t vr, uint32_t len);
/* Sequences and items are written with undefined length and delimiters, so nested
 * content never needs to be measured before it is written. */
int dcm_write_seq_begin(struct buf *b, uint32_t tag);
int dcm_write_seq_end(struct buf *b);
int dcm_write_item_begin(struct buf *b);
int dcm_write_item_end(struct buf *b);

struct dcm_meta {
	const char *sop_class_uid;    /* MediaStorageSOPClassUID */
	const char *sop_instance_uid; /* MediaStorageSOPInstanceUID */
	const char *ts_uid;	      /* TransferSyntaxUID of the dataset that follows */
};
/* Appends the 128-byte preamble, "DICM" and group 0002 with a correct group length. */
int dcm_write_part10_header(struct buf *b, const struct dcm_meta *m);

/* ---- plans: de-identified output as header bytes + ranges of the original ------------ */

/*
 * A plan describes one output file as a list of segments: bytes the plan owns (new
 * headers, changed values) and byte ranges of the original file (pixel data and other
 * values kept verbatim). Its size is known without reading the original, and any byte
 * range of the output can be produced from it. A plan is built once (new, add..., then
 * shared) and is immutable afterwards: any number of threads may read it concurrently.
 */
struct deid_plan;
/* Returns 0 and a new, empty plan (free with deid_plan_free()) or -ENOMEM. */
int deid_plan_new(struct deid_plan **out);
void deid_plan_free(struct deid_plan *p);
/* Makes b's bytes the plan's own storage, without copying (b is left empty); only on a
 * new plan. deid_plan_add_owned() then appends pieces of them in any order. */
int deid_plan_adopt(struct deid_plan *p, struct buf *b);
int deid_plan_add_owned(struct deid_plan *p, size_t off, size_t len);
/* Appends n bytes copied into the plan. */
int deid_plan_add_bytes(struct deid_plan *p, const void *bytes, size_t n);
/* Appends len bytes of the original file starting at src_off. */
int deid_plan_add_range(struct deid_plan *p, uint64_t src_off, uint64_t len);
uint64_t deid_plan_size(const struct deid_plan *p);
/* Bytes of the plan that come from the original file (the rest is plan-owned). */
uint64_t deid_plan_copied_bytes(const struct deid_plan *p);
/*
 * Plans kept between runs (the catalog keeps one per de-identified file, so an open does
 * not de-identify again). deid_plan_save appends the plan's bytes to out (0, -ENOMEM,
 * -E2BIG); deid_plan_load checks every field of n bytes at b (untrusted: a damaged row is
 * -EINVAL, never trusted) and returns a new plan (free with deid_plan_free()). A loaded
 * plan produces the same bytes as the plan that was saved.
 */
int deid_plan_save(const struct deid_plan *p, struct buf *out);
int deid_plan_load(const uint8_t *b, size_t n, struct deid_plan **out);
/* Bumped whenever the bytes fiona writes for the same input, profile and secret change, so
 * that kept plans of an older engine are computed again. */
#define DEID_ENGINE_VERSION 2 /* 2: free text about the patient removed */
/*
 * Copies up to len bytes of the output starting at off into dst, reading ranges from
 * src_fd with pread. Returns the number of bytes produced (0 at or past the end) or a
 * negative errno (-EIO if the original is shorter than the plan says). No allocation.
 */
ssize_t deid_plan_read(const struct deid_plan *p, int src_fd, uint64_t off, void *dst, size_t len);
/* Writes the whole output to out_fd at its current offset: owned bytes with write(),
 * ranges with copy_file_range() (pread/write where the filesystems do not support it). */
int deid_plan_materialize(const struct deid_plan *p, int src_fd, int out_fd);

#endif
