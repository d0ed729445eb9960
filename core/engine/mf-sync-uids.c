/* SPDX-License-Identifier: MIT */
/*
 * UID assignment for messages above the last common UID (dsync reference
 * §3.5). A UID may only be kept when the other side never issued it
 * (it is >= that side's UIDNEXT) or both sides have the same message at
 * it; otherwise a client may have seen a different message under that UID,
 * so the message gets a fresh UID above both UIDNEXTs.
 */
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-hex.h"
#include "mf-sync-private.h"

static int cmp_id_side_uid(const void *a, const void *b)
{
	const struct mf_newmail *x = a, *y = b;
	int c = memcmp(x->id, y->id, 16);

	if (c != 0)
		return c;
	if (x->side != y->side)
		return x->side < y->side ? -1 : 1;
	return x->uid < y->uid ? -1 : (x->uid > y->uid ? 1 : 0);
}

struct unit {
	uint32_t first; /* index into the sorted array */
	uint32_t order; /* when dsync would process it */
};

static int cmp_unit(const void *a, const void *b)
{
	const struct unit *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->first < y->first ? -1 : (x->first > y->first ? 1 : 0);
}

static const char *key_of(const struct mf_newmail *m, char buf[33])
{
	if (m->guid_str != NULL)
		return m->guid_str;
	mf_hex_encode(m->id, 16, buf);
	return buf;
}

/* dsync's order of new mails: GUID string, then UID */
static int cmp_emit(const struct mf_newmail *a, const struct mf_newmail *b)
{
	char ba[33], bb[33];
	int c = strcmp(key_of(a, ba), key_of(b, bb));

	if (c != 0)
		return c;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

static const struct mf_newmail *sort_base;

static int cmp_idx_uid(const void *x, const void *y)
{
	const struct mf_newmail *a = &sort_base[*(const uint32_t *)x];
	const struct mf_newmail *b = &sort_base[*(const uint32_t *)y];
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* order_r[i]: position of m[i] when both sides' UID-ordered lists are
 * merged by (GUID string, UID), which is the order dsync creates and
 * numbers its new-mail records in; a message both sides have at the same
 * UID is one step. */
static void emission_order(const struct mf_newmail *m, size_t count,
                           uint32_t *order_r)
{
	uint32_t *lst[2];
	size_t n[2] = {0, 0}, i = 0, j = 0;
	uint32_t step = 0;

	lst[0] = mf_calloc(count + 1, sizeof(uint32_t));
	lst[1] = mf_calloc(count + 1, sizeof(uint32_t));
	for (size_t k = 0; k < count; k++) {
		int s = m[k].side != 0;
		lst[s][n[s]++] = (uint32_t)k;
	}
	sort_base = m;
	mf_qsort(lst[0], n[0], sizeof(uint32_t), cmp_idx_uid);
	mf_qsort(lst[1], n[1], sizeof(uint32_t), cmp_idx_uid);
	while (i < n[0] || j < n[1]) {
		int c = i == n[0]   ? 1
		        : j == n[1] ? -1
		                    : cmp_emit(&m[lst[0][i]], &m[lst[1][j]]);
		if (c <= 0)
			order_r[lst[0][i++]] = step;
		if (c >= 0)
			order_r[lst[1][j++]] = step;
		step++;
	}
	free(lst[0]);
	free(lst[1]);
}

/* Pair the local and remote instances of one id group [start, end). */
static void pair_group(struct mf_newmail *m, size_t start, size_t end)
{
	size_t mid = start;

	while (mid < end && m[mid].side == 0)
		mid++;
	/* same UID on both sides first: that is one identical message */
	for (size_t i = start; i < mid; i++) {
		for (size_t j = mid; j < end; j++) {
			if (m[j].link < 0 && m[i].uid == m[j].uid) {
				m[i].link = (int32_t)j;
				m[j].link = (int32_t)i;
				break;
			}
		}
	}
	size_t j = mid;
	for (size_t i = start; i < mid; i++) {
		if (m[i].link >= 0)
			continue;
		while (j < end && m[j].link >= 0)
			j++;
		if (j == end)
			break;
		m[i].link = (int32_t)j;
		m[j].link = (int32_t)i;
	}
}

uint32_t mf_sync_assign_uids(struct mf_newmail *m, size_t count,
                             uint32_t local_uidnext, uint32_t remote_uidnext)
{
	uint32_t next = MF_MAX(local_uidnext, remote_uidnext);
	struct unit *units;
	uint32_t *order;
	size_t nunits = 0;

	if (next == 0)
		next = 1;
	mf_qsort(m, count, sizeof(*m), cmp_id_side_uid);
	for (size_t i = 0; i < count; i++)
		m[i].link = -1;
	for (size_t i = 0; i < count;) {
		size_t e = i + 1;
		while (e < count && memcmp(m[e].id, m[i].id, 16) == 0)
			e++;
		pair_group(m, i, e);
		i = e;
	}
	order = mf_calloc(count + 1, sizeof(uint32_t));
	emission_order(m, count, order);
	units = mf_calloc(count + 1, sizeof(*units));
	for (size_t i = 0; i < count; i++) {
		if (m[i].link >= 0 && (size_t)m[i].link < i)
			continue; /* the pair is represented by its first */
		units[nunits].first = (uint32_t)i;
		units[nunits].order = m[i].link >= 0
		                          ? MF_MIN(order[i], order[m[i].link])
		                          : order[i];
		nunits++;
	}
	free(order);
	mf_qsort(units, nunits, sizeof(*units), cmp_unit);
	for (size_t u = 0; u < nunits; u++) {
		struct mf_newmail *a = &m[units[u].first];
		struct mf_newmail *b = a->link >= 0 ? &m[a->link] : NULL;
		uint32_t other_next_a =
		    a->side == 0 ? remote_uidnext : local_uidnext;
		uint32_t final;

		if (b != NULL && a->uid == b->uid)
			final = a->uid;
		else if (a->uid >= other_next_a)
			final = a->uid;
		else if (b != NULL && b->uid >= (b->side == 0 ? remote_uidnext
		                                              : local_uidnext))
			final = b->uid;
		else
			final = next++;
		a->final_uid = final;
		if (b != NULL)
			b->final_uid = final;
	}
	free(units);
	return next;
}
