/* SPDX-License-Identifier: MIT */
/*
 * mailferry/driver.h - the storage driver ABI, version 1.
 *
 * This header is the whole contract between the mailferry core and a storage
 * driver. A driver is a shared object that exports exactly one symbol,
 * mailferry_driver_entry(), and reaches the core only through the
 * struct mailferry_core_api table it is handed there. It links no core
 * symbols, so it loads into any core of a compatible ABI version.
 *
 * ---------------------------------------------------------------------------
 * Versioning
 * ---------------------------------------------------------------------------
 * - MAILFERRY_ABI_MAJOR / MAILFERRY_ABI_MINOR (version.h). A core loads a
 *   driver when the majors are equal and the driver's minor is <= the core's.
 * - Every struct that crosses the ABI starts with (or contains) a
 *   struct_size field and is append-only: new fields and slots go at the end
 *   and are tagged "@since 1.N". Whoever reads a struct written by the other
 *   side checks struct_size before touching a field added after 1.0
 *   (MAILFERRY_HAS_FIELD below).
 * - Slots marked "optional" may be NULL; the core then falls back (the
 *   fallback is named in the slot's comment). Required slots are never NULL.
 * - Capabilities (enum mailferry_cap) are separate from versions: they say
 *   what a store can do, not which slots exist.
 *
 * ---------------------------------------------------------------------------
 * Return values
 * ---------------------------------------------------------------------------
 * Slots return int: 0 on success, a negative enum mailferry_error on failure.
 * Iterator "next" slots return 1 when they produced an item, 0 at the end and
 * a negative error otherwise. On failure a driver records a human-readable
 * detail with api->set_error() (which returns the code, so a driver can
 * write `return api->set_error(ctx, MAILFERRY_E_NOTFOUND, "...")`).
 *
 * ---------------------------------------------------------------------------
 * Ownership and lifetimes (these rules hold unless a slot says otherwise)
 * ---------------------------------------------------------------------------
 * O1. Objects a driver creates (storage, mailbox, iterators, streams,
 *     transactions) belong to the driver. The core releases each exactly once
 *     through the matching close/end/rollback slot, which takes a pointer to
 *     the handle and sets it to NULL.
 * O2. Pointers a driver returns through an _r parameter (names, info structs,
 *     message records, error text) are borrowed: valid until the next call on
 *     the same object or its release, whichever comes first. The core copies
 *     what it keeps.
 * O3. Pointers the core passes in (locations, names, save parameters,
 *     buffers) are valid only for the duration of the call. The driver
 *     copies what it keeps.
 * O4. Memory one side frees after the other allocated it goes through
 *     api->alloc() / api->free(). No slot in ABI 1 transfers such memory.
 * O5. A mailbox handle must be closed before its storage; an iterator,
 *     stream or transaction before its mailbox. The core never uses one
 *     object from two threads at once; distinct storages may be used from
 *     different threads.
 *
 * ---------------------------------------------------------------------------
 * Names and identities
 * ---------------------------------------------------------------------------
 * - Mailbox names are UTF-8, with the hierarchy separator the storage
 *   reports in struct mailferry_storage_info (e.g. "Lists/dev"). "INBOX" is
 *   the inbox, in any case. On-disk or on-wire encodings (modified UTF-7,
 *   Maildir++ dots) are the driver's business.
 * - A mailbox GUID is 16 bytes; all zero means "none / not a mailbox".
 * - A message GUID is a string: 32 hex digits for a 128-bit GUID, otherwise
 *   whatever the store uses (Dovecot's maildir falls back to the base file
 *   name). The engine compares strings, or 128-bit forms when either side
 *   only keeps 128-bit GUIDs (MAILFERRY_CAP_GUID128_ONLY).
 * - UIDs are 32-bit, non-zero, strictly increasing within a UIDVALIDITY.
 *   Modseqs are 64-bit and non-zero once assigned.
 *
 * All calls in ABI 1 are blocking.
 */
#ifndef MAILFERRY_DRIVER_H
#define MAILFERRY_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <mailferry/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MAILFERRY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MAILFERRY_EXPORT __attribute__((visibility("default")))
#else
#define MAILFERRY_PRINTF(fmt, args)
#define MAILFERRY_EXPORT
#endif

/* True when struct *p (whose struct_size field was filled by its writer)
 * is large enough to contain member. */
#define MAILFERRY_HAS_FIELD(p, type, member)                                   \
	((p)->struct_size >=                                                   \
	 offsetof(type, member) + sizeof(((type *)0)->member))

/* ========================================================================
 * Errors
 * ======================================================================== */

