/* SPDX-License-Identifier: MIT */
/* mf-index-log.c - reading transaction log files (dovecot-formats.md §8). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-index-private.h"

uint32_t mf_log_size_decode(const uint8_t p[4])
{
	/* Every byte carries the high bit once the size is final; a writer
	 * that has not finished leaves it 0, which ends the readable log. */
	if ((p[0] & p[1] & p[2] & p[3] & 0x80) == 0)
		return 0;
	return (((uint32_t)(p[0] & 0x7f) << 21) |
	        ((uint32_t)(p[1] & 0x7f) << 14) |
	        ((uint32_t)(p[2] & 0x7f) << 7) | (uint32_t)(p[3] & 0x7f))
	       << 2;
}

void mf_log_size_encode(uint32_t size, uint8_t p[4])
{
	uint32_t v = size >> 2;

	p[0] = (uint8_t)(0x80 | ((v >> 21) & 0x7f));
	p[1] = (uint8_t)(0x80 | ((v >> 14) & 0x7f));
	p[2] = (uint8_t)(0x80 | ((v >> 7) & 0x7f));
	p[3] = (uint8_t)(0x80 | (v & 0x7f));
}

uint32_t mf_log_base_type(uint32_t type)
{
	uint32_t t = type & MF_T_TYPE_MASK;

	switch (t) {
	case MF_T_EXPUNGE | MF_T_EXPUNGE_PROT:
		return MF_T_EXPUNGE;
	case MF_T_EXPUNGE_GUID | MF_T_EXPUNGE_PROT:
		return MF_T_EXPUNGE_GUID;
	case MF_T_APPEND:
	case MF_T_FLAG_UPDATE:
	case MF_T_HEADER_UPDATE:
	case MF_T_EXT_INTRO:
	case MF_T_EXT_RESET:
	case MF_T_EXT_HDR_UPDATE:
	case MF_T_EXT_REC_UPDATE:
	case MF_T_KEYWORD_UPDATE:
	case MF_T_KEYWORD_RESET:
	case MF_T_EXT_ATOMIC_INC:
	case MF_T_MODSEQ_UPDATE:
	case MF_T_EXT_HDR_UPDATE32:
	case MF_T_INDEX_DELETED:
	case MF_T_INDEX_UNDELETED:
	case MF_T_BOUNDARY:
	case MF_T_ATTRIBUTE_UPDATE:
		return t;
	default:
		/* includes expunges without their protection bits */
		return 0;
	}
}

static bool flag_updates_visible(const uint8_t *data, uint32_t size,
                                 unsigned int minor)
{
	/* Logs from 1.3 on hide changes of internal-only flag bits (0x40,
	 * 0x80) from modseqs. */
	if (minor < 3)
		return true;
	for (uint32_t i = 0; i + 12 <= size; i += 12) {
		uint8_t add = data[i + 8], rm = data[i + 9], inc = data[i + 10];

		if (((add | rm) & MF_INDEX_FLAGS_SYSTEM) != 0 || inc != 0)
			return true;
	}
	return false;
}

void mf_log_update_modseq(uint32_t type, const uint8_t *data, uint32_t size,
                          uint64_t *modseq, unsigned int minor_version)
{
	uint32_t base = mf_log_base_type(type);

	if (*modseq == 0) {
		/* not tracking yet: only a "modseq" ext intro starts it */
		if (base == MF_T_EXT_INTRO && size >= 20 &&
		    mf_le16(data + 18) == 6 && size >= 26 &&
		    memcmp(data + 20, "modseq", 6) == 0)
			*modseq += 1;
		return;
	}
	switch (base) {
	case MF_T_EXPUNGE:
	case MF_T_EXPUNGE_GUID:
		if ((type & MF_T_EXTERNAL) == 0)
			break; /* only a request */
		*modseq += 1;
		break;
	case MF_T_APPEND:
	case MF_T_KEYWORD_UPDATE:
	case MF_T_KEYWORD_RESET:
	case MF_T_ATTRIBUTE_UPDATE:
		*modseq += 1;
		break;
	case MF_T_FLAG_UPDATE:
		if (flag_updates_visible(data, size, minor_version))
			*modseq += 1;
		break;
	case MF_T_MODSEQ_UPDATE:
		for (uint32_t i = 0; i + 12 <= size; i += 12) {
			uint64_t m = (uint64_t)mf_le32(data + i + 4) |
			             ((uint64_t)mf_le32(data + i + 8) << 32);
			if (*modseq < m)
				*modseq = m;
		}
		break;
	default:
		break;
	}
}

