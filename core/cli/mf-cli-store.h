/* SPDX-License-Identifier: MIT */
/* mf-cli-store.h - opening a location and listing its mailboxes for the
 * read-only commands (mailbox list/status, fetch). */
#ifndef MF_CLI_STORE_H
#define MF_CLI_STORE_H

#include "mf-array.h"
#include "mf-cli.h"
#include "mf-driver.h"

/* Open location with the run's settings, $USER and $HOME (from the
 * password database when unset); flags: enum mailferry_storage_open_flags.
 * Returns MF_EX_OK, or prints the error and returns the exit code. */
int mf_cli_open_storage_flags(struct mf_cli *cli, const char *location,
                              uint32_t flags, struct mf_storage **storage_r);
/* The same, read-only (the inspection commands). */
int mf_cli_open_storage(struct mf_cli *cli, const char *location,
                        struct mf_storage **storage_r);

struct mf_cli_mailbox {
	char *name;
	uint32_t flags; /* enum mailferry_mailbox_flags */
};
struct mf_cli_mailboxes {
	MF_ARRAY(struct mf_cli_mailbox) list;
};

/* Collect the mailboxes matching any of masks (all when count is 0), in
 * the driver's order. Returns MF_EX_OK or prints the error and returns the
 * exit code. */
int mf_cli_list_mailboxes(struct mf_storage *storage, char **masks,
                          int mask_count, struct mf_cli_mailboxes *boxes);
void mf_cli_mailboxes_free(struct mf_cli_mailboxes *boxes);
/* A mask without wildcards names one mailbox: if it matched nothing,
 * print "<location>: mailbox NAME: not found" and return MF_EX_NOTFOUND. */
int mf_cli_check_names(struct mf_storage *storage, char **masks, int mask_count,
                       const struct mf_cli_mailboxes *boxes);

/* Print "mailferry: <location>: <what>: <driver detail>" for a failed
 * call and return its exit code. */
int mf_cli_storage_fail(struct mf_storage *storage, int error, const char *fmt,
                        ...) MF_PRINTF(3, 4);

#endif
