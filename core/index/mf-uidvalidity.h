/* SPDX-License-Identifier: MIT */
/*
 * mf-uidvalidity.h - the dovecot-uidvalidity files of a mail root
 * (dovecot-formats.md §3.5): "dovecot-uidvalidity" holds the last value
 * handed out as 8 hex digits, "dovecot-uidvalidity.<hex>" is an empty
 * marker renamed atomically to allocate the next value.
 */
#ifndef MF_UIDVALIDITY_H
#define MF_UIDVALIDITY_H

#include <stdint.h>
#include "mf-perm.h"

/* Read the last value from <dir>/dovecot-uidvalidity: 0 and *value_r set,
 * or 0 with *value_r = 0 when the file does not exist, or -1 with
 * *error_r when it is unreadable or malformed. */
int mf_uidvalidity_read(const char *dir, uint32_t *value_r, char **error_r);
/* Allocate the next UIDVALIDITY the way Dovecot does (rename the marker
 * file from .X to .X+1, then rewrite the main file); starts from the
 * current time when nothing exists. Values are never 0. */
int mf_uidvalidity_next(const char *dir, uint32_t *value_r, char **error_r);
/* The same, creating the files with perm's mode and owner (mf-perm.h; the
 * empty marker keeps mode 0444). */
int mf_uidvalidity_next_perm(const char *dir, const struct mf_perm *perm,
                             uint32_t *value_r, char **error_r);

#endif
