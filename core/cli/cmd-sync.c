/* SPDX-License-Identifier: MIT */
/* mailferry sync / mailferry backup: option parsing and the engine call. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mf-alloc.h"
#include "mf-cli.h"
#include "mf-cli-store.h"
#include "mf-cli-users.h"
#include "mf-driver.h"
#include "mf-hex.h"
#include "mf-settings.h"
#include "mf-sync.h"
#include "mf-sync-opts.h"

/*
 * ENGINE HOOK - the one place the sync engine (core/engine) plugs in: the
 * validated command line becomes struct mf_sync_params, both locations are
 * opened (local = SRC or mail_location, remote = DEST or mail_replica) and
 * mf_sync_run() does the work. Prints the state (-s) on stdout, the
 * summary line on stderr, and the exit status follows doveadm's.
 */
static const char *sync_setting(struct mf_cli *cli, const char *key)
{
	const char *v =
	    cli->set != NULL ? mf_settings_get(cli->set, key) : NULL;
	return v != NULL && *v != '\0' ? v : NULL;
}

/* Split a space-separated setting into a NULL-terminated vector. */
static char **split_words(const char *str)
{
	char **v = mf_calloc(strlen(str) / 2 + 2, sizeof(char *));
	size_t n = 0;

	while (*str != '\0') {
		size_t len;
		while (*str == ' ' || *str == '\t')
			str++;
		len = strcspn(str, " \t");
		if (len > 0)
			v[n++] = mf_strndup(str, len);
		str += len;
	}
	return v;
}

static int sync_run(struct mf_cli *cli, const struct mf_sync_opts *opts)
{
	struct mf_sync_params p;
	struct mf_sync_result res;
	struct mf_storage *local = NULL, *remote = NULL;
	const char *src = opts->src, *dest = opts->dest, *v;
	char guid_hex[MF_GUID128_HEX_LEN], *lock_path = NULL, *summary;
	char **headers = NULL;
	bool local_is_source;
	uint64_t interval = 0, window = 0;
	char *error = NULL;
	int ret, code;

	if (src == NULL && (src = sync_setting(cli, "mail_location")) == NULL)
		return mf_cli_usage_error(cli,
		                          "no SRC given and the "
		                          "mail_location setting is empty");
	if (dest == NULL && (dest = sync_setting(cli, "mail_replica")) == NULL)
		return mf_cli_fail(MF_EX_CONFIG, "-d: the mail_replica setting "
		                                 "is empty");
	if (opts->all_mailbox != NULL)
		fprintf(stderr,
		        "mailferry: warning: -a is not supported yet "
		        "and is ignored (mails are copied from the other "
		        "side instead)\n");

	mf_zero(&p);
	p.mode = opts->mode == MF_SYNC_BACKUP    ? MF_ENGINE_BACKUP
	         : opts->mode == MF_SYNC_ONE_WAY ? MF_ENGINE_ONEWAY
	                                         : MF_ENGINE_TWOWAY;
	p.reverse = opts->reverse && p.mode != MF_ENGINE_TWOWAY;
	p.full = opts->full;
	p.state = opts->state;
	p.mailbox = opts->no_mail_sync ? "" : opts->mailbox;
	if (opts->have_mailbox_guid) {
		mf_guid128_to_hex(opts->mailbox_guid, guid_hex);
		p.mailbox_guid = guid_hex;
	}
	p.excludes = opts->excludes.items;
	p.exclude_count = opts->excludes.count;
	p.prefixes = opts->namespaces.items;
	p.prefix_count = opts->namespaces.count;
	p.received_after = opts->since;
	p.received_before = opts->until;
	p.max_size = opts->max_size;
	p.sync_flag = opts->sync_flag;
	p.sync_flag_negated = opts->sync_flag_negated;
	v = cli->user != NULL ? cli->home : getenv("HOME");
	if (opts->lock && opts->lock_timeout > 0 && v != NULL) {
		lock_path = mf_strdup_printf("%s/.dovecot-sync.lock", v);
		p.lock_secs = opts->lock_timeout;
		p.lock_path = lock_path;
	}
	p.purge = opts->purge_remote;
	p.dry_run = opts->dry_run;
	p.verbose = cli->verbose;
	if (cli->set != NULL &&
	    mf_settings_get_uint(cli->set, "dsync_commit_msgs_interval", 100,
	                         &interval, &error) < 0) {
		ret = mf_cli_fail(MF_EX_CONFIG, "%s", error);
		free(error);
		goto out;
	}
	p.commit_interval = (unsigned int)interval;
	/* messages per side the engine reads and decides at a time: memory
	 * follows it (0 = the engine's default) */
	if (cli->set != NULL &&
	    mf_settings_get_uint(cli->set, "dsync_msgs_window", 0, &window,
	                         &error) < 0) {
		ret = mf_cli_fail(MF_EX_CONFIG, "%s", error);
		free(error);
		goto out;
	}
	if (window > 100000000) {
		ret = mf_cli_fail(MF_EX_CONFIG,
		                  "dsync_msgs_window: %llu is too big",
		                  (unsigned long long)window);
		goto out;
	}
	p.window = (unsigned int)window;
	if ((v = sync_setting(cli, "dsync_hashed_headers")) != NULL) {
		headers = split_words(v);
		p.hashed_headers = (const char *const *)headers;
	}
	if ((v = sync_setting(cli, "dsync_features")) != NULL &&
	    strstr(v, "empty-header-workaround") != NULL)
		p.empty_header_workaround = true;

	/* The engine never changes the source of a backup / -1, but the
	 * source is not opened read-only: like Dovecot, a driver must be able
	 * to record its own bookkeeping there (a Maildir without
	 * dovecot-uidlist gets one), or its UIDs and UIDVALIDITY would not be
	 * stable from one run to the next and every incremental backup would
	 * start over. */
	local_is_source = p.mode != MF_ENGINE_TWOWAY && !p.reverse;
	ret = mf_cli_open_storage_flags(cli, src,
	                                p.mode == MF_ENGINE_TWOWAY ||
	                                        local_is_source
	                                    ? 0
	                                    : MAILFERRY_STORAGE_CREATE,
	                                &local);
	if (ret == MF_EX_OK)
		ret = mf_cli_open_storage_flags(cli, dest,
		                                p.mode == MF_ENGINE_TWOWAY ||
		                                        local_is_source
		                                    ? MAILFERRY_STORAGE_CREATE
		                                    : 0,
		                                &remote);
	if (ret != MF_EX_OK)
		goto out;

	ret = mf_sync_run(&p, local, remote, &res);
	code = mf_sync_exit_code(ret, &res);
	if (opts->state != NULL)
		printf("%s\n", res.state != NULL ? res.state : "");
	summary = mf_sync_summary(&res);
	fprintf(
	    stderr, "mailferry: %s%s%s%s%s\n", cli->user != NULL ? "user " : "",
	    cli->user != NULL ? cli->user : "", cli->user != NULL ? ": " : "",
	    p.dry_run ? "dry run: " : "", summary);
	free(summary);
	if (ret < 0)
		mf_cli_fail(code, "%s%s%s%s failed: %s",
		            cli->user != NULL ? "user " : "",
		            cli->user != NULL ? cli->user : "",
		            cli->user != NULL ? ": " : "",
		            p.mode == MF_ENGINE_BACKUP ? "backup" : "sync",
		            res.error != NULL ? res.error : mf_error_name(ret));
	else if (code == MF_EX_CHANGED)
		fprintf(stderr,
		        "mailferry: warning: mailbox changes caused a "
		        "desync, run the sync again: %s\n",
		        res.reason != NULL ? res.reason : "");
	mf_sync_result_free(&res);
	ret = code;
out:
	if (headers != NULL) {
		for (size_t i = 0; headers[i] != NULL; i++)
			free(headers[i]);
		free(headers);
	}
	free(lock_path);
	mf_storage_close(&remote);
	mf_storage_close(&local);
	return ret;
}

