/* SPDX-License-Identifier: MIT */
/* force-resync of an mdbox storage (see mdbox-rebuild.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-hex.h"
#include "dbox-ops.h"
#include "mdbox-map.h"
#include "mdbox-rebuild.h"

/* Dovecot stops counting references there (refcounts are 16 bits). */
#define RB_MAX_REFCOUNT 32768

/* One message found in an m.N file. */
struct rb_msg {
	uint32_t file_id, offset, size; /* size: header + body + metadata */
	uint64_t plain_size;
	uint8_t guid[16];
	bool have_guid;
	char *box;        /* "B" metadata (storage name), or NULL */
	uint32_t map_uid; /* kept or new */
	bool in_map;      /* a map record pointed at it */
	uint16_t old_refs;
	uint32_t refcount; /* mailbox records found referring to it */
	/* no mailbox may refer to it: the map said refcount 0, or another
	 * message has the same GUID and size */
	bool zero_ok;
};

struct rebuild {
	struct mailferry_storage *st;
	struct mdbox_map *map;
	MF_ARRAY(struct rb_msg) msgs;
	MF_ARRAY(uint32_t) by_guid;    /* indexes into msgs */
	MF_ARRAY(uint32_t) by_map_uid; /* indexes of messages with a record */
	MF_ARRAY(uint32_t) seen_ids;   /* file ids, primary storage */
	MF_ARRAY(uint32_t) map_expunges;
	uint32_t uid_validity; /* the map's */
	uint32_t highest_file_id, rebuild_count;
	uint32_t next_map_uid;
	size_t changes;
};

static struct rebuild *rb_ctx; /* for the qsort comparators */

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int msg_pos_cmp(const void *a, const void *b)
{
	const struct rb_msg *x = a, *y = b;

	if (x->file_id != y->file_id)
		return x->file_id < y->file_id ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* By GUID; within one GUID the message a map record counts references
 * for comes first, then file order. */
static int by_guid_cmp(const void *a, const void *b)
{
	const struct rb_msg *x = &rb_ctx->msgs.items[*(const uint32_t *)a];
	const struct rb_msg *y = &rb_ctx->msgs.items[*(const uint32_t *)b];
	int c = memcmp(x->guid, y->guid, 16);
	bool xr = x->in_map && x->old_refs > 0,
	     yr = y->in_map && y->old_refs > 0;

	if (c != 0)
		return c;
	if (xr != yr)
		return xr ? -1 : 1;
	return msg_pos_cmp(x, y);
}

static int by_map_uid_cmp(const void *a, const void *b)
{
	uint32_t x = rb_ctx->msgs.items[*(const uint32_t *)a].map_uid;
	uint32_t y = rb_ctx->msgs.items[*(const uint32_t *)b].map_uid;

	return x < y ? -1 : x > y;
}

/* ---- scanning the m.N files ---- */

static void scan_file(struct rebuild *rb, const char *path, uint32_t file_id)
{
	struct mailferry_storage *st = rb->st;
	struct dbox_file_header fh;
	struct stat sb;
	char *err = NULL;
	uint64_t off;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "mdbox rebuild: cannot read %s: %s", path,
		              strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (dbox_file_read_header(fd, path, &fh, &err) < 0) {
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "mdbox rebuild: skipping %s: %s", path, err);
		free(err);
		close(fd);
		return;
	}
	for (off = fh.header_size; off < (uint64_t)sb.st_size;) {
		struct dbox_msg msg;
		struct rb_msg *m;
		const char *v;
		uint64_t z;

		if (dbox_msg_read(fd, path, (uint64_t)sb.st_size, off,
		                  fh.msg_header_size, &msg, &err) < 0) {
			/* a torn end (a save killed mid-write) or padding:
			 * the messages before it are kept */
			dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
			              "mdbox rebuild: %s: rest of the file "
			              "skipped: %s",
			              path, err);
			free(err);
			err = NULL;
			break;
		}
		if (msg.end_offset > UINT32_MAX) {
			dbox_metadata_free(&msg.meta);
			break;
		}
		m = mf_array_append_zero(&rb->msgs);
		m->file_id = file_id;
		m->offset = (uint32_t)off;
		m->size = (uint32_t)(msg.end_offset - off);
		m->plain_size = dbox_metadata_get_hex(&msg.meta, 'Z', &z) == 0
		                    ? z
		                    : msg.body_size;
		v = dbox_metadata_get(&msg.meta, 'G');
		if (v != NULL && *v != '\0') {
			dbox_guid_128(v, m->guid);
			m->have_guid = true;
		}
		v = dbox_metadata_get(&msg.meta, 'B');
		m->box = v != NULL ? mf_strdup(v) : NULL;
		off = msg.end_offset;
		dbox_metadata_free(&msg.meta);
	}
	close(fd);
}

