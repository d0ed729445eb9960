/* SPDX-License-Identifier: MIT */
/* mailferry sync / mailferry backup: option parsing and the engine call. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mf-cli.h"
#include "mf-sync-opts.h"

/*
 * ENGINE HOOK - the one place the sync engine plugs in.
 * The engine (core/engine) is a later piece of work; until it exists a
 * validated command line ends here with a temporary failure, so scripts
 * see "not done, try again later" rather than a false success.
 */
static int sync_run(struct mf_cli *cli, const struct mf_sync_opts *opts)
{
	(void)cli;
	(void)opts;
	return mf_cli_fail(MF_EX_TEMPFAIL, "sync engine not built yet");
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
