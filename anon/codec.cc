/*
 * codec: compressed pixel data decoded behind a C interface (anon/codec_int.h), as
 * net/dcmtk.cc does for networking: no dcmtk type crosses it and every exception stays
 * here. The instance is parsed from memory, its pixel data made native, and the dataset
 * written back to a memory buffer as a Part-10 file in explicit VR little endian, which the
 * C side reads like any native instance. Nothing is written to disk.
 *
 * - JPEG baseline, extended, lossless and SV1, JPEG-LS, RLE Lossless: dcmtk's codecs
 *   (chooseRepresentation; dcmtk also turns JPEG's YBR_FULL_422 into RGB and updates the
 *   photometric interpretation). They register once per process (dcmtk keeps them in a
 *   global list of its own).
 * - JPEG 2000 (.90 lossless only, .91): dcmtk has no decoder. Each frame's fragments are
 *   taken from the pixel sequence (by the Basic Offset Table when it has entries; else one
 *   frame per fragment when the counts agree, all fragments for a single frame, or a new
 *   frame at each fragment that starts a codestream), decoded by anon/j2k.c (OpenJPEG), and
 *   put back as native OB/OW pixel data with PlanarConfiguration 0. OpenJPEG applies the
 *   inverse multi-component transform the codestream asks for, so YBR_RCT and YBR_ICT
 *   come out RGB (PS3.5 8.2.4: those two are what the transform's use must be called);
 *   one of them without the transform is -ENOTSUP (the samples would be neither). The
 *   first frame's header must agree with the dataset before the native pixel data (at
 *   most 256 MiB a frame, 1 GiB in all) is allocated.
 */
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcswap.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <pthread.h>
#include <vector>

extern "C" {
#include "core/core.h"
#include "anon/anon.h"
#include "anon/codec_int.h"
}

static pthread_once_t codecs_once = PTHREAD_ONCE_INIT;

static void codecs_register(void)
{
	DJDecoderRegistration::registerCodecs();
	DJLSDecoderRegistration::registerCodecs();
	DcmRLEDecoderRegistration::registerCodecs();
}

/* ---- JPEG 2000 ----------------------------------------------------------------------- */

/* Decoded JPEG 2000 pixel data above these is refused (held), not allocated: a frame of a
 * few hundred bytes can claim megabytes, and the element's length must fit 32 bits. The
 * frame's cap is pixel.c's. */
static const size_t J2K_MAX_FRAME_BYTES = (size_t)256 << 20;
static const size_t J2K_MAX_PIXEL_BYTES = (size_t)1 << 30;

struct j2k_fragment {
	const Uint8 *p;
	Uint32 len;
	Uint64 pos; /* offset of its item tag from the first fragment's, as the table counts */
};

static int j2k_describe(DcmDataset *ds, struct j2k_frame_info *fi, long *frames,
			struct fiona_err *err)
{
	Uint16 rows = 0, cols = 0, spp = 0, bits = 0;
	Sint32 nf = 1;

	if (ds->findAndGetUint16(DCM_Rows, rows).bad() ||
	    ds->findAndGetUint16(DCM_Columns, cols).bad() ||
	    ds->findAndGetUint16(DCM_SamplesPerPixel, spp).bad() ||
	    ds->findAndGetUint16(DCM_BitsAllocated, bits).bad())
		return err_set(err, -EINVAL, CORE_NO_OFFSET, CORE_NO_TAG,
			       "JPEG 2000: Rows, Columns, SamplesPerPixel or BitsAllocated absent");
	if (ds->findAndGetSint32(DCM_NumberOfFrames, nf).bad())
		nf = 1; /* absent or empty: one frame */
	if (nf < 1)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG(0x0028, 0x0008),
			       "JPEG 2000: NumberOfFrames %ld", (long)nf);
	if ((spp != 1 && spp != 3) || (bits != 8 && bits != 16))
		return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000 with %u samples of %u bits is not supported", spp, bits);
	*fi = {rows, cols, spp, bits};
	size_t fs = j2k_frame_size(fi);
	if (!fs || fs > J2K_MAX_FRAME_BYTES || fs > J2K_MAX_PIXEL_BYTES / (size_t)nf)
		return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000: %ld frames of %zu bytes decoded would exceed 1 GiB",
			       (long)nf, fs);
	*frames = nf;
	return 0;
}