/* Negative return codes. Values are frozen: new codes are only appended. */
enum mailferry_error {
	MAILFERRY_OK = 0,
	/* Temporary failure (I/O error, lost connection, timeout): retrying
	 * later may succeed. Also the code for internal errors. */
	MAILFERRY_E_TEMP = -1,
	/* The mailbox, message or file does not exist. */
	MAILFERRY_E_NOTFOUND = -2,
	/* The mailbox (or wanted UID) already exists. */
	MAILFERRY_E_EXISTS = -3,
	/* Permission denied. */
	MAILFERRY_E_PERM = -4,
	/* Out of disk space or over quota. */
	MAILFERRY_E_NOSPACE = -5,
	/* The message was expunged while we were working on it. */
	MAILFERRY_E_EXPUNGED = -6,
	/* Locked by someone else; try again later. */
	MAILFERRY_E_INUSE = -7,
	/* The data on disk or on the wire is corrupt or not understood. */
	MAILFERRY_E_INVALIDDATA = -8,
	/* This driver or store does not support the operation. */
	MAILFERRY_E_NOTSUPP = -9,
	/* A limit was hit (message too large, too many mailboxes...). */
	MAILFERRY_E_LIMIT = -10,
	/* Out of memory. Drivers return this instead of aborting. */
	MAILFERRY_E_NOMEM = -11,
	/* The core asked to stop (api->should_stop() returned true). */
	MAILFERRY_E_CANCELED = -12,
	/* The change history asked for (a modseq) is no longer kept, e.g. the
	 * transaction log was rotated away. The caller falls back to a full
	 * comparison; nothing is wrong with the store. */
	MAILFERRY_E_NOHISTORY = -13,
	/* Invalid argument from the caller (a bug in the caller or a bad
	 * location/option string from the user). */
	MAILFERRY_E_INVALID = -14,
};

/* ========================================================================
 * Capabilities
 * ======================================================================== */

/* Static capability bits in struct mailferry_driver.caps; a storage may
 * report a narrower set at run time (struct mailferry_storage_info.caps),
 * e.g. an IMAP server without CONDSTORE. Unknown bits are ignored. */
enum mailferry_cap {
	/* Messages have stable GUIDs (struct mailferry_msg.guid). */
	MAILFERRY_CAP_MSG_GUIDS = 1u << 0,
	/* save_begin() keeps the given message GUID. */
	MAILFERRY_CAP_SAVE_GUID = 1u << 1,
	/* save_begin() honours a wanted UID (>= UIDNEXT). */
	MAILFERRY_CAP_SAVE_UID = 1u << 2,
	/* Messages and mailboxes have modseqs (CONDSTORE semantics). */
	MAILFERRY_CAP_MODSEQ = 1u << 3,
	/* expunge_iter and changed-since queries work (change history). */
	MAILFERRY_CAP_CHANGE_LOG = 1u << 4,
	/* Mailboxes have 16-byte GUIDs that mailbox_create() can set. */
	MAILFERRY_CAP_MAILBOX_GUIDS = 1u << 5,
	/* mailbox_log iteration returns delete/rename/subscribe records. */
	MAILFERRY_CAP_MAILBOX_LOG = 1u << 6,
	/* Arbitrary keywords are stored. */
	MAILFERRY_CAP_KEYWORDS = 1u << 7,
	/* POP3 UIDL and order are stored. */
	MAILFERRY_CAP_POP3 = 1u << 8,
	/* The purge slot does something useful (e.g. mdbox). */
	MAILFERRY_CAP_PURGE = 1u << 9,
	/* Read-only store: only the read half of the ABI works. */
	MAILFERRY_CAP_READONLY = 1u << 10,
	/* Message GUIDs are always 128-bit (32 hex digits). */
	MAILFERRY_CAP_GUID128_ONLY = 1u << 11,
	/* Subscriptions are stored. */
	MAILFERRY_CAP_SUBSCRIPTIONS = 1u << 12,
	/* UIDVALIDITY can be chosen at mailbox create and updated. */
	MAILFERRY_CAP_SET_UIDVALIDITY = 1u << 13,
	/* Received and save dates are preserved on save. */
	MAILFERRY_CAP_DATES = 1u << 14,
};

/* ========================================================================
 * Opaque handles (defined by each driver, or by the core for ctx)
 * ======================================================================== */

/* Per-storage context owned by the core. Drivers pass it back in api calls
 * (errors, logging, settings) and never look inside. Valid from
 * storage_open() until storage_close() returns. */
struct mailferry_ctx;

struct mailferry_storage;     /* an opened store (driver-owned) */
struct mailferry_mailbox;     /* an opened mailbox (driver-owned) */
struct mailferry_list_iter;   /* mailbox list iterator */
struct mailferry_log_iter;    /* mailbox change-log iterator */
struct mailferry_subs_iter;   /* subscription iterator */
struct mailferry_msg_iter;    /* message iterator */
struct mailferry_expunge_iter; /* expunge iterator */
struct mailferry_stream;      /* readable message body */
struct mailferry_trans;       /* a write transaction on one mailbox */

/* ========================================================================
 * The core's API table (core -> driver)
 * ======================================================================== */

enum mailferry_log_level {
	MAILFERRY_LOG_DEBUG = 0,
	MAILFERRY_LOG_INFO = 1,
	MAILFERRY_LOG_WARNING = 2,
	MAILFERRY_LOG_ERROR = 3,
};

