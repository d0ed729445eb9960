/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "mf-alloc.h"
#include "maildir-storage.h"

struct list_entry {
	char *name;
	bool noselect;
};

struct mailferry_list_iter {
	struct mailferry_storage *storage;
	uint32_t flags;
	MF_ARRAY(struct list_entry) entries;
	size_t pos;
	struct mailferry_mailbox_info info;
	int error;
};

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool has_subdir(const char *dir, const char *sub)
{
	char *path = mf_strdup_printf("%s/%s", dir, sub);
	bool ret = is_dir(path);

	free(path);
	return ret;
}

static void add_entry(struct mailferry_list_iter *iter, const char *name,
                      bool noselect)
{
	struct list_entry *e = mf_array_append_zero(&iter->entries);

	e->name = mf_strdup(name);
	e->noselect = noselect;
}

static int scan_pp(struct mailferry_list_iter *iter)
{
	struct mailferry_storage *storage = iter->storage;
	DIR *dir = opendir(storage->root);
	struct dirent *d;

	if (dir == NULL)
		return maildir_error(storage, maildir_errno_code(errno),
		                     "opendir(%s) failed: %s", storage->root,
		                     strerror(errno));
	while ((d = readdir(dir)) != NULL) {
		struct mf_buf name = MF_BUF_INIT;
		char *path;

		if (d->d_name[0] != '.' || strcmp(d->d_name, ".") == 0 ||
		    strcmp(d->d_name, "..") == 0 ||
		    /* a mailbox being deleted (Dovecot's name too) */
		    strcmp(d->d_name, ".DOVECOT-TRASHED") == 0)
			continue;
		path = mf_strdup_printf("%s/%s", storage->root, d->d_name);
		if (!is_dir(path)) {
			free(path);
			continue;
		}
		free(path);
		if (maildir_layout_pp_decode(d->d_name, &name) < 0) {
			maildir_log_warning(storage,
			                    "%s/%s: directory name is not a "
			                    "valid Maildir++ mailbox name, "
			                    "ignoring it",
			                    storage->root, d->d_name);
		} else if (!maildir_name_is_inbox(mf_buf_str(&name))) {
			add_entry(iter, mf_buf_str(&name), false);
		}
		mf_buf_free(&name);
	}
	closedir(dir);
	return 0;
}

static int scan_fs(struct mailferry_list_iter *iter, const char *dirpath,
                   const char *prefix, unsigned int depth)
{
	struct mailferry_storage *storage = iter->storage;
	DIR *dir;
	struct dirent *d;

	if (depth > 64)
		return 0;
	dir = opendir(dirpath);
	if (dir == NULL) {
		if (errno == ENOENT)
			return 0;
		return maildir_error(storage, maildir_errno_code(errno),
		                     "opendir(%s) failed: %s", dirpath,
		                     strerror(errno));
	}
	while ((d = readdir(dir)) != NULL) {
		struct mf_buf name = MF_BUF_INIT;
		char *path;
		int ret;

		if (d->d_name[0] == '.' || maildir_is_internal_name(d->d_name))
			continue;
		path = mf_strdup_printf("%s/%s", dirpath, d->d_name);
		if (!is_dir(path)) {
			free(path);
			continue;
		}
		mf_buf_append_str(&name, prefix);
		if (maildir_layout_level_decode(d->d_name, &name) < 0) {
			maildir_log_warning(storage,
			                    "%s: directory name is not valid "
			                    "modified UTF-7, ignoring it",
			                    path);
			free(path);
			mf_buf_free(&name);
			continue;
		}
		if (depth == 0 && maildir_name_is_inbox(mf_buf_str(&name))) {
			/* INBOX lives in the root; an "INBOX" directory can
			 * only hold its children */
		} else {
			add_entry(iter, mf_buf_str(&name),
			          !has_subdir(path, "cur"));
		}
		mf_buf_append_c(&name, '/');
		ret = scan_fs(iter, path, mf_buf_str(&name), depth + 1);
		free(path);
		mf_buf_free(&name);
		if (ret < 0) {
			closedir(dir);
			return ret;
		}
	}
	closedir(dir);
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct list_entry *ea = a, *eb = b;

	return strcmp(ea->name, eb->name);
}

static int collect(struct mailferry_storage *storage,
                   struct mailferry_list_iter *iter)
{
	int ret;

	iter->storage = storage;
	add_entry(iter, "INBOX", false);
	ret = storage->layout == MAILDIR_LAYOUT_FS
	          ? scan_fs(iter, storage->root, "", 0)
	          : scan_pp(iter);
	if (ret < 0)
		return ret;
	if (iter->entries.count > 1)
		qsort(iter->entries.items, iter->entries.count,
		      sizeof(struct list_entry), cmp_entry);
	/* parents that do not exist themselves are listed as \NoSelect:
	 * add every parent name, sort, then merge duplicates (a real entry
	 * wins over an implied parent) */
	size_t n = iter->entries.count, kept = 0;

