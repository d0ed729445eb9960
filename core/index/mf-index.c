/* SPDX-License-Identifier: MIT */
/* mf-index.c - opening an index, loading it the way Dovecot does
 * (dovecot-formats.md §8.6-§8.7) and the read accessors. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-index-private.h"

int mf_index_set_error(struct mf_index *index, int ret, const char *fmt, ...)
{
	struct mf_buf b = MF_BUF_INIT;
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&b, fmt, args);
	va_end(args);
	free(index->error);
	index->error = mf_buf_detach(&b);
	return ret;
}

const char *mf_index_last_error(const struct mf_index *index)
{
	return index->error != NULL ? index->error : "";
}

static void set_defaults(struct mf_index_settings *set,
                         const struct mf_index_settings *in)
{
	if (in != NULL)
		*set = *in;
	else
		mf_zero(set);
	if (set->rewrite_min_log_bytes == 0)
		set->rewrite_min_log_bytes = 8 * 1024;
	if (set->rewrite_max_log_bytes == 0)
		set->rewrite_max_log_bytes = 128 * 1024;
	if (set->log_rotate_min_size == 0)
		set->log_rotate_min_size = 32 * 1024;
	if (set->log_rotate_max_size == 0)
		set->log_rotate_max_size = 1024 * 1024;
	if (set->log_rotate_min_age == 0)
		set->log_rotate_min_age = 300;
	if (set->lock_timeout_secs == 0)
		set->lock_timeout_secs = 120;
	if (set->file_mode == 0)
		set->file_mode = 0600;
}

/* Track the tail offset like Dovecot's log reader: header updates of
 * log_file_tail_offset in EXTERNAL records set it; other EXTERNAL
 * transactions move it along only while it is at the read position. */
static int track_tail(struct mf_index *index, const struct mf_log_file *f,
                      size_t rec_off, uint32_t type, const uint8_t *d,
                      uint32_t size)
{
	uint32_t trans_size = size + MF_LOG_REC_HDR_SIZE;

	if ((type & MF_T_EXTERNAL) == 0)
		return 0;
	if (mf_log_base_type(type) == MF_T_HEADER_UPDATE && size >= 4) {
		uint32_t off = mf_le16(d), len = mf_le16(d + 2);

		if (off <= MF_HOFF_TAIL && off + len >= MF_HOFF_TAIL + 4 &&
		    4 + len <= size) {
			uint32_t tail = mf_le32(d + 4 + (MF_HOFF_TAIL - off));

			if (tail < index->last_read_tail)
				return 0; /* shrinking tails are ignored */
			if (tail > rec_off + trans_size)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_CORRUPT,
				    "corrupted transaction log %s: "
				    "log_file_tail_offset %u goes past the "
				    "record at offset %zu",
				    f->path, tail, rec_off);
			index->last_read_tail = tail;
			if (tail > index->max_tail)
				index->max_tail = tail;
			return 0;
		}
	}
	if (index->max_tail == rec_off)
		index->max_tail += trans_size;
	return 0;
}

/* Replay file f: count modseqs from its start, apply records from
 * start_off on (when apply), track the tail when it is the head. */
static int replay_from(struct mf_index *index, struct mf_sync_ctx *ctx,
                       const struct mf_log_file *f, size_t start_off,
                       bool is_head, size_t from_off, uint64_t modseq)
{
	size_t off = from_off, rec_off;
	uint32_t type, size;
	const uint8_t *d;

	for (;;) {
		rec_off = off;
		if (mf_log_file_next(f, &off, &type, &d, &size) <= 0)
			break;
		mf_log_update_modseq(type, d, size, &modseq, f->minor);
		if (is_head && track_tail(index, f, rec_off, type, d, size) < 0)
			return -1;
		if (rec_off < start_off)
			continue;
		ctx->modseq = modseq;
		if (mf_sync_record(ctx, type, d, size) < 0)
			return mf_index_set_error(
			    index, MF_INDEX_ERR_CORRUPT,
			    "corrupted transaction log %s: %s (record type "
			    "0x%x at offset %zu)",
			    f->path, ctx->error, type, rec_off);
	}
	ctx->modseq = modseq;
	index->log_modseq = modseq;
	return 0;
}

