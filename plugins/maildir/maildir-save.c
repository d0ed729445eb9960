/* SPDX-License-Identifier: MIT */
/*
 * Transactions: saves go to tmp/ and are renamed into new/ (no flags) or
 * cur/ (with flags) at commit, like Dovecot's maildir saving; flag changes
 * rename files, expunges unlink them. Commit holds the uidlist lock from
 * the refresh that picks UIDs until the uidlist is written, so nobody else
 * can number our files; the index records the result afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-compress.h"
#include "mf-file.h"
#include "mf-index.h"
#include "maildir-journal.h"
#include "maildir-storage.h"

struct save_item {
	char *base;     /* unique part of the name, owned */
	char *tmp_path; /* owned */
	uint64_t size, vsize;
	uint32_t want_uid;
	char *guid; /* owned, NULL = the file name is the GUID */
	uint32_t flags;
	char **keywords; /* owned, NULL-terminated */
	int64_t received;
	uint64_t min_modseq;
	char *pop3_uidl;
	uint32_t pop3_order;
	bool finished;
	bool compressed; /* the file is, whatever the settings say now */
	/* copy() of a message of this very mailbox (0: not one). Nothing
	 * is linked before commit: there, under the uidlist lock, it
	 * becomes a move when the transaction also expunges the source
	 * (move), else a link of the source's then current file. */
	uint32_t local_src_uid;
	bool move;
	bool skipped; /* the source was gone at commit: nothing saved */
	/* the GUID is to be the file's base name (pick_base_names()) */
	bool guid_as_base;
	/* after the rename at commit */
	char *final_fname; /* owned */
	bool final_in_new;
	uint32_t final_uid;
	uint32_t final_keywords;
};

struct flag_change {
	struct mailferry_uid_range *ranges;
	size_t count;
	enum mailferry_modify modify;
	uint32_t flags;
	char **keywords;
};

struct modseq_change {
	uint32_t uid;
	uint64_t modseq;
};

struct mailferry_trans {
	struct mailferry_mailbox *box;
	uint32_t flags;
	MF_ARRAY(struct save_item) saves;
	struct save_item *cur;
	int cur_fd;
	/* mail_compress / zlib_save: the current save's compressor */
	struct mf_compress *cur_comp;
	bool cur_last_cr;
	bool cur_failed;
	MF_ARRAY(struct flag_change) changes;
	/* the flags and keywords of moved messages (REPLACE on the new
	 * UID), applied before the caller's changes */
	MF_ARRAY(struct flag_change) move_changes;
	bool have_local_copies;
	MF_ARRAY(struct mailferry_uid_range) expunges;
	MF_ARRAY(struct modseq_change) modseqs;
	uint32_t last_want_uid;
	/* "P<pid>.<host>" of the tmp file names, computed once */
	struct mf_buf name_suffix;
	/* the save journal's record lines as written (maildir-journal.h);
	 * empty when this commit wrote none */
	struct mf_buf journal;
};

static void save_item_free(struct save_item *item, bool unlink_tmp)
{
	if (unlink_tmp && item->tmp_path != NULL)
		(void)unlink(item->tmp_path);
	free(item->base);
	free(item->tmp_path);
	free(item->guid);
	free(item->pop3_uidl);
	free(item->final_fname);
	mf_strv_free(&item->keywords);
}

static void changes_free(struct flag_change *items, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(items[i].ranges);
		mf_strv_free(&items[i].keywords);
	}
}

static void trans_free(struct mailferry_trans *t, bool unlink_tmp)
{
	if (t->cur_fd >= 0)
		close(t->cur_fd);
	mf_compress_free(&t->cur_comp);
	for (size_t i = 0; i < t->saves.count; i++)
		save_item_free(&t->saves.items[i], unlink_tmp);
	mf_array_free(&t->saves);
	changes_free(t->changes.items, t->changes.count);
	mf_array_free(&t->changes);
	changes_free(t->move_changes.items, t->move_changes.count);
	mf_array_free(&t->move_changes);
	mf_array_free(&t->expunges);
	mf_array_free(&t->modseqs);
	mf_buf_free(&t->journal);
	mf_buf_free(&t->name_suffix);
	free(t);
}

int maildir_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                        struct mailferry_trans **trans_r)
{
	struct mailferry_trans *t;

	int ret;

	if (box->readonly)
		return maildir_error(box->storage, MAILFERRY_E_PERM,
		                     "mailbox %s is opened read-only",
		                     box->vname);
	if ((ret = maildir_sync_lock_ensure(box)) < 0 ||
	    (ret = maildir_msgs_ensure(box)) < 0)
		return ret;
	t = mf_calloc(1, sizeof(*t));
	t->box = box;
	t->flags = flags;
	t->cur_fd = -1;
	maildir_fname_suffix(&t->name_suffix);
	*trans_r = t;
	return 0;
}

