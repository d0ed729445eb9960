/* SPDX-License-Identifier: MIT */
/*
 * mf-log.h - the core's logging. Lines go to stderr as
 * "mailferry: <level>: <text>"; debug lines only when enabled (-D).
 * Messages follow the project's rules: lower case, subject first, no
 * trailing period, and the failing call, path and strerror() when a system
 * call failed.
 */
#ifndef MF_LOG_H
#define MF_LOG_H

#include <stdarg.h>
#include "mf-common.h"

enum mf_log_level {
	MF_LOG_DEBUG = 0,
	MF_LOG_INFO = 1,
	MF_LOG_WARNING = 2,
	MF_LOG_ERROR = 3,
};

/* Lowest level printed (default MF_LOG_INFO). */
void mf_log_set_level(enum mf_log_level level);
enum mf_log_level mf_log_get_level(void);
/* Optional prefix printed before every message (e.g. "user1: "); copied. */
void mf_log_set_prefix(const char *prefix);

void mf_logv(enum mf_log_level level, const char *fmt, va_list args)
	MF_PRINTF(2, 0);
void mf_log(enum mf_log_level level, const char *fmt, ...) MF_PRINTF(2, 3);
#define mf_debug(...) mf_log(MF_LOG_DEBUG, __VA_ARGS__)
#define mf_info(...) mf_log(MF_LOG_INFO, __VA_ARGS__)
#define mf_warning(...) mf_log(MF_LOG_WARNING, __VA_ARGS__)
#define mf_error(...) mf_log(MF_LOG_ERROR, __VA_ARGS__)

#endif
