/* SPDX-License-Identifier: MIT */
/*
 * mf-alloc.h - allocation for internal code: abort with a message on
 * out-of-memory, as a CLI tool can. ABI entry points in drivers must not use
 * these for memory that crosses the ABI (driver.h rule O4) and return
 * MAILFERRY_E_NOMEM instead of aborting where they can.
 */
#ifndef MF_ALLOC_H
#define MF_ALLOC_H

#include "mf-common.h"

void *mf_malloc(size_t size);
void *mf_calloc(size_t nmemb, size_t size);
void *mf_realloc(void *ptr, size_t size);
/* realloc to nmemb * size, aborting on multiplication overflow */
void *mf_reallocarray(void *ptr, size_t nmemb, size_t size);
char *mf_strdup(const char *str);
char *mf_strndup(const char *str, size_t len);
/* Formatted, newly allocated string; the caller frees it. */
char *mf_strdup_printf(const char *fmt, ...) MF_PRINTF(1, 2);
/* Copy src into dst of size dstsize, always NUL-terminated; returns
 * strlen(src) (truncated if >= dstsize). */
size_t mf_strlcpy(char *dst, const char *src, size_t dstsize);

/* Free *ptr and set it to NULL. */
#define mf_free(ptr)                                                           \
	do {                                                                   \
		free(*(ptr));                                                  \
		*(ptr) = NULL;                                                 \
	} while (0)

#endif
