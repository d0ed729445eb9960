/* SPDX-License-Identifier: MIT */
/* mf-uidvalidity.c - dovecot-uidvalidity allocation (see the header). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-uidvalidity.h"

#define UV_FILE "dovecot-uidvalidity"
/* A concurrent allocator may rename the marker between our scan and our
 * rename; retry with the following values a few times. */
#define UV_RETRIES 10

static int parse_hex8(const char *s, size_t len, uint32_t *value_r)
{
	uint32_t v = 0;

	if (len == 0 || len > 8)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return -1;
		v = (v << 4) | d;
	}
	*value_r = v;
	return 0;
}

int mf_uidvalidity_read(const char *dir, uint32_t *value_r, char **error_r)
{
	char *path = mf_strdup_printf("%s/" UV_FILE, dir);
	char buf[16];
	ssize_t n;
	int fd;

	*value_r = 0;
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT) {
			free(path);
			return 0;
		}
		*error_r = mf_strdup_printf("open(%s) failed: %s", path,
		                            strerror(errno));
		free(path);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		*error_r = mf_strdup_printf("read(%s) failed: %s", path,
		                            strerror(errno));
		close(fd);
		free(path);
		return -1;
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (parse_hex8(buf, (size_t)n, value_r) < 0) {
		*error_r =
		    mf_strdup_printf("%s: not 8 hex digits at offset 0", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static uint32_t time_value(uint32_t after)
{
	uint32_t now = (uint32_t)time(NULL);

	if (now <= after)
		now = after + 1;
	return now == 0 ? 1 : now;
}

static void write_main(const char *dir, const struct mf_perm *perm,
                       uint32_t value)
{
	char *path = mf_strdup_printf("%s/" UV_FILE, dir);
	char buf[9];
	int fd;

	/* Like Dovecot: overwrite in place (8 bytes, same length every
	 * time). A failure only costs a rescan next time. */
	fd = mf_perm_open(perm, path, O_RDWR | O_CREAT);
	if (fd >= 0) {
		snprintf(buf, sizeof(buf), "%08x", value);
		if (pwrite(fd, buf, 8, 0) != 8)
			(void)0; /* best effort, see above */
		close(fd);
	}
	free(path);
}

/* Rename marker .cur to .cur+1, skipping values other allocators took. */
static int rename_marker(const char *dir, uint32_t *value, char **error_r)
{
	for (int i = 0; i < UV_RETRIES; i++) {
		char *src =
		    mf_strdup_printf("%s/" UV_FILE ".%08x", dir, *value);
		char *dst;
		uint32_t next = *value + 1;
		int ret;

		if (next == 0)
			next = 1;
		dst = mf_strdup_printf("%s/" UV_FILE ".%08x", dir, next);
		ret = rename(src, dst);
		if (ret < 0 && errno != ENOENT) {
			*error_r = mf_strdup_printf("rename(%s, %s) failed: %s",
			                            src, dst, strerror(errno));
			free(src);
			free(dst);
			return -1;
		}
		free(src);
		free(dst);
		*value = next;
		if (ret == 0)
			return 0;
	}
	*error_r = mf_strdup_printf("%s/" UV_FILE ": marker file vanished "
	                            "while allocating",
	                            dir);
	return -1;
}

static int rescan(const char *dir, const struct mf_perm *perm,
                  uint32_t *value_r, char **error_r)
{
	/* the marker is empty and read-only, as Dovecot makes it; only its
	 * owner follows perm */
	struct mf_perm marker_perm = *perm;
	DIR *d = opendir(dir);
	struct dirent *de;
	uint32_t min = UINT32_MAX, max = 0;
	const size_t plen = strlen(UV_FILE ".");

	if (d == NULL) {
		*error_r = mf_strdup_printf("opendir(%s) failed: %s", dir,
		                            strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		uint32_t v;

		if (strncmp(de->d_name, UV_FILE ".", plen) != 0)
			continue;
		if (parse_hex8(de->d_name + plen, strlen(de->d_name + plen),
		               &v) < 0)
			continue;
		min = MF_MIN(min, v);
		max = MF_MAX(max, v);
	}
	closedir(d);
	if (max == 0) {
		uint32_t v = time_value(0);

		for (int i = 0; i < UV_RETRIES; i++, v++) {
			char *p =
			    mf_strdup_printf("%s/" UV_FILE ".%08x", dir, v);
			int fd;

			marker_perm.file_mode = 0444;
			fd = mf_perm_open(&marker_perm, p,
			                  O_RDWR | O_CREAT | O_EXCL);

			if (fd < 0 && errno != EEXIST) {
				*error_r = mf_strdup_printf(
				    "open(%s) failed: %s", p, strerror(errno));
				free(p);
				return -1;
			}
			free(p);
			if (fd >= 0) {
				close(fd);
				write_main(dir, perm, v);
				*value_r = v;
				return 0;
			}
		}
		*error_r = mf_strdup_printf("%s: could not create a "
		                            "uidvalidity marker",
		                            dir);
		return -1;
	}
	if (min != max) {
		char *p = mf_strdup_printf("%s/" UV_FILE ".%08x", dir, min);

		(void)unlink(p);
		free(p);
	}
	if (rename_marker(dir, &max, error_r) < 0)
		return -1;
	write_main(dir, perm, max);
	*value_r = max;
	return 0;
}

int mf_uidvalidity_next(const char *dir, uint32_t *value_r, char **error_r)
{
	struct mf_perm perm;

	mf_perm_init_default(&perm);
	return mf_uidvalidity_next_perm(dir, &perm, value_r, error_r);
}

int mf_uidvalidity_next_perm(const char *dir, const struct mf_perm *perm,
                             uint32_t *value_r, char **error_r)
{
	uint32_t cur;
	char *err = NULL;

	if (mf_uidvalidity_read(dir, &cur, &err) < 0) {
		/* a broken main file is rebuilt from the markers */
		free(err);
		cur = 0;
	}
	if (cur != 0) {
		uint32_t v = cur;

		if (rename_marker(dir, &v, &err) == 0) {
			write_main(dir, perm, v);
			*value_r = v;
			return 0;
		}
		free(err);
	}
	return rescan(dir, perm, value_r, error_r);
}
