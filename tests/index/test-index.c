/* SPDX-License-Identifier: MIT */
/* test-index.c - unit tests of core/index: encodings, record layout, every
 * record type through write + read, rotation, torn tails, corrupt files,
 * failed writes, change history, mailbox log, subscriptions, uidvalidity. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-dump.h"
#include "mf-file.h"
#include "mf-index-private.h"
#include "mf-mailbox-log.h"
#include "mf-subscriptions.h"
#include "mf-uidvalidity.h"

static char tmpdir[64];

static void setup(void)
{
	mf_strlcpy(tmpdir, "/tmp/mf-index-test.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = mf_strdup_printf("rm -rf '%s'", tmpdir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static struct mf_index *open_new(const struct mf_index_settings *set)
{
	struct mf_index *index;
	char *error = NULL;

	if (mf_index_open(tmpdir, "dovecot.index",
	                  MF_INDEX_OPEN_CREATE | MF_INDEX_OPEN_KEEP_BACKUPS,
	                  set, &index, &error) < 0)
		ck_abort_msg("open: %s", error);
	return index;
}

static struct mf_index *reopen(void)
{
	struct mf_index *index;
	char *error = NULL;

	if (mf_index_open(tmpdir, "dovecot.index", MF_INDEX_OPEN_READONLY, NULL,
	                  &index, &error) < 0)
		ck_abort_msg("reopen: %s", error);
	return index;
}

static char *path_of(const char *name)
{
	return mf_strdup_printf("%s/%s", tmpdir, name);
}

static void commit_ok(struct mf_index_trans **t, struct mf_index *index)
{
	if (mf_index_trans_commit(t) < 0)
		ck_abort_msg("commit: %s", mf_index_last_error(index));
}

static int kw_index(struct mf_index *index, const char *name)
{
	uint32_t n;
	const char *const *kws = mf_index_keywords(index, &n);

	for (uint32_t i = 0; i < n; i++)
		if (strcmp(kws[i], name) == 0)
			return (int)i;
	return -1;
}

static bool has_kw(struct mf_index *index, uint32_t uid, const char *name)
{
	int k = kw_index(index, name);

	return k >= 0 &&
	       mf_index_rec_has_keyword(index, mf_index_lookup_uid(index, uid),
	                                (uint32_t)k);
}

START_TEST(size_encoding)
{
	uint8_t b[4];

	mf_log_size_encode(12, b);
	ck_assert(b[0] == 0x80 && b[1] == 0x80 && b[2] == 0x80 && b[3] == 0x83);
	mf_log_size_encode(0x88, b);
	ck_assert(b[3] == 0xa2 && b[2] == 0x80);
	for (uint32_t v = 8; v < (1u << 30); v = v * 3 + 4) {
		uint32_t size = v & ~3u;

		mf_log_size_encode(size, b);
		ck_assert_uint_eq(mf_log_size_decode(b), size);
	}
	/* a size without all high bits is "not yet written" */
	b[0] = 0x00;
	ck_assert_uint_eq(mf_log_size_decode(b), 0);
}
END_TEST

START_TEST(record_layout)
{
	/* Dovecot's layout, as observed in its sdbox index: cache (4/4) then
	 * keywords (2/1) gives keywords@5, cache@8; an align-8 extension
	 * without records (hdr-vsize) rounds the record to 16 */
	struct mf_map map;
	int c, k;

	mf_map_init(&map);
	mf_map_ext_add(&map, "dbox-hdr", 0, 24, 0, 0);
	c = (int)mf_map_ext_add(&map, "cache", 0, 0, 4, 4);
	ck_assert_uint_eq(map.exts.items[c].record_offset, 8);
	ck_assert_uint_eq(map.record_size, 12);
	k = (int)mf_map_keyword_add(&map, "$Label1");
	ck_assert_int_eq(k, 0);
	k = mf_map_ext_find(&map, "keywords");
	ck_assert_uint_eq(map.exts.items[k].record_offset, 5);
	ck_assert_uint_eq(map.exts.items[k].record_size, 2);
	ck_assert_uint_eq(map.exts.items[c].record_offset, 8);
	mf_map_ext_add(&map, "hdr-vsize", 0, 16, 0, 8);
	ck_assert_uint_eq(map.record_size, 16);
	/* the keyword header: count, (0, offset) pairs, names, 128 spare */
	ck_assert_uint_eq(mf_le32(map.exts.items[k].hdr), 1);
	ck_assert_str_eq((const char *)map.exts.items[k].hdr + 12, "$Label1");
	ck_assert_uint_eq(map.exts.items[k].hdr_size, 20 + 128);
	mf_map_free(&map);
}
END_TEST

