/* SPDX-License-Identifier: MIT */
/* sdbox: one dbox file per message, <mailbox>/dbox-Mails/u.<uid>, in the
 * primary or the alternate (ALT=) storage. */
#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "dbox-ops.h"
#include "dbox-temp.h"
#include "dbox-resync.h"
#include "dbox-move.h"

static char *uid_path(const char *dir, uint32_t uid)
{
	return mf_strdup_printf("%s/u.%u", dir, uid);
}

/* Format state of a transaction. */
struct sdbox_trans {
	char *journal; /* move journal of the commit in progress */
};

static struct sdbox_trans *strans(struct mailferry_trans *t)
{
	if (t->fmt_data == NULL)
		t->fmt_data = mf_calloc(1, sizeof(struct sdbox_trans));
	return t->fmt_data;
}

/* Open u.<uid> in the primary, then the alternate storage: 0, 1 when
 * it exists in neither, or an error. */
static int open_uid_file(struct mailferry_mailbox *box, uint32_t uid, int *fd_r,
                         char **path_r)
{
	const char *dirs[2] = {box->dir, box->alt_dir};

	for (int i = 0; i < 2 && dirs[i] != NULL; i++) {
		char *path = uid_path(dirs[i], uid);
		int fd = open(path, O_RDONLY);

		if (fd >= 0) {
			*fd_r = fd;
			*path_r = path;
			return 0;
		}
		if (errno != ENOENT) {
			int ret = dbox_error(box->st, dbox_errno_code(errno),
			                     "open(%s) failed: %s", path,
			                     strerror(errno));
			free(path);
			return ret;
		}
		free(path);
	}
	return 1;
}

/* Open the file of message uid. A file missing under its name may be in
 * the middle of a move to a new UID (renamed, index commit pending or
 * interrupted by a kill): the move journal names it then. */
static int sdbox_open_file(struct mailferry_mailbox *box, uint32_t uid,
                           int *fd_r, char **path_r)
{
	uint32_t new_uid;
	int ret = open_uid_file(box, uid, fd_r, path_r);

	if (ret <= 0)
		return ret;
	if (dbox_move_lookup(box->dir, uid, &new_uid)) {
		ret = open_uid_file(box, new_uid, fd_r, path_r);
		if (ret <= 0)
			return ret;
		/* the move finished meanwhile: the old name is back, or
		 * the file is at its new UID and the old one expunged */
		ret = open_uid_file(box, uid, fd_r, path_r);
		if (ret <= 0)
			return ret;
	}
	return dbox_error(box->st, MAILFERRY_E_NOTFOUND,
	                  "mailbox %s: message file u.%u is missing in %s%s%s",
	                  box->name, uid, box->dir,
	                  box->alt_dir != NULL ? " and " : "",
	                  box->alt_dir != NULL ? box->alt_dir : "");
}

static int sdbox_msg_locate(struct mailferry_mailbox *box, uint32_t seq,
                            uint32_t uid, struct dbox_msg_loc *loc_r)
{
	struct dbox_file_header fh;
	struct stat sb;
	char *err = NULL;
	int ret;

	(void)seq;
	ret = sdbox_open_file(box, uid, &loc_r->fd, &loc_r->path);
	if (ret < 0)
		return ret;
	if (fstat(loc_r->fd, &sb) < 0) {
		ret = dbox_error(box->st, MAILFERRY_E_TEMP,
		                 "fstat(%s) failed: %s", loc_r->path,
		                 strerror(errno));
		dbox_msg_loc_free(loc_r);
		return ret;
	}
	if (dbox_file_read_header(loc_r->fd, loc_r->path, &fh, &err) < 0 ||
	    dbox_msg_read(loc_r->fd, loc_r->path, (uint64_t)sb.st_size,
	                  fh.header_size, fh.msg_header_size, &loc_r->msg,
	                  &err) < 0) {
		dbox_msg_loc_free(loc_r);
		return dbox_error_take(box->st, MAILFERRY_E_INVALIDDATA, err);
	}
	return 0;
}

static int64_t sdbox_msg_save_date(struct mailferry_mailbox *box, uint32_t seq,
                                   const struct dbox_msg_loc *loc)
{
	struct stat sb;

	(void)box;
	(void)seq;
	/* Dovecot reports the file's ctime as the save date */
	return fstat(loc->fd, &sb) == 0 ? (int64_t)sb.st_ctime : 0;
}