struct mailferry_core_api {
	uint32_t abi_major;   /* the core's MAILFERRY_ABI_MAJOR */
	uint32_t abi_minor;   /* the core's MAILFERRY_ABI_MINOR */
	uint32_t struct_size; /* sizeof(struct mailferry_core_api) in the core */

	/* Record the detail of an error on ctx and return code unchanged.
	 * The text replaces any earlier one on the same ctx. ctx may be NULL
	 * (before a storage exists); the text then goes to the log.
	 * @since 1.0 */
	int (*set_error)(struct mailferry_ctx *ctx, int code, const char *fmt,
			 ...) MAILFERRY_PRINTF(3, 4);

	/* Log a line, prefixed by the core with the storage's location.
	 * Debug lines are dropped unless the user asked for them.
	 * @since 1.0 */
	void (*log)(struct mailferry_ctx *ctx, enum mailferry_log_level level,
		    const char *fmt, ...) MAILFERRY_PRINTF(3, 4);

	/* Look up a setting ("mail_fsync", "imapc_host"...) in the user's
	 * configuration. Returns NULL when unset. The string is owned by the
	 * core and valid until storage_close(). ctx may be NULL for global
	 * settings. @since 1.0 */
	const char *(*setting)(struct mailferry_ctx *ctx, const char *key);

	/* Memory that crosses the ABI (rule O4). alloc returns NULL on
	 * failure; free(NULL) is a no-op. @since 1.0 */
	void *(*alloc)(size_t size);
	void *(*realloc)(void *ptr, size_t size);
	void (*free)(void *ptr);

	/* Fill buf with size cryptographically random bytes (GUIDs,
	 * UIDVALIDITY). Returns 0 or MAILFERRY_E_TEMP. @since 1.0 */
	int (*random)(void *buf, size_t size);

	/* True when the user interrupted the run; long loops in drivers
	 * check it and return MAILFERRY_E_CANCELED. @since 1.0 */
	int (*should_stop)(struct mailferry_ctx *ctx);
};

/* ========================================================================
 * Data records
 * ======================================================================== */

/* System flags, as bits. */
enum mailferry_flag {
	MAILFERRY_FLAG_ANSWERED = 1u << 0,
	MAILFERRY_FLAG_FLAGGED = 1u << 1,
	MAILFERRY_FLAG_DELETED = 1u << 2,
	MAILFERRY_FLAG_SEEN = 1u << 3,
	MAILFERRY_FLAG_DRAFT = 1u << 4,
	/* \Recent: read-only; reported by stores that track it, ignored on
	 * save and update. */
	MAILFERRY_FLAG_RECENT = 1u << 5,
};
#define MAILFERRY_FLAGS_MASK 0x1fu /* the settable system flags */

/* Special-use attributes (RFC 6154), as bits. */
enum mailferry_special_use {
	MAILFERRY_SPECIAL_ALL = 1u << 0,
	MAILFERRY_SPECIAL_ARCHIVE = 1u << 1,
	MAILFERRY_SPECIAL_DRAFTS = 1u << 2,
	MAILFERRY_SPECIAL_FLAGGED = 1u << 3,
	MAILFERRY_SPECIAL_JUNK = 1u << 4,
	MAILFERRY_SPECIAL_SENT = 1u << 5,
	MAILFERRY_SPECIAL_TRASH = 1u << 6,
	MAILFERRY_SPECIAL_IMPORTANT = 1u << 7,
};

/* What storage_info() reports. @since 1.0 */
struct mailferry_storage_info {
	uint32_t struct_size;
	/* Capabilities of this storage (a subset of the driver's). */
	uint32_t caps;
	/* Hierarchy separator used in mailbox names on the ABI ('/' or '.'). */
	char hier_sep;
	/* Human-readable description of where the store is, for logs. */
	const char *display;
};

/* Flags of struct mailferry_mailbox_info. */
enum mailferry_mailbox_flags {
	/* A directory only: holds children, no messages (guid is zero). */
	MAILFERRY_MAILBOX_NOSELECT = 1u << 0,
	/* The status fields of struct mailferry_mailbox_info are filled. */
	MAILFERRY_MAILBOX_HAVE_STATUS = 1u << 1,
	/* The mailbox has children. */
	MAILFERRY_MAILBOX_CHILDREN = 1u << 2,
};

/* Mailbox status, from mailbox_status() or (with HAVE_STATUS) listing.
 * @since 1.0 */
struct mailferry_mailbox_status {
	uint32_t struct_size;
	uint8_t guid[16];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	/* Lowest UID still \Recent (== uidnext when none). */
	uint32_t first_recent_uid;
	/* 0 when the store has no modseqs (no MAILFERRY_CAP_MODSEQ). */
	uint64_t highest_modseq;
	/* Highest modseq of private (per-user) flags; 0 if none. */
	uint64_t highest_pvt_modseq;
};

/* One mailbox from mailbox_list_next(). @since 1.0 */
struct mailferry_mailbox_info {
	uint32_t struct_size;
	const char *name;     /* UTF-8, storage separator */
	uint32_t flags;       /* enum mailferry_mailbox_flags */
	uint32_t special_use; /* enum mailferry_special_use bits */
	/* Filled when flags has MAILFERRY_MAILBOX_HAVE_STATUS; otherwise
	 * only status.guid is meaningful (zero if unknown without opening). */
	struct mailferry_mailbox_status status;
};

