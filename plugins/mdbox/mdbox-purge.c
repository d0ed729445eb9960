/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "dbox-temp.h"
#include "mdbox-map.h"
#include "dbox-ops.h"
#include "mdbox-purge.h"

struct purge_msg {
	uint32_t map_uid;
	uint32_t file_id;
	uint32_t offset, size;
	uint16_t refs;
	uint32_t new_offset;
};

static int msg_cmp(const void *a, const void *b)
{
	const struct purge_msg *x = a, *y = b;

	if (x->file_id != y->file_id)
		return x->file_id < y->file_id ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Copy [offset, offset+size) of in to the end of out. */
static int copy_range(int in, const char *in_path, int out,
                      const char *out_path, uint64_t offset, uint64_t size,
                      char **error_r)
{
	char buf[65536];

	while (size > 0) {
		size_t n = (size_t)MF_MIN(size, (uint64_t)sizeof(buf));

		if (mf_pread_full(in, buf, n, (off_t)offset) < 0) {
			*error_r = mf_strdup_printf(
			    "pread(%s, offset %llu) failed: %s", in_path,
			    (unsigned long long)offset,
			    errno == EIO ? "file is truncated"
			                 : strerror(errno));
			return -1;
		}
		if (mf_write_full(out, buf, n) < 0) {
			*error_r = mf_strdup_printf("write(%s) failed: %s",
			                            out_path, strerror(errno));
			return -1;
		}
		offset += n;
		size -= n;
	}
	return 0;
}

/* Purge one file: msgs[0..count) are all its map records. Called with the
 * map locked. */
static int purge_file(struct mailferry_storage *st, struct purge_msg *msgs,
                      size_t count, uint32_t *highest_id)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	struct mf_index_trans *t;
	uint32_t file_id = msgs[0].file_id, hdr_size, new_id = 0;
	char *old_path = NULL, *tmp_path = NULL, *new_path = NULL, *err = NULL;
	int in_fd = -1, out_fd = -1, ret = 0;
	size_t live = 0;

	for (size_t i = 0; i < count; i++)
		live += msgs[i].refs > 0;
	ret = mdbox_map_open_file(st, file_id, &in_fd, &old_path, &hdr_size);
	if (ret == MAILFERRY_E_NOTFOUND && live == 0) {
		ret = 0; /* file already gone: only forget the records */
	} else if (ret < 0) {
		return ret;
	}
	if (live > 0) {
		struct mf_buf hdr = MF_BUF_INIT;
		char *dir = mf_strdup(old_path), *slash = strrchr(dir, '/');

		/* the new file goes where the old one is (primary/ALT) */
		*slash = '\0';
		ret = dbox_temp_create(st, dir, &tmp_path, &out_fd);
		if (ret < 0) {
			free(dir);
			goto out;
		}
		dbox_file_format_header(&hdr, (int64_t)time(NULL));
		if (mf_write_full(out_fd, hdr.data, hdr.len) < 0) {
			ret = dbox_error(st, dbox_errno_code(errno),
			                 "write(%s) failed: %s", tmp_path,
			                 strerror(errno));
			mf_buf_free(&hdr);
			free(dir);
			goto out;
		}
		{
			uint64_t pos = hdr.len;
			for (size_t i = 0; i < count; i++) {
				if (msgs[i].refs == 0)
					continue;
				msgs[i].new_offset = (uint32_t)pos;
				if (copy_range(in_fd, old_path, out_fd,
				               tmp_path, msgs[i].offset,
				               msgs[i].size, &err) < 0) {
					ret = dbox_error_take(
					    st, dbox_errno_code(errno), err);
					break;
				}
				pos += msgs[i].size;
			}
		}
		mf_buf_free(&hdr);
		if (ret == 0 &&
		    (ret = dbox_fsync_commit(st, out_fd, tmp_path)) == 0) {
			for (;;) {
				new_id = ++*highest_id;
				new_path =
				    mf_strdup_printf("%s/m.%u", dir, new_id);
				if (link(tmp_path, new_path) == 0)
					break;
				if (errno != EEXIST) {
					ret = dbox_error(
					    st, dbox_errno_code(errno),
					    "link(%s, %s) failed: %s", tmp_path,
					    new_path, strerror(errno));
					break;
				}
				free(new_path);
				new_path = NULL;
			}
			if (ret == 0)
				ret = dbox_fsync_dir(st, dir);
		}
		free(dir);
		if (ret < 0)
			goto out;
	}
	t = mf_index_trans_begin(map->idx, MF_INDEX_TRANS_EXTERNAL);
	if (new_id != 0) {
		mf_index_trans_ext_intro(t, "map", 8, 12, 4);
		mf_index_trans_ext_hdr(t, "map", 0, highest_id, 4);
		for (size_t i = 0; i < count; i++) {
			uint32_t rec[3] = {new_id, msgs[i].new_offset,
			                   msgs[i].size};
			if (msgs[i].refs > 0)
				mf_index_trans_ext_rec(t, "map",
				                       msgs[i].map_uid, rec);
		}
	}
	for (size_t i = 0; i < count; i++) {
		if (msgs[i].refs == 0)
			mf_index_trans_expunge(t, msgs[i].map_uid, NULL);
	}
	ret = mf_index_trans_commit(&t);
	if (ret < 0) {
		ret = dbox_index_error(st, map->idx, ret);
		if (new_path != NULL)
			(void)unlink(new_path);
		goto out;
	}
	/* the map no longer refers to the old file */
	if (old_path != NULL && unlink(old_path) < 0 && errno != ENOENT)
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "unlink(%s) failed: %s", old_path,
		              strerror(errno));
	dbox_api->log(st->ctx, MAILFERRY_LOG_DEBUG,
	              "purged m.%u: %zu of %zu messages kept%s", file_id, live,
	              count, new_id != 0 ? " (rewritten)" : "");
