/* SPDX-License-Identifier: MIT */
/*
 * A tiny read-only in-memory driver for the loader and CLI tests. One source
 * builds several .so files; macros make each one broken in a single way:
 *   TD_NAME         the name in the descriptor (default "tgood")
 *   TD_ABI_MAJOR    / TD_ABI_MINOR  the ABI it claims
 *   TD_NO_ENTRY     export no mailferry_driver_entry
 *   TD_RETURN_NULL  the entry returns NULL
 *   TD_SMALL_DESC   descriptor struct_size too small
 *   TD_SMALL_OPS    ops struct_size too small
 *   TD_NULL_SLOT    a required slot (msg_open) is NULL
 *
 * The store (path ignored, except "missing" = not found):
 *   INBOX      3 messages, UIDs 1 2 4, uidvalidity 1234, uidnext 5
 *   Lists      a directory (\Noselect)
 *   Lists/dev  1 message, UID 7
 * Subscribed: INBOX and Gone.
 * The setting "tgood_stop" makes storage_open fail with the text it holds.
 */
#include <mailferry/driver.h>
#include <stdlib.h>
#include <string.h>

#ifndef TD_NAME
#define TD_NAME "tgood"
#endif
#ifndef TD_ABI_MAJOR
#define TD_ABI_MAJOR MAILFERRY_ABI_MAJOR
#endif
#ifndef TD_ABI_MINOR
#define TD_ABI_MINOR MAILFERRY_ABI_MINOR
#endif

static const struct mailferry_core_api *td_api;

struct td_msg {
	uint32_t uid;
	const char *guid;
	uint32_t flags;
	const char *const *keywords;
	int64_t received;
	const char *text;
};

static const char *const td_kw1[] = {"$Label1", "kw2", NULL};

static const struct td_msg td_inbox[] = {
    {1, "0f0e0d0c0b0a09080706050403020100", MAILFERRY_FLAG_SEEN, NULL,
     1700000000,
     "From: a@example.org\nMessage-ID: <m1@example.org>\nSubject: one\n"
     "\nbody one\n"},
    {2, "guid-two", MAILFERRY_FLAG_FLAGGED | MAILFERRY_FLAG_SEEN, td_kw1,
     1700000100,
     "From: b@example.org\nSubject: two\n  folded\nMessage-Id: "
     "<m2@example.org>\n\nbody two\nline\n"},
    {4, "guid-four", MAILFERRY_FLAG_RECENT, NULL, 1700000200,
     "Subject: four\n\n"},
};

static const struct td_msg td_dev[] = {
    {7, "guid-seven", 0, NULL, 1700000300, "Subject: dev\n\nhello\n"},
};

struct td_box_def {
	const char *name;
	uint32_t flags;
	const struct td_msg *msgs;
	size_t count;
	uint32_t uidnext;
	uint8_t guid0;
};

static const struct td_box_def td_boxes[] = {
    {"INBOX", 0, td_inbox, 3, 5, 0x11},
    {"Lists", MAILFERRY_MAILBOX_NOSELECT | MAILFERRY_MAILBOX_CHILDREN, NULL, 0,
     0, 0},
    {"Lists/dev", 0, td_dev, 1, 8, 0x22},
};

struct mailferry_storage {
	struct mailferry_ctx *ctx;
	struct mailferry_storage_info info;
};

struct mailferry_list_iter {
	size_t pos;
	struct mailferry_mailbox_info info;
};

struct mailferry_mailbox {
	const struct td_box_def *def;
};

struct mailferry_msg_iter {
	const struct td_box_def *def;
	struct mailferry_msg_query query;
	size_t pos;
	struct mailferry_msg msg;
};

struct mailferry_stream {
	const char *data;
	size_t len, pos;
};

static int td_storage_open(struct mailferry_ctx *ctx,
                           const struct mailferry_open_params *params,
                           struct mailferry_storage **storage_r)
{
	struct mailferry_storage *st;
	const char *stop = td_api->setting(ctx, "tgood_stop");

	if (stop != NULL)
		return td_api->set_error(ctx, MAILFERRY_E_PERM, "stopped: %s",
		                         stop);
	if (strcmp(params->path, "missing") == 0)
		return td_api->set_error(ctx, MAILFERRY_E_NOTFOUND,
		                         "no store at %s", params->path);
	for (size_t i = 0; i < params->option_count; i++) {
		if (strcmp(params->option_keys[i], "BAD") == 0)
			return td_api->set_error(ctx, MAILFERRY_E_INVALID,
			                         "unknown option BAD=%s",
			                         params->option_values[i]);
	}
	st = td_api->alloc(sizeof(*st));
	if (st == NULL)
		return MAILFERRY_E_NOMEM;
	memset(st, 0, sizeof(*st));
	st->ctx = ctx;
	st->info.struct_size = sizeof(st->info);
	st->info.caps = MAILFERRY_CAP_READONLY | MAILFERRY_CAP_MSG_GUIDS;
	st->info.hier_sep = '/';
	st->info.display = "test store";
	td_api->log(ctx, MAILFERRY_LOG_DEBUG, "opened %s", params->path);
	*storage_r = st;
	return 0;
}

