/* SPDX-License-Identifier: MIT */
/*
 * The index side of a maildir: dovecot.index(.log) is only a cache for
 * maildir (flags live in file names), but it is where modseqs, the change
 * history and expunge records (with GUIDs) are kept, for us and for
 * Dovecot. After every scan the differences between the file names and the
 * index are appended as one EXTERNAL transaction, as Dovecot's own maildir
 * sync does.
 */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-index.h"
#include "maildir-storage.h"

static uint8_t index_flags(uint32_t flags)
{
	uint8_t f = 0;

	if (flags & MAILFERRY_FLAG_ANSWERED)
		f |= MF_INDEX_FLAG_ANSWERED;
	if (flags & MAILFERRY_FLAG_FLAGGED)
		f |= MF_INDEX_FLAG_FLAGGED;
	if (flags & MAILFERRY_FLAG_DELETED)
		f |= MF_INDEX_FLAG_DELETED;
	if (flags & MAILFERRY_FLAG_SEEN)
		f |= MF_INDEX_FLAG_SEEN;
	if (flags & MAILFERRY_FLAG_DRAFT)
		f |= MF_INDEX_FLAG_DRAFT;
	return f;
}

static void remove_index_files(struct mailferry_mailbox *box)
{
	static const char *const names[] = {
	    "dovecot.index",        "dovecot.index.log",
	    "dovecot.index.log.2",  "dovecot.index.cache",
	    "dovecot.index.backup",
	};

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		char *path =
		    mf_strdup_printf("%s/%s", box->index_dir, names[i]);

		if (unlink(path) < 0 && errno != ENOENT)
			maildir_log_warning(box->storage,
			                    "unlink(%s) failed: %s", path,
			                    strerror(errno));
		free(path);
	}
}

void maildir_index_open(struct mailferry_mailbox *box)
{
	struct mailferry_storage *storage = box->storage;
	enum mf_index_open_flags flags = MF_INDEX_OPEN_CREATE;
	struct mf_index_settings set;
	char *error = NULL;
	int ret;

	if (storage->no_index)
		return;
	mf_zero(&set);
	set.perm = &box->perm;
	if (storage->readonly)
		flags = MF_INDEX_OPEN_READONLY;
	else if (maildir_fsync_commit(storage))
		flags |= MF_INDEX_OPEN_FSYNC;
	ret = mf_index_open(box->index_dir, "dovecot.index", flags, &set,
	                    &box->index, &error);
	if (ret == MF_INDEX_ERR_CORRUPT && !storage->readonly) {
		/* for maildir the index is a cache: rebuild it from the
		 * files, as Dovecot does */
		maildir_log_warning(storage,
		                    "%s, rebuilding the index of mailbox %s "
		                    "(modseq history restarts)",
		                    error, box->vname);
		free(error);
		error = NULL;
		remove_index_files(box);
		ret = mf_index_open(box->index_dir, "dovecot.index", flags,
		                    &set, &box->index, &error);
	}
	if (ret < 0) {
		if (!(storage->readonly && ret == MF_INDEX_ERR_NOTFOUND))
			maildir_log_warning(storage,
			                    "mailbox %s: index unusable, no "
			                    "modseqs: %s",
			                    box->vname,
			                    error != NULL ? error : "");
		free(error);
		box->index = NULL;
		return;
	}
	if (!storage->readonly && mf_index_modseq_enable(box->index) < 0)
		maildir_log_warning(storage, "mailbox %s: %s", box->vname,
		                    mf_index_last_error(box->index));
}

void maildir_index_reset(struct mailferry_mailbox *box)
{
	if (box->index == NULL)
		return;
	mf_index_close(&box->index);
	remove_index_files(box);
	maildir_index_open(box);
}

static const char *find_expunged_guid(const struct maildir_expunged *exp,
                                      size_t count, uint32_t uid)
{
	for (size_t i = 0; i < count; i++) {
		if (exp[i].uid == uid)
			return exp[i].guid;
	}
	return NULL;
}

