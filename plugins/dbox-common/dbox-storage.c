/* SPDX-License-Identifier: MIT */
/* Storage open/close, errors and the driver entry point shared by sdbox
 * and mdbox. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "dbox-ops.h"

const struct mailferry_core_api *dbox_api;

int dbox_error(struct mailferry_storage *st, int code, const char *fmt, ...)
{
	char *text;
	va_list args;
	struct mf_buf buf = MF_BUF_INIT;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	text = mf_buf_detach(&buf);
	dbox_api->set_error(st != NULL ? st->ctx : NULL, code, "%s", text);
	if (st != NULL) {
		free(st->last_error);
		st->last_error = text;
	} else {
		free(text);
	}
	return code;
}

int dbox_error_take(struct mailferry_storage *st, int code, char *err)
{
	dbox_error(st, code, "%s", err != NULL ? err : "unknown error");
	free(err);
	return code;
}

int dbox_errno_code(int err)
{
	switch (err) {
	case ENOENT:
		return MAILFERRY_E_NOTFOUND;
	case EEXIST:
	case ENOTEMPTY:
		return MAILFERRY_E_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return MAILFERRY_E_PERM;
	case ENOSPC:
	case EDQUOT:
		return MAILFERRY_E_NOSPACE;
	case ENOMEM:
		return MAILFERRY_E_NOMEM;
	default:
		return MAILFERRY_E_TEMP;
	}
}

void dbox_crash_point(const char *name)
{
	static const char *want;
	static bool read_env;
	static unsigned long count = 1, passed;
	size_t len;

	if (!read_env) {
		const char *colon;

		read_env = true;
		want = getenv("MAILFERRY_DBOX_CRASH_AT");
		if (want != NULL && (colon = strchr(want, ':')) != NULL)
			count = strtoul(colon + 1, NULL, 10);
	}
	if (want == NULL)
		return;
	len = strcspn(want, ":");
	if (strlen(name) != len || strncmp(name, want, len) != 0)
		return;
	if (++passed >= count)
		(void)kill(getpid(), SIGKILL);
}

/* A file or directory we created could not get its owner or mode. That
 * fails alike for every file (e.g. root squashed on NFS): say so a few
 * times, not once per message. */
#define DBOX_PERM_WARN_MAX 5

static void perm_warn(void *context, const char *text)
{
	struct mailferry_storage *st = context;

	if (st->perm_warnings >= DBOX_PERM_WARN_MAX)
		return;
	st->perm_warnings++;
	dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING, "%s%s", text,
	              st->perm_warnings == DBOX_PERM_WARN_MAX
	                  ? " (further such warnings suppressed)"
	                  : "");
}

/* Dovecot keeps <root>/dbox-alt-root -> ALT path so that a changed ALT
 * setting is noticed; keep it the same way. */
static void alt_symlink_check(struct mailferry_storage *st)
{
	char *link_path = mf_strdup_printf("%s/" DBOX_ALT_SYMLINK, st->root);
	char target[4096];
	ssize_t n = readlink(link_path, target, sizeof(target) - 1);

	if (n < 0 && errno == ENOENT && !st->readonly) {
		if (symlink(st->alt_root, link_path) < 0) {
			if (errno != EEXIST)
				dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
				              "symlink(%s, %s) failed: %s",
				              st->alt_root, link_path,
				              strerror(errno));
		} else {
			(void)mf_perm_fix_path(&st->perm, link_path, false);
		}
	} else if (n >= 0) {
		target[n] = '\0';
		if (strcmp(target, st->alt_root) != 0)
			dbox_api->log(st->ctx, MAILFERRY_LOG_WARNING,
			              "alternate storage path changed from %s "
			              "to %s (%s)",
			              target, st->alt_root, link_path);
	}
	free(link_path);
}

