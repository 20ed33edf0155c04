/*
 * codec: compressed pixel data decoded by dcmtk's codecs (JPEG baseline, extended,
 * lossless and SV1; JPEG-LS; RLE Lossless) behind a C interface (anon/codec_int.h), as
 * net/dcmtk.cc does for networking: no dcmtk type crosses it and every exception stays
 * here. The instance is parsed from memory, its dataset converted to explicit VR little
 * endian (dcmtk also turns JPEG's YBR_FULL_422 into RGB and updates the photometric
 * interpretation), and written back to a memory buffer as a Part-10 file, which the C
 * side reads like any native instance. Nothing is written to disk.
 *
 * The codecs register once per process (dcmtk keeps them in a global list of its own).
 */
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <pthread.h>

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

static int decode(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len,
		  struct fiona_err *err)
{
	DcmFileFormat ff;
	DcmInputBufferStream in;
	OFCondition c;

	in.setBuffer(p, (offile_off_t)n);
	in.setEos();
	ff.transferInit();
	c = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
	ff.transferEnd();
	if (c.bad())
		return err_set(err, -EINVAL, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "the codec cannot parse the instance: %s", c.text());
	DcmDataset *ds = ff.getDataset();
	c = ds->chooseRepresentation(EXS_LittleEndianExplicit, NULL);
	if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
		return err_set(err, -ENOTSUP, CORE_NO_OFFSET, DCM_TAG_PIXEL_DATA,
			       "no decoder for this transfer syntax: %s", c.text());
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
