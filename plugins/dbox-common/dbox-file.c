/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "dbox-file.h"

/* Longest file header line we accept; Dovecot's is 16 bytes. */
#define DBOX_FILE_HEADER_MAX 512

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse len hex digits; -1 when empty, not hex or overflowing. */
static int parse_hex(const char *s, size_t len, uint64_t *value_r)
{
	uint64_t v = 0;

	if (len == 0 || len > 16)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d = hex_value(s[i]);
		if (d < 0)
			return -1;
		v = (v << 4) | (uint64_t)d;
	}
	*value_r = v;
	return 0;
}

int dbox_file_parse_header(const char *data, size_t len, const char *path,
                           struct dbox_file_header *hdr_r, char **error_r)
{
	const char *lf = memchr(data, '\n', len);
	const char *p, *end;
	bool have_m = false;

	mf_zero(hdr_r);
	if (lf == NULL) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset 0: file header line is "
		    "truncated (no LF in %zu bytes)",
		    path, len);
		return -1;
	}
	if (data[0] != '1' && data[0] != '2') {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset 0: unsupported dbox version "
		    "'%c'",
		    path, data[0] >= 0x20 && data[0] < 0x7f ? data[0] : '?');
		return -1;
	}
	hdr_r->version = (unsigned int)(data[0] - '0');
	hdr_r->header_size = (uint32_t)(lf - data) + 1;
	end = lf;
	p = data + 1;
	while (p < end) {
		const char *tok_end;
		uint64_t v;

		if (*p == ' ') {
			p++;
			continue;
		}
		tok_end = memchr(p, ' ', (size_t)(end - p));
		if (tok_end == NULL)
			tok_end = end;
		if (*p == 'M' || *p == 'C') {
			if (parse_hex(p + 1, (size_t)(tok_end - p - 1), &v) <
			    0) {
				*error_r = mf_strdup_printf(
				    "dbox file %s: offset %zu: bad '%c' "
				    "value in file header",
				    path, (size_t)(p - data), *p);
				return -1;
			}
			if (*p == 'M') {
				if (v < DBOX_MSG_HEADER_SIZE || v > 1024) {
					*error_r = mf_strdup_printf(
					    "dbox file %s: offset %zu: "
					    "message header size %" PRIu64
					    " out of range",
					    path, (size_t)(p - data), v);
					return -1;
				}
				hdr_r->msg_header_size = (uint32_t)v;
				have_m = true;
			} else {
				hdr_r->create_time = (int64_t)v;
			}
		}
		/* other tokens (old "A", future ones) are ignored */
		p = tok_end;
	}
	if (!have_m) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset 0: file header has no message "
		    "header size (M)",
		    path);
		return -1;
	}
	return 0;
}

int dbox_file_read_header(int fd, const char *path,
                          struct dbox_file_header *hdr_r, char **error_r)
{
	char buf[DBOX_FILE_HEADER_MAX];
	ssize_t n;

	do {
		n = pread(fd, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		*error_r = mf_strdup_printf("dbox file %s: pread() failed: %s",
		                            path, strerror(errno));
		return -1;
	}
	if (n == 0) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset 0: file is empty", path);
		return -1;
	}
	return dbox_file_parse_header(buf, (size_t)n, path, hdr_r, error_r);
}

void dbox_file_format_header(struct mf_buf *out, int64_t create_time)
{
	mf_buf_printf(out, "2 M%x C%" PRIx64 "\n", DBOX_MSG_HEADER_SIZE,
	              (uint64_t)create_time);
}

int dbox_msg_header_parse(const unsigned char *data, size_t size,
                          const char *path, uint64_t offset,
                          uint64_t *body_size_r, char **error_r)
{
	if (size < DBOX_MSG_HEADER_SIZE || data[0] != 0x01 || data[1] != 0x02) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64
		    ": no message header magic (file corrupted)",
		    path, offset);
		return -1;
	}
	if (data[size - 1] != '\n') {
		*error_r =
		    mf_strdup_printf("dbox file %s: offset %" PRIu64
		                     ": message header does not end with LF",
		                     path, offset);
		return -1;
	}
	if (parse_hex((const char *)data + 13, 16, body_size_r) < 0) {
		*error_r =
		    mf_strdup_printf("dbox file %s: offset %" PRIu64
		                     ": message header has a bad size field",
		                     path, offset);
		return -1;
	}
	return 0;
}