/* GUIDs go into the uidlist as "G<guid>": no spaces or control chars. */
static bool guid_is_storable(const char *guid)
{
	if (*guid == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)guid; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

static int check_save_params(struct mailferry_trans *t,
                             const struct mailferry_save *save)
{
	struct mailferry_mailbox *box = t->box;

	if (save->guid != NULL && save->guid[0] != '\0' &&
	    !guid_is_storable(save->guid))
		return maildir_error(box->storage, MAILFERRY_E_INVALID,
		                     "message GUID '%s' cannot be stored in "
		                     "dovecot-uidlist (whitespace)",
		                     save->guid);
	if (save->pop3_uidl != NULL && !guid_is_storable(save->pop3_uidl))
		return maildir_error(box->storage, MAILFERRY_E_INVALID,
		                     "POP3 UIDL '%s' cannot be stored",
		                     save->pop3_uidl);
	for (size_t i = 0; save->keywords != NULL && save->keywords[i]; i++) {
		if (!maildir_keyword_is_valid(save->keywords[i]))
			return maildir_error(box->storage, MAILFERRY_E_INVALID,
			                     "invalid keyword '%s'",
			                     save->keywords[i]);
	}
	if (save->uid != 0) {
		if (save->uid <= t->last_want_uid ||
		    save->uid < box->uidlist.next_uid)
			return maildir_error(box->storage, MAILFERRY_E_EXISTS,
			                     "mailbox %s: wanted UID %u is "
			                     "below UIDNEXT %u or not "
			                     "ascending",
			                     box->vname, save->uid,
			                     MF_MAX(box->uidlist.next_uid,
			                            t->last_want_uid + 1));
	}
	return 0;
}

static struct save_item *new_item(struct mailferry_trans *t,
                                  const struct mailferry_save *save)
{
	struct save_item *item = mf_array_append_zero(&t->saves);
	struct mf_buf base = MF_BUF_INIT;

	maildir_fname_generate_with(&base, mf_buf_str(&t->name_suffix));
	item->base = mf_buf_detach(&base);
	item->tmp_path =
	    mf_strdup_printf("%s/tmp/%s", t->box->path, item->base);
	item->want_uid = save->uid;
	if (save->uid != 0)
		t->last_want_uid = save->uid;
	item->guid = save->guid != NULL && save->guid[0] != '\0'
	                 ? mf_strdup(save->guid)
	                 : NULL;
	item->flags = save->flags & MAILFERRY_FLAGS_MASK;
	item->keywords = mf_strv_dup(save->keywords);
	item->received = save->received_date;
	if (MAILFERRY_HAS_FIELD(save, struct mailferry_save, min_modseq))
		item->min_modseq = save->min_modseq;
	if (MAILFERRY_HAS_FIELD(save, struct mailferry_save, pop3_order)) {
		item->pop3_uidl =
		    save->pop3_uidl != NULL ? mf_strdup(save->pop3_uidl) : NULL;
		item->pop3_order = save->pop3_order;
	}
	return item;
}

int maildir_save_begin(struct mailferry_trans *t,
                       const struct mailferry_save *save)
{
	struct mailferry_mailbox *box = t->box;
	struct save_item *item;
	int ret;

	if (t->cur != NULL)
		return maildir_error(box->storage, MAILFERRY_E_INVALID,
		                     "save_begin() while another save is "
		                     "in progress");
	if ((ret = check_save_params(t, save)) < 0)
		return ret;
	item = new_item(t, save);
	t->cur_fd = mf_perm_open(&box->perm, item->tmp_path,
	                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
	if (t->cur_fd < 0) {
		int err = errno;

		ret = maildir_error(box->storage, maildir_errno_code(err),
		                    "open(%s) failed: %s", item->tmp_path,
		                    strerror(err));
		save_item_free(item, false);
		t->saves.count--;
		return ret;
	}
	if (box->storage->compress != MF_COMPRESS_NONE) {
		char *error = NULL;

		t->cur_comp =
		    mf_compress_new(box->storage->compress,
		                    box->storage->compress_level, &error);
		if (t->cur_comp == NULL) {
			ret = maildir_error(box->storage, MAILFERRY_E_TEMP,
			                    "%s: %s", item->tmp_path, error);
			free(error);
			close(t->cur_fd);
			t->cur_fd = -1;
			save_item_free(item, true);
			t->saves.count--;
			return ret;
		}
		item->compressed = true;
	}
	t->cur = item;
	t->cur_last_cr = false;
	t->cur_failed = false;
	return 0;
}

/* Compressor output: straight into the tmp file. */
static int comp_out(void *context, const void *data, size_t size)
{
	struct mailferry_trans *t = context;

	if (mf_write_full(t->cur_fd, data, size) < 0)
		return maildir_error(t->box->storage, maildir_errno_code(errno),
		                     "write(%s) failed: %s", t->cur->tmp_path,
		                     strerror(errno));
	return 0;
}

/* Write plain bytes of the current save (end: the last ones), through
 * the compressor when there is one. Returns 0 or an error code. */
static int save_output(struct mailferry_trans *t, const void *data, size_t size,
                       bool end)
{
	char *error = NULL;
	int ret;

	if (t->cur_comp == NULL) {
		if (mf_write_full(t->cur_fd, data, size) < 0)
			return maildir_error(t->box->storage,
			                     maildir_errno_code(errno),
			                     "write(%s) failed: %s",
			                     t->cur->tmp_path, strerror(errno));
		return 0;
	}
	if (mf_compress_run(t->cur_comp, data, size, end ? 1 : 0, comp_out, t,
	                    &error) == 0)
		return 0;
	if (error == NULL)
		return MAILFERRY_E_TEMP; /* comp_out set the error */
	ret = maildir_error(t->box->storage, MAILFERRY_E_TEMP, "%s: %s",
	                    t->cur->tmp_path, error);
	free(error);
	return ret;
}

int maildir_save_write(struct mailferry_trans *t, const void *data, size_t size)
{
	int ret;

	if (t->cur == NULL)
		return maildir_error(t->box->storage, MAILFERRY_E_INVALID,
		                     "save_write() without save_begin()");
	if (t->cur_failed)
		return MAILFERRY_E_TEMP;
	if ((ret = save_output(t, data, size, false)) < 0) {
		t->cur_failed = true;
		return ret;
	}
	t->cur->vsize += maildir_count_bare_lf(data, size, &t->cur_last_cr);
	t->cur->size += size;
	t->cur->vsize += size;
	return 0;
}

static void set_received(int fd, int64_t received)
{
	struct timespec ts[2];

	if (received <= 0)
		return;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)received;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	(void)futimens(fd, ts);
}

int maildir_save_finish(struct mailferry_trans *t)
{
	struct mailferry_storage *storage = t->box->storage;
	struct save_item *item = t->cur;
	int ret = 0;

	if (item == NULL)
		return maildir_error(storage, MAILFERRY_E_INVALID,
		                     "save_finish() without save_begin()");
	if (t->cur_failed) {
		maildir_save_cancel(t);
		return MAILFERRY_E_TEMP;
	}
	if (t->cur_comp != NULL) {
		/* the end of the compressed stream */
		if ((ret = save_output(t, NULL, 0, true)) < 0) {
			maildir_save_cancel(t);
			return ret;
		}
		mf_compress_free(&t->cur_comp);
	}
	set_received(t->cur_fd, item->received);
	if (storage->fsync_mode == MAILDIR_FSYNC_ALWAYS && fsync(t->cur_fd) < 0)
		ret = maildir_error(storage, maildir_errno_code(errno),
		                    "fsync(%s) failed: %s", item->tmp_path,
		                    strerror(errno));
	if (close(t->cur_fd) < 0 && ret == 0)
		ret = maildir_error(storage, maildir_errno_code(errno),
		                    "close(%s) failed: %s", item->tmp_path,
		                    strerror(errno));
	t->cur_fd = -1;
	t->cur = NULL;
	if (ret < 0) {
		save_item_free(item, true);
		t->saves.count--;
		return ret;
	}
	item->finished = true;
	return 0;
}

void maildir_save_cancel(struct mailferry_trans *t)
{
	if (t->cur == NULL)
		return;
	if (t->cur_fd >= 0)
		close(t->cur_fd);
	t->cur_fd = -1;
	mf_compress_free(&t->cur_comp);
	save_item_free(t->cur, true);
	t->saves.count--;
	t->cur = NULL;
}

int maildir_update_flags(struct mailferry_trans *t,
                         const struct mailferry_uidset *uids,
                         enum mailferry_modify modify, uint32_t flags,
                         const char *const *keywords)
{
	struct flag_change *c;

	for (size_t i = 0; keywords != NULL && keywords[i] != NULL; i++) {
		if (!maildir_keyword_is_valid(keywords[i]))
			return maildir_error(
			    t->box->storage, MAILFERRY_E_INVALID,
			    "invalid keyword '%s'", keywords[i]);
	}
	c = mf_array_append_zero(&t->changes);
	c->ranges = mf_calloc(uids->count + 1, sizeof(*c->ranges));
	if (uids->count > 0)
		memcpy(c->ranges, uids->ranges,
		       uids->count * sizeof(*c->ranges));
	c->count = uids->count;
	c->modify = modify;
	c->flags = flags & MAILFERRY_FLAGS_MASK;
	c->keywords = mf_strv_dup(keywords);
	return 0;
}

int maildir_update_modseq(struct mailferry_trans *t, uint32_t uid,
                          uint64_t min_modseq)
{
	struct modseq_change c = {uid, min_modseq};

	mf_array_push(&t->modseqs, c);
	return 0;
}

int maildir_expunge(struct mailferry_trans *t,
                    const struct mailferry_uidset *uids)
{
	for (size_t i = 0; i < uids->count; i++)
		mf_array_push(&t->expunges, uids->ranges[i]);
	return 0;
}

/* ---- commit ---- */

/* Keyword letters for names, assigning free letters to new names when
 * assign. Names left without a letter (all 26 taken, or !assign) go to
 * *extra_r (allocated, NULL-terminated, borrowed from names): as in
 * Dovecot, only the index keeps them. Returns 0, or LIMIT when there are
 * such names but no index to keep them. */
static int keyword_bits(struct mailferry_mailbox *box, char **names,
                        bool assign, uint32_t *bits_r, bool *kw_changed,
                        const char ***extra_r)
{
	size_t n = 0, nextra = 0;

	while (names != NULL && names[n] != NULL)
		n++;
	*bits_r = 0;
	*extra_r = mf_calloc(n + 1, sizeof(**extra_r));
	for (size_t i = 0; i < n; i++) {
		bool added = false;
		int idx =
		    assign ? maildir_keywords_assign(&box->keywords, names[i],
		                                     &added)
		           : maildir_keywords_lookup(&box->keywords, names[i]);

		if (idx < 0) {
			(*extra_r)[nextra++] = names[i];
			continue;
		}
		if (added)
			*kw_changed = true;
		*bits_r |= 1u << idx;
	}
	if (nextra > 0 && box->index == NULL && assign) {
		int ret = maildir_error(box->storage, MAILFERRY_E_LIMIT,
		                        "mailbox %s: keyword '%s' does not "
		                        "fit, a maildir without an index "
		                        "holds at most 26 keywords",
		                        box->vname, (*extra_r)[0]);

		mf_free(extra_r);
		return ret;
	}
	return 0;
}

static bool uid_in_ranges(const struct mailferry_uid_range *r, size_t n,
                          uint32_t uid)
{
	for (size_t i = 0; i < n; i++) {
		if (uid >= r[i].first && uid <= r[i].last)
			return true;
	}
	return false;
}

/* Position of the first message with a UID >= uid in box->msgs. */
static size_t msgs_lower_bound(const struct mailferry_mailbox *box,
                               uint32_t uid)
{
	size_t lo = 0, hi = box->msgs.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->msgs.items[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int fsync_path(struct mailferry_storage *storage, const char *path,
                      bool is_dir)
{
	int fd = open(path,
	              (is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		int ret = maildir_error(storage, maildir_errno_code(errno),
		                        "fsync(%s) failed: %s", path,
		                        strerror(errno));

		if (fd >= 0)
			close(fd);
		return ret;
	}
	close(fd);
	return 0;
}

/* From this many saves on, one syncfs() beats an fsync() per file. */
#define MAILDIR_FSYNC_BATCH_MIN 4

static int syncfs_dir(struct mailferry_storage *storage, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) < 0) {
		int ret = maildir_error(storage, maildir_errno_code(errno),
		                        "syncfs(%s) failed: %s", dir,
		                        strerror(errno));

		if (fd >= 0)
			close(fd);
		return ret;
	}
	close(fd);
	return 0;
}

/* The extensions of a uidlist record taken over by a move, with the POP3
 * fields the save asks for instead of the old ones. Allocated or NULL. */
static char *move_ext(const char *old, const struct save_item *item)
{
	struct mf_buf ext = MF_BUF_INIT;
	const char *p = old;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, " ");

		if (len > 0 && !((*p == 'P' && item->pop3_uidl != NULL) ||
		                 (*p == 'O' && item->pop3_order != 0))) {
			if (ext.len > 0)
				mf_buf_append_c(&ext, ' ');
			mf_buf_append(&ext, p, len);
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	if (item->pop3_uidl != NULL)
		mf_buf_printf(&ext, "%sP%s", ext.len > 0 ? " " : "",
		              item->pop3_uidl);
	if (item->pop3_order != 0)
		mf_buf_printf(&ext, "%sO%u", ext.len > 0 ? " " : "",
		              item->pop3_order);
	if (ext.len == 0) {
		mf_buf_free(&ext);
		return NULL;
	}
	return mf_buf_detach(&ext);
}

/* Give the message item->local_src_uid the UID uid, in memory: its
 * uidlist record is replaced by one for the same file (base name) under
 * the new UID, the message keeps its file, and the wanted flags become a
 * flag change of the new UID. Nothing is on disk until the uidlist is
 * written: that one rename is the whole move, so a crash leaves the
 * message at exactly one of its two UIDs. */
static void apply_move(struct mailferry_trans *t, struct save_item *item,
                       uint32_t uid, struct maildir_expunged_list *expunged)
{
	struct mailferry_mailbox *box = t->box;
	struct maildir_uidlist *ul = &box->uidlist;
	struct maildir_msg *msg = maildir_msg_find(box, item->local_src_uid);
	struct maildir_uidlist_rec *rec =
	    maildir_uidlist_find_uid(ul, item->local_src_uid);
	struct maildir_expunged *e;
	struct flag_change *c;
	struct maildir_msg moved;
	char *base, *ext, *guid;
	size_t pos;

	/* both checked under the same lock by prepare_local_copies() */
	base = mf_strdup(rec->base);
	ext = move_ext(rec->ext, item);
	guid = mf_strdup(item->guid != NULL ? item->guid : msg->guid);
	e = mf_array_append_zero(expunged);
	e->uid = msg->uid;
	e->guid = mf_strdup(msg->guid);
	maildir_uidlist_remove_at(ul, (size_t)(rec - ul->recs.items));
	/* a GUID that is the base name needs no G extension */
	maildir_uidlist_add(ul, uid, base,
	                    strcmp(guid, base) == 0 ? NULL : guid, ext);
	/* the message keeps its entry, now at the end (uid is above every
	 * UID of the mailbox) */
	moved = *msg;
	moved.uid = uid;
	if (moved.guid_owned)
		free((char *)moved.guid);
	moved.guid = guid;
	moved.guid_owned = true;
	pos = (size_t)(msg - box->msgs.items);
	memmove(&box->msgs.items[pos], &box->msgs.items[pos + 1],
	        (box->msgs.count - pos - 1) * sizeof(box->msgs.items[0]));
	box->msgs.items[box->msgs.count - 1] = moved;
	if (item->received > 0) {
		struct mf_buf path = MF_BUF_INIT;
		struct timespec ts[2];
		struct stat st;

		maildir_msg_path(box, &moved, &path);
		if (stat(mf_buf_str(&path), &st) == 0 &&
		    st.st_mtime != (time_t)item->received) {
			ts[0].tv_sec = ts[1].tv_sec = (time_t)item->received;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			(void)utimensat(AT_FDCWD, mf_buf_str(&path), ts, 0);
		}
		mf_buf_free(&path);
	}
	c = mf_array_append_zero(&t->move_changes);
	c->ranges = mf_calloc(1, sizeof(*c->ranges));
	c->ranges[0].first = c->ranges[0].last = uid;
	c->count = 1;
	c->modify = MAILFERRY_MODIFY_REPLACE;
	c->flags = item->flags;
	c->keywords = mf_strv_dup((const char *const *)item->keywords);
	item->final_uid = uid;
	free(base);
	free(ext);
}

/* Longest GUID used as a base name: room for ":2," and every flag letter
 * within NAME_MAX. */
#define MAILDIR_GUID_BASE_MAX 200

/* Whether item's GUID can be its file's base name by itself, as Dovecot's
 * maildir save does (maildir_filename_check_conflicts()): a usable file
 * name that already carries the message's real size and virtual size as
 * ,S= and ,W= (Dovecot needs them there to be fast). A maildir-to-maildir
 * copy gives exactly that: the source's base name. */
static bool guid_fits_as_base(const struct save_item *item)
{
	const char *g = item->guid;
	uint64_t size, vsize;

	return g != NULL && strlen(g) <= MAILDIR_GUID_BASE_MAX &&
	       maildir_fname_is_valid(g) && strchr(g, ':') == NULL &&
	       maildir_fname_get_size(g, 'S', &size) == 0 &&
	       size == item->size &&
	       maildir_fname_get_size(g, 'W', &vsize) == 0 &&
	       vsize == item->vsize;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_item_guid(const void *a, const void *b)
{
	const struct save_item *ia = *(struct save_item *const *)a;
	const struct save_item *ib = *(struct save_item *const *)b;
	int ret = strcmp(ia->guid, ib->guid);

	/* equal GUIDs: the first save keeps the name */
	if (ret != 0)
		return ret;
	return ia < ib ? -1 : ia > ib;
}

/* Under the uidlist lock, with the uidlist just refreshed: mark the saves
 * whose GUID becomes their base name. Not when the mailbox lists that
 * name already, nor for the second save of one GUID in a transaction;
 * these get a new name and keep their GUID in the uidlist's G extension.
 * A message whose name is its GUID keeps the GUID even when a crash
 * comes between the rename into cur/ and the uidlist write: the next
 * scan reads it from the name. */
static void pick_base_names(struct mailferry_trans *t)
{
	struct maildir_uidlist *ul = &t->box->uidlist;
	struct save_item **cand;
	const char **bases = NULL;
	size_t n = 0;

	cand = mf_calloc(t->saves.count + 1, sizeof(*cand));
	for (size_t i = 0; i < t->saves.count; i++) {
		struct save_item *item = &t->saves.items[i];

		item->guid_as_base = false;
		if (!item->move && !item->skipped && guid_fits_as_base(item))
			cand[n++] = item;
	}
	if (n == 0) {
		free(cand);
		return;
	}
	bases = mf_calloc(ul->recs.count + 1, sizeof(*bases));
	for (size_t i = 0; i < ul->recs.count; i++)
		bases[i] = ul->recs.items[i].base;
	mf_qsort(bases, ul->recs.count, sizeof(*bases), cmp_strp);
	mf_qsort(cand, n, sizeof(*cand), cmp_item_guid);
	for (size_t i = 0; i < n; i++) {
		const char *key = cand[i]->guid;

		if (i > 0 && strcmp(cand[i - 1]->guid, key) == 0)
			continue;
		if (mf_bsearch(&key, bases, ul->recs.count, sizeof(*bases),
		               cmp_strp) != NULL)
			continue;
		cand[i]->guid_as_base = true;
	}
	free(bases);
	free(cand);
}

/* rename() that never replaces an existing file (where the system can
 * tell): a base name taken from a GUID is not ours alone. */
static int rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	return rename(from, to);
}

/* The base name of item's file when it is not its GUID: our unique name
 * with Dovecot's ,S= and ,W= sizes. */
static void item_plain_name(const struct save_item *item, struct mf_buf *out)
{
	mf_buf_truncate(out, 0);
	mf_buf_printf(out, "%s,S=%llu,W=%llu", item->base,
	              (unsigned long long)item->size,
	              (unsigned long long)item->vsize);
}

/* The uidlist extensions of item other than its GUID (POP3 UIDL and
 * order) into out; false when there are none. */
static bool item_ext(const struct save_item *item, struct mf_buf *out)
{
	mf_buf_truncate(out, 0);
	if (item->pop3_uidl != NULL)
		mf_buf_printf(out, "P%s", item->pop3_uidl);
	if (item->pop3_order != 0)
		mf_buf_printf(out, "%sO%u", out->len > 0 ? " " : "",
		              item->pop3_order);
	return out->len > 0;
}

/* Add item's uidlist record (UID uid, not named after its GUID) to the
 * journal lines in t->journal, when the name alone would lose something
 * (a GUID, POP3 fields). Returns whether a line was added. */
static bool journal_add_item(struct mailferry_trans *t,
                             const struct save_item *item, uint32_t uid)
{
	struct mf_buf name = MF_BUF_INIT, ext = MF_BUF_INIT;
	bool has_ext = item_ext(item, &ext);

	if (item->guid == NULL && !has_ext)
		return false;
	item_plain_name(item, &name);
	maildir_uidlist_format_line(uid, item->guid,
	                            has_ext ? mf_buf_str(&ext) : NULL,
	                            mf_buf_str(&name), &t->journal);
	mf_buf_free(&name);
	mf_buf_free(&ext);
	return true;
}

/* Before the first rename: the uidlist records of the saves whose file
 * names will not carry everything (see maildir-journal.h) go into the
 * save journal, with the UIDs commit_saves() is going to give them.
 * Nothing is written when every name says it all. Returns 0 or an error
 * code. */
static int write_journal(struct mailferry_trans *t, bool do_fsync)
{
	uint32_t next = t->box->uidlist.next_uid;
	bool any = false;
	int ret;

	mf_buf_truncate(&t->journal, 0);
	for (size_t i = 0; i < t->saves.count; i++) {
		const struct save_item *item = &t->saves.items[i];
		uint32_t uid = item->want_uid != 0 ? item->want_uid : next;

		if (item->skipped)
			continue;
		if (next <= uid)
			next = uid + 1;
		if (item->move || item->guid_as_base)
			continue; /* a move keeps its file and record */
		any = journal_add_item(t, item, uid) || any;
	}
	if (!any)
		return 0;
	ret = maildir_journal_write(t->box, &t->journal, do_fsync);
	if (ret < 0)
		mf_buf_truncate(&t->journal, 0);
	else
		maildir_crash_point("commit-journal");
	return ret;
}

/* Rename every saved file into new/ or cur/ and add it to the uidlist;
 * moves (only when expunged is not NULL) are applied in memory. */
static int commit_saves(struct mailferry_trans *t, bool *kw_changed,
                        struct maildir_expunged_list *expunged)
{
	struct mailferry_mailbox *box = t->box;
	struct mailferry_storage *storage = box->storage;
	struct maildir_uidlist *ul = &box->uidlist;
	struct mf_buf name = MF_BUF_INIT, dest = MF_BUF_INIT, ext = MF_BUF_INIT;
	uint32_t *bits = mf_calloc(t->saves.count + 1, sizeof(uint32_t));
	/* per save: its keywords without a letter (index only) */
	const char ***extra = mf_calloc(t->saves.count + 1, sizeof(*extra));
	size_t nfiles = 0;
	bool batch_fsync;
	int ret = 0;

	/* validate everything before the first rename */
	for (size_t i = 0; i < t->saves.count && ret == 0; i++) {
		struct save_item *item = &t->saves.items[i];

		if (item->skipped)
			continue;
		if (!item->finished)
			ret = maildir_error(storage, MAILFERRY_E_INVALID,
			                    "commit with an unfinished save");
		else if (item->want_uid != 0 && item->want_uid < ul->next_uid)
			ret = maildir_error(storage, MAILFERRY_E_EXISTS,
			                    "mailbox %s: wanted UID %u was "
			                    "taken meanwhile (UIDNEXT %u)",
			                    box->vname, item->want_uid,
			                    ul->next_uid);
		else if (item->move && expunged == NULL)
			ret = maildir_error(storage, MAILFERRY_E_INVALID,
			                    "internal error: a move outside "
			                    "a full commit");
		else if (!item->move)
			ret = keyword_bits(box, item->keywords, true, &bits[i],
			                   kw_changed, &extra[i]);
		if (!item->move)
			nfiles++;
	}
	batch_fsync = storage->fsync_mode == MAILDIR_FSYNC_OPTIMIZED &&
	              nfiles > MAILDIR_FSYNC_BATCH_MIN;
	if (ret == 0) {
		pick_base_names(t);
		/* the syncfs() below covers the journal of a batch */
		ret = write_journal(t, maildir_fsync_commit(storage) &&
		                           !batch_fsync);
	}
	if (ret == 0 && storage->fsync_mode == MAILDIR_FSYNC_OPTIMIZED &&
	    nfiles > 0) {
		/* data before names, once per commit and never per save:
		 * a few files are fsync'd one by one, a batch with one
		 * syncfs() of the filesystem holding tmp/ */
		if (!batch_fsync) {
			for (size_t i = 0; i < t->saves.count && ret == 0;
			     i++) {
				const char *tp = t->saves.items[i].tmp_path;

				if (tp != NULL && !t->saves.items[i].move)
					ret = fsync_path(storage, tp, false);
			}
		} else {
			ret = syncfs_dir(storage, box->path);
		}
	}
	mf_array_reserve(&box->saved_uids, t->saves.count);
	for (size_t i = 0; i < t->saves.count && ret == 0; i++) {
		struct save_item *item = &t->saves.items[i];
		struct maildir_fname_info info;
		bool to_new = item->flags == 0 && bits[i] == 0;
		int r;
		uint32_t uid =
		    item->want_uid != 0 ? item->want_uid : ul->next_uid;

		if (item->skipped) {
			/* the source vanished: nothing saved, no UID */
			mf_array_push(&box->saved_uids, (uint32_t)0);
			continue;
		}
		if (item->move) {
			apply_move(t, item, uid, expunged);
			mf_array_push(&box->saved_uids, uid);
			continue;
		}
	again:
		if (item->guid_as_base) {
			mf_buf_truncate(&name, 0);
			mf_buf_append_str(&name, item->guid);
		} else {
			item_plain_name(item, &name);
		}
		mf_buf_truncate(&dest, 0);
		mf_buf_printf(&dest, "%s/%s/", box->path,
		              to_new ? "new" : "cur");
		if (to_new) {
			mf_buf_append_str(&dest, mf_buf_str(&name));
		} else {
			mf_zero(&info);
			info.flags = item->flags;
			info.keywords = bits[i];
			maildir_fname_build(mf_buf_str(&name), &info, &dest);
		}
		if (item->guid_as_base)
			r = rename_noreplace(item->tmp_path, mf_buf_str(&dest));
		else
			r = rename(item->tmp_path, mf_buf_str(&dest));
		if (r < 0 && errno == EEXIST && item->guid_as_base) {
			/* a file of that name not (yet) in the uidlist,
			 * e.g. just delivered: a name of our own, whose GUID
			 * the journal must then keep */
			item->guid_as_base = false;
			if (journal_add_item(t, item, uid) &&
			    (ret = maildir_journal_write(
			         box, &t->journal,
			         maildir_fsync_commit(storage))) < 0)
				break;
			goto again;
		}
		if (r < 0) {
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "rename(%s, %s) failed: %s",
			                    item->tmp_path, mf_buf_str(&dest),
			                    strerror(errno));
			break;
		}
		if (item->guid_as_base) {
			/* the name says it all: no G extension */
			mf_free(&item->guid);
		}
		free(item->tmp_path);
		item->tmp_path = NULL;
		item->final_fname =
		    mf_strdup(strrchr(mf_buf_str(&dest), '/') + 1);
		item->final_in_new = to_new;
		item->final_uid = uid;
		item->final_keywords = bits[i];
		for (size_t k = 0; extra[i] != NULL && extra[i][k] != NULL; k++)
			maildir_kw_op_add(box, uid, extra[i][k], true);
		maildir_uidlist_add(ul, uid, mf_buf_str(&name), item->guid,
		                    item_ext(item, &ext) ? mf_buf_str(&ext)
		                                         : NULL);
		mf_array_push(&box->saved_uids, uid);
		maildir_crash_point("commit-renamed-one");
	}
	free(bits);
	for (size_t i = 0; i < t->saves.count; i++)
		free(extra[i]);
	free(extra);
	mf_buf_free(&name);
	mf_buf_free(&dest);
	mf_buf_free(&ext);
	return ret;
}

/* Apply change ch (bits: its keywords' letters, extra: those without
 * one) to msg by renaming its file; the keywords without a letter are
 * queued for the index. Returns 0 or an error code; see commit_flags()
 * for missed. */
static int change_msg_flags(struct mailferry_mailbox *box,
                            const struct flag_change *ch, uint32_t bits,
                            const char *const *extra, struct maildir_msg *msg,
                            bool last_pass, bool *missed, struct mf_buf *from,
                            struct mf_buf *to)
{
	struct maildir_msg_info mi = msg->info;
	struct maildir_fname_info info;
	uint32_t named = 0;

	if (ch->modify == MAILFERRY_MODIFY_REPLACE)
		maildir_kw_op_add(box, msg->uid, NULL, false);
	for (size_t k = 0; extra[k] != NULL; k++)
		maildir_kw_op_add(box, msg->uid, extra[k],
		                  ch->modify != MAILFERRY_MODIFY_REMOVE);
	if (msg->info.foreign_info) {
		maildir_log_warning(box->storage,
		                    "%s: flags not changed, the file name "
		                    "has an info part we do not rewrite",
		                    msg->fname);
		return 0;
	}
	for (int k = 0; k < MAILDIR_MAX_KEYWORDS; k++) {
		if (box->keywords.names[k] != NULL)
			named |= 1u << k;
	}
	switch (ch->modify) {
	case MAILFERRY_MODIFY_ADD:
		mi.flags |= ch->flags;
		mi.keywords |= bits;
		break;
	case MAILFERRY_MODIFY_REMOVE:
		mi.flags &= ~ch->flags;
		mi.keywords &= ~bits;
		break;
	case MAILFERRY_MODIFY_REPLACE:
		mi.flags = ch->flags;
		/* letters without a name are not ours to drop: keep them */
		mi.keywords = bits | (mi.keywords & ~named);
		break;
	}
	if (mi.flags == msg->info.flags && mi.keywords == msg->info.keywords)
		return 0;
	/* the name's other letters (not kept in msg) as they are now */
	(void)maildir_fname_parse_info(msg->fname, &info);
	info.flags = mi.flags;
	info.keywords = mi.keywords;
	maildir_msg_path(box, msg, from);
	mf_buf_truncate(to, 0);
	mf_buf_printf(to, "%s/%s/", box->path, msg->in_new ? "new" : "cur");
	maildir_fname_build(msg->fname, &info, to);
	if (rename(mf_buf_str(from), mf_buf_str(to)) < 0) {
		if (errno == ENOENT && !last_pass) {
			*missed = true;
			return 0;
		}
		if (errno == ENOENT) {
			/* gone even after a rescan: expunged meanwhile */
			maildir_log_warning(box->storage,
			                    "%s: vanished while changing its "
			                    "flags",
			                    mf_buf_str(from));
			return 0;
		}
		return maildir_error(box->storage, maildir_errno_code(errno),
		                     "rename(%s, %s) failed: %s",
		                     mf_buf_str(from), mf_buf_str(to),
		                     strerror(errno));
	}
	/* (a name that changes is malloc'd: the pool would keep every
	 * name it ever had) */
	if (msg->fname_owned)
		free((char *)msg->fname);
	msg->fname = mf_strdup(strrchr(mf_buf_str(to), '/') + 1);
	msg->fname_owned = true;
	msg->info.flags = mi.flags;
	msg->info.keywords = mi.keywords;
	msg->info.has_info = true;
	return 0;
}

/* Apply flag changes by renaming files. A file another process renamed
 * meanwhile (a client changing flags) is reported in *missed on the first
 * pass (the caller rescans and runs again); on the last pass it was
 * expunged: skipped. */
static int commit_flags(struct mailferry_trans *t, bool *kw_changed,
                        bool last_pass, bool *missed)
{
	struct mailferry_mailbox *box = t->box;
	struct mf_buf from = MF_BUF_INIT, to = MF_BUF_INIT;
	size_t nmoves = t->move_changes.count;
	int ret = 0;

	/* the flags of moved messages first: the caller's changes may be
	 * meant for their new UIDs */
	for (size_t c = 0; c < nmoves + t->changes.count && ret == 0; c++) {
		const struct flag_change *ch =
		    c < nmoves ? &t->move_changes.items[c]
		               : &t->changes.items[c - nmoves];
		const char **extra = NULL;
		uint32_t bits;

		/* removing a keyword never gives it a letter */
		if ((ret = keyword_bits(box, ch->keywords,
		                        ch->modify != MAILFERRY_MODIFY_REMOVE,
		                        &bits, kw_changed, &extra)) < 0)
			break;
		/* the messages of each range by binary search: a move's
		 * change is one UID of a possibly large mailbox */
		for (size_t r = 0; r < ch->count && ret == 0; r++) {
			for (size_t i =
			         msgs_lower_bound(box, ch->ranges[r].first);
			     i < box->msgs.count &&
			     box->msgs.items[i].uid <= ch->ranges[r].last &&
			     ret == 0;
			     i++)
				ret = change_msg_flags(
				    box, ch, bits, extra, &box->msgs.items[i],
				    last_pass, missed, &from, &to);
		}
		free(extra);
	}
	mf_buf_free(&from);
	mf_buf_free(&to);
	return ret;
}

static int commit_expunges(struct mailferry_trans *t,
                           struct maildir_expunged_list *out, bool last_pass,
                           bool *missed)
{
	struct mailferry_mailbox *box = t->box;
	struct maildir_uidlist *ul = &box->uidlist;
	struct mf_buf path = MF_BUF_INIT;
	int ret = 0;

	for (size_t i = 0; i < box->msgs.count && ret == 0; i++) {
		struct maildir_msg *msg = &box->msgs.items[i];
		struct maildir_expunged *e;

		if (!uid_in_ranges(t->expunges.items, t->expunges.count,
		                   msg->uid))
			continue;
		maildir_msg_path(box, msg, &path);
		if (unlink(mf_buf_str(&path)) < 0) {
			if (errno != ENOENT) {
				ret = maildir_error(
				    box->storage, maildir_errno_code(errno),
				    "unlink(%s) failed: %s", mf_buf_str(&path),
				    strerror(errno));
				break;
			}
			if (!last_pass) {
				/* renamed by a client meanwhile (else its
				 * file would come back under a new UID):
				 * rescan and retry */
				*missed = true;
				continue;
			}
			/* gone even after a rescan: expunged by others */
		}
		e = mf_array_append_zero(out);
		e->uid = msg->uid;
		e->guid = mf_strdup(msg->guid);
		for (size_t r = 0; r < ul->recs.count; r++) {
			if (ul->recs.items[r].uid == msg->uid) {
				maildir_uidlist_remove_at(ul, r);
				break;
			}
		}
	}
	mf_buf_free(&path);
	return ret;
}

static void apply_modseqs(struct mailferry_trans *t)
{
	struct mailferry_mailbox *box = t->box;
	struct mf_index_trans *it;
	bool any = false;

	if (box->index == NULL || mf_index_lock(box->index) < 0)
		return;
	it = mf_index_trans_begin(
	    box->index,
	    MF_INDEX_TRANS_EXTERNAL |
	        ((t->flags & MAILFERRY_TRANS_SYNC) ? MF_INDEX_TRANS_SYNC : 0));
	for (size_t i = 0; i < t->modseqs.count; i++) {
		if (maildir_msg_find(box, t->modseqs.items[i].uid) == NULL)
			continue;
		mf_index_trans_modseq(it, t->modseqs.items[i].uid,
		                      t->modseqs.items[i].modseq);
		any = true;
	}
	for (size_t i = 0; i < t->saves.count && i < box->saved_uids.count;
	     i++) {
		if (t->saves.items[i].min_modseq == 0 ||
		    box->saved_uids.items[i] == 0)
			continue;
		mf_index_trans_modseq(it, box->saved_uids.items[i],
		                      t->saves.items[i].min_modseq);
		any = true;
	}
	if (!any)
		mf_index_trans_rollback(&it);
	else if (mf_index_trans_commit(&it) < 0)
		maildir_log_warning(box->storage, "mailbox %s: %s", box->vname,
		                    mf_index_last_error(box->index));
	mf_index_unlock(box->index);
	maildir_index_fill_modseqs(box);
}

/* Add what commit_saves() renamed into place to box->msgs (their UIDs are
 * above every UID the mailbox had). */
static size_t msgs_add_saved(struct mailferry_trans *t)
{
	struct mailferry_mailbox *box = t->box;
	size_t first = box->msgs.count;

	for (size_t i = 0; i < t->saves.count; i++) {
		const struct save_item *item = &t->saves.items[i];
		struct maildir_msg *msg;

		if (item->final_fname == NULL)
			continue;
		msg = mf_array_append_zero(&box->msgs);
		msg->uid = item->final_uid;
		msg->fname = maildir_msgs_strdup(box, item->final_fname,
		                                 strlen(item->final_fname));
		msg->in_new = item->final_in_new;
		msg->info.flags = item->flags;
		msg->info.keywords = item->final_keywords;
		msg->info.has_info = !item->final_in_new;
		msg->guid = item->guid != NULL
		                ? maildir_msgs_strdup(box, item->guid,
		                                      strlen(item->guid))
		                : maildir_msgs_strdup(box, item->final_fname,
		                                      maildir_fname_base_len(
		                                          item->final_fname));
		msg->psize = item->size;
		msg->vsize = item->vsize;
		msg->comp = item->compressed ? MAILDIR_COMP_COMPRESSED
		                             : MAILDIR_COMP_PLAIN;
	}
	return first;
}

/* A transaction of saves only, the common case of a sync: no directory
 * scan and no uidlist rewrite, just the new records appended as Dovecot
 * does. Returns 0, an error, or 1 when the uidlist needs the full way
 * (missing, old version, damaged). */
static int commit_saves_only(struct mailferry_trans *t,
                             struct maildir_dotlock *lock)
{
	struct mailferry_mailbox *box = t->box;
	struct mailferry_storage *storage = box->storage;
	struct maildir_uidlist *ul = &box->uidlist;
	bool kw_changed = false;
	char *error = NULL, *path;
	size_t first_rec, first_msg;
	int ret, r;

	(void)lock;
	if ((ret = maildir_sync_refresh_uidlist(box)) < 0)
		return ret;
	/* a killed commit's journal is applied by a full sync first */
	if (ul->version != 3 || ul->needs_rewrite || !box->uidlist_id.valid ||
	    box->keywords.broken || maildir_journal_exists(box->control_dir))
		return 1;
	first_rec = ul->recs.count;
	ret = commit_saves(t, &kw_changed, NULL);
	maildir_crash_point("commit-renamed");
	/* whatever was renamed must be listed, even after a failure */
	if (kw_changed) {
		path = mf_strdup_printf("%s/" MAILDIR_KEYWORDS_NAME,
		                        box->control_dir);
		if (maildir_keywords_write(&box->keywords, path, &box->perm,
		                           maildir_fsync_commit(storage),
		                           &error) < 0 &&
		    ret == 0)
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "%s", error);
		mf_free(&error);
		free(path);
	}
	path = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	r = maildir_uidlist_append(ul, path, first_rec,
	                           maildir_fsync_commit(storage), &error);
	free(path);
	if (r < 0) {
		if (ret == 0)
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "%s", error);
		mf_free(&error);
		/* the files are in place: the next sync numbers them */
		box->uidlist_id.valid = false;
		return ret;
	}
	maildir_uidlist_remember(box);
	if (t->journal.len > 0)
		maildir_journal_remove(box); /* the uidlist has it all now */
	if (maildir_fsync_commit(storage)) {
		char *p = mf_strdup_printf("%s/cur", box->path);

		r = fsync_path(storage, p, true);
		free(p);
		p = mf_strdup_printf("%s/new", box->path);
		if (r == 0)
			r = fsync_path(storage, p, true);
		free(p);
		if (r < 0 && ret == 0)
			ret = r;
	}
	first_msg = msgs_add_saved(t);
	maildir_index_add_saved(box, first_msg,
	                        (t->flags & MAILFERRY_TRANS_SYNC) != 0);
	apply_modseqs(t);
	return ret;
}

