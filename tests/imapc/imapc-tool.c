/* SPDX-License-Identifier: MIT */
/*
 * imapc-tool.c - drive a store through the core loader and the driver ABI
 * for the imapc shell tests: append, copy every mailbox from one store to
 * another (a minimal one-way copy into an empty destination), flag changes,
 * expunges, tree changes, change listings, a memory-bounded stream read,
 * server-side copies and moves inside a mailbox (the copy slot, with the
 * expunge of the source in the same transaction for a move) and a pause
 * between operations (keepalive).
 *
 *   imapc-tool [-o KEY=VALUE]... COMMAND LOCATION ARGS...
 *
 * Exit status: 0 ok, 1 failure (the error on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-driver.h"
#include "mf-file.h"
#include "mf-settings.h"

static struct mf_settings *settings;

static struct mf_storage *open_store(const char *location, uint32_t flags)
{
	struct mf_storage *storage;
	char *error;

	if (mf_storage_open(location, settings, "test", NULL, flags, &storage,
	                    &error) < 0) {
		fprintf(stderr, "imapc-tool: %s\n", error);
		exit(1);
	}
	return storage;
}

static void die(struct mf_storage *storage, const char *what, int ret)
{
	fprintf(stderr, "imapc-tool: %s failed (%s): %s\n", what,
	        mf_error_name(ret), mf_storage_error(storage));
	exit(1);
}

static struct mailferry_mailbox *open_box(struct mf_storage *s,
                                          const char *name, uint32_t flags)
{
	struct mailferry_mailbox *box;
	int ret = s->ops->mailbox_open(s->st, name, flags, &box);

	if (ret < 0)
		die(s, "mailbox_open", ret);
	return box;
}

static void parse_range(const char *str, struct mailferry_uid_range *r)
{
	char *end;

	r->first = (uint32_t)strtoul(str, &end, 10);
	r->last = *end == ':' ? (uint32_t)strtoul(end + 1, NULL, 10) : r->first;
}

static int cmd_append(int argc, char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_mailbox *box = open_box(s, argv[1], 0);
	struct mailferry_trans *trans;
	struct mailferry_commit_result result = {.struct_size = sizeof(result)};
	const char *delay = getenv("IMAPC_TOOL_SAVE_DELAY_MS");
	int ret;

	if ((ret = s->ops->trans_begin(box, 0, &trans)) < 0)
		die(s, "trans_begin", ret);
	for (int i = 2; i < argc; i++) {
		struct mf_buf data = MF_BUF_INIT;
		char *error;
		if (mf_file_read_all(argv[i], &data, &error) < 0) {
			fprintf(stderr, "imapc-tool: %s\n", error);
			return 1;
		}
		struct mailferry_save save = {.struct_size = sizeof(save),
		                              .size_hint = data.len};
		if ((ret = s->ops->save_begin(trans, &save)) < 0 ||
		    (ret = s->ops->save_write(trans, data.data, data.len)) <
		        0 ||
		    (ret = s->ops->save_finish(trans)) < 0)
			die(s, "save", ret);
		mf_buf_free(&data);
		if (delay != NULL) {
			long ms = atol(delay);
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	ret = s->ops->trans_commit(&trans, &result);
	if (ret < 0)
		fprintf(stderr, "imapc-tool: commit failed (%s): %s\n",
		        mf_error_name(ret), mf_storage_error(s));
	for (size_t i = 0; i < result.saved_count; i++)
		printf("%u\n", result.saved_uids[i]);
	s->ops->mailbox_close(&box);
	mf_storage_close(&s);
	return ret < 0 ? 1 : 0;
}

/* Copy one mailbox's messages (body, flags, keywords, received date). */
static size_t copy_box(struct mf_storage *src, struct mf_storage *dst,
                       const char *name)
{
	struct mailferry_mailbox *sbox =
	    open_box(src, name, MAILFERRY_MAILBOX_READONLY);
	struct mailferry_mailbox *dbox = open_box(dst, name, 0);
	struct mailferry_msg_query q = {
	    .struct_size = sizeof(q),
	    .uid_first = 0,
	    .uid_last = UINT32_MAX,
	    .fields = MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_RECEIVED,
	};
	struct mailferry_msg_iter *iter;
	struct mailferry_trans *trans;
	const struct mailferry_msg *msg;
	struct mailferry_commit_result result = {.struct_size = sizeof(result)};
	size_t count = 0;
	char buf[65536];
	int ret;

	if ((ret = src->ops->msg_iter_begin(sbox, &q, &iter)) < 0)
		die(src, "msg_iter_begin", ret);
	if ((ret = dst->ops->trans_begin(dbox, 0, &trans)) < 0)
		die(dst, "trans_begin", ret);
	while ((ret = src->ops->msg_iter_next(iter, &msg)) > 0) {
		struct mailferry_stream *stream;
		struct mailferry_save save = {
		    .struct_size = sizeof(save),
		    .flags = msg->flags & MAILFERRY_FLAGS_MASK,
		    .keywords = msg->keywords,
		    .received_date = msg->received_date,
		    .size_hint = UINT64_MAX,
		};
		size_t n;

		if ((ret = src->ops->msg_open(sbox, msg->uid, 0, &stream)) < 0)
			die(src, "msg_open", ret);
		if ((ret = dst->ops->save_begin(trans, &save)) < 0)
			die(dst, "save_begin", ret);
		while ((ret = src->ops->stream_read(stream, buf, sizeof(buf),
		                                    &n)) == 0 &&
		       n > 0) {
			if ((ret = dst->ops->save_write(trans, buf, n)) < 0)
				die(dst, "save_write", ret);
		}
		if (ret < 0)
			die(src, "stream_read", ret);
		src->ops->stream_close(&stream);
		if ((ret = dst->ops->save_finish(trans)) < 0)
			die(dst, "save_finish", ret);
		count++;
	}
	if (ret < 0)
		die(src, "msg_iter_next", ret);
	src->ops->msg_iter_end(&iter);
	if ((ret = dst->ops->trans_commit(&trans, &result)) < 0)
		die(dst, "trans_commit", ret);
	src->ops->mailbox_close(&sbox);
	dst->ops->mailbox_close(&dbox);
	return count;
}