static int storage_open(struct mailferry_ctx *ctx,
                        const struct mailferry_open_params *params,
                        struct mailferry_storage **storage_r,
                        const struct dbox_format *fmt)
{
	struct mailferry_storage *st = mf_calloc(1, sizeof(*st));
	struct stat sb;
	char *err = NULL;
	int ret;

	st->fmt = fmt;
	st->ctx = ctx;
	st->readonly = (params->flags & MAILFERRY_STORAGE_READONLY) != 0;
	if (params->path == NULL || params->path[0] == '\0') {
		ret = dbox_error(st, MAILFERRY_E_INVALID,
		                 "%s: location needs a path (%s:/path/to/mail)",
		                 fmt->name, fmt->name);
		goto fail;
	}
	st->root = mf_strdup(params->path);
	while (strlen(st->root) > 1 && mf_str_ends(st->root, "/"))
		st->root[strlen(st->root) - 1] = '\0';
	ret = dbox_settings_read(st, params);
	if (ret < 0)
		goto fail;
	/* before the root is made: a root we create ourselves tells
	 * nothing about who the mail belongs to; its parent does (run as
	 * root into a user's directory, the new store is the user's) */
	mf_perm_init_store(&st->perm, st->root, perm_warn, st);
	if (!st->readonly && (params->flags & MAILFERRY_STORAGE_CREATE) != 0 &&
	    mf_perm_owner_from_parent(&st->perm, st->root))
		dbox_api->log(ctx, MAILFERRY_LOG_DEBUG,
		              "%s: new store, owned like its parent directory "
		              "(uid %ld, gid %ld)",
		              st->root, (long)st->perm.uid, (long)st->perm.gid);
	if (stat(st->root, &sb) < 0) {
		if (errno != ENOENT ||
		    (params->flags & MAILFERRY_STORAGE_CREATE) == 0 ||
		    st->readonly) {
			ret = dbox_error(st, dbox_errno_code(errno),
			                 "%s: stat(%s) failed: %s", fmt->name,
			                 st->root, strerror(errno));
			goto fail;
		}
		if (mf_perm_mkdir_parents(&st->perm, st->root, &err) < 0) {
			ret = dbox_error_take(st, dbox_errno_code(errno), err);
			goto fail;
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		ret = dbox_error(st, MAILFERRY_E_INVALID,
		                 "%s: %s is not a directory", fmt->name,
		                 st->root);
		goto fail;
	}
	if (st->alt_root != NULL)
		alt_symlink_check(st);
	if (fmt->storage_init != NULL) {
		ret = fmt->storage_init(st);
		if (ret < 0)
			goto fail;
	}
	st->display = st->alt_root == NULL
	                  ? mf_strdup_printf("%s:%s", fmt->name, st->root)
	                  : mf_strdup_printf("%s:%s:ALT=%s", fmt->name,
	                                     st->root, st->alt_root);
	st->info.struct_size = sizeof(st->info);
	st->info.caps = fmt->caps;
	if (st->readonly)
		st->info.caps |= MAILFERRY_CAP_READONLY;
	st->info.hier_sep = '/';
	st->info.display = st->display;
	*storage_r = st;
	return 0;
fail:
	if (st->fmt_data != NULL && fmt->storage_deinit != NULL)
		fmt->storage_deinit(st);
	free(st->last_error);
	free(st->root);
	free(st->alt_root);
	free(st);
	return ret;
}

/* Each driver's ops table calls through here with its own format; the
 * format is found via the descriptor registered at entry. */
static const struct dbox_format *entry_format;

void dbox_register_format(const struct dbox_format *fmt)
{
	entry_format = fmt;
}

int dbox_storage_open(struct mailferry_ctx *ctx,
                      const struct mailferry_open_params *params,
                      struct mailferry_storage **storage_r)
{
	return storage_open(ctx, params, storage_r, entry_format);
}

void dbox_storage_close(struct mailferry_storage **_st)
{
	struct mailferry_storage *st = *_st;

	if (st == NULL)
		return;
	*_st = NULL;
	if (st->fmt->storage_deinit != NULL)
		st->fmt->storage_deinit(st);
	free(st->display);
	free(st->last_error);
	free(st->root);
	free(st->alt_root);
	free(st);
}

int dbox_storage_info(struct mailferry_storage *st,
                      const struct mailferry_storage_info **info_r)
{
	*info_r = &st->info;
	return 0;
}

const struct mailferry_driver *
dbox_driver_entry(const struct mailferry_driver *desc,
                  const struct mailferry_core_api *api, uint32_t core_major)
{
	if (core_major != MAILFERRY_ABI_MAJOR) {
		api->log(NULL, MAILFERRY_LOG_ERROR,
		         "%s driver: built for ABI %u, core has ABI %u",
		         desc->name, MAILFERRY_ABI_MAJOR, core_major);
		return NULL;
	}
	dbox_api = api;
	return desc;
}
