/* SPDX-License-Identifier: MIT */
/* mf-index-sync.c - applying transaction log records to a map with the
 * semantics of Dovecot's index sync (dovecot-formats.md §8.4-§8.5),
 * including the per-message modseqs kept in the "modseq" extension. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-index-private.h"

#define MODSEQ_EXT "modseq"
#define MODSEQ_HDR_SIZE 16

static int fail(struct mf_sync_ctx *ctx, const char *fmt, ...) MF_PRINTF(2, 3);
static int fail(struct mf_sync_ctx *ctx, const char *fmt, ...)
{
	va_list args;
	struct mf_buf b = MF_BUF_INIT;

	va_start(args, fmt);
	mf_buf_vprintf(&b, fmt, args);
	va_end(args);
	free(ctx->error);
	ctx->error = mf_buf_detach(&b);
	return -1;
}

static const struct mf_map_ext *modseq_ext(const struct mf_map *map)
{
	int idx = mf_map_ext_find(map, MODSEQ_EXT);

	if (idx < 0)
		return NULL;
	if (map->exts.items[idx].hdr_size != MODSEQ_HDR_SIZE ||
	    map->exts.items[idx].record_size != 8)
		return NULL;
	return &map->exts.items[idx];
}

uint64_t mf_map_rec_modseq(const struct mf_map *map, uint32_t seq)
{
	const struct mf_map_ext *e = modseq_ext(map);

	if (e == NULL || seq == 0 || seq > map->count)
		return 0;
	return mf_le64(mf_map_rec(map, seq) + e->record_offset);
}

/* Set the modseq of seq1..seq2: zero ones always, others only upwards
 * when nonzeros. */
static void modseq_set_range(struct mf_map *map, uint64_t modseq, bool nonzeros,
                             uint32_t seq1, uint32_t seq2)
{
	const struct mf_map_ext *e = modseq_ext(map);

	if (e == NULL)
		return;
	for (uint32_t s = seq1; s <= seq2; s++) {
		uint64_t cur = mf_le64(mf_map_rec(map, s) + e->record_offset);

		if (cur == 0 || (nonzeros && cur < modseq))
			mf_put64(mf_map_rec_mut(map, s) + e->record_offset,
			         modseq);
	}
}

static void modseq_touch(struct mf_sync_ctx *ctx, uint32_t seq1, uint32_t seq2)
{
	if (ctx->modseq_tracking)
		modseq_set_range(ctx->map, ctx->modseq, true, seq1, seq2);
}

/* Dovecot starts tracking when the map has the modseq extension; when
 * that happens on a map that has messages without modseqs, they all get
 * the extension header's highest modseq. */
static void modseq_start(struct mf_sync_ctx *ctx, bool at_init)
{
	const struct mf_map_ext *e = modseq_ext(ctx->map);
	const struct mf_map *map = ctx->map;

	if (e == NULL || ctx->modseq_tracking)
		return;
	ctx->modseq_tracking = true;
	if (at_init && mf_map_hdr32(map, MF_HOFF_LOG_SEQ) != 0) {
		/* As Dovecot's modseq sync init: when the modseq header was
		 * updated at (or after) the log position the map is at, the
		 * modseqs are up to date and no record needs looking at.
		 * (Looking at them all made every load of a large index
		 * read all of its records.) */
		uint32_t mseq = mf_le32(e->hdr + 8),
		         moff = mf_le32(e->hdr + 12);
		uint32_t seq = mf_map_hdr32(map, MF_HOFF_LOG_SEQ);

		if (mseq > seq ||
		    (mseq == seq && moff >= mf_map_hdr32(map, MF_HOFF_HEAD)))
			return;
	}
	if (ctx->map->count > 0)
		modseq_set_range(ctx->map, mf_le64(e->hdr), false, 1,
		                 ctx->map->count);
}

void mf_sync_init(struct mf_sync_ctx *ctx, struct mf_map *map)
{
	mf_zero(ctx);
	ctx->map = map;
	ctx->cur_ext = -1;
	if (modseq_ext(map) != NULL)
		modseq_start(ctx, true);
}

