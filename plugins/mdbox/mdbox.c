/* SPDX-License-Identifier: MIT */
/* mdbox: messages in storage/m.<file_id> files shared by all mailboxes,
 * found through the map index; mailbox indexes hold {map_uid, save_date}
 * ("mdbox") and the 128-bit message GUID ("guid") per message. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "dbox-ops.h"
#include "dbox-temp.h"
#include "dbox-resync.h"
#include "mdbox-map.h"
#include "mdbox-purge.h"
#include "mdbox-rebuild.h"

/* A file a transaction appends to: a temp file until commit. */
struct mdbox_tfile {
	char *path; /* temp path, then m.<id> once linked */
	int fd;
	uint64_t size;
	uint32_t msgs;
	uint32_t file_id; /* 0 until commit */
};

struct mdbox_trans {
	MF_ARRAY(struct mdbox_tfile) files;
	MF_ARRAY(uint32_t) new_map_uids;
	bool map_committed;
};

static struct mdbox_trans *mtrans(struct mailferry_trans *t)
{
	if (t->fmt_data == NULL)
		t->fmt_data = mf_calloc(1, sizeof(struct mdbox_trans));
	return t->fmt_data;
}

static int mdbox_init_box_hdr(struct mailferry_storage *st,
                              uint8_t hdr[DBOX_HDR_SIZE])
{
	uint32_t uv = mdbox_map_uid_validity(st);

	memcpy(hdr, &uv, 4);
	return 0;
}

static int mdbox_check_box(struct mailferry_mailbox *box)
{
	const struct mf_index_ext *ext =
	    mf_index_ext_find(box->idx, "mdbox-hdr");
	uint32_t uv, map_uv = mdbox_map_uid_validity(box->st);
	struct mdbox_map *map = MDBOX_MAP(box->st);

	if (map->rebuilding)
		return 0; /* force-resync puts the map right */
	if (map->damaged != NULL && mf_index_count(box->idx) > 0)
		return mdbox_map_unusable(box->st);
	if (ext == NULL || ext->hdr_size < 4 || map_uv == 0)
		return 0;
	memcpy(&uv, ext->hdr, 4);
	if (uv != 0 && uv != map_uv && mf_index_count(box->idx) > 0)
		return dbox_error(box->st, MAILFERRY_E_INVALIDDATA,
		                  "mailbox %s: map uidvalidity %u differs "
		                  "from the storage's %u (storage needs "
		                  "doveadm force-resync)",
		                  box->name, uv, map_uv);
	return 0;
}

/* {map_uid, save_date} of message seq. */
static bool mdbox_rec(struct mailferry_mailbox *box, uint32_t seq,
                      uint32_t *map_uid_r, uint32_t *save_date_r)
{
	const struct mf_index_ext *ext = mf_index_ext_find(box->idx, "mdbox");
	const uint8_t *data;

	if (ext == NULL || ext->record_size < 8 ||
	    (data = mf_index_rec_ext(box->idx, seq, ext)) == NULL)
		return false;
	memcpy(map_uid_r, data, 4);
	memcpy(save_date_r, data + 4, 4);
	return *map_uid_r != 0;
}

static int mdbox_msg_locate(struct mailferry_mailbox *box, uint32_t seq,
                            uint32_t uid, struct dbox_msg_loc *loc_r)
{
	struct mailferry_storage *st = box->st;
	struct mdbox_map_rec rec;
	uint32_t map_uid, save_date, hdr_size;
	struct stat sb;
	char *err = NULL;
	int ret;

	if (!mdbox_rec(box, seq, &map_uid, &save_date))
		return dbox_error(st, MAILFERRY_E_INVALIDDATA,
		                  "mailbox %s: uid %u has no map uid",
		                  box->name, uid);
	ret = mdbox_map_lookup(st, map_uid, &rec, NULL);
	if (ret < 0)
		return ret == MAILFERRY_E_NOTFOUND ? MAILFERRY_E_EXPUNGED : ret;
	ret = mdbox_map_open_file(st, rec.file_id, &loc_r->fd, &loc_r->path,
	                          &hdr_size);
	if (ret < 0)
		return ret;
	if (fstat(loc_r->fd, &sb) < 0) {
		ret = dbox_error(st, MAILFERRY_E_TEMP, "fstat(%s) failed: %s",
		                 loc_r->path, strerror(errno));
		dbox_msg_loc_free(loc_r);
		return ret;
	}
	/* the map size bounds the message: padding may follow */
	if (dbox_msg_read(
	        loc_r->fd, loc_r->path,
	        MF_MIN((uint64_t)sb.st_size, (uint64_t)rec.offset + rec.size),
	        rec.offset, hdr_size, &loc_r->msg, &err) < 0) {
		dbox_msg_loc_free(loc_r);
		return dbox_error_take(st, MAILFERRY_E_INVALIDDATA, err);
	}
	return 0;
}

