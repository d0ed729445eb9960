/* SPDX-License-Identifier: MIT */
/* mf-index-trans.c - building and committing transactions to the log the
 * way Dovecot's log append does (boundary, record types, tail offset). */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-index-private.h"

enum op_kind {
	OP_APPEND,
	OP_FLAGS,
	OP_KEYWORD,
	OP_KEYWORD_RESET,
	OP_EXPUNGE,
	OP_HEADER,
	OP_EXT_INTRO,
	OP_EXT_HDR,
	OP_EXT_REC,
	OP_EXT_INC,
	OP_EXT_RESET,
	OP_MODSEQ,
	OP_DELETED,
};

struct op {
	enum op_kind kind;
	uint32_t uid1, uid2;
	uint8_t add, remove;
	bool flag; /* keyword add, ext reset preserve, index deleted */
	uint64_t value;
	char *name;
	uint8_t *data;
	uint32_t size; /* data size */
	uint32_t off;  /* header offsets */
	uint32_t hdr_size;
	uint16_t rec_size, rec_align;
};

struct mf_index_trans {
	struct mf_index *index;
	enum mf_index_trans_flags flags;
	MF_ARRAY(struct op) ops;
	/* next_uid after the appends added so far (0 = none yet) */
	uint32_t next_append;
};

struct mf_index_trans *mf_index_trans_begin(struct mf_index *index,
                                            enum mf_index_trans_flags flags)
{
	struct mf_index_trans *t = mf_calloc(1, sizeof(*t));

	t->index = index;
	t->flags = flags;
	return t;
}

static struct op *op_add(struct mf_index_trans *t, enum op_kind kind)
{
	struct op *op = mf_array_append_zero(&t->ops);

	op->kind = kind;
	return op;
}

static void trans_free(struct mf_index_trans **_t)
{
	struct mf_index_trans *t = *_t;

	*_t = NULL;
	for (size_t i = 0; i < t->ops.count; i++) {
		free(t->ops.items[i].name);
		free(t->ops.items[i].data);
	}
	mf_array_free(&t->ops);
	free(t);
}

void mf_index_trans_rollback(struct mf_index_trans **t)
{
	trans_free(t);
}

int mf_index_trans_append(struct mf_index_trans *t, uint32_t uid, uint8_t flags,
                          uint32_t *uid_r)
{
	struct mf_index *index = t->index;
	uint32_t next = mf_map_hdr32(&index->map, MF_HOFF_NEXT_UID);
	struct op *op;

	/* the UID is checked again against the map at commit */
	if (t->next_append > next)
		next = t->next_append;
	if (uid == 0)
		uid = next;
	if (uid < next || uid == UINT32_MAX)
		return mf_index_set_error(index, MF_INDEX_ERR_INVALID,
		                          "append uid %u < next uid %u in %s",
		                          uid, next, index->index_path);
	op = op_add(t, OP_APPEND);
	op->uid1 = uid;
	t->next_append = uid + 1;
	op->add = flags;
	if (uid_r != NULL)
		*uid_r = uid;
	return 0;
}

void mf_index_trans_flags(struct mf_index_trans *t, uint32_t uid1,
                          uint32_t uid2, uint8_t add, uint8_t remove)
{
	struct op *op = op_add(t, OP_FLAGS);

	op->uid1 = uid1;
	op->uid2 = uid2;
	op->add = add;
	op->remove = (uint8_t)(remove & ~add);
}

void mf_index_trans_keyword(struct mf_index_trans *t, const char *name,
                            bool add, uint32_t uid1, uint32_t uid2)
{
	struct op *op = op_add(t, OP_KEYWORD);

	op->name = mf_strdup(name);
	op->flag = add;
	op->uid1 = uid1;
	op->uid2 = uid2;
}

void mf_index_trans_keyword_reset(struct mf_index_trans *t, uint32_t uid1,
                                  uint32_t uid2)
{
	struct op *op = op_add(t, OP_KEYWORD_RESET);

	op->uid1 = uid1;
	op->uid2 = uid2;
}

void mf_index_trans_expunge(struct mf_index_trans *t, uint32_t uid,
                            const uint8_t guid[16])
{
	struct op *op = op_add(t, OP_EXPUNGE);

	op->uid1 = uid;
	op->data = mf_calloc(1, 16);
	if (guid != NULL)
		memcpy(op->data, guid, 16);
	op->size = 16;
}

