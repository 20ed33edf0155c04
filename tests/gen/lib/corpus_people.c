/*
 * corpus_people: invented patients, studies and series for the synthetic corpus, the
 * seeded PRNG they come from, fixed-width UIDs and the manifest of planted strings.
 *
 * Invariants: every identifying string that goes into a header is added to the manifest
 * here or by the caller (4 bytes or more); given names alone are not listed (too short
 * and common to grep for), family names, full names and "Given Family" forms are.
 * Values are plain ASCII so byte-greps need no charset handling.
 */
#include "core/core.h"

#include <errno.h>

#include "tests/gen/lib/corpus.h"

#define UID_ROOT "1.2.826.0.1.3680043.10.1401."

void rng_seed(struct rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
}

uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

unsigned rng_below(struct rng *r, unsigned n)
{
	return n ? (unsigned)(rng_next(r) % n) : 0;
}

/* ---- manifest --------------------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int manifest_init(struct manifest *m, FILE *fp)
{
	m->fp = fp;
	m->n = 0;
	m->cap = 4096;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	return m->keys ? 0 : -ENOMEM;
}

void manifest_release(struct manifest *m)
{
	if (!m || !m->keys)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	m->keys = NULL;
}

static int manifest_grow(struct manifest *m)
{
	size_t cap = m->cap * 2;
	char **nk = calloc(cap, sizeof(*nk));

	if (!nk)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		for (j = str_hash(m->keys[i]) & (cap - 1); nk[j]; j = (j + 1) & (cap - 1))
			;
		nk[j] = m->keys[i];
	}
	free(m->keys);
	m->keys = nk;
	m->cap = cap;
	return 0;
}

int manifest_add(struct manifest *m, const char *category, const char *s)
{
	char key[512];
	size_t j;
	int n;

	if (strlen(s) < 4)
		return 0;
	n = snprintf(key, sizeof(key), "%s\t%s", category, s);
	if (n < 0 || (size_t)n >= sizeof(key))
		return -E2BIG;
	if (m->n * 2 >= m->cap && manifest_grow(m))
		return -ENOMEM;
	for (j = str_hash(key) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (!strcmp(m->keys[j], key))
			return 0;
	m->keys[j] = strdup(key);
	if (!m->keys[j])
		return -ENOMEM;
	m->n++;
	return fprintf(m->fp, "%s\n", key) < 0 ? -EIO : 0;
}

/* ---- invented values -------------------------------------------------------------- */

static const char *const fam_a[] = {"Brekke",  "Solvang", "Haugen", "Lunde",   "Myrvold", "Fjell",
				    "Strand",  "Bergum",  "Vikane", "Dalset",  "Nordby",  "Holmen",
				    "Aasland", "Skogen",  "Liabo",  "Rudstad", "Tveit",	  "Kvam"};
static const char *const fam_b[] = {"stad", "heim", "rud",  "dal",  "vik",  "berg", "haug",
				    "land", "seth", "lien", "moen", "bakk", "nes",  "sjo"};
static const char *const given_f[] = {"Kari",	  "Ingrid", "Solveig", "Astrid", "Sigrid",
				      "Ragnhild", "Marit",  "Liv",     "Tone",	 "Hege"};
static const char *const given_m[] = {"Ola",  "Lars",	  "Nils", "Erik", "Bjorn",
				      "Knut", "Torbjorn", "Per",  "Arne", "Gunnar"};
static const char *const towns[] = {"Tromsdal", "Nordvika",   "Solheimsby", "Fjellbygd",
				    "Havnevik", "Elvestrand", "Skarsvoll",  "Myrheim"};
static const char *const streets[] = {"veien", "gata", "bakken", "lia", "stien"};

#define PICK(r, a) ((a)[rng_below((r), CORE_ARRAY_SIZE(a))])

static void family_make(struct rng *r, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", PICK(r, fam_a), PICK(r, fam_b));
}

static void digits(struct rng *r, char *out, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		out[i] = (char)('0' + rng_below(r, 10));
	out[n] = '\0';
	if (out[0] == '0')
		out[0] = (char)('1' + rng_below(r, 9));
}

/* A physician or operator: plants the PN and the family name. */
static int staff_make(struct corpus_ctx *c, const char *category, char *out, size_t cap)
{
	char fam[32];
	int female = (int)rng_below(&c->rng, 2);
	int rc;

	family_make(&c->rng, fam, sizeof(fam));
	snprintf(out, cap, "%s^%s", fam, female ? PICK(&c->rng, given_f) : PICK(&c->rng, given_m));
	rc = manifest_add(&c->man, category, out);
	return rc ? rc : manifest_add(&c->man, category, fam);
}

void corpus_uid(struct corpus_ctx *c, char out[65])
{
	char rnd[9];

	digits(&c->rng, rnd, 8);
	snprintf(out, 65, UID_ROOT "%u.%s%08u", (unsigned)(c->seed % 1000000u), rnd, ++c->uid_seq);
}

