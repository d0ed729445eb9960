/* SPDX-License-Identifier: MIT */
/*
 * test-eml.c - what the eml sample driver promises beyond the generic
 * suite: its identities (content and name hashes), the tree mapping with
 * awkward directory entries, clear errors naming the file, and refusing
 * to stream a message file that changed after it was numbered.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "mf-file.h"
#include "mf-hex.h"
#include "conf.h"
#include "conf-tests.h"

struct eml_env {
	char *tmp, *root;
	struct mf_storage *storage;
};

static void put(const char *path, const char *data)
{
	char *error;

	if (mf_file_write_atomic(path, data, strlen(data), 0644, false,
	                         &error) < 0)
		ck_abort_msg("%s", error);
}

static char *path_in(const struct eml_env *e, const char *rel)
{
	return mf_strdup_printf("%s/%s", e->root, rel);
}

static void eml_begin(struct eml_env *e)
{
	char *error = NULL, *loc;
	int ret;

	e->tmp = mf_strdup_printf("%s/emlx-XXXXXX", conf_tmp_root);
	ck_assert_ptr_nonnull(mkdtemp(e->tmp));
	e->root = mf_strdup_printf("%s/tree", e->tmp);
	ck_assert_int_eq(mkdir(e->root, 0755), 0);
	loc = mf_strdup_printf("eml:%s", e->root);
	ret = mf_storage_open(loc, NULL, NULL, e->tmp, 0, &e->storage, &error);
	ck_assert_msg(ret == 0, "open %s: %s", loc, error);
	free(loc);
}

static void eml_end(struct eml_env *e)
{
	mf_storage_close(&e->storage);
	conf_rmtree(e->tmp);
	free(e->tmp);
	free(e->root);
}

static const struct mailferry_driver_ops *ops_of(const struct eml_env *e)
{
	return e->storage->ops;
}

static int open_box(struct eml_env *e, const char *name,
                    struct mailferry_mailbox **box_r)
{
	*box_r = NULL;
	return ops_of(e)->mailbox_open(e->storage->st, name, 0, box_r);
}

START_TEST(test_eml_identities)
{
	static const char msg[] = "Subject: x\n\nline one\nline two\r\n";
	struct mailferry_mailbox_status st;
	struct mailferry_msg_query q;
	struct mailferry_msg_iter *iter;
	const struct mailferry_msg *m;
	struct mailferry_mailbox *box;
	uint8_t digest[SHA_DIGEST_LENGTH];
	char hex[2 * SHA_DIGEST_LENGTH + 1];
	struct timeval times[2] = {{1234567890, 0}, {1234567890, 0}};
	struct eml_env e;
	char *dir, *file;
	uint32_t uv;

	eml_begin(&e);
	dir = path_in(&e, "Sub");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	file = path_in(&e, "Sub/m.eml");
	put(file, msg);
	ck_assert_int_eq(utimes(file, times), 0);

	ck_assert_int_eq(open_box(&e, "Sub", &box), 0);
	ck_assert_int_eq(ops_of(&e)->mailbox_status(box, &st), 0);
	SHA1((const unsigned char *)"Sub", 3, digest);
	ck_assert_mem_eq(st.guid, digest, 16);
	uv = ((uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 |
	      (uint32_t)digest[2] << 8 | digest[3]) &
	     0x7fffffff;
	ck_assert_uint_eq(st.uidvalidity, uv == 0 ? 1 : uv);
	ck_assert_uint_eq(st.messages, 1);
	ck_assert_uint_eq(st.uidnext, 2);
	ck_assert_uint_eq(st.highest_modseq, 0);

	memset(&q, 0, sizeof(q));
	q.struct_size = sizeof(q);
	q.uid_last = UINT32_MAX;
	q.fields = MAILFERRY_FIELD_GUID | MAILFERRY_FIELD_VIRTUAL_SIZE |
	           MAILFERRY_FIELD_RECEIVED | MAILFERRY_FIELD_PHYSICAL_SIZE;
	ck_assert_int_eq(ops_of(&e)->msg_iter_begin(box, &q, &iter), 0);
	ck_assert_int_eq(ops_of(&e)->msg_iter_next(iter, &m), 1);
	SHA1((const unsigned char *)msg, sizeof(msg) - 1, digest);
	mf_hex_encode(digest, sizeof(digest), hex);
	ck_assert_str_eq(m->guid, hex);
	ck_assert_uint_eq(m->uid, 1);
	ck_assert_uint_eq(m->physical_size, sizeof(msg) - 1);
	/* three LFs, one of them already CRLF */
	ck_assert_uint_eq(m->virtual_size, sizeof(msg) - 1 + 3);
	ck_assert_int_eq(m->received_date, 1234567890);
	ck_assert_uint_eq(m->flags, 0);
	ck_assert_ptr_null(m->keywords);
	ck_assert_int_eq(ops_of(&e)->msg_iter_next(iter, &m), 0);
	ck_assert_int_eq(ops_of(&e)->msg_iter_end(&iter), 0);

	/* no modseqs: changes since one are not known */
	q.changed_since = 1;
	ck_assert_int_eq(ops_of(&e)->msg_iter_begin(box, &q, &iter),
	                 MAILFERRY_E_NOHISTORY);
	ops_of(&e)->mailbox_close(&box);
	free(dir);
	free(file);
	eml_end(&e);
}
END_TEST

