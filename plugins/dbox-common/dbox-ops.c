/* SPDX-License-Identifier: MIT */
/* The ops table both dbox drivers export; format-specific slots (copy,
 * purge, force_resync) dispatch through struct dbox_format. */
#include "dbox-storage.h"

/* Defined in the dbox-*.c files; declared here only, as nothing else
 * calls them directly. */
int dbox_storage_open(struct mailferry_ctx *ctx,
                      const struct mailferry_open_params *params,
                      struct mailferry_storage **storage_r);
void dbox_storage_close(struct mailferry_storage **st);
int dbox_storage_info(struct mailferry_storage *st,
                      const struct mailferry_storage_info **info_r);
int dbox_mailbox_list_begin(struct mailferry_storage *st, uint32_t flags,
                            struct mailferry_list_iter **iter_r);
int dbox_mailbox_list_next(struct mailferry_list_iter *it,
                           const struct mailferry_mailbox_info **info_r);
int dbox_mailbox_list_end(struct mailferry_list_iter **it);
int dbox_mailbox_log_begin(struct mailferry_storage *st,
                           struct mailferry_log_iter **iter_r);
int dbox_mailbox_log_next(struct mailferry_log_iter *it,
                          const struct mailferry_log_record **rec_r);
int dbox_mailbox_log_end(struct mailferry_log_iter **it);
int dbox_subscriptions_begin(struct mailferry_storage *st,
                             struct mailferry_subs_iter **iter_r);
int dbox_subscriptions_next(struct mailferry_subs_iter *it,
                            const char **name_r);
int dbox_subscriptions_end(struct mailferry_subs_iter **it);
int dbox_mailbox_create(struct mailferry_storage *st, const char *name,
                        const struct mailferry_mailbox_create *params);
int dbox_mailbox_delete(struct mailferry_storage *st, const char *name,
                        int directory);
int dbox_mailbox_rename(struct mailferry_storage *st, const char *old_name,
                        const char *new_name);
int dbox_mailbox_set_subscribed(struct mailferry_storage *st, const char *name,
                                int subscribed);
int dbox_mailbox_update(struct mailferry_storage *st, const char *name,
                        const struct mailferry_mailbox_update *u);
int dbox_mailbox_open(struct mailferry_storage *st, const char *name,
                      uint32_t flags, struct mailferry_mailbox **box_r);
void dbox_mailbox_close(struct mailferry_mailbox **box);
int dbox_mailbox_status(struct mailferry_mailbox *box,
                        struct mailferry_mailbox_status *status_r);
int dbox_msg_iter_begin(struct mailferry_mailbox *box,
                        const struct mailferry_msg_query *query,
                        struct mailferry_msg_iter **iter_r);
int dbox_msg_iter_next(struct mailferry_msg_iter *it,
                       const struct mailferry_msg **msg_r);
int dbox_msg_iter_end(struct mailferry_msg_iter **it);
int dbox_expunge_iter_begin(struct mailferry_mailbox *box, uint64_t since,
                            struct mailferry_expunge_iter **iter_r);
int dbox_expunge_iter_next(struct mailferry_expunge_iter *it,
                           const struct mailferry_expunge **exp_r);
int dbox_expunge_iter_end(struct mailferry_expunge_iter **it);
int dbox_msg_open(struct mailferry_mailbox *box, uint32_t uid, uint32_t flags,
                  struct mailferry_stream **stream_r);
int dbox_stream_read(struct mailferry_stream *s, void *buf, size_t size,
                     size_t *size_r);
void dbox_stream_close(struct mailferry_stream **s);
int dbox_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                     struct mailferry_trans **trans_r);
int dbox_save_begin(struct mailferry_trans *t,
                    const struct mailferry_save *save);
int dbox_save_write(struct mailferry_trans *t, const void *data, size_t size);
int dbox_save_finish(struct mailferry_trans *t);
void dbox_save_cancel(struct mailferry_trans *t);
int dbox_update_flags(struct mailferry_trans *t,
                      const struct mailferry_uidset *uids,
                      enum mailferry_modify modify, uint32_t flags,
                      const char *const *keywords);
int dbox_update_modseq(struct mailferry_trans *t, uint32_t uid,
                       uint64_t min_modseq);
int dbox_expunge(struct mailferry_trans *t,
                 const struct mailferry_uidset *uids);
int dbox_trans_commit(struct mailferry_trans **t,
                      struct mailferry_commit_result *result_r);
void dbox_trans_rollback(struct mailferry_trans **t);

static int dbox_copy(struct mailferry_trans *t, struct mailferry_mailbox *src,
                     uint32_t src_uid, const struct mailferry_save *save)
{
	if (t->box->st->fmt->copy == NULL)
		return MAILFERRY_E_NOTSUPP;
	return t->box->st->fmt->copy(t, src, src_uid, save);
}

static int dbox_purge(struct mailferry_storage *st)
{
	if (st->fmt->purge == NULL)
		return 0; /* nothing to reclaim: sdbox unlinks at expunge */
	if (st->readonly)
		return dbox_error(st, MAILFERRY_E_PERM, "%s is read-only",
		                  st->display);
	return st->fmt->purge(st);
}

int dbox_force_resync(struct mailferry_storage *st, const char *name);

const struct mailferry_driver_ops dbox_ops = {
    .struct_size = sizeof(struct mailferry_driver_ops),
    .storage_open = dbox_storage_open,
    .storage_close = dbox_storage_close,
    .storage_info = dbox_storage_info,
    .mailbox_list_begin = dbox_mailbox_list_begin,
    .mailbox_list_next = dbox_mailbox_list_next,
    .mailbox_list_end = dbox_mailbox_list_end,
    .mailbox_log_begin = dbox_mailbox_log_begin,
    .mailbox_log_next = dbox_mailbox_log_next,
    .mailbox_log_end = dbox_mailbox_log_end,
    .subscriptions_begin = dbox_subscriptions_begin,
    .subscriptions_next = dbox_subscriptions_next,
    .subscriptions_end = dbox_subscriptions_end,
    .mailbox_create = dbox_mailbox_create,
    .mailbox_delete = dbox_mailbox_delete,
    .mailbox_rename = dbox_mailbox_rename,
    .mailbox_set_subscribed = dbox_mailbox_set_subscribed,
    .mailbox_update = dbox_mailbox_update,
    .mailbox_open = dbox_mailbox_open,
    .mailbox_close = dbox_mailbox_close,
    .mailbox_status = dbox_mailbox_status,
    .msg_iter_begin = dbox_msg_iter_begin,
    .msg_iter_next = dbox_msg_iter_next,
    .msg_iter_end = dbox_msg_iter_end,
    .expunge_iter_begin = dbox_expunge_iter_begin,
    .expunge_iter_next = dbox_expunge_iter_next,
    .expunge_iter_end = dbox_expunge_iter_end,
    .msg_open = dbox_msg_open,
    .stream_read = dbox_stream_read,
    .stream_close = dbox_stream_close,
    .trans_begin = dbox_trans_begin,
    .save_begin = dbox_save_begin,
    .save_write = dbox_save_write,
    .save_finish = dbox_save_finish,
    .save_cancel = dbox_save_cancel,
    .update_flags = dbox_update_flags,
    .update_modseq = dbox_update_modseq,
    .expunge = dbox_expunge,
    .trans_commit = dbox_trans_commit,
    .trans_rollback = dbox_trans_rollback,
    .copy = dbox_copy,
    .msg_get_path = NULL,
    .save_from_path = NULL,
    .purge = dbox_purge,
    .force_resync = dbox_force_resync,
    .ctl = NULL,
};
