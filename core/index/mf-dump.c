/* SPDX-License-Identifier: MIT */
/* mf-dump.c - `doveadm dump`-like decoding of index-family files. */
#include <errno.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-dump.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "mf-index-private.h"
#include "mf-mailbox-log.h"
#include "mf-subscriptions.h"

static const char *type_name(uint32_t base)
{
	switch (base) {
	case MF_T_EXPUNGE:
		return "expunge";
	case MF_T_APPEND:
		return "append";
	case MF_T_FLAG_UPDATE:
		return "flag-update";
	case MF_T_HEADER_UPDATE:
		return "header-update";
	case MF_T_EXT_INTRO:
		return "ext-intro";
	case MF_T_EXT_RESET:
		return "ext-reset";
	case MF_T_EXT_HDR_UPDATE:
		return "ext-hdr";
	case MF_T_EXT_HDR_UPDATE32:
		return "ext-hdr32";
	case MF_T_EXT_REC_UPDATE:
		return "ext-rec";
	case MF_T_KEYWORD_UPDATE:
		return "keyword-update";
	case MF_T_KEYWORD_RESET:
		return "keyword-reset";
	case MF_T_EXT_ATOMIC_INC:
		return "ext-atomic-inc";
	case MF_T_EXPUNGE_GUID:
		return "expunge-guid";
	case MF_T_MODSEQ_UPDATE:
		return "modseq-update";
	case MF_T_INDEX_DELETED:
		return "index-deleted";
	case MF_T_INDEX_UNDELETED:
		return "index-undeleted";
	case MF_T_BOUNDARY:
		return "boundary";
	case MF_T_ATTRIBUTE_UPDATE:
		return "attribute-update";
	default:
		return "unknown";
	}
}

static void dump_ranges(struct mf_buf *out, const uint8_t *d, uint32_t size)
{
	mf_buf_append_str(out, " uids=");
	for (uint32_t i = 0; i + 8 <= size; i += 8)
		mf_buf_printf(out, "%s%u-%u", i > 0 ? "," : "", mf_le32(d + i),
		              mf_le32(d + i + 4));
}

