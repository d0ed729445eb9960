/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "maildir-dotlock.h"

struct maildir_dotlock {
	char *lock_path;
	struct mf_perm perm;
	dev_t dev;
	ino_t ino;
};

static void my_hostname(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0 || buf[0] == '\0')
		mf_strlcpy(buf, "localhost", size);
	buf[size - 1] = '\0';
}

/* True when the lock at lock_path names a process of this host that no
 * longer exists. */
static bool lock_owner_is_dead(const char *lock_path)
{
	char buf[512], host[256], *colon, *end;
	ssize_t n;
	long pid;
	int fd = open(lock_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	colon = strchr(buf, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	/* tolerate a trailing newline from hand-made lock files */
	colon[1 + strcspn(colon + 1, "\r\n")] = '\0';
	my_hostname(host, sizeof(host));
	if (strcmp(colon + 1, host) != 0)
		return false;
	pid = strtol(buf, &end, 10);
	if (*end != '\0' || pid <= 0)
		return false;
	if (pid == (long)getpid())
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static int try_create(struct maildir_dotlock *lock)
{
	char host[256], content[300];
	struct stat st;
	int fd;

	fd = mf_perm_open(&lock->perm, lock->lock_path,
	                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
	if (fd < 0)
		return -1;
	my_hostname(host, sizeof(host));
	snprintf(content, sizeof(content), "%ld:%s", (long)getpid(), host);
	if (mf_write_full(fd, content, strlen(content)) < 0 ||
	    fstat(fd, &st) < 0) {
		int err = errno;

		close(fd);
		(void)unlink(lock->lock_path);
		errno = err;
		return -1;
	}
	close(fd);
	lock->dev = st.st_dev;
	lock->ino = st.st_ino;
	return 0;
}

int maildir_dotlock_take(const char *path, const struct mf_perm *perm,
                         unsigned int timeout_secs, unsigned int stale_secs,
                         struct maildir_dotlock **lock_r, char **error_r)
{
	struct maildir_dotlock *lock = mf_calloc(1, sizeof(*lock));
	time_t start = time(NULL);
	useconds_t wait_usecs = 2000;

	if (perm != NULL) {
		lock->perm = *perm;
	} else {
		mf_perm_init_default(&lock->perm);
		lock->perm.file_mode = 0644;
	}
	lock->lock_path = mf_strdup_printf("%s.lock", path);
	for (;;) {
		struct stat st;

		if (try_create(lock) == 0) {
			*lock_r = lock;
			return 1;
		}
		if (errno != EEXIST) {
			int err = errno;

			*error_r =
			    mf_strdup_printf("open(%s, O_EXCL) failed: %s",
			                     lock->lock_path, strerror(err));
			free(lock->lock_path);
			free(lock);
			errno = err;
			return -1;
		}
		if (stat(lock->lock_path, &st) == 0 &&
		    (lock_owner_is_dead(lock->lock_path) ||
		     (stale_secs > 0 &&
		      time(NULL) > st.st_mtime + (time_t)stale_secs))) {
			/* stale: replace it, unless someone else did first */
			(void)unlink(lock->lock_path);
			continue;
		}
		if (time(NULL) - start >= (time_t)timeout_secs) {
			*error_r = mf_strdup_printf(
			    "timed out after %u s waiting for lock %s",
			    timeout_secs, lock->lock_path);
			free(lock->lock_path);
			free(lock);
			return 0;
		}
		usleep(wait_usecs);
		if (wait_usecs < 100000)
			wait_usecs *= 2;
	}
}

void maildir_dotlock_touch(struct maildir_dotlock *lock)
{
	if (lock != NULL && maildir_dotlock_is_ours(lock))
		(void)utimes(lock->lock_path, NULL);
}

bool maildir_dotlock_is_ours(const struct maildir_dotlock *lock)
{
	struct stat st;

	return stat(lock->lock_path, &st) == 0 && st.st_dev == lock->dev &&
	       st.st_ino == lock->ino;
}

void maildir_dotlock_release(struct maildir_dotlock **lockp)
{
	struct maildir_dotlock *lock = *lockp;

	if (lock == NULL)
		return;
	*lockp = NULL;
	if (maildir_dotlock_is_ours(lock))
		(void)unlink(lock->lock_path);
	free(lock->lock_path);
	free(lock);
}
