/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "maildir-uidlist.h"

#define STRPOOL_CHUNK_SIZE (64 * 1024)

struct strpool_chunk {
	struct strpool_chunk *next;
	size_t used, size;
	char data[];
};

struct maildir_strpool {
	unsigned int refcount;
	struct strpool_chunk *chunks; /* newest first, the one in use */
};

struct maildir_strpool *maildir_strpool_new(void)
{
	struct maildir_strpool *pool = mf_calloc(1, sizeof(*pool));

	pool->refcount = 1;
	return pool;
}

struct maildir_strpool *maildir_strpool_ref(struct maildir_strpool *pool)
{
	if (pool != NULL)
		pool->refcount++;
	return pool;
}

void maildir_strpool_unref(struct maildir_strpool **poolp)
{
	struct maildir_strpool *pool = *poolp;

	*poolp = NULL;
	if (pool == NULL || --pool->refcount > 0)
		return;
	while (pool->chunks != NULL) {
		struct strpool_chunk *next = pool->chunks->next;

		free(pool->chunks);
		pool->chunks = next;
	}
	free(pool);
}

const char *maildir_strpool_strndup(struct maildir_strpool *pool,
                                    const char *str, size_t len)
{
	struct strpool_chunk *c = pool->chunks;
	char *out;

	if (c == NULL || c->size - c->used < len + 1) {
		/* a string longer than a chunk gets a chunk of its own */
		size_t size =
		    len + 1 > STRPOOL_CHUNK_SIZE ? len + 1 : STRPOOL_CHUNK_SIZE;

		c = mf_malloc(sizeof(*c) + size);
		c->used = 0;
		c->size = size;
		c->next = pool->chunks;
		pool->chunks = c;
	}
	out = c->data + c->used;
	memcpy(out, str, len);
	out[len] = '\0';
	c->used += len + 1;
	return out;
}

const char *maildir_strpool_strdup(struct maildir_strpool *pool,
                                   const char *str)
{
	return maildir_strpool_strndup(pool, str, strlen(str));
}

static struct maildir_strpool *ul_pool(struct maildir_uidlist *ul)
{
	if (ul->pool == NULL)
		ul->pool = maildir_strpool_new();
	return ul->pool;
}

const char *maildir_uidlist_strdup(struct maildir_uidlist *ul, const char *str)
{
	return maildir_strpool_strdup(ul_pool(ul), str);
}

void maildir_uidlist_clear(struct maildir_uidlist *ul)
{
	mf_array_free(&ul->recs);
	maildir_strpool_unref(&ul->pool);
	mf_free(&ul->hdr_extra);
	mf_zero(ul);
}

/* Parse a decimal uint32 at *p (no sign); advances *p. */
static int parse_u32(const char **p, uint32_t *value_r)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*p = s;
	*value_r = (uint32_t)v;
	return 0;
}

static int parse_header_v3(struct maildir_uidlist *ul, const char *line,
                           uint32_t *next_r)
{
	struct mf_buf extra = MF_BUF_INIT;
	const char *p = line + 1;

	while (*p == ' ') {
		const char *start = ++p, *end = strchr(start, ' ');
		size_t len =
		    end == NULL ? strlen(start) : (size_t)(end - start);
		const char *v = start + 1;
		char *value;

		if (len == 0)
			continue;
		value = mf_strndup(v, len - 1);
		switch (*start) {
		case 'V':
			if (parse_u32(&v, &ul->uidvalidity) < 0 ||
			    v != start + len) {
				free(value);
				mf_buf_free(&extra);
				return -1;
			}
			break;
		case 'N':
			if (parse_u32(&v, next_r) < 0 || v != start + len) {
				free(value);
				mf_buf_free(&extra);
				return -1;
			}
			break;
		case 'G':
			if (mf_guid128_from_hex(value, ul->guid) == 0)
				ul->have_guid = true;
			else
				ul->needs_rewrite = true;
			break;
		default:
			if (extra.len > 0)
				mf_buf_append_c(&extra, ' ');
			mf_buf_append(&extra, start, len);
			break;
		}
		free(value);
		p = start + len;
	}
	if (*p != '\0') {
		mf_buf_free(&extra);
		return -1;
	}
	if (extra.len > 0)
		ul->hdr_extra = mf_buf_detach(&extra);
	mf_buf_free(&extra);
	return 0;
}