static int sdbox_save_begin(struct mailferry_trans *t, struct dbox_save *s,
                            int *fd_r, uint64_t *offset_r, const char **path_r)
{
	struct mailferry_storage *st = t->box->st;
	struct mf_buf hdr = MF_BUF_INIT;
	int ret;

	ret = dbox_temp_create(st, t->box->dir, &s->tmp_path, fd_r);
	if (ret < 0)
		return ret;
	dbox_file_format_header(&hdr, s->save_date);
	if (mf_write_full(*fd_r, hdr.data, hdr.len) < 0) {
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "write(%s) failed: %s", s->tmp_path,
		                 strerror(errno));
		close(*fd_r);
		*fd_r = -1;
		(void)unlink(s->tmp_path);
		mf_buf_free(&hdr);
		return ret;
	}
	*offset_r = hdr.len;
	*path_r = s->tmp_path;
	mf_buf_free(&hdr);
	return 0;
}

static int sdbox_save_finish(struct mailferry_trans *t, struct dbox_save *s,
                             const struct dbox_writer_result *res)
{
	(void)s;
	(void)res;
	if (close(t->writer_fd) < 0) {
		t->writer_fd = -1;
		return dbox_error(t->box->st, dbox_errno_code(errno),
		                  "close(%s) failed: %s", s->tmp_path,
		                  strerror(errno));
	}
	t->writer_fd = -1;
	return 0;
}

static void sdbox_save_cancel(struct mailferry_trans *t, struct dbox_save *s)
{
	if (t->writer_fd >= 0) {
		close(t->writer_fd);
		t->writer_fd = -1;
	}
	if (s->tmp_path != NULL) {
		(void)unlink(s->tmp_path);
		free(s->tmp_path);
		s->tmp_path = NULL;
	}
}

/* Rename u.<old> to u.<new> for every move, in whichever storage the
 * file is, after writing the move journal (dbox-move.h). */
static int commit_moves(struct mailferry_trans *t, struct mf_index_trans *it)
{
	struct mailferry_storage *st = t->box->st;
	MF_ARRAY(struct dbox_move_pair) pairs = MF_ARRAY_INIT;
	bool alt_used = false;
	int ret;

	for (size_t i = 0; i < t->saves.count; i++) {
		const struct dbox_save *s = &t->saves.items[i];
		struct dbox_move_pair p = {s->src_uid, s->uid};

		if (s->is_move)
			mf_array_push(&pairs, p);
	}
	if (pairs.count == 0)
		return 0;
	ret = dbox_move_journal_write(st, t->box->dir, pairs.items, pairs.count,
	                              &strans(t)->journal);
	mf_array_free(&pairs);
	if (ret < 0)
		return ret;
	dbox_crash_point("move-journal");
	for (size_t i = 0; i < t->saves.count; i++) {
		struct dbox_save *s = &t->saves.items[i];
		const char *dirs[2] = {t->box->dir, t->box->alt_dir};
		int d;

		if (!s->is_move)
			continue;
		/* the temp link copy() made is not needed: the file itself
		 * takes the new name */
		if (s->tmp_path != NULL) {
			(void)unlink(s->tmp_path);
			free(s->tmp_path);
			s->tmp_path = NULL;
		}
		for (d = 0; d < 2 && dirs[d] != NULL; d++) {
			char *from = uid_path(dirs[d], s->src_uid);
			char *to = uid_path(dirs[d], s->uid);

			if (rename(from, to) == 0) {
				s->moved = true;
				s->moved_alt = d == 1;
			} else if (errno != ENOENT) {
				ret = dbox_error(st, dbox_errno_code(errno),
				                 "rename(%s, %s) failed: %s",
				                 from, to, strerror(errno));
			}
			free(from);
			free(to);
			if (s->moved || ret < 0)
				break;
		}
		if (ret < 0)
			return ret;
		if (!s->moved)
			return dbox_error(st, MAILFERRY_E_EXPUNGED,
			                  "mailbox %s: moving uid %u: its file "
			                  "is gone",
			                  t->box->name, s->src_uid);
		if (s->moved_alt) {
			/* still in the alternate storage */
			mf_index_trans_flags(it, s->uid, s->uid,
			                     MF_INDEX_FLAG_BACKEND, 0);
			alt_used = true;
		}
		dbox_crash_point("move-renamed");
	}
	if (alt_used && (ret = dbox_fsync_dir(st, t->box->alt_dir)) < 0)
		return ret;
	return 0;
}