static int replay_file(struct mf_index *index, struct mf_sync_ctx *ctx,
                       const struct mf_log_file *f, size_t start_off,
                       bool is_head)
{
	return replay_from(index, ctx, f, start_off, is_head, f->hdr_size,
	                   f->initial_modseq);
}

static void free_loaded(struct mf_index *index)
{
	mf_map_free(&index->map);
	if (index->have_log)
		mf_log_file_free(&index->log);
	if (index->have_log2)
		mf_log_file_free(&index->log2);
	index->have_log = index->have_log2 = false;
	if (index->kw_list != NULL) {
		free(index->kw_list);
		index->kw_list = NULL;
	}
}

static int load_once(struct mf_index *index)
{
	struct mf_sync_ctx ctx;
	struct mf_log_file *first = NULL;
	size_t start_off = 0;
	char *err = NULL;
	int ret;

	free_loaded(index);
	index->have_main = false;
	index->log_modseq = 0;
	index->loaded = false;
	if (stat(index->index_path, &index->main_st) < 0)
		memset(&index->main_st, 0, sizeof(index->main_st));
	if (stat(index->log2_path, &index->log2_st) < 0)
		memset(&index->log2_st, 0, sizeof(index->log2_st));
	index->last_read_tail = index->max_tail = 0;
	index->deleted = false;

	ret = mf_index_file_read(index->index_path, &index->map, &err);
	if (ret == 0) {
		index->have_main = true;
		index->main_log_seq =
		    mf_map_hdr32(&index->map, MF_HOFF_LOG_SEQ);
		index->main_tail = mf_map_hdr32(&index->map, MF_HOFF_TAIL);
	} else if (ret == MF_INDEX_ERR_NOTFOUND) {
		mf_map_init(&index->map);
		index->main_log_seq = index->main_tail = 0;
	} else {
		mf_map_init(&index->map);
		ret = mf_index_set_error(index, ret, "%s", err);
		free(err);
		return ret;
	}

	ret = mf_log_file_read(index->log_path,
	                       index->locked ? index->lock_fd : -1, &index->log,
	                       &err);
	if (ret == 0)
		index->have_log = true;
	else if (ret != MF_INDEX_ERR_NOTFOUND)
		goto log_error;
	ret = mf_log_file_read(index->log2_path, -1, &index->log2, &err);
	if (ret == 0)
		index->have_log2 = true;
	else if (ret != MF_INDEX_ERR_NOTFOUND)
		goto log_error;
	if (!index->have_log && index->have_log2) {
		/* a lone .log.2 cannot be the head; Dovecot would start a new
		 * log, so it is only useful to reach the index */
		index->log = index->log2;
		index->have_log = true;
		index->have_log2 = false;
		free(index->log.path);
		index->log.path = mf_strdup(index->log2_path);
	}
	if (index->have_log2 && (index->log.prev_seq != index->log2.seq ||
	                         index->log2.indexid != index->log.indexid)) {
		/* not the previous file of this log: unusable */
		mf_log_file_free(&index->log2);
		index->have_log2 = false;
	}

	if (index->have_main) {
		uint32_t seq = index->main_log_seq;
		uint32_t head = mf_map_hdr32(&index->map, MF_HOFF_HEAD);
		uint32_t idxid = mf_map_hdr32(&index->map, MF_HOFF_INDEXID);

		if (index->have_log && index->log.indexid != idxid)
			return mf_index_set_error(
			    index, MF_INDEX_ERR_CORRUPT,
			    "transaction log %s: indexid %u does not match "
			    "index file %s (%u) at offset 4",
			    index->log.path, index->log.indexid,
			    index->index_path, idxid);
		if (!index->have_log) {
			/* only the index: it is the whole state */
		} else if (index->have_log2 && index->log2.seq == seq) {
			first = &index->log2;
			start_off = head;
		} else if (index->log.seq == seq) {
			first = &index->log;
			start_off = head;
		} else if (index->log.prev_seq == seq &&
		           index->log.prev_offset == head) {
			first = &index->log;
			start_off = index->log.hdr_size;
		} else {
			return mf_index_set_error(
			    index, MF_INDEX_ERR_CORRUPT,
			    "index file %s points to log seq %u offset %u "
			    "which no longer exists (%s has seq %u)",
			    index->index_path, seq, head, index->log.path,
			    index->log.seq);
		}
		if (first != NULL) {
			if (start_off < first->hdr_size)
				start_off = first->hdr_size;
			if (start_off > first->valid_size)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_CORRUPT,
				    "index file %s: log_file_head_offset "
				    "%zu is past the end of %s (%zu) at "
				    "offset %u",
				    index->index_path, start_off, first->path,
				    first->valid_size, MF_HOFF_HEAD);
		}
	} else {
		if (!index->have_log)
			return mf_index_set_error(index, MF_INDEX_ERR_NOTFOUND,
			                          "index %s/%s does not exist",
			                          index->dir, index->prefix);
		if (index->have_log2 && index->log2.prev_seq == 0)
			first = &index->log2;
		else if (index->log.prev_seq == 0)
			first = &index->log;
		else
			return mf_index_set_error(
			    index, MF_INDEX_ERR_CORRUPT,
			    "transaction log %s does not start from the "
			    "beginning (prev_file_seq %u at offset 12) and "
			    "there is no usable index file",
			    index->log.path, index->log.prev_seq);
		start_off = first->hdr_size;
		mf_map_set_hdr32(&index->map, MF_HOFF_INDEXID,
		                 index->log.indexid);
	}
	if (first == &index->log2 &&
	    index->log.prev_offset != index->log2.valid_size)
		return mf_index_set_error(
		    index, MF_INDEX_ERR_CORRUPT,
		    "transaction log %s: prev_file_offset %u at offset 16 "
		    "does not match the size of %s (%zu)",
		    index->log.path, index->log.prev_offset, index->log2.path,
		    index->log2.valid_size);

	if (index->have_log) {
		if (index->have_main && index->log.seq == index->main_log_seq)
			index->last_read_tail = index->main_tail;
		/* Nothing before the first record can be unprocessed: a tail
		 * below the header would never meet a record offset, so
		 * EXTERNAL transactions could not move it and we would never
		 * write log_file_tail_offset (Dovecot's mdbox map check then
		 * reports "Inconsistency in map index" and rebuilds). */
		if (index->last_read_tail < index->log.hdr_size)
			index->last_read_tail = (uint32_t)index->log.hdr_size;
		index->max_tail = index->last_read_tail;
	}

	mf_sync_init(&ctx, &index->map);
	if (index->have_log && first == &index->log2 &&
	    replay_file(index, &ctx, &index->log2, start_off, false) < 0)
		goto sync_error;
	if (index->have_log &&
	    replay_file(index, &ctx, &index->log,
	                first == &index->log ? start_off : 0, true) < 0)
		goto sync_error;
	if (index->have_log) {
		mf_sync_finish(&ctx, index->log.seq,
		               (uint32_t)index->log.valid_size);
		if (mf_map_hdr32(&index->map, MF_HOFF_TAIL) < index->max_tail ||
		    index->main_log_seq != index->log.seq)
			mf_map_set_hdr32(&index->map, MF_HOFF_TAIL,
			                 index->max_tail);
	} else {
		/* no log: the highest modseq is what the index says */
		const struct mf_index_ext *e = NULL;
		int m = mf_map_ext_find(&index->map, "modseq");

		(void)e;
		if (m >= 0 && index->map.exts.items[m].hdr_size >= 8)
			index->log_modseq =
			    mf_le64(index->map.exts.items[m].hdr);
	}
	index->deleted = ctx.deleted;
	mf_sync_deinit(&ctx);
	index->loaded = true;
	mf_index_log2_release(index);
	return 0;

