/* SPDX-License-Identifier: MIT */
/* mf-hex.h - hex and 128-bit GUID helpers. */
#ifndef MF_HEX_H
#define MF_HEX_H

#include "mf-common.h"

/* Write 2*len lower-case hex digits and a NUL into out (2*len+1 bytes). */
void mf_hex_encode(const void *data, size_t len, char *out);
/* Decode exactly 2*len hex digits (either case) from hex into out.
 * Returns 0, or -1 if hex is not exactly that many hex digits. */
int mf_hex_decode(const char *hex, void *out, size_t len);

/* A 128-bit GUID as 32 hex digits + NUL. */
#define MF_GUID128_HEX_LEN 33
void mf_guid128_to_hex(const uint8_t guid[16], char out[MF_GUID128_HEX_LEN]);
/* Parse 32 hex digits. Returns 0 or -1. */
int mf_guid128_from_hex(const char *hex, uint8_t guid[16]);
bool mf_guid128_is_empty(const uint8_t guid[16]);

#endif