START_TEST(every_record_type)
{
	struct mf_index *index = open_new(NULL);
	struct mf_index_trans *t;
	uint8_t guid[16], hdr24[24] = {0}, rec8[8], map12[12] = {1, 0, 0, 0};
	const struct mf_index_ext *e;
	uint32_t uid;
	struct mf_buf dump = MF_BUF_INIT;
	char *error = NULL, *logpath = path_of("dovecot.index.log");

	memset(guid, 0xab, sizeof(guid));
	memcpy(hdr24 + 4, guid, 16);
	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_ext_intro(t, "dbox-hdr", 24, 0, 0);
	mf_index_trans_ext_hdr(t, "dbox-hdr", 0, hdr24, 24);
	mf_index_trans_set_uid_validity(t, 1234567890);
	ck_assert_int_eq(mf_index_trans_append(t, 5, MF_INDEX_FLAG_SEEN, NULL),
	                 0);
	ck_assert_int_eq(mf_index_trans_append(t, 0, 0, &uid), 0);
	ck_assert_uint_eq(uid, 6);
	ck_assert_int_eq(mf_index_trans_append(t, 9, MF_INDEX_FLAG_DRAFT, NULL),
	                 0);
	/* below next_uid is refused at once */
	ck_assert_int_eq(mf_index_trans_append(t, 7, 0, NULL),
	                 MF_INDEX_ERR_INVALID);
	mf_index_trans_keyword(t, "$Label1", true, 5, 6);
	mf_index_trans_keyword(t, "Junk", true, 9, 9);
	mf_index_trans_ext_intro(t, "mdbox", 0, 8, 4);
	mf_put32(rec8, 77);
	mf_put32(rec8 + 4, 1700000000);
	mf_index_trans_ext_rec(t, "mdbox", 5, rec8);
	mf_index_trans_ext_intro(t, "map", 8, 12, 4);
	mf_index_trans_ext_rec(t, "map", 6, map12);
	mf_index_trans_ext_intro(t, "ref", 0, 2, 2);
	mf_index_trans_ext_atomic_inc(t, "ref", 6, 3);
	mf_index_trans_ext_atomic_inc(t, "ref", 6, -1);
	mf_index_trans_set_next_uid(t, 20);
	commit_ok(&t, index);

	ck_assert_int_eq(mf_index_modseq_enable(index), 0);
	t = mf_index_trans_begin(index,
	                         MF_INDEX_TRANS_EXTERNAL | MF_INDEX_TRANS_SYNC);
	mf_index_trans_flags(t, 5, 9, MF_INDEX_FLAG_FLAGGED,
	                     MF_INDEX_FLAG_SEEN);
	mf_index_trans_keyword(t, "$Label1", false, 6, 6);
	mf_index_trans_keyword_reset(t, 9, 9);
	mf_index_trans_expunge(t, 6, guid);
	mf_index_trans_modseq(t, 5, 1000);
	mf_index_trans_ext_reset(t, "map", 7, true);
	mf_index_trans_index_deleted(t, true);
	mf_index_trans_index_deleted(t, false);
	commit_ok(&t, index);
	mf_index_close(&index);

	/* read back from the log alone */
	index = reopen();
	ck_assert_uint_eq(mf_index_get_header(index)->uid_validity, 1234567890);
	ck_assert_uint_eq(mf_index_get_header(index)->next_uid, 20);
	ck_assert_uint_eq(mf_index_count(index), 2);
	ck_assert_uint_eq(mf_index_rec_at(index, 1)->uid, 5);
	ck_assert_uint_eq(mf_index_rec_at(index, 1)->flags,
	                  MF_INDEX_FLAG_FLAGGED);
	ck_assert_uint_eq(mf_index_rec_at(index, 1)->modseq, 1000);
	ck_assert_uint_eq(mf_index_highest_modseq(index), 1000);
	ck_assert_uint_eq(mf_index_rec_at(index, 2)->flags,
	                  MF_INDEX_FLAG_FLAGGED | MF_INDEX_FLAG_DRAFT);
	ck_assert(has_kw(index, 5, "$Label1"));
	ck_assert(!has_kw(index, 9, "Junk"));
	ck_assert(!mf_index_is_deleted(index));
	e = mf_index_ext_find(index, "dbox-hdr");
	ck_assert_ptr_nonnull(e);
	ck_assert_mem_eq(e->hdr + 4, guid, 16);
	e = mf_index_ext_find(index, "mdbox");
	ck_assert_uint_eq(mf_le32(mf_index_rec_ext(index, 1, e)), 77);
	e = mf_index_ext_find(index, "map");
	ck_assert_uint_eq(e->reset_id, 7);
	ck_assert_ptr_nonnull(mf_index_ext_find(index, "ref"));
	{
		struct mf_index_expunge *ex;
		uint32_t n;

		ck_assert_int_eq(mf_index_expunges_since(index, 0, 0, &ex, &n),
		                 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(ex[0].uid, 6);
		ck_assert(ex[0].have_guid);
		ck_assert_mem_eq(ex[0].guid, guid, 16);
		free(ex);
		/* the expunge was a SYNC transaction */
		ck_assert_int_eq(
		    mf_index_expunges_since(
		        index, 0, MF_INDEX_CHANGES_SKIP_SYNC, &ex, &n),
		    0);
		ck_assert_uint_eq(n, 0);
		free(ex);
	}
	ck_assert_int_eq(mf_dump_file(logpath, &dump, &error), 0);
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&dump), "ext-atomic-inc"));
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&dump), "index-undeleted"));
	mf_buf_free(&dump);
	mf_index_close(&index);

	/* the same state after writing and re-reading dovecot.index */
	index = open_new(NULL);
	ck_assert_int_eq(mf_index_write_main(index), 0);
	mf_index_close(&index);
	{
		char *log = path_of("dovecot.index.log");

		/* the index alone must be the whole state */
		ck_assert_int_eq(unlink(log), 0);
		free(log);
	}
	index = reopen();
	ck_assert_uint_eq(mf_index_count(index), 2);
	ck_assert_uint_eq(mf_index_rec_at(index, 1)->modseq, 1000);
	ck_assert(has_kw(index, 5, "$Label1"));
	e = mf_index_ext_find(index, "mdbox");
	ck_assert_uint_eq(mf_le32(mf_index_rec_ext(index, 1, e)), 77);
	mf_index_close(&index);
	/* and a new log continues from it */
	index = open_new(NULL);
	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_flags(t, 9, 9, MF_INDEX_FLAG_ANSWERED, 0);
	commit_ok(&t, index);
	mf_index_close(&index);
	index = reopen();
	ck_assert_uint_eq(mf_index_rec_at(index, 2)->flags & 1, 1);
	ck_assert_uint_gt(mf_index_rec_at(index, 2)->modseq, 1000);
	mf_index_close(&index);
	free(logpath);
}
END_TEST

