/*
 * corpus_iod: the header modules every synthetic image shares — SOP Common, Patient,
 * General Study, Patient Study, General Series, General Equipment, request attributes,
 * procedure step references and a private site block — filled with identifying values in
 * every place real scanners put them (top level and nested in sequences).
 *
 * Invariant: values come only from struct patient/study/series, whose strings
 * corpus_people.c already planted in the manifest; the per-file SOP UID is planted by the
 * caller. Modality-specific modules are added by tests/gen/gen_corpus.c.
 */
#include "core/core.h"

#include <errno.h>

#include "tests/gen/lib/corpus.h"

#define T ENC_TAG

static int ds_patient(struct enc_ds *ds, const struct patient *p)
{
	struct enc_ds *it, *q;
	int rc = enc_str(ds, T(0x0010, 0x0010), "PN", p->name);

	rc = rc ? rc : enc_str(ds, T(0x0010, 0x0020), "LO", p->id);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x0021), "LO", "NO-NATIONAL");
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x0030), "DA", p->birth);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x0040), "CS", p->sex);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1000), "LO", p->other_id);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1001), "PN", p->birth_name);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1005), "PN", p->birth_name);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1010), "AS", p->age);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1020), "DS", "1.74");
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1030), "DS", "71.5");
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1040), "LO", p->address);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x1060), "PN", p->mother_name);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x2154), "SH", p->phone);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x21B0), "LT", p->history);
	rc = rc ? rc : enc_str(ds, T(0x0010, 0x4000), "LT", p->comments);
	if (rc)
		return rc;
	/* Other Patient IDs Sequence: the hospital MRN, with its issuer qualifiers nested. */
	it = enc_seq_item(ds, T(0x0010, 0x1002));
	if (!it)
		return -ENOMEM;
	rc = enc_str(it, T(0x0010, 0x0020), "LO", p->other_id);
	rc = rc ? rc : enc_str(it, T(0x0010, 0x0021), "LO", "HOSPITAL-MRN");
	rc = rc ? rc : enc_str(it, T(0x0010, 0x0022), "CS", "TEXT");
	q = rc ? NULL : enc_seq_item(it, T(0x0010, 0x0024));
	if (!q)
		return rc ? rc : -ENOMEM;
	rc = enc_str(q, T(0x0040, 0x0032), "UT", "2.16.578.1.12.4.1.4.1");
	rc = rc ? rc : enc_str(q, T(0x0040, 0x0033), "CS", "ISO");
	it = rc ? NULL : enc_seq_item(ds, T(0x0010, 0x1002));
	if (!it)
		return rc ? rc : -ENOMEM;
	rc = enc_str(it, T(0x0010, 0x0020), "LO", p->id);
	rc = rc ? rc : enc_str(it, T(0x0010, 0x0021), "LO", "NO-NATIONAL");
	return rc ? rc : enc_str(it, T(0x0010, 0x0022), "CS", "TEXT");
}

static int code_item(struct enc_ds *it, const char *value, const char *scheme, const char *meaning)
{
	int rc = enc_str(it, T(0x0008, 0x0100), "SH", value);

	rc = rc ? rc : enc_str(it, T(0x0008, 0x0102), "SH", scheme);
	return rc ? rc : enc_str(it, T(0x0008, 0x0104), "LO", meaning);
}

static int ds_request(struct enc_ds *ds, const struct patient *p, const struct study *st)
{
	struct enc_ds *it = enc_seq_item(ds, T(0x0040, 0x0275)), *code;
	char reason[160];
	int rc;

	if (!it)
		return -ENOMEM;
	snprintf(reason, sizeof(reason), "Referral for %s, see %s", p->plain, st->accession);
	rc = enc_str(it, T(0x0008, 0x0050), "SH", st->accession);
	rc = rc ? rc : enc_str(it, T(0x0020, 0x000D), "UI", st->uid);
	rc = rc ? rc : enc_str(it, T(0x0032, 0x1060), "LO", st->description);
	rc = rc ? rc : enc_str(it, T(0x0040, 0x0007), "LO", st->description);
	rc = rc ? rc : enc_str(it, T(0x0040, 0x0009), "SH", st->sps_id);
	rc = rc ? rc : enc_str(it, T(0x0040, 0x1001), "SH", st->rp_id);
	rc = rc ? rc : enc_str(it, T(0x0040, 0x1002), "LO", reason);
	rc = rc ? rc : enc_str(it, T(0x0032, 0x1032), "PN", st->requesting);
	if (rc)
		return rc;
	code = enc_seq_item(it, T(0x0040, 0x0008));
	if (!code)
		return -ENOMEM;
	rc = code_item(code, !strcmp(st->modality, "CT") ? "CTTA" : "MRCAP", "99FIONA",
		       st->description);
	code = rc ? NULL : enc_seq_item(it, T(0x0032, 0x1064));
	if (!code)
		return rc ? rc : -ENOMEM;
	return code_item(code, !strcmp(st->modality, "CT") ? "CTTA" : "MRCAP", "99FIONA",
			 st->description);
}

