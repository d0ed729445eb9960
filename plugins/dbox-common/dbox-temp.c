/* SPDX-License-Identifier: MIT */
/* Temp files of uncommitted saves. Named like Dovecot's
 * (.temp.<time>.P<pid>Q<n>M<usec>.<host>) so both programs recognise and
 * clean them: a file is stale when its process is gone from this host or
 * when it is older than Dovecot's 36 hours. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "dbox-storage.h"
#include "dbox-temp.h"
#include "dbox-move.h"

#define DBOX_TEMP_MAX_AGE (36 * 60 * 60)

static const char *my_hostname(void)
{
	static char host[256];

	if (host[0] == '\0') {
		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
			mf_strlcpy(host, "localhost", sizeof(host));
		/* '/' would break the path and '.' the parsing of the
		 * name's last component */
		for (char *p = host; *p; p++) {
			if (*p == '/' || *p == '.')
				*p = '_';
		}
	}
	return host;
}

/* A new temp file name in dir, unique in this process. */
static char *temp_name(const char *dir)
{
	static unsigned int counter;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return mf_strdup_printf("%s/" DBOX_TEMP_PREFIX "%lld.P%dQ%uM%u.%s", dir,
	                        (long long)tv.tv_sec, (int)getpid(), ++counter,
	                        (unsigned)tv.tv_usec, my_hostname());
}

int dbox_temp_create(struct mailferry_storage *st, const char *dir,
                     char **path_r, int *fd_r)
{
	for (int tries = 0; tries < 100; tries++) {
		char *path = temp_name(dir);
		int fd;

		fd = mf_perm_open(&st->perm, path, O_RDWR | O_CREAT | O_EXCL);
		if (fd >= 0) {
			*path_r = path;
			*fd_r = fd;
			return 0;
		}
		if (errno != EEXIST) {
			int ret = dbox_error(st, dbox_errno_code(errno),
			                     "open(%s) failed: %s", path,
			                     strerror(errno));
			free(path);
			return ret;
		}
		free(path);
	}
	return dbox_error(st, MAILFERRY_E_TEMP,
	                  "could not create a unique temp file in %s", dir);
}

int dbox_temp_link(const char *dir, const char *src_path, char **path_r)
{
	for (int tries = 0; tries < 100; tries++) {
		char *path = temp_name(dir);

		if (link(src_path, path) == 0) {
			*path_r = path;
			return 0;
		}
		free(path);
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

static bool temp_is_stale(const char *dir, const char *name, time_t now)
{
	const char *p = strstr(name, ".P"), *host;
	char *path;
	struct stat sb;
	bool stale = false;

	path = mf_strdup_printf("%s/%s", dir, name);
	if (stat(path, &sb) == 0 && sb.st_ctime + DBOX_TEMP_MAX_AGE < now)
		stale = true;
	free(path);
	if (stale || p == NULL)
		return stale;
	host = strrchr(name, '.');
	if (host == NULL || strcmp(host + 1, my_hostname()) != 0)
		return false;
	{
		long pid = strtol(p + 2, NULL, 10);
		if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			stale = true;
	}
	return stale;
}

void dbox_temp_clean(struct mailferry_storage *st, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		/* move journals are for the recovery under the index lock
		 * (dbox-move.h), not for this cleanup */
		if (!mf_str_begins(de->d_name, DBOX_TEMP_PREFIX) ||
		    mf_str_begins(de->d_name, DBOX_MOVE_PREFIX) ||
		    !temp_is_stale(dir, de->d_name, now))
			continue;
		{
			char *path = mf_strdup_printf("%s/%s", dir, de->d_name);
			if (unlink(path) == 0)
				dbox_api->log(st->ctx, MAILFERRY_LOG_DEBUG,
				              "removed stale temp file %s",
				              path);
			free(path);
		}
	}
	closedir(d);
}

int dbox_fsync_dir(struct mailferry_storage *st, const char *dir)
{
	int fd, ret = 0;

	if (!dbox_want_fsync(st))
		return 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) < 0)
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "fsync(%s) failed: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

int dbox_fsync_path(struct mailferry_storage *st, const char *path)
{
	int fd, ret = 0;

	if (!dbox_want_fsync(st))
		return 0;
	fd = open(path, O_RDONLY);
	if (fd < 0 || fdatasync(fd) < 0)
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "fdatasync(%s) failed: %s", path,
		                 strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

int dbox_syncfs(struct mailferry_storage *st, const char *dir)
{
#ifdef __linux__
	int fd, ret = 0;

	if (!dbox_want_fsync(st))
		return 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* since Linux 5.8 syncfs() reports writeback errors of the
	 * filesystem, like fsync() does for a file */
	if (fd < 0 || syncfs(fd) < 0)
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "syncfs(%s) failed: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
#else
	(void)st;
	(void)dir;
	return 1;
#endif
}
