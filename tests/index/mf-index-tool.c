/* SPDX-License-Identifier: MIT */
/*
 * mf-index-tool - test helper: prints what core/index reads from an index
 * directory and applies changes through it, so shell tests can compare
 * with doveadm.
 *
 *   mf-index-tool state DIR [PREFIX]        status line + one line per mail
 *   mf-index-tool changes DIR PREFIX SINCE [skip-sync]
 *   mf-index-tool expunges DIR PREFIX SINCE [skip-sync]
 *   mf-index-tool write DIR PREFIX [-e] [-s] OP...
 *       OP: +UID:FLAG  -UID:FLAG  (FLAG = \Seen.. or a keyword)
 *           expunge:UID[:GUIDHEX]  append:UID:MASK  kwreset:UID
 *           uidvalidity:N  nextuid:N  modseq:UID:N  modseq-enable
 *           ext-intro:NAME:HDR:REC:ALIGN  ext-rec:NAME:UID:HEX
 *           ext-hdr:NAME:OFF:HEX  ext-inc:NAME:UID:DIFF  write-main
 *   mf-index-tool dump FILE                 mf_dump_file()
 * Environment: MF_INDEX_ROTATE_MAX, MF_INDEX_REWRITE_MIN (bytes) override
 * the log rotation and index rewrite thresholds.
 *   mf-index-tool stress DIR PREFIX COUNT SEED [DELAY_MS]  COUNT random flag/keyword
 *       toggles (one transaction each); prints "uid op" lines it applied
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mf-alloc.h"
#include "mf-dump.h"
#include "mf-hex.h"
#include "mf-index.h"

static const char *const flag_names[] = {"\\Answered", "\\Flagged", "\\Deleted",
                                         "\\Seen", "\\Draft"};

static int flag_bit(const char *name)
{
	for (int i = 0; i < 5; i++) {
		if (strcasecmp(name, flag_names[i]) == 0)
			return 1 << i;
	}
	return 0;
}

static void print_flags(struct mf_index *index, uint32_t seq)
{
	const struct mf_index_rec *rec = mf_index_rec_at(index, seq);
	const char *const *kws;
	uint32_t n;
	bool first = true;

	for (int i = 0; i < 5; i++) {
		if ((rec->flags & (1 << i)) != 0) {
			printf("%s%s", first ? "" : " ", flag_names[i]);
			first = false;
		}
	}
	kws = mf_index_keywords(index, &n);
	for (uint32_t k = 0; k < n; k++) {
		if (mf_index_rec_has_keyword(index, seq, k)) {
			printf("%s%s", first ? "" : " ", kws[k]);
			first = false;
		}
	}
}

static int open_index(const char *dir, const char *prefix, bool write,
                      struct mf_index **index_r)
{
	struct mf_index_settings set;
	const char *env;
	char *error = NULL;
	int ret;

	/* tests shrink the thresholds to exercise rotation and rewrites */
	memset(&set, 0, sizeof(set));
	if ((env = getenv("MF_INDEX_ROTATE_MAX")) != NULL)
		set.log_rotate_max_size = (uint32_t)strtoul(env, NULL, 10);
	if ((env = getenv("MF_INDEX_REWRITE_MIN")) != NULL)
		set.rewrite_min_log_bytes = (uint32_t)strtoul(env, NULL, 10);
	ret = mf_index_open(dir, prefix,
	                    write ? MF_INDEX_OPEN_KEEP_BACKUPS |
	                                MF_INDEX_OPEN_CREATE
	                          : MF_INDEX_OPEN_READONLY,
	                    &set, index_r, &error);
	if (ret < 0) {
		fprintf(stderr, "mf-index-tool: %s\n", error);
		free(error);
	}
	return ret;
}

