/* SPDX-License-Identifier: MIT */
/*
 * maildir-storage.h - the driver's private types, shared by its modules.
 *
 * Files of a mailbox (all as Dovecot 2.3 writes them):
 *   <box>/cur/ new/ tmp/           message files (maildir-filename.h)
 *   <control>/dovecot-uidlist      UIDs (maildir-uidlist.h), its lock
 *   <control>/dovecot-keywords     keyword letters (maildir-keywords.h)
 *   <index>/dovecot.index(.log)    flags/keywords/modseqs/expunges cache
 * Storage-wide: subscriptions and dovecot-uidvalidity in the control root,
 * dovecot.mailbox.log in the index root.
 */
#ifndef MAILDIR_STORAGE_H
#define MAILDIR_STORAGE_H

#include <mailferry/driver.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "mf-array.h"
#include "mf-buf.h"
#include "mf-compress.h"
#include "mf-perm.h"
#include "maildir-dotlock.h"
#include "maildir-filename.h"
#include "maildir-keywords.h"
#include "maildir-layout.h"
#include "maildir-uidlist.h"
#include "maildir-warn.h"

struct mf_index;

extern const struct mailferry_core_api *maildir_api;

enum maildir_fsync_mode {
	MAILDIR_FSYNC_OPTIMIZED = 0, /* at transaction commit */
	MAILDIR_FSYNC_ALWAYS = 1,    /* also every file as it is written */
	MAILDIR_FSYNC_NEVER = 2,
};

struct mailferry_storage {
	struct mailferry_ctx *ctx;
	char *root;         /* mail root */
	char *inbox_path;   /* INBOX's directory (INBOX= or the root) */
	char *control_root; /* CONTROL= or NULL */
	char *index_root;   /* INDEX= or NULL */
	enum maildir_layout layout;
	bool readonly;
	bool no_index; /* INDEX=MEMORY: no dovecot.index* files */
	enum maildir_fsync_mode fsync_mode;
	unsigned int lock_timeout_secs;
	/* mail_compress / zlib_save: new files are written compressed as
	 * Dovecot's zlib plugin writes them (MF_COMPRESS_NONE: plain) */
	enum mf_compress_kind compress;
	int compress_level;
	/* mode and owner of what we create outside mailboxes (and of new
	 * mailboxes): from the mail root, as Dovecot (mf-perm.h) */
	struct mf_perm perm;
	unsigned int perm_warnings; /* failures to fix them, logged */
	struct mailferry_storage_info info;
	char *display;
	struct maildir_warn warn;
};

/* Dovecot's "maildir" index extension header (36 bytes, no records):
 * when new/ and cur/ were last scanned and their mtimes then, and which
 * dovecot-uidlist (mtime, size) the index reflects. While all of them
 * still hold, the index is the mailbox and nothing needs a rescan. */
struct maildir_index_hdr {
	uint32_t new_check_time, new_mtime, new_mtime_nsecs;
	uint32_t cur_check_time, cur_mtime, cur_mtime_nsecs;
	uint32_t uidlist_mtime, uidlist_mtime_nsecs, uidlist_size;
};
#define MAILDIR_INDEX_EXT "maildir"
/* A directory scanned less than this many seconds after its last change
 * may have changed unseen in the same second: it is scanned again. */
#define MAILDIR_SYNC_SECS 1

/* What a message keeps of its file name's info part. The letters that
 * are neither flags nor keywords (rare) are not kept per message (they
 * took 64 bytes each): a flag change reads them from the name again. */
struct maildir_msg_info {
	uint32_t flags;    /* MAILFERRY_FLAG_* system flags */
	uint32_t keywords; /* bit i = keyword letter 'a' + i */
	bool has_info;     /* the name had a ":2," info part */
	bool foreign_info; /* an info part we do not rewrite */
};

/* Parse the info part of fname into info (foreign when the name has too
 * many unknown letters to be rewritten). Returns 0, or -1 in that case. */
int maildir_msg_info_parse(const char *fname, struct maildir_msg_info *info);

/* One message as of the last refresh. Its strings are not a malloc
 * each (that took about 130 bytes per message): a bulk build puts the
 * file names in box->msg_names and borrows the GUIDs from the uidlist's
 * pool (box->msg_ul_pool), where a GUID without G extension is the
 * record's base name itself. Only what changes one message at a time
 * (a flag change's new name, a moved message's GUID) is malloc'd and
 * flagged as owned. */
