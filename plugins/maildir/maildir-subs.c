/* SPDX-License-Identifier: MIT */
/* Subscriptions (the "subscriptions" file) and the mailbox change log
 * (dovecot.mailbox.log), both through core/index. */
#include <errno.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-mailbox-log.h"
#include "mf-subscriptions.h"
#include "maildir-storage.h"
#include "mf-utf7.h"

struct mailferry_subs_iter {
	char **names; /* UTF-8 */
	size_t count, pos;
};

struct mailferry_log_iter {
	struct mf_mailbox_log_rec *recs;
	uint32_t count, pos;
	struct mailferry_log_record rec;
};

static char *subs_path(struct mailferry_storage *storage)
{
	return mf_strdup_printf("%s/subscriptions",
	                        maildir_control_root(storage));
}

/* Read the file as storage names (mUTF-7, '/' between levels). */
static int subs_read(struct mailferry_storage *storage, char ***names_r,
                     uint32_t *count_r)
{
	char *path = subs_path(storage), *error = NULL;
	int ret = 0;

	if (mf_subscriptions_read(path, '/', names_r, count_r, &error) < 0) {
		ret = maildir_error(storage, maildir_errno_code(errno), "%s",
		                    error);
		free(error);
	}
	free(path);
	return ret;
}

int maildir_subs_begin(struct mailferry_storage *storage,
                       struct mailferry_subs_iter **iter_r)
{
	struct mailferry_subs_iter *iter;
	char **names = NULL;
	uint32_t count = 0;
	int ret = subs_read(storage, &names, &count);

	if (ret < 0)
		return ret;
	iter = mf_calloc(1, sizeof(*iter));
	iter->names = mf_calloc(count + 1, sizeof(char *));
	for (uint32_t i = 0; i < count; i++) {
		struct mf_buf buf = MF_BUF_INIT;

		if (mf_mutf7_to_utf8(names[i], &buf) < 0) {
			maildir_log_warning(storage,
			                    "subscriptions: '%s' is not valid "
			                    "modified UTF-7, listing it as is",
			                    names[i]);
			mf_buf_truncate(&buf, 0);
			mf_buf_append_str(&buf, names[i]);
		}
		iter->names[iter->count++] = mf_buf_detach(&buf);
	}
	mf_subscriptions_free(&names);
	*iter_r = iter;
	return 0;
}

int maildir_subs_next(struct mailferry_subs_iter *iter, const char **name_r)
{
	if (iter->pos >= iter->count)
		return 0;
	*name_r = iter->names[iter->pos++];
	return 1;
}

int maildir_subs_end(struct mailferry_subs_iter **iterp)
{
	struct mailferry_subs_iter *iter = *iterp;

	if (iter == NULL)
		return 0;
	for (size_t i = 0; i < iter->count; i++)
		free(iter->names[i]);
	free(iter->names);
	free(iter);
	*iterp = NULL;
	return 0;
}

int maildir_set_subscribed(struct mailferry_storage *storage, const char *name,
                           int subscribed)
{
	struct mf_buf enc = MF_BUF_INIT;
	struct maildir_dotlock *lock = NULL;
	char **names = NULL, *path = NULL, *error = NULL;
	uint32_t count = 0, found = UINT32_MAX;
	uint8_t guid[16];
	int ret;

	if (storage->readonly)
		return maildir_error(storage, MAILFERRY_E_PERM,
		                     "storage %s is read-only",
		                     storage->display);
	if (maildir_name_is_inbox(name))
		name = "INBOX";
	if (mf_utf8_to_mutf7(name, &enc) < 0) {
		mf_buf_free(&enc);
		return maildir_error(storage, MAILFERRY_E_INVALID,
		                     "mailbox name '%s' is not valid UTF-8",
		                     name);
	}
	path = subs_path(storage);
	ret = maildir_dotlock_take(path, &storage->perm,
	                           storage->lock_timeout_secs, 120, &lock,
	                           &error);
	if (ret <= 0) {
		ret = maildir_error(storage,
		                    ret == 0 ? MAILFERRY_E_INUSE
		                             : maildir_errno_code(errno),
		                    "%s", error);
		goto out;
	}
	if ((ret = subs_read(storage, &names, &count)) < 0)
		goto out;
	for (uint32_t i = 0; i < count; i++) {
		if (strcmp(names[i], mf_buf_str(&enc)) == 0)
			found = i;
	}
	if ((found != UINT32_MAX) == (subscribed != 0)) {
		ret = 0; /* nothing changes */
		goto out;
	}
	if (subscribed) {
		names = mf_reallocarray(names, count + 2, sizeof(char *));
		names[count++] = mf_strdup(mf_buf_str(&enc));
		names[count] = NULL;
	} else {
		free(names[found]);
		memmove(&names[found], &names[found + 1],
		        (count - found) * sizeof(char *));
		count--;
	}
	if (mf_subscriptions_write_perm(path, '/', (const char *const *)names,
	                                count, &storage->perm, &error) < 0) {
		ret = maildir_error(storage, maildir_errno_code(errno), "%s",
		                    error);
		goto out;
	}
	mf_mailbox_log_name_guid(name, guid);
	maildir_mailbox_log_add(storage,
	                        subscribed ? MF_MAILBOX_LOG_SUBSCRIBE
	                                   : MF_MAILBOX_LOG_UNSUBSCRIBE,
	                        guid);
	ret = 0;
out:
	maildir_dotlock_release(&lock);
	if (names != NULL)
		mf_subscriptions_free(&names);
	free(error);
	free(path);
	mf_buf_free(&enc);
	return ret;
}

int maildir_mlog_begin(struct mailferry_storage *storage,
                       struct mailferry_log_iter **iter_r)
{
	struct mailferry_log_iter *iter = mf_calloc(1, sizeof(*iter));
	char *path = mf_strdup_printf("%s/dovecot.mailbox.log",
	                              maildir_index_root(storage));
	char *error = NULL;

	if (mf_mailbox_log_read(path, &iter->recs, &iter->count, &error) < 0) {
		int ret = maildir_error(storage, MAILFERRY_E_TEMP, "%s", error);

		free(error);
		free(path);
		free(iter);
		return ret;
	}
	free(path);
	*iter_r = iter;
	return 0;
}

int maildir_mlog_next(struct mailferry_log_iter *iter,
                      const struct mailferry_log_record **rec_r)
{
	while (iter->pos < iter->count) {
		const struct mf_mailbox_log_rec *r = &iter->recs[iter->pos++];

		if (r->type < MAILFERRY_LOG_DELETE_MAILBOX ||
		    r->type > MAILFERRY_LOG_UNSUBSCRIBE)
			continue; /* create-dir: not part of ABI 1 */
		mf_zero(&iter->rec);
		iter->rec.struct_size = sizeof(iter->rec);
		iter->rec.type = r->type;
		memcpy(iter->rec.id, r->guid, 16);
		iter->rec.timestamp = r->timestamp;
		*rec_r = &iter->rec;
		return 1;
	}
	return 0;
}

int maildir_mlog_end(struct mailferry_log_iter **iterp)
{
	struct mailferry_log_iter *iter = *iterp;

	if (iter == NULL)
		return 0;
	free(iter->recs);
	free(iter);
	*iterp = NULL;
	return 0;
}
