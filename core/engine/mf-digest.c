/* SPDX-License-Identifier: MIT */
#include <openssl/evp.h>

#include "mf-digest.h"

unsigned int mf_digest(enum mf_digest_alg alg, const void *data, size_t len,
                       uint8_t *md_r)
{
	/* fetched once, kept for the life of the process */
	static EVP_MD *mds[2];
	static EVP_MD_CTX *ctx;
	static const char *const names[2] = {"SHA1", "MD5"};
	unsigned int md_len = 0;

	if (mds[alg] == NULL)
		mds[alg] = EVP_MD_fetch(NULL, names[alg], NULL);
	if (ctx == NULL)
		ctx = EVP_MD_CTX_new();
	if (mds[alg] != NULL && ctx != NULL &&
	    EVP_DigestInit_ex(ctx, mds[alg], NULL) == 1 &&
	    EVP_DigestUpdate(ctx, data, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, md_r, &md_len) == 1)
		return md_len;
	/* the slow way, which has its own fallbacks */
	if (EVP_Digest(data, len, md_r, &md_len,
	               alg == MF_DIGEST_SHA1 ? EVP_sha1() : EVP_md5(),
	               NULL) != 1)
		return 0;
	return md_len;
}
