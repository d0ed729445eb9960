/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-array.h"

static void MF_NORETURN mf_oom(size_t size)
{
	char msg[96];
	int len =
	    snprintf(msg, sizeof(msg),
	             "mailferry: out of memory allocating %zu bytes\n", size);
	if (len > 0 && write(STDERR_FILENO, msg, (size_t)len) < 0) {
		/* nothing more we can do */
	}
	abort();
}

void *mf_malloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);
	if (p == NULL)
		mf_oom(size);
	return p;
}

void *mf_calloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);
	if (p == NULL)
		mf_oom(nmemb * size);
	return p;
}

void *mf_realloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);
	if (p == NULL)
		mf_oom(size);
	return p;
}

void *mf_reallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		mf_oom(SIZE_MAX);
	return mf_realloc(ptr, nmemb * size);
}

char *mf_strndup(const char *str, size_t len)
{
	char *p = mf_malloc(len + 1);
	memcpy(p, str, len);
	p[len] = '\0';
	return p;
}

char *mf_strdup(const char *str)
{
	return mf_strndup(str, strlen(str));
}

char *mf_strdup_printf(const char *fmt, ...)
{
	va_list args, args2;
	int len;
	char *p;

	va_start(args, fmt);
	va_copy(args2, args);
	len = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (len < 0)
		mf_oom(0);
	p = mf_malloc((size_t)len + 1);
	vsnprintf(p, (size_t)len + 1, fmt, args2);
	va_end(args2);
	return p;
}

size_t mf_strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t len = strlen(src);

	if (dstsize > 0) {
		size_t n = len >= dstsize ? dstsize - 1 : len;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void mf_array_grow_(void **items, size_t *cap, size_t need, size_t itemsize)
{
	size_t newcap = *cap < 8 ? 8 : *cap;

	while (newcap < need)
		newcap = newcap > SIZE_MAX / 2 ? need : newcap * 2;
	*items = mf_reallocarray(*items, newcap, itemsize);
	*cap = newcap;
}

size_t mf_strv_len(const char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

char **mf_strv_dup(const char *const *v)
{
	size_t n = mf_strv_len(v);
	char **out;

	if (n == 0)
		return NULL;
	out = mf_calloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = mf_strdup(v[i]);
	return out;
}

void mf_strv_free(char ***v)
{
	if (*v == NULL)
		return;
	for (size_t i = 0; (*v)[i] != NULL; i++)
		free((*v)[i]);
	mf_free(v);
}

bool mf_strv_equal(const char *const *a, const char *const *b)
{
	size_t n = mf_strv_len(a);

	if (n != mf_strv_len(b))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return true;
}
