/* SPDX-License-Identifier: MIT */
/* Unit tests for `mailferry sync/backup` option parsing (mf-sync-opts.c):
 * every flag, and every error. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-hex.h"
#include "mf-sync-opts.h"

/* A fixed "now" so intervals are deterministic. */
#define NOW ((time_t)1700000000)

#define MAX_ARGS 32

/* Parse a NULL-terminated argument list. */
static int parse(struct mf_sync_opts *opts, bool backup, char **error_r, ...)
{
	char *argv[MAX_ARGS];
	int argc = 0;
	va_list args;
	const char *arg;

	va_start(args, error_r);
	while ((arg = va_arg(args, const char *)) != NULL) {
		ck_assert_int_lt(argc, MAX_ARGS);
		argv[argc++] = (char *)arg;
	}
	va_end(args);
	*error_r = NULL;
	return mf_sync_opts_parse(opts, backup, NOW, argc, argv, error_r);
}

#define OK(backup, ...)                                                        \
	do {                                                                   \
		char *err_;                                                    \
		ck_assert_msg(parse(&o, backup, &err_, __VA_ARGS__, NULL) ==   \
		                  0,                                           \
		              "unexpected error: %s", err_);                   \
	} while (0)

#define BAD(want, backup, ...)                                                 \
	do {                                                                   \
		struct mf_sync_opts bad_;                                      \
		char *err_;                                                    \
		ck_assert_int_eq(                                              \
		    parse(&bad_, backup, &err_, __VA_ARGS__, NULL), -1);       \
		ck_assert_msg(err_ != NULL && strstr(err_, want) != NULL,      \
		              "error '%s' lacks '%s'", err_, want);            \
		free(err_);                                                    \
		mf_sync_opts_clear(&bad_);                                     \
	} while (0)

START_TEST(test_defaults)
{
	struct mf_sync_opts o;

	OK(false, "maildir:/dest");
	ck_assert_int_eq(o.mode, MF_SYNC_TWO_WAY);
	ck_assert_ptr_null(o.src);
	ck_assert_str_eq(o.dest, "maildir:/dest");
	ck_assert(!o.full && !o.purge_remote && !o.reverse &&
	          !o.replicator_notify && !o.lock && !o.no_mail_sync &&
	          !o.all_namespaces && !o.default_dest && !o.all_users &&
	          !o.dry_run && !o.have_mailbox_guid);
	ck_assert_uint_eq(o.io_timeout_secs, MF_SYNC_DEFAULT_IO_TIMEOUT);
	ck_assert_ptr_null(o.state);
	ck_assert_ptr_null(o.mailbox);
	ck_assert_int_eq(o.since, 0);
	ck_assert_int_eq(o.until, 0);
	ck_assert_uint_eq(o.max_size, 0);
	mf_sync_opts_clear(&o);

	OK(true, "maildir:/src", "sdbox:/dest");
	ck_assert_int_eq(o.mode, MF_SYNC_BACKUP);
	ck_assert_str_eq(o.src, "maildir:/src");
	ck_assert_str_eq(o.dest, "sdbox:/dest");
	mf_sync_opts_clear(&o);
}
END_TEST

START_TEST(test_bool_flags)
{
	struct mf_sync_opts o;

	OK(false, "-1fPRU", "-E", "--dry-run", "d:/x");
	ck_assert_int_eq(o.mode, MF_SYNC_ONE_WAY);
	ck_assert(o.full && o.purge_remote && o.reverse &&
	          o.replicator_notify && o.dry_run);
	mf_sync_opts_clear(&o);

	OK(true, "-f", "-P", "-R", "-U", "d:/x");
	ck_assert_int_eq(o.mode, MF_SYNC_BACKUP);
	ck_assert(o.full && o.purge_remote && o.reverse && o.replicator_notify);
	mf_sync_opts_clear(&o);

	OK(false, "-N", "remote:user@host");
	ck_assert(o.all_namespaces);
	mf_sync_opts_clear(&o);
	OK(false, "-N", "tcps:host:1234");
	mf_sync_opts_clear(&o);

	OK(false, "-d");
	ck_assert(o.default_dest);
	ck_assert_ptr_null(o.dest);
	mf_sync_opts_clear(&o);

	OK(false, "-A", "d:/x");
	ck_assert(o.all_users);
	mf_sync_opts_clear(&o);
}
END_TEST

