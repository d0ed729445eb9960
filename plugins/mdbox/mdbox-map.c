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

static int map_error(struct mailferry_storage *st, int ret)
{
	return dbox_index_error(st, MDBOX_MAP(st)->idx, ret);
}

/* A new map gets its UIDVALIDITY and its two extensions, as Dovecot's
 * first save writes them. */
static int map_create(struct mailferry_storage *st)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	struct mf_index_trans *t;
	uint32_t zero[2] = {0, 0};
	int ret = mf_index_lock(map->idx);

	if (ret < 0)
		return map_error(st, ret);
	if (mf_index_get_header(map->idx)->uid_validity == 0) {
		t = mf_index_trans_begin(map->idx, MF_INDEX_TRANS_EXTERNAL);
		mf_index_trans_set_uid_validity(t, (uint32_t)time(NULL));
		mf_index_trans_ext_intro(t, "map", 8, 12, 4);
		mf_index_trans_ext_hdr(t, "map", 0, zero, sizeof(zero));
		mf_index_trans_ext_intro(t, "ref", 0, 2, 2);
		ret = mf_index_trans_commit(&t);
		if (ret < 0)
			ret = map_error(st, ret);
	}
	mf_index_unlock(map->idx);
	return ret;
}

int mdbox_map_init(struct mailferry_storage *st)
{
	struct mdbox_map *map = mf_calloc(1, sizeof(*map));
	char *err = NULL;
	int ret;

	st->fmt_data = map;
	map->cache_fd = -1;
	map->dir = mf_strdup_printf("%s/" MDBOX_STORAGE_DIR, st->root);
	if (st->alt_root != NULL)
		map->alt_dir =
		    mf_strdup_printf("%s/" MDBOX_STORAGE_DIR, st->alt_root);
	if (!st->readonly &&
	    mf_perm_mkdir_parents(&st->perm, map->dir, &err) < 0)
		return dbox_error_take(st, dbox_errno_code(errno), err);
	/* m.N files of saves a killed run never committed */
	if (!st->readonly)
		dbox_temp_clean(st, map->dir);
	{
		struct mf_index_settings set;
		enum mf_index_open_flags flags = 0;

		mf_zero(&set);
		set.lock_timeout_secs = st->set.lock_timeout;
		set.perm = &st->perm;
		flags |= st->readonly ? MF_INDEX_OPEN_READONLY
		                      : MF_INDEX_OPEN_CREATE;
		if (dbox_want_fsync(st))
			flags |= MF_INDEX_OPEN_FSYNC;
		ret = mf_index_open(map->dir, MDBOX_MAP_PREFIX, flags, &set,
		                    &map->idx, &err);
	}
	if (ret == MF_INDEX_ERR_NOTFOUND && st->readonly) {
		free(err);
		return 0; /* nothing saved yet */
	}
	if (ret == MF_INDEX_ERR_CORRUPT && !st->readonly) {
		/* force-resync must be able to open the storage to rebuild
		 * the map; everything else fails on it (mdbox_map_unusable) */
		map->damaged = err;
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "%s: map index is damaged (%s); run "
		              "force-resync to rebuild it from the m.* files",
		              map->dir, err);
		return 0;
	}
	if (ret < 0)
		return dbox_error_take(st,
		                       ret == MF_INDEX_ERR_CORRUPT
		                           ? MAILFERRY_E_INVALIDDATA
		                           : MAILFERRY_E_TEMP,
		                       err);
	if (!st->readonly && mf_index_get_header(map->idx)->uid_validity == 0)
		return map_create(st);
	return 0;
}

void mdbox_map_deinit(struct mailferry_storage *st)
{
	struct mdbox_map *map = MDBOX_MAP(st);

	if (map == NULL)
		return;
	if (map->idx != NULL)
		mf_index_close(&map->idx);
	if (map->cache_fd >= 0)
		close(map->cache_fd);
	free(map->cache_path);
	free(map->damaged);
	free(map->dir);
	free(map->alt_dir);
	free(map);
	st->fmt_data = NULL;
}

