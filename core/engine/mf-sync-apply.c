/* SPDX-License-Identifier: MIT */
/*
 * Carrying out a mailbox's plan: saves in ascending UID order, committed
 * every commit_interval messages, bodies streamed in chunks or copied
 * inside the store; then flag changes and expunges.
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-header-hash.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-box.h"

/* ------------------------------------------------------------ applying */

static void uidset_one(struct mailferry_uid_range *r,
                       struct mailferry_uidset *set, uint32_t uid)
{
	r->first = r->last = uid;
	set->ranges = r;
	set->count = 1;
}

static int cmp_save(const void *x, const void *y)
{
	const struct mf_save_op *a = x, *b = y;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* Details of the source message a save needs (GUID string, dates, POP3,
 * size). Read for a window of saves at a time with one iteration per
 * source side, so a network store answers one query per window instead of
 * one per message, and memory stays bounded by the window. */
struct mf_src_info {
	char *guid;
	int64_t received, saved;
	char *pop3_uidl;
	uint32_t pop3_order;
	uint64_t size;
	bool found;
};

static void src_infos_clear(struct mf_src_info *infos, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(infos[i].guid);
		free(infos[i].pop3_uidl);
	}
	memset(infos, 0, n * sizeof(*infos));
}

/* Fill infos[i] from message m when ops[i] reads it. */
static void take_src_info(const struct mf_save_op *ops, size_t n, int side,
                          const struct mailferry_msg *m,
                          struct mf_src_info *infos)
{
	for (size_t i = 0; i < n; i++) {
		struct mf_src_info *info = &infos[i];
		if (ops[i].from_side != side || ops[i].from_uid != m->uid ||
		    info->found)
			continue;
		info->found = true;
		if (m->guid != NULL && m->guid[0] != '\0')
			info->guid = mf_strdup(m->guid);
		info->received = m->received_date;
		info->saved = m->save_date;
		if (m->pop3_uidl != NULL)
			info->pop3_uidl = mf_strdup(m->pop3_uidl);
		info->pop3_order = m->pop3_order;
		info->size = m->physical_size;
	}
}

/* UIDs further apart than this are read by separate queries: a copy
 * source far below the rest (a message being expunged) must not make
 * the query walk every message in between. */
#define SRC_INFO_GAP 1024

static int prefetch_src_infos(struct mf_box_sync *bs,
                              const struct mf_save_op *ops, size_t n,
                              struct mf_src_info *infos)
{
	MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;
	int ret = 0;

	for (int side = 0; side < 2 && ret >= 0; side++) {
		struct mf_box_side *src = &bs->b[side];
		struct mf_storage *st = src->s->st;

		uids.count = 0;
		for (size_t i = 0; i < n; i++) {
			if (ops[i].from_side == side && ops[i].uid != 0)
				mf_array_push(&uids, ops[i].from_uid);
		}
		if (uids.count == 0 || src->box == NULL)
			continue;
		mf_qsort(uids.items, uids.count, sizeof(uint32_t),
		         mf_box_cmp_u32);
		for (size_t first = 0, last; first < uids.count && ret >= 0;
		     first = last + 1) {
			struct mailferry_msg_query q;
			struct mailferry_msg_iter *iter;
			const struct mailferry_msg *m;

			last = first;
			while (last + 1 < uids.count &&
			       uids.items[last + 1] - uids.items[last] <=
			           SRC_INFO_GAP)
				last++;
			mf_box_query_init(
			    &q,
			    MAILFERRY_FIELD_GUID | MAILFERRY_FIELD_RECEIVED |
			        MAILFERRY_FIELD_SAVED | MAILFERRY_FIELD_POP3 |
			        MAILFERRY_FIELD_PHYSICAL_SIZE);
			q.flags = 0;
			q.uid_first = uids.items[first];
			q.uid_last = uids.items[last];
			ret = st->ops->msg_iter_begin(src->box, &q, &iter);
			if (ret < 0)
				break;
			while ((ret = st->ops->msg_iter_next(iter, &m)) > 0) {
				if (mf_bsearch(&m->uid, uids.items + first,
				               last + 1 - first,
				               sizeof(uint32_t),
				               mf_box_cmp_u32) != NULL)
					take_src_info(ops, n, side, m, infos);
			}
			int ret2 = st->ops->msg_iter_end(&iter);
			if (ret == 0)
				ret = ret2;
		}
	}
	mf_array_free(&uids);
	return ret;
}