sync_error:
	mf_sync_deinit(&ctx);
	return -1;
log_error:
	ret = mf_index_set_error(index, ret, "%s", err);
	free(err);
	return ret;
}

void mf_index_log2_release(struct mf_index *index)
{
	if (!index->have_log2)
		return;
	free(index->log2.data);
	index->log2.data = NULL;
}

int mf_index_log2_reload(struct mf_index *index)
{
	struct mf_log_file f;
	char *err = NULL;

	if (!index->have_log2)
		return -1;
	if (index->log2.data != NULL)
		return 0;
	/* Nobody appends to a rotated log: the same file (inode, sequence)
	 * holds at least the records it held at the load. Anything else
	 * means it was replaced meanwhile; history then ends at the head
	 * log, as if .log.2 were gone. */
	if (mf_log_file_read(index->log2.path, -1, &f, &err) < 0) {
		free(err);
	} else if (f.ino == index->log2.ino && f.dev == index->log2.dev &&
	           f.seq == index->log2.seq &&
	           f.valid_size >= index->log2.valid_size) {
		index->log2.data = f.data;
		index->log2.file_size = f.file_size;
		f.data = NULL;
		mf_log_file_free(&f);
		return 0;
	} else {
		mf_log_file_free(&f);
	}
	mf_log_file_free(&index->log2);
	index->have_log2 = false;
	return -1;
}

