/* SPDX-License-Identifier: MIT */
/* mf-mailbox-log.c - dovecot.mailbox.log reading and appending (§11). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-file.h"
#include "mf-mailbox-log.h"

#define REC_SIZE 24

typedef MF_ARRAY(struct mf_mailbox_log_rec) rec_array_t;
/* Dovecot rotates the file to .2 once it reaches this size */
#define ROTATE_SIZE 4096

void mf_mailbox_log_name_guid(const char *name, uint8_t guid_r[16])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(name, strlen(name), md, &len, EVP_sha1(), NULL);
	memcpy(guid_r, md, 16);
}

static int read_one(const char *path, rec_array_t *out, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	char *err = NULL;

	if (mf_file_read_all(path, &buf, &err) < 0) {
		if (errno == ENOENT) {
			free(err);
			return 0;
		}
		*error_r = err;
		return -1;
	}
	/* a trailing partial record is a write in progress: ignore it */
	for (size_t off = 0; off + REC_SIZE <= buf.len; off += REC_SIZE) {
		const uint8_t *p = (const uint8_t *)buf.data + off;
		struct mf_mailbox_log_rec *r;

		if (p[0] < MF_MAILBOX_LOG_DELETE_MAILBOX ||
		    p[0] > MF_MAILBOX_LOG_CREATE_DIR)
			continue; /* unknown type: skipped like Dovecot */
		r = mf_array_append_zero(out);
		r->type = p[0];
		memcpy(r->guid, p + 4, 16);
		/* the only big-endian field of all these formats */
		r->timestamp = (int64_t)(((uint32_t)p[20] << 24) |
		                         ((uint32_t)p[21] << 16) |
		                         ((uint32_t)p[22] << 8) | p[23]);
	}
	mf_buf_free(&buf);
	return 0;
}

int mf_mailbox_log_read(const char *path, struct mf_mailbox_log_rec **recs_r,
                        uint32_t *count_r, char **error_r)
{
	rec_array_t out = MF_ARRAY_INIT;
	char *path2 = mf_strdup_printf("%s.2", path);
	int ret;

	ret = read_one(path2, &out, error_r);
	if (ret == 0)
		ret = read_one(path, &out, error_r);
	free(path2);
	if (ret < 0) {
		mf_array_free(&out);
		return -1;
	}
	*recs_r = out.items;
	*count_r = (uint32_t)out.count;
	return 0;
}

int mf_mailbox_log_append(const char *path,
                          const struct mf_mailbox_log_rec *recs, uint32_t count,
                          unsigned int mode, char **error_r)
{
	struct mf_perm perm;

	mf_perm_init_default(&perm);
	perm.file_mode = (mode_t)mode;
	return mf_mailbox_log_append_perm(path, recs, count, &perm, error_r);
}

int mf_mailbox_log_append_perm(const char *path,
                               const struct mf_mailbox_log_rec *recs,
                               uint32_t count, const struct mf_perm *perm,
                               char **error_r)
{
	struct stat st;
	int fd;

	for (uint32_t i = 0; i < count; i++) {
		/* type 6 is never written: Dovecot 2.3 does not either */
		if (recs[i].type < MF_MAILBOX_LOG_DELETE_MAILBOX ||
		    recs[i].type > MF_MAILBOX_LOG_UNSUBSCRIBE) {
			*error_r = mf_strdup_printf(
			    "%s: refusing to write mailbox log record "
			    "type %u",
			    path, recs[i].type);
			errno = EINVAL;
			return -1;
		}
	}
	fd = mf_perm_open(perm, path, O_RDWR | O_APPEND | O_CREAT);
	if (fd < 0) {
		*error_r = mf_strdup_printf("open(%s) failed: %s", path,
		                            strerror(errno));
		return -1;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint8_t rec[REC_SIZE] = {0};
		uint32_t ts = (uint32_t)recs[i].timestamp;
		ssize_t n;

		rec[0] = recs[i].type;
		memcpy(rec + 4, recs[i].guid, 16);
		rec[20] = (uint8_t)(ts >> 24);
		rec[21] = (uint8_t)(ts >> 16);
		rec[22] = (uint8_t)(ts >> 8);
		rec[23] = (uint8_t)ts;
		/* one atomic O_APPEND write per record, as Dovecot does; a
		 * short write is cut back so no partial record stays */
		n = write(fd, rec, sizeof(rec));
		if (n != (ssize_t)sizeof(rec)) {
			int err = n < 0 ? errno : ENOSPC;

			if (n > 0 && fstat(fd, &st) == 0)
				(void)ftruncate(fd, st.st_size - n);
			*error_r = mf_strdup_printf("write(%s) failed: %s",
			                            path, strerror(err));
			close(fd);
			errno = err;
			return -1;
		}
	}
	if (fstat(fd, &st) == 0 && st.st_size >= ROTATE_SIZE) {
		char *path2 = mf_strdup_printf("%s.2", path);

		if (rename(path, path2) < 0 && errno != ENOENT) {
			*error_r =
			    mf_strdup_printf("rename(%s, %s) failed: %s", path,
			                     path2, strerror(errno));
			free(path2);
			close(fd);
			return -1;
		}
		free(path2);
	}
	close(fd);
	return 0;
}
