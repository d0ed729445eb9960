/* SPDX-License-Identifier: MIT */
/* Unit tests for the CLI helpers: masks, UID sets, formatters, exit codes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-cli.h"
#include "mf-cli-util.h"
#include "mf-fmt.h"

START_TEST(test_mask)
{
	ck_assert(mf_mask_match("*", "INBOX", '/'));
	ck_assert(mf_mask_match("*", "a/b/c", '/'));
	ck_assert(mf_mask_match("%", "INBOX", '/'));
	ck_assert(!mf_mask_match("%", "a/b", '/'));
	ck_assert(mf_mask_match("a/%", "a/b", '/'));
	ck_assert(!mf_mask_match("a/%", "a/b/c", '/'));
	ck_assert(mf_mask_match("a/*", "a/b/c", '/'));
	ck_assert(!mf_mask_match("a/*", "a", '/'));
	ck_assert(mf_mask_match("*c", "a/b/c", '/'));
	ck_assert(mf_mask_match("%/%", "a.b/c", '/'));
	ck_assert(!mf_mask_match("%", "a.b", '.'));
	ck_assert(mf_mask_match("inbox", "INBOX", '/'));
	ck_assert(mf_mask_match("Inbox/%", "INBOX/x", '/'));
	ck_assert(!mf_mask_match("inboxes", "INBOXES", '/'));
	ck_assert(!mf_mask_match("sent", "Sent", '/'));
	ck_assert(mf_mask_match("S*t", "Sent", '/'));
	ck_assert(!mf_mask_match("", "x", '/'));
	ck_assert(mf_mask_match("x**", "x", '/'));
}
END_TEST

START_TEST(test_uidset)
{
	struct mf_uidset set = {MF_ARRAY_INIT};
	uint32_t first, last;
	char *error = NULL;

	ck_assert_int_eq(mf_uidset_parse("1,3:5,10:*", &set, &error), 0);
	ck_assert(mf_uidset_contains(&set, 1));
	ck_assert(!mf_uidset_contains(&set, 2));
	ck_assert(mf_uidset_contains(&set, 4));
	ck_assert(!mf_uidset_contains(&set, 9));
	ck_assert(mf_uidset_contains(&set, UINT32_MAX));
	mf_uidset_bounds(&set, &first, &last);
	ck_assert_uint_eq(first, 1);
	ck_assert_uint_eq(last, UINT32_MAX);
	mf_uidset_free(&set);

	ck_assert_int_eq(mf_uidset_parse("7:3", &set, &error), 0);
	ck_assert(mf_uidset_contains(&set, 5));
	mf_uidset_free(&set);
	ck_assert_int_eq(mf_uidset_parse("all", &set, &error), 0);
	ck_assert(mf_uidset_contains(&set, 12345));
	mf_uidset_free(&set);

	static const char *const bad[] = {"",    "0",   "1,",         "a",
	                                  "1:x", "1-3", "4294967296", ",1"};
	for (size_t i = 0; i < MF_N_ELEMENTS(bad); i++) {
		ck_assert_msg(mf_uidset_parse(bad[i], &set, &error) == -1,
		              "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(error, "invalid UID set"));
		free(error);
	}
}
END_TEST

/* Run the same rows through a formatter and return the output. */
static char *render(enum mf_fmt_kind kind)
{
	struct mf_buf out = MF_BUF_INIT;
	struct mf_fmt *fmt;
	FILE *f = tmpfile();
	char buf[256];
	size_t n;

	ck_assert_ptr_nonnull(f);
	fmt = mf_fmt_new(kind, f);
	mf_fmt_header(fmt, "mailbox", MF_FMT_HIDE_TITLE);
	mf_fmt_header(fmt, "uid", 0);
	mf_fmt_header(fmt, "text", 0);
	mf_fmt_value(fmt, "INBOX");
	mf_fmt_value(fmt, "1");
	mf_fmt_stream(fmt, "a\"b", 3);
	mf_fmt_stream(fmt, "\n", 1);
	mf_fmt_stream(fmt, NULL, 0);
	mf_fmt_value(fmt, "Sent Items");
	mf_fmt_value(fmt, "22");
	mf_fmt_value(fmt, "x");
	ck_assert_int_eq(mf_fmt_finish(&fmt), 0);
	ck_assert_ptr_null(fmt);
	rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		mf_buf_append(&out, buf, n);
	fclose(f);
	return mf_buf_detach(&out);
}