void mf_index_trans_header(struct mf_index_trans *t, uint32_t offset,
                           const void *data, uint32_t size)
{
	struct op *op = op_add(t, OP_HEADER);

	op->off = offset;
	op->size = size;
	op->data = mf_malloc(size + 1);
	memcpy(op->data, data, size);
}

void mf_index_trans_set_uid_validity(struct mf_index_trans *t, uint32_t uv)
{
	uint8_t b[4];

	mf_put32(b, uv);
	mf_index_trans_header(t, MF_HOFF_UID_VALIDITY, b, 4);
}

void mf_index_trans_set_next_uid(struct mf_index_trans *t, uint32_t next)
{
	uint8_t b[4];

	mf_put32(b, next);
	mf_index_trans_header(t, MF_HOFF_NEXT_UID, b, 4);
}

void mf_index_trans_ext_intro(struct mf_index_trans *t, const char *name,
                              uint32_t hdr_size, uint16_t record_size,
                              uint16_t record_align)
{
	struct op *op = op_add(t, OP_EXT_INTRO);

	op->name = mf_strdup(name);
	op->hdr_size = hdr_size;
	op->rec_size = record_size;
	op->rec_align = record_align;
}

void mf_index_trans_ext_hdr(struct mf_index_trans *t, const char *name,
                            uint32_t offset, const void *data, uint32_t size)
{
	struct op *op = op_add(t, OP_EXT_HDR);

	op->name = mf_strdup(name);
	op->off = offset;
	op->size = size;
	op->data = mf_malloc(size + 1);
	memcpy(op->data, data, size);
}

void mf_index_trans_ext_rec(struct mf_index_trans *t, const char *name,
                            uint32_t uid, const void *data)
{
	struct op *op = op_add(t, OP_EXT_REC);
	int e = mf_map_ext_find(&t->index->map, name);
	uint32_t rs = 0;

	/* the record size is the one the extension has at this point of
	 * the transaction: from an earlier intro in it, else from the map */
	if (e >= 0)
		rs = t->index->map.exts.items[e].record_size;
	for (size_t i = 0; i + 1 < t->ops.count; i++) {
		const struct op *o = &t->ops.items[i];

		if (o->kind == OP_EXT_INTRO && strcmp(o->name, name) == 0)
			rs = o->rec_size;
	}
	op->name = mf_strdup(name);
	op->uid1 = uid;
	op->size = rs;
	op->data = mf_calloc(1, rs + 1);
	if (rs > 0)
		memcpy(op->data, data, rs);
}

void mf_index_trans_ext_atomic_inc(struct mf_index_trans *t, const char *name,
                                   uint32_t uid, int32_t diff)
{
	struct op *op = op_add(t, OP_EXT_INC);

	op->name = mf_strdup(name);
	op->uid1 = uid;
	op->value = (uint64_t)(uint32_t)diff;
}

void mf_index_trans_ext_reset(struct mf_index_trans *t, const char *name,
                              uint32_t new_reset_id, bool preserve_data)
{
	struct op *op = op_add(t, OP_EXT_RESET);

	op->name = mf_strdup(name);
	op->value = new_reset_id;
	op->flag = preserve_data;
}

void mf_index_trans_modseq(struct mf_index_trans *t, uint32_t uid,
                           uint64_t modseq)
{
	struct op *op = op_add(t, OP_MODSEQ);

	op->uid1 = uid;
	op->value = modseq;
}

void mf_index_trans_index_deleted(struct mf_index_trans *t, bool deleted)
{
	struct op *op = op_add(t, OP_DELETED);

	op->flag = deleted;
}

/* --- serialisation --- */

struct writer {
	struct mf_buf out;
	uint32_t flags; /* EXTERNAL / SYNC bits for every record */
	uint32_t count; /* records written */
	/* extension state as the log reader will see it */
	char *cur_ext;
	uint32_t cur_rec_size;
};

static void rec_begin(struct writer *w, uint32_t type, size_t *start_r)
{
	uint8_t h[8] = {0};

	*start_r = w->out.len;
	if (type == MF_T_EXPUNGE || type == MF_T_EXPUNGE_GUID)
		type |= MF_T_EXPUNGE_PROT;
	if (type == MF_T_BOUNDARY)
		type |= MF_T_EXTERNAL;
	mf_put32(h + 4, type | w->flags);
	mf_buf_append(&w->out, h, 8);
}

