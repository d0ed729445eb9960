/* SPDX-License-Identifier: MIT */
/*
 * gendrv - a synthetic store for the engine's scale test: location
 * "gendrv:N" is one mailbox INBOX with N generated messages (UID i, GUID
 * the 32-hex form of i, \Seen on every third, a small body), computed on
 * the fly so a million messages cost no disk and no memory in the driver.
 * Changes (saves, flags, expunges) are kept in memory only: enough for the
 * engine to sync two such stores and for the test to check the result.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mailferry/driver.h>

#include "mf-alloc.h"
#include "mf-array.h"

static const struct mailferry_core_api *api;

struct extra {
	uint32_t uid;
	char guid[33];
	uint32_t flags;
};

struct mailferry_storage {
	struct mailferry_ctx *ctx;
	uint32_t n;
	uint8_t *expunged;   /* bitmap over 1..n */
	uint32_t *flag_over; /* flags + 1 for generated messages, 0 = none */
	MF_ARRAY(struct extra) extra;
	uint32_t uidnext;
	uint64_t modseq;
	struct mailferry_storage_info info;
};

struct mailferry_mailbox {
	struct mailferry_storage *st;
};

static uint32_t gen_flags(const struct mailferry_storage *st, uint32_t uid)
{
	if (st->flag_over[uid] != 0)
		return st->flag_over[uid] - 1;
	return uid % 3 == 0 ? MAILFERRY_FLAG_SEEN : 0;
}

static int g_open(struct mailferry_ctx *ctx,
                  const struct mailferry_open_params *p,
                  struct mailferry_storage **st_r)
{
	struct mailferry_storage *st = mf_calloc(1, sizeof(*st));

	st->ctx = ctx;
	st->n = (uint32_t)strtoul(p->path, NULL, 10);
	st->expunged = mf_calloc(st->n / 8 + 2, 1);
	st->flag_over = mf_calloc(st->n + 1, sizeof(uint32_t));
	st->uidnext = st->n + 1;
	st->modseq = st->n + 1;
	st->info.struct_size = sizeof(st->info);
	st->info.caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
	                MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |
	                MAILFERRY_CAP_MAILBOX_GUIDS |
	                MAILFERRY_CAP_GUID128_ONLY;
	st->info.hier_sep = '/';
	st->info.display = "gendrv";
	*st_r = st;
	return 0;
}

static void g_close(struct mailferry_storage **stp)
{
	struct mailferry_storage *st = *stp;
	free(st->expunged);
	free(st->flag_over);
	mf_array_free(&st->extra);
	free(st);
	*stp = NULL;
}

static int g_info(struct mailferry_storage *st,
                  const struct mailferry_storage_info **info_r)
{
	*info_r = &st->info;
	return 0;
}

struct mailferry_list_iter {
	struct mailferry_storage *st;
	int done;
	struct mailferry_mailbox_info info;
};

static void fill_status(struct mailferry_storage *st,
                        struct mailferry_mailbox_status *s)
{
	uint32_t count = 0;

	for (uint32_t u = 1; u <= st->n; u++)
		count += (st->expunged[u / 8] & (1u << (u % 8))) == 0;
	mf_zero(s);
	s->struct_size = sizeof(*s);
	memset(s->guid, 0x42, 16);
	s->uidvalidity = 1;
	s->uidnext = st->uidnext;
	s->messages = count + (uint32_t)st->extra.count;
	s->first_recent_uid = st->uidnext;
	s->highest_modseq = st->modseq;
}

static int g_list_begin(struct mailferry_storage *st, uint32_t flags,
                        struct mailferry_list_iter **it_r)
{
	struct mailferry_list_iter *it = mf_calloc(1, sizeof(*it));
	(void)flags;
	it->st = st;
	*it_r = it;
	return 0;
}

static int g_list_next(struct mailferry_list_iter *it,
                       const struct mailferry_mailbox_info **info_r)
{
	if (it->done++)
		return 0;
	it->info.struct_size = sizeof(it->info);
	it->info.name = "INBOX";
	it->info.flags = MAILFERRY_MAILBOX_HAVE_STATUS;
	fill_status(it->st, &it->info.status);
	*info_r = &it->info;
	return 1;
}

static int g_list_end(struct mailferry_list_iter **it)
{
	free(*it);
	*it = NULL;
	return 0;
}

static int g_create(struct mailferry_storage *st, const char *name,
                    const struct mailferry_mailbox_create *p)
{
	(void)name;
	(void)p;
	return api->set_error(st->ctx, MAILFERRY_E_EXISTS,
	                      "gendrv: fixed tree");
}

static int g_delete(struct mailferry_storage *st, const char *name, int dir)
{
	(void)name;
	(void)dir;
	return api->set_error(st->ctx, MAILFERRY_E_PERM, "gendrv: fixed tree");
}