/* identity of a file for noticing replacement; zeros when missing */
static void file_id(const char *path, struct stat *st)
{
	if (stat(path, st) < 0)
		memset(st, 0, sizeof(*st));
}

static bool file_id_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Only the head log grew since the last load (same files otherwise):
 * replay just the new records. 1 done, 0 a full load is needed. */
/* Whether the log still ends, up to what we read, as we read it. The file
 * identity (device, inode) is not enough: a mailbox whose index was
 * deleted and created again in the same second can get the same inode
 * back, with a header (indexid and timestamp are that second) and even a
 * size like the old one's. Its last transactions are what differs. */
static bool log_tail_unchanged(const struct mf_log_file *log, int fd)
{
	uint8_t buf[256];
	size_t len;
	off_t off;

	if (log->data == NULL || log->valid_size <= log->hdr_size)
		return true;
	len = MF_MIN(sizeof(buf), log->valid_size - log->hdr_size);
	off = (off_t)(log->valid_size - len);
	return pread(fd, buf, len, off) == (ssize_t)len &&
	       memcmp(buf, log->data + off, len) == 0;
}

static int load_incremental(struct mf_index *index)
{
	struct stat st, st2, st3;
	struct mf_sync_ctx ctx;
	size_t old_valid;
	char *err = NULL;
	int fd, ret;

	if (!index->loaded || !index->have_log ||
	    strcmp(index->log.path, index->log_path) != 0)
		return 0;
	if (stat(index->log_path, &st) < 0 || st.st_ino != index->log.ino ||
	    st.st_dev != index->log.dev ||
	    (uint64_t)st.st_size < index->log.valid_size)
		return 0;
	if (stat(index->index_path, &st2) < 0)
		memset(&st2, 0, sizeof(st2));
	if (stat(index->log2_path, &st3) < 0)
		memset(&st3, 0, sizeof(st3));
	if (!file_id_same(&st2, &index->main_st) ||
	    st3.st_ino != index->log2_st.st_ino)
		return 0;

	fd = index->locked ? index->lock_fd : open(index->log_path, O_RDONLY);
	if (fd < 0)
		return 0;
	old_valid = index->log.valid_size;
	if (!log_tail_unchanged(&index->log, fd)) {
		if (!index->locked)
			close(fd);
		return 0;
	}
	ret = mf_log_file_extend(&index->log, fd, &err);
	if (!index->locked)
		close(fd);
	if (ret < 0) {
		free(err);
		return 0;
	}
	if (index->log.valid_size == old_valid)
		return 1;
	if (index->kw_list != NULL) {
		free(index->kw_list);
		index->kw_list = NULL;
	}
	mf_sync_init(&ctx, &index->map);
	ctx.deleted = index->deleted;
	if (replay_from(index, &ctx, &index->log, old_valid, true, old_valid,
	                index->log_modseq) < 0) {
		mf_sync_deinit(&ctx);
		return 0; /* a full load reports it */
	}
	mf_sync_finish(&ctx, index->log.seq, (uint32_t)index->log.valid_size);
	if (mf_map_hdr32(&index->map, MF_HOFF_TAIL) < index->max_tail)
		mf_map_set_hdr32(&index->map, MF_HOFF_TAIL, index->max_tail);
	index->deleted = ctx.deleted;
	mf_sync_deinit(&ctx);
	return 1;
}