static void dump_log_record(struct mf_buf *out, uint32_t type, const uint8_t *d,
                            uint32_t size, uint32_t *cur_rec_size)
{
	uint32_t base = mf_log_base_type(type);

	switch (base) {
	case MF_T_APPEND:
		for (uint32_t i = 0; i + 8 <= size; i += 8)
			mf_buf_printf(out, " uid=%u flags=0x%02x",
			              mf_le32(d + i), d[i + 4]);
		break;
	case MF_T_EXPUNGE:
	case MF_T_KEYWORD_RESET:
		dump_ranges(out, d, size);
		break;
	case MF_T_EXPUNGE_GUID:
		for (uint32_t i = 0; i + 20 <= size; i += 20) {
			char hex[MF_GUID128_HEX_LEN];

			mf_guid128_to_hex(d + i + 4, hex);
			mf_buf_printf(out, " uid=%u guid=%s", mf_le32(d + i),
			              hex);
		}
		break;
	case MF_T_FLAG_UPDATE:
		for (uint32_t i = 0; i + 12 <= size; i += 12)
			mf_buf_printf(out,
			              " uids=%u-%u add=0x%02x "
			              "remove=0x%02x modseq_inc=%u",
			              mf_le32(d + i), mf_le32(d + i + 4),
			              d[i + 8], d[i + 9], d[i + 10]);
		break;
	case MF_T_HEADER_UPDATE:
		for (uint32_t i = 0; i + 4 <= size;) {
			uint32_t off = mf_le16(d + i), len = mf_le16(d + i + 2);

			if (i + 4 + len > size)
				break;
			mf_buf_printf(out, " offset=%u size=%u", off, len);
			if (len == 4)
				mf_buf_printf(out, " value=%u",
				              mf_le32(d + i + 4));
			else {
				mf_buf_append_c(out, ' ');
				mf_buf_append_hex(out, d + i + 4, len);
			}
			i = MF_ALIGN4(i + 4 + len);
		}
		break;
	case MF_T_EXT_INTRO:
		for (uint32_t i = 0; i + 20 <= size;) {
			uint32_t ns = mf_le16(d + i + 18);

			if (i + 20 + ns > size)
				break;
			mf_buf_printf(out,
			              " ext_id=%d reset_id=%u hdr_size=%u "
			              "record_size=%u record_align=%u "
			              "flags=0x%x name=%.*s",
			              (int32_t)mf_le32(d + i),
			              mf_le32(d + i + 4), mf_le32(d + i + 8),
			              mf_le16(d + i + 12), mf_le16(d + i + 14),
			              mf_le16(d + i + 16), (int)ns,
			              (const char *)d + i + 20);
			*cur_rec_size = mf_le16(d + i + 12);
			i += MF_ALIGN4(20 + ns);
		}
		break;
	case MF_T_EXT_RESET:
		if (size >= 4)
			mf_buf_printf(out, " new_reset_id=%u preserve=%u",
			              mf_le32(d), size >= 5 ? d[4] : 0);
		break;
	case MF_T_EXT_HDR_UPDATE:
	case MF_T_EXT_HDR_UPDATE32: {
		uint32_t hl = base == MF_T_EXT_HDR_UPDATE ? 4 : 8;

		for (uint32_t i = 0; i + hl <= size;) {
			uint32_t off =
			    hl == 4 ? mf_le16(d + i) : mf_le32(d + i);
			uint32_t len =
			    hl == 4 ? mf_le16(d + i + 2) : mf_le32(d + i + 4);

			if (len > size - i - hl)
				break;
			mf_buf_printf(out, " offset=%u size=%u ", off, len);
			mf_buf_append_hex(out, d + i + hl, len);
			i = MF_ALIGN4(i + hl + len);
		}
		break;
	}
	case MF_T_EXT_REC_UPDATE: {
		uint32_t stride = MF_ALIGN4(4 + *cur_rec_size);

		for (uint32_t i = 0; i + stride <= size; i += stride) {
			mf_buf_printf(out, " uid=%u ", mf_le32(d + i));
			mf_buf_append_hex(out, d + i + 4, *cur_rec_size);
		}
		break;
	}
	case MF_T_EXT_ATOMIC_INC:
		for (uint32_t i = 0; i + 8 <= size; i += 8)
			mf_buf_printf(out, " uid=%u diff=%d", mf_le32(d + i),
			              (int32_t)mf_le32(d + i + 4));
		break;
	case MF_T_KEYWORD_UPDATE:
		if (size >= 4) {
			uint32_t ns = mf_le16(d + 2), off = MF_ALIGN4(4 + ns);

			if (4 + ns <= size)
				mf_buf_printf(out, " %s %.*s",
				              d[0] == 0 ? "add" : "remove",
				              (int)ns, (const char *)d + 4);
			if (off < size)
				dump_ranges(out, d + off, size - off);
		}
		break;
	case MF_T_MODSEQ_UPDATE:
		for (uint32_t i = 0; i + 12 <= size; i += 12)
			mf_buf_printf(
			    out, " uid=%u modseq=%llu", mf_le32(d + i),
			    (unsigned long long)mf_le32(d + i + 4) |
			        ((unsigned long long)mf_le32(d + i + 8) << 32));
		break;
	case MF_T_BOUNDARY:
		if (size >= 4)
			mf_buf_printf(out, " size=%u", mf_le32(d));
		break;
	default:
		break;
	}
}

static int dump_log(const char *path, const uint8_t *d, size_t len,
                    struct mf_buf *out, char **error_r)
{
	uint32_t hdr_size, cur_rec_size = 0;
	uint64_t modseq;
	size_t off;

