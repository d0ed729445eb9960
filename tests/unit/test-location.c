/* SPDX-License-Identifier: MIT */
/* Unit tests for location strings (core/loader/mf-location.c). */
#include <check.h>
#include <stdlib.h>

#include "mf-location.h"

static const struct mf_location_vars vars = {"jane@example.org", "/home/jane"};

static struct mf_location *parse_ok(const char *str,
                                    const struct mf_location_vars *v)
{
	struct mf_location *loc = NULL;
	char *error = NULL;

	ck_assert_msg(mf_location_parse(str, v, &loc, &error) == 0,
	              "'%s' failed: %s", str, error);
	ck_assert_ptr_nonnull(loc);
	return loc;
}

static void parse_bad(const char *str, const struct mf_location_vars *v,
                      const char *want)
{
	struct mf_location *loc = NULL;
	char *error = NULL;

	ck_assert_msg(mf_location_parse(str, v, &loc, &error) == -1,
	              "'%s' should fail", str);
	ck_assert_ptr_null(loc);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strstr(error, want) != NULL,
	              "'%s': error '%s' does not contain '%s'", str, error,
	              want);
	free(error);
}

START_TEST(test_simple)
{
	struct mf_location *loc = parse_ok("maildir:/var/mail/x", NULL);

	ck_assert_str_eq(loc->driver, "maildir");
	ck_assert_str_eq(loc->path, "/var/mail/x");
	ck_assert_uint_eq(loc->options.count, 0);
	ck_assert_str_eq(loc->display, "maildir:/var/mail/x");
	mf_location_free(&loc);
	ck_assert_ptr_null(loc);

	loc = parse_ok("mdbox:", NULL);
	ck_assert_str_eq(loc->driver, "mdbox");
	ck_assert_str_eq(loc->path, "");
	mf_location_free(&loc);
}
END_TEST

START_TEST(test_options)
{
	struct mf_location *loc = parse_ok(
	    "maildir:~/Maildir:LAYOUT=fs:INDEX=/idx/%u:NO-NOSELECT:X=a=b",
	    &vars);

	ck_assert_str_eq(loc->path, "/home/jane/Maildir");
	ck_assert_uint_eq(loc->options.count, 4);
	ck_assert_str_eq(loc->options.items[0].key, "LAYOUT");
	ck_assert_str_eq(loc->options.items[0].value, "fs");
	ck_assert_str_eq(mf_location_option(loc, "INDEX"),
	                 "/idx/jane@example.org");
	ck_assert_str_eq(mf_location_option(loc, "NO-NOSELECT"), "");
	ck_assert_str_eq(mf_location_option(loc, "X"), "a=b");
	ck_assert_ptr_null(mf_location_option(loc, "layout"));
	mf_location_free(&loc);
}
END_TEST

START_TEST(test_expansion)
{
	struct mf_location *loc =
	    parse_ok("sdbox:/srv/%d/%n/%%x/%h:ALT=~/alt", &vars);

	ck_assert_str_eq(loc->path, "/srv/example.org/jane/%x//home/jane");
	ck_assert_str_eq(mf_location_option(loc, "ALT"), "/home/jane/alt");
	mf_location_free(&loc);

	loc =
	    parse_ok("sdbox:/srv/%{domain}/%{username}/%{user}/%{home}", &vars);
	ck_assert_str_eq(loc->path,
	                 "/srv/example.org/jane/jane@example.org//home/jane");
	mf_location_free(&loc);

	/* no user: %u %n %d are empty */
	loc = parse_ok("maildir:/m/%u/%n/%d", NULL);
	ck_assert_str_eq(loc->path, "/m///");
	mf_location_free(&loc);

	/* user without a domain */
	{
		const struct mf_location_vars v = {"bob", "/home/bob"};

		loc = parse_ok("maildir:~:INBOX=/var/%n/%d", &v);
		ck_assert_str_eq(loc->path, "/home/bob");
		ck_assert_str_eq(mf_location_option(loc, "INBOX"), "/var/bob/");
		mf_location_free(&loc);
	}
}
END_TEST

START_TEST(test_colon_escape)
{
	struct mf_location *loc = parse_ok("maildir:/a::b/c::::d:K=x::y", NULL);

	ck_assert_str_eq(loc->path, "/a:b/c::d");
	ck_assert_str_eq(mf_location_option(loc, "K"), "x:y");
	mf_location_free(&loc);
}
END_TEST

