/* SPDX-License-Identifier: MIT */
/*
 * conf-util.c - helpers that drive the ABI for the conformance tests and
 * check the generic rules on the way (iterator exhaustion, stream end,
 * ascending UIDs), so every test gets those checks for free.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "conf.h"

#define CONF_SAVE_CHUNK 4096
#define CONF_BIG_CHUNK (64 * 1024)

const char *conf_name(const struct conf_env *env, const char *name)
{
	static char buf[1024];

	ck_assert_uint_lt(strlen(name), sizeof(buf));
	for (size_t i = 0;; i++) {
		buf[i] = name[i] == '/' ? env->sep : name[i];
		if (name[i] == '\0')
			break;
	}
	return buf;
}

static char *name_from_storage(const struct conf_env *env, const char *name)
{
	char *copy = mf_strdup(name);

	for (char *p = copy; *p != '\0'; p++) {
		if (*p == env->sep)
			*p = '/';
	}
	return copy;
}

void conf_list(struct conf_env *env, uint32_t flags, conf_list_t *list_r)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	const struct mailferry_mailbox_info *info;
	struct mailferry_list_iter *iter = NULL;
	int ret;

	memset(list_r, 0, sizeof(*list_r));
	ret = ops->mailbox_list_begin(CONF_ST(env), flags, &iter);
	ck_assert_msg(ret == 0, "%s: mailbox_list_begin = %d: %s", env->name,
	              ret, CONF_ERR(env));
	while ((ret = ops->mailbox_list_next(iter, &info)) > 0) {
		struct conf_listed *l = mf_array_append_zero(list_r);

		ck_assert_ptr_nonnull(info->name);
		l->name = name_from_storage(env, info->name);
		l->flags = info->flags;
		l->status = info->status;
	}
	ck_assert_msg(ret == 0, "%s: mailbox_list_next = %d: %s", env->name,
	              ret, CONF_ERR(env));
	/* an exhausted iterator stays exhausted */
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(ops->mailbox_list_next(iter, &info), 0);
	ck_assert_int_eq(ops->mailbox_list_end(&iter), 0);
	ck_assert_ptr_null(iter);
}

const struct conf_listed *conf_list_find(const conf_list_t *list,
                                         const char *name)
{
	for (size_t i = 0; i < list->count; i++) {
		if (strcmp(list->items[i].name, name) == 0)
			return &list->items[i];
	}
	return NULL;
}

void conf_list_free(conf_list_t *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i].name);
	mf_array_free(list);
}

struct mailferry_mailbox *conf_box_open(struct conf_env *env, const char *name)
{
	struct mailferry_mailbox *box = NULL;
	int ret;

	ret = CONF_OPS(env)->mailbox_open(CONF_ST(env), conf_name(env, name), 0,
	                                  &box);
	ck_assert_msg(ret == 0, "%s: mailbox_open(%s) = %d: %s", env->name,
	              name, ret, CONF_ERR(env));
	ck_assert_ptr_nonnull(box);
	return box;
}

void conf_box_status(struct conf_env *env, struct mailferry_mailbox *box,
                     struct mailferry_mailbox_status *status_r)
{
	int ret;