/* The id of "m.<id>", 0 if name is no such file. */
static uint32_t file_id_of(const char *name)
{
	char *end;
	unsigned long id;

	if (strncmp(name, "m.", 2) != 0 || name[2] < '0' || name[2] > '9')
		return 0;
	id = strtoul(name + 2, &end, 10);
	return *end == '\0' && id < UINT32_MAX ? (uint32_t)id : 0;
}

static int scan_dir(struct rebuild *rb, const char *dir, bool alt)
{
	struct mailferry_storage *st = rb->st;
	MF_ARRAY(uint32_t) ids = MF_ARRAY_INIT;
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return dbox_error(st, dbox_errno_code(errno),
		                  "opendir(%s) failed: %s", dir,
		                  strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		uint32_t id = file_id_of(de->d_name);

		if (id != 0)
			mf_array_push(&ids, id);
	}
	closedir(d);
	mf_array_sort(&ids, u32_cmp);
	for (size_t i = 0; i < ids.count && ret == 0; i++) {
		uint32_t id = ids.items[i];
		char *path = mf_strdup_printf("%s/m.%u", dir, id);

		if (alt &&
		    mf_bsearch(&id, rb->seen_ids.items, rb->seen_ids.count,
		               sizeof(uint32_t), u32_cmp) != NULL) {
			/* the same id in both storages: readers would find
			 * only the primary one, so this one gets a new id
			 * (link() never replaces a file) */
			for (;;) {
				char *to = mf_strdup_printf(
				    "%s/m.%u", dir, ++rb->highest_file_id);
				if (link(path, to) == 0) {
					(void)unlink(path);
					free(path);
					path = to;
					id = rb->highest_file_id;
					break;
				}
				free(to);
				if (errno != EEXIST) {
					ret = dbox_error(st,
					                 dbox_errno_code(errno),
					                 "link(%s) failed: %s",
					                 path, strerror(errno));
					break;
				}
			}
		}
		if (ret == 0) {
			if (!alt)
				mf_array_push(&rb->seen_ids, id);
			if (id > rb->highest_file_id)
				rb->highest_file_id = id;
			scan_file(rb, path, id);
		}
		free(path);
	}
	mf_array_free(&ids);
	return ret;
}

/* ---- the map's own records ---- */

/* Keep the map records that point at a found message, drop the others,
 * give the rest new map UIDs. */
