/* SPDX-License-Identifier: MIT */
/* The save journal: see maildir-journal.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "maildir-journal.h"
#include "maildir-storage.h"

static char *journal_path(const char *control_dir)
{
	return mf_strdup_printf("%s/" MAILDIR_JOURNAL_NAME, control_dir);
}

bool maildir_journal_exists(const char *control_dir)
{
	char *path = journal_path(control_dir);
	struct stat st;
	bool exists = lstat(path, &st) == 0 || errno != ENOENT;

	free(path);
	return exists;
}

int maildir_journal_write(struct mailferry_mailbox *box,
                          const struct mf_buf *lines, bool do_fsync)
{
	struct mf_buf buf = MF_BUF_INIT;
	char *path = journal_path(box->control_dir), *error = NULL;
	int ret = 0;

	maildir_uidlist_format_header(&box->uidlist, &buf);
	mf_buf_append(&buf, lines->data, lines->len);
	if (mf_perm_write_atomic(&box->perm, path, buf.data, buf.len, do_fsync,
	                         &error) < 0) {
		ret = maildir_error(box->storage, maildir_errno_code(errno),
		                    "%s", error);
		free(error);
	}
	mf_buf_free(&buf);
	free(path);
	return ret;
}

static int cmp_rec_base(const void *a, const void *b)
{
	const struct maildir_uidlist_rec *ra = a, *rb = b;

	return strcmp(ra->base, rb->base);
}

int maildir_journal_read(struct mailferry_mailbox *box,
                         struct maildir_uidlist *j)
{
	char *path = journal_path(box->control_dir), *error = NULL;
	int ret = 0;

	mf_zero(j);
	if (maildir_uidlist_read(j, path, &box->storage->warn, &error) < 0) {
		ret = maildir_error(box->storage, maildir_errno_code(errno),
		                    "%s", error);
		free(error);
	} else if (j->version != 0) {
		/* (a header that is not version 3 leaves no records: the
		 * file is then just removed) */
		mf_array_sort(&j->recs, cmp_rec_base);
		ret = 1;
	}
	free(path);
	return ret;
}

const struct maildir_uidlist_rec *
maildir_journal_find(const struct maildir_uidlist *j, const char *base)
{
	struct maildir_uidlist_rec key;

	if (j == NULL || j->recs.count == 0)
		return NULL;
	mf_zero(&key);
	key.base = (char *)base;
	return mf_bsearch(&key, j->recs.items, j->recs.count, sizeof(key),
	                  cmp_rec_base);
}

void maildir_journal_remove(struct mailferry_mailbox *box)
{
	char *path = journal_path(box->control_dir);

	if (unlink(path) < 0 && errno != ENOENT)
		maildir_log_warning(box->storage, "unlink(%s) failed: %s", path,
		                    strerror(errno));
	free(path);
}
