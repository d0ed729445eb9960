/* SPDX-License-Identifier: MIT */
/*
 * Store maintenance: `mailferry purge LOCATION` (reclaim the space of
 * expunged mail, as doveadm purge) and `mailferry force-resync LOCATION
 * [MASK]...` (rebuild indexes from the mail files, as doveadm
 * force-resync). Both go through the driver's optional slots; a driver
 * without them has nothing to purge, and is resynced by opening and
 * refreshing every mailbox, which is what rescanning means for it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mf-cli.h"
#include "mf-cli-store.h"
#include "mf-driver.h"
#include "mf-log.h"

static int open_store(struct mf_cli *cli, int argc, char **argv, int max_args,
                      struct mf_storage **storage_r)
{
	if (mf_cli_reject_options(cli, argc, argv) != MF_EX_OK)
		return MF_EX_USAGE;
	if (argc < 1)
		return mf_cli_usage_error(cli, "missing LOCATION");
	if (max_args > 0 && argc > max_args)
		return mf_cli_usage_error(cli, "unexpected argument '%s'",
		                          argv[max_args]);
	return mf_cli_open_storage_flags(cli, argv[0], 0, storage_r);
}

int mf_cmd_purge(struct mf_cli *cli, int argc, char **argv)
{
	struct mf_storage *storage = NULL;
	int ret = open_store(cli, argc, argv, 1, &storage);

	if (ret != MF_EX_OK)
		return ret;
	if (!MF_HAS_OP(storage, purge)) {
		mf_debug("%s: the %s driver keeps no space to purge",
		         storage->location, storage->driver->desc->name);
	} else if ((ret = storage->ops->purge(storage->st)) < 0) {
		ret = mf_cli_storage_fail(storage, ret, "purge");
	}
	mf_storage_close(&storage);
	return ret < 0 ? MF_EX_TEMPFAIL : ret;
}

/* Rescan one mailbox by opening and refreshing it. */
static int refresh_mailbox(struct mf_storage *storage, const char *name)
{
	struct mailferry_mailbox *box = NULL;
	struct mailferry_mailbox_status status;
	int ret;

	ret = storage->ops->mailbox_open(storage->st, name, 0, &box);
	if (ret < 0)
		return mf_cli_storage_fail(storage, ret, "mailbox %s", name);
	ret = storage->ops->mailbox_status(box, &status);
	storage->ops->mailbox_close(&box);
	if (ret < 0)
		return mf_cli_storage_fail(storage, ret, "mailbox %s", name);
	return MF_EX_OK;
}

int mf_cmd_force_resync(struct mf_cli *cli, int argc, char **argv)
{
	struct mf_storage *storage = NULL;
	struct mf_cli_mailboxes boxes;
	int ret = open_store(cli, argc, argv, 0, &storage);

	if (ret != MF_EX_OK)
		return ret;
	memset(&boxes, 0, sizeof(boxes));
	ret = mf_cli_list_mailboxes(storage, argv + 1, argc - 1, &boxes);
	if (ret == MF_EX_OK)
		ret = mf_cli_check_names(storage, argv + 1, argc - 1, &boxes);
	for (size_t i = 0; ret == MF_EX_OK && i < boxes.list.count; i++) {
		const struct mf_cli_mailbox *b = &boxes.list.items[i];

		if ((b->flags & MAILFERRY_MAILBOX_NOSELECT) != 0)
			continue;
		if (MF_HAS_OP(storage, force_resync)) {
			int r =
			    storage->ops->force_resync(storage->st, b->name);

			if (r < 0)
				ret = mf_cli_storage_fail(
				    storage, r, "force-resync %s", b->name);
		} else {
			ret = refresh_mailbox(storage, b->name);
		}
	}
	mf_cli_mailboxes_free(&boxes);
	mf_storage_close(&storage);
	return ret;
}
