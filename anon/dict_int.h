/* Private to anon/: the generated tag dictionary table (build/gen/dict_table.c). */
#ifndef FIONA_ANON_DICT_INT_H
#define FIONA_ANON_DICT_INT_H

#include <stddef.h>
#include <stdint.h>

/* One dicom.dic row; ranges (6000-60FF,3000) have lo != hi. vr "--" = no VR (items). */
struct dcm_dict_entry {
	uint16_t group_lo, group_hi, elem_lo, elem_hi;
	const char *vr;
	const char *keyword;
	const char *vm;
};

extern const struct dcm_dict_entry dcm_dict_table[];
extern const size_t dcm_dict_count;

#endif