static void expunge_rec(struct mf_index_trans *t, uint32_t uid,
                        const struct maildir_expunged *exp, size_t count)
{
	const char *guid = find_expunged_guid(exp, count, uid);
	uint8_t g[16];

	if (guid != NULL) {
		maildir_guid128(guid, g);
		mf_index_trans_expunge(t, uid, g);
	} else {
		mf_index_trans_expunge(t, uid, NULL);
	}
}

/* Flag and keyword updates are collected first and written grouped into
 * UID ranges (runs of adjacent messages), so that importing a large
 * mailbox gives a few log records, not one per message. */
struct pending_flag {
	size_t pos; /* index in box->msgs */
	uint32_t uid;
	uint8_t add, remove;
};

struct pending_kw {
	const char *name; /* borrowed from the keyword map or the index */
	bool add;
	size_t pos;
	uint32_t uid;
};

struct pending {
	MF_ARRAY(struct pending_flag) flags;
	MF_ARRAY(struct pending_kw) kws;
};

static void pending_kw(struct pending *p, const char *name, bool add,
                       size_t pos, uint32_t uid)
{
	struct pending_kw *k = mf_array_append_zero(&p->kws);

	k->name = name;
	k->add = add;
	k->pos = pos;
	k->uid = uid;
}

static int cmp_pending_kw(const void *a, const void *b)
{
	const struct pending_kw *ka = a, *kb = b;
	int ret = strcmp(ka->name, kb->name);

	if (ret != 0)
		return ret;
	if (ka->add != kb->add)
		return ka->add ? -1 : 1;
	return ka->pos < kb->pos ? -1 : ka->pos > kb->pos;
}

/* Write the collected updates; returns the number of log records. */
static unsigned int pending_flush(struct pending *p, struct mf_index_trans *t)
{
	unsigned int records = 0;

	for (size_t i = 0; i < p->flags.count;) {
		const struct pending_flag *f = &p->flags.items[i];
		size_t j = i + 1;

		while (j < p->flags.count &&
		       p->flags.items[j].pos == p->flags.items[j - 1].pos + 1 &&
		       p->flags.items[j].add == f->add &&
		       p->flags.items[j].remove == f->remove)
			j++;
		mf_index_trans_flags(t, f->uid, p->flags.items[j - 1].uid,
		                     f->add, f->remove);
		records++;
		i = j;
	}
	if (p->kws.count > 1)
		qsort(p->kws.items, p->kws.count, sizeof(p->kws.items[0]),
		      cmp_pending_kw);
	for (size_t i = 0; i < p->kws.count;) {
		const struct pending_kw *k = &p->kws.items[i];
		size_t j = i + 1;

		while (j < p->kws.count &&
		       strcmp(p->kws.items[j].name, k->name) == 0 &&
		       p->kws.items[j].add == k->add &&
		       p->kws.items[j].pos == p->kws.items[j - 1].pos + 1)
			j++;
		mf_index_trans_keyword(t, k->name, k->add, k->uid,
		                       p->kws.items[j - 1].uid);
		records++;
		i = j;
	}
	mf_array_free(&p->flags);
	mf_array_free(&p->kws);
	return records;
}

/* Keyword differences of message pos (index sequence seq, 0 = new). */
static void sync_keywords(struct mailferry_mailbox *box, struct pending *p,
                          uint32_t seq, size_t pos, bool is_new)
{
	const struct maildir_msg *msg = &box->msgs.items[pos];
	struct mf_index *idx = box->index;
	uint32_t kw_count = 0;
	const char *const *kws =
	    is_new ? NULL : mf_index_keywords(idx, &kw_count);

	/* in the file but not in the index */
	for (int i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		const char *name = box->keywords.names[i];
		bool present = false;

		if ((msg->info.keywords & (1u << i)) == 0 || name == NULL)
			continue;
		for (uint32_t k = 0; k < kw_count; k++) {
			if (strcmp(kws[k], name) == 0) {
				present = mf_index_rec_has_keyword(idx, seq, k);
				break;
			}
		}
		if (!present)
			pending_kw(p, name, true, pos, msg->uid);
	}
	/* in the index but not in the file */
	for (uint32_t k = 0; k < kw_count; k++) {
		int letter;

		if (!mf_index_rec_has_keyword(idx, seq, k))
			continue;
		letter = maildir_keywords_lookup(&box->keywords, kws[k]);
		if (letter < 0) {
			/* no letter: the index is its only home, as in
			 * Dovecot (maildir_sync_mail_keywords() leaves
			 * these alone); changed through box->kw_ops */
			continue;
		}
		if ((msg->info.keywords & (1u << letter)) != 0 &&
		    strcmp(box->keywords.names[letter], kws[k]) == 0)
			continue;
		pending_kw(p, kws[k], false, pos, msg->uid);
	}
}

