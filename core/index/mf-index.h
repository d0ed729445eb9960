/* SPDX-License-Identifier: MIT */
/*
 * mf-index.h - Dovecot-compatible mail index (dovecot.index + transaction
 * log, format 7.3 / 1.3), read and written the way Dovecot 2.3 does so that
 * Dovecot and mailferry can work on the same store, even at the same time.
 *
 * An index is opened on a directory and a file prefix ("dovecot.index",
 * "dovecot.map.index"). mf_index_refresh() loads the current on-disk state
 * (the main index file when present, then the logs replayed from its head
 * offset) into the "map": header, extensions, records. The accessors below
 * read that map; it changes only on refresh or commit.
 *
 * Changes are written with a transaction: everything added is appended to
 * the log as one locked write (fcntl lock on <prefix>.log, as Dovecot's
 * lock_method=fcntl), then the map is refreshed.
 *
 * Return values: 0 (or a count / true-ish value where documented) on
 * success, a negative enum mf_index_error on failure; the message is then
 * available from mf_index_last_error() until the next call that fails.
 * Messages name the file, the offset and the failing call.
 *
 * Not thread-safe: one struct mf_index per thread.
 */
#ifndef MF_INDEX_H
#define MF_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mf-perm.h"

enum mf_index_error {
	MF_INDEX_OK = 0,
	/* I/O or system call failure (errno-based message). */
	MF_INDEX_ERR_IO = -1,
	/* A file is corrupted; the message names the file and offset. */
	MF_INDEX_ERR_CORRUPT = -2,
	/* The modseq asked for is no longer covered by the logs. */
	MF_INDEX_ERR_NOHISTORY = -3,
	/* The log lock could not be had within the timeout. */
	MF_INDEX_ERR_LOCK_TIMEOUT = -4,
	/* No index exists (and MF_INDEX_OPEN_CREATE was not given). */
	MF_INDEX_ERR_NOTFOUND = -5,
	/* The caller asked for something invalid (e.g. an append UID below
	 * next_uid, an unknown UID, a too-large extension record). */
	MF_INDEX_ERR_INVALID = -6,
};

/* Message flag bits as stored in index records (same values as Dovecot). */
enum mf_index_mail_flags {
	MF_INDEX_FLAG_ANSWERED = 0x01,
	MF_INDEX_FLAG_FLAGGED = 0x02,
	MF_INDEX_FLAG_DELETED = 0x04,
	MF_INDEX_FLAG_SEEN = 0x08,
	MF_INDEX_FLAG_DRAFT = 0x10,
	/* Driver-private bit (sdbox: message is in alternate storage). */
	MF_INDEX_FLAG_BACKEND = 0x40,
	/* maildir: flags not yet written to the file name. */
	MF_INDEX_FLAG_DIRTY = 0x80,
	/* The IMAP-visible system flags. */
	MF_INDEX_FLAGS_SYSTEM = 0x1f,
};

enum mf_index_open_flags {
	/* Create an empty index (a new log) when none exists. */
	MF_INDEX_OPEN_CREATE = 1u << 0,
	/* Never write anything (no log creation, no rotation, no rewrite). */
	MF_INDEX_OPEN_READONLY = 1u << 1,
	/* Hard-link the old main index to <prefix>.backup before replacing it
	 * (Dovecot does this for sdbox/mdbox mailbox indexes). */
	MF_INDEX_OPEN_KEEP_BACKUPS = 1u << 2,
	/* fdatasync() logs and fsync() new index files on commit. */
	MF_INDEX_OPEN_FSYNC = 1u << 3,
};

/* Tunables; zero fields take Dovecot 2.3's defaults (in brackets). */
struct mf_index_settings {
	/* Rewrite <prefix> when the log part not yet in it is at least this
	 * long (mail_index_rewrite_min_log_bytes [8 KiB]) ... */
	uint32_t rewrite_min_log_bytes;
	/* ... or always past this (mail_index_rewrite_max_log_bytes
	 * [128 KiB]). */
	uint32_t rewrite_max_log_bytes;
	/* Rotate the log when larger than max [1 MiB], or larger than min
	 * [32 KiB] and older than min_age [300 s]. */
	uint32_t log_rotate_min_size;
	uint32_t log_rotate_max_size;
	uint32_t log_rotate_min_age;
	/* Seconds to wait for the log lock [120]. */
	uint32_t lock_timeout_secs;
	/* File mode of created files [0600]. */
	uint32_t file_mode;
	/* Mode, owner and group of created files (mf-perm.h); overrides
	 * file_mode. NULL: file_mode, owned by whoever runs us. Copied by
	 * mf_index_open(). */
	const struct mf_perm *perm;
};