static int cmd_copy(int argc, char **argv)
{
	struct mf_storage *src = open_store(argv[0], 0);
	struct mf_storage *dst = open_store(argv[1], MAILFERRY_STORAGE_CREATE);
	struct mailferry_list_iter *iter;
	const struct mailferry_mailbox_info *info;
	MF_ARRAY(char *) names = MF_ARRAY_INIT;
	int ret;

	(void)argc;
	if ((ret = src->ops->mailbox_list_begin(src->st, 0, &iter)) < 0)
		die(src, "mailbox_list_begin", ret);
	while ((ret = src->ops->mailbox_list_next(iter, &info)) > 0) {
		if ((info->flags & MAILFERRY_MAILBOX_NOSELECT) == 0)
			mf_array_push(&names, mf_strdup(info->name));
	}
	if (ret < 0 || (ret = src->ops->mailbox_list_end(&iter)) < 0)
		die(src, "mailbox_list", ret);
	for (size_t i = 0; i < names.count; i++) {
		struct mailferry_mailbox_create c = {.struct_size = sizeof(c)};
		ret = dst->ops->mailbox_create(dst->st, names.items[i], &c);
		if (ret < 0 && ret != MAILFERRY_E_EXISTS)
			die(dst, "mailbox_create", ret);
		size_t n = copy_box(src, dst, names.items[i]);
		printf("%s: %zu\n", names.items[i], n);
		free(names.items[i]);
	}
	mf_array_free(&names);
	mf_storage_close(&src);
	mf_storage_close(&dst);
	return 0;
}

static uint32_t parse_flags(const char *str)
{
	uint32_t flags = 0;

	if (strstr(str, "seen") != NULL)
		flags |= MAILFERRY_FLAG_SEEN;
	if (strstr(str, "flagged") != NULL)
		flags |= MAILFERRY_FLAG_FLAGGED;
	if (strstr(str, "answered") != NULL)
		flags |= MAILFERRY_FLAG_ANSWERED;
	if (strstr(str, "deleted") != NULL)
		flags |= MAILFERRY_FLAG_DELETED;
	if (strstr(str, "draft") != NULL)
		flags |= MAILFERRY_FLAG_DRAFT;
	return flags;
}

