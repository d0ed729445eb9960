/* SPDX-License-Identifier: MIT */
/*
 * dbox-move.h - the journal of sdbox moves (a message given a new UID in
 * its mailbox: copy + expunge of the old UID in one transaction).
 *
 * A move renames u.<old> to u.<new> under the mailbox index lock and
 * then commits "append new, expunge old" as one index log append. The
 * file never exists under both names, so nothing - not even Dovecot's
 * index rebuild, which adds every u.* file it finds - can see the message
 * twice. A kill between the rename and the index commit leaves the index
 * at the old UID and the file at the new name; the journal, written and
 * made durable before the first rename, says which renames those were,
 * so the next writer renames them back (the transaction did not happen)
 * and a reader meanwhile finds the file under its new name.
 *
 * The journal is <mailbox dir>/.temp.mfmove.<...>: Dovecot ignores it (and
 * removes .temp.* files older than 36 hours); its lines are
 * "<old uid> <new uid>".
 */
#ifndef DBOX_MOVE_H
#define DBOX_MOVE_H

#include <stdbool.h>
#include <stdint.h>
#include "mf-array.h"

#define DBOX_MOVE_PREFIX ".temp.mfmove."

struct mailferry_mailbox;
struct mailferry_storage;

struct dbox_move_pair {
	uint32_t old_uid, new_uid;
};

/* Write a new journal with the pairs into dir and make it durable (as
 * mail_fsync says). *path_r allocated. Returns 0 or a negative mailferry
 * error (set on the storage). */
int dbox_move_journal_write(struct mailferry_storage *st, const char *dir,
                            const struct dbox_move_pair *pairs, size_t count,
                            char **path_r);

/* Undo the renames of moves whose index commit never happened, as the
 * journals names[0..count) (file names in box->dir) record them, then
 * remove the journals. Call with the mailbox index locked (no journal
 * then belongs to a commit in progress). *changed_r is set when a file
 * was renamed or removed. Returns 0 or a negative mailferry error (the
 * journals are kept then). */
int dbox_move_recover(struct mailferry_mailbox *box, char *const *names,
                      size_t count, bool *changed_r);

/* A reader did not find u.<uid>: does a journal in dir say it is being
 * (or was, by a killed writer) renamed? Returns true with *new_uid_r. */
bool dbox_move_lookup(const char *dir, uint32_t uid, uint32_t *new_uid_r);

#endif
