/* SPDX-License-Identifier: MIT */
/*
 * eml-msg.c - message iteration and message bodies.
 *
 * A message's GUID is the SHA-1 of its bytes and its virtual size counts
 * every bare LF as CRLF; both need the whole file, so they are computed
 * only when asked for, in fixed-size chunks, and kept in the snapshot.
 * Bodies are streamed from the file straight into the caller's buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "eml-private.h"

#define EML_CHUNK (32 * 1024)

struct mailferry_msg_iter {
	struct mailferry_mailbox *box;
	struct eml_snapshot *snap; /* our own reference */
	uint32_t fields;
	size_t next;   /* index of the next entry to look at */
	uint32_t last; /* highest UID asked for */
	struct mailferry_msg msg;
	int error; /* first error, sticky */
};

struct mailferry_stream {
	struct mailferry_ctx *ctx;
	char *path;
	int fd;
	uint64_t remaining; /* bytes still expected from the scan's size */
	int eof;
};

/* The file changed (or went away) after the scan that numbered it: it is
 * no longer the message with that UID. */
static int changed_since_scan(const struct eml_msg_entry *e,
                              const struct stat *st)
{
	return !S_ISREG(st->st_mode) || (uint64_t)st->st_size != e->size ||
	       (int64_t)st->st_mtime != e->mtime;
}

/* Open entry e of dir. Returns the fd, or a negative error; a file that
 * vanished or changed since the scan gives MAILFERRY_E_EXPUNGED. */
static int entry_open(struct mailferry_ctx *ctx, const char *path,
                      const struct eml_msg_entry *e)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			return eml_api->set_error(
			    ctx, MAILFERRY_E_EXPUNGED,
			    "eml: %s was removed after the mailbox was "
			    "scanned",
			    path);
		}
		return eml_sys_error(ctx, "open", path, errno);
	}
	if (fstat(fd, &st) < 0) {
		int ret = eml_sys_error(ctx, "fstat", path, errno);
		close(fd);
		return ret;
	}
	if (changed_since_scan(e, &st)) {
		close(fd);
		return eml_api->set_error(ctx, MAILFERRY_E_EXPUNGED,
		                          "eml: %s changed after the mailbox "
		                          "was scanned",
		                          path);
	}
	return fd;
}

/* Fill e->guid and e->vsize by reading the file once. */
static int entry_digest(struct mailferry_mailbox *box, struct eml_msg_entry *e)
{
	struct mailferry_ctx *ctx = box->storage->ctx;
	unsigned char buf[EML_CHUNK];
	uint8_t digest[EML_SHA1_LEN];
	struct eml_sha1 sha;
	uint64_t total = 0, bare_lf = 0;
	unsigned char prev = 0;
	char *path;
	int fd, ret = 0;

	if (e->digested)
		return 0;
	path = eml_strdup_printf("%s/%s", box->dir, e->file);
	if (path == NULL)
		return eml_nomem(ctx);
	fd = entry_open(ctx, path, e);
	if (fd < 0) {
		free(path);
		return fd;
	}
	eml_sha1_init(&sha);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = eml_sys_error(ctx, "read", path, errno);
			break;
		}
		if (n == 0)
			break;
		eml_sha1_update(&sha, buf, (size_t)n);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				bare_lf++;
			prev = buf[i];
		}
		total += (uint64_t)n;
	}
	close(fd);
	if (ret == 0 && total != e->size) {
		ret = eml_api->set_error(ctx, MAILFERRY_E_EXPUNGED,
		                         "eml: %s changed after the mailbox "
		                         "was scanned",
		                         path);
	}
	free(path);
	if (ret < 0)
		return ret;

	eml_sha1_final(&sha, digest);
	for (size_t i = 0; i < EML_SHA1_LEN; i++) {
		static const char hex[] = "0123456789abcdef";
		e->guid[2 * i] = hex[digest[i] >> 4];
		e->guid[2 * i + 1] = hex[digest[i] & 15];
	}
	e->guid[2 * EML_SHA1_LEN] = '\0';
	e->vsize = e->size + bare_lf;
	e->digested = 1;
	return 0;
}

int eml_msg_iter_begin(struct mailferry_mailbox *box,
                       const struct mailferry_msg_query *query,
                       struct mailferry_msg_iter **iter_r)
{
	struct mailferry_ctx *ctx = box->storage->ctx;
	struct mailferry_msg_iter *iter;

	if (query == NULL ||
	    !MAILFERRY_HAS_FIELD(query, struct mailferry_msg_query,
	                         changed_since)) {
		return eml_api->set_error(ctx, MAILFERRY_E_INVALID,
		                          "eml: message query too small");
	}
	/* No modseqs, so no way to say what changed since one. */
	if (query->changed_since > 0) {
		return eml_api->set_error(ctx, MAILFERRY_E_NOHISTORY,
		                          "eml: %s keeps no change history",
		                          box->name);
	}
	iter = calloc(1, sizeof(*iter));
	if (iter == NULL)
		return eml_nomem(ctx);
	iter->box = box;
	iter->snap = box->snap;
	iter->snap->refcount++;
	iter->fields = query->fields;
	iter->next = query->uid_first > 0 ? query->uid_first - 1 : 0;
	iter->last = query->uid_last;
	*iter_r = iter;
	return 0;
}