static int64_t mdbox_msg_save_date(struct mailferry_mailbox *box, uint32_t seq,
                                   const struct dbox_msg_loc *loc)
{
	uint32_t map_uid, save_date;

	(void)loc;
	return mdbox_rec(box, seq, &map_uid, &save_date) ? (int64_t)save_date
	                                                 : 0;
}

static const char *mdbox_orig_mailbox(struct mailferry_mailbox *box)
{
	return box->vname_fs;
}

static int mdbox_save_begin(struct mailferry_trans *t, struct dbox_save *s,
                            int *fd_r, uint64_t *offset_r, const char **path_r)
{
	struct mailferry_storage *st = t->box->st;
	struct mdbox_trans *mt = mtrans(t);
	struct mdbox_tfile *f = NULL;

	if (mt->files.count > 0) {
		f = &mt->files.items[mt->files.count - 1];
		if (f->size >= st->set.rotate_size)
			f = NULL;
	}
	if (f == NULL) {
		struct mf_buf hdr = MF_BUF_INIT;
		char *path;
		int fd, ret;

		ret = dbox_temp_create(st, MDBOX_MAP(st)->dir, &path, &fd);
		if (ret < 0)
			return ret;
		dbox_file_format_header(&hdr, s->save_date);
		if (mf_write_full(fd, hdr.data, hdr.len) < 0) {
			ret = dbox_error(st, dbox_errno_code(errno),
			                 "write(%s) failed: %s", path,
			                 strerror(errno));
			close(fd);
			(void)unlink(path);
			free(path);
			mf_buf_free(&hdr);
			return ret;
		}
		f = mf_array_append_zero(&mt->files);
		f->path = path;
		f->fd = fd;
		f->size = hdr.len;
		mf_buf_free(&hdr);
	}
	s->file_idx = (uint32_t)(f - mt->files.items);
	*fd_r = f->fd;
	*offset_r = f->size;
	*path_r = f->path;
	return 0;
}

static int mdbox_save_finish(struct mailferry_trans *t, struct dbox_save *s,
                             const struct dbox_writer_result *res)
{
	struct mdbox_tfile *f = &mtrans(t)->files.items[s->file_idx];

	if (res->end_offset - res->msg_offset > UINT32_MAX ||
	    res->end_offset > UINT32_MAX) {
		/* map records hold 32-bit offsets and sizes */
		(void)ftruncate(f->fd, (off_t)f->size);
		return dbox_error(
		    t->box->st, MAILFERRY_E_LIMIT,
		    "message too large for an mdbox file "
		    "(%llu bytes)",
		    (unsigned long long)(res->end_offset - res->msg_offset));
	}
	s->offset = res->msg_offset;
	s->size = res->end_offset - res->msg_offset;
	f->size = res->end_offset;
	f->msgs++;
	t->writer_fd = -1; /* the file stays open, owned by the tfile */
	return 0;
}

static void mdbox_save_cancel(struct mailferry_trans *t, struct dbox_save *s)
{
	struct mdbox_trans *mt = mtrans(t);

	if (s->file_idx < mt->files.count) {
		struct mdbox_tfile *f = &mt->files.items[s->file_idx];
		/* drop the partial message */
		(void)ftruncate(f->fd, (off_t)f->size);
	}
	t->writer_fd = -1;
}

/* Give each temp file an unused m.<id> (link() fails on an existing name,
 * so a concurrent writer's file is never replaced). */
static int link_files(struct mailferry_storage *st, struct mdbox_trans *mt,
                      uint32_t *highest_r)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	uint32_t id = mdbox_map_highest_file_id(st);

	for (size_t i = 0; i < mt->files.count; i++) {
		struct mdbox_tfile *f = &mt->files.items[i];

		if (f->msgs == 0)
			continue;
		for (;;) {
			char *final =
			    mf_strdup_printf("%s/m.%u", map->dir, ++id);
			if (link(f->path, final) == 0) {
				(void)unlink(f->path);
				free(f->path);
				f->path = final;
				f->file_id = id;
				break;
			}
			if (errno != EEXIST) {
				int ret =
				    dbox_error(st, dbox_errno_code(errno),
				               "link(%s, %s) failed: %s",
				               f->path, final, strerror(errno));
				free(final);
				return ret;
			}
			free(final);
		}
	}
	*highest_r = id;
	return dbox_fsync_dir(st, map->dir);
}