START_TEST(changes_since)
{
	struct mf_index *index = open_new(NULL);
	struct mf_index_trans *t;
	struct mf_index_changes ch;
	uint64_t m;

	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_set_uid_validity(t, 1);
	for (uint32_t u = 1; u <= 4; u++)
		mf_index_trans_append(t, u, 0, NULL);
	commit_ok(&t, index);
	m = mf_index_highest_modseq(index);

	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_flags(t, 1, 1, MF_INDEX_FLAG_SEEN, 0);
	mf_index_trans_flags(t, 2, 2, MF_INDEX_FLAG_SEEN, 0);
	mf_index_trans_keyword(t, "kw", true, 3, 3);
	commit_ok(&t, index);
	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_flags(t, 2, 2, 0, MF_INDEX_FLAG_SEEN); /* last wins */
	mf_index_trans_keyword(t, "kw", false, 3, 3);         /* last wins */
	commit_ok(&t, index);
	t = mf_index_trans_begin(index,
	                         MF_INDEX_TRANS_EXTERNAL | MF_INDEX_TRANS_SYNC);
	mf_index_trans_flags(t, 4, 4, MF_INDEX_FLAG_FLAGGED, 0);
	commit_ok(&t, index);

	ck_assert_int_eq(mf_index_changes_since(index, m, 0, &ch), 0);
	ck_assert_uint_eq(ch.count, 4);
	ck_assert_uint_eq(ch.items[0].uid, 1);
	ck_assert_uint_eq(ch.items[0].flags_added, MF_INDEX_FLAG_SEEN);
	ck_assert_uint_eq(ch.items[1].flags_added, 0);
	ck_assert_uint_eq(ch.items[1].flags_removed, MF_INDEX_FLAG_SEEN);
	ck_assert_uint_eq(ch.items[2].kw_added_count, 0);
	ck_assert_uint_eq(ch.items[2].kw_removed_count, 1);
	ck_assert_uint_eq(ch.items[3].flags_added, MF_INDEX_FLAG_FLAGGED);
	ck_assert_uint_eq(ch.max_modseq, mf_index_highest_modseq(index));
	mf_index_changes_free(&ch);
	ck_assert_int_eq(
	    mf_index_changes_since(index, m, MF_INDEX_CHANGES_SKIP_SYNC, &ch),
	    0);
	ck_assert_uint_eq(ch.count, 3);
	mf_index_changes_free(&ch);
	/* nothing after the highest modseq */
	ck_assert_int_eq(mf_index_changes_since(
	                     index, mf_index_highest_modseq(index), 0, &ch),
	                 0);
	ck_assert_uint_eq(ch.count, 0);
	mf_index_changes_free(&ch);
	mf_index_close(&index);
}
END_TEST

