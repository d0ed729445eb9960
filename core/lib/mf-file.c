/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"

static int fail(char **error_r, const char *call, const char *path)
{
	int err = errno;

	if (error_r != NULL)
		*error_r = mf_strdup_printf("%s(%s) failed: %s", call, path,
		                            strerror(err));
	errno = err;
	return -1;
}

int mf_file_read_all(const char *path, struct mf_buf *buf, char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return fail(error_r, "open", path);
	for (;;) {
		mf_buf_reserve(buf, 65536);
		n = read(fd, buf->data + buf->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(error_r, "read", path);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		buf->len += (size_t)n;
		buf->data[buf->len] = '\0';
	}
	close(fd);
	return 0;
}

int mf_write_full(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mf_pread_full(int fd, void *data, size_t len, off_t offset)
{
	char *p = data;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

int mf_fsync_dir_of(const char *path, bool path_is_dir)
{
	char *dir = mf_strdup(path);
	char *slash = strrchr(dir, '/');
	int fd, ret;

	if (!path_is_dir) {
		if (slash == NULL) {
			free(dir);
			dir = mf_strdup(".");
		} else if (slash == dir) {
			slash[1] = '\0';
		} else {
			*slash = '\0';
		}
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

int mf_file_write_atomic(const char *path, const void *data, size_t len,
                         mode_t mode, bool fsync_it, char **error_r)
{
	char *tmp = mf_strdup_printf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		goto failed_open;
	if (mf_write_full(fd, data, len) < 0) {
		fail(error_r, "write", tmp);
		goto failed;
	}
	if (fsync_it && fdatasync(fd) < 0) {
		fail(error_r, "fdatasync", tmp);
		goto failed;
	}
	if (close(fd) < 0) {
		fd = -1;
		fail(error_r, "close", tmp);
		goto failed;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		fail(error_r, "rename", path);
		goto failed;
	}
	free(tmp);
	if (fsync_it && mf_fsync_dir_of(path, false) < 0)
		return fail(error_r, "fsync", path);
	return 0;

failed_open:
	fail(error_r, "open", tmp);
	free(tmp);
	return -1;
failed : {
	int err = errno;

	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	errno = err;
	return -1;
}
}

int mf_mkdir_parents(const char *path, mode_t mode, char **error_r)
{
	char *p = mf_strdup(path);

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;

		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			fail(error_r, "mkdir", p);
			free(p);
			return -1;
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return 0;
}

int mf_tmpfile_anon(const char *prefix, char **error_r)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	size_t len;
	int fd, err;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	/* mkostemp() replaces the last six characters, which must be X */
	path = mf_strdup_printf("%s/%s.______", dir, prefix);
	len = strlen(path);
	memset(path + len - 6, 'X', 6);
	fd = mkostemp(path, O_CLOEXEC);
	err = errno;
	if (fd >= 0)
		(void)unlink(path);
	else if (error_r != NULL)
		*error_r = mf_strdup_printf("creating a temporary file in %s "
		                            "failed: %s",
		                            dir, strerror(err));
	free(path);
	errno = err;
	return fd;
}
