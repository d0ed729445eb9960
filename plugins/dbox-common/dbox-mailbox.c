/* SPDX-License-Identifier: MIT */
/* Opening dbox mailboxes, their index, status, and reading messages. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/sha.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "mf-uidvalidity.h"
#include "dbox-body.h"
#include "dbox-ops.h"

#define DBOX_SYNC_LOCK_NAME ".dovecot-box-sync.lock"

int dbox_index_error(struct mailferry_storage *st, struct mf_index *idx,
                     int ret)
{
	int code;

	switch (ret) {
	case MF_INDEX_ERR_CORRUPT:
		code = MAILFERRY_E_INVALIDDATA;
		break;
	case MF_INDEX_ERR_NOHISTORY:
		code = MAILFERRY_E_NOHISTORY;
		break;
	case MF_INDEX_ERR_LOCK_TIMEOUT:
		code = MAILFERRY_E_INUSE;
		break;
	case MF_INDEX_ERR_NOTFOUND:
		code = MAILFERRY_E_NOTFOUND;
		break;
	case MF_INDEX_ERR_INVALID:
		code = MAILFERRY_E_INVALID;
		break;
	default:
		code = MAILFERRY_E_TEMP;
		break;
	}
	return dbox_error(st, code, "%s",
	                  idx != NULL ? mf_index_last_error(idx)
	                              : "index error");
}

int dbox_index_open(struct mailferry_storage *st, const char *dir, bool create,
                    bool readonly, struct mf_index **idx_r)
{
	struct mf_index_settings set;
	enum mf_index_open_flags flags = MF_INDEX_OPEN_KEEP_BACKUPS;
	char *err = NULL;
	int ret;

	mf_zero(&set);
	set.lock_timeout_secs = st->set.lock_timeout;
	set.perm = &st->perm;
	if (create)
		flags |= MF_INDEX_OPEN_CREATE;
	if (readonly || st->readonly)
		flags |= MF_INDEX_OPEN_READONLY;
	if (dbox_want_fsync(st))
		flags |= MF_INDEX_OPEN_FSYNC;
	ret = mf_index_open(dir, DBOX_INDEX_PREFIX, flags, &set, idx_r, &err);
	if (ret < 0) {
		int code =
		    ret == MF_INDEX_ERR_NOTFOUND       ? MAILFERRY_E_NOTFOUND
		    : ret == MF_INDEX_ERR_CORRUPT      ? MAILFERRY_E_INVALIDDATA
		    : ret == MF_INDEX_ERR_LOCK_TIMEOUT ? MAILFERRY_E_INUSE
		                                       : MAILFERRY_E_TEMP;
		return dbox_error_take(st, code, err);
	}
	return 0;
}

void dbox_index_guid(const struct dbox_format *fmt, struct mf_index *idx,
                     uint8_t guid_r[16])
{
	const struct mf_index_ext *ext = mf_index_ext_find(idx, fmt->hdr_ext);

	memset(guid_r, 0, 16);
	if (ext != NULL && ext->hdr_size >= 20)
		memcpy(guid_r, ext->hdr + 4, 16);
}

void dbox_guid_128(const char *guid, uint8_t out[16])
{
	unsigned char sha[SHA_DIGEST_LENGTH];

	if (strlen(guid) == 32 && mf_guid128_from_hex(guid, out) == 0)
		return;
	/* Dovecot's rule for other strings: the last 16 bytes of SHA-1 */
	SHA1((const unsigned char *)guid, strlen(guid), sha);
	memcpy(out, sha + SHA_DIGEST_LENGTH - 16, 16);
}

int dbox_guid_generate(struct mailferry_storage *st, char out[33])
{
	uint8_t g[16];

	if (dbox_api->random(g, sizeof(g)) < 0)
		return dbox_error(st, MAILFERRY_E_TEMP,
		                  "random() for a message GUID failed");
	mf_guid128_to_hex(g, out);
	return 0;
}

