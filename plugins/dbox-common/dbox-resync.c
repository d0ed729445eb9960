/* SPDX-License-Identifier: MIT */
/* force-resync for dbox mailboxes. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "dbox-ops.h"
#include "dbox-resync.h"
#include "dbox-move.h"

static int resync_one(struct mailferry_storage *st, const char *name)
{
	struct mailferry_mailbox *box;
	int ret;

	if (st->fmt->resync == NULL)
		return 0;
	ret = dbox_mailbox_open_internal(st, name, false, false, &box);
	if (ret < 0)
		return ret;
	ret = st->fmt->resync(box);
	dbox_ops.mailbox_close(&box);
	return ret;
}

int dbox_force_resync(struct mailferry_storage *st, const char *name)
{
	struct mailferry_list_iter *it;
	const struct mailferry_mailbox_info *info;
	MF_ARRAY(char *) names = MF_ARRAY_INIT;
	int ret = 0, ret2;

	if (st->readonly)
		return dbox_error(st, MAILFERRY_E_PERM, "%s is read-only",
		                  st->display);
	if (name != NULL) {
		ret = resync_one(st, name);
		if (ret == 0 && st->fmt->storage_resync != NULL)
			ret = st->fmt->storage_resync(st);
		return ret;
	}
	ret = dbox_mailbox_list_begin(st, 0, &it);
	if (ret < 0)
		return ret;
	while (dbox_mailbox_list_next(it, &info) > 0) {
		if ((info->flags & MAILFERRY_MAILBOX_NOSELECT) == 0)
			mf_array_push(&names, mf_strdup(info->name));
	}
	ret = dbox_mailbox_list_end(&it);
	for (size_t i = 0; i < names.count; i++) {
		ret2 = resync_one(st, names.items[i]);
		if (ret2 < 0 && ret == 0)
			ret = ret2;
		free(names.items[i]);
	}
	mf_array_free(&names);
	if (st->fmt->storage_resync != NULL) {
		ret2 = st->fmt->storage_resync(st);
		if (ret2 < 0 && ret == 0)
			ret = ret2;
	}
	return ret;
}

/* ---- sdbox ---- */

struct file_uid {
	uint32_t uid;
	bool alt;
};

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct file_uid *)a)->uid;
	uint32_t y = ((const struct file_uid *)b)->uid;

	if (x != y)
		return x < y ? -1 : 1;
	/* the primary copy before the ALT one */
	return (int)((const struct file_uid *)a)->alt -
	       (int)((const struct file_uid *)b)->alt;
}

/* The u.<uid> files of dir with uid >= min_uid (a writer's open only
 * looks for files at or above next_uid: keeping every file of a large
 * mailbox cost 16 bytes a message on each open); with journals_ also the
 * move journals. */
static void scan_dir(const char *dir, bool alt, uint32_t min_uid, void *arr_,
                     void *journals_)
{
	MF_ARRAY(struct file_uid) *arr = arr_;
	MF_ARRAY(char *) *journals = journals_;
	DIR *d = dir != NULL ? opendir(dir) : NULL;
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char *end;
		unsigned long uid;
		struct file_uid f;

		if (journals != NULL &&
		    mf_str_begins(de->d_name, DBOX_MOVE_PREFIX)) {
			mf_array_push(journals, mf_strdup(de->d_name));
			continue;
		}
		if (strncmp(de->d_name, "u.", 2) != 0)
			continue;
		uid = strtoul(de->d_name + 2, &end, 10);
		if (*end != '\0' || uid == 0 || uid >= UINT32_MAX ||
		    uid < min_uid)
			continue;
		f.uid = (uint32_t)uid;
		f.alt = alt;
		mf_array_push(arr, f);
	}
	if (d != NULL)
		closedir(d);
}

/* Flags and keywords of uid in the backup index, if it has the uid. */
static void backup_state(struct mf_index *bak, struct mf_index_trans *t,
                         uint32_t uid, uint8_t *flags_r)
{
	uint32_t seq, count;
	const char *const *kws;

	*flags_r = 0;
	if (bak == NULL || (seq = mf_index_lookup_uid(bak, uid)) == 0)
		return;
	*flags_r = mf_index_rec_at(bak, seq)->flags & MF_INDEX_FLAGS_SYSTEM;
	kws = mf_index_keywords(bak, &count);
	for (uint32_t k = 0; k < count; k++) {
		if (mf_index_rec_has_keyword(bak, seq, k))
			mf_index_trans_keyword(t, kws[k], true, uid, uid);
	}
}

int sdbox_resync(struct mailferry_mailbox *box)
{
	return sdbox_resync_mode(box, false);
}

