/* SPDX-License-Identifier: MIT */
/* The journal of sdbox moves (see dbox-move.h for the reasoning). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "dbox-move.h"
#include "dbox-storage.h"
#include "dbox-temp.h"

#define DBOX_MOVE_HEADER "mailferry sdbox move journal 1\n"

int dbox_move_journal_write(struct mailferry_storage *st, const char *dir,
                            const struct dbox_move_pair *pairs, size_t count,
                            char **path_r)
{
	static unsigned int counter;
	struct mf_buf buf = MF_BUF_INIT;
	struct timeval tv;
	char *path = NULL;
	int fd = -1, ret = 0;

	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		gettimeofday(&tv, NULL);
		free(path);
		path =
		    mf_strdup_printf("%s/" DBOX_MOVE_PREFIX "%lld.%d.%u.%u",
		                     dir, (long long)tv.tv_sec, (int)getpid(),
		                     ++counter, (unsigned)tv.tv_usec);
		fd = mf_perm_open(&st->perm, path, O_WRONLY | O_CREAT | O_EXCL);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "open(%s) failed: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	mf_buf_append_str(&buf, DBOX_MOVE_HEADER);
	for (size_t i = 0; i < count; i++)
		mf_buf_printf(&buf, "%u %u\n", pairs[i].old_uid,
		              pairs[i].new_uid);
	if (mf_write_full(fd, buf.data, buf.len) < 0)
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "write(%s) failed: %s", path, strerror(errno));
	/* durable before the first rename it describes: a rename that
	 * survives a crash must never lack its journal line */
	if (ret == 0)
		ret = dbox_fsync_commit(st, fd, path);
	if (close(fd) < 0 && ret == 0)
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "close(%s) failed: %s", path, strerror(errno));
	if (ret == 0)
		ret = dbox_fsync_dir(st, dir);
	mf_buf_free(&buf);
	if (ret < 0) {
		(void)unlink(path);
		free(path);
		return ret;
	}
	*path_r = path;
	return 0;
}

/* The pairs of a journal; a line cut by a crash is no pair (the journal
 * was complete and durable before any rename). */
static int journal_read(const char *path, void *pairs_)
{
	MF_ARRAY(struct dbox_move_pair) *pairs = pairs_;
	struct mf_buf buf = MF_BUF_INIT;
	char *err = NULL;
	const char *p, *end;

	if (mf_file_read_all(path, &buf, &err) < 0) {
		free(err);
		return -1;
	}
	p = buf.data;
	end = p + buf.len;
	if (p == NULL || buf.len < strlen(DBOX_MOVE_HEADER) ||
	    strncmp(p, DBOX_MOVE_HEADER, strlen(DBOX_MOVE_HEADER)) != 0) {
		mf_buf_free(&buf);
		return 0;
	}
	p += strlen(DBOX_MOVE_HEADER);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		unsigned long o, n;
		char *e1, *e2;

		if (nl == NULL)
			break;
		o = strtoul(p, &e1, 10);
		n = *e1 == ' ' ? strtoul(e1 + 1, &e2, 10) : 0;
		if (*e1 == ' ' && e2 == nl && o > 0 && n > 0 &&
		    o < UINT32_MAX && n < UINT32_MAX) {
			struct dbox_move_pair pair = {(uint32_t)o, (uint32_t)n};
			mf_array_push(pairs, pair);
		}
		p = nl + 1;
	}
	mf_buf_free(&buf);
	return 0;
}

static bool file_exists(const char *path, struct stat *sb_r)
{
	return lstat(path, sb_r) == 0;
}

/* Undo one move in dir (primary or ALT). Returns 1 when something was
 * done, 0 when there was nothing, or an error. */