/* Flags for mailbox_list_begin(). */
enum mailferry_list_flags {
	/* Fill the status of every selectable mailbox (may be slow). */
	MAILFERRY_LIST_STATUS = 1u << 0,
};

/* Mailbox change-log record types, Dovecot's dovecot.mailbox.log values. */
enum mailferry_log_type {
	MAILFERRY_LOG_DELETE_MAILBOX = 1, /* id = mailbox GUID */
	MAILFERRY_LOG_DELETE_DIR = 2,     /* id = SHA-1(name)[0..15] */
	MAILFERRY_LOG_RENAME = 3,         /* id = SHA-1(new name)[0..15] */
	MAILFERRY_LOG_SUBSCRIBE = 4,      /* id = SHA-1(name)[0..15] */
	MAILFERRY_LOG_UNSUBSCRIBE = 5,    /* id = SHA-1(name)[0..15] */
};

/* One record of the mailbox change log. @since 1.0 */
struct mailferry_log_record {
	uint32_t struct_size;
	uint32_t type; /* enum mailferry_log_type */
	uint8_t id[16];
	int64_t timestamp; /* unix time */
};

/* Parameters of mailbox_create(). @since 1.0 */
struct mailferry_mailbox_create {
	uint32_t struct_size;
	/* GUID to give the mailbox; all zero = the driver makes one. */
	uint8_t guid[16];
	/* UIDVALIDITY to use; 0 = the driver picks one. */
	uint32_t uidvalidity;
	/* Create a directory (no messages) instead of a mailbox. */
	uint32_t directory;
	/* enum mailferry_special_use bits to record, where supported. */
	uint32_t special_use;
};

/* Which fields of struct mailferry_mailbox_update to apply. */
enum mailferry_update_fields {
	MAILFERRY_UPDATE_GUID = 1u << 0,
	MAILFERRY_UPDATE_UIDVALIDITY = 1u << 1,
	MAILFERRY_UPDATE_MIN_UIDNEXT = 1u << 2,
	MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ = 1u << 3,
	MAILFERRY_UPDATE_MIN_FIRST_RECENT_UID = 1u << 4,
	MAILFERRY_UPDATE_MIN_HIGHEST_PVT_MODSEQ = 1u << 5,
};

/* Parameters of mailbox_update(). The min_ fields only ever raise the
 * value; a lower value is ignored. Changing UIDVALIDITY keeps the messages
 * but makes every UID new to clients. Changing UIDVALIDITY to a different
 * value on a mailbox that holds no messages makes it as if newly created
 * with that UIDVALIDITY: UIDNEXT restarts at 1 (HIGHESTMODSEQ may restart
 * too); a mailbox with messages keeps their UIDs and its UIDNEXT. A driver
 * that cannot restart UIDs keeps UIDNEXT (the engine then copies with new
 * UIDs and reports it). @since 1.0 */
struct mailferry_mailbox_update {
	uint32_t struct_size;
	uint32_t fields; /* enum mailferry_update_fields */
	uint8_t guid[16];
	uint32_t uidvalidity;
	uint32_t min_uidnext;
	uint32_t min_first_recent_uid;
	uint64_t min_highest_modseq;
	uint64_t min_highest_pvt_modseq;
};

/* Message fields a caller wants from msg_iter (a driver may fill more).
 * Asking for less lets a driver skip work (e.g. opening files). */
enum mailferry_msg_fields {
	MAILFERRY_FIELD_GUID = 1u << 0,
	MAILFERRY_FIELD_FLAGS = 1u << 1, /* flags + keywords */
	MAILFERRY_FIELD_MODSEQ = 1u << 2,
	MAILFERRY_FIELD_RECEIVED = 1u << 3,
	MAILFERRY_FIELD_SAVED = 1u << 4,
	MAILFERRY_FIELD_PHYSICAL_SIZE = 1u << 5,
	MAILFERRY_FIELD_VIRTUAL_SIZE = 1u << 6,
	MAILFERRY_FIELD_POP3 = 1u << 7,
	/* Per-message flag/keyword changes since query.changed_since. */
	MAILFERRY_FIELD_CHANGES = 1u << 8,
};

/* Flags of struct mailferry_msg_query. */
enum mailferry_query_flags {
	/* With changed_since: ignore changes written by transactions that
	 * had MAILFERRY_TRANS_SYNC, so a sync does not see its own changes
	 * as new. */
	MAILFERRY_QUERY_SKIP_SYNC_CHANGES = 1u << 0,
};

/* What msg_iter_begin() iterates. UIDs in [uid_first, uid_last] (0 and
 * UINT32_MAX for all), in ascending UID order. If changed_since > 0 only
 * messages whose modseq is greater are returned; a driver that can no longer
 * tell returns MAILFERRY_E_NOHISTORY from msg_iter_begin(). @since 1.0 */
