/* SPDX-License-Identifier: MIT */
/* Mailbox create / delete / rename / update / open / status. */
#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "mf-index.h"
#include "mf-mailbox-log.h"
#include "mf-uidvalidity.h"
#include "maildir-journal.h"
#include "maildir-storage.h"

static bool dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int mkdir_p(struct mailferry_storage *storage,
                   const struct mf_perm *perm, const char *path)
{
	char *error = NULL;

	if (mf_perm_mkdir_parents(perm, path, &error) < 0) {
		int code = maildir_errno_code(errno);

		maildir_error(storage, code, "%s", error);
		free(error);
		return code;
	}
	return 0;
}

int maildir_create_subdirs(struct mailferry_storage *storage,
                           const struct mf_perm *perm, const char *path,
                           const char *control_dir, const char *index_dir)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	int ret;

	for (size_t i = 0; i < MF_N_ELEMENTS(subs); i++) {
		char *p = mf_strdup_printf("%s/%s", path, subs[i]);

		ret = mkdir_p(storage, perm, p);
		free(p);
		if (ret < 0)
			return ret;
	}
	if ((ret = mkdir_p(storage, perm, control_dir)) < 0 ||
	    (ret = mkdir_p(storage, perm, index_dir)) < 0)
		return ret;
	return 0;
}

/* True when vname is a selectable mailbox on disk. */
static bool box_exists(struct mailferry_storage *storage, const char *vname,
                       const char *path)
{
	char *cur;
	bool ret;

	if (maildir_name_is_inbox(vname))
		return true;
	if (storage->layout == MAILDIR_LAYOUT_MAILDIRPP)
		return dir_exists(path);
	cur = mf_strdup_printf("%s/cur", path);
	ret = dir_exists(cur);
	free(cur);
	return ret;
}

static int write_new_uidlist(struct mailferry_storage *storage,
                             const char *vname, const char *control_dir,
                             const uint8_t guid[16], uint32_t uidvalidity)
{
	struct maildir_uidlist ul;
	struct maildir_dotlock *lock = NULL;
	char *path = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, control_dir);
	char *error = NULL;
	int ret;

	mf_zero(&ul);
	ret = maildir_dotlock_take(
	    path, &storage->perm, storage->lock_timeout_secs,
	    MAILDIR_UIDLIST_LOCK_STALE_SECS, &lock, &error);
	if (ret <= 0) {
		ret = maildir_error(storage,
		                    ret == 0 ? MAILFERRY_E_INUSE
		                             : maildir_errno_code(errno),
		                    "mailbox %s: %s", vname, error);
		goto out;
	}
	ul.version = 3;
	ul.next_uid = 1;
	ul.have_guid = true;
	if (guid != NULL && !mf_guid128_is_empty(guid))
		memcpy(ul.guid, guid, 16);
	else if (maildir_api->random(ul.guid, 16) < 0) {
		ret = maildir_error(storage, MAILFERRY_E_TEMP,
		                    "no random bytes for a GUID");
		goto out;
	}
	ul.uidvalidity = uidvalidity;
	if (ul.uidvalidity == 0 &&
	    mf_uidvalidity_next_perm(maildir_control_root(storage),
	                             &storage->perm, &ul.uidvalidity,
	                             &error) < 0) {
		maildir_log_warning(storage, "%s, using the time", error);
		mf_free(&error);
		ul.uidvalidity = (uint32_t)time(NULL);
	}
	if (maildir_uidlist_write(&ul, path, &storage->perm,
	                          maildir_fsync_commit(storage), &error) < 0) {
		ret = maildir_error(storage, maildir_errno_code(errno), "%s",
		                    error);
		goto out;
	}
	ret = 0;
out:
	maildir_dotlock_release(&lock);
	maildir_uidlist_clear(&ul);
	free(error);
	free(path);
	return ret;
}

