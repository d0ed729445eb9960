/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <strings.h>
#include <zstd.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "mf-alloc.h"
#include "mf-compress.h"

enum mf_compress_kind mf_compress_detect(const unsigned char *d, size_t len)
{
	/* zstd frames start with the little-endian magic 0xFD2FB528 */
	if (len >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f &&
	    d[3] == 0xfd)
		return MF_COMPRESS_ZSTD;
	if (len >= 2 && d[0] == 0x1f && d[1] == 0x8b)
		return MF_COMPRESS_GZIP;
	if (len >= 4 && d[0] == 'B' && d[1] == 'Z' && d[2] == 'h' &&
	    d[3] >= '1' && d[3] <= '9')
		return MF_COMPRESS_BZIP2;
	if (len >= 6 && memcmp(d, "\xfd\x37\x7a\x58\x5a\x00", 6) == 0)
		return MF_COMPRESS_XZ;
	/* Dovecot's own lz4 container starts with "Dovecot-LZ4\x0d\x2a\x9b\xc5"
	 * (IOSTREAM_LZ4_MAGIC); the first 6 bytes are enough to tell */
	if (len >= 6 && memcmp(d, "Dovecot-LZ4", 6) == 0)
		return MF_COMPRESS_LZ4;
	return MF_COMPRESS_NONE;
}

const char *mf_compress_name(enum mf_compress_kind kind)
{
	switch (kind) {
	case MF_COMPRESS_NONE:
		return "none";
	case MF_COMPRESS_ZSTD:
		return "zstd";
	case MF_COMPRESS_GZIP:
		return "gzip";
	case MF_COMPRESS_BZIP2:
		return "bzip2";
	case MF_COMPRESS_XZ:
		return "xz";
	case MF_COMPRESS_LZ4:
		return "lz4";
	}
	return "unknown";
}

int mf_compress_can_read(enum mf_compress_kind kind)
{
	switch (kind) {
	case MF_COMPRESS_NONE:
	case MF_COMPRESS_ZSTD:
		return 1;
	case MF_COMPRESS_GZIP:
#ifdef HAVE_ZLIB
		return 1;
#else
		return 0;
#endif
	default:
		return 0;
	}
}

/* ---- decompression ---- */

struct mf_decompress {
	enum mf_compress_kind kind;
	ZSTD_DStream *zstd;
#ifdef HAVE_ZLIB
	z_stream z;
#endif
	int done;
};

static char *unsupported_error(enum mf_compress_kind kind, int writing)
{
	if (kind == MF_COMPRESS_GZIP)
		return mf_strdup("gzip-compressed mail is not supported by "
		                 "this build (built without zlib)");
	if (writing)
		return mf_strdup_printf("mailferry cannot write %s-compressed "
		                        "mail (it writes zstd and gzip)",
		                        mf_compress_name(kind));
	return mf_strdup_printf("%s-compressed mail is not supported by this "
	                        "build (mailferry reads zstd and gzip)",
	                        mf_compress_name(kind));
}

struct mf_decompress *mf_decompress_new(enum mf_compress_kind kind,
                                        char **error_r)
{
	struct mf_decompress *d;

	if (kind == MF_COMPRESS_ZSTD) {
		d = mf_calloc(1, sizeof(*d));
		d->kind = kind;
		d->zstd = ZSTD_createDStream();
		if (d->zstd == NULL) {
			free(d);
			*error_r = mf_strdup("ZSTD_createDStream() failed");
			return NULL;
		}
		ZSTD_initDStream(d->zstd);
		return d;
	}
#ifdef HAVE_ZLIB
	if (kind == MF_COMPRESS_GZIP) {
		d = mf_calloc(1, sizeof(*d));
		d->kind = kind;
		/* 16 + MAX_WBITS: gzip wrapper only */
		if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK) {
			free(d);
			*error_r = mf_strdup("inflateInit2() failed");
			return NULL;
		}
		return d;
	}
#endif
	*error_r = unsupported_error(kind, 0);
	return NULL;
}

int mf_decompress_run(struct mf_decompress *d, const void *in, size_t in_size,
                      size_t *in_used_r, void *out, size_t out_size,
                      size_t *out_used_r, int *done_r, char **error_r)
{
	*in_used_r = *out_used_r = 0;
	*done_r = d->done;
	if (d->done)
		return 0;
	if (d->kind == MF_COMPRESS_ZSTD) {
		ZSTD_inBuffer ib = {in, in_size, 0};
		ZSTD_outBuffer ob = {out, out_size, 0};
		size_t ret = ZSTD_decompressStream(d->zstd, &ob, &ib);

		if (ZSTD_isError(ret)) {
			*error_r =
			    mf_strdup_printf("zstd decompression failed: %s",
			                     ZSTD_getErrorName(ret));
			return -1;
		}
		*in_used_r = ib.pos;
		*out_used_r = ob.pos;
		/* 0 = a frame is complete and fully flushed */
		if (ret == 0)
			d->done = 1;
		*done_r = d->done;
		return 0;
	}
#ifdef HAVE_ZLIB
	{
		int ret;

		/* zlib counts in uInt: feed at most that much per call */
		in_size = MF_MIN(in_size, (size_t)UINT_MAX);
		out_size = MF_MIN(out_size, (size_t)UINT_MAX);
		d->z.next_in = (Bytef *)(uintptr_t)in;
		d->z.avail_in = (uInt)in_size;
		d->z.next_out = out;
		d->z.avail_out = (uInt)out_size;
		ret = inflate(&d->z, Z_NO_FLUSH);
		if (ret != Z_OK && ret != Z_STREAM_END &&
		    !(ret == Z_BUF_ERROR && in_size == 0)) {
			*error_r = mf_strdup_printf(
			    "gzip decompression failed: %s",
			    d->z.msg != NULL ? d->z.msg : "corrupt data");
			return -1;
		}
		*in_used_r = in_size - d->z.avail_in;
		*out_used_r = out_size - d->z.avail_out;
		if (ret == Z_STREAM_END)
			d->done = 1;
		*done_r = d->done;
		return 0;
	}
#else
	*error_r = mf_strdup("decompressor not available");
	return -1;
#endif
}