int corpus_patient_make(struct corpus_ctx *c, unsigned index, struct patient *p)
{
	struct rng *r = &c->rng;
	int female = (int)rng_below(r, 2), rc = 0;
	unsigned y = 1935 + rng_below(r, 70), mo = 1 + rng_below(r, 12), d = 1 + rng_below(r, 28);
	char tail[8], fam2[32], street[32];

	memset(p, 0, sizeof(*p));
	family_make(r, p->family, sizeof(p->family));
	snprintf(p->given, sizeof(p->given), "%s", female ? PICK(r, given_f) : PICK(r, given_m));
	p->middle[0] = (char)('A' + rng_below(r, 26));
	snprintf(p->name, sizeof(p->name), "%s^%s^%s", p->family, p->given, p->middle);
	snprintf(p->plain, sizeof(p->plain), "%s %s", p->given, p->family);
	family_make(r, fam2, sizeof(fam2));
	snprintf(p->birth_name, sizeof(p->birth_name), "%s^%s", fam2, p->given);
	family_make(r, fam2, sizeof(fam2));
	snprintf(p->mother_name, sizeof(p->mother_name), "%s^%s", fam2, PICK(r, given_f));
	digits(r, tail, 5);
	snprintf(p->id, sizeof(p->id), "%02u%02u%02u%s", d, mo, y % 100, tail);
	digits(r, tail, 7);
	snprintf(p->other_id, sizeof(p->other_id), "MRN-%s%02u", tail, index % 100);
	snprintf(p->birth, sizeof(p->birth), "%04u%02u%02u", y, mo, d);
	p->sex[0] = female ? 'F' : 'M';
	snprintf(p->age, sizeof(p->age), "%03uY", 2024 - y);
	snprintf(street, sizeof(street), "%s%s %u", PICK(r, fam_a), PICK(r, streets),
		 1 + rng_below(r, 120));
	snprintf(p->address, sizeof(p->address), "%s, %04u %s", street, 1000 + rng_below(r, 8999),
		 PICK(r, towns));
	digits(r, tail, 7);
	snprintf(p->phone, sizeof(p->phone), "+47 9%.2s %.2s %.3s", tail, tail + 2, tail + 4);
	snprintf(p->history, sizeof(p->history),
		 "%s reports recurring headaches since %u. Call %s before visits.", p->plain,
		 y + 40 < 2020 ? y + 40 : 2020, p->phone);
	snprintf(p->comments, sizeof(p->comments), "Patient %s prefers morning appointments",
		 p->family);

	rc = rc ? rc : manifest_add(&c->man, "name", p->name);
	rc = rc ? rc : manifest_add(&c->man, "name", p->family);
	rc = rc ? rc : manifest_add(&c->man, "name", p->plain);
	rc = rc ? rc : manifest_add(&c->man, "name", p->birth_name);
	rc = rc ? rc : manifest_add(&c->man, "name", p->mother_name);
	rc = rc ? rc : manifest_add(&c->man, "id", p->id);
	rc = rc ? rc : manifest_add(&c->man, "id", p->other_id);
	rc = rc ? rc : manifest_add(&c->man, "birthdate", p->birth);
	rc = rc ? rc : manifest_add(&c->man, "address", p->address);
	rc = rc ? rc : manifest_add(&c->man, "address", street);
	rc = rc ? rc : manifest_add(&c->man, "phone", p->phone);
	rc = rc ? rc : manifest_add(&c->man, "comment", p->history);
	rc = rc ? rc : manifest_add(&c->man, "comment", p->comments);
	return rc;
}

static int study_plant(struct corpus_ctx *c, const struct study *st)
{
	struct manifest *m = &c->man;
	int rc = manifest_add(m, "uid", st->uid);

	rc = rc ? rc : manifest_add(m, "uid", st->prior_uid);
	rc = rc ? rc : manifest_add(m, "uid", st->pps_uid);
	rc = rc ? rc : manifest_add(m, "date", st->date);
	rc = rc ? rc : manifest_add(m, "time", st->time);
	rc = rc ? rc : manifest_add(m, "accession", st->accession);
	rc = rc ? rc : manifest_add(m, "id", st->study_id);
	rc = rc ? rc : manifest_add(m, "id", st->rp_id);
	rc = rc ? rc : manifest_add(m, "id", st->sps_id);
	rc = rc ? rc : manifest_add(m, "id", st->pps_id);
	rc = rc ? rc : manifest_add(m, "phone", st->referring_phone);
	rc = rc ? rc : manifest_add(m, "institution", st->institution);
	rc = rc ? rc : manifest_add(m, "institution", st->inst_address);
	rc = rc ? rc : manifest_add(m, "institution", st->department);
	rc = rc ? rc : manifest_add(m, "device", st->station);
	rc = rc ? rc : manifest_add(m, "device", st->serial);
	rc = rc ? rc : manifest_add(m, "comment", st->comment);
	rc = rc ? rc : manifest_add(m, "private", st->site_ref);
	return rc;
}