void dbox_msg_header_format(unsigned char out[DBOX_MSG_HEADER_SIZE],
                            uint64_t body_size)
{
	static const char digits[] = "0123456789ABCDEF";

	out[0] = 0x01;
	out[1] = 0x02;
	out[2] = 'N';
	memset(out + 3, ' ', 10);
	for (int i = 0; i < 16; i++)
		out[13 + i] =
		    (unsigned char)digits[(body_size >> (4 * (15 - i))) & 0xf];
	out[29] = '\n';
}

void dbox_metadata_add(struct dbox_metadata *meta, char key, const char *value)
{
	if (meta->count == meta->cap) {
		meta->cap = meta->cap == 0 ? 8 : meta->cap * 2;
		meta->items = mf_reallocarray(meta->items, meta->cap,
		                              sizeof(*meta->items));
	}
	meta->items[meta->count].key = key;
	meta->items[meta->count].value = mf_strdup(value);
	meta->count++;
}

void dbox_metadata_free(struct dbox_metadata *meta)
{
	for (size_t i = 0; i < meta->count; i++)
		free(meta->items[i].value);
	free(meta->items);
	mf_zero(meta);
}

const char *dbox_metadata_get(const struct dbox_metadata *meta, char key)
{
	for (size_t i = 0; i < meta->count; i++) {
		if (meta->items[i].key == key)
			return meta->items[i].value;
	}
	return NULL;
}

bool dbox_metadata_fits_save(const struct dbox_metadata *meta,
                             const struct mailferry_save *save)
{
	const char *guid = dbox_metadata_get(meta, 'G');
	const char *uidl = dbox_metadata_get(meta, 'P');
	const char *order = dbox_metadata_get(meta, 'O');
	uint64_t v;

	if (guid == NULL ||
	    (save->guid != NULL && strcmp(save->guid, guid) != 0))
		return false;
	if (save->pop3_uidl != NULL &&
	    (uidl == NULL || strcmp(save->pop3_uidl, uidl) != 0))
		return false;
	if (save->pop3_order != 0 &&
	    (order == NULL || strtoul(order, NULL, 10) != save->pop3_order))
		return false;
	return save->received_date == 0 ||
	       (dbox_metadata_get_hex(meta, 'R', &v) == 0 &&
	        (int64_t)v == save->received_date);
}

int dbox_metadata_get_hex(const struct dbox_metadata *meta, char key,
                          uint64_t *value_r)
{
	const char *v = dbox_metadata_get(meta, key);

	if (v == NULL)
		return 1;
	return parse_hex(v, strlen(v), value_r) < 0 ? -1 : 0;
}

int dbox_metadata_parse(const char *data, size_t len, const char *path,
                        uint64_t offset, struct dbox_metadata *meta_r,
                        size_t *size_r, char **error_r)
{
	size_t pos = DBOX_MAGIC_POST_LEN;

	mf_zero(meta_r);
	if (len < DBOX_MAGIC_POST_LEN)
		return 1;
	if (memcmp(data, DBOX_MAGIC_POST, DBOX_MAGIC_POST_LEN) != 0) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64
		    ": no metadata magic after the message body (file "
		    "corrupted)",
		    path, offset);
		return -1;
	}
	for (;;) {
		const char *line = data + pos;
		const char *lf = memchr(line, '\n', len - pos);
		size_t llen;
		char *value;

		if (lf == NULL) {
			dbox_metadata_free(meta_r);
			return 1;
		}
		llen = (size_t)(lf - line);
		pos += llen + 1;
		/* an empty line ends the block; so does the old format's
		 * space-padded tail */
		if (llen == 0 || line[0] == ' ')
			break;
		value = mf_strndup(line + 1, llen - 1);
		dbox_metadata_add(meta_r, line[0], value);
		free(value);
	}
	*size_r = pos;
	return 0;
}

