/* SPDX-License-Identifier: MIT */
/*
 * imapc-driver.c - the imapc driver's entry point and ops table: an IMAP
 * server as a mailferry store (source or destination).
 */
#include "imapc-private.h"

const struct mailferry_core_api *imapc_api;

/* Every slot but storage_open/close runs under the storage's lock, so the
 * keepalive thread (imapc_max_idle_time) never talks to the server while
 * the core is inside the driver. The wrappers below only take the lock
 * and call the real slot. */
#define ST(s) ((struct imapc_storage *)(s))
#define BOX(b) (((struct imapc_mailbox *)(b))->storage)

static int w_storage_info(struct mailferry_storage *s,
                          const struct mailferry_storage_info **info_r)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_storage_info(s, info_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_list_begin(struct mailferry_storage *s, uint32_t flags,
                                struct mailferry_list_iter **iter_r)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_list_begin(s, flags, iter_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_list_next(struct mailferry_list_iter *it,
                               const struct mailferry_mailbox_info **info_r)
{
	struct imapc_storage *st = imapc_list_iter_storage(it);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_list_next(it, info_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_list_end(struct mailferry_list_iter **it)
{
	if (*it == NULL)
		return 0;
	struct imapc_storage *st = imapc_list_iter_storage(*it);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_list_end(it);
	imapc_storage_leave(st);
	return ret;
}

static int w_subscriptions_begin(struct mailferry_storage *s,
                                 struct mailferry_subs_iter **iter_r)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_subscriptions_begin(s, iter_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_subscriptions_next(struct mailferry_subs_iter *it,
                                const char **name_r)
{
	struct imapc_storage *st = imapc_subs_iter_storage(it);

	imapc_storage_enter(st);
	int ret = imapc_subscriptions_next(it, name_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_subscriptions_end(struct mailferry_subs_iter **it)
{
	if (*it == NULL)
		return 0;
	struct imapc_storage *st = imapc_subs_iter_storage(*it);

	imapc_storage_enter(st);
	int ret = imapc_subscriptions_end(it);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_create(struct mailferry_storage *s, const char *name,
                            const struct mailferry_mailbox_create *params)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_create(s, name, params);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_delete(struct mailferry_storage *s, const char *name,
                            int directory)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_delete(s, name, directory);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_rename(struct mailferry_storage *s, const char *old_name,
                            const char *new_name)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_rename(s, old_name, new_name);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_set_subscribed(struct mailferry_storage *s,
                                    const char *name, int subscribed)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_set_subscribed(s, name, subscribed);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_update(struct mailferry_storage *s, const char *name,
                            const struct mailferry_mailbox_update *update)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_update(s, name, update);
	imapc_storage_leave(st);
	return ret;
}

static int w_mailbox_open(struct mailferry_storage *s, const char *name,
                          uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct imapc_storage *st = ST(s);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_open(s, name, flags, box_r);
	imapc_storage_leave(st);
	return ret;
}

static void w_mailbox_close(struct mailferry_mailbox **box)
{
	if (*box == NULL)
		return;
	struct imapc_storage *st = BOX(*box);

	imapc_storage_enter(st);
	imapc_mailbox_close(box);
	imapc_storage_leave(st);
}

static int w_mailbox_status(struct mailferry_mailbox *box,
                            struct mailferry_mailbox_status *status_r)
{
	struct imapc_storage *st = BOX(box);

	imapc_storage_enter(st);
	int ret = imapc_mailbox_status(box, status_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_msg_iter_begin(struct mailferry_mailbox *box,
                            const struct mailferry_msg_query *query,
                            struct mailferry_msg_iter **iter_r)
{
	struct imapc_storage *st = BOX(box);

	imapc_storage_enter(st);
	int ret = imapc_msg_iter_begin(box, query, iter_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_msg_iter_next(struct mailferry_msg_iter *it,
                           const struct mailferry_msg **msg_r)
{
	struct imapc_storage *st = imapc_msg_iter_storage(it);

	imapc_storage_enter(st);
	int ret = imapc_msg_iter_next(it, msg_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_msg_iter_end(struct mailferry_msg_iter **it)
{
	if (*it == NULL)
		return 0;
	struct imapc_storage *st = imapc_msg_iter_storage(*it);

	imapc_storage_enter(st);
	int ret = imapc_msg_iter_end(it);
	imapc_storage_leave(st);
	return ret;
}

static int w_expunge_iter_begin(struct mailferry_mailbox *box, uint64_t since,
                                struct mailferry_expunge_iter **iter_r)
{
	struct imapc_storage *st = BOX(box);

	imapc_storage_enter(st);
	int ret = imapc_expunge_iter_begin(box, since, iter_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_expunge_iter_next(struct mailferry_expunge_iter *it,
                               const struct mailferry_expunge **exp_r)
{
	struct imapc_storage *st = imapc_expunge_iter_storage(it);

	imapc_storage_enter(st);
	int ret = imapc_expunge_iter_next(it, exp_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_expunge_iter_end(struct mailferry_expunge_iter **it)
{
	if (*it == NULL)
		return 0;
	struct imapc_storage *st = imapc_expunge_iter_storage(*it);

	imapc_storage_enter(st);
	int ret = imapc_expunge_iter_end(it);
	imapc_storage_leave(st);
	return ret;
}

static int w_msg_open(struct mailferry_mailbox *box, uint32_t uid,
                      uint32_t flags, struct mailferry_stream **stream_r)
{
	struct imapc_storage *st = BOX(box);

	imapc_storage_enter(st);
	int ret = imapc_msg_open(box, uid, flags, stream_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_stream_read(struct mailferry_stream *stream, void *buf,
                         size_t size, size_t *size_r)
{
	struct imapc_storage *st = imapc_stream_storage(stream);

	imapc_storage_enter(st);
	int ret = imapc_stream_read(stream, buf, size, size_r);
	imapc_storage_leave(st);
	return ret;
}

static void w_stream_close(struct mailferry_stream **stream)
{
	if (*stream == NULL)
		return;
	struct imapc_storage *st = imapc_stream_storage(*stream);

	imapc_storage_enter(st);
	imapc_stream_close(stream);
	imapc_storage_leave(st);
}

static int w_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                         struct mailferry_trans **trans_r)
{
	struct imapc_storage *st = BOX(box);

	imapc_storage_enter(st);
	int ret = imapc_trans_begin(box, flags, trans_r);
	imapc_storage_leave(st);
	return ret;
}

static int w_save_begin(struct mailferry_trans *t,
                        const struct mailferry_save *save)
{
	struct imapc_storage *st = imapc_trans_storage(t);

	imapc_storage_enter(st);
	int ret = imapc_save_begin(t, save);
	imapc_storage_leave(st);
	return ret;
}

static int w_save_write(struct mailferry_trans *t, const void *data,
                        size_t size)
{
	struct imapc_storage *st = imapc_trans_storage(t);

	imapc_storage_enter(st);
	int ret = imapc_save_write(t, data, size);
	imapc_storage_leave(st);
	return ret;
}

static int w_save_finish(struct mailferry_trans *t)
{
	struct imapc_storage *st = imapc_trans_storage(t);

	imapc_storage_enter(st);
	int ret = imapc_save_finish(t);
	imapc_storage_leave(st);
	return ret;
}

static void w_save_cancel(struct mailferry_trans *t)
{
	struct imapc_storage *st = imapc_trans_storage(t);

	imapc_storage_enter(st);
	imapc_save_cancel(t);
	imapc_storage_leave(st);
}

static int w_update_flags(struct mailferry_trans *t,
                          const struct mailferry_uidset *uids,
                          enum mailferry_modify modify, uint32_t flags,
                          const char *const *keywords)
{
	struct imapc_storage *st = imapc_trans_storage(t);

	imapc_storage_enter(st);
	int ret = imapc_update_flags(t, uids, modify, flags, keywords);
	imapc_storage_leave(st);
	return ret;
}

static int w_expunge(struct mailferry_trans *t,
                     const struct mailferry_uidset *uids)
{
	struct imapc_storage *st = imapc_trans_storage(t);

	imapc_storage_enter(st);
	int ret = imapc_expunge(t, uids);
	imapc_storage_leave(st);
	return ret;
}

static int w_trans_commit(struct mailferry_trans **t,
                          struct mailferry_commit_result *result_r)
{
	if (*t == NULL)
		return 0;
	struct imapc_storage *st = imapc_trans_storage(*t);

	imapc_storage_enter(st);
	int ret = imapc_trans_commit(t, result_r);
	imapc_storage_leave(st);
	return ret;
}

static void w_trans_rollback(struct mailferry_trans **t)
{
	if (*t == NULL)
		return;
	struct imapc_storage *st = imapc_trans_storage(*t);

	imapc_storage_enter(st);
	imapc_trans_rollback(t);
	imapc_storage_leave(st);
}

static int w_copy(struct mailferry_trans *t, struct mailferry_mailbox *src,
                  uint32_t src_uid, const struct mailferry_save *save)
{
	struct imapc_storage *st = imapc_trans_storage(t);

	imapc_storage_enter(st);
	int ret = imapc_copy(t, src, src_uid, save);
	imapc_storage_leave(st);
	return ret;
}

static const struct mailferry_driver_ops imapc_ops = {
    .struct_size = sizeof(struct mailferry_driver_ops),
    .storage_open = imapc_storage_open,
    .storage_close = imapc_storage_close,
    .storage_info = w_storage_info,
    .mailbox_list_begin = w_mailbox_list_begin,
    .mailbox_list_next = w_mailbox_list_next,
    .mailbox_list_end = w_mailbox_list_end,
    .subscriptions_begin = w_subscriptions_begin,
    .subscriptions_next = w_subscriptions_next,
    .subscriptions_end = w_subscriptions_end,
    .mailbox_create = w_mailbox_create,
    .mailbox_delete = w_mailbox_delete,
    .mailbox_rename = w_mailbox_rename,
    .mailbox_set_subscribed = w_mailbox_set_subscribed,
    .mailbox_update = w_mailbox_update,
    .mailbox_open = w_mailbox_open,
    .mailbox_close = w_mailbox_close,
    .mailbox_status = w_mailbox_status,
    .msg_iter_begin = w_msg_iter_begin,
    .msg_iter_next = w_msg_iter_next,
    .msg_iter_end = w_msg_iter_end,
    .expunge_iter_begin = w_expunge_iter_begin,
    .expunge_iter_next = w_expunge_iter_next,
    .expunge_iter_end = w_expunge_iter_end,
    .msg_open = w_msg_open,
    .stream_read = w_stream_read,
    .stream_close = w_stream_close,
    .trans_begin = w_trans_begin,
    .save_begin = w_save_begin,
    .save_write = w_save_write,
    .save_finish = w_save_finish,
    .save_cancel = w_save_cancel,
    .update_flags = w_update_flags,
    .expunge = w_expunge,
    .trans_commit = w_trans_commit,
    .trans_rollback = w_trans_rollback,
    .copy = w_copy,
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