	memset(status_r, 0, sizeof(*status_r));
	ret = CONF_OPS(env)->mailbox_status(box, status_r);
	ck_assert_msg(ret == 0, "%s: mailbox_status = %d: %s", env->name, ret,
	              CONF_ERR(env));
	ck_assert_uint_ge(status_r->struct_size,
	                  sizeof(struct mailferry_mailbox_status));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **copy_keywords(const char *const *kw)
{
	size_t n = 0;
	char **copy;

	while (kw != NULL && kw[n] != NULL)
		n++;
	copy = mf_calloc(n + 1, sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		copy[i] = mf_strdup(kw[i]);
	mf_qsort(copy, n, sizeof(*copy), cmp_str);
	return copy;
}

void conf_msgs(struct conf_env *env, struct mailferry_mailbox *box,
               uint32_t first, uint32_t last, uint32_t fields,
               conf_recs_t *recs_r)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_msg_query query;
	struct mailferry_msg_iter *iter = NULL;
	const struct mailferry_msg *msg;
	uint32_t prev = 0;
	int ret;

	memset(recs_r, 0, sizeof(*recs_r));
	memset(&query, 0, sizeof(query));
	query.struct_size = sizeof(query);
	query.uid_first = first;
	query.uid_last = last;
	query.fields = fields;
	ret = ops->msg_iter_begin(box, &query, &iter);
	ck_assert_msg(ret == 0, "%s: msg_iter_begin = %d: %s", env->name, ret,
	              CONF_ERR(env));
	while ((ret = ops->msg_iter_next(iter, &msg)) > 0) {
		struct conf_rec *r = mf_array_append_zero(recs_r);

		ck_assert_msg(msg->uid > prev,
		              "%s: UID %u after %u: not ascending", env->name,
		              msg->uid, prev);
		ck_assert_msg(msg->uid >= first && msg->uid <= last,
		              "%s: UID %u outside the asked range %u:%u",
		              env->name, msg->uid, first, last);
		prev = msg->uid;
		r->uid = msg->uid;
		r->guid = msg->guid == NULL || msg->guid[0] == '\0'
		              ? NULL
		              : mf_strdup(msg->guid);
		r->flags = msg->flags;
		r->keywords = copy_keywords(msg->keywords);
		r->modseq = msg->modseq;
		r->received_date = msg->received_date;
		r->physical_size = msg->physical_size;
		r->virtual_size = msg->virtual_size;
		r->save_date = msg->save_date;
		r->pop3_uidl =
		    msg->pop3_uidl == NULL ? NULL : mf_strdup(msg->pop3_uidl);
		r->pop3_order = msg->pop3_order;
	}
	ck_assert_msg(ret == 0, "%s: msg_iter_next = %d: %s", env->name, ret,
	              CONF_ERR(env));
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(ops->msg_iter_next(iter, &msg), 0);
	ck_assert_int_eq(ops->msg_iter_end(&iter), 0);
	ck_assert_ptr_null(iter);
}

const struct conf_rec *conf_recs_find(const conf_recs_t *recs, uint32_t uid)
{
	for (size_t i = 0; i < recs->count; i++) {
		if (recs->items[i].uid == uid)
			return &recs->items[i];
	}
	return NULL;
}

void conf_recs_free(conf_recs_t *recs)
{
	for (size_t i = 0; i < recs->count; i++) {
		free(recs->items[i].guid);
		free(recs->items[i].pop3_uidl);
		for (char **kw = recs->items[i].keywords; *kw != NULL; kw++)
			free(*kw);
		free(recs->items[i].keywords);
	}
	mf_array_free(recs);
}

char *conf_read_msg(struct conf_env *env, struct mailferry_mailbox *box,
                    uint32_t uid, size_t chunk, size_t *size_r)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_stream *stream = NULL;
	char *data = NULL;
	size_t size = 0, got;
	int ret;

	ret = ops->msg_open(box, uid, 0, &stream);
	ck_assert_msg(ret == 0, "%s: msg_open(%u) = %d: %s", env->name, uid,
	              ret, CONF_ERR(env));
	for (;;) {
		data = mf_realloc(data, size + chunk + 1);
		ret = ops->stream_read(stream, data + size, chunk, &got);
		ck_assert_msg(ret == 0, "%s: stream_read(UID %u) = %d: %s",
		              env->name, uid, ret, CONF_ERR(env));
		ck_assert_uint_le(got, chunk);
		if (got == 0)
			break;
		size += got;
	}
	/* the end stays the end */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(
		    ops->stream_read(stream, data + size, chunk, &got), 0);
		ck_assert_uint_eq(got, 0);
	}
	ops->stream_close(&stream);
	ck_assert_ptr_null(stream);
	data[size] = '\0';
	*size_r = size;
	return data;
}

static void save_begin(struct conf_env *env, struct mailferry_trans *trans,
                       const struct conf_save *s, uint64_t size)
{
	struct mailferry_save save;
	int ret;

	memset(&save, 0, sizeof(save));
	save.struct_size = sizeof(save);
	save.uid = s->uid;
	save.guid = s->guid;
	save.flags = s->flags;
	save.keywords = s->keywords;
	save.received_date = s->received_date;
	save.save_date = s->save_date;
	save.pop3_uidl = s->pop3_uidl;
	save.pop3_order = s->pop3_order;
	save.size_hint = size;
	ret = CONF_OPS(env)->save_begin(trans, &save);
	ck_assert_msg(ret == 0, "%s: save_begin = %d: %s", env->name, ret,
	              CONF_ERR(env));
}