/* Test aid (MF_INDEX_CHECK_INCREMENTAL set): an incremental load must give
 * exactly what a full load gives. */
static void check_incremental(struct mf_index *index)
{
	struct mf_index *full;
	char *err = NULL;
	const struct mf_map *a = &index->map, *b;
	bool same;

	if (mf_index_open(index->dir, index->prefix, MF_INDEX_OPEN_READONLY,
	                  &index->set, &full, &err) < 0) {
		free(err);
		return; /* files changed meanwhile or damaged: no verdict */
	}
	b = &full->map;
	same =
	    memcmp(a->hdr, b->hdr, sizeof(a->hdr)) == 0 &&
	    a->count == b->count && a->record_size == b->record_size &&
	    (a->count == 0 || memcmp(a->records, b->records,
	                             (size_t)a->count * a->record_size) == 0) &&
	    a->exts.count == b->exts.count &&
	    index->log_modseq == full->log_modseq &&
	    index->max_tail == full->max_tail &&
	    index->deleted == full->deleted;
	for (size_t i = 0; same && i < a->exts.count; i++) {
		const struct mf_map_ext *x = &a->exts.items[i],
		                        *y = &b->exts.items[i];

		same = strcmp(x->name, y->name) == 0 &&
		       x->hdr_size == y->hdr_size &&
		       x->reset_id == y->reset_id &&
		       x->record_offset == y->record_offset &&
		       x->record_size == y->record_size &&
		       (x->hdr_size == 0 ||
		        memcmp(x->hdr, y->hdr, x->hdr_size) == 0);
	}
	/* only a verdict when both saw the same files */
	if (!same && full->log.valid_size == index->log.valid_size &&
	    full->log.ino == index->log.ino &&
	    file_id_same(&full->main_st, &index->main_st)) {
		fprintf(stderr,
		        "mf-index: incremental load of %s differs "
		        "from a full load\n",
		        index->index_path);
		abort();
	}
	mf_index_close(&full);
}

int mf_index_load(struct mf_index *index)
{
	int ret = 0;

	/* Dovecot may replace dovecot.index and rotate the log between our
	 * reading one and the other; if the files changed meanwhile, what
	 * looked inconsistent is read again. Real corruption is reported. */
	ret = load_incremental(index);
	if (ret > 0) {
		if (getenv("MF_INDEX_CHECK_INCREMENTAL") != NULL)
			check_incremental(index);
		return 0;
	}
	for (int i = 0; i < 5; i++) {
		struct stat i1, l1, i2, l2;

		file_id(index->index_path, &i1);
		file_id(index->log_path, &l1);
		ret = load_once(index);
		if (ret != MF_INDEX_ERR_CORRUPT)
			break;
		file_id(index->index_path, &i2);
		file_id(index->log_path, &l2);
		if (file_id_same(&i1, &i2) && file_id_same(&l1, &l2))
			break;
	}
	return ret;
}

int mf_index_open(const char *dir, const char *prefix,
                  enum mf_index_open_flags flags,
                  const struct mf_index_settings *settings,
                  struct mf_index **index_r, char **error_r)
{
	struct mf_index *index = mf_calloc(1, sizeof(*index));
	int ret;

