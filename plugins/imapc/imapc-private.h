/* SPDX-License-Identifier: MIT */
/*
 * imapc-private.h - the imapc driver's own objects, shared by its glue
 * files (storage, names, mailbox, fetch, save). Nothing here crosses the
 * ABI except through the ops table in imapc-driver.c.
 */
#ifndef IMAPC_PRIVATE_H
#define IMAPC_PRIVATE_H

#include <pthread.h>

#include <mailferry/driver.h>

#include "mf-array.h"
#include "mf-buf.h"
#include "imapc-client.h"

/* The core's table, set once by mailferry_driver_entry(). */
extern const struct mailferry_core_api *imapc_api;

/* Chunk of a body asked for per FETCH (bodies up to this size are asked
 * for whole, many in one command), and the default prefetch window. */
#define IMAPC_BODY_CHUNK (1024u * 1024u)
#define IMAPC_DEFAULT_WINDOW (8u * 1024u * 1024u)
/* Most bodies prefetched ahead of the one the core reads, and most in one
 * UID FETCH. */
#define IMAPC_MAX_PREFETCH_MSGS 256
#define IMAPC_FETCH_BATCH_MSGS 64

struct imapc_guid_entry {
	char *remote;
	uint32_t uidvalidity;
	uint8_t guid[16];
};

struct imapc_storage {
	struct mailferry_ctx *ctx;
	struct imapc_client *client;
	struct mailferry_storage_info info;
	char *display;
	char *host, *user; /* for mailbox GUID derivation */
	char sep;          /* the server's hierarchy separator */
	char *list_prefix; /* remote prefix, "" when none */
	/* INBOX is listed next to the mailboxes under list_prefix: the
	 * prefix is the personal namespace's (NAMESPACE, or "INBOX.") */
	bool list_inbox;
	bool readonly;
	uint64_t window; /* bytes of bodies/appends in flight */
	unsigned int retry_count;
	struct imapc_mailbox *selected; /* the mailbox handle selected now */
	/* where a running STATUS puts its answer */
	struct mailferry_mailbox_status *status_target;
	/* mailbox GUIDs (X-GUID, MAILBOXID) the last LIST-STATUS told, so
	 * opening a mailbox needs no STATUS of its own */
	MF_ARRAY(struct imapc_guid_entry) guids;

	/* Keepalive (imapc_max_idle_time): a thread sends NOOP when no
	 * command went out for max_idle_msecs. lock is held by every ABI
	 * call (imapc-driver.c) and by the thread while it talks, so the
	 * two never use the connection at once; the thread only talks
	 * while the core is outside the driver. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t keepalive;
	bool keepalive_running, keepalive_stop, in_keepalive;
	uint64_t max_idle_msecs;
	/* log lines of the thread, written by the next ABI call: the
	 * core's log is only called from the core's own thread */
	MF_ARRAY(char *) deferred_logs;
};

struct imapc_msg_rec {
	struct mailferry_msg msg;
	char *guid;
	char **keywords; /* NULL-terminated or NULL */
};

/* Named array types (MF_ARRAY layout) passed between files. */
struct imapc_rec_array {
	struct imapc_msg_rec *items;
	size_t count, cap;
};
struct imapc_uid_array {
	uint32_t *items;
	size_t count, cap;
};

/* A UID FETCH of bodies in flight, shared by the bodies it asks for
 * (one for a chunk, many for a batch of whole small bodies). */
struct imapc_fetch_cmd {
	struct imapc_cmd *cmd;
	unsigned int refs;
};

/* One request for (part of) a body in flight. */
struct imapc_chunk {
	struct imapc_fetch_cmd *fc;
	uint64_t offset;
};

/* A message body being fetched in chunks (an entry of the prefetch
 * window). Memory: at most a few chunks per body are buffered. */
struct imapc_body {
	uint32_t uid;
	bool header_only;
	bool whole;         /* asked for whole (BODY.PEEK[]), not in chunks */
	struct mf_buf data; /* received, not yet read: data[read_pos..] */
	size_t read_pos;
	uint64_t received;      /* bytes received from the server so far */
	uint64_t requested_end; /* offset up to which chunks were asked */
	uint64_t size_hint;     /* RFC822.SIZE when known, else UINT64_MAX */
	bool eof;               /* the last chunk has arrived */
	bool got_data;          /* a FETCH response for it was seen */
	MF_ARRAY(struct imapc_chunk) chunks; /* requests in flight */
	int error;                           /* mailferry error once failed */
	char *error_text;
	bool in_use; /* handed out as a stream */
};