/* Write dovecot-keywords (when kw_changed) and dovecot-uidlist; remove
 * the save journal (when journal) once the uidlist has its records. */
static int write_state(struct mailferry_mailbox *box, bool kw_changed,
                       bool journal)
{
	struct mailferry_storage *storage = box->storage;
	char *error = NULL, *path;
	int ret = 0;

	if (kw_changed) {
		path = mf_strdup_printf("%s/" MAILDIR_KEYWORDS_NAME,
		                        box->control_dir);
		if (maildir_keywords_write(&box->keywords, path, &box->perm,
		                           maildir_fsync_commit(storage),
		                           &error) < 0)
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "%s", error);
		mf_free(&error);
		free(path);
	}
	path = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	if (maildir_uidlist_write(&box->uidlist, path, &box->perm,
	                          maildir_fsync_commit(storage), &error) < 0) {
		if (ret == 0)
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "%s", error);
		/* what is in memory is not the file: read it again */
		box->uidlist_id.valid = false;
	} else {
		maildir_uidlist_remember(box);
		if (journal)
			maildir_journal_remove(box);
	}
	mf_free(&error);
	free(path);
	return ret;
}

static int prepare_local_copies(struct mailferry_trans *t,
                                struct maildir_dotlock *lock);

int maildir_trans_commit(struct mailferry_trans **tp,
                         struct mailferry_commit_result *result_r)
{
	struct mailferry_trans *t = *tp;
	struct mailferry_mailbox *box = t->box;
	struct mailferry_storage *storage = box->storage;
	struct maildir_dotlock *lock = NULL;
	struct maildir_expunged_list expunged = MF_ARRAY_INIT;
	bool kw_changed = false;
	int ret;