/* The base header of the map (Dovecot's field names, see
 * dovecot-formats.md §7.2). */
struct mf_index_header {
	uint32_t indexid;
	uint32_t flags;
	uint32_t uid_validity;
	uint32_t next_uid;
	uint32_t messages_count;
	uint32_t seen_messages_count;
	uint32_t deleted_messages_count;
	uint32_t first_recent_uid;
	uint32_t first_unseen_uid_lowwater;
	uint32_t first_deleted_uid_lowwater;
	uint32_t log_file_seq;
	uint32_t log_file_tail_offset;
	uint32_t log_file_head_offset;
	uint32_t log2_rotate_time;
	uint32_t last_temp_file_scan;
	uint32_t day_stamp;
	uint32_t day_first_uid[8];
};

/* One extension of the map. Offsets are the ones stored in the index, never
 * an assumed layout. Borrowed from the index; valid until the next refresh
 * or commit. */
struct mf_index_ext {
	const char *name;
	uint32_t reset_id;
	uint32_t hdr_size;
	const uint8_t *hdr; /* hdr_size bytes (NULL if 0) */
	uint16_t record_offset;
	uint16_t record_size;
	uint16_t record_align;
};

/* One message record of the map. */
struct mf_index_rec {
	uint32_t uid;
	uint8_t flags; /* enum mf_index_mail_flags */
	/* The message's modseq as Dovecot reports it (FETCH MODSEQ): from the
	 * "modseq" extension when the index has one, else the head modseq. */
	uint64_t modseq;
};

struct mf_index;
struct mf_index_trans;

/* Open the index <dir>/<prefix> (e.g. prefix "dovecot.index") and load it
 * (mf_index_refresh()). settings may be NULL. On failure returns a negative
 * mf_index_error, *index_r = NULL and *error_r an allocated message. */
int mf_index_open(const char *dir, const char *prefix,
                  enum mf_index_open_flags flags,
                  const struct mf_index_settings *settings,
                  struct mf_index **index_r, char **error_r);
void mf_index_close(struct mf_index **index);

/* Re-read the files and bring the map up to date. */
int mf_index_refresh(struct mf_index *index);

/* Take the log lock (fcntl F_WRLCK on <prefix>.log, waiting up to
 * lock_timeout_secs) and refresh, so that a caller can pick UIDs and write
 * backend files (u.N) without racing Dovecot; commits made while locked
 * keep the lock. Not recursive. The lock is an open file description lock
 * where the system has them (Linux): it conflicts with Dovecot's fcntl
 * locks and with other handles of this process. Elsewhere it is a classic
 * fcntl lock, which closing any other descriptor of the log in this
 * process would drop. */
int mf_index_lock(struct mf_index *index);
void mf_index_unlock(struct mf_index *index);
/* Message of the last failure (never NULL; "" when none). */
const char *mf_index_last_error(const struct mf_index *index);

/* --- the map --- */

const struct mf_index_header *mf_index_get_header(const struct mf_index *idx);
/* Number of messages (= header messages_count). */
uint32_t mf_index_count(const struct mf_index *index);
/* Record at sequence seq (1..count); NULL if out of range. */
const struct mf_index_rec *mf_index_rec_at(const struct mf_index *index,
                                           uint32_t seq);
/* Sequence of uid, 0 if not present. */
uint32_t mf_index_lookup_uid(const struct mf_index *index, uint32_t uid);
/* HIGHESTMODSEQ as Dovecot reports it (modseq ext header, else the log's
 * current modseq). */
uint64_t mf_index_highest_modseq(const struct mf_index *index);
/* True if the index has been marked deleted (INDEX_DELETED). */
bool mf_index_is_deleted(const struct mf_index *index);
/* Memory hint: the records still as they are in dovecot.index are mapped
 * from that file; this lets go of the pages of them this process has
 * touched (they stay in the page cache and are read again when used).
 * Callers walking every message of a large mailbox call it now and then,
 * so that the process does not end up holding the whole index. Changes
 * nothing visible; pointers from the accessors stay valid. */
void mf_index_release_memory(struct mf_index *index);

/* Extensions: count and access by position (Dovecot's ext map index) or by
 * name (NULL if absent). */
