/* SPDX-License-Identifier: MIT */
/*
 * mf-sync-state.h - the sync state string printed and read by `sync -s`.
 *
 * Same layout as dsync's version 1.0 state so a state from either program
 * means the same thing: a 4-byte header (major 1, minor 0, two zero bytes),
 * one 44-byte record per mailbox (GUID, UIDVALIDITY, last common UID,
 * last common modseq, last common private modseq, message count; integers
 * little-endian) and a CRC-32 (zlib polynomial) of everything before it,
 * all base64 encoded with padding.
 */
#ifndef MF_SYNC_STATE_H
#define MF_SYNC_STATE_H

#include "mf-array.h"
#include "mf-buf.h"
#include "mf-common.h"

struct mf_sync_box_state {
	uint8_t guid[16];
	uint32_t uidvalidity;
	uint32_t last_common_uid;
	uint64_t last_common_modseq;
	uint64_t last_common_pvt_modseq;
	uint32_t messages;
};

struct mf_sync_state {
	MF_ARRAY(struct mf_sync_box_state) boxes;
};

enum mf_sync_state_parse {
	MF_SYNC_STATE_OK = 0,  /* entries filled (maybe none) */
	MF_SYNC_STATE_OLD = 1, /* a version 0 state: treated as empty */
	MF_SYNC_STATE_INVALID = -1,
};

/* Parse str into state (which must be empty). Returns an enum
 * mf_sync_state_parse value; on INVALID *error_r says why (static text). */
int mf_sync_state_parse(const char *str, struct mf_sync_state *state,
                        const char **error_r);
/* Encode state; the caller frees the string. */
char *mf_sync_state_format(const struct mf_sync_state *state);
/* Entry for guid, or NULL. */
struct mf_sync_box_state *mf_sync_state_find(struct mf_sync_state *state,
                                             const uint8_t guid[16]);
void mf_sync_state_free(struct mf_sync_state *state);

/* Helpers shared with the tests: CRC-32 (IEEE, as zlib's crc32()) and
 * standard base64 with padding. mf_base64_decode returns -1 on any byte
 * outside the alphabet or a bad length/padding. */
uint32_t mf_crc32(uint32_t crc, const void *data, size_t len);
void mf_base64_encode(const void *data, size_t len, struct mf_buf *out);
int mf_base64_decode(const char *str, struct mf_buf *out);

#endif
