/* SPDX-License-Identifier: MIT */
/* mf-index-lock.c - the log lock (fcntl, as Dovecot's lock_method=fcntl),
 * log creation and rotation (dovecot-formats.md §8.7-§8.9). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-index-private.h"

/* Lock the whole file for writing, polling until timeout_secs. Open file
 * description locks (Linux) conflict with Dovecot's classic fcntl locks
 * like classic ones do, but belong to our descriptor instead of the
 * process: two handles of one index in one process exclude each other,
 * and closing some other descriptor of the file does not drop the lock.
 * Elsewhere we fall back to classic locks. */
static int fcntl_lock(int fd, short type, uint32_t timeout_secs)
{
	struct flock fl;
	struct timespec start, now, pause = {0, 10 * 1000 * 1000};
	int cmd;

#ifdef F_OFD_SETLK
	cmd = F_OFD_SETLK;
#else
	cmd = F_SETLK;
#endif
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		mf_zero(&fl);
		fl.l_type = type;
		fl.l_whence = SEEK_SET;
		fl.l_start = 0;
		fl.l_len = 0;
		if (fcntl(fd, cmd, &fl) == 0)
			return 0;
		if (errno == EINVAL && cmd != F_SETLK) {
			cmd = F_SETLK; /* kernel without OFD locks */
			continue;
		}
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)timeout_secs) {
			errno = EAGAIN;
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}

/* Create <log>.newlock exclusively with a log header; the caller renames
 * or links it into place. Waits while another process holds .newlock
 * (Dovecot's dotlock), taking over one older than a minute. */
static int newlock_create(struct mf_index *index, const uint8_t *hdr,
                          char **path_r)
{
	char *path = mf_strdup_printf("%s.newlock", index->log_path);
	time_t start = time(NULL);
	int fd;

	for (;;) {
		struct stat st;

		fd =
		    mf_perm_open(&index->perm, path, O_RDWR | O_CREAT | O_EXCL);
		if (fd >= 0)
			break;
		if (errno != EEXIST) {
			int ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
			                             "open(%s) failed: %s",
			                             path, strerror(errno));
			free(path);
			return ret;
		}
		if (stat(path, &st) == 0 && st.st_mtime < time(NULL) - 60)
			(void)unlink(path);
		if (time(NULL) - start > (time_t)index->set.lock_timeout_secs) {
			int ret =
			    mf_index_set_error(index, MF_INDEX_ERR_LOCK_TIMEOUT,
			                       "timeout waiting for %s", path);
			free(path);
			return ret;
		}
		usleep(10000);
	}
	if (mf_write_full(fd, hdr, MF_LOG_HDR_SIZE) < 0 ||
	    ((index->flags & MF_INDEX_OPEN_FSYNC) != 0 && fsync(fd) < 0)) {
		int ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                             "write(%s) failed: %s", path,
		                             strerror(errno));
		close(fd);
		(void)unlink(path);
		free(path);
		return ret;
	}
	close(fd);
	*path_r = path;
	return 0;
}

/* No log exists: start one, continuing the main index if there is one. */
static int log_create(struct mf_index *index)
{
	uint8_t hdr[MF_LOG_HDR_SIZE];
	char *tmp;
	uint32_t now = (uint32_t)time(NULL);
	int ret;

	if (index->have_log) {
		/* only a .log.2 is left: continue after it */
		mf_log_header_build(
		    hdr, index->log.indexid, index->log.seq + 1, index->log.seq,
		    (uint32_t)index->log.valid_size, now,
		    index->log_modseq > 0 ? index->log_modseq : 1);
	} else if (index->have_main) {
		uint64_t modseq = mf_index_highest_modseq(index);

		mf_log_header_build(
		    hdr, mf_map_hdr32(&index->map, MF_HOFF_INDEXID),
		    index->main_log_seq + 1, index->main_log_seq,
		    mf_map_hdr32(&index->map, MF_HOFF_HEAD), now,
		    modseq > 0 ? modseq : 1);
	} else {
		mf_log_header_build(hdr, now, 1, 0, 0, now, 1);
	}
	if ((ret = newlock_create(index, hdr, &tmp)) < 0)
		return ret;
	/* link, not rename: never replace a log someone else just made */
	if (link(tmp, index->log_path) < 0 && errno != EEXIST) {
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "link(%s, %s) failed: %s", tmp,
		                         index->log_path, strerror(errno));
		(void)unlink(tmp);
		free(tmp);
		return ret;
	}
	(void)unlink(tmp);
	free(tmp);
	return 0;
}

