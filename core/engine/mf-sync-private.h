/* SPDX-License-Identifier: MIT */
/* mf-sync-private.h - shared between the engine's modules (not installed). */
#ifndef MF_SYNC_PRIVATE_H
#define MF_SYNC_PRIVATE_H

#include <mailferry/driver.h>

#include "mf-array.h"
#include "mf-buf.h"
#include "mf-sync-state.h"
#include "mf-sync.h"

struct mf_storage;

/* A mailbox-tree node of one side. name is canonical: components joined by
 * '/', with '/' and both sides' separators inside components replaced by
 * the alt char '_', so names of both sides compare directly. real is the
 * name as the storage knows it. */
struct mf_tnode {
	char *name;
	char *real;
	uint8_t guid[16];
	bool is_box; /* selectable mailbox (guid set) */
	bool exists; /* false once deleted by this run */
	uint32_t uidvalidity, uidnext, messages;
	uint64_t highest_modseq;
	uint32_t special_use;
	int64_t rename_ts; /* last_renamed_or_created, 0 = unknown */
	/* Created by a dry run: exists only on paper, cannot be opened. */
	bool planned;
	/* Two unrelated mailboxes of one name were made one this run: their
	 * counters say nothing about their contents (no fast skip). */
	bool merged;
	/* Emptied in place for new UIDs, but the store kept its UIDNEXT:
	 * messages saved here now get whatever UIDs the store gives. */
	bool uids_stuck;
	/* A directory moved to a temporary name so that a renamed mailbox
	 * could take its name: deleted once its children moved back. */
	bool vacated;
	char *want; /* wanted canonical name after the tree sync */
};

struct mf_tsub {
	char *name; /* canonical */
	bool subscribed;
};

/* A mailbox log record reduced to what the tree sync needs. */
struct mf_tlog {
	uint32_t type;
	uint8_t id[16];
	int64_t ts;
};

struct mf_sync_side {
	struct mf_storage *st;
	const char *label; /* "local"/"remote" or "source"/"destination" */
	char sep;
	uint32_t caps;
	/* This run may change this side (false for a backup / -1 source). */
	bool writable;
	/* Saves can ask for their UID (MAILFERRY_CAP_SAVE_UID). */
	bool keeps_uids;
	MF_ARRAY(struct mf_tnode) nodes;
	MF_ARRAY(struct mf_tsub) subs;
	MF_ARRAY(struct mf_tlog) log;
	bool have_subs;
};

struct mf_progress;

struct mf_sync_ctx {
	const struct mf_sync_params *p;
	struct mf_sync_result *res;
	/* side[0] = local (master), side[1] = remote. */
	struct mf_sync_side side[2];
	/* index of the source side in backup / one-way modes, else -1 */
	int source;
	bool state_mode;
	/* an invalid -s state: compare every mailbox, as -f does */
	bool force_full;
	struct mf_sync_state old_state;
	struct mf_sync_state new_state;
	bool require_full_resync;
	bool use_guids; /* message identity by GUID (else header hash) */
	/* A side that receives mailboxes cannot take their GUIDs (no
	 * MAILFERRY_CAP_MAILBOX_GUIDS, e.g. IMAP): mailboxes are matched by
	 * name, never renamed or given GUIDs. */
	bool by_name;
	/* A side that receives messages cannot keep their UIDs (no
	 * MAILFERRY_CAP_SAVE_UID): messages are matched by identity (GUID or
	 * header hash) and UIDs are never expected to be preserved. */
	bool id_mode;
	unsigned int commit_interval;
	FILE *out;
	struct mf_progress *progress;
	unsigned int tmp_counter;
	bool failed;
};

/* Record a "changes during sync" reason (exit 2); the first one is kept. */
void mf_sync_changed(struct mf_sync_ctx *ctx, const char *fmt, ...)
    MF_PRINTF(2, 3);
/* Record the failure text (first one kept) and return code. */
int mf_sync_fail(struct mf_sync_ctx *ctx, int code, const char *fmt, ...)
    MF_PRINTF(3, 4);
/* One dry-run / verbose line describing a change on side s. */
void mf_sync_note(struct mf_sync_ctx *ctx, const struct mf_sync_side *s,
                  const char *fmt, ...) MF_PRINTF(3, 4);
/* Text of the side's last driver error. */
const char *mf_sync_side_error(const struct mf_sync_side *s);