START_TEST(rotation_and_history)
{
	struct mf_index_settings set;
	struct mf_index *index;
	struct mf_index_changes ch;
	char *log2 = path_of("dovecot.index.log.2"), *idx;
	struct stat st;

	memset(&set, 0, sizeof(set));
	set.log_rotate_max_size = 2000;
	index = open_new(&set);
	{
		/* without a UIDVALIDITY the index may not be written (Dovecot
		 * would call it corrupted), so nothing rotates either */
		struct mf_index_trans *t =
		    mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);

		mf_index_trans_append(t, 1, 0, NULL);
		commit_ok(&t, index);
		ck_assert_int_eq(mf_index_write_main(index),
		                 MF_INDEX_ERR_INVALID);
		t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
		mf_index_trans_set_uid_validity(t, 42);
		commit_ok(&t, index);
	}
	for (uint32_t u = 2; u <= 200; u++) {
		struct mf_index_trans *t =
		    mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);

		mf_index_trans_append(t, u, 0, NULL);
		mf_index_trans_keyword(t, u % 2 ? "odd" : "even", true, u, u);
		commit_ok(&t, index);
	}
	ck_assert_int_eq(stat(log2, &st), 0);
	idx = path_of("dovecot.index");
	ck_assert_int_eq(stat(idx, &st), 0);
	ck_assert_uint_eq(mf_index_count(index), 200);
	ck_assert_int_eq(mf_index_changes_since(index, 1, 0, &ch),
	                 MF_INDEX_ERR_NOHISTORY);
	ck_assert_ptr_nonnull(strstr(mf_index_last_error(index),
	                             "no longer in the transaction logs"));
	ck_assert_int_eq(mf_index_changes_since(
	                     index, mf_index_highest_modseq(index) - 4, 0, &ch),
	                 0);
	ck_assert_uint_eq(ch.count, 2);
	mf_index_changes_free(&ch);
	mf_index_close(&index);
	index = reopen();
	ck_assert_uint_eq(mf_index_count(index), 200);
	ck_assert(has_kw(index, 199, "odd"));
	ck_assert(has_kw(index, 200, "even"));
	ck_assert(!has_kw(index, 200, "odd"));
	mf_index_close(&index);

	/* the index and a .log.2 but no .log: a new log continues it */
	{
		char *log = path_of("dovecot.index.log");
		struct mf_index_trans *t;

		ck_assert_int_eq(unlink(log2), 0);
		ck_assert_int_eq(rename(log, log2), 0);
		index = open_new(&set);
		t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
		mf_index_trans_append(t, 0, 0, NULL);
		commit_ok(&t, index);
		mf_index_close(&index);
		free(log);
	}
	index = reopen();
	ck_assert_uint_eq(mf_index_count(index), 201);
	ck_assert(has_kw(index, 199, "odd"));
	mf_index_close(&index);
	free(log2);
	free(idx);
}
END_TEST