static void apply_map(struct rebuild *rb)
{
	struct mf_index *idx = rb->map->idx;
	const struct mf_index_ext *e;
	struct mf_index_ext map_ext, ref_ext;
	bool have_map = false, have_ref = false;
	uint32_t count = mf_index_count(idx);

	/* copies: a found extension is only valid until the next find */
	if ((e = mf_index_ext_find(idx, "map")) != NULL &&
	    e->record_size >= 12) {
		map_ext = *e;
		have_map = true;
	}
	if ((e = mf_index_ext_find(idx, "ref")) != NULL &&
	    e->record_size >= 2) {
		ref_ext = *e;
		have_ref = true;
	}
	for (uint32_t seq = 1; seq <= count; seq++) {
		uint32_t uid = mf_index_rec_at(idx, seq)->uid;
		const uint8_t *d =
		    have_map ? mf_index_rec_ext(idx, seq, &map_ext) : NULL;
		const uint8_t *r =
		    have_ref ? mf_index_rec_ext(idx, seq, &ref_ext) : NULL;
		struct rb_msg key, *m = NULL;

		if (d != NULL) {
			mf_zero(&key);
			memcpy(&key.file_id, d, 4);
			memcpy(&key.offset, d + 4, 4);
			memcpy(&key.size, d + 8, 4);
			m = mf_bsearch(&key, rb->msgs.items, rb->msgs.count,
			               sizeof(key), msg_pos_cmp);
		}
		if (m == NULL || m->in_map) {
			/* points at nothing (or at what another record
			 * already has) */
			mf_array_push(&rb->map_expunges, uid);
			continue;
		}
		m->in_map = true;
		m->map_uid = uid;
		if (r != NULL) {
			memcpy(&m->old_refs, r, 2);
			/* expunged everywhere, waiting for purge */
			m->zero_ok = m->old_refs == 0;
		}
	}
	for (size_t i = 0; i < rb->msgs.count; i++) {
		if (!rb->msgs.items[i].in_map)
			rb->msgs.items[i].map_uid = rb->next_map_uid++;
	}
}

/* Index the messages by GUID and by map UID; among messages of one GUID
 * with the same size, only the first may be referred to. */
static void index_msgs(struct rebuild *rb)
{
	for (uint32_t i = 0; i < rb->msgs.count; i++) {
		mf_array_push(&rb->by_map_uid, i);
		if (rb->msgs.items[i].have_guid)
			mf_array_push(&rb->by_guid, i);
	}
	rb_ctx = rb;
	mf_array_sort(&rb->by_guid, by_guid_cmp);
	mf_array_sort(&rb->by_map_uid, by_map_uid_cmp);
	for (size_t i = 1; i < rb->by_guid.count; i++) {
		struct rb_msg *first = NULL, *m;
		size_t j = i;

		/* the run of this GUID starts at the first j-1 with
		 * another GUID before it */
		while (j > 0 &&
		       memcmp(rb->msgs.items[rb->by_guid.items[j - 1]].guid,
		              rb->msgs.items[rb->by_guid.items[i]].guid,
		              16) == 0)
			j--;
		if (j == i)
			continue;
		first = &rb->msgs.items[rb->by_guid.items[j]];
		m = &rb->msgs.items[rb->by_guid.items[i]];
		if (m->plain_size == first->plain_size)
			m->zero_ok = true;
	}
}