	if (len < MF_LOG_MIN_HDR_SIZE) {
		*error_r = mf_strdup_printf("%s: log header too short at "
		                            "offset 0",
		                            path);
		return -1;
	}
	hdr_size = mf_le16(d + 2);
	modseq = hdr_size >= 32 && len >= 32 ? mf_le64(d + 24) : 0;
	mf_buf_printf(out,
	              "version = %u.%u\nhdr size = %u\nindex id = %u\n"
	              "file seq = %u\nprev file = %u/%u\ncreate stamp = %u\n"
	              "initial modseq = %llu\ncompat flags = 0x%02x\n",
	              d[0], d[1], hdr_size, mf_le32(d + 4), mf_le32(d + 8),
	              mf_le32(d + 12), mf_le32(d + 16), mf_le32(d + 20),
	              (unsigned long long)modseq, len > 32 ? d[32] : 0);
	if (hdr_size < MF_LOG_MIN_HDR_SIZE || hdr_size > len) {
		*error_r = mf_strdup_printf("%s: invalid header size %u at "
		                            "offset 2",
		                            path, hdr_size);
		return -1;
	}
	off = hdr_size;
	while (off + MF_LOG_REC_HDR_SIZE <= len) {
		uint32_t size = mf_log_size_decode(d + off);
		uint32_t type = mf_le32(d + off + 4), base;
		const char *why;

		if (size == 0) {
			mf_buf_printf(out,
			              "%zu: unfinished record (size 0), "
			              "%zu bytes ignored\n",
			              off, len - off);
			return 0;
		}
		if (size < MF_LOG_REC_HDR_SIZE || off + size > len) {
			if (size >= MF_LOG_REC_HDR_SIZE) {
				mf_buf_printf(out,
				              "%zu: torn record (size %u "
				              "past end), ignored\n",
				              off, size);
				return 0;
			}
			*error_r = mf_strdup_printf("%s: record size %u too "
			                            "small at offset %zu",
			                            path, size, off);
			return -1;
		}
		base = mf_log_base_type(type);
		mf_log_update_modseq(type, d + off + 8, size - 8, &modseq,
		                     d[1]);
		mf_buf_printf(out, "%zu: %s%s%s size=%u modseq=%llu:", off,
		              type_name(base),
		              (type & MF_T_EXTERNAL) != 0 ? " (ext)" : "",
		              (type & MF_T_SYNC) != 0 ? " (sync)" : "", size,
		              (unsigned long long)modseq);
		why = mf_log_record_check(type, d + off + 8, size - 8);
		if (why != NULL) {
			mf_buf_append_c(out, '\n');
			*error_r = mf_strdup_printf("%s: %s at offset %zu",
			                            path, why, off);
			return -1;
		}
		dump_log_record(out, type, d + off + 8, size - 8,
		                &cur_rec_size);
		mf_buf_append_c(out, '\n');
		off += size;
	}
	if (off < len)
		mf_buf_printf(out, "%zu: %zu trailing bytes ignored\n", off,
		              len - off);
	return 0;
}

static int dump_index(const char *path, struct mf_buf *out, char **error_r)
{
	struct mf_map map;
	int ret = mf_index_file_read(path, &map, error_r);

	if (ret == MF_INDEX_ERR_NOTFOUND) {
		*error_r = mf_strdup_printf("%s: not an index of version 7 at "
		                            "offset 0",
		                            path);
		return -1;
	}
	if (ret < 0)
		return -1;
	mf_buf_printf(out, "version = %u.%u\nrecord size = %u\n", map.hdr[0],
	              map.hdr[1], map.record_size);
	{
		static const struct {
			unsigned off;
			const char *name;
		} f[] = {{MF_HOFF_INDEXID, "indexid"},
		         {MF_HOFF_FLAGS, "flags"},
		         {MF_HOFF_UID_VALIDITY, "uid validity"},
		         {MF_HOFF_NEXT_UID, "next uid"},
		         {MF_HOFF_MESSAGES, "messages count"},
		         {MF_HOFF_SEEN, "seen messages count"},
		         {MF_HOFF_DELETED, "deleted messages count"},
		         {MF_HOFF_FIRST_RECENT, "first recent uid"},
		         {MF_HOFF_UNSEEN_LOW, "first unseen uid lowwater"},
		         {MF_HOFF_DELETED_LOW, "first deleted uid lowwater"},
		         {MF_HOFF_LOG_SEQ, "log file seq"},
		         {MF_HOFF_TAIL, "log file tail offset"},
		         {MF_HOFF_HEAD, "log file head offset"},
		         {MF_HOFF_LOG2_ROTATE, "log2 rotate time"},
		         {MF_HOFF_TEMP_SCAN, "last temp file scan"},
		         {MF_HOFF_DAY_STAMP, "day stamp"}};

		for (size_t i = 0; i < MF_N_ELEMENTS(f); i++)
			mf_buf_printf(out, "%s = %u\n", f[i].name,
			              mf_map_hdr32(&map, f[i].off));
	}
	for (size_t i = 0; i < map.exts.count; i++) {
		const struct mf_map_ext *e = &map.exts.items[i];

		mf_buf_printf(out,
		              "-- extension %zu --\nname = %s\n"
		              "hdr_size = %u\nreset_id = %u\n"
		              "record_offset = %u\nrecord_size = %u\n"
		              "record_align = %u\nheader = ",
		              i, e->name, e->hdr_size, e->reset_id,
		              e->record_offset, e->record_size,
		              e->record_align);
		mf_buf_append_hex(out, e->hdr, MF_MIN(e->hdr_size, 256));
		mf_buf_append_c(out, '\n');
	}
	for (size_t k = 0; k < map.keywords.count; k++)
		mf_buf_printf(out, "keyword %zu = %s\n", k,
		              map.keywords.items[k]);
	for (uint32_t s = 1; s <= map.count; s++) {
		const uint8_t *r = mf_map_rec(&map, s);

		mf_buf_printf(out, "RECORD: seq=%u uid=%u flags=0x%02x", s,
		              mf_le32(r), r[4]);
		for (size_t i = 0; i < map.exts.count; i++) {
			const struct mf_map_ext *e = &map.exts.items[i];

			if (e->record_size == 0)
				continue;
			mf_buf_printf(out, " %s=", e->name);
			mf_buf_append_hex(out, r + e->record_offset,
			                  e->record_size);
		}
		mf_buf_append_c(out, '\n');
	}
	mf_map_free(&map);
	return 0;
}

