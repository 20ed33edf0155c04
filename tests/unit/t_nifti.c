/* Unit tests for fs/nifti_view.c: the key of a NIfTI run (stable, and changed by each
 * thing the output depends on), the sidecar filter (members taken out wherever they are,
 * the last one's comma, nested values untouched, a member over several lines refused),
 * and which output names are kept. */
#include "core/core.h"
#include "tests/unit/tt.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/fs_int.h"

static const struct fs_nifti_input inputs[] = {
	{11, 1000, 0x12345678u, "0001.dcm"},
	{12, 1001, 0x9abcdef0u, "0002.dcm"},
};

static void key_of(struct fs_nifti_input *in, size_t n, const char *version, const char *fp,
		   const char *folder, char key[33])
{
	fs_nifti_key(version, fp, folder, in, n, key);
}

static void test_key(struct tt *t)
{
	struct fs_nifti_input in[2];
	char base[33], k[33];

	memcpy(in, inputs, sizeof(in));
	key_of(in, 2, "v1.0.20220720", "fp", "3_DWI", base);
	TT_CHECK(t, strlen(base) == 32 && strspn(base, "0123456789abcdef") == 32);
	key_of(in, 2, "v1.0.20220720", "fp", "3_DWI", k);
	TT_CHECK_MSG(t, !strcmp(k, base), "same input, other key");
	key_of(in, 2, "v1.0.20230411", "fp", "3_DWI", k);
	TT_CHECK_MSG(t, strcmp(k, base), "dcm2niix version not in the key");
	key_of(in, 2, "v1.0.20220720", "fp2", "3_DWI", k);
	TT_CHECK_MSG(t, strcmp(k, base), "profile not in the key");
	key_of(in, 2, "v1.0.20220720", "fp", "3_DWI~2", k);
	TT_CHECK_MSG(t, strcmp(k, base), "folder name not in the key");
	key_of(in, 1, "v1.0.20220720", "fp", "3_DWI", k);
	TT_CHECK_MSG(t, strcmp(k, base), "a file less, same key");
	in[1].crc ^= 1;
	key_of(in, 2, "v1.0.20220720", "fp", "3_DWI", k);
	TT_CHECK_MSG(t, strcmp(k, base), "CRC not in the key");
	memcpy(in, inputs, sizeof(in));
	in[0].size++;
	key_of(in, 2, "v1.0.20220720", "fp", "3_DWI", k);
	TT_CHECK_MSG(t, strcmp(k, base), "size not in the key");
	memcpy(in, inputs, sizeof(in));
	snprintf(in[1].name, sizeof(in[1].name), "0003.dcm");
	key_of(in, 2, "v1.0.20220720", "fp", "3_DWI", k);
	TT_CHECK_MSG(t, strcmp(k, base), "file name not in the key");
	/* parts never run together: "ab" + "c" is not "a" + "bc" */
	key_of(in, 0, "v1", "ab", "c", base);
	key_of(in, 0, "v1", "a", "bc", k);
	TT_CHECK(t, strcmp(k, base));
}

static int strip(const char *in, char *out, size_t cap)
{
	size_t len = strlen(in), n = 0;
	int rc;

	if (len >= cap)
		return -E2BIG;
	memcpy(out, in, len + 1);
	rc = fs_nifti_sidecar_strip(out, len, &n);
	if (rc >= 0)
		out[n] = '\0';
	return rc;
}

