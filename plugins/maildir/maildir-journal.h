/* SPDX-License-Identifier: MIT */
/*
 * maildir-journal.h - the save journal, "mailferry-save-journal" in a
 * mailbox's control directory: the dovecot-uidlist records of a commit's
 * saves whose file names do not carry their GUID (or that have POP3
 * fields), written before the files are renamed from tmp/ into new/ or
 * cur/ and removed once dovecot-uidlist lists them.
 *
 * Why: a commit killed between its renames and the uidlist write leaves
 * files that dovecot-uidlist does not list. The next scan would give them
 * UIDs with their new file names as GUIDs, which the other side of a sync
 * has never seen: the message would then be copied both ways, a
 * duplicate (Dovecot has the same window; only a file name that is the
 * GUID survives it). With the journal, the next sync under the uidlist
 * lock gives such files their GUID, POP3 fields and, when still free,
 * their UID back, and fills in the GUID of records that Dovecot listed
 * meanwhile without one. The file has the uidlist's own version 3 format;
 * Dovecot ignores it (a regular file, never a mailbox name).
 *
 * Only the holder of the uidlist lock writes or removes the journal.
 */
#ifndef MAILDIR_JOURNAL_H
#define MAILDIR_JOURNAL_H

#include <stdbool.h>

#include "mf-buf.h"
#include "maildir-uidlist.h"

#define MAILDIR_JOURNAL_NAME "mailferry-save-journal"

struct mailferry_mailbox;

/* Whether the control directory holds a journal (also when that cannot
 * be told: the caller then takes the full, careful way). */
bool maildir_journal_exists(const char *control_dir);

/* Write the journal of box: the uidlist's header followed by lines
 * (record lines as maildir_uidlist_format_line() makes them), replacing
 * the file atomically, fsync'd with its directory when do_fsync. The
 * caller holds the uidlist lock. Returns 0 or an error code. */
int maildir_journal_write(struct mailferry_mailbox *box,
                          const struct mf_buf *lines, bool do_fsync);

/* Read box's journal into j (overwritten; maildir_uidlist_clear() it).
 * Its records are sorted by base name for maildir_journal_find(), not
 * by UID. Returns 1 when there is one, 0 when not, or an error code. */
int maildir_journal_read(struct mailferry_mailbox *box,
                         struct maildir_uidlist *j);

/* The record of j (as maildir_journal_read() left it) for base, or
 * NULL. */
const struct maildir_uidlist_rec *
maildir_journal_find(const struct maildir_uidlist *j, const char *base);

/* Remove box's journal (a failure only warns: a journal whose records
 * the uidlist has is harmless, the next sync removes it). */
void maildir_journal_remove(struct mailferry_mailbox *box);

#endif
