/* SPDX-License-Identifier: MIT */
/* mf-index-map.c - the in-memory map: header, extensions, records and
 * keyword names, maintained the way Dovecot's map is (record layout,
 * keyword header growth) so that a main index file written from it is
 * what Dovecot itself would write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-index-private.h"

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

/* Room a new record region gets beyond what is asked for. It is address
 * space only (MAP_NORESERVE, pages untouched until used), so a backup
 * appending hundreds of thousands of records moves them rarely. */
#define MF_MAP_REGION_SLACK ((size_t)64 * 1024 * 1024)

static size_t page_round(size_t n)
{
	static size_t ps;

	if (ps == 0) {
		long v = sysconf(_SC_PAGESIZE);

		ps = v > 0 ? (size_t)v : 4096;
	}
	return (n + ps - 1) / ps * ps;
}

/* A fresh zeroed anonymous region of want bytes, or less (down to min)
 * when the system refuses the reservation (strict overcommit). */
static uint8_t *region_alloc(size_t min, size_t want, size_t *size_r)
{
	size_t size;

	min = page_round(MF_MAX(min, 1));
	size = page_round(MF_MAX(want, min));
	for (;;) {
		void *p =
		    mmap(NULL, size, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p != MAP_FAILED) {
			*size_r = size;
			return p;
		}
		if (size <= min)
			break;
		size = page_round(MF_MAX(min, size / 2));
	}
	/* the same policy as mf_malloc() */
	fprintf(stderr, "mf-index: out of memory (mapping %zu bytes): %s\n",
	        min, strerror(errno));
	abort();
}

static void region_free(struct mf_map *map)
{
	if (map->region != NULL)
		(void)munmap(map->region, map->region_size);
	if (map->file_fd >= 0)
		(void)close(map->file_fd);
	map->region = map->records = NULL;
	map->region_size = 0;
	map->file_fd = -1;
	map->file_map_size = 0;
	map->file_rec_off = 0;
	map->clean_count = 0;
	map->records_cap = 0;
}

static void set_region(struct mf_map *map, uint8_t *region, size_t size,
                       size_t rec_off)
{
	map->region = region;
	map->region_size = size;
	map->records = region + rec_off;
	map->records_cap =
	    (uint32_t)MF_MIN((size - rec_off) / map->record_size, UINT32_MAX);
}

void mf_map_records_reserve(struct mf_map *map, uint32_t count)
{
	size_t off, need, size;
	uint32_t copy_from = 0;
	uint8_t *region;

	if (map->region != NULL && count <= map->records_cap)
		return;
	off = map->region != NULL ? (size_t)(map->records - map->region) : 0;
	need = off + (size_t)count * map->record_size;
#ifdef MREMAP_MAYMOVE
	if (map->region != NULL && map->file_fd < 0) {
		/* all anonymous: the kernel moves the pages, nothing is
		 * copied and the old and new array never exist at once */
		size = page_round(need * 2 + MF_MAP_REGION_SLACK);
		void *p =
		    mremap(map->region, map->region_size, size, MREMAP_MAYMOVE);
		if (p != MAP_FAILED) {
			set_region(map, p, size, off);
			return;
		}
	}
#endif
	region = region_alloc(need, need * 2 + MF_MAP_REGION_SLACK, &size);
	if (map->file_fd >= 0 && map->clean_count > 0) {
		if (mmap(region, map->file_map_size, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_FIXED, map->file_fd,
		         0) != MAP_FAILED) {
			/* the clean records stay the file's pages; only the
			 * changed and appended ones are copied */
			copy_from = map->clean_count;
		} else if (mmap(region, map->file_map_size,
		                PROT_READ | PROT_WRITE,
		                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		                0) == MAP_FAILED) {
			/* a failed MAP_FIXED may have left a hole */
			fprintf(stderr, "mf-index: mmap() failed: %s\n",
			        strerror(errno));
			abort();
		}
	}
	if (map->count > copy_from)
		memcpy(region + off + (size_t)copy_from * map->record_size,
		       map->records + (size_t)copy_from * map->record_size,
		       (size_t)(map->count - copy_from) * map->record_size);
	if (map->region != NULL)
		(void)munmap(map->region, map->region_size);
	if (copy_from == 0 && map->file_fd >= 0) {
		(void)close(map->file_fd);
		map->file_fd = -1;
		map->file_map_size = 0;
		map->clean_count = 0;
	}
	set_region(map, region, size, off);
}

