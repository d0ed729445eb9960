/* SPDX-License-Identifier: MIT */
/* Reading: message iteration, expunge history, message bodies. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-index.h"
#include "mf-zinput.h"
#include "maildir-storage.h"

struct mailferry_msg_iter {
	struct mailferry_mailbox *box;
	struct mailferry_msg_query query;
	/* UIDs below this were returned. A refresh during the iteration
	 * (msg_open retrying a renamed file) rebuilds box->msgs, so the
	 * position is kept as a UID, never as an index into the array. */
	uint64_t next_uid;
	bool have_changes;
	struct mf_index_changes changes;
	uint32_t change_pos;
	struct mailferry_msg msg;
	/* what the current message points to: owned copies, for the same
	 * reason */
	char *guid;
	char **keywords;
	char **kw_added;
	char **kw_removed;
	struct mf_buf path;
	/* \Recent as Dovecot reports it outside IMAP sessions: files still
	 * in new/ and UIDs from the index's first_recent_uid on */
	uint32_t first_recent_uid;
};

struct mailferry_expunge_iter {
	struct mf_index_expunge *items;
	uint32_t count, pos;
	struct mailferry_expunge exp;
};

struct mailferry_stream {
	struct mailferry_mailbox *box;
	int fd;
	struct mf_zinput *in; /* plain or decompressing reader of fd */
	uint64_t expected;    /* UINT64_MAX when unknown */
	char *path;
};

static uint32_t abi_flags(uint8_t index_flags)
{
	uint32_t f = 0;

	if (index_flags & MF_INDEX_FLAG_ANSWERED)
		f |= MAILFERRY_FLAG_ANSWERED;
	if (index_flags & MF_INDEX_FLAG_FLAGGED)
		f |= MAILFERRY_FLAG_FLAGGED;
	if (index_flags & MF_INDEX_FLAG_DELETED)
		f |= MAILFERRY_FLAG_DELETED;
	if (index_flags & MF_INDEX_FLAG_SEEN)
		f |= MAILFERRY_FLAG_SEEN;
	if (index_flags & MF_INDEX_FLAG_DRAFT)
		f |= MAILFERRY_FLAG_DRAFT;
	return f;
}

static int index_error(struct mailferry_mailbox *box, int ret)
{
	if (ret == MF_INDEX_ERR_NOHISTORY)
		return maildir_error(box->storage, MAILFERRY_E_NOHISTORY,
		                     "mailbox %s: %s", box->vname,
		                     mf_index_last_error(box->index));
	return maildir_error(box->storage, MAILFERRY_E_TEMP, "mailbox %s: %s",
	                     box->vname, mf_index_last_error(box->index));
}

int maildir_msg_iter_begin(struct mailferry_mailbox *box,
                           const struct mailferry_msg_query *query,
                           struct mailferry_msg_iter **iter_r)
{
	struct mailferry_msg_iter *iter;
	size_t qsize;
	int lret;

	/* listing is where a sync starts: under its lock */
	if ((lret = maildir_sync_lock_ensure(box)) < 0 ||
	    (lret = maildir_msgs_ensure(box)) < 0)
		return lret;
	iter = mf_calloc(1, sizeof(*iter));
	qsize = MF_MIN((size_t)query->struct_size, sizeof(iter->query));