/* From this many new files in a commit on, one syncfs() of the
 * filesystem beats an fdatasync() per file (measured: bench/run small,
 * maildir->sdbox with mail_fsync = optimized). */
#define SDBOX_FSYNC_BATCH_MIN 4

/* Under the index lock with UIDs assigned: make every file durable and
 * give it its u.<uid> name. The index commit follows; if it fails,
 * commit_end undoes the moves and trans_free removes the renamed
 * files. Order for a crash: file data durable (per file, or one syncfs
 * for the commit), then the renames, the directory durable, and only
 * then the index append that makes them visible. */
static int sdbox_commit_saves(struct mailferry_trans *t,
                              struct mf_index_trans *it)
{
	struct mailferry_storage *st = t->box->st;
	bool per_file = st->set.fsync == DBOX_FSYNC_OPTIMIZED;
	size_t files = 0;
	int ret;

	for (size_t i = 0; i < t->saves.count; i++)
		files += !t->saves.items[i].is_move;
	if (per_file && files >= SDBOX_FSYNC_BATCH_MIN) {
		/* the temp files are all in the mailbox directory */
		ret = dbox_syncfs(st, t->box->dir);
		if (ret < 0)
			return ret;
		per_file = ret > 0;
	}
	for (size_t i = 0; i < t->saves.count; i++) {
		struct dbox_save *s = &t->saves.items[i];
		char *final;

		if (s->is_move)
			continue;
		final = uid_path(t->box->dir, s->uid);
		if (per_file && (ret = dbox_fsync_path(st, s->tmp_path)) < 0) {
			free(final);
			return ret;
		}
		/* uid >= next_uid under the lock: an existing u.<uid> is a
		 * leftover of a killed run that never committed */
		if (rename(s->tmp_path, final) < 0) {
			ret = dbox_error(st, dbox_errno_code(errno),
			                 "rename(%s, %s) failed: %s",
			                 s->tmp_path, final, strerror(errno));
			free(final);
			return ret;
		}
		free(s->tmp_path);
		s->tmp_path = final;
	}
	/* after the copies: a copy may link the file a move renames */
	if ((ret = commit_moves(t, it)) < 0)
		return ret;
	return dbox_fsync_dir(st, t->box->dir);
}

/* Still under the index lock: a commit that failed puts moved files back
 * under their old names; either way the journal goes. A failed undo
 * keeps the journal for the next writer's recovery. */
static void sdbox_commit_end(struct mailferry_trans *t, bool committed)
{
	struct sdbox_trans *sx = t->fmt_data;
	bool undo_failed = false;

	if (sx == NULL || sx->journal == NULL)
		return;
	for (size_t i = 0; i < t->saves.count && !committed; i++) {
		struct dbox_save *s = &t->saves.items[i];
		const char *dir = s->moved_alt ? t->box->alt_dir : t->box->dir;
		char *from, *to;

		if (!s->moved)
			continue;
		from = uid_path(dir, s->uid);
		to = uid_path(dir, s->src_uid);
		if (rename(from, to) < 0) {
			dbox_api->log(t->box->st->ctx, MAILFERRY_LOG_ERROR,
			              "rename(%s, %s) failed: %s (the next "
			              "writer retries)",
			              from, to, strerror(errno));
			undo_failed = true;
		} else {
			s->moved = false;
		}
		free(from);
		free(to);
	}
	if (!committed && !undo_failed) {
		(void)dbox_fsync_dir(t->box->st, t->box->dir);
		if (t->box->alt_dir != NULL)
			(void)dbox_fsync_dir(t->box->st, t->box->alt_dir);
	}
	if (!undo_failed)
		(void)unlink(sx->journal);
	free(sx->journal);
	sx->journal = NULL;
}

static void sdbox_trans_free(struct mailferry_trans *t, bool committed)
{
	struct sdbox_trans *sx = t->fmt_data;

	if (t->writer_fd >= 0) {
		close(t->writer_fd);
		t->writer_fd = -1;
	}
	if (sx != NULL) {
		free(sx->journal);
		free(sx);
		t->fmt_data = NULL;
	}
	if (committed)
		return;
	for (size_t i = 0; i < t->saves.count; i++) {
		/* a move's tmp_path is NULL: its file is the message */
		if (t->saves.items[i].tmp_path != NULL)
			(void)unlink(t->saves.items[i].tmp_path);
	}
}