/* First position in by_guid with guid, or by_guid.count. */
static size_t guid_first(const struct rebuild *rb, const uint8_t guid[16])
{
	size_t lo = 0, hi = rb->by_guid.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(rb->msgs.items[rb->by_guid.items[mid]].guid, guid,
		           16) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The message a mailbox record refers to: by GUID (the one with the
 * record's map UID when the GUID is there more than once and the map UIDs
 * are this map's), else by map UID when they are. */
static struct rb_msg *find_msg(struct rebuild *rb, const uint8_t *guid,
                               uint32_t map_uid, bool map_uids_valid)
{
	if (guid != NULL && !mf_guid128_is_empty(guid)) {
		size_t i = guid_first(rb, guid);
		struct rb_msg *first = NULL;

		for (; i < rb->by_guid.count; i++) {
			struct rb_msg *m =
			    &rb->msgs.items[rb->by_guid.items[i]];

			if (memcmp(m->guid, guid, 16) != 0)
				break;
			if (first == NULL)
				first = m;
			if (map_uids_valid && m->in_map &&
			    m->map_uid == map_uid)
				return m;
		}
		if (first != NULL)
			return first;
	}
	if (map_uids_valid && map_uid != 0) {
		size_t lo = 0, hi = rb->by_map_uid.count;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			struct rb_msg *m =
			    &rb->msgs.items[rb->by_map_uid.items[mid]];

			if (m->map_uid == map_uid)
				return m->in_map ? m : NULL;
			if (m->map_uid < map_uid)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return NULL;
}

/* ---- mailboxes ---- */

static int open_box(struct rebuild *rb, const char *name,
                    struct mailferry_mailbox **box_r)
{
	static const char *const suffixes[] = {"", ".log", ".log.2", ".cache"};
	struct mailferry_storage *st = rb->st;
	int ret = dbox_mailbox_open_internal(st, name, true, false, box_r);
	char *path, *dir;

	if (ret != MAILFERRY_E_INVALIDDATA)
		return ret;
	/* a mailbox index Dovecot would not read either: a new one, and
	 * its messages come back through their "B" metadata */
	dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
	              "mdbox rebuild: mailbox %s: index unreadable (%s), "
	              "made anew",
	              name, st->last_error != NULL ? st->last_error : "");
	path = dbox_mailbox_path(st->root, name);
	dir = mf_strdup_printf("%s/" DBOX_MAIL_DIR, path);
	free(path);
	for (size_t i = 0; i < MF_N_ELEMENTS(suffixes); i++) {
		path = mf_strdup_printf("%s/" DBOX_INDEX_PREFIX "%s", dir,
		                        suffixes[i]);
		(void)unlink(path);
		free(path);
	}
	free(dir);
	return dbox_mailbox_open_internal(st, name, true, false, box_r);
}

static int rebuild_box(struct rebuild *rb, const char *name)
{
	struct mailferry_storage *st = rb->st;
	struct mailferry_mailbox *box;
	struct mf_index_trans *t;
	const struct mf_index_ext *e;
	struct mf_index_ext rec_ext, guid_ext;
	bool have_rec = false, have_guid = false, map_uids_valid = false;
	uint32_t count, box_uv = 0;
	size_t changes = 0;
	int ret = open_box(rb, name, &box);

	if (ret < 0)
		return ret;
	ret = mf_index_lock(box->idx);
	if (ret < 0) {
		ret = dbox_index_error(st, box->idx, ret);
		dbox_ops.mailbox_close(&box);
		return ret;
	}
	e = mf_index_ext_find(box->idx, "mdbox-hdr");
	if (e != NULL && e->hdr_size >= 4)
		memcpy(&box_uv, e->hdr, 4);
	t = mf_index_trans_begin(box->idx, MF_INDEX_TRANS_EXTERNAL);
	if (e == NULL || e->hdr_size < DBOX_HDR_SIZE) {
		uint8_t hdr[DBOX_HDR_SIZE];

		memset(hdr, 0, sizeof(hdr));
		if (e != NULL)
			memcpy(hdr, e->hdr, e->hdr_size);
		memcpy(hdr, &rb->uid_validity, 4);
		if (mf_guid128_is_empty(hdr + 4) &&
		    dbox_api->random(hdr + 4, 16) < 0) {
			mf_index_trans_rollback(&t);
			mf_index_unlock(box->idx);
			dbox_ops.mailbox_close(&box);
			return dbox_error(st, MAILFERRY_E_TEMP,
			                  "random() failed");
		}
		mf_index_trans_ext_intro(t, "mdbox-hdr", DBOX_HDR_SIZE, 0, 0);
		mf_index_trans_ext_hdr(t, "mdbox-hdr", 0, hdr, sizeof(hdr));
		changes++;
	} else if (box_uv != rb->uid_validity) {
		mf_index_trans_ext_hdr(t, "mdbox-hdr", 0, &rb->uid_validity, 4);
		changes++;
	}
	/* the records' map UIDs mean something only for the map they were
	 * written for */
	map_uids_valid = box_uv != 0 && box_uv == rb->uid_validity;
	if ((e = mf_index_ext_find(box->idx, "mdbox")) != NULL &&
	    e->record_size >= 8) {
		rec_ext = *e;
		have_rec = true;
	}
	if ((e = mf_index_ext_find(box->idx, "guid")) != NULL &&
	    e->record_size >= 16) {
		guid_ext = *e;
		have_guid = true;
	}
	mf_index_trans_ext_intro(t, "mdbox", 0, 8, 4);
	mf_index_trans_ext_intro(t, "guid", 0, 16, 1);
	count = mf_index_count(box->idx);
	for (uint32_t seq = 1; seq <= count; seq++) {
		uint32_t uid = mf_index_rec_at(box->idx, seq)->uid;
		const uint8_t *r =
		    have_rec ? mf_index_rec_ext(box->idx, seq, &rec_ext) : NULL;
		const uint8_t *g =
		    have_guid ? mf_index_rec_ext(box->idx, seq, &guid_ext)
		              : NULL;
		uint32_t rec[2] = {0, 0};
		struct rb_msg *m;

		if (r != NULL)
			memcpy(rec, r, 8);
		m = find_msg(rb, g, rec[0], map_uids_valid);
		if (m == NULL || m->refcount >= RB_MAX_REFCOUNT) {
			dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
			              "mdbox rebuild: mailbox %s: uid %u: its "
			              "message is not in the storage, "
			              "expunging it",
			              box->name, uid);
			mf_index_trans_expunge(t, uid, g);
			changes++;
			continue;
		}
		m->refcount++;
		if (rec[0] != m->map_uid) {
			rec[0] = m->map_uid;
			if (rec[1] == 0)
				rec[1] = (uint32_t)time(NULL);
			mf_index_trans_ext_rec(t, "mdbox", uid, rec);
			changes++;
		}
		if ((g == NULL || mf_guid128_is_empty(g)) && m->have_guid) {
			mf_index_trans_ext_rec(t, "guid", uid, m->guid);
			changes++;
		}
	}
	if (changes > 0) {
		ret = mf_index_trans_commit(&t);
		if (ret < 0)
			ret = dbox_index_error(st, box->idx, ret);
		rb->changes += changes;
	} else {
		mf_index_trans_rollback(&t);
	}
	mf_index_unlock(box->idx);
	dbox_ops.mailbox_close(&box);
	return ret;
}

static int rebuild_boxes(struct rebuild *rb)
{
	struct mailferry_list_iter *it;
	const struct mailferry_mailbox_info *info;
	MF_ARRAY(char *) names = MF_ARRAY_INIT;
	int ret = dbox_mailbox_list_begin(rb->st, 0, &it), ret2;

	if (ret < 0)
		return ret;
	while (dbox_mailbox_list_next(it, &info) > 0) {
		if ((info->flags & MAILFERRY_MAILBOX_NOSELECT) == 0)
			mf_array_push(&names, mf_strdup(info->name));
	}
	ret = dbox_mailbox_list_end(&it);
	for (size_t i = 0; i < names.count; i++) {
		ret2 = ret == 0 ? rebuild_box(rb, names.items[i]) : 0;
		if (ret2 < 0 && ret == 0)
			ret = ret2;
		free(names.items[i]);
	}
	mf_array_free(&names);
	return ret;
}

/* ---- messages no mailbox refers to ---- */

/* UTF-8 name of a message's "B" mailbox, INBOX when it has none. */
static char *orphan_box(struct rebuild *rb, const struct rb_msg *m)
{
	char *name = m->box != NULL ? dbox_name_from_storage(m->box) : NULL;

	if (name != NULL) {
		char *norm = dbox_name_normalise(rb->st, name);

		free(name);
		name = norm;
	}
	return name != NULL ? name : mf_strdup("INBOX");
}

/* Append messages idx[0..n) (indexes into msgs) to mailbox name. */
static int restore(struct rebuild *rb, const char *name, const uint32_t *idx,
                   size_t n)
{
	struct mailferry_storage *st = rb->st;
	struct mailferry_mailbox *box;
	struct mf_index_trans *t;
	uint32_t uid, now = (uint32_t)time(NULL);
	int ret = dbox_mailbox_open_internal(st, name, true, false, &box);

	if (ret == MAILFERRY_E_NOTFOUND) {
		ret = dbox_mailbox_create(st, name, NULL);
		if (ret == 0 || ret == MAILFERRY_E_EXISTS)
			ret = dbox_mailbox_open_internal(st, name, true, false,
			                                 &box);
	}
	if (ret < 0)
		return ret;
	ret = mf_index_lock(box->idx);
	if (ret < 0) {
		ret = dbox_index_error(st, box->idx, ret);
		dbox_ops.mailbox_close(&box);
		return ret;
	}
	uid = mf_index_get_header(box->idx)->next_uid;
	t = mf_index_trans_begin(box->idx, MF_INDEX_TRANS_EXTERNAL);
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = mf_index_trans_append(t, uid + (uint32_t)i, 0, NULL);
	mf_index_trans_ext_intro(t, "mdbox", 0, 8, 4);
	mf_index_trans_ext_intro(t, "guid", 0, 16, 1);
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct rb_msg *m = &rb->msgs.items[idx[i]];
		uint32_t rec[2] = {m->map_uid, now};

		mf_index_trans_ext_rec(t, "mdbox", uid + (uint32_t)i, rec);
		mf_index_trans_ext_rec(t, "guid", uid + (uint32_t)i, m->guid);
		m->refcount = 1;
		dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
		              "mdbox rebuild: m.%u offset %u belonged to no "
		              "mailbox: added to %s as uid %u",
		              m->file_id, m->offset, box->name,
		              uid + (uint32_t)i);
	}
	if (ret == 0)
		ret = mf_index_trans_commit(&t);
	else
		mf_index_trans_rollback(&t);
	if (ret < 0)
		ret = dbox_index_error(st, box->idx, ret);
	mf_index_unlock(box->idx);
	dbox_ops.mailbox_close(&box);
	rb->changes += n;
	return ret;
}

