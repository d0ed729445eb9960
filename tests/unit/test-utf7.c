/* SPDX-License-Identifier: MIT */
/* test-utf7.c - modified UTF-7 both ways, and invalid input. */
#include <check.h>
#include <stdlib.h>

#include "mf-utf7.h"

static void roundtrip(const char *utf8, const char *mutf7)
{
	struct mf_buf a = MF_BUF_INIT, b = MF_BUF_INIT;

	ck_assert_int_eq(mf_utf8_to_mutf7(utf8, &a), 0);
	ck_assert_str_eq(mf_buf_str(&a), mutf7);
	ck_assert_int_eq(mf_mutf7_to_utf8(mutf7, &b), 0);
	ck_assert_str_eq(mf_buf_str(&b), utf8);
	mf_buf_free(&a);
	mf_buf_free(&b);
}

START_TEST(test_roundtrip)
{
	roundtrip("INBOX", "INBOX");
	roundtrip("", "");
	roundtrip("A&B", "A&-B");
	roundtrip("&", "&-");
	/* RFC 3501 section 5.1.3 example */
	roundtrip(
	    "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	    "\xe8\xaa\x9e",
	    "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	roundtrip("Entw\xc3\xbcrfe", "Entw&APw-rfe");
	roundtrip("Gel\xc3\xb6schte Elemente", "Gel&APY-schte Elemente");
	/* a character outside the BMP: a surrogate pair */
	roundtrip("x\xf0\x9f\x98\x80y", "x&2D3eAA-y");
	/* adjacent shifted characters share one run */
	roundtrip("\xc3\xa4\xc3\xb6\xc3\xbc", "&AOQA9gD8-");
	/* a tab (control) is shifted too */
	roundtrip("a\tb", "a&AAk-b");
}
END_TEST

static void bad_mutf7(const char *s)
{
	struct mf_buf b = MF_BUF_INIT;

	ck_assert_msg(mf_mutf7_to_utf8(s, &b) < 0, "'%s' accepted", s);
	mf_buf_free(&b);
}

START_TEST(test_invalid)
{
	struct mf_buf b = MF_BUF_INIT;

	bad_mutf7("&");           /* not closed */
	bad_mutf7("&AOQ");        /* not closed */
	bad_mutf7("&A*Q-");       /* not base64 */
	bad_mutf7("&AOR-");       /* non-zero padding bits */
	bad_mutf7("&2D0-");       /* lone high surrogate */
	bad_mutf7("&3gA-");       /* lone low surrogate */
	bad_mutf7("&AGE-");       /* 'a' must be written directly */
	bad_mutf7("&AAA-");       /* U+0000 (found by fuzzing) */
	bad_mutf7("caf\xc3\xa9"); /* raw 8-bit */
	ck_assert_int_lt(mf_utf8_to_mutf7("\xff", &b), 0);
	ck_assert_int_lt(mf_utf8_to_mutf7("\xc0\xaf", &b), 0); /* overlong */
	ck_assert_int_lt(mf_utf8_to_mutf7("\xed\xa0\x80", &b), 0);
	ck_assert_int_lt(mf_utf8_to_mutf7("\xe5\x8f", &b), 0); /* cut */
	mf_buf_free(&b);
	ck_assert(mf_mutf7_is_plain("Lists/dev"));
	ck_assert(!mf_mutf7_is_plain("A&-B"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("utf7");
	TCase *tc = tcase_create("utf7");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_invalid);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
