/* SPDX-License-Identifier: MIT */
/* mdbox-purge.h - reclaiming space (doveadm purge). */
#ifndef MDBOX_PURGE_H
#define MDBOX_PURGE_H

#include "dbox-storage.h"

/* Rewrite every m.N file holding messages no mailbox refers to (map
 * refcount 0) without them, and delete files left with none. Safe against
 * kills: the new file is complete and durable before the map points at it,
 * and the old one is removed only after. */
int mdbox_purge(struct mailferry_storage *st);

#endif
