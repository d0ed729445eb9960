/* SPDX-License-Identifier: MIT */
#include "mf-sync-state.h"

#include "mf-buf.h"

#define STATE_HEADER_SIZE 4
#define STATE_RECORD_SIZE 44
#define STATE_V0_RECORD_SIZE 40

uint32_t mf_crc32(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	static bool table_ready = false;
	const uint8_t *p = data;

	if (!table_ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) != 0 ? 0xedb88320u ^ (c >> 1)
				                 : c >> 1;
			table[i] = c;
		}
		table_ready = true;
	}
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void mf_base64_encode(const void *data, size_t len, struct mf_buf *out)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		mf_buf_append_c(out, b64_chars[(v >> 18) & 63]);
		mf_buf_append_c(out, b64_chars[(v >> 12) & 63]);
		mf_buf_append_c(out, b64_chars[(v >> 6) & 63]);
		mf_buf_append_c(out, b64_chars[v & 63]);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		mf_buf_append_c(out, b64_chars[(v >> 18) & 63]);
		mf_buf_append_c(out, b64_chars[(v >> 12) & 63]);
		mf_buf_append_str(out, "==");
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		mf_buf_append_c(out, b64_chars[(v >> 18) & 63]);
		mf_buf_append_c(out, b64_chars[(v >> 12) & 63]);
		mf_buf_append_c(out, b64_chars[(v >> 6) & 63]);
		mf_buf_append_c(out, '=');
	}
}

static int b64_value(char c)
{
	const char *p = c == '\0' ? NULL : strchr(b64_chars, c);
	return p == NULL ? -1 : (int)(p - b64_chars);
}

int mf_base64_decode(const char *str, struct mf_buf *out)
{
	size_t len = strlen(str);

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = str[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return -1;
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		             (uint32_t)v[2] << 6 | (uint32_t)v[3];
		uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8),
		                    (uint8_t)w};
		mf_buf_append(out, bytes, 3 - (size_t)pad);
	}
	return 0;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(struct mf_buf *buf, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	                (uint8_t)(v >> 24)};
	mf_buf_append(buf, b, 4);
}

static void put_le64(struct mf_buf *buf, uint64_t v)
{
	put_le32(buf, (uint32_t)v);
	put_le32(buf, (uint32_t)(v >> 32));
}

/* A version 0 state: 40-byte records (no message count) and a trailing
 * CRC, no header. Only recognised to be ignored silently. */
static bool state_is_v0(const uint8_t *data, size_t len)
{
	if (len < 4 || (len - 4) % STATE_V0_RECORD_SIZE != 0)
		return false;
	return mf_crc32(0, data, len - 4) == get_le32(data + len - 4);
}

int mf_sync_state_parse(const char *str, struct mf_sync_state *state,
                        const char **error_r)
{
	struct mf_buf bin = MF_BUF_INIT;
	const uint8_t *data;
	size_t len;
	int ret = MF_SYNC_STATE_OK;

	if (mf_base64_decode(str, &bin) < 0) {
		*error_r = "not base64";
		mf_buf_free(&bin);
		return MF_SYNC_STATE_INVALID;
	}
	data = (const uint8_t *)bin.data;
	len = bin.len;
	if (len == 4 && get_le32(data) == 0) {
		/* the empty state of version 0 */
		ret = MF_SYNC_STATE_OLD;
	} else if (len < STATE_HEADER_SIZE + 4) {
		*error_r = "too short";
		ret = MF_SYNC_STATE_INVALID;
	} else if ((len - STATE_HEADER_SIZE - 4) % STATE_RECORD_SIZE != 0 ||
	           mf_crc32(0, data, len - 4) != get_le32(data + len - 4)) {
		if (state_is_v0(data, len)) {
			ret = MF_SYNC_STATE_OLD;
		} else {
			*error_r = "bad length or checksum";
			ret = MF_SYNC_STATE_INVALID;
		}
	} else {
		size_t n = (len - STATE_HEADER_SIZE - 4) / STATE_RECORD_SIZE;
		for (size_t i = 0; i < n; i++) {
			const uint8_t *r =
			    data + STATE_HEADER_SIZE + i * STATE_RECORD_SIZE;
			struct mf_sync_box_state *b =
			    mf_array_append_zero(&state->boxes);
			memcpy(b->guid, r, 16);
			b->uidvalidity = get_le32(r + 16);
			b->last_common_uid = get_le32(r + 20);
			b->last_common_modseq = get_le64(r + 24);
			b->last_common_pvt_modseq = get_le64(r + 32);
			b->messages = get_le32(r + 40);
		}
	}
	mf_buf_free(&bin);
	return ret;
}

char *mf_sync_state_format(const struct mf_sync_state *state)
{
	struct mf_buf bin = MF_BUF_INIT, out = MF_BUF_INIT;
	static const uint8_t header[STATE_HEADER_SIZE] = {1, 0, 0, 0};

	mf_buf_append(&bin, header, sizeof(header));
	for (size_t i = 0; i < state->boxes.count; i++) {
		const struct mf_sync_box_state *b = &state->boxes.items[i];
		mf_buf_append(&bin, b->guid, 16);
		put_le32(&bin, b->uidvalidity);
		put_le32(&bin, b->last_common_uid);
		put_le64(&bin, b->last_common_modseq);
		put_le64(&bin, b->last_common_pvt_modseq);
		put_le32(&bin, b->messages);
	}
	put_le32(&bin, mf_crc32(0, bin.data, bin.len));
	mf_base64_encode(bin.data, bin.len, &out);
	mf_buf_free(&bin);
	return mf_buf_detach(&out);
}

struct mf_sync_box_state *mf_sync_state_find(struct mf_sync_state *state,
                                             const uint8_t guid[16])
{
	for (size_t i = 0; i < state->boxes.count; i++) {
		if (memcmp(state->boxes.items[i].guid, guid, 16) == 0)
			return &state->boxes.items[i];
	}
	return NULL;
}

void mf_sync_state_free(struct mf_sync_state *state)
{
	mf_array_free(&state->boxes);
}
