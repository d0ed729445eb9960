/* SPDX-License-Identifier: MIT */
/*
 * eml-sha1.h - a small SHA-1 (FIPS 180-4) for the eml sample driver, so the
 * sample needs nothing but libc and the mailferry SDK. SHA-1 is used only
 * to name content (message GUIDs, mailbox GUIDs), never for security.
 */
#ifndef EML_SHA1_H
#define EML_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define EML_SHA1_LEN 20

struct eml_sha1 {
	uint32_t h[5];
	uint64_t total; /* bytes hashed so far */
	uint8_t block[64];
	size_t used; /* bytes waiting in block */
};

void eml_sha1_init(struct eml_sha1 *ctx);
void eml_sha1_update(struct eml_sha1 *ctx, const void *data, size_t len);
/* Write the digest; ctx must be initialised again before reuse. */
void eml_sha1_final(struct eml_sha1 *ctx, uint8_t digest[EML_SHA1_LEN]);
/* One-shot digest of data. */
void eml_sha1(const void *data, size_t len, uint8_t digest[EML_SHA1_LEN]);

#endif
