/* SPDX-License-Identifier: MIT */
/* mdbox-purge.h - reclaiming space (doveadm purge) and mailbox resync. */
#ifndef MDBOX_PURGE_H
#define MDBOX_PURGE_H

#include "dbox-storage.h"

/* Rewrite every m.N file holding messages no mailbox refers to (map
 * refcount 0) without them, and delete files left with none. Safe against
 * kills: the new file is complete and durable before the map points at it,
 * and the old one is removed only after. */
int mdbox_purge(struct mailferry_storage *st);

/* force-resync of one mailbox: records whose map entry is gone (or whose
 * file is missing) are expunged. */
int mdbox_resync(struct mailferry_mailbox *box);

/* force-resync of the storage: messages the map still holds references
 * for but no mailbox lists go back to the mailbox of their "B" metadata
 * (else INBOX) with new UIDs, as Dovecot's storage rebuild does. */
int mdbox_storage_resync(struct mailferry_storage *st);

#endif