/* flags LOC BOX RANGE add|remove|replace FLAGWORDS [KEYWORD...]; several
 * "RANGE MODE FLAGS KW..." groups may follow, separated by "--". */
static int cmd_flags(int argc, char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_mailbox *box = open_box(s, argv[1], 0);
	struct mailferry_trans *trans;
	int ret, i = 2;

	if ((ret = s->ops->trans_begin(box, 0, &trans)) < 0)
		die(s, "trans_begin", ret);
	while (i + 2 < argc + 1 && i < argc) {
		struct mailferry_uid_range r;
		struct mailferry_uidset set = {&r, 1};
		const char *kw[16];
		size_t nkw = 0;
		parse_range(argv[i], &r);
		enum mailferry_modify mode =
		    strcmp(argv[i + 1], "add") == 0 ? MAILFERRY_MODIFY_ADD
		    : strcmp(argv[i + 1], "remove") == 0
		        ? MAILFERRY_MODIFY_REMOVE
		        : MAILFERRY_MODIFY_REPLACE;
		uint32_t flags = parse_flags(argv[i + 2]);
		i += 3;
		while (i < argc && strcmp(argv[i], "--") != 0 && nkw < 15)
			kw[nkw++] = argv[i++];
		kw[nkw] = NULL;
		if (i < argc)
			i++; /* "--" */
		if ((ret = s->ops->update_flags(trans, &set, mode, flags,
		                                nkw > 0 ? kw : NULL)) < 0)
			die(s, "update_flags", ret);
	}
	if ((ret = s->ops->trans_commit(&trans, NULL)) < 0)
		die(s, "trans_commit", ret);
	s->ops->mailbox_close(&box);
	mf_storage_close(&s);
	return 0;
}

static int cmd_expunge(int argc, char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_mailbox *box = open_box(s, argv[1], 0);
	struct mailferry_trans *trans;
	struct mailferry_uid_range r[16];
	struct mailferry_uidset set = {r, 0};
	int ret;

	for (int i = 2; i < argc && set.count < 16; i++)
		parse_range(argv[i], &r[set.count++]);
	if ((ret = s->ops->trans_begin(box, 0, &trans)) < 0)
		die(s, "trans_begin", ret);
	if ((ret = s->ops->expunge(trans, &set)) < 0)
		die(s, "expunge", ret);
	if ((ret = s->ops->trans_commit(&trans, NULL)) < 0)
		die(s, "trans_commit", ret);
	s->ops->mailbox_close(&box);
	mf_storage_close(&s);
	return 0;
}

/* dup|move LOC BOX UID...: copy each UID inside BOX with the copy slot
 * (flags and keywords as listed); "move" also expunges the sources in the
 * same transaction. Prints the new UIDs. */
static int cmd_copy_in(bool move, int argc, char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_mailbox *box = open_box(s, argv[1], 0);
	struct mailferry_msg_query q = {
	    .struct_size = sizeof(q),
	    .uid_first = 1,
	    .uid_last = UINT32_MAX,
	    .fields = MAILFERRY_FIELD_FLAGS,
	};
	struct mailferry_commit_result result = {.struct_size = sizeof(result)};
	struct mailferry_msg_iter *iter;
	struct mailferry_trans *trans;
	const struct mailferry_msg *msg;
	int ret;

	if (!MF_HAS_OP(s, copy)) {
		fprintf(stderr, "imapc-tool: the driver has no copy slot\n");
		return 1;
	}
	if ((ret = s->ops->trans_begin(box, 0, &trans)) < 0)
		die(s, "trans_begin", ret);
	if ((ret = s->ops->msg_iter_begin(box, &q, &iter)) < 0)
		die(s, "msg_iter_begin", ret);
	while ((ret = s->ops->msg_iter_next(iter, &msg)) > 0) {
		for (int i = 2; i < argc; i++) {
			struct mailferry_uid_range r;
			struct mailferry_uidset set = {&r, 1};
			if ((uint32_t)strtoul(argv[i], NULL, 10) != msg->uid)
				continue;
			struct mailferry_save save = {
			    .struct_size = sizeof(save),
			    .flags = msg->flags & MAILFERRY_FLAGS_MASK,
			    .keywords = msg->keywords,
			    .size_hint = UINT64_MAX,
			};
			if ((ret = s->ops->copy(trans, box, msg->uid, &save)) <
			    0)
				die(s, "copy", ret);
			r.first = r.last = msg->uid;
			if (move && (ret = s->ops->expunge(trans, &set)) < 0)
				die(s, "expunge", ret);
		}
	}
	if (ret < 0)
		die(s, "msg_iter_next", ret);
	s->ops->msg_iter_end(&iter);
	if ((ret = s->ops->trans_commit(&trans, &result)) < 0)
		die(s, "trans_commit", ret);
	for (size_t i = 0; i < result.saved_count; i++)
		printf("%u\n", result.saved_uids[i]);
	s->ops->mailbox_close(&box);
	mf_storage_close(&s);
	return 0;
}

