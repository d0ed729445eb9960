/* SPDX-License-Identifier: MIT */
/*
 * The windowed message sync of one mailbox. Both sides are read in
 * ascending UID order a window at a time (at most bs->window messages per
 * side and query, UID ranges adapted to each side's density) and merged
 * pairwise, deciding and applying as the walk goes, so memory follows the
 * window, not the mailbox:
 *
 *   - the common part (same UID and GUID on both sides, or a UID one side
 *     expunged, verified by the expunge's GUID): flag merges applied with
 *     each window, expunges planned and carried out in batches;
 *   - above the last common UID, when only one side has messages (first
 *     sync, conversion or backup into an empty or older store, new mail on
 *     one side): the other side gets them window by window, in two passes
 *     so that saves stay in ascending UID order: first the UIDs the other
 *     side never issued (kept), then those below its UIDNEXT, which get new
 *     UIDs above both UIDNEXTs in UID order (dsync's numbering for one
 *     side, mf-sync-uids.c) and are moved on their own side too;
 *   - above the last common UID with messages on both sides (and by
 *     identity, anything above it): dsync pairs and numbers these together
 *     by GUID; in memory (mf_sync_assign_uids) when the windows hold all of
 *     it, else through temporary files (mf-sync-spill.c);
 *   - backup: one UID-ordered merge of source and destination; by
 *     identity (the destination cannot keep UIDs) a multiset match, in
 *     memory when both sides fit a window, else through the files.
 *
 * Saves refer to the windows' message records, so they are made
 * (mf_box_flush) before a window is replaced; flag changes wait until a
 * window's worth is planned. Planned expunges wait longer (up to
 * bs->pend_max), after the saves: until then such a message is still a
 * copy source for a save of the same GUID in its mailbox.
 * Stateful syncs read the changes at or below the last common UID in
 * memory (mf_box_read_incremental) and walk above it as above.
 */
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-box.h"

void mf_box_side_reset(struct mf_box_side *b)
{
	b->msgs.count = 0;
	b->exps.count = 0;
	b->by_id.count = 0;
	b->by_id_valid = false;
	b->saves.count = 0;
	b->flag_ops.count = 0;
	mf_box_pend_clear(b);
	mf_buf_truncate(&b->pool, 0);
	b->cur_pos = 0;
	b->cur_done = true;
	b->cur_span = 0;
}

/* ------------------------------------------------------------ applying */

static void progress_count(struct mf_box_sync *bs)
{
	uint64_t bytes = 0;

	for (int i = 0; i < 2; i++) {
		const struct mf_box_side *b = &bs->b[i];
		if (!b->s->writable)
			continue;
		bs->planned += b->saves.count;
		for (size_t k = 0; k < b->saves.count; k++) {
			const struct mf_save_op *op = &b->saves.items[k];
			bytes +=
			    bs->b[op->msg_side].msgs.items[op->msg_idx].size;
		}
	}
	/* more than the estimate: the total grows with them */
	mf_progress_add(bs->ctx->progress,
	                bs->planned > bs->progress_msgs
	                    ? (int64_t)(bs->planned - bs->progress_msgs)
	                    : 0,
	                bytes);
	bs->progress_msgs = MF_MAX(bs->progress_msgs, bs->planned);
}

/* All saves of both sides first (a save may read the other side's copy
 * of a message that side moves, or copy a message its own side is about
 * to expunge), then flag changes and (with expunges[i]) expunges. */
