/* SPDX-License-Identifier: MIT */
/*
 * imapc-settings.h - the imapc_* settings, read from the location's options
 * first and the user's configuration second, into client settings.
 *
 * Locations: "imap://[user@]host[:port]/", "imaps://..." (the core turns
 * them into imapc_host/port/user/ssl options) or "imapc:" with settings.
 *
 *   imapc_host, imapc_port        server (port 143, or 993 for imaps)
 *   imapc_user                    login name (default: the mail user)
 *   imapc_master_user             log in as this master user for
 *                                 imapc_user (AUTHENTICATE PLAIN authzid)
 *   imapc_password                secret; or imapc_password_file (first
 *                                 line), or $MAILFERRY_IMAPC_PASSWORD
 *   imapc_oauth2_token_file       OAuth2 token, or imapc_oauth2_token_command
 *                                 (its output); implies OAUTHBEARER
 *   imapc_sasl_mechanisms         plain | login | xoauth2 | oauthbearer
 *                                 (default: PLAIN when offered, else LOGIN)
 *   imapc_ssl                     no | imaps | starttls (a configured
 *                                 starttls upgrades an imap:// URL)
 *   imapc_ssl_verify              yes (default) | no (warns loudly)
 *   imapc_ssl_ca_file             CA file instead of the system's CAs
 *                                 (also read: ssl_client_ca_file)
 *   imapc_list_prefix             only mailboxes under this remote prefix,
 *                                 named relative to it (INBOX too when it
 *                                 is "INBOX" + separator); unset: the
 *                                 personal namespace's prefix from
 *                                 NAMESPACE when the server offers it
 *   imapc_features                words switching capabilities off:
 *                                 no-qresync no-condstore no-literal+
 *                                 no-uidplus no-multiappend no-list-status
 *                                 no-list-extended no-x-guid no-objectid
 *                                 no-sasl-ir no-namespace no-utf8 no-move
 *                                 no-create-special-use; "x-guid" forces
 *                                 X-GUID; Dovecot's other words are
 *                                 ignored
 *   imapc_cmd_timeout             seconds without an answer (default 300)
 *   imapc_connection_timeout_interval  connect timeout (default 30 s)
 *   imapc_connection_retry_count  reconnect attempts (default 3)
 *   imapc_connection_retry_interval  first back-off in ms (default 1000,
 *                                 doubling, at most 30 s)
 *   imapc_max_idle_time           a connection idle this long between
 *                                 operations gets a NOOP, so servers and
 *                                 NAT boxes do not drop it (default 29
 *                                 mins, as Dovecot; 0 = never)
 *   imapc_rate_limit              bytes/s read (k/M/G suffixes)
 *   imapc_prefetch_window         bytes of bodies and APPENDs in flight
 *                                 (default 8M)
 *   imapc_rawlog                  append the IMAP traffic to this file,
 *                                 secrets masked (or $MAILFERRY_RAWLOG)
 *   imapc_command                 talk to this shell command's stdio
 *                                 instead of TCP (tests; e.g. "doveadm
 *                                 exec imap" gives a PREAUTH session)
 */
#ifndef IMAPC_SETTINGS_H
#define IMAPC_SETTINGS_H

#include <mailferry/driver.h>

#include "imapc-client.h"

struct imapc_settings {
	struct imapc_client_settings client;
	char *list_prefix;       /* "" when unset */
	uint64_t window;         /* imapc_prefetch_window */
	uint64_t max_idle_msecs; /* imapc_max_idle_time, 0 = no keepalive */
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
