/* SPDX-License-Identifier: MIT */
/*
 * maildir-uidlist.h - the dovecot-uidlist file: which UID each message file
 * (by base name) has, plus the mailbox's UIDVALIDITY, next UID and GUID.
 * Reads versions 1 (Courier: "1 <uidvalidity> <nextuid>", "<uid> <file>")
 * and 3 ("3 V<uv> N<next> G<guid> ...", "<uid> [<ext>...] :<base>");
 * always writes version 3. Writers hold the dovecot-uidlist.lock dotlock
 * (maildir-dotlock.h) and replace the file atomically.
 */
#ifndef MAILDIR_UIDLIST_H
#define MAILDIR_UIDLIST_H

#include "mf-array.h"
#include "mf-buf.h"
#include "mf-perm.h"
#include "maildir-warn.h"

#define MAILDIR_UIDLIST_NAME "dovecot-uidlist"
/* Dovecot takes over a uidlist lock unchanged for this long. */
#define MAILDIR_UIDLIST_LOCK_STALE_SECS 120

/* An append-only, reference-counted pool of strings: one allocation per
 * 64 KiB instead of one per string (a malloc costs 16 bytes of overhead
 * and rounding, per message per string). Nothing is freed before the
 * last reference goes. The uidlist's records live in one; box->msgs
 * borrows their base names and GUIDs by holding a reference, so that a
 * re-read uidlist does not pull the names from under the messages. */
struct maildir_strpool;

struct maildir_strpool *maildir_strpool_new(void);
struct maildir_strpool *maildir_strpool_ref(struct maildir_strpool *pool);
/* Drop a reference (NULL is fine); sets *pool to NULL. */
void maildir_strpool_unref(struct maildir_strpool **pool);
/* A copy of the len bytes at str, NUL-terminated, valid while pool is. */
const char *maildir_strpool_strndup(struct maildir_strpool *pool,
                                    const char *str, size_t len);
const char *maildir_strpool_strdup(struct maildir_strpool *pool,
                                   const char *str);

struct maildir_uidlist_rec {
	uint32_t uid;
	const char *base; /* base file name (up to ':'), in ul->pool */
	const char *guid; /* G extension, in ul->pool, NULL when none */
	/* The other extensions as written ("S123 W456 Pxyz"), in ul->pool,
	 * NULL when none. Kept verbatim when the file is rewritten. */
	const char *ext;
};

struct maildir_uidlist {
	unsigned int version; /* 0 = no usable file was read */
	uint32_t uidvalidity;
	uint32_t next_uid; /* effective: max(header N, last UID + 1) */
	uint8_t guid[16];
	bool have_guid;
	/* Unknown header fields ("P..."), kept on rewrite; owned or NULL. */
	char *hdr_extra;
	/* Records in ascending UID order, base names unique. */
	MF_ARRAY(struct maildir_uidlist_rec) recs;
	/* The records' strings (one reference; NULL until the first).
	 * Removed records leave theirs until the uidlist is cleared. */
	struct maildir_strpool *pool;
	/* Set when the file had problems that a rewrite repairs (broken or
	 * duplicate lines, old version, missing GUID). */
	bool needs_rewrite;
};

/* Parse data (len bytes) read from path into ul (which must be zeroed or
 * cleared). Problems are reported through warn naming path and line:
 * a broken header makes the whole file ignored (version 0, like Dovecot,
 * which then gives every file a new UID under a new UIDVALIDITY); broken,
 * out-of-order or duplicate lines are skipped (their files get new UIDs),
 * a base name listed twice keeps the later UID. Never fails. */
void maildir_uidlist_parse(struct maildir_uidlist *ul, const char *path,
                           const char *data, size_t len,
                           const struct maildir_warn *warn);

/* Read and parse path. A missing file leaves ul empty (version 0) and
 * returns 0; an I/O error returns -1 with *error_r allocated. */
int maildir_uidlist_read(struct maildir_uidlist *ul, const char *path,
                         const struct maildir_warn *warn, char **error_r);

/* Serialise ul in version 3 format into out. ul->uidvalidity and
 * ul->next_uid must be non-zero and ul->have_guid set. */
void maildir_uidlist_format(const struct maildir_uidlist *ul,
                            struct mf_buf *out);

/* The header line of ul (as maildir_uidlist_format() writes it). */
void maildir_uidlist_format_header(const struct maildir_uidlist *ul,
                                   struct mf_buf *out);
/* One version 3 record line; guid and ext may be NULL. */
void maildir_uidlist_format_line(uint32_t uid, const char *guid,
                                 const char *ext, const char *base,
                                 struct mf_buf *out);

/* Write ul to path via path.tmp + rename (fdatasync first when
 * do_fsync); the new file gets perm's mode and owner (NULL: 0600, ours).
 * The caller holds the uidlist lock. Returns 0 or -1 with *error_r. */
int maildir_uidlist_write(const struct maildir_uidlist *ul, const char *path,
                          const struct mf_perm *perm, bool do_fsync,
                          char **error_r);

/* Append the records from index first on to path (the file must be the
 * one ul was read from, unchanged since: the caller holds the lock and
 * checked). Dovecot itself appends new records this way; the header's N
 * may then lag behind, readers take max(N, last UID + 1). Returns 0 or -1
 * with *error_r. */
int maildir_uidlist_append(const struct maildir_uidlist *ul, const char *path,
                           size_t first, bool do_fsync, char **error_r);

/* Look up by UID / base name (binary / linear search); NULL if absent. */
struct maildir_uidlist_rec *maildir_uidlist_find_uid(struct maildir_uidlist *ul,
                                                     uint32_t uid);

/* Value of extension key in rec->ext (copied into tmp), or NULL. */
const char *maildir_uidlist_rec_ext(const struct maildir_uidlist_rec *rec,
                                    char key, struct mf_buf *tmp);

/* Copy str into ul's pool (created on first use); for record fields. */
const char *maildir_uidlist_strdup(struct maildir_uidlist *ul, const char *str);

/* Append a record (uid must be above every UID present); takes copies
 * (into ul->pool). */
void maildir_uidlist_add(struct maildir_uidlist *ul, uint32_t uid,
                         const char *base, const char *guid, const char *ext);

/* Remove the record at index idx (its strings stay in ul->pool). */
void maildir_uidlist_remove_at(struct maildir_uidlist *ul, size_t idx);

void maildir_uidlist_clear(struct maildir_uidlist *ul);

#endif