int mdbox_map_unusable(struct mailferry_storage *st)
{
	struct mdbox_map *map = MDBOX_MAP(st);

	if (map->damaged != NULL)
		return dbox_error(st, MAILFERRY_E_INVALIDDATA,
		                  "%s: map index is damaged (%s); force-resync "
		                  "rebuilds it",
		                  map->dir, map->damaged);
	return dbox_error(st, MAILFERRY_E_NOTFOUND, "%s: map index is missing",
	                  map->dir);
}

static int map_open(struct mailferry_storage *st, char **error_r)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	struct mf_index_settings set;
	enum mf_index_open_flags flags = MF_INDEX_OPEN_CREATE;

	mf_zero(&set);
	set.lock_timeout_secs = st->set.lock_timeout;
	set.perm = &st->perm;
	if (dbox_want_fsync(st))
		flags |= MF_INDEX_OPEN_FSYNC;
	return mf_index_open(map->dir, MDBOX_MAP_PREFIX, flags, &set, &map->idx,
	                     error_r);
}

int mdbox_map_reopen_damaged(struct mailferry_storage *st)
{
	static const char *const suffixes[] = {"", ".log", ".log.2"};
	struct mdbox_map *map = MDBOX_MAP(st);
	char *path, *err = NULL;
	int ret;

	if (map->idx != NULL)
		return 0;
	/* a damaged main index file: the logs alone may still hold the
	 * map (Dovecot reads them the same way) */
	path = mf_strdup_printf("%s/" MDBOX_MAP_PREFIX, map->dir);
	if (unlink(path) < 0 && errno != ENOENT) {
		ret =
		    dbox_error(st, dbox_errno_code(errno),
		               "unlink(%s) failed: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	free(path);
	ret = map_open(st, &err);
	if (ret == 0 && mf_index_get_header(map->idx)->uid_validity != 0) {
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "%s: map index rebuilt from its log", map->dir);
	} else {
		if (ret < 0)
			dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
			              "%s: map log is damaged too (%s): "
			              "starting a new map",
			              map->dir, err);
		free(err);
		err = NULL;
		if (map->idx != NULL)
			mf_index_close(&map->idx);
		for (size_t i = 0; i < MF_N_ELEMENTS(suffixes); i++) {
			path = mf_strdup_printf("%s/" MDBOX_MAP_PREFIX "%s",
			                        map->dir, suffixes[i]);
			if (unlink(path) < 0 && errno != ENOENT) {
				ret = dbox_error(st, dbox_errno_code(errno),
				                 "unlink(%s) failed: %s", path,
				                 strerror(errno));
				free(path);
				return ret;
			}
			free(path);
		}
		ret = map_open(st, &err);
		if (ret < 0)
			return dbox_error_take(st, MAILFERRY_E_TEMP, err);
	}
	free(map->damaged);
	map->damaged = NULL;
	if (mf_index_get_header(map->idx)->uid_validity == 0)
		return map_create(st);
	return 0;
}

uint32_t mdbox_map_uid_validity(struct mailferry_storage *st)
{
	struct mdbox_map *map = MDBOX_MAP(st);

	return map->idx != NULL ? mf_index_get_header(map->idx)->uid_validity
	                        : 0;
}

uint32_t mdbox_map_highest_file_id(struct mailferry_storage *st)
{
	const struct mf_index_ext *ext;
	uint32_t id = 0;

	if (MDBOX_MAP(st)->idx == NULL)
		return 0;
	ext = mf_index_ext_find(MDBOX_MAP(st)->idx, "map");
	if (ext != NULL && ext->hdr_size >= 4)
		memcpy(&id, ext->hdr, 4);
	return id;
}

