/* SPDX-License-Identifier: MIT */
/* Write transactions: saves, flag/keyword changes, expunges and the commit
 * order that keeps a killed run from losing or half-writing anything:
 *   1. message data is written to files Dovecot does not look at yet
 *      (sdbox temp files, new mdbox files under a temp name);
 *   2. under the mailbox index lock UIDs are assigned and the data is
 *      made durable and given its final name (sdbox u.<uid>, mdbox map
 *      records);
 *   3. one index log append makes everything visible;
 *   4. only then are expunged messages' files removed.
 * A kill before 3 leaves files that no index refers to: temp files (and,
 * for sdbox, u.<uid> files at or above next_uid) that the next writer
 * removes. A copy inside the mailbox whose source the same transaction
 * expunges is a move: append and expunge go in the one log append of 3
 * and the format moves the data without a second copy (README.md,
 * "Moves"). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-hex.h"
#include "dbox-ops.h"

static bool keyword_valid(const char *kw)
{
	if (*kw == '\0' || strlen(kw) > 255)
		return false;
	for (const unsigned char *p = (const unsigned char *)kw; *p; p++) {
		/* IMAP atom characters only */
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	}
	return true;
}

static int check_keywords(struct mailferry_storage *st, const char *const *kws)
{
	for (size_t i = 0; kws != NULL && kws[i] != NULL; i++) {
		if (!keyword_valid(kws[i]))
			return dbox_error(st, MAILFERRY_E_INVALID,
			                  "invalid keyword '%s'", kws[i]);
	}
	return 0;
}

int dbox_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                     struct mailferry_trans **trans_r)
{
	struct mailferry_trans *t;

	if (box->readonly)
		return dbox_error(box->st, MAILFERRY_E_PERM,
		                  "mailbox %s is open read-only", box->name);
	t = mf_calloc(1, sizeof(*t));
	t->box = box;
	t->flags = flags;
	t->writer_fd = -1;
	*trans_r = t;
	return 0;
}

static void save_free(struct dbox_save *s)
{
	mf_strv_free(&s->keywords);
	free(s->guid);
	free(s->pop3_uidl);
	free(s->tmp_path);
}

int dbox_save_begin(struct mailferry_trans *t,
                    const struct mailferry_save *save)
{
	struct mailferry_storage *st = t->box->st;
	struct dbox_save *s;
	const char *path;
	uint64_t offset;
	char *err = NULL;
	int ret;

	if (t->saving)
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "save_begin() while another save is open");
	if (save->guid != NULL &&
	    (save->guid[0] == '\0' || strpbrk(save->guid, "\r\n") != NULL))
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "invalid message GUID '%s'", save->guid);
	if (save->pop3_uidl != NULL && strpbrk(save->pop3_uidl, "\r\n"))
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "invalid POP3 UIDL '%s'", save->pop3_uidl);
	if ((ret = check_keywords(st, save->keywords)) < 0)
		return ret;
	if (save->uid != 0 && t->saves.count > 0 &&
	    save->uid <= t->saves.items[t->saves.count - 1].want_uid)
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "wanted UIDs must ascend in a transaction "
		                  "(%u)",
		                  save->uid);
	s = mf_array_append_zero(&t->saves);
	s->want_uid = save->uid;
	s->flags = (uint8_t)(save->flags & MAILFERRY_FLAGS_MASK);
	s->keywords = mf_strv_dup(save->keywords);
	if (save->guid != NULL) {
		s->guid = mf_strdup(save->guid);
	} else {
		s->guid = mf_malloc(MF_GUID128_HEX_LEN);
		if ((ret = dbox_guid_generate(st, s->guid)) < 0)
			goto fail;
	}
	s->received = save->received_date != 0 ? save->received_date
	                                       : (int64_t)time(NULL);
	s->save_date =
	    save->save_date != 0 ? save->save_date : (int64_t)time(NULL);
	s->min_modseq = save->min_modseq;
	s->pop3_uidl =
	    save->pop3_uidl != NULL ? mf_strdup(save->pop3_uidl) : NULL;
	s->pop3_order = save->pop3_order;
	ret = st->fmt->save_begin(t, s, &t->writer_fd, &offset, &path);
	if (ret < 0)
		goto fail;
	if (dbox_writer_begin(t->writer_fd, path, offset, st->set.compress_kind,
	                      st->set.compress_level, &t->writer, &err) < 0) {
		st->fmt->save_cancel(t, s);
		ret = dbox_error_take(st, MAILFERRY_E_TEMP, err);
		goto fail;
	}
	t->saving = true;
	t->save_input_bytes = 0;
	t->save_size_hint = save->size_hint;
	return 0;