static int g_rename(struct mailferry_storage *st, const char *a, const char *b)
{
	(void)a;
	(void)b;
	return api->set_error(st->ctx, MAILFERRY_E_PERM, "gendrv: fixed tree");
}

static int g_update(struct mailferry_storage *st, const char *name,
                    const struct mailferry_mailbox_update *up)
{
	(void)name;
	if ((up->fields & MAILFERRY_UPDATE_MIN_UIDNEXT) != 0 &&
	    up->min_uidnext > st->uidnext)
		st->uidnext = up->min_uidnext;
	if ((up->fields & MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ) != 0 &&
	    up->min_highest_modseq > st->modseq)
		st->modseq = up->min_highest_modseq;
	return 0;
}

static int g_mbox_open(struct mailferry_storage *st, const char *name,
                       uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct mailferry_mailbox *box;

	(void)flags;
	if (strcmp(name, "INBOX") != 0)
		return api->set_error(st->ctx, MAILFERRY_E_NOTFOUND,
		                      "gendrv: no mailbox %s", name);
	box = mf_calloc(1, sizeof(*box));
	box->st = st;
	*box_r = box;
	return 0;
}

static void g_mbox_close(struct mailferry_mailbox **box)
{
	free(*box);
	*box = NULL;
}

static int g_status(struct mailferry_mailbox *box,
                    struct mailferry_mailbox_status *s)
{
	fill_status(box->st, s);
	return 0;
}

struct mailferry_msg_iter {
	struct mailferry_storage *st;
	struct mailferry_msg_query q;
	uint32_t next;
	size_t extra_pos;
	char guid[33];
	struct mailferry_msg msg;
};

static int g_iter_begin(struct mailferry_mailbox *box,
                        const struct mailferry_msg_query *q,
                        struct mailferry_msg_iter **it_r)
{
	struct mailferry_msg_iter *it = mf_calloc(1, sizeof(*it));
	it->st = box->st;
	it->q = *q;
	it->next = q->uid_first == 0 ? 1 : q->uid_first;
	*it_r = it;
	return 0;
}

static int g_iter_next(struct mailferry_msg_iter *it,
                       const struct mailferry_msg **msg_r)
{
	struct mailferry_storage *st = it->st;

	mf_zero(&it->msg);
	it->msg.struct_size = sizeof(it->msg);
	it->msg.physical_size = UINT64_MAX;
	it->msg.virtual_size = UINT64_MAX;
	while (it->next <= st->n && it->next <= it->q.uid_last) {
		uint32_t u = it->next++;
		if ((st->expunged[u / 8] & (1u << (u % 8))) != 0)
			continue;
		/* generated messages never changed after modseq u */
		if (it->q.changed_since >= u && st->flag_over[u] == 0)
			continue;
		snprintf(it->guid, sizeof(it->guid), "%032x", u);
		it->msg.uid = u;
		it->msg.guid = it->guid;
		it->msg.flags = gen_flags(st, u);
		it->msg.modseq = u;
		it->msg.received_date = 1700000000 + u;
		*msg_r = &it->msg;
		return 1;
	}
	while (it->extra_pos < st->extra.count) {
		const struct extra *e = &st->extra.items[it->extra_pos++];
		if (e->uid < it->q.uid_first || e->uid > it->q.uid_last)
			continue;
		it->msg.uid = e->uid;
		it->msg.guid = e->guid;
		it->msg.flags = e->flags;
		it->msg.modseq = st->modseq;
		*msg_r = &it->msg;
		return 1;
	}
	return 0;
}

static int g_iter_end(struct mailferry_msg_iter **it)
{
	free(*it);
	*it = NULL;
	return 0;
}

struct mailferry_stream {
	char text[128];
	size_t len, pos;
};

static int g_msg_open(struct mailferry_mailbox *box, uint32_t uid,
                      uint32_t flags, struct mailferry_stream **s_r)
{
	struct mailferry_stream *s = mf_calloc(1, sizeof(*s));

	(void)box;
	(void)flags;
	s->len =
	    (size_t)snprintf(s->text, sizeof(s->text),
	                     "Message-ID: <%u@gen>\n\nbody %u\n", uid, uid);
	*s_r = s;
	return 0;
}

static int g_read(struct mailferry_stream *s, void *buf, size_t size,
                  size_t *size_r)
{
	size_t n = MF_MIN(size, s->len - s->pos);
	memcpy(buf, s->text + s->pos, n);
	s->pos += n;
	*size_r = n;
	return 0;
}

static void g_stream_close(struct mailferry_stream **s)
{
	free(*s);
	*s = NULL;
}

struct mailferry_trans {
	struct mailferry_storage *st;
	struct extra cur;
	MF_ARRAY(struct extra) saves;
	MF_ARRAY(uint32_t) saved;
};

static int g_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                         struct mailferry_trans **t_r)
{
	struct mailferry_trans *t = mf_calloc(1, sizeof(*t));
	(void)flags;
	t->st = box->st;
	*t_r = t;
	return 0;
}