	for (size_t i = 0; i < n; i++) {
		char *name = mf_strdup(iter->entries.items[i].name);
		char *slash;

		while ((slash = strrchr(name, '/')) != NULL) {
			*slash = '\0';
			add_entry(iter, name, true);
		}
		free(name);
	}
	if (iter->entries.count > 1)
		qsort(iter->entries.items, iter->entries.count,
		      sizeof(struct list_entry), cmp_entry);
	for (size_t i = 0; i < iter->entries.count; i++) {
		struct list_entry *e = &iter->entries.items[i];

		if (kept > 0 &&
		    strcmp(iter->entries.items[kept - 1].name, e->name) == 0) {
			iter->entries.items[kept - 1].noselect &= e->noselect;
			free(e->name);
			continue;
		}
		iter->entries.items[kept++] = *e;
	}
	iter->entries.count = kept;
	return 0;
}

static void entries_free(struct mailferry_list_iter *iter)
{
	for (size_t i = 0; i < iter->entries.count; i++)
		free(iter->entries.items[i].name);
	mf_array_free(&iter->entries);
}

int maildir_list_names(struct mailferry_storage *storage, char ***names_r,
                       size_t *count_r)
{
	struct mailferry_list_iter iter;
	int ret;

	mf_zero(&iter);
	ret = collect(storage, &iter);
	if (ret < 0) {
		entries_free(&iter);
		return ret;
	}
	*names_r = mf_calloc(iter.entries.count + 1, sizeof(char *));
	for (size_t i = 0; i < iter.entries.count; i++)
		(*names_r)[i] = mf_strdup(iter.entries.items[i].name);
	*count_r = iter.entries.count;
	entries_free(&iter);
	return 0;
}

void maildir_names_free(char ***names, size_t count)
{
	if (*names == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free((*names)[i]);
	mf_free(names);
}

int maildir_list_begin(struct mailferry_storage *storage, uint32_t flags,
                       struct mailferry_list_iter **iter_r)
{
	struct mailferry_list_iter *iter = mf_calloc(1, sizeof(*iter));
	int ret;

	iter->flags = flags;
	ret = collect(storage, iter);
	if (ret < 0) {
		entries_free(iter);
		free(iter);
		return ret;
	}
	*iter_r = iter;
	return 0;
}

int maildir_list_next(struct mailferry_list_iter *iter,
                      const struct mailferry_mailbox_info **info_r)
{
	struct mailferry_mailbox_info *info = &iter->info;
	const struct list_entry *e;
	size_t len;

	if (iter->pos >= iter->entries.count)
		return 0;
	e = &iter->entries.items[iter->pos++];
	mf_zero(info);
	info->struct_size = sizeof(*info);
	info->name = e->name;
	info->status.struct_size = sizeof(info->status);
	if (e->noselect)
		info->flags |= MAILFERRY_MAILBOX_NOSELECT;
	len = strlen(e->name);
	/* names starting with e->name follow it contiguously */
	for (size_t j = iter->pos; j < iter->entries.count; j++) {
		const char *other = iter->entries.items[j].name;

		if (strncmp(other, e->name, len) != 0)
			break;
		if (other[len] == '/') {
			info->flags |= MAILFERRY_MAILBOX_CHILDREN;
			break;
		}
	}
	if (e->noselect) {
		/* nothing else to report */
	} else if ((iter->flags & MAILFERRY_LIST_STATUS) != 0) {
		struct mailferry_mailbox *box;
		/* an unchanged mailbox's status is in its index */
		int ret = maildir_mailbox_quick_status(iter->storage, e->name,
		                                       &info->status);

		if (ret == 0) {
			ret = maildir_mailbox_open(iter->storage, e->name,
			                           MAILFERRY_MAILBOX_READONLY,
			                           &box);
			if (ret == 0) {
				ret =
				    maildir_mailbox_status(box, &info->status);
				maildir_mailbox_close(&box);
			}
		}
		if (ret < 0)
			return ret;
		info->flags |= MAILFERRY_MAILBOX_HAVE_STATUS;
	} else {
		(void)maildir_peek_guid(iter->storage, e->name,
		                        info->status.guid);
	}
	*info_r = info;
	return 1;
}

int maildir_list_end(struct mailferry_list_iter **iterp)
{
	struct mailferry_list_iter *iter = *iterp;
	int ret;

	if (iter == NULL)
		return 0;
	ret = iter->error;
	entries_free(iter);
	free(iter);
	*iterp = NULL;
	return ret;
}
