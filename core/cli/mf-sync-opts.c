/* SPDX-License-Identifier: MIT */
/*
 * Parsing without getopt(): the parser is called repeatedly by the unit
 * tests, and getopt's global state would leak between calls. Options come
 * first (as doveadm requires for sync); the first non-option ends them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-hex.h"
#include "mf-settings.h"
#include "mf-sync-opts.h"

static int fail(char **error_r, const char *fmt, ...) MF_PRINTF(2, 3);
static int fail(char **error_r, const char *fmt, ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	*error_r = mf_buf_detach(&buf);
	return -1;
}

void mf_sync_opts_clear(struct mf_sync_opts *opts)
{
	mf_array_free(&opts->namespaces);
	mf_array_free(&opts->excludes);
	mf_zero(opts);
}

static int parse_u32(const char *str, uint32_t *value_r)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)*str))
		return -1;
	errno = 0;
	n = strtoull(str, &end, 10);
	if (errno != 0 || *end != '\0' || n > UINT32_MAX)
		return -1;
	*value_r = (uint32_t)n;
	return 0;
}

static bool all_digits(const char *str, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)str[i]))
			return false;
	}
	return len > 0;
}

static int parse_imap_date(const char *str, time_t *time_r)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
	                                     "May", "Jun", "Jul", "Aug",
	                                     "Sep", "Oct", "Nov", "Dec"};
	size_t dlen = strcspn(str, "-");
	struct tm tm;
	int mon = -1;

	if (dlen < 1 || dlen > 2 || !all_digits(str, dlen) || str[dlen] != '-')
		return -1;
	str += dlen + 1;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(str, months[i], 3) == 0)
			mon = i;
	}
	if (mon < 0 || str[3] != '-' || !all_digits(str + 4, 4) ||
	    str[8] != '\0')
		return -1;
	mf_zero(&tm);
	tm.tm_mday = atoi(str - dlen - 1);
	tm.tm_mon = mon;
	tm.tm_year = atoi(str + 4) - 1900;
	tm.tm_isdst = -1;
	if (tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	*time_r = mktime(&tm);
	return *time_r == (time_t)-1 ? -1 : 0;
}

int mf_sync_parse_date(const char *str, time_t now, time_t *time_r)
{
	uint64_t secs;
	char *error;

	if (strlen(str) == 10 && all_digits(str, 4) && str[4] == '-' &&
	    all_digits(str + 5, 2) && str[7] == '-' && all_digits(str + 8, 2)) {
		struct tm tm;

		mf_zero(&tm);
		tm.tm_year = atoi(str) - 1900;
		tm.tm_mon = atoi(str + 5) - 1;
		tm.tm_mday = atoi(str + 8);
		tm.tm_isdst = -1;
		if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
		    tm.tm_mday > 31)
			return -1;
		*time_r = mktime(&tm);
		return *time_r == (time_t)-1 ? -1 : 0;
	}
	if (parse_imap_date(str, time_r) == 0)
		return 0;
	if (all_digits(str, strlen(str))) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(str, &end, 10);
		if (errno != 0 || n > (unsigned long long)INT64_MAX)
			return -1;
		*time_r = (time_t)n;
		return 0;
	}
	if (mf_settings_parse_time(str, &secs, &error) < 0) {
		free(error);
		return -1;
	}
	if (secs > (uint64_t)now)
		return -1;
	*time_r = now - (time_t)secs;
	return 0;
}

static bool is_system_flag(const char *flag)
{
	static const char *const names[] = {"\\Answered", "\\Flagged",
	                                    "\\Deleted", "\\Seen", "\\Draft"};

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		if (strcasecmp(flag, names[i]) == 0)
			return true;
	}
	return false;
}

static bool is_remote_dest(const char *dest)
{
	return mf_str_begins(dest, "remote:") ||
	       mf_str_begins(dest, "remoteprefix:") ||
	       mf_str_begins(dest, "tcp:") || mf_str_begins(dest, "tcps:");
}

/* Options that may be given once; a repeat is an error. */
static int once(char **error_r, bool *seen, char opt)
{
	if (*seen)
		return fail(error_r, "option -%c given twice", opt);
	*seen = true;
	return 0;
}

