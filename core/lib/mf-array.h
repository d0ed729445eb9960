/* SPDX-License-Identifier: MIT */
/*
 * mf-array.h - typed growable arrays.
 *
 *   MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;
 *   mf_array_push(&uids, 42);
 *   for (size_t i = 0; i < uids.count; i++) use(uids.items[i]);
 *   mf_array_free(&uids);
 *
 * The array owns items (not what items point to).
 */
#ifndef MF_ARRAY_H
#define MF_ARRAY_H

#include <stdlib.h>
#include "mf-alloc.h"

#define MF_ARRAY(type)                                                         \
	struct {                                                               \
		type *items;                                                   \
		size_t count;                                                  \
		size_t cap;                                                    \
	}
#define MF_ARRAY_INIT {NULL, 0, 0}

/* Internal: grow *items to hold need items of itemsize bytes. */
void mf_array_grow_(void **items, size_t *cap, size_t need, size_t itemsize);

/* Make room for n more items (an expression). */
#define mf_array_reserve(arr, n)                                               \
	((arr)->count + (n) > (arr)->cap                                       \
		 ? mf_array_grow_((void **)&(arr)->items, &(arr)->cap,         \
				  (arr)->count + (n), sizeof(*(arr)->items))   \
		 : (void)0)

#define mf_array_push(arr, value)                                              \
	do {                                                                   \
		mf_array_reserve(arr, 1);                                      \
		(arr)->items[(arr)->count++] = (value);                        \
	} while (0)

/* Pointer to a new zeroed item at the end. */
#define mf_array_append_zero(arr)                                              \
	(mf_array_reserve(arr, 1),                                             \
	 memset(&(arr)->items[(arr)->count], 0, sizeof(*(arr)->items)),        \
	 &(arr)->items[(arr)->count++])

#define mf_array_free(arr)                                                     \
	do {                                                                   \
		free((arr)->items);                                            \
		(arr)->items = NULL;                                           \
		(arr)->count = (arr)->cap = 0;                                 \
	} while (0)

/* qsort() and bsearch() that accept an empty array: C leaves them undefined
 * for a NULL base even with zero elements, and UBSan aborts on it, while an
 * empty MF_ARRAY has items == NULL. */
static inline void mf_qsort(void *base, size_t count, size_t size,
			    int (*cmp)(const void *, const void *))
{
	if (count > 1)
		qsort(base, count, size, cmp);
}

static inline void *mf_bsearch(const void *key, const void *base,
			       size_t count, size_t size,
			       int (*cmp)(const void *, const void *))
{
	return count == 0 ? NULL : bsearch(key, base, count, size, cmp);
}

#define mf_array_sort(arr, cmp)                                                \
	mf_qsort((arr)->items, (arr)->count, sizeof(*(arr)->items), cmp)

#endif