	*tp = NULL;
	box->saved_uids.count = 0;
	if (t->cur != NULL)
		maildir_save_cancel(t);
	if ((ret = maildir_uidlist_lock(box, &lock)) < 0)
		goto out;
	if (t->changes.count == 0 && t->expunges.count == 0 &&
	    !t->have_local_copies) {
		ret = commit_saves_only(t, lock);
		if (ret != 1)
			goto out;
		ret = 0; /* the uidlist needs a rewrite: the full way */
	}
	/* catch up with others first, so that the index gets their
	 * changes without our SYNC mark */
	if ((ret = maildir_sync(box, lock)) < 0)
		goto out;
	if (t->have_local_copies && (ret = prepare_local_copies(t, lock)) < 0)
		goto out;
	ret = commit_saves(t, &kw_changed, &expunged);
	maildir_crash_point("commit-renamed");
	for (int pass = 0; pass < 2 && ret == 0; pass++) {
		bool missed = false;

		if (pass > 0) {
			/* a client renamed files under us: list what is
			 * done so far, rescan (still locked), go again */
			ret = write_state(box, kw_changed, t->journal.len > 0);
			kw_changed = false;
			if (ret == 0)
				ret = maildir_sync_ext(
				    box, lock, expunged.items, expunged.count,
				    (t->flags & MAILFERRY_TRANS_SYNC) != 0);
			if (ret < 0)
				break;
		}
		ret = commit_flags(t, &kw_changed, pass > 0, &missed);
		maildir_crash_point("commit-flags");
		if (ret == 0)
			ret = commit_expunges(t, &expunged, pass > 0, &missed);
		if (!missed)
			break;
	}
	/* whatever was renamed must be listed, even after a failure */
	{
		int r = write_state(box, kw_changed, t->journal.len > 0);

		if (r < 0 && ret == 0)
			ret = r;
	}
	maildir_crash_point("commit-uidlist");
	if (maildir_fsync_commit(storage)) {
		char *p = mf_strdup_printf("%s/cur", box->path);
		int r = fsync_path(storage, p, true);

		free(p);
		p = mf_strdup_printf("%s/new", box->path);
		if (r == 0)
			r = fsync_path(storage, p, true);
		free(p);
		if (r < 0 && ret == 0)
			ret = r;
	}
	{
		/* refresh (still locked) and record our changes in the
		 * index with the transaction's SYNC mark */
		int r =
		    maildir_sync_ext(box, lock, expunged.items, expunged.count,
		                     (t->flags & MAILFERRY_TRANS_SYNC) != 0);

		if (r < 0 && ret == 0)
			ret = r;
	}
	maildir_crash_point("commit-index");
	apply_modseqs(t);
out:
	if (ret < 0) {
		/* the in-memory uidlist may hold records that never made
		 * it to the file: read the file again next time; keyword
		 * changes queued for UIDs that may not exist are dropped */
		box->uidlist_id.valid = false;
		maildir_kw_ops_clear(box);
	}
	maildir_dotlock_release(&lock);
	if (ret == 0 && result_r != NULL) {
		result_r->struct_size = sizeof(*result_r);
		result_r->uidvalidity = box->uidlist.uidvalidity;
		result_r->saved_uids = box->saved_uids.items;
		result_r->saved_count = box->saved_uids.count;
	}
	for (size_t i = 0; i < expunged.count; i++)
		free(expunged.items[i].guid);
	mf_array_free(&expunged);
	trans_free(t, true);
	return ret;
}