	memcpy(&iter->query, query, qsize);
	iter->box = box;
	iter->first_recent_uid =
	    box->index != NULL
	        ? MF_MAX(mf_index_get_header(box->index)->first_recent_uid, 1)
	        : 1; /* no index yet: Dovecot would start one, all recent */
	if (iter->query.uid_last == 0)
		iter->query.uid_last = UINT32_MAX;
	if (iter->query.changed_since == 0 &&
	    (iter->query.fields & MAILFERRY_FIELD_CHANGES) != 0 &&
	    box->index != NULL) {
		/* every message, with the changes the logs still hold (a
		 * sync without a state merges flags with them) */
		if (mf_index_changes_since(
		        box->index, 0,
		        (iter->query.flags &
		         MAILFERRY_QUERY_SKIP_SYNC_CHANGES) != 0
		            ? MF_INDEX_CHANGES_SKIP_SYNC
		            : 0,
		        &iter->changes) == 0)
			iter->have_changes = true;
	} else if (iter->query.changed_since > 0) {
		int ret;

		if (box->index == NULL) {
			free(iter);
			return maildir_error(box->storage,
			                     MAILFERRY_E_NOHISTORY,
			                     "mailbox %s: no index, no change "
			                     "history",
			                     box->vname);
		}
		ret = mf_index_changes_since(
		    box->index, iter->query.changed_since,
		    (iter->query.flags & MAILFERRY_QUERY_SKIP_SYNC_CHANGES) != 0
		        ? MF_INDEX_CHANGES_SKIP_SYNC
		        : 0,
		    &iter->changes);
		if (ret < 0) {
			free(iter);
			return index_error(box, ret);
		}
		iter->have_changes = true;
	}
	iter->next_uid = iter->query.uid_first;
	/* dates need the files; sizes too when the names do not say */
	if (!box->names_known) {
		bool need = (iter->query.fields & (MAILFERRY_FIELD_RECEIVED |
		                                   MAILFERRY_FIELD_SAVED)) != 0;

		for (size_t i = 0; i < box->msgs.count && !need; i++) {
			const struct maildir_msg *m = &box->msgs.items[i];

			need = ((iter->query.fields &
			         MAILFERRY_FIELD_PHYSICAL_SIZE) != 0 &&
			        m->psize == UINT64_MAX) ||
			       ((iter->query.fields &
			         MAILFERRY_FIELD_VIRTUAL_SIZE) != 0 &&
			        m->vsize == UINT64_MAX);
		}
		if (need) {
			int ret = maildir_names_ensure(box);

			if (ret < 0) {
				if (iter->have_changes)
					mf_index_changes_free(&iter->changes);
				free(iter);
				return ret;
			}
		}
	}
	*iter_r = iter;
	return 0;
}

static const struct mf_index_change *
find_change(struct mailferry_msg_iter *iter, uint32_t uid)
{
	while (iter->change_pos < iter->changes.count &&
	       iter->changes.items[iter->change_pos].uid < uid)
		iter->change_pos++;
	if (iter->change_pos < iter->changes.count &&
	    iter->changes.items[iter->change_pos].uid == uid)
		return &iter->changes.items[iter->change_pos];
	return NULL;
}

static char **kw_names(struct mailferry_mailbox *box, const uint32_t *idx,
                       uint32_t count)
{
	uint32_t kw_count = 0;
	const char *const *kws = mf_index_keywords(box->index, &kw_count);
	char **names = mf_calloc(count + 1, sizeof(char *));
	uint32_t n = 0;

	for (uint32_t i = 0; i < count; i++) {
		if (idx[i] < kw_count)
			names[n++] = mf_strdup(kws[idx[i]]);
	}
	return names;
}