struct mailferry_msg_query {
	uint32_t struct_size;
	uint32_t uid_first;
	uint32_t uid_last;
	uint32_t fields; /* enum mailferry_msg_fields */
	uint32_t flags;  /* enum mailferry_query_flags */
	uint64_t changed_since;
};

/* One message from msg_iter_next(). Fields not asked for and not known are
 * 0 / NULL (sizes: UINT64_MAX when unknown). @since 1.0 */
struct mailferry_msg {
	uint32_t struct_size;
	uint32_t uid;
	const char *guid;             /* NULL or "" when unknown */
	uint32_t flags;               /* enum mailferry_flag bits */
	const char *const *keywords;  /* NULL-terminated, NULL = none */
	uint64_t modseq;
	int64_t received_date;        /* unix time, 0 = unknown */
	int64_t save_date;            /* unix time, 0 = unknown */
	uint64_t physical_size;
	uint64_t virtual_size;        /* size with CRLF line endings */
	const char *pop3_uidl;        /* NULL = none */
	uint32_t pop3_order;          /* 0 = none */
	/* With MAILFERRY_FIELD_CHANGES: flag and keyword changes recorded since
	 * query.changed_since (0: as far back as the store remembers),
	 * the last change of each flag or keyword counting (an add then a
	 * remove is a remove, as in Dovecot's dsync). The final state is in
	 * flags/keywords. */
	uint32_t flags_added;
	uint32_t flags_removed;
	const char *const *keywords_added;   /* NULL-terminated or NULL */
	const char *const *keywords_removed; /* NULL-terminated or NULL */
};

/* One expunge from expunge_iter_next(). @since 1.0 */
struct mailferry_expunge {
	uint32_t struct_size;
	uint32_t uid;
	/* 128-bit GUID of the expunged message; have_guid = 0 if unknown. */
	uint8_t guid[16];
	uint32_t have_guid;
	uint64_t modseq;
};

/* Flags for msg_open(). */
enum mailferry_open_flags {
	/* The caller reads only the header; a driver may stop after it. */
	MAILFERRY_OPEN_HEADER_ONLY = 1u << 0,
};

/* Flags for mailbox_open(). */
enum mailferry_mailbox_open_flags {
	/* No changes will be made through this handle. */
	MAILFERRY_MAILBOX_READONLY = 1u << 0,
	/* Take the store's "being synced" lock for the handle's lifetime (for
	 * Dovecot stores, .dovecot-box-sync.lock), waiting up to the
	 * "mailbox_lock_timeout" setting. */
	MAILFERRY_MAILBOX_SYNC_LOCK = 1u << 1,
};

/* Flags for trans_begin(). */
enum mailferry_trans_flags {
	/* The changes are made by a sync: they are marked so that
	 * MAILFERRY_QUERY_SKIP_SYNC_CHANGES can skip them later (Dovecot's
	 * SYNC transaction flag). */
	MAILFERRY_TRANS_SYNC = 1u << 0,
};

/* What save_begin() saves. @since 1.0 */
struct mailferry_save {
	uint32_t struct_size;
	/* Wanted UID, >= the mailbox's UIDNEXT and ascending within one
	 * transaction; 0 = next free. Needs MAILFERRY_CAP_SAVE_UID, else
	 * ignored. */
	uint32_t uid;
	/* Message GUID to keep; NULL = the driver makes one. */
	const char *guid;
	uint32_t flags;              /* enum mailferry_flag bits */
	const char *const *keywords; /* NULL-terminated or NULL */
	int64_t received_date;       /* 0 = now */
	int64_t save_date;           /* 0 = now */
	/* Lowest modseq the new message must get; 0 = any. */
	uint64_t min_modseq;
	const char *pop3_uidl; /* NULL = none */
	uint32_t pop3_order;   /* 0 = none */
	/* Size of the body about to be written, UINT64_MAX if unknown. A hint
	 * (preallocation, APPEND literal size); the driver must cope with a
	 * wrong hint by failing with MAILFERRY_E_INVALID, never by storing a
	 * truncated message. */
	uint64_t size_hint;
};

/* Modes for update_flags(). */
enum mailferry_modify {
	MAILFERRY_MODIFY_ADD = 0,
	MAILFERRY_MODIFY_REMOVE = 1,
	MAILFERRY_MODIFY_REPLACE = 2,
};

/* A set of UIDs: count ranges, each first <= last, ascending and
 * non-overlapping. @since 1.0 */
struct mailferry_uid_range {
	uint32_t first;
	uint32_t last;
};
struct mailferry_uidset {
	const struct mailferry_uid_range *ranges;
	size_t count;
};

/* What trans_commit() reports. Pointers are borrowed until the mailbox is
 * closed or another transaction on it commits. @since 1.0 */
struct mailferry_commit_result {
	uint32_t struct_size;
	uint32_t uidvalidity;
	/* The UIDs really assigned to the saves, in save_begin() order; 0 for
	 * a save whose UID the store could not report (IMAP without
	 * UIDPLUS). */
	const uint32_t *saved_uids;
	size_t saved_count;
};