void maildir_trans_rollback(struct mailferry_trans **tp)
{
	struct mailferry_trans *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	trans_free(t, true);
}

/* Whether the file at path (whose stat is st) may be hard-linked into a
 * mailbox whose new files get perm. A link shares the inode, mode and
 * owner included. As Dovecot (mail_storage_copy_can_use_hardlink()):
 * only when new files in the source's directory get the mode ours get,
 * in our group when we set one, and, when another user owns the file,
 * only if that user lets others read it (else the store's owner could
 * not; a store of root's can read anything). Otherwise the core streams
 * the message. */
static bool link_keeps_perm(const struct mf_perm *perm, const char *path,
                            const struct stat *st)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL   ? mf_strdup(".")
	            : slash == path ? mf_strdup("/")
	                            : mf_strndup(path, (size_t)(slash - path));
	uid_t owner = perm->uid != (uid_t)-1 ? perm->uid : geteuid();
	struct stat dst;
	bool ok =
	    stat(dir, &dst) == 0 &&
	    ((dst.st_mode & 0666) | 0600) == perm->file_mode &&
	    (perm->gid == (gid_t)-1 || st->st_gid == perm->gid) &&
	    (st->st_uid == owner || owner == 0 || (st->st_mode & 0044) != 0);

	free(dir);
	return ok;
}

