/* SPDX-License-Identifier: MIT */
/*
 * Deciding what changes on each side (dsync reference §3.5-§3.9): the last
 * common UID, per-flag merges of common messages, expunges both ways, UIDs
 * for new messages (conflicts renumbered above both UIDNEXTs), and the
 * backup rules. Only plans are made here; mf-sync-apply.c carries them out.
 */
#include <stdlib.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-header-hash.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-box.h"

/* ------------------------------------------------------------- merging */

bool mf_box_id_equal(const struct mf_box_msg *a, const struct mf_box_msg *b)
{
	return memcmp(a->id, b->id, 16) == 0;
}
#define id_equal mf_box_id_equal

void mf_box_add_flag_op(struct mf_box_side *b, uint32_t uid, uint32_t flags,
                        uint32_t kw, uint64_t min_modseq)
{
	struct mf_flag_op *op = mf_array_append_zero(&b->flag_ops);
	op->uid = uid;
	op->flags = flags;
	op->kw = kw;
	op->min_modseq = min_modseq;
}

#define add_flag_op mf_box_add_flag_op

/* A save of message msg (msgs[msg_idx] of msg_side) whose body is read
 * from from_side at from_uid. */
static struct mf_save_op *add_save(struct mf_box_sync *bs,
                                   struct mf_box_side *b, uint32_t uid,
                                   int from_side, uint32_t from_uid,
                                   int msg_side, const struct mf_box_msg *msg,
                                   uint32_t flags, uint32_t kw,
                                   uint64_t min_modseq)
{
	struct mf_save_op *op = mf_array_append_zero(&b->saves);
	op->uid = uid;
	op->from_side = (uint8_t)from_side;
	op->from_uid = from_uid;
	op->msg_side = (uint8_t)msg_side;
	op->msg_idx = (uint32_t)(msg - bs->b[msg_side].msgs.items);
	op->flags = flags;
	op->kw = kw;
	op->min_modseq = min_modseq;
	return op;
}

/* ---------------------------------------------------- planned expunges */

static uint32_t id_hash(const uint8_t id[16])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ id[i]) * 16777619u;
	return h;
}

/* Index pend[idx] by id unless an equal id is indexed already (one copy
 * source per id is enough, and equal ids never chain). */
static void pend_index(struct mf_box_side *b, uint32_t idx)
{
	size_t mask = b->pend_hash.count - 1;
	size_t pos = id_hash(b->pend.items[idx].id) & mask;

	while (b->pend_hash.items[pos] != 0) {
		uint32_t o = b->pend_hash.items[pos] - 1;
		if (memcmp(b->pend.items[o].id, b->pend.items[idx].id, 16) == 0)
			return;
		pos = (pos + 1) & mask;
	}
	b->pend_hash.items[pos] = idx + 1;
}

void mf_box_pend_add(struct mf_box_side *b, uint32_t uid, const uint8_t id[16])
{
	struct mf_box_pend *p;

	mf_array_push(&b->expunges, uid);
	p = mf_array_append_zero(&b->pend);
	p->uid = uid;
	memcpy(p->id, id, 16);
	if (b->pend.count * 2 > b->pend_hash.count) {
		size_t size = MF_MAX(b->pend_hash.count * 2, 64);
		mf_array_free(&b->pend_hash);
		mf_array_reserve(&b->pend_hash, size);
		memset(b->pend_hash.items, 0, size * sizeof(uint32_t));
		b->pend_hash.count = size;
		for (size_t i = 0; i < b->pend.count; i++)
			pend_index(b, (uint32_t)i);
	} else {
		pend_index(b, (uint32_t)b->pend.count - 1);
	}
}

void mf_box_pend_clear(struct mf_box_side *b)
{
	b->expunges.count = 0;
	b->pend.count = 0;
	if (b->pend_hash.count > 0)
		memset(b->pend_hash.items, 0,
		       b->pend_hash.count * sizeof(uint32_t));
}

static const struct mf_box_pend *pend_find(const struct mf_box_side *b,
                                           const uint8_t id[16])
{
	size_t mask, pos;

	if (b->pend_hash.count == 0)
		return NULL;
	mask = b->pend_hash.count - 1;
	pos = id_hash(id) & mask;
	while (b->pend_hash.items[pos] != 0) {
		const struct mf_box_pend *p =
		    &b->pend.items[b->pend_hash.items[pos] - 1];
		if (memcmp(p->id, id, 16) == 0)
			return p;
		pos = (pos + 1) & mask;
	}
	return NULL;
}

