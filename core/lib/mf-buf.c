/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"

void mf_buf_reserve(struct mf_buf *buf, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - buf->len - 1)
		abort();
	need = buf->len + extra + 1;
	if (need <= buf->cap)
		return;
	size_t cap = buf->cap < 64 ? 64 : buf->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	buf->data = mf_realloc(buf->data, cap);
	buf->cap = cap;
}

void mf_buf_append(struct mf_buf *buf, const void *data, size_t len)
{
	mf_buf_reserve(buf, len);
	if (len > 0)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

void mf_buf_append_str(struct mf_buf *buf, const char *str)
{
	mf_buf_append(buf, str, strlen(str));
}

void mf_buf_append_c(struct mf_buf *buf, char c)
{
	mf_buf_append(buf, &c, 1);
}

void mf_buf_vprintf(struct mf_buf *buf, const char *fmt, va_list args)
{
	va_list args2;
	int len;

	va_copy(args2, args);
	len = vsnprintf(NULL, 0, fmt, args2);
	va_end(args2);
	if (len < 0)
		return;
	mf_buf_reserve(buf, (size_t)len);
	vsnprintf(buf->data + buf->len, (size_t)len + 1, fmt, args);
	buf->len += (size_t)len;
}

void mf_buf_printf(struct mf_buf *buf, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(buf, fmt, args);
	va_end(args);
}

void mf_buf_append_hex(struct mf_buf *buf, const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;

	mf_buf_reserve(buf, len * 2);
	for (size_t i = 0; i < len; i++) {
		buf->data[buf->len++] = hex[p[i] >> 4];
		buf->data[buf->len++] = hex[p[i] & 15];
	}
	buf->data[buf->len] = '\0';
}

void mf_buf_truncate(struct mf_buf *buf, size_t len)
{
	if (len < buf->len) {
		buf->len = len;
		buf->data[len] = '\0';
	}
}

const char *mf_buf_str(const struct mf_buf *buf)
{
	return buf->data == NULL ? "" : buf->data;
}

char *mf_buf_detach(struct mf_buf *buf)
{
	char *p = buf->data == NULL ? mf_strdup("") : buf->data;

	buf->data = NULL;
	buf->len = buf->cap = 0;
	return p;
}

void mf_buf_free(struct mf_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}