fail:
	save_free(s);
	t->saves.count--;
	return ret;
}

int dbox_save_write(struct mailferry_trans *t, const void *data, size_t size)
{
	char *err = NULL;

	if (!t->saving)
		return dbox_error(t->box->st, MAILFERRY_E_INVALID,
		                  "save_write() without save_begin()");
	if (dbox_writer_write(t->writer, data, size, &err) < 0)
		return dbox_error_take(
		    t->box->st, dbox_errno_code(dbox_writer_errno(t->writer)),
		    err);
	t->save_input_bytes += size;
	return 0;
}

void dbox_save_cancel(struct mailferry_trans *t)
{
	struct dbox_save *s;

	if (!t->saving)
		return;
	s = &t->saves.items[t->saves.count - 1];
	dbox_writer_free(&t->writer);
	t->box->st->fmt->save_cancel(t, s);
	save_free(s);
	t->saves.count--;
	t->saving = false;
}

int dbox_save_finish(struct mailferry_trans *t)
{
	struct mailferry_storage *st = t->box->st;
	struct dbox_save *s;
	struct dbox_metadata_values v;
	struct dbox_writer_result res;
	char *err = NULL;
	int ret;

	if (!t->saving)
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "save_finish() without save_begin()");
	s = &t->saves.items[t->saves.count - 1];
	if (t->save_size_hint != UINT64_MAX &&
	    t->save_size_hint != t->save_input_bytes) {
		ret = dbox_error(st, MAILFERRY_E_INVALID,
		                 "message size %llu differs from the announced "
		                 "%llu",
		                 (unsigned long long)t->save_input_bytes,
		                 (unsigned long long)t->save_size_hint);
		dbox_save_cancel(t);
		return ret;
	}
	mf_zero(&v);
	v.received = s->received;
	v.guid = s->guid;
	v.pop3_uidl = s->pop3_uidl;
	v.pop3_order = s->pop3_order;
	v.orig_mailbox = st->fmt->orig_mailbox != NULL
	                     ? st->fmt->orig_mailbox(t->box)
	                     : NULL;
	if (dbox_writer_finish(t->writer, &v, &res, &err) < 0) {
		ret = dbox_error_take(
		    st, dbox_errno_code(dbox_writer_errno(t->writer)), err);
		dbox_save_cancel(t);
		return ret;
	}
	if (st->set.fsync == DBOX_FSYNC_ALWAYS &&
	    (ret = dbox_fsync_commit(st, t->writer_fd, "message file")) < 0) {
		dbox_save_cancel(t);
		return ret;
	}
	ret = st->fmt->save_finish(t, s, &res);
	dbox_writer_free(&t->writer);
	t->saving = false;
	if (ret < 0) {
		st->fmt->save_cancel(t, s);
		save_free(s);
		t->saves.count--;
	}
	return ret;
}

int dbox_update_flags(struct mailferry_trans *t,
                      const struct mailferry_uidset *uids,
                      enum mailferry_modify modify, uint32_t flags,
                      const char *const *keywords)
{
	struct dbox_flag_change *c;
	int ret;

	if ((ret = check_keywords(t->box->st, keywords)) < 0)
		return ret;
	if (modify > MAILFERRY_MODIFY_REPLACE)
		return dbox_error(t->box->st, MAILFERRY_E_INVALID,
		                  "bad modify mode %d", (int)modify);
	c = mf_array_append_zero(&t->changes);
	c->ranges = mf_calloc(uids->count + 1, sizeof(*c->ranges));
	memcpy(c->ranges, uids->ranges, uids->count * sizeof(*c->ranges));
	c->count = uids->count;
	c->modify = modify;
	c->flags = (uint8_t)(flags & MAILFERRY_FLAGS_MASK);
	c->keywords = mf_strv_dup(keywords);
	return 0;
}

int dbox_update_modseq(struct mailferry_trans *t, uint32_t uid,
                       uint64_t min_modseq)
{
	struct dbox_modseq_update u = {uid, min_modseq};

	mf_array_push(&t->modseqs, u);
	return 0;
}

int dbox_expunge(struct mailferry_trans *t, const struct mailferry_uidset *uids)
{
	for (size_t i = 0; i < uids->count; i++)
		mf_array_push(&t->expunges, uids->ranges[i]);
	return 0;
}

