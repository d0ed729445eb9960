/* SPDX-License-Identifier: MIT */
/*
 * engine-harness.h - helpers for the engine sync tests: memdrv stores in a
 * temporary directory, operations through the driver ABI, snapshots of a
 * whole store and their comparison.
 */
#ifndef ENGINE_HARNESS_H
#define ENGINE_HARNESS_H

#include <mailferry/driver.h>

#include "mf-array.h"
#include "mf-driver.h"
#include "mf-sync.h"

/* Load drivers (memdrv from the build tree) once; make a fresh temp dir. */
void h_init(void);
/* Remove the temp dir. */
void h_cleanup(void);
const char *h_dir(void);
/* Open (creating) store `name` under the temp dir; opts appended to the
 * location (":SEP=." etc.) or NULL. */
struct mf_storage *h_open(const char *name, const char *opts);
/* Open (creating) a full location; "@DIR@" is replaced by the temp dir. */
struct mf_storage *h_open_loc(const char *location);
void h_close(struct mf_storage **st);
/* Advance the mailbox-log clock by secs (timestamps of later log records). */
void h_tick(int secs);

/* Operations; all assert success unless they return int. */
void h_create(struct mf_storage *st, const char *name);
int h_create_guid(struct mf_storage *st, const char *name,
                  const uint8_t guid[16], uint32_t uidvalidity);
int h_delete(struct mf_storage *st, const char *name);
int h_rename(struct mf_storage *st, const char *from, const char *to);
void h_subscribe(struct mf_storage *st, const char *name, bool on);
/* Save a message whose body is derived from n (unique Message-ID);
 * returns its UID. */
uint32_t h_save(struct mf_storage *st, const char *box, unsigned int n);
uint32_t h_save_text(struct mf_storage *st, const char *box, const char *text,
                     int64_t received);
void h_flags(struct mf_storage *st, const char *box, uint32_t uid,
             enum mailferry_modify mode, uint32_t flags, const char *kw);
void h_expunge(struct mf_storage *st, const char *box, uint32_t uid);
/* Number of messages, or -1 if no such mailbox. */
int h_count(struct mf_storage *st, const char *box);

/* Snapshot of a store. */
struct h_msg {
	uint32_t uid;
	char *guid;
	uint32_t flags;
	char *keywords; /* sorted, space separated */
	char *body_md5;
};
struct h_box {
	char *name; /* with '/' as separator */
	char *real; /* as the store names it */
	bool dir;
	uint8_t guid[16];
	uint32_t uidvalidity, uidnext;
	MF_ARRAY(struct h_msg) msgs;
};
struct h_snap {
	MF_ARRAY(struct h_box) boxes;
	MF_ARRAY(char *) subs;
};
void h_snap(struct mf_storage *st, struct h_snap *snap_r);
/* Leave directories (non-selectable entries) out of snapshots: for
 * comparing stores that cannot all hold empty directories (Maildir++). */
extern bool h_snap_no_dirs;
void h_snap_free(struct h_snap *snap);
/* NULL when equal, else an allocated description of the first
 * difference. with_guids: compare mailbox GUIDs too. */
char *h_snap_diff(const struct h_snap *a, const struct h_snap *b,
                  bool uids_and_flags);
/* The same, for stores that cannot keep UIDs or GUIDs: same mailbox
 * names, and per mailbox the same multiset of (body, flags, keywords). */
char *h_snap_diff_content(const struct h_snap *a, const struct h_snap *b);
const struct h_box *h_snap_box(const struct h_snap *s, const char *name);
char *h_snap_dump(const struct h_snap *s);
/* Abort the test unless a and b are identical (h_snap_diff with UIDs and
 * flags), printing both stores. */
void h_assert_identical(struct mf_storage *a, struct mf_storage *b);

/* Run a sync; returns the exit code (0, 2, 75...). */
int h_sync(const struct mf_sync_params *p, struct mf_storage *a,
           struct mf_storage *b, struct mf_sync_result *res_r);
void h_params(struct mf_sync_params *p);
/* memdrv's call counters (its ctl ops): messages listed, copies made,
 * mailboxes opened. */
#define H_MEMDRV_LISTED 1001
#define H_MEMDRV_COPIES 1002
#define H_MEMDRV_OPENS 1003
uint64_t h_memdrv_counter(struct mf_storage *st, uint32_t op);
/* True when a run's result says it changed nothing. */
bool h_result_noop(const struct mf_sync_result *r);

#endif