static void append_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(mf_write_full(fd, data, len), 0);
	close(fd);
}

START_TEST(torn_tail)
{
	struct mf_index *index = open_new(NULL);
	struct mf_index_trans *t;
	char *log = path_of("dovecot.index.log");
	/* a record whose size says 16 but only 12 bytes made it */
	static const uint8_t torn[12] = {0x80, 0x80, 0x80, 0x84, 0x02, 0,
	                                 0,    0,    0x05, 0,    0,    0};
	struct stat st1, st2;

	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_append(t, 1, 0, NULL);
	commit_ok(&t, index);
	mf_index_close(&index);
	ck_assert_int_eq(stat(log, &st1), 0);
	append_bytes(log, torn, sizeof(torn));

	index = reopen();
	ck_assert_uint_eq(mf_index_count(index), 1);
	mf_index_close(&index);
	/* a zero size (writer not done) ends the log as well */
	index = open_new(NULL);
	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_append(t, 2, 0, NULL);
	commit_ok(&t, index); /* cuts the torn bytes first */
	mf_index_close(&index);
	ck_assert_int_eq(stat(log, &st2), 0);
	ck_assert_int_eq((int)(st2.st_size - st1.st_size) % 4, 0);
	index = reopen();
	ck_assert_uint_eq(mf_index_count(index), 2);
	ck_assert_uint_eq(mf_index_rec_at(index, 2)->uid, 2);
	mf_index_close(&index);

	/* a transaction being written: its boundary announces 100 bytes,
	 * only a complete append of 16 follows -> nothing of it applies */
	{
		static const uint8_t partial[28] = {
		    0x80, 0x80, 0x80, 0x83, 0x00, 0x00, 0x08, 0x10, 100, 0,
		    0,    0,    0x80, 0x80, 0x80, 0x84, 0x02, 0,    0,   0x10,
		    0x07, 0,    0,    0,    0,    0,    0,    0};

		append_bytes(log, partial, sizeof(partial));
		index = reopen();
		ck_assert_uint_eq(mf_index_count(index), 2);
		mf_index_close(&index);
	}
	free(log);
}
END_TEST