int maildir_mailbox_create(struct mailferry_storage *storage, const char *name,
                           const struct mailferry_mailbox_create *params)
{
	char *path = NULL, *control = NULL, *index = NULL, *uidlist = NULL;
	bool directory = params != NULL && params->directory != 0;
	int ret;

	if (storage->readonly)
		return maildir_error(storage, MAILFERRY_E_PERM,
		                     "storage %s is read-only",
		                     storage->display);
	if ((ret = maildir_box_paths(storage, name, &path, &control, &index)) <
	    0)
		return ret;
	uidlist = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, control);
	if (directory) {
		if (maildir_name_is_inbox(name) ||
		    box_exists(storage, name, path)) {
			ret = maildir_error(storage, MAILFERRY_E_EXISTS,
			                    "mailbox %s already exists", name);
		} else if (storage->layout == MAILDIR_LAYOUT_MAILDIRPP) {
			/* Maildir++ has no directories: a parent exists as
			 * long as it has children */
			ret = 0;
		} else if (dir_exists(path)) {
			/* already there as a \NoSelect directory (e.g.
			 * made as the parent of a child): what was asked */
			ret = 0;
		} else {
			ret = mkdir_p(storage, &storage->perm, path);
		}
		goto out;
	}
	if (box_exists(storage, name, path)) {
		struct stat st;

		/* INBOX (or a Dovecot-created mailbox never opened) may
		 * exist without a uidlist: then this "create" only gives it
		 * its identity */
		if (stat(uidlist, &st) == 0 || !maildir_name_is_inbox(name)) {
			ret = maildir_error(storage, MAILFERRY_E_EXISTS,
			                    "mailbox %s already exists", name);
			goto out;
		}
	}
	if ((ret = maildir_create_subdirs(storage, &storage->perm, path,
	                                  control, index)) < 0)
		goto out;
	if (storage->layout == MAILDIR_LAYOUT_MAILDIRPP &&
	    !maildir_name_is_inbox(name)) {
		char *marker = mf_strdup_printf("%s/maildirfolder", path);
		int fd = mf_perm_open(&storage->perm, marker,
		                      O_WRONLY | O_CREAT | O_CLOEXEC);

		if (fd < 0)
			maildir_log_warning(storage, "open(%s) failed: %s",
			                    marker, strerror(errno));
		else
			close(fd);
		free(marker);
	}
	ret = write_new_uidlist(storage, name, control,
	                        params != NULL ? params->guid : NULL,
	                        params != NULL ? params->uidvalidity : 0);
out:
	free(uidlist);
	free(path);
	free(control);
	free(index);
	return ret;
}

/* Remove a directory tree (a deleted mailbox's own files). */
static int remove_tree(struct mailferry_storage *storage, const char *path,
                       bool keep_child_mailboxes)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	int ret = 0;

	if (dir == NULL) {
		if (errno == ENOENT)
			return 0;
		return maildir_error(storage, maildir_errno_code(errno),
		                     "opendir(%s) failed: %s", path,
		                     strerror(errno));
	}
	while ((d = readdir(dir)) != NULL && ret == 0) {
		char *p;
		struct stat st;

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		p = mf_strdup_printf("%s/%s", path, d->d_name);
		if (lstat(p, &st) < 0) {
			if (errno != ENOENT)
				ret = maildir_error(
				    storage, maildir_errno_code(errno),
				    "lstat(%s) failed: %s", p, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (keep_child_mailboxes && d->d_name[0] != '.' &&
			    !maildir_is_internal_name(d->d_name)) {
				/* LAYOUT=fs child mailbox: keep */
			} else {
				ret = remove_tree(storage, p, false);
				if (ret == 0 && rmdir(p) < 0 && errno != ENOENT)
					ret = maildir_error(
					    storage, maildir_errno_code(errno),
					    "rmdir(%s) failed: %s", p,
					    strerror(errno));
			}
		} else if (unlink(p) < 0 && errno != ENOENT) {
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "unlink(%s) failed: %s", p,
			                    strerror(errno));
		}
		free(p);
	}
	closedir(dir);
	return ret;
}

static bool has_children(struct mailferry_storage *storage, const char *name)
{
	char **names = NULL;
	size_t count = 0, len = strlen(name);
	bool ret = false;

	if (maildir_list_names(storage, &names, &count) < 0)
		return true; /* be careful */
	for (size_t i = 0; i < count; i++) {
		if (strncmp(names[i], name, len) == 0 && names[i][len] == '/')
			ret = true;
	}
	maildir_names_free(&names, count);
	return ret;
}

