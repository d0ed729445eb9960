/* SPDX-License-Identifier: MIT */
/*
 * mf-buf.h - growable byte buffer, always NUL-terminated so it doubles as a
 * string builder. Zero-initialised (MF_BUF_INIT) is an empty buffer.
 * The buffer owns data; mf_buf_free() releases it, mf_buf_detach() hands it
 * to the caller.
 */
#ifndef MF_BUF_H
#define MF_BUF_H

#include <stdarg.h>
#include "mf-common.h"

struct mf_buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
};
#define MF_BUF_INIT {NULL, 0, 0}

/* Make room for at least extra more bytes (plus the terminating NUL). */
void mf_buf_reserve(struct mf_buf *buf, size_t extra);
void mf_buf_append(struct mf_buf *buf, const void *data, size_t len);
void mf_buf_append_str(struct mf_buf *buf, const char *str);
void mf_buf_append_c(struct mf_buf *buf, char c);
void mf_buf_printf(struct mf_buf *buf, const char *fmt, ...) MF_PRINTF(2, 3);
void mf_buf_vprintf(struct mf_buf *buf, const char *fmt, va_list args)
	MF_PRINTF(2, 0);
/* Append len bytes as lower-case hex. */
void mf_buf_append_hex(struct mf_buf *buf, const void *data, size_t len);
/* Shorten to len (<= current length). */
void mf_buf_truncate(struct mf_buf *buf, size_t len);
/* The contents as a C string ("" when empty); borrowed. */
const char *mf_buf_str(const struct mf_buf *buf);
/* Give the allocated string to the caller (never NULL) and reset buf. */
char *mf_buf_detach(struct mf_buf *buf);
void mf_buf_free(struct mf_buf *buf);

#endif
