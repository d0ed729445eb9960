/* SPDX-License-Identifier: MIT */
/*
 * imapc-names.c - mailbox names between the ABI (UTF-8, '/' separated,
 * relative to imapc_list_prefix) and the server (modified UTF-7, the
 * server's separator, under the prefix), and mailbox GUIDs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-hex.h"
#include "imapc-private.h"
#include "mf-utf7.h"

static bool is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* With UTF8=ACCEPT names travel as UTF-8; it must still be valid. */
static bool utf8_valid(const char *str)
{
	struct mf_buf tmp = MF_BUF_INIT;
	int ret = mf_utf8_to_mutf7(str, &tmp);

	mf_buf_free(&tmp);
	return ret == 0;
}

int imapc_name_to_remote(struct imapc_storage *storage, const char *name,
                         bool utf8, char **remote_r, char **error_r)
{
	struct mf_buf enc = MF_BUF_INIT, out = MF_BUF_INIT;
	char sep = storage->sep;

	if (is_inbox(name)) {
		*remote_r = mf_strdup("INBOX");
		return 0;
	}
	if (*name == '\0' || name[strlen(name) - 1] == '/' || *name == '/' ||
	    strstr(name, "//") != NULL) {
		*error_r =
		    mf_strdup_printf("mailbox name '%s' is not valid", name);
		return -1;
	}
	if (sep != '/' && sep != '\0' && strchr(name, sep) != NULL) {
		*error_r = mf_strdup_printf(
		    "mailbox name '%s' contains '%c', the server's "
		    "hierarchy separator",
		    name, sep);
		return -1;
	}
	if (utf8 && utf8_valid(name))
		mf_buf_append_str(&enc, name);
	else if (utf8 || mf_utf8_to_mutf7(name, &enc) < 0) {
		mf_buf_free(&enc);
		*error_r = mf_strdup_printf(
		    "mailbox name '%s' is not valid UTF-8", name);
		return -1;
	}
	mf_buf_append_str(&out, storage->list_prefix);
	for (const char *p = mf_buf_str(&enc); *p != '\0'; p++)
		mf_buf_append_c(&out, *p == '/' && sep != '\0' ? sep : *p);
	mf_buf_free(&enc);
	*remote_r = mf_buf_detach(&out);
	return 0;
}

int imapc_name_from_remote(struct imapc_storage *storage, const char *remote,
                           bool utf8, char **name_r)
{
	struct mf_buf tmp = MF_BUF_INIT, out = MF_BUF_INIT;
	size_t plen = strlen(storage->list_prefix);
	char sep = storage->sep;

	if (is_inbox(remote)) {
		*name_r = mf_strdup("INBOX");
		return 0;
	}
	if (plen > 0) {
		if (strncmp(remote, storage->list_prefix, plen) != 0)
			return -1;
		remote += plen;
		if (*remote == '\0')
			return -1; /* the prefix itself */
	}
	/* '/' inside a component cannot be expressed with our separator */
	if (sep != '/' && sep != '\0' && strchr(remote, '/') != NULL)
		return -1;
	for (const char *p = remote; *p != '\0'; p++)
		mf_buf_append_c(&tmp, *p == sep ? '/' : *p);
	if (utf8 && utf8_valid(mf_buf_str(&tmp)))
		mf_buf_append_str(&out, mf_buf_str(&tmp));
	else if (utf8 || mf_mutf7_to_utf8(mf_buf_str(&tmp), &out) < 0) {
		mf_buf_free(&tmp);
		mf_buf_free(&out);
		return -1;
	}
	mf_buf_free(&tmp);
	*name_r = mf_buf_detach(&out);
	if (is_inbox(*name_r)) {
		free(*name_r);
		*name_r = mf_strdup("INBOX");
	}
	return 0;
}

void imapc_mailbox_guid(struct imapc_storage *storage, const char *name,
                        uint32_t uidvalidity, const char *xguid,
                        uint8_t guid_r[16])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char uv[16];

	if (xguid != NULL && mf_guid128_from_hex(xguid, guid_r) == 0)
		return;
	/* A server id that is not a 128-bit hex GUID (OBJECTID's MAILBOXID)
	 * is hashed; without any, derive one that stays the same as long as
	 * the mailbox is the same one (server, user, name, UIDVALIDITY). */
	snprintf(uv, sizeof(uv), "%u", uidvalidity);
	EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md_ctx, EVP_sha1(), NULL);
	const char *parts[] = {storage->host, storage->user, name, uv};
	const char *idparts[] = {"mailboxid", xguid};
	bool by_id = xguid != NULL && *xguid != '\0';
	for (size_t i = 0; i < (by_id ? 2 : MF_N_ELEMENTS(parts)); i++) {
		if (by_id) {
			EVP_DigestUpdate(md_ctx, idparts[i],
			                 strlen(idparts[i]) + 1);
			continue;
		}
		const char *s = parts[i] != NULL ? parts[i] : "";
		EVP_DigestUpdate(md_ctx, s, strlen(s) + 1);
	}
	EVP_DigestFinal_ex(md_ctx, md, &mdlen);
	EVP_MD_CTX_free(md_ctx);
	memcpy(guid_r, md, 16);
}