/* The Basic Offset Table (item 0) and the fragments after it. */
static int j2k_fragments(DcmPixelSequence *seq, std::vector<j2k_fragment> &v,
			 std::vector<Uint32> &bot, struct fiona_err *err)
{
	unsigned long n = seq->card();
	Uint64 pos = 0;

	for (unsigned long i = 0; i < n; i++) {
		DcmPixelItem *it = NULL;
		Uint8 *p = NULL;

		if (seq->getItem(it, i).bad() || !it ||
		    (it->getLength() && (it->getUint8Array(p).bad() || !p)))
			return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
				       "JPEG 2000: pixel item %lu cannot be read", i);
		Uint32 len = it->getLength();
		if (i == 0) {
			if (len % 4)
				return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
					       "JPEG 2000: basic offset table of %u bytes", len);
			for (Uint32 k = 0; k < len; k += 4)
				bot.push_back((Uint32)p[k] | (Uint32)p[k + 1] << 8 |
					      (Uint32)p[k + 2] << 16 | (Uint32)p[k + 3] << 24);
			continue;
		}
		v.push_back({p, len, pos});
		pos += 8 + (Uint64)len;
	}
	if (v.empty())
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000: pixel data has no fragments");
	return 0;
}

/* Frames by the offset table: each entry must be a fragment's offset, increasing. */
static int j2k_split_bot(const std::vector<j2k_fragment> &v, const std::vector<Uint32> &bot,
			 std::vector<size_t> &first, struct fiona_err *err)
{
	size_t k = 0;

	for (size_t f = 0; f < bot.size(); f++) {
		while (k < v.size() && v[k].pos < bot[f])
			k++;
		if (k == v.size() || v[k].pos != bot[f] || (f && bot[f] <= bot[f - 1]))
			return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
				       "JPEG 2000: offset table entry %zu (%u) starts no fragment",
				       f + 1, bot[f]);
		first.push_back(k);
	}
	return 0;
}

/* The first fragment of each frame, and one past the last fragment at the end. */
static int j2k_split(const std::vector<j2k_fragment> &v, const std::vector<Uint32> &bot,
		     long frames, std::vector<size_t> &first, struct fiona_err *err)
{
	int rc = 0;

	if (!bot.empty() && bot.size() != (size_t)frames)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000: offset table of %zu entries for %ld frames", bot.size(),
			       frames);
	if (!bot.empty())
		rc = j2k_split_bot(v, bot, first, err);
	else if (v.size() == (size_t)frames || frames == 1)
		for (size_t k = 0; k < v.size(); k += frames == 1 ? v.size() : 1)
			first.push_back(k);
	else
		/* no table and more fragments than frames: a frame begins where a codestream
		 * (or JP2 file) does, the way dcmtk finds JPEG frames by their SOI */
		for (size_t k = 0; k < v.size(); k++)
			if (j2k_frame_starts(v[k].p, v[k].len))
				first.push_back(k);
	if (!rc && (first.size() != (size_t)frames || first[0] != 0))
		rc = err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			     "JPEG 2000: %zu fragments do not make %ld frames", v.size(), frames);
	first.push_back(v.size());
	return rc;
}

/* Frame f's bytes: its fragment, or its fragments joined into buf. */
static void j2k_frame_bytes(const std::vector<j2k_fragment> &v, const std::vector<size_t> &first,
			    size_t f, std::vector<Uint8> &buf, const Uint8 **p, size_t *n)
{
	*p = v[first[f]].p;
	*n = v[first[f]].len;
	if (first[f + 1] - first[f] > 1) {
		buf.clear();
		for (size_t k = first[f]; k < first[f + 1]; k++)
			buf.insert(buf.end(), v[k].p, v[k].p + v[k].len);
		*p = buf.data();
		*n = buf.size();
	}
}