static int dump_mailbox_log(const char *path, const uint8_t *d, size_t len,
                            struct mf_buf *out)
{
	static const char *const names[] = {
	    "?",         "delete-mailbox", "delete-dir", "rename",
	    "subscribe", "unsubscribe",    "create-dir"};

	for (size_t off = 0; off + 24 <= len; off += 24) {
		char hex[MF_GUID128_HEX_LEN];
		uint32_t ts = ((uint32_t)d[off + 20] << 24) |
		              ((uint32_t)d[off + 21] << 16) |
		              ((uint32_t)d[off + 22] << 8) | d[off + 23];

		mf_guid128_to_hex(d + off + 4, hex);
		mf_buf_printf(out, "%zu: %s %s %u\n", off,
		              d[off] < MF_N_ELEMENTS(names) ? names[d[off]]
		                                            : "unknown",
		              hex, ts);
	}
	if (len % 24 != 0)
		mf_buf_printf(out, "%zu: partial record ignored\n",
		              len - len % 24);
	(void)path;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *p = strrchr(path, '/');

	return p != NULL ? p + 1 : path;
}

int mf_dump_file(const char *path, struct mf_buf *out, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	const char *name = base_name(path);
	const uint8_t *d;
	int ret;

	if (mf_file_read_all(path, &buf, error_r) < 0)
		return -1;
	d = (const uint8_t *)buf.data;
	if (strstr(name, "mailbox.log") != NULL) {
		ret = dump_mailbox_log(path, d, buf.len, out);
	} else if (strcmp(name, "subscriptions") == 0) {
		char **names;
		uint32_t n;

		ret = mf_subscriptions_read(path, '/', &names, &n, error_r);
		for (uint32_t i = 0; ret == 0 && i < n; i++)
			mf_buf_printf(out, "%s\n", names[i]);
		if (ret == 0)
			mf_subscriptions_free(&names);
	} else if (mf_str_ends(name, ".log") || mf_str_ends(name, ".log.2") ||
	           (buf.len >= MF_LOG_MIN_HDR_SIZE && d[0] == MF_LOG_MAJOR)) {
		ret = dump_log(path, d, buf.len, out, error_r);
	} else if (buf.len > 0 && d[0] == MF_IDX_MAJOR) {
		ret = dump_index(path, out, error_r);
	} else {
		*error_r = mf_strdup_printf("%s: unknown file type", path);
		ret = -1;
	}
	mf_buf_free(&buf);
	return ret;
}