/* Whose value a flag takes when no recorded change decides it: the
 * higher modseq, a tie going to the master (local), as dsync does. The
 * modseqs of two stores that cannot keep each other's UIDs are not one
 * sequence: with a state, the side that changed the message since the
 * last run wins (a store without flag history, like IMAP, is heard this
 * way); without one nothing better than dsync's rule is known. */
static bool prefer_local_side(const struct mf_box_sync *bs,
                              const struct mf_box_msg *l,
                              const struct mf_box_msg *r)
{
	if (bs->ids && bs->stateful) {
		bool cl = l->modseq > bs->since[0];
		bool cr = r->modseq > bs->since[1];
		return cl || !cr;
	}
	return l->modseq >= r->modseq;
}

/* Merge a message both sides have: each side gets the merged flags. */
void mf_box_merge_flags(struct mf_box_sync *bs, const struct mf_box_msg *l,
                        const struct mf_box_msg *r, uint32_t *flags_r,
                        uint32_t *kw_r)
{
	bool prefer_local;

	if (bs->ctx->p->mode == MF_ENGINE_BACKUP) {
		const struct mf_box_msg *src = bs->ctx->source == 0 ? l : r;
		*flags_r = src->flags;
		*kw_r = src->kw;
		return;
	}
	prefer_local = prefer_local_side(bs, l, r);
	struct mf_flag_merge_in in = {
	    .local_final = l->flags,
	    .local_add = l->flags_add,
	    .local_remove = l->flags_rm,
	    .remote_final = r->flags,
	    .remote_add = r->flags_add,
	    .remote_remove = r->flags_rm,
	    .prefer_local = prefer_local,
	};
	*flags_r = mf_sync_merge_flags(&in);
	*kw_r = mf_kw_merge(&bs->kw, l, r, prefer_local);
}

void mf_box_set_common_flags(struct mf_box_sync *bs, const struct mf_box_msg *l,
                             const struct mf_box_msg *r)
{
	uint32_t flags, kw;
	uint64_t modseq = MF_MAX(l->modseq, r->modseq);

	mf_box_merge_flags(bs, l, r, &flags, &kw);
	if (flags != l->flags || kw != l->kw)
		add_flag_op(&bs->b[0], l->uid, flags, kw, modseq);
	if (flags != r->flags || kw != r->kw)
		add_flag_op(&bs->b[1], r->uid, flags, kw, modseq);
}

/* Messages at or below the last common UID. */
void mf_box_merge_common(struct mf_box_sync *bs)
{
	struct mf_box_side *L = &bs->b[0], *R = &bs->b[1];
	size_t i = 0, j = 0;

	while (i < L->msgs.count || j < R->msgs.count) {
		struct mf_box_msg *l =
		    i < L->msgs.count ? &L->msgs.items[i] : NULL;
		struct mf_box_msg *r =
		    j < R->msgs.count ? &R->msgs.items[j] : NULL;

		if (l != NULL && l->uid > bs->lcu)
			l = NULL;
		if (r != NULL && r->uid > bs->lcu)
			r = NULL;
		if (l == NULL && r == NULL)
			break;
		if (l != NULL && r != NULL && l->uid == r->uid) {
			if (!id_equal(l, r)) {
				/* a UID believed common holds different
				 * messages: touch nothing */
				bs->anomaly = true;
				return;
			}
			mf_box_set_common_flags(bs, l, r);
			i++;
			j++;
			continue;
		}
		struct mf_box_side *have, *other;
		struct mf_box_msg *m;
		if (r == NULL || (l != NULL && l->uid < r->uid)) {
			have = L, other = R, m = l;
			i++;
		} else {
			have = R, other = L, m = r;
			j++;
		}
		/* the other side expunged it: verify by GUID when it can */
		const struct mf_box_exp *e = mf_box_exp_find(other, m->uid);
		if (bs->stateful && e == NULL) {
			bs->anomaly = true;
			return;
		}
		if (e != NULL && e->have_guid && bs->ctx->use_guids &&
		    memcmp(e->guid, m->id, 16) != 0) {
			bs->anomaly = true;
			return;
		}
		mf_box_pend_add(have, m->uid, m->id);
	}
}

static bool has_flag(struct mf_box_sync *bs, const struct mf_box_msg *m,
                     const char *flag)
{
	static const char *const names[] = {"\\Answered", "\\Flagged",
	                                    "\\Deleted", "\\Seen", "\\Draft"};
	char **kw = bs->kw.sets.items[m->kw];

	if (flag[0] == '\\') {
		for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
			if (strcasecmp(flag, names[i]) == 0)
				return (m->flags & (1u << i)) != 0;
		}
		return false;
	}
	for (size_t i = 0; kw[i] != NULL; i++) {
		if (strcmp(kw[i], flag) == 0)
			return true;
	}
	return false;
}