static int mdbox_commit_saves(struct mailferry_trans *t,
                              struct mf_index_trans *it)
{
	struct mailferry_storage *st = t->box->st;
	struct mdbox_map *map = MDBOX_MAP(st);
	struct mdbox_trans *mt = mtrans(t);
	struct mf_index_trans *mapt;
	uint32_t highest, next_map_uid;
	size_t map_changes = 0;
	int ret = 0;

	/* A move keeps its map record: the new UID's reference replaces
	 * the old one's in the same mailbox commit, so the refcount stays
	 * and the map is not written at all for it. A kill can then never
	 * leave the map counting the message twice or not at all. */
	for (size_t i = 0; i < t->saves.count; i++)
		map_changes += !t->saves.items[i].is_move;
	if (map_changes == 0)
		goto mailbox_records;
	for (size_t i = 0; i < mt->files.count; i++) {
		if (st->set.fsync == DBOX_FSYNC_OPTIMIZED &&
		    mt->files.items[i].msgs > 0 &&
		    (ret = dbox_fsync_commit(st, mt->files.items[i].fd,
		                             mt->files.items[i].path)) < 0)
			return ret;
	}
	/* the map was locked before the mailbox index (mdbox_commit_lock) */
	ret = link_files(st, mt, &highest);
	if (ret < 0)
		goto unlock;
	next_map_uid = mf_index_get_header(map->idx)->next_uid;
	mapt = mf_index_trans_begin(map->idx, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_ext_intro(mapt, "map", 8, 12, 4);
	mf_index_trans_ext_hdr(mapt, "map", 0, &highest, 4);
	for (size_t i = 0; i < t->saves.count; i++) {
		struct dbox_save *s = &t->saves.items[i];

		if (s->is_copy)
			continue;
		s->map_uid = next_map_uid++;
		ret = mf_index_trans_append(mapt, s->map_uid, 0, NULL);
		if (ret < 0)
			break;
	}
	for (size_t i = 0; ret == 0 && i < t->saves.count; i++) {
		const struct dbox_save *s = &t->saves.items[i];
		uint32_t rec[3];

		if (s->is_copy)
			continue;
		rec[0] = mt->files.items[s->file_idx].file_id;
		rec[1] = (uint32_t)s->offset;
		rec[2] = (uint32_t)s->size;
		mf_index_trans_ext_rec(mapt, "map", s->map_uid, rec);
	}
	mf_index_trans_ext_intro(mapt, "ref", 0, 2, 2);
	for (size_t i = 0; ret == 0 && i < t->saves.count; i++) {
		const struct dbox_save *s = &t->saves.items[i];
		uint16_t one = 1;

		if (s->is_move)
			continue;
		if (s->is_copy)
			mf_index_trans_ext_atomic_inc(mapt, "ref", s->map_uid,
			                              1);
		else
			mf_index_trans_ext_rec(mapt, "ref", s->map_uid, &one);
	}
	if (ret == 0)
		ret = mf_index_trans_commit(&mapt);
	else
		mf_index_trans_rollback(&mapt);
	if (ret < 0) {
		ret = dbox_index_error(st, map->idx, ret);
		goto unlock;
	}
	mt->map_committed = true;
	dbox_crash_point("after-map-commit");
	/* the references to drop again if the mailbox commit fails */
	for (size_t i = 0; i < t->saves.count; i++) {
		if (!t->saves.items[i].is_move)
			mf_array_push(&mt->new_map_uids,
			              t->saves.items[i].map_uid);
	}
mailbox_records:
	/* the mailbox records pointing at them */
	mf_index_trans_ext_intro(it, "mdbox", 0, 8, 4);
	for (size_t i = 0; i < t->saves.count; i++) {
		const struct dbox_save *s = &t->saves.items[i];
		uint32_t rec[2] = {s->map_uid, (uint32_t)s->save_date};

		mf_index_trans_ext_rec(it, "mdbox", s->uid, rec);
	}
	mf_index_trans_ext_intro(it, "guid", 0, 16, 1);
	for (size_t i = 0; i < t->saves.count; i++) {
		uint8_t g[16];

		dbox_guid_128(t->saves.items[i].guid, g);
		mf_index_trans_ext_rec(it, "guid", t->saves.items[i].uid, g);
	}
unlock:
	return ret;
}

/* Dovecot locks the map before the mailbox index when it saves or
 * expunges; a commit that touches the map does the same. */
static int mdbox_commit_lock(struct mailferry_trans *t)
{
	struct mailferry_storage *st = t->box->st;
	struct mdbox_map *map = MDBOX_MAP(st);
	int ret;

	map->rebuilt = false;
	if (t->saves.count == 0 && t->expunges.count == 0)
		return 0;
	if (map->idx == NULL)
		return mdbox_map_unusable(st);
	ret = mf_index_lock(map->idx);
	if (ret < 0)
		return dbox_index_error(st, map->idx, ret);
	map->held = true;
	return 0;
}

static void mdbox_commit_unlock(struct mailferry_trans *t)
{
	struct mdbox_map *map = MDBOX_MAP(t->box->st);

	if (map->held) {
		map->held = false;
		mf_index_unlock(map->idx);
	}
}

static void mdbox_trans_free(struct mailferry_trans *t, bool committed)
{
	struct mdbox_trans *mt = t->fmt_data;

	if (mt == NULL)
		return;
	if (!committed && mt->map_committed) {
		/* the map has them but no mailbox does: drop the refs so a
		 * purge reclaims the space; the files stay (map refers to
		 * them) */
		(void)mdbox_map_update_refs(t->box->st, mt->new_map_uids.items,
		                            mt->new_map_uids.count, -1);
	}
	for (size_t i = 0; i < mt->files.count; i++) {
		struct mdbox_tfile *f = &mt->files.items[i];

		if (f->fd >= 0)
			close(f->fd);
		if (f->file_id == 0 || (!committed && !mt->map_committed))
			(void)unlink(f->path);
		free(f->path);
	}
	mf_array_free(&mt->files);
	mf_array_free(&mt->new_map_uids);
	free(mt);
	t->fmt_data = NULL;
}

static void mdbox_expunge_prepare(struct mailferry_mailbox *box,
                                  struct dbox_expunged *e)
{
	const struct mf_index_ext *g;
	const void *data;
	uint32_t save_date;

