/* SPDX-License-Identifier: MIT */
/*
 * dbox-storage.h - the driver logic sdbox and mdbox share. Both keep their
 * mailboxes in <root>/mailboxes/<mUTF-7 name>/dbox-Mails with a Dovecot
 * index per mailbox; they differ in where message bodies live (u.<uid> per
 * message, or m.<file_id> files reached through the map index). That
 * difference is the struct dbox_format table each driver fills; everything
 * else (listing, create/delete/rename, subscriptions, mailbox log, status,
 * iteration, flags, the transaction and commit order) lives here.
 *
 * The ABI's opaque handle types are defined here, so this code is compiled
 * into each driver separately (dbox-common is a static convenience lib).
 */
#ifndef DBOX_STORAGE_H
#define DBOX_STORAGE_H

#include <mailferry/driver.h>
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-index.h"
#include "dbox-file.h"
#include "dbox-writer.h"

#define DBOX_MAILBOX_DIR "mailboxes"
#define DBOX_MAIL_DIR "dbox-Mails"
#define DBOX_INDEX_PREFIX "dovecot.index"
#define DBOX_TEMP_PREFIX ".temp."
#define DBOX_ALT_SYMLINK "dbox-alt-root"
#define DBOX_HDR_SIZE 24
/* dbox-hdr / mdbox-hdr flags (byte 20) */
#define DBOX_HDR_FLAG_HAVE_POP3_UIDLS 0x01
#define DBOX_HDR_FLAG_HAVE_POP3_ORDERS 0x02

enum dbox_fsync_mode {
	DBOX_FSYNC_OPTIMIZED = 0, /* at commit */
	DBOX_FSYNC_ALWAYS,
	DBOX_FSYNC_NEVER,
};

struct dbox_settings {
	enum dbox_fsync_mode fsync;
	int compress_kind; /* enum mf_compress_kind; NONE: plain */
	int compress_level;
	uint64_t rotate_size;  /* mdbox_rotate_size */
	uint32_t lock_timeout; /* seconds */
};

struct dbox_format;

struct mailferry_storage {
	const struct dbox_format *fmt;
	struct mailferry_ctx *ctx;
	char *root;
	char *alt_root; /* NULL without ALT= */
	bool readonly;
	struct dbox_settings set;
	/* mode, group and owner of everything we create: from the root
	 * directory, as Dovecot does (mf-perm.h) */
	struct mf_perm perm;
	unsigned int perm_warnings; /* failures to fix them, logged */
	struct mailferry_storage_info info;
	char *display;
	/* format-private state (mdbox: the map) */
	void *fmt_data;
	/* text of the last dbox_error() (for log lines) */
	char *last_error;
};

/* Where a message's bytes are. */
struct dbox_msg_loc {
	int fd;              /* open, owned by the caller afterwards */
	char *path;          /* allocated */
	struct dbox_msg msg; /* header offsets and metadata */
};

struct mailferry_mailbox {
	struct mailferry_storage *st;
	char *name;     /* UTF-8, '/' separated; "INBOX" normalised */
	char *vname_fs; /* storage name (mUTF-7) */
	char *dir;      /* <root>/mailboxes/<vname_fs>/dbox-Mails */
	char *alt_dir;  /* same under the ALT root, or NULL */
	struct mf_index *idx;
	bool readonly;
	int sync_lock_fd;
	/* commit result storage (rule O2) */
	MF_ARRAY(uint32_t) saved_uids;
};

/* One message being saved in a transaction. */
struct dbox_save {
	uint32_t want_uid;
	uint32_t uid; /* assigned at commit */
	uint8_t flags;
	char **keywords; /* NULL-terminated or NULL */
	char *guid;
	int64_t received;
	int64_t save_date;
	uint64_t min_modseq;
	char *pop3_uidl;
	uint32_t pop3_order;
	/* where the format put it */
	char *tmp_path;        /* sdbox: temp file */
	uint32_t file_idx;     /* mdbox: index into the transaction's files */
	uint64_t offset, size; /* mdbox: message offset/size in that file */
	uint32_t map_uid;      /* mdbox: assigned at commit, or copied */
	/* made by the copy slot: the bytes are an existing message's
	 * (mdbox: its map_uid; sdbox: tmp_path is a link or copy of its
	 * file) */
	bool is_copy;
	uint32_t src_uid;  /* the copied message */
	bool src_same_box; /* ... is in this transaction's mailbox */
	/* Set at commit: the copy's source is expunged by the same
	 * transaction, so the message moves to its new UID. Committed as
	 * one index transaction (append + expunge); the format moves the
	 * data without ever having it under both or neither name (sdbox
	 * renames u.<old> to u.<new>; mdbox keeps the map record, net
	 * refcount change 0). */
	bool is_move;
	bool moved; /* sdbox: u.<old> was renamed (undone if not committed) */
	bool moved_alt; /* sdbox: ... inside the ALT storage */
};