int dbox_mailbox_create_index(struct mailferry_storage *st, const char *dir,
                              const uint8_t guid[16], uint32_t uidvalidity,
                              uint32_t next_uid)
{
	struct mf_index *idx = NULL;
	struct mf_index_trans *t;
	uint8_t hdr[DBOX_HDR_SIZE];
	int ret;

	memset(hdr, 0, sizeof(hdr));
	if (st->fmt->init_box_hdr != NULL &&
	    (ret = st->fmt->init_box_hdr(st, hdr)) < 0)
		return ret;
	memcpy(hdr + 4, guid, 16);
	ret = dbox_index_open(st, dir, true, false, &idx);
	if (ret < 0)
		return ret;
	ret = mf_index_lock(idx);
	if (ret == 0 && mf_index_get_header(idx)->uid_validity != 0) {
		/* someone created it meanwhile */
		mf_index_unlock(idx);
		mf_index_close(&idx);
		return dbox_error(st, MAILFERRY_E_EXISTS,
		                  "mailbox index %s already exists", dir);
	}
	if (ret == 0) {
		t = mf_index_trans_begin(idx, MF_INDEX_TRANS_EXTERNAL);
		mf_index_trans_ext_intro(t, st->fmt->hdr_ext, DBOX_HDR_SIZE, 0,
		                         0);
		mf_index_trans_ext_hdr(t, st->fmt->hdr_ext, 0, hdr,
		                       sizeof(hdr));
		mf_index_trans_set_uid_validity(t, uidvalidity);
		if (next_uid > 1)
			mf_index_trans_set_next_uid(t, next_uid);
		ret = mf_index_trans_commit(&t);
	}
	/* per-message modseqs from the start, as Dovecot keeps them once a
	 * client used CONDSTORE */
	if (ret == 0)
		ret = mf_index_modseq_enable(idx);
	if (ret < 0)
		ret = dbox_index_error(st, idx, ret);
	mf_index_unlock(idx);
	mf_index_close(&idx);
	return ret;
}

/* A mailbox directory without index: Dovecot treats it as a new empty
 * mailbox. Do the same when writable. */
static int create_missing_index(struct mailferry_mailbox *box)
{
	struct mailferry_storage *st = box->st;
	uint8_t guid[16];
	uint32_t uidvalidity;
	char *err = NULL;

	if (dbox_api->random(guid, sizeof(guid)) < 0)
		return dbox_error(st, MAILFERRY_E_TEMP, "random() failed");
	if (mf_uidvalidity_next_perm(st->root, &st->perm, &uidvalidity, &err) <
	    0)
		return dbox_error_take(st, MAILFERRY_E_TEMP, err);
	return dbox_mailbox_create_index(st, box->dir, guid, uidvalidity, 1);
}

static int mailbox_open(struct mailferry_storage *st, const char *name,
                        bool create_missing_inbox, bool readonly, bool check,
                        struct mailferry_mailbox **box_r);

int dbox_mailbox_open_internal(struct mailferry_storage *st, const char *name,
                               bool create_missing_inbox, bool readonly,
                               struct mailferry_mailbox **box_r)
{
	return mailbox_open(st, name, create_missing_inbox, readonly, true,
	                    box_r);
}

int dbox_mailbox_open_unchecked(struct mailferry_storage *st, const char *name,
                                struct mailferry_mailbox **box_r)
{
	return mailbox_open(st, name, false, true, false, box_r);
}

static int mailbox_open(struct mailferry_storage *st, const char *name,
                        bool create_missing_inbox, bool readonly, bool check,
                        struct mailferry_mailbox **box_r)
{
	struct mailferry_mailbox *box;
	char *norm = dbox_name_normalise(st, name), *path;
	struct stat sb;
	int ret;