static void test_sidecar(struct tt *t)
{
	char out[1024];
	const char *a =
		"{\n\t\"Modality\": \"MR\",\n\t\"InstitutionName\": \"X Hospital\",\n"
		"\t\"DeviceSerialNumber\": \"SN1\",\n\t\"ImageOrientationPatientDICOM\": [\n"
		"\t\t1,\n\t\t0\t],\n\t\"ConversionSoftware\": \"dcm2niix\"\n}\n";
	const char *a_want = "{\n\t\"Modality\": \"MR\",\n\t\"ImageOrientationPatientDICOM\": [\n"
			     "\t\t1,\n\t\t0\t],\n\t\"ConversionSoftware\": \"dcm2niix\"\n}\n";
	const char *last = "{\n\t\"Modality\": \"MR\",\n\t\"StationName\": \"MR1\"\n}\n";
	const char *clean = "{\n\t\"Modality\": \"MR\",\n\t\"EchoTime\": 0.078\n}\n";
	const char *multi =
		"{\n\t\"PatientName\": [\n\t\t\"Doe\"\n\t],\n\t\"Modality\": \"MR\"\n}\n";

	TT_CHECK(t, strip(a, out, sizeof(out)) == 2);
	TT_CHECK_MSG(t, !strcmp(out, a_want), "got %.200s", out);
	TT_CHECK(t, strip(last, out, sizeof(out)) == 1);
	TT_CHECK_MSG(t, !strcmp(out, "{\n\t\"Modality\": \"MR\"\n}\n"), "got %.200s", out);
	TT_CHECK(t, strip(clean, out, sizeof(out)) == 0 && !strcmp(out, clean));
	TT_CHECK(t, strip(multi, out, sizeof(out)) == -EINVAL);
	/* a name inside a value is not a member of the sidecar: only "\t\"Key\": " lines */
	TT_CHECK(t,
		 strip("{\n\t\"SeriesDescription\": \"PatientName\"\n}\n", out, sizeof(out)) == 0);
	TT_CHECK(t, strip("", out, sizeof(out)) == 0 && !out[0]);
}

static void test_names(struct tt *t)
{
	TT_CHECK(t, fs_nifti_output_name("3_DWI.nii.gz"));
	TT_CHECK(t, fs_nifti_output_name("3_DWI.json"));
	TT_CHECK(t, fs_nifti_output_name("3_DWI.bval") && fs_nifti_output_name("3_DWI.bvec"));
	TT_CHECK(t, fs_nifti_output_name("1_T1_e2_ph.nii.gz"));
	TT_CHECK(t, fs_nifti_output_name("2_T2~2.nii.gz"));
	TT_CHECK(t, !fs_nifti_output_name("3_DWI.nii")); /* never written (-z i) */
	TT_CHECK(t, !fs_nifti_output_name("3_DWI.txt"));
	TT_CHECK(t, !fs_nifti_output_name(".nii.gz")); /* hidden */
	TT_CHECK(t, !fs_nifti_output_name(".hidden.json"));
	TT_CHECK(t, !fs_nifti_output_name("a\tb.json"));	/* control byte */
	TT_CHECK(t, !fs_nifti_output_name("caf\xc3\xa9.json")); /* not a safe name */
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	snprintf(longname + 250, 50, ".json");
	TT_CHECK(t, !fs_nifti_output_name(longname));
}

static void test_argv(struct tt *t)
{
	char *argv[FS_NIFTI_ARGV_MAX];
	char words[sizeof(FS_NIFTI_OPTIONS)];
	bool ba = false, z = false, f = false;
	size_t n = fs_nifti_argv("dcm2niix", "/o", "/i", words, argv);

	/* what the sidecar may keep depends on -ba y; outputs are gzipped inside dcm2niix (no
	 * pigz subprocess, no timestamp in the gzip header); names come from the folder */
	TT_CHECK(t, n >= 4 && n < FS_NIFTI_ARGV_MAX && !argv[n]);
	TT_CHECK(t, !strcmp(argv[0], "dcm2niix") && !strcmp(argv[n - 1], "/i") &&
			    !strcmp(argv[n - 2], "/o") && !strcmp(argv[n - 3], "-o"));
	for (size_t i = 1; i + 1 < n; i++) {
		ba |= !strcmp(argv[i], "-ba") && !strcmp(argv[i + 1], "y");
		z |= !strcmp(argv[i], "-z") && !strcmp(argv[i + 1], "i");
		f |= !strcmp(argv[i], "-f") && !strcmp(argv[i + 1], "%f");
	}
	TT_CHECK(t, ba && z && f);
}

TT_MAIN(TT_CASE(test_key), TT_CASE(test_sidecar), TT_CASE(test_names), TT_CASE(test_argv))
