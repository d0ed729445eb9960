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

/* NULL-terminated string vectors (keyword lists and the like). One rule
 * everywhere: an empty vector may be NULL, and every function here takes
 * NULL as empty. */
size_t mf_strv_len(const char *const *v);
/* Newly allocated deep copy; NULL when v is NULL or empty. */
char **mf_strv_dup(const char *const *v);
/* Free the strings and the vector, set *v to NULL. */
void mf_strv_free(char ***v);
/* Same strings in the same order (NULL equals empty). */
bool mf_strv_equal(const char *const *a, const char *const *b);

/* Free *ptr and set it to NULL. */
#define mf_free(ptr)                                                           \
	do {                                                                   \
		free(*(ptr));                                                  \
		*(ptr) = NULL;                                                 \
	} while (0)

#endif
