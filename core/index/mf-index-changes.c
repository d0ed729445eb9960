/* SPDX-License-Identifier: MIT */
/* mf-index-changes.c - "what changed since modseq N" and "what was
 * expunged since modseq N", read from the transaction logs with Dovecot's
 * modseq counting (dovecot-formats.md §8.5). */
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-hex.h"
#include "mf-index-private.h"

struct kw_acc {
	uint32_t kw;
	uint8_t last; /* 1 add, 2 remove */
};

struct acc {
	uint32_t seq;
	bool used, appended;
	uint8_t last_add, last_rm; /* flags whose last change added/removed */
	uint64_t modseq;
	MF_ARRAY(struct kw_acc) kws;
};

struct scan {
	struct mf_index *index;
	/* The messages the logs touch, in the order first seen, and a hash
	 * table of them by seq (slot = index + 1, 0 empty). Sized by what
	 * the logs hold, not by the mailbox: an array for every message of
	 * a large mailbox cost ~40 bytes each on every query. */
	struct acc *accs;
	uint32_t accs_count, accs_cap;
	uint32_t *slots;
	uint32_t slots_mask;          /* slot count - 1 (a power of two) */
	uint32_t first_logged_append; /* lowest uid appended in the logs */
	uint32_t last_append;         /* highest uid appended so far */
	uint64_t modseq;
};

/* Oldest log and whether the logs reach back to since_modseq. */
static int history_check(struct mf_index *index, uint64_t since,
                         const struct mf_log_file **files, int *nfiles)
{
	const struct mf_log_file *oldest;

	*nfiles = 0;
	if (since == 0) {
		/* "since the beginning" asks for whatever the logs still
		 * hold (e.g. expunged GUIDs to recognise): rotated-away
		 * history makes the answer partial, never an error, as the
		 * driver ABI's expunge iterator defines for 0. */
		if (!index->have_log)
			return 0;
	} else if (!index->have_log) {
		if (since >= mf_index_highest_modseq(index) && since != 0)
			return 0;
		return mf_index_set_error(index, MF_INDEX_ERR_NOHISTORY,
		                          "%s: no transaction log to read "
		                          "changes since modseq %llu from",
		                          index->index_path,
		                          (unsigned long long)since);
	}
	if (index->have_log2 &&
	    index->log.prev_offset == index->log2.valid_size &&
	    mf_index_log2_reload(index) == 0)
		files[(*nfiles)++] = &index->log2;
	files[(*nfiles)++] = &index->log;
	oldest = files[0];
	if (since != 0 && oldest->prev_seq != 0 &&
	    (since < oldest->initial_modseq || oldest->initial_modseq == 0))
		return mf_index_set_error(
		    index, MF_INDEX_ERR_NOHISTORY,
		    "%s: modseq %llu is no longer in the transaction logs "
		    "(oldest log %s starts at modseq %llu)",
		    index->index_path, (unsigned long long)since, oldest->path,
		    (unsigned long long)oldest->initial_modseq);
	return 0;
}

static bool uid_existed(const struct scan *sc, uint32_t uid)
{
	return uid < sc->first_logged_append || uid <= sc->last_append;
}

static uint32_t seq_slot(const struct scan *sc, uint32_t seq)
{
	uint32_t i = (seq * 2654435761u) & sc->slots_mask;

	while (sc->slots[i] != 0 && sc->accs[sc->slots[i] - 1].seq != seq)
		i = (i + 1) & sc->slots_mask;
	return i;
}

static void slots_grow(struct scan *sc)
{
	uint32_t n = sc->slots == NULL ? 1024 : (sc->slots_mask + 1) * 2;

	free(sc->slots);
	sc->slots = mf_calloc(n, sizeof(*sc->slots));
	sc->slots_mask = n - 1;
	for (uint32_t k = 0; k < sc->accs_count; k++)
		sc->slots[seq_slot(sc, sc->accs[k].seq)] = k + 1;
}

/* The accumulator of seq (created zeroed). The pointer is valid until the
 * next call. */