	if (norm == NULL)
		return MAILFERRY_E_INVALID;
	box = mf_calloc(1, sizeof(*box));
	box->st = st;
	box->name = norm;
	box->vname_fs = dbox_name_to_storage(norm);
	box->sync_lock_fd = -1;
	box->readonly = readonly || st->readonly;
	path = dbox_mailbox_path(st->root, norm);
	box->dir = mf_strdup_printf("%s/" DBOX_MAIL_DIR, path);
	free(path);
	if (st->alt_root != NULL) {
		path = dbox_mailbox_path(st->alt_root, norm);
		box->alt_dir = mf_strdup_printf("%s/" DBOX_MAIL_DIR, path);
		free(path);
	}
	if (stat(box->dir, &sb) < 0) {
		if (errno == ENOENT && create_missing_inbox &&
		    strcmp(norm, "INBOX") == 0 && !box->readonly) {
			/* Dovecot creates INBOX on first access */
			ret = dbox_mailbox_create(st, "INBOX", NULL);
			if (ret < 0 && ret != MAILFERRY_E_EXISTS)
				goto fail;
		} else {
			ret = dbox_error(st, dbox_errno_code(errno),
			                 errno == ENOENT
			                     ? "mailbox %s does not exist"
			                     : "mailbox %s: stat() failed",
			                 norm);
			goto fail;
		}
	}
	ret = dbox_index_open(st, box->dir, false, box->readonly, &box->idx);
	if (ret == MAILFERRY_E_NOTFOUND && !box->readonly) {
		ret = create_missing_index(box);
		if (ret == 0 || ret == MAILFERRY_E_EXISTS)
			ret = dbox_index_open(st, box->dir, false, false,
			                      &box->idx);
	}
	if (ret < 0)
		goto fail;
	if (mf_index_is_deleted(box->idx)) {
		ret = dbox_error(st, MAILFERRY_E_NOTFOUND,
		                 "mailbox %s is being deleted", norm);
		goto fail;
	}
	if (check && st->fmt->check_box != NULL &&
	    (ret = st->fmt->check_box(box)) < 0)
		goto fail;
	if (!box->readonly && mf_index_ext_find(box->idx, "modseq") == NULL) {
		/* keep per-message modseqs from now on (Dovecot does this
		 * on the first CONDSTORE access) */
		ret = mf_index_lock(box->idx);
		if (ret == 0) {
			ret = mf_index_modseq_enable(box->idx);
			mf_index_unlock(box->idx);
		}
		if (ret < 0) {
			ret = dbox_index_error(st, box->idx, ret);
			goto fail;
		}
	}
	*box_r = box;
	return 0;
fail:
	dbox_ops.mailbox_close(&box);
	return ret;
}