int maildir_mailbox_delete(struct mailferry_storage *storage, const char *name,
                           int directory)
{
	char *path = NULL, *control = NULL, *index = NULL;
	uint8_t guid[16], name_guid[16];
	bool have_guid;
	int ret;

	if (storage->readonly)
		return maildir_error(storage, MAILFERRY_E_PERM,
		                     "storage %s is read-only",
		                     storage->display);
	if (maildir_name_is_inbox(name))
		return maildir_error(storage, MAILFERRY_E_PERM,
		                     "INBOX cannot be deleted");
	if ((ret = maildir_box_paths(storage, name, &path, &control, &index)) <
	    0)
		return ret;
	mf_mailbox_log_name_guid(name, name_guid);
	if (directory) {
		if (box_exists(storage, name, path)) {
			ret = maildir_error(storage, MAILFERRY_E_EXISTS,
			                    "%s is a mailbox, not a directory",
			                    name);
		} else if (storage->layout == MAILDIR_LAYOUT_MAILDIRPP) {
			ret = has_children(storage, name)
			          ? maildir_error(storage, MAILFERRY_E_EXISTS,
			                          "directory %s has "
			                          "children",
			                          name)
			          : maildir_error(storage, MAILFERRY_E_NOTFOUND,
			                          "directory %s does not "
			                          "exist",
			                          name);
		} else if (!dir_exists(path)) {
			ret =
			    maildir_error(storage, MAILFERRY_E_NOTFOUND,
			                  "directory %s does not exist", name);
		} else if (rmdir(path) < 0) {
			ret = maildir_error(
			    storage,
			    errno == ENOTEMPTY || errno == EEXIST
			        ? MAILFERRY_E_EXISTS
			        : maildir_errno_code(errno),
			    "rmdir(%s) failed: %s", path, strerror(errno));
		} else {
			maildir_mailbox_log_add(
			    storage, MF_MAILBOX_LOG_DELETE_DIR, name_guid);
		}
		goto out;
	}
	if (!box_exists(storage, name, path)) {
		ret = maildir_error(storage, MAILFERRY_E_NOTFOUND,
		                    "mailbox %s does not exist", name);
		goto out;
	}
	have_guid = maildir_peek_guid(storage, name, guid);
	if (storage->layout == MAILDIR_LAYOUT_MAILDIRPP) {
		/* Like Dovecot: rename away first so that a half-deleted
		 * mailbox never shows up under its name */
		char *trash =
		    mf_strdup_printf("%s/.DOVECOT-TRASHED", storage->root);

		(void)remove_tree(storage, trash, false);
		(void)rmdir(trash);
		if (rename(path, trash) < 0) {
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "rename(%s, %s) failed: %s", path,
			                    trash, strerror(errno));
			free(trash);
			goto out;
		}
		ret = remove_tree(storage, trash, false);
		if (ret == 0 && rmdir(trash) < 0)
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "rmdir(%s) failed: %s", trash,
			                    strerror(errno));
		free(trash);
	} else {
		ret = remove_tree(storage, path, true);
		if (ret == 0 && rmdir(path) < 0 && errno != ENOTEMPTY &&
		    errno != EEXIST && errno != ENOENT)
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "rmdir(%s) failed: %s", path,
			                    strerror(errno));
	}
	if (ret == 0 && strcmp(control, path) != 0) {
		(void)remove_tree(storage, control, true);
		(void)rmdir(control);
	}
	if (ret == 0 && strcmp(index, path) != 0 &&
	    strcmp(index, control) != 0) {
		(void)remove_tree(storage, index, true);
		(void)rmdir(index);
	}
	if (ret == 0 && have_guid)
		maildir_mailbox_log_add(storage, MF_MAILBOX_LOG_DELETE_MAILBOX,
		                        guid);
	if (ret == 0 && !dir_exists(path))
		maildir_mailbox_log_add(storage, MF_MAILBOX_LOG_DELETE_DIR,
		                        name_guid);