/* The message with the lowest UID >= uid, NULL if none. */
static struct maildir_msg *first_msg_from(struct mailferry_mailbox *box,
                                          uint64_t uid)
{
	size_t lo = 0, hi = box->msgs.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->msgs.items[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < box->msgs.count ? &box->msgs.items[lo] : NULL;
}

/* Error code for a negative enum mf_zinput_error. */
static int zinput_code(int zret)
{
	switch (zret) {
	case MF_ZINPUT_ERR_UNSUPPORTED:
		return MAILFERRY_E_NOTSUPP;
	case MF_ZINPUT_ERR_CORRUPT:
		return MAILFERRY_E_INVALIDDATA;
	default:
		return MAILFERRY_E_TEMP;
	}
}

/* Whether the file at path starts with a compression magic. Returns 0/1,
 * or -1 with errno set when it cannot be read. */
static int path_is_compressed(const char *path)
{
	unsigned char magic[MF_COMPRESS_SNIFF_SIZE];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	do {
		n = pread(fd, magic, sizeof(magic), 0);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	return mf_compress_detect(magic, (size_t)n) != MF_COMPRESS_NONE;
}

int maildir_msg_compressed(struct mailferry_mailbox *box,
                           struct maildir_msg *msg, const char *path)
{
	int ret;

	(void)box;
	if (msg->comp != MAILDIR_COMP_UNKNOWN)
		return msg->comp == MAILDIR_COMP_COMPRESSED;
	ret = path_is_compressed(path);
	if (ret >= 0)
		msg->comp =
		    ret > 0 ? MAILDIR_COMP_COMPRESSED : MAILDIR_COMP_PLAIN;
	return ret;
}

/* The plain size and the virtual size (every LF not preceded by CR
 * counts one more byte) of the message in path, decompressed when it is
 * compressed; warns about files Dovecot would not have written. */
int maildir_file_sizes(struct mailferry_storage *storage, const char *path,
                       uint64_t *psize_r, uint64_t *vsize_r, char **error_r)
{
	char buf[65536];
	uint64_t size = 0, lf = 0, crlf = 0;
	bool last_cr = false, last_lf = false;
	struct mf_zinput *in = NULL;
	char *error = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0) {
		ret = maildir_errno_code(errno);
		*error_r = mf_strdup_printf("open(%s) failed: %s", path,
		                            strerror(errno));
		return ret;
	}
	ret = mf_zinput_open(fd, 0, UINT64_MAX, &in, &error);
	while (ret == 0 &&
	       (ret = mf_zinput_read(in, buf, sizeof(buf), &n, &error)) == 0 &&
	       n > 0) {
		for (size_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (last_cr)
					crlf++;
				else
					lf++;
			}
			last_cr = buf[i] == '\r';
		}
		last_lf = buf[n - 1] == '\n';
		size += (uint64_t)n;
	}
	mf_zinput_free(&in);
	close(fd);
	if (ret < 0) {
		*error_r = mf_strdup_printf("%s: %s", path, error);
		free(error);
		return zinput_code(ret);
	}
	if (size == 0)
		maildir_log_warning(storage, "%s: empty message file", path);
	else if (!last_lf)
		maildir_log_warning(
		    storage, "%s: message does not end with a newline", path);
	if (crlf > 0)
		maildir_log_warning(storage,
		                    "%s: message has CRLF line endings "
		                    "(stored as is)",
		                    path);
	*psize_r = size;
	*vsize_r = size + lf;
	return 0;
}

/* Fill the unknown sizes of msg from its file. A file that cannot be read
 * leaves them unknown with a warning: opening the message reports the
 * error where it matters. */
static void file_sizes_or_warn(struct mailferry_mailbox *box,
                               struct maildir_msg *msg, const char *path)
{
	uint64_t psize, vsize;
	char *error = NULL;

	int ret =
	    maildir_file_sizes(box->storage, path, &psize, &vsize, &error);

	if (ret < 0) {
		/* vanished: renamed or expunged meanwhile */
		if (ret != MAILFERRY_E_NOTFOUND)
			maildir_log_warning(
			    box->storage,
			    "mailbox %s: UID %u: size unknown: %s", box->vname,
			    msg->uid, error);
		free(error);
		return;
	}
	if (msg->psize == UINT64_MAX)
		msg->psize = psize;
	if (msg->vsize == UINT64_MAX)
		msg->vsize = vsize;
}