int eml_msg_iter_next(struct mailferry_msg_iter *iter,
                      const struct mailferry_msg **msg_r)
{
	struct mailferry_ctx *ctx = iter->box->storage->ctx;
	struct mailferry_msg *msg = &iter->msg;

	if (iter->error < 0)
		return iter->error;
	for (;;) {
		struct eml_msg_entry *e;
		uint32_t uid;
		int ret;

		if (iter->next >= iter->snap->count)
			return 0;
		uid = (uint32_t)iter->next + 1;
		if (uid > iter->last)
			return 0;
		if (eml_api->should_stop(ctx)) {
			iter->error = eml_api->set_error(
			    ctx, MAILFERRY_E_CANCELED, "eml: interrupted");
			return iter->error;
		}
		e = &iter->snap->msgs[iter->next++];
		if ((iter->fields & (MAILFERRY_FIELD_GUID |
		                     MAILFERRY_FIELD_VIRTUAL_SIZE)) != 0) {
			ret = entry_digest(iter->box, e);
			/* A message removed meanwhile is simply not there
			 * any more; the next scan will not number it. */
			if (ret == MAILFERRY_E_EXPUNGED)
				continue;
			if (ret < 0) {
				iter->error = ret;
				return ret;
			}
		}
		memset(msg, 0, sizeof(*msg));
		msg->struct_size = sizeof(*msg);
		msg->uid = uid;
		msg->received_date = e->mtime;
		msg->physical_size = e->size;
		msg->virtual_size = e->digested ? e->vsize : UINT64_MAX;
		msg->guid = e->digested ? e->guid : NULL;
		*msg_r = msg;
		return 1;
	}
}

int eml_msg_iter_end(struct mailferry_msg_iter **iterp)
{
	struct mailferry_msg_iter *iter = *iterp;
	int ret;

	if (iter == NULL)
		return 0;
	*iterp = NULL;
	ret = iter->error;
	eml_snapshot_unref(&iter->snap);
	free(iter);
	return ret;
}

int eml_msg_open(struct mailferry_mailbox *box, uint32_t uid, uint32_t flags,
                 struct mailferry_stream **stream_r)
{
	struct mailferry_ctx *ctx = box->storage->ctx;
	struct mailferry_stream *stream;
	const struct eml_msg_entry *e;
	int fd;

	/* HEADER_ONLY is a hint; the whole file is as cheap to stream. */
	(void)flags;
	if (uid == 0 || uid > box->snap->count) {
		return eml_api->set_error(ctx, MAILFERRY_E_NOTFOUND,
		                          "eml: mailbox '%s' has no UID %u",
		                          box->name, (unsigned)uid);
	}
	e = &box->snap->msgs[uid - 1];
	stream = calloc(1, sizeof(*stream));
	if (stream == NULL)
		return eml_nomem(ctx);
	stream->path = eml_strdup_printf("%s/%s", box->dir, e->file);
	if (stream->path == NULL) {
		free(stream);
		return eml_nomem(ctx);
	}
	fd = entry_open(ctx, stream->path, e);
	if (fd < 0) {
		free(stream->path);
		free(stream);
		return fd;
	}
	stream->ctx = ctx;
	stream->fd = fd;
	stream->remaining = e->size;
	*stream_r = stream;
	return 0;
}

int eml_stream_read(struct mailferry_stream *stream, void *buf, size_t size,
                    size_t *size_r)
{
	ssize_t n;

	*size_r = 0;
	if (stream->eof || size == 0)
		return 0;
	if (stream->remaining == 0) {
		/* The scan's size is reached: the file must end here, or
		 * it was appended to and is no longer the scanned message. */
		char extra;
		do {
			n = read(stream->fd, &extra, 1);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return eml_sys_error(stream->ctx, "read", stream->path,
			                     errno);
		if (n > 0) {
			return eml_api->set_error(
			    stream->ctx, MAILFERRY_E_EXPUNGED,
			    "eml: %s grew while it was being read",
			    stream->path);
		}
		stream->eof = 1;
		return 0;
	}
	if (size > stream->remaining)
		size = (size_t)stream->remaining;
	do {
		n = read(stream->fd, buf, size);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return eml_sys_error(stream->ctx, "read", stream->path, errno);
	if (n == 0) {
		return eml_api->set_error(
		    stream->ctx, MAILFERRY_E_INVALIDDATA,
		    "eml: %s is truncated: %llu bytes missing at its end",
		    stream->path, (unsigned long long)stream->remaining);
	}
	stream->remaining -= (uint64_t)n;
	*size_r = (size_t)n;
	return 0;
}

void eml_stream_close(struct mailferry_stream **streamp)
{
	struct mailferry_stream *stream = *streamp;

	if (stream == NULL)
		return;
	*streamp = NULL;
	close(stream->fd);
	free(stream->path);
	free(stream);
}
