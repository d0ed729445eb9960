/* SPDX-License-Identifier: MIT */
/*
 * mf-file.h - file helpers. Every function returns 0 or -1 with errno set,
 * and, where it takes error_r, a message naming the path and the failing
 * call (allocated; the caller frees it).
 */
#ifndef MF_FILE_H
#define MF_FILE_H

#include <sys/types.h>
#include "mf-buf.h"

/* Append the whole file at path to buf. */
int mf_file_read_all(const char *path, struct mf_buf *buf, char **error_r);
/* Write data to path atomically: path.tmp.<pid>, optional fsync, rename,
 * optional fsync of the directory. */
int mf_file_write_atomic(const char *path, const void *data, size_t len,
                         mode_t mode, bool fsync_it, char **error_r);
/* mkdir -p with mode for every created component. */
int mf_mkdir_parents(const char *path, mode_t mode, char **error_r);
/* write() all of data, retrying on EINTR and short writes. */
int mf_write_full(int fd, const void *data, size_t len);
/* pread() exactly len bytes; -1 with errno = EIO on a short read (EOF). */
int mf_pread_full(int fd, void *data, size_t len, off_t offset);
/* fsync the directory containing path (or path itself if a directory). */
int mf_fsync_dir_of(const char *path, bool path_is_dir);
/* A read-write temporary file without a name, in $TMPDIR (else /tmp): it
 * goes with its last close, whatever kills the process. Returns the fd, or
 * -1 with errno set and, when error_r is given, an allocated message
 * naming the directory. prefix names the file for the moment it has a name
 * (filesystems without O_TMPFILE). */
int mf_tmpfile_anon(const char *prefix, char **error_r);

#endif