void mf_decompress_free(struct mf_decompress **_d)
{
	struct mf_decompress *d = *_d;

	if (d == NULL)
		return;
	*_d = NULL;
	if (d->zstd != NULL)
		ZSTD_freeDStream(d->zstd);
#ifdef HAVE_ZLIB
	if (d->kind == MF_COMPRESS_GZIP)
		inflateEnd(&d->z);
#endif
	free(d);
}

/* ---- compression ---- */

int mf_compress_levels(enum mf_compress_kind kind, int *min_r, int *max_r,
                       int *default_r)
{
	switch (kind) {
	case MF_COMPRESS_ZSTD:
		/* Dovecot's zstd handler: ZSTD_minCLevel()..ZSTD_maxCLevel(),
		 * default ZSTD_CLEVEL_DEFAULT (3) */
		*min_r = ZSTD_minCLevel();
		*max_r = ZSTD_maxCLevel();
		*default_r = 3;
		return 0;
#ifdef HAVE_ZLIB
	case MF_COMPRESS_GZIP:
		/* Dovecot: Z_NO_COMPRESSION..Z_BEST_COMPRESSION, default
		 * Z_DEFAULT_COMPRESSION (which zlib runs as 6) */
		*min_r = 0;
		*max_r = 9;
		*default_r = 6;
		return 0;
#endif
	default:
		return -1;
	}
}

static int parse_int(const char *s, int *v_r)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < INT_MIN ||
	    v > INT_MAX)
		return -1;
	*v_r = (int)v;
	return 0;
}

int mf_compress_parse_setting(const char *key, const char *algo,
                              const char *level_key, const char *level,
                              enum mf_compress_kind *kind_r, int *level_r,
                              char **error_r)
{
	enum mf_compress_kind kind;
	int min, max, def, v;

	*kind_r = MF_COMPRESS_NONE;
	*level_r = 0;
	if (algo == NULL || *algo == '\0' || strcmp(algo, "none") == 0 ||
	    strcmp(algo, "no") == 0)
		return 0;
	if (strcmp(algo, "zstd") == 0)
		kind = MF_COMPRESS_ZSTD;
	else if (strcmp(algo, "gz") == 0 || strcmp(algo, "gzip") == 0)
		kind = MF_COMPRESS_GZIP;
	else if (strcmp(algo, "bz2") == 0 || strcmp(algo, "bzip2") == 0)
		kind = MF_COMPRESS_BZIP2;
	else if (strcmp(algo, "xz") == 0)
		kind = MF_COMPRESS_XZ;
	else if (strcmp(algo, "lz4") == 0)
		kind = MF_COMPRESS_LZ4;
	else if (strcmp(algo, "deflate") == 0) {
		/* raw deflate has no magic: nobody could read it back */
		*error_r = mf_strdup_printf(
		    "setting %s = %s: raw deflate cannot be recognised when "
		    "reading; use zstd or gz",
		    key, algo);
		return -1;
	} else {
		*error_r = mf_strdup_printf("setting %s = %s: unknown "
		                            "compression (zstd, gz or none)",
		                            key, algo);
		return -1;
	}
	if (mf_compress_levels(kind, &min, &max, &def) < 0) {
		char *why = unsupported_error(kind, 1);

		*error_r =
		    mf_strdup_printf("setting %s = %s: %s", key, algo, why);
		free(why);
		return -1;
	}
	if (level != NULL && *level != '\0') {
		if (parse_int(level, &v) < 0 || v < min || v > max) {
			*error_r = mf_strdup_printf(
			    "setting %s = %s: not a %s level %d..%d", level_key,
			    level, mf_compress_name(kind), min, max);
			return -1;
		}
		def = v;
	}
	*kind_r = kind;
	*level_r = def;
	return 0;
}

struct mf_compress {
	enum mf_compress_kind kind;
	ZSTD_CCtx *cctx;
#ifdef HAVE_ZLIB
	z_stream z;
#endif
	unsigned char *buf;
	size_t buf_size;
};

