/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include <mailferry/driver.h>
#include "mf-alloc.h"
#include "mf-file.h"
#include "dbox-body.h"

#define DBOX_BODY_INBUF_SIZE (64 * 1024)

struct dbox_body {
	int fd;
	char *path;
	uint64_t start, pos, end; /* raw byte range in the file */
	uint64_t expected;        /* plaintext size or UINT64_MAX */
	uint64_t produced;
	enum dbox_compress_kind kind;
	struct dbox_decompress *dec;
	unsigned char *inbuf;
	size_t in_pos, in_len;
	int dec_done;
};

static int body_pread(struct dbox_body *b, void *buf, size_t size,
                      size_t *size_r, char **error_r)
{
	ssize_t n;

	size = (size_t)MF_MIN((uint64_t)size, b->end - b->pos);
	if (size == 0) {
		*size_r = 0;
		return 0;
	}
	do {
		n = pread(b->fd, buf, size, (off_t)b->pos);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		*error_r = mf_strdup_printf("dbox file %s: offset %" PRIu64
		                            ": pread() failed: %s",
		                            b->path, b->pos, strerror(errno));
		return MAILFERRY_E_TEMP;
	}
	if (n == 0) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64
		    ": file is truncated inside the message body",
		    b->path, b->pos);
		return MAILFERRY_E_INVALIDDATA;
	}
	b->pos += (uint64_t)n;
	*size_r = (size_t)n;
	return 0;
}

int dbox_body_open(int fd, const char *path, uint64_t body_offset,
                   uint64_t body_size, uint64_t expected_size,
                   struct dbox_body **body_r, char **error_r)
{
	struct dbox_body *b = mf_calloc(1, sizeof(*b));
	unsigned char magic[DBOX_COMPRESS_SNIFF_SIZE];
	size_t n = (size_t)MF_MIN(body_size, (uint64_t)sizeof(magic));

	b->fd = fd;
	b->path = mf_strdup(path);
	b->start = b->pos = body_offset;
	b->end = body_offset + body_size;
	b->expected = expected_size;
	if (n > 0 && mf_pread_full(fd, magic, n, (off_t)body_offset) < 0) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64 ": %s", path, body_offset,
		    errno == EIO ? "file is truncated inside the message "
		                   "body"
		                 : strerror(errno));
		dbox_body_free(&b);
		return errno == EIO ? MAILFERRY_E_INVALIDDATA
		                    : MAILFERRY_E_TEMP;
	}
	b->kind = dbox_compress_detect(magic, n);
	if (b->kind != DBOX_COMPRESS_NONE) {
		char *derr = NULL;

		b->dec = dbox_decompress_new(b->kind, &derr);
		if (b->dec == NULL) {
			*error_r = mf_strdup_printf(
			    "dbox file %s: offset %" PRIu64 ": %s", path,
			    body_offset, derr);
			free(derr);
			b->fd = -1;
			dbox_body_free(&b);
			return MAILFERRY_E_NOTSUPP;
		}
		b->inbuf = mf_malloc(DBOX_BODY_INBUF_SIZE);
	}
	*body_r = b;
	return 0;
}

enum dbox_compress_kind dbox_body_compression(const struct dbox_body *b)
{
	return b->kind;
}

static int body_check_end(struct dbox_body *b, char **error_r)
{
	if (b->expected != UINT64_MAX && b->produced != b->expected) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64 ": message body is %" PRIu64
		    " bytes but its metadata says %" PRIu64
		    " (file corrupted or truncated)",
		    b->path, b->start, b->produced, b->expected);
		return MAILFERRY_E_INVALIDDATA;
	}
	return 0;
}

int dbox_body_read(struct dbox_body *b, void *buf, size_t size, size_t *size_r,
                   char **error_r)
{
	int ret;

	*size_r = 0;
	if (size == 0)
		return 0;
	if (b->dec == NULL) {
		ret = body_pread(b, buf, size, size_r, error_r);
		if (ret == 0 && *size_r == 0)
			return body_check_end(b, error_r);
		b->produced += *size_r;
		return ret;
	}
	while (*size_r == 0) {
		size_t in_used, out_used;
		int done;
		char *derr = NULL;

		if (b->dec_done)
			return body_check_end(b, error_r);
		if (b->in_pos == b->in_len && b->pos < b->end) {
			ret = body_pread(b, b->inbuf, DBOX_BODY_INBUF_SIZE,
			                 &b->in_len, error_r);
			if (ret < 0)
				return ret;
			b->in_pos = 0;
		}
		if (dbox_decompress_run(b->dec, b->inbuf + b->in_pos,
		                        b->in_len - b->in_pos, &in_used, buf,
		                        size, &out_used, &done, &derr) < 0) {
			*error_r = mf_strdup_printf(
			    "dbox file %s: offset %" PRIu64 ": %s", b->path,
			    b->start, derr);
			free(derr);
			return MAILFERRY_E_INVALIDDATA;
		}
		b->in_pos += in_used;
		b->produced += out_used;
		*size_r = out_used;
		b->dec_done = done;
		if (out_used == 0 && !done && in_used == 0 &&
		    (b->in_pos < b->in_len || b->pos >= b->end)) {
			*error_r = mf_strdup_printf(
			    "dbox file %s: offset %" PRIu64
			    ": compressed message body is truncated",
			    b->path, b->start);
			return MAILFERRY_E_INVALIDDATA;
		}
	}
	return 0;
}

void dbox_body_free(struct dbox_body **_b)
{
	struct dbox_body *b = *_b;

	if (b == NULL)
		return;
	*_b = NULL;
	if (b->fd >= 0)
		close(b->fd);
	dbox_decompress_free(&b->dec);
	free(b->inbuf);
	free(b->path);
	free(b);
}
