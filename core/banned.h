/*
 * Functions fiona does not use. Included by core/core.h after the system headers that
 * declare them, so every module that includes core.h gets it.
 * Unbounded copies (strcpy, strcat, sprintf, strncpy's silent truncation), strtok's hidden
 * state, atoi's missing error reporting, and gmtime/localtime's static buffers are all
 * sources of bugs in code that parses untrusted bytes. Use the alternatives named.
 */
#ifndef FIONA_BANNED_H
#define FIONA_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy) /* use snprintf or memcpy with a checked length */
#undef strcat
#define strcat(x, y) BANNED(strcat) /* use a struct buf */
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy) /* use snprintf */
#undef sprintf
#define sprintf(...) BANNED(sprintf) /* use snprintf */
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf) /* use vsnprintf */
#undef strtok
#define strtok(x, y) BANNED(strtok) /* use strtok_r or a cursor */
#undef atoi
#define atoi(x) BANNED(atoi) /* use core_parse_long */
#undef gmtime
#define gmtime(x) BANNED(gmtime) /* use gmtime_r */
#undef localtime
#define localtime(x) BANNED(localtime) /* use localtime_r */

#endif
