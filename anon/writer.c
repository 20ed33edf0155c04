/*
 * DICOM writer: explicit VR little endian elements and the Part-10 file meta header.
 *
 * Everything fiona writes goes through here, so the encoding rules live in one place:
 * values padded to even length with the VR's padding byte, 16-bit lengths for short
 * VRs and reserved bytes + 32-bit lengths for long ones, sequences and items always
 * with undefined length (nested content is then streamed without being measured first).
 * The meta header's group length is computed from the bytes actually written.
 */
#include "core/core.h"

#include <errno.h>

#include "anon/anon.h"

/* Text VRs are padded with a space, everything else (UI, OB, UN, ...) with NUL. */
static bool vr_pads_with_space(uint16_t vr)
{
	static const char text[] = "AEASCSDADSDTISLOLTPNSHSTTMUCURUT";
	for (size_t i = 0; i + 1 < sizeof(text); i += 2)
		if (DCM_VR(text[i], text[i + 1]) == vr)
			return true;
	return false;
}

size_t dcm_vr_value_size(uint16_t vr)
{
	switch (vr) {
	case DCM_VR('U', 'S'):
	case DCM_VR('S', 'S'):
	case DCM_VR('O', 'W'):
		return 2;
	case DCM_VR('U', 'L'):
	case DCM_VR('S', 'L'):
	case DCM_VR('F', 'L'):
	case DCM_VR('O', 'F'):
	case DCM_VR('O', 'L'):
	case DCM_VR('A', 'T'):
		return 4;
	case DCM_VR('F', 'D'):
	case DCM_VR('O', 'D'):
	case DCM_VR('S', 'V'):
	case DCM_VR('U', 'V'):
	case DCM_VR('O', 'V'):
		return 8;
	default:
		return 1;
	}
}

static int put_tag(struct buf *b, uint32_t tag)
{
	int rc = buf_append_le16(b, (uint16_t)(tag >> 16));
	return rc ? rc : buf_append_le16(b, (uint16_t)(tag & 0xffff));
}

int dcm_write_header(struct buf *b, uint32_t tag, uint16_t vr, uint32_t len)
{
	uint8_t v[2] = {(uint8_t)(vr >> 8), (uint8_t)(vr & 0xff)};
	int rc;

	if (len != DCM_UNDEFINED_LENGTH && (len & 1))
		return -EINVAL;
	if (!dcm_vr_has_long_length(vr) && len > 0xffff)
		return -EINVAL;
	rc = put_tag(b, tag);
	if (!rc)
		rc = buf_append(b, v, 2);
	if (rc)
		return rc;
	if (!dcm_vr_has_long_length(vr))
		return buf_append_le16(b, (uint16_t)len);
	rc = buf_append_le16(b, 0);
	return rc ? rc : buf_append_le32(b, len);
}

int dcm_write_elem(struct buf *b, uint32_t tag, uint16_t vr, const void *val, size_t len)
{
	size_t unit = dcm_vr_value_size(vr), padded = len + (len & 1);
	uint8_t pad = vr_pads_with_space(vr) ? ' ' : 0;
	int rc;

	if (vr == DCM_VR_SQ || len % unit || padded > 0xfffffffeu)
		return -EINVAL;
	rc = dcm_write_header(b, tag, vr, (uint32_t)padded);
	if (!rc && len)
		rc = buf_append(b, val, len);
	if (!rc && padded != len)
		rc = buf_append_u8(b, pad);
	return rc;
}

int dcm_write_str(struct buf *b, uint32_t tag, uint16_t vr, const char *s)
{
	return dcm_write_elem(b, tag, vr, s, strlen(s));
}

static int write_delim(struct buf *b, uint32_t tag, uint32_t len)
{
	int rc = put_tag(b, tag);
	return rc ? rc : buf_append_le32(b, len);
}

int dcm_write_seq_begin(struct buf *b, uint32_t tag)
{
	return dcm_write_header(b, tag, DCM_VR_SQ, DCM_UNDEFINED_LENGTH);
}

int dcm_write_seq_end(struct buf *b)
{
	return write_delim(b, DCM_TAG_SEQ_DELIM, 0);
}

int dcm_write_item_begin(struct buf *b)
{
	return write_delim(b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
}

int dcm_write_item_end(struct buf *b)
{
	return write_delim(b, DCM_TAG_ITEM_DELIM, 0);
}

/* Group 0002 without its group length, appended to b. */
static int write_meta_body(struct buf *b, const struct dcm_meta *m)
{
	static const uint8_t version[2] = {0x00, 0x01};
	int rc = dcm_write_elem(b, DCM_TAG(0x0002, 0x0001), DCM_VR('O', 'B'), version, 2);

	if (!rc)
		rc = dcm_write_str(b, DCM_TAG(0x0002, 0x0002), DCM_VR('U', 'I'), m->sop_class_uid);
	if (!rc)
		rc = dcm_write_str(b, DCM_TAG(0x0002, 0x0003), DCM_VR('U', 'I'),
				   m->sop_instance_uid);
	if (!rc)
		rc = dcm_write_str(b, DCM_TAG(0x0002, 0x0010), DCM_VR('U', 'I'), m->ts_uid);
	if (!rc)
		rc = dcm_write_str(b, DCM_TAG(0x0002, 0x0012), DCM_VR('U', 'I'),
				   FIONA_IMPLEMENTATION_UID);
	if (!rc)
		rc = dcm_write_str(b, DCM_TAG(0x0002, 0x0013), DCM_VR('S', 'H'),
				   FIONA_IMPLEMENTATION_VERSION);
	return rc;
}

int dcm_write_part10_header(struct buf *b, const struct dcm_meta *m)
{
	static const uint8_t preamble[128];
	struct buf body;
	uint32_t glen;
	int rc;

	if (!m || !m->sop_class_uid || !m->sop_instance_uid || !m->ts_uid)
		return -EINVAL;
	buf_init(&body, 4096);
	rc = write_meta_body(&body, m);
	if (rc)
		goto fail;
	glen = (uint32_t)body.len;
	rc = buf_append(b, preamble, sizeof(preamble));
	if (!rc)
		rc = buf_append(b, "DICM", 4);
	if (!rc)
		rc = dcm_write_elem(b, DCM_TAG(0x0002, 0x0000), DCM_VR('U', 'L'),
				    (uint8_t[4]){(uint8_t)glen, (uint8_t)(glen >> 8),
						 (uint8_t)(glen >> 16), (uint8_t)(glen >> 24)},
				    4);
	if (!rc)
		rc = buf_append(b, body.data, body.len);
fail:
	buf_release(&body);
	return rc;
}
