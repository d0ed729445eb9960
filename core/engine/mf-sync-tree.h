/* SPDX-License-Identifier: MIT */
/*
 * mf-sync-tree.h - the mailbox-tree sync's modules (private):
 *   mf-sync-tree-fill.c  reading a side's tree, filters, log timestamps
 *   mf-sync-tree-ops.c   one tree change on one side (or its dry-run line)
 *   mf-sync-tree.c       the merge: who deletes, renames, creates what
 */
#ifndef MF_SYNC_TREE_H
#define MF_SYNC_TREE_H

#include "mf-sync-private.h"

struct mf_tnode *mf_tree_node_by_name(struct mf_sync_side *s, const char *name);
struct mf_tnode *mf_tree_box_by_guid(struct mf_sync_side *s,
                                     const uint8_t guid[16]);
int mf_tree_fill_side(struct mf_sync_ctx *ctx, struct mf_sync_side *s);
int64_t mf_tree_log_ts(struct mf_sync_side *s, uint32_t type,
                       const char *canon);
void mf_tree_propagate_ts(struct mf_sync_side *s);
int mf_tree_op_failed(struct mf_sync_ctx *ctx, struct mf_sync_side *s, int ret,
                      const char *what, const char *name);
int mf_tree_delete(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                   struct mf_tnode *n);
/* Backup: INBOX of the destination that the source lacks is deleted where
 * the store allows it, else emptied in place. */
int mf_tree_delete_inbox(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                         struct mf_tnode *n);
bool mf_tree_has_children(struct mf_sync_side *s, const char *name);
int mf_tree_rename(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                   struct mf_tnode *n, const char *to);
struct mf_tnode *mf_tree_append_node(struct mf_sync_side *s, const char *canon,
                                     bool is_box, const uint8_t guid[16]);
int mf_tree_create(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                   const struct mf_tnode *from, const char *canon);
int mf_tree_set_guid(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                     struct mf_tnode *n, const uint8_t guid[16]);
/* The by-name identity of a mailbox: a 16-byte hash of its canonical
 * name, used in place of its GUID when ctx->by_name. */
void mf_tree_name_id(const char *canon, uint8_t id_r[16]);
int mf_tree_adopt(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                  struct mf_tnode *n, const struct mf_tnode *src);

#endif