out:
	free(path);
	free(control);
	free(index);
	return ret;
}

static int rename_dir(struct mailferry_storage *storage, const char *from,
                      const char *to)
{
	char *parent = mf_strdup(to), *slash = strrchr(parent, '/');
	int ret = 0;

	if (slash != NULL && slash != parent) {
		*slash = '\0';
		ret = mkdir_p(storage, &storage->perm, parent);
	}
	free(parent);
	if (ret == 0 && rename(from, to) < 0)
		ret = maildir_error(storage, maildir_errno_code(errno),
		                    "rename(%s, %s) failed: %s", from, to,
		                    strerror(errno));
	return ret;
}

/* Rename one mailbox's directories (mailbox, control, index). */
static int rename_one(struct mailferry_storage *storage, const char *old_name,
                      const char *new_name)
{
	char *op = NULL, *oc = NULL, *oi = NULL, *np = NULL, *nc = NULL,
	     *ni = NULL;
	int ret;

	if ((ret = maildir_box_paths(storage, old_name, &op, &oc, &oi)) < 0 ||
	    (ret = maildir_box_paths(storage, new_name, &np, &nc, &ni)) < 0)
		goto out;
	if (dir_exists(op))
		ret = rename_dir(storage, op, np);
	if (ret == 0 && strcmp(oc, op) != 0 && dir_exists(oc))
		ret = rename_dir(storage, oc, nc);
	if (ret == 0 && strcmp(oi, op) != 0 && strcmp(oi, oc) != 0 &&
	    dir_exists(oi))
		ret = rename_dir(storage, oi, ni);
out:
	free(op);
	free(oc);
	free(oi);
	free(np);
	free(nc);
	free(ni);
	return ret;
}

/* Maildir++: fail with EXISTS if a child of old_name would be renamed onto
 * an existing mailbox directory. */
static int maildirpp_check_targets(struct mailferry_storage *storage,
                                   char *const *names, size_t count,
                                   const char *old_name, const char *new_name)
{
	size_t olen = strlen(old_name);
	int ret = 0;

	for (size_t i = 0; i < count && ret == 0; i++) {
		char *nn, *path = NULL;

		if (strncmp(names[i], old_name, olen) != 0 ||
		    names[i][olen] != '/')
			continue;
		nn = mf_strdup_printf("%s%s", new_name, names[i] + olen);
		ret = maildir_box_paths(storage, nn, &path, NULL, NULL);
		if (ret == 0 && dir_exists(path))
			ret = maildir_error(storage, MAILFERRY_E_EXISTS,
			                    "mailbox %s already exists", nn);
		free(path);
		free(nn);
	}
	return ret;
}