	if (!mdbox_rec(box, e->seq, &e->map_uid, &save_date))
		e->map_uid = 0;
	/* looked up after mdbox_rec(): a found extension is only valid
	 * until the next find */
	g = mf_index_ext_find(box->idx, "guid");
	if (g != NULL && g->record_size >= 16 &&
	    (data = mf_index_rec_ext(box->idx, e->seq, g)) != NULL) {
		memcpy(e->guid, data, 16);
		e->have_guid = !mf_guid128_is_empty(e->guid);
	}
}

static int mdbox_expunge_finish(struct mailferry_mailbox *box,
                                const struct dbox_expunged *e, size_t count)
{
	MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;
	int ret;

	for (size_t i = 0; i < count; i++) {
		/* a moved message's reference went to its new UID */
		if (e[i].map_uid != 0 && !e[i].moved)
			mf_array_push(&uids, e[i].map_uid);
	}
	ret = mdbox_map_update_refs(box->st, uids.items, uids.count, -1);
	mf_array_free(&uids);
	return ret;
}

static int mdbox_mailbox_deleting(struct mailferry_mailbox *box)
{
	MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;
	uint32_t count = mf_index_count(box->idx), map_uid, save_date;
	int ret;

	for (uint32_t seq = 1; seq <= count; seq++) {
		if (mdbox_rec(box, seq, &map_uid, &save_date))
			mf_array_push(&uids, map_uid);
	}
	ret = mdbox_map_update_refs(box->st, uids.items, uids.count, -1);
	mf_array_free(&uids);
	return ret;
}

/* Copy inside the storage: one more reference to the same map record. */
static int mdbox_copy(struct mailferry_trans *t, struct mailferry_mailbox *src,
                      uint32_t src_uid, const struct mailferry_save *save)
{
	struct dbox_msg_loc loc;
	struct dbox_save *s;
	uint32_t seq = mf_index_lookup_uid(src->idx, src_uid), save_date;
	uint32_t map_uid;
	const char *guid, *uidl, *order;
	int ret;

	if (seq == 0 || !mdbox_rec(src, seq, &map_uid, &save_date))
		return MAILFERRY_E_NOTSUPP;
	mf_zero(&loc);
	loc.fd = -1;
	ret = mdbox_msg_locate(src, seq, src_uid, &loc);
	if (ret < 0)
		return ret;
	guid = dbox_metadata_get(&loc.msg.meta, 'G');
	uidl = dbox_metadata_get(&loc.msg.meta, 'P');
	order = dbox_metadata_get(&loc.msg.meta, 'O');
	/* the stored metadata is shared: only a copy that keeps GUID,
	 * dates and POP3 data can share it */
	if (!dbox_metadata_fits_save(&loc.msg.meta, save)) {
		dbox_msg_loc_free(&loc);
		return MAILFERRY_E_NOTSUPP;
	}
	if (t->saves.count > 0 && save->uid != 0 &&
	    save->uid <= t->saves.items[t->saves.count - 1].want_uid) {
		dbox_msg_loc_free(&loc);
		return dbox_error(t->box->st, MAILFERRY_E_INVALID,
		                  "wanted UIDs must ascend in a transaction");
	}
	s = mf_array_append_zero(&t->saves);
	s->want_uid = save->uid;
	s->flags = (uint8_t)(save->flags & MAILFERRY_FLAGS_MASK);
	if (save->keywords != NULL && save->keywords[0] != NULL) {
		size_t n = 0;
		while (save->keywords[n] != NULL)
			n++;
		s->keywords = mf_calloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			s->keywords[i] = mf_strdup(save->keywords[i]);
	}
	s->guid = mf_strdup(guid);
	s->save_date = save->save_date != 0 ? save->save_date : save_date;
	s->min_modseq = save->min_modseq;
	s->pop3_uidl = uidl != NULL ? mf_strdup(uidl) : NULL;
	s->pop3_order = order != NULL ? (uint32_t)strtoul(order, NULL, 10) : 0;
	s->map_uid = map_uid;
	s->is_copy = true;
	s->src_uid = src_uid;
	s->src_same_box = strcmp(src->dir, t->box->dir) == 0;
	dbox_msg_loc_free(&loc);
	return 0;
}

#define MDBOX_CAPS                                                             \
	(MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |                   \
	 MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |                       \
	 MAILFERRY_CAP_CHANGE_LOG | MAILFERRY_CAP_MAILBOX_GUIDS |              \
	 MAILFERRY_CAP_MAILBOX_LOG | MAILFERRY_CAP_KEYWORDS |                  \
	 MAILFERRY_CAP_POP3 | MAILFERRY_CAP_SUBSCRIPTIONS |                    \
	 MAILFERRY_CAP_SET_UIDVALIDITY | MAILFERRY_CAP_DATES |                 \
	 MAILFERRY_CAP_PURGE)

static void mdbox_release_memory(struct mailferry_storage *st)
{
	struct mdbox_map *map = st->fmt_data;

	if (map != NULL && map->idx != NULL)
		mf_index_release_memory(map->idx);
}

static const struct dbox_format mdbox_format = {
    .name = "mdbox",
    .hdr_ext = "mdbox-hdr",
    .caps = MDBOX_CAPS,
    .storage_init = mdbox_map_init,
    .storage_deinit = mdbox_map_deinit,
    .init_box_hdr = mdbox_init_box_hdr,
    .check_box = mdbox_check_box,
    .msg_locate = mdbox_msg_locate,
    .msg_save_date = mdbox_msg_save_date,
    .save_begin = mdbox_save_begin,
    .save_finish = mdbox_save_finish,
    .save_cancel = mdbox_save_cancel,
    .orig_mailbox = mdbox_orig_mailbox,
    .commit_saves = mdbox_commit_saves,
    .commit_lock = mdbox_commit_lock,
    .commit_unlock = mdbox_commit_unlock,
    .release_memory = mdbox_release_memory,
    .expunge_prepare = mdbox_expunge_prepare,
    .expunge_finish = mdbox_expunge_finish,
    .trans_free = mdbox_trans_free,
    .copy = mdbox_copy,
    .mailbox_deleting = mdbox_mailbox_deleting,
    /* force-resync rebuilds the whole storage, as Dovecot's does */
    .storage_resync = mdbox_storage_rebuild,
    .purge = mdbox_purge,
};

static const struct mailferry_driver mdbox_driver = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_driver),
    .name = "mdbox",
    .version = PACKAGE_VERSION,
    .description = "Dovecot multi-dbox (messages in shared m.N files), "
                   "compatible with Dovecot 2.3",
    .caps = MDBOX_CAPS,
    .ops = &dbox_ops,
};

MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
{
	(void)core_abi_minor;
	dbox_register_format(&mdbox_format);
	return dbox_driver_entry(&mdbox_driver, api, core_abi_major);
}
