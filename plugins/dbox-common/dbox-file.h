/* SPDX-License-Identifier: MIT */
/*
 * dbox-file.h - the dbox file format shared by sdbox (u.<uid>) and mdbox
 * (m.<file_id>): a one-line file header, then messages made of a 30-byte
 * message header, the body and a metadata block (dovecot-formats.md §4).
 *
 * Parsing works on an open file descriptor with pread(), so one function
 * serves both a single-message u.N file and an offset inside an m.N file.
 * Every error text names the file and the byte offset of the problem.
 */
#ifndef DBOX_FILE_H
#define DBOX_FILE_H

#include <stdint.h>
#include <sys/types.h>
#include <stdbool.h>

#include <mailferry/driver.h>

#include "mf-buf.h"

/* Size of the message header Dovecot 2.x writes ("M1e"). */
#define DBOX_MSG_HEADER_SIZE 30
/* Magic that starts the metadata block after the body. */
#define DBOX_MAGIC_POST "\n\001\003\n"
#define DBOX_MAGIC_POST_LEN 4
/* Upper bound for a metadata block; Dovecot's are a few hundred bytes. */
#define DBOX_METADATA_MAX_SIZE (64 * 1024)

/* Parsed file header line. */
struct dbox_file_header {
	unsigned int version;     /* 1 or 2 */
	uint32_t msg_header_size; /* "M" */
	int64_t create_time;      /* "C", 0 if absent */
	uint32_t header_size;     /* bytes up to and including the LF */
};

/* One metadata line: key letter and value (owned by struct dbox_metadata). */
struct dbox_metadata_item {
	char key;
	char *value;
};

/* The metadata block of one message, in file order. */
struct dbox_metadata {
	struct dbox_metadata_item *items;
	size_t count;
	size_t cap;
};

/* One message located in a file. */
struct dbox_msg {
	uint64_t offset;      /* of the message header */
	uint64_t body_offset; /* offset + msg_header_size */
	uint64_t body_size;   /* from the message header (stored bytes) */
	/* offset of the next message / end of this one (after the metadata) */
	uint64_t end_offset;
	struct dbox_metadata meta;
};

/* Read and parse the file header of fd (path is for messages). Returns 0,
 * or -1 with *error_r allocated. */
int dbox_file_read_header(int fd, const char *path,
                          struct dbox_file_header *hdr_r, char **error_r);

/* Parse a header line held in memory (len bytes, need not be terminated).
 * Returns 0, or -1 with *error_r allocated. */
int dbox_file_parse_header(const char *data, size_t len, const char *path,
                           struct dbox_file_header *hdr_r, char **error_r);

/* Format the file header Dovecot writes: "2 M1e C<hex time>\n". */
void dbox_file_format_header(struct mf_buf *out, int64_t create_time);

/* Read the message at offset (header, then metadata after the body) from
 * fd of file size file_size. msg_header_size from the file header.
 * Returns 0, or -1 with *error_r naming path and offset (truncated file,
 * bad magic, bad size). msg_r->meta must be freed with
 * dbox_metadata_free(). */
int dbox_msg_read(int fd, const char *path, uint64_t file_size, uint64_t offset,
                  uint32_t msg_header_size, struct dbox_msg *msg_r,
                  char **error_r);

/* Parse a 30-byte (or longer) message header; returns the body size or
 * -1 when it is malformed (*error_r allocated). */
int dbox_msg_header_parse(const unsigned char *data, size_t size,
                          const char *path, uint64_t offset,
                          uint64_t *body_size_r, char **error_r);

/* Fill out[DBOX_MSG_HEADER_SIZE] with a message header for body_size. */
void dbox_msg_header_format(unsigned char out[DBOX_MSG_HEADER_SIZE],
                            uint64_t body_size);

/* Parse a metadata block starting at its magic. data holds at least the
 * whole block (may hold more). *size_r = block size including the final
 * empty line. Returns 0, 1 when the block is not complete inside data, or
 * -1 with *error_r on a malformed block. */
int dbox_metadata_parse(const char *data, size_t len, const char *path,
                        uint64_t offset, struct dbox_metadata *meta_r,
                        size_t *size_r, char **error_r);

/* Value of key, NULL if absent (first occurrence). */
const char *dbox_metadata_get(const struct dbox_metadata *meta, char key);
/* Parse a hex number value of key; returns 0, 1 if absent, -1 if bad. */
int dbox_metadata_get_hex(const struct dbox_metadata *meta, char key,
                          uint64_t *value_r);
/* True when a message with this metadata can be copied for save by
 * sharing the metadata: it has a GUID and keeps every GUID, POP3 and
 * received-date value save asks for. */
bool dbox_metadata_fits_save(const struct dbox_metadata *meta,
                             const struct mailferry_save *save);
/* Add a key (the value is copied). */
void dbox_metadata_add(struct dbox_metadata *meta, char key, const char *value);
void dbox_metadata_free(struct dbox_metadata *meta);

/* The values a saved message's metadata carries. */
struct dbox_metadata_values {
	/* plaintext size when the stored body differs (compressed), else
	 * UINT64_MAX (no "Z" line) */
	uint64_t physical_size;
	int64_t received;
	uint64_t virtual_size;
	const char *pop3_uidl; /* NULL = none */
	uint32_t pop3_order;   /* 0 = none */
	const char *guid;
	const char *orig_mailbox; /* mdbox "B"; NULL = none */
	/* other keys to keep (copies of unknown metadata), may be NULL */
	const struct dbox_metadata *extra;
};

/* Append the whole metadata block (magic, lines in Dovecot's order,
 * terminating empty line) to out. */
void dbox_metadata_format(struct mf_buf *out,
                          const struct dbox_metadata_values *values);

#endif