int maildir_mailbox_rename(struct mailferry_storage *storage,
                           const char *old_name, const char *new_name)
{
	char *op = NULL, *np = NULL;
	char **names = NULL;
	size_t count = 0, olen = strlen(old_name);
	uint8_t guid[16];
	bool exists_old = false, exists_new = false;
	int ret;

	if (storage->readonly)
		return maildir_error(storage, MAILFERRY_E_PERM,
		                     "storage %s is read-only",
		                     storage->display);
	if (maildir_name_is_inbox(old_name) || maildir_name_is_inbox(new_name))
		return maildir_error(storage, MAILFERRY_E_NOTSUPP,
		                     "renaming INBOX (or to INBOX) is not "
		                     "supported");
	if (strncmp(new_name, old_name, olen) == 0 && new_name[olen] == '/')
		return maildir_error(storage, MAILFERRY_E_INVALID,
		                     "cannot rename %s under itself (%s)",
		                     old_name, new_name);
	if ((ret = maildir_box_paths(storage, old_name, &op, NULL, NULL)) < 0 ||
	    (ret = maildir_box_paths(storage, new_name, &np, NULL, NULL)) < 0)
		goto out;
	if ((ret = maildir_list_names(storage, &names, &count)) < 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(names[i], old_name) == 0)
			exists_old = true;
		if (strcmp(names[i], new_name) == 0)
			exists_new = true;
	}
	if (!exists_old) {
		ret = maildir_error(storage, MAILFERRY_E_NOTFOUND,
		                    "mailbox %s does not exist", old_name);
		goto out;
	}
	/* In Maildir++ a parent that only its children imply has no
	 * directory of its own: renaming onto it is a plain rename, as in
	 * Dovecot. Every target is checked first, so that a clash never
	 * leaves the tree half renamed. */
	if (exists_new &&
	    (storage->layout != MAILDIR_LAYOUT_MAILDIRPP || dir_exists(np))) {
		ret = maildir_error(storage, MAILFERRY_E_EXISTS,
		                    "mailbox %s already exists", new_name);
		goto out;
	}
	if (storage->layout == MAILDIR_LAYOUT_MAILDIRPP &&
	    (ret = maildirpp_check_targets(storage, names, count, old_name,
	                                   new_name)) < 0)
		goto out;
	if (storage->layout == MAILDIR_LAYOUT_FS) {
		/* children move with the directory */
		ret = rename_one(storage, old_name, new_name);
	} else {
		/* Maildir++: every child is its own directory */
		ret = rename_one(storage, old_name, new_name);
		for (size_t i = 0; i < count && ret == 0; i++) {
			if (strncmp(names[i], old_name, olen) == 0 &&
			    names[i][olen] == '/') {
				char *nn = mf_strdup_printf("%s%s", new_name,
				                            names[i] + olen);

				ret = rename_one(storage, names[i], nn);
				free(nn);
			}
		}
	}
	if (ret == 0) {
		mf_mailbox_log_name_guid(new_name, guid);
		maildir_mailbox_log_add(storage, MF_MAILBOX_LOG_RENAME, guid);
	}
out:
	maildir_names_free(&names, count);
	free(op);
	free(np);
	return ret;
}

int maildir_mailbox_update(struct mailferry_storage *storage, const char *name,
                           const struct mailferry_mailbox_update *update)
{
	struct mailferry_mailbox *box = NULL;
	struct maildir_dotlock *lock = NULL;
	uint32_t fields = update->fields;
	int ret;

	if (storage->readonly)
		return maildir_error(storage, MAILFERRY_E_PERM,
		                     "storage %s is read-only",
		                     storage->display);
	if ((ret = maildir_mailbox_open(storage, name, 0, &box)) < 0)
		return ret;
	if ((ret = maildir_uidlist_lock(box, &lock)) < 0)
		goto out;
	if ((ret = maildir_sync(box, lock)) < 0)
		goto out;
	struct maildir_uidlist *ul = &box->uidlist;
	bool changed = false;

	if ((fields & MAILFERRY_UPDATE_GUID) != 0 &&
	    memcmp(ul->guid, update->guid, 16) != 0) {
		memcpy(ul->guid, update->guid, 16);
		ul->have_guid = true;
		changed = true;
	}
	bool new_uidvalidity = false;

	if ((fields & MAILFERRY_UPDATE_UIDVALIDITY) != 0 &&
	    update->uidvalidity != 0 &&
	    ul->uidvalidity != update->uidvalidity) {
		ul->uidvalidity = update->uidvalidity;
		changed = true;
		new_uidvalidity = true;
		/* An empty mailbox under a new UIDVALIDITY is as if newly
		 * created: its UIDs restart (driver.h, mailbox_update), as
		 * Dovecot's index reset does. */
		if (ul->recs.count == 0)
			ul->next_uid = 1;
	}
	if ((fields & MAILFERRY_UPDATE_MIN_UIDNEXT) != 0 &&
	    update->min_uidnext > ul->next_uid) {
		ul->next_uid = update->min_uidnext;
		changed = true;
	}
	if (changed) {
		char *path = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME,
		                              box->control_dir);
		char *error = NULL;

		if (maildir_uidlist_write(ul, path, &box->perm,
		                          maildir_fsync_commit(storage),
		                          &error) < 0) {
			ret = maildir_error(storage, maildir_errno_code(errno),
			                    "%s", error);
			free(error);
			free(path);
			goto out;
		}
		free(path);
		if (new_uidvalidity)
			maildir_index_reset(box);
		/* new UIDVALIDITY / next UID into the index */
		if ((ret = maildir_sync(box, lock)) < 0)
			goto out;
	}
	if ((fields & MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ) != 0 &&
	    box->index != NULL &&
	    update->min_highest_modseq > mf_index_highest_modseq(box->index)) {
		struct mf_index_trans *t;

		if (mf_index_lock(box->index) == 0) {
			t = mf_index_trans_begin(box->index,
			                         MF_INDEX_TRANS_EXTERNAL);
			mf_index_trans_modseq(t, 0, update->min_highest_modseq);
			if (mf_index_trans_commit(&t) < 0)
				ret = maildir_error(
				    storage, MAILFERRY_E_TEMP, "mailbox %s: %s",
				    name, mf_index_last_error(box->index));
			mf_index_unlock(box->index);
		} else {
			ret = maildir_error(storage, MAILFERRY_E_TEMP,
			                    "mailbox %s: %s", name,
			                    mf_index_last_error(box->index));
		}
	}