static int cmd_state(const char *dir, const char *prefix)
{
	struct mf_index *index;
	const struct mf_index_header *hdr;
	const struct mf_index_ext *ext;
	char hex[MF_GUID128_HEX_LEN] = "";

	if (open_index(dir, prefix, false, &index) < 0)
		return 1;
	hdr = mf_index_get_header(index);
	if ((ext = mf_index_ext_find(index, "dbox-hdr")) != NULL &&
	    ext->hdr_size >= 20)
		mf_guid128_to_hex(ext->hdr + 4, hex);
	else if ((ext = mf_index_ext_find(index, "mdbox-hdr")) != NULL &&
	         ext->hdr_size >= 20)
		mf_guid128_to_hex(ext->hdr + 4, hex);
	printf("messages=%u uidnext=%u uidvalidity=%u highestmodseq=%llu "
	       "guid=%s\n",
	       hdr->messages_count, hdr->next_uid, hdr->uid_validity,
	       (unsigned long long)mf_index_highest_modseq(index), hex);
	ext = mf_index_ext_find(index, "guid");
	for (uint32_t seq = 1; seq <= mf_index_count(index); seq++) {
		const struct mf_index_rec *rec = mf_index_rec_at(index, seq);
		uint32_t uid = rec->uid;
		unsigned long long modseq = (unsigned long long)rec->modseq;

		printf("%u\t", uid);
		print_flags(index, seq);
		printf("\t%llu", modseq);
		if (ext != NULL && ext->record_size == 16) {
			mf_guid128_to_hex(mf_index_rec_ext(index, seq, ext),
			                  hex);
			printf("\t%s", hex);
		}
		printf("\n");
	}
	mf_index_close(&index);
	return 0;
}

static int cmd_changes(const char *dir, const char *prefix, const char *since,
                       bool skip_sync, bool expunges)
{
	struct mf_index *index;
	uint64_t n = strtoull(since, NULL, 10);
	int ret;

	if (open_index(dir, prefix, false, &index) < 0)
		return 1;
	if (expunges) {
		struct mf_index_expunge *e;
		uint32_t count;

		ret = mf_index_expunges_since(
		    index, n, skip_sync ? MF_INDEX_CHANGES_SKIP_SYNC : 0, &e,
		    &count);
		for (uint32_t i = 0; ret == 0 && i < count; i++) {
			char hex[MF_GUID128_HEX_LEN] = "-";

			if (e[i].have_guid)
				mf_guid128_to_hex(e[i].guid, hex);
			printf("expunged %u %s %llu\n", e[i].uid, hex,
			       (unsigned long long)e[i].modseq);
		}
		if (ret == 0)
			free(e);
	} else {
		struct mf_index_changes ch;
		const char *const *kws;
		uint32_t nk;

		ret = mf_index_changes_since(
		    index, n, skip_sync ? MF_INDEX_CHANGES_SKIP_SYNC : 0, &ch);
		kws = mf_index_keywords(index, &nk);
		for (uint32_t i = 0; ret == 0 && i < ch.count; i++) {
			const struct mf_index_change *c = &ch.items[i];

			printf("changed %u%s +0x%02x -0x%02x", c->uid,
			       c->appended ? " appended" : "", c->flags_added,
			       c->flags_removed);
			for (uint32_t k = 0; k < c->kw_added_count; k++)
				printf(" +%s", kws[c->kw_added[k]]);
			for (uint32_t k = 0; k < c->kw_removed_count; k++)
				printf(" -%s", kws[c->kw_removed[k]]);
			printf(" %llu\n", (unsigned long long)c->modseq);
		}
		if (ret == 0) {
			printf("max_modseq %llu\n",
			       (unsigned long long)ch.max_modseq);
			mf_index_changes_free(&ch);
		}
	}
	if (ret < 0) {
		printf("error %d %s\n", ret, mf_index_last_error(index));
		fprintf(stderr, "mf-index-tool: %s\n",
		        mf_index_last_error(index));
	}
	mf_index_close(&index);
	return ret == MF_INDEX_ERR_NOHISTORY ? 3 : ret < 0 ? 1 : 0;
}

static int hex_bytes(const char *hex, uint8_t **out_r, uint32_t *len_r)
{
	size_t len = strlen(hex) / 2;

	*out_r = mf_calloc(1, len + 1);
	*len_r = (uint32_t)len;
	return mf_hex_decode(hex, *out_r, len);
}