/* Save one message into trans on side di. */
static int do_save(struct mf_box_sync *bs, int di,
                   struct mailferry_trans *trans, const struct mf_save_op *op,
                   const struct mf_src_info *info, uint32_t *bytes_r)
{
	struct mf_box_side *D = &bs->b[di], *S = &bs->b[op->from_side];
	struct mf_storage *dst = D->s->st, *src = S->s->st;
	struct mailferry_save save;
	struct mailferry_stream *stream;
	char *buf;
	int ret;

	*bytes_r = 0;
	if (!info->found)
		return MAILFERRY_E_EXPUNGED;
	mf_zero(&save);
	save.struct_size = sizeof(save);
	save.uid = D->any_uid ? 0 : op->uid;
	save.guid = bs->ctx->use_guids ? info->guid : NULL;
	save.flags = op->flags;
	save.keywords = (const char *const *)bs->kw.sets.items[op->kw];
	save.received_date = info->received;
	save.save_date = info->saved;
	save.min_modseq = op->min_modseq;
	save.pop3_uidl = info->pop3_uidl;
	save.pop3_order = info->pop3_order;
	save.size_hint = info->size;

	if (op->from_side == di && MF_HAS_OP(dst, copy)) {
		ret = dst->ops->copy(trans, S->box, op->from_uid, &save);
		if (ret != MAILFERRY_E_NOTSUPP)
			return ret;
	}
	if (op->from_side != di && MF_HAS_OP(src, msg_get_path) &&
	    MF_HAS_OP(dst, save_from_path)) {
		/* a plain file on both sides: a hard link when the
		 * destination can (same filesystem), no bytes copied */
		const char *path;

		ret = src->ops->msg_get_path(S->box, op->from_uid, &path);
		if (ret == 0)
			ret = dst->ops->save_from_path(trans, &save, path);
		if (ret == 0) {
			*bytes_r = (uint32_t)MF_MIN(info->size, UINT32_MAX);
			mf_progress_msg(bs->ctx->progress, *bytes_r);
			return 0;
		}
		/* not possible, or the file was just renamed (a flag
		 * change): stream it */
		if (ret != MAILFERRY_E_NOTSUPP && ret != MAILFERRY_E_NOTFOUND &&
		    ret != MAILFERRY_E_EXPUNGED)
			return ret;
	}
	ret = src->ops->msg_open(S->box, op->from_uid, 0, &stream);
	if (ret < 0)
		return ret;
	ret = dst->ops->save_begin(trans, &save);
	if (ret < 0) {
		src->ops->stream_close(&stream);
		return ret;
	}
	buf = mf_malloc(CHUNK_SIZE);
	for (;;) {
		size_t n = 0;
		ret = src->ops->stream_read(stream, buf, CHUNK_SIZE, &n);
		if (ret < 0 || n == 0)
			break;
		ret = dst->ops->save_write(trans, buf, n);
		if (ret < 0)
			break;
		*bytes_r += (uint32_t)n;
		mf_progress_msg(bs->ctx->progress, n);
	}
	free(buf);
	src->ops->stream_close(&stream);
	if (ret < 0) {
		dst->ops->save_cancel(trans);
		return ret;
	}
	return dst->ops->save_finish(trans);
}

const char *mf_box_side_err(struct mf_box_side *b)
{
	return mf_sync_side_error(b->s);
}

