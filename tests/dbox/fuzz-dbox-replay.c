/* SPDX-License-Identifier: MIT */
/*
 * fuzz-dbox-replay.c - runs the fuzz-dbox.c entry over dbox files Dovecot
 * wrote (tests/dbox/data) and files of our own writer (plain and zstd), and
 * over deterministic mutations of each: every truncation, and byte changes
 * at every position. Under ASan/UBSan this checks the dbox parser and the
 * decompressors in every build, not only in libFuzzer runs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-file.h"
#include "dbox-writer.h"
#include "mf-compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long runs;

static void run(const uint8_t *data, size_t size)
{
	(void)LLVMFuzzerTestOneInput(data, size);
	runs++;
}

static void mutate(const struct mf_buf *seed)
{
	static const uint8_t values[] = {0x00, 0xff, '\n', ' ',  '0',
	                                 'F',  0x01, 0x28, 0x1f, 'Z'};
	uint8_t *copy = mf_malloc(seed->len + 1);

	for (size_t len = 0; len <= seed->len; len++)
		run((const uint8_t *)seed->data, len);
	for (size_t pos = 0; pos < seed->len; pos++) {
		for (size_t v = 0; v < MF_N_ELEMENTS(values); v++) {
			memcpy(copy, seed->data, seed->len);
			copy[pos] = values[v];
			run(copy, seed->len);
		}
	}
	free(copy);
}

/* A two-message file from our writer, level < 0 plain else zstd. */
static void own_file(struct mf_buf *out, int level)
{
	char path[] = "/tmp/mf-fuzz-dbox.XXXXXX";
	int fd = mkstemp(path);
	struct mf_buf hdr = MF_BUF_INIT;
	uint64_t off;
	char *err = NULL;

	if (fd < 0)
		abort();
	dbox_file_format_header(&hdr, 1);
	if (mf_write_full(fd, hdr.data, hdr.len) < 0)
		abort();
	off = hdr.len;
	for (int i = 0; i < 2; i++) {
		static const char text[] = "Subject: x\r\n\r\nbody\r\nline\n";
		struct dbox_writer *w;
		struct dbox_writer_result res;
		struct dbox_metadata_values v;

		memset(&v, 0, sizeof(v));
		v.received = 1;
		v.guid = "g";
		v.orig_mailbox = "INBOX";
		if (dbox_writer_begin(fd, path, off,
		                      level < 0 ? MF_COMPRESS_NONE
		                                : MF_COMPRESS_ZSTD,
		                      level, &w, &err) < 0 ||
		    dbox_writer_write(w, text, sizeof(text) - 1, &err) < 0 ||
		    dbox_writer_finish(w, &v, &res, &err) < 0)
			abort();
		dbox_writer_free(&w);
		off = res.end_offset;
	}
	close(fd);
	if (mf_file_read_all(path, out, &err) < 0)
		abort();
	unlink(path);
	mf_buf_free(&hdr);
}

int main(void)
{
	static const char *const files[] = {"sdbox-u.1", "sdbox-zstd-u.1",
	                                    "mdbox-m.1"};
	const char *top = getenv("MF_TOP_SRCDIR");

	for (size_t i = 0; i < MF_N_ELEMENTS(files); i++) {
		struct mf_buf seed = MF_BUF_INIT;
		char *err = NULL;
		char *path =
		    mf_strdup_printf("%s/tests/dbox/data/%s",
		                     top != NULL ? top : "..", files[i]);

		if (mf_file_read_all(path, &seed, &err) < 0) {
			fprintf(stderr, "fuzz-dbox-replay: %s\n", err);
			return 1;
		}
		mutate(&seed);
		mf_buf_free(&seed);
		free(path);
	}
	for (int level = -1; level <= 3; level += 4) {
		struct mf_buf seed = MF_BUF_INIT;

		own_file(&seed, level);
		mutate(&seed);
		mf_buf_free(&seed);
	}
	printf("fuzz-dbox-replay: %lu inputs, no crash\n", runs);
	return 0;
}