START_TEST(corrupt_files)
{
	struct mf_index *index = open_new(NULL);
	struct mf_index_trans *t;
	char *idx = path_of("dovecot.index"),
	     *log = path_of("dovecot.index.log");
	char *error = NULL;
	struct mf_buf buf = MF_BUF_INIT;
	int fd;

	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_set_uid_validity(t, 7);
	mf_index_trans_append(t, 1, 0, NULL);
	commit_ok(&t, index);
	ck_assert_int_eq(mf_index_write_main(index), 0);
	mf_index_close(&index);

	/* header_size larger than the file */
	fd = open(idx, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\xff\xff\x00\x00", 4, 4), 4);
	close(fd);
	ck_assert_int_eq(mf_index_open(tmpdir, "dovecot.index",
	                               MF_INDEX_OPEN_READONLY, NULL, &index,
	                               &error),
	                 MF_INDEX_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(error, idx));
	ck_assert_ptr_nonnull(strstr(error, "offset 4"));
	free(error);
	error = NULL;
	ck_assert_int_eq(mf_dump_file(idx, &buf, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "offset"));
	free(error);
	error = NULL;
	ck_assert_int_eq(unlink(idx), 0);

	/* a record size below the record header */
	append_bytes(log, "\x80\x80\x80\x81\x02\0\0\0", 8);
	ck_assert_int_eq(mf_index_open(tmpdir, "dovecot.index",
	                               MF_INDEX_OPEN_READONLY, NULL, &index,
	                               &error),
	                 MF_INDEX_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(error, log));
	ck_assert_ptr_nonnull(strstr(error, "at offset"));
	free(error);
	mf_buf_free(&buf);
	free(idx);
	free(log);
}
END_TEST

START_TEST(failed_write_leaves_log_valid)
{
	struct mf_index *index = open_new(NULL);
	struct mf_index_trans *t;
	char *log = path_of("dovecot.index.log");
	struct rlimit rl;
	struct stat st1, st2;

	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_append(t, 1, 0, NULL);
	commit_ok(&t, index);
	ck_assert_int_eq(stat(log, &st1), 0);
	/* only 10 more bytes fit: the write fails half way (like ENOSPC) */
	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = (rlim_t)st1.st_size + 10;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	for (uint32_t u = 2; u < 20; u++)
		mf_index_trans_append(t, u, 0, NULL);
	mf_index_trans_keyword(t, "lost", true, 1, 1);
	ck_assert_int_eq(mf_index_trans_commit(&t), MF_INDEX_ERR_IO);
	ck_assert_ptr_nonnull(strstr(mf_index_last_error(index), log));
	ck_assert_int_eq(stat(log, &st2), 0);
	ck_assert_int_eq(st1.st_size, st2.st_size);
	mf_index_close(&index);
	index = reopen();
	ck_assert_uint_eq(mf_index_count(index), 1);
	mf_index_close(&index);
	free(log);
}
END_TEST

START_TEST(two_handles_exclude_each_other)
{
	struct mf_index_settings set;
	struct mf_index *a, *b;
	struct mf_index_trans *t;
	struct mf_buf dump = MF_BUF_INIT;
	char *error = NULL, *log = path_of("dovecot.index.log");

	memset(&set, 0, sizeof(set));
	set.lock_timeout_secs = 1;
	a = open_new(&set);
	b = open_new(&set);
	ck_assert_int_eq(mf_index_lock(a), 0);
	/* reading the log elsewhere in this process keeps a's lock */
	ck_assert_int_eq(mf_dump_file(log, &dump, &error), 0);
	ck_assert_int_eq(mf_index_refresh(b), 0);
	t = mf_index_trans_begin(b, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_append(t, 1, 0, NULL);
	ck_assert_int_eq(mf_index_trans_commit(&t), MF_INDEX_ERR_LOCK_TIMEOUT);
	mf_index_unlock(a);
	t = mf_index_trans_begin(b, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_append(t, 1, 0, NULL);
	commit_ok(&t, b);
	ck_assert_int_eq(mf_index_refresh(a), 0);
	ck_assert_uint_eq(mf_index_count(a), 1);
	mf_index_close(&a);
	mf_index_close(&b);
	mf_buf_free(&dump);
	free(log);
}
END_TEST

START_TEST(waits_for_classic_fcntl_lock)
{
	/* Dovecot (lock_method=fcntl) holds a classic POSIX lock: a commit
	 * must wait for it to go away */
	struct mf_index *index = open_new(NULL);
	struct mf_index_trans *t;
	char *log = path_of("dovecot.index.log");
	int pipefd[2];
	struct timespec t0, t1;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct flock fl;
		int fd = open(log, O_RDWR);

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd < 0 || fcntl(fd, F_SETLKW, &fl) < 0)
			_exit(1);
		(void)write(pipefd[1], "x", 1);
		usleep(1200 * 1000);
		_exit(0);
	}
	ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_append(t, 1, 0, NULL);
	commit_ok(&t, index);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 +
	                     (t1.tv_nsec - t0.tv_nsec) / 1000000,
	                 900);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	mf_index_close(&index);
	free(log);
}
END_TEST