static int apply_plans(struct mf_box_sync *bs, const bool expunges[2])
{
	int ret;

	progress_count(bs);
	for (int i = 0; i < 2; i++) {
		if (!bs->b[i].s->writable)
			continue;
		ret = mf_box_apply_saves(bs, i);
		if (ret < 0)
			return ret;
	}
	for (int i = 0; i < 2 && !bs->saves_aborted; i++) {
		if (!bs->b[i].s->writable)
			continue;
		ret = mf_box_apply_changes(bs, i, expunges[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int mf_box_apply_all(struct mf_box_sync *bs)
{
	const bool all[2] = {true, true};
	return apply_plans(bs, all);
}

int mf_box_flush(struct mf_box_sync *bs, bool all)
{
	bool exp[2];
	int ret = 0;

	for (int i = 0; i < 2; i++)
		exp[i] = all || bs->b[i].expunges.count >= bs->pend_max;
	if (!bs->saves_aborted) {
		ret = apply_plans(bs, exp);
		mf_box_spill_log_saves(bs);
	}
	for (int i = 0; i < 2; i++) {
		struct mf_box_side *b = &bs->b[i];
		b->saves.count = 0;
		b->flag_ops.count = 0;
		/* after a failed save batch the rest waits for the next
		 * run, which compares in full */
		if (!exp[i] && !bs->saves_aborted)
			continue;
		/* an expunged message may still be in the side's current
		 * window: it is no copy source any more (an id no GUID
		 * has, as for a message gone while reading) */
		for (size_t k = 0; k < b->pend.count; k++) {
			struct mf_box_msg *m =
			    mf_box_msg_find(b, b->pend.items[k].uid);
			if (m != NULL) {
				memset(m->id, 0xff, sizeof(m->id));
				b->by_id_valid = false;
			}
		}
		mf_box_pend_clear(b);
	}
	return ret;
}

/* Before a window is replaced: saves refer to its records and must be
 * made; flag changes and expunges refer to UIDs only and wait (for fewer,
 * bigger transactions) until a window's worth of them is planned. */
static int flush_for_window(struct mf_box_sync *bs)
{
	for (int i = 0; i < 2; i++) {
		const struct mf_box_side *b = &bs->b[i];
		if (b->saves.count > 0 || b->flag_ops.count >= bs->window ||
		    b->expunges.count >= bs->pend_max)
			return mf_box_flush(bs, false);
	}
	return 0;
}

/* ------------------------------------------------------------- cursors */

/* Read side b's next window: UIDs [cur_next, cur_next + cur_span - 1],
 * at most bs->window messages, appended to b->msgs. */
static int cur_fill(struct mf_box_sync *bs, struct mf_box_side *b)
{
	struct mailferry_msg_query q;
	size_t before = b->msgs.count;
	uint64_t end = (uint64_t)b->cur_next + b->cur_span - 1;
	bool full;
	int ret;

	/* the last window reaches to the end: mail delivered since the
	 * status was taken is seen, not skipped */
	if (end >= b->cur_last || end + 1 >= b->st.uidnext)
		end = b->cur_last;
	mf_box_query_init(&q, mf_box_query_fields(bs));
	if (bs->ids && bs->stateful) {
		/* by identity, flags are merged by modseq against the
		 * state (the whole logged history would bring back
		 * changes the state already covers) */
		q.fields &= ~MAILFERRY_FIELD_CHANGES;
	}
	q.uid_first = b->cur_next;
	q.uid_last = (uint32_t)end;
	ret = mf_box_read_msgs(bs, b, &q, bs->window, &full);
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: mailbox %s: reading: %s",
		                    b->s->label, b->node->real,
		                    mf_box_side_err(b));
	b->by_id_valid = false;
	if (full) {
		/* the window filled before the range ended: the next one
		 * starts after its last message, spanning as many UIDs as
		 * this one needed */
		uint32_t last = b->msgs.items[b->msgs.count - 1].uid;
		b->cur_span = MF_MAX(last - b->cur_next + 1, 1u);
		end = MF_MAX(last, b->cur_next);
	} else if (b->msgs.count - before < bs->window / 2 &&
	           b->cur_span <= UINT32_MAX / 2) {
		b->cur_span *= 2;
	}
	if (end >= b->cur_last)
		b->cur_done = true;
	else
		b->cur_next = (uint32_t)end + 1;
	return 0;
}

/* Position side b's cursor at [first, last]: what was planned on the
 * current windows is carried out first. */
static int cur_start(struct mf_box_sync *bs, struct mf_box_side *b,
                     uint32_t first, uint32_t last)
{
	int ret = flush_for_window(bs);

	if (ret < 0)
		return ret;
	b->msgs.count = 0;
	b->cur_pos = 0;
	b->by_id_valid = false;
	mf_buf_truncate(&b->pool, 0);
	b->cur_next = first;
	b->cur_last = last;
	b->cur_done =
	    first == 0 || first > last || b->box == NULL || b->emptied;
	if (b->cur_span == 0) {
		/* UIDs that hold about a window of messages */
		uint64_t span = (uint64_t)bs->window *
		                MF_MAX(b->st.uidnext, 1u) /
		                MF_MAX(b->st.messages, 1u);
		b->cur_span = (uint32_t)MF_MIN(MF_MAX(span, bs->window),
		                               (uint64_t)UINT32_MAX / 2);
	}
	return 0;
}

/* The lists already in b->msgs (read in memory) as a finished cursor. */
static void cur_preload(struct mf_box_side *b)
{
	b->cur_pos = 0;
	b->cur_done = true;
}

/* The next unconsumed message of side i (NULL at the end, or once the
 * mailbox is given up for this run). Consuming it is cur_pos++. Reading
 * a new window carries out the plans first. */
int mf_box_cur_peek(struct mf_box_sync *bs, int i, struct mf_box_msg **m_r)
{
	struct mf_box_side *b = &bs->b[i];
	int ret;

	*m_r = NULL;
	while (b->cur_pos >= b->msgs.count) {
		if (b->cur_done || bs->saves_aborted || bs->recreate)
			return 0;
		ret = flush_for_window(bs);
		if (ret < 0)
			return ret;
		if (bs->saves_aborted)
			return 0;
		b->msgs.count = 0;
		b->cur_pos = 0;
		mf_buf_truncate(&b->pool, 0);
		ret = cur_fill(bs, b);
		if (ret < 0)
			return ret;
		mf_box_msgs_normalize(b);
	}
	*m_r = &b->msgs.items[b->cur_pos];
	return 0;
}

/* Read the rest of side b's range into b->msgs (the consumed part
 * dropped): the in-memory part. Plans must have been carried out. */
static int cur_drain(struct mf_box_sync *bs, struct mf_box_side *b)
{
	int ret;

	/* (an empty side has no array at all: memmove wants one) */
	if (b->cur_pos > 0)
		memmove(b->msgs.items, b->msgs.items + b->cur_pos,
		        (b->msgs.count - b->cur_pos) *
		            sizeof(struct mf_box_msg));
	b->msgs.count -= b->cur_pos;
	b->cur_pos = 0;
	b->by_id_valid = false;
	while (!b->cur_done) {
		ret = cur_fill(bs, b);
		if (ret < 0)
			return ret;
	}
	mf_box_msgs_normalize(b);
	return 0;
}

static int peek2(struct mf_box_sync *bs, struct mf_box_msg **l_r,
                 struct mf_box_msg **r_r)
{
	int ret = mf_box_cur_peek(bs, 0, l_r);

	if (ret == 0)
		ret = mf_box_cur_peek(bs, 1, r_r);
	/* reading side 1 never replaces side 0's window */
	return ret;
}

/* ------------------------------------------------- the common part */

/* Non-stateful: walk both sides from UID 1 to the first divergence (dsync
 * reference §3.5); everything walked is common: flags merged, expunges
 * of one side made on the other. A UID only one side has counts as common
 * when the other side's expunge history shows the same message was
 * expunged there. Leaves both cursors at the first message above the last
 * common UID. */
static int walk_common(struct mf_box_sync *bs)
{
	struct mf_box_side *L = &bs->b[0], *R = &bs->b[1];
	struct mf_box_msg *l, *r;
	int ret;

	bs->lcu = 0;
	for (int i = 0; i < 2; i++) {
		ret = mf_box_read_expunges(bs, &bs->b[i], 0);
		if (ret < 0)
			return mf_sync_fail(
			    bs->ctx, ret, "%s: mailbox %s: reading: %s",
			    bs->b[i].s->label, bs->b[i].node->real,
			    mf_box_side_err(&bs->b[i]));
		ret = cur_start(bs, &bs->b[i], 1, UINT32_MAX);
		if (ret < 0)
			return ret;
	}
	for (;;) {
		ret = peek2(bs, &l, &r);
		if (ret < 0)
			return ret;
		if (l == NULL && r == NULL)
			return 0;
		if (l != NULL && r != NULL && l->uid == r->uid) {
			if (!mf_box_id_equal(l, r))
				return 0;
			bs->lcu = l->uid;
			mf_box_set_common_flags(bs, l, r);
			L->cur_pos++;
			R->cur_pos++;
			continue;
		}
		/* the lower UID exists on one side only */
		struct mf_box_side *have =
		    (r == NULL || (l != NULL && l->uid < r->uid)) ? L : R;
		struct mf_box_side *other = have == L ? R : L;
		const struct mf_box_msg *m = have == L ? l : r;
		const struct mf_box_exp *e;

		if (m->uid >= other->st.uidnext)
			return 0;
		e = mf_box_exp_find(other, m->uid);
		if (e == NULL || !e->have_guid || !bs->ctx->use_guids ||
		    memcmp(e->guid, m->id, 16) != 0)
			return 0; /* unknown or different: preserve it */
		bs->lcu = m->uid;
		mf_box_pend_add(have, m->uid, m->id);
		have->cur_pos++;
	}
}

/* ------------------------------------------------ above the last common */

/* Message m of side si only, at UID final on both sides (a move on its
 * own side when final is another UID). False when a filter skips it. */
static bool plan_one(struct mf_box_sync *bs, int si, const struct mf_box_msg *m,
                     uint32_t final)
{
	uint32_t cp;

	/* -t/-e/-I/-O: not copied, unless the other side has the body */
	if (mf_box_save_filtered(bs, m) &&
	    !mf_box_copy_source(&bs->b[1 - si], m->id, &cp))
		return false;
	for (int s = 0; s < 2; s++)
		mf_box_plan_instance(bs, s, final, s == si ? m : NULL, si, m,
		                     m->flags, m->kw, m->modseq);
	return true;
}

/* Only side si has messages above the last common UID. */
static int one_sided(struct mf_box_sync *bs, int si)
{
	struct mf_box_side *S = &bs->b[si], *O = &bs->b[1 - si];
	uint32_t onext = MF_MAX(O->st.uidnext, 1u), first = bs->lcu + 1;
	uint32_t next = MF_MAX(bs->b[0].st.uidnext, bs->b[1].st.uidnext);
	struct mf_box_msg *m;
	int ret;

	if (next == 0)
		next = 1;
	/* pass 1: UIDs the other side never issued are kept (nothing to do
	 * when it cannot be written) */
	if (O->s->writable) {
		uint32_t start = MF_MAX(first, onext);
		ret = mf_box_cur_peek(bs, si, &m);
		if (ret == 0 && (m == NULL || m->uid < start))
			ret = cur_start(bs, S, start, UINT32_MAX);
		while (ret == 0) {
			ret = mf_box_cur_peek(bs, si, &m);
			if (ret < 0 || m == NULL)
				break;
			(void)plan_one(bs, si, m, m->uid);
			S->cur_pos++;
		}
		if (ret < 0)
			return ret;
	}
	/* pass 2: UIDs below the other side's UIDNEXT may have meant another
	 * message there: new UIDs above both UIDNEXTs, in UID order */
	if ((O->s->writable || S->s->writable) && onext > first) {
		ret = cur_start(bs, S, first, onext - 1);
		while (ret == 0) {
			ret = mf_box_cur_peek(bs, si, &m);
			if (ret < 0 || m == NULL)
				break;
			if (plan_one(bs, si, m, next))
				next++;
			S->cur_pos++;
		}
		if (ret < 0)
			return ret;
	}
	bs->next_uid = next;
	return mf_box_flush(bs, true);
}

/* Both sides have messages above the last common UID: dsync pairs and
 * numbers them together, in memory (mf_box_merge_new) when what is left
 * was read already, else through temporary files (mf-sync-spill.c). By
 * identity the files also tell the state what holds the same message on
 * both sides afterwards. */
static int both_sided(struct mf_box_sync *bs)
{
	int ret;

	if (bs->ids || !bs->b[0].cur_done || !bs->b[1].cur_done)
		return mf_box_spill_merge(bs);
	ret = flush_for_window(bs);

	for (int i = 0; i < 2 && ret >= 0; i++)
		ret = cur_drain(bs, &bs->b[i]);
	if (ret < 0)
		return ret;
	mf_box_merge_new(bs);
	return mf_box_flush(bs, true);
}

static int sync_above(struct mf_box_sync *bs)
{
	struct mf_box_msg *l, *r;
	int ret = peek2(bs, &l, &r);

	if (ret < 0)
		return ret;
	if ((l != NULL && r != NULL) || (bs->ids && (l != NULL || r != NULL)))
		return both_sided(bs);
	if (l != NULL || r != NULL)
		return one_sided(bs, l != NULL ? 0 : 1);
	bs->next_uid = MF_MAX(bs->b[0].st.uidnext, bs->b[1].st.uidnext);
	if (bs->next_uid == 0)
		bs->next_uid = 1;
	return mf_box_flush(bs, true);
}

/* -------------------------------------------------------------- backup */

/* Backup: one UID-ordered merge of source and destination. A destination
 * message the source lacks is expunged, a pair gets the source's flags,
 * a source message the destination lacks is saved at its UID or makes
 * the destination be rebuilt (mf_box_backup_save). Copies inside the
 * destination come from its messages in the current window or from the
 * ones waiting to be expunged: dsync copies only from its own new mail
 * (reference §3.6); these are where a message renumbered on the source
 * still is. */
static int backup_walk(struct mf_box_sync *bs)
{
	int si = bs->ctx->source, di = 1 - si;
	struct mf_box_side *S = &bs->b[si], *D = &bs->b[di];
	struct mf_box_msg *s, *d;
	int ret;

	for (;;) {
		ret = mf_box_cur_peek(bs, si, &s);
		if (ret == 0)
			ret = mf_box_cur_peek(bs, di, &d);
		if (ret < 0)
			return ret;
		if (s == NULL && d == NULL)
			return 0;
		if (s != NULL && d != NULL && s->uid == d->uid) {
			if (!mf_box_id_equal(s, d)) {
				bs->recreate = true;
				return 0;
			}
			if (s->flags != d->flags || s->kw != d->kw)
				mf_box_add_flag_op(D, d->uid, s->flags, s->kw,
				                   s->modseq);
			S->cur_pos++;
			D->cur_pos++;
		} else if (d != NULL && (s == NULL || d->uid < s->uid)) {
			mf_box_pend_add(D, d->uid, d->id);
			D->cur_pos++;
		} else {
			S->cur_pos++;
			if (!mf_box_backup_save(bs, s))
				return 0;
		}
	}
}

/* Backup by identity into an empty destination: the source's messages
 * saved window by window; no plans are kept (bs->streamed). */
static int backup_ids_stream(struct mf_box_sync *bs)
{
	int si = bs->ctx->source;
	struct mf_box_side *S = &bs->b[si];
	struct mf_box_msg *s;
	int ret;

	bs->streamed = true;
	ret = cur_start(bs, S, 1, UINT32_MAX);
	while (ret == 0) {
		ret = mf_box_cur_peek(bs, si, &s);
		if (ret < 0 || s == NULL)
			break;
		mf_box_backup_ids_save(bs, s);
		S->cur_pos++;
	}
	if (ret < 0)
		return ret;
	return mf_box_flush(bs, true);
}

/* The destination is made the source's multiset of messages. Pairing by
 * identity needs every instance of an id, wherever its UID: unless both
 * sides fit their first window it goes through temporary files, as the
 * by-identity two-way merge does. */
int mf_box_backup_ids(struct mf_box_sync *bs)
{
	int si = bs->ctx->source, di = 1 - si;
	struct mf_box_msg *s, *d;
	int ret;

	bs->stateful = false;
	bs->next_uid = 0; /* nothing to raise: UIDs are the store's */
	/* the destination first: a conversion into an empty one reads no
	 * more than the source's windows */
	ret = cur_start(bs, &bs->b[di], 1, UINT32_MAX);
	if (ret == 0)
		ret = mf_box_cur_peek(bs, di, &d);
	if (ret < 0)
		return ret;
	if (d == NULL)
		return backup_ids_stream(bs);
	ret = cur_start(bs, &bs->b[si], 1, UINT32_MAX);
	if (ret == 0)
		ret = mf_box_cur_peek(bs, si, &s);
	if (ret < 0)
		return ret;
	if (!bs->b[0].cur_done || !bs->b[1].cur_done)
		return mf_box_spill_backup(bs);
	for (int i = 0; i < 2 && ret >= 0; i++)
		ret = cur_drain(bs, &bs->b[i]);
	if (ret < 0)
		return ret;
	mf_box_merge_backup_ids(bs);
	return mf_box_apply_all(bs);
}

/* ------------------------------------------------------------ mailbox */

int mf_box_read_state(struct mf_box_sync *bs,
                      const struct mf_sync_box_state *state, bool above)
{
	int ret;

	bs->stateful = false;
	bs->anomaly = false;
	/* by identity, each store's modseqs count on their own: the state
	 * keeps the second side's in its private-modseq field */
	bs->since[0] = state != NULL ? state->last_common_modseq : 0;
	bs->since[1] = state == NULL ? 0
	               : bs->ids     ? state->last_common_pvt_modseq
	                             : state->last_common_modseq;
	if (state == NULL || state->uidvalidity != bs->b[0].st.uidvalidity ||
	    state->uidvalidity != bs->b[1].st.uidvalidity ||
	    (state->last_common_uid == 0 && state->last_common_modseq == 0) ||
	    (bs->ids && (bs->since[0] == 0 || bs->since[1] == 0)))
		return 0;
	for (int i = 0; i < 2; i++) {
		if (bs->b[i].st.uidnext <= state->last_common_uid ||
		    bs->b[i].st.highest_modseq < bs->since[i]) {
			mf_warning("mailbox %s doesn't match the saved sync "
			           "state; comparing it in full",
			           bs->b[0].node->real);
			return 0;
		}
	}
	bs->stateful = true;
	bs->lcu = state->last_common_uid;
	ret = mf_box_read_incremental(bs, above);
	if (ret == MAILFERRY_E_NOHISTORY || (ret >= 0 && bs->anomaly)) {
		mf_warning("mailbox %s: incremental sync not possible (%s); "
		           "comparing it in full",
		           bs->b[0].node->real,
		           ret < 0 ? "history no longer kept"
		                   : "state does not match");
		bs->stateful = false;
		bs->anomaly = false;
		bs->lcu = 0;
		for (int i = 0; i < 2; i++)
			mf_box_side_reset(&bs->b[i]);
		return 0;
	}
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "mailbox %s: reading: %s",
		                    bs->b[0].node->real,
		                    "incremental read failed");
	return 0;
}

int mf_box_sync_stream(struct mf_box_sync *bs,
                       const struct mf_sync_box_state *state)
{
	int ret = mf_box_read_state(bs, state, false);

	if (ret < 0)
		return ret;
	if (bs->ctx->p->mode == MF_ENGINE_BACKUP) {
		uint32_t first = 1;

		bs->next_uid = MF_MAX(bs->b[0].st.uidnext, bs->b[1].st.uidnext);
		if (bs->stateful) {
			/* the changes at or below the last common UID, read
			 * in memory: decided before anything is changed */
			cur_preload(&bs->b[0]);
			cur_preload(&bs->b[1]);
			ret = backup_walk(bs);
			if (ret < 0 || bs->recreate)
				return ret;
			first = bs->lcu + 1;
		}
		for (int i = 0; i < 2 && ret >= 0; i++)
			ret = cur_start(bs, &bs->b[i], first, UINT32_MAX);
		if (ret == 0)
			ret = backup_walk(bs);
		if (ret < 0 || bs->recreate)
			return ret;
		return mf_box_flush(bs, true);
	}
	if (bs->stateful) {
		mf_box_merge_common(bs);
		if (bs->anomaly)
			return 1; /* nothing changed yet: redo it in full */
		for (int i = 0; i < 2 && ret >= 0; i++)
			ret = cur_start(bs, &bs->b[i], bs->lcu + 1, UINT32_MAX);
	} else {
		ret = walk_common(bs);
	}
	if (ret < 0)
		return ret;
	return sync_above(bs);
}
