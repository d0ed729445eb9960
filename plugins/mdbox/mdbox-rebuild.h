/* SPDX-License-Identifier: MIT */
/*
 * mdbox-rebuild.h - force-resync of an mdbox storage: the map is rebuilt
 * from what the m.N files hold, whatever state the map index is in
 * (intact, damaged, lost).
 *
 * Every message of every m.N file (primary and ALT) is read: where it is,
 * its GUID, its plaintext size, its "B" mailbox. Map records still
 * pointing at a message are kept (so are their map UIDs); records
 * pointing at nothing go, messages without a record get new map UIDs.
 * Mailbox records are matched to messages by their 128-bit GUID (the
 * "guid" extension), by map UID only when their map UIDVALIDITY is the
 * map's; they keep their UIDs, flags and keywords and get the message's
 * map UID, and a mailbox index is given the map's UIDVALIDITY. Records
 * whose message is nowhere are expunged. Messages no mailbox refers to go
 * to the mailbox of their "B" metadata (else INBOX) with new UIDs - unless
 * the map itself said refcount 0 (expunged, waiting for purge) or they are
 * duplicates (same GUID and size) of another message. Refcounts are then
 * set to the references counted. These are the rules of Dovecot's own
 * storage rebuild, so Dovecot opens the result without rebuilding again.
 *
 * Mailbox indexes are committed before the map (Dovecot's order); a run
 * killed in between is completed by running force-resync again.
 */
#ifndef MDBOX_REBUILD_H
#define MDBOX_REBUILD_H

#include "dbox-storage.h"

int mdbox_storage_rebuild(struct mailferry_storage *st);

#endif