static void rec_end(struct writer *w, size_t start)
{
	while ((w->out.len - start) % 4 != 0)
		mf_buf_append_c(&w->out, '\0');
	mf_log_size_encode((uint32_t)(w->out.len - start),
	                   (uint8_t *)w->out.data + start);
	w->count++;
}

static void put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4];

	mf_put32(b, v);
	mf_buf_append(&w->out, b, 4);
}

static void put_u16(struct writer *w, uint16_t v)
{
	uint8_t b[2];

	mf_put16(b, v);
	mf_buf_append(&w->out, b, 2);
}

static void pad4(struct writer *w, size_t start)
{
	while ((w->out.len - start) % 4 != 0)
		mf_buf_append_c(&w->out, '\0');
}

/* Write an EXT_INTRO (name form) unless ext is already current. */
static void ext_intro(struct writer *w, const char *name, uint32_t reset_id,
                      uint32_t hdr_size, uint16_t rec_size, uint16_t rec_align,
                      bool force)
{
	size_t s;

	if (!force && w->cur_ext != NULL && strcmp(w->cur_ext, name) == 0)
		return;
	rec_begin(w, MF_T_EXT_INTRO, &s);
	put_u32(w, UINT32_MAX);
	put_u32(w, reset_id);
	put_u32(w, hdr_size);
	put_u16(w, rec_size);
	put_u16(w, rec_align);
	put_u16(w, 0);
	put_u16(w, (uint16_t)strlen(name));
	mf_buf_append(&w->out, name, strlen(name));
	rec_end(w, s);
	free(w->cur_ext);
	w->cur_ext = mf_strdup(name);
	w->cur_rec_size = rec_size;
}

struct ext_state {
	bool known;
	uint32_t reset_id, hdr_size;
	uint16_t rec_size, rec_align;
};

/* What the extension will look like at this point of the transaction:
 * the map's, updated by intros/resets earlier in the transaction. */
static struct ext_state ext_lookup(const struct mf_index_trans *t, size_t upto,
                                   const char *name)
{
	struct ext_state st;
	int e = mf_map_ext_find(&t->index->map, name);

	mf_zero(&st);
	if (e >= 0) {
		const struct mf_map_ext *x = &t->index->map.exts.items[e];

		st.known = true;
		st.reset_id = x->reset_id;
		st.hdr_size = x->hdr_size;
		st.rec_size = x->record_size;
		st.rec_align = x->record_align;
	}
	for (size_t i = 0; i < upto; i++) {
		const struct op *o = &t->ops.items[i];

		if (o->name == NULL || strcmp(o->name, name) != 0)
			continue;
		if (o->kind == OP_EXT_INTRO) {
			st.known = true;
			st.hdr_size = o->hdr_size;
			st.rec_size = o->rec_size;
			st.rec_align = o->rec_align;
		} else if (o->kind == OP_EXT_RESET) {
			st.reset_id = (uint32_t)o->value;
		}
	}
	return st;
}

