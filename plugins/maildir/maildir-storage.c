/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-mailbox-log.h"
#include "maildir-storage.h"

int maildir_errno_code(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
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
	case ENAMETOOLONG:
		return MAILFERRY_E_INVALID;
	default:
		return MAILFERRY_E_TEMP;
	}
}

int maildir_error(struct mailferry_storage *storage, int code, const char *fmt,
                  ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	maildir_api->set_error(storage == NULL ? NULL : storage->ctx, code,
	                       "%s", mf_buf_str(&buf));
	mf_buf_free(&buf);
	return code;
}

void maildir_log_warning(struct mailferry_storage *storage, const char *fmt,
                         ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	maildir_api->log(storage == NULL ? NULL : storage->ctx,
	                 MAILFERRY_LOG_WARNING, "%s", mf_buf_str(&buf));
	mf_buf_free(&buf);
}

void maildir_crash_point(const char *point)
{
	/* MAILFERRY_MAILDIR_CRASH="<point>[:<n>]": die at the n-th (default
	 * first) time the commit passes <point>, the way a kill -9 would.
	 * Only the crash tests set it; reading it costs one getenv(). */
	static unsigned int hits;
	const char *env = getenv("MAILFERRY_MAILDIR_CRASH");
	size_t len;
	unsigned long n = 1;

	if (env == NULL || *env == '\0')
		return;
	len = strcspn(env, ":");
	if (strlen(point) != len || strncmp(env, point, len) != 0)
		return;
	if (env[len] == ':')
		n = strtoul(env + len + 1, NULL, 10);
	if (++hits < n)
		return;
	(void)fflush(NULL);
	(void)raise(SIGKILL);
}