/* Copy the first size bytes of in to out. */
static int copy_bytes(int in, const char *in_path, int out,
                      const char *out_path, uint64_t size, char **error_r)
{
	char buf[65536];

	for (uint64_t off = 0; off < size;) {
		size_t n = (size_t)MF_MIN(size - off, (uint64_t)sizeof(buf));

		if (mf_pread_full(in, buf, n, (off_t)off) < 0) {
			*error_r = mf_strdup_printf("pread(%s) failed: %s",
			                            in_path, strerror(errno));
			return -1;
		}
		if (mf_write_full(out, buf, n) < 0) {
			*error_r = mf_strdup_printf("write(%s) failed: %s",
			                            out_path, strerror(errno));
			return -1;
		}
		off += n;
	}
	return 0;
}

/* Copy a message of the same storage: its file gets a second name (a hard
 * link, or a copy of the bytes where linking fails), saved like any
 * other. When the transaction also expunges the source, the commit moves
 * the file instead (commit_moves). The file keeps its metadata, so a
 * copy asking for other metadata is streamed by the core instead. */
static int sdbox_copy(struct mailferry_trans *t, struct mailferry_mailbox *src,
                      uint32_t src_uid, const struct mailferry_save *save)
{
	struct mailferry_storage *st = t->box->st;
	struct dbox_msg_loc loc;
	struct dbox_save *s;
	uint32_t seq = mf_index_lookup_uid(src->idx, src_uid);
	const char *guid, *uidl, *order;
	char *tmp = NULL;
	uint64_t v;
	int ret;

	if (seq == 0)
		return dbox_error(st, MAILFERRY_E_EXPUNGED,
		                  "mailbox %s: uid %u does not exist",
		                  src->name, src_uid);
	if (t->saving)
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "copy() while a save is open");
	mf_zero(&loc);
	loc.fd = -1;
	ret = sdbox_msg_locate(src, seq, src_uid, &loc);
	if (ret < 0)
		return ret;
	guid = dbox_metadata_get(&loc.msg.meta, 'G');
	uidl = dbox_metadata_get(&loc.msg.meta, 'P');
	order = dbox_metadata_get(&loc.msg.meta, 'O');
	if (!dbox_metadata_fits_save(&loc.msg.meta, save)) {
		dbox_msg_loc_free(&loc);
		return MAILFERRY_E_NOTSUPP;
	}
	if (save->uid != 0 && t->saves.count > 0 &&
	    save->uid <= t->saves.items[t->saves.count - 1].want_uid) {
		dbox_msg_loc_free(&loc);
		return dbox_error(st, MAILFERRY_E_INVALID,
		                  "wanted UIDs must ascend in a transaction "
		                  "(%u)",
		                  save->uid);
	}
	if (dbox_temp_link(t->box->dir, loc.path, &tmp) < 0) {
		/* another filesystem (ALT) or no hard links: copy */
		int fd;

		ret = dbox_temp_create(st, t->box->dir, &tmp, &fd);
		if (ret == 0) {
			struct stat sb;
			char *err = NULL;

			if (fstat(loc.fd, &sb) < 0)
				err =
				    mf_strdup_printf("fstat(%s) failed: %s",
				                     loc.path, strerror(errno));
			else
				(void)copy_bytes(loc.fd, loc.path, fd, tmp,
				                 (uint64_t)sb.st_size, &err);
			if (err != NULL)
				ret = dbox_error_take(
				    st, dbox_errno_code(errno), err);
			if (close(fd) < 0 && ret == 0)
				ret = dbox_error(st, dbox_errno_code(errno),
				                 "close(%s) failed: %s", tmp,
				                 strerror(errno));
			if (ret < 0) {
				(void)unlink(tmp);
				free(tmp);
			}
		}
		if (ret < 0) {
			dbox_msg_loc_free(&loc);
			return ret;
		}
	}
	s = mf_array_append_zero(&t->saves);
	s->want_uid = save->uid;
	s->flags = (uint8_t)(save->flags & MAILFERRY_FLAGS_MASK);
	if (save->keywords != NULL && save->keywords[0] != NULL) {
		size_t n = 0;
		while (save->keywords[n] != NULL)
			n++;
		s->keywords = mf_calloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			s->keywords[i] = mf_strdup(save->keywords[i]);
	}
	s->guid = mf_strdup(guid);
	s->received =
	    dbox_metadata_get_hex(&loc.msg.meta, 'R', &v) == 0 ? (int64_t)v : 0;
	s->min_modseq = save->min_modseq;
	s->pop3_uidl = uidl != NULL ? mf_strdup(uidl) : NULL;
	s->pop3_order = order != NULL ? (uint32_t)strtoul(order, NULL, 10) : 0;
	s->tmp_path = tmp;
	s->is_copy = true;
	s->src_uid = src_uid;
	s->src_same_box = strcmp(src->dir, t->box->dir) == 0;
	dbox_msg_loc_free(&loc);
	return 0;
}