/* Names */
char *mf_sync_canon_name(const struct mf_sync_ctx *ctx, char sep,
                         const char *real);
char *mf_sync_side_name(const struct mf_sync_side *s, const char *canon);
/* First 16 bytes of SHA-1 of name. */
void mf_sync_name_hash(const char *name, uint8_t id_r[16]);

/* Tree phase (mf-sync-tree.c): fill both trees, merge, apply. */
int mf_sync_tree(struct mf_sync_ctx *ctx);
/* Empty mailbox n of side s in place and give it src's identity (GUID,
 * UIDVALIDITY) so that its UIDs restart, as deleting and recreating it
 * would; for a mailbox that cannot be deleted (INBOX). src NULL: only
 * empty it. n's counters are refreshed; n->uids_stuck is set when the
 * store did not restart its UIDNEXT. */
int mf_tree_reset_box(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                      struct mf_tnode *n, const struct mf_tnode *src);
/* Mailbox-selection filters (-m -g -x -n). */
bool mf_sync_box_selected(const struct mf_sync_ctx *ctx, const char *canon,
                          const uint8_t guid[16], uint32_t special_use);
bool mf_sync_wildcard_match(const char *mask, const char *name, char sep);

/* Message phase (mf-sync-msgs.c): sync one mailbox known on both sides
 * (a NULL node = the mailbox does not exist there, only in dry-run). */
int mf_sync_mailbox(struct mf_sync_ctx *ctx, struct mf_tnode *n0,
                    struct mf_tnode *n1);
/* Whether the status the listing gave for both sides already shows that
 * mf_sync_mailbox() would skip the mailbox (fast mode: equal counters;
 * stateful: both sides as the saved state left them): then it is counted
 * as skipped (its state entry kept) without opening it. The same tests as
 * after opening, on counters read a moment earlier: a change landing in
 * between is found by the next run, as if this one had started sooner. */
bool mf_sync_skip_by_listing(struct mf_sync_ctx *ctx, struct mf_tnode *n0,
                             struct mf_tnode *n1);

/* Progress (mf-sync-progress.c). */
struct mf_progress *mf_progress_new(bool enabled, unsigned int boxes_total);
void mf_progress_box(struct mf_progress *pr, unsigned int idx, const char *name,
                     uint64_t msgs_total, uint64_t bytes_total);
/* Add to the totals (msgs may be negative: the box's estimate was too
 * high). */
void mf_progress_add(struct mf_progress *pr, int64_t msgs, uint64_t bytes);
void mf_progress_msg(struct mf_progress *pr, uint64_t bytes);
void mf_progress_msg_done(struct mf_progress *pr);
void mf_progress_free(struct mf_progress **pr);

/* Flag merge (mf-sync-flags.c), pure: see §3.7 of the dsync reference.
 * Flags are bit masks; keywords are merged through the same function one
 * name at a time (bit 0). prefer_local: the local side's modseq is higher,
 * or equal and local is the master. */
struct mf_flag_merge_in {
	uint32_t local_final, local_add, local_remove;
	uint32_t remote_final, remote_add, remote_remove;
	bool prefer_local;
};
/* The final value both sides should have. */
uint32_t mf_sync_merge_flags(const struct mf_flag_merge_in *in);

/* UID assignment for new mails (mf-sync-uids.c), pure. One entry per
 * message instance above the last common UID. */
struct mf_newmail {
	uint8_t id[16]; /* GUID or header hash */
	uint32_t uid;   /* its UID on its side */
	uint8_t side;   /* 0 local, 1 remote */
	uint32_t index; /* caller's index into its message array */
	/* the GUID as a string when it is not the hex form of id (NULL):
	 * the processing order compares GUID strings as dsync does */
	const char *guid_str;
	uint32_t final_uid; /* output */
	int32_t link;       /* output: index of the paired instance, or -1 */
};
/* Sort the instances, pair same-id instances of the two sides and give
 * every pair / unpaired instance its final UID: its own when usable
 * (never issued by the other side, or same UID on both), else a fresh UID
 * allocated in dsync's processing order (both sides' UID-ordered lists
 * merged by GUID string, then UID), so conflicts get the same UIDs as
 * with dsync; 
 * from max(uidnext) upward. Returns the next free UID. */
uint32_t mf_sync_assign_uids(struct mf_newmail *mails, size_t count,
                             uint32_t local_uidnext, uint32_t remote_uidnext);

#endif