static int parse_option(struct mf_sync_opts *opts, bool backup, time_t now,
                        char opt, const char *value, bool *seen, char **error_r)
{
	const char *flag;

	/* seen[] is indexed by the option character */
	switch (opt) {
	case '1':
		if (backup)
			return fail(error_r,
			            "-1 is not valid for backup (backup is "
			            "already one-way; use 'sync -1' for a "
			            "one-way merge)");
		opts->mode = MF_SYNC_ONE_WAY;
		return 0;
	case 'f':
		opts->full = true;
		return 0;
	case 'P':
		opts->purge_remote = true;
		return 0;
	case 'R':
		opts->reverse = true;
		return 0;
	case 'U':
		opts->replicator_notify = true;
		return 0;
	case 'N':
		opts->all_namespaces = true;
		return 0;
	case 'd':
		opts->default_dest = true;
		return 0;
	case 'A':
		opts->all_users = true;
		return 0;
	case 'E':
		/* doveadm's legacy "dsync" wrapper flag: no effect */
		return 0;
	}
	if (opt != 'n' && opt != 'x' &&
	    once(error_r, &seen[(unsigned char)opt], opt) < 0)
		return -1;
	switch (opt) {
	case 'l':
		if (parse_u32(value, &opts->lock_timeout) < 0)
			return fail(error_r,
			            "-l: invalid number of seconds '%s'",
			            value);
		opts->lock = true;
		return 0;
	case 'T':
		if (parse_u32(value, &opts->io_timeout_secs) < 0)
			return fail(error_r,
			            "-T: invalid number of seconds '%s'",
			            value);
		return 0;
	case 'r':
		if (*value == '\0')
			return fail(error_r, "-r: empty raw log path");
		opts->rawlog = value;
		return 0;
	case 'm':
		if (*value == '\0')
			opts->no_mail_sync = true;
		else
			opts->mailbox = value;
		return 0;
	case 'g':
		if (*value == '\0') {
			opts->no_mail_sync = true;
			return 0;
		}
		if (strlen(value) != 32 ||
		    mf_guid128_from_hex(value, opts->mailbox_guid) < 0 ||
		    mf_guid128_is_empty(opts->mailbox_guid))
			return fail(error_r,
			            "-g: invalid mailbox GUID '%s' (expected "
			            "32 hex digits, not all zero, or \"\" to "
			            "sync no messages)",
			            value);
		opts->have_mailbox_guid = true;
		return 0;
	case 'n':
		mf_array_push(&opts->namespaces, value);
		return 0;
	case 'x':
		if (*value == '\0')
			return fail(error_r, "-x: empty mailbox mask");
		mf_array_push(&opts->excludes, value);
		return 0;
	case 'a':
		if (*value == '\0')
			return fail(error_r, "-a: empty mailbox name");
		opts->all_mailbox = value;
		return 0;
	case 's':
		opts->state = value;
		return 0;
	case 't':
	case 'e':
		if (mf_sync_parse_date(value, now,
		                       opt == 't' ? &opts->since
		                                  : &opts->until) < 0)
			return fail(error_r,
			            "-%c: invalid date '%s' (expected "
			            "YYYY-MM-DD, DD-Mon-YYYY, a unix time or "
			            "an interval like 30d)",
			            opt, value);
		return 0;
	case 'O':
		flag = value;
		if (*flag == '-')
			flag++;
		if (*flag == '\0')
			return fail(error_r, "-O: missing flag name");
		if (strpbrk(flag, " \t") != NULL)
			return fail(error_r,
			            "-O: only one flag is supported, got '%s'",
			            value);
		if (*flag == '\\' && !is_system_flag(flag))
			return fail(error_r,
			            "-O: unknown system flag '%s' (known: "
			            "\\Answered \\Flagged \\Deleted \\Seen "
			            "\\Draft)",
			            flag);
		opts->sync_flag = flag;
		opts->sync_flag_negated = flag != value;
		return 0;
	case 'I': {
		char *error;

		if (mf_settings_parse_size(value, &opts->max_size, &error) <
		    0) {
			fail(error_r, "-I: %s", error);
			free(error);
			return -1;
		}
		return 0;
	}
	case 'u':
		if (*value == '\0')
			return fail(error_r, "-u: empty user name");
		opts->user = value;
		return 0;
	case 'F':
		if (*value == '\0')
			return fail(error_r, "-F: empty file name");
		opts->users_file = value;
		return 0;
	case 'S':
		if (*value == '\0')
			return fail(error_r, "-S: empty socket path");
		opts->socket_path = value;
		return 0;
	}
	return fail(error_r, "unknown option -%c", opt);
}

