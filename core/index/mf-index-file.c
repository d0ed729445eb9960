/* SPDX-License-Identifier: MIT */
/* mf-index-file.c - the main index file (dovecot.index, §7): parse into a
 * map and serialise a map. */
#include <errno.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-index-private.h"

static bool ext_name_valid(const uint8_t *name, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < 0x20 || name[i] >= 0x7f)
			return false;
	}
	return true;
}

static const char *ext_check(const struct mf_map *map,
                             const struct mf_map_ext *e)
{
	if (e->record_size == 0 && e->hdr_size == 0)
		return "extension has neither header nor records";
	if (e->hdr_size > MF_IDX_EXT_HDR_MAX)
		return "extension header too large";
	if (e->record_size == 0)
		return NULL;
	if (e->record_align == 0)
		return "record alignment is zero";
	if (e->record_align > 8)
		return "record alignment too large";
	if (e->record_size >= 32768)
		return "record size too large";
	if (e->record_offset == 0)
		return "record offset is zero";
	if ((uint32_t)e->record_offset + e->record_size > map->record_size)
		return "record field points outside the record";
	if (e->record_offset % e->record_align != 0)
		return "record field not aligned";
	if (map->record_size % e->record_align != 0)
		return "record size not aligned for the extension";
	return NULL;
}

static int corrupt(char **error_r, const char *path, size_t offset,
                   const char *what)
{
	*error_r = mf_strdup_printf("corrupted index file %s: %s at offset %zu",
	                            path, what, offset);
	return MF_INDEX_ERR_CORRUPT;
}

int mf_index_file_read(const char *path, struct mf_map *map, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	const uint8_t *d;
	uint32_t base_size, hdr_size, off, msgs;
	const char *why;
	char *err = NULL;
	int ret = MF_INDEX_ERR_CORRUPT;

	mf_map_init(map);
	if (mf_file_read_all(path, &buf, &err) < 0) {
		if (errno == ENOENT) {
			free(err);
			return MF_INDEX_ERR_NOTFOUND;
		}
		*error_r = err;
		return MF_INDEX_ERR_IO;
	}
	d = (const uint8_t *)buf.data;
	if (buf.len < MF_IDX_MIN_BASE_HDR_SIZE) {
		if (buf.len > 0 && d[0] != MF_IDX_MAJOR)
			goto ignore;
		ret = corrupt(error_r, path, 0, "file shorter than a header");
		goto out;
	}
	if (d[0] != MF_IDX_MAJOR) {
	ignore:
		/* another major version: Dovecot ignores the file */
		mf_buf_free(&buf);
		return MF_INDEX_ERR_NOTFOUND;
	}
	if (d[12] != MF_IDX_COMPAT_LE) {
		ret = corrupt(error_r, path, 12,
		              "compat flags are not little-endian");
		goto out;
	}
	if ((mf_le32(d + 20) & MF_IDX_HDR_FLAG_CORRUPTED) != 0) {
		ret = corrupt(error_r, path, 20, "corrupted flag set");
		goto out;
	}
	base_size = mf_le16(d + 2);
	hdr_size = mf_le32(d + 4);
	if (base_size < MF_IDX_MIN_BASE_HDR_SIZE || hdr_size < base_size) {
		ret = corrupt(error_r, path, 2, "invalid header sizes");
		goto out;
	}
	if (hdr_size > buf.len) {
		ret = corrupt(error_r, path, 4,
		              "header size larger than the file");
		goto out;
	}
	memcpy(map->hdr, d, MF_MIN(base_size, MF_IDX_BASE_HDR_SIZE));
	if (base_size < MF_IDX_BASE_HDR_SIZE)
		memset(map->hdr + base_size, 0,
		       MF_IDX_BASE_HDR_SIZE - base_size);
	/* we keep our own base header size and version */
	map->hdr[1] = MF_IDX_MINOR;
	mf_put16(map->hdr + 2, MF_IDX_BASE_HDR_SIZE);
	if (d[1] < 3) {
		/* fields that older minors used differently */
		mf_map_set_hdr32(map, 72, 0);
		mf_map_set_hdr32(map, MF_HOFF_LOG2_ROTATE, 0);
		mf_map_set_hdr32(map, MF_HOFF_TEMP_SCAN, 0);
	}
	map->record_size = mf_le32(d + 8);
	if (map->record_size < MF_IDX_REC_MIN_SIZE) {
		ret = corrupt(error_r, path, 8, "record_size too small");
		goto out;
	}

	off = MF_ALIGN8(base_size);
	while (off < hdr_size) {
		struct mf_map_ext e;
		uint32_t name_size, data_off;

		if (off + MF_IDX_EXT_HDR_SIZE >= hdr_size) {
			ret = corrupt(error_r, path, off,
			              "extension header goes outside header");
			goto out;
		}
		mf_zero(&e);
		e.hdr_size = mf_le32(d + off);
		e.reset_id = mf_le32(d + off + 4);
		e.record_offset = mf_le16(d + off + 8);
		e.record_size = mf_le16(d + off + 10);
		e.record_align = mf_le16(d + off + 12);
		name_size = mf_le16(d + off + 14);
		data_off = off + MF_ALIGN8(MF_IDX_EXT_HDR_SIZE + name_size);
		if (data_off > hdr_size || e.hdr_size > hdr_size - data_off ||
		    data_off + MF_ALIGN8(e.hdr_size) > hdr_size) {
			ret = corrupt(error_r, path, off,
			              "extension goes outside header");
			goto out;
		}
		if (!ext_name_valid(d + off + MF_IDX_EXT_HDR_SIZE, name_size)) {
			ret = corrupt(error_r, path, off + MF_IDX_EXT_HDR_SIZE,
			              "invalid extension name");
			goto out;
		}
		e.name = mf_strndup((const char *)d + off + MF_IDX_EXT_HDR_SIZE,
		                    name_size);
		if ((why = ext_check(map, &e)) != NULL ||
		    mf_map_ext_find(map, e.name) >= 0) {
			char *w = mf_strdup_printf(
			    "extension %s: %s", e.name,
			    why != NULL ? why : "duplicate name");

			ret = corrupt(error_r, path, off, w);
			free(w);
			free(e.name);
			goto out;
		}
		e.hdr = mf_calloc(1, MF_ALIGN8(e.hdr_size) + 1);
		memcpy(e.hdr, d + data_off, e.hdr_size);
		*(struct mf_map_ext *)mf_array_append_zero(&map->exts) = e;
		off = data_off + MF_ALIGN8(e.hdr_size);
	}

	msgs = mf_map_hdr32(map, MF_HOFF_MESSAGES);
	if ((uint64_t)msgs * map->record_size > buf.len - hdr_size) {
		ret = corrupt(error_r, path, 32,
		              "messages_count larger than the file holds");
		goto out;
	}
	map->count = msgs;
	map->records_cap = msgs + 1;
	map->records = mf_malloc((size_t)map->records_cap * map->record_size);
	memcpy(map->records, d + hdr_size, (size_t)msgs * map->record_size);
	for (uint32_t i = 0; i < msgs; i++) {
		uint32_t uid = mf_le32(mf_map_rec(map, i + 1));

		if (uid == 0 || (i > 0 && uid <= mf_le32(mf_map_rec(map, i)))) {
			ret = corrupt(error_r, path,
			              hdr_size + (size_t)i * map->record_size,
			              "record uids not ascending");
			goto out;
		}
	}
	if ((why = mf_map_check_header(map)) != NULL) {
		ret = corrupt(error_r, path, 0, why);
		goto out;
	}
	if (mf_map_parse_keywords(map, &why) < 0) {
		int k = mf_map_ext_find(map, "keywords");

		ret = corrupt(error_r, path, (size_t)(k < 0 ? 0 : k), why);
		goto out;
	}
	ret = 0;
out:
	mf_buf_free(&buf);
	if (ret != 0)
		mf_map_free(map);
	return ret;
}

