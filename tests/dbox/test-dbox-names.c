/* SPDX-License-Identifier: MIT */
/* Unit tests of dbox mailbox names: validation and the modified UTF-7
 * storage form Dovecot uses on disk. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "dbox-storage.h"

static int last_code;

static int fake_set_error(struct mailferry_ctx *ctx, int code, const char *fmt,
                          ...)
{
	(void)ctx;
	(void)fmt;
	last_code = code;
	return code;
}

static struct mailferry_core_api fake_api = {
    .set_error = fake_set_error,
};

static void setup(void)
{
	dbox_api = &fake_api;
}

static void check_pair(const char *utf8, const char *storage)
{
	char *s = dbox_name_to_storage(utf8), *u;

	ck_assert_str_eq(s, storage);
	u = dbox_name_from_storage(storage);
	ck_assert_ptr_nonnull(u);
	ck_assert_str_eq(u, utf8);
	free(s);
	free(u);
}

START_TEST(test_mutf7)
{
	/* values Dovecot wrote (dovecot-formats.md §2) and RFC 3501 ones */
	check_pair("Entwürfe", "Entw&APw-rfe");
	check_pair("Entwürfe/Sub", "Entw&APw-rfe/Sub");
	check_pair("A&B", "A&-B");
	check_pair("x~y", "x~y");
	check_pair("日本語", "&ZeVnLIqe-");
	check_pair("😀 smile", "&2D3eAA- smile");
	check_pair("INBOX", "INBOX");
}
END_TEST

START_TEST(test_mutf7_invalid)
{
	static const char *const bad[] = {
	    "&ZeVnLIqe",   /* unterminated */
	    "&2D0-",       /* lone high surrogate */
	    "&3gA-",       /* lone low surrogate */
	    "&Z!-",        /* not base64 */
	    "caf\xc3\xa9", /* raw 8-bit */
	};

	for (size_t i = 0; i < MF_N_ELEMENTS(bad); i++)
		ck_assert_msg(dbox_name_from_storage(bad[i]) == NULL,
		              "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_normalise)
{
	static const char *const bad[] = {
	    "",      "a//b",         "a/",        "/a",      "a/../b", "..",
	    "a/./b", "x/dbox-Mails", "tab\there", "bad\xff", "\xc3(",
	};
	struct mailferry_storage st;
	char *n;

	mf_zero(&st);
	n = dbox_name_normalise(&st, "inbox");
	ck_assert_str_eq(n, "INBOX");
	free(n);
	n = dbox_name_normalise(&st, "Inbox/Sub");
	ck_assert_str_eq(n, "INBOX/Sub");
	free(n);
	n = dbox_name_normalise(&st, "Inboxes");
	ck_assert_str_eq(n, "Inboxes");
	free(n);
	n = dbox_name_normalise(&st, "Entwürfe/Sub");
	ck_assert_str_eq(n, "Entwürfe/Sub");
	free(n);
	for (size_t i = 0; i < MF_N_ELEMENTS(bad); i++) {
		last_code = 0;
		ck_assert_msg(dbox_name_normalise(&st, bad[i]) == NULL,
		              "'%s' accepted", bad[i]);
		ck_assert_int_eq(last_code, MAILFERRY_E_INVALID);
	}
}
END_TEST

START_TEST(test_paths)
{
	char *p = dbox_mailbox_path("/m", "Entwürfe/Sub");

	ck_assert_str_eq(p, "/m/mailboxes/Entw&APw-rfe/Sub");
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dbox-names");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_mutf7);
	tcase_add_test(tc, test_mutf7_invalid);
	tcase_add_test(tc, test_normalise);
	tcase_add_test(tc, test_paths);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