int mdbox_map_lookup(struct mailferry_storage *st, uint32_t map_uid,
                     struct mdbox_map_rec *rec_r, uint16_t *refcount_r)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	const struct mf_index_ext *ext, *ref;
	const void *data;
	uint32_t seq;

	if (map->idx == NULL)
		return mdbox_map_unusable(st);
	seq = mf_index_lookup_uid(map->idx, map_uid);
	if (seq == 0) {
		int ret = mf_index_refresh(map->idx);
		if (ret < 0)
			return map_error(st, ret);
		seq = mf_index_lookup_uid(map->idx, map_uid);
	}
	ext = mf_index_ext_find(map->idx, "map");
	if (seq == 0 || ext == NULL || ext->record_size < 12 ||
	    (data = mf_index_rec_ext(map->idx, seq, ext)) == NULL)
		return dbox_error(st, MAILFERRY_E_NOTFOUND,
		                  "%s: map uid %u not found (expunged or "
		                  "purged)",
		                  map->dir, map_uid);
	memcpy(&rec_r->file_id, data, 4);
	memcpy(&rec_r->offset, (const uint8_t *)data + 4, 4);
	memcpy(&rec_r->size, (const uint8_t *)data + 8, 4);
	if (refcount_r != NULL) {
		*refcount_r = 0;
		ref = mf_index_ext_find(map->idx, "ref");
		if (ref != NULL && ref->record_size >= 2 &&
		    (data = mf_index_rec_ext(map->idx, seq, ref)) != NULL)
			memcpy(refcount_r, data, 2);
	}
	return 0;
}

int mdbox_map_open_file(struct mailferry_storage *st, uint32_t file_id,
                        int *fd_r, char **path_r, uint32_t *msg_hdr_size_r)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	const char *dirs[2] = {map->dir, map->alt_dir};

	if (map->cache_fd >= 0 && map->cache_file_id == file_id) {
		*fd_r = dup(map->cache_fd);
		if (*fd_r < 0)
			return dbox_error(st, MAILFERRY_E_TEMP,
			                  "dup() failed: %s", strerror(errno));
		*path_r = mf_strdup(map->cache_path);
		*msg_hdr_size_r = map->cache_hdr_size;
		return 0;
	}
	for (int i = 0; i < 2 && dirs[i] != NULL; i++) {
		char *path = mf_strdup_printf("%s/m.%u", dirs[i], file_id);
		int fd = open(path, O_RDONLY);
		struct dbox_file_header fh;
		char *err = NULL;

		if (fd < 0) {
			int e = errno;
			if (e == ENOENT) {
				free(path);
				continue;
			}
			free(path);
			return dbox_error(st, dbox_errno_code(e),
			                  "open(%s/m.%u) failed: %s", dirs[i],
			                  file_id, strerror(e));
		}
		if (dbox_file_read_header(fd, path, &fh, &err) < 0) {
			close(fd);
			free(path);
			return dbox_error_take(st, MAILFERRY_E_INVALIDDATA,
			                       err);
		}
		if (map->cache_fd >= 0)
			close(map->cache_fd);
		free(map->cache_path);
		map->cache_fd = dup(fd);
		map->cache_file_id = file_id;
		map->cache_hdr_size = fh.msg_header_size;
		map->cache_path = mf_strdup(path);
		*fd_r = fd;
		*path_r = path;
		*msg_hdr_size_r = fh.msg_header_size;
		return 0;
	}
	return dbox_error(st, MAILFERRY_E_NOTFOUND,
	                  "mdbox storage file m.%u is missing in %s%s%s",
	                  file_id, map->dir,
	                  map->alt_dir != NULL ? " and " : "",
	                  map->alt_dir != NULL ? map->alt_dir : "");
}

int mdbox_map_update_refs(struct mailferry_storage *st,
                          const uint32_t *map_uids, size_t count, int diff)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	struct mf_index_trans *t;
	int ret;

	if (count == 0)
		return 0;
	if (map->idx == NULL)
		return mdbox_map_unusable(st);
	ret = map->held ? 0 : mf_index_lock(map->idx);
	if (ret < 0)
		return map_error(st, ret);
	t = mf_index_trans_begin(map->idx, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_ext_intro(t, "ref", 0, 2, 2);
	for (size_t i = 0; i < count; i++) {
		if (mf_index_lookup_uid(map->idx, map_uids[i]) != 0)
			mf_index_trans_ext_atomic_inc(t, "ref", map_uids[i],
			                              diff);
	}
	ret = mf_index_trans_commit(&t);
	if (ret < 0)
		ret = map_error(st, ret);
	if (!map->held)
		mf_index_unlock(map->idx);
	return ret;
}