START_TEST(test_value_flags)
{
	struct mf_sync_opts o;
	uint8_t guid[16];

	OK(false, "-l", "30", "-r", "/tmp/raw", "-m", "INBOX", "-n", "", "-n",
	   "Shared/", "-x", "Trash", "-x", "\\Junk", "-a", "All", "-s", "AQID",
	   "-T", "5", "-O", "\\Seen", "-I", "10M", "-u", "jane", "-S",
	   "/run/doveadm", "d:/x");
	ck_assert(o.lock);
	ck_assert_uint_eq(o.lock_timeout, 30);
	ck_assert_str_eq(o.rawlog, "/tmp/raw");
	ck_assert_str_eq(o.mailbox, "INBOX");
	ck_assert_uint_eq(o.namespaces.count, 2);
	ck_assert_str_eq(o.namespaces.items[0], "");
	ck_assert_str_eq(o.namespaces.items[1], "Shared/");
	ck_assert_uint_eq(o.excludes.count, 2);
	ck_assert_str_eq(o.excludes.items[1], "\\Junk");
	ck_assert_str_eq(o.all_mailbox, "All");
	ck_assert_str_eq(o.state, "AQID");
	ck_assert_uint_eq(o.io_timeout_secs, 5);
	ck_assert_str_eq(o.sync_flag, "\\Seen");
	ck_assert(!o.sync_flag_negated);
	ck_assert_uint_eq(o.max_size, 10 * 1024 * 1024);
	ck_assert_str_eq(o.user, "jane");
	ck_assert_str_eq(o.socket_path, "/run/doveadm");
	mf_sync_opts_clear(&o);

	/* values glued to the flag, and clustered flags */
	OK(false, "-fl5", "-mLists/dev", "-O-$Important", "-T0", "-s", "",
	   "d:/x");
	ck_assert(o.full && o.lock);
	ck_assert_uint_eq(o.lock_timeout, 5);
	ck_assert_str_eq(o.mailbox, "Lists/dev");
	ck_assert_str_eq(o.sync_flag, "$Important");
	ck_assert(o.sync_flag_negated);
	ck_assert_uint_eq(o.io_timeout_secs, 0);
	ck_assert_str_eq(o.state, "");
	mf_sync_opts_clear(&o);

	OK(false, "-g", "0123456789abcdefFEDCBA9876543210", "d:/x");
	ck_assert(o.have_mailbox_guid);
	ck_assert_int_eq(
	    mf_guid128_from_hex("0123456789abcdeffedcba9876543210", guid), 0);
	ck_assert_mem_eq(o.mailbox_guid, guid, 16);
	mf_sync_opts_clear(&o);

	OK(false, "-m", "", "d:/x");
	ck_assert(o.no_mail_sync);
	ck_assert_ptr_null(o.mailbox);
	mf_sync_opts_clear(&o);
	OK(false, "-g", "", "d:/x");
	ck_assert(o.no_mail_sync);
	ck_assert(!o.have_mailbox_guid);
	mf_sync_opts_clear(&o);

	OK(false, "-F", "/etc/users", "d:/x");
	ck_assert_str_eq(o.users_file, "/etc/users");
	mf_sync_opts_clear(&o);

	/* "--" ends the options */
	OK(false, "-f", "--", "-weird:/x");
	ck_assert_str_eq(o.dest, "-weird:/x");
	mf_sync_opts_clear(&o);
}
END_TEST

START_TEST(test_dates)
{
	struct mf_sync_opts o;
	time_t t;

	OK(false, "-t", "1600000000", "-e", "1600000100", "d:/x");
	ck_assert_int_eq(o.since, 1600000000);
	ck_assert_int_eq(o.until, 1600000100);
	mf_sync_opts_clear(&o);

	OK(false, "-t", "30d", "d:/x");
	ck_assert_int_eq(o.since, NOW - 30 * 86400);
	mf_sync_opts_clear(&o);
	OK(false, "-e", "2 hours", "d:/x");
	ck_assert_int_eq(o.until, NOW - 2 * 3600);
	mf_sync_opts_clear(&o);

	setenv("TZ", "UTC", 1);
	tzset();
	OK(false, "-t", "2023-11-14", "-e", "15-Nov-2023", "d:/x");
	ck_assert_int_eq(o.since, 1699920000);
	ck_assert_int_eq(o.until, 1700006400);
	mf_sync_opts_clear(&o);
	ck_assert_int_eq(mf_sync_parse_date("1-jan-2020", NOW, &t), 0);
	ck_assert_int_eq(t, 1577836800);
	ck_assert_int_eq(mf_sync_parse_date("2023-13-01", NOW, &t), -1);
	ck_assert_int_eq(mf_sync_parse_date("32-Jan-2020", NOW, &t), -1);
	ck_assert_int_eq(mf_sync_parse_date("1-Foo-2020", NOW, &t), -1);
	ck_assert_int_eq(mf_sync_parse_date("99999w", NOW, &t), -1);
	ck_assert_int_eq(mf_sync_parse_date("", NOW, &t), -1);
}
END_TEST

