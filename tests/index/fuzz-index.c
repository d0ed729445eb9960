/* SPDX-License-Identifier: MIT */
/*
 * fuzz-index.c - libFuzzer entry for the index, transaction log, mailbox
 * log and subscriptions parsers. The first input byte picks what the rest
 * becomes on disk (log, index, index + log split at a position, .log.2 +
 * log, mailbox log, subscriptions); the reader, the history queries and
 * the dumper then run over it. Modes 6 and 7 also commit a transaction on
 * top of the input (log, index + log): when that succeeds, the result must
 * be readable again. Any crash, hang, sanitizer report or unreadable write
 * is a bug; errors are fine.
 *
 * Built as a libFuzzer binary with --enable-fuzz; fuzz-replay.c runs the
 * same entry over tests/index/fuzz-corpus/ in every build.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-dump.h"
#include "mf-file.h"
#include "mf-index.h"
#include "mf-mailbox-log.h"
#include "mf-subscriptions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[64];
static const uint8_t *cur_data;
static size_t cur_size;

static void fuzz_fail(const char *why) MF_NORETURN;
static void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz-index: %s\n", why);
	if (getenv("MF_FUZZ_SAVE") != NULL) {
		FILE *f = fopen(getenv("MF_FUZZ_SAVE"), "wb");

		if (f != NULL) {
			fwrite(cur_data, 1, cur_size, f);
			fclose(f);
		}
	}
	abort();
}

static void put_file(const char *name, const uint8_t *data, size_t size)
{
	char *path = mf_strdup_printf("%s/%s", fuzz_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (size > 0 && mf_write_full(fd, data, size) < 0))
		fuzz_fail("cannot write the input file");
	close(fd);
	free(path);
}

static void clear_dir(void)
{
	static const char *const names[] = {
	    "dovecot.index", "dovecot.index.log", "dovecot.index.log.2",
	    "mailbox.log",   "mailbox.log.2",     "subscriptions"};

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		char *path = mf_strdup_printf("%s/%s", fuzz_dir, names[i]);

		(void)unlink(path);
		free(path);
	}
}

static void dump(const char *name)
{
	char *path = mf_strdup_printf("%s/%s", fuzz_dir, name), *error = NULL;
	struct mf_buf out = MF_BUF_INIT;

	if (mf_dump_file(path, &out, &error) < 0)
		free(error);
	mf_buf_free(&out);
	free(path);
}

static void read_index(void)
{
	struct mf_index *index;
	struct mf_index_changes ch;
	struct mf_index_expunge *ex;
	const char *const *kws;
	char *error = NULL;
	uint32_t n, nk;

	if (mf_index_open(fuzz_dir, "dovecot.index", MF_INDEX_OPEN_READONLY,
	                  NULL, &index, &error) < 0) {
		free(error);
		return;
	}
	(void)mf_index_get_header(index);
	(void)mf_index_highest_modseq(index);
	kws = mf_index_keywords(index, &nk);
	for (uint32_t seq = 1; seq <= mf_index_count(index); seq++) {
		const struct mf_index_rec *rec = mf_index_rec_at(index, seq);

		if (rec == NULL || mf_index_lookup_uid(index, rec->uid) != seq)
			fuzz_fail("uids not ascending and unique");
		for (uint32_t k = 0; k < nk; k++)
			(void)mf_index_rec_has_keyword(index, seq, k);
		for (uint32_t e = 0; e < mf_index_ext_count(index); e++) {
			const struct mf_index_ext *ext =
			    mf_index_ext_at(index, e);
			const uint8_t *p = mf_index_rec_ext(index, seq, ext);
			volatile uint8_t sink = 0;

			for (uint16_t b = 0; p != NULL && b < ext->record_size;
			     b++)
				sink ^= p[b];
			(void)sink;
		}
	}
	(void)kws;
	for (uint64_t since = 0; since < 3; since++) {
		if (mf_index_changes_since(index, since, 0, &ch) == 0)
			mf_index_changes_free(&ch);
		if (mf_index_expunges_since(index, since, 0, &ex, &n) == 0)
			free(ex);
	}
	mf_index_close(&index);
}

static void remove_dir(void)
{
	clear_dir();
	(void)rmdir(fuzz_dir);
}

/* Commit appends, flags, keywords and an expunge on what the input left;
 * a successful commit must leave files we can read. */