/* Parameters of storage_open(). @since 1.0 */
struct mailferry_open_params {
	uint32_t struct_size;
	/* The part of the location after "driver:", with ~ and %-variables
	 * already expanded, e.g. "/home/u/Maildir". May be empty. */
	const char *path;
	/* KEY=VALUE options from the location (":LAYOUT=fs:INDEX=/x"), as
	 * parallel arrays of option_count entries, in order, keys upper-case
	 * as written. */
	const char *const *option_keys;
	const char *const *option_values;
	size_t option_count;
	/* The user's name and home directory; NULL when unknown. */
	const char *user;
	const char *home;
	/* enum mailferry_storage_open_flags */
	uint32_t flags;
};

enum mailferry_storage_open_flags {
	/* Open for reading only; mutating slots may return PERM. */
	MAILFERRY_STORAGE_READONLY = 1u << 0,
	/* Create the store's root if it does not exist. */
	MAILFERRY_STORAGE_CREATE = 1u << 1,
};

/* ========================================================================
 * The driver's operations (driver -> core)
 * ======================================================================== */

struct mailferry_driver_ops {
	uint32_t struct_size; /* sizeof(struct mailferry_driver_ops) */

	/* ---- storage ------------------------------------------------- */

	/* Open the store described by params. ctx is the core's handle for
	 * this storage, to be passed in api calls; keep it. On success
	 * *storage_r is set. Errors: NOTFOUND (no store and no CREATE flag),
	 * PERM, INVALID (bad path or option: name it in the error text),
	 * INVALIDDATA, TEMP. Required. @since 1.0 */
	int (*storage_open)(struct mailferry_ctx *ctx,
			    const struct mailferry_open_params *params,
			    struct mailferry_storage **storage_r);

	/* Release the storage, flushing nothing that was not committed.
	 * Sets *storage to NULL. Required. @since 1.0 */
	void (*storage_close)(struct mailferry_storage **storage);

	/* Describe the opened storage; the struct is borrowed (rule O2) and
	 * its struct_size set by the driver. Required. @since 1.0 */
	int (*storage_info)(struct mailferry_storage *storage,
			    const struct mailferry_storage_info **info_r);

	/* ---- mailbox tree -------------------------------------------- */

	/* Iterate every mailbox and directory of the store, parents before
	 * children (order otherwise unspecified). flags: enum
	 * mailferry_list_flags. Required. @since 1.0 */
	int (*mailbox_list_begin)(struct mailferry_storage *storage,
				  uint32_t flags,
				  struct mailferry_list_iter **iter_r);
	/* 1 and *info_r set, 0 at the end, or an error. Required. */
	int (*mailbox_list_next)(struct mailferry_list_iter *iter,
				 const struct mailferry_mailbox_info **info_r);
	/* Release the iterator; returns the first error the iteration met
	 * (0 if none). Required. */
	int (*mailbox_list_end)(struct mailferry_list_iter **iter);

	/* Iterate the mailbox change log (deletes, renames, subscription
	 * changes), oldest first. Optional: NULL or NOTSUPP means the store
	 * keeps no log, and the engine decides by current state only.
	 * @since 1.0 */
	int (*mailbox_log_begin)(struct mailferry_storage *storage,
				 struct mailferry_log_iter **iter_r);
	int (*mailbox_log_next)(struct mailferry_log_iter *iter,
				const struct mailferry_log_record **rec_r);
	int (*mailbox_log_end)(struct mailferry_log_iter **iter);

	/* Iterate subscribed names (which need not exist as mailboxes).
	 * Optional: NULL means no subscriptions are stored. @since 1.0 */
	int (*subscriptions_begin)(struct mailferry_storage *storage,
				   struct mailferry_subs_iter **iter_r);
	int (*subscriptions_next)(struct mailferry_subs_iter *iter,
				  const char **name_r);
	int (*subscriptions_end)(struct mailferry_subs_iter **iter);

	/* Create a mailbox (or directory) named name, with missing parents
	 * as directories. Records the creation in the mailbox log where the
	 * store keeps one. Errors: EXISTS, INVALID (bad name), PERM, NOSPACE,
	 * TEMP. Required unless MAILFERRY_CAP_READONLY. @since 1.0 */
	int (*mailbox_create)(struct mailferry_storage *storage,
			      const char *name,
			      const struct mailferry_mailbox_create *params);

	/* Delete a mailbox with all its messages, or (directory != 0) an
	 * empty directory. Children are kept. Logged (DELETE_MAILBOX with the
	 * GUID, or DELETE_DIR). Errors: NOTFOUND, EXISTS (directory still
	 * has children with messages), PERM, TEMP. Required unless
	 * read-only. @since 1.0 */
	int (*mailbox_delete)(struct mailferry_storage *storage,
			      const char *name, int directory);

	/* Rename a mailbox and its children. Logged (RENAME). Errors:
	 * NOTFOUND, EXISTS (new name taken), INVALID, PERM, TEMP. Required
	 * unless read-only. @since 1.0 */
	int (*mailbox_rename)(struct mailferry_storage *storage,
			      const char *old_name, const char *new_name);