static int build(struct mf_index_trans *t, struct writer *w)
{
	struct mf_index *index = t->index;
	uint32_t next_uid = mf_map_hdr32(&index->map, MF_HOFF_NEXT_UID);
	size_t s;

	for (size_t i = 0; i < t->ops.count; i++) {
		struct op *o = &t->ops.items[i];
		struct ext_state st;

		switch (o->kind) {
		case OP_APPEND:
			if (o->uid1 < next_uid)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_INVALID,
				    "append uid %u < next uid %u in %s "
				    "(changed concurrently?)",
				    o->uid1, next_uid, index->index_path);
			rec_begin(w, MF_T_APPEND, &s);
			/* consecutive appends go into one record */
			for (;;) {
				put_u32(w, o->uid1);
				mf_buf_append_c(&w->out, (char)o->add);
				mf_buf_append(&w->out, "\0\0\0", 3);
				next_uid = o->uid1 + 1;
				if (i + 1 >= t->ops.count ||
				    t->ops.items[i + 1].kind != OP_APPEND ||
				    t->ops.items[i + 1].uid1 < next_uid)
					break;
				o = &t->ops.items[++i];
			}
			rec_end(w, s);
			break;
		case OP_FLAGS:
			if (o->uid1 == 0 || o->uid1 > o->uid2)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_INVALID,
				    "invalid uid range %u:%u", o->uid1,
				    o->uid2);
			rec_begin(w, MF_T_FLAG_UPDATE, &s);
			put_u32(w, o->uid1);
			put_u32(w, o->uid2);
			mf_buf_append_c(&w->out, (char)o->add);
			mf_buf_append_c(&w->out, (char)o->remove);
			mf_buf_append(&w->out, "\0\0", 2);
			rec_end(w, s);
			break;
		case OP_KEYWORD:
			if (o->uid1 == 0 || o->uid1 > o->uid2 ||
			    o->name[0] == '\0' || strlen(o->name) > 65535)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_INVALID,
				    "invalid keyword update");
			rec_begin(w, MF_T_KEYWORD_UPDATE, &s);
			mf_buf_append_c(&w->out, o->flag ? 0 : 1);
			mf_buf_append_c(&w->out, 0);
			put_u16(w, (uint16_t)strlen(o->name));
			mf_buf_append(&w->out, o->name, strlen(o->name));
			pad4(w, s);
			put_u32(w, o->uid1);
			put_u32(w, o->uid2);
			rec_end(w, s);
			break;
		case OP_KEYWORD_RESET:
			if (o->uid1 == 0 || o->uid1 > o->uid2)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_INVALID,
				    "invalid uid range %u:%u", o->uid1,
				    o->uid2);
			rec_begin(w, MF_T_KEYWORD_RESET, &s);
			put_u32(w, o->uid1);
			put_u32(w, o->uid2);
			rec_end(w, s);
			break;
		case OP_EXPUNGE:
			if (o->uid1 == 0)
				return mf_index_set_error(index,
				                          MF_INDEX_ERR_INVALID,
				                          "expunge of uid 0");
			rec_begin(w, MF_T_EXPUNGE_GUID, &s);
			for (;;) {
				put_u32(w, o->uid1);
				mf_buf_append(&w->out, o->data, 16);
				if (i + 1 >= t->ops.count ||
				    t->ops.items[i + 1].kind != OP_EXPUNGE ||
				    t->ops.items[i + 1].uid1 == 0)
					break;
				o = &t->ops.items[++i];
			}
			rec_end(w, s);
			break;
		case OP_HEADER:
			if (o->off + o->size > MF_IDX_BASE_HDR_SIZE ||
			    o->size == 0 || o->size > 0xffff)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_INVALID,
				    "header update %u+%u out of range", o->off,
				    o->size);
			rec_begin(w, MF_T_HEADER_UPDATE, &s);
			put_u16(w, (uint16_t)o->off);
			put_u16(w, (uint16_t)o->size);
			mf_buf_append(&w->out, o->data, o->size);
			rec_end(w, s);
			break;
		case OP_EXT_INTRO:
			if (strcmp(o->name, "keywords") == 0 ||
			    o->name[0] == '\0' ||
			    (o->hdr_size == 0 && o->rec_size == 0) ||
			    (o->rec_size > 0 &&
			     (o->rec_align == 0 || o->rec_align > 8 ||
			      (o->rec_align & (o->rec_align - 1)) != 0)))
				return mf_index_set_error(
				    index, MF_INDEX_ERR_INVALID,
				    "invalid extension intro %s", o->name);
			st = ext_lookup(t, i, o->name);
			ext_intro(w, o->name, st.reset_id, o->hdr_size,
			          o->rec_size, o->rec_align, true);
			break;
		case OP_EXT_HDR:
		case OP_EXT_REC:
		case OP_EXT_INC:
		case OP_EXT_RESET:
			st = ext_lookup(t, i, o->name);
			if (!st.known)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_INVALID,
				    "extension %s not introduced", o->name);
			ext_intro(
			    w, o->name,
			    o->kind == OP_EXT_RESET ? st.reset_id : st.reset_id,
			    st.hdr_size, st.rec_size, st.rec_align, false);
			if (o->kind == OP_EXT_HDR) {
				if ((uint64_t)o->off + o->size > st.hdr_size ||
				    o->size == 0)
					return mf_index_set_error(
					    index, MF_INDEX_ERR_INVALID,
					    "extension %s header update "
					    "outside its header",
					    o->name);
				rec_begin(w,
				          o->off + o->size > 0xffff
				              ? MF_T_EXT_HDR_UPDATE32
				              : MF_T_EXT_HDR_UPDATE,
				          &s);
				if (o->off + o->size > 0xffff) {
					put_u32(w, o->off);
					put_u32(w, o->size);
				} else {
					put_u16(w, (uint16_t)o->off);
					put_u16(w, (uint16_t)o->size);
				}
				mf_buf_append(&w->out, o->data, o->size);
				rec_end(w, s);
			} else if (o->kind == OP_EXT_REC) {
				if (st.rec_size == 0 ||
				    o->size != st.rec_size || o->uid1 == 0)
					return mf_index_set_error(
					    index, MF_INDEX_ERR_INVALID,
					    "extension %s record update "
					    "without record data",
					    o->name);
				rec_begin(w, MF_T_EXT_REC_UPDATE, &s);
				for (;;) {
					size_t rs = w->out.len;

					put_u32(w, o->uid1);
					mf_buf_append(&w->out, o->data,
					              o->size);
					pad4(w, rs);
					if (i + 1 >= t->ops.count)
						break;
					if (t->ops.items[i + 1].kind !=
					        OP_EXT_REC ||
					    strcmp(t->ops.items[i + 1].name,
					           o->name) != 0 ||
					    t->ops.items[i + 1].size !=
					        o->size ||
					    t->ops.items[i + 1].uid1 == 0)
						break;
					o = &t->ops.items[++i];
				}
				rec_end(w, s);
			} else if (o->kind == OP_EXT_INC) {
				if (st.rec_size != 1 && st.rec_size != 2 &&
				    st.rec_size != 4 && st.rec_size != 8)
					return mf_index_set_error(
					    index, MF_INDEX_ERR_INVALID,
					    "extension %s cannot be "
					    "incremented",
					    o->name);
				rec_begin(w, MF_T_EXT_ATOMIC_INC, &s);
				put_u32(w, o->uid1);
				put_u32(w, (uint32_t)o->value);
				rec_end(w, s);
			} else {
				rec_begin(w, MF_T_EXT_RESET, &s);
				put_u32(w, (uint32_t)o->value);
				mf_buf_append_c(&w->out, o->flag ? 1 : 0);
				rec_end(w, s);
			}
			break;
		case OP_MODSEQ:
			rec_begin(w, MF_T_MODSEQ_UPDATE, &s);
			put_u32(w, o->uid1);
			put_u32(w, (uint32_t)o->value);
			put_u32(w, (uint32_t)(o->value >> 32));
			rec_end(w, s);
			break;
		case OP_DELETED:
			rec_begin(w,
			          o->flag ? MF_T_INDEX_DELETED
			                  : MF_T_INDEX_UNDELETED,
			          &s);
			put_u32(w, 0);
			rec_end(w, s);
			break;
		}
	}
	return 0;
}

