/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-perm.h"

#define MF_PERM_FILE_DEFAULT 0600
#define MF_PERM_DIR_DEFAULT 0700

void mf_perm_init_default(struct mf_perm *perm_r)
{
	mf_zero(perm_r);
	perm_r->file_mode = MF_PERM_FILE_DEFAULT;
	perm_r->dir_mode = MF_PERM_DIR_DEFAULT;
	perm_r->uid = (uid_t)-1;
	perm_r->gid = (gid_t)-1;
}

/* Modes and group from the directory st describes, as Dovecot's
 * mailbox_list_get_permissions_stat() derives them. */
static void from_dir_stat(struct mf_perm *perm, const struct stat *st)
{
	perm->file_mode = (st->st_mode & 0666) | 0600;
	/* a setgid directory's subdirectories get the bit from the kernel;
	 * keep it when the mode is set explicitly (umask) */
	perm->dir_mode = (st->st_mode & (0777 | S_ISGID)) | 0700;
	if (perm->uid != (uid_t)-1) {
		/* root creating for the owner: the group the owner's own
		 * files there would get */
		perm->gid = st->st_gid;
	} else if ((st->st_mode & S_ISGID) != 0) {
		/* the kernel hands the directory's group down */
		perm->gid = (gid_t)-1;
	} else if (((st->st_mode & 0070) >> 3) == (st->st_mode & 0007)) {
		/* the group sees what the world sees: not worth a chgrp */
		perm->gid = (gid_t)-1;
	} else if (getegid() == st->st_gid) {
		perm->gid = (gid_t)-1; /* ours anyway */
	} else {
		perm->gid = st->st_gid;
	}
}

/* The nearest existing ancestor of path (path itself excluded). */
static int stat_first_parent(const char *path, struct stat *st_r)
{
	char *p = mf_strdup(path);
	int ret = -1;

	for (;;) {
		char *slash = strrchr(p, '/');

		if (slash == NULL) {
			ret = stat(".", st_r);
			break;
		}
		if (slash == p) {
			ret = stat("/", st_r);
			break;
		}
		*slash = '\0';
		if (stat(p, st_r) == 0) {
			ret = 0;
			break;
		}
		if (errno != ENOENT)
			break;
	}
	free(p);
	return ret;
}

void mf_perm_init_store(struct mf_perm *perm_r, const char *root,
                        void (*warn)(void *ctx, const char *msg),
                        void *warn_ctx)
{
	struct stat st;

	mf_perm_init_default(perm_r);
	perm_r->warn = warn;
	perm_r->warn_ctx = warn_ctx;
	if (root == NULL || *root == '\0')
		return;
	if (stat(root, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (geteuid() == 0 && st.st_uid != 0)
			perm_r->uid = st.st_uid;
		from_dir_stat(perm_r, &st);
		return;
	}
	/* no root yet: defaults, unless a setgid parent asks for its
	 * mode and group to be inherited (Dovecot does the same when it
	 * creates a mail root) */
	if (stat_first_parent(root, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & S_ISGID) != 0) {
		perm_r->file_mode = (st.st_mode & 0666) | 0600;
		perm_r->dir_mode = (st.st_mode & (0777 | S_ISGID)) | 0700;
	}
}

bool mf_perm_owner_from_parent(struct mf_perm *perm, const char *root)
{
	struct stat st;

	if (geteuid() != 0 || root == NULL || *root == '\0' ||
	    lstat(root, &st) == 0 || errno != ENOENT)
		return false;
	if (stat_first_parent(root, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid == 0)
		return false;
	perm->uid = st.st_uid;
	perm->gid = st.st_gid;
	return true;
}

void mf_perm_for_dir(const struct mf_perm *store, const char *dir,
                     struct mf_perm *perm_r)
{
	struct stat st;

	*perm_r = *store;
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		from_dir_stat(perm_r, &st);
}

/* The process umask, read without changing it (umask() would, for every
 * thread). Unknown: assume the strictest, so modes are always set. */
static mode_t process_umask(void)
{
	static int cached = -1;
	int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	FILE *f;
	char line[128];
	unsigned int mask;

	if (v >= 0)
		return (mode_t)v;
	v = 0777;
	f = fopen("/proc/self/status", "re");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, "Umask: %o", &mask) == 1) {
				v = (int)(mask & 0777);
				break;
			}
		}
		fclose(f);
	}
	__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	return (mode_t)v;
}

static void warn(const struct mf_perm *perm, const char *fmt, ...)
    MF_PRINTF(2, 3);
