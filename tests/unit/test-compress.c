/* SPDX-License-Identifier: MIT */
/* Unit tests of libmfcompress: detection, round trips through the
 * compressors and the decompressing file reader in every chunk size,
 * settings parsing, and the errors for truncated, corrupt and unsupported
 * data. */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-compress.h"
#include "mf-file.h"
#include "mf-zinput.h"

static char tmpdir[] = "/tmp/mf-compress-test.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = mf_strdup_printf("rm -rf '%s'", tmpdir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	mf_strlcpy(tmpdir, "/tmp/mf-compress-test.XXXXXX", sizeof(tmpdir));
}

/* A message of n bytes, varied enough not to compress to nothing. */
static void make_msg(struct mf_buf *b, size_t n)
{
	uint32_t x = 12345;

	mf_buf_append_str(b, "From: a@example.org\nSubject: t\n\n");
	while (b->len < n) {
		x = x * 1103515245 + 12345;
		if ((x >> 16) % 61 == 0)
			mf_buf_append(b, "\n", 1);
		else {
			char c = (char)('a' + (x >> 16) % 26);

			mf_buf_append(b, &c, 1);
		}
	}
	mf_buf_truncate(b, n);
}

static int buf_out(void *ctx, const void *data, size_t size)
{
	mf_buf_append(ctx, data, size);
	return 0;
}

static void compress_buf(enum mf_compress_kind kind, int level,
                         const struct mf_buf *in, size_t chunk,
                         struct mf_buf *out)
{
	char *err = NULL;
	struct mf_compress *c = mf_compress_new(kind, level, &err);

	ck_assert_msg(c != NULL, "%s", err);
	for (size_t pos = 0; pos < in->len; pos += chunk) {
		size_t n = MF_MIN(chunk, in->len - pos);

		ck_assert_int_eq(mf_compress_run(c, in->data + pos, n, 0,
		                                 buf_out, out, &err),
		                 0);
	}
	ck_assert_int_eq(mf_compress_run(c, NULL, 0, 1, buf_out, out, &err), 0);
	mf_compress_free(&c);
	ck_assert_ptr_null(c);
}

