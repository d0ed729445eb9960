/* SPDX-License-Identifier: MIT */
/*
 * mf-dump.h - human-readable dump of Dovecot index-family files, in the
 * spirit of `doveadm dump`: main index (dovecot.index, .map.index,
 * .list.index, .backup), transaction logs (*.log, *.log.2), the mailbox
 * changelog (dovecot.mailbox.log) and subscriptions files. The kind is
 * detected from the file name and header.
 */
#ifndef MF_DUMP_H
#define MF_DUMP_H

#include "mf-buf.h"

/* Append the dump of path to out. Returns 0, or -1 with an allocated
 * *error_r (unknown kind, unreadable, or corrupt: what could be decoded is
 * still in out, and the message names the offset). */
int mf_dump_file(const char *path, struct mf_buf *out, char **error_r);

#endif