int dbox_msg_read(int fd, const char *path, uint64_t file_size, uint64_t offset,
                  uint32_t msg_header_size, struct dbox_msg *msg_r,
                  char **error_r)
{
	unsigned char hdr[1024];
	char *mbuf;
	uint64_t meta_off;
	size_t want, got = 0, block;
	int ret;

	mf_zero(msg_r);
	msg_r->offset = offset;
	if (msg_header_size > sizeof(hdr) || offset > file_size ||
	    file_size - offset < msg_header_size) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64
		    ": file is truncated inside the message header "
		    "(file size %" PRIu64 ")",
		    path, offset, file_size);
		return -1;
	}
	if (mf_pread_full(fd, hdr, msg_header_size, (off_t)offset) < 0) {
		*error_r = mf_strdup_printf("dbox file %s: offset %" PRIu64
		                            ": pread() failed: %s",
		                            path, offset, strerror(errno));
		return -1;
	}
	if (dbox_msg_header_parse(hdr, msg_header_size, path, offset,
	                          &msg_r->body_size, error_r) < 0)
		return -1;
	msg_r->body_offset = offset + msg_header_size;
	if (msg_r->body_size > file_size - msg_r->body_offset) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64
		    ": file is truncated inside the message body (needs "
		    "%" PRIu64 " bytes, file size %" PRIu64 ")",
		    path, msg_r->body_offset, msg_r->body_size, file_size);
		return -1;
	}
	meta_off = msg_r->body_offset + msg_r->body_size;
	want = (size_t)MF_MIN(file_size - meta_off,
	                      (uint64_t)DBOX_METADATA_MAX_SIZE);
	if (want == 0) {
		*error_r = mf_strdup_printf(
		    "dbox file %s: offset %" PRIu64
		    ": file is truncated before the metadata block",
		    path, meta_off);
		return -1;
	}
	/* read in growing chunks: the block is usually < 256 bytes */
	mbuf = mf_malloc(want);
	for (size_t chunk = MF_MIN(want, (size_t)512);;
	     chunk = MF_MIN(want, chunk * 4)) {
		if (mf_pread_full(fd, mbuf + got, chunk - got,
		                  (off_t)(meta_off + got)) < 0) {
			*error_r =
			    mf_strdup_printf("dbox file %s: offset %" PRIu64
			                     ": pread() failed: %s",
			                     path, meta_off, strerror(errno));
			free(mbuf);
			return -1;
		}
		got = chunk;
		ret = dbox_metadata_parse(mbuf, got, path, meta_off,
		                          &msg_r->meta, &block, error_r);
		if (ret <= 0 || got == want)
			break;
	}
	free(mbuf);
	if (ret < 0)
		return -1;
	if (ret > 0) {
		*error_r = mf_strdup_printf("dbox file %s: offset %" PRIu64
		                            ": metadata block is truncated",
		                            path, meta_off);
		return -1;
	}
	msg_r->end_offset = meta_off + block;
	return 0;
}

static bool metadata_key_is_known(char key)
{
	return strchr("ZRVPOGB", key) != NULL;
}

void dbox_metadata_format(struct mf_buf *out,
                          const struct dbox_metadata_values *v)
{
	mf_buf_append(out, DBOX_MAGIC_POST, DBOX_MAGIC_POST_LEN);
	if (v->physical_size != UINT64_MAX)
		mf_buf_printf(out, "Z%" PRIx64 "\n", v->physical_size);
	mf_buf_printf(out, "R%" PRIx64 "\n", (uint64_t)v->received);
	mf_buf_printf(out, "V%" PRIx64 "\n", v->virtual_size);
	if (v->pop3_uidl != NULL)
		mf_buf_printf(out, "P%s\n", v->pop3_uidl);
	if (v->pop3_order != 0)
		mf_buf_printf(out, "O%u\n", v->pop3_order);
	mf_buf_printf(out, "G%s\n", v->guid);
	if (v->orig_mailbox != NULL)
		mf_buf_printf(out, "B%s\n", v->orig_mailbox);
	if (v->extra != NULL) {
		for (size_t i = 0; i < v->extra->count; i++) {
			const struct dbox_metadata_item *it =
			    &v->extra->items[i];
			if (!metadata_key_is_known(it->key))
				mf_buf_printf(out, "%c%s\n", it->key,
				              it->value);
		}
	}
	mf_buf_append_c(out, '\n');
}
