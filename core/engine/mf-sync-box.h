/* SPDX-License-Identifier: MIT */
/*
 * mf-sync-box.h - the per-mailbox message sync, shared by its modules:
 *   mf-sync-msgs.c   one mailbox from open to state (the driver of it all)
 *   mf-sync-read.c   reading both sides' message lists (full / changes)
 *   mf-sync-merge.c  deciding: last common UID, flags, expunges, new mails
 *   mf-sync-apply.c  doing: saves in batches, flag changes, expunges
 *   mf-sync-kw.c     interned keyword sets and the per-keyword merge
 *
 * Memory: one compact struct mf_box_msg per message and side (UID, flags,
 * keyword-set index, modseq, 16-byte id), never a body.
 */
#ifndef MF_SYNC_BOX_H
#define MF_SYNC_BOX_H

#include "mf-sync-private.h"

#define CHUNK_SIZE (64 * 1024)

struct mf_box_msg {
	uint32_t uid;
	uint32_t flags, flags_add, flags_rm;
	uint32_t kw, kw_add, kw_rm; /* keyword-set indexes, 0 = none */
	uint32_t guid_str;          /* pool offset + 1, 0 = 128-bit hex */
	uint32_t size;              /* physical size for -v (clamped), 0 */
	uint64_t modseq;
	int64_t received;
	uint8_t id[16];
};

/* Interned keyword sets: set i is sets.items[i], a sorted NULL-terminated
 * array; set 0 is the empty set. */
struct mf_kwsets {
	MF_ARRAY(char **) sets;
	MF_ARRAY(uint32_t) hash; /* open addressing: set index + 1, 0 = free */
};

struct mf_box_exp {
	uint32_t uid;
	uint32_t seq; /* read order: later records win */
	bool have_guid;
	uint8_t guid[16];
};

struct mf_box_side {
	struct mf_sync_side *s;
	struct mf_tnode *node;
	struct mailferry_mailbox *box; /* NULL when planned (dry run) */
	struct mailferry_mailbox_status st;
	MF_ARRAY(struct mf_box_msg) msgs;
	MF_ARRAY(struct mf_box_exp) exps;
	MF_ARRAY(uint32_t) by_id; /* msgs indexes sorted by id */
	bool have_exps;
	struct mf_buf pool;
	/* changes to make */
	MF_ARRAY(struct mf_save_op) saves;
	MF_ARRAY(struct mf_flag_op) flag_ops;
	MF_ARRAY(uint32_t) expunges;  /* includes moves' old UIDs */
	MF_ARRAY(uint32_t) moved_out; /* old UIDs expunged with their move */
	uint32_t saved_count;
	/* Saves here take the UID the store gives (it cannot keep wanted
	 * UIDs, or cannot go below its UIDNEXT any more); their op->uid is
	 * then only the order to save them in. */
	bool any_uid;
	uint32_t start_uidnext;    /* UIDNEXT when the sync began */
	uint64_t start_modseq;     /* HIGHESTMODSEQ when the sync began */
	uint32_t applied_expunges; /* expunges this run made here */
};

struct mf_save_op {
	uint32_t uid;      /* wanted UID (0: skipped) */
	uint32_t got_uid;  /* the UID the store reported, 0 = unknown */
	uint8_t from_side; /* where the body is */
	uint32_t from_uid;
	uint32_t from_idx; /* index into that side's msgs */
	/* a move inside this mailbox: the copy and the expunge of from_uid
	 * go into one transaction, so that a crash leaves the message at
	 * one of its UIDs, never at both (driver.h, copy) */
	bool move;
	uint32_t flags;
	uint32_t kw;
	uint64_t min_modseq;
};

struct mf_flag_op {
	uint32_t uid;
	uint32_t flags;
	uint32_t kw;
	uint64_t min_modseq;
};

struct mf_box_sync {
	struct mf_sync_ctx *ctx;
	struct mf_box_side b[2];
	struct mf_kwsets kw;
	bool stateful;
	uint32_t lcu; /* last common UID */
	/* per side: the state's modseq after which its changes are new to
	 * the other side (0 without a state) */
	uint64_t since[2];
	uint64_t start_modseq;
	uint32_t next_uid;
	bool anomaly;  /* stateful data did not add up: redo in full */
	bool recreate; /* backup: the destination must be rebuilt */
	/* UIDs are not kept on some side that receives messages: messages
	 * are matched by identity, existing ones are never moved */
	bool ids;
	/* a save batch was not committed: moves are incomplete, so no
	 * expunges (they could remove a move's only copy) */
	bool saves_aborted;
};

/* mf-sync-kw.c */
void mf_kw_init(struct mf_kwsets *k);
uint32_t mf_kw_intern(struct mf_kwsets *k, const char *const *kws);
void mf_kw_free(struct mf_kwsets *k);
uint32_t mf_kw_merge(struct mf_kwsets *k, const struct mf_box_msg *l,
                     const struct mf_box_msg *r, bool prefer_local);

/* mf-sync-read.c */
const char *mf_box_guid_str(const struct mf_box_side *b,
                            const struct mf_box_msg *m,
                            char buf[MF_GUID128_HEX_LEN]);
struct mf_box_msg *mf_box_msg_find(struct mf_box_side *b, uint32_t uid);
const struct mf_box_exp *mf_box_exp_find(const struct mf_box_side *b,
                                         uint32_t uid);
uint32_t mf_box_query_fields(const struct mf_box_sync *bs);
void mf_box_query_init(struct mailferry_msg_query *q, uint32_t fields);
int mf_box_read_full(struct mf_box_sync *bs, struct mf_box_side *b);
int mf_box_cmp_u32(const void *x, const void *y);
int mf_box_read_incremental(struct mf_box_sync *bs);

/* mf-sync-merge.c */
void mf_box_find_last_common(struct mf_box_sync *bs);
void mf_box_merge_common(struct mf_box_sync *bs);
void mf_box_merge_new(struct mf_box_sync *bs);
void mf_box_merge_backup(struct mf_box_sync *bs);
void mf_box_merge_backup_ids(struct mf_box_sync *bs);
uint32_t mf_box_verified_lcu(struct mf_box_sync *bs);

/* mf-sync-apply.c */
const char *mf_box_side_err(struct mf_box_side *b);
int mf_box_apply_saves(struct mf_box_sync *bs, int di);
int mf_box_apply_changes(struct mf_box_sync *bs, int di);

/* mf-sync-msgs.c */
int mf_box_refresh_status(struct mf_box_side *b);

#endif
