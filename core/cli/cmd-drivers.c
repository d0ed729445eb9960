/* SPDX-License-Identifier: MIT */
/* mailferry drivers */
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-cli.h"
#include "mf-driver.h"

static const struct {
	uint32_t bit;
	const char *name;
} cap_names[] = {
    {MAILFERRY_CAP_MSG_GUIDS, "msg-guids"},
    {MAILFERRY_CAP_SAVE_GUID, "save-guid"},
    {MAILFERRY_CAP_SAVE_UID, "save-uid"},
    {MAILFERRY_CAP_MODSEQ, "modseq"},
    {MAILFERRY_CAP_CHANGE_LOG, "change-log"},
    {MAILFERRY_CAP_MAILBOX_GUIDS, "mailbox-guids"},
    {MAILFERRY_CAP_MAILBOX_LOG, "mailbox-log"},
    {MAILFERRY_CAP_KEYWORDS, "keywords"},
    {MAILFERRY_CAP_POP3, "pop3"},
    {MAILFERRY_CAP_PURGE, "purge"},
    {MAILFERRY_CAP_READONLY, "read-only"},
    {MAILFERRY_CAP_GUID128_ONLY, "guid128-only"},
    {MAILFERRY_CAP_SUBSCRIPTIONS, "subscriptions"},
    {MAILFERRY_CAP_SET_UIDVALIDITY, "set-uidvalidity"},
    {MAILFERRY_CAP_DATES, "dates"},
};

static void caps_string(struct mf_buf *buf, uint32_t caps)
{
	uint32_t known = 0;

	for (size_t i = 0; i < MF_N_ELEMENTS(cap_names); i++) {
		known |= cap_names[i].bit;
		if ((caps & cap_names[i].bit) != 0)
			mf_buf_printf(buf, "%s%s", buf->len > 0 ? "," : "",
			              cap_names[i].name);
	}
	if ((caps & ~known) != 0)
		mf_buf_printf(buf, "%s0x%x", buf->len > 0 ? "," : "",
		              caps & ~known);
	if (buf->len == 0)
		mf_buf_append_c(buf, '-');
}

int mf_cmd_drivers(struct mf_cli *cli, int argc, char **argv)
{
	struct mf_fmt *fmt;

	if (mf_cli_reject_options(cli, argc, argv) != MF_EX_OK)
		return MF_EX_USAGE;
	if (argc > 0)
		return mf_cli_usage_error(cli, "unexpected argument '%s'",
		                          argv[0]);
	mf_drivers_set_log_refusals(false);
	mf_drivers_load();

	fmt = mf_fmt_new(mf_cli_fmt(cli, MF_FMT_FLOW), stdout);
	mf_fmt_header(fmt, "name", 0);
	mf_fmt_header(fmt, "version", 0);
	mf_fmt_header(fmt, "abi", 0);
	mf_fmt_header(fmt, "caps", 0);
	mf_fmt_header(fmt, "file", 0);
	mf_fmt_header(fmt, "status", 0);
	for (size_t i = 0; i < mf_driver_count(); i++) {
		const struct mf_driver *drv = mf_driver_at(i);
		struct mf_buf buf = MF_BUF_INIT;

		mf_fmt_value(fmt, drv->desc->name);
		mf_fmt_value(fmt, drv->desc->version);
		mf_buf_printf(&buf, "%u.%u", drv->desc->abi_major,
		              drv->desc->abi_minor);
		mf_fmt_value(fmt, mf_buf_str(&buf));
		mf_buf_truncate(&buf, 0);
		caps_string(&buf, drv->desc->caps);
		mf_fmt_value(fmt, mf_buf_str(&buf));
		mf_fmt_value(fmt, drv->path);
		mf_fmt_value(fmt, "loaded");
		mf_buf_free(&buf);
	}
	for (size_t i = 0; i < mf_driver_refused_count(); i++) {
		const struct mf_driver_refusal *r = mf_driver_refused_at(i);
		const char *reason = strstr(r->reason, " refused: ");

		mf_fmt_value(fmt, "-");
		mf_fmt_value(fmt, "-");
		mf_fmt_value(fmt, "-");
		mf_fmt_value(fmt, "-");
		mf_fmt_value(fmt, r->path);
		if (reason != NULL) {
			char *status =
			    mf_strdup_printf("refused: %s", reason + 10);

			mf_fmt_value(fmt, status);
			free(status);
		} else {
			mf_fmt_value(fmt, r->reason);
		}
	}
	if (mf_fmt_finish(&fmt) < 0)
		return mf_cli_fail(MF_EX_TEMPFAIL, "writing the output failed");
	return MF_EX_OK;
}