struct maildir_msg {
	uint32_t uid;
	struct maildir_msg_info info;
	/* current file name in cur/ or new/; NULL when box->msgs was
	 * built from the index without a scan of cur/. Owned when
	 * fname_owned, else in box->msg_names. */
	const char *fname;
	/* G extension or the base name; owned when guid_owned, else in
	 * box->msg_ul_pool or box->msg_names */
	const char *guid;
	uint64_t psize; /* UINT64_MAX when unknown */
	uint64_t vsize; /* UINT64_MAX when unknown */
	uint64_t modseq;
	/* whether the file is compressed, once someone looked */
	enum maildir_comp {
		MAILDIR_COMP_UNKNOWN = 0,
		MAILDIR_COMP_PLAIN,
		MAILDIR_COMP_COMPRESSED,
	} comp;
	bool in_new;
	bool fname_owned;
	bool guid_owned;
};

/* A change of a keyword that has no file name letter (all 26 letters of
 * dovecot-keywords are taken): as in Dovecot, only dovecot.index keeps
 * it. Collected by a commit, written with its next index update. */
struct maildir_kw_op {
	uint32_t uid;
	char *name; /* owned; NULL: drop every such keyword of uid */
	bool add;
};

struct mailferry_mailbox {
	struct mailferry_storage *storage;
	char *vname;
	char *path;        /* the maildir */
	char *control_dir; /* dovecot-uidlist, dovecot-keywords */
	char *index_dir;   /* dovecot.index* */
	/* mode and owner of files created in the mailbox: from its
	 * directory (the storage's when it has none yet) */
	struct mf_perm perm;
	bool readonly;
	struct maildir_uidlist uidlist;
	struct maildir_keywords keywords;
	MF_ARRAY(struct maildir_msg) msgs; /* ascending UID */
	/* the strings of box->msgs (see struct maildir_msg): file names
	 * (and saves' GUIDs), and a reference to the uidlist pool their
	 * GUIDs come from; both NULL while there are none */
	struct maildir_strpool *msg_names;
	struct maildir_strpool *msg_ul_pool;
	struct mf_index *index; /* NULL when unusable */
	/* dovecot-uidlist as of our last read or write: while it is the
	 * same file (inode, size, mtime) there is nothing new in it */
	struct maildir_file_id {
		bool valid;
		dev_t dev;
		ino_t ino;
		off_t size;
		struct timespec mtime;
	} uidlist_id;
	int sync_lock_fd; /* -1 unless SYNC_LOCK */
	char *sync_lock_path;
	/* SYNC_LOCK asked for but not taken yet: the mailbox was found
	 * unchanged at open, and reading an unchanged mailbox needs no
	 * lock (dsync locks only before it syncs a changed one). Taken by
	 * maildir_sync_lock_ensure() before anything that may act on it. */
	bool sync_lock_pending;
	/* borrowed to the core by msg_get_path */
	struct mf_buf path_buf;
	/* committed save UIDs, reported by trans_commit */
	MF_ARRAY(uint32_t) saved_uids;
	/* index-only keyword changes not yet in the index, in order */
	MF_ARRAY(struct maildir_kw_op) kw_ops;
	/* new/ and cur/ as this handle last saw them (uidlist fields
	 * unused), valid when box->msgs is known to match them */
	struct maildir_index_hdr dirs;
	bool dirs_valid;
	/* every message's fname is known (a full scan built box->msgs) */
	bool names_known;
	/* opened unchanged and nothing looked at its messages yet:
	 * box->msgs and box->uidlist are not read (status comes from the
	 * index); maildir_msgs_ensure() reads them */
	bool lazy;
	uint8_t lazy_guid[16];
};

/* --- maildir-storage.c --- */
/* Record an error on the storage's ctx and return code. */
int maildir_error(struct mailferry_storage *storage, int code, const char *fmt,
                  ...) MF_PRINTF(3, 4);
/* Error code for an errno value (ENOENT -> NOTFOUND, ENOSPC -> NOSPACE,
 * EACCES -> PERM ...). */
int maildir_errno_code(int err);
void maildir_log_warning(struct mailferry_storage *storage, const char *fmt,
                         ...) MF_PRINTF(2, 3);
bool maildir_fsync_commit(const struct mailferry_storage *storage);
/* Directory paths of vname (allocated). Returns 0 or INVALID. */
int maildir_box_paths(struct mailferry_storage *storage, const char *vname,
                      char **path_r, char **control_r, char **index_r);