/* Hard-link path (whose stat is st) into tmp/ as a new save. */
static int link_save(struct mailferry_trans *t,
                     const struct mailferry_save *save, const char *path,
                     const struct stat *st, uint64_t size, uint64_t vsize)
{
	struct mailferry_mailbox *box = t->box;
	struct save_item *item;
	int ret;

	if (save->received_date != 0 &&
	    save->received_date != (int64_t)st->st_mtime)
		return MAILFERRY_E_NOTSUPP; /* a link shares the mtime */
	if (!link_keeps_perm(&box->perm, path, st))
		return MAILFERRY_E_NOTSUPP; /* the core streams it */
	if ((ret = check_save_params(t, save)) < 0)
		return ret;
	item = new_item(t, save);
	if (link(path, item->tmp_path) < 0) {
		int err = errno;

		save_item_free(item, false);
		t->saves.count--;
		if (err == EXDEV || err == EPERM || err == EMLINK ||
		    err == ENOTSUP)
			return MAILFERRY_E_NOTSUPP;
		return maildir_error(box->storage, maildir_errno_code(err),
		                     "link(%s, %s/tmp) failed: %s", path,
		                     box->path, strerror(err));
	}
	item->size = size;
	item->vsize = vsize;
	item->finished = true;
	return 0;
}

