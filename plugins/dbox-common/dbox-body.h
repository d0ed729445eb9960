/* SPDX-License-Identifier: MIT */
/*
 * dbox-body.h - read a message body stored in a dbox file, decompressing it
 * when its first bytes are a compression magic (as Dovecot's zlib plugin
 * does on every read).
 */
#ifndef DBOX_BODY_H
#define DBOX_BODY_H

#include <stdint.h>
#include <stddef.h>
#include "mf-compress.h"

struct dbox_body;

/* Start reading body_size bytes at body_offset of fd. The reader owns fd
 * after a successful open (closes it on free); on failure it stays the
 * caller's. path and uid are for messages. expected_size is the
 * plaintext size the metadata promises (UINT64_MAX: unknown); a shorter
 * result is reported as truncated. Returns 0 or a negative
 * enum mailferry_error with *error_r allocated. */
int dbox_body_open(int fd, const char *path, uint64_t body_offset,
                   uint64_t body_size, uint64_t expected_size,
                   struct dbox_body **body_r, char **error_r);
enum mf_compress_kind dbox_body_compression(const struct dbox_body *b);
/* Read up to size plaintext bytes; *size_r = 0 at the end. Returns 0 or a
 * negative enum mailferry_error with *error_r allocated. */
int dbox_body_read(struct dbox_body *b, void *buf, size_t size, size_t *size_r,
                   char **error_r);
void dbox_body_free(struct dbox_body **b);

#endif