void maildir_race_point(const char *point)
{
	/* MAILFERRY_MAILDIR_RACE="<program>": run it with the point's name
	 * as its argument and wait for it, standing in for a mail client
	 * that happens to rename or delete files at that instant. Only the
	 * race tests set it. */
	const char *cmd = getenv("MAILFERRY_MAILDIR_RACE");
	pid_t pid;
	int status;

	if (cmd == NULL || *cmd == '\0')
		return;
	(void)fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execl(cmd, cmd, point, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		(void)waitpid(pid, &status, 0);
}

static void warn_to_log(void *context, const char *text)
{
	maildir_log_warning(context, "%s", text);
}

/* Fixing the owner or mode of new files fails alike for every file (e.g.
 * root squashed on NFS): say so a few times, not once per message. */
#define MAILDIR_PERM_WARN_MAX 5

static void perm_warn(void *context, const char *text)
{
	struct mailferry_storage *storage = context;

	if (storage->perm_warnings >= MAILDIR_PERM_WARN_MAX)
		return;
	storage->perm_warnings++;
	maildir_log_warning(storage, "%s%s", text,
	                    storage->perm_warnings == MAILDIR_PERM_WARN_MAX
	                        ? " (further such warnings suppressed)"
	                        : "");
}

bool maildir_fsync_commit(const struct mailferry_storage *storage)
{
	return storage->fsync_mode != MAILDIR_FSYNC_NEVER;
}

const char *maildir_control_root(const struct mailferry_storage *storage)
{
	return storage->control_root != NULL ? storage->control_root
	                                     : storage->root;
}

const char *maildir_index_root(const struct mailferry_storage *storage)
{
	return storage->index_root != NULL ? storage->index_root
	                                   : storage->root;
}

int maildir_box_paths(struct mailferry_storage *storage, const char *vname,
                      char **path_r, char **control_r, char **index_r)
{
	struct mf_buf rel = MF_BUF_INIT;
	const char *why = NULL;
	bool inbox = maildir_name_is_inbox(vname);

	if (maildir_layout_to_dir(storage->layout, vname, &rel, &why) < 0) {
		mf_buf_free(&rel);
		return maildir_error(storage, MAILFERRY_E_INVALID,
		                     "mailbox name '%s' is not valid: %s",
		                     vname, why);
	}
	if (path_r != NULL) {
		*path_r = inbox ? mf_strdup(storage->inbox_path)
		                : mf_strdup_printf("%s/%s", storage->root,
		                                   mf_buf_str(&rel));
	}
	if (control_r != NULL) {
		if (storage->control_root != NULL)
			*control_r = mf_strdup_printf(
			    "%s/%s", storage->control_root, mf_buf_str(&rel));
		else
			*control_r =
			    inbox ? mf_strdup(storage->inbox_path)
			          : mf_strdup_printf("%s/%s", storage->root,
			                             mf_buf_str(&rel));
	}
	if (index_r != NULL) {
		if (storage->index_root != NULL)
			*index_r = mf_strdup_printf(
			    "%s/%s", storage->index_root, mf_buf_str(&rel));
		else
			*index_r =
			    inbox ? mf_strdup(storage->inbox_path)
			          : mf_strdup_printf("%s/%s", storage->root,
			                             mf_buf_str(&rel));
	}
	mf_buf_free(&rel);
	return 0;
}

void maildir_mailbox_log_add(struct mailferry_storage *storage, uint8_t type,
                             const uint8_t guid[16])
{
	struct mf_mailbox_log_rec rec;
	char *path, *error = NULL;

	mf_zero(&rec);
	rec.type = type;
	memcpy(rec.guid, guid, 16);
	rec.timestamp = (int64_t)time(NULL);
	path = mf_strdup_printf("%s/dovecot.mailbox.log",
	                        maildir_index_root(storage));
	if (mf_mailbox_log_append_perm(path, &rec, 1, &storage->perm, &error) <
	    0) {
		maildir_log_warning(
		    storage, "%s: cannot log mailbox change: %s", path, error);
		free(error);
	}
	free(path);
}

bool maildir_peek_guid(struct mailferry_storage *storage, const char *vname,
                       uint8_t guid_r[16])
{
	struct maildir_uidlist ul;
	char *control = NULL, *path, *error = NULL;
	bool ret = false;

	memset(guid_r, 0, 16);
	if (maildir_box_paths(storage, vname, NULL, &control, NULL) < 0)
		return false;
	mf_zero(&ul);
	path = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, control);
	if (maildir_uidlist_read(&ul, path, NULL, &error) == 0 &&
	    ul.have_guid) {
		memcpy(guid_r, ul.guid, 16);
		ret = true;
	}
	free(error);
	free(path);
	free(control);
	maildir_uidlist_clear(&ul);
	return ret;
}

static int parse_fsync(struct mailferry_storage *storage, const char *value)
{
	if (value == NULL || strcmp(value, "optimized") == 0)
		storage->fsync_mode = MAILDIR_FSYNC_OPTIMIZED;
	else if (strcmp(value, "always") == 0)
		storage->fsync_mode = MAILDIR_FSYNC_ALWAYS;
	else if (strcmp(value, "never") == 0)
		storage->fsync_mode = MAILDIR_FSYNC_NEVER;
	else
		return maildir_error(storage, MAILFERRY_E_INVALID,
		                     "setting mail_fsync: invalid value '%s' "
		                     "(optimized, always or never)",
		                     value);
	return 0;
}

