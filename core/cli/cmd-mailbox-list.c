/* SPDX-License-Identifier: MIT */
/* mailferry mailbox list LOCATION [MASK]... */
#include <stdio.h>

#include "mf-cli-store.h"

int mf_cmd_mailbox_list(struct mf_cli *cli, int argc, char **argv)
{
	struct mf_cli_mailboxes boxes = {MF_ARRAY_INIT};
	struct mf_storage *storage;
	struct mf_fmt *fmt;
	int ret;

	if (mf_cli_reject_options(cli, argc, argv) != MF_EX_OK)
		return MF_EX_USAGE;
	if (argc < 1)
		return mf_cli_usage_error(cli, "missing LOCATION");
	ret = mf_cli_open_storage(cli, argv[0], &storage);
	if (ret != MF_EX_OK)
		return ret;
	ret = mf_cli_list_mailboxes(storage, argv + 1, argc - 1, &boxes);
	if (ret == MF_EX_OK) {
		fmt = mf_fmt_new(mf_cli_fmt(cli, MF_FMT_FLOW), stdout);
		mf_fmt_header(fmt, "mailbox", MF_FMT_HIDE_TITLE);
		for (size_t i = 0; i < boxes.list.count; i++)
			mf_fmt_value(fmt, boxes.list.items[i].name);
		if (mf_fmt_finish(&fmt) < 0)
			ret = mf_cli_fail(MF_EX_TEMPFAIL,
			                  "writing the output failed");
	}
	mf_cli_mailboxes_free(&boxes);
	mf_storage_close(&storage);
	return ret;
}