/* Sequence range of the existing messages in [first, last]; false when
 * none exists. */
static bool seq_range(struct mf_index *idx, uint32_t first, uint32_t last,
                      uint32_t *seq1_r, uint32_t *seq2_r)
{
	uint32_t count = mf_index_count(idx), lo = 1, hi = count + 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (mf_index_rec_at(idx, mid)->uid < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	*seq1_r = lo;
	lo = *seq1_r;
	hi = count + 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (mf_index_rec_at(idx, mid)->uid <= last)
			lo = mid + 1;
		else
			hi = mid;
	}
	*seq2_r = lo - 1;
	return *seq1_r <= *seq2_r && *seq1_r <= count;
}

static void add_flag_changes(struct mailferry_trans *t,
                             struct mf_index_trans *it)
{
	struct mf_index *idx = t->box->idx;

	for (size_t i = 0; i < t->changes.count; i++) {
		const struct dbox_flag_change *c = &t->changes.items[i];

		for (size_t r = 0; r < c->count; r++) {
			uint32_t s1, s2, u1, u2;

			if (c->ranges[r].first > c->ranges[r].last ||
			    !seq_range(idx, c->ranges[r].first,
			               c->ranges[r].last, &s1, &s2))
				continue;
			u1 = mf_index_rec_at(idx, s1)->uid;
			u2 = mf_index_rec_at(idx, s2)->uid;
			switch (c->modify) {
			case MAILFERRY_MODIFY_ADD:
				if (c->flags != 0)
					mf_index_trans_flags(it, u1, u2,
					                     c->flags, 0);
				break;
			case MAILFERRY_MODIFY_REMOVE:
				if (c->flags != 0)
					mf_index_trans_flags(it, u1, u2, 0,
					                     c->flags);
				break;
			case MAILFERRY_MODIFY_REPLACE:
				mf_index_trans_flags(
				    it, u1, u2, c->flags,
				    (uint8_t)(MF_INDEX_FLAGS_SYSTEM &
				              ~c->flags));
				/* as Dovecot: reset, then add the new set */
				mf_index_trans_keyword_reset(it, u1, u2);
				break;
			}
			for (size_t k = 0;
			     c->keywords != NULL && c->keywords[k] != NULL;
			     k++) {
				mf_index_trans_keyword(
				    it, c->keywords[k],
				    c->modify != MAILFERRY_MODIFY_REMOVE, u1,
				    u2);
			}
		}
	}
}

static void add_saves(struct mailferry_trans *t, struct mf_index_trans *it)
{
	for (size_t i = 0; i < t->saves.count; i++) {
		const struct dbox_save *s = &t->saves.items[i];

		for (size_t k = 0; s->keywords != NULL && s->keywords[k]; k++)
			mf_index_trans_keyword(it, s->keywords[k], true, s->uid,
			                       s->uid);
		if (s->min_modseq != 0)
			mf_index_trans_modseq(it, s->uid, s->min_modseq);
	}
}

/* Set the POP3 bits of the dbox header when saves carry POP3 data. */
static void update_pop3_hdr(struct mailferry_trans *t,
                            struct mf_index_trans *it)
{
	const struct mf_index_ext *ext =
	    mf_index_ext_find(t->box->idx, t->box->st->fmt->hdr_ext);
	uint8_t old = 0, flags;

	if (ext != NULL && ext->hdr_size > 20)
		old = ext->hdr[20];
	flags = old;
	for (size_t i = 0; i < t->saves.count; i++) {
		if (t->saves.items[i].pop3_uidl != NULL)
			flags |= DBOX_HDR_FLAG_HAVE_POP3_UIDLS;
		if (t->saves.items[i].pop3_order != 0)
			flags |= DBOX_HDR_FLAG_HAVE_POP3_ORDERS;
	}
	if (flags != old && ext != NULL && ext->hdr_size > 20)
		mf_index_trans_ext_hdr(it, t->box->st->fmt->hdr_ext, 20, &flags,
		                       1);
}

static bool expunge_requested(const struct mailferry_trans *t, uint32_t uid)
{
	for (size_t i = 0; i < t->expunges.count; i++) {
		if (t->expunges.items[i].first <= uid &&
		    uid <= t->expunges.items[i].last)
			return true;
	}
	return false;
}

/* A copy inside the mailbox whose source the same transaction expunges
 * is a move (the engine gives a message a new UID that way). Only a
 * source that still exists now, under the lock, can move; each source
 * moves once, further copies of it stay copies. */
