/* SPDX-License-Identifier: MIT */
/*
 * mf-location.h - mail locations in Dovecot syntax:
 *   driver:path[:KEY=VALUE]...     e.g. maildir:~/Maildir:LAYOUT=fs
 *   imap://[user@]host[:port]/      imaps://...  (the imapc driver)
 * "::" inside the path stands for a literal ':' as in Dovecot. ~ and the
 * variables %u (user), %n (user part before @), %d (domain part), %h (home)
 * and %% (also %{user} %{username} %{domain} %{home}) are expanded in the
 * path and option values. An upper-case option without '=' gets "".
 * IMAP URLs become driver "imapc", path "", and the lower-case options
 * imapc_host, imapc_port (143/993 by default), imapc_user, imapc_password
 * (only when given) and imapc_ssl ("imaps" or "no"). Neither display nor
 * any error message ever contains a password.
 */
#ifndef MF_LOCATION_H
#define MF_LOCATION_H

#include "mf-array.h"

struct mf_location_option {
	char *key;
	char *value;
};

struct mf_location {
	char *driver; /* "maildir", "imapc", ... */
	char *path;   /* expanded; "" when none */
	MF_ARRAY(struct mf_location_option) options;
	/* The original string, for messages (credentials removed). */
	char *display;
};

/* Variables for expansion; any may be NULL (then ~ and %h fail with a
 * clear error if used, %u/%n/%d expand to ""). */
struct mf_location_vars {
	const char *user;
	const char *home;
};

/* Parse str. Returns 0, or -1 with *error_r allocated ("location 'x': no
 * driver name before ':'"). */
int mf_location_parse(const char *str, const struct mf_location_vars *vars,
                      struct mf_location **loc_r, char **error_r);
void mf_location_free(struct mf_location **loc);
/* Value of option key (case-sensitive), or NULL. */
const char *mf_location_option(const struct mf_location *loc, const char *key);

#endif