/* Parse one record line; returns -1 with *why_r on a broken line. */
static int parse_line(struct maildir_uidlist *ul, const char *line,
                      const char *path, unsigned int lineno,
                      const struct maildir_warn *warn, const char **why_r)
{
	struct mf_buf guid = MF_BUF_INIT, ext = MF_BUF_INIT;
	const char *p = line, *base;
	uint32_t uid;
	size_t baselen;

	if (parse_u32(&p, &uid) < 0 || uid == 0 || uid == UINT32_MAX ||
	    *p != ' ') {
		*why_r = "invalid UID";
		return -1;
	}
	while (*p == ' ')
		p++;
	if (ul->version == 3) {
		while (*p != ':') {
			const char *end = strchr(p, ' ');
			size_t len;

			if (end == NULL) {
				*why_r = "no ':' before the file name";
				mf_buf_free(&guid);
				mf_buf_free(&ext);
				return -1;
			}
			len = (size_t)(end - p);
			if (*p < 'A' || *p > 'Z') {
				maildir_warn(warn,
				             "%s: line %u: dropping invalid "
				             "extension field '%.*s'",
				             path, lineno, (int)len, p);
				ul->needs_rewrite = true;
			} else if (*p == 'G') {
				mf_buf_truncate(&guid, 0);
				mf_buf_append(&guid, p + 1, len - 1);
			} else {
				if (ext.len > 0)
					mf_buf_append_c(&ext, ' ');
				mf_buf_append(&ext, p, len);
			}
			p = end;
			while (*p == ' ')
				p++;
		}
		p++;
	}
	base = p;
	baselen = strcspn(base, ":");
	if (baselen == 0 || memchr(base, '/', baselen) != NULL) {
		*why_r = "broken file name";
		mf_buf_free(&guid);
		mf_buf_free(&ext);
		return -1;
	}
	if (ul->recs.count > 0 &&
	    uid <= ul->recs.items[ul->recs.count - 1].uid) {
		*why_r = "UID not above the previous line's (duplicate or "
		         "out of order)";
		mf_buf_free(&guid);
		mf_buf_free(&ext);
		return -1;
	}
	if (ul->version == 1 && uid >= ul->next_uid) {
		*why_r = "UID not below the header's next UID";
		mf_buf_free(&guid);
		mf_buf_free(&ext);
		return -1;
	}
	struct maildir_uidlist_rec *rec = mf_array_append_zero(&ul->recs);

	rec->uid = uid;
	rec->base = maildir_strpool_strndup(ul_pool(ul), base, baselen);
	rec->guid = guid.len > 0
	                ? maildir_strpool_strndup(ul->pool, guid.data, guid.len)
	                : NULL;
	rec->ext = ext.len > 0
	               ? maildir_strpool_strndup(ul->pool, ext.data, ext.len)
	               : NULL;
	mf_buf_free(&guid);
	mf_buf_free(&ext);
	return 0;
}

static uint32_t base_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* A base name listed twice keeps its later (higher) UID, as Dovecot does
 * when an expunged file was moved back and appended again. One pass with
 * a hash table of the base names: this runs at every uidlist read. */
static void drop_duplicate_bases(struct maildir_uidlist *ul, const char *path,
                                 const struct maildir_warn *warn)
{
	size_t n = ul->recs.count, kept = 0, size = 16, dups = 0;
	size_t *slots; /* record index + 1, 0 = free */
	bool *drop;

	if (n < 2)
		return;
	while (size < n * 2)
		size *= 2;
	slots = mf_calloc(size, sizeof(*slots));
	drop = mf_calloc(n, sizeof(*drop));
	for (size_t i = 0; i < n; i++) {
		const struct maildir_uidlist_rec *rec = &ul->recs.items[i];
		size_t pos = base_hash(rec->base) & (size - 1);

		for (;; pos = (pos + 1) & (size - 1)) {
			size_t j = slots[pos];

			if (j == 0) {
				slots[pos] = i + 1;
				break;
			}
			if (strcmp(ul->recs.items[j - 1].base, rec->base) ==
			    0) {
				/* records ascend by UID: i is the later */
				maildir_warn(warn,
				             "%s: file %s listed twice (UID "
				             "%u and %u); keeping UID %u",
				             path, rec->base,
				             ul->recs.items[j - 1].uid,
				             rec->uid, rec->uid);
				drop[j - 1] = true;
				slots[pos] = i + 1;
				dups++;
				break;
			}
		}
	}
	if (dups > 0) {
		ul->needs_rewrite = true;
		for (size_t i = 0; i < n; i++) {
			if (!drop[i])
				ul->recs.items[kept++] = ul->recs.items[i];
		}
		ul->recs.count = kept;
	}
	free(slots);
	free(drop);
}

