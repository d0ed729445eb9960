/* SPDX-License-Identifier: MIT */
/*
 * mf-header-hash.h - message identity for stores without message GUIDs:
 * the hex MD5 of the selected header fields (default Date and Message-ID),
 * in message order with their continuation lines, LF line endings, followed
 * by the blank line, and normalised as dsync's header hash version 3:
 * control characters, 8-bit bytes and '?' become one '?' per run, spaces
 * are dropped, LF is kept. A message without those fields hashes to
 * MF_HEADER_HASH_EMPTY (md5 of "\n").
 */
#ifndef MF_HEADER_HASH_H
#define MF_HEADER_HASH_H

#include "mf-buf.h"
#include "mf-common.h"

#define MF_HEADER_HASH_EMPTY "68b329da9893e34099c7d8ad5cb9c940"

struct mf_header_hash;

/* names: NULL-terminated header names (case-insensitive); NULL = Date and
 * Message-ID. version: 1 (raw) to 4 (also drop tabs); dsync uses 3. */
struct mf_header_hash *mf_header_hash_new(const char *const *names,
                                          unsigned int version);
/* Feed the message from its start. Returns true once the header has ended
 * (the rest of the message need not be fed). */
bool mf_header_hash_feed(struct mf_header_hash *hh, const void *data,
                         size_t size);
/* Finish (end of message also ends the header) and write 32 hex digits and
 * a NUL to hex_r, and the 16 raw bytes to raw_r when not NULL. */
void mf_header_hash_finish(struct mf_header_hash *hh, char hex_r[33],
                           uint8_t raw_r[16]);
void mf_header_hash_free(struct mf_header_hash **hh);

/* The version-N normalisation of data appended to out (for tests).
 * *prev_q carries the "previous byte was a replaced '?'" state. */
void mf_header_hash_normalize(unsigned int version, const uint8_t *data,
                              size_t size, bool *prev_q, struct mf_buf *out);

#endif
