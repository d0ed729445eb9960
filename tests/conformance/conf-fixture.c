/* SPDX-License-Identifier: MIT */
/*
 * conf-fixture.c - the messages every populated location must hold: the
 * bundled sample tree (real mail from the notmuch corpora) and a few
 * generated edge cases a store must carry byte for byte.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-buf.h"
#include "mf-file.h"
#include "conf.h"

static struct conf_fixture fixture;
static int fixture_loaded;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct conf_box *add_box(const char *name)
{
	struct conf_box *box = mf_array_append_zero(&fixture.boxes);

	box->name = mf_strdup(name);
	return box;
}

static void add_msg(struct conf_box *box, const void *data, size_t size,
                    const char *origin)
{
	struct conf_msg *msg = mf_array_append_zero(&box->msgs);

	msg->data = mf_malloc(size + 1);
	memcpy(msg->data, data, size);
	msg->data[size] = '\0';
	msg->size = size;
	msg->origin = mf_strdup(origin);
}

/* Load dir's *.eml files (sorted) into a box named name, then recurse into
 * its subdirectories: the same mapping the eml driver documents, written
 * independently here. */
static void load_tree(const char *dir, const char *name)
{
	MF_ARRAY(char *) files = MF_ARRAY_INIT;
	MF_ARRAY(char *) subdirs = MF_ARRAY_INIT;
	struct conf_box *box = add_box(name);
	struct dirent *d;
	DIR *dirp;

	dirp = opendir(dir);
	if (dirp == NULL) {
		fprintf(stderr, "conformance: opendir(%s) failed: %s\n", dir,
		        strerror(errno));
		exit(99);
	}
	while ((d = readdir(dirp)) != NULL) {
		char *path = mf_strdup_printf("%s/%s", dir, d->d_name);
		struct stat st;

		if (d->d_name[0] != '.' && stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				mf_array_push(&subdirs, mf_strdup(d->d_name));
			else if (mf_str_ends(d->d_name, ".eml"))
				mf_array_push(&files, mf_strdup(d->d_name));
		}
		free(path);
	}
	closedir(dirp);
	if (files.count > 0)
		mf_qsort(files.items, files.count, sizeof(char *), cmp_str);
	if (subdirs.count > 0)
		mf_qsort(subdirs.items, subdirs.count, sizeof(char *), cmp_str);

	for (size_t i = 0; i < files.count; i++) {
		char *path = mf_strdup_printf("%s/%s", dir, files.items[i]);
		struct mf_buf buf = MF_BUF_INIT;
		char *error;

		if (mf_file_read_all(path, &buf, &error) < 0) {
			fprintf(stderr, "conformance: %s\n", error);
			exit(99);
		}
		add_msg(box, buf.data, buf.len, path);
		mf_buf_free(&buf);
		free(path);
		free(files.items[i]);
	}
	for (size_t i = 0; i < subdirs.count; i++) {
		char *path = mf_strdup_printf("%s/%s", dir, subdirs.items[i]);
		char *sub =
		    name[0] == '\0' || strcmp(name, "INBOX") == 0
		        ? mf_strdup(subdirs.items[i])
		        : mf_strdup_printf("%s/%s", name, subdirs.items[i]);
		load_tree(path, sub);
		free(path);
		free(sub);
		free(subdirs.items[i]);
	}
	mf_array_free(&files);
	mf_array_free(&subdirs);
}