static void mark_moves(struct mailferry_trans *t)
{
	for (size_t i = 0; i < t->saves.count; i++) {
		struct dbox_save *s = &t->saves.items[i];
		bool taken = false;

		s->is_move = false;
		if (!s->is_copy || !s->src_same_box ||
		    !expunge_requested(t, s->src_uid) ||
		    mf_index_lookup_uid(t->box->idx, s->src_uid) == 0)
			continue;
		for (size_t j = 0; j < i && !taken; j++) {
			taken = t->saves.items[j].is_move &&
			        t->saves.items[j].src_uid == s->src_uid;
		}
		s->is_move = !taken;
	}
}

/* The expunged messages, with what their expunge records and the format
 * need (read before commit_saves changes any file). */
static void collect_expunges(struct mailferry_trans *t, void *arr_)
{
	MF_ARRAY(struct dbox_expunged) *arr = arr_;
	struct mf_index *idx = t->box->idx;

	for (size_t i = 0; i < t->expunges.count; i++) {
		uint32_t s1, s2;

		if (t->expunges.items[i].first > t->expunges.items[i].last ||
		    !seq_range(idx, t->expunges.items[i].first,
		               t->expunges.items[i].last, &s1, &s2))
			continue;
		for (uint32_t seq = s1; seq <= s2; seq++) {
			struct dbox_expunged e;
			bool dup = false;

			mf_zero(&e);
			e.seq = seq;
			e.uid = mf_index_rec_at(idx, seq)->uid;
			for (size_t j = 0; j < arr->count; j++)
				dup = dup || arr->items[j].uid == e.uid;
			if (dup)
				continue;
			t->box->st->fmt->expunge_prepare(t->box, &e);
			for (size_t j = 0; j < t->saves.count; j++) {
				const struct dbox_save *s = &t->saves.items[j];

				if (!s->is_move || s->src_uid != e.uid)
					continue;
				e.moved = true;
				if (!e.have_guid && s->guid != NULL) {
					dbox_guid_128(s->guid, e.guid);
					e.have_guid = true;
				}
			}
			mf_array_push(arr, e);
		}
	}
}

static void trans_free(struct mailferry_trans **_t, bool committed)
{
	struct mailferry_trans *t = *_t;

	*_t = NULL;
	if (t->saving)
		dbox_save_cancel(t);
	if (t->box->st->fmt->trans_free != NULL)
		t->box->st->fmt->trans_free(t, committed);
	for (size_t i = 0; i < t->saves.count; i++)
		save_free(&t->saves.items[i]);
	mf_array_free(&t->saves);
	for (size_t i = 0; i < t->changes.count; i++) {
		free(t->changes.items[i].ranges);
		mf_strv_free(&t->changes.items[i].keywords);
	}
	mf_array_free(&t->changes);
	mf_array_free(&t->expunges);
	mf_array_free(&t->modseqs);
	free(t);
}

int dbox_trans_commit(struct mailferry_trans **_t,
                      struct mailferry_commit_result *result_r)
{
	struct mailferry_trans *t = *_t;
	struct mailferry_mailbox *box = t->box;
	struct mailferry_storage *st = box->st;
	struct mf_index_trans *it = NULL;
	MF_ARRAY(struct dbox_expunged) expunged = MF_ARRAY_INIT;
	uint32_t next_uid;
	bool committed = false, fmt_locked = false;
	int ret;

