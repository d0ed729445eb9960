/* SPDX-License-Identifier: MIT */
/*
 * Per-mailbox message sync (dsync reference §3): messages are matched by
 * UID + GUID (or header hash), the last common UID is found by walking both
 * sides from UID 1 (or taken from the state), flags and keywords are merged
 * per bit by modseq, expunges go both ways, and new messages get their UIDs
 * by mf_sync_assign_uids(). Bodies are streamed in chunks (or copied inside
 * one store when it already has the same message), saves are committed every
 * commit_interval messages in ascending UID order.
 *
 * This file opens the mailbox on both sides, handles UIDVALIDITY, the fast
 * skip, backup rebuilds, counters and the state; the messages themselves
 * are walked a window at a time by mf-sync-stream.c.
 *
 * Memory: one compact record per message and side (UID, flags, keyword-set
 * index, modseq, 16-byte id) for a window of messages, never a body.
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-header-hash.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-box.h"

/* ------------------------------------------------------------ mailbox */

static void bside_free(struct mf_box_side *b)
{
	if (b->box != NULL)
		b->s->st->ops->mailbox_close(&b->box);
	mf_array_free(&b->msgs);
	mf_array_free(&b->exps);
	mf_array_free(&b->by_id);
	mf_array_free(&b->saves);
	mf_array_free(&b->flag_ops);
	mf_array_free(&b->expunges);
	mf_array_free(&b->pend);
	mf_array_free(&b->pend_hash);
	mf_buf_free(&b->pool);
}

static int open_side(struct mf_box_sync *bs, struct mf_box_side *b)
{
	struct mf_storage *st = b->s->st;
	uint32_t flags = MAILFERRY_MAILBOX_SYNC_LOCK;
	int ret;

	mf_zero(&b->st);
	b->st.struct_size = sizeof(b->st);
	if (b->node->planned) {
		b->st.uidnext = 1;
		b->st.uidvalidity = b->node->uidvalidity;
		return 0;
	}
	if (!b->s->writable || bs->ctx->p->dry_run)
		flags |= MAILFERRY_MAILBOX_READONLY;
	ret = st->ops->mailbox_open(st->st, b->node->real, flags, &b->box);
	if (ret == 0)
		ret = st->ops->mailbox_status(b->box, &b->st);
	if (ret < 0) {
		if (ret == MAILFERRY_E_NOTFOUND) {
			mf_sync_changed(bs->ctx, "%s: mailbox %s was lost",
			                b->s->label, b->node->real);
			return 1;
		}
		return mf_sync_fail(bs->ctx, ret, "%s: mailbox %s: open: %s",
		                    b->s->label, b->node->real,
		                    mf_box_side_err(b));
	}
	return 0;
}

int mf_box_refresh_status(struct mf_box_side *b)
{
	if (b->box == NULL)
		return 0;
	mf_zero(&b->st);
	b->st.struct_size = sizeof(b->st);
	return b->s->st->ops->mailbox_status(b->box, &b->st);
}

static int update_box(struct mf_box_sync *bs, struct mf_box_side *b,
                      const struct mailferry_mailbox_update *up)
{
	int ret;

	if (bs->ctx->p->dry_run || b->box == NULL || !b->s->writable)
		return 0;
	ret = b->s->st->ops->mailbox_update(b->s->st->st, b->node->real, up);
	if (ret == MAILFERRY_E_NOTSUPP)
		return 0;
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: mailbox %s: update: %s",
		                    b->s->label, b->node->real,
		                    mf_box_side_err(b));
	return mf_box_refresh_status(b);
}

/* Different UIDVALIDITY on a mailbox known on both sides: keep the one of
 * the side with more messages (equal: the higher). */