static int take_sync_lock(struct mailferry_mailbox *box)
{
	struct mailferry_storage *st = box->st;
	char *path = mf_strdup_printf("%s/" DBOX_SYNC_LOCK_NAME, box->dir);
	struct flock fl;
	time_t until = time(NULL) + st->set.lock_timeout;
	int fd = mf_perm_open(&st->perm, path, O_RDWR | O_CREAT);

	if (fd < 0) {
		int ret =
		    dbox_error(st, dbox_errno_code(errno),
		               "open(%s) failed: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	for (;;) {
		mf_zero(&fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0)
			break;
		if ((errno != EAGAIN && errno != EACCES) ||
		    time(NULL) >= until) {
			int ret = dbox_error(st,
			                     errno == EAGAIN || errno == EACCES
			                         ? MAILFERRY_E_INUSE
			                         : MAILFERRY_E_TEMP,
			                     "fcntl(%s, F_SETLK) failed: %s",
			                     path, strerror(errno));
			close(fd);
			free(path);
			return ret;
		}
		usleep(100 * 1000);
	}
	free(path);
	box->sync_lock_fd = fd;
	return 0;
}

int dbox_mailbox_open(struct mailferry_storage *st, const char *name,
                      uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct mailferry_mailbox *box;
	int ret;

	ret = dbox_mailbox_open_internal(
	    st, name, true, (flags & MAILFERRY_MAILBOX_READONLY) != 0, &box);
	if (ret < 0)
		return ret;
	if ((flags & MAILFERRY_MAILBOX_SYNC_LOCK) != 0 &&
	    (ret = take_sync_lock(box)) < 0) {
		dbox_ops.mailbox_close(&box);
		return ret;
	}
	*box_r = box;
	return 0;
}

void dbox_mailbox_close(struct mailferry_mailbox **_box)
{
	struct mailferry_mailbox *box = *_box;

	if (box == NULL)
		return;
	*_box = NULL;
	if (box->sync_lock_fd >= 0) {
		char *path =
		    mf_strdup_printf("%s/" DBOX_SYNC_LOCK_NAME, box->dir);
		(void)unlink(path);
		free(path);
		close(box->sync_lock_fd);
	}
	if (box->idx != NULL)
		mf_index_close(&box->idx);
	mf_array_free(&box->saved_uids);
	free(box->name);
	free(box->vname_fs);
	free(box->dir);
	free(box->alt_dir);
	free(box);
}

int dbox_mailbox_status_fill(struct mailferry_mailbox *box,
                             struct mailferry_mailbox_status *status_r)
{
	const struct mf_index_header *hdr;
	int ret = mf_index_refresh(box->idx);

	if (ret < 0)
		return dbox_index_error(box->st, box->idx, ret);
	hdr = mf_index_get_header(box->idx);
	mf_zero(status_r);
	status_r->struct_size = sizeof(*status_r);
	dbox_index_guid(box->st->fmt, box->idx, status_r->guid);
	status_r->uidvalidity = hdr->uid_validity;
	status_r->uidnext = hdr->next_uid;
	status_r->messages = mf_index_count(box->idx);
	status_r->first_recent_uid = hdr->first_recent_uid;
	status_r->highest_modseq = mf_index_highest_modseq(box->idx);
	return 0;
}

int dbox_mailbox_status(struct mailferry_mailbox *box,
                        struct mailferry_mailbox_status *status_r)
{
	return dbox_mailbox_status_fill(box, status_r);
}

void dbox_msg_loc_free(struct dbox_msg_loc *loc)
{
	if (loc->fd >= 0)
		close(loc->fd);
	loc->fd = -1;
	free(loc->path);
	loc->path = NULL;
	dbox_metadata_free(&loc->msg.meta);
}

/* First sequence whose uid >= uid (count + 1 when none). */
static uint32_t seq_from_uid(struct mf_index *idx, uint32_t uid)
{
	uint32_t lo = 1, hi = mf_index_count(idx) + 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (mf_index_rec_at(idx, mid)->uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- message iteration ---- */

struct mailferry_msg_iter {
	struct mailferry_mailbox *box;
	struct mailferry_msg_query query;
	uint32_t seq, end_seq;
	bool use_changes;      /* only the changed messages */
	bool have_all_changes; /* every message, changes from the logs */
	struct mf_index_changes changes;
	uint32_t ch_pos;
	struct mailferry_msg msg;
	MF_ARRAY(const char *) kw;
	MF_ARRAY(const char *) kw_added;
	MF_ARRAY(const char *) kw_removed;
	char *guid, *pop3_uidl;
	uint32_t returned; /* messages returned, for the memory hint */
};

/* Messages between two mf_index_release_memory() calls while iterating:
 * the index pages a walk has read are let go of, so that walking a large
 * mailbox holds a window of its index, not all of it. */
#define DBOX_ITER_RELEASE_EVERY 4096

int dbox_msg_iter_begin(struct mailferry_mailbox *box,
                        const struct mailferry_msg_query *query,
                        struct mailferry_msg_iter **iter_r)
{
	struct mailferry_msg_iter *it = mf_calloc(1, sizeof(*it));
	int ret;

	it->box = box;
	memcpy(&it->query, query,
	       MF_MIN(sizeof(it->query), (size_t)query->struct_size));
	if (it->query.uid_last == 0)
		it->query.uid_last = UINT32_MAX;
	if (it->query.changed_since == 0 &&
	    (it->query.fields & MAILFERRY_FIELD_CHANGES) != 0) {
		/* every message, with the changes the logs still hold (a
		 * sync without a state merges flags with them) */
		if (mf_index_changes_since(
		        box->idx, 0,
		        (it->query.flags & MAILFERRY_QUERY_SKIP_SYNC_CHANGES)
		            ? MF_INDEX_CHANGES_SKIP_SYNC
		            : 0,
		        &it->changes) == 0)
			it->have_all_changes = true;
		it->seq =
		    seq_from_uid(box->idx, MF_MAX(it->query.uid_first, 1));
		it->end_seq = mf_index_count(box->idx);
	} else if (it->query.changed_since > 0) {
		ret = mf_index_changes_since(
		    box->idx, it->query.changed_since,
		    (it->query.flags & MAILFERRY_QUERY_SKIP_SYNC_CHANGES)
		        ? MF_INDEX_CHANGES_SKIP_SYNC
		        : 0,
		    &it->changes);
		if (ret < 0) {
			free(it);
			return dbox_index_error(box->st, box->idx, ret);
		}
		it->use_changes = true;
	} else {
		it->seq =
		    seq_from_uid(box->idx, MF_MAX(it->query.uid_first, 1));
		it->end_seq = mf_index_count(box->idx);
	}
	*iter_r = it;
	return 0;
}

static void push_keywords(struct mailferry_msg_iter *it, void *arr_,
                          const uint32_t *idx, uint32_t count)
{
	MF_ARRAY(const char *) *arr = arr_;
	uint32_t kw_count;
	const char *const *names = mf_index_keywords(it->box->idx, &kw_count);

	arr->count = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (idx[i] < kw_count)
			mf_array_push(arr, names[idx[i]]);
	}
	mf_array_push(arr, NULL);
	(void)it;
}

/* Metadata-derived fields. */
static int fill_from_file(struct mailferry_msg_iter *it, uint32_t seq,
                          struct mailferry_msg *m)
{
	struct mailferry_mailbox *box = it->box;
	struct dbox_msg_loc loc;
	uint64_t v;
	const char *s;
	int ret;

	mf_zero(&loc);
	loc.fd = -1;
	ret = box->st->fmt->msg_locate(box, seq, m->uid, &loc);
	if (ret < 0)
		return ret;
	s = dbox_metadata_get(&loc.msg.meta, 'G');
	free(it->guid);
	it->guid = s != NULL ? mf_strdup(s) : NULL;
	m->guid = it->guid;
	if (dbox_metadata_get_hex(&loc.msg.meta, 'R', &v) == 0)
		m->received_date = (int64_t)v;
	if ((it->query.fields & MAILFERRY_FIELD_SAVED) != 0)
		m->save_date = box->st->fmt->msg_save_date(box, seq, &loc);
	if (dbox_metadata_get_hex(&loc.msg.meta, 'Z', &v) == 0) {
		m->physical_size = v;
	} else {
		unsigned char magic[MF_COMPRESS_SNIFF_SIZE];
		size_t n =
		    (size_t)MF_MIN(loc.msg.body_size, (uint64_t)sizeof(magic));

		m->physical_size = loc.msg.body_size;
		if ((it->query.fields & MAILFERRY_FIELD_PHYSICAL_SIZE) != 0 &&
		    n > 0 &&
		    mf_pread_full(loc.fd, magic, n,
		                  (off_t)loc.msg.body_offset) == 0 &&
		    mf_compress_detect(magic, n) != MF_COMPRESS_NONE)
			m->physical_size = UINT64_MAX;
	}
	m->virtual_size =
	    dbox_metadata_get_hex(&loc.msg.meta, 'V', &v) == 0 ? v : UINT64_MAX;
	s = dbox_metadata_get(&loc.msg.meta, 'P');
	free(it->pop3_uidl);
	it->pop3_uidl = s != NULL ? mf_strdup(s) : NULL;
	m->pop3_uidl = it->pop3_uidl;
	s = dbox_metadata_get(&loc.msg.meta, 'O');
	m->pop3_order = s != NULL ? (uint32_t)strtoul(s, NULL, 10) : 0;
	dbox_msg_loc_free(&loc);
	return 0;
}

#define DBOX_FILE_FIELDS                                                       \
	(MAILFERRY_FIELD_GUID | MAILFERRY_FIELD_RECEIVED |                     \
	 MAILFERRY_FIELD_SAVED | MAILFERRY_FIELD_PHYSICAL_SIZE |               \
	 MAILFERRY_FIELD_VIRTUAL_SIZE | MAILFERRY_FIELD_POP3)

int dbox_msg_iter_next(struct mailferry_msg_iter *it,
                       const struct mailferry_msg **msg_r)
{
	struct mf_index *idx = it->box->idx;
	struct mailferry_msg *m = &it->msg;
	const struct mf_index_change *ch = NULL;
	const struct mf_index_rec *rec;
	uint32_t seq, kw_count;
	int ret;

again:
	if (dbox_api->should_stop(it->box->st->ctx))
		return dbox_error(it->box->st, MAILFERRY_E_CANCELED,
		                  "interrupted");
	if (++it->returned % DBOX_ITER_RELEASE_EVERY == 0) {
		mf_index_release_memory(idx);
		if (it->box->st->fmt->release_memory != NULL)
			it->box->st->fmt->release_memory(it->box->st);
	}
	if (it->use_changes) {
		for (;;) {
			if (it->ch_pos >= it->changes.count)
				return 0;
			ch = &it->changes.items[it->ch_pos++];
			if (ch->uid < it->query.uid_first)
				continue;
			if (ch->uid > it->query.uid_last)
				return 0;
			seq = mf_index_lookup_uid(idx, ch->uid);
			if (seq != 0)
				break;
		}
	} else {
		if (it->seq == 0 || it->seq > it->end_seq)
			return 0;
		seq = it->seq++;
		ch = NULL;
		if (it->have_all_changes) {
			uint32_t uid = mf_index_rec_at(idx, seq) != NULL
			                   ? mf_index_rec_at(idx, seq)->uid
			                   : 0;
			while (it->ch_pos < it->changes.count &&
			       it->changes.items[it->ch_pos].uid < uid)
				it->ch_pos++;
			if (it->ch_pos < it->changes.count &&
			    it->changes.items[it->ch_pos].uid == uid)
				ch = &it->changes.items[it->ch_pos];
		}
	}
	rec = mf_index_rec_at(idx, seq);
	if (rec == NULL || rec->uid > it->query.uid_last)
		return 0;
	mf_zero(m);
	m->struct_size = sizeof(*m);
	m->uid = rec->uid;
	m->flags = rec->flags & MAILFERRY_FLAGS_MASK;
	m->modseq = rec->modseq;
	m->physical_size = m->virtual_size = UINT64_MAX;
	if ((it->query.fields & MAILFERRY_FIELD_FLAGS) != 0) {
		const char *const *names = mf_index_keywords(idx, &kw_count);

		it->kw.count = 0;
		for (uint32_t i = 0; i < kw_count; i++) {
			if (mf_index_rec_has_keyword(idx, seq, i))
				mf_array_push(&it->kw, names[i]);
		}
		if (it->kw.count > 0) {
			mf_array_push(&it->kw, NULL);
			m->keywords = it->kw.items;
		}
	}
	/* the logged flag updates only, as dsync's log scan: the flags a
	 * message was appended with are not changes */
	if (ch != NULL && (it->query.fields & MAILFERRY_FIELD_CHANGES) != 0) {
		m->flags_added = ch->flags_added & MAILFERRY_FLAGS_MASK;
		m->flags_removed = ch->flags_removed & MAILFERRY_FLAGS_MASK;
		if (ch->kw_added_count > 0) {
			push_keywords(it, &it->kw_added, ch->kw_added,
			              ch->kw_added_count);
			m->keywords_added = it->kw_added.items;
		}
		if (ch->kw_removed_count > 0) {
			push_keywords(it, &it->kw_removed, ch->kw_removed,
			              ch->kw_removed_count);
			m->keywords_removed = it->kw_removed.items;
		}
	}
	if ((it->query.fields & DBOX_FILE_FIELDS) != 0) {
		ret = fill_from_file(it, seq, m);
		if (ret == MAILFERRY_E_NOTFOUND ||
		    ret == MAILFERRY_E_EXPUNGED) {
			/* expunged by someone else meanwhile? */
			if (mf_index_refresh(idx) == 0 &&
			    mf_index_lookup_uid(idx, m->uid) == 0) {
				uint32_t uid = m->uid;
				if (!it->use_changes) {
					it->seq = seq_from_uid(idx, uid + 1);
					it->end_seq = mf_index_count(idx);
				}
				goto again;
			}
		}
		if (ret == MAILFERRY_E_INVALIDDATA ||
		    ret == MAILFERRY_E_NOTSUPP) {
			/* one damaged file must not hide the rest of the
			 * mailbox: report it and leave its file-derived fields
			 * unknown; msg_open() of it fails with the same error */
			dbox_api->log(it->box->st->ctx, MAILFERRY_LOG_ERROR,
			              "mailbox %s: uid %u: %s", it->box->name,
			              m->uid,
			              it->box->st->last_error != NULL
			                  ? it->box->st->last_error
			                  : "metadata unreadable");
			m->guid = NULL;
			m->pop3_uidl = NULL;
			ret = 0;
		}
		if (ret < 0)
			return ret;
	}
	*msg_r = m;
	return 1;
}

int dbox_msg_iter_end(struct mailferry_msg_iter **_it)
{
	struct mailferry_msg_iter *it = *_it;

	if (it == NULL)
		return 0;
	*_it = NULL;
	if (it->use_changes || it->have_all_changes)
		mf_index_changes_free(&it->changes);
	mf_array_free(&it->kw);
	mf_array_free(&it->kw_added);
	mf_array_free(&it->kw_removed);
	free(it->guid);
	free(it->pop3_uidl);
	free(it);
	return 0;
}

/* ---- expunge history ---- */

struct mailferry_expunge_iter {
	struct mf_index_expunge *items;
	uint32_t count, pos;
	struct mailferry_expunge e;
};

int dbox_expunge_iter_begin(struct mailferry_mailbox *box, uint64_t since,
                            struct mailferry_expunge_iter **iter_r)
{
	struct mailferry_expunge_iter *it = mf_calloc(1, sizeof(*it));
	int ret =
	    mf_index_expunges_since(box->idx, since, 0, &it->items, &it->count);

	if (ret < 0) {
		free(it);
		return dbox_index_error(box->st, box->idx, ret);
	}
	*iter_r = it;
	return 0;
}

int dbox_expunge_iter_next(struct mailferry_expunge_iter *it,
                           const struct mailferry_expunge **exp_r)
{
	const struct mf_index_expunge *x;

	if (it->pos >= it->count)
		return 0;
	x = &it->items[it->pos++];
	mf_zero(&it->e);
	it->e.struct_size = sizeof(it->e);
	it->e.uid = x->uid;
	memcpy(it->e.guid, x->guid, 16);
	it->e.have_guid = x->have_guid;
	it->e.modseq = x->modseq;
	*exp_r = &it->e;
	return 1;
}

int dbox_expunge_iter_end(struct mailferry_expunge_iter **_it)
{
	struct mailferry_expunge_iter *it = *_it;

	if (it != NULL) {
		*_it = NULL;
		free(it->items);
		free(it);
	}
	return 0;
}

/* ---- message bodies ---- */

struct mailferry_stream {
	struct mailferry_storage *st;
	struct dbox_body *body;
};

int dbox_msg_open(struct mailferry_mailbox *box, uint32_t uid, uint32_t flags,
                  struct mailferry_stream **stream_r)
{
	struct dbox_msg_loc loc;
	struct dbox_body *body;
	uint32_t seq = mf_index_lookup_uid(box->idx, uid);
	uint64_t expect;
	char *err = NULL;
	int ret;

	(void)flags;
	if (seq == 0) {
		if (mf_index_refresh(box->idx) == 0)
			seq = mf_index_lookup_uid(box->idx, uid);
		if (seq == 0)
			return dbox_error(box->st, MAILFERRY_E_EXPUNGED,
			                  "mailbox %s: uid %u does not exist",
			                  box->name, uid);
	}
	mf_zero(&loc);
	loc.fd = -1;
	ret = box->st->fmt->msg_locate(box, seq, uid, &loc);
	if (ret < 0)
		return ret;
	if (dbox_metadata_get_hex(&loc.msg.meta, 'Z', &expect) != 0)
		expect = UINT64_MAX;
	ret = dbox_body_open(loc.fd, loc.path, loc.msg.body_offset,
	                     loc.msg.body_size, expect, &body, &err);
	if (ret < 0) {
		/* dbox_body_open closed nothing on failure paths that
		 * return before taking the fd */
		dbox_msg_loc_free(&loc);
		return dbox_error_take(box->st, ret, err);
	}
	loc.fd = -1; /* owned by the body reader now */
	dbox_msg_loc_free(&loc);
	*stream_r = mf_calloc(1, sizeof(**stream_r));
	(*stream_r)->st = box->st;
	(*stream_r)->body = body;
	return 0;
}

int dbox_stream_read(struct mailferry_stream *s, void *buf, size_t size,
                     size_t *size_r)
{
	char *err = NULL;
	int ret = dbox_body_read(s->body, buf, size, size_r, &err);

	if (ret < 0)
		return dbox_error_take(s->st, ret, err);
	return 0;
}

void dbox_stream_close(struct mailferry_stream **_s)
{
	struct mailferry_stream *s = *_s;

	if (s != NULL) {
		*_s = NULL;
		dbox_body_free(&s->body);
		free(s);
	}
}
