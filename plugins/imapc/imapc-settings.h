/* SPDX-License-Identifier: MIT */
/*
 * imapc-settings.h - the imapc_* settings, read from the location's options
 * first and the user's configuration second, into client settings.
 */
#ifndef IMAPC_SETTINGS_H
#define IMAPC_SETTINGS_H

#include <mailferry/driver.h>

#include "imapc-client.h"

struct imapc_settings {
	struct imapc_client_settings client;
	char *list_prefix; /* "" when unset */
	uint64_t window;   /* imapc_prefetch_window */
	/* strings owned here (client's const pointers point into them) */
	char *host, *user, *master_user, *password, *ca_file, *command, *rawlog;
};

/* Read every imapc setting. Returns 0, or a negative mailferry error with
 * *error_r allocated naming the setting and the bad value. */
int imapc_settings_read(struct mailferry_ctx *ctx,
                        const struct mailferry_open_params *params,
                        struct imapc_settings *set_r, char **error_r);
void imapc_settings_free(struct imapc_settings *set);

/* Parse "30", "30s", "5 mins", "2h" into seconds; -1 on bad input. */
int imapc_parse_secs(const char *str, uint64_t *secs_r);
/* Parse "1000", "64k", "2M", "1G" into bytes; -1 on bad input. */
int imapc_parse_size(const char *str, uint64_t *bytes_r);

#endif