static int apply_op(struct mf_index *index, struct mf_index_trans *t,
                    const char *op)
{
	char name[256];
	unsigned int a, b, c;
	unsigned long long v;
	char hexbuf[1024];
	int d;

	if ((op[0] == '+' || op[0] == '-') &&
	    sscanf(op + 1, "%u:%255s", &a, name) == 2) {
		int bit = flag_bit(name);

		if (bit != 0)
			mf_index_trans_flags(t, a, a,
			                     op[0] == '+' ? (uint8_t)bit : 0,
			                     op[0] == '-' ? (uint8_t)bit : 0);
		else
			mf_index_trans_keyword(t, name, op[0] == '+', a, a);
		return 0;
	}
	if (sscanf(op, "expunge:%u:%32s", &a, name) == 2) {
		uint8_t guid[16];

		if (mf_guid128_from_hex(name, guid) < 0)
			return -1;
		mf_index_trans_expunge(t, a, guid);
		return 0;
	}
	if (sscanf(op, "expunge:%u", &a) == 1) {
		mf_index_trans_expunge(t, a, NULL);
		return 0;
	}
	if (sscanf(op, "append:%u:%u", &a, &b) == 2)
		return mf_index_trans_append(t, a, (uint8_t)b, NULL);
	if (sscanf(op, "kwreset:%u", &a) == 1) {
		mf_index_trans_keyword_reset(t, a, a);
		return 0;
	}
	if (sscanf(op, "uidvalidity:%u", &a) == 1) {
		mf_index_trans_set_uid_validity(t, a);
		return 0;
	}
	if (sscanf(op, "nextuid:%u", &a) == 1) {
		mf_index_trans_set_next_uid(t, a);
		return 0;
	}
	if (sscanf(op, "modseq:%u:%llu", &a, &v) == 2) {
		mf_index_trans_modseq(t, a, v);
		return 0;
	}
	if (sscanf(op, "ext-intro:%255[^:]:%u:%u:%u", name, &a, &b, &c) == 4) {
		mf_index_trans_ext_intro(t, name, a, (uint16_t)b, (uint16_t)c);
		return 0;
	}
	if (sscanf(op, "ext-rec:%255[^:]:%u:%1023s", name, &a, hexbuf) == 3) {
		uint8_t *data;
		uint32_t len;

		if (hex_bytes(hexbuf, &data, &len) < 0) {
			free(data);
			return -1;
		}
		mf_index_trans_ext_rec(t, name, a, data);
		free(data);
		return 0;
	}
	if (sscanf(op, "ext-hdr:%255[^:]:%u:%1023s", name, &a, hexbuf) == 3) {
		uint8_t *data;
		uint32_t len;

		if (hex_bytes(hexbuf, &data, &len) < 0) {
			free(data);
			return -1;
		}
		mf_index_trans_ext_hdr(t, name, a, data, len);
		free(data);
		return 0;
	}
	if (sscanf(op, "ext-inc:%255[^:]:%u:%d", name, &a, &d) == 3) {
		mf_index_trans_ext_atomic_inc(t, name, a, d);
		return 0;
	}
	(void)index;
	return -1;
}

static int cmd_write(const char *dir, const char *prefix, int argc, char **argv)
{
	struct mf_index *index;
	struct mf_index_trans *t;
	enum mf_index_trans_flags flags = 0;
	int i = 0, ret;

	if (open_index(dir, prefix, true, &index) < 0)
		return 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0' &&
	       (argv[i][1] == 'e' || argv[i][1] == 's') && argv[i][2] == '\0';
	     i++)
		flags |= argv[i][1] == 'e' ? MF_INDEX_TRANS_EXTERNAL
		                           : MF_INDEX_TRANS_SYNC;
	if (i < argc && strcmp(argv[i], "modseq-enable") == 0) {
		ret = mf_index_modseq_enable(index);
		goto done;
	}
	if (i < argc && strcmp(argv[i], "write-main") == 0) {
		ret = mf_index_write_main(index);
		goto done;
	}
	t = mf_index_trans_begin(index, flags);
	for (; i < argc; i++) {
		if (apply_op(index, t, argv[i]) < 0) {
			fprintf(stderr, "mf-index-tool: bad op %s: %s\n",
			        argv[i], mf_index_last_error(index));
			mf_index_trans_rollback(&t);
			mf_index_close(&index);
			return 1;
		}
	}
	ret = mf_index_trans_commit(&t);
