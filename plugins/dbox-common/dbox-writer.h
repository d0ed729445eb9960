/* SPDX-License-Identifier: MIT */
/*
 * dbox-writer.h - write one dbox message (message header, body, metadata)
 * into a file at a given offset. The body is optionally zstd- or
 * gzip-compressed (then the header holds the compressed size and the
 * metadata a "Z" plaintext size) and the virtual size counts every bare LF as CRLF.
 *
 * Unlike Dovecot's own save, which turns CRLF into LF, the bytes are kept
 * exactly as given: a sync or conversion must not change a message, and
 * Dovecot reads CRLF bodies fine (the "V" size accounts for them).
 *
 * The writer does not own the file descriptor and never fsyncs; callers
 * decide durability (mail_fsync).
 */
#ifndef DBOX_WRITER_H
#define DBOX_WRITER_H

#include <stdint.h>
#include "dbox-file.h"

struct dbox_writer;

/* Sizes of a finished message. */
struct dbox_writer_result {
	uint64_t msg_offset;    /* where the message header is */
	uint64_t end_offset;    /* after the metadata block */
	uint64_t stored_size;   /* body bytes on disk */
	uint64_t physical_size; /* plaintext size */
	uint64_t virtual_size;  /* CRLF size */
};

/* Start a message at offset of fd. compress_kind is an enum
 * mf_compress_kind: MF_COMPRESS_NONE stores the body plain, ZSTD or GZIP
 * compress it at compress_level (mf_compress_levels()) the way Dovecot's
 * zlib plugin does. path is for errors. Returns 0 or -1 with *error_r
 * allocated (e.g. gzip in a build without zlib). */
int dbox_writer_begin(int fd, const char *path, uint64_t offset,
                      int compress_kind, int compress_level,
                      struct dbox_writer **w_r, char **error_r);
/* Append body bytes. Returns 0 or -1 with *error_r (write error). */
int dbox_writer_write(struct dbox_writer *w, const void *data, size_t size,
                      char **error_r);
/* Plaintext size written so far. */
uint64_t dbox_writer_plain_size(const struct dbox_writer *w);
/* Finish: complete the body, rewrite the message header with the real
 * size, append the metadata built from values (sizes are filled in by the
 * writer; values->physical_size and virtual_size are ignored). */
int dbox_writer_finish(struct dbox_writer *w,
                       const struct dbox_metadata_values *values,
                       struct dbox_writer_result *result_r, char **error_r);
/* errno of the last failed write (ENOSPC, EDQUOT...), 0 if none. */
int dbox_writer_errno(const struct dbox_writer *w);
void dbox_writer_free(struct dbox_writer **w);

#endif