static struct acc *acc_get(struct scan *sc, uint32_t seq)
{
	struct acc *a;
	uint32_t i;

	if (sc->slots == NULL || sc->accs_count * 2 >= sc->slots_mask)
		slots_grow(sc);
	i = seq_slot(sc, seq);
	if (sc->slots[i] == 0) {
		if (sc->accs_count == sc->accs_cap) {
			sc->accs_cap = sc->accs_cap * 2 + 64;
			sc->accs = mf_reallocarray(sc->accs, sc->accs_cap,
			                           sizeof(*sc->accs));
		}
		a = &sc->accs[sc->accs_count++];
		mf_zero(a);
		a->seq = seq;
		sc->slots[i] = sc->accs_count;
	}
	a = &sc->accs[sc->slots[i] - 1];
	if (sc->modseq > a->modseq)
		a->modseq = sc->modseq;
	a->used = true;
	return a;
}

static void flag_op(struct acc *a, uint8_t bits, bool add)
{
	if (add) {
		a->last_add |= bits;
		a->last_rm &= (uint8_t)~bits;
	} else {
		a->last_rm |= bits;
		a->last_add &= (uint8_t)~bits;
	}
}

static void kw_op(struct acc *a, uint32_t kw, bool add)
{
	uint8_t op = add ? 1 : 2;

	for (size_t i = 0; i < a->kws.count; i++) {
		if (a->kws.items[i].kw == kw) {
			a->kws.items[i].last = op;
			return;
		}
	}
	{
		struct kw_acc k = {kw, op};

		mf_array_push(&a->kws, k);
	}
}

/* Call fn on each existing seq covered by the uid ranges at p. */
static void for_ranges(struct scan *sc, const uint8_t *p, uint32_t size,
                       uint32_t stride,
                       void (*fn)(struct scan *, uint32_t, const void *),
                       const void *arg)
{
	const struct mf_map *map = &sc->index->map;

	for (uint32_t i = 0; i + 8 <= size; i += stride) {
		uint32_t s1, s2;

		if (!mf_map_uid_range(map, mf_le32(p + i), mf_le32(p + i + 4),
		                      &s1, &s2))
			continue;
		for (uint32_t s = s1; s <= s2; s++) {
			if (uid_existed(sc, mf_le32(mf_map_rec(map, s))))
				fn(sc, s, arg ? arg : p + i);
		}
	}
}

static void on_flags(struct scan *sc, uint32_t seq, const void *arg)
{
	const uint8_t *u = arg;
	struct acc *a = acc_get(sc, seq);

	flag_op(a, u[9] & MF_INDEX_FLAGS_SYSTEM, false);
	flag_op(a, u[8] & MF_INDEX_FLAGS_SYSTEM, true);
}

struct kw_arg {
	uint32_t kw;
	bool add;
};

static void on_keyword(struct scan *sc, uint32_t seq, const void *arg)
{
	const struct kw_arg *k = arg;

	kw_op(acc_get(sc, seq), k->kw, k->add);
}

static void on_keyword_reset(struct scan *sc, uint32_t seq, const void *arg)
{
	struct acc *a = acc_get(sc, seq);

	(void)arg;
	for (uint32_t k = 0; k < sc->index->map.keywords.count; k++)
		kw_op(a, k, false);
}