static int vsize_of_path(const char *path, uint64_t size, uint64_t *vsize_r)
{
	const char *slash = strrchr(path, '/');
	char buf[65536];
	bool last_cr = false;
	ssize_t n;
	int fd;

	if (maildir_fname_get_size(slash != NULL ? slash + 1 : path, 'W',
	                           vsize_r) == 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	*vsize_r = size;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		*vsize_r += maildir_count_bare_lf(buf, (size_t)n, &last_cr);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Link the plain file at path (another store's, or our own). */
static int save_plain_path(struct mailferry_trans *t,
                           const struct mailferry_save *save, const char *path)
{
	struct stat st;
	uint64_t vsize;

	if (t->cur != NULL)
		return maildir_error(t->box->storage, MAILFERRY_E_INVALID,
		                     "save_from_path() during another save");
	if (stat(path, &st) < 0)
		return maildir_error(t->box->storage, maildir_errno_code(errno),
		                     "stat(%s) failed: %s", path,
		                     strerror(errno));
	if (!S_ISREG(st.st_mode))
		return MAILFERRY_E_NOTSUPP;
	if (vsize_of_path(path, (uint64_t)st.st_size, &vsize) < 0)
		return MAILFERRY_E_NOTSUPP;
	return link_save(t, save, path, &st, (uint64_t)st.st_size, vsize);
}

int maildir_save_from_path(struct mailferry_trans *t,
                           const struct mailferry_save *save, const char *path)
{
	/* with mail_compress the core streams the message through
	 * save_write(), which compresses it */
	if (t->box->storage->compress != MF_COMPRESS_NONE)
		return MAILFERRY_E_NOTSUPP;
	return save_plain_path(t, save, path);
}

/* Copy the bytes of the file at path (as they are, compressed or not)
 * into the new tmp file tmp_path, with mtime as its date. Returns 0, 1
 * when path is gone, or an error code. */
static int copy_file_bytes(struct mailferry_mailbox *box, const char *path,
                           const char *tmp_path, int64_t mtime)
{
	struct mailferry_storage *storage = box->storage;
	char buf[65536];
	int in, out, ret = 0;
	ssize_t n;

	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 && errno == ENOENT)
		return 1; /* renamed or expunged meanwhile */
	if (in < 0)
		return maildir_error(storage, maildir_errno_code(errno),
		                     "open(%s) failed: %s", path,
		                     strerror(errno));
	out = mf_perm_open(&box->perm, tmp_path,
	                   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
	if (out < 0) {
		ret = maildir_error(storage, maildir_errno_code(errno),
		                    "open(%s) failed: %s", tmp_path,
		                    strerror(errno));
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "read(%s) failed: %s", path,
			                    strerror(errno));
			break;
		}
		if (mf_write_full(out, buf, (size_t)n) < 0) {
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "write(%s) failed: %s", tmp_path,
			                    strerror(errno));
			break;
		}
	}
	if (ret == 0) {
		set_received(out, mtime);
		if (storage->fsync_mode == MAILDIR_FSYNC_ALWAYS &&
		    fsync(out) < 0)
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "fsync(%s) failed: %s", tmp_path,
			                    strerror(errno));
	}
	if (close(out) < 0 && ret == 0)
		ret = maildir_error(storage, maildir_errno_code(errno),
		                    "close(%s) failed: %s", tmp_path,
		                    strerror(errno));
	close(in);
	if (ret < 0)
		(void)unlink(tmp_path);
	return ret;
}

