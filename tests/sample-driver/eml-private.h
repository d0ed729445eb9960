/* SPDX-License-Identifier: MIT */
/*
 * eml-private.h - declarations shared by the files of the eml sample driver.
 *
 * The eml driver serves "eml:DIR": a read-only directory tree in which every
 * folder is a mailbox and every "*.eml" file a message. The root's own files
 * are INBOX; a subfolder "a/b" is the mailbox "a/b". Nothing here is
 * exported: the only visible symbol is mailferry_driver_entry() (eml.c).
 */
#ifndef EML_PRIVATE_H
#define EML_PRIVATE_H

#include <stdint.h>
#include <mailferry/driver.h>
#include "eml-sha1.h"

#define EML_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* The core's API table, set once by mailferry_driver_entry(). */
extern const struct mailferry_core_api *eml_api;

struct mailferry_storage {
	struct mailferry_ctx *ctx;
	char *root;    /* absolute, canonical directory of the store */
	char *display; /* "eml:ROOT", for storage_info */
	struct mailferry_storage_info info;
};

/* One *.eml file of a mailbox scan. */
struct eml_msg_entry {
	char *file; /* name inside the mailbox directory */
	uint64_t size;
	int64_t mtime;
	int digested; /* guid and vsize below are valid */
	char guid[2 * EML_SHA1_LEN + 1];
	uint64_t vsize;
};

/* The sorted file list of one directory as of one scan. Shared by the
 * mailbox and its iterators, so a refresh (mailbox_status) does not pull
 * entries away from an iterator still walking the old list. */
struct eml_snapshot {
	unsigned refcount;
	size_t count; /* UID n is msgs[n - 1] */
	struct eml_msg_entry *msgs;
};

struct mailferry_mailbox {
	struct mailferry_storage *storage;
	char *name; /* as on the ABI; "INBOX" for the root */
	char *dir;  /* its directory */
	uint8_t guid[16];
	uint32_t uidvalidity;
	struct eml_snapshot *snap;
};

/* ---- eml.c: helpers ---- */

/* malloc'd formatted string, NULL when out of memory. */
char *eml_strdup_printf(const char *fmt, ...) EML_PRINTF(1, 2);
/* Record an error for a failed system call on path: maps errno to a
 * mailferry error code, names the call and the file. Returns the code. */
int eml_sys_error(struct mailferry_ctx *ctx, const char *call, const char *path,
                  int err);
/* Out of memory, recorded on ctx. */
int eml_nomem(struct mailferry_ctx *ctx);
/* Mailbox identity: the first 16 bytes of SHA-1(name), and a non-zero
 * UIDVALIDITY derived from that GUID, so both are stable for a name. */
void eml_mailbox_guid(const char *name, uint8_t guid_r[16]);
uint32_t eml_mailbox_uidvalidity(const uint8_t guid[16]);

/* ---- eml-tree.c: names and directories ---- */

/* True when file is a message file name ("*.eml", not hidden). */
int eml_is_msg_name(const char *file);
/* True when a directory entry can be a mailbox name component. */
int eml_is_box_component(const char *name, size_t len);
/* Map a mailbox name to its directory (malloc'd) and canonical name
 * ("INBOX" for any case of it). Errors: INVALID (bad name), NOTFOUND. */
int eml_mailbox_path(struct mailferry_storage *storage, const char *name,
                     char **dir_r, char **canonical_r);

int eml_mailbox_list_begin(struct mailferry_storage *storage, uint32_t flags,
                           struct mailferry_list_iter **iter_r);
int eml_mailbox_list_next(struct mailferry_list_iter *iter,
                          const struct mailferry_mailbox_info **info_r);
int eml_mailbox_list_end(struct mailferry_list_iter **iter);

/* ---- eml-mailbox.c: scans and mailbox handles ---- */

/* Scan dir into a new snapshot (refcount 1). */
int eml_snapshot_scan(struct mailferry_ctx *ctx, const char *dir,
                      struct eml_snapshot **snap_r);
void eml_snapshot_unref(struct eml_snapshot **snap);
/* Fill status for a mailbox with the given identity and scan. */
void eml_fill_status(const uint8_t guid[16], const struct eml_snapshot *snap,
                     struct mailferry_mailbox_status *status_r);

int eml_mailbox_open(struct mailferry_storage *storage, const char *name,
                     uint32_t flags, struct mailferry_mailbox **box_r);
void eml_mailbox_close(struct mailferry_mailbox **box);
int eml_mailbox_status(struct mailferry_mailbox *box,
                       struct mailferry_mailbox_status *status_r);

/* ---- eml-msg.c: message iteration and bodies ---- */

int eml_msg_iter_begin(struct mailferry_mailbox *box,
                       const struct mailferry_msg_query *query,
                       struct mailferry_msg_iter **iter_r);
int eml_msg_iter_next(struct mailferry_msg_iter *iter,
                      const struct mailferry_msg **msg_r);
int eml_msg_iter_end(struct mailferry_msg_iter **iter);
int eml_msg_open(struct mailferry_mailbox *box, uint32_t uid, uint32_t flags,
                 struct mailferry_stream **stream_r);
int eml_stream_read(struct mailferry_stream *stream, void *buf, size_t size,
                    size_t *size_r);
void eml_stream_close(struct mailferry_stream **stream);

#endif