out:
	maildir_dotlock_release(&lock);
	maildir_mailbox_close(&box);
	return ret;
}

/* The lock dsync takes: an fcntl-locked .dovecot-box-sync.lock in the
 * index directory, removed again by its holder. Whoever gets the lock checks that the file it
 * locked is still the one at the path (the previous holder may have
 * unlinked it meanwhile), as Dovecot's file_create_locked() does. */
static int take_sync_lock(struct mailferry_mailbox *box)
{
	struct mailferry_storage *storage = box->storage;
	const char *t =
	    maildir_api->setting(storage->ctx, "mailbox_lock_timeout");
	long timeout = t != NULL ? strtol(t, NULL, 10) : 300;
	char *path =
	    mf_strdup_printf("%s/.dovecot-box-sync.lock", box->index_dir);
	time_t start = time(NULL);
	int fd = -1, ret = 0;

	for (;;) {
		struct flock fl;
		struct stat st_fd, st_path;

		if (fd < 0) {
			fd = mf_perm_open(&box->perm, path,
			                  O_RDWR | O_CREAT | O_CLOEXEC);
			if (fd < 0) {
				ret = maildir_error(storage,
				                    maildir_errno_code(errno),
				                    "open(%s) failed: %s", path,
				                    strerror(errno));
				break;
			}
		}
		mf_zero(&fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0) {
			if (fstat(fd, &st_fd) == 0 &&
			    stat(path, &st_path) == 0 &&
			    st_fd.st_ino == st_path.st_ino &&
			    st_fd.st_dev == st_path.st_dev)
				break; /* ours */
			close(fd);     /* unlinked by the previous holder */
			fd = -1;
			continue;
		}
		if (errno != EACCES && errno != EAGAIN) {
			ret = maildir_error(storage, MAILFERRY_E_TEMP,
			                    "fcntl(%s) failed: %s", path,
			                    strerror(errno));
			break;
		}
		if (time(NULL) - start >= timeout) {
			ret = maildir_error(
			    storage, MAILFERRY_E_INUSE,
			    "mailbox %s: timed out waiting for %s", box->vname,
			    path);
			break;
		}
		usleep(50000);
	}
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		free(path);
		return ret;
	}
	box->sync_lock_fd = fd;
	box->sync_lock_path = path;
	return 0;
}