/* -t/-e/-I/-O: a message the other side lacks that is not copied (it
 * stays where it is; nothing is ever deleted because of a filter). */
bool mf_box_save_filtered(struct mf_box_sync *bs, const struct mf_box_msg *m)
{
	const struct mf_sync_params *p = bs->ctx->p;

	if (p->received_after != 0 && m->received < p->received_after)
		return true;
	if (p->received_before != 0 && m->received >= p->received_before)
		return true;
	/* sizes above 4 GiB are clamped: still above any sane -I */
	if (p->max_size != 0 && m->size > p->max_size)
		return true;
	if (p->sync_flag != NULL && p->sync_flag[0] != '\0' &&
	    has_flag(bs, m, p->sync_flag) == p->sync_flag_negated)
		return true;
	return false;
}

/* A message whose id the side already has elsewhere: copy locally. */
static const struct mf_box_side *cmp_ctx;

static int cmp_by_id(const void *x, const void *y)
{
	const struct mf_box_msg *m = cmp_ctx->msgs.items;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	int c = memcmp(m[a].id, m[b].id, 16);

	if (c != 0)
		return c;
	return a < b ? -1 : (a > b ? 1 : 0);
}

/* b->by_id: indexes of b->msgs sorted by id, then UID; built once the
 * list is complete. */
static void ensure_by_id(struct mf_box_side *b)
{
	if (b->by_id_valid && b->by_id.count == b->msgs.count)
		return;
	b->by_id_valid = true;
	b->by_id.count = 0;
	mf_array_reserve(&b->by_id, b->msgs.count);
	for (size_t i = 0; i < b->msgs.count; i++)
		b->by_id.items[b->by_id.count++] = (uint32_t)i;
	cmp_ctx = b;
	mf_qsort(b->by_id.items, b->by_id.count, sizeof(uint32_t), cmp_by_id);
}

static int msgs_instance(struct mf_box_side *b, const uint8_t id[16])
{
	size_t lo = 0, hi;

	ensure_by_id(b);
	hi = b->by_id.count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(b->msgs.items[b->by_id.items[mid]].id, id, 16) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->by_id.count &&
	    memcmp(b->msgs.items[b->by_id.items[lo]].id, id, 16) == 0)
		return (int)b->by_id.items[lo];
	return -1;
}

bool mf_box_copy_source(struct mf_box_side *b, const uint8_t id[16],
                        uint32_t *uid_r)
{
	const struct mf_box_pend *p;
	int li = msgs_instance(b, id);

	if (li >= 0) {
		*uid_r = b->msgs.items[li].uid;
		return true;
	}
	p = pend_find(b, id);
	if (p != NULL) {
		*uid_r = p->uid;
		return true;
	}
	return false;
}

void mf_box_plan_instance(struct mf_box_sync *bs, int side, uint32_t final,
                          const struct mf_box_msg *have_here, int src_side,
                          const struct mf_box_msg *src, uint32_t flags,
                          uint32_t kw, uint64_t modseq)
{
	struct mf_box_side *b = &bs->b[side];
	uint32_t local_uid;

	if (have_here != NULL) {
		if (have_here->uid == final || bs->ids) {
			/* (a store that cannot keep UIDs has no use for
			 * moving a message to another UID) */
			if (flags != have_here->flags || kw != have_here->kw)
				add_flag_op(b, have_here->uid, flags, kw,
				            modseq);
			return;
		}
		/* move to the new UID: copy inside the mailbox and expunge
		 * the old UID, committed together by mf-sync-apply.c */
		add_save(bs, b, final, side, have_here->uid, side, have_here,
		         flags, kw, modseq)
		    ->move = true;
		return;
	}
	if (bs->ctx->use_guids && mf_box_copy_source(b, src->id, &local_uid)) {
		add_save(bs, b, final, side, local_uid, src_side, src, flags,
		         kw, modseq);
		return;
	}
	add_save(bs, b, final, src_side, src->uid, src_side, src, flags, kw,
	         modseq);
}