static int j2k_frame_err(struct fiona_err *err, int rc, size_t f)
{
	char why[sizeof(err->reason)] = "";

	if (err)
		snprintf(why, sizeof(why), "%s", err->reason);
	return err_set(err, rc, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA, "frame %zu: %s", f + 1, why);
}

static int j2k_frames_decode(const std::vector<j2k_fragment> &v, const std::vector<size_t> &first,
			     const struct j2k_frame_info *fi, Uint8 *dst, bool *all_mct,
			     struct fiona_err *err)
{
	size_t fs = j2k_frame_size(fi);
	std::vector<Uint8> joined;
	bool every = true;

	for (size_t f = 0; f + 1 < first.size(); f++) {
		const Uint8 *p;
		size_t n;
		bool mct = false;
		int rc;

		j2k_frame_bytes(v, first, f, joined, &p, &n);
		if ((rc = j2k_frame_decode(p, n, fi, dst + f * fs, fs, &mct, err)))
			return j2k_frame_err(err, rc, f);
		every = every && mct;
	}
	*all_mct = every;
	return 0;
}

/* YBR_RCT / YBR_ICT name the codestream's transform, which OpenJPEG has undone. */
static int j2k_colour(DcmDataset *ds, const struct j2k_frame_info *fi, bool all_mct,
		      struct fiona_err *err)
{
	OFString pi;

	ds->findAndGetOFString(DCM_PhotometricInterpretation, pi);
	if (pi == "YBR_RCT" || pi == "YBR_ICT") {
		if (!all_mct)
			return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG(0x0028, 0x0004),
				       "%s without the codestream's multi-component transform",
				       pi.c_str());
		if (ds->putAndInsertString(DCM_PhotometricInterpretation, "RGB").bad())
			return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	}
	if (fi->spp == 3 && ds->putAndInsertUint16(DCM_PlanarConfiguration, 0).bad())
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	return 0;
}

/* A new native pixel data element of bytes zeroed bytes; *dst is its value. */
static DcmPixelData *j2k_native_new(const struct j2k_frame_info *fi, size_t bytes, Uint8 **dst)
{
	std::unique_ptr<DcmPixelData> np(new DcmPixelData(DCM_PixelData));
	OFCondition c;

	np->setVR(fi->bits_alloc == 16 ? EVR_OW : EVR_OB);
	if (fi->bits_alloc == 16) {
		Uint16 *w = NULL;

		c = np->createUint16Array((Uint32)(bytes / 2), w);
		*dst = reinterpret_cast<Uint8 *>(w);
	} else {
		c = np->createUint8Array((Uint32)bytes, *dst);
	}
	return c.good() && *dst ? np.release() : NULL;
}

