/* SPDX-License-Identifier: MIT */
/*
 * Keyword sets: every distinct set of keywords is stored once and messages
 * refer to it by index, so a million messages with the same few keywords
 * cost one uint32_t each. Keywords merge one name at a time with the same
 * per-bit rule as system flags (dsync reference §3.7).
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-header-hash.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-box.h"

/* ------------------------------------------------------- keyword sets */

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static uint32_t set_hash(char **set)
{
	uint32_t h = 7;
	for (size_t i = 0; set[i] != NULL; i++)
		h = h * 31 + str_hash(set[i]);
	return h;
}

static bool set_equal(char **a, char **b)
{
	size_t i;
	for (i = 0; a[i] != NULL && b[i] != NULL; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return a[i] == NULL && b[i] == NULL;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void kw_rehash(struct mf_kwsets *k, size_t size)
{
	mf_array_free(&k->hash);
	mf_array_reserve(&k->hash, size);
	memset(k->hash.items, 0, size * sizeof(uint32_t));
	k->hash.count = size;
	for (size_t i = 0; i < k->sets.count; i++) {
		size_t pos = set_hash(k->sets.items[i]) % size;
		while (k->hash.items[pos] != 0)
			pos = (pos + 1) % size;
		k->hash.items[pos] = (uint32_t)i + 1;
	}
}

void mf_kw_init(struct mf_kwsets *k)
{
	char **empty = mf_calloc(1, sizeof(char *));
	mf_array_push(&k->sets, empty);
	kw_rehash(k, 64);
}

/* Intern a NULL-terminated keyword list (need not be sorted). */
uint32_t mf_kw_intern(struct mf_kwsets *k, const char *const *kws)
{
	size_t n = 0, pos;
	char **set;

	if (kws == NULL || kws[0] == NULL)
		return 0;
	while (kws[n] != NULL)
		n++;
	set = mf_calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		set[i] = (char *)kws[i];
	mf_qsort(set, n, sizeof(char *), cmp_str);
	pos = set_hash(set) % k->hash.count;
	while (k->hash.items[pos] != 0) {
		uint32_t idx = k->hash.items[pos] - 1;
		if (set_equal(k->sets.items[idx], set)) {
			free(set);
			return idx;
		}
		pos = (pos + 1) % k->hash.count;
	}
	for (size_t i = 0; i < n; i++)
		set[i] = mf_strdup(set[i]);
	mf_array_push(&k->sets, set);
	if (k->sets.count * 2 > k->hash.count)
		kw_rehash(k, k->hash.count * 4);
	else
		k->hash.items[pos] = (uint32_t)k->sets.count;
	return (uint32_t)k->sets.count - 1;
}

void mf_kw_free(struct mf_kwsets *k)
{
	for (size_t i = 0; i < k->sets.count; i++) {
		for (size_t j = 0; k->sets.items[i][j] != NULL; j++)
			free(k->sets.items[i][j]);
		free(k->sets.items[i]);
	}
	mf_array_free(&k->sets);
	mf_array_free(&k->hash);
}

static bool set_has(char **set, const char *kw)
{
	for (size_t i = 0; set[i] != NULL; i++) {
		if (strcmp(set[i], kw) == 0)
			return true;
	}
	return false;
}

/* Merge keywords name by name with the flag-merge rule. */
uint32_t mf_kw_merge(struct mf_kwsets *k, const struct mf_box_msg *l,
                     const struct mf_box_msg *r, bool prefer_local)
{
	MF_ARRAY(const char *) names = MF_ARRAY_INIT;
	MF_ARRAY(const char *) out = MF_ARRAY_INIT;
	uint32_t idx[6] = {l->kw, l->kw_add, l->kw_rm,
	                   r->kw, r->kw_add, r->kw_rm};
	uint32_t result;

	if (l->kw == r->kw && l->kw_add == 0 && l->kw_rm == 0 &&
	    r->kw_add == 0 && r->kw_rm == 0)
		return l->kw;
	for (int i = 0; i < 6; i++) {
		char **set = k->sets.items[idx[i]];
		for (size_t j = 0; set[j] != NULL; j++) {
			bool dup = false;
			for (size_t m = 0; m < names.count && !dup; m++)
				dup = strcmp(names.items[m], set[j]) == 0;
			if (!dup)
				mf_array_push(&names, set[j]);
		}
	}
	for (size_t m = 0; m < names.count; m++) {
		const char *n = names.items[m];
		struct mf_flag_merge_in in = {
		    .local_final = set_has(k->sets.items[l->kw], n),
		    .local_add = set_has(k->sets.items[l->kw_add], n),
		    .local_remove = set_has(k->sets.items[l->kw_rm], n),
		    .remote_final = set_has(k->sets.items[r->kw], n),
		    .remote_add = set_has(k->sets.items[r->kw_add], n),
		    .remote_remove = set_has(k->sets.items[r->kw_rm], n),
		    .prefer_local = prefer_local,
		};
		if (mf_sync_merge_flags(&in) & 1)
			mf_array_push(&out, n);
	}
	mf_array_push(&out, NULL);
	result = mf_kw_intern(k, out.items);
	mf_array_free(&names);
	mf_array_free(&out);
	return result;
}