static bool want_main_write(const struct mf_index *index)
{
	uint32_t tail = mf_map_hdr32(&index->map, MF_HOFF_TAIL);
	uint32_t main_tail = index->have_main ? index->main_tail : 0;
	uint32_t diff;

	if (!index->have_log)
		return false;
	if (index->have_main && index->main_log_seq != index->log.seq)
		return true;
	if (!index->have_main)
		return index->log.valid_size > index->set.rewrite_min_log_bytes;
	diff = tail > main_tail ? tail - main_tail : 0;
	return diff > index->set.rewrite_max_log_bytes ||
	       diff > index->set.rewrite_min_log_bytes;
}

static int write_locked(struct mf_index_trans *t)
{
	struct mf_index *index = t->index;
	struct writer w;
	size_t start, end;
	int ret;

	mf_zero(&w);
	if ((t->flags & MF_INDEX_TRANS_EXTERNAL) != 0)
		w.flags |= MF_T_EXTERNAL;
	if ((t->flags & MF_INDEX_TRANS_SYNC) != 0)
		w.flags |= MF_T_SYNC;

	/* boundary placeholder, dropped below for small transactions */
	rec_begin(&w, MF_T_BOUNDARY, &start);
	put_u32(&w, 0);
	rec_end(&w, start);
	if ((ret = build(t, &w)) < 0)
		goto out;
	if (w.count <= 1) {
		ret = 0; /* nothing to write */
		goto out;
	}
	if (w.count <= 2) {
		memmove(w.out.data, w.out.data + 12, w.out.len - 12);
		mf_buf_truncate(&w.out, w.out.len - 12);
	} else {
		mf_put32(w.out.data + 8, (uint32_t)w.out.len);
	}

	if ((ret = mf_index_truncate_garbage(index)) < 0)
		goto out;
	end = index->log.valid_size;
	/* the tail offset: everything up to here was processed by the
	 * backend and ours is external too -> it covers us as well */
	if ((t->flags & MF_INDEX_TRANS_EXTERNAL) != 0 &&
	    (t->flags & MF_INDEX_TRANS_NO_TAIL_UPDATE) == 0) {
		uint32_t tail = index->max_tail;

		if (tail == end)
			tail = (uint32_t)(end + w.out.len + 16);
		if (tail > index->last_read_tail) {
			size_t s;

			w.flags =
			    MF_T_EXTERNAL |
			    ((t->flags & MF_INDEX_TRANS_SYNC) != 0 ? MF_T_SYNC
			                                           : 0);
			rec_begin(&w, MF_T_HEADER_UPDATE, &s);
			put_u16(&w, MF_HOFF_TAIL);
			put_u16(&w, 4);
			put_u32(&w, tail);
			rec_end(&w, s);
		}
	}
	if (lseek(index->lock_fd, 0, SEEK_END) != (off_t)end) {
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "%s: unexpected size (not %zu) while "
		                         "locked",
		                         index->log_path, end);
		goto out;
	}
	if (mf_write_full(index->lock_fd, w.out.data, w.out.len) < 0 ||
	    ((index->flags & MF_INDEX_OPEN_FSYNC) != 0 &&
	     fdatasync(index->lock_fd) < 0)) {
		int err = errno;

		/* leave the log as it was: no torn record for anyone */
		if (ftruncate(index->lock_fd, (off_t)end) < 0) {
			ret = mf_index_set_error(
			    index, MF_INDEX_ERR_IO,
			    "write(%s) failed: %s, and ftruncate() back to "
			    "%zu failed: %s",
			    index->log_path, strerror(err), end,
			    strerror(errno));
			goto out;
		}
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "write(%s) failed: %s",
		                         index->log_path, strerror(err));
		goto out;
	}
	if ((ret = mf_index_load(index)) < 0)
		goto out;
	if (want_main_write(index))
		(void)mf_index_write_main_locked(index);
	ret = 0;