void mf_sync_deinit(struct mf_sync_ctx *ctx)
{
	free(ctx->error);
	ctx->error = NULL;
}

void mf_sync_finish(struct mf_sync_ctx *ctx, uint32_t log_seq,
                    uint32_t log_offset)
{
	struct mf_map *map = ctx->map;
	int idx = mf_map_ext_find(map, MODSEQ_EXT);

	if (idx >= 0 && modseq_ext(map) != NULL) {
		uint8_t *h = map->exts.items[idx].hdr;
		uint32_t s = mf_le32(h + 8), o = mf_le32(h + 12);

		if (s < log_seq || (s == log_seq && o < log_offset)) {
			mf_put64(h, ctx->modseq);
			mf_put32(h + 8, log_seq);
			mf_put32(h + 12, log_offset);
		}
	}
	mf_map_set_hdr32(map, MF_HOFF_LOG_SEQ, log_seq);
	mf_map_set_hdr32(map, MF_HOFF_HEAD, log_offset);
}

static void update_lowwaters(struct mf_map *map, uint32_t uid, uint8_t flags)
{
	if ((flags & MF_INDEX_FLAG_SEEN) == 0 &&
	    uid < mf_map_hdr32(map, MF_HOFF_UNSEEN_LOW))
		mf_map_set_hdr32(map, MF_HOFF_UNSEEN_LOW, uid);
	if ((flags & MF_INDEX_FLAG_DELETED) != 0 &&
	    uid < mf_map_hdr32(map, MF_HOFF_DELETED_LOW))
		mf_map_set_hdr32(map, MF_HOFF_DELETED_LOW, uid);
}

static int update_counts(struct mf_sync_ctx *ctx, uint8_t old_flags,
                         uint8_t new_flags)
{
	struct mf_map *map = ctx->map;
	uint32_t msgs = mf_map_hdr32(map, MF_HOFF_MESSAGES);
	uint32_t seen = mf_map_hdr32(map, MF_HOFF_SEEN);
	uint32_t del = mf_map_hdr32(map, MF_HOFF_DELETED);

	if (((old_flags ^ new_flags) & MF_INDEX_FLAG_SEEN) != 0) {
		if ((old_flags & MF_INDEX_FLAG_SEEN) != 0) {
			if (seen == 0)
				return fail(ctx, "seen counter wrong");
			seen--;
		} else {
			if (seen >= msgs)
				return fail(ctx, "seen counter wrong");
			if (++seen == msgs)
				mf_map_set_hdr32(
				    map, MF_HOFF_UNSEEN_LOW,
				    mf_map_hdr32(map, MF_HOFF_NEXT_UID));
		}
	}
	if (((old_flags ^ new_flags) & MF_INDEX_FLAG_DELETED) != 0) {
		if ((old_flags & MF_INDEX_FLAG_DELETED) == 0) {
			if (++del > msgs)
				return fail(ctx, "deleted counter wrong");
		} else {
			if (del == 0 || del > msgs)
				return fail(ctx, "deleted counter wrong");
			if (--del == 0)
				mf_map_set_hdr32(
				    map, MF_HOFF_DELETED_LOW,
				    mf_map_hdr32(map, MF_HOFF_NEXT_UID));
		}
	}
	mf_map_set_hdr32(map, MF_HOFF_SEEN, seen);
	mf_map_set_hdr32(map, MF_HOFF_DELETED, del);
	return 0;
}