static char *write_file(const char *name, const void *data, size_t len)
{
	char *path = mf_strdup_printf("%s/%s", tmpdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(mf_write_full(fd, data, len), 0);
	close(fd);
	return path;
}

/* Read [offset, offset + size) of path through mf_zinput in reads of
 * chunk bytes. Returns 0 or the negative mf_zinput error. */
static int zread(const char *path, uint64_t offset, uint64_t size, size_t chunk,
                 struct mf_buf *out, char **error_r)
{
	struct mf_zinput *in;
	char *buf = mf_malloc(chunk);
	int fd = open(path, O_RDONLY), ret;
	size_t n;

	ck_assert_int_ge(fd, 0);
	ret = mf_zinput_open(fd, offset, size, &in, error_r);
	if (ret == 0) {
		do {
			ret = mf_zinput_read(in, buf, chunk, &n, error_r);
			mf_buf_append(out, buf, n);
		} while (ret == 0 && n > 0);
		if (ret == 0)
			ck_assert_uint_eq(mf_zinput_produced(in), out->len);
		mf_zinput_free(&in);
	}
	close(fd);
	free(buf);
	return ret;
}

START_TEST(test_detect)
{
	static const struct {
		const char *data;
		size_t len;
		enum mf_compress_kind kind;
	} cases[] = {
	    {"\x28\xb5\x2f\xfd", 4, MF_COMPRESS_ZSTD},
	    {"\x28\xb5\x2f", 3, MF_COMPRESS_NONE},
	    {"\x1f\x8b", 2, MF_COMPRESS_GZIP},
	    {"BZh9", 4, MF_COMPRESS_BZIP2},
	    {"BZh0", 4, MF_COMPRESS_NONE},
	    {"\xfd\x37\x7a\x58\x5a\x00", 6, MF_COMPRESS_XZ},
	    {"Dovecot-LZ4\r", 12, MF_COMPRESS_LZ4},
	    {"From: x", 7, MF_COMPRESS_NONE},
	    {"", 0, MF_COMPRESS_NONE},
	};

	for (size_t i = 0; i < MF_N_ELEMENTS(cases); i++)
		ck_assert_int_eq(
		    mf_compress_detect((const unsigned char *)cases[i].data,
		                       cases[i].len),
		    cases[i].kind);
	ck_assert_str_eq(mf_compress_name(MF_COMPRESS_BZIP2), "bzip2");
	ck_assert(mf_compress_can_read(MF_COMPRESS_ZSTD));
	ck_assert(!mf_compress_can_read(MF_COMPRESS_XZ));
}
END_TEST

/* Every kind we write, at several sizes and chunkings: what comes back
 * through the file reader is the input, and the output starts with the
 * kind's magic. */
static void round_trip(enum mf_compress_kind kind, int level)
{
	static const size_t sizes[] = {0, 1, 100, 70000, 300000};
	static const size_t chunks[] = {1, 7, 4096, 1 << 20};

	for (size_t s = 0; s < MF_N_ELEMENTS(sizes); s++) {
		struct mf_buf plain = MF_BUF_INIT, comp = MF_BUF_INIT;
		char *path;

		make_msg(&plain, sizes[s]);
		compress_buf(kind, level, &plain, sizes[s] > 1000 ? 9999 : 3,
		             &comp);
		ck_assert_int_eq(
		    mf_compress_detect((const unsigned char *)comp.data,
		                       comp.len),
		    kind);
		path = write_file("rt", comp.data, comp.len);
		for (size_t c = 0; c < MF_N_ELEMENTS(chunks); c++) {
			struct mf_buf back = MF_BUF_INIT;
			char *err = NULL;

			if (sizes[s] > 1000 && chunks[c] == 1)
				continue; /* slow, and 7 covers it */
			ck_assert_int_eq(
			    zread(path, 0, UINT64_MAX, chunks[c], &back, &err),
			    0);
			ck_assert_uint_eq(back.len, plain.len);
			ck_assert(memcmp(back.data, plain.data, plain.len) ==
			          0);
			mf_buf_free(&back);
		}
		free(path);
		mf_buf_free(&plain);
		mf_buf_free(&comp);
	}
}

START_TEST(test_round_trip_zstd)
{
	round_trip(MF_COMPRESS_ZSTD, 3);
	round_trip(MF_COMPRESS_ZSTD, 19);
	round_trip(MF_COMPRESS_ZSTD, -5);
}
END_TEST

#ifdef HAVE_ZLIB
START_TEST(test_round_trip_gzip)
{
	struct mf_buf plain = MF_BUF_INIT, comp = MF_BUF_INIT;

	round_trip(MF_COMPRESS_GZIP, 6);
	round_trip(MF_COMPRESS_GZIP, 0);
	round_trip(MF_COMPRESS_GZIP, 9);
	/* the header Dovecot's ostream-zlib writes: deflate, no flags,
	 * mtime 0, OS Unix; extra flags 2 at level 9 */
	make_msg(&plain, 10);
	compress_buf(MF_COMPRESS_GZIP, 9, &plain, 10, &comp);
	ck_assert(memcmp(comp.data, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03",
	                 10) == 0);
	mf_buf_free(&plain);
	mf_buf_free(&comp);
}
END_TEST
#endif

/* A plain range in the middle of a file; a range reaching past the end
 * is a truncation error. */
START_TEST(test_plain_range)
{
	struct mf_buf back = MF_BUF_INIT;
	char *path = write_file("plain", "0123456789", 10), *err = NULL;

	ck_assert_int_eq(zread(path, 2, 5, 3, &back, &err), 0);
	ck_assert_uint_eq(back.len, 5);
	ck_assert(memcmp(back.data, "23456", 5) == 0);
	mf_buf_truncate(&back, 0);
	ck_assert_int_eq(zread(path, 8, 5, 3, &back, &err),
	                 MF_ZINPUT_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	free(err);
	mf_buf_free(&back);
	free(path);
}
END_TEST

/* A compressed body followed by other bytes (as in a dbox file): the
 * range ends the reading, trailing bytes are not message. */
START_TEST(test_compressed_range)
{
	struct mf_buf plain = MF_BUF_INIT, file = MF_BUF_INIT;
	struct mf_buf back = MF_BUF_INIT;
	char *path, *err = NULL;
	size_t body_len;

	make_msg(&plain, 5000);
	mf_buf_append_str(&file, "HEADER");
	compress_buf(MF_COMPRESS_ZSTD, 3, &plain, 5000, &file);
	body_len = file.len - 6;
	mf_buf_append_str(&file, "\nMETADATA\n");
	path = write_file("range", file.data, file.len);
	ck_assert_int_eq(zread(path, 6, body_len, 100, &back, &err), 0);
	ck_assert_uint_eq(back.len, 5000);
	ck_assert(memcmp(back.data, plain.data, 5000) == 0);
	free(path);
	mf_buf_free(&plain);
	mf_buf_free(&file);
	mf_buf_free(&back);
}
END_TEST

/* Every truncation of a compressed file is an error naming the format,
 * never a silently short message. */
START_TEST(test_truncated)
{
	struct mf_buf plain = MF_BUF_INIT, comp = MF_BUF_INIT;
	enum mf_compress_kind kinds[] = {
	    MF_COMPRESS_ZSTD,
#ifdef HAVE_ZLIB
	    MF_COMPRESS_GZIP,
#endif
	};

	make_msg(&plain, 3000);
	for (size_t k = 0; k < MF_N_ELEMENTS(kinds); k++) {
		mf_buf_truncate(&comp, 0);
		compress_buf(kinds[k], 3, &plain, 3000, &comp);
		for (size_t len = MF_COMPRESS_SNIFF_SIZE; len < comp.len;
		     len++) {
			struct mf_buf back = MF_BUF_INIT;
			char *path = write_file("trunc", comp.data, len);
			char *err = NULL;
			int ret = zread(path, 0, UINT64_MAX, 512, &back, &err);

			ck_assert_msg(ret == MF_ZINPUT_ERR_CORRUPT,
			              "%s cut at %zu: ret %d",
			              mf_compress_name(kinds[k]), len, ret);
			ck_assert_ptr_nonnull(
			    strstr(err, mf_compress_name(kinds[k])));
			free(err);
			free(path);
			mf_buf_free(&back);
		}
	}
	mf_buf_free(&plain);
	mf_buf_free(&comp);
}
END_TEST

/* Corrupt data and formats this build cannot read give errors that say
 * what is wrong. */
START_TEST(test_bad_data)
{
	struct mf_buf back = MF_BUF_INIT;
	char *path, *err = NULL;

	path = write_file("bad", "\x28\xb5\x2f\xfd\xff\xff\xff\xff\xff", 9);
	ck_assert_int_eq(zread(path, 0, UINT64_MAX, 100, &back, &err),
	                 MF_ZINPUT_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "zstd"));
	free(err);
	free(path);
#ifndef HAVE_ZLIB
	/* a build without zlib names what is missing */
	path = write_file("gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);
	ck_assert_int_eq(zread(path, 0, UINT64_MAX, 100, &back, &err),
	                 MF_ZINPUT_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err, "built without zlib"));
	free(err);
	free(path);
#endif
	path = write_file("bz", "BZh91AY&SY", 10);
	ck_assert_int_eq(zread(path, 0, UINT64_MAX, 100, &back, &err),
	                 MF_ZINPUT_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err, "bzip2"));
	ck_assert_ptr_nonnull(strstr(err, "not supported"));
	free(err);
	free(path);
	mf_buf_free(&back);
}
END_TEST