/* Put a copy of msg's file into tmp/ for item: a hard link when the
 * file's date is the wanted one, else a copy of its bytes. Returns 0, 1
 * when the file was renamed or removed meanwhile, or an error code. */
static int local_copy_file(struct mailferry_trans *t, struct save_item *item,
                           struct maildir_msg *msg)
{
	struct mailferry_mailbox *box = t->box;
	struct mf_buf pbuf = MF_BUF_INIT;
	const char *path;
	uint64_t psize = msg->psize, vsize = msg->vsize;
	char *error = NULL;
	bool copy_bytes;
	struct stat st;
	int ret, comp;

	maildir_msg_path(box, msg, &pbuf);
	path = mf_buf_str(&pbuf);
	if (stat(path, &st) < 0) {
		ret = errno == ENOENT ? 1
		                      : maildir_error(box->storage,
		                                      maildir_errno_code(errno),
		                                      "stat(%s) failed: %s",
		                                      path, strerror(errno));
		mf_buf_free(&pbuf);
		return ret;
	}
	comp = maildir_msg_compressed(box, msg, path);
	if (comp > 0 && (psize == UINT64_MAX || vsize == UINT64_MAX)) {
		ret = maildir_file_sizes(box->storage, path, &psize, &vsize,
		                         &error);
		if (ret < 0) {
			ret = maildir_error(box->storage, ret, "%s", error);
			free(error);
			mf_buf_free(&pbuf);
			return ret;
		}
	} else if (comp <= 0) {
		psize = (uint64_t)st.st_size;
		if (vsize == UINT64_MAX &&
		    vsize_of_path(path, psize, &vsize) < 0) {
			ret = errno == ENOENT
			          ? 1
			          : maildir_error(box->storage,
			                          maildir_errno_code(errno),
			                          "read(%s) failed: %s", path,
			                          strerror(errno));
			mf_buf_free(&pbuf);
			return ret;
		}
	}
	/* a link shares the file's date: the bytes are copied when
	 * another date is wanted or there are no links here */
	copy_bytes =
	    item->received != 0 && item->received != (int64_t)st.st_mtime;
	ret = 0;
	if (!copy_bytes && link(path, item->tmp_path) < 0) {
		if (errno == ENOENT)
			ret = 1;
		else if (errno == EXDEV || errno == EPERM || errno == EMLINK ||
		         errno == ENOTSUP)
			copy_bytes = true;
		else
			ret = maildir_error(box->storage,
			                    maildir_errno_code(errno),
			                    "link(%s, %s) failed: %s", path,
			                    item->tmp_path, strerror(errno));
	}
	if (ret == 0 && copy_bytes)
		ret =
		    copy_file_bytes(box, path, item->tmp_path,
		                    item->received != 0 ? item->received
		                                        : (int64_t)st.st_mtime);
	if (ret == 0) {
		item->size = psize;
		item->vsize = vsize;
		item->compressed = comp > 0;
	}
	mf_buf_free(&pbuf);
	return ret;
}

/* At commit, under the uidlist lock and after a sync: decide what each
 * copy of a message of this mailbox is. The first copy of a message the
 * transaction also expunges is a move (it takes the message's file
 * over, see apply_move()); every other copy gets a link of the file as
 * it is named now. A source expunged by someone else meanwhile saves
 * nothing. */
static int prepare_local_copies(struct mailferry_trans *t,
                                struct maildir_dotlock *lock)
{
	struct mailferry_mailbox *box = t->box;
	MF_ARRAY(uint32_t) moved = MF_ARRAY_INIT;
	int ret = 0;

	for (size_t i = 0; i < t->saves.count && ret == 0; i++) {
		struct save_item *item = &t->saves.items[i];
		uint32_t uid = item->local_src_uid;
		bool taken = false;

		if (uid == 0)
			continue;
		for (size_t k = 0; k < moved.count; k++)
			taken = taken || moved.items[k] == uid;
		if (!taken && maildir_msg_find(box, uid) != NULL &&
		    uid_in_ranges(t->expunges.items, t->expunges.count, uid)) {
			item->move = true;
			mf_array_push(&moved, uid);
			continue;
		}
		item->tmp_path =
		    mf_strdup_printf("%s/tmp/%s", box->path, item->base);
		/* a client may rename the file under us (flags): once
		 * more after a rescan */
		for (int attempt = 0; attempt < 2; attempt++) {
			struct maildir_msg *msg = maildir_msg_find(box, uid);

			if (msg == NULL) {
				ret = 1;
				break;
			}
			ret = local_copy_file(t, item, msg);
			if (ret != 1 || attempt > 0)
				break;
			if ((ret = maildir_sync(box, lock)) < 0)
				break;
			ret = 1;
		}
		if (ret == 1) {
			maildir_log_warning(box->storage,
			                    "mailbox %s: UID %u was expunged "
			                    "before its copy was committed",
			                    box->vname, uid);
			item->skipped = true;
			free(item->tmp_path);
			item->tmp_path = NULL;
			ret = 0;
		}
	}
	mf_array_free(&moved);
	return ret;
}

/* copy() from this very mailbox: recorded now, resolved at commit. */
static int local_copy(struct mailferry_trans *t, struct mailferry_mailbox *src,
                      uint32_t src_uid, const struct mailferry_save *save)
{
	struct save_item *item;
	int ret;

	if (maildir_msg_find(src, src_uid) == NULL)
		return maildir_error(src->storage, MAILFERRY_E_EXPUNGED,
		                     "mailbox %s: UID %u was expunged",
		                     src->vname, src_uid);
	if ((ret = check_save_params(t, save)) < 0)
		return ret;
	item = new_item(t, save);
	free(item->tmp_path);
	item->tmp_path = NULL;
	item->local_src_uid = src_uid;
	item->finished = true;
	t->have_local_copies = true;
	return 0;
}

int maildir_copy(struct mailferry_trans *t, struct mailferry_mailbox *src,
                 uint32_t src_uid, const struct mailferry_save *save)
{
	struct maildir_msg *msg;
	uint64_t psize, vsize;
	char *path, *error = NULL;
	struct stat st;
	int ret;

	if (t->cur != NULL)
		return maildir_error(t->box->storage, MAILFERRY_E_INVALID,
		                     "copy() during another save");
	/* the same mailbox (through this or another handle): never
	 * NOTSUPP, so that a copy + expunge in one transaction is a move */
	if ((ret = maildir_msgs_ensure(src)) < 0)
		return ret;
	if (src == t->box || strcmp(src->path, t->box->path) == 0)
		return local_copy(t, src, src_uid, save);
	if ((ret = maildir_names_ensure(src)) < 0)
		return ret;
	msg = maildir_msg_find(src, src_uid);
	if (msg == NULL)
		return maildir_error(src->storage, MAILFERRY_E_EXPUNGED,
		                     "mailbox %s: UID %u was expunged",
		                     src->vname, src_uid);
	maildir_msg_path(src, msg, &src->path_buf);
	path = mf_strdup(mf_buf_str(&src->path_buf));
	/* a copy in the same store shares the file as it is, compressed
	 * or not, as Dovecot's maildir copy does */
	ret = maildir_msg_compressed(src, msg, path);
	if (ret <= 0) {
		/* plain, or unreadable (the link reports it) */
		ret = save_plain_path(t, save, path);
		free(path);
		return ret;
	}
	psize = msg->psize;
	vsize = msg->vsize;
	if ((psize == UINT64_MAX || vsize == UINT64_MAX) &&
	    maildir_file_sizes(src->storage, path, &psize, &vsize, &error) <
	        0) {
		/* let streaming report what is wrong with it */
		free(error);
		free(path);
		return MAILFERRY_E_NOTSUPP;
	}
	if (stat(path, &st) < 0) {
		ret =
		    maildir_error(t->box->storage, maildir_errno_code(errno),
		                  "stat(%s) failed: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	ret = link_save(t, save, path, &st, psize, vsize);
	if (ret == 0)
		t->saves.items[t->saves.count - 1].compressed = true;
	free(path);
	return ret;
}