static int commit_saves(struct mf_box_sync *bs, int di,
                        struct mailferry_trans **trans, size_t first,
                        size_t count)
{
	struct mf_box_side *D = &bs->b[di];
	struct mailferry_commit_result cr;
	int ret;

	mf_zero(&cr);
	cr.struct_size = sizeof(cr);
	ret = D->s->st->ops->trans_commit(trans, &cr);
	if (ret == MAILFERRY_E_EXISTS) {
		/* a concurrent delivery took a UID we wanted: nothing of
		 * this batch was saved; the next run redoes it */
		mf_sync_changed(bs->ctx,
		                "%s: mailbox %s: UIDs changed due to UID "
		                "conflicts (%s)",
		                D->s->label, D->node->real, mf_box_side_err(D));
		bs->ctx->require_full_resync = true;
		bs->saves_aborted = true;
		return 1;
	}
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: mailbox %s: commit: %s",
		                    D->s->label, D->node->real,
		                    mf_box_side_err(D));
	/* the store had to give other UIDs: a concurrent delivery took the
	 * ones we wanted (unless we wanted none) */
	size_t k = 0;
	bool conflict = false;
	for (size_t i = first; i < first + count; i++) {
		/* a move's old UID went with it (side_clean counts it) */
		if (D->saves.items[i].move && D->saves.items[i].uid != 0)
			D->applied_expunges++;
	}
	for (size_t i = first; i < first + count && k < cr.saved_count; i++) {
		struct mf_save_op *op = &D->saves.items[i];

		if (op->uid == 0)
			continue; /* skipped */
		op->got_uid = cr.saved_uids[k++];
		if (op->got_uid != 0 && op->got_uid != op->uid && !D->any_uid &&
		    !conflict) {
			conflict = true;
			mf_sync_changed(bs->ctx,
			                "%s: mailbox %s: UIDs changed due to "
			                "UID conflicts",
			                D->s->label, D->node->real);
		}
	}
	return 0;
}

/* Save D->saves (sorted by wanted UID) in transactions of
 * commit_interval messages, reading source details window by window. */
static int apply_saves_window(struct mf_box_sync *bs, int di,
                              struct mf_src_info *infos, size_t window)
{
	struct mf_box_side *D = &bs->b[di];
	struct mf_storage *st = D->s->st;
	struct mailferry_trans *trans = NULL;
	size_t batch_start = 0, in_batch = 0, win_start = 0;
	int ret = 0;

	for (size_t i = 0; i < D->saves.count; i++) {
		struct mf_save_op *op = &D->saves.items[i];
		char hex[MF_GUID128_HEX_LEN];
		uint32_t bytes;

		if (!bs->ctx->p->dry_run &&
		    (i == 0 || i - win_start >= window)) {
			win_start = i;
			src_infos_clear(infos, window);
			ret = prefetch_src_infos(
			    bs, op, MF_MIN(window, D->saves.count - i), infos);
			if (ret < 0) {
				if (trans != NULL)
					st->ops->trans_rollback(&trans);
				return mf_sync_fail(
				    bs->ctx, ret,
				    "mailbox %s: reading message details: %s",
				    D->node->real,
				    mf_box_side_err(&bs->b[1 - di]));
			}
		}

		const struct mf_box_side *M = &bs->b[op->msg_side];
		const char *guid =
		    mf_box_guid_str(M, &M->msgs.items[op->msg_idx], hex);
		if (op->move)
			mf_sync_note(
			    bs->ctx, D->s, "move %s UID %u to UID %u (%s)",
			    D->node->real, op->from_uid, op->uid, guid);
		else
			mf_sync_note(
			    bs->ctx, D->s, "save to %s UID %u (%s UID %u, %s)",
			    D->node->real, op->uid,
			    bs->b[op->from_side].s->label, op->from_uid, guid);
		if (bs->ctx->p->dry_run) {
			if (op->move) {
				bs->ctx->res->msgs_moved++;
			} else {
				bs->ctx->res->msgs_saved++;
			}
			continue;
		}
		if (trans == NULL) {
			ret = st->ops->trans_begin(D->box, MAILFERRY_TRANS_SYNC,
			                           &trans);
			if (ret < 0)
				return mf_sync_fail(
				    bs->ctx, ret,
				    "%s: mailbox %s: transaction: %s",
				    D->s->label, D->node->real,
				    mf_box_side_err(D));
			batch_start = i;
			in_batch = 0;
		}
		ret = do_save(bs, di, trans, op, &infos[i - win_start], &bytes);
		if (ret == MAILFERRY_E_EXPUNGED ||
		    ret == MAILFERRY_E_NOTFOUND) {
			/* expunged on the source meanwhile: nothing to copy */
			mf_sync_changed(bs->ctx,
			                "%s: message UID %u expunged during "
			                "the sync",
			                bs->b[op->from_side].s->label,
			                op->from_uid);
			bs->ctx->require_full_resync = true;
			op->uid = 0;
			continue;
		}
		if (ret < 0) {
			ret = mf_sync_fail(
			    bs->ctx, ret, "%s: mailbox %s: saving UID %u: %s",
			    D->s->label, D->node->real, op->uid,
			    op->from_side == di
			        ? mf_box_side_err(D)
			        : mf_sync_side_error(bs->b[op->from_side].s));
			st->ops->trans_rollback(&trans);
			return ret;
		}
		if (op->move) {
			/* the old UID goes in the same transaction */
			struct mailferry_uid_range range;
			struct mailferry_uidset set;

			uidset_one(&range, &set, op->from_uid);
			ret = st->ops->expunge(trans, &set);
			if (ret < 0) {
				ret = mf_sync_fail(
				    bs->ctx, ret,
				    "%s: mailbox %s: moving UID %u: %s",
				    D->s->label, D->node->real, op->from_uid,
				    mf_box_side_err(D));
				st->ops->trans_rollback(&trans);
				return ret;
			}
			bs->ctx->res->msgs_moved++;
		} else {
			bs->ctx->res->msgs_saved++;
		}
		bs->ctx->res->bytes += bytes;
		mf_progress_msg_done(bs->ctx->progress);
		in_batch++;
		if (in_batch >= bs->ctx->commit_interval) {
			ret = commit_saves(bs, di, &trans, batch_start,
			                   i + 1 - batch_start);
			if (ret != 0)
				return ret < 0 ? ret : 0;
		}
	}
	if (trans != NULL)
		ret = commit_saves(bs, di, &trans, batch_start,
		                   D->saves.count - batch_start);
	return ret < 0 ? ret : 0;
}