int mf_index_lock(struct mf_index *index)
{
	int ret;

	if (index->locked)
		return mf_index_set_error(index, MF_INDEX_ERR_INVALID,
		                          "index %s is already locked",
		                          index->log_path);
	for (int tries = 0; tries < 100; tries++) {
		struct stat st1, st2;
		int fd;

		fd = open(index->log_path, O_RDWR | O_APPEND);
		if (fd < 0 && errno == ENOENT) {
			if ((index->flags & MF_INDEX_OPEN_READONLY) != 0)
				return mf_index_set_error(
				    index, MF_INDEX_ERR_NOTFOUND,
				    "%s does not exist", index->log_path);
			/* load first, so a new log continues the index */
			ret = mf_index_load(index);
			if (ret < 0 && ret != MF_INDEX_ERR_NOTFOUND)
				return ret;
			if (index->have_log &&
			    strcmp(index->log.path, index->log_path) == 0)
				continue; /* someone created it meanwhile */
			if ((ret = log_create(index)) < 0)
				return ret;
			continue;
		}
		if (fd < 0)
			return mf_index_set_error(
			    index, MF_INDEX_ERR_IO, "open(%s) failed: %s",
			    index->log_path, strerror(errno));
		if (fcntl_lock(fd, F_WRLCK, index->set.lock_timeout_secs) < 0) {
			ret = errno == EAGAIN
			          ? mf_index_set_error(
			                index, MF_INDEX_ERR_LOCK_TIMEOUT,
			                "timeout locking %s", index->log_path)
			          : mf_index_set_error(
			                index, MF_INDEX_ERR_IO,
			                "fcntl(%s, F_SETLKW) failed: "
			                "%s",
			                index->log_path, strerror(errno));
			close(fd);
			return ret;
		}
		/* the file may have been rotated or recreated while we
		 * waited: then lock the new one */
		if (fstat(fd, &st1) < 0 || stat(index->log_path, &st2) < 0 ||
		    st1.st_ino != st2.st_ino || st1.st_dev != st2.st_dev) {
			close(fd);
			continue;
		}
		index->lock_fd = fd;
		index->locked = true;
		ret = mf_index_load(index);
		if (ret < 0) {
			mf_index_unlock(index);
			return ret;
		}
		return 0;
	}
	return mf_index_set_error(index, MF_INDEX_ERR_IO,
	                          "%s keeps being replaced while locking",
	                          index->log_path);
}

void mf_index_unlock(struct mf_index *index)
{
	if (!index->locked)
		return;
	/* closing drops the fcntl lock */
	close(index->lock_fd);
	index->lock_fd = -1;
	index->locked = false;
}

/* Remove a torn or failed write at the end of the head log (Dovecot does
 * the same before appending). */
int mf_index_truncate_garbage(struct mf_index *index)
{
	struct stat st;

	if (index->log.last_trans_end > index->log.valid_size) {
		/* cutting here would leave that transaction incomplete and
		 * everything after it unreadable, for Dovecot too */
		return mf_index_set_error(
		    index, MF_INDEX_ERR_CORRUPT,
		    "corrupted transaction log %s: a transaction announces "
		    "bytes up to offset %zu but the log ends at offset %zu; "
		    "not writing",
		    index->log_path, index->log.last_trans_end,
		    index->log.valid_size);
	}

	if (fstat(index->lock_fd, &st) < 0)
		return mf_index_set_error(index, MF_INDEX_ERR_IO,
		                          "fstat(%s) failed: %s",
		                          index->log_path, strerror(errno));
	if ((uint64_t)st.st_size > index->log.valid_size &&
	    ftruncate(index->lock_fd, (off_t)index->log.valid_size) < 0)
		return mf_index_set_error(index, MF_INDEX_ERR_IO,
		                          "ftruncate(%s) failed: %s",
		                          index->log_path, strerror(errno));
	return 0;
}

bool mf_index_want_rotate(const struct mf_index *index)
{
	const struct mf_log_file *f = &index->log;

	if (!index->have_log)
		return false;
	if (f->major < MF_LOG_MAJOR ||
	    (f->major == MF_LOG_MAJOR && f->minor < MF_LOG_MINOR))
		return true;
	if (f->valid_size > index->set.log_rotate_max_size)
		return true;
	if (f->valid_size < index->set.log_rotate_min_size)
		return false;
	return (int64_t)f->create_stamp <
	       (int64_t)time(NULL) - (int64_t)index->set.log_rotate_min_age;
}

/* Rotate while holding the lock: the main index is written first so it
 * points into the log that becomes .log.2. */