	if (t->saving)
		dbox_save_cancel(t);
	if (st->fmt->commit_lock != NULL) {
		ret = st->fmt->commit_lock(t);
		if (ret < 0)
			goto out;
		fmt_locked = true;
	}
	ret = mf_index_lock(box->idx);
	if (ret < 0) {
		ret = dbox_index_error(st, box->idx, ret);
		goto out;
	}
	next_uid = mf_index_get_header(box->idx)->next_uid;
	for (size_t i = 0; i < t->saves.count; i++) {
		struct dbox_save *s = &t->saves.items[i];

		if (s->want_uid != 0 && s->want_uid < next_uid) {
			ret = dbox_error(st, MAILFERRY_E_EXISTS,
			                 "mailbox %s: wanted uid %u is below "
			                 "uidnext %u",
			                 box->name, s->want_uid, next_uid);
			goto unlock;
		}
		s->uid = s->want_uid != 0 ? s->want_uid : next_uid;
		if (s->uid == 0 || s->uid == UINT32_MAX) {
			ret = dbox_error(st, MAILFERRY_E_LIMIT,
			                 "mailbox %s: out of UIDs", box->name);
			goto unlock;
		}
		next_uid = s->uid + 1;
	}
	mark_moves(t);
	collect_expunges(t, &expunged);
	it = mf_index_trans_begin(
	    box->idx,
	    MF_INDEX_TRANS_EXTERNAL |
	        ((t->flags & MAILFERRY_TRANS_SYNC) ? MF_INDEX_TRANS_SYNC : 0));
	for (size_t i = 0; i < t->saves.count; i++) {
		ret = mf_index_trans_append(it, t->saves.items[i].uid,
		                            t->saves.items[i].flags, NULL);
		if (ret < 0) {
			ret = dbox_index_error(st, box->idx, ret);
			goto unlock;
		}
	}
	if (t->saves.count > 0) {
		ret = st->fmt->commit_saves(t, it);
		if (ret < 0)
			goto unlock;
		add_saves(t, it);
		update_pop3_hdr(t, it);
	}
	add_flag_changes(t, it);
	for (size_t i = 0; i < t->modseqs.count; i++) {
		if (mf_index_lookup_uid(box->idx, t->modseqs.items[i].uid) != 0)
			mf_index_trans_modseq(it, t->modseqs.items[i].uid,
			                      t->modseqs.items[i].modseq);
	}
	/* a moved message's old UID goes in the same log append as its
	 * new one: readers see it at one UID or the other, never both */
	for (size_t i = 0; i < expunged.count; i++) {
		const struct dbox_expunged *e = &expunged.items[i];

		mf_index_trans_expunge(it, e->uid,
		                       e->have_guid ? e->guid : NULL);
	}
	dbox_crash_point("before-index-commit");
	ret = mf_index_trans_commit(&it);
	if (ret < 0) {
		ret = dbox_index_error(st, box->idx, ret);
		goto unlock;
	}
	committed = true;
	dbox_crash_point("after-index-commit");
	if (expunged.count > 0)
		ret = st->fmt->expunge_finish(box, expunged.items,
		                              expunged.count);
unlock:
	if (it != NULL)
		mf_index_trans_rollback(&it);
	if (st->fmt->commit_end != NULL)
		st->fmt->commit_end(t, committed);
	mf_index_unlock(box->idx);
out:
	if (fmt_locked)
		st->fmt->commit_unlock(t);
	if (committed && result_r != NULL) {
		box->saved_uids.count = 0;
		for (size_t i = 0; i < t->saves.count; i++)
			mf_array_push(&box->saved_uids, t->saves.items[i].uid);
		result_r->struct_size = sizeof(*result_r);
		result_r->uidvalidity =
		    mf_index_get_header(box->idx)->uid_validity;
		result_r->saved_uids = box->saved_uids.items;
		result_r->saved_count = box->saved_uids.count;
	}
	mf_array_free(&expunged);
	trans_free(_t, committed);
	/* the data is committed even if removing expunged files failed */
	return committed ? 0 : ret;
}

void dbox_trans_rollback(struct mailferry_trans **_t)
{
	if (*_t != NULL)
		trans_free(_t, false);
}

/* ---- mailbox_update ---- */

/* A new UIDVALIDITY for a mailbox without messages: the mailbox becomes
 * as if newly created with it, UIDNEXT restarting at 1 (what Dovecot's
 * index reset on a UIDVALIDITY change does; the engine relies on it to
 * renumber a backup's INBOX that cannot be deleted). The index files are
 * replaced while the old log is still locked: a writer waiting for that
 * lock finds the path replaced and locks the new log. */
static int restart_empty_index(struct mailferry_storage *st,
                               struct mailferry_mailbox *box,
                               const struct mailferry_mailbox_update *u)
{
	static const char *const suffixes[] = {"", ".log", ".log.2", ".cache",
	                                       ".backup"};
	uint8_t guid[16];
	uint32_t next = 1;

	if ((u->fields & MAILFERRY_UPDATE_GUID) != 0)
		memcpy(guid, u->guid, 16);
	else
		dbox_index_guid(st->fmt, box->idx, guid);
	if ((u->fields & MAILFERRY_UPDATE_MIN_UIDNEXT) != 0 &&
	    u->min_uidnext > next)
		next = u->min_uidnext;
	for (size_t i = 0; i < MF_N_ELEMENTS(suffixes); i++) {
		char *path = mf_strdup_printf("%s/" DBOX_INDEX_PREFIX "%s",
		                              box->dir, suffixes[i]);
		int err = unlink(path) < 0 && errno != ENOENT ? errno : 0;

		free(path);
		if (err != 0)
			return dbox_error(
			    st, dbox_errno_code(err),
			    "mailbox %s: unlink(%s/%s%s) failed: %s", box->name,
			    box->dir, DBOX_INDEX_PREFIX, suffixes[i],
			    strerror(err));
	}
	return dbox_mailbox_create_index(st, box->dir, guid, u->uidvalidity,
	                                 next);
}

