/* SPDX-License-Identifier: MIT */
/*
 * maildir-warn.h - how the file parsers report recoverable problems: they
 * call a warning function the caller supplies (the driver forwards it to
 * api->log at WARNING level; unit tests collect the lines).
 */
#ifndef MAILDIR_WARN_H
#define MAILDIR_WARN_H

#include "mf-common.h"

struct maildir_warn {
	void (*fn)(void *context, const char *text);
	void *context;
};

/* Format a warning and hand it to w (no-op when w or w->fn is NULL). */
void maildir_warn(const struct maildir_warn *w, const char *fmt, ...)
    MF_PRINTF(2, 3);

#endif
