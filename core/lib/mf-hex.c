/* SPDX-License-Identifier: MIT */
#include "mf-hex.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void mf_hex_encode(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		out[i * 2] = digits[p[i] >> 4];
		out[i * 2 + 1] = digits[p[i] & 15];
	}
	out[len * 2] = '\0';
}

int mf_hex_decode(const char *hex, void *out, size_t len)
{
	unsigned char *p = out;

	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[i * 2]), lo;

		if (hi < 0)
			return -1;
		lo = hexval(hex[i * 2 + 1]);
		if (lo < 0)
			return -1;
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[len * 2] == '\0' ? 0 : -1;
}

void mf_guid128_to_hex(const uint8_t guid[16], char out[MF_GUID128_HEX_LEN])
{
	mf_hex_encode(guid, 16, out);
}

int mf_guid128_from_hex(const char *hex, uint8_t guid[16])
{
	return mf_hex_decode(hex, guid, 16);
}

bool mf_guid128_is_empty(const uint8_t guid[16])
{
	for (unsigned i = 0; i < 16; i++) {
		if (guid[i] != 0)
			return false;
	}
	return true;
}
