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

static char *uid_path(const char *dir, uint32_t uid)
{
	return mf_strdup_printf("%s/u.%u", dir, uid);
}

/* Open u.<uid> in the primary, then the alternate storage. */
static int sdbox_open_file(struct mailferry_mailbox *box, uint32_t uid,
                           int *fd_r, char **path_r)
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

/* Under the index lock with UIDs assigned: make every file durable and
 * give it its u.<uid> name. The index commit follows; if it fails,
 * trans_free removes the renamed files again. */
static int sdbox_commit_saves(struct mailferry_trans *t,
                              struct mf_index_trans *it)
{
	struct mailferry_storage *st = t->box->st;
	int ret;

	(void)it;
	for (size_t i = 0; i < t->saves.count; i++) {
		struct dbox_save *s = &t->saves.items[i];
		char *final = uid_path(t->box->dir, s->uid);

		if (st->set.fsync == DBOX_FSYNC_OPTIMIZED &&
		    (ret = dbox_fsync_path(st, s->tmp_path)) < 0) {
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
	return dbox_fsync_dir(st, t->box->dir);
}

static void sdbox_trans_free(struct mailferry_trans *t, bool committed)
{
	if (t->writer_fd >= 0) {
		close(t->writer_fd);
		t->writer_fd = -1;
	}
	if (committed)
		return;
	for (size_t i = 0; i < t->saves.count; i++) {
		if (t->saves.items[i].tmp_path != NULL)
			(void)unlink(t->saves.items[i].tmp_path);
	}
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
    .trans_free = sdbox_trans_free,
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
