/* SPDX-License-Identifier: MIT */
/*
 * mf-perm.h - permissions and ownership of the files and directories a
 * store creates, chosen as Dovecot 2.3 chooses them
 * (mailbox_list_get_permissions(): "the permissions of the mail root are
 * used"):
 *
 *  - the mode comes from the directory the new file lives under (the
 *    mailbox's directory, else the store's root): directories get its mode
 *    bits plus 0700, files the same without any x bit, plus 0600;
 *  - the group: a setgid directory hands its group down by itself;
 *    otherwise new files get the directory's group when group and world
 *    permissions differ and it is not our own group (needs membership);
 *  - when the root directory does not exist yet: 0600/0700, unless the
 *    nearest existing parent is setgid (then its mode is copied).
 *
 * Dovecot runs as the mail user, so its files belong to that user. When
 * mailferry runs as root (an admin's `mailferry backup` into a user's
 * Maildir), it also chowns everything it creates to the owner of the
 * store's root directory, when that exists and is not root, and to the
 * group of the directory the mode came from. Files that already exist are
 * never touched, and neither are hard links (they share the source's
 * inode).
 *
 * Failing to set the owner or mode of a file we did create (e.g. NFS with
 * root squashing) does not fail the operation: the file is used as created
 * and the failure is reported through the warn callback.
 */
#ifndef MF_PERM_H
#define MF_PERM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mf_perm {
	mode_t file_mode; /* for new files (0600 by default) */
	mode_t dir_mode;  /* for new directories (0700 by default) */
	uid_t uid;        /* chown new files to it; (uid_t)-1: keep ours */
	gid_t gid;        /* chgrp new files to it; (gid_t)-1: keep */
	/* told about failures to fix what was created; may be NULL. The
	 * callback and its context are copied with the struct. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

/* 0600 / 0700, nobody's owner or group changed, no callback. */
void mf_perm_init_default(struct mf_perm *perm_r);

/* The permissions of a store rooted at root (see the rules above);
 * warn/warn_ctx are set as given. Never fails: unknowable parts keep
 * their defaults. */
void mf_perm_init_store(struct mf_perm *perm_r, const char *root,
                        void (*warn)(void *ctx, const char *msg),
                        void *warn_ctx);

/* A store root that does not exist yet and that root (euid 0) is about
 * to create: give it, the directories made on the way to it and
 * everything in it the owner and group of the nearest existing parent
 * directory, when that belongs to another user than root (a backup into
 * /home/alice/mdbox is alice's, as if she had made it; under a root-owned
 * parent everything stays root's). Dovecot, running as the mail user,
 * would create the root as that user. Modes stay as mf_perm_init_store()
 * chose them. Returns true when perm was changed; a no-op when not root,
 * when root exists, or when no parent can be stat()ed. */
bool mf_perm_owner_from_parent(struct mf_perm *perm, const char *root);

/* The permissions for new files under the existing directory dir (e.g. a
 * mailbox's): modes and group from dir, owner and callback from store.
 * When dir cannot be stat()ed, a copy of store. */
void mf_perm_for_dir(const struct mf_perm *store, const char *dir,
                     struct mf_perm *perm_r);

/* Give a file or directory we just created (fd open on it, path for the
 * messages) the owner, group and mode of perm. Returns 0, or -1 after
 * telling perm's warn callback (the file stays usable as it is). */
int mf_perm_fix_fd(const struct mf_perm *perm, int fd, const char *path,
                   bool is_dir);
/* The same for a path (a directory we just made, a file closed since, a
 * symlink: only its owner). The path is opened without following a
 * symlink, so a name swapped for one (root working in a user's directory)
 * never hands the link's target over. */
int mf_perm_fix_path(const struct mf_perm *perm, const char *path, bool is_dir);

/* open(path, flags, perm->file_mode) with O_CREAT in flags, fixing the
 * file when this call created it (never an existing one). Returns the fd,
 * or -1 with errno set. */
int mf_perm_open(const struct mf_perm *perm, const char *path, int flags);
/* mkdir(path) with perm->dir_mode, fixed when created. Returns 0, or -1
 * with errno set (EEXIST when it exists). */
int mf_perm_mkdir(const struct mf_perm *perm, const char *path);
/* mkdir -p: every missing component is created as mf_perm_mkdir() does.
 * Returns 0, or -1 with errno set and *error_r allocated naming the
 * component and mkdir. */
int mf_perm_mkdir_parents(const struct mf_perm *perm, const char *path,
                          char **error_r);
/* mf_file_write_atomic() whose new file gets perm (mode, owner, group)
 * before it is renamed into place. */
int mf_perm_write_atomic(const struct mf_perm *perm, const char *path,
                         const void *data, size_t len, bool fsync_it,
                         char **error_r);

#endif