static void write_on_top(void)
{
	struct mf_index_settings set;
	struct mf_index *index;
	struct mf_index_trans *t;
	char *error = NULL;
	uint32_t uid;

	memset(&set, 0, sizeof(set));
	set.log_rotate_max_size = 600; /* rotate often */
	set.rewrite_min_log_bytes = 300;
	set.lock_timeout_secs = 1;
	if (mf_index_open(fuzz_dir, "dovecot.index", 0, &set, &index, &error) <
	    0) {
		free(error);
		return;
	}
	t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
	mf_index_trans_set_uid_validity(t, 7);
	if (mf_index_trans_append(t, 0, 0x08, &uid) == 0) {
		mf_index_trans_keyword(t, "fz", true, uid, uid);
		mf_index_trans_flags(t, 1, uid, 0x02, 0x01);
		if (uid > 1)
			mf_index_trans_expunge(t, uid - 1, NULL);
		if (mf_index_trans_commit(&t) == 0) {
			mf_index_close(&index);
			if (mf_index_open(fuzz_dir, "dovecot.index",
			                  MF_INDEX_OPEN_READONLY, NULL, &index,
			                  &error) < 0) {
				fprintf(stderr, "%s\n", error);
				fuzz_fail("unreadable after our write");
			}
			if (mf_index_lookup_uid(index, uid) == 0)
				fuzz_fail("our append got lost");
		}
	} else {
		mf_index_trans_rollback(&t);
	}
	mf_index_close(&index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t split;
	bool write = false;

	cur_data = data;
	cur_size = size;
	if (fuzz_dir[0] == '\0') {
		mf_strlcpy(fuzz_dir, "/tmp/mf-fuzz-index.XXXXXX",
		           sizeof(fuzz_dir));
		if (mkdtemp(fuzz_dir) == NULL)
			fuzz_fail("mkdtemp failed");
		atexit(remove_dir);
	}
	if (size < 3)
		return 0;
	clear_dir();
	split = ((size_t)data[1] << 8 | data[2]) % (size - 2);
	switch (data[0] % 8) {
	case 6:
		write = true;
		/* fall through */
	case 0:
		put_file("dovecot.index.log", data + 3, size - 3);
		break;
	case 7:
		write = true;
		put_file("dovecot.index", data + 3, split);
		put_file("dovecot.index.log", data + 3 + split,
		         size - 3 - split);
		break;
	case 1:
		put_file("dovecot.index", data + 3, size - 3);
		break;
	case 2:
		put_file("dovecot.index", data + 3, split);
		put_file("dovecot.index.log", data + 3 + split,
		         size - 3 - split);
		break;
	case 3:
		put_file("dovecot.index.log.2", data + 3, split);
		put_file("dovecot.index.log", data + 3 + split,
		         size - 3 - split);
		break;
	case 4: {
		char *path = mf_strdup_printf("%s/mailbox.log", fuzz_dir), *err;
		struct mf_mailbox_log_rec *recs;
		uint32_t n;

		put_file("mailbox.log", data + 3, size - 3);
		if (mf_mailbox_log_read(path, &recs, &n, &err) == 0)
			free(recs);
		else
			free(err);
		free(path);
		dump("mailbox.log");
		return 0;
	}
	default: {
		char *path = mf_strdup_printf("%s/subscriptions", fuzz_dir),
		     *err;
		char **names;
		uint32_t n;

		put_file("subscriptions", data + 3, size - 3);
		if (mf_subscriptions_read(path, '/', &names, &n, &err) == 0)
			mf_subscriptions_free(&names);
		else
			free(err);
		free(path);
		dump("subscriptions");
		return 0;
	}
	}
	read_index();
	if (write)
		write_on_top();
	dump("dovecot.index");
	dump("dovecot.index.log");
	dump("dovecot.index.log.2");
	return 0;
}
