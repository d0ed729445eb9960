/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include <mailferry/driver.h>
#include "mf-alloc.h"
#include "mf-zinput.h"
#include "dbox-body.h"

struct dbox_body {
	int fd;
	char *path;
	uint64_t start;    /* file offset of the body */
	uint64_t expected; /* plaintext size or UINT64_MAX */
	struct mf_zinput *in;
};

static int zinput_error(const char *path, uint64_t offset, int zret, char *zerr,
                        char **error_r)
{
	*error_r = mf_strdup_printf("dbox file %s: offset %" PRIu64 ": %s",
	                            path, offset, zerr);
	free(zerr);
	switch (zret) {
	case MF_ZINPUT_ERR_UNSUPPORTED:
		return MAILFERRY_E_NOTSUPP;
	case MF_ZINPUT_ERR_CORRUPT:
		return MAILFERRY_E_INVALIDDATA;
	default:
		return MAILFERRY_E_TEMP;
	}
}

int dbox_body_open(int fd, const char *path, uint64_t body_offset,
                   uint64_t body_size, uint64_t expected_size,
                   struct dbox_body **body_r, char **error_r)
{
	struct mf_zinput *in;
	struct dbox_body *b;
	char *zerr = NULL;
	int ret;

	ret = mf_zinput_open(fd, body_offset, body_size, &in, &zerr);
	if (ret < 0)
		return zinput_error(path, body_offset, ret, zerr, error_r);
	b = mf_calloc(1, sizeof(*b));
	b->fd = fd;
	b->path = mf_strdup(path);
	b->start = body_offset;
	b->expected = expected_size;
	b->in = in;
	*body_r = b;
	return 0;
}

enum mf_compress_kind dbox_body_compression(const struct dbox_body *b)
{
	return mf_zinput_kind(b->in);
}

static int body_check_end(struct dbox_body *b, char **error_r)
{
	uint64_t produced = mf_zinput_produced(b->in);

	if (b->expected != UINT64_MAX && produced != b->expected) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64 ": message body is %" PRIu64
		    " bytes but its metadata says %" PRIu64
		    " (file corrupted or truncated)",
		    b->path, b->start, produced, b->expected);
		return MAILFERRY_E_INVALIDDATA;
	}
	return 0;
}

int dbox_body_read(struct dbox_body *b, void *buf, size_t size, size_t *size_r,
                   char **error_r)
{
	char *zerr = NULL;
	int ret;

	*size_r = 0;
	if (size == 0)
		return 0;
	ret = mf_zinput_read(b->in, buf, size, size_r, &zerr);
	if (ret < 0)
		return zinput_error(b->path, b->start, ret, zerr, error_r);
	if (*size_r == 0)
		return body_check_end(b, error_r);
	return 0;
}

void dbox_body_free(struct dbox_body **_b)
{
	struct dbox_body *b = *_b;

	if (b == NULL)
		return;
	*_b = NULL;
	mf_zinput_free(&b->in);
	if (b->fd >= 0)
		close(b->fd);
	free(b->path);
	free(b);
}