bool maildir_index_get_dirs_hdr(struct mailferry_mailbox *box,
                                struct maildir_index_hdr *hdr_r)
{
	return box->index != NULL && maildir_index_dirs_hdr(box->index, hdr_r);
}

bool maildir_index_dirs_hdr(struct mf_index *index,
                            struct maildir_index_hdr *hdr_r)
{
	const struct mf_index_ext *ext =
	    mf_index_ext_find(index, MAILDIR_INDEX_EXT);

	if (ext == NULL || ext->hdr_size != sizeof(*hdr_r) || ext->hdr == NULL)
		return false;
	/* little-endian u32s, like the rest of the index */
	memcpy(hdr_r, ext->hdr, sizeof(*hdr_r));
	return true;
}

/* After a scan (box->dirs) that this transaction brings the index in
 * line with, and with the uidlist in memory being the file's: record
 * them in Dovecot's "maildir" header, so that the next reader (Dovecot
 * or us) skips the rescan while nothing changes. Returns whether a
 * record was added. */
static bool update_dirs_hdr(struct mailferry_mailbox *box,
                            struct mf_index_trans *t)
{
	struct maildir_index_hdr want, have;
	bool exists;

	if (!box->dirs_valid || !box->uidlist_id.valid)
		return false;
	want = box->dirs;
	want.uidlist_mtime = (uint32_t)box->uidlist_id.mtime.tv_sec;
	want.uidlist_mtime_nsecs = (uint32_t)box->uidlist_id.mtime.tv_nsec;
	want.uidlist_size = (uint32_t)box->uidlist_id.size;
	exists = maildir_index_get_dirs_hdr(box, &have);
	if (exists && memcmp(&want, &have, sizeof(want)) == 0)
		return false;
	if (!exists)
		mf_index_trans_ext_intro(t, MAILDIR_INDEX_EXT, sizeof(want), 0,
		                         0);
	mf_index_trans_ext_hdr(t, MAILDIR_INDEX_EXT, 0, &want, sizeof(want));
	return true;
}

void maildir_kw_op_add(struct mailferry_mailbox *box, uint32_t uid,
                       const char *name, bool add)
{
	struct maildir_kw_op *op;

	if (box->index == NULL)
		return; /* nowhere to keep them (the save said LIMIT) */
	op = mf_array_append_zero(&box->kw_ops);
	op->uid = uid;
	op->name = name == NULL ? NULL : mf_strdup(name);
	op->add = add;
}

void maildir_kw_ops_clear(struct mailferry_mailbox *box)
{
	for (size_t i = 0; i < box->kw_ops.count; i++)
		free(box->kw_ops.items[i].name);
	box->kw_ops.count = 0;
}

static int cmp_kw_op(const void *a, const void *b)
{
	const struct maildir_kw_op *oa =
	    *(const struct maildir_kw_op *const *)a;
	const struct maildir_kw_op *ob =
	    *(const struct maildir_kw_op *const *)b;

	if (oa->uid != ob->uid)
		return oa->uid < ob->uid ? -1 : 1;
	/* the queue's order within a UID */
	return oa < ob ? -1 : oa > ob;
}

