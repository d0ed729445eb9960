/* SPDX-License-Identifier: MIT */
/* eml-sha1.c - SHA-1 as specified in FIPS 180-4, section 6.1. */
#include <string.h>
#include "eml-sha1.h"

static uint32_t rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_compress(uint32_t h[5], const uint8_t block[64])
{
	uint32_t w[80];
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (unsigned t = 0; t < 16; t++) {
		w[t] = (uint32_t)block[4 * t] << 24 |
		       (uint32_t)block[4 * t + 1] << 16 |
		       (uint32_t)block[4 * t + 2] << 8 | block[4 * t + 3];
	}
	for (unsigned t = 16; t < 80; t++)
		w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

	for (unsigned t = 0; t < 80; t++) {
		uint32_t f, k;

		if (t < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (t < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (t < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t tmp = rol32(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void eml_sha1_init(struct eml_sha1 *ctx)
{
	static const uint32_t initial[5] = {0x67452301, 0xefcdab89, 0x98badcfe,
	                                    0x10325476, 0xc3d2e1f0};

	memcpy(ctx->h, initial, sizeof(initial));
	ctx->total = 0;
	ctx->used = 0;
}

void eml_sha1_update(struct eml_sha1 *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;

	ctx->total += len;
	if (ctx->used > 0) {
		size_t n = sizeof(ctx->block) - ctx->used;

		if (n > len)
			n = len;
		memcpy(ctx->block + ctx->used, p, n);
		ctx->used += n;
		p += n;
		len -= n;
		if (ctx->used < sizeof(ctx->block))
			return;
		sha1_compress(ctx->h, ctx->block);
		ctx->used = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha1_compress(ctx->h, p);
	memcpy(ctx->block, p, len);
	ctx->used = len;
}

void eml_sha1_final(struct eml_sha1 *ctx, uint8_t digest[EML_SHA1_LEN])
{
	uint64_t bits = ctx->total * 8;

	/* Padding: one 1 bit, zeros up to 56 mod 64, then the bit length. */
	ctx->block[ctx->used++] = 0x80;
	if (ctx->used > 56) {
		memset(ctx->block + ctx->used, 0, 64 - ctx->used);
		sha1_compress(ctx->h, ctx->block);
		ctx->used = 0;
	}
	memset(ctx->block + ctx->used, 0, 56 - ctx->used);
	for (unsigned i = 0; i < 8; i++)
		ctx->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_compress(ctx->h, ctx->block);

	for (unsigned i = 0; i < 5; i++) {
		digest[4 * i] = (uint8_t)(ctx->h[i] >> 24);
		digest[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
		digest[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8);
		digest[4 * i + 3] = (uint8_t)ctx->h[i];
	}
}

void eml_sha1(const void *data, size_t len, uint8_t digest[EML_SHA1_LEN])
{
	struct eml_sha1 ctx;

	eml_sha1_init(&ctx);
	eml_sha1_update(&ctx, data, len);
	eml_sha1_final(&ctx, digest);
}