uint32_t mf_index_ext_count(const struct mf_index *index);
const struct mf_index_ext *mf_index_ext_at(const struct mf_index *index,
                                           uint32_t idx);
const struct mf_index_ext *mf_index_ext_find(const struct mf_index *index,
                                             const char *name);
/* The extension's record data of message seq (record_size bytes), NULL if
 * the extension has no records or seq is out of range. */
const void *mf_index_rec_ext(const struct mf_index *index, uint32_t seq,
                             const struct mf_index_ext *ext);

/* Keyword names in index order (borrowed; NULL-terminated array, *count_r
 * entries). */
const char *const *mf_index_keywords(const struct mf_index *index,
                                     uint32_t *count_r);
/* True when message seq has keyword number kw_idx. */
bool mf_index_rec_has_keyword(const struct mf_index *index, uint32_t seq,
                              uint32_t kw_idx);

/* --- change history (from the logs) --- */

enum mf_index_changes_flags {
	/* Ignore changes written by transactions with the SYNC flag. */
	MF_INDEX_CHANGES_SKIP_SYNC = 1u << 0,
};

/* Flag/keyword changes of one UID since a modseq. Keyword numbers are
 * indexes into mf_index_keywords(). */
struct mf_index_change {
	uint32_t uid;
	uint8_t flags_added;
	uint8_t flags_removed;
	/* keyword index arrays, owned by the change set */
	uint32_t *kw_added;
	uint32_t kw_added_count;
	uint32_t *kw_removed;
	uint32_t kw_removed_count;
	/* Appended since the modseq (its whole state is new). */
	bool appended;
	/* Highest modseq of a (non-skipped) change to this UID. */
	uint64_t modseq;
};

struct mf_index_changes {
	struct mf_index_change *items; /* ascending uid */
	uint32_t count;
	/* Highest modseq seen in the logs that were read. */
	uint64_t max_modseq;
};

/* Collect per-UID changes made after modseq since_modseq (log records
 * whose modseq > since_modseq, counted the way Dovecot counts them), for
 * UIDs that still exist in the map (the final state is in the map). For
 * each flag and keyword the last change counts (an add followed by a
 * remove is reported as a remove), as Dovecot's dsync reads its logs.
 * This is exact per log record, so it can report fewer UIDs than Dovecot's
 * per-message FETCH MODSEQ would: when CONDSTORE is first enabled Dovecot
 * gives every existing message the then highest modseq.
 * Returns 0, MF_INDEX_ERR_NOHISTORY if the logs no longer reach back to
 * since_modseq (message: "... is no longer in the transaction logs ..."),
 * or another error. since_modseq 0 means "whatever the logs still hold"
 * and never fails with NOHISTORY (the result may then be partial).
 * Call mf_index_refresh() first for the newest state. */
int mf_index_changes_since(struct mf_index *index, uint64_t since_modseq,
                           enum mf_index_changes_flags flags,
                           struct mf_index_changes *changes_r);
void mf_index_changes_free(struct mf_index_changes *changes);

struct mf_index_expunge {
	uint32_t uid;
	uint8_t guid[16];
	bool have_guid; /* else no GUID known: EXPUNGE records, or empty
	                 * GUIDs without a request record naming one */
	uint64_t modseq;
};

/* Expunges (EXTERNAL expunge records) after since_modseq, ascending modseq.
 * *expunges_r is allocated (free()); same errors as changes_since. */
int mf_index_expunges_since(struct mf_index *index, uint64_t since_modseq,
                            enum mf_index_changes_flags flags,
                            struct mf_index_expunge **expunges_r,
                            uint32_t *count_r);

/* --- transactions --- */

enum mf_index_trans_flags {
	/* Changes already done in the backend (Dovecot's EXTERNAL). Writers
	 * outside Dovecot normally set this. */
	MF_INDEX_TRANS_EXTERNAL = 1u << 0,
	/* Written by a sync (Dovecot's SYNC flag, skippable in change
	 * queries). */
	MF_INDEX_TRANS_SYNC = 1u << 1,
	/* Do not add the tail-offset header update after the records (only
	 * for non-external requests the backend still has to perform). */
	MF_INDEX_TRANS_NO_TAIL_UPDATE = 1u << 2,
};

/* Records are written in the order they are added. */
struct mf_index_trans *mf_index_trans_begin(struct mf_index *index,
                                            enum mf_index_trans_flags flags);
/* Append a message with uid (>= next_uid and ascending within the
 * transaction; 0 = next free, the chosen UID is returned in *uid_r if
 * not NULL). */