int corpus_study_make(struct corpus_ctx *c, const struct patient *p, const char *mod,
		      struct study *st)
{
	struct rng *r = &c->rng;
	const char *town = PICK(r, towns);
	char num[12];
	int rc;

	memset(st, 0, sizeof(*st));
	corpus_uid(c, st->uid);
	corpus_uid(c, st->prior_uid);
	corpus_uid(c, st->pps_uid);
	snprintf(st->date, sizeof(st->date), "2%03u%02u%02u", 22 + rng_below(r, 3),
		 1 + rng_below(r, 12), 1 + rng_below(r, 28));
	snprintf(st->time, sizeof(st->time), "%02u%02u%02u", 7 + rng_below(r, 10), rng_below(r, 60),
		 rng_below(r, 60));
	digits(r, num, 7);
	snprintf(st->accession, sizeof(st->accession), "A%.2s%s", st->date + 2, num);
	digits(r, num, 6);
	snprintf(st->study_id, sizeof(st->study_id), "ST%s", num);
	digits(r, num, 8);
	snprintf(st->rp_id, sizeof(st->rp_id), "RP%s", num);
	digits(r, num, 7);
	snprintf(st->sps_id, sizeof(st->sps_id), "SPS%s", num);
	digits(r, num, 7);
	snprintf(st->pps_id, sizeof(st->pps_id), "PPS%s", num);
	snprintf(st->description, sizeof(st->description), "%s %s", mod,
		 !strcmp(mod, "CT") ? "THORAX ABDOMEN" : "CAPUT");
	rc = staff_make(c, "physician", st->referring, sizeof(st->referring));
	rc = rc ? rc : staff_make(c, "physician", st->requesting, sizeof(st->requesting));
	rc = rc ? rc : staff_make(c, "physician", st->performing, sizeof(st->performing));
	rc = rc ? rc : staff_make(c, "physician", st->reader, sizeof(st->reader));
	rc = rc ? rc : staff_make(c, "operator", st->operator_, sizeof(st->operator_));
	if (rc)
		return rc;
	digits(r, num, 7);
	snprintf(st->referring_phone, sizeof(st->referring_phone), "+47 7%.2s %.2s %.3s", num,
		 num + 2, num + 4);
	snprintf(st->institution, sizeof(st->institution), "%s Synthetic Hospital", town);
	snprintf(st->inst_address, sizeof(st->inst_address), "Sykehusveien %u, %04u %s",
		 1 + rng_below(r, 40), 1000 + rng_below(r, 8999), town);
	snprintf(st->department, sizeof(st->department), "Radiology %s %u", town,
		 1 + rng_below(r, 9));
	digits(r, num, 5);
	snprintf(st->station, sizeof(st->station), "%s%s", mod, num);
	digits(r, num, 6);
	snprintf(st->serial, sizeof(st->serial), "SN%s", num);
	snprintf(st->comment, sizeof(st->comment),
		 "Follow-up of %s (born %s), compare with prior study. Ref %s.", p->plain, p->birth,
		 st->accession);
	for (unsigned i = 0; i < 8; i++)
		num[i] = (char)('A' + rng_below(r, 26));
	num[8] = '\0';
	snprintf(st->site_ref, sizeof(st->site_ref), "SITEREF-%s", num);
	snprintf(st->modality, sizeof(st->modality), "%s", mod);
	return study_plant(c, st);
}

int corpus_series_make(struct corpus_ctx *c, const struct study *st, unsigned number,
		       const char *description, unsigned minutes, int with_for, struct series *se)
{
	unsigned h = (unsigned)(st->time[0] - '0') * 10 + (unsigned)(st->time[1] - '0');
	unsigned m = (unsigned)(st->time[2] - '0') * 10 + (unsigned)(st->time[3] - '0') + minutes;
	int rc;

	memset(se, 0, sizeof(*se));
	corpus_uid(c, se->uid);
	if (with_for)
		corpus_uid(c, se->for_uid);
	se->number = number;
	snprintf(se->description, sizeof(se->description), "%s", description);
	snprintf(se->protocol, sizeof(se->protocol), "%s %s", st->modality, description);
	snprintf(se->date, sizeof(se->date), "%s", st->date);
	snprintf(se->time, sizeof(se->time), "%02u%02u%.2s", (h + m / 60) % 24, m % 60,
		 st->time + 4);
	rc = manifest_add(&c->man, "uid", se->uid);
	if (with_for)
		rc = rc ? rc : manifest_add(&c->man, "uid", se->for_uid);
	return rc ? rc : manifest_add(&c->man, "time", se->time);
}
