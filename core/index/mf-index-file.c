/* SPDX-License-Identifier: MIT */
/* mf-index-file.c - the main index file (dovecot.index, §7): parse into a
 * map and serialise a map. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Check that the record uids ascend, reading the file through a small
 * buffer: the records themselves are mapped later and only the pages
 * that get used are ever loaded into this process. */
static int check_record_uids(int fd, const char *path, uint32_t hdr_size,
                             uint32_t record_size, uint32_t count,
                             char **error_r)
{
	uint32_t per = MF_MAX(1u, (uint32_t)(256 * 1024 / record_size));
	uint8_t *buf = mf_malloc((size_t)per * record_size);
	uint32_t prev = 0;
	int ret = 0;

	for (uint32_t i = 0; i < count && ret == 0; i += per) {
		uint32_t n = MF_MIN(per, count - i);
		off_t off = (off_t)hdr_size + (off_t)i * record_size;

		if (mf_pread_full(fd, buf, (size_t)n * record_size, off) < 0) {
			*error_r = mf_strdup_printf("pread(%s) failed: %s",
			                            path, strerror(errno));
			ret = MF_INDEX_ERR_IO;
			break;
		}
		for (uint32_t j = 0; j < n; j++) {
			uint32_t uid = mf_le32(buf + (size_t)j * record_size);

			if (uid == 0 || (i + j > 0 && uid <= prev)) {
				ret = corrupt(error_r, path,
				              hdr_size +
				                  (size_t)(i + j) * record_size,
				              "record uids not ascending");
				break;
			}
			prev = uid;
		}
	}
	free(buf);
	return ret;
}

int mf_index_file_read(const char *path, struct mf_map *map, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	const uint8_t *d;
	uint32_t base_size, hdr_size, off, msgs;
	size_t file_len, head_len;
	struct stat st;
	const char *why;
	int fd, ret = MF_INDEX_ERR_CORRUPT;

	mf_map_init(map);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return MF_INDEX_ERR_NOTFOUND;
		*error_r = mf_strdup_printf("open(%s) failed: %s", path,
		                            strerror(errno));
		return MF_INDEX_ERR_IO;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = mf_strdup_printf("fstat(%s) failed: %s", path,
		                            strerror(errno));
		ret = MF_INDEX_ERR_IO;
		goto out;
	}
	/* Only the header part is read here; the records are mapped. */
	file_len = (size_t)st.st_size;
	head_len = MF_MIN(file_len, (size_t)MF_IDX_BASE_HDR_SIZE);
	if (file_len >= 8) {
		uint8_t first[8];

		if (mf_pread_full(fd, first, sizeof(first), 0) < 0)
			goto read_error;
		head_len =
		    MF_MIN(file_len, MF_MAX(head_len, mf_le32(first + 4)));
	}
	mf_buf_reserve(&buf, head_len + 1);
	if (mf_pread_full(fd, buf.data, head_len, 0) < 0)
		goto read_error;
	buf.len = head_len;
	d = (const uint8_t *)buf.data;
	if (file_len < MF_IDX_MIN_BASE_HDR_SIZE) {
		if (file_len > 0 && d[0] != MF_IDX_MAJOR)
			goto ignore;
		ret = corrupt(error_r, path, 0, "file shorter than a header");
		goto out;
	}
	if (d[0] != MF_IDX_MAJOR) {
	ignore:
		/* another major version: Dovecot ignores the file */
		mf_buf_free(&buf);
		(void)close(fd);
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
	if (hdr_size > file_len) {
		ret = corrupt(error_r, path, 4,
		              "header size larger than the file");
		goto out;
	}
	/* (hdr_size <= head_len from here on) */
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
	if ((uint64_t)msgs * map->record_size > file_len - hdr_size) {
		ret = corrupt(error_r, path, 32,
		              "messages_count larger than the file holds");
		goto out;
	}
	ret = check_record_uids(fd, path, hdr_size, map->record_size, msgs,
	                        error_r);
	if (ret != 0)
		goto out;
	if (mf_map_records_map_file(map, fd, hdr_size, msgs) == 0) {
		fd = -1; /* the map's now */
	} else {
		/* no mmap here (e.g. a file system without it): a copy */
		mf_map_records_reserve(map, msgs + 1);
		if (mf_pread_full(fd, map->records,
		                  (size_t)msgs * map->record_size,
		                  hdr_size) < 0)
			goto read_error;
	}
	map->count = msgs;
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
	goto out;
read_error:
	*error_r =
	    mf_strdup_printf("pread(%s) failed: %s", path, strerror(errno));
	ret = MF_INDEX_ERR_IO;
out:
	mf_buf_free(&buf);
	if (fd >= 0)
		(void)close(fd);
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
}
