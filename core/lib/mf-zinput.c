/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-zinput.h"

#define MF_ZINPUT_BUF_SIZE (64 * 1024)

struct mf_zinput {
	int fd;
	uint64_t start, pos, end; /* raw byte range; end UINT64_MAX: EOF */
	uint64_t produced;
	bool eof;
	enum mf_compress_kind kind;
	struct mf_decompress *dec;
	unsigned char *inbuf;
	size_t in_pos, in_len;
	int dec_done;
};

/* Read raw bytes at in->pos; *size_r = 0 at the end of the range (or, for
 * an open range, of the file). */
static int raw_read(struct mf_zinput *in, void *buf, size_t size,
                    size_t *size_r, char **error_r)
{
	ssize_t n;

	*size_r = 0;
	size = (size_t)MF_MIN((uint64_t)size, in->end - in->pos);
	if (size == 0 || in->eof)
		return 0;
	do {
		n = pread(in->fd, buf, size, (off_t)in->pos);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		*error_r =
		    mf_strdup_printf("offset %" PRIu64 ": pread() failed: %s",
		                     in->pos, strerror(errno));
		return MF_ZINPUT_ERR_IO;
	}
	if (n == 0) {
		in->eof = true;
		if (in->end != UINT64_MAX) {
			*error_r = mf_strdup_printf(
			    "file is truncated at offset %" PRIu64
			    ", inside the message (which should end at "
			    "offset %" PRIu64 ")",
			    in->pos, in->end);
			return MF_ZINPUT_ERR_CORRUPT;
		}
		return 0;
	}
	in->pos += (uint64_t)n;
	*size_r = (size_t)n;
	return 0;
}

int mf_zinput_open(int fd, uint64_t offset, uint64_t size,
                   struct mf_zinput **in_r, char **error_r)
{
	struct mf_zinput *in = mf_calloc(1, sizeof(*in));
	unsigned char magic[MF_COMPRESS_SNIFF_SIZE];
	size_t n = 0, got;
	int ret;

	in->fd = fd;
	in->start = in->pos = offset;
	in->end = size == UINT64_MAX || size > UINT64_MAX - offset
	              ? UINT64_MAX
	              : offset + size;
	/* sniff: as many of the first bytes as there are */
	while (n < sizeof(magic)) {
		ret = raw_read(in, magic + n, sizeof(magic) - n, &got, error_r);
		if (ret < 0) {
			mf_zinput_free(&in);
			return ret;
		}
		if (got == 0)
			break;
		n += got;
	}
	in->pos = offset;
	in->eof = false;
	in->kind = mf_compress_detect(magic, n);
	if (in->kind != MF_COMPRESS_NONE) {
		in->dec = mf_decompress_new(in->kind, error_r);
		if (in->dec == NULL) {
			mf_zinput_free(&in);
			return MF_ZINPUT_ERR_UNSUPPORTED;
		}
		in->inbuf = mf_malloc(MF_ZINPUT_BUF_SIZE);
	}
	*in_r = in;
	return 0;
}

enum mf_compress_kind mf_zinput_kind(const struct mf_zinput *in)
{
	return in->kind;
}

uint64_t mf_zinput_produced(const struct mf_zinput *in)
{
	return in->produced;
}

uint64_t mf_zinput_file_offset(const struct mf_zinput *in)
{
	return in->pos;
}

int mf_zinput_read(struct mf_zinput *in, void *buf, size_t size, size_t *size_r,
                   char **error_r)
{
	int ret;

	*size_r = 0;
	if (size == 0)
		return 0;
	if (in->dec == NULL) {
		ret = raw_read(in, buf, size, size_r, error_r);
		in->produced += *size_r;
		return ret;
	}
	while (*size_r == 0) {
		size_t in_used, out_used;
		int done;
		char *derr = NULL;
		bool no_more_input;

		if (in->dec_done)
			return 0;
		if (in->in_pos == in->in_len) {
			ret = raw_read(in, in->inbuf, MF_ZINPUT_BUF_SIZE,
			               &in->in_len, error_r);
			if (ret < 0)
				return ret;
			in->in_pos = 0;
		}
		no_more_input = in->in_pos == in->in_len;
		if (mf_decompress_run(in->dec, in->inbuf + in->in_pos,
		                      in->in_len - in->in_pos, &in_used, buf,
		                      size, &out_used, &done, &derr) < 0) {
			*error_r = mf_strdup_printf(
			    "%s (compressed data starting at offset %" PRIu64
			    ")",
			    derr, in->start);
			free(derr);
			return MF_ZINPUT_ERR_CORRUPT;
		}
		in->in_pos += in_used;
		in->produced += out_used;
		*size_r = out_used;
		in->dec_done = done;
		if (out_used == 0 && !done && in_used == 0 &&
		    (no_more_input || in->in_pos < in->in_len)) {
			*error_r = mf_strdup_printf(
			    "%s-compressed data starting at offset %" PRIu64
			    " is truncated at offset %" PRIu64,
			    mf_compress_name(in->kind), in->start, in->pos);
			return MF_ZINPUT_ERR_CORRUPT;
		}
	}
	return 0;
}

void mf_zinput_free(struct mf_zinput **_in)
{
	struct mf_zinput *in = *_in;

	if (in == NULL)
		return;
	*_in = NULL;
	mf_decompress_free(&in->dec);
	free(in->inbuf);
	free(in);
}