	/* Subscribe (subscribed != 0) or unsubscribe name. Logged. Optional
	 * (NULL: subscriptions are not stored; the engine skips them).
	 * @since 1.0 */
	int (*mailbox_set_subscribed)(struct mailferry_storage *storage,
				      const char *name, int subscribed);

	/* Change a mailbox's identity and counters (see struct
	 * mailferry_mailbox_update). Errors: NOTFOUND, NOTSUPP (a field the
	 * store cannot set), TEMP. Required unless read-only. @since 1.0 */
	int (*mailbox_update)(struct mailferry_storage *storage,
			      const char *name,
			      const struct mailferry_mailbox_update *update);

	/* ---- messages ------------------------------------------------ */

	/* Open a mailbox. flags: enum mailferry_mailbox_open_flags. Errors:
	 * NOTFOUND, INUSE (sync lock timed out), PERM, INVALIDDATA, TEMP.
	 * Required. @since 1.0 */
	int (*mailbox_open)(struct mailferry_storage *storage,
			    const char *name, uint32_t flags,
			    struct mailferry_mailbox **box_r);
	/* Close it; uncommitted transactions must already be gone. */
	void (*mailbox_close)(struct mailferry_mailbox **box);

	/* Refresh the mailbox (pick up changes made by others since it was
	 * opened) and report its status. The struct is filled by the driver,
	 * struct_size included. Required. @since 1.0 */
	int (*mailbox_status)(struct mailferry_mailbox *box,
			      struct mailferry_mailbox_status *status_r);

	/* Iterate messages matching query, ascending UID, as of the last
	 * refresh. Messages expunged meanwhile may still be returned; their
	 * bodies then fail with EXPUNGED. Errors from begin: NOHISTORY
	 * (changed_since is older than the kept history), TEMP. Required.
	 * @since 1.0 */
	int (*msg_iter_begin)(struct mailferry_mailbox *box,
			      const struct mailferry_msg_query *query,
			      struct mailferry_msg_iter **iter_r);
	int (*msg_iter_next)(struct mailferry_msg_iter *iter,
			     const struct mailferry_msg **msg_r);
	int (*msg_iter_end)(struct mailferry_msg_iter **iter);

	/* Iterate expunges recorded after modseq since (0 = all that are
	 * still known), ascending modseq. Errors from begin: NOHISTORY,
	 * NOTSUPP (no MAILFERRY_CAP_CHANGE_LOG). Optional (NULL: the engine
	 * finds expunges by full comparison). @since 1.0 */
	int (*expunge_iter_begin)(struct mailferry_mailbox *box,
				  uint64_t since,
				  struct mailferry_expunge_iter **iter_r);
	int (*expunge_iter_next)(struct mailferry_expunge_iter *iter,
				 const struct mailferry_expunge **exp_r);
	int (*expunge_iter_end)(struct mailferry_expunge_iter **iter);

	/* Open the full message (header and body, as stored, usually with LF
	 * line endings) of uid for reading. flags: enum
	 * mailferry_open_flags. Compressed stores return the uncompressed
	 * bytes. Errors: NOTFOUND / EXPUNGED, INVALIDDATA, TEMP. Required.
	 * @since 1.0 */
	int (*msg_open)(struct mailferry_mailbox *box, uint32_t uid,
			uint32_t flags, struct mailferry_stream **stream_r);

	/* Read up to size bytes into buf. Sets *size_r to the count read;
	 * *size_r == 0 with return 0 means end of message. Errors: TEMP,
	 * INVALIDDATA (e.g. truncated file: the message is shorter than its
	 * recorded size), EXPUNGED. Required. @since 1.0 */
	int (*stream_read)(struct mailferry_stream *stream, void *buf,
			   size_t size, size_t *size_r);
	void (*stream_close)(struct mailferry_stream **stream);

	/* ---- changes ------------------------------------------------- */

	/* Start a transaction on box. flags: enum mailferry_trans_flags.
	 * Nothing is visible to others before trans_commit(). Required unless
	 * read-only. @since 1.0 */
	int (*trans_begin)(struct mailferry_mailbox *box, uint32_t flags,
			   struct mailferry_trans **trans_r);

	/* Start saving one message; then save_write() the whole message in
	 * chunks and save_finish() (or save_cancel()). One save at a time per
	 * transaction. Errors: EXISTS (wanted UID below UIDNEXT), LIMIT,
	 * NOSPACE, TEMP. Required unless read-only. @since 1.0 */
	int (*save_begin)(struct mailferry_trans *trans,
			  const struct mailferry_save *save);
	int (*save_write)(struct mailferry_trans *trans, const void *data,
			  size_t size);
	int (*save_finish)(struct mailferry_trans *trans);
	void (*save_cancel)(struct mailferry_trans *trans);

	/* Add, remove or replace system flags (flags) and keywords (keywords,
	 * NULL-terminated or NULL) on every existing UID in uids. UIDs that
	 * no longer exist are skipped silently. Required unless read-only.
	 * @since 1.0 */
	int (*update_flags)(struct mailferry_trans *trans,
			    const struct mailferry_uidset *uids,
			    enum mailferry_modify modify, uint32_t flags,
			    const char *const *keywords);

