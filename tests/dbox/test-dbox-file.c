/* SPDX-License-Identifier: MIT */
/* Unit tests of the dbox file format, the message writer and compressed
 * bodies, including files written by the real Dovecot (tests/dbox/data). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mailferry/driver.h>
#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-file.h"
#include "dbox-body.h"
#include "mf-compress.h"
#include "dbox-file.h"
#include "dbox-writer.h"

static char tmpdir[] = "/tmp/mf-test-dbox.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = mf_strdup_printf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	memcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX", 6);
}

static char *data_path(const char *name)
{
	const char *top = getenv("MF_TOP_SRCDIR");
	return mf_strdup_printf("%s/tests/dbox/data/%s", top ? top : "..",
	                        name);
}

/* Read the message at offset of path, whole body decompressed. */
static int read_msg(const char *path, uint64_t offset, struct dbox_msg *msg,
                    struct mf_buf *body, char **error_r)
{
	struct dbox_file_header fh;
	struct dbox_body *b;
	struct stat st;
	uint64_t expect;
	char buf[7];
	size_t n;
	int fd = open(path, O_RDONLY), ret;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (dbox_file_read_header(fd, path, &fh, error_r) < 0 ||
	    dbox_msg_read(fd, path, (uint64_t)st.st_size,
	                  offset == 0 ? fh.header_size : offset,
	                  fh.msg_header_size, msg, error_r) < 0) {
		close(fd);
		return -1;
	}
	if (dbox_metadata_get_hex(&msg->meta, 'Z', &expect) != 0)
		expect = UINT64_MAX;
	ret = dbox_body_open(fd, path, msg->body_offset, msg->body_size, expect,
	                     &b, error_r);
	if (ret < 0)
		return ret;
	/* small reads exercise the decompressor's buffering */
	do {
		ret = dbox_body_read(b, buf, sizeof(buf), &n, error_r);
		mf_buf_append(body, buf, n);
	} while (ret == 0 && n > 0);
	dbox_body_free(&b);
	return ret;
}

START_TEST(test_file_header)
{
	struct dbox_file_header h;
	char *err = NULL;

	ck_assert_int_eq(
	    dbox_file_parse_header("2 M1e C6b03a12e\n", 16, "f", &h, &err), 0);
	ck_assert_uint_eq(h.version, 2);
	ck_assert_uint_eq(h.msg_header_size, 30);
	ck_assert_int_eq(h.create_time, 0x6b03a12e);
	ck_assert_uint_eq(h.header_size, 16);
	/* unknown tokens are ignored, C optional */
	ck_assert_int_eq(
	    dbox_file_parse_header("1 A10 M1e Qxyz\n", 15, "f", &h, &err), 0);
	ck_assert_int_eq(h.create_time, 0);

	ck_assert_int_lt(
	    dbox_file_parse_header("2 C1\n", 5, "/x/u.9", &h, &err), 0);
	ck_assert_ptr_nonnull(strstr(err, "/x/u.9"));
	free(err);
	ck_assert_int_lt(dbox_file_parse_header("3 M1e\n", 6, "f", &h, &err),
	                 0);
	free(err);
	ck_assert_int_lt(dbox_file_parse_header("2 M1e C12", 9, "f", &h, &err),
	                 0);
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	free(err);
	ck_assert_int_lt(dbox_file_parse_header("2 Mzz\n", 6, "f", &h, &err),
	                 0);
	free(err);

	struct mf_buf b = MF_BUF_INIT;
	dbox_file_format_header(&b, 0x6b03a12e);
	ck_assert_str_eq(mf_buf_str(&b), "2 M1e C6b03a12e\n");
	mf_buf_free(&b);
}
END_TEST

START_TEST(test_msg_header)
{
	unsigned char h[DBOX_MSG_HEADER_SIZE];
	uint64_t size;
	char *err = NULL;

	dbox_msg_header_format(h, 0x94);
	ck_assert_int_eq(memcmp(h, "\x01\x02N          0000000000000094\n", 30),
	                 0);
	ck_assert_int_eq(dbox_msg_header_parse(h, 30, "f", 16, &size, &err), 0);
	ck_assert_uint_eq(size, 0x94);
	h[20] = 'x';
	ck_assert_int_lt(dbox_msg_header_parse(h, 30, "f", 16, &size, &err), 0);
	ck_assert_ptr_nonnull(strstr(err, "offset 16"));
	free(err);
	h[0] = 0;
	ck_assert_int_lt(dbox_msg_header_parse(h, 30, "f", 16, &size, &err), 0);
	free(err);
}
END_TEST