/* Which of two exit codes of users' runs the whole run reports: a
 * failure before "run again" before success. */
static int worse_code(int a, int b)
{
	if (a == MF_EX_OK || (a == MF_EX_CHANGED && b != MF_EX_OK))
		return b;
	return a;
}

/* -u/-A/-F: the sync once per user, locations expanded for each. */
static int sync_users(struct mf_cli *cli, const struct mf_sync_opts *opts)
{
	struct mf_cli_users users;
	char *error;
	int ret = MF_EX_OK;

	if (mf_cli_users_get(cli->set, opts->user, opts->all_users,
	                     opts->users_file, &users, &error) < 0) {
		ret = mf_cli_fail(MF_EX_CONFIG, "%s", error);
		free(error);
		return ret;
	}
	if (users.count == 0) {
		mf_cli_users_free(&users);
		return mf_cli_fail(MF_EX_NOUSER, "no user matches %s",
		                   opts->user != NULL ? opts->user
		                   : opts->all_users  ? "-A"
		                                      : opts->users_file);
	}
	if (opts->state != NULL && users.count > 1) {
		mf_cli_users_free(&users);
		return mf_cli_usage_error(cli, "-s: one state cannot serve "
		                               "several users");
	}
	for (unsigned int i = 0; i < users.count; i++) {
		cli->user = users.items[i].name;
		cli->home = users.items[i].home;
		ret = worse_code(ret, sync_run(cli, opts));
	}
	cli->user = cli->home = NULL;
	mf_cli_users_free(&users);
	return ret;
}

static int sync_command(struct mf_cli *cli, bool backup, int argc, char **argv)
{
	struct mf_sync_opts opts;
	char *error;
	int ret;

	if (mf_sync_opts_parse(&opts, backup, time(NULL), argc, argv, &error) <
	    0) {
		ret = mf_cli_usage_error(cli, "%s", error);
		free(error);
	} else if (opts.user != NULL || opts.all_users ||
	           opts.users_file != NULL) {
		ret = sync_users(cli, &opts);
	} else {
		ret = sync_run(cli, &opts);
	}
	mf_sync_opts_clear(&opts);
	return ret;
}

int mf_cmd_sync(struct mf_cli *cli, int argc, char **argv)
{
	return sync_command(cli, false, argc, argv);
}

int mf_cmd_backup(struct mf_cli *cli, int argc, char **argv)
{
	return sync_command(cli, true, argc, argv);
}