void maildir_uidlist_parse(struct maildir_uidlist *ul, const char *path,
                           const char *data, size_t len,
                           const struct maildir_warn *warn)
{
	const char *end = data + len;
	unsigned int lineno = 0;
	uint32_t hdr_next = 0;
	bool header = true;
	size_t lines = 0;

	/* room for every line at once: no doubling slack per message (the
	 * records are most of a big mailbox's memory) */
	for (const char *p = data; p < end; lines++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		p = nl == NULL ? end : nl + 1;
	}
	if (lines > 1 && ul->recs.cap < ul->recs.count + lines - 1) {
		ul->recs.items =
		    mf_reallocarray(ul->recs.items, ul->recs.count + lines - 1,
		                    sizeof(*ul->recs.items));
		ul->recs.cap = ul->recs.count + lines - 1;
	}
	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t linelen =
		    nl == NULL ? (size_t)(end - data) : (size_t)(nl - data);
		char *line = mf_strndup(data, linelen);
		const char *why = NULL;

		lineno++;
		data += linelen + (nl != NULL ? 1 : 0);
		if (header) {
			header = false;
			if (line[0] == '3' && (line[1] == ' ' || !line[1])) {
				ul->version = 3;
				if (parse_header_v3(ul, line, &hdr_next) < 0)
					ul->version = 0;
			} else if (line[0] == '1' && line[1] == ' ') {
				const char *p = line + 2;

				ul->version = 1;
				ul->needs_rewrite = true;
				if (parse_u32(&p, &ul->uidvalidity) < 0 ||
				    *p++ != ' ' ||
				    parse_u32(&p, &hdr_next) < 0 || *p != '\0')
					ul->version = 0;
			}
			if (ul->version == 0 || ul->uidvalidity == 0 ||
			    hdr_next == 0) {
				maildir_warn(
				    warn,
				    "%s: line 1: broken or unsupported "
				    "header '%s': ignoring the file, "
				    "every message gets a new UID",
				    path, line);
				free(line);
				maildir_uidlist_clear(ul);
				ul->needs_rewrite = true;
				return;
			}
			ul->next_uid = hdr_next;
			free(line);
			continue;
		}
		if (linelen == 0) {
			free(line);
			continue;
		}
		if (parse_line(ul, line, path, lineno, warn, &why) < 0) {
			maildir_warn(warn,
			             "%s: line %u: %s, ignoring '%s' (its "
			             "file gets a new UID)",
			             path, lineno, why, line);
			ul->needs_rewrite = true;
		}
		free(line);
	}
	if (header) {
		/* empty file */
		maildir_warn(warn, "%s: empty file, rebuilding it", path);
		ul->needs_rewrite = true;
		return;
	}
	drop_duplicate_bases(ul, path, warn);
	if (ul->recs.count > 0 &&
	    ul->next_uid <= ul->recs.items[ul->recs.count - 1].uid)
		ul->next_uid = ul->recs.items[ul->recs.count - 1].uid + 1;
	if (!ul->have_guid)
		ul->needs_rewrite = true;
}

int maildir_uidlist_read(struct maildir_uidlist *ul, const char *path,
                         const struct maildir_warn *warn, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;

	maildir_uidlist_clear(ul);
	if (mf_file_read_all(path, &buf, error_r) < 0) {
		mf_buf_free(&buf);
		if (errno == ENOENT) {
			mf_free(error_r);
			return 0;
		}
		return -1;
	}
	maildir_uidlist_parse(ul, path, buf.data == NULL ? "" : buf.data,
	                      buf.len, warn);
	mf_buf_free(&buf);
	return 0;
}

void maildir_uidlist_format_line(uint32_t uid, const char *guid,
                                 const char *ext, const char *base,
                                 struct mf_buf *out)
{
	mf_buf_printf(out, "%u", uid);
	if (guid != NULL)
		mf_buf_printf(out, " G%s", guid);
	if (ext != NULL)
		mf_buf_printf(out, " %s", ext);
	mf_buf_printf(out, " :%s\n", base);
}

static void format_rec(const struct maildir_uidlist_rec *rec,
                       struct mf_buf *out)
{
	maildir_uidlist_format_line(rec->uid, rec->guid, rec->ext, rec->base,
	                            out);
}

void maildir_uidlist_format_header(const struct maildir_uidlist *ul,
                                   struct mf_buf *out)
{
	char guid[MF_GUID128_HEX_LEN];