int maildir_msg_iter_next(struct mailferry_msg_iter *iter,
                          const struct mailferry_msg **msg_r)
{
	struct mailferry_mailbox *box = iter->box;
	struct mailferry_msg *out = &iter->msg;
	const struct mf_index_change *change = NULL;
	struct maildir_msg *msg;
	uint32_t fields = iter->query.fields;

	for (;;) {
		msg = first_msg_from(box, iter->next_uid);
		if (msg == NULL || msg->uid > iter->query.uid_last)
			return 0;
		iter->next_uid = (uint64_t)msg->uid + 1;
		if (!iter->have_changes)
			break;
		change = find_change(iter, msg->uid);
		if (change != NULL || iter->query.changed_since == 0)
			break;
	}
	mf_strv_free(&iter->keywords);
	mf_strv_free(&iter->kw_added);
	mf_strv_free(&iter->kw_removed);
	free(iter->guid);
	iter->guid = mf_strdup(msg->guid);
	mf_zero(out);
	out->struct_size = sizeof(*out);
	out->uid = msg->uid;
	out->guid = iter->guid;
	out->flags = msg->info.flags;
	if (msg->in_new || msg->uid >= iter->first_recent_uid)
		out->flags |= MAILFERRY_FLAG_RECENT;
	{
		const char **names = maildir_msg_keywords(box, msg);

		iter->keywords = mf_strv_dup(names);
		free(names);
	}
	out->keywords = (const char *const *)iter->keywords;
	out->modseq = msg->modseq;
	out->physical_size = msg->psize;
	out->virtual_size = msg->vsize;
	/* (a message of a mailbox read from the index has no file name:
	 * iter_begin made sure its sizes are known then) */
	if (msg->fname != NULL &&
	    ((fields & (MAILFERRY_FIELD_RECEIVED | MAILFERRY_FIELD_SAVED |
	                MAILFERRY_FIELD_PHYSICAL_SIZE)) != 0 ||
	     ((fields & MAILFERRY_FIELD_VIRTUAL_SIZE) != 0 &&
	      msg->vsize == UINT64_MAX))) {
		struct stat st;

		maildir_msg_path(box, msg, &iter->path);
		if (stat(mf_buf_str(&iter->path), &st) < 0) {
			/* renamed or expunged meanwhile: the next refresh
			 * tells which; report what we know */
			if (errno != ENOENT)
				return maildir_error(
				    box->storage, maildir_errno_code(errno),
				    "stat(%s) failed: %s",
				    mf_buf_str(&iter->path), strerror(errno));
		} else {
			const char *path = mf_buf_str(&iter->path);

			out->received_date = (int64_t)st.st_mtime;
			out->save_date = (int64_t)st.st_ctime;
			/* a compressed file's size is not the message's: S=
			 * has it (Dovecot writes the plain size there), or
			 * the whole file is decompressed to count */
			if (msg->psize == UINT64_MAX) {
				if (maildir_msg_compressed(box, msg, path) <= 0)
					msg->psize = (uint64_t)st.st_size;
				else
					file_sizes_or_warn(box, msg, path);
			} else if (msg->psize != (uint64_t)st.st_size &&
			           maildir_msg_compressed(box, msg, path) == 0)
				maildir_log_warning(
				    box->storage,
				    "%s: file is %llu bytes but its name "
				    "says S=%llu",
				    path, (unsigned long long)st.st_size,
				    (unsigned long long)msg->psize);
			if (st.st_size == 0 && msg->vsize == UINT64_MAX)
				maildir_log_warning(box->storage,
				                    "%s: empty message file",
				                    path);
			out->physical_size = msg->psize;
			out->virtual_size = msg->vsize;
		}
		if ((fields & MAILFERRY_FIELD_VIRTUAL_SIZE) != 0 &&
		    msg->vsize == UINT64_MAX) {
			file_sizes_or_warn(box, msg, mf_buf_str(&iter->path));
			out->virtual_size = msg->vsize;
		}
	}
	/* the logged flag updates only, as dsync's log scan: the flags a
	 * message was appended with are not changes */
	if (change != NULL && (fields & MAILFERRY_FIELD_CHANGES) != 0) {
		out->flags_added = abi_flags(change->flags_added);
		out->flags_removed = abi_flags(change->flags_removed);
		if (change->kw_added_count > 0) {
			iter->kw_added = kw_names(box, change->kw_added,
			                          change->kw_added_count);
			out->keywords_added =
			    (const char *const *)iter->kw_added;
		}
		if (change->kw_removed_count > 0) {
			iter->kw_removed = kw_names(box, change->kw_removed,
			                            change->kw_removed_count);
			out->keywords_removed =
			    (const char *const *)iter->kw_removed;
		}
	}
	*msg_r = out;
	return 1;
}

