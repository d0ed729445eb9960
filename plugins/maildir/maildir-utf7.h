/* SPDX-License-Identifier: MIT */
/*
 * maildir-utf7.h - IMAP modified UTF-7 (RFC 3501 5.1.3), the encoding
 * Dovecot uses for mailbox names on disk ("Wörk" is stored as "W&APY-rk").
 */
#ifndef MAILDIR_UTF7_H
#define MAILDIR_UTF7_H

#include "mf-buf.h"

/* Append the mUTF-7 form of the UTF-8 string src to dest. Returns 0, or -1
 * when src is not valid UTF-8 (dest is then left partly written). */
int maildir_utf8_to_utf7(const char *src, struct mf_buf *dest);

/* Append the UTF-8 form of the mUTF-7 string src to dest. Returns 0, or -1
 * when src is not valid modified UTF-7 (bad base64, unterminated shift,
 * a shifted run of plain ASCII, broken surrogates). */
int maildir_utf7_to_utf8(const char *src, struct mf_buf *dest);

/* True when src only holds printable ASCII without '&' (encoding is the
 * identity). */
bool maildir_utf7_is_plain(const char *src);

#endif
