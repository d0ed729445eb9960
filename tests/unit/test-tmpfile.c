/* SPDX-License-Identifier: MIT */
/* test-tmpfile.c - mf_tmpfile_anon(): a nameless file in $TMPDIR, and a
 * clear error naming the directory when it cannot be made. */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

START_TEST(test_anon)
{
	char tmpl[] = "/tmp/mf-tmpfile-test.XXXXXX";
	char *dir = mkdtemp(tmpl), buf[6];
	int fd;

	ck_assert_ptr_nonnull(dir);
	setenv("TMPDIR", dir, 1);
	fd = mf_tmpfile_anon("mailferry-test", NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(entries(dir), 0); /* no name left behind */
	ck_assert_int_eq(mf_write_full(fd, "hello", 5), 0);
	ck_assert_int_eq(mf_pread_full(fd, buf, 5, 0), 0);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	close(fd);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_error)
{
	char *error = NULL;

	setenv("TMPDIR", "/nonexistent/mf-tmpfile", 1);
	ck_assert_int_lt(mf_tmpfile_anon("mailferry-test", &error), 0);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_nonnull(strstr(error, "/nonexistent/mf-tmpfile"));
	free(error);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tmpfile");
	TCase *tc = tcase_create("tmpfile");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_anon);
	tcase_add_test(tc, test_error);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
