/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-log.h"

static enum mf_log_level mf_log_level = MF_LOG_INFO;
static char *mf_log_prefix;

void mf_log_set_level(enum mf_log_level level)
{
	mf_log_level = level;
}

enum mf_log_level mf_log_get_level(void)
{
	return mf_log_level;
}

void mf_log_set_prefix(const char *prefix)
{
	free(mf_log_prefix);
	mf_log_prefix = prefix == NULL ? NULL : mf_strdup(prefix);
}

void mf_logv(enum mf_log_level level, const char *fmt, va_list args)
{
	static const char *const names[] = {"debug", "info", "warning",
					    "error"};
	struct mf_buf line = MF_BUF_INIT;

	if (level < mf_log_level)
		return;
	/* Build the whole line first so concurrent writers do not interleave
	 * within a line. */
	mf_buf_printf(&line, "mailferry: %s: %s", names[level],
		      mf_log_prefix == NULL ? "" : mf_log_prefix);
	mf_buf_vprintf(&line, fmt, args);
	mf_buf_append_c(&line, '\n');
	fwrite(line.data, 1, line.len, stderr);
	fflush(stderr);
	mf_buf_free(&line);
}

void mf_log(enum mf_log_level level, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	mf_logv(level, fmt, args);
	va_end(args);
}