	index->dir = mf_strdup(dir);
	index->prefix = mf_strdup(prefix);
	index->index_path = mf_strdup_printf("%s/%s", dir, prefix);
	index->log_path = mf_strdup_printf("%s/%s.log", dir, prefix);
	index->log2_path = mf_strdup_printf("%s/%s.log.2", dir, prefix);
	index->flags = flags;
	index->lock_fd = -1;
	set_defaults(&index->set, settings);
	if (index->set.perm != NULL) {
		index->perm = *index->set.perm;
		index->set.perm = NULL; /* the caller's, gone after this */
	} else {
		mf_perm_init_default(&index->perm);
		index->perm.file_mode = (mode_t)index->set.file_mode;
	}
	mf_map_init(&index->map);

	ret = mf_index_refresh(index);
	if (ret == MF_INDEX_ERR_NOTFOUND &&
	    (flags & MF_INDEX_OPEN_CREATE) != 0 &&
	    (flags & MF_INDEX_OPEN_READONLY) == 0) {
		/* creating the log happens under the lock */
		ret = mf_index_lock(index);
		if (ret == 0)
			mf_index_unlock(index);
	}
	if (ret < 0) {
		*error_r = mf_strdup(mf_index_last_error(index));
		mf_index_close(&index);
		*index_r = NULL;
		return ret;
	}
	*index_r = index;
	return 0;
}

void mf_index_close(struct mf_index **_index)
{
	struct mf_index *index = *_index;

	if (index == NULL)
		return;
	*_index = NULL;
	if (index->locked)
		mf_index_unlock(index);
	if (index->lock_fd >= 0)
		close(index->lock_fd);
	free_loaded(index);
	free(index->dir);
	free(index->prefix);
	free(index->index_path);
	free(index->log_path);
	free(index->log2_path);
	free(index->error);
	free(index);
}

int mf_index_refresh(struct mf_index *index)
{
	return mf_index_load(index);
}

const struct mf_index_header *mf_index_get_header(const struct mf_index *idx)
{
	struct mf_index *index = (struct mf_index *)idx;
	const struct mf_map *m = &index->map;
	struct mf_index_header *h = &index->pub_hdr;

	h->indexid = mf_map_hdr32(m, MF_HOFF_INDEXID);
	h->flags = mf_map_hdr32(m, MF_HOFF_FLAGS);
	h->uid_validity = mf_map_hdr32(m, MF_HOFF_UID_VALIDITY);
	h->next_uid = mf_map_hdr32(m, MF_HOFF_NEXT_UID);
	h->messages_count = m->count;
	h->seen_messages_count = mf_map_hdr32(m, MF_HOFF_SEEN);
	h->deleted_messages_count = mf_map_hdr32(m, MF_HOFF_DELETED);
	h->first_recent_uid = mf_map_hdr32(m, MF_HOFF_FIRST_RECENT);
	h->first_unseen_uid_lowwater = mf_map_hdr32(m, MF_HOFF_UNSEEN_LOW);
	h->first_deleted_uid_lowwater = mf_map_hdr32(m, MF_HOFF_DELETED_LOW);
	h->log_file_seq = mf_map_hdr32(m, MF_HOFF_LOG_SEQ);
	h->log_file_tail_offset = mf_map_hdr32(m, MF_HOFF_TAIL);
	h->log_file_head_offset = mf_map_hdr32(m, MF_HOFF_HEAD);
	h->log2_rotate_time = mf_map_hdr32(m, MF_HOFF_LOG2_ROTATE);
	h->last_temp_file_scan = mf_map_hdr32(m, MF_HOFF_TEMP_SCAN);
	h->day_stamp = mf_map_hdr32(m, MF_HOFF_DAY_STAMP);
	for (int i = 0; i < 8; i++)
		h->day_first_uid[i] =
		    mf_map_hdr32(m, MF_HOFF_DAY_FIRST_UID + 4 * (unsigned)i);
	return h;
}

uint32_t mf_index_count(const struct mf_index *index)
{
	return index->map.count;
}

static uint64_t head_modseq(const struct mf_index *index)
{
	return index->log_modseq > 1 ? index->log_modseq : 1;
}