static void scan_record(struct scan *sc, uint32_t type, const uint8_t *d,
                        uint32_t size)
{
	const struct mf_map *map = &sc->index->map;

	switch (mf_log_base_type(type)) {
	case MF_T_APPEND:
		for (uint32_t i = 0; i + 8 <= size; i += 8) {
			uint32_t uid = mf_le32(d + i);
			uint32_t seq = mf_map_find_uid(map, uid);

			if (uid > sc->last_append)
				sc->last_append = uid;
			if (seq != 0)
				acc_get(sc, seq)->appended = true;
		}
		break;
	case MF_T_FLAG_UPDATE:
		for (uint32_t i = 0; i + 12 <= size; i += 12) {
			uint8_t add = d[i + 8], rm = d[i + 9];

			if (((add | rm) & MF_INDEX_FLAGS_SYSTEM) == 0 &&
			    d[i + 10] == 0)
				continue;
			for_ranges(sc, d + i, 12, 12, on_flags, NULL);
		}
		break;
	case MF_T_KEYWORD_UPDATE: {
		uint32_t ns = mf_le16(d + 2), off = MF_ALIGN4(4 + ns);
		char *name = mf_strndup((const char *)d + 4, ns);
		int kw = mf_map_keyword_find(map, name);
		struct kw_arg k;

		free(name);
		if (kw < 0)
			break;
		k.kw = (uint32_t)kw;
		k.add = d[0] == 0;
		for_ranges(sc, d + off, size - off, 8, on_keyword, &k);
		break;
	}
	case MF_T_KEYWORD_RESET:
		for_ranges(sc, d, size, 8, on_keyword_reset, d);
		break;
	case MF_T_MODSEQ_UPDATE:
		for (uint32_t i = 0; i + 12 <= size; i += 12) {
			uint32_t seq = mf_map_find_uid(map, mf_le32(d + i));

			if (seq != 0)
				(void)acc_get(sc, seq);
		}
		break;
	default:
		break;
	}
}

static uint32_t first_append_uid(const struct mf_log_file *const *files,
                                 int nfiles)
{
	for (int f = 0; f < nfiles; f++) {
		size_t off = files[f]->hdr_size;
		uint32_t type, size;
		const uint8_t *d;

		while (mf_log_file_next(files[f], &off, &type, &d, &size) > 0) {
			if (mf_log_base_type(type) == MF_T_APPEND && size >= 8)
				return mf_le32(d);
		}
	}
	return UINT32_MAX;
}

