/* SPDX-License-Identifier: MIT */
/*
 * mf-zinput.h - read a message's bytes from a file, decompressed when they
 * start with a compression magic (mf-compress.h), as Dovecot's zlib plugin
 * does on every read. Memory stays bounded: one 64 KiB input buffer plus
 * the decompressor's window, whatever the message size.
 *
 * Part of libmfcompress.la.
 */
#ifndef MF_ZINPUT_H
#define MF_ZINPUT_H

#include <stddef.h>
#include <stdint.h>
#include "mf-compress.h"

/* Negative results; the error text never names the file (the caller does,
 * with whatever else identifies the message). */
enum mf_zinput_error {
	/* a read failed (the text has strerror) */
	MF_ZINPUT_ERR_IO = -1,
	/* compressed in a format this build cannot read; the text says
	 * which and what is missing */
	MF_ZINPUT_ERR_UNSUPPORTED = -2,
	/* corrupt compressed data, or the file ends before the compressed
	 * stream (or the byte range given to open) does */
	MF_ZINPUT_ERR_CORRUPT = -3,
};

struct mf_zinput;

/* Read the bytes [offset, offset + size) of fd, or with size UINT64_MAX
 * everything from offset to the end of the file. fd is read with pread(),
 * never closed, and must stay open until mf_zinput_free(). Returns 0, or a
 * negative enum mf_zinput_error with *error_r allocated. */
int mf_zinput_open(int fd, uint64_t offset, uint64_t size,
                   struct mf_zinput **in_r, char **error_r);
/* The compression found (MF_COMPRESS_NONE: plain bytes). */
enum mf_compress_kind mf_zinput_kind(const struct mf_zinput *in);
/* Read up to size plain bytes into buf; *size_r = 0 at the end. Returns 0,
 * or a negative enum mf_zinput_error with *error_r allocated. */
int mf_zinput_read(struct mf_zinput *in, void *buf, size_t size, size_t *size_r,
                   char **error_r);
/* Plain bytes returned so far. */
uint64_t mf_zinput_produced(const struct mf_zinput *in);
/* The file offset reading has reached (for error texts). */
uint64_t mf_zinput_file_offset(const struct mf_zinput *in);
void mf_zinput_free(struct mf_zinput **in);

#endif
