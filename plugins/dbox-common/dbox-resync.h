/* SPDX-License-Identifier: MIT */
/* dbox-resync.h - force-resync: make a mailbox index agree with the
 * message files again (Dovecot's `doveadm force-resync`). */
#ifndef DBOX_RESYNC_H
#define DBOX_RESYNC_H

#include "dbox-storage.h"

/* The force_resync slot: name NULL = every mailbox. */
int dbox_force_resync(struct mailferry_storage *st, const char *name);

/* sdbox: compare u.<uid> files (primary and ALT) with the index. Files
 * the index lacks are added back, with the flags and keywords
 * dovecot.index.backup still has for them; index records without a file
 * are expunged; the ALT bit follows where each file is. Nothing is
 * written when index and files agree. */
int sdbox_resync(struct mailferry_mailbox *box);
/* With adopt_only, only add u.<uid> files at or above next_uid (what an
 * interrupted save renamed but never committed, or what someone restored):
 * done at every writable open, never deleting anything. */
int sdbox_resync_mode(struct mailferry_mailbox *box, bool adopt_only);

#endif