static int sync_append(struct mf_sync_ctx *ctx, const uint8_t *d, uint32_t size)
{
	struct mf_map *map = ctx->map;

	for (uint32_t i = 0; i + 8 <= size; i += 8) {
		uint32_t uid = mf_le32(d + i);
		uint8_t flags = d[i + 4];
		uint32_t next = mf_map_hdr32(map, MF_HOFF_NEXT_UID);
		uint8_t *rec;

		/* UINT32_MAX would wrap next_uid to 0 */
		if (uid < next || uid == 0 || uid == UINT32_MAX)
			return fail(ctx,
			            "append with uid %u, but next_uid = %u",
			            uid, next);
		mf_map_records_reserve(map, map->count + 1);
		map->count++;
		rec = mf_map_rec_mut(map, map->count);
		memset(rec, 0, map->record_size);
		mf_put32(rec, uid);
		rec[4] = flags;
		mf_map_set_hdr32(map, MF_HOFF_MESSAGES, map->count);
		mf_map_set_hdr32(map, MF_HOFF_NEXT_UID, uid + 1);
		if ((flags & MF_INDEX_FLAG_DIRTY) != 0)
			mf_map_set_hdr32(map, MF_HOFF_FLAGS,
			                 mf_map_hdr32(map, MF_HOFF_FLAGS) |
			                     MF_IDX_HDR_FLAG_HAVE_DIRTY);
		update_lowwaters(map, uid, flags);
		if (update_counts(ctx, 0, flags) < 0)
			return -1;
		modseq_touch(ctx, map->count, map->count);
	}
	return 0;
}

static int sync_flags(struct mf_sync_ctx *ctx, const uint8_t *d, uint32_t size)
{
	struct mf_map *map = ctx->map;

	for (uint32_t i = 0; i + 12 <= size; i += 12) {
		uint32_t seq1, seq2;
		uint8_t add = d[i + 8], rm = d[i + 9], inc = d[i + 10];

		if (!mf_map_uid_range(map, mf_le32(d + i), mf_le32(d + i + 4),
		                      &seq1, &seq2))
			continue;
		if (((add | rm) & MF_INDEX_FLAGS_SYSTEM) != 0 || inc != 0)
			modseq_touch(ctx, seq1, seq2);
		if ((add & MF_INDEX_FLAG_DIRTY) != 0)
			mf_map_set_hdr32(map, MF_HOFF_FLAGS,
			                 mf_map_hdr32(map, MF_HOFF_FLAGS) |
			                     MF_IDX_HDR_FLAG_HAVE_DIRTY);
		for (uint32_t s = seq1; s <= seq2; s++) {
			uint8_t *rec = mf_map_rec_mut(map, s);
			uint8_t old = rec[4];

			rec[4] = (uint8_t)((old & ~rm) | add);
			update_lowwaters(map, mf_le32(rec), rec[4]);
			if (update_counts(ctx, old, rec[4]) < 0)
				return -1;
		}
	}
	return 0;
}

static void expunge_seq(struct mf_sync_ctx *ctx, uint32_t seq)
{
	struct mf_map *map = ctx->map;
	uint8_t *rec = mf_map_rec_mut(map, seq);

	(void)update_counts(ctx, rec[4], 0);
	memmove(rec, rec + map->record_size,
	        (size_t)(map->count - seq) * map->record_size);
	map->count--;
	mf_map_set_hdr32(map, MF_HOFF_MESSAGES, map->count);
}

static int sync_expunge(struct mf_sync_ctx *ctx, uint32_t type,
                        const uint8_t *d, uint32_t size, bool guid)
{
	struct mf_map *map = ctx->map;

	if ((type & MF_T_EXTERNAL) == 0)
		return 0; /* only a request to the backend */
	if (guid) {
		for (uint32_t i = 0; i + 20 <= size; i += 20) {
			uint32_t seq = mf_map_find_uid(map, mf_le32(d + i));

			if (seq != 0)
				expunge_seq(ctx, seq);
		}
		return 0;
	}
	for (uint32_t i = 0; i + 8 <= size; i += 8) {
		uint32_t seq1, seq2;

		if (!mf_map_uid_range(map, mf_le32(d + i), mf_le32(d + i + 4),
		                      &seq1, &seq2))
			continue;
		for (uint32_t s = seq2; s >= seq1; s--)
			expunge_seq(ctx, s);
	}
	return 0;
}