static int resolve_uidvalidity(struct mf_box_sync *bs)
{
	struct mf_box_side *L = &bs->b[0], *R = &bs->b[1];
	struct mf_box_side *keep, *chg;
	struct mailferry_mailbox_update up;

	if (L->st.uidvalidity == R->st.uidvalidity)
		return 0;
	if (bs->ctx->source >= 0) {
		keep = &bs->b[bs->ctx->source];
	} else if (L->st.messages != R->st.messages) {
		keep = L->st.messages > R->st.messages ? L : R;
	} else {
		keep = L->st.uidvalidity > R->st.uidvalidity ? L : R;
	}
	chg = keep == L ? R : L;
	if (bs->ids && bs->ctx->source < 0 &&
	    (chg->s->caps & MAILFERRY_CAP_SET_UIDVALIDITY) == 0) {
		/* a store that cannot change it (IMAP) keeps its own; the
		 * other follows, so that a saved state can apply to both */
		if ((keep->s->caps & MAILFERRY_CAP_SET_UIDVALIDITY) == 0)
			return 0;
		chg = keep;
		keep = chg == L ? R : L;
	}
	mf_sync_note(bs->ctx, chg->s, "set UIDVALIDITY of %s to %u",
	             chg->node->real, keep->st.uidvalidity);
	mf_zero(&up);
	up.struct_size = sizeof(up);
	up.fields = MAILFERRY_UPDATE_UIDVALIDITY;
	up.uidvalidity = keep->st.uidvalidity;
	if (!chg->s->writable)
		return 0;
	if (chg->box == NULL || bs->ctx->p->dry_run) {
		chg->st.uidvalidity = keep->st.uidvalidity;
		return 0;
	}
	return update_box(bs, chg, &up);
}

/* A side whose saves cannot keep the other side's UIDs (a store that
 * does not keep them, or one emptied without restarting UIDNEXT): its
 * mailbox is matched by message identity. */
static bool side_by_identity(const struct mf_sync_side *s,
                             const struct mf_tnode *n)
{
	return s->writable && (!s->keeps_uids || n->uids_stuck);
}

static bool quick_equal(const struct mf_box_sync *bs)
{
	const struct mailferry_mailbox_status *a = &bs->b[0].st,
	                                      *b = &bs->b[1].st;

	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	       a->highest_modseq == b->highest_modseq &&
	       a->messages == b->messages;
}

/* Stateful fast path (dsync's STATE mode): the mailbox is unchanged since
 * the saved state when each side's status still has the values the state
 * recorded. dsync looks at the master's side only; both sides are at hand
 * here, so a change made only on the other side is not missed. Without
 * modseqs a flag change would not show in the status: never skipped. */
static bool side_as_state(const struct mf_sync_side *s,
                          const struct mf_tnode *node, uint32_t uidvalidity,
                          uint64_t uidnext, uint64_t highest_modseq,
                          uint32_t messages,
                          const struct mf_sync_box_state *state,
                          uint64_t modseq)
{
	return !node->merged && (s->caps & MAILFERRY_CAP_MODSEQ) != 0 &&
	       modseq != 0 && uidvalidity == state->uidvalidity &&
	       uidnext == (uint64_t)state->last_common_uid + 1 &&
	       highest_modseq == modseq && messages == state->messages;
}

static bool state_unchanged(const struct mf_box_sync *bs,
                            const struct mf_sync_box_state *state)
{
	if (state == NULL || state->uidvalidity == 0)
		return false;
	for (int i = 0; i < 2; i++) {
		const struct mf_box_side *b = &bs->b[i];
		/* by identity each store's modseq has its own field */
		uint64_t modseq = i == 1 && bs->ids
		                      ? state->last_common_pvt_modseq
		                      : state->last_common_modseq;

		if (b->box == NULL ||
		    !side_as_state(b->s, b->node, b->st.uidvalidity,
		                   b->st.uidnext, b->st.highest_modseq,
		                   b->st.messages, state, modseq))
			return false;
	}
	return true;
}

bool mf_sync_skip_by_listing(struct mf_sync_ctx *ctx, struct mf_tnode *n0,
                             struct mf_tnode *n1)
{
	const struct mf_tnode *n[2] = {n0, n1};
	struct mf_sync_box_state *state;