START_TEST(test_metadata)
{
	static const char block[] = "\n\001\003\nZ94\nR6b03a136\nV9c\n"
	                            "Gabc\nBWork/Sub\nXfoo bar\n\ntrailing";
	struct dbox_metadata m;
	struct dbox_metadata_values v;
	struct mf_buf out = MF_BUF_INIT;
	uint64_t x;
	size_t size;
	char *err = NULL;

	ck_assert_int_eq(dbox_metadata_parse(block, sizeof(block) - 1, "f", 0,
	                                     &m, &size, &err),
	                 0);
	ck_assert_uint_eq(size, sizeof(block) - 1 - strlen("trailing"));
	ck_assert_str_eq(dbox_metadata_get(&m, 'G'), "abc");
	ck_assert_str_eq(dbox_metadata_get(&m, 'B'), "Work/Sub");
	ck_assert_int_eq(dbox_metadata_get_hex(&m, 'Z', &x), 0);
	ck_assert_uint_eq(x, 0x94);
	ck_assert_int_eq(dbox_metadata_get_hex(&m, 'P', &x), 1);

	/* writing back keeps Dovecot's order and the unknown X line */
	mf_zero(&v);
	v.physical_size = 0x94;
	v.received = 0x6b03a136;
	v.virtual_size = 0x9c;
	v.guid = "abc";
	v.orig_mailbox = "Work/Sub";
	v.pop3_uidl = "u1";
	v.pop3_order = 7;
	v.extra = &m;
	dbox_metadata_format(&out, &v);
	ck_assert_str_eq(mf_buf_str(&out), "\n\001\003\nZ94\nR6b03a136\nV9c\n"
	                                   "Pu1\nO7\nGabc\nBWork/Sub\n"
	                                   "Xfoo bar\n\n");
	mf_buf_free(&out);
	dbox_metadata_free(&m);

	/* incomplete block: 1, bad magic: -1 */
	ck_assert_int_eq(
	    dbox_metadata_parse(block, 12, "f", 0, &m, &size, &err), 1);
	ck_assert_int_lt(
	    dbox_metadata_parse("\nxx\n\n", 5, "f", 99, &m, &size, &err), 0);
	ck_assert_ptr_nonnull(strstr(err, "offset 99"));
	free(err);
}
END_TEST

/* Dovecot's own plain, zstd and mdbox files read back to the same text. */
START_TEST(test_dovecot_files)
{
	struct mf_buf eml = MF_BUF_INIT, plain = MF_BUF_INIT, zst = MF_BUF_INIT,
	              multi = MF_BUF_INIT;
	struct dbox_msg msg;
	char *err = NULL, *p;
	uint64_t v;

	p = data_path("msg1.eml");
	ck_assert_int_eq(mf_file_read_all(p, &eml, &err), 0);
	free(p);
	/* Dovecot stored it with LF line endings */
	struct mf_buf lf = MF_BUF_INIT;
	for (size_t i = 0; i < eml.len; i++) {
		if (eml.data[i] != '\r')
			mf_buf_append_c(&lf, eml.data[i]);
	}

	p = data_path("sdbox-u.1");
	ck_assert_int_eq(read_msg(p, 0, &msg, &plain, &err), 0);
	free(p);
	ck_assert_uint_eq(plain.len, lf.len);
	ck_assert_int_eq(memcmp(plain.data, lf.data, lf.len), 0);
	ck_assert_int_eq(dbox_metadata_get_hex(&msg.meta, 'V', &v), 0);
	ck_assert_uint_eq(v, eml.len);
	dbox_metadata_free(&msg.meta);

	p = data_path("sdbox-zstd-u.1");
	ck_assert_int_eq(read_msg(p, 0, &msg, &zst, &err), 0);
	free(p);
	ck_assert_uint_eq(msg.body_size, 123);
	ck_assert_uint_eq(zst.len, lf.len);
	ck_assert_int_eq(memcmp(zst.data, lf.data, lf.len), 0);
	dbox_metadata_free(&msg.meta);

	/* m.1: first message at 16, next one at its end offset */
	p = data_path("mdbox-m.1");
	ck_assert_int_eq(read_msg(p, 0, &msg, &multi, &err), 0);
	ck_assert_uint_eq(msg.offset, 16);
	ck_assert_uint_eq(msg.end_offset, 254);
	ck_assert_str_eq(dbox_metadata_get(&msg.meta, 'B'), "INBOX");
	ck_assert_int_eq(memcmp(multi.data, lf.data, lf.len), 0);
	uint64_t next = msg.end_offset;
	dbox_metadata_free(&msg.meta);
	mf_buf_truncate(&multi, 0);
	ck_assert_int_eq(read_msg(p, next, &msg, &multi, &err), 0);
	ck_assert_ptr_nonnull(dbox_metadata_get(&msg.meta, 'G'));
	dbox_metadata_free(&msg.meta);
	free(p);

	mf_buf_free(&eml);
	mf_buf_free(&lf);
	mf_buf_free(&plain);
	mf_buf_free(&zst);
	mf_buf_free(&multi);
}
END_TEST

