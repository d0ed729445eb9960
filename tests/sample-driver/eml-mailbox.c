/* SPDX-License-Identifier: MIT */
/*
 * eml-mailbox.c - mailbox handles: scanning a directory's *.eml files into
 * a sorted snapshot (UID n = the n-th file name in byte order) and
 * reporting status.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "eml-private.h"

static int cmp_entries(const void *a, const void *b)
{
	const struct eml_msg_entry *ea = a, *eb = b;

	return strcmp(ea->file, eb->file);
}

static void snapshot_free(struct eml_snapshot *snap)
{
	for (size_t i = 0; i < snap->count; i++)
		free(snap->msgs[i].file);
	free(snap->msgs);
	free(snap);
}

void eml_snapshot_unref(struct eml_snapshot **snapp)
{
	struct eml_snapshot *snap = *snapp;

	if (snap == NULL)
		return;
	*snapp = NULL;
	if (--snap->refcount == 0)
		snapshot_free(snap);
}

int eml_snapshot_scan(struct mailferry_ctx *ctx, const char *dir,
                      struct eml_snapshot **snap_r)
{
	struct eml_snapshot *snap;
	size_t alloc = 0;
	struct dirent *d;
	DIR *dirp;
	int ret = 0;

	snap = calloc(1, sizeof(*snap));
	if (snap == NULL)
		return eml_nomem(ctx);
	snap->refcount = 1;

	dirp = opendir(dir);
	if (dirp == NULL) {
		ret = eml_sys_error(ctx, "opendir", dir, errno);
		snapshot_free(snap);
		return ret;
	}
	for (errno = 0; (d = readdir(dirp)) != NULL; errno = 0) {
		struct stat st;
		char *path;

		if (!eml_is_msg_name(d->d_name))
			continue;
		path = eml_strdup_printf("%s/%s", dir, d->d_name);
		if (path == NULL) {
			ret = eml_nomem(ctx);
			break;
		}
		/* stat, not lstat: a symlink to a message file is a message */
		if (stat(path, &st) < 0) {
			int err = errno;
			if (err != ENOENT) /* ENOENT: deleted meanwhile */
				ret = eml_sys_error(ctx, "stat", path, err);
			free(path);
			if (ret < 0)
				break;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			eml_api->log(ctx, MAILFERRY_LOG_DEBUG,
			             "eml: ignoring %s: not a regular file",
			             path);
			free(path);
			continue;
		}
		free(path);
		if (snap->count == alloc) {
			alloc = alloc == 0 ? 32 : alloc * 2;
			struct eml_msg_entry *m =
			    realloc(snap->msgs, alloc * sizeof(*m));
			if (m == NULL) {
				ret = eml_nomem(ctx);
				break;
			}
			snap->msgs = m;
		}
		struct eml_msg_entry *e = &snap->msgs[snap->count];
		memset(e, 0, sizeof(*e));
		e->file = strdup(d->d_name);
		if (e->file == NULL) {
			ret = eml_nomem(ctx);
			break;
		}
		e->size = (uint64_t)st.st_size;
		e->mtime = (int64_t)st.st_mtime;
		snap->count++;
	}
	if (ret == 0 && errno != 0)
		ret = eml_sys_error(ctx, "readdir", dir, errno);
	closedir(dirp);
	if (ret < 0) {
		snapshot_free(snap);
		return ret;
	}
	if (snap->count > UINT32_MAX - 1) {
		snapshot_free(snap);
		return eml_api->set_error(ctx, MAILFERRY_E_LIMIT,
		                          "eml: %s holds too many messages",
		                          dir);
	}
	if (snap->count > 0)
		qsort(snap->msgs, snap->count, sizeof(*snap->msgs),
		      cmp_entries);
	*snap_r = snap;
	return 0;
}

void eml_fill_status(const uint8_t guid[16], const struct eml_snapshot *snap,
                     struct mailferry_mailbox_status *status_r)
{
	uint8_t guid_copy[16];

	/* guid may point into *status_r (the listing passes its own) */
	memcpy(guid_copy, guid, sizeof(guid_copy));
	memset(status_r, 0, sizeof(*status_r));
	status_r->struct_size = sizeof(*status_r);
	memcpy(status_r->guid, guid_copy, sizeof(guid_copy));
	status_r->uidvalidity = eml_mailbox_uidvalidity(guid);
	status_r->messages = (uint32_t)snap->count;
	status_r->uidnext = (uint32_t)snap->count + 1;
	/* Nothing is \Recent in a read-only store. */
	status_r->first_recent_uid = status_r->uidnext;
}

int eml_mailbox_open(struct mailferry_storage *storage, const char *name,
                     uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct mailferry_mailbox *box;
	int ret;

	/* READONLY and SYNC_LOCK need nothing: nobody writes to this store
	 * through us, so there is nothing to lock against. */
	(void)flags;
	box = calloc(1, sizeof(*box));
	if (box == NULL)
		return eml_nomem(storage->ctx);
	box->storage = storage;
	ret = eml_mailbox_path(storage, name, &box->dir, &box->name);
	if (ret == 0)
		ret = eml_snapshot_scan(storage->ctx, box->dir, &box->snap);
	if (ret < 0) {
		free(box->dir);
		free(box->name);
		free(box);
		return ret;
	}
	eml_mailbox_guid(box->name, box->guid);
	box->uidvalidity = eml_mailbox_uidvalidity(box->guid);
	*box_r = box;
	return 0;
}

void eml_mailbox_close(struct mailferry_mailbox **boxp)
{
	struct mailferry_mailbox *box = *boxp;

	if (box == NULL)
		return;
	*boxp = NULL;
	eml_snapshot_unref(&box->snap);
	free(box->dir);
	free(box->name);
	free(box);
}

int eml_mailbox_status(struct mailferry_mailbox *box,
                       struct mailferry_mailbox_status *status_r)
{
	struct eml_snapshot *snap;
	int ret;

	ret = eml_snapshot_scan(box->storage->ctx, box->dir, &snap);
	if (ret < 0)
		return ret;
	eml_snapshot_unref(&box->snap);
	box->snap = snap;
	eml_fill_status(box->guid, snap, status_r);
	return 0;
}