static uint32_t *commit(struct conf_env *env, struct mailferry_trans **trans,
                        size_t n, uint32_t *uidvalidity_r)
{
	struct mailferry_commit_result result;
	uint32_t *uids;
	int ret;

	memset(&result, 0, sizeof(result));
	result.struct_size = sizeof(result);
	ret = CONF_OPS(env)->trans_commit(trans, &result);
	ck_assert_msg(ret == 0, "%s: trans_commit = %d: %s", env->name, ret,
	              CONF_ERR(env));
	ck_assert_ptr_null(*trans);
	ck_assert_uint_eq(result.saved_count, n);
	uids = mf_calloc(n + 1, sizeof(*uids));
	for (size_t i = 0; i < n; i++) {
		uids[i] = result.saved_uids[i];
		ck_assert_msg(uids[i] != 0, "%s: save %zu got no UID",
		              env->name, i);
		ck_assert_msg(i == 0 || uids[i] > uids[i - 1],
		              "%s: saved UIDs not ascending", env->name);
	}
	if (uidvalidity_r != NULL)
		*uidvalidity_r = result.uidvalidity;
	return uids;
}

uint32_t *conf_save_msgs(struct conf_env *env, struct mailferry_mailbox *box,
                         const struct conf_save *saves, size_t n,
                         uint32_t *uidvalidity_r)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_trans *trans = NULL;
	int ret;

	ret = ops->trans_begin(box, 0, &trans);
	ck_assert_msg(ret == 0, "%s: trans_begin = %d: %s", env->name, ret,
	              CONF_ERR(env));
	for (size_t i = 0; i < n; i++) {
		const char *p = saves[i].data;
		size_t left = saves[i].size;

		save_begin(env, trans, &saves[i], saves[i].size);
		/* several writes per message, so drivers that mishandle a
		 * chunk boundary (e.g. a CR at the end of one) show it */
		while (left > 0) {
			size_t n1 =
			    left < CONF_SAVE_CHUNK ? left : CONF_SAVE_CHUNK;
			ret = ops->save_write(trans, p, n1);
			ck_assert_msg(ret == 0, "%s: save_write = %d: %s",
			              env->name, ret, CONF_ERR(env));
			p += n1;
			left -= n1;
		}
		ret = ops->save_finish(trans);
		ck_assert_msg(ret == 0, "%s: save_finish = %d: %s", env->name,
		              ret, CONF_ERR(env));
	}
	return commit(env, &trans, n, uidvalidity_r);
}

uint32_t conf_save_big(struct conf_env *env, struct mailferry_mailbox *box)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_trans *trans = NULL;
	struct conf_big_gen gen = {0};
	struct conf_save s;
	char *buf = mf_malloc(CONF_BIG_CHUNK);
	uint32_t *uids, uid;
	size_t n;
	int ret;

	ret = ops->trans_begin(box, 0, &trans);
	ck_assert_msg(ret == 0, "%s: trans_begin = %d: %s", env->name, ret,
	              CONF_ERR(env));
	memset(&s, 0, sizeof(s));
	save_begin(env, trans, &s, CONF_BIG_SIZE);
	while ((n = conf_big_read(&gen, buf, CONF_BIG_CHUNK)) > 0) {
		ret = ops->save_write(trans, buf, n);
		ck_assert_msg(ret == 0, "%s: save_write(big) = %d: %s",
		              env->name, ret, CONF_ERR(env));
	}
	ret = ops->save_finish(trans);
	ck_assert_msg(ret == 0, "%s: save_finish(big) = %d: %s", env->name, ret,
	              CONF_ERR(env));
	uids = commit(env, &trans, 1, NULL);
	uid = uids[0];
	free(uids);
	free(buf);
	return uid;
}

void conf_check_big(struct conf_env *env, struct mailferry_mailbox *box,
                    uint32_t uid)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_stream *stream = NULL;
	struct conf_big_gen gen = {0};
	char *got = mf_malloc(CONF_BIG_CHUNK);
	char *want = mf_malloc(CONF_BIG_CHUNK);
	uint64_t total = 0, expected = CONF_BIG_SIZE;
	size_t n;
	int ret;

	ret = ops->msg_open(box, uid, 0, &stream);
	ck_assert_msg(ret == 0, "%s: msg_open(big) = %d: %s", env->name, ret,
	              CONF_ERR(env));
	for (;;) {
		ret = ops->stream_read(stream, got, CONF_BIG_CHUNK, &n);
		ck_assert_msg(ret == 0, "%s: stream_read(big) at %llu = %d: %s",
		              env->name, (unsigned long long)total, ret,
		              CONF_ERR(env));
		if (n == 0)
			break;
		if (total == 0 && env->remote && memchr(got, '\r', n) != NULL) {
			/* the server gave it back with CRLF line endings */
			gen.crlf = 1;
			expected = conf_big_crlf_size();
		}
		ck_assert_msg(conf_big_read(&gen, want, n) == n,
		              "%s: big message longer than %llu bytes",
		              env->name, (unsigned long long)expected);
		ck_assert_msg(memcmp(got, want, n) == 0,
		              "%s: big message differs in the %zu bytes at "
		              "offset %llu",
		              env->name, n, (unsigned long long)total);
		total += n;
	}
	ck_assert_msg(total == expected,
	              "%s: big message read back as %llu bytes, want %llu",
	              env->name, (unsigned long long)total,
	              (unsigned long long)expected);
	ops->stream_close(&stream);
	free(got);
	free(want);
}

