/* SPDX-License-Identifier: MIT */
/*
 * maildir-layout.h - mailbox names <-> directories, as Dovecot lays them
 * out. ABI names are UTF-8 with '/' between levels; on disk each level is
 * modified UTF-7 and
 *   Maildir++ (default): INBOX is the root, "A/B" is <root>/.A.B
 *   LAYOUT=fs:           INBOX is the root, "A/B" is <root>/A/B
 * Per-mailbox control/index directories under CONTROL=/INDEX= use the same
 * relative name, INBOX being ".INBOX" (Maildir++) or "INBOX" (fs).
 */
#ifndef MAILDIR_LAYOUT_H
#define MAILDIR_LAYOUT_H

#include "mf-buf.h"

enum maildir_layout {
	MAILDIR_LAYOUT_MAILDIRPP = 0,
	MAILDIR_LAYOUT_FS = 1,
};

/* True for "INBOX" in any case. */
bool maildir_name_is_inbox(const char *vname);

/* Append the directory name (relative to the root) of vname to out:
 * ".A.B" or "A/B"; INBOX gives ".INBOX" / "INBOX". Returns 0, or -1 with
 * *why_r (static text) when the name cannot be stored: empty level, a '.'
 * inside a Maildir++ level, "cur"/"new"/"tmp" levels with LAYOUT=fs,
 * control characters, invalid UTF-8. */
int maildir_layout_to_dir(enum maildir_layout layout, const char *vname,
                          struct mf_buf *out, const char **why_r);

/* Decode a Maildir++ directory name (".A.B", without the root) into the
 * UTF-8 name "A/B". Returns 0, or -1 when it is not a valid encoding. */
int maildir_layout_pp_decode(const char *dirname, struct mf_buf *out);

/* Decode one fs-layout level (mUTF-7) into UTF-8. Returns 0 or -1. */
int maildir_layout_level_decode(const char *level, struct mf_buf *out);

/* True for names Maildir itself uses inside a mailbox directory. */
bool maildir_is_internal_name(const char *name);

#endif
