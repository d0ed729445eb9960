/* SPDX-License-Identifier: MIT */
/*
 * dbox-ops.h - the functions behind the slots of dbox_ops (dbox-ops.c),
 * implemented in dbox-storage.c, dbox-list.c, dbox-mailbox.c and
 * dbox-trans.c. Each follows the contract of its slot in driver.h.
 */
#ifndef DBOX_OPS_H
#define DBOX_OPS_H

#include "dbox-storage.h"

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
int dbox_mailbox_status_fill(struct mailferry_mailbox *box,
                             struct mailferry_mailbox_status *status_r);
void dbox_register_format(const struct dbox_format *fmt);

#endif