	if (ctx->p->full || ctx->force_full || ctx->id_mode)
		return false;
	for (int i = 0; i < 2; i++) {
		const struct mf_sync_side *s = &ctx->side[i];

		/* what mf_sync_mailbox() would compare by identity, or
		 * where the listing gave no status */
		if (n[i]->merged || n[i]->planned || n[i]->uidvalidity == 0 ||
		    side_by_identity(s, n[i]))
			return false;
	}
	if (!ctx->state_mode) {
		/* quick_equal() on the listing's counters; a state to
		 * write needs the mailboxes open */
		if (ctx->p->state != NULL ||
		    n0->uidvalidity != n1->uidvalidity ||
		    n0->uidnext != n1->uidnext ||
		    n0->highest_modseq != n1->highest_modseq ||
		    n0->messages != n1->messages)
			return false;
		ctx->res->boxes_skipped++;
		return true;
	}
	state = mf_sync_state_find(&ctx->old_state, n0->guid);
	if (state == NULL || state->uidvalidity == 0)
		return false;
	for (int i = 0; i < 2; i++) {
		if (!side_as_state(&ctx->side[i], n[i], n[i]->uidvalidity,
		                   n[i]->uidnext, n[i]->highest_modseq,
		                   n[i]->messages, state,
		                   state->last_common_modseq))
			return false;
	}
	ctx->res->boxes_skipped++;
	if (ctx->p->state != NULL)
		mf_array_push(&ctx->new_state.boxes, *state);
	return true;
}

