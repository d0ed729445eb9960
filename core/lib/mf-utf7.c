/* SPDX-License-Identifier: MIT */
/*
 * mf-utf7.c - modified UTF-7 (see mf-utf7.h).
 *
 * Printable ASCII but '&' stands for itself, "&-" is '&', and any other run
 * of characters is "&" + base64 of its UTF-16BE form (with ',' for '/', no
 * padding) + "-".
 */
#include "mf-utf7.h"

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
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

/* Decode one UTF-8 code point at *p; -1 on invalid input. */
static int32_t utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t cp;
	int n;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f;
		n = 1;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f;
		n = 2;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07;
		n = 3;
	} else {
		return -1;
	}
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and out-of-range values */
	if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
	    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*p = s + n + 1;
	return (int32_t)cp;
}

static void utf8_append(struct mf_buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	mf_buf_append(out, b, n);
}

static bool is_direct(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e && c != '&';
}

int mf_utf8_to_mutf7(const char *src, struct mf_buf *out)
{
	const unsigned char *p = (const unsigned char *)src;

	while (*p != '\0') {
		if (is_direct(*p)) {
			mf_buf_append_c(out, (char)*p++);
			continue;
		}
		if (*p == '&') {
			mf_buf_append_str(out, "&-");
			p++;
			continue;
		}
		/* a run of characters to shift: base64 of UTF-16BE */
		uint32_t bits = 0;
		int nbits = 0;

		mf_buf_append_c(out, '&');
		while (*p != '\0' && !is_direct(*p) && *p != '&') {
			int32_t cp = utf8_next(&p);
			uint16_t units[2];
			int nunits;

			if (cp < 0)
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
					    out,
					    b64_chars[(bits >> nbits) & 0x3f]);
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits > 0)
			mf_buf_append_c(
			    out, b64_chars[(bits << (6 - nbits)) & 0x3f]);
		mf_buf_append_c(out, '-');
	}
	return 0;
}

int mf_mutf7_to_utf8(const char *src, struct mf_buf *out)
{
	const unsigned char *p = (const unsigned char *)src;

	while (*p != '\0') {
		if (*p >= 0x80 || *p < 0x20 || *p == 0x7f)
			return -1;
		if (*p != '&') {
			mf_buf_append_c(out, (char)*p++);
			continue;
		}
		p++;
		if (*p == '-') {
			mf_buf_append_c(out, '&');
			p++;
			continue;
		}
		uint32_t bits = 0, high = 0;
		int nbits = 0;
		size_t nchars = 0;

		for (; *p != '-'; p++, nchars++) {
			int v = b64_value(*p);
			if (v < 0)
				return -1; /* includes the terminating NUL */
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t unit = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			if (high != 0) {
				if (unit < 0xdc00 || unit > 0xdfff)
					return -1;
				utf8_append(out, 0x10000 +
				                     ((high - 0xd800) << 10) +
				                     (unit - 0xdc00));
				high = 0;
			} else if (unit >= 0xd800 && unit <= 0xdbff) {
				high = unit;
			} else if ((unit >= 0xdc00 && unit <= 0xdfff) ||
			           unit == 0) {
				/* a lone low surrogate; or U+0000, which no
				 * C string (nor a mailbox name) can hold */
				return -1;
			} else if (unit < 0x80 &&
			           (is_direct((unsigned char)unit) ||
			            unit == '&')) {
				/* must have been written directly */
				return -1;
			} else {
				utf8_append(out, unit);
			}
		}
		/* leftover bits are padding: fewer than 6 and all zero */
		if (high != 0 || nbits >= 6 || bits != 0 || nchars == 0)
			return -1;
		p++; /* '-' */
	}
	return 0;
}

bool mf_mutf7_is_plain(const char *src)
{
	for (const unsigned char *p = (const unsigned char *)src; *p != '\0';
	     p++) {
		if (!is_direct(*p))
			return false;
	}
	return true;
}