static void td_storage_close(struct mailferry_storage **st)
{
	td_api->free(*st);
	*st = NULL;
}

static int td_storage_info(struct mailferry_storage *st,
                           const struct mailferry_storage_info **info_r)
{
	*info_r = &st->info;
	return 0;
}

static int td_list_begin(struct mailferry_storage *st, uint32_t flags,
                         struct mailferry_list_iter **iter_r)
{
	struct mailferry_list_iter *it = td_api->alloc(sizeof(*it));

	(void)st;
	(void)flags;
	if (it == NULL)
		return MAILFERRY_E_NOMEM;
	memset(it, 0, sizeof(*it));
	*iter_r = it;
	return 0;
}

static int td_list_next(struct mailferry_list_iter *it,
                        const struct mailferry_mailbox_info **info_r)
{
	const struct td_box_def *def;

	if (it->pos >= sizeof(td_boxes) / sizeof(td_boxes[0]))
		return 0;
	def = &td_boxes[it->pos++];
	memset(&it->info, 0, sizeof(it->info));
	it->info.struct_size = sizeof(it->info);
	it->info.name = def->name;
	it->info.flags = def->flags;
	*info_r = &it->info;
	return 1;
}

static int td_list_end(struct mailferry_list_iter **it)
{
	td_api->free(*it);
	*it = NULL;
	return 0;
}

static int td_mailbox_open(struct mailferry_storage *st, const char *name,
                           uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct mailferry_mailbox *box;

	(void)flags;
	for (size_t i = 0; i < sizeof(td_boxes) / sizeof(td_boxes[0]); i++) {
		if (strcmp(td_boxes[i].name, name) != 0)
			continue;
		if ((td_boxes[i].flags & MAILFERRY_MAILBOX_NOSELECT) != 0)
			break;
		box = td_api->alloc(sizeof(*box));
		if (box == NULL)
			return MAILFERRY_E_NOMEM;
		box->def = &td_boxes[i];
		*box_r = box;
		return 0;
	}
	return td_api->set_error(st->ctx, MAILFERRY_E_NOTFOUND,
	                         "mailbox %s does not exist", name);
}

static void td_mailbox_close(struct mailferry_mailbox **box)
{
	td_api->free(*box);
	*box = NULL;
}

static int td_mailbox_status(struct mailferry_mailbox *box,
                             struct mailferry_mailbox_status *status_r)
{
	memset(status_r, 0, sizeof(*status_r));
	status_r->struct_size = sizeof(*status_r);
	memset(status_r->guid, box->def->guid0, sizeof(status_r->guid));
	status_r->uidvalidity = 1234;
	status_r->uidnext = box->def->uidnext;
	status_r->messages = (uint32_t)box->def->count;
	status_r->first_recent_uid = box->def->count == 3 ? 4 : 8;
	status_r->highest_modseq = 10;
	return 0;
}

static int td_msg_iter_begin(struct mailferry_mailbox *box,
                             const struct mailferry_msg_query *query,
                             struct mailferry_msg_iter **iter_r)
{
	struct mailferry_msg_iter *it = td_api->alloc(sizeof(*it));

	if (it == NULL)
		return MAILFERRY_E_NOMEM;
	memset(it, 0, sizeof(*it));
	it->def = box->def;
	it->query = *query;
	*iter_r = it;
	return 0;
}

static int td_msg_iter_next(struct mailferry_msg_iter *it,
                            const struct mailferry_msg **msg_r)
{
	while (it->pos < it->def->count) {
		const struct td_msg *m = &it->def->msgs[it->pos++];

		if (m->uid < it->query.uid_first || m->uid > it->query.uid_last)
			continue;
		memset(&it->msg, 0, sizeof(it->msg));
		it->msg.struct_size = sizeof(it->msg);
		it->msg.uid = m->uid;
		it->msg.guid = m->guid;
		it->msg.flags = m->flags;
		it->msg.keywords = m->keywords;
		it->msg.modseq = m->uid + 1;
		it->msg.received_date = m->received;
		it->msg.save_date = m->received + 5;
		it->msg.physical_size = strlen(m->text);
		it->msg.virtual_size = UINT64_MAX;
		*msg_r = &it->msg;
		return 1;
	}
	return 0;
}