START_TEST(mailbox_log)
{
	char *path = path_of("dovecot.mailbox.log"), *error = NULL;
	struct mf_mailbox_log_rec rec, *recs;
	uint32_t n;
	struct stat st;
	char *path2 = path_of("dovecot.mailbox.log.2");

	memset(&rec, 0, sizeof(rec));
	mf_mailbox_log_name_guid("INBOX", rec.guid);
	/* Dovecot logged sha1("INBOX")[0:16] = dc063b45c92f64f79f0d1ed01e6d5b31 */
	ck_assert_uint_eq(rec.guid[0], 0xdc);
	ck_assert_uint_eq(rec.guid[15], 0x31);
	rec.type = MF_MAILBOX_LOG_SUBSCRIBE;
	rec.timestamp = 0x6b039fb8;
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(
		    mf_mailbox_log_append(path, &rec, 1, 0600, &error), 0);
	/* rotated at 4 KiB */
	ck_assert_int_eq(stat(path2, &st), 0);
	ck_assert_int_eq(mf_mailbox_log_read(path, &recs, &n, &error), 0);
	ck_assert_uint_eq(n, 200);
	ck_assert_int_eq(recs[199].timestamp, 0x6b039fb8);
	ck_assert_mem_eq(recs[0].guid, rec.guid, 16);
	free(recs);
	rec.type = MF_MAILBOX_LOG_CREATE_DIR;
	ck_assert_int_eq(mf_mailbox_log_append(path, &rec, 1, 0600, &error),
	                 -1);
	ck_assert_ptr_nonnull(strstr(error, "type 6"));
	free(error);
	free(path);
	free(path2);
}
END_TEST

START_TEST(subscriptions)
{
	char *path = path_of("subscriptions"), *error = NULL, **names;
	const char *in[] = {"INBOX", "Work", "Work/Sub", "A&-B", "tab\there"};
	struct mf_buf buf = MF_BUF_INIT;
	uint32_t n;

	ck_assert_int_eq(mf_subscriptions_write(path, '/', in, 5, 0600, &error),
	                 0);
	ck_assert_int_eq(mf_file_read_all(path, &buf, &error), 0);
	ck_assert_str_eq(mf_buf_str(&buf), "V\t2\n\nINBOX\nWork\nWork\tSub\n"
	                                   "A&-B\ntab\001there\n");
	ck_assert_int_eq(mf_subscriptions_read(path, '/', &names, &n, &error),
	                 0);
	ck_assert_uint_eq(n, 5);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_str_eq(names[i], in[i]);
	mf_subscriptions_free(&names);
	mf_buf_free(&buf);
	free(path);
}
END_TEST

START_TEST(uidvalidity)
{
	uint32_t a, b, c;
	char *error = NULL;

	ck_assert_int_eq(mf_uidvalidity_read(tmpdir, &a, &error), 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_int_eq(mf_uidvalidity_next(tmpdir, &a, &error), 0);
	ck_assert_int_eq(mf_uidvalidity_next(tmpdir, &b, &error), 0);
	ck_assert_uint_eq(b, a + 1);
	ck_assert_int_eq(mf_uidvalidity_read(tmpdir, &c, &error), 0);
	ck_assert_uint_eq(c, b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("index");

	/* every incremental refresh is checked against a full load */
	setenv("MF_INDEX_CHECK_INCREMENTAL", "1", 1);
	TCase *tc = tcase_create("index");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, size_encoding);
	tcase_add_test(tc, record_layout);
	tcase_add_test(tc, every_record_type);
	tcase_add_test(tc, changes_since);
	tcase_add_test(tc, rotation_and_history);
	tcase_add_test(tc, torn_tail);
	tcase_add_test(tc, corrupt_files);
	tcase_add_test(tc, failed_write_leaves_log_valid);
	tcase_add_test(tc, two_handles_exclude_each_other);
	tcase_add_test(tc, waits_for_classic_fcntl_lock);
	tcase_add_test(tc, mailbox_log);
	tcase_add_test(tc, subscriptions);
	tcase_add_test(tc, uidvalidity);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