static const char *setting(struct mailferry_ctx *ctx, const char *key)
{
	const char *v = maildir_api->setting(ctx, key);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* mail_compress[_level], else Dovecot 2.3's zlib_save[_level] (the zlib
 * plugin's settings, found by their bare names in plugin { }). */
static int parse_compress(struct mailferry_storage *storage)
{
	const char *key = "mail_compress", *level_key = "mail_compress_level";
	const char *algo = setting(storage->ctx, key);
	char *error = NULL;

	if (algo == NULL) {
		key = "zlib_save";
		level_key = "zlib_save_level";
		algo = setting(storage->ctx, key);
	}
	if (mf_compress_parse_setting(
	        key, algo, level_key, setting(storage->ctx, level_key),
	        &storage->compress, &storage->compress_level, &error) < 0) {
		maildir_error(storage, MAILFERRY_E_INVALID, "%s", error);
		free(error);
		return MAILFERRY_E_INVALID;
	}
	return 0;
}

static void storage_free(struct mailferry_storage *storage)
{
	free(storage->root);
	free(storage->inbox_path);
	free(storage->control_root);
	free(storage->index_root);
	free(storage->display);
	free(storage);
}

static int parse_options(struct mailferry_storage *storage,
                         const struct mailferry_open_params *params,
                         bool *no_index_r)
{
	*no_index_r = false;
	for (size_t i = 0; i < params->option_count; i++) {
		const char *key = params->option_keys[i];
		const char *value = params->option_values[i];

		if (value == NULL)
			value = "";
		if (strcmp(key, "LAYOUT") == 0) {
			if (strcasecmp(value, "fs") == 0)
				storage->layout = MAILDIR_LAYOUT_FS;
			else if (strcasecmp(value, "maildir++") == 0)
				storage->layout = MAILDIR_LAYOUT_MAILDIRPP;
			else
				return maildir_error(
				    storage, MAILFERRY_E_INVALID,
				    "location option LAYOUT=%s: only "
				    "'maildir++' and 'fs' are supported",
				    value);
		} else if (strcmp(key, "INBOX") == 0) {
			free(storage->inbox_path);
			storage->inbox_path = mf_strdup(value);
		} else if (strcmp(key, "INDEX") == 0) {
			if (strcasecmp(value, "MEMORY") == 0) {
				*no_index_r = true;
			} else {
				free(storage->index_root);
				storage->index_root = mf_strdup(value);
			}
		} else if (strcmp(key, "CONTROL") == 0) {
			free(storage->control_root);
			storage->control_root = mf_strdup(value);
		} else if (strcmp(key, "UTF-8") == 0 ||
		           strcmp(key, "ALT") == 0 ||
		           strcmp(key, "DIRNAME") == 0 ||
		           strcmp(key, "FULLDIRNAME") == 0 ||
		           strcmp(key, "MAILBOXDIR") == 0 ||
		           strcmp(key, "SUBSCRIPTIONS") == 0) {
			return maildir_error(storage, MAILFERRY_E_INVALID,
			                     "location option %s is not "
			                     "supported by the maildir driver",
			                     key);
		} else {
			maildir_log_warning(storage,
			                    "location option %s=%s ignored "
			                    "(not used by the maildir driver)",
			                    key, value);
		}
		if ((strcmp(key, "INBOX") == 0 || strcmp(key, "CONTROL") == 0 ||
		     (strcmp(key, "INDEX") == 0 && !*no_index_r)) &&
		    value[0] != '/')
			return maildir_error(
			    storage, MAILFERRY_E_INVALID,
			    "location option %s=%s: an absolute "
			    "path is needed",
			    key, value);
	}
	return 0;
}

static int ensure_dir(struct mailferry_storage *storage, const char *path,
                      bool create)
{
	struct stat st;
	char *error = NULL;

	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return maildir_error(storage, MAILFERRY_E_INVALID,
			                     "%s is not a directory", path);
		return 0;
	}
	if (errno != ENOENT)
		return maildir_error(storage, maildir_errno_code(errno),
		                     "stat(%s) failed: %s", path,
		                     strerror(errno));
	if (!create)
		return maildir_error(storage, MAILFERRY_E_NOTFOUND,
		                     "maildir %s does not exist", path);
	if (mf_perm_mkdir_parents(&storage->perm, path, &error) < 0) {
		int code = maildir_errno_code(errno);

		maildir_error(storage, code, "%s", error);
		free(error);
		return code;
	}
	return 0;
}

static int maildir_storage_open(struct mailferry_ctx *ctx,
                                const struct mailferry_open_params *params,
                                struct mailferry_storage **storage_r)
{
	struct mailferry_storage *storage = mf_calloc(1, sizeof(*storage));
	bool create = (params->flags & MAILFERRY_STORAGE_CREATE) != 0;
	bool no_index;
	int ret;