static int raise_counters(struct mf_box_sync *bs)
{
	/* Each side's status once (a status after this run's changes can
	 * mean a rescan of the mailbox): raising one side does not change
	 * what the other needs, whose UIDNEXT comes from next_uid and whose
	 * HIGHESTMODSEQ is never below what the first was raised to. */
	for (int i = 0; i < 2; i++) {
		struct mf_box_side *b = &bs->b[i];
		int ret = mf_box_refresh_status(b);

		if (ret < 0 && b->s->writable && b->box != NULL)
			return mf_sync_fail(
			    bs->ctx, ret, "%s: mailbox %s: status: %s",
			    b->s->label, b->node->real, mf_box_side_err(b));
	}
	for (int i = 0; i < 2; i++) {
		struct mf_box_side *b = &bs->b[i], *o = &bs->b[1 - i];
		struct mailferry_mailbox_update up;
		int ret;

		if (!b->s->writable || b->box == NULL)
			continue;
		mf_zero(&up);
		up.struct_size = sizeof(up);
		if (b->st.uidnext < bs->next_uid) {
			up.fields |= MAILFERRY_UPDATE_MIN_UIDNEXT;
			up.min_uidnext = bs->next_uid;
		}
		if (b->st.highest_modseq < o->st.highest_modseq &&
		    (b->s->caps & MAILFERRY_CAP_MODSEQ) != 0) {
			up.fields |= MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ;
			up.min_highest_modseq = o->st.highest_modseq;
		}
		if (up.fields != 0) {
			ret = update_box(bs, b, &up);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* Decide and apply one mailbox's messages: 0, 1 when the saved state did
 * not match (nothing changed; redo without it), or an error. */
static int sync_box(struct mf_box_sync *bs,
                    const struct mf_sync_box_state *state)
{
	bs->recreate = false;
	bs->streamed = false;
	bs->lcu = 0;
	bs->next_uid = 0;
	for (int i = 0; i < 2; i++)
		mf_box_side_reset(&bs->b[i]);
	bs->start_modseq =
	    MF_MIN(bs->b[0].st.highest_modseq, bs->b[1].st.highest_modseq);
	mf_box_spill_free(&bs->spill);
	/* a backup by identity makes the destination the source's
	 * multiset; every other sync walks UIDs */
	if (bs->ids && bs->ctx->p->mode == MF_ENGINE_BACKUP)
		return mf_box_backup_ids(bs);
	return mf_box_sync_stream(bs, state);
}

/* True when nothing but this sync changed side b since it began: no
 * change from a non-sync transaction and no expunge we did not make. Then
 * the state may record the final HIGHESTMODSEQ instead of the initial one,
 * and the next incremental run does not re-read this run's work. */
static bool side_clean(struct mf_box_sync *bs, struct mf_box_side *b)
{
	struct mf_storage *st = b->s->st;
	struct mailferry_msg_query q;
	struct mailferry_msg_iter *iter;
	struct mailferry_expunge_iter *eiter;
	const struct mailferry_msg *m;
	const struct mailferry_expunge *e;
	uint32_t exps = 0;
	int ret, found = 0;

	if (b->box == NULL || b->start_modseq == 0 || bs->ctx->p->dry_run ||
	    !MF_HAS_OP(st, expunge_iter_begin))
		return false;
	mf_box_query_init(&q, 0);
	q.changed_since = b->start_modseq;
	if (st->ops->msg_iter_begin(b->box, &q, &iter) < 0)
		return false;
	while ((ret = st->ops->msg_iter_next(iter, &m)) > 0)
		found++;
	if (st->ops->msg_iter_end(&iter) < 0 || ret < 0 || found > 0)
		return false;
	if (st->ops->expunge_iter_begin(b->box, b->start_modseq, &eiter) < 0)
		return false;
	while ((ret = st->ops->expunge_iter_next(eiter, &e)) > 0)
		exps++;
	if (st->ops->expunge_iter_end(&eiter) < 0 || ret < 0)
		return false;
	return exps == b->applied_expunges;
}

/* The destination side b cannot keep wanted UIDs in this mailbox: match
 * by identity and let the store choose UIDs. */
static void set_any_uid(struct mf_box_sync *bs, struct mf_box_side *b)
{
	b->any_uid = true;
	bs->ids = true;
}

/* Backup: INBOX cannot be deleted everywhere; empty it in place with the
 * source's identity so that its UIDs restart. */
static int reset_dest_inbox(struct mf_box_sync *bs)
{
	int di = 1 - bs->ctx->source;
	struct mf_box_side *D = &bs->b[di], *S = &bs->b[bs->ctx->source];
	struct mf_storage *st = D->s->st;
	struct mf_tnode src = *S->node;
	int ret;

	mf_warning("%s: emptying mailbox %s: it cannot be made identical to "
	           "the source in place; copying it again",
	           D->s->label, D->node->real);
	if (D->box != NULL)
		st->ops->mailbox_close(&D->box);
	src.uidvalidity = S->st.uidvalidity;
	ret = mf_tree_reset_box(bs->ctx, D->s, D->node, &src);
	if (ret < 0)
		return ret;
	if (bs->ctx->p->dry_run) {
		/* from here on it reads as the empty mailbox it would be */
		D->emptied = true;
		D->st.uidnext = 1;
		D->st.messages = 0;
		D->st.uidvalidity = S->st.uidvalidity;
		return 0;
	}
	ret = open_side(bs, D);
	if (ret > 0)
		return MAILFERRY_E_TEMP;
	if (ret == 0 && D->node->uids_stuck)
		set_any_uid(bs, D);
	return ret;
}

/* Backup: delete the destination mailbox and create it again empty with
 * the source's identity. */
static int recreate_dest(struct mf_box_sync *bs)
{
	int di = 1 - bs->ctx->source;
	struct mf_box_side *D = &bs->b[di], *S = &bs->b[bs->ctx->source];
	struct mf_storage *st = D->s->st;
	struct mailferry_mailbox_create cr;
	int ret;

	if (strcmp(D->node->name, "INBOX") == 0)
		return reset_dest_inbox(bs);

	mf_warning("%s: deleting mailbox %s: it cannot be made identical to "
	           "the source in place; copying it again",
	           D->s->label, D->node->real);
	mf_sync_note(bs->ctx, D->s, "delete and recreate mailbox %s",
	             D->node->real);
	if (bs->ctx->p->dry_run) {
		/* from here on it reads as the empty mailbox it would be */
		D->emptied = true;
		D->st.uidnext = 1;
		D->st.messages = 0;
		D->st.uidvalidity = S->st.uidvalidity;
		return 0;
	}
	if (D->box != NULL)
		st->ops->mailbox_close(&D->box);
	ret = st->ops->mailbox_delete(st->st, D->node->real, 0);
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: deleting mailbox %s: %s",
		                    D->s->label, D->node->real,
		                    mf_box_side_err(D));
	mf_zero(&cr);
	cr.struct_size = sizeof(cr);
	if (!bs->ctx->by_name)
		memcpy(cr.guid, S->node->guid, 16);
	cr.uidvalidity = S->st.uidvalidity;
	cr.special_use = S->node->special_use;
	ret = st->ops->mailbox_create(st->st, D->node->real, &cr);
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: creating mailbox %s: %s",
		                    D->s->label, D->node->real,
		                    mf_box_side_err(D));
	bs->ctx->res->boxes_deleted++;
	bs->ctx->res->boxes_created++;
	ret = open_side(bs, D);
	return ret > 0 ? MAILFERRY_E_TEMP : ret;
}

int mf_sync_mailbox(struct mf_sync_ctx *ctx, struct mf_tnode *n0,
                    struct mf_tnode *n1)
{
	struct mf_box_sync bs;
	struct mf_sync_box_state *state = NULL, newst;
	int ret;

	mf_zero(&bs);
	bs.ctx = ctx;
	bs.b[0].s = &ctx->side[0];
	bs.b[1].s = &ctx->side[1];
	bs.b[0].node = n0;
	bs.b[1].node = n1;
	bs.window =
	    ctx->p->window != 0 ? ctx->p->window : MF_SYNC_WINDOW_DEFAULT;
	/* planned expunges wait (as copy sources) up to a few windows */
	bs.pend_max = 4 * bs.window;
	mf_kw_init(&bs.kw);

	for (int i = 0; i < 2; i++) {
		struct mf_box_side *b = &bs.b[i];

		ret = open_side(&bs, b);
		if (ret != 0)
			goto out;
		b->start_modseq = b->st.highest_modseq;
		b->start_uidnext = b->st.uidnext;
		if (side_by_identity(b->s, b->node))
			set_any_uid(&bs, b);
	}
	bs.ids = bs.ids || ctx->id_mode;
	if (ctx->state_mode)
		state = mf_sync_state_find(&ctx->old_state, n0->guid);
	/* a backup by identity compares whole mailboxes */
	if (bs.ids && ctx->p->mode == MF_ENGINE_BACKUP)
		state = NULL;
	/* fast mode may skip a mailbox whose counters agree, unless these
	 * are two mailboxes that were separate until now, or UIDs are not
	 * kept (the counters of two stores then say nothing) */
	bool may_skip = !ctx->p->full && !ctx->force_full && !ctx->state_mode &&
	                !n0->merged && !n1->merged && !bs.ids &&
	                bs.b[0].st.uidvalidity == bs.b[1].st.uidvalidity;
	if (bs.b[0].st.uidvalidity != bs.b[1].st.uidvalidity &&
	    !(bs.ids && ctx->p->mode == MF_ENGINE_BACKUP)) {
		if (state != NULL) {
			mf_warning("mailbox %s: UIDVALIDITY changed since the "
			           "saved state; comparing it in full",
			           n0->real);
			state = NULL;
		}
		ret = 0;
		if (ctx->p->mode == MF_ENGINE_BACKUP)
			bs.recreate = true;
		else
			ret = resolve_uidvalidity(&bs);
		if (ret < 0)
			goto out;
	}
	if (may_skip && quick_equal(&bs)) {
		ctx->res->boxes_skipped++;
		ret = 0;
		goto state_out;
	}
	if (!ctx->p->full && !ctx->force_full && state_unchanged(&bs, state)) {
		/* nothing changed on either side: no message is listed, and
		 * the state entry stays as it was */
		ctx->res->boxes_skipped++;
		if (ctx->p->state != NULL)
			mf_array_push(&ctx->new_state.boxes, *state);
		ret = 0;
		goto out;
	}
	/* the messages to copy are known only as the windows go by: the
	 * progress starts from the difference of the counts */
	uint32_t m0 = bs.b[0].st.messages, m1 = bs.b[1].st.messages;
	uint64_t estimate = m0 > m1 ? m0 - m1 : m1 - m0;
	mf_progress_box(ctx->progress, ctx->res->boxes_synced + 1, n0->real,
	                estimate, 0);
	bs.progress_msgs = estimate;
	ctx->res->boxes_synced++;
	struct mf_sync_result before = *ctx->res;
	if (!bs.recreate) {
		ret = sync_box(&bs, state);
		if (ret > 0) {
			mf_warning("mailbox %s: saved state does not match the "
			           "mailbox; comparing it in full",
			           n0->real);
			ret = sync_box(&bs, NULL);
		}
		if (ret < 0)
			goto out;
	}
	if (bs.recreate) {
		/* what was done to the destination goes with it */
		ctx->res->msgs_saved = before.msgs_saved;
		ctx->res->msgs_moved = before.msgs_moved;
		ctx->res->msgs_expunged = before.msgs_expunged;
		ctx->res->msgs_flag_changed = before.msgs_flag_changed;
		ctx->res->bytes = before.bytes;
		ret = recreate_dest(&bs);
		if (ret < 0)
			goto out;
		ret = sync_box(&bs, NULL);
		if (ret < 0)
			goto out;
		if (bs.recreate) {
			ret = mf_sync_fail(ctx, MAILFERRY_E_TEMP,
			                   "mailbox %s: backup could not "
			                   "rebuild the destination",
			                   n0->real);
			goto out;
		}
	}
	mf_progress_add(ctx->progress,
	                (int64_t)bs.planned - (int64_t)bs.progress_msgs, 0);
	ret = raise_counters(&bs);
	if (ret < 0)
		goto out;
state_out:
	if (ctx->p->state != NULL) {
		struct mf_box_side *ref = &bs.b[0];
		mf_box_refresh_status(&bs.b[0]);
		mf_box_refresh_status(&bs.b[1]);
		mf_zero(&newst);
		memcpy(newst.guid, n0->guid, 16);
		newst.uidvalidity = ref->st.uidvalidity;
		newst.last_common_uid =
		    MF_MIN(bs.b[0].st.uidnext, bs.b[1].st.uidnext) - 1;
		if (bs.ids)
			newst.last_common_uid = MF_MIN(
			    newst.last_common_uid, mf_box_verified_lcu(&bs));
		if (bs.ids) {
			/* each side's own HIGHESTMODSEQ: where its changes
			 * not yet seen by the other side begin */
			for (int i = 0; i < 2; i++) {
				uint64_t *m =
				    i == 0 ? &newst.last_common_modseq
				           : &newst.last_common_pvt_modseq;
				*m = side_clean(&bs, &bs.b[i])
				         ? bs.b[i].st.highest_modseq
				         : bs.b[i].start_modseq;
			}
		} else if (side_clean(&bs, &bs.b[0]) &&
		           side_clean(&bs, &bs.b[1])) {
			/* nobody else changed either side meanwhile: every
			 * change up to now is synced */
			newst.last_common_modseq =
			    MF_MIN(bs.b[0].st.highest_modseq,
			           bs.b[1].st.highest_modseq);
		} else {
			newst.last_common_modseq =
			    bs.start_modseq != 0
			        ? bs.start_modseq
			        : MF_MIN(bs.b[0].st.highest_modseq,
			                 bs.b[1].st.highest_modseq);
		}
		newst.messages = ref->st.messages;
		if (ctx->p->mode != MF_ENGINE_TWOWAY &&
		    bs.b[0].st.messages != bs.b[1].st.messages) {
			/* one-way: sides may differ for good */
		}
		mf_array_push(&ctx->new_state.boxes, newst);
	}
out:
	for (int i = 0; i < 2; i++)
		bside_free(&bs.b[i]);
	mf_box_spill_free(&bs.spill);
	mf_kw_free(&bs.kw);
	return ret < 0 ? ret : 0;
}