out:
	mf_buf_free(&w.out);
	free(w.cur_ext);
	return ret;
}

int mf_index_trans_commit(struct mf_index_trans **_t)
{
	struct mf_index_trans *t = *_t;
	struct mf_index *index = t->index;
	bool was_locked = index->locked;
	int ret;

	if ((index->flags & MF_INDEX_OPEN_READONLY) != 0) {
		trans_free(_t);
		return mf_index_set_error(index, MF_INDEX_ERR_INVALID,
		                          "index %s opened read-only",
		                          index->index_path);
	}
	if (t->ops.count == 0) {
		trans_free(_t);
		return 0;
	}
	if (!was_locked) {
		if ((ret = mf_index_lock(index)) < 0) {
			trans_free(_t);
			return ret;
		}
	} else if ((ret = mf_index_load(index)) < 0) {
		trans_free(_t);
		return ret;
	}
	if (mf_index_want_rotate(index) &&
	    (ret = mf_index_rotate_locked(index)) < 0) {
		if (index->locked && !was_locked)
			mf_index_unlock(index);
		trans_free(_t);
		return ret;
	}
	ret = write_locked(t);
	if (!was_locked)
		mf_index_unlock(index);
	trans_free(_t);
	return ret;
}

int mf_index_modseq_enable(struct mf_index *index)
{
	struct mf_index_trans *t;
	uint8_t hdr[16] = {0};

	if (mf_map_ext_find(&index->map, "modseq") >= 0)
		return 0;
	t = mf_index_trans_begin(index, 0);
	mf_put64(hdr, index->log_modseq > 1 ? index->log_modseq : 1);
	mf_index_trans_ext_intro(t, "modseq", 16, 8, 8);
	mf_index_trans_ext_hdr(t, "modseq", 0, hdr, 16);
	return mf_index_trans_commit(&t);
}