static int validate(struct mf_sync_opts *opts, int npos, char *const pos[],
                    char **error_r)
{
	int users =
	    (opts->user != NULL) + opts->all_users + (opts->users_file != NULL);

	if (users > 1)
		return fail(error_r, "-u, -A and -F are mutually exclusive");
	if (opts->all_namespaces && opts->namespaces.count > 0)
		return fail(error_r, "-n and -N are mutually exclusive");
	if (opts->since != 0 && opts->until != 0 && opts->since > opts->until)
		return fail(error_r, "-t start date is later than -e end date");
	if (opts->default_dest) {
		if (npos > 0)
			return fail(error_r,
			            "don't give a destination with -d (it "
			            "comes from mail_replica): '%s'",
			            pos[0]);
		return 0;
	}
	if (npos == 0)
		return fail(error_r, "missing destination (give DEST, or -d "
		                     "to use the mail_replica setting)");
	if (npos > 2)
		return fail(error_r,
		            "too many arguments: '%s' (expected [SRC] DEST)",
		            pos[2]);
	for (int i = 0; i < npos; i++) {
		if (*pos[i] == '\0')
			return fail(error_r, "empty %s location",
			            npos == 2 && i == 0 ? "source"
			                                : "destination");
	}
	if (npos == 2) {
		opts->src = pos[0];
		opts->dest = pos[1];
	} else {
		opts->dest = pos[0];
	}
	if (opts->all_namespaces && !is_remote_dest(opts->dest))
		return fail(error_r, "-N requires a remote destination "
		                     "(remote:, tcp: or tcps:)");
	return 0;
}

int mf_sync_opts_parse(struct mf_sync_opts *opts, bool backup, time_t now,
                       int argc, char *const argv[], char **error_r)
{
	static const char with_value[] = "lrmgnxastTeOIuFS";
	static const char no_value[] = "1fPRUNdAE";
	bool seen[256] = {false};
	bool dashdash = false;
	int i;

	mf_zero(opts);
	opts->mode = backup ? MF_SYNC_BACKUP : MF_SYNC_TWO_WAY;
	opts->io_timeout_secs = MF_SYNC_DEFAULT_IO_TIMEOUT;

	for (i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0) {
			i++;
			dashdash = true;
			break;
		}
		if (strcmp(arg, "--dry-run") == 0) {
			opts->dry_run = true;
			continue;
		}
		if (arg[0] == '-' && arg[1] == '-')
			return fail(error_r, "unknown option '%s'", arg);
		if (arg[0] != '-' || arg[1] == '\0')
			break;
		for (const char *p = arg + 1; *p != '\0'; p++) {
			const char *value = NULL;

			if (strchr(with_value, *p) != NULL) {
				if (p[1] != '\0')
					value = p + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else
					return fail(error_r,
					            "option -%c needs a value",
					            *p);
			} else if (strchr(no_value, *p) == NULL) {
				if (!isprint((unsigned char)*p))
					return fail(error_r,
					            "unknown option in '%s'",
					            arg);
				return fail(error_r, "unknown option -%c%s", *p,
				            *p == 'D' || *p == 'v' ||
				                    *p == 'c' || *p == 'o'
				                ? " (global options go "
				                  "before the command)"
				                : "");
			}
			if (parse_option(opts, backup, now, *p, value, seen,
			                 error_r) < 0)
				return -1;
			if (value != NULL)
				break;
		}
	}
	for (int j = i; j < argc && !dashdash; j++) {
		if (argv[j][0] == '-' && argv[j][1] != '\0')
			return fail(error_r,
			            "option '%s' after the destination: "
			            "options go before it",
			            argv[j]);
	}
	if (seen[(unsigned char)'m'] && seen[(unsigned char)'g'])
		return fail(error_r, "-m and -g are mutually exclusive");
	return validate(opts, argc - i, argv + i, error_r);
}