static int sync_header(struct mf_sync_ctx *ctx, const uint8_t *d, uint32_t size)
{
	struct mf_map *map = ctx->map;

	for (uint32_t i = 0; i + 4 <= size;) {
		uint32_t off = mf_le16(d + i), len = mf_le16(d + i + 2);
		uint32_t next = mf_map_hdr32(map, MF_HOFF_NEXT_UID);
		uint8_t keep_a[20], keep_b[16], keep_c[12];

		if (i + 4 + len > size)
			return fail(ctx, "header update extends beyond record");
		if (off + len > MF_IDX_BASE_HDR_SIZE)
			return fail(ctx,
			            "header update outside range: %u + %u "
			            "> %u",
			            off, len, MF_IDX_BASE_HDR_SIZE);
		/* Fields the replay and the log own are kept: versions,
		 * sizes and indexid (0-19), the counters (32-47) and the log
		 * position (60-71); next_uid never shrinks. Dovecot never
		 * writes updates there, a damaged log might. */
		memcpy(keep_a, map->hdr, sizeof(keep_a));
		memcpy(keep_b, map->hdr + MF_HOFF_MESSAGES, sizeof(keep_b));
		memcpy(keep_c, map->hdr + MF_HOFF_LOG_SEQ, sizeof(keep_c));
		memcpy(map->hdr + off, d + i + 4, len);
		memcpy(map->hdr, keep_a, sizeof(keep_a));
		memcpy(map->hdr + MF_HOFF_MESSAGES, keep_b, sizeof(keep_b));
		memcpy(map->hdr + MF_HOFF_LOG_SEQ, keep_c, sizeof(keep_c));
		if (mf_map_hdr32(map, MF_HOFF_NEXT_UID) < next)
			mf_map_set_hdr32(map, MF_HOFF_NEXT_UID, next);
		i = MF_ALIGN4(i + 4 + len);
	}
	return 0;
}

static int sync_ext_intro_one(struct mf_sync_ctx *ctx, const uint8_t *u)
{
	struct mf_map *map = ctx->map;
	uint32_t ext_id = mf_le32(u), reset_id = mf_le32(u + 4);
	uint32_t hdr_size = mf_le32(u + 8);
	uint16_t rec_size = mf_le16(u + 12), rec_align = mf_le16(u + 14);
	uint16_t flags = mf_le16(u + 16), name_size = mf_le16(u + 18);
	char *name;
	int idx;

	ctx->cur_ext = -2;
	ctx->cur_ext_ignore = true;
	ctx->cur_ext_record_size = 0;
	if (ext_id != UINT32_MAX && ext_id >= map->exts.count)
		return fail(ctx, "extension introduction for unknown id %u",
		            ext_id);
	if (ext_id == UINT32_MAX && name_size == 0)
		return fail(ctx, "extension introduction without id or name");
	if (ext_id != UINT32_MAX) {
		idx = (int)ext_id;
		name = mf_strdup(map->exts.items[idx].name);
	} else {
		name = mf_strndup((const char *)u + 20, name_size);
		idx = mf_map_ext_find(map, name);
	}
	if (strcmp(name, "keywords") == 0) {
		free(name);
		return fail(ctx, "extension introduction for keywords");
	}
	if (name[0] == '\0' || strlen(name) != strnlen(name, 65536) ||
	    (rec_size == 0 && hdr_size == 0) || hdr_size > MF_IDX_EXT_HDR_MAX ||
	    (rec_size != 0 &&
	     (rec_align == 0 || rec_align > 8 ||
	      (rec_align & (rec_align - 1)) != 0 || rec_size >= 32768))) {
		free(name);
		return fail(ctx, "broken extension introduction");
	}
	for (const char *p = name; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
			free(name);
			return fail(ctx, "broken extension introduction: "
			                 "invalid name");
		}
	}
	ctx->cur_ext_record_size = rec_size;
	if (idx >= 0) {
		if (reset_id == map->exts.items[idx].reset_id) {
			mf_map_ext_resize(map, (uint32_t)idx, hdr_size,
			                  rec_size, rec_align,
			                  (flags & MF_T_INTRO_NO_SHRINK) != 0);
			ctx->cur_ext_ignore = false;
		} else {
			/* updates for another reset generation; only a
			 * reset applies */
			ctx->cur_ext_ignore = true;
		}
		ctx->cur_ext = idx;
		free(name);
		return 0;
	}
	idx = (int)mf_map_ext_add(map, name, reset_id, hdr_size, rec_size,
	                          rec_align);
	free(name);
	ctx->cur_ext_ignore = false;
	ctx->cur_ext = idx;
	return 0;
}

