/* SPDX-License-Identifier: MIT */
/*
 * fuzz-dbox.c - libFuzzer entry for the dbox file parser: the input is a
 * whole dbox file (u.N or m.N); every message in it is parsed and its body
 * read through the decompressors. Any outcome but a crash, a hang or a
 * sanitizer report is fine: bad input must only give errors.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "dbox-body.h"
#include "dbox-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_body(int fd, const struct dbox_msg *msg)
{
	struct dbox_body *b;
	uint64_t expect;
	char buf[4096], *err = NULL;
	size_t n;
	int dfd = dup(fd), ret;

	if (dbox_metadata_get_hex(&msg->meta, 'Z', &expect) != 0)
		expect = UINT64_MAX;
	if (dbox_body_open(dfd, "fuzz", msg->body_offset, msg->body_size,
	                   expect, &b, &err) < 0) {
		free(err);
		close(dfd);
		return;
	}
	/* a decompression bomb is bounded by this cap */
	for (size_t total = 0; total < 64 * 1024 * 1024; total += n) {
		ret = dbox_body_read(b, buf, sizeof(buf), &n, &err);
		if (ret < 0) {
			free(err);
			break;
		}
		if (n == 0)
			break;
	}
	dbox_body_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbox_file_header fh;
	char *err = NULL;
	uint64_t off;
	int fd = memfd_create("fuzz-dbox", 0);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	if (dbox_file_read_header(fd, "fuzz", &fh, &err) < 0) {
		free(err);
		close(fd);
		return 0;
	}
	off = fh.header_size;
	for (int i = 0; i < 1000 && off < size; i++) {
		struct dbox_msg msg;

		if (dbox_msg_read(fd, "fuzz", size, off, fh.msg_header_size,
		                  &msg, &err) < 0) {
			free(err);
			break;
		}
		read_body(fd, &msg);
		dbox_metadata_free(&msg.meta);
		if (msg.end_offset <= off)
			abort(); /* the parser must always move forward */
		off = msg.end_offset;
	}
	close(fd);
	return 0;
}