static void add_edge_cases(void)
{
	static const char crlf[] =
	    "From: CRLF Sender <crlf@example.org>\r\n"
	    "To: someone@example.org\r\n"
	    "Subject: CRLF line endings\r\n"
	    "Message-ID: <edge-crlf@mailferry.test>\r\n"
	    "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
	    "\r\n"
	    "Every line of this message ends in CRLF.\r\n"
	    "A store must give these bytes back unchanged.\r\n";
	static const char no_newline[] =
	    "From: edge@example.org\n"
	    "Subject: no newline at the end\n"
	    "Message-ID: <edge-nonl@mailferry.test>\n"
	    "\n"
	    "The last line of this message has no line feed";
	static const char eight_bit[] =
	    "From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>\n"
	    "Subject: 8-bit body\n"
	    "X-Raw-Header: \xc3\x9c"
	    "bergr\xc3\xb6\xc3\x9f"
	    "e\n"
	    "Message-ID: <edge-8bit@mailferry.test>\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "\n"
	    "Gr\xc3\xbc\xc3\x9f"
	    "e aus Z\xc3\xbcrich \xe2\x80\x94 "
	    "\xe2\x9c\x93\n"
	    "From the start of a line, as mbox would escape it.\n"
	    "Mixed endings follow:\r\n"
	    "this line ends in LF\n"
	    "and this one in CRLF\r\n";
	struct conf_box *box = add_box("Edge");
	struct mf_buf buf = MF_BUF_INIT;

	add_msg(box, crlf, sizeof(crlf) - 1, "generated: CRLF");
	add_msg(box, no_newline, sizeof(no_newline) - 1,
	        "generated: no final newline");
	add_msg(box, eight_bit, sizeof(eight_bit) - 1,
	        "generated: 8-bit and mixed line endings");

	mf_buf_append_str(&buf, "From: edge@example.org\n"
	                        "Subject: one very long line\n"
	                        "Message-ID: <edge-long@mailferry.test>\n\n");
	for (unsigned i = 0; i < 3000; i++)
		mf_buf_printf(&buf, "%06u ", i);
	mf_buf_append_str(&buf, "\nend\n");
	add_msg(box, buf.data, buf.len, "generated: 21 kB line");
	mf_buf_free(&buf);
}

const struct conf_fixture *conf_fixture(void)
{
	if (!fixture_loaded) {
		char *root =
		    mf_strdup_printf("%s/tests/data/sample-eml", conf_srcdir);
		load_tree(root, "INBOX");
		free(root);
		add_edge_cases();
		fixture_loaded = 1;
	}
	return &fixture;
}

const struct conf_box *conf_fixture_box(const char *name)
{
	const struct conf_fixture *fx = conf_fixture();

	for (size_t i = 0; i < fx->boxes.count; i++) {
		if (strcmp(fx->boxes.items[i].name, name) == 0)
			return &fx->boxes.items[i];
	}
	return NULL;
}

/* ---- the big message ---- */

static const char big_header[] = "From: Large Sender <big@example.org>\n"
                                 "To: someone@example.org\n"
                                 "Subject: a 64 MiB message\n"
                                 "Message-ID: <edge-big@mailferry.test>\n"
                                 "Date: Mon, 2 Jan 2023 11:00:00 +0000\n"
                                 "\n";

/* Body: 64-byte lines "NNNNNNNN " + letters + "\n", each line different,
 * so a dropped, repeated or reordered chunk cannot go unnoticed. */
static char big_body_byte(uint64_t off)
{
	uint64_t line = off / 64;
	unsigned col = (unsigned)(off % 64);

	if (col == 63)
		return '\n';
	if (col == 8)
		return ' ';
	if (col < 8) {
		uint64_t v = line % 100000000;
		for (unsigned i = 7; i > col; i--)
			v /= 10;
		return (char)('0' + v % 10);
	}
	return (char)('a' + (line + col) % 26);
}

size_t conf_big_read(struct conf_big_gen *gen, void *buf, size_t len)
{
	const size_t hlen = sizeof(big_header) - 1;
	char *out = buf;
	size_t n = 0;

	while (n < len && (gen->pending_lf || gen->pos < CONF_BIG_SIZE)) {
		uint64_t pos = gen->pos;
		char c;

		if (gen->pending_lf) {
			gen->pending_lf = 0;
			c = '\n';
		} else {
			c = pos < hlen ? big_header[pos]
			               : big_body_byte(pos - hlen);
			if (c == '\n' && gen->crlf) {
				out[n++] = '\r';
				gen->pending_lf = 1;
				continue;
			}
		}
		out[n++] = c;
		gen->pos++;
	}
	return n;
}

uint64_t conf_big_crlf_size(void)
{
	const size_t hlen = sizeof(big_header) - 1;
	uint64_t lf = (CONF_BIG_SIZE - hlen) / 64; /* one per body line */

	for (size_t i = 0; i < hlen; i++)
		lf += big_header[i] == '\n';
	return CONF_BIG_SIZE + lf;
}

void conf_big_write_file(const char *path)
{
	struct conf_big_gen gen = {0};
	static char buf[256 * 1024];
	size_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
	while ((n = conf_big_read(&gen, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(mf_write_full(fd, buf, n), 0);
	ck_assert_int_eq(close(fd), 0);
}