uint64_t mf_index_highest_modseq(const struct mf_index *index)
{
	int m = mf_map_ext_find(&index->map, "modseq");

	if (m >= 0 && index->map.exts.items[m].hdr_size == 16) {
		uint64_t h = mf_le64(index->map.exts.items[m].hdr);

		if (h != 0)
			return h;
	}
	return index->log_modseq;
}

const struct mf_index_rec *mf_index_rec_at(const struct mf_index *idx,
                                           uint32_t seq)
{
	struct mf_index *index = (struct mf_index *)idx;
	const uint8_t *rec;

	if (seq == 0 || seq > index->map.count)
		return NULL;
	rec = mf_map_rec(&index->map, seq);
	index->pub_rec.uid = mf_le32(rec);
	index->pub_rec.flags = rec[4];
	/* Dovecot: without the modseq extension every message has the head
	 * modseq; with it, an unset (0) value reads as the highest */
	if (mf_map_ext_find(&index->map, "modseq") < 0) {
		index->pub_rec.modseq = head_modseq(index);
	} else {
		uint64_t m = mf_map_rec_modseq(&index->map, seq);

		index->pub_rec.modseq =
		    m != 0 ? m : mf_index_highest_modseq(index);
		if (index->pub_rec.modseq == 0)
			index->pub_rec.modseq = head_modseq(index);
	}
	return &index->pub_rec;
}

uint32_t mf_index_lookup_uid(const struct mf_index *index, uint32_t uid)
{
	return mf_map_find_uid(&index->map, uid);
}

void mf_index_release_memory(struct mf_index *index)
{
	mf_map_records_release(&index->map);
}

bool mf_index_is_deleted(const struct mf_index *index)
{
	return index->deleted;
}

uint32_t mf_index_ext_count(const struct mf_index *index)
{
	return (uint32_t)index->map.exts.count;
}

const struct mf_index_ext *mf_index_ext_at(const struct mf_index *idx,
                                           uint32_t i)
{
	struct mf_index *index = (struct mf_index *)idx;
	const struct mf_map_ext *e;

	if (i >= index->map.exts.count)
		return NULL;
	e = &index->map.exts.items[i];
	index->pub_ext.name = e->name;
	index->pub_ext.reset_id = e->reset_id;
	index->pub_ext.hdr_size = e->hdr_size;
	index->pub_ext.hdr = e->hdr_size > 0 ? e->hdr : NULL;
	index->pub_ext.record_offset = e->record_offset;
	index->pub_ext.record_size = e->record_size;
	index->pub_ext.record_align = e->record_align;
	return &index->pub_ext;
}

const struct mf_index_ext *mf_index_ext_find(const struct mf_index *index,
                                             const char *name)
{
	int i = mf_map_ext_find(&index->map, name);

	return i < 0 ? NULL : mf_index_ext_at(index, (uint32_t)i);
}

const void *mf_index_rec_ext(const struct mf_index *index, uint32_t seq,
                             const struct mf_index_ext *ext)
{
	if (ext == NULL || ext->record_size == 0 || seq == 0 ||
	    seq > index->map.count)
		return NULL;
	return mf_map_rec(&index->map, seq) + ext->record_offset;
}

const char *const *mf_index_keywords(const struct mf_index *idx,
                                     uint32_t *count_r)
{
	struct mf_index *index = (struct mf_index *)idx;
	size_t n = index->map.keywords.count;

	if (index->kw_list == NULL) {
		index->kw_list = mf_calloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			index->kw_list[i] = index->map.keywords.items[i];
	}
	*count_r = (uint32_t)n;
	return (const char *const *)index->kw_list;
}

bool mf_index_rec_has_keyword(const struct mf_index *index, uint32_t seq,
                              uint32_t kw_idx)
{
	int e = mf_map_ext_find(&index->map, "keywords");
	const struct mf_map_ext *ext;

	if (e < 0 || seq == 0 || seq > index->map.count)
		return false;
	ext = &index->map.exts.items[e];
	if (kw_idx / 8 >= ext->record_size)
		return false;
	return (mf_map_rec(&index->map, seq)[ext->record_offset + kw_idx / 8] &
	        (1u << (kw_idx % 8))) != 0;
}