START_TEST(test_errors)
{
	BAD("-1 is not valid for backup", true, "-1", "d:/x");
	BAD("-1 is not valid for backup", true, "-f1", "d:/x");
	BAD("unknown option -z", false, "-z", "d:/x");
	BAD("unknown option -D (global options go before the command)", false,
	    "-D", "d:/x");
	BAD("unknown option '--bogus'", false, "--bogus", "d:/x");
	BAD("option -l needs a value", false, "-l");
	BAD("-l: invalid number of seconds 'x'", false, "-l", "x", "d:/x");
	BAD("-l: invalid number of seconds '-5'", false, "-l", "-5", "d:/x");
	BAD("-l: invalid number of seconds '99999999999'", false, "-l",
	    "99999999999", "d:/x");
	BAD("-T: invalid number of seconds '1m'", false, "-T", "1m", "d:/x");
	BAD("-r: empty raw log path", false, "-r", "", "d:/x");
	BAD("-g: invalid mailbox GUID 'xyz'", false, "-g", "xyz", "d:/x");
	BAD("-g: invalid mailbox GUID", false, "-g",
	    "00000000000000000000000000000000", "d:/x");
	BAD("-g: invalid mailbox GUID", false, "-g",
	    "0123456789abcdef0123456789abcdeg", "d:/x");
	BAD("-x: empty mailbox mask", false, "-x", "", "d:/x");
	BAD("-a: empty mailbox name", false, "-a", "", "d:/x");
	BAD("-t: invalid date 'yesterday'", false, "-t", "yesterday", "d:/x");
	BAD("-e: invalid date '2020-1-1'", false, "-e", "2020-1-1", "d:/x");
	BAD("-t start date is later than -e end date", false, "-t", "200", "-e",
	    "100", "d:/x");
	BAD("-O: missing flag name", false, "-O", "", "d:/x");
	BAD("-O: missing flag name", false, "-O", "-", "d:/x");
	BAD("-O: only one flag is supported", false, "-O", "\\Seen \\Draft",
	    "d:/x");
	BAD("-O: unknown system flag '\\Bogus'", false, "-O", "\\Bogus",
	    "d:/x");
	BAD("-O: unknown system flag '\\Recent'", false, "-O", "-\\Recent",
	    "d:/x");
	BAD("-I: invalid size '10Q'", false, "-I", "10Q", "d:/x");
	BAD("-u: empty user name", false, "-u", "", "d:/x");
	BAD("-F: empty file name", false, "-F", "", "d:/x");
	BAD("-S: empty socket path", false, "-S", "", "d:/x");
	BAD("-u, -A and -F are mutually exclusive", false, "-u", "a", "-A",
	    "d:/x");
	BAD("-u, -A and -F are mutually exclusive", false, "-A", "-F", "f",
	    "d:/x");
	BAD("-n and -N are mutually exclusive", false, "-n", "", "-N",
	    "remote:h");
	BAD("-N requires a remote destination", false, "-N", "maildir:/x");
	BAD("-m and -g are mutually exclusive", false, "-m", "INBOX", "-g",
	    "0123456789abcdef0123456789abcdef", "d:/x");
	BAD("option -m given twice", false, "-m", "a", "-m", "b", "d:/x");
	BAD("option -s given twice", false, "-s", "", "-s", "x", "d:/x");
	BAD("missing destination", false, "-f");
	BAD("missing destination", true, NULL);
	BAD("don't give a destination with -d", false, "-d", "maildir:/x");
	BAD("too many arguments: 'c:/z'", false, "a:/x", "b:/y", "c:/z");
	BAD("empty destination location", false, "");
	BAD("empty source location", false, "", "d:/x");
	BAD("option '-f' after the destination", false, "d:/x", "-f");
	BAD("option '-f' after the destination", false, "s:/x", "d:/x", "-f");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-opts");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_bool_flags);
	tcase_add_test(tc, test_value_flags);
	tcase_add_test(tc, test_dates);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
