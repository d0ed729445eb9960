/* SPDX-License-Identifier: MIT */
/*
 * imapc-driver.c - the imapc driver's entry point and ops table: an IMAP
 * server as a mailferry store (source or destination).
 */
#include "imapc-private.h"

const struct mailferry_core_api *imapc_api;

static const struct mailferry_driver_ops imapc_ops = {
    .struct_size = sizeof(struct mailferry_driver_ops),
    .storage_open = imapc_storage_open,
    .storage_close = imapc_storage_close,
    .storage_info = imapc_storage_info,
    .mailbox_list_begin = imapc_mailbox_list_begin,
    .mailbox_list_next = imapc_mailbox_list_next,
    .mailbox_list_end = imapc_mailbox_list_end,
    .subscriptions_begin = imapc_subscriptions_begin,
    .subscriptions_next = imapc_subscriptions_next,
    .subscriptions_end = imapc_subscriptions_end,
    .mailbox_create = imapc_mailbox_create,
    .mailbox_delete = imapc_mailbox_delete,
    .mailbox_rename = imapc_mailbox_rename,
    .mailbox_set_subscribed = imapc_mailbox_set_subscribed,
    .mailbox_update = imapc_mailbox_update,
    .mailbox_open = imapc_mailbox_open,
    .mailbox_close = imapc_mailbox_close,
    .mailbox_status = imapc_mailbox_status,
    .msg_iter_begin = imapc_msg_iter_begin,
    .msg_iter_next = imapc_msg_iter_next,
    .msg_iter_end = imapc_msg_iter_end,
    .expunge_iter_begin = imapc_expunge_iter_begin,
    .expunge_iter_next = imapc_expunge_iter_next,
    .expunge_iter_end = imapc_expunge_iter_end,
    .msg_open = imapc_msg_open,
    .stream_read = imapc_stream_read,
    .stream_close = imapc_stream_close,
    .trans_begin = imapc_trans_begin,
    .save_begin = imapc_save_begin,
    .save_write = imapc_save_write,
    .save_finish = imapc_save_finish,
    .save_cancel = imapc_save_cancel,
    .update_flags = imapc_update_flags,
    .expunge = imapc_expunge,
    .trans_commit = imapc_trans_commit,
    .trans_rollback = imapc_trans_rollback,
};

static const struct mailferry_driver imapc_driver = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_driver),
    .name = "imapc",
    .version = PACKAGE_VERSION,
    .description = "IMAP server (imap://, imaps://, imapc:)",
    .caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_MODSEQ |
            MAILFERRY_CAP_CHANGE_LOG | MAILFERRY_CAP_KEYWORDS |
            MAILFERRY_CAP_SUBSCRIPTIONS,
    .ops = &imapc_ops,
};

MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
{
	/* our minor must not be newer than the core's */
	if (core_abi_major != MAILFERRY_ABI_MAJOR ||
	    (uint64_t)core_abi_minor + 1 < (uint64_t)MAILFERRY_ABI_MINOR + 1) {
		api->log(NULL, MAILFERRY_LOG_ERROR,
		         "imapc driver: built for ABI %d.%d, core has %u.%u",
		         MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR,
		         core_abi_major, core_abi_minor);
		return NULL;
	}
	imapc_api = api;
	return &imapc_driver;
}
