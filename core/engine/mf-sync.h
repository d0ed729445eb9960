/* SPDX-License-Identifier: MIT */
/*
 * mf-sync.h - the sync engine: makes two storages agree with the same
 * guarantees as Dovecot's dsync (doveadm sync / backup / sync -1).
 *
 * The engine holds both storages in one process and talks to each only
 * through the driver ABI (struct mf_storage from mf-driver.h). "local" is
 * dsync's master (the side the command runs on: it wins modseq ties),
 * "remote" the other side. In backup and one-way modes the source is local
 * unless reverse (-R) is set.
 */
#ifndef MF_SYNC_H
#define MF_SYNC_H

#include <stdio.h>

#include "mf-common.h"

struct mf_storage;
struct mf_settings;

enum mf_engine_mode {
	MF_ENGINE_TWOWAY = 0, /* sync: nothing lost on either side */
	MF_ENGINE_BACKUP,     /* backup: destination made identical */
	MF_ENGINE_ONEWAY,     /* sync -1: destination merged, source kept */
};

struct mf_sync_params {
	enum mf_engine_mode mode;
	/* -R: remote is the source (backup / one-way only). */
	bool reverse;
	/* -f: full comparison of every mailbox. */
	bool full;
	/* -s STATE: NULL when not given; "" = fast sync but print a state. */
	const char *state;
	/* -m NAME (wildcards * % ?, leading '\' = special-use); NULL = all,
	 * "" = mailbox tree only, no messages. */
	const char *mailbox;
	/* -g GUID (32 hex digits); NULL = all, "" = tree only. */
	const char *mailbox_guid;
	/* -x MASK (repeatable): excluded names (wildcards) or \special-use. */
	const char *const *excludes;
	size_t exclude_count;
	/* -n PREFIX (repeatable): only mailboxes below these name prefixes
	 * (the ABI has no namespaces; a prefix names a subtree). */
	const char *const *prefixes;
	size_t prefix_count;
	/* -t / -e: only save missing messages received at or after / before
	 * this unix time; 0 = no limit. Never deletes anything. */
	int64_t received_after;
	int64_t received_before;
	/* -I SIZE: only save missing messages up to this size; 0 = any. */
	uint64_t max_size;
	/* -O FLAG: only save missing messages that have FLAG (a \\system
	 * flag or a keyword), or with sync_flag_negated those without it. */
	const char *sync_flag;
	bool sync_flag_negated;
	/* -l SECS: take the per-user lock file lock_path, waiting up to
	 * lock_secs (0 = no lock). */
	unsigned int lock_secs;
	const char *lock_path;
	/* -P: purge the destination (remote) after a successful sync. */
	bool purge;
	/* --dry-run: print every change, make none. */
	bool dry_run;
	/* -v: progress on stderr (live line on a TTY, else every few
	 * seconds). */
	bool verbose;
	/* dsync_commit_msgs_interval (0 = default 100). */
	unsigned int commit_interval;
	/* Messages per side read and decided at a time (0 = default
	 * 10000): memory follows this, not the mailbox size. */
	unsigned int window;
	/* dsync_hashed_headers: NULL-terminated, NULL = Date Message-ID. */
	const char *const *hashed_headers;
	/* dsync_features=empty-header-workaround */
	bool empty_header_workaround;
	/* Where dry-run lines and the state go (NULL = stdout). */
	FILE *out;
};

struct mf_sync_result {
	/* Counts of changes made (or, with dry_run, that would be made) on
	 * both sides together. */
	unsigned int boxes_created, boxes_deleted, boxes_renamed;
	unsigned int boxes_synced, boxes_skipped;
	uint64_t msgs_saved, msgs_expunged, msgs_flag_changed;
	/* messages given a new UID in their own mailbox (UID conflicts) */
	uint64_t msgs_moved;
	uint64_t bytes;
	double seconds;
	/* The run finished, but something could not be applied; a second
	 * run fixes it (exit status 2). reason: the first such reason. */
	bool changes_during_sync;
	char *reason;
	/* Failure text (one line) when mf_sync_run() returned < 0. */
	char *error;
	/* New state string (when params.state != NULL); "" when the next run
	 * must be a full one. */
	char *state;
};

/* Run one sync. Returns 0 (see result.changes_during_sync) or a negative
 * mailferry error with result_r->error set. result_r is always filled and
 * must be released with mf_sync_result_free(). */
int mf_sync_run(const struct mf_sync_params *params, struct mf_storage *local,
                struct mf_storage *remote, struct mf_sync_result *result_r);
void mf_sync_result_free(struct mf_sync_result *result);

/* Exit status for a run: 0, 2 (changes during sync), or the sysexits code
 * mapped from a negative mailferry error (75 temporary, 65 not possible,
 * 77 permission, 73 quota, 68 not found, 64 usage...). */
int mf_sync_exit_code(int ret, const struct mf_sync_result *result);

/* The one-line summary ("2 mailboxes created, ... in 0.4 s"); the caller
 * frees it. */
char *mf_sync_summary(const struct mf_sync_result *result);

#endif