int mf_index_rotate_locked(struct mf_index *index)
{
	uint8_t hdr[MF_LOG_HDR_SIZE];
	char *tmp;
	int ret;

	if (mf_map_check_header(&index->map) != NULL) {
		/* the index could not be written, so the log must stay
		 * whole: no rotation */
		return 0;
	}
	if ((ret = mf_index_truncate_garbage(index)) < 0)
		return ret;
	mf_map_set_hdr32(&index->map, MF_HOFF_LOG2_ROTATE,
	                 (uint32_t)time(NULL));
	if ((ret = mf_index_write_main_locked(index)) < 0)
		return ret;
	mf_log_header_build(hdr, index->log.indexid, index->log.seq + 1,
	                    index->log.seq, (uint32_t)index->log.valid_size,
	                    (uint32_t)time(NULL),
	                    index->log_modseq > 0 ? index->log_modseq : 1);
	if ((ret = newlock_create(index, hdr, &tmp)) < 0)
		return ret;
	if ((unlink(index->log2_path) < 0 && errno != ENOENT) ||
	    link(index->log_path, index->log2_path) < 0) {
		ret = mf_index_set_error(
		    index, MF_INDEX_ERR_IO, "link(%s, %s) failed: %s",
		    index->log_path, index->log2_path, strerror(errno));
		(void)unlink(tmp);
		free(tmp);
		return ret;
	}
	if (rename(tmp, index->log_path) < 0) {
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "rename(%s, %s) failed: %s", tmp,
		                         index->log_path, strerror(errno));
		(void)unlink(tmp);
		free(tmp);
		return ret;
	}
	free(tmp);
	/* lock the new head (nobody else can have it yet for writing:
	 * they re-check the inode after locking the old one) */
	mf_index_unlock(index);
	return mf_index_lock(index);
}

int mf_index_write_main_locked(struct mf_index *index)
{
	struct mf_buf buf = MF_BUF_INIT;
	char *tmp = mf_strdup_printf("%s.tmp", index->index_path);
	char *backup = mf_strdup_printf("%s.backup", index->index_path);
	const char *why = mf_map_check_header(&index->map);
	int fd, ret = 0;

	if (why != NULL) {
		/* Dovecot would call such an index corrupted */
		ret = mf_index_set_error(index, MF_INDEX_ERR_INVALID,
		                         "not writing %s: %s",
		                         index->index_path, why);
		goto out;
	}
	if (index->have_log) {
		mf_map_set_hdr32(&index->map, MF_HOFF_LOG_SEQ, index->log.seq);
		mf_map_set_hdr32(&index->map, MF_HOFF_HEAD,
		                 (uint32_t)index->log.valid_size);
	}
	mf_index_file_build(&index->map, &buf);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
	          index->perm.file_mode);
	if (fd >= 0)
		(void)mf_perm_fix_fd(&index->perm, fd, tmp, false);
	if (fd < 0) {
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "open(%s) failed: %s", tmp,
		                         strerror(errno));
		goto out;
	}
	if (mf_write_full(fd, buf.data, buf.len) < 0 ||
	    mf_map_records_write(&index->map, fd) < 0 ||
	    ((index->flags & MF_INDEX_OPEN_FSYNC) != 0 && fsync(fd) < 0)) {
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "write(%s) failed: %s", tmp,
		                         strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	if (close(fd) < 0) {
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "close(%s) failed: %s", tmp,
		                         strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	if ((index->flags & MF_INDEX_OPEN_KEEP_BACKUPS) != 0) {
		(void)unlink(backup);
		if (link(index->index_path, backup) < 0 && errno != ENOENT) {
			ret = mf_index_set_error(
			    index, MF_INDEX_ERR_IO, "link(%s, %s) failed: %s",
			    index->index_path, backup, strerror(errno));
			(void)unlink(tmp);
			goto out;
		}
	}
	if (rename(tmp, index->index_path) < 0) {
		ret = mf_index_set_error(index, MF_INDEX_ERR_IO,
		                         "rename(%s, %s) failed: %s", tmp,
		                         index->index_path, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	index->have_main = true;
	index->main_log_seq = mf_map_hdr32(&index->map, MF_HOFF_LOG_SEQ);
	index->main_tail = mf_map_hdr32(&index->map, MF_HOFF_TAIL);
out:
	mf_buf_free(&buf);
	free(tmp);
	free(backup);
	return ret;
}

int mf_index_write_main(struct mf_index *index)
{
	bool was_locked = index->locked;
	int ret;

	if ((index->flags & MF_INDEX_OPEN_READONLY) != 0)
		return mf_index_set_error(index, MF_INDEX_ERR_INVALID,
		                          "index %s opened read-only",
		                          index->index_path);
	if (!was_locked && (ret = mf_index_lock(index)) < 0)
		return ret;
	ret = mf_index_write_main_locked(index);
	if (!was_locked)
		mf_index_unlock(index);
	return ret;
}