	mf_guid128_to_hex(ul->guid, guid);
	mf_buf_printf(out, "3 V%u N%u G%s", ul->uidvalidity, ul->next_uid,
	              guid);
	if (ul->hdr_extra != NULL)
		mf_buf_printf(out, " %s", ul->hdr_extra);
	mf_buf_append_c(out, '\n');
}

void maildir_uidlist_format(const struct maildir_uidlist *ul,
                            struct mf_buf *out)
{
	maildir_uidlist_format_header(ul, out);
	for (size_t i = 0; i < ul->recs.count; i++)
		format_rec(&ul->recs.items[i], out);
}

int maildir_uidlist_append(const struct maildir_uidlist *ul, const char *path,
                           size_t first, bool do_fsync, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	int fd, ret = 0;

	for (size_t i = first; i < ul->recs.count; i++)
		format_rec(&ul->recs.items[i], &buf);
	if (buf.len == 0)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		*error_r = mf_strdup_printf("open(%s) failed: %s", path,
		                            strerror(errno));
		mf_buf_free(&buf);
		return -1;
	}
	if (mf_write_full(fd, buf.data, buf.len) < 0 ||
	    (do_fsync && fdatasync(fd) < 0)) {
		*error_r = mf_strdup_printf("write(%s) failed: %s", path,
		                            strerror(errno));
		ret = -1;
	}
	if (close(fd) < 0 && ret == 0) {
		*error_r = mf_strdup_printf("close(%s) failed: %s", path,
		                            strerror(errno));
		ret = -1;
	}
	mf_buf_free(&buf);
	return ret;
}

int maildir_uidlist_write(const struct maildir_uidlist *ul, const char *path,
                          const struct mf_perm *perm, bool do_fsync,
                          char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	char *tmp = mf_strdup_printf("%s.tmp", path);
	struct mf_perm def;
	int fd, ret = -1;

	if (perm == NULL) {
		mf_perm_init_default(&def);
		perm = &def;
	}
	maildir_uidlist_format(ul, &buf);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	          perm->file_mode);
	if (fd >= 0)
		(void)mf_perm_fix_fd(perm, fd, tmp, false);
	if (fd < 0) {
		*error_r = mf_strdup_printf("open(%s) failed: %s", tmp,
		                            strerror(errno));
		goto out;
	}
	if (mf_write_full(fd, buf.data, buf.len) < 0 ||
	    (do_fsync && fdatasync(fd) < 0)) {
		*error_r = mf_strdup_printf("write(%s) failed: %s", tmp,
		                            strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	if (close(fd) < 0) {
		*error_r = mf_strdup_printf("close(%s) failed: %s", tmp,
		                            strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*error_r = mf_strdup_printf("rename(%s, %s) failed: %s", tmp,
		                            path, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(tmp);
	mf_buf_free(&buf);
	return ret;
}

struct maildir_uidlist_rec *maildir_uidlist_find_uid(struct maildir_uidlist *ul,
                                                     uint32_t uid)
{
	size_t lo = 0, hi = ul->recs.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t u = ul->recs.items[mid].uid;

		if (u == uid)
			return &ul->recs.items[mid];
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *maildir_uidlist_rec_ext(const struct maildir_uidlist_rec *rec,
                                    char key, struct mf_buf *tmp)
{
	const char *p = rec->ext;

	if (key == 'G')
		return rec->guid;
	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, " ");

		if (*p == key) {
			mf_buf_truncate(tmp, 0);
			mf_buf_append(tmp, p + 1, len - 1);
			return mf_buf_str(tmp);
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	return NULL;
}

void maildir_uidlist_add(struct maildir_uidlist *ul, uint32_t uid,
                         const char *base, const char *guid, const char *ext)
{
	struct maildir_uidlist_rec *rec = mf_array_append_zero(&ul->recs);

	rec->uid = uid;
	rec->base = maildir_strpool_strdup(ul_pool(ul), base);
	rec->guid =
	    guid == NULL ? NULL : maildir_strpool_strdup(ul->pool, guid);
	rec->ext = ext == NULL ? NULL : maildir_strpool_strdup(ul->pool, ext);
	if (ul->next_uid <= uid)
		ul->next_uid = uid + 1;
}

void maildir_uidlist_remove_at(struct maildir_uidlist *ul, size_t idx)
{
	memmove(&ul->recs.items[idx], &ul->recs.items[idx + 1],
	        (ul->recs.count - idx - 1) * sizeof(ul->recs.items[0]));
	ul->recs.count--;
}