struct imapc_mailbox {
	struct imapc_storage *storage;
	char *name;   /* ABI name */
	char *remote; /* server name (mUTF-7, server separator) */
	bool readonly;
	uint32_t uidvalidity;
	uint8_t guid[16];
	/* UIDs (and sizes) of the cached listing, for prefetching bodies
	 * in the order the core is likely to ask. */
	MF_ARRAY(uint32_t) iter_uids;
	MF_ARRAY(uint64_t) iter_sizes;
	size_t last_open_idx; /* index of the last msg_open() uid + 1 */
	size_t prefetch_next; /* iter_uids index not requested yet */
	/* what is being prefetched: headers (the engine hashing them when
	 * a side has no GUIDs) or whole messages */
	bool prefetch_headers;
	MF_ARRAY(struct imapc_body *) bodies;
	size_t body_hint; /* bodies index after the last FETCH response's */
	/* collector for a running message listing */
	struct imapc_rec_array *collect;
	struct imapc_uid_array *collect_vanished;
	/* The last listing of a UID range with everything in it (a full
	 * 1:* or one of the engine's read windows), valid until the next
	 * refresh (mailbox_status), change or reconnect: the ABI asks for
	 * messages "as of the last refresh", so later queries inside the
	 * range (the engine asking for the dates of the messages it is about
	 * to copy, or one UID before copying it) are answered from it
	 * without a round trip. Memory: one read window of records. */
	struct imapc_rec_array cache;
	uint32_t cache_first, cache_last; /* the range it covers */
	bool cache_valid;
	/* UIDs of the last commit (struct mailferry_commit_result) */
	struct imapc_uid_array commit_uids;
	/* UIDNEXT of the last status (SELECT or STATUS), 0 before one */
	uint32_t last_uidnext;
};

/* ---- imapc-names.c ---- */
/* ABI name (UTF-8, '/') -> remote name. -1 with *error_r when it cannot
 * be expressed on this server. */
int imapc_name_to_remote(struct imapc_storage *storage, const char *name,
                         bool utf8, char **remote_r, char **error_r);
/* Remote name -> ABI name; -1 when not valid mUTF-7 or outside the
 * prefix (the caller skips it). */
int imapc_name_from_remote(struct imapc_storage *storage, const char *remote,
                           bool utf8, char **name_r);
/* The GUID a LIST-STATUS gave for remote at uidvalidity; false if none. */
bool imapc_storage_guid_lookup(struct imapc_storage *storage,
                               const char *remote, uint32_t uidvalidity,
                               uint8_t guid_r[16]);
/* 16-byte mailbox GUID: from Dovecot's X-GUID hex when given, else a
 * stable SHA-1 derivation of host, user, name and UIDVALIDITY. */
void imapc_mailbox_guid(struct imapc_storage *storage, const char *name,
                        uint32_t uidvalidity, const char *xguid,
                        uint8_t guid_r[16]);

/* ---- imapc-storage.c ---- */
int imapc_storage_open(struct mailferry_ctx *ctx,
                       const struct mailferry_open_params *params,
                       struct mailferry_storage **storage_r);
void imapc_storage_close(struct mailferry_storage **storage);
int imapc_storage_info(struct mailferry_storage *storage,
                       const struct mailferry_storage_info **info_r);
int imapc_mailbox_list_begin(struct mailferry_storage *storage, uint32_t flags,
                             struct mailferry_list_iter **iter_r);
int imapc_mailbox_list_next(struct mailferry_list_iter *iter,
                            const struct mailferry_mailbox_info **info_r);
int imapc_mailbox_list_end(struct mailferry_list_iter **iter);
int imapc_subscriptions_begin(struct mailferry_storage *storage,
                              struct mailferry_subs_iter **iter_r);
int imapc_subscriptions_next(struct mailferry_subs_iter *iter,
                             const char **name_r);
int imapc_subscriptions_end(struct mailferry_subs_iter **iter);
int imapc_mailbox_create(struct mailferry_storage *storage, const char *name,
                         const struct mailferry_mailbox_create *params);
int imapc_mailbox_delete(struct mailferry_storage *storage, const char *name,
                         int directory);
int imapc_mailbox_rename(struct mailferry_storage *storage,
                         const char *old_name, const char *new_name);
int imapc_mailbox_set_subscribed(struct mailferry_storage *storage,
                                 const char *name, int subscribed);
int imapc_mailbox_update(struct mailferry_storage *storage, const char *name,
                         const struct mailferry_mailbox_update *update);
/* Return ret after copying the client's error to the core. */
int imapc_storage_fail(struct imapc_storage *storage);
/* After a failed call: if the connection broke, reconnect (bounded,
 * backing off) and return true to have the caller retry. attempt counts
 * the caller's retries. */