/* idle LOC BOX SECS: list BOX, sit idle for SECS outside the driver
 * (as when the other store is slow), then list it and read its first
 * message again. Prints the message count both times. */
static int cmd_idle(char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_mailbox *box =
	    open_box(s, argv[1], MAILFERRY_MAILBOX_READONLY);
	struct mailferry_msg_query q = {
	    .struct_size = sizeof(q),
	    .uid_first = 1,
	    .uid_last = UINT32_MAX,
	};
	struct mailferry_mailbox_status st;
	int ret;

	for (int round = 0; round < 2; round++) {
		struct mailferry_msg_iter *iter;
		const struct mailferry_msg *msg;
		uint32_t first = 0;
		size_t n = 0;
		if (round == 1) {
			long ms = (long)(atof(argv[2]) * 1000);
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
			while (nanosleep(&ts, &ts) < 0)
				;
			if ((ret = s->ops->mailbox_status(box, &st)) < 0)
				die(s, "mailbox_status", ret);
		}
		if ((ret = s->ops->msg_iter_begin(box, &q, &iter)) < 0)
			die(s, "msg_iter_begin", ret);
		while ((ret = s->ops->msg_iter_next(iter, &msg)) > 0) {
			if (first == 0)
				first = msg->uid;
			n++;
		}
		if (ret < 0)
			die(s, "msg_iter_next", ret);
		s->ops->msg_iter_end(&iter);
		if (first != 0) {
			struct mailferry_stream *stream;
			char buf[4096];
			size_t len;
			if ((ret = s->ops->msg_open(box, first, 0, &stream)) <
			    0)
				die(s, "msg_open", ret);
			while ((ret = s->ops->stream_read(
			            stream, buf, sizeof(buf), &len)) == 0 &&
			       len > 0)
				;
			if (ret < 0)
				die(s, "stream_read", ret);
			s->ops->stream_close(&stream);
		}
		printf("%zu\n", n);
		fflush(stdout);
	}
	s->ops->mailbox_close(&box);
	mf_storage_close(&s);
	return 0;
}

static int cmd_tree(const char *cmd, int argc, char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	int ret;

	if (strcmp(cmd, "create") == 0) {
		/* create LOC NAME [sent,trash,...]: special-use to record */
		struct mailferry_mailbox_create c = {.struct_size = sizeof(c)};
		if (argc > 2) {
			static const struct {
				const char *word;
				uint32_t bit;
			} su[] = {{"all", MAILFERRY_SPECIAL_ALL},
			          {"archive", MAILFERRY_SPECIAL_ARCHIVE},
			          {"drafts", MAILFERRY_SPECIAL_DRAFTS},
			          {"flagged", MAILFERRY_SPECIAL_FLAGGED},
			          {"junk", MAILFERRY_SPECIAL_JUNK},
			          {"sent", MAILFERRY_SPECIAL_SENT},
			          {"trash", MAILFERRY_SPECIAL_TRASH}};
			for (size_t k = 0; k < MF_N_ELEMENTS(su); k++) {
				if (strstr(argv[2], su[k].word) != NULL)
					c.special_use |= su[k].bit;
			}
		}
		ret = s->ops->mailbox_create(s->st, argv[1], &c);
	} else if (strcmp(cmd, "delete") == 0) {
		ret = s->ops->mailbox_delete(s->st, argv[1], 0);
	} else if (strcmp(cmd, "rename") == 0 && argc > 2) {
		ret = s->ops->mailbox_rename(s->st, argv[1], argv[2]);
	} else if (strcmp(cmd, "subscribe") == 0) {
		ret = s->ops->mailbox_set_subscribed(s->st, argv[1], 1);
	} else {
		ret = s->ops->mailbox_set_subscribed(s->st, argv[1], 0);
	}
	if (ret < 0)
		die(s, cmd, ret);
	mf_storage_close(&s);
	return 0;
}