struct orphan {
	char *box;
	uint32_t idx;
};

static int orphan_cmp(const void *a, const void *b)
{
	const struct orphan *x = a, *y = b;
	int c = strcmp(x->box, y->box);

	return c != 0 ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static int restore_orphans(struct rebuild *rb)
{
	MF_ARRAY(struct orphan) orphans = MF_ARRAY_INIT;
	MF_ARRAY(uint32_t) run = MF_ARRAY_INIT;
	int ret = 0;

	for (uint32_t i = 0; i < rb->msgs.count; i++) {
		const struct rb_msg *m = &rb->msgs.items[i];
		struct orphan o;

		if (m->refcount > 0 || m->zero_ok)
			continue;
		o.box = orphan_box(rb, m);
		o.idx = i;
		mf_array_push(&orphans, o);
	}
	mf_array_sort(&orphans, orphan_cmp);
	for (size_t i = 0; i < orphans.count;) {
		size_t j = i;

		run.count = 0;
		while (j < orphans.count &&
		       strcmp(orphans.items[j].box, orphans.items[i].box) == 0)
			mf_array_push(&run, orphans.items[j++].idx);
		if (ret == 0)
			ret = restore(rb, orphans.items[i].box, run.items,
			              run.count);
		i = j;
	}
	for (size_t i = 0; i < orphans.count; i++)
		free(orphans.items[i].box);
	mf_array_free(&orphans);
	mf_array_free(&run);
	return ret;
}

/* ---- the map commit ---- */

static int commit_map(struct rebuild *rb)
{
	struct mf_index *idx = rb->map->idx;
	struct mf_index_trans *t;
	uint32_t hdr[2] = {rb->highest_file_id, rb->rebuild_count + 1};
	int ret = 0;

	t = mf_index_trans_begin(idx, MF_INDEX_TRANS_EXTERNAL);
	mf_array_sort(&rb->map_expunges, u32_cmp);
	for (size_t i = 0; i < rb->map_expunges.count; i++)
		mf_index_trans_expunge(t, rb->map_expunges.items[i], NULL);
	/* msgs are in file order, new map UIDs ascending in it */
	for (size_t i = 0; i < rb->msgs.count && ret == 0; i++) {
		if (!rb->msgs.items[i].in_map)
			ret = mf_index_trans_append(
			    t, rb->msgs.items[i].map_uid, 0, NULL);
	}
	mf_index_trans_ext_intro(t, "map", 8, 12, 4);
	mf_index_trans_ext_hdr(t, "map", 0, hdr, sizeof(hdr));
	for (size_t i = 0; i < rb->msgs.count; i++) {
		const struct rb_msg *m = &rb->msgs.items[i];
		uint32_t rec[3] = {m->file_id, m->offset, m->size};

		if (!m->in_map)
			mf_index_trans_ext_rec(t, "map", m->map_uid, rec);
	}
	mf_index_trans_ext_intro(t, "ref", 0, 2, 2);
	for (size_t i = 0; i < rb->msgs.count; i++) {
		const struct rb_msg *m = &rb->msgs.items[i];
		uint16_t refs = (uint16_t)MF_MIN(m->refcount, 65535u);

		if (!m->in_map || refs != m->old_refs)
			mf_index_trans_ext_rec(t, "ref", m->map_uid, &refs);
	}
	if (ret == 0)
		ret = mf_index_trans_commit(&t);
	else
		mf_index_trans_rollback(&t);
	return ret < 0 ? dbox_index_error(rb->st, idx, ret) : 0;
}

int mdbox_storage_rebuild(struct mailferry_storage *st)
{
	struct mdbox_map *map = MDBOX_MAP(st);
	struct rebuild rb;
	const struct mf_index_ext *e;
	int ret;

	if (st->readonly)
		return dbox_error(st, MAILFERRY_E_PERM, "%s is read-only",
		                  st->display);
	if (map->rebuilt)
		return 0;
	ret = mdbox_map_reopen_damaged(st);
	if (ret < 0)
		return ret;
	/* the map lock first, as every writer takes it: no save, expunge
	 * or purge changes the storage meanwhile */
	ret = mf_index_lock(map->idx);
	if (ret < 0)
		return dbox_index_error(st, map->idx, ret);
	map->held = true;
	map->rebuilding = true;
	mf_zero(&rb);
	rb.st = st;
	rb.map = map;
	rb.uid_validity = mf_index_get_header(map->idx)->uid_validity;
	rb.next_map_uid = mf_index_get_header(map->idx)->next_uid;
	if ((e = mf_index_ext_find(map->idx, "map")) != NULL &&
	    e->hdr_size >= 8) {
		memcpy(&rb.highest_file_id, e->hdr, 4);
		memcpy(&rb.rebuild_count, e->hdr + 4, 4);
	}
	ret = scan_dir(&rb, map->dir, false);
	if (ret == 0 && map->alt_dir != NULL)
		ret = scan_dir(&rb, map->alt_dir, true);
	if (ret == 0) {
		mf_array_sort(&rb.msgs, msg_pos_cmp);
		apply_map(&rb);
		index_msgs(&rb);
		ret = rebuild_boxes(&rb);
	}
	if (ret == 0)
		ret = restore_orphans(&rb);
	if (ret == 0)
		ret = commit_map(&rb);
	map->rebuilt = ret == 0;
	if (ret == 0)
		dbox_api->log(st->ctx, MAILFERRY_LOG_DEBUG,
		              "mdbox rebuild: %zu messages in the storage, %zu "
		              "map records dropped, %zu mailbox changes",
		              rb.msgs.count, rb.map_expunges.count, rb.changes);
	map->rebuilding = false;
	map->held = false;
	mf_index_unlock(map->idx);
	for (size_t i = 0; i < rb.msgs.count; i++)
		free(rb.msgs.items[i].box);
	mf_array_free(&rb.msgs);
	mf_array_free(&rb.by_guid);
	mf_array_free(&rb.by_map_uid);
	mf_array_free(&rb.seen_ids);
	mf_array_free(&rb.map_expunges);
	return ret;
}