out:
	if (in_fd >= 0)
		close(in_fd);
	if (out_fd >= 0)
		close(out_fd);
	if (tmp_path != NULL)
		(void)unlink(tmp_path);
	free(tmp_path);
	free(new_path);
	free(old_path);
	return ret;
}

int mdbox_purge(struct mailferry_storage *st)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	const struct mf_index_ext *ext, *ref;
	struct mf_index_ext map_ext, ref_ext;
	MF_ARRAY(struct purge_msg) msgs = MF_ARRAY_INIT;
	uint32_t count, highest;
	int ret;

	if (map->idx == NULL)
		return map->damaged != NULL ? mdbox_map_unusable(st) : 0;
	dbox_temp_clean(st, map->dir);
	ret = mf_index_lock(map->idx);
	if (ret < 0)
		return dbox_index_error(st, map->idx, ret);
	/* copies: a found extension is only valid until the next find */
	ext = mf_index_ext_find(map->idx, "map");
	if (ext != NULL) {
		map_ext = *ext;
		ext = &map_ext;
	}
	ref = mf_index_ext_find(map->idx, "ref");
	if (ref != NULL) {
		ref_ext = *ref;
		ref = &ref_ext;
	}
	count = mf_index_count(map->idx);
	for (uint32_t seq = 1; ext != NULL && seq <= count; seq++) {
		const uint8_t *d = mf_index_rec_ext(map->idx, seq, ext);
		const uint8_t *r =
		    ref != NULL ? mf_index_rec_ext(map->idx, seq, ref) : NULL;
		struct purge_msg *m;

		if (d == NULL)
			continue;
		m = mf_array_append_zero(&msgs);
		m->map_uid = mf_index_rec_at(map->idx, seq)->uid;
		memcpy(&m->file_id, d, 4);
		memcpy(&m->offset, d + 4, 4);
		memcpy(&m->size, d + 8, 4);
		if (r != NULL)
			memcpy(&m->refs, r, 2);
	}
	mf_qsort(msgs.items, msgs.count, sizeof(*msgs.items), msg_cmp);
	highest = mdbox_map_highest_file_id(st);
	for (size_t i = 0; i < msgs.count && ret == 0;) {
		size_t j = i;
		bool dead = false;

		while (j < msgs.count &&
		       msgs.items[j].file_id == msgs.items[i].file_id) {
			dead = dead || msgs.items[j].refs == 0;
			j++;
		}
		if (dead) {
			/* the cached fd may point at the file we replace */
			if (map->cache_fd >= 0) {
				close(map->cache_fd);
				map->cache_fd = -1;
			}
			ret = purge_file(st, msgs.items + i, j - i, &highest);
		}
		if (dbox_api->should_stop(st->ctx) && ret == 0)
			ret = dbox_error(st, MAILFERRY_E_CANCELED,
			                 "purge interrupted");
		i = j;
	}
	mf_index_unlock(map->idx);
	mf_array_free(&msgs);
	return ret;
}