void conf_create(struct conf_env *env, const char *name, const uint8_t *guid16,
                 uint32_t uidvalidity)
{
	struct mailferry_mailbox_create params;
	int ret;

	memset(&params, 0, sizeof(params));
	params.struct_size = sizeof(params);
	if (guid16 != NULL)
		memcpy(params.guid, guid16, 16);
	params.uidvalidity = uidvalidity;
	ret = CONF_OPS(env)->mailbox_create(CONF_ST(env), conf_name(env, name),
	                                    &params);
	ck_assert_msg(ret == 0, "%s: mailbox_create(%s) = %d: %s", env->name,
	              name, ret, CONF_ERR(env));
}

uint64_t conf_crlf_size(const void *data, size_t size)
{
	const unsigned char *p = data;
	uint64_t n = size;

	for (size_t i = 0; i < size; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			n++;
	}
	return n;
}

long conf_maxrss_kib(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static int rm_entry(const char *path, const struct stat *st, int type,
                    struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) < 0)
		perror(path);
	return 0;
}

void conf_rmtree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Next byte of s[*i..size) with CR-LF read as LF; -1 at the end. */
static int next_lf(const char *s, size_t size, size_t *i)
{
	if (*i >= size)
		return -1;
	if (s[*i] == '\r' && *i + 1 < size && s[*i + 1] == '\n')
		(*i)++;
	return (unsigned char)s[(*i)++];
}

int conf_same_body(const struct conf_env *env, const char *got, size_t got_size,
                   const char *want, size_t want_size)
{
	size_t g = 0, w = 0;
	int a, b;

	if (got_size == want_size && memcmp(got, want, got_size) == 0)
		return 1;
	if (!env->remote)
		return 0;
	do {
		a = next_lf(got, got_size, &g);
		b = next_lf(want, want_size, &w);
		if (a != b)
			return 0;
	} while (a != -1);
	return 1;
}

void conf_expect_no_msg(struct conf_env *env, struct mailferry_mailbox *box,
                        uint32_t uid, const char *what)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_stream *stream = NULL;
	char buf[256];
	size_t got;
	int ret;

	ret = ops->msg_open(box, uid, 0, &stream);
	if (ret == 0) {
		ck_assert_ptr_nonnull(stream);
		ret = ops->stream_read(stream, buf, sizeof(buf), &got);
		ops->stream_close(&stream);
		ck_assert_msg(ret == MAILFERRY_E_NOTFOUND ||
		                  ret == MAILFERRY_E_EXPUNGED,
		              "%s: %s (UID %u) opened, and reading it gave %d "
		              "with %zu bytes, not NOTFOUND or EXPUNGED",
		              env->name, what, uid, ret, ret == 0 ? got : 0);
	} else {
		ck_assert_msg(ret == MAILFERRY_E_NOTFOUND ||
		                  ret == MAILFERRY_E_EXPUNGED,
		              "%s: msg_open of %s (UID %u) gave %d", env->name,
		              what, uid, ret);
		ck_assert_ptr_null(stream);
	}
	ck_assert_str_ne(CONF_ERR(env), "");
}

const struct conf_msg *conf_fixture_msg(size_t i)
{
	const struct conf_box *inbox = conf_fixture_box("INBOX");

	ck_assert_uint_lt(i, inbox->msgs.count);
	return &inbox->msgs.items[i];
}

uint32_t *conf_save_plain(struct conf_env *env, struct mailferry_mailbox *box,
                          size_t n)
{
	struct conf_save *saves = mf_calloc(n, sizeof(*saves));
	uint32_t *uids;

	for (size_t i = 0; i < n; i++) {
		saves[i].data = conf_fixture_msg(i)->data;
		saves[i].size = conf_fixture_msg(i)->size;
	}
	uids = conf_save_msgs(env, box, saves, n, NULL);
	free(saves);
	return uids;
}

void conf_check_body(struct conf_env *env, struct mailferry_mailbox *box,
                     uint32_t uid, const struct conf_msg *want)
{
	size_t size;
	char *data = conf_read_msg(env, box, uid, 4096, &size);

	ck_assert_msg(conf_same_body(env, data, size, want->data, want->size),
	              "%s: UID %u differs from %s", env->name, uid,
	              want->origin);
	free(data);
}
