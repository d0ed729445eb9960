/* SPDX-License-Identifier: MIT */
/* Unit tests for the dovecot.conf subset parser (core/lib/mf-settings.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-settings.h"

static char tmpdir[64];

static void setup(void)
{
	mf_strlcpy(tmpdir, "/tmp/mf-test-settings.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = mf_strdup_printf("rm -rf '%s'", tmpdir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* Write text to tmpdir/name; returns the path (caller frees). */
static char *write_file(const char *name, const char *text)
{
	char *path = mf_strdup_printf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* Load path and expect failure whose message starts with want_prefix and
 * contains want_text. */
static void expect_file_error(const char *path, const char *want_prefix,
                              const char *want_text)
{
	struct mf_settings *set = mf_settings_new();
	char *error = NULL;

	ck_assert_int_eq(mf_settings_load_file(set, path, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(mf_str_begins(error, want_prefix),
	              "error '%s' does not start with '%s'", error,
	              want_prefix);
	ck_assert_msg(strstr(error, want_text) != NULL,
	              "error '%s' does not contain '%s'", error, want_text);
	free(error);
	mf_settings_free(&set);
	ck_assert_ptr_null(set);
}

START_TEST(test_basic)
{
	struct mf_settings *set = mf_settings_new();
	char *error = NULL;

	ck_assert_int_eq(
	    mf_settings_load_string(set, "mem",
	                            "# comment\n"
	                            "  mail_location = maildir:~/Maildir  \n"
	                            "\n"
	                            "mail_fsync=never\n"
	                            "quoted = \"a \\\"b\\\" # not comment\"\n"
	                            "single = 'x y'\n"
	                            "trail = value # a comment\n"
	                            "empty =\n"
	                            "cont = one \\\n"
	                            "  two\n"
	                            "mail_fsync = optimized\n",
	                            &error),
	    0);
	ck_assert_str_eq(mf_settings_get(set, "mail_location"),
	                 "maildir:~/Maildir");
	ck_assert_str_eq(mf_settings_get(set, "mail_fsync"), "optimized");
	ck_assert_str_eq(mf_settings_get(set, "quoted"),
	                 "a \"b\" # not comment");
	ck_assert_str_eq(mf_settings_get(set, "single"), "x y");
	ck_assert_str_eq(mf_settings_get(set, "trail"), "value");
	ck_assert_str_eq(mf_settings_get(set, "empty"), "");
	ck_assert_str_eq(mf_settings_get(set, "cont"), "one two");
	ck_assert_ptr_null(mf_settings_get(set, "nope"));
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_sections)
{
	struct mf_settings *set = mf_settings_new();
	char *error = NULL;
	const char *key, *value;
	size_t pos = 0, n = 0;

	ck_assert_int_eq(mf_settings_load_string(set, "mem",
	                                         "namespace inbox {\n"
	                                         "  separator = /\n"
	                                         "  mailbox \"Sent Items\" {\n"
	                                         "    special_use = \\Sent\n"
	                                         "  }\n"
	                                         "}\n"
	                                         "plugin {\n"
	                                         "  zlib_save = gz\n"
	                                         "}\n"
	                                         "service imap{\n"
	                                         "  x = 1\n"
	                                         "}\n",
	                                         &error),
	                 0);
	ck_assert_str_eq(mf_settings_get(set, "namespace/inbox/separator"),
	                 "/");
	ck_assert_str_eq(mf_settings_get(set,
	                                 "namespace/inbox/mailbox/Sent Items/"
	                                 "special_use"),
	                 "\\Sent");
	ck_assert_str_eq(mf_settings_get(set, "plugin/zlib_save"), "gz");
	/* plugin settings are global in Dovecot */
	ck_assert_str_eq(mf_settings_get(set, "zlib_save"), "gz");
	ck_assert_ptr_null(mf_settings_get(set, "separator"));
	ck_assert_str_eq(mf_settings_get(set, "service/imap/x"), "1");
	while (mf_settings_iter(set, &pos, &key, &value))
		n++;
	ck_assert_uint_eq(n, 4);
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_include)
{
	struct mf_settings *set = mf_settings_new();
	char *main_path, *error = NULL;

	free(write_file("a.conf", "a = 1\nb = from-a\n"));
	{
		char *d = mf_strdup_printf("%s/conf.d", tmpdir);

		ck_assert_int_eq(mkdir(d, 0755), 0);
		free(d);
	}
	free(write_file("conf.d/10-x.conf", "x = 10\n"));
	free(write_file("conf.d/20-y.conf", "y = 20\nb = from-20\n"));
	free(write_file("secret", "s3cret\n"));
	main_path = write_file("main.conf", "!include a.conf\n"
	                                    "!include_try missing.conf\n"
	                                    "!include conf.d/*.conf\n"
	                                    "!include_try conf.d/*.nothing\n"
	                                    "pass = <secret\n"
	                                    "pass2 = < secret\n"
	                                    "plugins = base\n"
	                                    "plugins = $plugins zlib\n"
	                                    "home = $ENV:MF_TEST_HOME/x\n"
	                                    "dollar = a $ b\n"
	                                    "quoted = '$plugins'\n");
	setenv("MF_TEST_HOME", "/h", 1);
	ck_assert_msg(mf_settings_load_file(set, main_path, &error) == 0, "%s",
	              error);
	ck_assert_str_eq(mf_settings_get(set, "a"), "1");
	ck_assert_str_eq(mf_settings_get(set, "b"), "from-20");
	ck_assert_str_eq(mf_settings_get(set, "x"), "10");
	ck_assert_str_eq(mf_settings_get(set, "y"), "20");
	ck_assert_str_eq(mf_settings_get(set, "pass"), "s3cret");
	ck_assert_str_eq(mf_settings_get(set, "pass2"), "s3cret");
	ck_assert_str_eq(mf_settings_get(set, "plugins"), "base zlib");
	ck_assert_str_eq(mf_settings_get(set, "home"), "/h/x");
	ck_assert_str_eq(mf_settings_get(set, "dollar"), "a $ b");
	ck_assert_str_eq(mf_settings_get(set, "quoted"), "$plugins");
	free(main_path);
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_error_unterminated)
{
	char *path = write_file("u.conf", "a = 1\n"
	                                  "namespace inbox {\n"
	                                  "  separator = /\n");
	char *prefix = mf_strdup_printf("%s:2: ", path);

	expect_file_error(path, prefix,
	                  "unterminated section 'namespace inbox'");
	free(prefix);
	free(path);
}
END_TEST

START_TEST(test_error_unterminated_in_include)
{
	char *inc = write_file("inc.conf", "\nplugin {\n");
	char *path = write_file("m.conf", "!include inc.conf\n}\n");
	char *prefix = mf_strdup_printf("%s:2: ", inc);

	expect_file_error(path, prefix, "unterminated section 'plugin'");
	free(prefix);
	free(inc);
	free(path);
}
END_TEST

START_TEST(test_error_close_without_section)
{
	char *path = write_file("c.conf", "a = 1\n\n}\n");
	char *prefix = mf_strdup_printf("%s:3: ", path);

	expect_file_error(path, prefix, "'}' without an open section");
	free(prefix);
	free(path);
}
END_TEST

START_TEST(test_error_missing_equals)
{
	char *path = write_file("e.conf", "# x\nmail_location maildir:~/M\n");
	char *prefix = mf_strdup_printf("%s:2: ", path);

	expect_file_error(path, prefix, "expected 'key = value'");
	free(prefix);
	free(path);
}
END_TEST

START_TEST(test_error_bad_include)
{
	char *path = write_file("b.conf", "a = 1\n!include nothere.conf\n");
	char *prefix = mf_strdup_printf("%s:2: ", path);

	expect_file_error(path, prefix, "nothere.conf");
	expect_file_error(path, prefix, "No such file");
	free(prefix);
	free(path);
	path = write_file("b2.conf", "!include\n");
	prefix = mf_strdup_printf("%s:1: ", path);
	expect_file_error(path, prefix, "without a file name");
	free(prefix);
	free(path);
	path = write_file("b3.conf", "!includex foo\n");
	prefix = mf_strdup_printf("%s:1: ", path);
	expect_file_error(path, prefix, "unknown directive");
	free(prefix);
	free(path);
}
END_TEST

START_TEST(test_error_include_loop)
{
	char *a = write_file("loop-a.conf", "x = 1\n!include loop-b.conf\n");
	char *b = write_file("loop-b.conf", "\n\n!include loop-a.conf\n");
	char *self = write_file("self.conf", "!include self.conf\n");
	char *prefix = mf_strdup_printf("%s:3: ", b);

	expect_file_error(a, prefix, "include loop");
	free(prefix);
	prefix = mf_strdup_printf("%s:1: ", self);
	expect_file_error(self, prefix, "include loop");
	free(prefix);
	free(a);
	free(b);
	free(self);
}
END_TEST

START_TEST(test_error_overlong_line)
{
	struct mf_buf text = MF_BUF_INIT;
	char *path, *prefix;

	mf_buf_append_str(&text, "a = 1\nb = ");
	for (int i = 0; i < MF_SETTINGS_MAX_LINE; i++)
		mf_buf_append_c(&text, 'x');
	mf_buf_append_str(&text, "\n");
	path = write_file("long.conf", mf_buf_str(&text));
	prefix = mf_strdup_printf("%s:2: ", path);
	expect_file_error(path, prefix, "line too long");
	free(prefix);
	free(path);
	mf_buf_free(&text);

	/* exactly at the limit is fine */
	{
		struct mf_settings *set = mf_settings_new();
		char *error = NULL;

		mf_buf_append_str(&text, "b = ");
		for (int i = 4; i < MF_SETTINGS_MAX_LINE; i++)
			mf_buf_append_c(&text, 'y');
		ck_assert_int_eq(mf_settings_load_string(
		                     set, "mem", mf_buf_str(&text), &error),
		                 0);
		ck_assert_uint_eq(strlen(mf_settings_get(set, "b")),
		                  MF_SETTINGS_MAX_LINE - 4);
		mf_settings_free(&set);
		mf_buf_free(&text);
	}
}
END_TEST

START_TEST(test_error_misc)
{
	struct {
		const char *text, *want;
	} cases[] = {
	    {"a = \"unterminated\n", "mem:1: a: unterminated quoted"},
	    {"a = 'x' y\n", "mem:1: a: unterminated quoted"},
	    {"\n= 1\n", "mem:2: missing key"},
	    {"x = $nosuch\n", "mem:1: unknown setting $nosuch"},
	    {"k = <nofile\n", "mem:1: k = <nofile"},
	    {"foo bar baz {\n}\n", "mem:1: section 'foo'"},
	    {"a = 0123456789abcdef0123456789abcdef0123456789abcdef\n"
	     "a = $a$a$a$a$a$a$a$a$a$a$a$a$a$a$a$a\n"
	     "a = $a$a$a$a$a$a$a$a$a$a$a$a$a$a$a$a\n"
	     "a = $a$a$a$a$a$a$a$a$a$a$a$a$a$a$a$a\n"
	     "a = $a$a$a$a$a$a$a$a$a$a$a$a$a$a$a$a\n",
	     "mem:5: value longer than 1048576 bytes after $ expansion"},
	};

	for (size_t i = 0; i < MF_N_ELEMENTS(cases); i++) {
		struct mf_settings *set = mf_settings_new();
		char *error = NULL;

		ck_assert_int_eq(
		    mf_settings_load_string(set, "mem", cases[i].text, &error),
		    -1);
		ck_assert_msg(mf_str_begins(error, cases[i].want),
		              "case %zu: '%s' does not start with '%s'", i,
		              error, cases[i].want);
		free(error);
		mf_settings_free(&set);
	}
}
END_TEST

START_TEST(test_missing_file)
{
	struct mf_settings *set = mf_settings_new();
	char *error = NULL;

	ck_assert_int_eq(
	    mf_settings_load_file(set, "/nonexistent/x.conf", &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "/nonexistent/x.conf"));
	ck_assert_ptr_nonnull(strstr(error, "No such file"));
	free(error);
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_override)
{
	struct mf_settings *set = mf_settings_new();
	char *error = NULL;

	ck_assert_int_eq(mf_settings_set_override(set, "a=b=c", &error), 0);
	ck_assert_str_eq(mf_settings_get(set, "a"), "b=c");
	ck_assert_int_eq(mf_settings_set_override(set, "a=", &error), 0);
	ck_assert_str_eq(mf_settings_get(set, "a"), "");
	ck_assert_int_eq(mf_settings_set_override(set, "noequals", &error), -1);
	ck_assert_str_eq(error, "-o 'noequals': expected key=value");
	free(error);
	ck_assert_int_eq(mf_settings_set_override(set, "=x", &error), -1);
	free(error);
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_typed)
{
	struct mf_settings *set = mf_settings_new();
	char *error = NULL;
	uint64_t v;
	bool b;

	ck_assert_int_eq(mf_settings_load_string(set, "mem",
	                                         "yes = yes\nno = off\n"
	                                         "bad = maybe\nn = 42\n"
	                                         "size = 10M\nsize2 = 3 kiB\n"
	                                         "size3 = 7\nt = 2 mins\n"
	                                         "t2 = 3d\nt3 = 30\n"
	                                         "t4 = 1 fortnight\n",
	                                         &error),
	                 0);
	ck_assert_int_eq(mf_settings_get_bool(set, "yes", false, &b, &error),
	                 0);
	ck_assert(b);
	ck_assert_int_eq(mf_settings_get_bool(set, "no", true, &b, &error), 0);
	ck_assert(!b);
	ck_assert_int_eq(mf_settings_get_bool(set, "unset", true, &b, &error),
	                 0);
	ck_assert(b);
	ck_assert_int_eq(mf_settings_get_bool(set, "bad", true, &b, &error),
	                 -1);
	ck_assert_str_eq(error, "setting bad: invalid boolean 'maybe' "
	                        "(expected yes or no)");
	free(error);
	ck_assert_int_eq(mf_settings_get_uint(set, "n", 0, &v, &error), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(mf_settings_get_uint(set, "size", 0, &v, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "setting size"));
	free(error);
	ck_assert_int_eq(mf_settings_get_uint(set, "unset", 9, &v, &error), 0);
	ck_assert_uint_eq(v, 9);
	ck_assert_int_eq(mf_settings_get_size(set, "size", 0, &v, &error), 0);
	ck_assert_uint_eq(v, 10 * 1024 * 1024);
	ck_assert_int_eq(mf_settings_get_size(set, "size2", 0, &v, &error), 0);
	ck_assert_uint_eq(v, 3 * 1024);
	ck_assert_int_eq(mf_settings_get_size(set, "size3", 0, &v, &error), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(mf_settings_get_time(set, "t", 0, &v, &error), 0);
	ck_assert_uint_eq(v, 120);
	ck_assert_int_eq(mf_settings_get_time(set, "t2", 0, &v, &error), 0);
	ck_assert_uint_eq(v, 3 * 86400);
	ck_assert_int_eq(mf_settings_get_time(set, "t3", 0, &v, &error), 0);
	ck_assert_uint_eq(v, 30);
	ck_assert_int_eq(mf_settings_get_time(set, "t4", 0, &v, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "'1 fortnight'"));
	free(error);
	ck_assert_int_eq(mf_settings_parse_size("5G", &v, &error), 0);
	ck_assert_uint_eq(v, 5ULL << 30);
	ck_assert_int_eq(mf_settings_parse_size("5X", &v, &error), -1);
	free(error);
	ck_assert_int_eq(
	    mf_settings_parse_size("99999999999999999999T", &v, &error), -1);
	free(error);
	ck_assert_int_eq(mf_settings_parse_time("1w", &v, &error), 0);
	ck_assert_uint_eq(v, 7 * 86400);
	ck_assert_int_eq(mf_settings_parse_time("10 seconds", &v, &error), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(mf_settings_parse_time("h", &v, &error), -1);
	free(error);
	mf_settings_free(&set);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("settings");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_error_unterminated);
	tcase_add_test(tc, test_error_unterminated_in_include);
	tcase_add_test(tc, test_error_close_without_section);
	tcase_add_test(tc, test_error_missing_equals);
	tcase_add_test(tc, test_error_bad_include);
	tcase_add_test(tc, test_error_include_loop);
	tcase_add_test(tc, test_error_overlong_line);
	tcase_add_test(tc, test_error_misc);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_override);
	tcase_add_test(tc, test_typed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
