/* SPDX-License-Identifier: MIT */
/*
 * dbox-compress.h - compressed message bodies as Dovecot's zlib plugin
 * writes them (dovecot-formats.md §13): nothing on disk says a body is
 * compressed, readers sniff its first bytes. We write zstd frames and read
 * zstd and (with zlib) gzip; other formats Dovecot can write (bzip2, xz,
 * lz4) are recognised and refused with a clear error instead of being
 * returned as garbage.
 */
#ifndef DBOX_COMPRESS_H
#define DBOX_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

enum dbox_compress_kind {
	DBOX_COMPRESS_NONE = 0,
	DBOX_COMPRESS_ZSTD,
	DBOX_COMPRESS_GZIP,
	DBOX_COMPRESS_BZIP2,
	DBOX_COMPRESS_XZ,
	DBOX_COMPRESS_LZ4,
};

/* Bytes needed to recognise every format. */
#define DBOX_COMPRESS_SNIFF_SIZE 6

/* Which compression the body starting with data[0..len) uses. */
enum dbox_compress_kind dbox_compress_detect(const unsigned char *data,
                                             size_t len);
const char *dbox_compress_name(enum dbox_compress_kind kind);

/* --- decompression --- */

struct dbox_decompress;

/* Start decompressing kind (ZSTD, or GZIP when built with zlib). Returns
 * NULL with *error_r allocated when kind is not supported. */
struct dbox_decompress *dbox_decompress_new(enum dbox_compress_kind kind,
                                            char **error_r);
/* Feed input and produce output. Consumes *in_used_r bytes of in, writes
 * *out_used_r bytes to out. *done_r becomes true at the end of the stream.
 * Returns 0, or -1 with *error_r allocated (corrupt data). */
int dbox_decompress_run(struct dbox_decompress *d, const void *in,
                        size_t in_size, size_t *in_used_r, void *out,
                        size_t out_size, size_t *out_used_r, int *done_r,
                        char **error_r);
void dbox_decompress_free(struct dbox_decompress **d);

/* --- compression (zstd only, as zlib_save = zstd) --- */

struct dbox_compress;

/* level 0 = zstd's default. Returns NULL with *error_r on failure. */
struct dbox_compress *dbox_compress_new_zstd(int level, char **error_r);
/* Compress in (end != 0: finish the frame). Output is appended through
 * the callback, which returns 0 or -1 (then this returns -1). */
typedef int dbox_compress_out_fn(void *ctx, const void *data, size_t size);
int dbox_compress_run(struct dbox_compress *c, const void *in, size_t size,
                      int end, dbox_compress_out_fn *out, void *out_ctx,
                      char **error_r);
void dbox_compress_free(struct dbox_compress **c);

#endif