/* Messages above the last common UID. */
void mf_box_merge_new(struct mf_box_sync *bs)
{
	MF_ARRAY(struct mf_newmail) nm = MF_ARRAY_INIT;
	const struct mf_sync_params *p = bs->ctx->p;

	for (int s = 0; s < 2; s++) {
		struct mf_box_side *b = &bs->b[s];
		for (size_t i = 0; i < b->msgs.count; i++) {
			const struct mf_box_msg *m = &b->msgs.items[i];
			if (m->uid <= bs->lcu)
				continue;
			/* -t/-e: a message the other side lacks is not
			 * copied; it stays where it is */
			bool other_has =
			    mf_box_msg_find(&bs->b[1 - s], m->uid) != NULL;
			uint32_t cp;
			if (!other_has && mf_box_save_filtered(bs, m) &&
			    !mf_box_copy_source(&bs->b[1 - s], m->id, &cp))
				continue;
			struct mf_newmail *n = mf_array_append_zero(&nm);
			memcpy(n->id, m->id, 16);
			n->uid = m->uid;
			n->side = (uint8_t)s;
			n->index = (uint32_t)i;
			n->guid_str = m->guid_str != 0
			                  ? b->pool.data + m->guid_str - 1
			                  : NULL;
		}
	}
	bs->next_uid = mf_sync_assign_uids(
	    nm.items, nm.count, bs->b[0].st.uidnext, bs->b[1].st.uidnext);
	for (size_t k = 0; k < nm.count; k++) {
		struct mf_newmail *a = &nm.items[k];
		struct mf_newmail *o = a->link >= 0 ? &nm.items[a->link] : NULL;
		const struct mf_box_msg *ma =
		    &bs->b[a->side].msgs.items[a->index];
		const struct mf_box_msg *mo =
		    o != NULL ? &bs->b[o->side].msgs.items[o->index] : NULL;
		uint32_t flags = ma->flags, kw = ma->kw;
		uint64_t modseq = ma->modseq;

		if (o != NULL && a->link < (int32_t)k)
			continue; /* handled with its pair */
		if (mo != NULL) {
			const struct mf_box_msg *l = a->side == 0 ? ma : mo;
			const struct mf_box_msg *r = a->side == 0 ? mo : ma;
			mf_box_merge_flags(bs, l, r, &flags, &kw);
			modseq = MF_MAX(l->modseq, r->modseq);
		} else if (p->mode == MF_ENGINE_BACKUP &&
		           a->side != bs->ctx->source) {
			/* destination-only: not in the source */
			mf_box_pend_add(&bs->b[a->side], ma->uid, ma->id);
			continue;
		}
		for (int s = 0; s < 2; s++) {
			const struct mf_box_msg *here =
			    a->side == s ? ma : (mo != NULL ? mo : NULL);
			mf_box_plan_instance(bs, s, a->final_uid, here, a->side,
			                     ma, flags, kw, modseq);
		}
	}
	mf_array_free(&nm);
}

/* Backup: the destination must equal the source. A source message the
 * destination lacks is saved at its UID when that is still possible;
 * otherwise (UID below the destination's UIDNEXT, or expunged on the
 * destination only since the saved state) the destination mailbox is
 * rebuilt. (The UID-ordered walk itself is in mf-sync-stream.c.) */
bool mf_box_backup_save(struct mf_box_sync *bs, const struct mf_box_msg *s)
{
	int si = bs->ctx->source, di = 1 - si;
	struct mf_box_side *D = &bs->b[di];
	uint32_t local_uid;

	if (mf_box_save_filtered(bs, s))
		return true;
	if ((bs->stateful && s->uid <= bs->lcu) || s->uid < D->st.uidnext) {
		bs->recreate = true;
		return false;
	}
	if (bs->ctx->use_guids && mf_box_copy_source(D, s->id, &local_uid))
		add_save(bs, D, s->uid, di, local_uid, si, s, s->flags, s->kw,
		         s->modseq);
	else
		add_save(bs, D, s->uid, si, s->uid, si, s, s->flags, s->kw,
		         s->modseq);
	return true;
}

/* Backup when the destination cannot keep UIDs (or could not restart
 * them): its messages are made the source's as a multiset of identities
 * (GUID or header hash): pairs get the source's flags and keywords,
 * destination-only messages are expunged, source-only ones saved in
 * source UID order with whatever UIDs the destination gives. */