static int g_save_begin(struct mailferry_trans *t,
                        const struct mailferry_save *s)
{
	mf_zero(&t->cur);
	t->cur.uid = s->uid;
	mf_strlcpy(t->cur.guid, s->guid != NULL ? s->guid : "", 33);
	t->cur.flags = s->flags;
	return 0;
}

static int g_save_write(struct mailferry_trans *t, const void *d, size_t n)
{
	(void)t;
	(void)d;
	(void)n;
	return 0;
}

static int g_save_finish(struct mailferry_trans *t)
{
	mf_array_push(&t->saves, t->cur);
	return 0;
}

static void g_save_cancel(struct mailferry_trans *t)
{
	(void)t;
}

static int g_update_flags(struct mailferry_trans *t,
                          const struct mailferry_uidset *uids,
                          enum mailferry_modify mode, uint32_t flags,
                          const char *const *kw)
{
	struct mailferry_storage *st = t->st;

	(void)kw;
	for (size_t r = 0; r < uids->count; r++) {
		for (uint32_t u = uids->ranges[r].first;
		     u <= uids->ranges[r].last && u <= st->n; u++) {
			uint32_t f = gen_flags(st, u);
			f = mode == MAILFERRY_MODIFY_ADD      ? f | flags
			    : mode == MAILFERRY_MODIFY_REMOVE ? f & ~flags
			                                      : flags;
			st->flag_over[u] = f + 1;
		}
	}
	st->modseq++;
	return 0;
}

static int g_expunge(struct mailferry_trans *t,
                     const struct mailferry_uidset *uids)
{
	struct mailferry_storage *st = t->st;

	for (size_t r = 0; r < uids->count; r++) {
		for (uint32_t u = uids->ranges[r].first;
		     u <= uids->ranges[r].last && u <= st->n; u++)
			st->expunged[u / 8] |= (uint8_t)(1u << (u % 8));
	}
	st->modseq++;
	return 0;
}

static int g_commit(struct mailferry_trans **tp,
                    struct mailferry_commit_result *res)
{
	struct mailferry_trans *t = *tp;
	struct mailferry_storage *st = t->st;
	static MF_ARRAY(uint32_t) last;

	last.count = 0;
	for (size_t i = 0; i < t->saves.count; i++) {
		struct extra e = t->saves.items[i];
		if (e.uid < st->uidnext)
			e.uid = st->uidnext;
		st->uidnext = e.uid + 1;
		mf_array_push(&st->extra, e);
		mf_array_push(&last, e.uid);
	}
	st->modseq++;
	if (res != NULL) {
		res->uidvalidity = 1;
		res->saved_uids = last.items;
		res->saved_count = last.count;
	}
	mf_array_free(&t->saves);
	mf_array_free(&t->saved);
	free(t);
	*tp = NULL;
	return 0;
}

static void g_rollback(struct mailferry_trans **tp)
{
	mf_array_free(&(*tp)->saves);
	mf_array_free(&(*tp)->saved);
	free(*tp);
	*tp = NULL;
}

static const struct mailferry_driver_ops g_ops = {
    .struct_size = sizeof(struct mailferry_driver_ops),
    .storage_open = g_open,
    .storage_close = g_close,
    .storage_info = g_info,
    .mailbox_list_begin = g_list_begin,
    .mailbox_list_next = g_list_next,
    .mailbox_list_end = g_list_end,
    .mailbox_create = g_create,
    .mailbox_delete = g_delete,
    .mailbox_rename = g_rename,
    .mailbox_update = g_update,
    .mailbox_open = g_mbox_open,
    .mailbox_close = g_mbox_close,
    .mailbox_status = g_status,
    .msg_iter_begin = g_iter_begin,
    .msg_iter_next = g_iter_next,
    .msg_iter_end = g_iter_end,
    .msg_open = g_msg_open,
    .stream_read = g_read,
    .stream_close = g_stream_close,
    .trans_begin = g_trans_begin,
    .save_begin = g_save_begin,
    .save_write = g_save_write,
    .save_finish = g_save_finish,
    .save_cancel = g_save_cancel,
    .update_flags = g_update_flags,
    .expunge = g_expunge,
    .trans_commit = g_commit,
    .trans_rollback = g_rollback,
};

static const struct mailferry_driver g_driver = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_driver),
    .name = "gendrv",
    .version = "1",
    .description = "engine scale-test driver (generated messages)",
    .caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
            MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |
            MAILFERRY_CAP_MAILBOX_GUIDS | MAILFERRY_CAP_GUID128_ONLY,
    .ops = &g_ops,
};

MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *core_api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
{
	(void)core_abi_minor;
	if (core_abi_major != MAILFERRY_ABI_MAJOR)
		return NULL;
	api = core_api;
	return &g_driver;
}