START_TEST(test_eml_tree)
{
	static const char *const dirs[] = {"b",     "b/deep",  "b/deep/er",
	                                   "a",     ".hidden", "inbox",
	                                   "c\xff", "d",       "d/.git"};
	struct mailferry_mailbox *box;
	conf_list_t list;
	struct conf_env cenv;
	struct eml_env e;
	char *p, *q;

	eml_begin(&e);
	for (size_t i = 0; i < MF_N_ELEMENTS(dirs); i++) {
		p = path_in(&e, dirs[i]);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		free(p);
	}
	p = path_in(&e, "a/1.eml");
	put(p, "Subject: 1\n\n");
	free(p);
	p = path_in(&e, "a/.2.eml"); /* hidden file: not a message */
	put(p, "Subject: 2\n\n");
	free(p);
	p = path_in(&e, "a/3.txt"); /* not *.eml */
	put(p, "Subject: 3\n\n");
	free(p);
	p = path_in(&e, "a/fifo.eml"); /* not a regular file */
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	free(p);
	p = path_in(&e, "a/dir.eml"); /* a directory named like a message */
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = path_in(&e, "a/link.eml"); /* symlink to a message: followed */
	ck_assert_int_eq(symlink("1.eml", p), 0);
	free(p);
	p = path_in(&e, "linked"); /* symlinked directory: not followed */
	q = path_in(&e, "b");
	ck_assert_int_eq(symlink(q, p), 0);
	free(p);
	free(q);

	memset(&cenv, 0, sizeof(cenv));
	cenv.name = "eml";
	cenv.storage = e.storage;
	cenv.sep = '/';
	conf_list(&cenv, 0, &list);
	ck_assert_uint_eq(list.count, 7);
	ck_assert_str_eq(list.items[0].name, "INBOX");
	ck_assert_str_eq(list.items[1].name, "a");
	ck_assert_str_eq(list.items[2].name, "a/dir.eml");
	ck_assert_str_eq(list.items[3].name, "b");
	ck_assert_str_eq(list.items[4].name, "b/deep");
	ck_assert_str_eq(list.items[5].name, "b/deep/er");
	ck_assert_str_eq(list.items[6].name, "d");
	ck_assert_uint_eq(list.items[0].flags & MAILFERRY_MAILBOX_CHILDREN, 0);
	ck_assert_uint_ne(list.items[3].flags & MAILFERRY_MAILBOX_CHILDREN, 0);
	ck_assert_uint_eq(list.items[5].flags & MAILFERRY_MAILBOX_CHILDREN, 0);
	ck_assert_uint_eq(list.items[6].flags & MAILFERRY_MAILBOX_CHILDREN, 0);
	conf_list_free(&list);

	/* a/ holds 1.eml and the symlink to it */
	ck_assert_int_eq(open_box(&e, "a", &box), 0);
	ck_assert_uint_eq(box != NULL, 1);
	{
		struct mailferry_mailbox_status st;
		ck_assert_int_eq(ops_of(&e)->mailbox_status(box, &st), 0);
		ck_assert_uint_eq(st.messages, 2);
		/* a refresh picks up a file added meanwhile */
		p = path_in(&e, "a/9.eml");
		put(p, "Subject: 9\n\n");
		free(p);
		ck_assert_int_eq(ops_of(&e)->mailbox_status(box, &st), 0);
		ck_assert_uint_eq(st.messages, 3);
		ck_assert_uint_eq(st.uidnext, 4);
	}
	ops_of(&e)->mailbox_close(&box);

	ck_assert_int_eq(open_box(&e, "linked", &box), MAILFERRY_E_NOTFOUND);
	ck_assert_int_eq(open_box(&e, "inbox/x", &box), MAILFERRY_E_NOTFOUND);
	ck_assert_int_eq(open_box(&e, "../tree", &box), MAILFERRY_E_INVALID);
	ck_assert_int_eq(open_box(&e, "a//b", &box), MAILFERRY_E_INVALID);
	ck_assert_int_eq(open_box(&e, "/a", &box), MAILFERRY_E_INVALID);
	ck_assert_int_eq(open_box(&e, "d/.git", &box), MAILFERRY_E_INVALID);
	ck_assert_int_eq(open_box(&e, "iNbOx", &box), 0);
	ops_of(&e)->mailbox_close(&box);
	eml_end(&e);
}
END_TEST