void mf_index_file_build(const struct mf_map *map, struct mf_buf *out)
{
	size_t start = out->len, hdr_size_pos = start + 4;
	uint8_t tmp[MF_IDX_EXT_HDR_SIZE];
	static const uint8_t zeros[8];

	mf_buf_append(out, map->hdr, MF_IDX_BASE_HDR_SIZE);
	mf_put32(out->data + start + 8, map->record_size);
	for (size_t i = 0; i < map->exts.count; i++) {
		const struct mf_map_ext *e = &map->exts.items[i];
		size_t name_len = strlen(e->name), pad;

		mf_put32(tmp, e->hdr_size);
		mf_put32(tmp + 4, e->reset_id);
		mf_put16(tmp + 8, e->record_offset);
		mf_put16(tmp + 10, e->record_size);
		mf_put16(tmp + 12, e->record_align);
		mf_put16(tmp + 14, (uint16_t)name_len);
		mf_buf_append(out, tmp, sizeof(tmp));
		mf_buf_append(out, e->name, name_len);
		pad = MF_ALIGN8(MF_IDX_EXT_HDR_SIZE + name_len) -
		      (MF_IDX_EXT_HDR_SIZE + name_len);
		mf_buf_append(out, zeros, pad);
		mf_buf_append(out, e->hdr, e->hdr_size);
		mf_buf_append(out, zeros, MF_ALIGN8(e->hdr_size) - e->hdr_size);
	}
	mf_put32(out->data + hdr_size_pos, (uint32_t)(out->len - start));
	mf_put32(out->data + start + MF_HOFF_MESSAGES, map->count);
	mf_buf_append(out, map->records, (size_t)map->count * map->record_size);
}
