/* SPDX-License-Identifier: MIT */
/* mailferry mailbox list [-s] LOCATION [MASK]... */
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-cli-store.h"
#include "mf-cli-util.h"

/* -s: the subscribed names (which need not exist), in the driver's order.
 * A store that keeps no subscriptions has none. */
static int list_subscriptions(struct mf_storage *storage, char **masks,
                              int mask_count, struct mf_cli_mailboxes *boxes)
{
	struct mailferry_subs_iter *iter;
	const char *name;
	int ret, ret2;

	if (!MF_HAS_OP(storage, subscriptions_begin))
		return MF_EX_OK;
	ret = storage->ops->subscriptions_begin(storage->st, &iter);
	if (ret == MAILFERRY_E_NOTSUPP)
		return MF_EX_OK;
	if (ret < 0)
		return mf_cli_storage_fail(storage, ret,
		                           "listing subscriptions");
	while ((ret = storage->ops->subscriptions_next(iter, &name)) > 0) {
		bool match = mask_count == 0;

		for (int i = 0; i < mask_count && !match; i++)
			match = mf_mask_match(masks[i], name,
			                      storage->info->hier_sep);
		if (match)
			mf_array_append_zero(&boxes->list)->name =
			    mf_strdup(name);
	}
	ret2 = storage->ops->subscriptions_end(&iter);
	if (ret == 0)
		ret = ret2;
	if (ret < 0)
		return mf_cli_storage_fail(storage, ret,
		                           "listing subscriptions");
	return MF_EX_OK;
}

int mf_cmd_mailbox_list(struct mf_cli *cli, int argc, char **argv)
{
	struct mf_cli_mailboxes boxes = {MF_ARRAY_INIT};
	struct mf_storage *storage;
	struct mf_fmt *fmt;
	bool subscribed = false;
	int ret;

	if (argc > 0 && strcmp(argv[0], "-s") == 0) {
		subscribed = true;
		argc--;
		argv++;
	}
	if (mf_cli_reject_options(cli, argc, argv) != MF_EX_OK)
		return MF_EX_USAGE;
	if (argc < 1)
		return mf_cli_usage_error(cli, "missing LOCATION");
	ret = mf_cli_open_storage(cli, argv[0], &storage);
	if (ret != MF_EX_OK)
		return ret;
	ret = subscribed
	          ? list_subscriptions(storage, argv + 1, argc - 1, &boxes)
	          : mf_cli_list_mailboxes(storage, argv + 1, argc - 1, &boxes);
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