struct uid_move {
	uint32_t from, to;
};

static int cmp_uid_move(const void *x, const void *y)
{
	const struct uid_move *a = x, *b = y;
	return a->from < b->from ? -1 : (a->from > b->from ? 1 : 0);
}

/* Saves on side di that read a message the other side has meanwhile
 * moved to a new UID (and committed) read it there instead. */
static void redirect_moved_sources(struct mf_box_sync *bs, int di)
{
	struct mf_box_side *S = &bs->b[1 - di], *D = &bs->b[di];
	MF_ARRAY(struct uid_move) mv = MF_ARRAY_INIT;

	for (size_t i = 0; i < S->saves.count; i++) {
		const struct mf_save_op *op = &S->saves.items[i];
		if (op->move && op->uid != 0 && op->got_uid != 0) {
			struct uid_move *m = mf_array_append_zero(&mv);
			m->from = op->from_uid;
			m->to = op->got_uid;
		}
	}
	if (mv.count == 0)
		return;
	mf_qsort(mv.items, mv.count, sizeof(struct uid_move), cmp_uid_move);
	for (size_t i = 0; i < D->saves.count; i++) {
		struct mf_save_op *op = &D->saves.items[i];
		struct uid_move key = {.from = op->from_uid};
		const struct uid_move *m;

		if (op->from_side == di)
			continue;
		m = mf_bsearch(&key, mv.items, mv.count,
		               sizeof(struct uid_move), cmp_uid_move);
		if (m != NULL)
			op->from_uid = m->to;
	}
	mf_array_free(&mv);
}

int mf_box_apply_saves(struct mf_box_sync *bs, int di)
{
	struct mf_box_side *D = &bs->b[di];
	size_t window = bs->ctx->commit_interval;
	struct mf_src_info *infos;
	int ret;

	if (D->saves.count == 0)
		return 0;
	redirect_moved_sources(bs, di);
	mf_qsort(D->saves.items, D->saves.count, sizeof(struct mf_save_op),
	         cmp_save);
	infos = mf_calloc(window, sizeof(*infos));
	ret = apply_saves_window(bs, di, infos, window);
	src_infos_clear(infos, window);
	free(infos);
	return ret;
}