/* Write a message with the writer (chunked so CRs fall on chunk edges). */
static char *write_msg(const char *text, size_t chunk, int kind, int level,
                       struct dbox_writer_result *res)
{
	char *path = mf_strdup_printf("%s/u.1", tmpdir);
	struct mf_buf hdr = MF_BUF_INIT;
	struct dbox_writer *w;
	struct dbox_metadata_values v;
	char *err = NULL;
	size_t len = strlen(text);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	dbox_file_format_header(&hdr, 1000);
	ck_assert_int_eq(mf_write_full(fd, hdr.data, hdr.len), 0);
	ck_assert_int_eq(
	    dbox_writer_begin(fd, path, hdr.len, kind, level, &w, &err), 0);
	for (size_t i = 0; i < len; i += chunk) {
		ck_assert_int_eq(dbox_writer_write(
		                     w, text + i, MF_MIN(chunk, len - i), &err),
		                 0);
	}
	mf_zero(&v);
	v.received = 12345;
	v.guid = "0123456789abcdef0123456789abcdef";
	ck_assert_int_eq(dbox_writer_finish(w, &v, res, &err), 0);
	dbox_writer_free(&w);
	close(fd);
	mf_buf_free(&hdr);
	return path;
}

static void check_roundtrip(const char *text, const char *expect_lf,
                            uint64_t vsize, int kind, int level)
{
	for (size_t chunk = 1; chunk <= strlen(text) + 1; chunk++) {
		struct dbox_writer_result res;
		struct dbox_msg msg;
		struct mf_buf body = MF_BUF_INIT;
		char *err = NULL,
		     *path = write_msg(text, chunk, kind, level, &res);
		unsigned char magic[MF_COMPRESS_SNIFF_SIZE];
		int fd;
		uint64_t v;

		ck_assert_int_eq(read_msg(path, 0, &msg, &body, &err), 0);
		ck_assert_str_eq(mf_buf_str(&body), expect_lf);
		ck_assert_uint_eq(res.physical_size, strlen(expect_lf));
		ck_assert_uint_eq(res.virtual_size, vsize);
		ck_assert_int_eq(dbox_metadata_get_hex(&msg.meta, 'V', &v), 0);
		ck_assert_uint_eq(v, res.virtual_size);
		ck_assert_int_eq(dbox_metadata_get_hex(&msg.meta, 'Z', &v),
		                 kind == MF_COMPRESS_NONE ? 1 : 0);
		/* the body is what Dovecot sniffs for */
		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		if (res.stored_size >= sizeof(magic)) {
			ck_assert_int_eq(mf_pread_full(fd, magic, sizeof(magic),
			                               (off_t)msg.body_offset),
			                 0);
			ck_assert_int_eq(
			    mf_compress_detect(magic, sizeof(magic)), kind);
		}
		close(fd);
		ck_assert_uint_eq(msg.end_offset, res.end_offset);
		dbox_metadata_free(&msg.meta);
		mf_buf_free(&body);
		free(path);
	}
}

START_TEST(test_write_plain)
{
	/* bytes kept exactly; bare LFs count twice in the virtual size */
	check_roundtrip("A: b\r\n\r\nline\nlone\rcr\r",
	                "A: b\r\n\r\nline\nlone\rcr\r", 22, MF_COMPRESS_NONE,
	                0);
	check_roundtrip("a\nb\n", "a\nb\n", 6, MF_COMPRESS_NONE, 0);
	check_roundtrip("", "", 0, MF_COMPRESS_NONE, 0);
}
END_TEST

START_TEST(test_write_zstd)
{
	check_roundtrip("A: b\r\n\r\nline\nlone\rcr\r",
	                "A: b\r\n\r\nline\nlone\rcr\r", 22, MF_COMPRESS_ZSTD,
	                3);
	check_roundtrip("", "", 0, MF_COMPRESS_ZSTD, 0);
}
END_TEST

#ifdef HAVE_ZLIB
START_TEST(test_write_gzip)
{
	check_roundtrip("A: b\r\n\r\nline\nlone\rcr\r",
	                "A: b\r\n\r\nline\nlone\rcr\r", 22, MF_COMPRESS_GZIP,
	                6);
	check_roundtrip("", "", 0, MF_COMPRESS_GZIP, 1);
}
END_TEST
#endif

