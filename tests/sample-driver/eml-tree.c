/* SPDX-License-Identifier: MIT */
/*
 * eml-tree.c - the mailbox tree of an eml store: mapping names to
 * directories and listing every mailbox, parents before children.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "eml-private.h"

struct eml_list_entry {
	char *name;
	uint32_t flags; /* enum mailferry_mailbox_flags */
};

struct mailferry_list_iter {
	struct mailferry_storage *storage;
	uint32_t list_flags;
	struct eml_list_entry *entries;
	size_t count, alloc, next;
	struct mailferry_mailbox_info info;
	int error; /* first error met by next(), reported again by end() */
};

/* Mailbox names on the ABI are UTF-8; a directory whose name is not
 * cannot be named there, so the tree leaves it out. */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + n >= len) /* truncated sequence */
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* reject overlong forms, surrogates and values past U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

int eml_is_msg_name(const char *file)
{
	size_t len = strlen(file);

	return file[0] != '.' && len > 4 &&
	       strcasecmp(file + len - 4, ".eml") == 0;
}

int eml_is_box_component(const char *name, size_t len)
{
	/* Hidden directories (".git", ".Trash-1000") are not mailboxes. */
	return len > 0 && name[0] != '.' && memchr(name, '/', len) == NULL &&
	       utf8_valid((const unsigned char *)name, len);
}

static int is_inbox_component(const char *name, size_t len)
{
	return len == 5 && strncasecmp(name, "INBOX", 5) == 0;
}

int eml_mailbox_path(struct mailferry_storage *storage, const char *name,
                     char **dir_r, char **canonical_r)
{
	struct mailferry_ctx *ctx = storage->ctx;
	const char *p, *slash;
	char *dir, *canonical;
	struct stat st;

	if (strcasecmp(name, "INBOX") == 0) {
		dir = strdup(storage->root);
		canonical = strdup("INBOX");
		if (dir == NULL || canonical == NULL) {
			free(dir);
			free(canonical);
			return eml_nomem(ctx);
		}
		*dir_r = dir;
		*canonical_r = canonical;
		return 0;
	}

	for (p = name;; p = slash + 1) {
		slash = strchr(p, '/');
		size_t len = slash == NULL ? strlen(p) : (size_t)(slash - p);
		if (!eml_is_box_component(p, len)) {
			return eml_api->set_error(
			    ctx, MAILFERRY_E_INVALID,
			    "eml: invalid mailbox name '%s' (empty, hidden "
			    "or non-UTF-8 component)",
			    name);
		}
		if (p == name && is_inbox_component(p, len)) {
			return eml_api->set_error(
			    ctx, MAILFERRY_E_NOTFOUND,
			    "eml: mailbox '%s' not found: INBOX has no "
			    "children in an eml tree",
			    name);
		}
		if (slash == NULL)
			break;
	}

	dir = eml_strdup_printf("%s/%s", storage->root, name);
	canonical = strdup(name);
	if (dir == NULL || canonical == NULL) {
		free(dir);
		free(canonical);
		return eml_nomem(ctx);
	}
	/* Check every level with lstat: the listing does not follow
	 * symlinked directories (they can loop), so neither does open. */
	for (char *q = dir + strlen(storage->root) + 1;; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char saved = *q;
		*q = '\0';
		int ret = lstat(dir, &st);
		int err = errno;
		*q = saved;
		if (ret < 0 && err != ENOENT && err != ENOTDIR) {
			ret = eml_sys_error(ctx, "lstat", dir, err);
			free(dir);
			free(canonical);
			return ret;
		}
		if (ret < 0 || !S_ISDIR(st.st_mode)) {
			ret = eml_api->set_error(ctx, MAILFERRY_E_NOTFOUND,
			                         "eml: mailbox '%s' not found "
			                         "(no directory %s)",
			                         name, dir);
			free(dir);
			free(canonical);
			return ret;
		}
		if (saved == '\0')
			break;
	}
	*dir_r = dir;
	*canonical_r = canonical;
	return 0;
}