static int cmp_flag_op(const void *x, const void *y)
{
	const struct mf_flag_op *a = x, *b = y;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* "\\Seen \\Flagged $Label1" for messages. */
static char *flags_desc(uint32_t flags, char **keywords)
{
	static const char *const names[] = {"\\Answered", "\\Flagged",
	                                    "\\Deleted", "\\Seen", "\\Draft"};
	struct mf_buf buf = MF_BUF_INIT;

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		if ((flags & (1u << i)) != 0)
			mf_buf_printf(&buf, "%s%s", buf.len > 0 ? " " : "",
			              names[i]);
	}
	for (size_t i = 0; keywords[i] != NULL; i++)
		mf_buf_printf(&buf, "%s%s", buf.len > 0 ? " " : "",
		              keywords[i]);
	return mf_buf_detach(&buf);
}

int mf_box_apply_changes(struct mf_box_sync *bs, int di, bool expunges)
{
	struct mf_box_side *D = &bs->b[di];
	struct mf_storage *st = D->s->st;
	struct mailferry_trans *trans = NULL;
	size_t nexp = expunges ? D->expunges.count : 0;
	unsigned int n = 0;
	int ret = 0;

	if (D->flag_ops.count == 0 && nexp == 0)
		return 0;
	mf_qsort(D->flag_ops.items, D->flag_ops.count,
	         sizeof(struct mf_flag_op), cmp_flag_op);
	mf_qsort(D->expunges.items, nexp, sizeof(uint32_t), mf_box_cmp_u32);
	for (size_t i = 0; i < D->flag_ops.count + nexp; i++) {
		struct mailferry_uid_range range;
		struct mailferry_uidset set;
		bool is_exp = i >= D->flag_ops.count;

		if (is_exp) {
			uint32_t uid = D->expunges.items[i - D->flag_ops.count];
			mf_sync_note(bs->ctx, D->s, "expunge %s UID %u",
			             D->node->real, uid);
			bs->ctx->res->msgs_expunged++;
		} else {
			const struct mf_flag_op *op = &D->flag_ops.items[i];
			char *desc =
			    flags_desc(op->flags, bs->kw.sets.items[op->kw]);
			mf_sync_note(bs->ctx, D->s,
			             "set flags of %s UID %u to (%s)",
			             D->node->real, op->uid, desc);
			free(desc);
			bs->ctx->res->msgs_flag_changed++;
		}
		if (bs->ctx->p->dry_run)
			continue;
		if (trans == NULL) {
			ret = st->ops->trans_begin(D->box, MAILFERRY_TRANS_SYNC,
			                           &trans);
			if (ret < 0)
				break;
		}
		if (is_exp) {
			uidset_one(&range, &set,
			           D->expunges.items[i - D->flag_ops.count]);
			ret = st->ops->expunge(trans, &set);
			D->applied_expunges++;
		} else {
			const struct mf_flag_op *op = &D->flag_ops.items[i];
			uidset_one(&range, &set, op->uid);
			ret = st->ops->update_flags(
			    trans, &set, MAILFERRY_MODIFY_REPLACE, op->flags,
			    (const char *const *)bs->kw.sets.items[op->kw]);
			if (ret == 0 && op->min_modseq > 0 &&
			    MF_HAS_OP(st, update_modseq))
				ret = st->ops->update_modseq(trans, op->uid,
				                             op->min_modseq);
		}
		if (ret < 0)
			break;
		if (++n >= bs->ctx->commit_interval) {
			ret = st->ops->trans_commit(&trans, NULL);
			n = 0;
			if (ret < 0)
				break;
		}
	}
	if (ret == 0 && trans != NULL)
		ret = st->ops->trans_commit(&trans, NULL);
	if (trans != NULL)
		st->ops->trans_rollback(&trans);
	if (ret < 0)
		return mf_sync_fail(
		    bs->ctx, ret,
		    "%s: mailbox %s: changing flags/expunging: %s", D->s->label,
		    D->node->real, mf_box_side_err(D));
	return 0;
}
