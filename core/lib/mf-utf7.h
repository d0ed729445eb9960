/* SPDX-License-Identifier: MIT */
/*
 * mf-utf7.h - IMAP's modified UTF-7 mailbox name encoding (RFC 3501
 * section 5.1.3) to and from UTF-8.
 */
#ifndef MF_UTF7_H
#define MF_UTF7_H

#include "mf-buf.h"

/* Append the modified UTF-7 form of the UTF-8 string src to out. Returns 0,
 * or -1 when src is not valid UTF-8 (out is then partly written). */
int mf_utf8_to_mutf7(const char *src, struct mf_buf *out);
/* Append the UTF-8 form of the modified UTF-7 string src to out. Returns 0,
 * or -1 when src is not valid modified UTF-7 (bad base64, unpaired
 * surrogate, non-zero padding bits, a raw 8-bit byte, "&" not closed). */
int mf_mutf7_to_utf8(const char *src, struct mf_buf *out);
/* True when src has nothing to decode (plain printable ASCII, no '&'). */
bool mf_mutf7_is_plain(const char *src);

#endif