START_TEST(test_parse_setting)
{
	enum mf_compress_kind kind;
	int level;
	char *err = NULL;

	ck_assert_int_eq(mf_compress_parse_setting("k", NULL, "l", NULL, &kind,
	                                           &level, &err),
	                 0);
	ck_assert_int_eq(kind, MF_COMPRESS_NONE);
	ck_assert_int_eq(mf_compress_parse_setting("k", "none", "l", "5", &kind,
	                                           &level, &err),
	                 0);
	ck_assert_int_eq(kind, MF_COMPRESS_NONE);
	ck_assert_int_eq(mf_compress_parse_setting("k", "zstd", "l", NULL,
	                                           &kind, &level, &err),
	                 0);
	ck_assert_int_eq(kind, MF_COMPRESS_ZSTD);
	ck_assert_int_eq(level, 3);
	ck_assert_int_eq(mf_compress_parse_setting("k", "zstd", "l", "19",
	                                           &kind, &level, &err),
	                 0);
	ck_assert_int_eq(level, 19);
	ck_assert_int_lt(mf_compress_parse_setting("k", "zstd", "l", "23",
	                                           &kind, &level, &err),
	                 0);
	ck_assert_ptr_nonnull(strstr(err, "l = 23"));
	free(err);
	ck_assert_int_lt(mf_compress_parse_setting("k", "zstd", "l", "x", &kind,
	                                           &level, &err),
	                 0);
	free(err);
#ifdef HAVE_ZLIB
	ck_assert_int_eq(mf_compress_parse_setting("k", "gz", "l", NULL, &kind,
	                                           &level, &err),
	                 0);
	ck_assert_int_eq(kind, MF_COMPRESS_GZIP);
	ck_assert_int_eq(level, 6);
	ck_assert_int_lt(mf_compress_parse_setting("k", "gz", "l", "10", &kind,
	                                           &level, &err),
	                 0);
	free(err);
#endif
	ck_assert_int_lt(mf_compress_parse_setting("zlib_save", "bz2", "l",
	                                           NULL, &kind, &level, &err),
	                 0);
	ck_assert_ptr_nonnull(strstr(err, "zlib_save = bz2"));
	free(err);
	ck_assert_int_lt(mf_compress_parse_setting("k", "deflate", "l", NULL,
	                                           &kind, &level, &err),
	                 0);
	free(err);
	ck_assert_int_lt(mf_compress_parse_setting("k", "brotli", "l", NULL,
	                                           &kind, &level, &err),
	                 0);
	ck_assert_ptr_nonnull(strstr(err, "unknown"));
	free(err);
}
END_TEST

static Suite *compress_suite(void)
{
	Suite *s = suite_create("compress");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_detect);
	tcase_add_test(tc, test_round_trip_zstd);
#ifdef HAVE_ZLIB
	tcase_add_test(tc, test_round_trip_gzip);
#endif
	tcase_add_test(tc, test_plain_range);
	tcase_add_test(tc, test_compressed_range);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_bad_data);
	tcase_add_test(tc, test_parse_setting);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(compress_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
