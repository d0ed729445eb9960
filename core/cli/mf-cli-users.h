/* SPDX-License-Identifier: MIT */
/*
 * mf-cli-users.h - the users a command runs for (-u, -A, -F), picked as
 * doveadm picks them, with the system user database standing in for
 * Dovecot's default userdb (passwd).
 */
#ifndef MF_CLI_USERS_H
#define MF_CLI_USERS_H

#include <stdbool.h>

struct mf_settings;

struct mf_cli_user {
	char *name;
	char *home; /* NULL: not in the user database (a virtual user) */
};

struct mf_cli_users {
	struct mf_cli_user *items;
	unsigned int count;
};

/* Fill *users_r for -u USER (a name, or a mask with '*' / '?' matched
 * against the users -A would list), -A (every system user whose uid is
 * within the first_valid_uid / last_valid_uid settings, as Dovecot's
 * passwd userdb), or -F FILE (the first word of each non-empty line).
 * Exactly one of user, all, file is set. Returns 0, or -1 with an
 * allocated one-line *error_r. An empty result is not an error. */
int mf_cli_users_get(const struct mf_settings *set, const char *user, bool all,
                     const char *file, struct mf_cli_users *users_r,
                     char **error_r);
void mf_cli_users_free(struct mf_cli_users *users);

#endif
