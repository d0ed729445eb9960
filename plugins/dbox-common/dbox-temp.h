/* SPDX-License-Identifier: MIT */
/* dbox-temp.h - temp files of uncommitted saves, and fsync helpers. */
#ifndef DBOX_TEMP_H
#define DBOX_TEMP_H

struct mailferry_storage;

/* Create a new temp file in dir (O_EXCL). *path_r allocated. Returns 0 or
 * a negative mailferry error (set on the storage). */
int dbox_temp_create(struct mailferry_storage *st, const char *dir,
                     char **path_r, int *fd_r);
/* Give the existing file src_path a new temp name in dir (a hard link).
 * Returns 0 with *path_r allocated, or -1 with errno set (EXDEV, EPERM,
 * EMLINK...: the caller copies the bytes instead). */
int dbox_temp_link(const char *dir, const char *src_path, char **path_r);
/* Remove stale temp files of dir (their process is gone, or older than
 * 36 hours). Errors are ignored. */
void dbox_temp_clean(struct mailferry_storage *st, const char *dir);
/* fsync a directory / the data of a file by path, unless mail_fsync is
 * never. Return 0 or a negative mailferry error. */
int dbox_fsync_dir(struct mailferry_storage *st, const char *dir);
int dbox_fsync_path(struct mailferry_storage *st, const char *path);
/* Make everything written to the filesystem holding dir durable with one
 * syncfs() (cheaper than an fsync per file from a few files on), unless
 * mail_fsync is never. Returns 0, 1 when this system has no syncfs()
 * (the caller fsyncs file by file), or a negative mailferry error. */
int dbox_syncfs(struct mailferry_storage *st, const char *dir);

#endif