bool imapc_storage_retry(struct imapc_storage *storage, unsigned int *attempt);
/* Make sure box is the selected mailbox (reconnecting when needed). */
int imapc_box_select(struct imapc_mailbox *box);
/* Every ABI call runs between these (imapc-driver.c). */
void imapc_storage_enter(struct imapc_storage *storage);
void imapc_storage_leave(struct imapc_storage *storage);
/* The storage an ABI object belongs to (for imapc-driver.c). */
struct imapc_storage *imapc_list_iter_storage(struct mailferry_list_iter *it);
struct imapc_storage *imapc_subs_iter_storage(struct mailferry_subs_iter *it);
struct imapc_storage *imapc_msg_iter_storage(struct mailferry_msg_iter *it);
struct imapc_storage *
imapc_expunge_iter_storage(struct mailferry_expunge_iter *it);
struct imapc_storage *imapc_stream_storage(struct mailferry_stream *stream);
struct imapc_storage *imapc_trans_storage(struct mailferry_trans *trans);

/* ---- imapc-mailbox.c ---- */
int imapc_mailbox_open(struct mailferry_storage *storage, const char *name,
                       uint32_t flags, struct mailferry_mailbox **box_r);
void imapc_mailbox_close(struct mailferry_mailbox **box);
int imapc_mailbox_status(struct mailferry_mailbox *box,
                         struct mailferry_mailbox_status *status_r);
int imapc_msg_iter_begin(struct mailferry_mailbox *box,
                         const struct mailferry_msg_query *query,
                         struct mailferry_msg_iter **iter_r);
int imapc_msg_iter_next(struct mailferry_msg_iter *iter,
                        const struct mailferry_msg **msg_r);
int imapc_msg_iter_end(struct mailferry_msg_iter **iter);
int imapc_expunge_iter_begin(struct mailferry_mailbox *box, uint64_t since,
                             struct mailferry_expunge_iter **iter_r);
int imapc_expunge_iter_next(struct mailferry_expunge_iter *iter,
                            const struct mailferry_expunge **exp_r);
int imapc_expunge_iter_end(struct mailferry_expunge_iter **iter);
/* Untagged handler installed while a mailbox is selected. */
void imapc_mailbox_untagged(struct imapc_client *client,
                            const struct imapc_response *resp, void *context);
/* Parse a FETCH flag list into flags and keywords (allocated). */
void imapc_parse_flags(const struct imapc_arg *list, uint32_t *flags_r,
                       char ***keywords_r);
void imapc_free_strv(char ***strv);
/* Forget the cached listing (after a refresh, a change, a reconnect). */
void imapc_mailbox_cache_clear(struct imapc_mailbox *box);
/* The cached listing's record of uid (owned by box, valid until the
 * cache changes), NULL when not cached. */
const struct imapc_msg_rec *imapc_mailbox_cache_find(struct imapc_mailbox *box,
                                                     uint32_t uid);

/* ---- imapc-fetch.c ---- */
int imapc_msg_open(struct mailferry_mailbox *box, uint32_t uid, uint32_t flags,
                   struct mailferry_stream **stream_r);
int imapc_stream_read(struct mailferry_stream *stream, void *buf, size_t size,
                      size_t *size_r);
void imapc_stream_close(struct mailferry_stream **stream);
/* A FETCH response carrying BODY[]<n> for a body in the window; the
 * bytes are taken out of resp when they can be. */
void imapc_fetch_body_data(struct imapc_mailbox *box, uint32_t uid,
                           const char *section, struct imapc_response *resp,
                           const struct imapc_arg *value);
/* Drop every body of the window (close, reselect). */
void imapc_bodies_clear(struct imapc_mailbox *box);

/* ---- imapc-save.c ---- */
int imapc_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                      struct mailferry_trans **trans_r);
int imapc_save_begin(struct mailferry_trans *trans,
                     const struct mailferry_save *save);
int imapc_save_write(struct mailferry_trans *trans, const void *data,
                     size_t size);
int imapc_save_finish(struct mailferry_trans *trans);
void imapc_save_cancel(struct mailferry_trans *trans);
int imapc_update_flags(struct mailferry_trans *trans,
                       const struct mailferry_uidset *uids,
                       enum mailferry_modify modify, uint32_t flags,
                       const char *const *keywords);
int imapc_expunge(struct mailferry_trans *trans,
                  const struct mailferry_uidset *uids);
int imapc_copy(struct mailferry_trans *trans, struct mailferry_mailbox *src,
               uint32_t src_uid, const struct mailferry_save *save);
int imapc_trans_commit(struct mailferry_trans **trans,
                       struct mailferry_commit_result *result_r);
void imapc_trans_rollback(struct mailferry_trans **trans);

/* ---- helpers shared by several files ---- */
/* Append "1:5,7" for a UID set. */
void imapc_append_uidset(struct mf_buf *buf,
                         const struct mailferry_uid_range *ranges,
                         size_t count);
/* Append "(\Seen kw1 kw2)"; -1 when a keyword is not a valid atom. */
int imapc_append_flag_list(struct mf_buf *buf, uint32_t flags,
                           const char *const *keywords);

#endif
