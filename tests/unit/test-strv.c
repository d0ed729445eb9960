/* SPDX-License-Identifier: MIT */
/* test-strv.c - the string-vector helpers of mf-alloc.h: NULL is empty. */
#include <check.h>
#include <stdlib.h>

#include "mf-alloc.h"

START_TEST(test_dup_free)
{
	const char *const v[] = {"$Work", "Junk", NULL};
	const char *const empty[] = {NULL};
	char **c = mf_strv_dup(v);

	ck_assert_uint_eq(mf_strv_len(v), 2);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(c[0], v[0]);
	ck_assert_str_eq(c[0], "$Work");
	ck_assert_str_eq(c[1], "Junk");
	ck_assert_ptr_null(c[2]);
	ck_assert(mf_strv_equal((const char *const *)c, v));
	mf_strv_free(&c);
	ck_assert_ptr_null(c);
	mf_strv_free(&c); /* twice: no-op */

	ck_assert_ptr_null(mf_strv_dup(NULL));
	ck_assert_ptr_null(mf_strv_dup(empty));
	ck_assert_uint_eq(mf_strv_len(NULL), 0);
	ck_assert_uint_eq(mf_strv_len(empty), 0);
}
END_TEST

START_TEST(test_equal)
{
	const char *const a[] = {"a", "b", NULL};
	const char *const b[] = {"a", NULL};
	const char *const c[] = {"a", "c", NULL};
	const char *const empty[] = {NULL};

	ck_assert(mf_strv_equal(NULL, NULL));
	ck_assert(mf_strv_equal(NULL, empty));
	ck_assert(mf_strv_equal(empty, NULL));
	ck_assert(!mf_strv_equal(a, b));
	ck_assert(!mf_strv_equal(b, a));
	ck_assert(!mf_strv_equal(a, c));
	ck_assert(!mf_strv_equal(NULL, b));
	ck_assert(mf_strv_equal(a, a));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("strv");
	TCase *tc = tcase_create("strv");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_dup_free);
	tcase_add_test(tc, test_equal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