void mf_box_merge_backup_ids(struct mf_box_sync *bs)
{
	int si = bs->ctx->source, di = 1 - si;
	struct mf_box_side *S = &bs->b[si], *D = &bs->b[di];
	size_t i = 0, j = 0;

	bs->next_uid = 0; /* nothing to raise: UIDs are the store's */
	ensure_by_id(S);
	ensure_by_id(D);
	while (i < S->by_id.count || j < D->by_id.count) {
		struct mf_box_msg *s = i < S->by_id.count
		                           ? &S->msgs.items[S->by_id.items[i]]
		                           : NULL;
		struct mf_box_msg *d = j < D->by_id.count
		                           ? &D->msgs.items[D->by_id.items[j]]
		                           : NULL;
		int c = s == NULL   ? 1
		        : d == NULL ? -1
		                    : memcmp(s->id, d->id, 16);

		if (c == 0) {
			if (s->flags != d->flags || s->kw != d->kw)
				add_flag_op(D, d->uid, s->flags, s->kw,
				            s->modseq);
			i++;
			j++;
		} else if (c > 0) {
			mf_box_pend_add(D, d->uid, d->id);
			j++;
		} else {
			i++;
			if (mf_box_save_filtered(bs, s))
				continue;
			add_save(bs, D, s->uid, si, s->uid, si, s, s->flags,
			         s->kw, s->modseq);
		}
	}
}

void mf_box_backup_ids_save(struct mf_box_sync *bs, const struct mf_box_msg *s)
{
	int si = bs->ctx->source;

	if (!mf_box_save_filtered(bs, s))
		add_save(bs, &bs->b[1 - si], s->uid, si, s->uid, si, s,
		         s->flags, s->kw, s->modseq);
}

struct uid_id {
	uint32_t uid;
	uint8_t id[16];
};
typedef MF_ARRAY(struct uid_id) uid_id_array;

static int cmp_uid_id(const void *x, const void *y)
{
	const struct uid_id *a = x, *b = y;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* Side b as it is after the plan was carried out (b->expunges sorted by
 * mf_box_apply_changes()): its messages above the last common UID minus
 * the expunges plus the saves at the UIDs the store reported. *cap_r is lowered below the first UID a save may have got
 * when the store did not say which. */
static void after_apply(const struct mf_box_sync *bs,
                        const struct mf_box_side *b, uid_id_array *out,
                        uint32_t *cap_r)
{
	for (size_t i = 0; i < b->msgs.count; i++) {
		const struct mf_box_msg *m = &b->msgs.items[i];
		struct uid_id *x;

		if (m->uid <= bs->lcu ||
		    (b->s->writable &&
		     mf_bsearch(&m->uid, b->expunges.items, b->expunges.count,
		                sizeof(uint32_t), mf_box_cmp_u32) != NULL))
			continue;
		x = mf_array_append_zero(out);
		x->uid = m->uid;
		memcpy(x->id, m->id, 16);
	}
	for (size_t i = 0; i < b->saves.count && b->s->writable; i++) {
		const struct mf_save_op *op = &b->saves.items[i];
		struct uid_id *x;

		if (op->uid == 0)
			continue; /* not saved */
		if (op->got_uid == 0) {
			*cap_r = MF_MIN(*cap_r, b->start_uidnext - 1);
			continue;
		}
		x = mf_array_append_zero(out);
		x->uid = op->got_uid;
		memcpy(x->id, bs->b[op->msg_side].msgs.items[op->msg_idx].id,
		       16);
	}
	mf_qsort(out->items, out->count, sizeof(struct uid_id), cmp_uid_id);
}

/* When UIDs are not kept, the sides agree on a UID only where it holds the
 * same message on both: the highest UID up to which that is true after
 * this run (what a saved state may call the last common UID). Above the
 * last common UID of this run, the first UID that one side has and the
 * other has not (or holds another message) ends it. */
uint32_t mf_box_verified_lcu(struct mf_box_sync *bs)
{
	uid_id_array l[2] = {MF_ARRAY_INIT, MF_ARRAY_INIT};
	uint32_t cap = UINT32_MAX;
	size_t i = 0, j = 0;

	if (bs->saves_aborted)
		return bs->lcu;
	if (bs->streamed)
		return 0; /* the plans are gone: vouch for nothing */
	if (bs->spill != NULL)
		return mf_box_spill_verified_lcu(bs);
	for (int k = 0; k < 2; k++)
		after_apply(bs, &bs->b[k], &l[k], &cap);
	while (i < l[0].count || j < l[1].count) {
		const struct uid_id *a = i < l[0].count ? &l[0].items[i] : NULL;
		const struct uid_id *b = j < l[1].count ? &l[1].items[j] : NULL;

		if (a != NULL && b != NULL && a->uid == b->uid &&
		    memcmp(a->id, b->id, 16) == 0) {
			i++;
			j++;
			continue;
		}
		uint32_t bad = a == NULL   ? b->uid
		               : b == NULL ? a->uid
		                           : MF_MIN(a->uid, b->uid);
		cap = MF_MIN(cap, bad - 1);
		break;
	}
	mf_array_free(&l[0]);
	mf_array_free(&l[1]);
	return cap;
}
