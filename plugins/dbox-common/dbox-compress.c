/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <zstd.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "mf-alloc.h"
#include "dbox-compress.h"

enum dbox_compress_kind dbox_compress_detect(const unsigned char *d, size_t len)
{
	if (len >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f &&
	    d[3] == 0xfd)
		return DBOX_COMPRESS_ZSTD;
	if (len >= 2 && d[0] == 0x1f && d[1] == 0x8b)
		return DBOX_COMPRESS_GZIP;
	if (len >= 4 && d[0] == 'B' && d[1] == 'Z' && d[2] == 'h' &&
	    d[3] >= '1' && d[3] <= '9')
		return DBOX_COMPRESS_BZIP2;
	if (len >= 6 && memcmp(d, "\xfd\x37\x7a\x58\x5a\x00", 6) == 0)
		return DBOX_COMPRESS_XZ;
	/* Dovecot's own lz4 container starts with "Dovecot-LZ4\x0d\x2a\x9b\xc5"
	 * (IOSTREAM_LZ4_MAGIC); the first 6 bytes are enough to tell */
	if (len >= 6 && memcmp(d, "Dovecot-LZ4", 6) == 0)
		return DBOX_COMPRESS_LZ4;
	return DBOX_COMPRESS_NONE;
}

const char *dbox_compress_name(enum dbox_compress_kind kind)
{
	switch (kind) {
	case DBOX_COMPRESS_NONE:
		return "none";
	case DBOX_COMPRESS_ZSTD:
		return "zstd";
	case DBOX_COMPRESS_GZIP:
		return "gzip";
	case DBOX_COMPRESS_BZIP2:
		return "bzip2";
	case DBOX_COMPRESS_XZ:
		return "xz";
	case DBOX_COMPRESS_LZ4:
		return "lz4";
	}
	return "unknown";
}

struct dbox_decompress {
	enum dbox_compress_kind kind;
	ZSTD_DStream *zstd;
#ifdef HAVE_ZLIB
	z_stream z;
#endif
	int done;
};

struct dbox_decompress *dbox_decompress_new(enum dbox_compress_kind kind,
                                            char **error_r)
{
	struct dbox_decompress *d;

	if (kind == DBOX_COMPRESS_ZSTD) {
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
	if (kind == DBOX_COMPRESS_GZIP) {
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
	*error_r = mf_strdup_printf(
	    "%s-compressed mail is not supported by this build%s",
	    dbox_compress_name(kind),
	    kind == DBOX_COMPRESS_GZIP ? " (built without zlib)" : "");
	return NULL;
}

int dbox_decompress_run(struct dbox_decompress *d, const void *in,
                        size_t in_size, size_t *in_used_r, void *out,
                        size_t out_size, size_t *out_used_r, int *done_r,
                        char **error_r)
{
	*in_used_r = *out_used_r = 0;
	*done_r = d->done;
	if (d->done)
		return 0;
	if (d->kind == DBOX_COMPRESS_ZSTD) {
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

void dbox_decompress_free(struct dbox_decompress **_d)
{
	struct dbox_decompress *d = *_d;

	if (d == NULL)
		return;
	*_d = NULL;
	if (d->zstd != NULL)
		ZSTD_freeDStream(d->zstd);
#ifdef HAVE_ZLIB
	if (d->kind == DBOX_COMPRESS_GZIP)
		inflateEnd(&d->z);
#endif
	free(d);
}

struct dbox_compress {
	ZSTD_CCtx *cctx;
	unsigned char *buf;
	size_t buf_size;
};

struct dbox_compress *dbox_compress_new_zstd(int level, char **error_r)
{
	struct dbox_compress *c = mf_calloc(1, sizeof(*c));
	size_t ret;

	c->cctx = ZSTD_createCCtx();
	if (c->cctx == NULL) {
		free(c);
		*error_r = mf_strdup("ZSTD_createCCtx() failed");
		return NULL;
	}
	ret = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level);
	if (ZSTD_isError(ret)) {
		*error_r = mf_strdup_printf("zstd compression level %d: %s",
		                            level, ZSTD_getErrorName(ret));
		ZSTD_freeCCtx(c->cctx);
		free(c);
		return NULL;
	}
	c->buf_size = ZSTD_CStreamOutSize();
	c->buf = mf_malloc(c->buf_size);
	return c;
}

int dbox_compress_run(struct dbox_compress *c, const void *in, size_t size,
                      int end, dbox_compress_out_fn *out, void *out_ctx,
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

void dbox_compress_free(struct dbox_compress **_c)
{
	struct dbox_compress *c = *_c;

	if (c == NULL)
		return;
	*_c = NULL;
	ZSTD_freeCCtx(c->cctx);
	free(c->buf);
	free(c);
}