	/* Raise the modseq of uid to at least min_modseq. Optional (NULL:
	 * modseqs are not settable). @since 1.0 */
	int (*update_modseq)(struct mailferry_trans *trans, uint32_t uid,
			     uint64_t min_modseq);

	/* Expunge every existing UID in uids. Required unless read-only.
	 * @since 1.0 */
	int (*expunge)(struct mailferry_trans *trans,
		       const struct mailferry_uidset *uids);

	/* Make every change of the transaction durable and visible (with
	 * the "mail_fsync" setting's policy), release the transaction and
	 * set *trans to NULL, also on failure (a failed commit changed
	 * nothing). result_r may be NULL. Errors: NOSPACE, INUSE, TEMP,
	 * EXISTS (a wanted UID was taken meanwhile). Required unless
	 * read-only. @since 1.0 */
	int (*trans_commit)(struct mailferry_trans **trans,
			    struct mailferry_commit_result *result_r);
	/* Discard every change; sets *trans to NULL. */
	void (*trans_rollback)(struct mailferry_trans **trans);

	/* ---- optional accelerators and maintenance ------------------- */

	/* Save a copy of message src_uid of mailbox src (which belongs to
	 * the same storage) with the given parameters, without the core
	 * streaming the body. Optional (NULL or NOTSUPP: the core streams
	 * msg_open() into save_*). @since 1.0
	 *
	 * Moves: to give a message a new UID the engine copies it from the
	 * transaction's own mailbox and expunges src_uid in the same
	 * transaction. A driver should commit such a pair atomically (a
	 * crash leaves the message at its old UID or at its new one, never
	 * at both and never at neither), e.g. by renumbering the message
	 * in place; otherwise a sync killed at that instant leaves a
	 * duplicate. The local drivers do. */
	int (*copy)(struct mailferry_trans *trans,
		    struct mailferry_mailbox *src, uint32_t src_uid,
		    const struct mailferry_save *save);

	/* Report the path of a plain file that holds exactly the bytes
	 * msg_open() would return, for hard-link copies. The string is
	 * borrowed (rule O2). Optional (NULL or NOTSUPP: not a plain file,
	 * e.g. compressed or inside a multi-message file). @since 1.0 */
	int (*msg_get_path)(struct mailferry_mailbox *box, uint32_t uid,
			    const char **path_r);

	/* Save by hard-linking (or otherwise copying at file level) path,
	 * which another driver reported with msg_get_path(). Errors: NOTSUPP
	 * (different filesystem or layout: the core then streams), others as
	 * save_begin(). Optional. @since 1.0 */
	int (*save_from_path)(struct mailferry_trans *trans,
			      const struct mailferry_save *save,
			      const char *path);

	/* Reclaim space of expunged messages (mdbox purge). Optional (NULL:
	 * nothing to purge). @since 1.0 */
	int (*purge)(struct mailferry_storage *storage);

	/* Rebuild a mailbox's indexes from its mail files (force-resync);
	 * name NULL = every mailbox. Optional. @since 1.0 */
	int (*force_resync)(struct mailferry_storage *storage,
			    const char *name);

	/* Escape hatch for rare or experimental operations. Ops below 1000
	 * are reserved for the core; unknown ops return NOTSUPP. Optional.
	 * @since 1.0 */
	int (*ctl)(struct mailferry_storage *storage, uint32_t op, void *arg);
};

/* ========================================================================
 * The driver descriptor and the entry point
 * ======================================================================== */

struct mailferry_driver {
	uint32_t abi_major;   /* MAILFERRY_ABI_MAJOR the driver was built for */
	uint32_t abi_minor;   /* MAILFERRY_ABI_MINOR the driver was built for */
	uint32_t struct_size; /* sizeof(struct mailferry_driver) */
	/* Location prefix: "maildir" serves "maildir:..." locations.
	 * [a-z0-9_-]+, and it must equal the file name without ".so". */
	const char *name;
	const char *version;     /* the driver's own version, free-form */
	const char *description; /* one line for `mailferry drivers` */
	uint32_t caps;           /* enum mailferry_cap */
	const struct mailferry_driver_ops *ops;
};

/* The one symbol a driver exports. The core calls it once after loading,
 * with its API table (valid until the driver is unloaded) and its ABI
 * version. The driver returns its descriptor (static storage), or NULL to
 * refuse the core (e.g. core_abi_major differs), after logging why with
 * api->log(NULL, ...). */
typedef const struct mailferry_driver *
mailferry_driver_entry_fn(const struct mailferry_core_api *api,
			  uint32_t core_abi_major, uint32_t core_abi_minor);

#define MAILFERRY_DRIVER_ENTRY_SYMBOL "mailferry_driver_entry"

/* Drivers define it with this prototype: */
MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *api,
		       uint32_t core_abi_major, uint32_t core_abi_minor);

#ifdef __cplusplus
}
#endif

#endif