	storage->ctx = ctx;
	storage->warn.fn = warn_to_log;
	storage->warn.context = storage;
	storage->lock_timeout_secs = MAILDIR_UIDLIST_LOCK_STALE_SECS + 2;
	storage->readonly = (params->flags & MAILFERRY_STORAGE_READONLY) != 0;
	if (params->path != NULL && params->path[0] != '\0') {
		storage->root = mf_strdup(params->path);
	} else if (params->home != NULL && params->home[0] != '\0') {
		storage->root = mf_strdup_printf("%s/Maildir", params->home);
	} else {
		storage_free(storage);
		return maildir_api->set_error(ctx, MAILFERRY_E_INVALID,
		                              "maildir location has no path "
		                              "and the user has no home");
	}
	/* "/x/Maildir/" and "/x/Maildir" are the same store */
	while (strlen(storage->root) > 1 && mf_str_ends(storage->root, "/"))
		storage->root[strlen(storage->root) - 1] = '\0';
	if ((ret = parse_options(storage, params, &no_index)) < 0 ||
	    (ret = parse_fsync(storage,
	                       maildir_api->setting(ctx, "mail_fsync"))) < 0 ||
	    (ret = parse_compress(storage)) < 0) {
		storage_free(storage);
		return ret;
	}
	if (storage->inbox_path == NULL)
		storage->inbox_path = mf_strdup(storage->root);
	/* before the root is made: a root we create ourselves tells
	 * nothing about who the mail belongs to */
	mf_perm_init_store(&storage->perm, storage->root, perm_warn, storage);
	if ((ret = ensure_dir(storage, storage->root, create)) < 0 ||
	    (ret = ensure_dir(storage, storage->inbox_path, create)) < 0) {
		storage_free(storage);
		return ret;
	}
	if (create && !storage->readonly) {
		char *ctl = NULL, *idx = NULL;

		if (maildir_box_paths(storage, "INBOX", NULL, &ctl, &idx) == 0)
			ret = maildir_create_subdirs(storage, &storage->perm,
			                             storage->inbox_path, ctl,
			                             idx);
		free(ctl);
		free(idx);
		if (ret < 0) {
			storage_free(storage);
			return ret;
		}
	}
	storage->display = mf_strdup_printf(
	    "maildir:%s%s", storage->root,
	    storage->layout == MAILDIR_LAYOUT_FS ? ":LAYOUT=fs" : "");
	storage->info.struct_size = sizeof(storage->info);
	storage->info.caps =
	    MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
	    MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MAILBOX_GUIDS |
	    MAILFERRY_CAP_MAILBOX_LOG | MAILFERRY_CAP_KEYWORDS |
	    MAILFERRY_CAP_SUBSCRIPTIONS | MAILFERRY_CAP_SET_UIDVALIDITY;
	if (!no_index)
		storage->info.caps |=
		    MAILFERRY_CAP_MODSEQ | MAILFERRY_CAP_CHANGE_LOG;
	if (storage->readonly)
		storage->info.caps |= MAILFERRY_CAP_READONLY;
	storage->info.hier_sep = '/';
	storage->info.display = storage->display;
	storage->no_index = no_index;
	*storage_r = storage;
	return 0;
}

static void maildir_storage_close(struct mailferry_storage **storage)
{
	if (*storage == NULL)
		return;
	storage_free(*storage);
	*storage = NULL;
}

static int maildir_storage_info(struct mailferry_storage *storage,
                                const struct mailferry_storage_info **info_r)
{
	*info_r = &storage->info;
	return 0;
}

static int maildir_force_resync(struct mailferry_storage *storage,
                                const char *name)
{
	char **names = NULL;
	size_t count = 0;
	int ret = 0;

	if (name != NULL) {
		struct mailferry_mailbox *box;

		ret = maildir_mailbox_open(storage, name, 0, &box);
		if (ret == 0)
			maildir_mailbox_close(&box);
		return ret;
	}
	if ((ret = maildir_list_names(storage, &names, &count)) < 0)
		return ret;
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct mailferry_mailbox *box;
		int r = maildir_mailbox_open(storage, names[i], 0, &box);

		if (r == 0)
			maildir_mailbox_close(&box);
		else if (r != MAILFERRY_E_NOTFOUND)
			ret = r;
	}
	maildir_names_free(&names, count);
	return ret;
}

