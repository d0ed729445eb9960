/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-compress.h"
#include "dbox-writer.h"

#define DBOX_WRITER_BUF_SIZE (128 * 1024)

struct dbox_writer {
	int fd;
	char *path;
	uint64_t msg_offset;
	uint64_t pos; /* file offset where buf[0] goes */
	unsigned char *buf;
	size_t buf_used;
	bool prev_cr; /* the last byte written was a CR */
	uint64_t plain_size;
	uint64_t lf_count;
	uint64_t stored_size;
	struct mf_compress *comp;
	int last_errno;
};

static int writer_flush(struct dbox_writer *w, char **error_r)
{
	size_t done = 0;

	while (done < w->buf_used) {
		ssize_t n = pwrite(w->fd, w->buf + done, w->buf_used - done,
		                   (off_t)(w->pos + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->last_errno = n < 0 ? errno : EIO;
			*error_r = mf_strdup_printf(
			    "dbox file %s: offset %" PRIu64
			    ": pwrite() failed: %s",
			    w->path, w->pos + done, strerror(w->last_errno));
			return -1;
		}
		done += (size_t)n;
	}
	w->pos += w->buf_used;
	w->buf_used = 0;
	return 0;
}

static int writer_out(struct dbox_writer *w, const void *data, size_t size,
                      char **error_r)
{
	const unsigned char *p = data;

	while (size > 0) {
		size_t n = MF_MIN(size, DBOX_WRITER_BUF_SIZE - w->buf_used);

		memcpy(w->buf + w->buf_used, p, n);
		w->buf_used += n;
		p += n;
		size -= n;
		if (w->buf_used == DBOX_WRITER_BUF_SIZE &&
		    writer_flush(w, error_r) < 0)
			return -1;
	}
	return 0;
}

struct comp_out_ctx {
	struct dbox_writer *w;
	char *error;
};

static int comp_out(void *ctx, const void *data, size_t size)
{
	struct comp_out_ctx *c = ctx;

	c->w->stored_size += size;
	return writer_out(c->w, data, size, &c->error);
}

/* Pass plaintext bytes on: to the compressor or straight to the file. */
static int writer_body(struct dbox_writer *w, const void *data, size_t size,
                       int end, char **error_r)
{
	if (w->comp != NULL) {
		struct comp_out_ctx c = {w, NULL};
		char *cerr = NULL;

		if (mf_compress_run(w->comp, data, size, end, comp_out, &c,
		                    &cerr) < 0) {
			if (cerr != NULL) {
				*error_r = mf_strdup_printf("dbox file %s: %s",
				                            w->path, cerr);
				free(cerr);
				free(c.error);
			} else {
				*error_r = c.error;
			}
			return -1;
		}
		return 0;
	}
	w->stored_size += size;
	return writer_out(w, data, size, error_r);
}

int dbox_writer_begin(int fd, const char *path, uint64_t offset,
                      int compress_kind, int compress_level,
                      struct dbox_writer **w_r, char **error_r)
{
	struct dbox_writer *w = mf_calloc(1, sizeof(*w));
	unsigned char hdr[DBOX_MSG_HEADER_SIZE];

	w->fd = fd;
	w->path = mf_strdup(path);
	w->msg_offset = offset;
	w->pos = offset;
	w->buf = mf_malloc(DBOX_WRITER_BUF_SIZE);
	if (compress_kind != MF_COMPRESS_NONE) {
		char *cerr = NULL;

		w->comp = mf_compress_new((enum mf_compress_kind)compress_kind,
		                          compress_level, &cerr);
		if (w->comp == NULL) {
			*error_r =
			    mf_strdup_printf("dbox file %s: %s", path, cerr);
			free(cerr);
			dbox_writer_free(&w);
			return -1;
		}
	}
	/* placeholder; rewritten with the real size by finish */
	dbox_msg_header_format(hdr, 0);
	if (writer_out(w, hdr, sizeof(hdr), error_r) < 0) {
		dbox_writer_free(&w);
		return -1;
	}
	*w_r = w;
	return 0;
}

int dbox_writer_write(struct dbox_writer *w, const void *data, size_t size,
                      char **error_r)
{
	const unsigned char *p = data;

	/* The bytes are kept exactly; only the virtual size needs the line
	 * endings: every LF not preceded by a CR counts one byte more. */
	for (size_t i = 0; i < size; i++) {
		if (p[i] == '\n' && !w->prev_cr)
			w->lf_count++;
		w->prev_cr = p[i] == '\r';
	}
	w->plain_size += size;
	return size == 0 ? 0 : writer_body(w, data, size, 0, error_r);
}

uint64_t dbox_writer_plain_size(const struct dbox_writer *w)
{
	return w->plain_size;
}

int dbox_writer_finish(struct dbox_writer *w,
                       const struct dbox_metadata_values *values,
                       struct dbox_writer_result *result_r, char **error_r)
{
	struct dbox_metadata_values v = *values;
	unsigned char hdr[DBOX_MSG_HEADER_SIZE];
	struct mf_buf meta = MF_BUF_INIT;
	int ret;

	if (w->comp != NULL && writer_body(w, NULL, 0, 1, error_r) < 0)
		return -1;
	v.physical_size = w->comp != NULL ? w->plain_size : UINT64_MAX;
	v.virtual_size = w->plain_size + w->lf_count;
	dbox_metadata_format(&meta, &v);
	ret = writer_out(w, meta.data, meta.len, error_r);
	mf_buf_free(&meta);
	if (ret < 0 || writer_flush(w, error_r) < 0)
		return -1;
	dbox_msg_header_format(hdr, w->stored_size);
	for (;;) {
		ssize_t n =
		    pwrite(w->fd, hdr, sizeof(hdr), (off_t)w->msg_offset);
		if (n == (ssize_t)sizeof(hdr))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		w->last_errno = n < 0 ? errno : EIO;
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64 ": pwrite() failed: %s",
		    w->path, w->msg_offset, strerror(w->last_errno));
		return -1;
	}
	result_r->msg_offset = w->msg_offset;
	result_r->end_offset = w->pos;
	result_r->stored_size = w->stored_size;
	result_r->physical_size = w->plain_size;
	result_r->virtual_size = v.virtual_size;
	return 0;
}

int dbox_writer_errno(const struct dbox_writer *w)
{
	return w->last_errno;
}

void dbox_writer_free(struct dbox_writer **_w)
{
	struct dbox_writer *w = *_w;

	if (w == NULL)
		return;
	*_w = NULL;
	mf_compress_free(&w->comp);
	free(w->buf);
	free(w->path);
	free(w);
}
