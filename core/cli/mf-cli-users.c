/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fnmatch.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf-alloc.h"
#include "mf-cli-users.h"
#include "mf-settings.h"

static void add_user(struct mf_cli_users *u, const char *name, const char *home)
{
	struct mf_cli_user *x;

	u->items = mf_reallocarray(u->items, u->count + 1, sizeof(*u->items));
	x = &u->items[u->count++];
	x->name = mf_strdup(name);
	x->home = home != NULL && *home != '\0' ? mf_strdup(home) : NULL;
}

/* The home of a user the system knows; NULL for virtual users. */
static const char *home_of(const char *name)
{
	struct passwd *pw = getpwnam(name);
	return pw != NULL ? pw->pw_dir : NULL;
}

static int read_file(const char *path, struct mf_cli_users *u, char **error_r)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (f == NULL) {
		*error_r = mf_strdup_printf("-F %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *end;

		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, " \t\r\n");
		if (end == p || *p == '#')
			continue;
		*end = '\0';
		add_user(u, p, home_of(p));
	}
	if (ferror(f)) {
		*error_r = mf_strdup_printf("-F %s: read error", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static int valid_uid_range(const struct mf_settings *set, uint64_t *first_r,
                           uint64_t *last_r, char **error_r)
{
	/* Dovecot's defaults: first_valid_uid = 500, last_valid_uid = 0
	 * (no limit) */
	if (set == NULL) {
		*first_r = 500;
		*last_r = 0;
		return 0;
	}
	if (mf_settings_get_uint(set, "first_valid_uid", 500, first_r,
	                         error_r) < 0 ||
	    mf_settings_get_uint(set, "last_valid_uid", 0, last_r, error_r) < 0)
		return -1;
	return 0;
}

static int all_users(const struct mf_settings *set, const char *mask,
                     struct mf_cli_users *u, char **error_r)
{
	uint64_t first, last;
	struct passwd *pw;

	if (valid_uid_range(set, &first, &last, error_r) < 0)
		return -1;
	setpwent();
	while ((pw = getpwent()) != NULL) {
		if (pw->pw_uid < first || (last != 0 && pw->pw_uid > last))
			continue;
		if (mask != NULL && fnmatch(mask, pw->pw_name, 0) != 0)
			continue;
		add_user(u, pw->pw_name, pw->pw_dir);
	}
	endpwent();
	return 0;
}

int mf_cli_users_get(const struct mf_settings *set, const char *user, bool all,
                     const char *file, struct mf_cli_users *users_r,
                     char **error_r)
{
	int ret = 0;

	users_r->items = NULL;
	users_r->count = 0;
	*error_r = NULL;
	if (file != NULL)
		ret = read_file(file, users_r, error_r);
	else if (all)
		ret = all_users(set, NULL, users_r, error_r);
	else if (user != NULL && strpbrk(user, "*?") != NULL)
		ret = all_users(set, user, users_r, error_r);
	else if (user != NULL)
		add_user(users_r, user, home_of(user));
	if (ret < 0)
		mf_cli_users_free(users_r);
	return ret;
}

void mf_cli_users_free(struct mf_cli_users *users)
{
	for (unsigned int i = 0; i < users->count; i++) {
		free(users->items[i].name);
		free(users->items[i].home);
	}
	free(users->items);
	users->items = NULL;
	users->count = 0;
}