int maildir_mailbox_open(struct mailferry_storage *storage, const char *name,
                         uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct mailferry_mailbox *box;
	int ret;

	box = mf_calloc(1, sizeof(*box));
	box->storage = storage;
	box->sync_lock_fd = -1;
	box->vname = mf_strdup(maildir_name_is_inbox(name) ? "INBOX" : name);
	box->readonly =
	    storage->readonly || (flags & MAILFERRY_MAILBOX_READONLY) != 0;
	if ((ret = maildir_box_paths(storage, name, &box->path,
	                             &box->control_dir, &box->index_dir)) < 0)
		goto fail;
	if (!box_exists(storage, name, box->path)) {
		ret = maildir_error(storage, MAILFERRY_E_NOTFOUND,
		                    "mailbox %s does not exist", name);
		goto fail;
	}
	mf_perm_for_dir(&storage->perm, box->path, &box->perm);
	if (!storage->readonly) {
		/* Dovecot creates missing subdirectories on demand */
		if (strcmp(box->control_dir, box->path) != 0 ||
		    strcmp(box->index_dir, box->path) != 0 ||
		    !dir_exists(box->path)) {
			if ((ret = maildir_create_subdirs(
			         storage, &box->perm, box->path,
			         box->control_dir, box->index_dir)) < 0)
				goto fail;
		}
	}
	maildir_index_open(box);
	/* unchanged since the index was last brought in line: read it
	 * without the sync lock, as dsync does, and lock only when
	 * something is done with it (maildir_sync_lock_ensure()) */
	if ((ret = maildir_sync_try_lazy(box)) < 0)
		goto fail;
	if (ret > 0) {
		box->sync_lock_pending =
		    (flags & MAILFERRY_MAILBOX_SYNC_LOCK) != 0;
	} else {
		if ((flags & MAILFERRY_MAILBOX_SYNC_LOCK) != 0 &&
		    (ret = take_sync_lock(box)) < 0)
			goto fail;
		if ((ret = maildir_sync(box, NULL)) < 0)
			goto fail;
	}
	*box_r = box;
	return 0;
fail:
	maildir_mailbox_close(&box);
	return ret;
}

int maildir_sync_lock_ensure(struct mailferry_mailbox *box)
{
	int ret;

	if (!box->sync_lock_pending)
		return 0;
	if ((ret = take_sync_lock(box)) < 0)
		return ret;
	box->sync_lock_pending = false;
	/* someone may have changed it before we had the lock */
	box->lazy = false;
	ret = maildir_sync_try_quick(box);
	return ret != 0 ? (ret < 0 ? ret : 0) : maildir_sync(box, NULL);
}

void maildir_mailbox_close(struct mailferry_mailbox **boxp)
{
	struct mailferry_mailbox *box = *boxp;

	if (box == NULL)
		return;
	*boxp = NULL;
	maildir_msgs_clear(box);
	mf_array_free(&box->msgs);
	maildir_uidlist_clear(&box->uidlist);
	maildir_keywords_clear(&box->keywords);
	if (box->index != NULL)
		mf_index_close(&box->index);
	if (box->sync_lock_fd >= 0) {
		/* unlink while still holding the lock */
		(void)unlink(box->sync_lock_path);
		close(box->sync_lock_fd);
	}
	free(box->sync_lock_path);
	mf_buf_free(&box->path_buf);
	mf_array_free(&box->saved_uids);
	maildir_kw_ops_clear(box);
	mf_array_free(&box->kw_ops);
	free(box->vname);
	free(box->path);
	free(box->control_dir);
	free(box->index_dir);
	free(box);
}

/* What maildir_mailbox_status() says of a mailbox whose index describes
 * it, new/ being empty. */
static void status_from_index(struct mf_index *idx, const uint8_t guid[16],
                              struct mailferry_mailbox_status *status_r)
{
	const struct mf_index_header *ihdr = mf_index_get_header(idx);

	mf_zero(status_r);
	status_r->struct_size = sizeof(*status_r);
	memcpy(status_r->guid, guid, 16);
	status_r->uidvalidity = ihdr->uid_validity;
	status_r->uidnext = ihdr->next_uid;
	status_r->messages = mf_index_count(idx);
	status_r->first_recent_uid = status_r->uidnext;
	if (ihdr->first_recent_uid != 0 &&
	    ihdr->first_recent_uid < status_r->first_recent_uid)
		status_r->first_recent_uid = ihdr->first_recent_uid;
	status_r->highest_modseq = mf_index_highest_modseq(idx);
}

int maildir_mailbox_quick_status(struct mailferry_storage *storage,
                                 const char *name,
                                 struct mailferry_mailbox_status *status_r)
{
	char *path = NULL, *control = NULL, *index_dir = NULL, *p;
	const struct mf_index_header *ihdr;
	struct maildir_index_hdr hdr;
	struct maildir_uidlist ul;
	struct mf_index *idx = NULL;
	struct stat new_st, cur_st, ul_st;
	char *error = NULL;
	bool ok;
	int ret;

