/* SPDX-License-Identifier: MIT */
/*
 * conf-env.c - location factories: one fresh location per test for every
 * driver kind the suite knows, filled with the fixture through the files
 * (read-only eml) or through the driver's own save path (the others).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mf-buf.h"
#include "mf-file.h"
#include "conf.h"

const char *conf_tmp_root;
const char *conf_srcdir;

enum conf_kind {
	KIND_UNKNOWN,
	KIND_LOCAL,  /* writable store in a directory: "NAME:TMP/NAME" */
	KIND_EML,    /* read-only tree written by the factory */
	KIND_REMOTE, /* imapc: only with MF_CONFORMANCE_IMAPC given */
};

static enum conf_kind driver_kind(const char *name)
{
	if (strcmp(name, "maildir") == 0 || strcmp(name, "sdbox") == 0 ||
	    strcmp(name, "mdbox") == 0)
		return KIND_LOCAL;
	if (strcmp(name, "eml") == 0)
		return KIND_EML;
	if (strcmp(name, "imapc") == 0)
		return KIND_REMOTE;
	return KIND_UNKNOWN;
}

static void write_file(const char *path, const void *data, size_t size)
{
	char *error;

	if (mf_file_write_atomic(path, data, size, 0644, false, &error) < 0)
		ck_abort_msg("%s", error);
}

static void mkdirs(const char *path)
{
	char *error;

	if (mf_mkdir_parents(path, 0755, &error) < 0)
		ck_abort_msg("%s", error);
}

/* The eml layout: the root's files are INBOX, "a/b" is directory a/b. */
static void eml_populate(const char *root, unsigned setup)
{
	const struct conf_fixture *fx = conf_fixture();

	mkdirs(root);
	for (size_t i = 0; (setup & CONF_FIXTURE) != 0 && i < fx->boxes.count;
	     i++) {
		const struct conf_box *box = &fx->boxes.items[i];
		char *dir = strcmp(box->name, "INBOX") == 0
		                ? mf_strdup(root)
		                : mf_strdup_printf("%s/%s", root, box->name);
		mkdirs(dir);
		for (size_t m = 0; m < box->msgs.count; m++) {
			char *path =
			    mf_strdup_printf("%s/%02zu.eml", dir, m + 1);
			write_file(path, box->msgs.items[m].data,
			           box->msgs.items[m].size);
			free(path);
		}
		free(dir);
	}
	if ((setup & CONF_BIG) != 0) {
		char *dir = mf_strdup_printf("%s/%s", root, CONF_BIG_BOX);
		char *path = mf_strdup_printf("%s/big.eml", dir);
		mkdirs(dir);
		conf_big_write_file(path);
		free(path);
		free(dir);
	}
}

/* Open INBOX, creating it only if the driver says it does not exist. */
static struct mailferry_mailbox *open_or_create(struct conf_env *env,
                                                const char *name)
{
	struct mailferry_mailbox *box = NULL;
	int ret;

	if (strcmp(name, "INBOX") != 0)
		conf_create(env, name, NULL, 0);
	ret = CONF_OPS(env)->mailbox_open(CONF_ST(env), conf_name(env, name), 0,
	                                  &box);
	if (ret == MAILFERRY_E_NOTFOUND && strcmp(name, "INBOX") == 0) {
		conf_create(env, name, NULL, 0);
		ret = CONF_OPS(env)->mailbox_open(
		    CONF_ST(env), conf_name(env, name), 0, &box);
	}
	ck_assert_msg(ret == 0, "%s: mailbox_open(%s) = %d: %s", env->name,
	              name, ret, CONF_ERR(env));
	return box;
}

/* Fill a writable store through the ABI, as a sync would. */
static void abi_populate(struct conf_env *env, unsigned setup)
{
	const struct conf_fixture *fx = conf_fixture();

	for (size_t i = 0; (setup & CONF_FIXTURE) != 0 && i < fx->boxes.count;
	     i++) {
		const struct conf_box *fbox = &fx->boxes.items[i];
		struct mailferry_mailbox *box = open_or_create(env, fbox->name);
		struct conf_save *saves =
		    mf_calloc(fbox->msgs.count + 1, sizeof(*saves));

		for (size_t m = 0; m < fbox->msgs.count; m++) {
			saves[m].data = fbox->msgs.items[m].data;
			saves[m].size = fbox->msgs.items[m].size;
		}
		if (fbox->msgs.count > 0)
			free(conf_save_msgs(env, box, saves, fbox->msgs.count,
			                    NULL));
		free(saves);
		CONF_OPS(env)->mailbox_close(&box);
	}
	if ((setup & CONF_BIG) != 0) {
		struct mailferry_mailbox *box =
		    open_or_create(env, CONF_BIG_BOX);
		conf_save_big(env, box);
		CONF_OPS(env)->mailbox_close(&box);
	}
}

static void storage_open(struct conf_env *env)
{
	char *error = NULL;
	int ret;

	ret = mf_storage_open(env->location, NULL, NULL, env->tmp,
	                      env->open_flags, &env->storage, &error);
	ck_assert_msg(ret == 0, "%s: open %s: %s", env->name, env->location,
	              error);
	env->caps = env->storage->info->caps;
	env->sep = env->storage->info->hier_sep;
	env->readonly = (env->caps & MAILFERRY_CAP_READONLY) != 0;
}

