/* SPDX-License-Identifier: MIT */
/*
 * mf-sync-box.h - the per-mailbox message sync, shared by its modules:
 *   mf-sync-msgs.c   one mailbox from open to state (the driver of it all)
 *   mf-sync-stream.c the windowed walk: both sides read in ascending UID
 *                    order a window at a time, decided and applied as it
 *                    goes (the common part, one-sided new mail, backup)
 *   mf-sync-read.c   reading message lists (a query, full / changes)
 *   mf-sync-merge.c  deciding: last common UID, flags, expunges, new mails
 *   mf-sync-uids.c   UIDs for new mail both sides have above the last
 *                    common UID (dsync's conflict numbering), in memory
 *   mf-sync-spill.c  the same through temporary files, for what does not
 *                    fit a window, and by-identity syncs and backups
 *   mf-sync-apply.c  doing: saves in batches, flag changes, expunges
 *   mf-sync-kw.c     interned keyword sets and the per-keyword merge
 *
 * Memory: one compact struct mf_box_msg per message and side (UID, flags,
 * keyword-set index, modseq, 16-byte id), never a body, and only for a
 * window of messages (mf_sync_params.window per side); new mail on both
 * sides above the last common UID and by-identity two-way syncs are
 * merged through temporary files (mf-sync-spill.c), and so are
 * by-identity backups into a non-empty destination (see
 * doc/architecture.md, "Memory").
 */
#ifndef MF_SYNC_BOX_H
#define MF_SYNC_BOX_H

#include "mf-sync-private.h"

#define CHUNK_SIZE (64 * 1024)
/* messages per side and window when mf_sync_params.window is 0 */
#define MF_SYNC_WINDOW_DEFAULT 10000

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

/* An expunge planned but not made yet: until it is made, the message can
 * still be copied inside its mailbox instead of transferred (dsync's
 * "local instance"). */
struct mf_box_pend {
	uint32_t uid;
	uint8_t id[16];
};