int maildir_msg_iter_end(struct mailferry_msg_iter **iterp)
{
	struct mailferry_msg_iter *iter = *iterp;

	if (iter == NULL)
		return 0;
	if (iter->have_changes)
		mf_index_changes_free(&iter->changes);
	mf_strv_free(&iter->keywords);
	mf_strv_free(&iter->kw_added);
	mf_strv_free(&iter->kw_removed);
	free(iter->guid);
	mf_buf_free(&iter->path);
	free(iter);
	*iterp = NULL;
	return 0;
}

int maildir_expunge_iter_begin(struct mailferry_mailbox *box, uint64_t since,
                               struct mailferry_expunge_iter **iter_r)
{
	struct mailferry_expunge_iter *iter;
	int ret;

	if ((ret = maildir_sync_lock_ensure(box)) < 0)
		return ret;
	if (box->index == NULL)
		return maildir_error(box->storage, MAILFERRY_E_NOTSUPP,
		                     "mailbox %s: no index, no expunge "
		                     "history",
		                     box->vname);
	iter = mf_calloc(1, sizeof(*iter));
	ret = mf_index_expunges_since(box->index, since, 0, &iter->items,
	                              &iter->count);
	if (ret < 0) {
		free(iter);
		return index_error(box, ret);
	}
	*iter_r = iter;
	return 0;
}

int maildir_expunge_iter_next(struct mailferry_expunge_iter *iter,
                              const struct mailferry_expunge **exp_r)
{
	const struct mf_index_expunge *e;

	if (iter->pos >= iter->count)
		return 0;
	e = &iter->items[iter->pos++];
	mf_zero(&iter->exp);
	iter->exp.struct_size = sizeof(iter->exp);
	iter->exp.uid = e->uid;
	memcpy(iter->exp.guid, e->guid, 16);
	iter->exp.have_guid = e->have_guid ? 1 : 0;
	iter->exp.modseq = e->modseq;
	*exp_r = &iter->exp;
	return 1;
}

int maildir_expunge_iter_end(struct mailferry_expunge_iter **iterp)
{
	struct mailferry_expunge_iter *iter = *iterp;

	if (iter == NULL)
		return 0;
	free(iter->items);
	free(iter);
	*iterp = NULL;
	return 0;
}

/* Open the file of uid; if it was renamed meanwhile (flag change by a
 * client), rescan once and try the new name, as Dovecot does. */
static int open_msg_file(struct mailferry_mailbox *box, uint32_t uid, int *fd_r,
                         struct maildir_msg **msg_r)
{
	int ret;

	if ((ret = maildir_sync_lock_ensure(box)) < 0 ||
	    (ret = maildir_msgs_ensure(box)) < 0 ||
	    (ret = maildir_names_ensure(box)) < 0)
		return ret;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct maildir_msg *msg = maildir_msg_find(box, uid);
		int fd;

		if (msg == NULL)
			break;
		maildir_msg_path(box, msg, &box->path_buf);
		fd = open(mf_buf_str(&box->path_buf), O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			*fd_r = fd;
			*msg_r = msg;
			return 0;
		}
		if (errno != ENOENT)
			return maildir_error(
			    box->storage, maildir_errno_code(errno),
			    "open(%s) failed: %s", mf_buf_str(&box->path_buf),
			    strerror(errno));
		if (attempt == 0 && (ret = maildir_sync(box, NULL)) < 0)
			return ret;
	}
	return maildir_error(box->storage, MAILFERRY_E_EXPUNGED,
	                     "mailbox %s: UID %u was expunged", box->vname,
	                     uid);
}