static int ds_study(struct enc_ds *ds, const struct patient *p, const struct study *st)
{
	struct enc_ds *it;
	int rc = enc_str(ds, T(0x0008, 0x0020), "DA", st->date);

	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0030), "TM", st->time);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0050), "SH", st->accession);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0090), "PN", st->referring);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0092), "ST", st->inst_address);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0094), "SH", st->referring_phone);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x1030), "LO", st->description);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x1048), "PN", st->referring);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x1060), "PN", st->reader);
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x000D), "UI", st->uid);
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x0010), "SH", st->study_id);
	rc = rc ? rc : enc_str(ds, T(0x0032, 0x1032), "PN", st->requesting);
	rc = rc ? rc : enc_str(ds, T(0x0032, 0x1033), "LO", st->department);
	rc = rc ? rc : enc_str(ds, T(0x0032, 0x1060), "LO", st->description);
	rc = rc ? rc : enc_str(ds, T(0x0032, 0x4000), "LT", st->comment);
	rc = rc ? rc : enc_str(ds, T(0x0040, 0x0244), "DA", st->date);
	rc = rc ? rc : enc_str(ds, T(0x0040, 0x0245), "TM", st->time);
	rc = rc ? rc : enc_str(ds, T(0x0040, 0x0253), "SH", st->pps_id);
	rc = rc ? rc : enc_str(ds, T(0x0040, 0x0254), "LO", st->description);
	rc = rc ? rc : ds_request(ds, p, st);
	if (rc)
		return rc;
	it = enc_seq_item(ds, T(0x0008, 0x1110)); /* the prior study */
	if (!it)
		return -ENOMEM;
	rc = enc_str(it, T(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.1");
	rc = rc ? rc : enc_str(it, T(0x0008, 0x1155), "UI", st->prior_uid);
	it = rc ? NULL : enc_seq_item(ds, T(0x0008, 0x1111));
	if (!it)
		return rc ? rc : -ENOMEM;
	rc = enc_str(it, T(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.3");
	return rc ? rc : enc_str(it, T(0x0008, 0x1155), "UI", st->pps_uid);
}

static int ds_series_equipment(struct enc_ds *ds, const struct study *st, const struct series *se)
{
	int rc = enc_str(ds, T(0x0008, 0x0021), "DA", se->date);

	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0031), "TM", se->time);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0060), "CS", st->modality);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0070), "LO", "ACME Medical Systems");
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0080), "LO", st->institution);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0081), "ST", st->inst_address);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x1010), "SH", st->station);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x103E), "LO", se->description);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x1040), "LO", st->department);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x1050), "PN", st->performing);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x1070), "PN", st->operator_);
	rc = rc ? rc
		: enc_str(ds, T(0x0008, 0x1090), "LO",
			  !strcmp(st->modality, "CT") ? "Synthia CT 64" : "Synthia MR 3T");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1000), "LO", st->serial);
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1020), "LO", "VA11B");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x1030), "LO", se->protocol);
	rc = rc ? rc
		: enc_str(ds, T(0x0018, 0x0015), "CS",
			  !strcmp(st->modality, "CT") ? "CHEST" : "HEAD");
	rc = rc ? rc : enc_str(ds, T(0x0018, 0x5100), "CS", "HFS");
	rc = rc ? rc : enc_str(ds, T(0x0020, 0x000E), "UI", se->uid);
	rc = rc ? rc : enc_strf(ds, T(0x0020, 0x0011), "IS", "%u", se->number);
	return rc;
}

/* A vendor's private block as scanners write them, holding a copy of the patient data. */
static int ds_private(struct enc_ds *ds, const struct patient *p, const struct study *st)
{
	char both[96];
	struct enc_ds *it;
	int rc = enc_str(ds, T(0x0029, 0x0010), "LO", "ACME_SITE_INFO");

	snprintf(both, sizeof(both), "%s / %s", p->family, p->id);
	rc = rc ? rc : enc_str(ds, T(0x0029, 0x1010), "LO", p->name);
	rc = rc ? rc : enc_str(ds, T(0x0029, 0x1011), "LO", p->id);
	rc = rc ? rc : enc_str(ds, T(0x0029, 0x1012), "LO", st->site_ref);
	rc = rc ? rc : enc_str(ds, T(0x0029, 0x1013), "LO", both);
	rc = rc ? rc : enc_str(ds, T(0x0029, 0x1014), "LT", st->comment);
	if (rc)
		return rc;
	/* A private sequence of unknown VR (UN, undefined length) with the referral inside. */
	it = enc_seq_item_un(ds, T(0x0029, 0x1020));
	if (!it)
		return -ENOMEM;
	rc = enc_str(it, T(0x0029, 0x0010), "LO", "ACME_SITE_INFO");
	rc = rc ? rc : enc_str(it, T(0x0029, 0x1010), "LO", p->name);
	rc = rc ? rc : enc_str(it, T(0x0029, 0x1015), "LO", st->referring);
	return rc;
}

int corpus_ds_common(struct enc_ds *ds, const struct patient *p, const struct study *st,
		     const struct series *se, const char *sop_class, const char *sop_uid,
		     unsigned instance)
{
	int rc = enc_str(ds, T(0x0008, 0x0005), "CS", "ISO_IR 100");

	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0012), "DA", se->date);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0013), "TM", se->time);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0016), "UI", sop_class);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0018), "UI", sop_uid);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0023), "DA", se->date);
	rc = rc ? rc : enc_str(ds, T(0x0008, 0x0033), "TM", se->time);
	rc = rc ? rc : enc_strf(ds, T(0x0020, 0x0013), "IS", "%u", instance);
	rc = rc ? rc : ds_patient(ds, p);
	rc = rc ? rc : ds_study(ds, p, st);
	rc = rc ? rc : ds_series_equipment(ds, st, se);
	return rc ? rc : ds_private(ds, p, st);
}
