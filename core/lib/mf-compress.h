/* SPDX-License-Identifier: MIT */
/*
 * mf-compress.h - compressed mail as Dovecot's zlib plugin writes it
 * (dovecot-formats.md §13). Nothing on disk says a message is compressed:
 * every reader sniffs its first bytes. We read zstd and (when built with
 * zlib) gzip; the other formats Dovecot can write (bzip2, xz, lz4) are
 * recognised and refused by name instead of being returned as garbage. We
 * write zstd and (with zlib) gzip, as `zlib_save = zstd` / `gz` do.
 *
 * Part of libmfcompress.la (core/lib), which links $(ZSTD_LIBS) and
 * $(ZLIB_LIBS); only the drivers that store mail locally link it.
 */
#ifndef MF_COMPRESS_H
#define MF_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

enum mf_compress_kind {
	MF_COMPRESS_NONE = 0,
	MF_COMPRESS_ZSTD,
	MF_COMPRESS_GZIP,
	MF_COMPRESS_BZIP2,
	MF_COMPRESS_XZ,
	MF_COMPRESS_LZ4,
};

/* Bytes needed to recognise every format. */
#define MF_COMPRESS_SNIFF_SIZE 6

/* Which compression data[0..len) starts with (MF_COMPRESS_NONE: plain). */
enum mf_compress_kind mf_compress_detect(const unsigned char *data, size_t len);
/* "zstd", "gzip", "bzip2", "xz", "lz4" or "none". */
const char *mf_compress_name(enum mf_compress_kind kind);
/* True when this build can decompress kind (and NONE). */
int mf_compress_can_read(enum mf_compress_kind kind);

/* --- decompression --- */

struct mf_decompress;

/* Start decompressing kind. Returns NULL with *error_r allocated when this
 * build cannot read kind; the text says what is missing (e.g. "gzip-
 * compressed mail is not supported by this build (built without zlib)").
 * Memory use is bounded by the format's window (at most 128 MiB for zstd,
 * its default limit; 32 KiB for gzip). */
struct mf_decompress *mf_decompress_new(enum mf_compress_kind kind,
                                        char **error_r);
/* Feed input and produce output: consumes *in_used_r bytes of in, writes
 * *out_used_r bytes to out. *done_r becomes 1 at the end of the compressed
 * stream (bytes after it are not consumed). Returns 0, or -1 with *error_r
 * allocated (corrupt data). */
int mf_decompress_run(struct mf_decompress *d, const void *in, size_t in_size,
                      size_t *in_used_r, void *out, size_t out_size,
                      size_t *out_used_r, int *done_r, char **error_r);
void mf_decompress_free(struct mf_decompress **d);

/* --- compression --- */

/* The levels a writer of kind accepts, and the one Dovecot uses when
 * zlib_save_level is unset (zstd: ZSTD_minCLevel()..22, default 3; gzip:
 * 0..9, default 6). Returns 0, or -1 when this build cannot write kind. */
int mf_compress_levels(enum mf_compress_kind kind, int *min_r, int *max_r,
                       int *default_r);

/* Parse a compression setting as Dovecot's zlib_save / zlib_save_level (or
 * mailferry's mail_compress / mail_compress_level): algo "zstd", "gz" (also
 * "gzip"), or NULL / "" / "none" / "no" for plain. level NULL or "" means the
 * default. key and level_key name the settings in the error text. On
 * success *kind_r is MF_COMPRESS_NONE (store plain) or the kind, *level_r
 * its level. Returns 0, or -1 with *error_r allocated naming the setting
 * (unknown or unwritable algorithm, level out of range). */
int mf_compress_parse_setting(const char *key, const char *algo,
                              const char *level_key, const char *level,
                              enum mf_compress_kind *kind_r, int *level_r,
                              char **error_r);

struct mf_compress;

/* Start a compressed stream of kind (ZSTD, or GZIP when built with zlib)
 * at level (within mf_compress_levels()). gzip streams get the header
 * Dovecot writes (mtime 0, OS Unix). Returns NULL with *error_r. */
struct mf_compress *mf_compress_new(enum mf_compress_kind kind, int level,
                                    char **error_r);
/* Compress in (end != 0: finish the stream after it). Output goes through
 * out, which returns 0 or -1 (then this returns -1 with *error_r NULL: the
 * callback reports its own error). Returns 0, or -1 with *error_r. */
typedef int mf_compress_out_fn(void *ctx, const void *data, size_t size);
int mf_compress_run(struct mf_compress *c, const void *in, size_t size, int end,
                    mf_compress_out_fn *out, void *out_ctx, char **error_r);
void mf_compress_free(struct mf_compress **c);

#endif