/* The encapsulated pixel data replaced by native frames decoded by anon/j2k.c. */
static int j2k_replace(DcmDataset *ds, struct fiona_err *err)
{
	DcmElement *el = NULL;
	DcmPixelSequence *seq = NULL;
	E_TransferSyntax rep = EXS_Unknown;
	const DcmRepresentationParameter *par = NULL;
	std::vector<j2k_fragment> v;
	std::vector<Uint32> bot;
	std::vector<size_t> first;
	struct j2k_frame_info fi;
	long frames = 0;
	bool all_mct = false;
	Uint8 *dst = NULL;
	int rc;

	if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el || el->ident() != EVR_PixelData)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000: no pixel data");
	DcmPixelData *pd = OFstatic_cast(DcmPixelData *, el);
	pd->getOriginalRepresentationKey(rep, par);
	if (pd->getEncapsulatedRepresentation(rep, par, seq).bad() || !seq)
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "JPEG 2000: pixel data is not encapsulated");
	if ((rc = j2k_describe(ds, &fi, &frames, err)) || (rc = j2k_fragments(seq, v, bot, err)) ||
	    (rc = j2k_split(v, bot, frames, first, err)))
		return rc;
	/* the first frame's header proves the dataset's size before the whole is allocated:
	 * a few bytes of codestream can claim a gigabyte */
	const Uint8 *p1;
	size_t n1;
	std::vector<Uint8> joined;
	j2k_frame_bytes(v, first, 0, joined, &p1, &n1);
	if ((rc = j2k_frame_check(p1, n1, &fi, err)))
		return j2k_frame_err(err, rc, 0);
	size_t total = j2k_frame_size(&fi) * (size_t)frames;
	std::unique_ptr<DcmPixelData> np(j2k_native_new(&fi, total, &dst));
	if (!np)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	if ((rc = j2k_frames_decode(v, first, &fi, dst, &all_mct, err)) ||
	    (rc = j2k_colour(ds, &fi, all_mct, err)))
		return rc;
	/* the decoder wrote little endian; dcmtk keeps OW values in host order */
	if (fi.bits_alloc == 16 && gLocalByteOrder == EBO_BigEndian)
		swapIfNecessary(gLocalByteOrder, EBO_LittleEndian, dst, (Uint32)total, 2);
	if (ds->insert(np.get(), OFTrue /* replaces the encapsulated element */).bad())
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	np.release(); /* the dataset owns it now */
	return 0;
}

/* ---- the instance ------------------------------------------------------------------ */

static int native_convert(DcmDataset *ds, struct fiona_err *err)
{
	E_TransferSyntax xfer = ds->getOriginalXfer();
	OFCondition c;

	if (xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000)
		return j2k_replace(ds, err);
	c = ds->chooseRepresentation(EXS_LittleEndianExplicit, NULL);
	if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
		return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "no decoder for this transfer syntax: %s", c.text());
	return 0;
}

static int decode(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len,
		  struct fiona_err *err)
{
	DcmFileFormat ff;
	DcmInputBufferStream in;
	OFCondition c;
	int rc;

	in.setBuffer(p, (offile_off_t)n);
	in.setEos();
	ff.transferInit();
	c = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
	ff.transferEnd();
	if (c.bad())
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "the codec cannot parse the instance: %s", c.text());
	DcmDataset *ds = ff.getDataset();
	if ((rc = native_convert(ds, err)))
		return rc;
	if (!ds->canWriteXfer(EXS_LittleEndianExplicit))
		return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "the decoded pixel data cannot be written uncompressed");
	/* the file meta must name the new transfer syntax */
	ff.getMetaInfo()->clear();
	Uint32 len = ff.calcElementLength(EXS_LittleEndianExplicit, EET_ExplicitLength) + 4096;
	uint8_t *buf = static_cast<uint8_t *>(malloc(len));
	if (!buf)
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	DcmOutputBufferStream os(buf, len);
	ff.transferInit();
	c = ff.write(os, EXS_LittleEndianExplicit, EET_ExplicitLength, NULL);
	ff.transferEnd();
	if (c.bad()) {
		free(buf);
		return err_set(err, -EIO, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "the decoded instance cannot be written: %s", c.text());
	}
	void *written = NULL;
	offile_off_t wlen = 0;
	os.flushBuffer(written, wlen);
	*out = buf;
	*out_len = (size_t)wlen;
	return 0;
}

extern "C" int codec_decode(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len,
			    struct fiona_err *err)
{
	pthread_once(&codecs_once, codecs_register);
	try {
		return decode(p, n, out, out_len, err);
	} catch (const std::bad_alloc &) {
		return err_set(err, -ENOMEM, CORE_NO_OFFSET, CORE_NO_TAG, "out of memory");
	} catch (...) {
		return err_set(err, -EIO, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "the codec failed");
	}
}