static int undo_move(struct mailferry_mailbox *box, const char *dir,
                     const struct dbox_move_pair *pair, bool old_indexed)
{
	char *old_path = mf_strdup_printf("%s/u.%u", dir, pair->old_uid);
	char *new_path = mf_strdup_printf("%s/u.%u", dir, pair->new_uid);
	struct stat old_sb, new_sb;
	int ret = 0;

	mf_zero(&old_sb);

	if (!file_exists(new_path, &new_sb)) {
		ret = 0;
	} else if (old_indexed && !file_exists(old_path, &old_sb)) {
		/* the index still has the old UID: the file goes back */
		if (rename(new_path, old_path) < 0)
			ret = dbox_error(box->st, dbox_errno_code(errno),
			                 "rename(%s, %s) failed: %s", new_path,
			                 old_path, strerror(errno));
		else
			ret = 1;
	} else if (!old_indexed || (old_sb.st_ino == new_sb.st_ino &&
	                            old_sb.st_dev == new_sb.st_dev)) {
		/* a second name of the message the index has at its old
		 * UID, or the message was expunged meanwhile (by Dovecot,
		 * whose expunge of the old UID found no file): either way
		 * no index may get it at the new UID */
		if (unlink(new_path) < 0 && errno != ENOENT)
			ret = dbox_error(box->st, dbox_errno_code(errno),
			                 "unlink(%s) failed: %s", new_path,
			                 strerror(errno));
		else
			ret = 1;
	} else {
		dbox_api->log(box->st->ctx, MAILFERRY_LOG_WARNING,
		              "mailbox %s: u.%u and u.%u are different files "
		              "after an interrupted move; left as they are",
		              box->name, pair->old_uid, pair->new_uid);
	}
	if (ret > 0)
		dbox_api->log(box->st->ctx, MAILFERRY_LOG_INFO,
		              "mailbox %s: undid the interrupted move of uid "
		              "%u to %u",
		              box->name, pair->old_uid, pair->new_uid);
	free(old_path);
	free(new_path);
	return ret;
}

int dbox_move_recover(struct mailferry_mailbox *box, char *const *names,
                      size_t count, bool *changed_r)
{
	struct mf_index *idx = box->idx;
	uint32_t next_uid = mf_index_get_header(idx)->next_uid;
	bool changed = false;
	int ret = 0;

	for (size_t i = 0; i < count && ret == 0; i++) {
		MF_ARRAY(struct dbox_move_pair) pairs = MF_ARRAY_INIT;
		char *path = mf_strdup_printf("%s/%s", box->dir, names[i]);

		if (journal_read(path, &pairs) < 0) {
			free(path);
			continue; /* gone meanwhile */
		}
		for (size_t j = 0; j < pairs.count && ret == 0; j++) {
			const struct dbox_move_pair *p = &pairs.items[j];
			const char *dirs[2] = {box->dir, box->alt_dir};
			bool old_in = mf_index_lookup_uid(idx, p->old_uid) != 0;

			/* committed (the new UID is indexed), or a new UID
			 * below next_uid that is not: someone else's */
			if (mf_index_lookup_uid(idx, p->new_uid) != 0 ||
			    p->new_uid < next_uid)
				continue;
			for (int d = 0; d < 2 && dirs[d] != NULL && ret == 0;
			     d++) {
				int r = undo_move(box, dirs[d], p, old_in);
				if (r < 0)
					ret = r;
				else if (r > 0)
					changed = true;
			}
		}
		mf_array_free(&pairs);
		if (ret == 0 && changed) {
			ret = dbox_fsync_dir(box->st, box->dir);
			if (ret == 0 && box->alt_dir != NULL)
				ret = dbox_fsync_dir(box->st, box->alt_dir);
		}
		if (ret == 0 && unlink(path) < 0 && errno != ENOENT)
			ret = dbox_error(box->st, dbox_errno_code(errno),
			                 "unlink(%s) failed: %s", path,
			                 strerror(errno));
		free(path);
	}
	*changed_r = changed;
	return ret;
}

bool dbox_move_lookup(const char *dir, uint32_t uid, uint32_t *new_uid_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	while (d != NULL && !found && (de = readdir(d)) != NULL) {
		MF_ARRAY(struct dbox_move_pair) pairs = MF_ARRAY_INIT;
		char *path;

		if (!mf_str_begins(de->d_name, DBOX_MOVE_PREFIX))
			continue;
		path = mf_strdup_printf("%s/%s", dir, de->d_name);
		if (journal_read(path, &pairs) == 0) {
			for (size_t i = 0; i < pairs.count && !found; i++) {
				if (pairs.items[i].old_uid == uid) {
					*new_uid_r = pairs.items[i].new_uid;
					found = true;
				}
			}
		}
		mf_array_free(&pairs);
		free(path);
	}
	if (d != NULL)
		closedir(d);
	return found;
}