static int list_push(struct mailferry_list_iter *iter, char *name)
{
	if (iter->count == iter->alloc) {
		size_t alloc = iter->alloc == 0 ? 16 : iter->alloc * 2;
		struct eml_list_entry *e =
		    realloc(iter->entries, alloc * sizeof(*e));
		if (e == NULL)
			return -1;
		iter->entries = e;
		iter->alloc = alloc;
	}
	iter->entries[iter->count].name = name;
	iter->entries[iter->count].flags = 0;
	iter->count++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* Read the names of dir's subdirectories that can be mailboxes, sorted. */
static int read_subdirs(struct mailferry_storage *storage, const char *dir,
                        int top, char ***names_r, size_t *count_r)
{
	struct mailferry_ctx *ctx = storage->ctx;
	char **names = NULL;
	size_t count = 0, alloc = 0;
	struct dirent *d;
	DIR *dirp;

	dirp = opendir(dir);
	if (dirp == NULL)
		return eml_sys_error(ctx, "opendir", dir, errno);
	for (errno = 0; (d = readdir(dirp)) != NULL; errno = 0) {
		struct stat st;
		char *path;

		if (!eml_is_box_component(d->d_name, strlen(d->d_name)))
			continue;
		path = eml_strdup_printf("%s/%s", dir, d->d_name);
		if (path == NULL)
			goto nomem;
		if (lstat(path, &st) < 0) {
			int err = errno;
			if (err == ENOENT) {
				free(path);
				continue;
			}
			int ret = eml_sys_error(ctx, "lstat", path, err);
			free(path);
			closedir(dirp);
			free_names(names, count);
			return ret;
		}
		free(path);
		if (!S_ISDIR(st.st_mode))
			continue;
		if (top && is_inbox_component(d->d_name, strlen(d->d_name))) {
			eml_api->log(ctx, MAILFERRY_LOG_WARNING,
			             "eml: ignoring directory %s/%s: the root "
			             "folder itself is INBOX",
			             dir, d->d_name);
			continue;
		}
		if (count == alloc) {
			alloc = alloc == 0 ? 8 : alloc * 2;
			char **n = realloc(names, alloc * sizeof(*n));
			if (n == NULL)
				goto nomem;
			names = n;
		}
		names[count] = strdup(d->d_name);
		if (names[count] == NULL)
			goto nomem;
		count++;
	}
	if (errno != 0) {
		int ret = eml_sys_error(ctx, "readdir", dir, errno);
		closedir(dirp);
		free_names(names, count);
		return ret;
	}
	closedir(dirp);
	if (count > 0)
		qsort(names, count, sizeof(*names), cmp_names);
	*names_r = names;
	*count_r = count;
	return 0;
nomem:
	closedir(dirp);
	free_names(names, count);
	return eml_nomem(ctx);
}

/* Append the mailboxes below dir (named prefix, "" at the root) in
 * pre-order. parent is the index of prefix's own entry, or -1. */
static int list_walk(struct mailferry_list_iter *iter, const char *dir,
                     const char *prefix, long parent)
{
	struct mailferry_storage *storage = iter->storage;
	char **names = NULL;
	size_t count = 0;
	int ret;

	ret = read_subdirs(storage, dir, prefix[0] == '\0', &names, &count);
	if (ret < 0)
		return ret;
	if (count > 0 && parent >= 0)
		iter->entries[parent].flags |= MAILFERRY_MAILBOX_CHILDREN;
	for (size_t i = 0; i < count && ret == 0; i++) {
		char *name = prefix[0] == '\0'
		                 ? strdup(names[i])
		                 : eml_strdup_printf("%s/%s", prefix, names[i]);
		char *subdir = eml_strdup_printf("%s/%s", dir, names[i]);
		if (name == NULL || subdir == NULL ||
		    list_push(iter, name) < 0) {
			free(name);
			free(subdir);
			ret = eml_nomem(storage->ctx);
			break;
		}
		ret = list_walk(iter, subdir, name, (long)iter->count - 1);
		free(subdir);
	}
	free_names(names, count);
	return ret;
}

static void list_free(struct mailferry_list_iter *iter)
{
	for (size_t i = 0; i < iter->count; i++)
		free(iter->entries[i].name);
	free(iter->entries);
	free(iter);
}

int eml_mailbox_list_begin(struct mailferry_storage *storage, uint32_t flags,
                           struct mailferry_list_iter **iter_r)
{
	struct mailferry_list_iter *iter;
	char *inbox;
	int ret;

	iter = calloc(1, sizeof(*iter));
	if (iter == NULL)
		return eml_nomem(storage->ctx);
	iter->storage = storage;
	iter->list_flags = flags;
	inbox = strdup("INBOX");
	if (inbox == NULL || list_push(iter, inbox) < 0) {
		free(inbox);
		list_free(iter);
		return eml_nomem(storage->ctx);
	}
	/* The root's subfolders are INBOX's siblings, not its children. */
	ret = list_walk(iter, storage->root, "", -1);
	if (ret < 0) {
		list_free(iter);
		return ret;
	}
	*iter_r = iter;
	return 0;
}

int eml_mailbox_list_next(struct mailferry_list_iter *iter,
                          const struct mailferry_mailbox_info **info_r)
{
	struct mailferry_mailbox_info *info = &iter->info;
	const struct eml_list_entry *entry;

	if (iter->error < 0)
		return iter->error;
	if (iter->next >= iter->count)
		return 0;
	entry = &iter->entries[iter->next++];

	memset(info, 0, sizeof(*info));
	info->struct_size = sizeof(*info);
	info->name = entry->name;
	info->flags = entry->flags;
	eml_mailbox_guid(entry->name, info->status.guid);
	if ((iter->list_flags & MAILFERRY_LIST_STATUS) != 0) {
		struct eml_snapshot *snap;
		char *dir, *canonical;
		int ret;

		ret = eml_mailbox_path(iter->storage, entry->name, &dir,
		                       &canonical);
		if (ret == 0) {
			ret = eml_snapshot_scan(iter->storage->ctx, dir, &snap);
			free(dir);
			free(canonical);
		}
		if (ret < 0) {
			iter->error = ret;
			return ret;
		}
		eml_fill_status(info->status.guid, snap, &info->status);
		eml_snapshot_unref(&snap);
		info->flags |= MAILFERRY_MAILBOX_HAVE_STATUS;
	}
	*info_r = info;
	return 1;
}

int eml_mailbox_list_end(struct mailferry_list_iter **iterp)
{
	struct mailferry_list_iter *iter = *iterp;
	int ret;

	if (iter == NULL)
		return 0;
	*iterp = NULL;
	ret = iter->error;
	list_free(iter);
	return ret;
}