static void sdbox_expunge_prepare(struct mailferry_mailbox *box,
                                  struct dbox_expunged *e)
{
	struct dbox_msg_loc loc;
	const char *guid;

	/* Dovecot writes a zero GUID here; the real one costs one small
	 * read and lets change-log readers match the expunge */
	mf_zero(&loc);
	loc.fd = -1;
	if (sdbox_msg_locate(box, e->seq, e->uid, &loc) < 0)
		return;
	guid = dbox_metadata_get(&loc.msg.meta, 'G');
	if (guid != NULL) {
		dbox_guid_128(guid, e->guid);
		e->have_guid = true;
	}
	dbox_msg_loc_free(&loc);
}

static int sdbox_expunge_finish(struct mailferry_mailbox *box,
                                const struct dbox_expunged *e, size_t count)
{
	int ret = 0;

	for (size_t i = 0; i < count; i++) {
		const char *dirs[2] = {box->dir, box->alt_dir};

		if (e[i].moved)
			continue; /* the file is the message's new UID's */
		for (int d = 0; d < 2 && dirs[d] != NULL; d++) {
			char *path = uid_path(dirs[d], e[i].uid);

			if (unlink(path) < 0 && errno != ENOENT && ret == 0)
				ret =
				    dbox_error(box->st, dbox_errno_code(errno),
				               "unlink(%s) failed: %s", path,
				               strerror(errno));
			free(path);
		}
	}
	return ret;
}

/* A writer opening a mailbox cleans up after killed runs: stale temp
 * files go, and u.<uid> files at or above next_uid (a save renamed but
 * never committed) are added to the index, never deleted: their bytes are
 * complete and durable, and the engine recognises them by UID and GUID
 * when it saves them again. Dovecot would otherwise stumble on them at its
 * next save and rebuild the index. */
static int sdbox_check_box(struct mailferry_mailbox *box)
{
	if (box->readonly)
		return 0;
	dbox_temp_clean(box->st, box->dir);
	return sdbox_resync_mode(box, true);
}

static const struct dbox_format sdbox_format = {
    .name = "sdbox",
    .hdr_ext = "dbox-hdr",
    .caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
            MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |
            MAILFERRY_CAP_CHANGE_LOG | MAILFERRY_CAP_MAILBOX_GUIDS |
            MAILFERRY_CAP_MAILBOX_LOG | MAILFERRY_CAP_KEYWORDS |
            MAILFERRY_CAP_POP3 | MAILFERRY_CAP_SUBSCRIPTIONS |
            MAILFERRY_CAP_SET_UIDVALIDITY,
    .msg_locate = sdbox_msg_locate,
    .msg_save_date = sdbox_msg_save_date,
    .check_box = sdbox_check_box,
    .save_begin = sdbox_save_begin,
    .save_finish = sdbox_save_finish,
    .save_cancel = sdbox_save_cancel,
    .commit_saves = sdbox_commit_saves,
    .expunge_prepare = sdbox_expunge_prepare,
    .expunge_finish = sdbox_expunge_finish,
    .commit_end = sdbox_commit_end,
    .trans_free = sdbox_trans_free,
    .copy = sdbox_copy,
    .resync = sdbox_resync,
};

static const struct mailferry_driver sdbox_driver = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_driver),
    .name = "sdbox",
    .version = PACKAGE_VERSION,
    .description = "Dovecot single-dbox (one file per message), "
                   "compatible with Dovecot 2.3",
    .caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
            MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |
            MAILFERRY_CAP_CHANGE_LOG | MAILFERRY_CAP_MAILBOX_GUIDS |
            MAILFERRY_CAP_MAILBOX_LOG | MAILFERRY_CAP_KEYWORDS |
            MAILFERRY_CAP_POP3 | MAILFERRY_CAP_SUBSCRIPTIONS |
            MAILFERRY_CAP_SET_UIDVALIDITY,
    .ops = &dbox_ops,
};

MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
{
	(void)core_abi_minor;
	dbox_register_format(&sdbox_format);
	return dbox_driver_entry(&sdbox_driver, api, core_abi_major);
}