int maildir_msg_open(struct mailferry_mailbox *box, uint32_t uid,
                     uint32_t flags, struct mailferry_stream **stream_r)
{
	struct mailferry_stream *stream;
	struct maildir_msg *msg = NULL;
	struct mf_zinput *in = NULL;
	char *error = NULL;
	int fd = -1, ret;

	(void)flags;
	if ((ret = open_msg_file(box, uid, &fd, &msg)) < 0)
		return ret;
	/* compressed files (Dovecot's zlib plugin) are recognised by their
	 * first bytes and read decompressed */
	ret = mf_zinput_open(fd, 0, UINT64_MAX, &in, &error);
	if (ret < 0) {
		ret = maildir_error(box->storage, zinput_code(ret), "%s: %s",
		                    mf_buf_str(&box->path_buf), error);
		free(error);
		close(fd);
		return ret;
	}
	msg->comp = mf_zinput_kind(in) != MF_COMPRESS_NONE
	                ? MAILDIR_COMP_COMPRESSED
	                : MAILDIR_COMP_PLAIN;
	stream = mf_calloc(1, sizeof(*stream));
	stream->box = box;
	stream->fd = fd;
	stream->in = in;
	stream->expected = msg->psize;
	stream->path = mf_strdup(mf_buf_str(&box->path_buf));
	*stream_r = stream;
	return 0;
}

int maildir_stream_read(struct mailferry_stream *stream, void *buf, size_t size,
                        size_t *size_r)
{
	char *error = NULL;
	size_t n = 0;
	int ret;

	ret = mf_zinput_read(stream->in, buf, size, &n, &error);
	if (ret < 0) {
		ret = maildir_error(stream->box->storage, zinput_code(ret),
		                    "%s: %s", stream->path, error);
		free(error);
		return ret;
	}
	if (n == 0 && size > 0 && stream->expected != UINT64_MAX &&
	    mf_zinput_produced(stream->in) != stream->expected) {
		/* the data is what it is: deliver it, but say so */
		maildir_log_warning(
		    stream->box->storage,
		    "%s: %s has %llu bytes, its name says S=%llu", stream->path,
		    mf_zinput_kind(stream->in) == MF_COMPRESS_NONE
		        ? "file"
		        : "decompressed message",
		    (unsigned long long)mf_zinput_produced(stream->in),
		    (unsigned long long)stream->expected);
		stream->expected = UINT64_MAX;
	}
	*size_r = n;
	return 0;
}

void maildir_stream_close(struct mailferry_stream **streamp)
{
	struct mailferry_stream *stream = *streamp;

	if (stream == NULL)
		return;
	mf_zinput_free(&stream->in);
	close(stream->fd);
	free(stream->path);
	free(stream);
	*streamp = NULL;
}

int maildir_msg_get_path(struct mailferry_mailbox *box, uint32_t uid,
                         const char **path_r)
{
	struct maildir_msg *msg;
	int ret;

	if ((ret = maildir_msgs_ensure(box)) < 0 ||
	    (ret = maildir_names_ensure(box)) < 0)
		return ret;
	msg = maildir_msg_find(box, uid);
	if (msg == NULL)
		return maildir_error(box->storage, MAILFERRY_E_EXPUNGED,
		                     "mailbox %s: UID %u was expunged",
		                     box->vname, uid);
	maildir_msg_path(box, msg, &box->path_buf);
	/* the file must hold the bytes msg_open() returns: not so when it
	 * is compressed (the core then streams) */
	ret = maildir_msg_compressed(box, msg, mf_buf_str(&box->path_buf));
	if (ret > 0)
		return MAILFERRY_E_NOTSUPP;
	/* unreadable: let the caller's link or open report it */
	*path_r = mf_buf_str(&box->path_buf);
	return 0;
}