int mf_map_records_map_file(struct mf_map *map, int fd, uint32_t rec_off,
                            uint32_t count)
{
	size_t bytes = (size_t)count * map->record_size;
	size_t map_size = page_round((size_t)rec_off + bytes), size;
	uint8_t *region;

	region_free(map);
	if (count == 0) {
		/* nothing worth mapping; appends get an anonymous region */
		(void)close(fd);
		return 0;
	}
	region = region_alloc(
	    map_size, (size_t)rec_off + bytes * 2 + MF_MAP_REGION_SLACK, &size);
	/* Only whole pages up to the one holding the last record's end are
	 * mapped, all inside the file (a page wholly past EOF would fault
	 * with SIGBUS). */
	if (mmap(region, map_size, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) {
		int err = errno;

		(void)munmap(region, size);
		errno = err;
		return -1;
	}
	set_region(map, region, size, rec_off);
	map->file_fd = fd;
	map->file_map_size = map_size;
	map->file_rec_off = rec_off;
	map->clean_count = count;
	return 0;
}

void mf_map_records_release(struct mf_map *map)
{
#ifdef MADV_DONTNEED
	size_t end, ps = page_round(1);

	if (map->file_fd < 0 || map->clean_count == 0)
		return;
	/* Only whole pages below the first changed record: none of them was
	 * ever written (every write lowers clean_count first), so they are
	 * the file's pages and dropping them loses nothing. (A written
	 * page of a private mapping would be lost.) */
	end = (size_t)(map->records - map->region) +
	      (size_t)map->clean_count * map->record_size;
	end = MF_MIN(end, map->file_map_size) / ps * ps;
	if (end > 0)
		(void)madvise(map->region, end, MADV_DONTNEED);
#else
	(void)map;
#endif
}

int mf_map_records_write(const struct mf_map *map, int out_fd)
{
	uint32_t clean =
	    map->file_fd >= 0 ? MF_MIN(map->clean_count, map->count) : 0;
	size_t left = (size_t)clean * map->record_size;
	off_t in_off = map->file_rec_off;

	if (left > 0) {
		/* through a small buffer from the file (page cache): records
		 * nobody looked at are not pulled into this process */
		size_t bufsize = MF_MIN(left, (size_t)256 * 1024);
		uint8_t *buf = mf_malloc(bufsize);

		while (left > 0) {
			size_t n = MF_MIN(left, bufsize);

			if (mf_pread_full(map->file_fd, buf, n, in_off) < 0 ||
			    mf_write_full(out_fd, buf, n) < 0) {
				int err = errno;

				free(buf);
				errno = err;
				return -1;
			}
			left -= n;
			in_off += (off_t)n;
		}
		free(buf);
	}
	return mf_write_full(out_fd,
	                     map->records + (size_t)clean * map->record_size,
	                     (size_t)(map->count - clean) * map->record_size);
}

void mf_map_init(struct mf_map *map)
{
	mf_zero(map);
	map->hdr[0] = MF_IDX_MAJOR;
	map->hdr[1] = MF_IDX_MINOR;
	mf_put16(map->hdr + 2, MF_IDX_BASE_HDR_SIZE);
	map->hdr[12] = MF_IDX_COMPAT_LE;
	mf_map_set_hdr32(map, MF_HOFF_NEXT_UID, 1);
	mf_map_set_hdr32(map, MF_HOFF_FIRST_RECENT, 1);
	mf_map_set_hdr32(map, MF_HOFF_UNSEEN_LOW, 1);
	mf_map_set_hdr32(map, MF_HOFF_DELETED_LOW, 1);
	map->record_size = MF_IDX_REC_MIN_SIZE;
	map->file_fd = -1;
}

static void free_keywords(struct mf_map *map)
{
	for (size_t i = 0; i < map->keywords.count; i++)
		free(map->keywords.items[i]);
	mf_array_free(&map->keywords);
}

void mf_map_free(struct mf_map *map)
{
	for (size_t i = 0; i < map->exts.count; i++) {
		free(map->exts.items[i].name);
		free(map->exts.items[i].hdr);
	}
	mf_array_free(&map->exts);
	region_free(map);
	free_keywords(map);
	mf_zero(map);
	map->file_fd = -1;
}

int mf_map_ext_find(const struct mf_map *map, const char *name)
{
	for (size_t i = 0; i < map->exts.count; i++) {
		if (strcmp(map->exts.items[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* An alignment as a power of two (header-only extensions may carry any
 * value; rounding with e.g. 6 would leave a record size other extensions'
 * alignments do not divide). */
static uint16_t pow2_align(uint16_t align)
{
	uint16_t p = 1;

	while (p < align && p < 8)
		p = (uint16_t)(p * 2);
	return align == 0 ? 0 : p;
}

/* Lay the records out again: extensions with the largest alignment first,
 * each at the first offset (from 5) matching its alignment, the total
 * rounded up to the largest alignment of any extension (also ones without
 * records) and at least 4. This is the layout Dovecot computes; copy_size
 * limits what is copied of ext idx (its old size). */
static void relayout(struct mf_map *map, uint32_t idx, uint16_t old_size)
{
	size_t n = map->exts.count;
	uint16_t *old_off = mf_calloc(n + 1, sizeof(uint16_t));
	uint16_t *copy = mf_calloc(n + 1, sizeof(uint16_t));
	uint32_t *order = mf_calloc(n + 1, sizeof(uint32_t));
	uint32_t offset = MF_IDX_REC_BASE, max_align = 4, new_size;
	uint8_t *recs;
	size_t region_size;

	for (size_t i = 0; i < n; i++) {
		old_off[i] = map->exts.items[i].record_offset;
		copy[i] = map->exts.items[i].record_size;
		map->exts.items[i].record_offset = 0;
		order[i] = (uint32_t)i;
	}
	if (idx < n && copy[idx] > old_size)
		copy[idx] = old_size;
	/* stable sort by alignment, descending (insertion sort keeps the
	 * order of equal alignments like the qsort on the pointer array
	 * does for Dovecot's small arrays) */
	for (size_t i = 1; i < n; i++) {
		uint32_t v = order[i];
		size_t j = i;

		while (j > 0 && map->exts.items[order[j - 1]].record_align <
		                    map->exts.items[v].record_align) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	for (;;) {
		uint16_t min_align = UINT16_MAX;
		size_t i;

		for (i = 0; i < n; i++) {
			struct mf_map_ext *e = &map->exts.items[order[i]];

			if (pow2_align(e->record_align) > max_align)
				max_align = pow2_align(e->record_align);
			if (e->record_offset == 0 && e->record_size > 0) {
				if (offset % e->record_align == 0)
					break;
				if (e->record_align < min_align)
					min_align = e->record_align;
			}
		}
		if (i == n) {
			if (min_align == UINT16_MAX)
				break;
			offset += min_align - (offset % min_align);
		} else {
			map->exts.items[order[i]].record_offset =
			    (uint16_t)offset;
			offset += map->exts.items[order[i]].record_size;
		}
	}
	if (offset % max_align != 0)
		offset += max_align - (offset % max_align);
	new_size = offset;

	/* a new layout is a new array (every record changes) */
	recs = region_alloc(((size_t)map->count + 1) * new_size,
	                    ((size_t)map->count + 1) * new_size * 2 +
	                        MF_MAP_REGION_SLACK,
	                    &region_size);
	for (uint32_t r = 0; r < map->count; r++) {
		const uint8_t *src =
		    map->records + (size_t)r * map->record_size;
		uint8_t *dst = recs + (size_t)r * new_size;

		memcpy(dst, src, MF_IDX_REC_BASE);
		for (size_t i = 0; i < n; i++) {
			if (copy[i] == 0 || old_off[i] == 0)
				continue;
			memcpy(dst + map->exts.items[i].record_offset,
			       src + old_off[i], copy[i]);
		}
	}
	region_free(map);
	map->record_size = new_size;
	set_region(map, recs, region_size, 0);
	free(old_off);
	free(copy);
	free(order);
}

uint32_t mf_map_ext_add(struct mf_map *map, const char *name, uint32_t reset_id,
                        uint32_t hdr_size, uint16_t record_size,
                        uint16_t record_align)
{
	struct mf_map_ext *e = mf_array_append_zero(&map->exts);
	uint32_t idx = (uint32_t)(map->exts.count - 1);

	e->name = mf_strdup(name);
	e->reset_id = reset_id;
	e->hdr_size = hdr_size;
	e->hdr = mf_calloc(1, hdr_size + 1);
	e->record_size = record_size;
	e->record_align = record_align;
	relayout(map, idx, 0);
	return idx;
}

void mf_map_ext_resize(struct mf_map *map, uint32_t idx, uint32_t hdr_size,
                       uint16_t record_size, uint16_t record_align,
                       bool no_shrink)
{
	struct mf_map_ext *e = &map->exts.items[idx];
	uint32_t old_pad = MF_ALIGN8(e->hdr_size),
	         new_pad = MF_ALIGN8(hdr_size);
	uint16_t old_rec = e->record_size;
	uint32_t old_size;
	bool reorder = false;

	if (e->record_align == record_align && e->record_size == record_size) {
		if (new_pad < old_pad && no_shrink)
			return;
		if (new_pad >= old_pad && e->hdr_size == hdr_size)
			return;
	}
	old_size = e->hdr_size;
	if (!(new_pad < old_pad && no_shrink))
		e->hdr_size = hdr_size;
	e->hdr =
	    mf_realloc(e->hdr, MF_ALIGN8(MF_MAX(e->hdr_size, old_size)) + 1);
	/* grown (or grown back) header bytes read as zeros, like Dovecot */
	if (e->hdr_size > old_size)
		memset(e->hdr + old_size, 0, MF_ALIGN8(e->hdr_size) - old_size);
	if (e->record_align < record_align ||
	    (e->record_align > record_align && !no_shrink)) {
		e->record_align = record_align;
		reorder = true;
	}
	if (e->record_size < record_size ||
	    (e->record_size > record_size && !no_shrink)) {
		e->record_size = record_size;
		reorder = true;
	}
	if (reorder)
		relayout(map, idx, old_rec);
}

uint32_t mf_map_find_uid(const struct mf_map *map, uint32_t uid)
{
	uint32_t lo = 0, hi = map->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint32_t u =
		    mf_le32(map->records + (size_t)mid * map->record_size);

		if (u == uid)
			return mid + 1;
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* index of the first record with uid >= uid */
static uint32_t lower_bound(const struct mf_map *map, uint32_t uid)
{
	uint32_t lo = 0, hi = map->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (mf_le32(map->records + (size_t)mid * map->record_size) <
		    uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool mf_map_uid_range(const struct mf_map *map, uint32_t uid1, uint32_t uid2,
                      uint32_t *seq1_r, uint32_t *seq2_r)
{
	uint32_t a, b;

	if (uid1 > uid2)
		return false;
	a = lower_bound(map, uid1);
	if (uid2 == UINT32_MAX)
		b = map->count;
	else
		b = lower_bound(map, uid2 + 1);
	if (a >= b)
		return false;
	*seq1_r = a + 1;
	*seq2_r = b;
	return true;
}

int mf_map_keyword_find(const struct mf_map *map, const char *name)
{
	for (size_t i = 0; i < map->keywords.count; i++) {
		if (strcmp(map->keywords.items[i], name) == 0)
			return (int)i;
	}
	return -1;
}

int mf_map_parse_keywords(struct mf_map *map, const char **reason_r)
{
	int idx = mf_map_ext_find(map, "keywords");
	const struct mf_map_ext *e;
	uint32_t count, names_off, area;
	const char *names;
	size_t pos = 0;

	free_keywords(map);
	if (idx < 0)
		return 0;
	e = &map->exts.items[idx];
	if (e->hdr_size < 4) {
		*reason_r = "keywords header too small";
		return -1;
	}
	count = mf_le32(e->hdr);
	if (count > (e->hdr_size - 4) / 8) {
		*reason_r = "keywords_count larger than header size";
		return -1;
	}
	names_off = 4 + count * 8;
	area = e->hdr_size - names_off;
	names = (const char *)e->hdr + names_off;
	if (count > 0 && (area == 0 || names[area - 1] != '\0')) {
		*reason_r = "keyword header does not end with NUL";
		return -1;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint32_t off = mf_le32(e->hdr + 4 + i * 8 + 4);
		size_t len;

		/* Dovecot reads names back to back and only warns about a
		 * mismatching name_offset; do the same. */
		(void)off;
		if (pos >= area) {
			*reason_r = "keyword name outside the header";
			free_keywords(map);
			return -1;
		}
		len = strlen(names + pos);
		if (len == 0) {
			*reason_r = "empty keyword name in header";
			free_keywords(map);
			return -1;
		}
		mf_array_push(&map->keywords, mf_strndup(names + pos, len));
		pos += len + 1;
	}
	return 0;
}

uint32_t mf_map_keyword_add(struct mf_map *map, const char *name)
{
	int idx = mf_map_ext_find(map, "keywords");
	struct mf_buf buf = MF_BUF_INIT;
	uint32_t count = (uint32_t)map->keywords.count + 1;
	uint32_t need_rec;
	size_t names_len = 0;
	struct mf_map_ext *e;

	/* new header: count, (unused, name_offset) per keyword, names */
	{
		uint8_t tmp[4];

		mf_put32(tmp, count);
		mf_buf_append(&buf, tmp, 4);
	}
	for (uint32_t i = 0; i < count; i++) {
		uint8_t rec[8];
		const char *kw = i < count - 1 ? map->keywords.items[i] : name;

		mf_put32(rec, 0);
		mf_put32(rec + 4, (uint32_t)names_len);
		mf_buf_append(&buf, rec, 8);
		names_len += strlen(kw) + 1;
	}
	for (uint32_t i = 0; i < count; i++) {
		const char *kw = i < count - 1 ? map->keywords.items[i] : name;
		mf_buf_append(&buf, kw, strlen(kw) + 1);
	}
	while (buf.len % 4 != 0)
		mf_buf_append_c(&buf, '\0');

	need_rec = (count + 7) / 8;
	if (need_rec % 4 != 0)
		need_rec++; /* Dovecot reserves a spare byte */
	if (idx < 0 || buf.len > map->exts.items[idx].hdr_size ||
	    (uint32_t)map->exts.items[idx].record_size * 8 < count) {
		/* grow with 128 spare bytes like Dovecot */
		size_t hdr_size = buf.len + 128;

		if (idx < 0) {
			idx = (int)mf_map_ext_add(map, "keywords", 0,
			                          (uint32_t)hdr_size,
			                          (uint16_t)need_rec, 1);
		} else {
			mf_map_ext_resize(map, (uint32_t)idx,
			                  (uint32_t)hdr_size,
			                  (uint16_t)need_rec, 1, false);
		}
	}
	e = &map->exts.items[idx];
	memcpy(e->hdr, buf.data, buf.len);
	mf_buf_free(&buf);
	mf_array_push(&map->keywords, mf_strdup(name));
	return count - 1;
}

const char *mf_map_check_header(const struct mf_map *map)
{
	uint32_t next_uid = mf_map_hdr32(map, MF_HOFF_NEXT_UID);
	uint32_t msgs = mf_map_hdr32(map, MF_HOFF_MESSAGES);

	if (map->record_size < MF_IDX_REC_MIN_SIZE)
		return "record_size too small";
	if (mf_map_hdr32(map, MF_HOFF_UID_VALIDITY) == 0 && next_uid != 1)
		return "uid_validity is 0 but next_uid is not 1";
	if (next_uid == 0)
		return "next_uid is 0";
	if (msgs > map->count)
		return "messages_count is larger than the record count";
	if (mf_map_hdr32(map, MF_HOFF_SEEN) > msgs)
		return "seen_messages_count > messages_count";
	if (mf_map_hdr32(map, MF_HOFF_DELETED) > msgs)
		return "deleted_messages_count > messages_count";
	if (mf_map_hdr32(map, MF_HOFF_FIRST_RECENT) == 0)
		return "first_recent_uid is 0";
	if (mf_map_hdr32(map, MF_HOFF_FIRST_RECENT) > next_uid)
		return "first_recent_uid > next_uid";
	if (mf_map_hdr32(map, MF_HOFF_UNSEEN_LOW) > next_uid)
		return "first_unseen_uid_lowwater > next_uid";
	if (mf_map_hdr32(map, MF_HOFF_DELETED_LOW) > next_uid)
		return "first_deleted_uid_lowwater > next_uid";
	if (map->count > 0) {
		uint32_t last = mf_le32(mf_map_rec(map, map->count));

		if (last == 0 || last >= next_uid)
			return "last record's uid is 0 or >= next_uid";
	}
	return NULL;
}
