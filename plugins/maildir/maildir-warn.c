/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdlib.h>

#include "mf-buf.h"
#include "maildir-warn.h"

void maildir_warn(const struct maildir_warn *w, const char *fmt, ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	if (w == NULL || w->fn == NULL)
		return;
	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	w->fn(w->context, mf_buf_str(&buf));
	mf_buf_free(&buf);
}