done:
	if (ret < 0)
		fprintf(stderr, "mf-index-tool: commit failed: %s\n",
		        mf_index_last_error(index));
	mf_index_close(&index);
	return ret < 0 ? 1 : 0;
}

static int cmd_stress(const char *dir, const char *prefix, unsigned count,
                      unsigned seed, unsigned delay_ms)
{
	struct mf_index *index;
	static const char *const kws[] = {"mfA", "mfB", "mfC"};

	if (open_index(dir, prefix, true, &index) < 0)
		return 1;
	srand(seed);
	for (unsigned i = 0; i < count; i++) {
		struct mf_index_trans *t;
		uint32_t n, seq, uid;
		int r = rand();

		if (mf_index_refresh(index) < 0 ||
		    (n = mf_index_count(index)) == 0)
			break;
		seq = (uint32_t)(r % (int)n) + 1;
		uid = mf_index_rec_at(index, seq)->uid;
		t = mf_index_trans_begin(index, MF_INDEX_TRANS_EXTERNAL);
		switch ((r / 7) % 4) {
		case 0:
			mf_index_trans_flags(t, uid, uid, MF_INDEX_FLAG_FLAGGED,
			                     0);
			printf("%u +\\Flagged\n", uid);
			break;
		case 1:
			mf_index_trans_flags(t, uid, uid, 0,
			                     MF_INDEX_FLAG_FLAGGED);
			printf("%u -\\Flagged\n", uid);
			break;
		case 2:
			mf_index_trans_keyword(t, kws[(r / 29) % 3], true, uid,
			                       uid);
			printf("%u +%s\n", uid, kws[(r / 29) % 3]);
			break;
		default:
			mf_index_trans_keyword(t, kws[(r / 29) % 3], false, uid,
			                       uid);
			printf("%u -%s\n", uid, kws[(r / 29) % 3]);
			break;
		}
		if (mf_index_trans_commit(&t) < 0) {
			fprintf(stderr, "mf-index-tool: commit failed: %s\n",
			        mf_index_last_error(index));
			mf_index_close(&index);
			return 1;
		}
		fflush(stdout);
		if (delay_ms > 0) {
			struct timespec ts = {0, (long)delay_ms * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
	mf_index_close(&index);
	return 0;
}

int main(int argc, char **argv)
{
	const char *prefix = "dovecot.index";

	if (argc >= 3 && strcmp(argv[1], "dump") == 0) {
		struct mf_buf out = MF_BUF_INIT;
		char *error = NULL;
		int ret = mf_dump_file(argv[2], &out, &error);

		fputs(mf_buf_str(&out), stdout);
		mf_buf_free(&out);
		if (ret < 0) {
			fprintf(stderr, "mf-index-tool: %s\n", error);
			free(error);
			return 1;
		}
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "state") == 0)
		return cmd_state(argv[2], argc >= 4 ? argv[3] : prefix);
	if (argc >= 5 && strcmp(argv[1], "changes") == 0)
		return cmd_changes(
		    argv[2], argv[3], argv[4],
		    argc >= 6 && strcmp(argv[5], "skip-sync") == 0, false);
	if (argc >= 5 && strcmp(argv[1], "expunges") == 0)
		return cmd_changes(
		    argv[2], argv[3], argv[4],
		    argc >= 6 && strcmp(argv[5], "skip-sync") == 0, true);
	if (argc >= 4 && strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], argv[3], argc - 4, argv + 4);
	if (argc >= 6 && strcmp(argv[1], "stress") == 0)
		return cmd_stress(
		    argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10),
		    (unsigned)strtoul(argv[5], NULL, 10),
		    argc >= 7 ? (unsigned)strtoul(argv[6], NULL, 10) : 0);
	fprintf(stderr, "usage: mf-index-tool state|changes|expunges|write|"
	                "stress DIR ...\n");
	return 2;
}