static int sync_ext_intro(struct mf_sync_ctx *ctx, const uint8_t *d,
                          uint32_t size)
{
	for (uint32_t i = 0; i + 20 <= size;) {
		if (sync_ext_intro_one(ctx, d + i) < 0)
			return -1;
		i += MF_ALIGN4(20 + mf_le16(d + i + 18));
	}
	return 0;
}

static int sync_ext_reset(struct mf_sync_ctx *ctx, const uint8_t *d,
                          uint32_t size)
{
	struct mf_map *map = ctx->map;
	struct mf_map_ext *e;
	bool preserve = size >= 5 && d[4] != 0;

	if (size < 4)
		return fail(ctx, "ext reset: invalid record size");
	if (ctx->cur_ext == -1)
		return fail(ctx, "extension reset without intro prefix");
	if (ctx->cur_ext < 0)
		return fail(ctx, "extension reset after a broken intro");
	e = &map->exts.items[ctx->cur_ext];
	e->reset_id = mf_le32(d);
	if (!preserve) {
		memset(e->hdr, 0, e->hdr_size);
		for (uint32_t s = 1; s <= map->count; s++)
			memset(mf_map_rec_mut(map, s) + e->record_offset, 0,
			       e->record_size);
	}
	return 0;
}

static int sync_ext_hdr(struct mf_sync_ctx *ctx, const uint8_t *d,
                        uint32_t size, bool wide)
{
	struct mf_map *map = ctx->map;
	uint32_t hl = wide ? 8 : 4;

	if (ctx->cur_ext == -1)
		return fail(ctx, "extension header update without intro "
		                 "prefix");
	for (uint32_t i = 0; i < size;) {
		uint32_t off, len;
		struct mf_map_ext *e;

		if (i + hl > size)
			return fail(ctx, "ext hdr update: invalid record size");
		off = wide ? mf_le32(d + i) : mf_le16(d + i);
		len = wide ? mf_le32(d + i + 4) : mf_le16(d + i + 2);
		if (len > size - i - hl)
			return fail(ctx, "ext hdr update: invalid record size");
		if (!ctx->cur_ext_ignore) {
			e = &map->exts.items[ctx->cur_ext];
			if ((uint64_t)off + len > e->hdr_size)
				return fail(ctx, "extension header update "
				                 "points outside header size");
			memcpy(e->hdr + off, d + i + hl, len);
			if (strcmp(e->name, MODSEQ_EXT) == 0)
				modseq_start(ctx, false);
		}
		i = MF_ALIGN4(i + hl + len);
	}
	return 0;
}

static int sync_ext_rec(struct mf_sync_ctx *ctx, const uint8_t *d,
                        uint32_t size)
{
	struct mf_map *map = ctx->map;
	uint32_t stride = MF_ALIGN4(4 + (uint32_t)ctx->cur_ext_record_size);
	struct mf_map_ext *e;

	if (ctx->cur_ext == -1)
		return fail(ctx, "extension record updated without intro "
		                 "prefix");
	if (ctx->cur_ext_ignore)
		return 0;
	e = &map->exts.items[ctx->cur_ext];
	for (uint32_t i = 0; i < size; i += stride) {
		uint32_t uid, seq, n;
		uint8_t *p;

		if (i + stride > size)
			return fail(ctx, "ext rec update: invalid record size");
		uid = mf_le32(d + i);
		if (uid == 0 || uid >= mf_map_hdr32(map, MF_HOFF_NEXT_UID))
			return fail(ctx,
			            "extension record update for invalid "
			            "uid=%u",
			            uid);
		seq = mf_map_find_uid(map, uid);
		if (seq == 0)
			continue;
		p = mf_map_rec_mut(map, seq) + e->record_offset;
		n = MF_MIN(ctx->cur_ext_record_size, e->record_size);
		memcpy(p, d + i + 4, n);
		if (n < e->record_size)
			memset(p + n, 0, e->record_size - n);
	}
	return 0;
}