/* Where storage-wide files live. */
const char *maildir_control_root(const struct mailferry_storage *storage);
const char *maildir_index_root(const struct mailferry_storage *storage);
/* Append a record to dovecot.mailbox.log (warns on failure). */
void maildir_mailbox_log_add(struct mailferry_storage *storage, uint8_t type,
                             const uint8_t guid[16]);
/* Read a mailbox's GUID from its uidlist without opening it; false when
 * unknown. */
bool maildir_peek_guid(struct mailferry_storage *storage, const char *vname,
                       uint8_t guid_r[16]);

/* Test hook: a commit calls this at the instants a crash test wants to
 * kill it (see maildir-storage.c); a no-op unless the environment asks. */
void maildir_crash_point(const char *point);
/* Test hook: a scan calls this where a race test wants another process to
 * act (see maildir-storage.c); a no-op unless the environment asks. */
void maildir_race_point(const char *point);

/* --- maildir-list.c --- */
int maildir_list_begin(struct mailferry_storage *storage, uint32_t flags,
                       struct mailferry_list_iter **iter_r);
int maildir_list_next(struct mailferry_list_iter *iter,
                      const struct mailferry_mailbox_info **info_r);
int maildir_list_end(struct mailferry_list_iter **iter);
/* Names of every existing mailbox (selectable or not), allocated. */
int maildir_list_names(struct mailferry_storage *storage, char ***names_r,
                       size_t *count_r);
void maildir_names_free(char ***names, size_t count);

/* --- maildir-mailbox.c --- */
int maildir_mailbox_create(struct mailferry_storage *storage, const char *name,
                           const struct mailferry_mailbox_create *params);
int maildir_mailbox_delete(struct mailferry_storage *storage, const char *name,
                           int directory);
int maildir_mailbox_rename(struct mailferry_storage *storage,
                           const char *old_name, const char *new_name);
int maildir_mailbox_update(struct mailferry_storage *storage, const char *name,
                           const struct mailferry_mailbox_update *update);
int maildir_mailbox_open(struct mailferry_storage *storage, const char *name,
                         uint32_t flags, struct mailferry_mailbox **box_r);
void maildir_mailbox_close(struct mailferry_mailbox **box);
/* Take a deferred SYNC_LOCK now (see sync_lock_pending), then bring box
 * up to date if the mailbox changed since it was read. Returns 0 or an
 * error code (INUSE: timed out). */
int maildir_sync_lock_ensure(struct mailferry_mailbox *box);
int maildir_mailbox_status(struct mailferry_mailbox *box,
                           struct mailferry_mailbox_status *status_r);
/* The status of mailbox name when it is unchanged since its index was
 * brought in line (see maildir_sync_quick()): from the index and the
 * uidlist's first line, without reading the uidlist or listing cur/.
 * Returns 1 when filled, 0 when the mailbox must be opened for it, or an
 * error code. */
int maildir_mailbox_quick_status(struct mailferry_storage *storage,
                                 const char *name,
                                 struct mailferry_mailbox_status *status_r);
/* Create cur/ new/ tmp/ (and the control/index dirs) of a mailbox, with
 * perm's modes and owner. */
int maildir_create_subdirs(struct mailferry_storage *storage,
                           const struct mf_perm *perm, const char *path,
                           const char *control_dir, const char *index_dir);

/* --- maildir-subs.c --- */
int maildir_subs_begin(struct mailferry_storage *storage,
                       struct mailferry_subs_iter **iter_r);
int maildir_subs_next(struct mailferry_subs_iter *iter, const char **name_r);
int maildir_subs_end(struct mailferry_subs_iter **iter);
int maildir_set_subscribed(struct mailferry_storage *storage, const char *name,
                           int subscribed);
int maildir_mlog_begin(struct mailferry_storage *storage,
                       struct mailferry_log_iter **iter_r);
int maildir_mlog_next(struct mailferry_log_iter *iter,
                      const struct mailferry_log_record **rec_r);
int maildir_mlog_end(struct mailferry_log_iter **iter);

/* --- maildir-sync.c --- */
/* Bring box up to date with the disk: scan cur/ and new/, give new files
 * UIDs (under the uidlist lock), drop vanished ones, then record the
 * differences in the index. locked: the caller already holds the uidlist
 * lock (lock != NULL). */
int maildir_sync(struct mailferry_mailbox *box, struct maildir_dotlock *lock);
/* The same, also telling the index about expunges the caller did (their
 * GUIDs go into the expunge records) and marking the index records with
 * Dovecot's SYNC flag when sync_flag. */