static int acc_seq_cmp(const void *a, const void *b)
{
	const struct acc *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int mf_index_changes_since(struct mf_index *index, uint64_t since_modseq,
                           enum mf_index_changes_flags flags,
                           struct mf_index_changes *changes_r)
{
	const struct mf_log_file *files[2];
	struct scan sc;
	int nfiles, ret;

	mf_zero(changes_r);
	if ((ret = history_check(index, since_modseq, files, &nfiles)) < 0)
		return ret;
	mf_zero(&sc);
	sc.index = index;
	sc.first_logged_append = first_append_uid(files, nfiles);
	for (int f = 0; f < nfiles; f++) {
		const struct mf_log_file *lf = files[f];
		size_t off = lf->hdr_size;
		uint32_t type, size;
		const uint8_t *d;

		sc.modseq = lf->initial_modseq;
		while (mf_log_file_next(lf, &off, &type, &d, &size) > 0) {
			uint64_t before = sc.modseq;
			uint32_t base = mf_log_base_type(type);

			mf_log_update_modseq(type, d, size, &sc.modseq,
			                     lf->minor);
			if (sc.modseq > changes_r->max_modseq)
				changes_r->max_modseq = sc.modseq;
			if (sc.modseq <= since_modseq ||
			    (sc.modseq == before &&
			     base != MF_T_MODSEQ_UPDATE) ||
			    ((flags & MF_INDEX_CHANGES_SKIP_SYNC) != 0 &&
			     (type & MF_T_SYNC) != 0)) {
				/* not reported, but appends still tell which
				 * uids existed from here on */
				for (uint32_t i = 0;
				     base == MF_T_APPEND && i + 8 <= size;
				     i += 8)
					sc.last_append = MF_MAX(sc.last_append,
					                        mf_le32(d + i));
				continue;
			}
			scan_record(&sc, type, d, size);
		}
	}

	/* ascending seq is ascending uid */
	if (sc.accs_count > 1)
		mf_qsort(sc.accs, sc.accs_count, sizeof(*sc.accs), acc_seq_cmp);
	for (uint32_t ai = 0; ai < sc.accs_count; ai++) {
		struct acc *a = &sc.accs[ai];
		uint32_t s = a->seq;
		struct mf_index_change *c;

		if (!a->used)
			continue;
		if (changes_r->count % 64 == 0)
			changes_r->items = mf_reallocarray(
			    changes_r->items, changes_r->count + 64,
			    sizeof(*changes_r->items));
		c = &changes_r->items[changes_r->count++];
		mf_zero(c);
		c->uid = mf_le32(mf_map_rec(&index->map, s));
		c->appended = a->appended;
		c->modseq = a->modseq;
		/* the last change of each flag counts, as in dsync's log
		 * scan: an add then a remove is a remove. (Cancelling them
		 * out would lose the remove when the other side never had
		 * the add, e.g. in a sync without a state.) */
		c->flags_added = a->last_add;
		c->flags_removed = a->last_rm;
		for (size_t k = 0; k < a->kws.count; k++) {
			const struct kw_acc *ka = &a->kws.items[k];

			if (ka->last == 1) {
				c->kw_added = mf_reallocarray(
				    c->kw_added, c->kw_added_count + 1,
				    sizeof(uint32_t));
				c->kw_added[c->kw_added_count++] = ka->kw;
			} else {
				c->kw_removed = mf_reallocarray(
				    c->kw_removed, c->kw_removed_count + 1,
				    sizeof(uint32_t));
				c->kw_removed[c->kw_removed_count++] = ka->kw;
			}
		}
		mf_array_free(&a->kws);
	}
	free(sc.accs);
	free(sc.slots);
	mf_index_log2_release(index);
	return 0;
}

void mf_index_changes_free(struct mf_index_changes *changes)
{
	for (uint32_t i = 0; i < changes->count; i++) {
		free(changes->items[i].kw_added);
		free(changes->items[i].kw_removed);
	}
	free(changes->items);
	mf_zero(changes);
}

struct pos_uid {
	uint32_t uid;
	size_t pos;
};

/* by uid, then by position, so the first of equal uids comes first */
static int cmp_pos_uid(const void *a, const void *b)
{
	const struct pos_uid *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_expunge_uid(const void *a, const void *b)
{
	const struct mf_index_expunge *x = a, *y = b;
	return x->uid < y->uid ? -1 : (x->uid > y->uid ? 1 : 0);
}

/* An expunge done by a sync (maildir: the file was gone) is logged with
 * an empty GUID; the expunge request before it (or any other expunge
 * record of that UID: a UID names one message) often has the GUID. Fill
 * it in as Dovecot's mailbox_get_expunges() does, so the other side can
 * tell it was this very message. exps: no repeated UIDs. */
static void guids_from_requests(const struct mf_log_file *const *files,
                                int nfiles, struct mf_index_expunge *exps,
                                size_t count)
{
	struct mf_index_expunge *sorted;
	size_t missing = 0;

	for (size_t i = 0; i < count; i++)
		missing += !exps[i].have_guid;
	if (missing == 0)
		return;
	/* a sorted copy to look UIDs up; results go back by position */
	sorted = mf_calloc(count, sizeof(*sorted));
	memcpy(sorted, exps, count * sizeof(*sorted));
	mf_qsort(sorted, count, sizeof(*sorted), cmp_expunge_uid);
	for (int f = 0; f < nfiles && missing > 0; f++) {
		const struct mf_log_file *lf = files[f];
		size_t off = lf->hdr_size;
		uint32_t type, size;
		const uint8_t *d;

		while (missing > 0 &&
		       mf_log_file_next(lf, &off, &type, &d, &size) > 0) {
			if (mf_log_base_type(type) != MF_T_EXPUNGE_GUID)
				continue;
			for (uint32_t i = 0; i + 20 <= size; i += 20) {
				struct mf_index_expunge key, *e;

				key.uid = mf_le32(d + i);
				e = mf_bsearch(&key, sorted, count,
				               sizeof(*sorted),
				               cmp_expunge_uid);
				if (e == NULL || e->have_guid ||
				    mf_guid128_is_empty(d + i + 4))
					continue;
				memcpy(e->guid, d + i + 4, 16);
				e->have_guid = true;
				missing--;
			}
		}
	}
	for (size_t i = 0; i < count; i++) {
		struct mf_index_expunge *e;

		if (exps[i].have_guid)
			continue;
		e = mf_bsearch(&exps[i], sorted, count, sizeof(*sorted),
		               cmp_expunge_uid);
		if (e != NULL && e->have_guid) {
			memcpy(exps[i].guid, e->guid, 16);
			exps[i].have_guid = true;
		}
	}
	free(sorted);
}

int mf_index_expunges_since(struct mf_index *index, uint64_t since_modseq,
                            enum mf_index_changes_flags flags,
                            struct mf_index_expunge **expunges_r,
                            uint32_t *count_r)
{
	const struct mf_log_file *files[2];
	MF_ARRAY(struct mf_index_expunge) out = MF_ARRAY_INIT;
	uint32_t next_uid = mf_map_hdr32(&index->map, MF_HOFF_NEXT_UID);
	int nfiles, ret;

	*expunges_r = NULL;
	*count_r = 0;
	if ((ret = history_check(index, since_modseq, files, &nfiles)) < 0)
		return ret;
	for (int f = 0; f < nfiles; f++) {
		const struct mf_log_file *lf = files[f];
		size_t off = lf->hdr_size;
		uint32_t type, size;
		const uint8_t *d;
		uint64_t modseq = lf->initial_modseq;

		while (mf_log_file_next(lf, &off, &type, &d, &size) > 0) {
			uint32_t base = mf_log_base_type(type);

			mf_log_update_modseq(type, d, size, &modseq, lf->minor);
			if ((base != MF_T_EXPUNGE &&
			     base != MF_T_EXPUNGE_GUID) ||
			    (type & MF_T_EXTERNAL) == 0 ||
			    modseq <= since_modseq)
				continue;
			if ((flags & MF_INDEX_CHANGES_SKIP_SYNC) != 0 &&
			    (type & MF_T_SYNC) != 0)
				continue;
			if (base == MF_T_EXPUNGE_GUID) {
				for (uint32_t i = 0; i + 20 <= size; i += 20) {
					struct mf_index_expunge *e =
					    mf_array_append_zero(&out);

					e->uid = mf_le32(d + i);
					memcpy(e->guid, d + i + 4, 16);
					e->have_guid =
					    !mf_guid128_is_empty(e->guid);
					e->modseq = modseq;
				}
				continue;
			}
			for (uint32_t i = 0; i + 8 <= size; i += 8) {
				uint32_t a = mf_le32(d + i),
				         b = mf_le32(d + i + 4);

				if (b >= next_uid)
					b = next_uid - 1;
				for (uint32_t u = a; u <= b && u != 0; u++) {
					struct mf_index_expunge *e =
					    mf_array_append_zero(&out);

					e->uid = u;
					e->modseq = modseq;
					if (u == UINT32_MAX)
						break;
				}
			}
		}
	}
	/* drop uids still present and repeated expunges of one uid (the
	 * first one counts); sorting (uid, position) pairs keeps this
	 * O(n log n) for large expunges */
	{
		struct pos_uid *pu = mf_calloc(out.count + 1, sizeof(*pu));
		bool *keep = mf_calloc(out.count + 1, sizeof(bool));
		size_t n = 0;

		for (size_t i = 0; i < out.count; i++) {
			pu[i].uid = out.items[i].uid;
			pu[i].pos = i;
		}
		mf_qsort(pu, out.count, sizeof(*pu), cmp_pos_uid);
		for (size_t i = 0; i < out.count; i++) {
			if (i == 0 || pu[i].uid != pu[i - 1].uid)
				keep[pu[i].pos] = true;
		}
		for (size_t i = 0; i < out.count; i++) {
			if (!keep[i] ||
			    mf_map_find_uid(&index->map, out.items[i].uid) != 0)
				continue;
			out.items[n++] = out.items[i];
		}
		free(pu);
		free(keep);
		out.count = n;
	}
	guids_from_requests(files, nfiles, out.items, out.count);
	mf_index_log2_release(index);
	*expunges_r = out.items;
	*count_r = (uint32_t)out.count;
	return 0;
}