int sdbox_resync_mode(struct mailferry_mailbox *box, bool adopt_only)
{
	struct mailferry_storage *st = box->st;
	MF_ARRAY(struct file_uid) files = MF_ARRAY_INIT;
	MF_ARRAY(char *) journals = MF_ARRAY_INIT;
	struct mf_index *idx = box->idx, *bak = NULL;
	struct mf_index_trans *t;
	uint32_t next_uid, count, changes = 0, min_uid;
	size_t fi = 0;
	char *err = NULL;
	int ret;

	ret = mf_index_lock(idx);
	if (ret < 0)
		return dbox_index_error(st, idx, ret);
	min_uid = adopt_only ? mf_index_get_header(idx)->next_uid : 0;
	scan_dir(box->dir, false, min_uid, &files, &journals);
	scan_dir(box->alt_dir, true, min_uid, &files, NULL);
	if (journals.count > 0) {
		/* moves a killed writer never committed go back first:
		 * their new names must not be taken for new mail */
		bool changed = false;

		ret = dbox_move_recover(box, journals.items, journals.count,
		                        &changed);
		for (size_t i = 0; i < journals.count; i++)
			free(journals.items[i]);
		mf_array_free(&journals);
		if (ret < 0) {
			mf_index_unlock(idx);
			mf_array_free(&files);
			return ret;
		}
		if (changed) {
			files.count = 0;
			scan_dir(box->dir, false, min_uid, &files, NULL);
			scan_dir(box->alt_dir, true, min_uid, &files, NULL);
		}
	}
	mf_qsort(files.items, files.count, sizeof(*files.items), uid_cmp);
	{
		/* a uid in both storages: the primary copy wins */
		size_t n = 0;

		for (size_t i = 0; i < files.count; i++) {
			if (n > 0 &&
			    files.items[n - 1].uid == files.items[i].uid)
				continue;
			files.items[n++] = files.items[i];
		}
		files.count = n;
	}
	next_uid = mf_index_get_header(idx)->next_uid;
	count = mf_index_count(idx);
	if (mf_index_open(box->dir, DBOX_INDEX_PREFIX ".backup",
	                  MF_INDEX_OPEN_READONLY, NULL, &bak, &err) < 0) {
		free(err);
		bak = NULL;
	}
	t = mf_index_trans_begin(idx, MF_INDEX_TRANS_EXTERNAL);
	for (uint32_t seq = 1; seq <= count && !adopt_only; seq++) {
		const struct mf_index_rec *rec = mf_index_rec_at(idx, seq);

		while (fi < files.count && files.items[fi].uid < rec->uid) {
			/* a file below an indexed uid that the index lost:
			 * it cannot be appended below next_uid again */
			dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
			              "mailbox %s: u.%u is not in the index "
			              "and below uidnext %u; left as is",
			              box->name, files.items[fi].uid, next_uid);
			fi++;
		}
		if (fi < files.count && files.items[fi].uid == rec->uid) {
			bool in_alt = (rec->flags & MF_INDEX_FLAG_BACKEND) != 0;
			if (in_alt != files.items[fi].alt) {
				mf_index_trans_flags(
				    t, rec->uid, rec->uid,
				    files.items[fi].alt ? MF_INDEX_FLAG_BACKEND
				                        : 0,
				    files.items[fi].alt
				        ? 0
				        : MF_INDEX_FLAG_BACKEND);
				changes++;
			}
			fi++;
			continue;
		}
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "mailbox %s: u.%u is gone, expunging uid %u",
		              box->name, rec->uid, rec->uid);
		mf_index_trans_expunge(t, rec->uid, NULL);
		changes++;
	}
	for (; fi < files.count; fi++) {
		uint32_t uid = files.items[fi].uid;
		uint8_t flags;

		if (uid < next_uid && adopt_only)
			continue;
		if (uid < next_uid) {
			dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
			              "mailbox %s: u.%u is not in the index "
			              "and below uidnext %u; left as is",
			              box->name, uid, next_uid);
			continue;
		}
		/* appended first; the keyword records must follow it */
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "mailbox %s: adding u.%u, which the index "
		              "lacked",
		              box->name, uid);
		ret = mf_index_trans_append(t, uid, 0, NULL);
		if (ret < 0)
			break;
		backup_state(bak, t, uid, &flags);
		flags |= files.items[fi].alt ? MF_INDEX_FLAG_BACKEND : 0;
		if (flags != 0)
			mf_index_trans_flags(t, uid, uid, flags, 0);
		changes++;
	}
	if (ret == 0 && changes > 0)
		ret = mf_index_trans_commit(&t);
	else
		mf_index_trans_rollback(&t);
	if (ret < 0)
		ret = dbox_index_error(st, idx, ret);
	mf_index_unlock(idx);
	if (bak != NULL)
		mf_index_close(&bak);
	mf_array_free(&files);
	return ret;
}