static int cmd_subscriptions(char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_subs_iter *iter;
	const char *name;
	int ret;

	if ((ret = s->ops->subscriptions_begin(s->st, &iter)) < 0)
		die(s, "subscriptions_begin", ret);
	while ((ret = s->ops->subscriptions_next(iter, &name)) > 0)
		printf("%s\n", name);
	s->ops->subscriptions_end(&iter);
	mf_storage_close(&s);
	return ret < 0 ? 1 : 0;
}

/* changes LOC BOX MODSEQ: messages changed since MODSEQ and expunges. */
static int cmd_changes(char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_mailbox *box =
	    open_box(s, argv[1], MAILFERRY_MAILBOX_READONLY);
	struct mailferry_msg_query q = {
	    .struct_size = sizeof(q),
	    .uid_last = UINT32_MAX,
	    .fields = MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_MODSEQ,
	    .changed_since = strtoull(argv[2], NULL, 10),
	};
	struct mailferry_msg_iter *iter;
	struct mailferry_expunge_iter *eiter;
	const struct mailferry_msg *msg;
	const struct mailferry_expunge *exp;
	int ret;

	ret = s->ops->msg_iter_begin(box, &q, &iter);
	if (ret == MAILFERRY_E_NOHISTORY) {
		printf("changes: no history\n");
		q.changed_since = 0;
		ret = s->ops->msg_iter_begin(box, &q, &iter);
	}
	if (ret < 0)
		die(s, "msg_iter_begin", ret);
	while ((ret = s->ops->msg_iter_next(iter, &msg)) > 0)
		printf("changed %u flags=%u modseq=%llu\n", msg->uid,
		       msg->flags & MAILFERRY_FLAGS_MASK,
		       (unsigned long long)msg->modseq);
	s->ops->msg_iter_end(&iter);
	ret = s->ops->expunge_iter_begin(box, q.changed_since, &eiter);
	if (ret == MAILFERRY_E_NOTSUPP) {
		printf("expunges not supported\n");
	} else if (ret < 0) {
		die(s, "expunge_iter_begin", ret);
	} else {
		while ((ret = s->ops->expunge_iter_next(eiter, &exp)) > 0)
			printf("expunged %u\n", exp->uid);
		s->ops->expunge_iter_end(&eiter);
	}
	s->ops->mailbox_close(&box);
	mf_storage_close(&s);
	return 0;
}

/* stream LOC BOX UID [header]: read the message (or only its header) 4 KB
 * at a time; print its size, SHA-256 and the process's peak RSS in KB. */
static int cmd_stream(char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_mailbox *box =
	    open_box(s, argv[1], MAILFERRY_MAILBOX_READONLY);
	struct mailferry_stream *stream;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char buf[4096], hex[2 * EVP_MAX_MD_SIZE + 1];
	uint64_t total = 0;
	size_t n;
	int ret;

	uint32_t oflags = argv[3] != NULL && strcmp(argv[3], "header") == 0
	                      ? MAILFERRY_OPEN_HEADER_ONLY
	                      : 0;
	if ((ret = s->ops->msg_open(box, (uint32_t)atol(argv[2]), oflags,
	                            &stream)) < 0)
		die(s, "msg_open", ret);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((ret = s->ops->stream_read(stream, buf, sizeof(buf), &n)) == 0 &&
	       n > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		total += n;
	}
	if (ret < 0)
		die(s, "stream_read", ret);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("%llu %s %ld\n", (unsigned long long)total, hex, ru.ru_maxrss);
	s->ops->stream_close(&stream);
	s->ops->mailbox_close(&box);
	mf_storage_close(&s);
	return 0;
}