#define MF_COMPRESS_GZ_BUF_SIZE (64 * 1024)

struct mf_compress *mf_compress_new(enum mf_compress_kind kind, int level,
                                    char **error_r)
{
	struct mf_compress *c;
	size_t ret;

	if (kind == MF_COMPRESS_ZSTD) {
		c = mf_calloc(1, sizeof(*c));
		c->kind = kind;
		c->cctx = ZSTD_createCCtx();
		if (c->cctx == NULL) {
			free(c);
			*error_r = mf_strdup("ZSTD_createCCtx() failed");
			return NULL;
		}
		ret = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel,
		                             level);
		if (ZSTD_isError(ret)) {
			*error_r =
			    mf_strdup_printf("zstd compression level %d: %s",
			                     level, ZSTD_getErrorName(ret));
			ZSTD_freeCCtx(c->cctx);
			free(c);
			return NULL;
		}
		c->buf_size = ZSTD_CStreamOutSize();
		c->buf = mf_malloc(c->buf_size);
		return c;
	}
#ifdef HAVE_ZLIB
	if (kind == MF_COMPRESS_GZIP) {
		int zret;

		if (level < 0 || level > 9) {
			*error_r = mf_strdup_printf(
			    "gzip compression level %d: not 0..9", level);
			return NULL;
		}
		c = mf_calloc(1, sizeof(*c));
		c->kind = kind;
		/* 16 + MAX_WBITS: a gzip wrapper whose header zlib fills as
		 * Dovecot's ostream-zlib does (mtime 0, extra flags from the
		 * level, OS = Unix) */
		zret = deflateInit2(&c->z, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
		                    Z_DEFAULT_STRATEGY);
		if (zret != Z_OK) {
			free(c);
			*error_r = mf_strdup_printf(
			    "deflateInit2() failed: error %d", zret);
			return NULL;
		}
		c->buf_size = MF_COMPRESS_GZ_BUF_SIZE;
		c->buf = mf_malloc(c->buf_size);
		return c;
	}
#endif
	(void)level;
	*error_r = unsupported_error(kind, 1);
	return NULL;
}

static int compress_zstd(struct mf_compress *c, const void *in, size_t size,
                         int end, mf_compress_out_fn *out, void *out_ctx,
                         char **error_r)
{
	ZSTD_inBuffer ib = {in, size, 0};
	ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;

	for (;;) {
		ZSTD_outBuffer ob = {c->buf, c->buf_size, 0};
		size_t left = ZSTD_compressStream2(c->cctx, &ob, &ib, mode);

		if (ZSTD_isError(left)) {
			*error_r =
			    mf_strdup_printf("zstd compression failed: %s",
			                     ZSTD_getErrorName(left));
			return -1;
		}
		if (ob.pos > 0 && out(out_ctx, c->buf, ob.pos) < 0) {
			*error_r = NULL;
			return -1;
		}
		if (end ? left == 0 : ib.pos == ib.size)
			return 0;
	}
}

#ifdef HAVE_ZLIB
static int compress_gzip(struct mf_compress *c, const void *in, size_t size,
                         int end, mf_compress_out_fn *out, void *out_ctx,
                         char **error_r)
{
	const unsigned char *p = in;

	do {
		/* zlib counts in uInt: feed at most that much at a time */
		size_t chunk = MF_MIN(size, (size_t)UINT_MAX);
		int last = end && chunk == size;
		int ret;

		c->z.next_in = (Bytef *)(uintptr_t)p;
		c->z.avail_in = (uInt)chunk;
		do {
			c->z.next_out = c->buf;
			c->z.avail_out = (uInt)c->buf_size;
			ret = deflate(&c->z, last ? Z_FINISH : Z_NO_FLUSH);
			if (ret == Z_STREAM_ERROR) {
				*error_r = mf_strdup(
				    "gzip compression failed: stream error");
				return -1;
			}
			if (c->buf_size > c->z.avail_out &&
			    out(out_ctx, c->buf, c->buf_size - c->z.avail_out) <
			        0) {
				*error_r = NULL;
				return -1;
			}
		} while (c->z.avail_out == 0 || (last && ret != Z_STREAM_END));
		p += chunk;
		size -= chunk;
	} while (size > 0);
	return 0;
}
#endif

int mf_compress_run(struct mf_compress *c, const void *in, size_t size, int end,
                    mf_compress_out_fn *out, void *out_ctx, char **error_r)
{
#ifdef HAVE_ZLIB
	if (c->kind == MF_COMPRESS_GZIP)
		return compress_gzip(c, in, size, end, out, out_ctx, error_r);
#endif
	return compress_zstd(c, in, size, end, out, out_ctx, error_r);
}

void mf_compress_free(struct mf_compress **_c)
{
	struct mf_compress *c = *_c;

	if (c == NULL)
		return;
	*_c = NULL;
	if (c->cctx != NULL)
		ZSTD_freeCCtx(c->cctx);
#ifdef HAVE_ZLIB
	if (c->kind == MF_COMPRESS_GZIP)
		deflateEnd(&c->z);
#endif
	free(c->buf);
	free(c);
}