/* One flag/keyword change. */
struct dbox_flag_change {
	struct mailferry_uid_range *ranges;
	size_t count;
	enum mailferry_modify modify;
	uint8_t flags;
	char **keywords;
};

struct dbox_modseq_update {
	uint32_t uid;
	uint64_t modseq;
};

struct mailferry_trans {
	struct mailferry_mailbox *box;
	uint32_t flags;
	MF_ARRAY(struct dbox_save) saves;
	struct dbox_writer *writer; /* the save in progress */
	int writer_fd;
	bool saving;
	MF_ARRAY(struct dbox_flag_change) changes;
	MF_ARRAY(struct mailferry_uid_range) expunges;
	MF_ARRAY(struct dbox_modseq_update) modseqs;
	uint64_t save_input_bytes; /* raw bytes of the save in progress */
	uint64_t save_size_hint;
	/* format-private state (mdbox: open append files) */
	void *fmt_data;
};

/* An expunged message the format must clean up after the index commit. */
struct dbox_expunged {
	uint32_t uid;
	uint32_t seq;
	uint8_t guid[16];
	bool have_guid;
	uint32_t map_uid; /* mdbox */
	/* the message moves to a new UID in the same commit (dbox_save
	 * is_move): its data stays, nothing to remove */
	bool moved;
};

struct dbox_format {
	const char *name;    /* "sdbox" */
	const char *hdr_ext; /* "dbox-hdr" / "mdbox-hdr" */
	uint32_t caps;
	/* storage open/close: format state (mdbox opens the map) */
	int (*storage_init)(struct mailferry_storage *st);
	void (*storage_deinit)(struct mailferry_storage *st);
	/* fill bytes 0..3 of a new mailbox's header ext (mdbox: map
	 * uidvalidity; sdbox: rebuild count 0) */
	int (*init_box_hdr)(struct mailferry_storage *st,
	                    uint8_t hdr[DBOX_HDR_SIZE]);
	/* check a mailbox index belongs to this storage (mdbox: map
	 * uidvalidity matches) */
	int (*check_box)(struct mailferry_mailbox *box);
	/* locate message seq (uid) of box: open its file, read its
	 * metadata. Errors: NOTFOUND/EXPUNGED, INVALIDDATA, TEMP. */
	int (*msg_locate)(struct mailferry_mailbox *box, uint32_t seq,
	                  uint32_t uid, struct dbox_msg_loc *loc_r);
	/* save date when the metadata has none (sdbox: file ctime) */
	int64_t (*msg_save_date)(struct mailferry_mailbox *box, uint32_t seq,
	                         const struct dbox_msg_loc *loc);
	/* open a file to write save s into: *fd_r, *offset_r (where the
	 * message header goes), *path_r (borrowed) */
	int (*save_begin)(struct mailferry_trans *t, struct dbox_save *s,
	                  int *fd_r, uint64_t *offset_r, const char **path_r);
	/* the save is written: record its size/end */
	int (*save_finish)(struct mailferry_trans *t, struct dbox_save *s,
	                   const struct dbox_writer_result *res);
	/* the save is discarded */
	void (*save_cancel)(struct mailferry_trans *t, struct dbox_save *s);
	/* "B" metadata value for saves (mdbox) or NULL */
	const char *(*orig_mailbox)(struct mailferry_mailbox *box);
	/* commit, with the mailbox index locked and UIDs assigned: make
	 * the data durable and visible under its final name (sdbox rename,
	 * mdbox map commit) and add the format's records to it */
	int (*commit_saves)(struct mailferry_trans *t,
	                    struct mf_index_trans *it);
	/* collect what an expunge needs (mdbox map_uid) before the index
	 * commit */
	void (*expunge_prepare)(struct mailferry_mailbox *box,
	                        struct dbox_expunged *e);
	/* after the index commit: remove the expunged messages' data */
	int (*expunge_finish)(struct mailferry_mailbox *box,
	                      const struct dbox_expunged *e, size_t count);
	/* The index commit was done (committed) or given up, the mailbox
	 * index is still locked: finish or undo what commit_saves did
	 * that no other writer may see half done (sdbox: moves).
	 * Optional. */
	void (*commit_end)(struct mailferry_trans *t, bool committed);
	/* transaction ends (both outcomes): free format state and unlink
	 * what was not committed */
	void (*trans_free)(struct mailferry_trans *t, bool committed);
	/* copy within the storage (optional) */
	int (*copy)(struct mailferry_trans *t, struct mailferry_mailbox *src,
	            uint32_t src_uid, const struct mailferry_save *save);
	/* a mailbox's files are being deleted (mdbox drops map refs) */
	int (*mailbox_deleting)(struct mailferry_mailbox *box);
	/* rebuild box's index from its data (force-resync) */
	int (*resync)(struct mailferry_mailbox *box);
	/* after the mailboxes: storage-wide repairs (mdbox: give messages
	 * no mailbox refers to back to a mailbox), optional */
	int (*storage_resync)(struct mailferry_storage *st);
	/* purge (optional) */
	int (*purge)(struct mailferry_storage *st);
	/* Before the mailbox index is locked for a commit: take the locks
	 * Dovecot takes before it (mdbox: the map; Dovecot's save and
	 * expunge lock the map first "to avoid deadlocks", so taking them
	 * the other way round deadlocks against a running Dovecot).
	 * Optional; commit_unlock runs after the mailbox is unlocked. */
	int (*commit_lock)(struct mailferry_trans *t);
	void (*commit_unlock)(struct mailferry_trans *t);
	/* A walk over many messages lets go of what it read of storage-wide
	 * indexes (mdbox: the map's pages; mf_index_release_memory()).
	 * Optional. */
	void (*release_memory)(struct mailferry_storage *st);
};