static const struct mailferry_driver_ops maildir_ops = {
    .struct_size = sizeof(struct mailferry_driver_ops),
    .storage_open = maildir_storage_open,
    .storage_close = maildir_storage_close,
    .storage_info = maildir_storage_info,
    .mailbox_list_begin = maildir_list_begin,
    .mailbox_list_next = maildir_list_next,
    .mailbox_list_end = maildir_list_end,
    .mailbox_log_begin = maildir_mlog_begin,
    .mailbox_log_next = maildir_mlog_next,
    .mailbox_log_end = maildir_mlog_end,
    .subscriptions_begin = maildir_subs_begin,
    .subscriptions_next = maildir_subs_next,
    .subscriptions_end = maildir_subs_end,
    .mailbox_create = maildir_mailbox_create,
    .mailbox_delete = maildir_mailbox_delete,
    .mailbox_rename = maildir_mailbox_rename,
    .mailbox_set_subscribed = maildir_set_subscribed,
    .mailbox_update = maildir_mailbox_update,
    .mailbox_open = maildir_mailbox_open,
    .mailbox_close = maildir_mailbox_close,
    .mailbox_status = maildir_mailbox_status,
    .msg_iter_begin = maildir_msg_iter_begin,
    .msg_iter_next = maildir_msg_iter_next,
    .msg_iter_end = maildir_msg_iter_end,
    .expunge_iter_begin = maildir_expunge_iter_begin,
    .expunge_iter_next = maildir_expunge_iter_next,
    .expunge_iter_end = maildir_expunge_iter_end,
    .msg_open = maildir_msg_open,
    .stream_read = maildir_stream_read,
    .stream_close = maildir_stream_close,
    .trans_begin = maildir_trans_begin,
    .save_begin = maildir_save_begin,
    .save_write = maildir_save_write,
    .save_finish = maildir_save_finish,
    .save_cancel = maildir_save_cancel,
    .update_flags = maildir_update_flags,
    .update_modseq = maildir_update_modseq,
    .expunge = maildir_expunge,
    .trans_commit = maildir_trans_commit,
    .trans_rollback = maildir_trans_rollback,
    .copy = maildir_copy,
    .msg_get_path = maildir_msg_get_path,
    .save_from_path = maildir_save_from_path,
    .purge = NULL,
    .force_resync = maildir_force_resync,
    .ctl = NULL,
};

#define MAILDIR_DRIVER_CAPS                                                    \
	(MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |                   \
	 MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |                       \
	 MAILFERRY_CAP_CHANGE_LOG | MAILFERRY_CAP_MAILBOX_GUIDS |              \
	 MAILFERRY_CAP_MAILBOX_LOG | MAILFERRY_CAP_KEYWORDS |                  \
	 MAILFERRY_CAP_SUBSCRIPTIONS | MAILFERRY_CAP_SET_UIDVALIDITY)

static const struct mailferry_driver maildir_driver = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_driver),
    .name = "maildir",
    .version = PACKAGE_VERSION,
    .description = "Maildir (Maildir++ or LAYOUT=fs) compatible with "
                   "Dovecot 2.3",
    .caps = MAILDIR_DRIVER_CAPS,
    .ops = &maildir_ops,
};

const struct mailferry_core_api *maildir_api;

MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
{
	if (core_abi_major != MAILFERRY_ABI_MAJOR) {
		api->log(NULL, MAILFERRY_LOG_ERROR,
		         "maildir driver: built for ABI %u.%u, core has %u.%u",
		         MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR,
		         core_abi_major, core_abi_minor);
		return NULL;
	}
	maildir_api = api;
	return &maildir_driver;
}