START_TEST(test_formatters)
{
	enum mf_fmt_kind kind;
	char *s;

	s = render(MF_FMT_FLOW);
	ck_assert_str_eq(s, "INBOX uid=1 text=a\"b\n\nSent Items uid=22 "
	                    "text=x\n");
	free(s);
	s = render(MF_FMT_PAGER);
	ck_assert_str_eq(s, "INBOX\nuid: 1\ntext:\na\"b\n\f\nSent Items\n"
	                    "uid: 22\ntext: x\n");
	free(s);
	s = render(MF_FMT_TAB);
	ck_assert_str_eq(s, "mailbox\tuid\ttext\nINBOX\t1\ta\"b\n\n"
	                    "Sent Items\t22\tx\n");
	free(s);
	s = render(MF_FMT_TABLE);
	ck_assert_str_eq(s, "mailbox    uid text\n"
	                    "INBOX      1   a\"b\n\n"
	                    "Sent Items 22  x\n");
	free(s);
	s = render(MF_FMT_JSON);
	ck_assert_str_eq(s, "[{\"mailbox\":\"INBOX\",\"uid\":\"1\","
	                    "\"text\":\"a\\\"b\\n\"},{\"mailbox\":\"Sent "
	                    "Items\",\"uid\":\"22\",\"text\":\"x\"}]\n");
	free(s);

	ck_assert_int_eq(mf_fmt_kind_parse("table", &kind), 0);
	ck_assert_int_eq(kind, MF_FMT_TABLE);
	ck_assert_int_eq(mf_fmt_kind_parse("xml", &kind), -1);
}
END_TEST

START_TEST(test_flags_and_dates)
{
	static const char *const kw[] = {"$Label1", "kw2", NULL};
	struct mf_buf buf = MF_BUF_INIT;
	char date[MF_DATE_STR_SIZE];

	mf_flags_append(&buf,
	                MAILFERRY_FLAG_SEEN | MAILFERRY_FLAG_FLAGGED |
	                    MAILFERRY_FLAG_RECENT | MAILFERRY_FLAG_ANSWERED,
	                kw);
	ck_assert_str_eq(mf_buf_str(&buf),
	                 "\\Answered \\Flagged \\Seen \\Recent $Label1 kw2");
	mf_buf_truncate(&buf, 0);
	mf_flags_append(&buf, 0, kw);
	ck_assert_str_eq(mf_buf_str(&buf), "$Label1 kw2");
	mf_buf_truncate(&buf, 0);
	mf_flags_append(&buf, MAILFERRY_FLAG_DRAFT | MAILFERRY_FLAG_DELETED,
	                NULL);
	ck_assert_str_eq(mf_buf_str(&buf), "\\Deleted \\Draft");
	mf_buf_free(&buf);

	setenv("TZ", "UTC", 1);
	tzset();
	mf_format_date(1700000000, date);
	ck_assert_str_eq(date, "2023-11-14 22:13:20");
	mf_format_date(0, date);
	ck_assert_str_eq(date, "");
}
END_TEST

START_TEST(test_exit_codes)
{
	ck_assert_int_eq(mf_cli_exit_code(0), 0);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_TEMP), 75);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_NOTFOUND), 68);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_EXISTS), 65);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_PERM), 77);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_NOSPACE), 73);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_INUSE), 75);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_INVALIDDATA), 65);
	ck_assert_int_eq(mf_cli_exit_code(MAILFERRY_E_INVALID), 64);
	ck_assert_int_eq(mf_cli_exit_code(-999), 75);
}
END_TEST

START_TEST(test_command_table)
{
	char *argv1[] = {"mailbox", "status", "x"};
	char *argv2[] = {"mailbox"};
	char *argv3[] = {"fetch"};
	int words;

	ck_assert_str_eq(mf_cli_find(3, argv1, &words)->name, "mailbox status");
	ck_assert_int_eq(words, 2);
	ck_assert_ptr_null(mf_cli_find(1, argv2, &words));
	ck_assert_str_eq(mf_cli_find(1, argv3, &words)->name, "fetch");
	/* every entry is complete */
	for (const struct mf_cli_cmd *c = mf_cli_commands; c->name != NULL;
	     c++) {
		ck_assert_ptr_nonnull(c->usage);
		ck_assert_ptr_nonnull(c->help);
		ck_assert_ptr_nonnull(c->long_help);
		ck_assert_ptr_nonnull(c->run);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("helpers");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_mask);
	tcase_add_test(tc, test_uidset);
	tcase_add_test(tc, test_formatters);
	tcase_add_test(tc, test_flags_and_dates);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test(tc, test_command_table);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