static bool uid_ranges_ok(const uint8_t *p, uint32_t size)
{
	uint32_t prev = 0;

	if (size == 0 || size % 8 != 0)
		return false;
	for (uint32_t i = 0; i < size; i += 8) {
		uint32_t a = mf_le32(p + i), b = mf_le32(p + i + 4);

		if (a == 0 || a > b || (i > 0 && a <= prev))
			return false;
		prev = b;
	}
	return true;
}

const char *mf_log_record_check(uint32_t type, const uint8_t *data,
                                uint32_t size)
{
	uint32_t base = mf_log_base_type(type);

	if (base == 0) {
		if ((type & MF_T_TYPE_MASK) == (MF_T_EXPUNGE | 0) ||
		    (type & MF_T_TYPE_MASK) == MF_T_EXPUNGE_GUID)
			return "expunge record without protection bits";
		return "unknown record type";
	}
	if (size == 0)
		return "empty record";
	switch (base) {
	case MF_T_APPEND:
		if (size % 8 != 0)
			return "append size not a multiple of 8";
		break;
	case MF_T_EXPUNGE:
		if (!uid_ranges_ok(data, size))
			return "invalid expunge uid ranges";
		break;
	case MF_T_EXPUNGE_GUID:
		if (size % 20 != 0)
			return "expunge-guid size not a multiple of 20";
		for (uint32_t i = 0; i < size; i += 20) {
			if (mf_le32(data + i) == 0)
				return "expunge-guid with uid 0";
		}
		break;
	case MF_T_FLAG_UPDATE: {
		uint32_t prev = 0;

		if (size % 12 != 0)
			return "flag update size not a multiple of 12";
		for (uint32_t i = 0; i < size; i += 12) {
			uint32_t a = mf_le32(data + i),
			         b = mf_le32(data + i + 4);
			if (a == 0 || a > b || (i > 0 && a <= prev))
				return "invalid flag update uid ranges";
			prev = b;
		}
		break;
	}
	case MF_T_KEYWORD_UPDATE: {
		uint32_t name_size, off;

		if (size < 4)
			return "keyword update too short";
		if (data[0] > 1)
			return "keyword update with invalid modify type";
		name_size = mf_le16(data + 2);
		if (name_size == 0)
			return "keyword update without name";
		off = MF_ALIGN4(4 + name_size);
		if (off >= size)
			return "keyword update name runs past the record";
		if (!uid_ranges_ok(data + off, size - off))
			return "invalid keyword update uid ranges";
		break;
	}
	case MF_T_KEYWORD_RESET:
		if (!uid_ranges_ok(data, size))
			return "invalid keyword reset uid ranges";
		break;
	case MF_T_EXT_INTRO:
		for (uint32_t i = 0; i < size;) {
			uint32_t ns;

			if (i + 20 > size)
				break; /* padding */
			ns = mf_le16(data + i + 18);
			if (i + 20 + ns > size)
				return "ext intro name runs past the record";
			i += MF_ALIGN4(20 + ns);
		}
		break;
	case MF_T_EXT_ATOMIC_INC:
		if (size % 8 != 0)
			return "atomic inc size not a multiple of 8";
		break;
	case MF_T_MODSEQ_UPDATE:
		if (size % 12 != 0)
			return "modseq update size not a multiple of 12";
		break;
	case MF_T_BOUNDARY:
		if (size < 4)
			return "boundary too short";
		break;
	default:
		break;
	}
	return NULL;
}