struct mf_box_side {
	struct mf_sync_side *s;
	struct mf_tnode *node;
	struct mailferry_mailbox *box; /* NULL when planned (dry run) */
	struct mailferry_mailbox_status st;
	/* the messages read: the current window of the cursor below, or a
	 * whole list (in-memory parts), sorted by UID */
	MF_ARRAY(struct mf_box_msg) msgs;
	MF_ARRAY(struct mf_box_exp) exps;
	MF_ARRAY(uint32_t) by_id; /* msgs indexes sorted by id */
	bool by_id_valid;
	bool have_exps;
	struct mf_buf pool;
	/* cursor over [cur_next, cur_last] in UID order: msgs[cur_pos..]
	 * are read but not consumed yet */
	uint32_t cur_next, cur_last;
	size_t cur_pos;
	bool cur_done;
	uint32_t cur_span; /* UIDs per query, adapted to the density */
	/* a dry run "recreated" this mailbox: it reads as empty */
	bool emptied;
	/* changes to make */
	MF_ARRAY(struct mf_save_op) saves;
	MF_ARRAY(struct mf_flag_op) flag_ops;
	MF_ARRAY(uint32_t) expunges; /* planned, not made yet (no moves) */
	MF_ARRAY(struct mf_box_pend) pend; /* the same with their ids */
	MF_ARRAY(uint32_t) pend_hash;      /* pend index + 1 by id, 0 free */
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
	/* the message record this save makes a copy of (GUID, size for
	 * notes and progress): msgs[msg_idx] of side msg_side, valid until
	 * the plan is carried out */
	uint8_t msg_side;
	uint32_t msg_idx;
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

struct mf_spill;

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
	/* a save batch was not committed: the mailbox is left as it is
	 * (the next run, a full one, finishes it) */
	bool saves_aborted;
	/* messages per side read at a time */
	size_t window;
	/* planned expunges carried out once this many are waiting */
	size_t pend_max;
	/* the plans were carried out window by window and are gone */
	bool streamed;
	/* the merge through temporary files (mf-sync-spill.c), owned; kept
	 * until the state is made (by identity it knows what was saved) */
	struct mf_spill *spill;
	/* saves and moves planned, and what the progress total counts of
	 * this mailbox */
	uint64_t planned, progress_msgs;
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
/* Append the messages of q to b->msgs, at most limit (0: all) of them;
 * *full_r (may be NULL) tells whether it stopped at the limit. */
int mf_box_read_msgs(struct mf_box_sync *bs, struct mf_box_side *b,
                     const struct mailferry_msg_query *q, size_t limit,
                     bool *full_r);
/* Sort b->msgs by UID and drop later duplicates. */
void mf_box_msgs_normalize(struct mf_box_side *b);
int mf_box_read_expunges(struct mf_box_sync *bs, struct mf_box_side *b,
                         uint64_t since);
int mf_box_cmp_u32(const void *x, const void *y);
/* Stateful read of the changes at or below the last common UID, and
 * with above every message above it too. */
int mf_box_read_incremental(struct mf_box_sync *bs, bool above);

/* mf-sync-merge.c */
bool mf_box_id_equal(const struct mf_box_msg *a, const struct mf_box_msg *b);
void mf_box_add_flag_op(struct mf_box_side *b, uint32_t uid, uint32_t flags,
                        uint32_t kw, uint64_t min_modseq);
/* The flags and keywords both sides get for a message both have (l the
 * local instance, r the remote one). */
void mf_box_merge_flags(struct mf_box_sync *bs, const struct mf_box_msg *l,
                        const struct mf_box_msg *r, uint32_t *flags_r,
                        uint32_t *kw_r);
void mf_box_set_common_flags(struct mf_box_sync *bs, const struct mf_box_msg *l,
                             const struct mf_box_msg *r);
/* Plan the expunge of uid (message id) on b. */
void mf_box_pend_add(struct mf_box_side *b, uint32_t uid, const uint8_t id[16]);
void mf_box_pend_clear(struct mf_box_side *b);
bool mf_box_save_filtered(struct mf_box_sync *bs, const struct mf_box_msg *m);
/* A message of side b with this id that still exists when b's planned
 * saves are made: one of b->msgs or a planned expunge. */
bool mf_box_copy_source(struct mf_box_side *b, const uint8_t id[16],
                        uint32_t *uid_r);
/* Plan message src (of side src_side) at UID final on side `side`,
 * which has it as have_here already or not (NULL). */
void mf_box_plan_instance(struct mf_box_sync *bs, int side, uint32_t final,
                          const struct mf_box_msg *have_here, int src_side,
                          const struct mf_box_msg *src, uint32_t flags,
                          uint32_t kw, uint64_t modseq);
/* Backup: plan a source message the destination lacks. Returns false
 * when the destination has to be rebuilt (bs->recreate set). */
bool mf_box_backup_save(struct mf_box_sync *bs, const struct mf_box_msg *s);
void mf_box_merge_common(struct mf_box_sync *bs);
void mf_box_merge_new(struct mf_box_sync *bs);
void mf_box_merge_backup_ids(struct mf_box_sync *bs);
/* Backup by identity into an empty destination: save source message s
 * (unless a filter skips it) with whatever UID the destination gives. */
void mf_box_backup_ids_save(struct mf_box_sync *bs, const struct mf_box_msg *s);
uint32_t mf_box_verified_lcu(struct mf_box_sync *bs);

/* mf-sync-apply.c */
const char *mf_box_side_err(struct mf_box_side *b);
int mf_box_apply_saves(struct mf_box_sync *bs, int di);
/* Flag changes, and with expunges the planned expunges too. */
int mf_box_apply_changes(struct mf_box_sync *bs, int di, bool expunges);

/* mf-sync-stream.c */
/* Carry out both sides' planned saves and flag changes, and the planned
 * expunges when all is set or too many are waiting; then forget them. */
int mf_box_flush(struct mf_box_sync *bs, bool all);
/* Side i's next unconsumed message of its cursor (NULL at the end);
 * reading a new window carries out the plans first. */
int mf_box_cur_peek(struct mf_box_sync *bs, int i, struct mf_box_msg **m_r);
/* Carry out every plan (saves, flags, expunges) and keep the plans. */
int mf_box_apply_all(struct mf_box_sync *bs);
/* The windowed sync of one mailbox (everything but by-identity syncs):
 * decides and applies. Returns 1 when a saved state turned out not to
 * match before anything was changed (redo it without), 0 (see
 * bs->recreate) or a negative error. */
int mf_box_sync_stream(struct mf_box_sync *bs,
                       const struct mf_sync_box_state *state);
/* Whether the saved state can be used; if so bs->stateful is set and the
 * changes are read (with above, also everything above the last common
 * UID). */
/* Backup by identity (never with a state): into an empty destination
 * the source streamed (bs->streamed: no plans are kept); when both sides
 * fit their first window, matched in memory (mf_box_merge_backup_ids);
 * otherwise through temporary files (mf_box_spill_backup). */
int mf_box_backup_ids(struct mf_box_sync *bs);
int mf_box_read_state(struct mf_box_sync *bs,
                      const struct mf_sync_box_state *state, bool above);
void mf_box_side_reset(struct mf_box_side *b);

/* mf-sync-spill.c */
/* New mail on both sides above the last common UID (or by identity,
 * anything above it), from the cursors' positions to their ends, merged
 * through temporary files: decides and applies, sets bs->next_uid. */
int mf_box_spill_merge(struct mf_box_sync *bs);
/* Backup by identity through the same files: both sides from their
 * cursors' positions (UID 1) to their ends, ids paired as
 * mf_box_merge_backup_ids() pairs them; decides and applies. */
int mf_box_spill_backup(struct mf_box_sync *bs);
/* Log the saves just made (by identity), for the state. */
void mf_box_spill_log_saves(struct mf_box_sync *bs);
/* mf_box_verified_lcu() after a spilled merge. */
uint32_t mf_box_spill_verified_lcu(struct mf_box_sync *bs);
void mf_box_spill_free(struct mf_spill **spp);

/* mf-sync-msgs.c */
int mf_box_refresh_status(struct mf_box_side *b);

#endif
