/* SPDX-License-Identifier: MIT */
/*
 * maildir-keywords.h - the per-mailbox dovecot-keywords file: lines
 * "<index> <name>" mapping the file name letters 'a'..'z' (index 0..25) to
 * keyword names. Matching of names is case-insensitive, as in Dovecot.
 * The file is protected by the mailbox's uidlist lock.
 */
#ifndef MAILDIR_KEYWORDS_H
#define MAILDIR_KEYWORDS_H

#include "maildir-filename.h"
#include "maildir-warn.h"
#include "mf-perm.h"

#define MAILDIR_KEYWORDS_NAME "dovecot-keywords"

struct maildir_keywords {
	char *names[MAILDIR_MAX_KEYWORDS]; /* owned; NULL = free slot */
	/* The file had lines that were skipped: rewriting it repairs it. */
	bool broken;
};

/* Parse the file's contents (data, len) into kw, which must be empty.
 * Bad lines are skipped with a warning naming path and the line. */
void maildir_keywords_parse(struct maildir_keywords *kw, const char *path,
                            const char *data, size_t len,
                            const struct maildir_warn *warn);

/* Read path into kw (emptied first). A missing file gives an empty map.
 * Returns 0, or -1 with *error_r (allocated) on an I/O error. */
int maildir_keywords_read(struct maildir_keywords *kw, const char *path,
                          const struct maildir_warn *warn, char **error_r);

/* Index of name, or -1 when it has no letter. */
int maildir_keywords_lookup(const struct maildir_keywords *kw,
                            const char *name);

/* Index of name, giving it the first free letter if needed. Returns -1
 * when all 26 letters are taken. *added_r is set when a letter was
 * assigned (the file must then be written). */
int maildir_keywords_assign(struct maildir_keywords *kw, const char *name,
                            bool *added_r);

/* True when name is usable as an IMAP keyword (atom characters). */
bool maildir_keyword_is_valid(const char *name);

/* Write kw to path the way Dovecot does: into path.lock (created
 * exclusively with perm's mode and owner; NULL: 0600, ours), fsync'd when
 * do_fsync, renamed over path, with an mtime later than the previous
 * file's. The caller holds the uidlist lock. Returns 0 or -1 with
 * *error_r. */
int maildir_keywords_write(const struct maildir_keywords *kw, const char *path,
                           const struct mf_perm *perm, bool do_fsync,
                           char **error_r);

void maildir_keywords_clear(struct maildir_keywords *kw);

#endif
