/* SPDX-License-Identifier: MIT */
/* The ops table both dbox drivers export; format-specific slots (copy,
 * purge, force_resync) dispatch through struct dbox_format. */
#include "dbox-ops.h"
#include "dbox-resync.h"

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
