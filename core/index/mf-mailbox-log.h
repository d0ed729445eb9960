/* SPDX-License-Identifier: MIT */
/*
 * mf-mailbox-log.h - dovecot.mailbox.log (+ .2): Dovecot's changelog of
 * mailbox deletes, renames and (un)subscriptions, fixed 24-byte records
 * (dovecot-formats.md §11). We read every type and append types 1-5 only:
 * Dovecot 2.3 itself never writes type 6 (create-dir) and dsync mishandles
 * it, so mf_mailbox_log_append() refuses it.
 */
#ifndef MF_MAILBOX_LOG_H
#define MF_MAILBOX_LOG_H

#include <stdint.h>
#include <time.h>
#include "mf-perm.h"

enum mf_mailbox_log_type {
	MF_MAILBOX_LOG_DELETE_MAILBOX = 1,
	MF_MAILBOX_LOG_DELETE_DIR = 2,
	MF_MAILBOX_LOG_RENAME = 3,
	MF_MAILBOX_LOG_SUBSCRIBE = 4,
	MF_MAILBOX_LOG_UNSUBSCRIBE = 5,
	MF_MAILBOX_LOG_CREATE_DIR = 6, /* read only */
};

struct mf_mailbox_log_rec {
	uint8_t type; /* enum mf_mailbox_log_type */
	/* mailbox GUID (delete-mailbox) or mf_mailbox_log_name_guid() */
	uint8_t guid[16];
	int64_t timestamp;
};

/* Read <path>.2 (when present) then <path>, oldest first. A missing file is
 * no error (0 records). A trailing partial record is ignored; an unknown
 * type is skipped. *recs_r is allocated (free()). Returns 0 or -1 with an
 * allocated *error_r naming the file and offset. */
int mf_mailbox_log_read(const char *path, struct mf_mailbox_log_rec **recs_r,
                        uint32_t *count_r, char **error_r);
/* Append records (types 1-5) with
 * one atomic O_APPEND write per record (Dovecot takes no lock either) and
 * rotate to <path>.2 once the file reaches 4 KiB. mode is the file
 * mode used if the file is created. Returns 0 or -1 with *error_r. */
int mf_mailbox_log_append(const char *path,
                          const struct mf_mailbox_log_rec *recs, uint32_t count,
                          unsigned int mode, char **error_r);
/* The same, creating the file with perm's mode and owner (mf-perm.h). */
int mf_mailbox_log_append_perm(const char *path,
                               const struct mf_mailbox_log_rec *recs,
                               uint32_t count, const struct mf_perm *perm,
                               char **error_r);
/* The GUID Dovecot logs for a name (rename/delete-dir/(un)subscribe):
 * the first 16 bytes of SHA-1 of the name. */
void mf_mailbox_log_name_guid(const char *name, uint8_t guid_r[16]);

#endif