void mf_log_header_build(uint8_t hdr[MF_LOG_HDR_SIZE], uint32_t indexid,
                         uint32_t seq, uint32_t prev_seq, uint32_t prev_offset,
                         uint32_t create_stamp, uint64_t initial_modseq)
{
	memset(hdr, 0, MF_LOG_HDR_SIZE);
	hdr[0] = MF_LOG_MAJOR;
	hdr[1] = MF_LOG_MINOR;
	mf_put16(hdr + 2, MF_LOG_HDR_SIZE);
	mf_put32(hdr + 4, indexid);
	mf_put32(hdr + 8, seq);
	mf_put32(hdr + 12, prev_seq);
	mf_put32(hdr + 16, prev_offset);
	mf_put32(hdr + 20, create_stamp);
	mf_put64(hdr + 24, initial_modseq);
	hdr[32] = MF_IDX_COMPAT_LE;
}

void mf_log_file_free(struct mf_log_file *file)
{
	free(file->path);
	free(file->data);
	mf_zero(file);
}

int mf_log_file_next(const struct mf_log_file *file, size_t *offset,
                     uint32_t *type_r, const uint8_t **data_r, uint32_t *size_r)
{
	uint32_t size;

	if (*offset + MF_LOG_REC_HDR_SIZE > file->valid_size)
		return 0;
	size = mf_log_size_decode(file->data + *offset);
	*type_r = mf_le32(file->data + *offset + 4);
	*data_r = file->data + *offset + MF_LOG_REC_HDR_SIZE;
	*size_r = size - MF_LOG_REC_HDR_SIZE;
	*offset += size;
	return 1;
}

/* Walk the framing from valid_size on. A zero size or one running past
 * EOF is an unfinished write: the readable log ends there (Dovecot does the
 * same when reading without the lock). */
static int log_parse_records(struct mf_log_file *f, char **error_r)
{
	const uint8_t *d = f->data;
	size_t off = f->valid_size, trans_end = f->last_trans_end;

	while (off + MF_LOG_REC_HDR_SIZE <= f->file_size) {
		uint32_t size = mf_log_size_decode(d + off);
		uint32_t type;
		const char *why;

		if (size == 0)
			break;
		if (size < MF_LOG_REC_HDR_SIZE) {
			*error_r = mf_strdup_printf(
			    "corrupted transaction log %s: record size %u "
			    "too small at offset %zu",
			    f->path, size, off);
			return MF_INDEX_ERR_CORRUPT;
		}
		if (off + size > f->file_size)
			break;
		type = mf_le32(d + off + 4);
		if (mf_log_base_type(type) == MF_T_BOUNDARY && size >= 12) {
			size_t end = off + mf_le32(d + off + 8);

			if (end > f->file_size) {
				/* the rest of this transaction is still
				 * being written: stop before it like
				 * Dovecot's reader */
				break;
			}
			/* the furthest any passed boundary reaches */
			trans_end = MF_MAX(trans_end, end);
		}
		why = mf_log_record_check(type, d + off + 8,
		                          size - MF_LOG_REC_HDR_SIZE);
		if (why != NULL) {
			*error_r = mf_strdup_printf(
			    "corrupted transaction log %s: %s (type 0x%x) "
			    "at offset %zu",
			    f->path, why, type, off);
			return MF_INDEX_ERR_CORRUPT;
		}
		off += size;
	}
	f->valid_size = off;
	f->last_trans_end = trans_end;
	return 0;
}