/* The core API table (set by the entry point). */
extern const struct mailferry_core_api *dbox_api;

/* Report an error on the storage's ctx and return code. */
int dbox_error(struct mailferry_storage *st, int code, const char *fmt, ...)
    MF_PRINTF(3, 4);
/* Same with the allocated text err (freed). */
int dbox_error_take(struct mailferry_storage *st, int code, char *err);
/* Map an errno to a mailferry error code. */
int dbox_errno_code(int err);
/* Crash-test hook: when the environment variable MAILFERRY_DBOX_CRASH_AT
 * is "name" or "name:N", the process kills itself with SIGKILL the first
 * (or the N-th) time it passes the point called name. Costs one string
 * compare when unset. The tests use it to stop a commit between any two
 * of its steps. */
void dbox_crash_point(const char *name);

/* The driver ops table shared by both formats, and the entry helper. */
const struct mailferry_driver *
dbox_driver_entry(const struct mailferry_driver *desc,
                  const struct mailferry_core_api *api, uint32_t core_major);
extern const struct mailferry_driver_ops dbox_ops;

/* Settings and location options (dbox-settings.c). */
int dbox_settings_read(struct mailferry_storage *st,
                       const struct mailferry_open_params *params);
/* fsync fd (named path) when the policy asks for it at commit. */
int dbox_fsync_commit(struct mailferry_storage *st, int fd, const char *path);

/* Names and paths (dbox-names.c). */
/* Validate and normalise a UTF-8 mailbox name ("inbox" -> "INBOX"):
 * allocated, or NULL with the error set (INVALID). */
char *dbox_name_normalise(struct mailferry_storage *st, const char *name);
/* Storage (mUTF-7) form of a normalised name; allocated. */
char *dbox_name_to_storage(const char *name);
/* UTF-8 form of a storage name; NULL when it is not valid mUTF-7. */
char *dbox_name_from_storage(const char *sname);
/* <root>/mailboxes/<storage name> */
char *dbox_mailbox_path(const char *root, const char *name);

/* Mailbox index helpers (dbox-mailbox.c). */
int dbox_index_open(struct mailferry_storage *st, const char *dir, bool create,
                    bool readonly, struct mf_index **idx_r);
int dbox_index_error(struct mailferry_storage *st, struct mf_index *idx,
                     int ret);
/* The mailbox GUID of an opened index (zero if none). */
void dbox_index_guid(const struct dbox_format *fmt, struct mf_index *idx,
                     uint8_t guid_r[16]);
int dbox_mailbox_open_internal(struct mailferry_storage *st, const char *name,
                               bool create_missing_inbox, bool readonly,
                               struct mailferry_mailbox **box_r);
/* Open a mailbox read-only for its header only (listing): without the
 * format's check_box (e.g. an mdbox map UIDVALIDITY mismatch, which only
 * matters for reading messages and which force-resync must be able to
 * list mailboxes with). */
int dbox_mailbox_open_unchecked(struct mailferry_storage *st, const char *name,
                                struct mailferry_mailbox **box_r);
/* Create the index of a new mailbox in dir. */
int dbox_mailbox_create_index(struct mailferry_storage *st, const char *dir,
                              const uint8_t guid[16], uint32_t uidvalidity,
                              uint32_t next_uid);
/* Fill a dbox_msg_loc-derived message GUID as 16 bytes (hex or the last
 * 16 bytes of SHA-1 of other strings, as Dovecot). */
void dbox_guid_128(const char *guid, uint8_t out[16]);
/* Generate a random 128-bit GUID string (33 bytes). */
int dbox_guid_generate(struct mailferry_storage *st, char out[33]);
/* mail_fsync != never */
bool dbox_want_fsync(const struct mailferry_storage *st);
void dbox_msg_loc_free(struct dbox_msg_loc *loc);

/* Mailbox log and subscriptions (dbox-list.c). */
int dbox_log_name(struct mailferry_storage *st, int type, const char *name);
int dbox_log_guid(struct mailferry_storage *st, int type,
                  const uint8_t guid[16]);

#endif