	if (storage->no_index)
		return 0;
	if ((ret = maildir_box_paths(storage, name, &path, &control,
	                             &index_dir)) < 0)
		return ret;
	mf_zero(&ul);
	/* an index we only read: one that is missing or broken is the
	 * open's business */
	ok = mf_index_open(index_dir, "dovecot.index", MF_INDEX_OPEN_READONLY,
	                   NULL, &idx, &error) == 0 &&
	     maildir_index_dirs_hdr(idx, &hdr);
	free(error);
	p = mf_strdup_printf("%s/new", path);
	ok = ok && stat(p, &new_st) == 0 &&
	     maildir_dir_unchanged(hdr.new_check_time, hdr.new_mtime,
	                           hdr.new_mtime_nsecs, &new_st) &&
	     maildir_status_without_new(idx, p);
	free(p);
	p = mf_strdup_printf("%s/cur", path);
	ok = ok && stat(p, &cur_st) == 0 &&
	     maildir_dir_unchanged(hdr.cur_check_time, hdr.cur_mtime,
	                           hdr.cur_mtime_nsecs, &cur_st);
	free(p);
	p = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, control);
	ok = ok && stat(p, &ul_st) == 0 &&
	     hdr.uidlist_size == (uint32_t)ul_st.st_size &&
	     hdr.uidlist_mtime == (uint32_t)ul_st.st_mtime &&
	     hdr.uidlist_mtime_nsecs == (uint32_t)ul_st.st_mtim.tv_nsec &&
	     maildir_uidlist_read_header(p, &ul) == 0;
	free(p);
	/* a killed commit's journal: the open's full sync applies it */
	ok = ok && !maildir_journal_exists(control);
	if (ok) {
		ihdr = mf_index_get_header(idx);
		ok = ihdr->uid_validity != 0 &&
		     ihdr->uid_validity == ul.uidvalidity &&
		     ihdr->next_uid >= ul.next_uid;
	}
	if (ok)
		status_from_index(idx, ul.guid, status_r);
	if (idx != NULL)
		mf_index_close(&idx);
	maildir_uidlist_clear(&ul);
	free(path);
	free(control);
	free(index_dir);
	return ok ? 1 : 0;
}

int maildir_mailbox_status(struct mailferry_mailbox *box,
                           struct mailferry_mailbox_status *status_r)
{
	int ret;

	if (box->lazy) {
		/* still unchanged: the index has the answer */
		if ((ret = maildir_sync_try_lazy(box)) < 0)
			return ret;
		if (ret > 0 && box->lazy) {
			status_from_index(box->index, box->lazy_guid, status_r);
			return 0;
		}
	}
	if ((ret = maildir_msgs_ensure(box)) < 0)
		return ret;
	ret = maildir_sync_quick(box);

	if (ret < 0)
		return ret;
	mf_zero(status_r);
	status_r->struct_size = sizeof(*status_r);
	memcpy(status_r->guid, box->uidlist.guid, 16);
	status_r->uidvalidity = box->uidlist.uidvalidity;
	status_r->uidnext = box->uidlist.next_uid;
	status_r->messages = (uint32_t)box->msgs.count;
	status_r->first_recent_uid = status_r->uidnext;
	for (size_t i = 0; i < box->msgs.count; i++) {
		if (box->msgs.items[i].in_new) {
			status_r->first_recent_uid = box->msgs.items[i].uid;
			break;
		}
	}
	if (box->index != NULL) {
		uint32_t fr = mf_index_get_header(box->index)->first_recent_uid;

		if (fr != 0 && fr < status_r->first_recent_uid)
			status_r->first_recent_uid = fr;
	} else if (box->msgs.count > 0) {
		status_r->first_recent_uid = box->msgs.items[0].uid;
	}
	if (box->index != NULL) {
		const struct mf_index_header *hdr =
		    mf_index_get_header(box->index);

		status_r->highest_modseq = mf_index_highest_modseq(box->index);
		if (hdr->next_uid > status_r->uidnext)
			status_r->uidnext = hdr->next_uid;
	}
	return 0;
}