START_TEST(test_eml_errors)
{
	struct mf_storage *storage = NULL;
	struct mailferry_mailbox *box;
	struct mailferry_stream *stream;
	struct eml_env e;
	char buf[64], *p, *loc, *error = NULL;
	size_t got;
	int ret, fd;

	eml_begin(&e);
	/* location errors name the option or the path */
	loc = mf_strdup_printf("eml:%s:LAYOUT=fs", e.root);
	ret = mf_storage_open(loc, NULL, NULL, NULL, 0, &storage, &error);
	ck_assert_int_eq(ret, MAILFERRY_E_INVALID);
	ck_assert_msg(strstr(error, "'LAYOUT'") != NULL, "%s", error);
	free(error);
	free(loc);
	p = path_in(&e, "file");
	put(p, "x");
	loc = mf_strdup_printf("eml:%s", p);
	ret = mf_storage_open(loc, NULL, NULL, NULL, 0, &storage, &error);
	ck_assert_int_eq(ret, MAILFERRY_E_INVALID);
	ck_assert_msg(strstr(error, "not a directory") != NULL, "%s", error);
	free(error);
	free(loc);
	free(p);
	loc = mf_strdup_printf("eml:%s/missing", e.root);
	ret = mf_storage_open(loc, NULL, NULL, NULL, MAILFERRY_STORAGE_CREATE,
	                      &storage, &error);
	ck_assert_int_eq(ret, MAILFERRY_E_NOTFOUND);
	ck_assert_msg(strstr(error, "read-only") != NULL, "%s", error);
	free(error);
	free(loc);

	/* an unreadable message file is named in the error */
	p = path_in(&e, "loop.eml");
	ck_assert_int_eq(symlink("loop.eml", p), 0);
	ret = open_box(&e, "INBOX", &box);
	ck_assert_int_lt(ret, 0);
	ck_assert_msg(strstr(mf_storage_error(e.storage), p) != NULL, "%s",
	              mf_storage_error(e.storage));
	ck_assert_int_eq(unlink(p), 0);
	free(p);

	/* a file changed after the scan is not streamed as that UID */
	p = path_in(&e, "m.eml");
	put(p, "Subject: m\n\nbody\n");
	ck_assert_int_eq(open_box(&e, "INBOX", &box), 0);
	fd = open(p, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "more\n", 5), 5);
	close(fd);
	stream = NULL;
	ret = ops_of(&e)->msg_open(box, 1, 0, &stream);
	ck_assert_int_eq(ret, MAILFERRY_E_EXPUNGED);
	ck_assert_ptr_null(stream);
	ck_assert_msg(strstr(mf_storage_error(e.storage), p) != NULL, "%s",
	              mf_storage_error(e.storage));
	ops_of(&e)->mailbox_close(&box);

	/* truncated while being read: INVALIDDATA, never a short body */
	ck_assert_int_eq(open_box(&e, "INBOX", &box), 0);
	ck_assert_int_eq(ops_of(&e)->msg_open(box, 1, 0, &stream), 0);
	ck_assert_int_eq(ops_of(&e)->stream_read(stream, buf, 4, &got), 0);
	ck_assert_uint_eq(got, 4);
	ck_assert_int_eq(truncate(p, 8), 0);
	ret = ops_of(&e)->stream_read(stream, buf, sizeof(buf), &got);
	if (ret == 0) /* the 4 bytes still there */
		ret = ops_of(&e)->stream_read(stream, buf, sizeof(buf), &got);
	ck_assert_int_eq(ret, MAILFERRY_E_INVALIDDATA);
	ck_assert_msg(strstr(mf_storage_error(e.storage), "truncated") != NULL,
	              "%s", mf_storage_error(e.storage));
	ops_of(&e)->stream_close(&stream);
	ops_of(&e)->mailbox_close(&box);
	free(p);
	eml_end(&e);
}
END_TEST

void conf_add_eml_tests(Suite *s)
{
	TCase *tc = tcase_create("eml");

	tcase_add_test(tc, test_eml_identities);
	tcase_add_test(tc, test_eml_tree);
	tcase_add_test(tc, test_eml_errors);
	suite_add_tcase(s, tc);
}