/* list LOC: every mailbox with its flags and special-use bits. */
static int cmd_list(char **argv)
{
	struct mf_storage *s = open_store(argv[0], 0);
	struct mailferry_list_iter *iter;
	const struct mailferry_mailbox_info *info;
	int ret;

	if ((ret = s->ops->mailbox_list_begin(s->st, 0, &iter)) < 0)
		die(s, "mailbox_list_begin", ret);
	while ((ret = s->ops->mailbox_list_next(iter, &info)) > 0)
		printf("%s flags=%u special=%u\n", info->name, info->flags,
		       info->special_use);
	if (ret < 0 || (ret = s->ops->mailbox_list_end(&iter)) < 0)
		die(s, "mailbox_list", ret);
	mf_storage_close(&s);
	return 0;
}

/* info LOC: the storage's capabilities as words. */
static int cmd_info(char **argv)
{
	static const struct {
		uint32_t cap;
		const char *name;
	} names[] = {
	    {MAILFERRY_CAP_MSG_GUIDS, "msg-guids"},
	    {MAILFERRY_CAP_SAVE_GUID, "save-guid"},
	    {MAILFERRY_CAP_SAVE_UID, "save-uid"},
	    {MAILFERRY_CAP_MODSEQ, "modseq"},
	    {MAILFERRY_CAP_CHANGE_LOG, "change-log"},
	    {MAILFERRY_CAP_MAILBOX_GUIDS, "mailbox-guids"},
	    {MAILFERRY_CAP_KEYWORDS, "keywords"},
	    {MAILFERRY_CAP_SUBSCRIPTIONS, "subscriptions"},
	    {MAILFERRY_CAP_READONLY, "readonly"},
	};
	struct mf_storage *s = open_store(argv[0], 0);
	const struct mailferry_storage_info *info;
	int ret = s->ops->storage_info(s->st, &info);

	if (ret < 0)
		die(s, "storage_info", ret);
	printf("sep=%c caps=", info->hier_sep);
	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		if ((info->caps & names[i].cap) != 0)
			printf("%s ", names[i].name);
	}
	printf("\n");
	mf_storage_close(&s);
	return 0;
}

int main(int argc, char **argv)
{
	char *error;
	int i = 1;

	settings = mf_settings_new();
	while (i + 1 < argc && strcmp(argv[i], "-o") == 0) {
		if (mf_settings_set_override(settings, argv[i + 1], &error) <
		    0) {
			fprintf(stderr, "imapc-tool: %s\n", error);
			return 1;
		}
		i += 2;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: imapc-tool [-o K=V]... COMMAND "
		                "LOCATION ARGS...\n");
		return 1;
	}
	mf_drivers_load();
	const char *cmd = argv[i];
	int n = argc - i - 1;
	char **args = argv + i + 1;
	int ret;
	if (strcmp(cmd, "append") == 0 && n >= 2)
		ret = cmd_append(n, args);
	else if (strcmp(cmd, "copy") == 0 && n >= 2)
		ret = cmd_copy(n, args);
	else if (strcmp(cmd, "flags") == 0 && n >= 5)
		ret = cmd_flags(n, args);
	else if (strcmp(cmd, "expunge") == 0 && n >= 3)
		ret = cmd_expunge(n, args);
	else if ((strcmp(cmd, "create") == 0 || strcmp(cmd, "delete") == 0 ||
	          strcmp(cmd, "rename") == 0 || strcmp(cmd, "subscribe") == 0 ||
	          strcmp(cmd, "unsubscribe") == 0) &&
	         n >= 2)
		ret = cmd_tree(cmd, n, args);
	else if (strcmp(cmd, "subscriptions") == 0)
		ret = cmd_subscriptions(args);
	else if (strcmp(cmd, "changes") == 0 && n >= 3)
		ret = cmd_changes(args);
	else if (strcmp(cmd, "list") == 0)
		ret = cmd_list(args);
	else if (strcmp(cmd, "info") == 0)
		ret = cmd_info(args);
	else if (strcmp(cmd, "stream") == 0 && n >= 3)
		ret = cmd_stream(args);
	else if ((strcmp(cmd, "dup") == 0 || strcmp(cmd, "move") == 0) &&
	         n >= 3)
		ret = cmd_copy_in(strcmp(cmd, "move") == 0, n, args);
	else if (strcmp(cmd, "idle") == 0 && n >= 3)
		ret = cmd_idle(args);
	else {
		fprintf(stderr,
		        "imapc-tool: unknown command or missing "
		        "arguments: %s\n",
		        cmd);
		ret = 1;
	}
	mf_settings_free(&settings);
	return ret;
}