static int sync_ext_inc(struct mf_sync_ctx *ctx, const uint8_t *d,
                        uint32_t size)
{
	struct mf_map *map = ctx->map;
	uint32_t rs = ctx->cur_ext_record_size;
	struct mf_map_ext *e;

	if (ctx->cur_ext == -1)
		return fail(ctx, "extension record updated without intro "
		                 "prefix");
	if (ctx->cur_ext_ignore)
		return 0;
	e = &map->exts.items[ctx->cur_ext];
	if (rs != 1 && rs != 2 && rs != 4 && rs != 8)
		return fail(ctx, "extension record inc with invalid size=%u",
		            rs);
	if (rs > e->record_size)
		return fail(ctx, "extension record inc larger than record");
	for (uint32_t i = 0; i + 8 <= size; i += 8) {
		uint32_t uid = mf_le32(d + i), seq;
		int32_t diff = (int32_t)mf_le32(d + i + 4);
		uint64_t maxv = rs == 8 ? UINT64_MAX : (1ULL << (rs * 8)) - 1;
		uint64_t v;
		uint8_t *p;

		if (uid == 0 || uid >= mf_map_hdr32(map, MF_HOFF_NEXT_UID))
			return fail(ctx,
			            "extension record inc for invalid "
			            "uid=%u",
			            uid);
		seq = mf_map_find_uid(map, uid);
		if (seq == 0)
			continue;
		p = mf_map_rec_mut(map, seq) + e->record_offset;
		v = rs == 1   ? p[0]
		    : rs == 2 ? mf_le16(p)
		    : rs == 4 ? mf_le32(p)
		              : mf_le64(p);
		if (diff < 0 && v < (uint64_t)(-(int64_t)diff))
			return fail(ctx,
			            "extension record inc drops number "
			            "below zero (uid=%u)",
			            uid);
		if (diff > 0 && maxv - v < (uint64_t)diff)
			return fail(ctx,
			            "extension record inc overflows "
			            "number (uid=%u)",
			            uid);
		v = diff < 0 ? v - (uint64_t)(-(int64_t)diff)
		             : v + (uint64_t)diff;
		if (rs == 1)
			p[0] = (uint8_t)v;
		else if (rs == 2)
			mf_put16(p, (uint16_t)v);
		else if (rs == 4)
			mf_put32(p, (uint32_t)v);
		else
			mf_put64(p, v);
	}
	return 0;
}

static int sync_keyword(struct mf_sync_ctx *ctx, const uint8_t *d,
                        uint32_t size)
{
	struct mf_map *map = ctx->map;
	bool remove = d[0] == 1;
	uint32_t name_size = mf_le16(d + 2);
	uint32_t off = MF_ALIGN4(4 + name_size);
	char *name = mf_strndup((const char *)d + 4, name_size);
	int kw = mf_map_keyword_find(map, name);
	struct mf_map_ext *e;
	int eidx;

	if (strlen(name) != name_size || name_size == 0) {
		free(name);
		return fail(ctx, "keyword update with an invalid name");
	}
	if (kw < 0)
		kw = (int)mf_map_keyword_add(map, name);
	free(name);
	eidx = mf_map_ext_find(map, "keywords");
	e = &map->exts.items[eidx];
	if ((uint32_t)kw / 8 >= e->record_size) {
		uint32_t need = ((uint32_t)map->keywords.count + 7) / 8;

		if (remove)
			return 0;
		if (need % 4 != 0)
			need++;
		mf_map_ext_resize(map, (uint32_t)eidx, e->hdr_size,
		                  (uint16_t)need, 1, false);
		e = &map->exts.items[eidx];
	}
	for (uint32_t i = off; i + 8 <= size; i += 8) {
		uint32_t seq1, seq2;
		uint8_t mask = (uint8_t)(1u << (kw % 8));

		if (!mf_map_uid_range(map, mf_le32(d + i), mf_le32(d + i + 4),
		                      &seq1, &seq2))
			continue;
		modseq_touch(ctx, seq1, seq2);
		for (uint32_t s = seq1; s <= seq2; s++) {
			uint8_t *p =
			    mf_map_rec_mut(map, s) + e->record_offset + kw / 8;
			if (remove)
				*p &= (uint8_t)~mask;
			else
				*p |= mask;
		}
	}
	return 0;
}

