/* SPDX-License-Identifier: MIT */
/* mf-common.h - attributes and tiny macros used everywhere in the core. */
#ifndef MF_COMMON_H
#define MF_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MF_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MF_WARN_UNUSED __attribute__((warn_unused_result))
#define MF_NORETURN __attribute__((noreturn))
#define MF_UNUSED __attribute__((unused))

#define MF_N_ELEMENTS(arr) (sizeof(arr) / sizeof((arr)[0]))
#define MF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MF_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Zero a struct through a pointer. */
#define mf_zero(p) memset((p), 0, sizeof(*(p)))

/* True when str starts with prefix. */
static inline bool mf_str_begins(const char *str, const char *prefix)
{
	return strncmp(str, prefix, strlen(prefix)) == 0;
}

/* True when str ends with suffix. */
static inline bool mf_str_ends(const char *str, const char *suffix)
{
	size_t a = strlen(str), b = strlen(suffix);
	return a >= b && memcmp(str + a - b, suffix, b) == 0;
}

#include "banned.h"

#endif