static int td_msg_iter_end(struct mailferry_msg_iter **it)
{
	td_api->free(*it);
	*it = NULL;
	return 0;
}

static int td_msg_open(struct mailferry_mailbox *box, uint32_t uid,
                       uint32_t flags, struct mailferry_stream **stream_r)
{
	(void)flags;
	for (size_t i = 0; i < box->def->count; i++) {
		struct mailferry_stream *s;

		if (box->def->msgs[i].uid != uid)
			continue;
		s = td_api->alloc(sizeof(*s));
		if (s == NULL)
			return MAILFERRY_E_NOMEM;
		s->data = box->def->msgs[i].text;
		s->len = strlen(s->data);
		s->pos = 0;
		*stream_r = s;
		return 0;
	}
	return MAILFERRY_E_EXPUNGED;
}

static int td_stream_read(struct mailferry_stream *s, void *buf, size_t size,
                          size_t *size_r)
{
	/* small reads on purpose, to exercise the callers' loops */
	size_t n = s->len - s->pos;

	if (n > 7)
		n = 7;
	if (n > size)
		n = size;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	*size_r = n;
	return 0;
}

static void td_stream_close(struct mailferry_stream **s)
{
	td_api->free(*s);
	*s = NULL;
}

/* Subscriptions: "INBOX" and "Gone" (subscribed, no such mailbox). */
struct mailferry_subs_iter {
	size_t pos;
};

static int td_subs_begin(struct mailferry_storage *st,
                         struct mailferry_subs_iter **iter_r)
{
	struct mailferry_subs_iter *it = td_api->alloc(sizeof(*it));

	(void)st;
	if (it == NULL)
		return MAILFERRY_E_NOMEM;
	it->pos = 0;
	*iter_r = it;
	return 0;
}

static int td_subs_next(struct mailferry_subs_iter *it, const char **name_r)
{
	static const char *const names[] = {"INBOX", "Gone"};

	if (it->pos >= 2)
		return 0;
	*name_r = names[it->pos++];
	return 1;
}

static int td_subs_end(struct mailferry_subs_iter **it)
{
	td_api->free(*it);
	*it = NULL;
	return 0;
}

static const struct mailferry_driver_ops td_ops = {
#ifdef TD_SMALL_OPS
    .struct_size = 16,
#else
    .struct_size = sizeof(struct mailferry_driver_ops),
#endif
    .storage_open = td_storage_open,
    .storage_close = td_storage_close,
    .storage_info = td_storage_info,
    .mailbox_list_begin = td_list_begin,
    .mailbox_list_next = td_list_next,
    .mailbox_list_end = td_list_end,
    .subscriptions_begin = td_subs_begin,
    .subscriptions_next = td_subs_next,
    .subscriptions_end = td_subs_end,
    .mailbox_open = td_mailbox_open,
    .mailbox_close = td_mailbox_close,
    .mailbox_status = td_mailbox_status,
    .msg_iter_begin = td_msg_iter_begin,
    .msg_iter_next = td_msg_iter_next,
    .msg_iter_end = td_msg_iter_end,
#ifndef TD_NULL_SLOT
    .msg_open = td_msg_open,
#endif
    .stream_read = td_stream_read,
    .stream_close = td_stream_close,
};

static const struct mailferry_driver td_driver = {
    .abi_major = TD_ABI_MAJOR,
    .abi_minor = TD_ABI_MINOR,
#ifdef TD_SMALL_DESC
    .struct_size = 12,
#else
    .struct_size = sizeof(struct mailferry_driver),
#endif
    .name = TD_NAME,
    .version = "9.9-test",
    .description = "in-memory test driver",
    .caps = MAILFERRY_CAP_READONLY | MAILFERRY_CAP_MSG_GUIDS,
    .ops = &td_ops,
};

#ifdef TD_NULL_SLOT
/* keep the compiler quiet about the unused function */
void *td_unused_msg_open(void);
void *td_unused_msg_open(void)
{
	return (void *)(uintptr_t)td_msg_open;
}
#endif

#ifdef TD_NO_ENTRY
/* A misspelt entry point: the loader must not find it. */
MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry_typo(const struct mailferry_core_api *api,
                            uint32_t core_abi_major, uint32_t core_abi_minor);
MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry_typo(const struct mailferry_core_api *api,
                            uint32_t core_abi_major, uint32_t core_abi_minor)
#else
MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
#endif
{
	(void)core_abi_minor;
	td_api = api;
#ifdef TD_RETURN_NULL
	api->log(NULL, MAILFERRY_LOG_WARNING,
	         "tnull: refusing to load on purpose (core ABI %u)",
	         core_abi_major);
	(void)&td_driver;
	return NULL;
#else
	(void)core_abi_major;
	return &td_driver;
#endif
}
