/* SPDX-License-Identifier: MIT */
/*
 * mf-index-private.h - internals shared by the core/index sources: the
 * in-memory map, the log file reader and little-endian helpers.
 * Byte layouts: dovecot-formats.md §7 (index) and §8 (log).
 */
#ifndef MF_INDEX_PRIVATE_H
#define MF_INDEX_PRIVATE_H

#include <sys/stat.h>
#include <sys/types.h>

#include "mf-array.h"
#include "mf-buf.h"
#include "mf-common.h"
#include "mf-index.h"

/* --- little-endian access (the files are LE; we refuse other CPUs at
 * configure time implicitly by checking the compat flag) --- */
static inline uint16_t mf_le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t mf_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}
static inline uint64_t mf_le64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)mf_le32(b) | ((uint64_t)mf_le32(b + 4) << 32);
}
static inline void mf_put16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
static inline void mf_put32(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}
static inline void mf_put64(void *p, uint64_t v)
{
	mf_put32(p, (uint32_t)v);
	mf_put32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#define MF_ALIGN4(n) (((n) + 3u) & ~3u)
#define MF_ALIGN8(n) (((n) + 7u) & ~7u)

/* --- main index file constants --- */
#define MF_IDX_MAJOR 7
#define MF_IDX_MINOR 3
#define MF_IDX_BASE_HDR_SIZE 120
#define MF_IDX_MIN_BASE_HDR_SIZE 24 /* older files: missing fields are 0 */
#define MF_IDX_REC_MIN_SIZE 8       /* smallest valid record_size */
#define MF_IDX_REC_BASE 5           /* uid + flags; ext data may follow */
#define MF_IDX_EXT_HDR_SIZE 16
#define MF_IDX_EXT_HDR_MAX (1024 * 1024 * 16)
#define MF_IDX_COMPAT_LE 0x01
#define MF_IDX_HDR_FLAG_CORRUPTED 0x01
#define MF_IDX_HDR_FLAG_HAVE_DIRTY 0x02

/* base header field offsets */
enum {
	MF_HOFF_INDEXID = 16,
	MF_HOFF_FLAGS = 20,
	MF_HOFF_UID_VALIDITY = 24,
	MF_HOFF_NEXT_UID = 28,
	MF_HOFF_MESSAGES = 32,
	MF_HOFF_SEEN = 40,
	MF_HOFF_DELETED = 44,
	MF_HOFF_FIRST_RECENT = 48,
	MF_HOFF_UNSEEN_LOW = 52,
	MF_HOFF_DELETED_LOW = 56,
	MF_HOFF_LOG_SEQ = 60,
	MF_HOFF_TAIL = 64,
	MF_HOFF_HEAD = 68,
	MF_HOFF_LOG2_ROTATE = 76,
	MF_HOFF_TEMP_SCAN = 80,
	MF_HOFF_DAY_STAMP = 84,
	MF_HOFF_DAY_FIRST_UID = 88,
};

/* --- transaction log constants --- */
#define MF_LOG_MAJOR 1
#define MF_LOG_MINOR 3
#define MF_LOG_HDR_SIZE 40
#define MF_LOG_MIN_HDR_SIZE 24
#define MF_LOG_REC_HDR_SIZE 8

#define MF_T_EXPUNGE 0x00000001u
#define MF_T_APPEND 0x00000002u
#define MF_T_FLAG_UPDATE 0x00000004u
#define MF_T_HEADER_UPDATE 0x00000020u
#define MF_T_EXT_INTRO 0x00000040u
#define MF_T_EXT_RESET 0x00000080u
#define MF_T_EXT_HDR_UPDATE 0x00000100u
#define MF_T_EXT_REC_UPDATE 0x00000200u
#define MF_T_KEYWORD_UPDATE 0x00000400u
#define MF_T_KEYWORD_RESET 0x00000800u
#define MF_T_EXT_ATOMIC_INC 0x00001000u
#define MF_T_EXPUNGE_GUID 0x00002000u
#define MF_T_MODSEQ_UPDATE 0x00008000u
#define MF_T_EXT_HDR_UPDATE32 0x00010000u
#define MF_T_INDEX_DELETED 0x00020000u
#define MF_T_INDEX_UNDELETED 0x00040000u
#define MF_T_BOUNDARY 0x00080000u
#define MF_T_ATTRIBUTE_UPDATE 0x00100000u
#define MF_T_TYPE_MASK 0x0fffffffu
#define MF_T_EXPUNGE_PROT 0x0000cd90u
#define MF_T_EXTERNAL 0x10000000u
#define MF_T_SYNC 0x20000000u
#define MF_T_INTRO_NO_SHRINK 0x0001u

/* Size field codec (§8.2). decode returns 0 for "not written yet". */
uint32_t mf_log_size_decode(const uint8_t p[4]);
void mf_log_size_encode(uint32_t size, uint8_t p[4]);
/* Base type of a record (expunge protection bits removed), 0 if the type
 * is unknown or an expunge lacks its protection bits. */
uint32_t mf_log_base_type(uint32_t type);
/* Dovecot's modseq counter rule (§8.5) for one record. */
void mf_log_update_modseq(uint32_t type, const uint8_t *data, uint32_t size,
                          uint64_t *modseq, unsigned int minor_version);

/* One log file read into memory. Records run from hdr_size to valid_size;
 * bytes after that are a torn/unfinished write. */
struct mf_log_file {
	char *path;
	uint8_t *data;
	size_t file_size;
	size_t valid_size;
	uint8_t major, minor;
	uint32_t hdr_size;
	uint32_t indexid;
	uint32_t seq;
	uint32_t prev_seq;
	uint32_t prev_offset;
	uint32_t create_stamp;
	uint64_t initial_modseq;
	/* furthest end announced by a BOUNDARY before valid_size: beyond
	 * valid_size only in a damaged log (cutting the garbage and appending
	 * would make everything after that boundary unreadable) */
	size_t last_trans_end;
	dev_t dev;
	ino_t ino;
};

/* Read and check path (through use_fd when >= 0: it is neither reopened
 * nor closed, which would drop our fcntl lock). Returns 0,
 * MF_INDEX_ERR_NOTFOUND when missing, or an error with *error_r. Framing is
 * validated up to valid_size. */
int mf_log_file_read(const char *path, int use_fd, struct mf_log_file *file_r,
                     char **error_r);
void mf_log_file_free(struct mf_log_file *file);
/* Re-read file from its valid_size to EOF through fd (the same file) and
 * parse the new records. Returns 0 or an error with *error_r. */
int mf_log_file_extend(struct mf_log_file *file, int fd, char **error_r);
/* Iterate records: *offset is advanced; returns 1 with the record, 0 at
 * the end. */
int mf_log_file_next(const struct mf_log_file *file, size_t *offset,
                     uint32_t *type_r, const uint8_t **data_r,
                     uint32_t *size_r);
/* Fill a 40-byte header. */
void mf_log_header_build(uint8_t hdr[MF_LOG_HDR_SIZE], uint32_t indexid,
                         uint32_t seq, uint32_t prev_seq, uint32_t prev_offset,
                         uint32_t create_stamp, uint64_t initial_modseq);
/* Validate the payload of one record the way Dovecot's log view does
 * (§8.3 rules). Returns NULL or a static reason. */
const char *mf_log_record_check(uint32_t type, const uint8_t *data,
                                uint32_t size);

/* --- the map --- */
struct mf_map_ext {
	char *name;
	uint32_t reset_id;
	uint32_t hdr_size;
	uint8_t *hdr; /* hdr_size bytes */
	uint16_t record_offset;
	uint16_t record_size;
	uint16_t record_align;
};

/* The records live in one private memory mapping ("region") rather than
 * on the heap, so that memory follows what is used, not the mailbox size:
 * when the map was read from a main index file, that file is mapped
 * copy-on-write at the region's start (the way Dovecot mmaps
 * dovecot.index): records never written stay page cache and records never
 * looked at are never read; anonymous pages after it take appended
 * records, so appends neither copy the array nor need twice its size
 * (realloc doubling did). Writers go through mf_map_rec_mut(), which
 * keeps clean_count: records 1..clean_count are still byte-for-byte the
 * file's, so rewriting the main index copies them file to file instead of
 * through memory. Nobody modifies dovecot.index in place (Dovecot and we
 * write a new file and rename it), so the mapped file never changes under
 * us. */
struct mf_map {
	uint8_t hdr[MF_IDX_BASE_HDR_SIZE];
	uint32_t record_size;
	MF_ARRAY(struct mf_map_ext) exts;
	uint8_t *records; /* count * record_size, inside region */
	uint32_t count;
	uint32_t records_cap; /* records that fit in the region */
	MF_ARRAY(char *) keywords;
	/* the mapping (NULL when there are no records yet) */
	uint8_t *region;
	size_t region_size;
	/* the main index file mapped at the region's start, -1 when none;
	 * owned (closed by mf_map_free()) */
	int file_fd;
	size_t file_map_size;  /* bytes of the region that map file_fd */
	uint32_t file_rec_off; /* the file's header size */
	uint32_t clean_count;  /* records 1..clean_count equal the file's */
};

static inline uint32_t mf_map_hdr32(const struct mf_map *map, unsigned off)
{
	return mf_le32(map->hdr + off);
}
static inline void mf_map_set_hdr32(struct mf_map *map, unsigned off,
                                    uint32_t v)
{
	mf_put32(map->hdr + off, v);
}
/* Record seq (1..count) for reading. */
static inline const uint8_t *mf_map_rec(const struct mf_map *map, uint32_t seq)
{
	return map->records + (size_t)(seq - 1) * map->record_size;
}
/* Record seq for changing it: from here on the records from seq on no
 * longer count as equal to the mapped file's. */
static inline uint8_t *mf_map_rec_mut(struct mf_map *map, uint32_t seq)
{
	if (map->clean_count >= seq)
		map->clean_count = seq - 1;
	return map->records + (size_t)(seq - 1) * map->record_size;
}

void mf_map_init(struct mf_map *map);
void mf_map_free(struct mf_map *map);
/* Make room for at least count records (aborts like mf_malloc() when no
 * memory can be had at all). Existing records stay; records may move. */
void mf_map_records_reserve(struct mf_map *map, uint32_t count);
/* Use the records of the main index file open as fd (taken over: closed
 * by mf_map_free(), also on failure): count records of record_size bytes
 * at offset rec_off. Returns 0, or -1 with errno when it cannot be
 * mapped (the caller then reads the records with
 * mf_map_records_reserve() + pread()). */
int mf_map_records_map_file(struct mf_map *map, int fd, uint32_t rec_off,
                            uint32_t count);
/* Write the records to out_fd (at its current position): the clean ones
 * copied from the mapped file without touching them in memory, the rest
 * from memory. Returns 0 or -1 with errno. */
int mf_map_records_write(const struct mf_map *map, int out_fd);
/* Drop this process's pages of the clean records (and the file header
 * before them): mf_index_release_memory(). */
void mf_map_records_release(struct mf_map *map);
/* Index of ext name, -1 if absent. */
int mf_map_ext_find(const struct mf_map *map, const char *name);
/* Add an extension (positions never change afterwards) and re-lay out the
 * records like Dovecot. Returns its index. */
uint32_t mf_map_ext_add(struct mf_map *map, const char *name, uint32_t reset_id,
                        uint32_t hdr_size, uint16_t record_size,
                        uint16_t record_align);
/* Resize an extension (Dovecot's intro of an existing ext). */
void mf_map_ext_resize(struct mf_map *map, uint32_t idx, uint32_t hdr_size,
                       uint16_t record_size, uint16_t record_align,
                       bool no_shrink);
/* Sequence of uid or 0; with seq_r the insertion point when absent. */
uint32_t mf_map_find_uid(const struct mf_map *map, uint32_t uid);
/* First seq with uid >= uid1 and last with uid <= uid2; false if none. */
bool mf_map_uid_range(const struct mf_map *map, uint32_t uid1, uint32_t uid2,
                      uint32_t *seq1_r, uint32_t *seq2_r);
/* Re-read the keyword names from the keywords ext header. Returns 0 or
 * -1 with a static reason. */
int mf_map_parse_keywords(struct mf_map *map, const char **reason_r);
/* Add a keyword name to the keywords ext header (creating/growing it the
 * way Dovecot does); returns its index. */
uint32_t mf_map_keyword_add(struct mf_map *map, const char *name);
int mf_map_keyword_find(const struct mf_map *map, const char *name);
/* Check the base header like Dovecot (§7.2). NULL or a static reason. */
const char *mf_map_check_header(const struct mf_map *map);

/* Read <path> into map. Returns 0, NOTFOUND, or CORRUPT/IO with *error_r
 * naming the file and offset. An index of another major version is
 * reported as NOTFOUND (Dovecot ignores it silently). */
int mf_index_file_read(const char *path, struct mf_map *map, char **error_r);
/* Serialise map's header part (header_size computed, records not
 * included: mf_map_records_write() writes them after it) into out. */
void mf_index_file_build(const struct mf_map *map, struct mf_buf *out);

/* --- applying log records to a map --- */
struct mf_sync_ctx {
	struct mf_map *map;
	/* current extension for ext records: -1 none, -2 broken intro */
	int cur_ext;
	bool cur_ext_ignore;
	uint16_t cur_ext_record_size;
	/* log modseq after the current record */
	uint64_t modseq;
	/* modseq ext tracking active (Dovecot's mmap != NULL) */
	bool modseq_tracking;
	bool deleted;
	/* first failure (static-ish message, allocated) */
	char *error;
};
void mf_sync_init(struct mf_sync_ctx *ctx, struct mf_map *map);
/* Apply one record. Returns 0 or -1 with ctx->error set. */
int mf_sync_record(struct mf_sync_ctx *ctx, uint32_t type, const uint8_t *data,
                   uint32_t size);
/* Dovecot's modseq-header update at the end of a sync. */
void mf_sync_finish(struct mf_sync_ctx *ctx, uint32_t log_seq,
                    uint32_t log_offset);
void mf_sync_deinit(struct mf_sync_ctx *ctx);
/* Per-message modseq of seq: from the modseq ext, 0 if not tracked. */
uint64_t mf_map_rec_modseq(const struct mf_map *map, uint32_t seq);

/* --- the index handle --- */
struct mf_index {
	char *dir;
	char *prefix;
	char *index_path;
	char *log_path;
	char *log2_path;
	enum mf_index_open_flags flags;
	struct mf_index_settings set;
	/* how the files we create are made: set.perm (copied) or set's
	 * file_mode with no owner change */
	struct mf_perm perm;

	struct mf_map map;
	bool have_main;        /* the main index file was used */
	uint32_t main_log_seq; /* its log_file_seq */
	uint32_t main_tail;    /* its log_file_tail_offset */
	/* logs as read at the last refresh (log2 may be absent) */
	struct mf_log_file log2;
	struct mf_log_file log;
	bool have_log2, have_log;
	uint64_t log_modseq;     /* modseq at the end of the head log */
	uint32_t last_read_tail; /* Dovecot's last_read_hdr_tail_offset */
	uint32_t max_tail;       /* Dovecot's max_tail_offset */
	bool deleted;
	/* the last load completed; the files as they were then */
	bool loaded;
	struct stat main_st, log2_st;

	/* public views */
	struct mf_index_header pub_hdr;
	struct mf_index_rec pub_rec;
	struct mf_index_ext pub_ext;
	char **kw_list; /* NULL-terminated copy for mf_index_keywords() */

	int lock_fd;
	bool locked;
	char *error;
};

int mf_index_set_error(struct mf_index *index, int ret, const char *fmt, ...)
    MF_PRINTF(3, 4);
/* The previous log (.log.2, up to the rotation size) is only needed to
 * reach the main index and for change history: its records are let go of
 * after a load and read again when history asks for them. release frees
 * them (the file's metadata stays); reload reads them again: 0, or -1
 * when the file is no longer the one loaded (then there is no log2). */
void mf_index_log2_release(struct mf_index *index);
int mf_index_log2_reload(struct mf_index *index);
/* Load files into a fresh map (no locking). */
int mf_index_load(struct mf_index *index);
/* Write the main index file from the current map (caller holds the log
 * lock). */
int mf_index_write_main_locked(struct mf_index *index);
int mf_index_truncate_garbage(struct mf_index *index);
bool mf_index_want_rotate(const struct mf_index *index);
/* Rotate the head log (lock held); re-locks the new head. */
int mf_index_rotate_locked(struct mf_index *index);

#endif