/* MF_CONFORMANCE_<NAME>: a location template for any driver, "@TMP@"
 * standing for the test's fresh directory and "@ID@" for its base name (a
 * fresh account name on a server). NULL when unset. */
static char *env_location(const char *name, const char *tmp, char **var_r)
{
	struct mf_buf var = MF_BUF_INIT, loc = MF_BUF_INIT;
	const char *tmpl, *p, *at;

	mf_buf_append_str(&var, "MF_CONFORMANCE_");
	for (p = name; *p != '\0'; p++)
		mf_buf_append_c(&var, *p == '-' ? '_' : (char)toupper(*p));
	tmpl = getenv(mf_buf_str(&var));
	if (var_r != NULL)
		*var_r = mf_buf_detach(&var);
	mf_buf_free(&var);
	if (tmpl == NULL || tmpl[0] == '\0')
		return NULL;
	if (tmp == NULL)
		return mf_strdup(tmpl);
	for (p = tmpl; (at = strchr(p, '@')) != NULL;) {
		mf_buf_append(&loc, p, (size_t)(at - p));
		if (mf_str_begins(at, "@TMP@")) {
			mf_buf_append_str(&loc, tmp);
			p = at + 5;
		} else if (mf_str_begins(at, "@ID@")) {
			mf_buf_append_str(&loc, strrchr(tmp, '/') + 1);
			p = at + 4;
		} else {
			mf_buf_append_c(&loc, '@');
			p = at + 1;
		}
	}
	mf_buf_append_str(&loc, p);
	return mf_buf_detach(&loc);
}

int conf_driver_selected(const char *name)
{
	const char *list = getenv("MF_CONFORMANCE_DRIVERS");
	size_t len = strlen(name);

	if (list == NULL || list[0] == '\0')
		return 1;
	for (const char *p = list; (p = strstr(p, name)) != NULL; p += len) {
		if ((p == list || p[-1] == ',') &&
		    (p[len] == '\0' || p[len] == ','))
			return 1;
	}
	return 0;
}

int conf_begin(struct conf_env *env, int idx, unsigned setup)
{
	enum conf_kind kind;
	char *tmpl, *var;

	memset(env, 0, sizeof(*env));
	env->drv = mf_driver_at((size_t)idx);
	ck_assert_ptr_nonnull(env->drv);
	env->name = env->drv->desc->name;
	kind = driver_kind(env->name);
	if (!conf_driver_selected(env->name)) {
		printf("%s: skipped: not in MF_CONFORMANCE_DRIVERS\n",
		       env->name);
		return -1;
	}
	env->remote = kind == KIND_REMOTE;

	tmpl = env_location(env->name, NULL, &var);
	if (tmpl == NULL && (kind == KIND_UNKNOWN || kind == KIND_REMOTE)) {
		printf("%s: skipped: no location factory for this driver (%s); "
		       "set %s to the location of a disposable store, @TMP@ "
		       "standing for a fresh directory\n",
		       env->name, env->drv->path, var);
		free(var);
		return -1;
	}
	free(tmpl);
	free(var);

	env->tmp = mf_strdup_printf("%s/%s-XXXXXX", conf_tmp_root, env->name);
	ck_assert_msg(mkdtemp(env->tmp) != NULL, "mkdtemp(%s): %s", env->tmp,
	              strerror(errno));
	env->location = env_location(env->name, env->tmp, NULL);
	if (env->location != NULL) {
		env->open_flags = MAILFERRY_STORAGE_CREATE;
		kind = KIND_UNKNOWN; /* the user's store: filled via the ABI */
	} else if (kind == KIND_EML) {
		char *root = mf_strdup_printf("%s/eml", env->tmp);
		eml_populate(root, setup);
		env->location = mf_strdup_printf("eml:%s", root);
		free(root);
	} else {
		env->location = mf_strdup_printf("%s:%s/%s", env->name,
		                                 env->tmp, env->name);
		env->open_flags = MAILFERRY_STORAGE_CREATE;
	}
	storage_open(env);
	if (env->readonly && kind != KIND_EML && setup != CONF_EMPTY) {
		printf("%s: skipped: a read-only store the suite cannot fill "
		       "with its fixture\n",
		       env->name);
		conf_end(env);
		return -1;
	}
	if (!env->readonly)
		abi_populate(env, setup);
	return 0;
}

void conf_reopen(struct conf_env *env)
{
	mf_storage_close(&env->storage);
	storage_open(env);
}

int conf_skip_without(struct conf_env *env, uint32_t caps, const char *what)
{
	if ((env->caps & caps) == caps)
		return 0;
	printf("%s: %s skipped: capability not claimed\n", env->name, what);
	return 1;
}

void conf_end(struct conf_env *env)
{
	mf_storage_close(&env->storage);
	/* main() removes whatever a crashed test left behind */
	if (env->tmp != NULL)
		conf_rmtree(env->tmp);
	free(env->tmp);
	free(env->location);
	memset(env, 0, sizeof(*env));
}