static int log_parse(struct mf_log_file *f, char **error_r)
{
	const uint8_t *d = f->data;

	if (f->file_size < MF_LOG_MIN_HDR_SIZE) {
		*error_r = mf_strdup_printf(
		    "corrupted transaction log %s: header too short "
		    "(%zu bytes) at offset 0",
		    f->path, f->file_size);
		return MF_INDEX_ERR_CORRUPT;
	}
	f->major = d[0];
	f->minor = d[1];
	f->hdr_size = mf_le16(d + 2);
	f->indexid = mf_le32(d + 4);
	f->seq = mf_le32(d + 8);
	f->prev_seq = mf_le32(d + 12);
	f->prev_offset = mf_le32(d + 16);
	f->create_stamp = mf_le32(d + 20);
	if (f->major != MF_LOG_MAJOR) {
		*error_r = mf_strdup_printf(
		    "transaction log %s: unsupported major version %u at "
		    "offset 0",
		    f->path, f->major);
		return MF_INDEX_ERR_CORRUPT;
	}
	if (f->hdr_size < MF_LOG_MIN_HDR_SIZE || f->hdr_size > f->file_size) {
		*error_r = mf_strdup_printf(
		    "corrupted transaction log %s: invalid header size %u "
		    "at offset 2",
		    f->path, f->hdr_size);
		return MF_INDEX_ERR_CORRUPT;
	}
	f->initial_modseq = f->hdr_size >= 32 ? mf_le64(d + 24) : 0;
	if (f->minor >= 2 && f->hdr_size >= 33 && d[32] != MF_IDX_COMPAT_LE) {
		*error_r = mf_strdup_printf(
		    "transaction log %s: not a little-endian log "
		    "(compat flags 0x%x at offset 32)",
		    f->path, d[32]);
		return MF_INDEX_ERR_CORRUPT;
	}
	if (f->indexid == 0) {
		*error_r = mf_strdup_printf(
		    "transaction log %s: marked corrupted (indexid 0 at "
		    "offset 4)",
		    f->path);
		return MF_INDEX_ERR_CORRUPT;
	}
	if (f->seq == 0) {
		*error_r = mf_strdup_printf(
		    "corrupted transaction log %s: file_seq 0 at offset 8",
		    f->path);
		return MF_INDEX_ERR_CORRUPT;
	}
	f->valid_size = f->hdr_size;
	f->last_trans_end = 0;
	return log_parse_records(f, error_r);
}

/* Read fd from offset *len to EOF into *data (grown as needed, to the
 * file's size at once: a buffer doubling while it fills would hold up to
 * twice the log). Returns 0 or -1 with *error_r. */
static int read_to_eof(int fd, const char *path, uint8_t **data, size_t *len,
                       char **error_r)
{
	struct stat st;
	size_t cap = *len + 1;

	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= *len)
		cap = (size_t)st.st_size + 1;
	*data = mf_realloc(*data, cap);
	for (;;) {
		ssize_t n;

		if (*len + 1 >= cap) {
			/* it grew after the fstat() */
			cap += cap / 4 + 65536;
			*data = mf_realloc(*data, cap);
		}
		n = pread(fd, *data + *len, cap - *len - 1, (off_t)*len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = mf_strdup_printf("read(%s) failed: %s", path,
			                            strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return 0;
}

int mf_log_file_read(const char *path, int use_fd, struct mf_log_file *file_r,
                     char **error_r)
{
	uint8_t *data = NULL;
	size_t len = 0;
	struct stat st;
	int fd = use_fd, ret;

	mf_zero(file_r);
	if (fd < 0)
		fd = open(path, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT)
			return MF_INDEX_ERR_NOTFOUND;
		*error_r = mf_strdup_printf("open(%s) failed: %s", path,
		                            strerror(errno));
		return MF_INDEX_ERR_IO;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = mf_strdup_printf("fstat(%s) failed: %s", path,
		                            strerror(errno));
		if (use_fd < 0)
			close(fd);
		return MF_INDEX_ERR_IO;
	}
	ret = read_to_eof(fd, path, &data, &len, error_r);
	/* Never close the caller's fd: closing any descriptor of a file
	 * drops all of this process's fcntl locks on it. */
	if (use_fd < 0)
		close(fd);
	if (ret < 0) {
		free(data);
		return MF_INDEX_ERR_IO;
	}
	file_r->path = mf_strdup(path);
	file_r->file_size = len;
	file_r->data = data;
	file_r->dev = st.st_dev;
	file_r->ino = st.st_ino;
	ret = log_parse(file_r, error_r);
	if (ret < 0)
		mf_log_file_free(file_r);
	return ret;
}

int mf_log_file_extend(struct mf_log_file *f, int fd, char **error_r)
{
	/* what follows the last complete record may have been rewritten
	 * (a torn write cut and replaced), so read again from there; the
	 * buffer grows in place instead of being copied */
	f->file_size = f->valid_size;
	if (read_to_eof(fd, f->path, &f->data, &f->file_size, error_r) < 0)
		return MF_INDEX_ERR_IO;
	return log_parse_records(f, error_r);
}
