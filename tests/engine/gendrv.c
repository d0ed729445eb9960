/* SPDX-License-Identifier: MIT */
/*
 * gendrv - a synthetic store for the engine's scale test: location
 * "gendrv:N" is one mailbox INBOX with N generated messages (UID i, GUID
 * the 32-hex form of i, \Seen on every third, a small body), computed on
 * the fly so a million messages cost no disk and next to no memory in the
 * driver: a message whose GUID is the hex form of its UID (every generated
 * one, and every one a sync copies from another gendrv store) is one bit,
 * changed flags are kept sparsely, other saved messages as records.
 * Changes are kept in memory only: enough for the engine to sync two such
 * stores and for the test to check the result.
 *
 * Options: OFFSET=d with FROM=f: the message at UID u > f is message
 * number u + d (GUID hex(u + d), Message-ID <u+d@gen>) instead of u, so
 * two stores can share a first part and then differ, or hold the same
 * messages at other UIDs; NOGUIDS=1: no message GUIDs (the engine matches
 * by header hash); NOSAVEUID=1: saves cannot ask for a UID (the engine
 * matches by identity, as with an IMAP server).
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
	bool expunged;
};

struct flag_over {
	uint32_t uid;
	uint32_t flags;
	uint64_t modseq;
};

struct mailferry_storage {
	struct mailferry_ctx *ctx;
	uint8_t *present; /* bitmap: a message with GUID = hex(UID) */
	uint32_t present_bits;
	MF_ARRAY(struct flag_over) over; /* sorted by UID */
	MF_ARRAY(struct extra) extra;    /* sorted by UID */
	uint32_t count;
	uint32_t uidnext;
	uint32_t from, offset; /* OFFSET= / FROM= */
	uint64_t modseq;
	struct mailferry_storage_info info;
};

struct mailferry_mailbox {
	struct mailferry_storage *st;
};

static bool is_present(const struct mailferry_storage *st, uint32_t uid)
{
	return uid < st->present_bits &&
	       (st->present[uid / 8] & (1u << (uid % 8))) != 0;
}

static void set_present(struct mailferry_storage *st, uint32_t uid, bool on)
{
	if (uid >= st->present_bits) {
		uint32_t bits = MF_MAX(st->present_bits * 2, uid + 64);
		st->present = mf_realloc(st->present, bits / 8 + 1);
		memset(st->present + st->present_bits / 8 + 1, 0,
		       bits / 8 - st->present_bits / 8);
		st->present_bits = bits;
	}
	if (on)
		st->present[uid / 8] |= (uint8_t)(1u << (uid % 8));
	else
		st->present[uid / 8] &= (uint8_t) ~(1u << (uid % 8));
}

static struct flag_over *over_find(struct mailferry_storage *st, uint32_t uid)
{
	size_t lo = 0, hi = st->over.count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->over.items[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < st->over.count && st->over.items[lo].uid == uid
	           ? &st->over.items[lo]
	           : NULL;
}

static void over_set(struct mailferry_storage *st, uint32_t uid, uint32_t flags)
{
	struct flag_over *o = over_find(st, uid);
	size_t pos = 0;

	if (o == NULL) {
		while (pos < st->over.count && st->over.items[pos].uid < uid)
			pos++;
		mf_array_append_zero(&st->over);
		memmove(&st->over.items[pos + 1], &st->over.items[pos],
		        (st->over.count - 1 - pos) * sizeof(struct flag_over));
		o = &st->over.items[pos];
		o->uid = uid;
	}
	o->flags = flags;
	o->modseq = st->modseq;
}

/* The message number of a generated message at uid. */
static uint32_t gen_number(const struct mailferry_storage *st, uint32_t uid)
{
	return uid > st->from ? uid + st->offset : uid;
}

static uint32_t gen_flags(struct mailferry_storage *st, uint32_t uid)
{
	const struct flag_over *o = over_find(st, uid);

	if (o != NULL)
		return o->flags;
	return uid % 3 == 0 ? MAILFERRY_FLAG_SEEN : 0;
}

static uint64_t gen_modseq(struct mailferry_storage *st, uint32_t uid)
{
	const struct flag_over *o = over_find(st, uid);
	return o != NULL ? o->modseq : uid;
}

static struct extra *extra_from(struct mailferry_storage *st, uint32_t uid)
{
	size_t lo = 0, hi = st->extra.count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->extra.items[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < st->extra.count ? &st->extra.items[lo] : NULL;
}

static int g_open(struct mailferry_ctx *ctx,
                  const struct mailferry_open_params *p,
                  struct mailferry_storage **st_r)
{
	struct mailferry_storage *st = mf_calloc(1, sizeof(*st));
	uint32_t n = (uint32_t)strtoul(p->path, NULL, 10);