START_TEST(test_bad)
{
	const struct mf_location_vars nohome = {"u", NULL};

	parse_bad("maildir", NULL, "expected driver:path");
	parse_bad(":/x", NULL, "no driver name before ':'");
	parse_bad("Mail Dir:/x", NULL, "bad driver name 'Mail Dir'");
	parse_bad("maildir:~/M", &nohome, "'~' used but the home directory");
	parse_bad("maildir:~/M", NULL, "'~' used but the home directory");
	parse_bad("maildir:/x/%h", &nohome, "%h used but the home");
	parse_bad("maildir:~bob/M", &vars, "'~user' is not supported");
	parse_bad("maildir:/x/%q", &vars, "unknown variable %q");
	parse_bad("maildir:/x/%{nope}", &vars, "unknown variable %nope");
	parse_bad("maildir:/x/%{user", &vars, "unterminated %{");
	parse_bad("maildir:/x/%", &vars, "'%' at the end");
	parse_bad("maildir:/x:lower", &vars, "option 'lower' is not KEY=VALUE");
	parse_bad("maildir:/x:=v", &vars, "option '=v' has no key");
	parse_bad("maildir:/x:K=%z", &vars, "unknown variable %z");
	/* the error names the location */
	parse_bad("maildir", NULL, "location 'maildir': ");
}
END_TEST

START_TEST(test_imap_url)
{
	struct mf_location *loc =
	    parse_ok("imap://jane@mail.example.org/", NULL);

	ck_assert_str_eq(loc->driver, "imapc");
	ck_assert_str_eq(loc->path, "");
	ck_assert_str_eq(mf_location_option(loc, "imapc_host"),
	                 "mail.example.org");
	ck_assert_str_eq(mf_location_option(loc, "imapc_port"), "143");
	ck_assert_str_eq(mf_location_option(loc, "imapc_user"), "jane");
	ck_assert_str_eq(mf_location_option(loc, "imapc_ssl"), "no");
	ck_assert_ptr_null(mf_location_option(loc, "imapc_password"));
	ck_assert_str_eq(loc->display, "imap://jane@mail.example.org:143/");
	mf_location_free(&loc);

	loc = parse_ok("imaps://u%40d.org:pa%3Ass@127.0.0.1:1993", NULL);
	ck_assert_str_eq(mf_location_option(loc, "imapc_host"), "127.0.0.1");
	ck_assert_str_eq(mf_location_option(loc, "imapc_port"), "1993");
	ck_assert_str_eq(mf_location_option(loc, "imapc_user"), "u@d.org");
	ck_assert_str_eq(mf_location_option(loc, "imapc_password"), "pa:ss");
	ck_assert_str_eq(mf_location_option(loc, "imapc_ssl"), "imaps");
	/* the password never shows */
	ck_assert_str_eq(loc->display, "imaps://u@d.org@127.0.0.1:1993/");
	ck_assert_ptr_null(strstr(loc->display, "pa"));
	mf_location_free(&loc);

	loc = parse_ok("imaps://[::1]/", NULL);
	ck_assert_str_eq(mf_location_option(loc, "imapc_host"), "::1");
	ck_assert_str_eq(mf_location_option(loc, "imapc_port"), "993");
	ck_assert_ptr_null(mf_location_option(loc, "imapc_user"));
	ck_assert_str_eq(loc->display, "imaps://[::1]:993/");
	mf_location_free(&loc);
}
END_TEST

START_TEST(test_imap_url_bad)
{
	struct mf_location *loc = NULL;
	char *error = NULL;

	parse_bad("imap://", NULL, "missing host name");
	parse_bad("imap://u@/", NULL, "missing host name");
	parse_bad("imap://@host/", NULL, "empty user name");
	parse_bad("imap://host:0/", NULL, "bad port '0'");
	parse_bad("imap://host:99999/", NULL, "bad port");
	parse_bad("imap://host:x1/", NULL, "bad port");
	parse_bad("imap://host/INBOX", NULL, "no mailbox or query part");
	parse_bad("imap://[::1/", NULL, "unterminated '['");
	parse_bad("imap://u%zz@host/", NULL, "bad %-escape");
	/* errors never show the password */
	ck_assert_int_eq(
	    mf_location_parse("imap://u:topsecret@host:0/", NULL, &loc, &error),
	    -1);
	ck_assert_ptr_null(strstr(error, "topsecret"));
	ck_assert_ptr_nonnull(strstr(error, "u:***@host:0/"));
	free(error);
	/* not an imap URL, but it carries a password all the same */
	ck_assert_int_eq(
	    mf_location_parse("imapx://u:topsecret@host/", NULL, &loc, &error),
	    -1);
	ck_assert_ptr_null(strstr(error, "topsecret"));
	ck_assert_str_eq(error, "location 'imapx://u:***@host/': not a "
	                        "location: only imap:// and imaps:// URLs may "
	                        "carry a user and password");
	free(error);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("location");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_simple);
	tcase_add_test(tc, test_options);
	tcase_add_test(tc, test_expansion);
	tcase_add_test(tc, test_colon_escape);
	tcase_add_test(tc, test_bad);
	tcase_add_test(tc, test_imap_url);
	tcase_add_test(tc, test_imap_url_bad);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