struct maildir_expunged;
int maildir_sync_ext(struct mailferry_mailbox *box,
                     struct maildir_dotlock *lock,
                     const struct maildir_expunged *extra, size_t extra_count,
                     bool sync_flag);
/* The same, for readers (mailbox_open, mailbox_status): when new/, cur/
 * and dovecot-uidlist are as the index's "maildir" header (or this
 * handle's last scan) says, box->msgs comes from the uidlist and the
 * index, without reading cur/ or touching a message file, as Dovecot
 * does; their file names are then unknown (maildir_names_ensure()). */
int maildir_sync_quick(struct mailferry_mailbox *box);
/* Only the quick way: 1 when done, 0 when a full sync is needed (box
 * unchanged), or an error code. */
int maildir_sync_try_quick(struct mailferry_mailbox *box);
/* For mailbox_open/status: like maildir_sync_try_quick(), but when new/
 * is empty too, only checks and leaves box->msgs unread (box->lazy). */
int maildir_sync_try_lazy(struct mailferry_mailbox *box);
/* Read box->msgs of a lazily opened box. Returns 0 or an error code. */
int maildir_msgs_ensure(struct mailferry_mailbox *box);
/* The uidlist's header (its first line) at path into ul (zeroed).
 * Returns 0, or -1 when unreadable or not a usable version 3 header. */
int maildir_uidlist_read_header(const char *path, struct maildir_uidlist *ul);
/* Whether the directory at path holds nothing but . and .. */
bool maildir_dir_is_empty(const char *path);
/* Whether the status of a mailbox described by index can do without
 * knowing which messages are in new_dir (see its first_recent_uid). */
bool maildir_status_without_new(struct mf_index *index, const char *new_dir);
/* Whether a directory (stat st now) is as a scan at check_time found it
 * (mtime, nsecs), and that scan came late enough to have seen every
 * change of that mtime (Dovecot's DIR_DELAYED_REFRESH rule). */
bool maildir_dir_unchanged(uint32_t check_time, uint32_t mtime, uint32_t nsecs,
                           const struct stat *st);
/* Make sure every message's fname is known (a full scan when box->msgs
 * came from the index). Returns 0 or an error code. */
int maildir_names_ensure(struct mailferry_mailbox *box);
/* Take the mailbox's uidlist lock. Returns 0 or an error code. */
int maildir_uidlist_lock(struct mailferry_mailbox *box,
                         struct maildir_dotlock **lock_r);
/* Under the uidlist lock, before a save-only commit: re-read the uidlist
 * when another process changed it and always the keywords file, without
 * scanning the directories. Returns 0 or an error code. */
int maildir_sync_refresh_uidlist(struct mailferry_mailbox *box);
/* Remember the uidlist's identity after we wrote it. */
void maildir_uidlist_remember(struct mailferry_mailbox *box);
/* Forget box->msgs (count 0, capacity kept) and their strings. */
void maildir_msgs_clear(struct mailferry_mailbox *box);
/* A copy of str in box->msg_names, for a message of box->msgs. */
const char *maildir_msgs_strdup(struct mailferry_mailbox *box, const char *str,
                                size_t len);
/* Message by UID, NULL if absent. */
struct maildir_msg *maildir_msg_find(struct mailferry_mailbox *box,
                                     uint32_t uid);
/* Full path of a message's file into buf. */
void maildir_msg_path(struct mailferry_mailbox *box,
                      const struct maildir_msg *msg, struct mf_buf *buf);
/* Keyword names of msg (NULL-terminated, allocated array of borrowed
 * strings from box->keywords and the index; free() the array): its
 * file name letters plus the keywords only the index has for it (those
 * without a letter), as Dovecot merges them. */
const char **maildir_msg_keywords(struct mailferry_mailbox *box,
                                  const struct maildir_msg *msg);
/* The 128-bit GUID Dovecot logs in expunge records for a message GUID
 * string: the GUID itself when it is 32 hex digits, else the last 16
 * bytes of its SHA-1. */
void maildir_guid128(const char *guid, uint8_t out[16]);

/* --- maildir-index.c --- */
/* Open (creating) box->index; failures only warn (box->index = NULL). */
void maildir_index_open(struct mailferry_mailbox *box);
/* Record in the index what differs from the maildir state in box->msgs;
 * expunged: UIDs + GUIDs of messages this sync found gone. */