	st->ctx = ctx;
	st->present_bits = n + 64;
	st->present = mf_calloc(st->present_bits / 8 + 1, 1);
	for (uint32_t u = 1; u <= n; u++)
		set_present(st, u, true);
	st->count = n;
	st->uidnext = n + 1;
	st->modseq = n + 1;
	st->info.struct_size = sizeof(st->info);
	st->info.caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
	                MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |
	                MAILFERRY_CAP_MAILBOX_GUIDS |
	                MAILFERRY_CAP_GUID128_ONLY;
	for (size_t i = 0; i < p->option_count; i++) {
		const char *k = p->option_keys[i], *v = p->option_values[i];
		uint32_t val = v != NULL ? (uint32_t)strtoul(v, NULL, 10) : 0;

		if (strcmp(k, "OFFSET") == 0)
			st->offset = val;
		else if (strcmp(k, "FROM") == 0)
			st->from = val;
		else if (strcmp(k, "NOGUIDS") == 0)
			st->info.caps &= ~(MAILFERRY_CAP_MSG_GUIDS |
			                   MAILFERRY_CAP_SAVE_GUID |
			                   MAILFERRY_CAP_GUID128_ONLY);
		else if (strcmp(k, "NOSAVEUID") == 0)
			st->info.caps &= ~MAILFERRY_CAP_SAVE_UID;
	}
	st->info.hier_sep = '/';
	st->info.display = "gendrv";
	*st_r = st;
	return 0;
}

static void g_close(struct mailferry_storage **stp)
{
	struct mailferry_storage *st = *stp;
	free(st->present);
	mf_array_free(&st->over);
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
	mf_zero(s);
	s->struct_size = sizeof(*s);
	memset(s->guid, 0x42, 16);
	s->uidvalidity = 1;
	s->uidnext = st->uidnext;
	s->messages = st->count;
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

/* The lowest UID >= from with a present bit, below limit (0: none). */
static uint32_t next_present(const struct mailferry_storage *st, uint32_t from,
                             uint32_t limit)
{
	limit = MF_MIN(limit, st->present_bits);
	for (uint32_t u = from; u < limit;) {
		if (u % 8 == 0 && st->present[u / 8] == 0) {
			u += 8;
			continue;
		}
		if (is_present(st, u))
			return u;
		u++;
	}
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
	while (it->next != 0 && it->next <= it->q.uid_last &&
	       it->next < st->uidnext) {
		uint64_t end =
		    MF_MIN((uint64_t)it->q.uid_last + 1, st->uidnext);
		uint32_t p = next_present(st, it->next, (uint32_t)end);
		struct extra *e = extra_from(st, it->next);
		while (e != NULL && e < st->extra.items + st->extra.count &&
		       e->expunged)
			e++;
		if (e == st->extra.items + st->extra.count ||
		    (e != NULL && e->uid >= end))
			e = NULL;
		if (p == 0 && e == NULL)
			break;
		if (e != NULL && (p == 0 || e->uid < p)) {
			it->next = e->uid + 1;
			if (st->modseq <= it->q.changed_since)
				continue; /* nothing changed since */
			it->msg.uid = e->uid;
			it->msg.guid = e->guid;
			it->msg.flags = e->flags;
			it->msg.modseq = st->modseq;
			*msg_r = &it->msg;
			return 1;
		}
		it->next = p + 1;
		/* generated messages never changed after modseq u */
		if (it->q.changed_since >= gen_modseq(st, p))
			continue;
		snprintf(it->guid, sizeof(it->guid), "%032x",
		         gen_number(st, p));
		it->msg.uid = p;
		it->msg.guid = it->guid;
		it->msg.flags = gen_flags(st, p);
		it->msg.modseq = gen_modseq(st, p);
		it->msg.received_date = 1700000000 + p;
		*msg_r = &it->msg;
		return 1;
	}
	it->next = 0;
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

	uint32_t n = gen_number(box->st, uid);

	(void)flags;
	s->len = (size_t)snprintf(s->text, sizeof(s->text),
	                          "Message-ID: <%u@gen>\n\nbody %u\n", n, n);
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
	st->modseq++;
	for (size_t r = 0; r < uids->count; r++) {
		for (uint32_t u = uids->ranges[r].first;
		     u <= uids->ranges[r].last && u < st->uidnext; u++) {
			struct extra *e = extra_from(st, u);
			uint32_t *fp = NULL, f;
			if (e != NULL && e->uid == u && !e->expunged)
				fp = &e->flags;
			else if (!is_present(st, u))
				continue;
			f = fp != NULL ? *fp : gen_flags(st, u);
			f = mode == MAILFERRY_MODIFY_ADD      ? f | flags
			    : mode == MAILFERRY_MODIFY_REMOVE ? f & ~flags
			                                      : flags;
			if (fp != NULL)
				*fp = f;
			else
				over_set(st, u, f);
		}
	}
	return 0;
}

static int g_expunge(struct mailferry_trans *t,
                     const struct mailferry_uidset *uids)
{
	struct mailferry_storage *st = t->st;

	for (size_t r = 0; r < uids->count; r++) {
		for (uint32_t u = uids->ranges[r].first;
		     u <= uids->ranges[r].last && u < st->uidnext; u++) {
			struct extra *e = extra_from(st, u);
			if (is_present(st, u)) {
				set_present(st, u, false);
				st->count--;
			} else if (e != NULL && e->uid == u && !e->expunged) {
				e->expunged = true;
				st->count--;
			}
		}
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
	char hex[33];

	last.count = 0;
	st->modseq++;
	for (size_t i = 0; i < t->saves.count; i++) {
		struct extra e = t->saves.items[i];
		if (e.uid < st->uidnext)
			e.uid = st->uidnext;
		st->uidnext = e.uid + 1;
		st->count++;
		snprintf(hex, sizeof(hex), "%032x", gen_number(st, e.uid));
		if (strcmp(hex, e.guid) == 0) {
			/* the form of a generated message: one bit */
			set_present(st, e.uid, true);
			if (e.flags !=
			    (e.uid % 3 == 0 ? MAILFERRY_FLAG_SEEN : 0u))
				over_set(st, e.uid, e.flags);
		} else {
			mf_array_push(&st->extra, e);
		}
		mf_array_push(&last, e.uid);
	}
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
