/*
 * deid_values: the values de-identification writes by itself — SET templates with
 * {project} {participant} {event} placeholders, and the dummy value (action D) per VR.
 * Invariants: pure functions, no allocation; output always NUL-terminated on success and
 * left unspecified on error.
 */
#include "core/core.h"
#include "anon/anon.h"

#include <errno.h>

int deid_template_expand(const char *tmpl, const char *project, const char *participant,
			 const char *event, char *out, size_t cap)
{
	static const char *const names[] = {"{project}", "{participant}", "{event}"};
	const char *vals[] = {project ? project : "", participant ? participant : "",
			      event ? event : ""};
	size_t pos = 0;

	if (!tmpl || !out || cap == 0)
		return -EINVAL;
	for (const char *c = tmpl; *c;) {
		const char *piece = c;
		size_t len = 1, i;

		if (*c == '{') {
			for (i = 0; i < CORE_ARRAY_SIZE(names); i++)
				if (!strncmp(c, names[i], strlen(names[i])))
					break;
			if (i == CORE_ARRAY_SIZE(names))
				return -EINVAL;
			c += strlen(names[i]);
			piece = vals[i];
			len = strlen(piece);
		} else {
			c++;
		}
		if (len >= cap - pos)
			return -ENOSPC;
		memcpy(out + pos, piece, len);
		pos += len;
	}
	out[pos] = '\0';
	return 0;
}

const char *deid_dummy_value(uint16_t vr)
{
	static const struct {
		uint16_t vr;
		const char *value;
	} dummies[] = {
		{DCM_VR('P', 'N'), "ANONYMOUS"},  {DCM_VR('D', 'A'), "19000101"},
		{DCM_VR('T', 'M'), "000000.00"},  {DCM_VR('D', 'T'), "19000101000000.00"},
		{DCM_VR('A', 'S'), "000Y"},	  {DCM_VR('I', 'S'), "0"},
		{DCM_VR('D', 'S'), "0"},	  {DCM_VR('C', 'S'), "ANONYMIZED"},
		{DCM_VR('U', 'I'), "2.25.0"},	  {DCM_VR('A', 'E'), "ANONYMOUS"},
		{DCM_VR('L', 'O'), "ANONYMIZED"}, {DCM_VR('S', 'H'), "ANONYMIZED"},
		{DCM_VR('L', 'T'), "ANONYMIZED"}, {DCM_VR('S', 'T'), "ANONYMIZED"},
		{DCM_VR('U', 'T'), "ANONYMIZED"}, {DCM_VR('U', 'C'), "ANONYMIZED"},
		{DCM_VR('U', 'R'), "ANONYMIZED"},
	};

	for (size_t i = 0; i < CORE_ARRAY_SIZE(dummies); i++)
		if (dummies[i].vr == vr)
			return dummies[i].value;
	return NULL;
}
