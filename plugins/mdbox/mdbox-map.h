/* SPDX-License-Identifier: MIT */
/*
 * mdbox-map.h - the mdbox map: storage/dovecot.map.index, whose records
 * (keyed by map UID) say where each physical message is ({file_id,
 * offset, size} in the "map" extension) and how many mailbox records
 * refer to it ("ref", a u16). Mailbox indexes point at map UIDs through
 * their "mdbox" extension (dovecot-formats.md §6).
 */
#ifndef MDBOX_MAP_H
#define MDBOX_MAP_H

#include "dbox-storage.h"

#define MDBOX_STORAGE_DIR "storage"
#define MDBOX_MAP_PREFIX "dovecot.map.index"

struct mdbox_map_rec {
	uint32_t file_id;
	uint32_t offset;
	uint32_t size;
};

struct mdbox_map {
	struct mf_index *idx; /* NULL: read-only storage without a map */
	char *dir;            /* <root>/storage */
	char *alt_dir;        /* <alt>/storage or NULL */
	/* one open m.N file kept for sequential reads */
	uint32_t cache_file_id;
	int cache_fd;
	uint32_t cache_hdr_size;
	char *cache_path;
	/* the map is locked for a whole mailbox commit (mdbox_commit_lock);
	 * map updates inside it must not lock again */
	bool held;
	/* a writable storage whose map could not be read (idx NULL): why.
	 * Everything needing the map fails until force-resync rebuilds it */
	char *damaged;
	/* force-resync is rebuilding the map: mailboxes whose map
	 * uidvalidity differs may be opened */
	bool rebuilding;
	/* rebuilt by this handle, nothing committed since: a force-resync
	 * asked once per mailbox rebuilds the storage once */
	bool rebuilt;
};

#define MDBOX_MAP(st) ((struct mdbox_map *)(st)->fmt_data)

/* Open (and with a writable storage create) the map. */
int mdbox_map_init(struct mailferry_storage *st);
void mdbox_map_deinit(struct mailferry_storage *st);
uint32_t mdbox_map_uid_validity(struct mailferry_storage *st);
uint32_t mdbox_map_highest_file_id(struct mailferry_storage *st);
/* Look up map_uid (refreshing the map once if needed). Returns 0, or
 * NOTFOUND when the map has no such record. */
int mdbox_map_lookup(struct mailferry_storage *st, uint32_t map_uid,
                     struct mdbox_map_rec *rec_r, uint16_t *refcount_r);
/* Open m.<file_id> (primary, then ALT): a new fd and the path, and the
 * file's message header size. */
int mdbox_map_open_file(struct mailferry_storage *st, uint32_t file_id,
                        int *fd_r, char **path_r, uint32_t *msg_hdr_size_r);
/* Error for an operation that needs the map when it is damaged (or, for
 * a read-only storage, absent). */
int mdbox_map_unusable(struct mailferry_storage *st);
/* For the storage rebuild of a damaged map (map->damaged): open it again
 * without its main index file (the logs may still describe it), else
 * remove its files and start an empty map with a new UIDVALIDITY. */
int mdbox_map_reopen_damaged(struct mailferry_storage *st);
/* Add diff to the refcounts of map_uids, as one locked map commit. */
int mdbox_map_update_refs(struct mailferry_storage *st,
                          const uint32_t *map_uids, size_t count, int diff);

#endif
