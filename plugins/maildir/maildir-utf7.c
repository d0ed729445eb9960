/* SPDX-License-Identifier: MIT */
#include "maildir-utf7.h"

/* Modified base64: ',' instead of '/', no padding. */
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Decode one UTF-8 sequence at *p into *cp_r, advancing *p. Rejects
 * overlong forms, surrogates and values above U+10FFFF. */
static int utf8_next(const unsigned char **p, uint32_t *cp_r)
{
	const unsigned char *s = *p;
	uint32_t cp, min;
	int extra;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		*p = s + 1;
		return 0;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f;
		extra = 1;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f;
		extra = 2;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07;
		extra = 3;
		min = 0x10000;
	} else {
		return -1;
	}
	for (int i = 1; i <= extra; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	*p = s + 1 + extra;
	return 0;
}

static void utf8_put(struct mf_buf *dest, uint32_t cp)
{
	char out[4];
	size_t n;

	if (cp < 0x80) {
		out[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		out[0] = (char)(0xf0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	mf_buf_append(dest, out, n);
}

bool maildir_utf7_is_plain(const char *src)
{
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '&')
			return false;
	}
	return true;
}

int maildir_utf8_to_utf7(const char *src, struct mf_buf *dest)
{
	const unsigned char *p = (const unsigned char *)src;

	while (*p != '\0') {
		if (*p >= 0x20 && *p < 0x7f) {
			if (*p == '&')
				mf_buf_append_str(dest, "&-");
			else
				mf_buf_append_c(dest, (char)*p);
			p++;
			continue;
		}
		/* A run of non-printable characters becomes one shifted
		 * sequence of base64-encoded UTF-16. */
		uint32_t bits = 0;
		int nbits = 0;

		mf_buf_append_c(dest, '&');
		while (*p != '\0' && (*p < 0x20 || *p >= 0x7f)) {
			uint32_t cp;
			uint16_t units[2];
			int nunits;

			if (utf8_next(&p, &cp) < 0)
				return -1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = (uint16_t)(0xd800 | (cp >> 10));
				units[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
				nunits = 2;
			} else {
				units[0] = (uint16_t)cp;
				nunits = 1;
			}
			for (int i = 0; i < nunits; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					mf_buf_append_c(
					    dest,
					    b64chars[(bits >> nbits) & 0x3f]);
				}
			}
		}
		if (nbits > 0)
			mf_buf_append_c(dest,
			                b64chars[(bits << (6 - nbits)) & 0x3f]);
		mf_buf_append_c(dest, '-');
	}
	return 0;
}

int maildir_utf7_to_utf8(const char *src, struct mf_buf *dest)
{
	const unsigned char *p = (const unsigned char *)src;

	while (*p != '\0') {
		if (*p < 0x20 || *p >= 0x7f)
			return -1;
		if (*p != '&') {
			mf_buf_append_c(dest, (char)*p++);
			continue;
		}
		p++;
		if (*p == '-') {
			mf_buf_append_c(dest, '&');
			p++;
			continue;
		}
		uint32_t bits = 0, high = 0;
		int nbits = 0;
		bool any = false;

		while (*p != '-') {
			int v = b64val(*p);

			if (v < 0)
				return -1; /* also catches the final NUL */
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			p++;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t unit = (bits >> nbits) & 0xffff;

			if (high != 0) {
				if (unit < 0xdc00 || unit > 0xdfff)
					return -1;
				utf8_put(dest, 0x10000 +
				                   ((high - 0xd800) << 10) +
				                   (unit - 0xdc00));
				high = 0;
			} else if (unit >= 0xd800 && unit <= 0xdbff) {
				high = unit;
			} else if (unit >= 0xdc00 && unit <= 0xdfff) {
				return -1;
			} else {
				/* printable ASCII must not be shifted */
				if (unit >= 0x20 && unit < 0x7f)
					return -1;
				utf8_put(dest, unit);
			}
			any = true;
		}
		/* leftover bits must be zero padding, less than one byte */
		if (!any || high != 0 || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			return -1;
		p++; /* '-' */
	}
	return 0;
}
