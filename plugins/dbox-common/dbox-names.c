/* SPDX-License-Identifier: MIT */
/* Mailbox names: validation, UTF-8 <-> IMAP modified UTF-7 (RFC 3501
 * 5.1.3, Dovecot's on-disk form) and directory paths. */
#include <stdlib.h>
#include <strings.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "dbox-storage.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Decode one UTF-8 code point; returns its length or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp_r)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f;
		len = 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f;
		len = 3;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07;
		len = 4;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and out-of-range values */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

static void utf8_encode(struct mf_buf *out, uint32_t cp)
{
	if (cp < 0x80) {
		mf_buf_append_c(out, (char)cp);
	} else if (cp < 0x800) {
		mf_buf_append_c(out, (char)(0xc0 | (cp >> 6)));
		mf_buf_append_c(out, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		mf_buf_append_c(out, (char)(0xe0 | (cp >> 12)));
		mf_buf_append_c(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		mf_buf_append_c(out, (char)(0x80 | (cp & 0x3f)));
	} else {
		mf_buf_append_c(out, (char)(0xf0 | (cp >> 18)));
		mf_buf_append_c(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
		mf_buf_append_c(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		mf_buf_append_c(out, (char)(0x80 | (cp & 0x3f)));
	}
}

char *dbox_name_to_storage(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	struct mf_buf out = MF_BUF_INIT;

	mf_buf_append(&out, "", 0);
	while (*p != '\0') {
		uint32_t bits = 0;
		int nbits = 0;

		if (*p >= 0x20 && *p < 0x7f) {
			if (*p == '&')
				mf_buf_append_str(&out, "&-");
			else
				mf_buf_append_c(&out, (char)*p);
			p++;
			continue;
		}
		/* a run of non-ASCII as base64 of UTF-16BE */
		mf_buf_append_c(&out, '&');
		while (*p != '\0' && !(*p >= 0x20 && *p < 0x7f)) {
			uint32_t cp, units[2];
			size_t n = utf8_decode(p, &cp), nunits = 1;

			if (n == 0) {
				/* validated earlier; be safe anyway */
				cp = 0xfffd;
				n = 1;
			}
			p += n;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = 0xd800 | (cp >> 10);
				units[1] = 0xdc00 | (cp & 0x3ff);
				nunits = 2;
			} else {
				units[0] = cp;
			}
			for (size_t i = 0; i < nunits; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					mf_buf_append_c(
					    &out, b64[(bits >> nbits) & 0x3f]);
				}
			}
		}
		if (nbits > 0)
			mf_buf_append_c(&out,
			                b64[(bits << (6 - nbits)) & 0x3f]);
		mf_buf_append_c(&out, '-');
	}
	return mf_buf_detach(&out);
}

static int b64_value(char c)
{
	const char *p = strchr(b64, c);

	return c != '\0' && p != NULL ? (int)(p - b64) : -1;
}

char *dbox_name_from_storage(const char *sname)
{
	struct mf_buf out = MF_BUF_INIT;
	const char *p = sname;

	mf_buf_append(&out, "", 0);
	while (*p != '\0') {
		uint32_t bits = 0, high = 0;
		int nbits = 0;

		if ((unsigned char)*p >= 0x80)
			goto bad;
		if (*p != '&') {
			mf_buf_append_c(&out, *p++);
			continue;
		}
		p++;
		if (*p == '-') {
			mf_buf_append_c(&out, '&');
			p++;
			continue;
		}
		while (*p != '-') {
			int v = b64_value(*p);

			if (v < 0)
				goto bad;
			p++;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t u;

				nbits -= 16;
				u = (bits >> nbits) & 0xffff;
				if (u >= 0xd800 && u <= 0xdbff) {
					if (high != 0)
						goto bad;
					high = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					if (high == 0)
						goto bad;
					utf8_encode(
					    &out, 0x10000 +
					              ((high - 0xd800) << 10) +
					              (u - 0xdc00));
					high = 0;
				} else {
					if (high != 0)
						goto bad;
					utf8_encode(&out, u);
				}
			}
		}
		p++;
		if (high != 0 || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			goto bad;
	}
	return mf_buf_detach(&out);
bad:
	mf_buf_free(&out);
	return NULL;
}

char *dbox_name_normalise(struct mailferry_storage *st, const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	const char *level = name;
	char *norm;

	if (*name == '\0')
		goto invalid;
	while (*p != '\0') {
		uint32_t cp;
		size_t n;

		if (*p < 0x20 || *p == 0x7f)
			goto invalid;
		n = utf8_decode(p, &cp);
		if (n == 0)
			goto invalid;
		if (*p == '/' || p[n] == '\0') {
			/* a level ends: no empty, ".", ".." or dbox-Mails
			 * levels (they would escape or clash on disk) */
			const char *end =
			    *p == '/' ? (const char *)p : (const char *)p + n;
			size_t len = (size_t)(end - level);

			if (len == 0 || (len == 1 && level[0] == '.') ||
			    (len == 2 && memcmp(level, "..", 2) == 0) ||
			    (len == strlen(DBOX_MAIL_DIR) &&
			     memcmp(level, DBOX_MAIL_DIR, len) == 0) ||
			    len > 255 || (*p == '/' && p[1] == '\0'))
				goto invalid;
			level = end + 1;
		}
		p += n;
	}
	norm = mf_strdup(name);
	/* INBOX is case-insensitive, also as the parent of children */
	if (strncasecmp(norm, "INBOX", 5) == 0 &&
	    (norm[5] == '\0' || norm[5] == '/'))
		memcpy(norm, "INBOX", 5);
	return norm;
invalid:
	dbox_error(st, MAILFERRY_E_INVALID, "invalid mailbox name '%s'", name);
	return NULL;
}

char *dbox_mailbox_path(const char *root, const char *name)
{
	char *sname = dbox_name_to_storage(name);
	char *path =
	    mf_strdup_printf("%s/" DBOX_MAILBOX_DIR "/%s", root, sname);

	free(sname);
	return path;
}