int dbox_mailbox_update(struct mailferry_storage *st, const char *name,
                        const struct mailferry_mailbox_update *u)
{
	struct mailferry_mailbox *box;
	struct mf_index_trans *it;
	const struct mf_index_header *hdr;
	int ret;

	if (st->readonly)
		return dbox_error(st, MAILFERRY_E_PERM, "%s is read-only",
		                  st->display);
	if ((u->fields & MAILFERRY_UPDATE_UIDVALIDITY) && u->uidvalidity == 0)
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "UIDVALIDITY 0 is invalid");
	ret = dbox_mailbox_open_internal(st, name, true, false, &box);
	if (ret < 0)
		return ret;
	ret = mf_index_lock(box->idx);
	if (ret < 0) {
		ret = dbox_index_error(st, box->idx, ret);
		dbox_ops.mailbox_close(&box);
		return ret;
	}
	hdr = mf_index_get_header(box->idx);
	if ((u->fields & MAILFERRY_UPDATE_UIDVALIDITY) != 0 &&
	    u->uidvalidity != hdr->uid_validity && hdr->messages_count == 0) {
		struct mailferry_mailbox_update rest = *u;

		ret = restart_empty_index(st, box, u);
		mf_index_unlock(box->idx);
		dbox_ops.mailbox_close(&box);
		rest.fields &= ~(uint32_t)(MAILFERRY_UPDATE_GUID |
		                           MAILFERRY_UPDATE_UIDVALIDITY |
		                           MAILFERRY_UPDATE_MIN_UIDNEXT);
		if (ret == 0 && rest.fields != 0)
			ret = dbox_mailbox_update(st, name, &rest);
		return ret;
	}
	it = mf_index_trans_begin(box->idx, MF_INDEX_TRANS_EXTERNAL);
	if ((u->fields & MAILFERRY_UPDATE_GUID) != 0) {
		if (mf_index_ext_find(box->idx, st->fmt->hdr_ext) == NULL) {
			uint8_t hdrdata[DBOX_HDR_SIZE];

			memset(hdrdata, 0, sizeof(hdrdata));
			if (st->fmt->init_box_hdr != NULL)
				(void)st->fmt->init_box_hdr(st, hdrdata);
			memcpy(hdrdata + 4, u->guid, 16);
			mf_index_trans_ext_intro(it, st->fmt->hdr_ext,
			                         DBOX_HDR_SIZE, 0, 0);
			mf_index_trans_ext_hdr(it, st->fmt->hdr_ext, 0, hdrdata,
			                       sizeof(hdrdata));
		} else {
			mf_index_trans_ext_hdr(it, st->fmt->hdr_ext, 4, u->guid,
			                       16);
		}
	}
	if ((u->fields & MAILFERRY_UPDATE_UIDVALIDITY) != 0 &&
	    u->uidvalidity != hdr->uid_validity)
		mf_index_trans_set_uid_validity(it, u->uidvalidity);
	if ((u->fields & MAILFERRY_UPDATE_MIN_UIDNEXT) != 0 &&
	    u->min_uidnext > hdr->next_uid)
		mf_index_trans_set_next_uid(it, u->min_uidnext);
	if ((u->fields & MAILFERRY_UPDATE_MIN_FIRST_RECENT_UID) != 0 &&
	    u->min_first_recent_uid > hdr->first_recent_uid) {
		uint32_t v = MF_MIN(u->min_first_recent_uid,
		                    MF_MAX(hdr->next_uid, u->min_uidnext));
		mf_index_trans_header(it, 48, &v, sizeof(v));
	}
	if ((u->fields & MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ) != 0 &&
	    u->min_highest_modseq > mf_index_highest_modseq(box->idx))
		mf_index_trans_modseq(it, 0, u->min_highest_modseq);
	ret = mf_index_trans_commit(&it);
	if (ret < 0)
		ret = dbox_index_error(st, box->idx, ret);
	mf_index_unlock(box->idx);
	dbox_ops.mailbox_close(&box);
	return ret;
}