static int sync_keyword_reset(struct mf_sync_ctx *ctx, const uint8_t *d,
                              uint32_t size)
{
	struct mf_map *map = ctx->map;
	int eidx = mf_map_ext_find(map, "keywords");
	struct mf_map_ext *e;

	if (eidx < 0)
		return 0;
	e = &map->exts.items[eidx];
	for (uint32_t i = 0; i + 8 <= size; i += 8) {
		uint32_t seq1, seq2;

		if (!mf_map_uid_range(map, mf_le32(d + i), mf_le32(d + i + 4),
		                      &seq1, &seq2))
			continue;
		modseq_touch(ctx, seq1, seq2);
		for (uint32_t s = seq1; s <= seq2; s++)
			memset(mf_map_rec_mut(map, s) + e->record_offset, 0,
			       e->record_size);
	}
	return 0;
}

static int sync_modseq_update(struct mf_sync_ctx *ctx, const uint8_t *d,
                              uint32_t size)
{
	struct mf_map *map = ctx->map;
	const struct mf_map_ext *e = modseq_ext(map);

	for (uint32_t i = 0; i + 12 <= size; i += 12) {
		uint32_t uid = mf_le32(d + i), seq;
		uint64_t m = (uint64_t)mf_le32(d + i + 4) |
		             ((uint64_t)mf_le32(d + i + 8) << 32);
		uint8_t *p;

		if (uid == 0)
			continue;
		seq = mf_map_find_uid(map, uid);
		if (seq == 0)
			continue;
		if (e == NULL || !ctx->modseq_tracking)
			return fail(ctx, "modseqs updated before they were "
			                 "enabled");
		p = mf_map_rec_mut(map, seq) + e->record_offset;
		if (mf_le64(p) <= m)
			mf_put64(p, m);
	}
	return 0;
}

int mf_sync_record(struct mf_sync_ctx *ctx, uint32_t type, const uint8_t *data,
                   uint32_t size)
{
	switch (mf_log_base_type(type)) {
	case MF_T_APPEND:
		return sync_append(ctx, data, size);
	case MF_T_EXPUNGE:
		return sync_expunge(ctx, type, data, size, false);
	case MF_T_EXPUNGE_GUID:
		return sync_expunge(ctx, type, data, size, true);
	case MF_T_FLAG_UPDATE:
		return sync_flags(ctx, data, size);
	case MF_T_HEADER_UPDATE:
		return sync_header(ctx, data, size);
	case MF_T_EXT_INTRO:
		return sync_ext_intro(ctx, data, size);
	case MF_T_EXT_RESET:
		return sync_ext_reset(ctx, data, size);
	case MF_T_EXT_HDR_UPDATE:
		return sync_ext_hdr(ctx, data, size, false);
	case MF_T_EXT_HDR_UPDATE32:
		return sync_ext_hdr(ctx, data, size, true);
	case MF_T_EXT_REC_UPDATE:
		return sync_ext_rec(ctx, data, size);
	case MF_T_EXT_ATOMIC_INC:
		return sync_ext_inc(ctx, data, size);
	case MF_T_KEYWORD_UPDATE:
		return sync_keyword(ctx, data, size);
	case MF_T_KEYWORD_RESET:
		return sync_keyword_reset(ctx, data, size);
	case MF_T_MODSEQ_UPDATE:
		return sync_modseq_update(ctx, data, size);
	case MF_T_INDEX_DELETED:
		if ((type & MF_T_EXTERNAL) != 0)
			ctx->deleted = true;
		return 0;
	case MF_T_INDEX_UNDELETED:
		if ((type & MF_T_EXTERNAL) != 0)
			ctx->deleted = false;
		return 0;
	case MF_T_BOUNDARY:
	case MF_T_ATTRIBUTE_UPDATE:
		return 0;
	default:
		return fail(ctx, "unknown transaction record type 0x%x",
		            type & MF_T_TYPE_MASK);
	}
}
