/* SPDX-License-Identifier: MIT */
/*
 * banned.h - turn unsafe libc calls into compile errors in our own code.
 * Included last by mf-common.h. Use mf_buf / snprintf / mf_strlcpy instead.
 */
#ifndef MF_BANNED_H
#define MF_BANNED_H

#define MF_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) MF_BANNED(strcpy)
#undef strcat
#define strcat(x, y) MF_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) MF_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) MF_BANNED(strncat)
#undef sprintf
#define sprintf(...) MF_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) MF_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) MF_BANNED(strtok)
#undef gets
#define gets(x) MF_BANNED(gets)
#undef gmtime
#define gmtime(t) MF_BANNED(gmtime)
#undef localtime
#define localtime(t) MF_BANNED(localtime)
#undef ctime
#define ctime(t) MF_BANNED(ctime)
#undef asctime
#define asctime(t) MF_BANNED(asctime)

#endif