/* 2 MB of varied text through zstd and back. */
START_TEST(test_zstd_large)
{
	struct mf_buf text = MF_BUF_INIT, body = MF_BUF_INIT;
	struct dbox_writer_result res;
	struct dbox_msg msg;
	char *err = NULL, *path;
	uint32_t x = 1;

	mf_buf_append_str(&text, "Subject: big\n\n");
	while (text.len < 2 * 1024 * 1024) {
		x = x * 1103515245u + 12345u;
		mf_buf_printf(&text, "line %u %08x\n", (unsigned)text.len, x);
	}
	path = write_msg(text.data, 100000, MF_COMPRESS_ZSTD, 5, &res);
	ck_assert_uint_lt(res.stored_size, res.physical_size);
	ck_assert_int_eq(read_msg(path, 0, &msg, &body, &err), 0);
	ck_assert_uint_eq(body.len, text.len);
	ck_assert_int_eq(memcmp(body.data, text.data, text.len), 0);
	dbox_metadata_free(&msg.meta);
	mf_buf_free(&text);
	mf_buf_free(&body);
	free(path);
}
END_TEST

/* Every truncation point of a plain and a compressed file gives an error
 * naming the file and an offset, never a crash or a silent short read. */
static void check_truncations(int kind, int level)
{
	struct dbox_writer_result res;
	char *path = write_msg("Subject: t\r\n\r\nbody text here\r\n", 5, kind,
	                       level, &res);

	for (off_t len = 0; len < (off_t)res.end_offset; len++) {
		struct dbox_msg msg;
		struct mf_buf body = MF_BUF_INIT;
		char *err = NULL;
		int ret;

		ck_assert_int_eq(truncate(path, len), 0);
		ret = read_msg(path, 0, &msg, &body, &err);
		ck_assert_msg(ret < 0, "truncated at %ld read fine", (long)len);
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, path) != NULL, "%s", err);
		ck_assert_msg(strstr(err, "offset") != NULL, "%s", err);
		free(err);
		mf_buf_free(&body);
		/* restore the full file */
		free(path);
		path = write_msg("Subject: t\r\n\r\nbody text here\r\n", 5,
		                 kind, level, &res);
	}
	free(path);
}

START_TEST(test_truncated)
{
	check_truncations(MF_COMPRESS_NONE, 0);
	check_truncations(MF_COMPRESS_ZSTD, 3);
#ifdef HAVE_ZLIB
	check_truncations(MF_COMPRESS_GZIP, 6);
#endif
}
END_TEST

START_TEST(test_detect)
{
	ck_assert_int_eq(
	    mf_compress_detect((const unsigned char *)"\x28\xb5\x2f\xfd", 4),
	    MF_COMPRESS_ZSTD);
	ck_assert_int_eq(
	    mf_compress_detect((const unsigned char *)"\x1f\x8b", 2),
	    MF_COMPRESS_GZIP);
	ck_assert_int_eq(mf_compress_detect((const unsigned char *)"BZh9", 4),
	                 MF_COMPRESS_BZIP2);
	ck_assert_int_eq(mf_compress_detect((const unsigned char *)"From:", 5),
	                 MF_COMPRESS_NONE);
}
END_TEST

/* A bzip2 body is refused with an error naming the file. */
START_TEST(test_unsupported)
{
	char *path = mf_strdup_printf("%s/u.2", tmpdir);
	struct mf_buf f = MF_BUF_INIT;
	struct dbox_msg msg;
	struct mf_buf body = MF_BUF_INIT;
	unsigned char h[DBOX_MSG_HEADER_SIZE];
	char *err = NULL;
	int fd;

	dbox_file_format_header(&f, 1);
	dbox_msg_header_format(h, 8);
	mf_buf_append(&f, h, sizeof(h));
	mf_buf_append(&f, "BZh91AY&", 8);
	mf_buf_append_str(&f, "\n\001\003\nGx\n\n");
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(mf_write_full(fd, f.data, f.len), 0);
	close(fd);
	ck_assert_int_eq(read_msg(path, 0, &msg, &body, &err),
	                 MAILFERRY_E_NOTSUPP);
	ck_assert_ptr_nonnull(strstr(err, "bzip2"));
	ck_assert_ptr_nonnull(strstr(err, path));
	free(err);
	dbox_metadata_free(&msg.meta);
	mf_buf_free(&f);
	mf_buf_free(&body);
	free(path);
}
END_TEST

static Suite *dbox_suite(void)
{
	Suite *s = suite_create("dbox-file");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_file_header);
	tcase_add_test(tc, test_msg_header);
	tcase_add_test(tc, test_metadata);
	tcase_add_test(tc, test_dovecot_files);
	tcase_add_test(tc, test_write_plain);
	tcase_add_test(tc, test_write_zstd);
#ifdef HAVE_ZLIB
	tcase_add_test(tc, test_write_gzip);
#endif
	tcase_add_test(tc, test_zstd_large);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_detect);
	tcase_add_test(tc, test_unsupported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dbox_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