static void warn(const struct mf_perm *perm, const char *fmt, ...)
{
	va_list args;
	char msg[1024];

	if (perm->warn == NULL)
		return;
	va_start(args, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
	perm->warn(perm->warn_ctx, msg);
}

static bool needs_chmod(const struct mf_perm *perm, bool is_dir)
{
	mode_t mode = is_dir ? perm->dir_mode : perm->file_mode;

	/* open()/mkdir() gave us mode minus the umask */
	return (mode & process_umask()) != 0;
}

int mf_perm_fix_fd(const struct mf_perm *perm, int fd, const char *path,
                   bool is_dir)
{
	mode_t mode = is_dir ? perm->dir_mode : perm->file_mode;
	int ret = 0;

	if ((perm->uid != (uid_t)-1 || perm->gid != (gid_t)-1) &&
	    fchown(fd, perm->uid, perm->gid) < 0) {
		warn(perm, "fchown(%s, %ld, %ld) failed: %s", path,
		     perm->uid == (uid_t)-1 ? -1L : (long)perm->uid,
		     perm->gid == (gid_t)-1 ? -1L : (long)perm->gid,
		     strerror(errno));
		ret = -1;
	}
	if (needs_chmod(perm, is_dir) && fchmod(fd, mode) < 0) {
		warn(perm, "fchmod(%s, 0%o) failed: %s", path,
		     (unsigned int)mode, strerror(errno));
		ret = -1;
	}
	return ret;
}

int mf_perm_fix_path(const struct mf_perm *perm, const char *path, bool is_dir)
{
	int fd, ret;

	if (perm->uid == (uid_t)-1 && perm->gid == (gid_t)-1 &&
	    !needs_chmod(perm, is_dir))
		return 0;
	/* through a descriptor opened without following a symlink: run as
	 * root in a user's directory, a name swapped for a symlink must not
	 * hand its target to the user */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	                    O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
	if (fd >= 0) {
		ret = mf_perm_fix_fd(perm, fd, path, is_dir);
		close(fd);
		return ret;
	}
	if (errno == ELOOP && !is_dir) {
		/* the symlink itself: only its owner means something */
		if (perm->uid == (uid_t)-1 && perm->gid == (gid_t)-1)
			return 0;
		if (lchown(path, perm->uid, perm->gid) == 0)
			return 0;
	}
	warn(perm, "cannot set the owner and mode of %s: %s", path,
	     strerror(errno));
	return -1;
}

int mf_perm_open(const struct mf_perm *perm, const char *path, int flags)
{
	int fd;

	if ((flags & O_CREAT) == 0)
		return open(path, flags);
	if ((flags & O_EXCL) == 0) {
		/* only what we create is ours to fix: find out which */
		for (int tries = 0; tries < 100; tries++) {
			fd = open(path, flags & ~O_CREAT);
			if (fd >= 0 || errno != ENOENT)
				return fd;
			fd = open(path, flags | O_EXCL, perm->file_mode);
			if (fd >= 0) {
				(void)mf_perm_fix_fd(perm, fd, path, false);
				return fd;
			}
			if (errno != EEXIST)
				return -1;
			/* created by someone else meanwhile: open theirs */
		}
		return -1;
	}
	fd = open(path, flags, perm->file_mode);
	if (fd >= 0)
		(void)mf_perm_fix_fd(perm, fd, path, false);
	return fd;
}

int mf_perm_mkdir(const struct mf_perm *perm, const char *path)
{
	if (mkdir(path, perm->dir_mode) < 0)
		return -1;
	(void)mf_perm_fix_path(perm, path, true);
	return 0;
}

int mf_perm_mkdir_parents(const struct mf_perm *perm, const char *path,
                          char **error_r)
{
	char *p = mf_strdup(path);
	struct stat st;

	/* the common case: it is there */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		free(p);
		return 0;
	}
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;

		*s = '\0';
		if (mf_perm_mkdir(perm, p) < 0 && errno != EEXIST) {
			int err = errno;

			*error_r = mf_strdup_printf("mkdir(%s) failed: %s", p,
			                            strerror(err));
			free(p);
			errno = err;
			return -1;
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return 0;
}

int mf_perm_write_atomic(const struct mf_perm *perm, const char *path,
                         const void *data, size_t len, bool fsync_it,
                         char **error_r)
{
	char *tmp = mf_strdup_printf("%s.tmp.%ld", path, (long)getpid());
	const char *call = "open", *where = tmp;
	int fd, err;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	          perm->file_mode);
	if (fd < 0)
		goto failed;
	(void)mf_perm_fix_fd(perm, fd, tmp, false);
	call = "write";
	if (mf_write_full(fd, data, len) < 0)
		goto failed;
	call = "fdatasync";
	if (fsync_it && fdatasync(fd) < 0)
		goto failed;
	call = "close";
	err = close(fd);
	fd = -1;
	if (err < 0)
		goto failed;
	call = "rename";
	where = path;
	if (rename(tmp, path) < 0)
		goto failed;
	free(tmp);
	if (fsync_it && mf_fsync_dir_of(path, false) < 0) {
		err = errno;
		*error_r = mf_strdup_printf("fsync(%s) failed: %s", path,
		                            strerror(err));
		errno = err;
		return -1;
	}
	return 0;
failed:
	err = errno;
	*error_r =
	    mf_strdup_printf("%s(%s) failed: %s", call, where, strerror(err));
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	free(tmp);
	errno = err;
	return -1;
}