int mf_index_trans_append(struct mf_index_trans *t, uint32_t uid, uint8_t flags,
                          uint32_t *uid_r);
/* Flags on uid1..uid2: new = (old & ~remove) | add. */
void mf_index_trans_flags(struct mf_index_trans *t, uint32_t uid1,
                          uint32_t uid2, uint8_t add, uint8_t remove);
/* Add (add=true) or remove a keyword on uid1..uid2. */
void mf_index_trans_keyword(struct mf_index_trans *t, const char *name,
                            bool add, uint32_t uid1, uint32_t uid2);
/* Remove every keyword from uid1..uid2. */
void mf_index_trans_keyword_reset(struct mf_index_trans *t, uint32_t uid1,
                                  uint32_t uid2);
/* Expunge uid; guid may be NULL (written as zeros). With EXTERNAL the
 * message disappears from the index; without it this is a request. */
void mf_index_trans_expunge(struct mf_index_trans *t, uint32_t uid,
                            const uint8_t guid[16]);
/* Set base header bytes [offset, offset+size) (e.g. uid_validity at 24,
 * next_uid at 28). Tail offset (64) is managed by commit. */
void mf_index_trans_header(struct mf_index_trans *t, uint32_t offset,
                           const void *data, uint32_t size);
void mf_index_trans_set_uid_validity(struct mf_index_trans *t, uint32_t uv);
void mf_index_trans_set_next_uid(struct mf_index_trans *t, uint32_t next);
/* Introduce (or resize) the extension name; later ext calls refer to it.
 * hdr_size/record_size/record_align as in Dovecot's intro. */
void mf_index_trans_ext_intro(struct mf_index_trans *t, const char *name,
                              uint32_t hdr_size, uint16_t record_size,
                              uint16_t record_align);
/* Update the extension's header bytes [offset, offset+size). */
void mf_index_trans_ext_hdr(struct mf_index_trans *t, const char *name,
                            uint32_t offset, const void *data, uint32_t size);
/* Set the extension's record data of uid: record_size bytes, the size the
 * extension has at this point (an earlier intro in this transaction, else
 * the map's); data is copied. */
void mf_index_trans_ext_rec(struct mf_index_trans *t, const char *name,
                            uint32_t uid, const void *data);
/* Add diff to the extension's 1/2/4/8-byte record counter of uid. */
void mf_index_trans_ext_atomic_inc(struct mf_index_trans *t, const char *name,
                                   uint32_t uid, int32_t diff);
/* Reset the extension (new reset_id; preserve_data keeps record data). */
void mf_index_trans_ext_reset(struct mf_index_trans *t, const char *name,
                              uint32_t new_reset_id, bool preserve_data);
/* Raise uid's modseq to at least modseq (uid 0: the highest modseq). */
void mf_index_trans_modseq(struct mf_index_trans *t, uint32_t uid,
                           uint64_t modseq);
/* Mark the index deleted / undeleted. */
void mf_index_trans_index_deleted(struct mf_index_trans *t, bool deleted);

/* Write everything as one locked log append (with a BOUNDARY when it has
 * more than one record, and for EXTERNAL transactions the tail-offset
 * update), rotating the log first (after writing the main index, so that
 * it points into the new .log.2) and rewriting the main index afterwards
 * when Dovecot would, then refresh the map. Records are validated against
 * the map under the lock (e.g. an append below next_uid written meanwhile
 * by Dovecot fails with MF_INDEX_ERR_INVALID). The transaction is freed in
 * every case. On failure nothing of it is visible in the files: a failed
 * write (ENOSPC, EIO) is truncated away, a torn tail left by a crash is cut
 * before appending (like Dovecot does). The main index is never written
 * when Dovecot would call it corrupted (e.g. uid_validity 0 with messages),
 * and then the log is not rotated either. */
int mf_index_trans_commit(struct mf_index_trans **t);
void mf_index_trans_rollback(struct mf_index_trans **t);

/* Add the "modseq" extension (Dovecot's mail_index_modseq_enable) so that
 * per-message modseqs are kept, like Dovecot does on the first CONDSTORE
 * use. No-op when it exists. */
int mf_index_modseq_enable(struct mf_index *index);

/* Write the main index file now (tmp + rename, .backup link when
 * KEEP_BACKUPS), regardless of the rewrite thresholds. */
int mf_index_write_main(struct mf_index *index);

#endif