struct maildir_expunged {
	uint32_t uid;
	char *guid; /* owned, may be NULL */
};
/* An MF_ARRAY of them with a name, to pass around. */
struct maildir_expunged_list {
	struct maildir_expunged *items;
	size_t count;
	size_t cap;
};
int maildir_index_sync(struct mailferry_mailbox *box,
                       const struct maildir_expunged *expunged, size_t count,
                       bool sync_flag);
/* Throw the index away and start a new one (UIDVALIDITY changed: the
 * cache is for another generation of UIDs). */
void maildir_index_reset(struct mailferry_mailbox *box);
/* Record box->msgs[first..] (just saved by us) in the index as
 * appends with their flags and keywords. */
void maildir_index_add_saved(struct mailferry_mailbox *box, size_t first,
                             bool sync_flag);
/* Fill msg->modseq from the index. */
void maildir_index_fill_modseqs(struct mailferry_mailbox *box);
/* The index's "maildir" header; false when it has none. */
bool maildir_index_get_dirs_hdr(struct mailferry_mailbox *box,
                                struct maildir_index_hdr *hdr_r);
bool maildir_index_dirs_hdr(struct mf_index *index,
                            struct maildir_index_hdr *hdr_r);
/* Queue a change of a keyword without a letter (name NULL with !add:
 * all of them) for uid; maildir_index_sync() / _add_saved() write it. */
void maildir_kw_op_add(struct mailferry_mailbox *box, uint32_t uid,
                       const char *name, bool add);
void maildir_kw_ops_clear(struct mailferry_mailbox *box);

/* --- maildir-mail.c --- */
int maildir_msg_iter_begin(struct mailferry_mailbox *box,
                           const struct mailferry_msg_query *query,
                           struct mailferry_msg_iter **iter_r);
int maildir_msg_iter_next(struct mailferry_msg_iter *iter,
                          const struct mailferry_msg **msg_r);
int maildir_msg_iter_end(struct mailferry_msg_iter **iter);
int maildir_expunge_iter_begin(struct mailferry_mailbox *box, uint64_t since,
                               struct mailferry_expunge_iter **iter_r);
int maildir_expunge_iter_next(struct mailferry_expunge_iter *iter,
                              const struct mailferry_expunge **exp_r);
int maildir_expunge_iter_end(struct mailferry_expunge_iter **iter);
int maildir_msg_open(struct mailferry_mailbox *box, uint32_t uid,
                     uint32_t flags, struct mailferry_stream **stream_r);
int maildir_stream_read(struct mailferry_stream *stream, void *buf, size_t size,
                        size_t *size_r);
void maildir_stream_close(struct mailferry_stream **stream);
int maildir_msg_get_path(struct mailferry_mailbox *box, uint32_t uid,
                         const char **path_r);
/* Whether msg's file (at path) is compressed, sniffed once and remembered
 * in msg->comp. Returns 0/1, or -1 with errno set when unreadable. */
int maildir_msg_compressed(struct mailferry_mailbox *box,
                           struct maildir_msg *msg, const char *path);
/* The plain size and the virtual size (LF counted as CRLF) of the message
 * in path, decompressing a compressed file. Returns 0, or an error code
 * with *error_r allocated (naming path). */
int maildir_file_sizes(struct mailferry_storage *storage, const char *path,
                       uint64_t *psize_r, uint64_t *vsize_r, char **error_r);

/* --- maildir-save.c --- */
int maildir_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                        struct mailferry_trans **trans_r);
int maildir_save_begin(struct mailferry_trans *trans,
                       const struct mailferry_save *save);
int maildir_save_write(struct mailferry_trans *trans, const void *data,
                       size_t size);
int maildir_save_finish(struct mailferry_trans *trans);
void maildir_save_cancel(struct mailferry_trans *trans);
int maildir_update_flags(struct mailferry_trans *trans,
                         const struct mailferry_uidset *uids,
                         enum mailferry_modify modify, uint32_t flags,
                         const char *const *keywords);
int maildir_update_modseq(struct mailferry_trans *trans, uint32_t uid,
                          uint64_t min_modseq);
int maildir_expunge(struct mailferry_trans *trans,
                    const struct mailferry_uidset *uids);
int maildir_trans_commit(struct mailferry_trans **trans,
                         struct mailferry_commit_result *result_r);
void maildir_trans_rollback(struct mailferry_trans **trans);
int maildir_copy(struct mailferry_trans *trans, struct mailferry_mailbox *src,
                 uint32_t src_uid, const struct mailferry_save *save);
int maildir_save_from_path(struct mailferry_trans *trans,
                           const struct mailferry_save *save, const char *path);

#endif
