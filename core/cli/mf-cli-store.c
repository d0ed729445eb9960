/* SPDX-License-Identifier: MIT */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-cli-store.h"
#include "mf-cli-util.h"

int mf_cli_open_storage(struct mf_cli *cli, const char *location,
                        struct mf_storage **storage_r)
{
	return mf_cli_open_storage_flags(cli, location,
	                                 MAILFERRY_STORAGE_READONLY, storage_r);
}

int mf_cli_open_storage_flags(struct mf_cli *cli, const char *location,
                              uint32_t flags, struct mf_storage **storage_r)
{
	const char *user = getenv("USER"), *home = getenv("HOME");
	char *error;
	int ret;

	if (cli->user != NULL) {
		user = cli->user;
		home = cli->home;
	} else if (user == NULL || home == NULL) {
		struct passwd *pw = getpwuid(getuid());

		if (pw != NULL) {
			if (user == NULL)
				user = pw->pw_name;
			if (home == NULL)
				home = pw->pw_dir;
		}
	}
	ret = mf_storage_open(location, cli->set, user, home, flags, storage_r,
	                      &error);
	if (ret < 0) {
		ret = mf_cli_fail(mf_cli_exit_code(ret), "%s", error);
		free(error);
		return ret;
	}
	return MF_EX_OK;
}

int mf_cli_storage_fail(struct mf_storage *storage, int error, const char *fmt,
                        ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	const char *detail = mf_storage_error(storage);
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	mf_cli_fail(mf_cli_exit_code(error), "%s: %s: %s", storage->location,
	            mf_buf_str(&buf),
	            *detail != '\0' ? detail : mf_error_name(error));
	mf_buf_free(&buf);
	return mf_cli_exit_code(error);
}

int mf_cli_list_mailboxes(struct mf_storage *storage, char **masks,
                          int mask_count, struct mf_cli_mailboxes *boxes)
{
	const struct mailferry_mailbox_info *info;
	struct mailferry_list_iter *iter;
	char sep = storage->info->hier_sep;
	int ret;

	ret = storage->ops->mailbox_list_begin(storage->st, 0, &iter);
	if (ret < 0)
		return mf_cli_storage_fail(storage, ret, "listing mailboxes");
	while ((ret = storage->ops->mailbox_list_next(iter, &info)) > 0) {
		bool match = mask_count == 0;
		struct mf_cli_mailbox *box;

		for (int i = 0; i < mask_count && !match; i++)
			match = mf_mask_match(masks[i], info->name, sep);
		if (!match)
			continue;
		box = mf_array_append_zero(&boxes->list);
		box->name = mf_strdup(info->name);
		box->flags = info->flags;
	}
	if (ret < 0) {
		int ret2;

		ret2 = mf_cli_storage_fail(storage, ret, "listing mailboxes");
		storage->ops->mailbox_list_end(&iter);
		return ret2;
	}
	ret = storage->ops->mailbox_list_end(&iter);
	if (ret < 0)
		return mf_cli_storage_fail(storage, ret, "listing mailboxes");
	return MF_EX_OK;
}

void mf_cli_mailboxes_free(struct mf_cli_mailboxes *boxes)
{
	for (size_t i = 0; i < boxes->list.count; i++)
		free(boxes->list.items[i].name);
	mf_array_free(&boxes->list);
}

int mf_cli_check_names(struct mf_storage *storage, char **masks, int mask_count,
                       const struct mf_cli_mailboxes *boxes)
{
	for (int i = 0; i < mask_count; i++) {
		bool found = false;

		if (strpbrk(masks[i], "*%") != NULL)
			continue;
		for (size_t b = 0; b < boxes->list.count && !found; b++)
			found =
			    mf_mask_match(masks[i], boxes->list.items[b].name,
			                  storage->info->hier_sep);
		if (!found)
			return mf_cli_fail(MF_EX_NOTFOUND,
			                   "%s: mailbox %s: not found",
			                   storage->location, masks[i]);
	}
	return MF_EX_OK;
}