static ssize_t name_pos(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(names[i], name) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* Turn box->kw_ops into keyword updates in p: per UID, its index-only
 * keywords as the index has them, changed by the queued operations in
 * order, compared with the index. Only for messages of box->msgs that
 * the index has or that this transaction appends (appended[pos]). The
 * names stay valid until the ops are cleared after the commit. */
static void kw_ops_to_pending(struct mailferry_mailbox *box, struct pending *p,
                              const bool *appended)
{
	struct mf_index *idx = box->index;
	const struct maildir_kw_op **ops;
	uint32_t kw_count = 0;
	const char *const *kws = mf_index_keywords(idx, &kw_count);
	const char **have, **want;
	size_t n = box->kw_ops.count;

	if (n == 0)
		return;
	ops = mf_calloc(n, sizeof(*ops));
	for (size_t i = 0; i < n; i++)
		ops[i] = &box->kw_ops.items[i];
	mf_qsort(ops, n, sizeof(*ops), cmp_kw_op);
	have = mf_calloc(kw_count + 1, sizeof(*have));
	want = mf_calloc(kw_count + n + 1, sizeof(*want));
	for (size_t i = 0; i < n;) {
		uint32_t uid = ops[i]->uid, seq;
		size_t j = i, nhave = 0, nwant = 0;
		const struct maildir_msg *msg = maildir_msg_find(box, uid);
		size_t pos;

		while (j < n && ops[j]->uid == uid)
			j++;
		if (msg == NULL) {
			i = j; /* expunged meanwhile */
			continue;
		}
		pos = (size_t)(msg - box->msgs.items);
		seq = mf_index_lookup_uid(idx, uid);
		if (seq == 0 && (appended == NULL || !appended[pos])) {
			i = j; /* not in the index: nowhere to keep them */
			continue;
		}
		for (uint32_t k = 0; seq != 0 && k < kw_count; k++) {
			if (mf_index_rec_has_keyword(idx, seq, k) &&
			    maildir_keywords_lookup(&box->keywords, kws[k]) < 0)
				have[nhave++] = kws[k];
		}
		memcpy(want, have, nhave * sizeof(*want));
		nwant = nhave;
		for (; i < j; i++) {
			const struct maildir_kw_op *op = ops[i];
			ssize_t at;

			if (op->name == NULL) {
				nwant = 0;
				continue;
			}
			/* a keyword that got a letter meanwhile is the
			 * file name's business */
			if (maildir_keywords_lookup(&box->keywords, op->name) >=
			    0)
				continue;
			at = name_pos(want, nwant, op->name);
			if (op->add && at < 0)
				want[nwant++] = op->name;
			else if (!op->add && at >= 0)
				want[at] = want[--nwant];
		}
		for (size_t k = 0; k < nwant; k++) {
			if (name_pos(have, nhave, want[k]) < 0)
				pending_kw(p, want[k], true, pos, uid);
		}
		for (size_t k = 0; k < nhave; k++) {
			if (name_pos(want, nwant, have[k]) < 0)
				pending_kw(p, have[k], false, pos, uid);
		}
	}
	free(have);
	free(want);
	free(ops);
}

int maildir_index_sync(struct mailferry_mailbox *box,
                       const struct maildir_expunged *expunged, size_t count,
                       bool sync_flag)
{
	struct mailferry_storage *storage = box->storage;
	struct mf_index *idx = box->index;
	const struct mf_index_header *hdr;
	struct mf_index_trans *t;
	struct pending pend;
	unsigned int changes = 0;
	uint32_t seq = 1, n;
	int ret;

	mf_zero(&pend);
	if (idx == NULL)
		return 0;
	if (storage->readonly) {
		(void)mf_index_refresh(idx);
		maildir_index_fill_modseqs(box);
		return 0;
	}
	if (mf_index_lock(idx) < 0) {
		maildir_log_warning(storage, "mailbox %s: %s", box->vname,
		                    mf_index_last_error(idx));
		maildir_index_fill_modseqs(box);
		return 0;
	}
	hdr = mf_index_get_header(idx);
	if (hdr->uid_validity != 0 &&
	    hdr->uid_validity != box->uidlist.uidvalidity) {
		/* Dovecot resets the index in this case: the cache is for
		 * another generation of UIDs. An empty mailbox given a new
		 * UIDVALIDITY (a sync handing INBOX the other side's) loses
		 * nothing: no warning then. */
		if (hdr->messages_count != 0 || box->uidlist.recs.count != 0)
			maildir_log_warning(storage,
			                    "mailbox %s: UIDVALIDITY changed "
			                    "(%u -> %u), rebuilding the index",
			                    box->vname, hdr->uid_validity,
			                    box->uidlist.uidvalidity);
		mf_index_unlock(idx);
		mf_index_close(&box->index);
		remove_index_files(box);
		maildir_index_open(box);
		idx = box->index;
		if (idx == NULL)
			return 0;
		if (mf_index_lock(idx) < 0) {
			maildir_log_warning(storage, "mailbox %s: %s",
			                    box->vname,
			                    mf_index_last_error(idx));
			maildir_index_fill_modseqs(box);
			return 0;
		}
		hdr = mf_index_get_header(idx);
	}
	t = mf_index_trans_begin(idx,
	                         MF_INDEX_TRANS_EXTERNAL |
	                             (sync_flag ? MF_INDEX_TRANS_SYNC : 0));
	if (hdr->uid_validity == 0) {
		mf_index_trans_set_uid_validity(t, box->uidlist.uidvalidity);
		changes++;
	}
	n = mf_index_count(idx);
	uint32_t idx_next = hdr->next_uid;
	bool *appended = mf_calloc(box->msgs.count + 1, sizeof(bool));

	for (size_t i = 0; i < box->msgs.count; i++) {
		const struct maildir_msg *msg = &box->msgs.items[i];
		const struct mf_index_rec *rec;

		while (seq <= n &&
		       (rec = mf_index_rec_at(idx, seq))->uid < msg->uid) {
			/* newer than our view: not expunged (below) */
			if (rec->uid < box->uidlist.next_uid) {
				expunge_rec(t, rec->uid, expunged, count);
				changes++;
			}
			seq++;
		}
		rec = seq <= n ? mf_index_rec_at(idx, seq) : NULL;
		if (rec != NULL && rec->uid == msg->uid) {
			uint8_t want = index_flags(msg->info.flags);
			uint8_t have = rec->flags & MF_INDEX_FLAGS_SYSTEM;

			if (want != have) {
				struct pending_flag *f =
				    mf_array_append_zero(&pend.flags);

				f->pos = i;
				f->uid = msg->uid;
				f->add = want & ~have;
				f->remove = have & ~want;
			}
			sync_keywords(box, &pend, seq, i, false);
			seq++;
		} else if (msg->uid >= idx_next) {
			if (mf_index_trans_append(t, msg->uid,
			                          index_flags(msg->info.flags),
			                          NULL) < 0) {
				maildir_log_warning(storage,
				                    "mailbox %s: index append "
				                    "of UID %u failed: %s",
				                    box->vname, msg->uid,
				                    mf_index_last_error(idx));
				continue;
			}
			idx_next = msg->uid + 1;
			appended[i] = true;
			changes++;
			sync_keywords(box, &pend, 0, i, true);
		} else {
			/* the index expunged this UID but its file is back
			 * (e.g. restored from a backup): Dovecot would give
			 * it a new UID at its next sync */
			maildir_log_warning(
			    storage,
			    "mailbox %s: UID %u (%s) is not in "
			    "the index although below its next "
			    "UID %u",
			    box->vname, msg->uid,
			    msg->fname != NULL ? msg->fname : "?", idx_next);
		}
	}
	/* Records from our uidlist's next UID on were added by a commit
	 * after we read the uidlist (a sync with nothing to number runs
	 * without its lock). They are newer than our view, not expunged:
	 * expunging them made Dovecot give those messages new UIDs
	 * ("Expunged message reappeared"). */
	for (; seq <= n; seq++) {
		uint32_t uid = mf_index_rec_at(idx, seq)->uid;

		if (uid >= box->uidlist.next_uid)
			break;
		expunge_rec(t, uid, expunged, count);
		changes++;
	}
	if (box->uidlist.next_uid > idx_next) {
		mf_index_trans_set_next_uid(t, box->uidlist.next_uid);
		changes++;
	}
	kw_ops_to_pending(box, &pend, appended);
	changes += pending_flush(&pend, t);
	free(appended);
	if (update_dirs_hdr(box, t))
		changes++;
	if (changes == 0) {
		mf_index_trans_rollback(&t);
		ret = 0;
	} else if ((ret = mf_index_trans_commit(&t)) < 0) {
		maildir_log_warning(storage,
		                    "mailbox %s: index update failed: %s",
		                    box->vname, mf_index_last_error(idx));
		ret = 0;
	}
	maildir_kw_ops_clear(box);
	mf_index_unlock(idx);
	maildir_index_fill_modseqs(box);
	return ret;
}

void maildir_index_add_saved(struct mailferry_mailbox *box, size_t first,
                             bool sync_flag)
{
	struct mf_index *idx = box->index;
	struct mf_index_trans *t;
	struct pending pend;
	uint32_t next;
	bool any = false;

	if (idx == NULL || first >= box->msgs.count)
		return;
	if (mf_index_lock(idx) < 0) {
		maildir_log_warning(box->storage, "mailbox %s: %s", box->vname,
		                    mf_index_last_error(idx));
		return;
	}
	next = mf_index_get_header(idx)->next_uid;
	bool *appended = mf_calloc(box->msgs.count + 1, sizeof(bool));

	mf_zero(&pend);
	t = mf_index_trans_begin(idx,
	                         MF_INDEX_TRANS_EXTERNAL |
	                             (sync_flag ? MF_INDEX_TRANS_SYNC : 0));
	for (size_t i = first; i < box->msgs.count; i++) {
		const struct maildir_msg *msg = &box->msgs.items[i];

		if (msg->uid < next) {
			/* the next full sync records it */
			maildir_log_warning(box->storage,
			                    "mailbox %s: saved UID %u is below "
			                    "the index's next UID %u",
			                    box->vname, msg->uid, next);
			continue;
		}
		if (mf_index_trans_append(
		        t, msg->uid, index_flags(msg->info.flags), NULL) < 0) {
			maildir_log_warning(
			    box->storage,
			    "mailbox %s: index append of UID %u "
			    "failed: %s",
			    box->vname, msg->uid, mf_index_last_error(idx));
			continue;
		}
		next = msg->uid + 1;
		appended[i] = true;
		sync_keywords(box, &pend, 0, i, true);
		any = true;
	}
	if (box->uidlist.next_uid > next) {
		mf_index_trans_set_next_uid(t, box->uidlist.next_uid);
		any = true;
	}
	kw_ops_to_pending(box, &pend, appended);
	free(appended);
	if (pending_flush(&pend, t) > 0)
		any = true;
	if (!any)
		mf_index_trans_rollback(&t);
	else if (mf_index_trans_commit(&t) < 0)
		maildir_log_warning(box->storage,
		                    "mailbox %s: index update failed: %s",
		                    box->vname, mf_index_last_error(idx));
	maildir_kw_ops_clear(box);
	mf_index_unlock(idx);
	maildir_index_fill_modseqs(box);
}

void maildir_index_fill_modseqs(struct mailferry_mailbox *box)
{
	struct mf_index *idx = box->index;
	uint32_t n = idx == NULL ? 0 : mf_index_count(idx), seq = 1;
	uint64_t highest = idx == NULL ? 0 : mf_index_highest_modseq(idx);
	/* (the record is the index's one buffer: fetched once per step) */
	const struct mf_index_rec *rec = n > 0 ? mf_index_rec_at(idx, 1) : NULL;

	/* both in ascending UID order: one walk */
	for (size_t i = 0; i < box->msgs.count; i++) {
		struct maildir_msg *msg = &box->msgs.items[i];

		while (rec != NULL && rec->uid < msg->uid)
			rec = ++seq <= n ? mf_index_rec_at(idx, seq) : NULL;
		msg->modseq =
		    rec != NULL && rec->uid == msg->uid ? rec->modseq : highest;
	}
}
