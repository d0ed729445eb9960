/* SPDX-License-Identifier: MIT */
/*
 * imapc-storage.c - the storage and the mailbox tree: open, info, LIST,
 * LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE; plus the retry and
 * selection helpers the other files use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "mf-alloc.h"
#include "imapc-private.h"
#include "imapc-settings.h"

int imapc_storage_fail(struct imapc_storage *storage)
{
	return imapc_api->set_error(storage->ctx,
	                            imapc_client_error_code(storage->client),
	                            "%s", imapc_client_error(storage->client));
}

bool imapc_storage_retry(struct imapc_storage *storage, unsigned int *attempt)
{
	struct imapc_client *client = storage->client;

	if (imapc_client_is_connected(client))
		return false; /* the server said no: not a connection issue */
	if (imapc_client_error_code(client) == MAILFERRY_E_INVALIDDATA)
		return false; /* a server sending garbage would do it again */
	if (*attempt >= 2 || storage->retry_count == 0)
		return false;
	(*attempt)++;
	if (imapc_client_reconnect(client) < 0)
		return false;
	return true;
}

int imapc_box_select(struct imapc_mailbox *box)
{
	struct imapc_storage *storage = box->storage;
	struct imapc_client *client = storage->client;
	const struct imapc_selected *sel = imapc_client_selected(client);
	unsigned int attempt = 0;

	if (!imapc_client_is_connected(client) &&
	    !imapc_storage_retry(storage, &attempt))
		return imapc_storage_fail(storage);
	if (storage->selected == box && sel->name != NULL &&
	    strcmp(sel->name, box->remote) == 0)
		return 0;
	if (storage->selected != NULL)
		imapc_bodies_clear(storage->selected);
	storage->selected = NULL;
	while (imapc_client_select(client, box->remote, box->readonly) < 0) {
		if (!imapc_storage_retry(storage, &attempt))
			return imapc_storage_fail(storage);
	}
	if (box->uidvalidity != 0 && sel->uidvalidity != box->uidvalidity)
		return imapc_api->set_error(
		    storage->ctx, MAILFERRY_E_TEMP,
		    "UIDVALIDITY of mailbox '%s' changed from %u to %u "
		    "while it was open",
		    box->name, box->uidvalidity, sel->uidvalidity);
	box->uidvalidity = sel->uidvalidity;
	/* selected anew (first time, switch, reconnect): changes may have
	 * been missed, the cached listing is no longer "the last refresh" */
	imapc_mailbox_cache_clear(box);
	storage->selected = box;
	imapc_client_set_handler(client, imapc_mailbox_untagged, box);
	return 0;
}

static void client_log(void *context, int level, const char *msg)
{
	struct imapc_storage *storage = context;

	if (storage->in_keepalive) {
		/* the keepalive thread: the core logs from its own thread
		 * only; the next ABI call writes it (level in front) */
		mf_array_push(&storage->deferred_logs,
		              mf_strdup_printf("%c%s", '0' + level, msg));
		return;
	}
	imapc_api->log(storage->ctx, (enum mailferry_log_level)level, "%s",
	               msg);
}

void imapc_storage_enter(struct imapc_storage *storage)
{
	pthread_mutex_lock(&storage->lock);
	for (size_t i = 0; i < storage->deferred_logs.count; i++) {
		char *line = storage->deferred_logs.items[i];
		imapc_api->log(storage->ctx,
		               (enum mailferry_log_level)(line[0] - '0'), "%s",
		               line + 1);
		free(line);
	}
	storage->deferred_logs.count = 0;
}

void imapc_storage_leave(struct imapc_storage *storage)
{
	pthread_mutex_unlock(&storage->lock);
}

/* The keepalive thread: when no command went out for max_idle_msecs,
 * send NOOP (servers log idle clients out, NAT boxes forget idle
 * flows). It holds the lock while it talks, so it only runs while the
 * core is outside the driver; replies to prefetches still in flight are
 * taken in as the core's own reads would. A NOOP that fails leaves the
 * connection broken: the next call reconnects as after any drop. */
static void *keepalive_main(void *context)
{
	struct imapc_storage *storage = context;
	struct imapc_client *client = storage->client;
	int64_t max_idle = (int64_t)storage->max_idle_msecs;

	pthread_mutex_lock(&storage->lock);
	while (!storage->keepalive_stop) {
		int64_t now = imapc_now_msecs();
		int64_t due = imapc_client_last_send_msecs(client) + max_idle;
		if (now >= due) {
			if (imapc_client_is_connected(client)) {
				storage->in_keepalive = true;
				imapc_client_set_handler(
				    client,
				    storage->selected != NULL
				        ? imapc_mailbox_untagged
				        : NULL,
				    storage->selected);
				(void)imapc_client_run(client, "NOOP", "NOOP");
				storage->in_keepalive = false;
				continue;
			}
			due = now + max_idle; /* reconnected on next use */
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t wait = due - now;
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&storage->cond, &storage->lock,
		                             &ts);
	}
	pthread_mutex_unlock(&storage->lock);
	return NULL;
}

static void keepalive_start(struct imapc_storage *storage)
{
	if (storage->max_idle_msecs == 0)
		return;
	if (pthread_create(&storage->keepalive, NULL, keepalive_main,
	                   storage) != 0) {
		imapc_api->log(storage->ctx, MAILFERRY_LOG_WARNING,
		               "imapc: no keepalive thread (%s): an idle "
		               "connection is reconnected when used again",
		               strerror(errno));
		return;
	}
	storage->keepalive_running = true;
}

static void keepalive_stop(struct imapc_storage *storage)
{
	if (!storage->keepalive_running)
		return;
	pthread_mutex_lock(&storage->lock);
	storage->keepalive_stop = true;
	pthread_cond_signal(&storage->cond);
	pthread_mutex_unlock(&storage->lock);
	pthread_join(storage->keepalive, NULL);
	storage->keepalive_running = false;
}

static void storage_free(struct imapc_storage *storage)
{
	keepalive_stop(storage);
	imapc_client_free(&storage->client);
	for (size_t i = 0; i < storage->deferred_logs.count; i++)
		free(storage->deferred_logs.items[i]);
	mf_array_free(&storage->deferred_logs);
	for (size_t i = 0; i < storage->guids.count; i++)
		free(storage->guids.items[i].remote);
	mf_array_free(&storage->guids);
	pthread_cond_destroy(&storage->cond);
	pthread_mutex_destroy(&storage->lock);
	free(storage->display);
	free(storage->list_prefix);
	free(storage->host);
	free(storage->user);
	free(storage);
}

/* LIST "" "" tells the hierarchy separator. */
static void sep_handler(struct imapc_client *client,
                        const struct imapc_response *resp, void *context)
{
	struct imapc_storage *storage = context;

	(void)client;
	if (resp->count >= 3 && imapc_arg_atom_eq(&resp->args[0], "LIST")) {
		const char *sep = imapc_arg_str(&resp->args[2]);
		if (sep != NULL && strlen(sep) == 1)
			storage->sep = sep[0];
	}
}

/* NAMESPACE: the first personal namespace gives the prefix and the
 * separator, e.g. (("INBOX." ".")) on Courier or Cyrus. */
struct ns_result {
	bool found;
	char *prefix;
	char sep;
};

static void ns_handler(struct imapc_client *client,
                       const struct imapc_response *resp, void *context)
{
	struct ns_result *ns = context;
	const struct imapc_arg *pers, *first;

	(void)client;
	if (resp->count < 2 || !imapc_arg_atom_eq(&resp->args[0], "NAMESPACE"))
		return;
	pers = &resp->args[1];
	if (pers->type != IMAPC_ARG_LIST || pers->count == 0)
		return; /* NIL: no personal namespace */
	first = &pers->list[0];
	if (first->type != IMAPC_ARG_LIST || first->count < 2 ||
	    imapc_arg_str(&first->list[0]) == NULL)
		return;
	const char *sep = imapc_arg_str(&first->list[1]);
	if (sep != NULL && strlen(sep) != 1)
		return;
	free(ns->prefix);
	ns->prefix = mf_strdup(first->list[0].str);
	ns->sep = sep == NULL ? '\0' : sep[0]; /* NIL: flat namespace */
	ns->found = true;
}

/* Learn the hierarchy separator, and without imapc_list_prefix the
 * personal namespace's prefix: NAMESPACE when offered, else LIST "" "".
 * 0 or -1 (client error set). */
static int learn_namespace(struct imapc_storage *storage)
{
	struct imapc_client *client = storage->client;
	struct ns_result ns = {false, NULL, '/'};

	if (*storage->list_prefix == '\0' &&
	    (imapc_client_caps(client) & IMAPC_CAP_NAMESPACE) != 0) {
		imapc_client_set_handler(client, ns_handler, &ns);
		int ret = imapc_client_run(client, "NAMESPACE", "NAMESPACE");
		imapc_client_set_handler(client, NULL, NULL);
		if (ret < 0 && !imapc_client_is_connected(client)) {
			free(ns.prefix);
			return -1;
		}
	}
	if (ns.found) {
		free(storage->list_prefix);
		storage->list_prefix = ns.prefix;
		storage->sep = ns.sep;
		/* INBOX belongs to the personal namespace even when its
		 * prefix does not cover the name "INBOX" */
		storage->list_inbox = *ns.prefix != '\0';
		imapc_api->log(storage->ctx, MAILFERRY_LOG_DEBUG,
		               "imapc: %s: personal namespace prefix '%s', "
		               "separator '%c'",
		               storage->display, ns.prefix,
		               ns.sep == '\0' ? ' ' : ns.sep);
		return 0;
	}
	imapc_client_set_handler(client, sep_handler, storage);
	int ret = imapc_client_run(client, "LIST \"\" \"\"", "LIST");
	imapc_client_set_handler(client, NULL, NULL);
	if (ret < 0)
		return -1;
	/* a configured "INBOX." is the Courier-style personal namespace */
	size_t plen = strlen(storage->list_prefix);
	storage->list_inbox =
	    plen == 6 && strncasecmp(storage->list_prefix, "INBOX", 5) == 0 &&
	    storage->list_prefix[5] == storage->sep;
	return 0;
}

static uint32_t storage_caps(struct imapc_storage *storage)
{
	uint32_t caps = imapc_client_caps(storage->client);
	uint32_t out = MAILFERRY_CAP_KEYWORDS | MAILFERRY_CAP_SUBSCRIPTIONS;

	if ((caps & (IMAPC_CAP_X_GUID | IMAPC_CAP_OBJECTID)) != 0)
		out |= MAILFERRY_CAP_MSG_GUIDS;
	if ((caps & IMAPC_CAP_CONDSTORE) != 0)
		out |= MAILFERRY_CAP_MODSEQ;
	if ((caps & IMAPC_CAP_QRESYNC) != 0 &&
	    imapc_client_qresync(storage->client))
		out |= MAILFERRY_CAP_MODSEQ | MAILFERRY_CAP_CHANGE_LOG;
	if (storage->readonly)
		out |= MAILFERRY_CAP_READONLY;
	return out;
}

int imapc_storage_open(struct mailferry_ctx *ctx,
                       const struct mailferry_open_params *params,
                       struct mailferry_storage **storage_r)
{
	struct imapc_settings set;
	struct imapc_storage *storage;
	char *error = NULL;
	int ret;

	if ((ret = imapc_settings_read(ctx, params, &set, &error)) < 0) {
		ret = imapc_api->set_error(ctx, ret, "%s", error);
		free(error);
		imapc_settings_free(&set);
		return ret;
	}
	storage = mf_calloc(1, sizeof(*storage));
	storage->ctx = ctx;
	pthread_mutex_init(&storage->lock, NULL);
	pthread_condattr_t cattr;
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&storage->cond, &cattr);
	pthread_condattr_destroy(&cattr);
	storage->max_idle_msecs = set.max_idle_msecs;
	storage->readonly = (params->flags & MAILFERRY_STORAGE_READONLY) != 0;
	storage->window = set.window;
	storage->retry_count = set.client.retry_count;
	storage->list_prefix = mf_strdup(set.list_prefix);
	storage->host = mf_strdup(set.host);
	storage->user = mf_strdup(set.user != NULL ? set.user : "");
	storage->sep = '/';
	set.client.log = client_log;
	set.client.log_context = storage;
	storage->client = imapc_client_new(&set.client);
	if (set.command != NULL)
		storage->display =
		    mf_strdup_printf("imapc:command '%s'", set.command);
	else
		storage->display = mf_strdup_printf(
		    "imap%s://%s@%s:%u/",
		    set.client.conn.ssl == IMAPC_SSL_IMAPS ? "s" : "",
		    set.user != NULL ? set.user : "", set.host,
		    set.client.conn.port);
	imapc_settings_free(&set);

	if (imapc_client_connect(storage->client) < 0) {
		ret = imapc_storage_fail(storage);
		goto fail;
	}
	if (learn_namespace(storage) < 0) {
		ret = imapc_storage_fail(storage);
		goto fail;
	}
	storage->info.struct_size = sizeof(storage->info);
	storage->info.hier_sep = '/';
	storage->info.display = storage->display;
	storage->info.caps = storage_caps(storage);
	keepalive_start(storage);
	*storage_r = (struct mailferry_storage *)storage;
	return 0;
fail:
	storage_free(storage);
	return ret;
}

void imapc_storage_close(struct mailferry_storage **_storage)
{
	struct imapc_storage *storage = (struct imapc_storage *)*_storage;

	if (storage == NULL)
		return;
	*_storage = NULL;
	storage_free(storage);
}

int imapc_storage_info(struct mailferry_storage *_storage,
                       const struct mailferry_storage_info **info_r)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;

	storage->info.caps = storage_caps(storage);
	*info_r = &storage->info;
	return 0;
}

/* ---- mailbox list ---------------------------------------------------- */

struct imapc_list_entry {
	char *name;   /* ABI name */
	char *remote; /* for STATUS matching */
	uint32_t flags;
	uint32_t special_use;
	struct mailferry_mailbox_status status;
	bool have_status;
};

struct mailferry_list_iter {
	struct imapc_storage *storage;
	MF_ARRAY(struct imapc_list_entry) entries;
	bool lsub;
	size_t pos;
	struct mailferry_mailbox_info info;
	int error;
};

static const struct {
	const char *name;
	uint32_t bit;
} special_use_map[] = {
    {"\\All", MAILFERRY_SPECIAL_ALL},
    {"\\Archive", MAILFERRY_SPECIAL_ARCHIVE},
    {"\\Drafts", MAILFERRY_SPECIAL_DRAFTS},
    {"\\Flagged", MAILFERRY_SPECIAL_FLAGGED},
    {"\\Junk", MAILFERRY_SPECIAL_JUNK},
    {"\\Sent", MAILFERRY_SPECIAL_SENT},
    {"\\Trash", MAILFERRY_SPECIAL_TRASH},
    {"\\Important", MAILFERRY_SPECIAL_IMPORTANT},
};

static uint32_t special_use_from_flag(const char *flag)
{
	for (size_t i = 0; i < MF_N_ELEMENTS(special_use_map); i++) {
		if (strcasecmp(flag, special_use_map[i].name) == 0)
			return special_use_map[i].bit;
	}
	return 0;
}

/* " (USE (\Sent \Trash))" for CREATE. */
static void special_use_append(struct mf_buf *buf, uint32_t bits)
{
	bool sp = false;

	mf_buf_append_str(buf, " (USE (");
	for (size_t i = 0; i < MF_N_ELEMENTS(special_use_map); i++) {
		if ((bits & special_use_map[i].bit) == 0)
			continue;
		mf_buf_printf(buf, "%s%s", sp ? " " : "",
		              special_use_map[i].name);
		sp = true;
	}
	mf_buf_append_str(buf, "))");
}

static struct imapc_list_entry *list_find(struct mailferry_list_iter *iter,
                                          const char *name, bool remote)
{
	for (size_t i = 0; i < iter->entries.count; i++) {
		struct imapc_list_entry *e = &iter->entries.items[i];
		if (strcmp(remote ? e->remote : e->name, name) == 0)
			return e;
	}
	return NULL;
}

bool imapc_storage_guid_lookup(struct imapc_storage *storage,
                               const char *remote, uint32_t uidvalidity,
                               uint8_t guid_r[16])
{
	for (size_t i = 0; i < storage->guids.count; i++) {
		const struct imapc_guid_entry *g = &storage->guids.items[i];
		if (g->uidvalidity == uidvalidity &&
		    strcmp(g->remote, remote) == 0) {
			memcpy(guid_r, g->guid, 16);
			return true;
		}
	}
	return false;
}

static void guid_remember(struct imapc_storage *storage, const char *remote,
                          const struct mailferry_mailbox_status *st)
{
	struct imapc_guid_entry *g = NULL;

	for (size_t i = 0; i < storage->guids.count && g == NULL; i++) {
		if (strcmp(storage->guids.items[i].remote, remote) == 0)
			g = &storage->guids.items[i];
	}
	if (g == NULL) {
		g = mf_array_append_zero(&storage->guids);
		g->remote = mf_strdup(remote);
	}
	g->uidvalidity = st->uidvalidity;
	memcpy(g->guid, st->guid, 16);
}

static void parse_status_items(struct imapc_storage *storage, const char *name,
                               const char *remote, const struct imapc_arg *list,
                               struct mailferry_mailbox_status *st)
{
	const char *xguid = NULL;

	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
	for (size_t i = 0; list->type == IMAPC_ARG_LIST && i + 1 < list->count;
	     i += 2) {
		const struct imapc_arg *k = &list->list[i];
		const struct imapc_arg *v = &list->list[i + 1];
		uint32_t n;
		uint64_t n64;
		if (imapc_arg_atom_eq(k, "MESSAGES") &&
		    imapc_arg_uint32(v, &n) == 0)
			st->messages = n;
		else if (imapc_arg_atom_eq(k, "UIDNEXT") &&
		         imapc_arg_uint32(v, &n) == 0)
			st->uidnext = n;
		else if (imapc_arg_atom_eq(k, "UIDVALIDITY") &&
		         imapc_arg_uint32(v, &n) == 0)
			st->uidvalidity = n;
		else if (imapc_arg_atom_eq(k, "HIGHESTMODSEQ") &&
		         imapc_arg_uint64(v, &n64) == 0)
			st->highest_modseq = n64;
		else if (imapc_arg_atom_eq(k, "X-GUID") ||
		         imapc_arg_atom_eq(k, "MAILBOXID")) {
			if (v->type == IMAPC_ARG_LIST && v->count > 0)
				v = &v->list[0];
			xguid = imapc_arg_str(v);
		}
	}
	st->first_recent_uid = st->uidnext;
	imapc_mailbox_guid(storage, name, st->uidvalidity, xguid, st->guid);
	if (xguid != NULL && st->uidvalidity != 0)
		guid_remember(storage, remote, st);
}

static void list_handler(struct imapc_client *client,
                         const struct imapc_response *resp, void *context)
{
	struct mailferry_list_iter *iter = context;
	struct imapc_storage *storage = iter->storage;
	const struct imapc_arg *args = resp->args;
	bool utf8 = imapc_client_utf8(client);

	if (resp->count >= 4 && (imapc_arg_atom_eq(&args[0], "LIST") ||
	                         imapc_arg_atom_eq(&args[0], "LSUB"))) {
		const char *sep = imapc_arg_str(&args[2]);
		const char *remote = imapc_arg_str(&args[3]);
		char *name;
		uint32_t flags = 0, special = 0;

		if (remote == NULL || args[1].type != IMAPC_ARG_LIST)
			return;
		if (sep != NULL && strlen(sep) == 1)
			storage->sep = sep[0];
		for (size_t i = 0; i < args[1].count; i++) {
			const char *f = imapc_arg_str(&args[1].list[i]);
			if (f == NULL)
				continue;
			if (strcasecmp(f, "\\Noselect") == 0 ||
			    strcasecmp(f, "\\NonExistent") == 0)
				flags |= MAILFERRY_MAILBOX_NOSELECT;
			else if (strcasecmp(f, "\\HasChildren") == 0)
				flags |= MAILFERRY_MAILBOX_CHILDREN;
			special |= special_use_from_flag(f);
		}
		if (iter->lsub && strcmp(remote, "") == 0)
			return;
		if (imapc_name_from_remote(storage, remote, utf8, &name) < 0) {
			if (strcmp(remote, storage->list_prefix) != 0 &&
			    *remote != '\0')
				imapc_api->log(
				    storage->ctx, MAILFERRY_LOG_WARNING,
				    "imapc: skipping mailbox '%s': its "
				    "name cannot be expressed as UTF-8 "
				    "with '/' separators",
				    remote);
			return;
		}
		if (list_find(iter, name, false) != NULL) {
			free(name);
			return;
		}
		struct imapc_list_entry *e =
		    mf_array_append_zero(&iter->entries);
		e->name = name;
		e->remote = mf_strdup(remote);
		e->flags = flags;
		e->special_use = special;
	} else if (resp->count >= 3 && imapc_arg_atom_eq(&args[0], "STATUS")) {
		const char *remote = imapc_arg_str(&args[1]);
		struct imapc_list_entry *e =
		    remote == NULL ? NULL : list_find(iter, remote, true);
		if (e == NULL)
			return;
		parse_status_items(storage, e->name, e->remote, &args[2],
		                   &e->status);
		e->have_status = true;
	}
}

static int name_cmp(const void *a, const void *b)
{
	const struct imapc_list_entry *ea = a, *eb = b;
	const unsigned char *p = (const unsigned char *)ea->name;
	const unsigned char *q = (const unsigned char *)eb->name;

	/* '/' sorts before everything so parents come before children */
	for (; *p != '\0' && *p == *q; p++, q++)
		;
	int cp = *p == '/' ? 1 : (*p == '\0' ? 0 : *p + 1);
	int cq = *q == '/' ? 1 : (*q == '\0' ? 0 : *q + 1);
	return cp - cq;
}

/* Parents the server did not list (possible with some servers) are added
 * as directories, so the core always sees a complete tree. */
static void add_missing_parents(struct mailferry_list_iter *iter)
{
	size_t count = iter->entries.count;

	for (size_t i = 0; i < count; i++) {
		char *name = mf_strdup(iter->entries.items[i].name);
		char *slash;
		while ((slash = strrchr(name, '/')) != NULL) {
			*slash = '\0';
			if (list_find(iter, name, false) != NULL)
				continue;
			struct imapc_list_entry *e =
			    mf_array_append_zero(&iter->entries);
			e->name = mf_strdup(name);
			e->remote = mf_strdup("");
			e->flags = MAILFERRY_MAILBOX_NOSELECT |
			           MAILFERRY_MAILBOX_CHILDREN;
		}
		free(name);
	}
}

static int list_run(struct mailferry_list_iter *iter, uint32_t flags)
{
	struct imapc_storage *storage = iter->storage;
	struct imapc_client *client = storage->client;
	uint32_t caps = imapc_client_caps(client);
	struct mf_buf line = MF_BUF_INIT, pattern = MF_BUF_INIT;
	struct mf_buf items = MF_BUF_INIT, ret_opts = MF_BUF_INIT;
	struct mf_buf inbox_line = MF_BUF_INIT;
	bool want_status = (flags & MAILFERRY_LIST_STATUS) != 0;
	bool inline_status = want_status && (caps & IMAPC_CAP_LIST_STATUS);
	int ret;

	mf_buf_append_str(&items, "MESSAGES UIDNEXT UIDVALIDITY");
	if ((caps & IMAPC_CAP_CONDSTORE) != 0)
		mf_buf_append_str(&items, " HIGHESTMODSEQ");
	if ((caps & IMAPC_CAP_X_GUID) != 0)
		mf_buf_append_str(&items, " X-GUID");
	else if ((caps & IMAPC_CAP_OBJECTID) != 0)
		mf_buf_append_str(&items, " MAILBOXID");

	mf_buf_printf(&pattern, "%s*", storage->list_prefix);
	mf_buf_append_str(&line, iter->lsub ? "LSUB \"\" " : "LIST \"\" ");
	if (imapc_append_astring(client, &line, pattern.data) < 0) {
		ret = imapc_api->set_error(storage->ctx, MAILFERRY_E_INVALID,
		                           "imapc_list_prefix '%s' cannot be "
		                           "sent",
		                           storage->list_prefix);
		goto out;
	}
	if (!iter->lsub && (caps & IMAPC_CAP_LIST_EXTENDED) != 0) {
		/* LIST-EXTENDED only tells about children when asked */
		mf_buf_append_str(&ret_opts, " RETURN (CHILDREN");
		if ((caps & IMAPC_CAP_SPECIAL_USE) != 0)
			mf_buf_append_str(&ret_opts, " SPECIAL-USE");
		if (inline_status)
			mf_buf_printf(&ret_opts, " STATUS (%s)", items.data);
		mf_buf_append_c(&ret_opts, ')');
		mf_buf_append_str(&line, ret_opts.data);
	}
	if (storage->list_inbox && *storage->list_prefix != '\0') {
		/* "INBOX.*" does not match INBOX itself: ask for it too, in
		 * the same round trip */
		mf_buf_printf(&inbox_line, "%s \"\" INBOX%s",
		              iter->lsub ? "LSUB" : "LIST",
		              ret_opts.len > 0 ? ret_opts.data : "");
	}
	unsigned int attempt = 0;
	for (;;) {
		imapc_client_set_handler(client, list_handler, iter);
		struct imapc_cmd *icmd = NULL;
		if (inbox_line.len > 0)
			icmd = imapc_cmd_send(client, inbox_line.data, NULL);
		ret = imapc_client_run(client, line.data,
		                       iter->lsub ? "LSUB" : "LIST");
		if (icmd != NULL) {
			/* a server without INBOX in this namespace may say
			 * NO: only a broken connection counts */
			if (imapc_cmd_wait(client, icmd) < 0 &&
			    icmd->disconnected)
				ret = -1;
			imapc_cmd_free(client, &icmd);
		}
		if (ret == 0 || !imapc_storage_retry(storage, &attempt))
			break;
		for (size_t i = 0; i < iter->entries.count; i++) {
			free(iter->entries.items[i].name);
			free(iter->entries.items[i].remote);
		}
		iter->entries.count = 0;
	}
	if (ret < 0) {
		ret = imapc_storage_fail(storage);
		goto out;
	}
	if (want_status && !inline_status) {
		/* one pipelined STATUS per mailbox: no round trip each */
		MF_ARRAY(struct imapc_cmd *) cmds = MF_ARRAY_INIT;
		for (size_t i = 0; i < iter->entries.count; i++) {
			struct imapc_list_entry *e = &iter->entries.items[i];
			struct mf_buf st = MF_BUF_INIT;
			if ((e->flags & MAILFERRY_MAILBOX_NOSELECT) != 0)
				continue;
			mf_buf_append_str(&st, "STATUS ");
			if (imapc_append_astring(client, &st, e->remote) < 0) {
				mf_buf_free(&st);
				continue;
			}
			mf_buf_printf(&st, " (%s)", items.data);
			struct imapc_cmd *cmd =
			    imapc_cmd_send(client, st.data, NULL);
			mf_buf_free(&st);
			if (cmd != NULL)
				mf_array_push(&cmds, cmd);
		}
		ret = 0;
		for (size_t i = 0; i < cmds.count; i++) {
			if (imapc_cmd_wait(client, cmds.items[i]) < 0 &&
			    cmds.items[i]->disconnected)
				ret = -1;
			imapc_cmd_free(client, &cmds.items[i]);
		}
		mf_array_free(&cmds);
		if (ret < 0) {
			ret = imapc_storage_fail(storage);
			goto out;
		}
	}
	add_missing_parents(iter);
	if (iter->entries.count > 1)
		mf_qsort(iter->entries.items, iter->entries.count,
		         sizeof(iter->entries.items[0]), name_cmp);
	ret = 0;
out:
	imapc_client_set_handler(
	    client, storage->selected != NULL ? imapc_mailbox_untagged : NULL,
	    storage->selected);
	mf_buf_free(&line);
	mf_buf_free(&pattern);
	mf_buf_free(&items);
	mf_buf_free(&ret_opts);
	mf_buf_free(&inbox_line);
	return ret;
}

static void list_iter_free(struct mailferry_list_iter *iter)
{
	for (size_t i = 0; i < iter->entries.count; i++) {
		free(iter->entries.items[i].name);
		free(iter->entries.items[i].remote);
	}
	mf_array_free(&iter->entries);
	free(iter);
}

struct imapc_storage *imapc_list_iter_storage(struct mailferry_list_iter *it)
{
	return it->storage;
}

int imapc_mailbox_list_begin(struct mailferry_storage *_storage, uint32_t flags,
                             struct mailferry_list_iter **iter_r)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;
	struct mailferry_list_iter *iter = mf_calloc(1, sizeof(*iter));
	int ret;

	iter->storage = storage;
	if ((ret = list_run(iter, flags)) < 0) {
		list_iter_free(iter);
		return ret;
	}
	*iter_r = iter;
	return 0;
}

int imapc_mailbox_list_next(struct mailferry_list_iter *iter,
                            const struct mailferry_mailbox_info **info_r)
{
	if (iter->pos >= iter->entries.count)
		return 0;
	struct imapc_list_entry *e = &iter->entries.items[iter->pos++];
	memset(&iter->info, 0, sizeof(iter->info));
	iter->info.struct_size = sizeof(iter->info);
	iter->info.name = e->name;
	iter->info.flags = e->flags;
	iter->info.special_use = e->special_use;
	iter->info.status.struct_size = sizeof(iter->info.status);
	if (e->have_status) {
		iter->info.flags |= MAILFERRY_MAILBOX_HAVE_STATUS;
		iter->info.status = e->status;
	}
	*info_r = &iter->info;
	return 1;
}

int imapc_mailbox_list_end(struct mailferry_list_iter **_iter)
{
	struct mailferry_list_iter *iter = *_iter;
	int ret;

	if (iter == NULL)
		return 0;
	*_iter = NULL;
	ret = iter->error;
	list_iter_free(iter);
	return ret;
}

/* ---- subscriptions --------------------------------------------------- */

struct mailferry_subs_iter {
	struct mailferry_list_iter *list;
};

struct imapc_storage *imapc_subs_iter_storage(struct mailferry_subs_iter *it)
{
	return it->list->storage;
}

int imapc_subscriptions_begin(struct mailferry_storage *_storage,
                              struct mailferry_subs_iter **iter_r)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;
	struct mailferry_list_iter *list = mf_calloc(1, sizeof(*list));
	int ret;

	list->storage = storage;
	list->lsub = true;
	if ((ret = list_run(list, 0)) < 0) {
		list_iter_free(list);
		return ret;
	}
	/* only names the server listed, not the parents added for the tree */
	struct mailferry_subs_iter *iter = mf_calloc(1, sizeof(*iter));
	iter->list = list;
	*iter_r = iter;
	return 0;
}

int imapc_subscriptions_next(struct mailferry_subs_iter *iter,
                             const char **name_r)
{
	struct mailferry_list_iter *list = iter->list;

	while (list->pos < list->entries.count) {
		struct imapc_list_entry *e = &list->entries.items[list->pos++];
		if (*e->remote == '\0')
			continue; /* synthesized parent */
		*name_r = e->name;
		return 1;
	}
	return 0;
}

int imapc_subscriptions_end(struct mailferry_subs_iter **_iter)
{
	struct mailferry_subs_iter *iter = *_iter;

	if (iter == NULL)
		return 0;
	*_iter = NULL;
	list_iter_free(iter->list);
	free(iter);
	return 0;
}

/* ---- tree changes ---------------------------------------------------- */

static int check_writable(struct imapc_storage *storage)
{
	if (storage->readonly)
		return imapc_api->set_error(storage->ctx, MAILFERRY_E_PERM,
		                            "%s is opened read-only",
		                            storage->display);
	return 0;
}

/* Run "VERB name [name2][extra]" with retries. ok_after_retry is the
 * error code that counts as success after a reconnect (the first attempt
 * may have done it before the connection dropped). */
static int run_name_cmd(struct imapc_storage *storage, const char *verb,
                        const char *name, const char *name2, const char *extra,
                        int ok_after_retry)
{
	struct imapc_client *client = storage->client;
	struct mf_buf line = MF_BUF_INIT;
	char *remote = NULL, *remote2 = NULL, *error = NULL;
	unsigned int attempt = 0;
	int ret;

	bool utf8 = imapc_client_utf8(client);

	if (imapc_name_to_remote(storage, name, utf8, &remote, &error) < 0 ||
	    (name2 != NULL && imapc_name_to_remote(storage, name2, utf8,
	                                           &remote2, &error) < 0)) {
		ret = imapc_api->set_error(storage->ctx, MAILFERRY_E_INVALID,
		                           "%s", error);
		goto out;
	}
	if (strcasecmp(verb, "DELETE") == 0 ||
	    strcasecmp(verb, "RENAME") == 0) {
		/* deleting or renaming the mailbox the server has selected
		 * (even when its handle is closed): leave it first, or a
		 * server may drop the connection (Dovecot: BYE) */
		const char *sel = imapc_client_selected(client)->name;
		if (sel != NULL && strcmp(sel, remote) == 0) {
			if (storage->selected != NULL) {
				imapc_bodies_clear(storage->selected);
				storage->selected = NULL;
			}
			imapc_client_set_handler(client, NULL, NULL);
			if ((imapc_client_caps(client) & IMAPC_CAP_UNSELECT) !=
			    0)
				(void)imapc_client_run(client, "UNSELECT",
				                       "UNSELECT");
			else if (strcmp(remote, "INBOX") != 0)
				/* not CLOSE: that would expunge \Deleted
				 * mail; selecting another mailbox does not */
				(void)imapc_client_run(client, "EXAMINE INBOX",
				                       "EXAMINE");
			imapc_client_unselect(client);
		}
	}
	mf_buf_printf(&line, "%s ", verb);
	if (imapc_append_astring(client, &line, remote) < 0 ||
	    (remote2 != NULL &&
	     (mf_buf_append_c(&line, ' '),
	      imapc_append_astring(client, &line, remote2) < 0))) {
		ret = imapc_api->set_error(storage->ctx, MAILFERRY_E_INVALID,
		                           "mailbox name '%s' cannot be sent",
		                           name);
		goto out;
	}
	if (extra != NULL)
		mf_buf_append_str(&line, extra);
	for (;;) {
		struct imapc_cmd *cmd = imapc_cmd_send(client, line.data, NULL);
		if (cmd == NULL) {
			ret = -1;
		} else {
			ret = imapc_cmd_wait(client, cmd);
			if (ret < 0 && !cmd->disconnected) {
				int code = imapc_cmd_error_code(cmd);
				if (attempt > 0 && code == ok_after_retry)
					ret = 0;
				else
					ret = imapc_api->set_error(
					    storage->ctx, code,
					    "%s mailbox '%s' on %s failed: "
					    "%s%s%s%s",
					    verb, name, storage->display,
					    cmd->code != NULL ? "[" : "",
					    cmd->code != NULL ? cmd->code : "",
					    cmd->code != NULL ? "] " : "",
					    cmd->text);
				imapc_cmd_free(client, &cmd);
				goto out;
			}
			imapc_cmd_free(client, &cmd);
		}
		if (ret == 0)
			break;
		if (!imapc_storage_retry(storage, &attempt)) {
			ret = imapc_storage_fail(storage);
			break;
		}
	}
out:
	mf_buf_free(&line);
	free(remote);
	free(remote2);
	free(error);
	return ret;
}

int imapc_mailbox_create(struct mailferry_storage *_storage, const char *name,
                         const struct mailferry_mailbox_create *params)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;
	int ret;

	if ((ret = check_writable(storage)) < 0)
		return ret;
	/* IMAP has no separate directories: a directory is created as a
	 * mailbox (an empty one does no harm); identity cannot be chosen
	 * (no MAILFERRY_CAP_MAILBOX_GUIDS). Special-use attributes go with
	 * the CREATE when the server offers CREATE-SPECIAL-USE (RFC 6154);
	 * otherwise, or when it refuses them ([USEATTR]: e.g. a second
	 * \Sent), the mailbox is created plainly: a missing attribute loses
	 * no mail. */
	uint32_t special = 0, known = 0;
	if (params != NULL &&
	    MAILFERRY_HAS_FIELD(params, struct mailferry_mailbox_create,
	                        special_use))
		special = params->special_use;
	for (size_t i = 0; i < MF_N_ELEMENTS(special_use_map); i++)
		known |= special_use_map[i].bit;
	special &= known; /* bits IMAP has no attribute for are dropped */
	if (special != 0 && (imapc_client_caps(storage->client) &
	                     IMAPC_CAP_CREATE_SPECIAL_USE) != 0) {
		struct mf_buf use = MF_BUF_INIT;
		special_use_append(&use, special);
		ret = run_name_cmd(storage, "CREATE", name, NULL, use.data,
		                   MAILFERRY_E_EXISTS);
		mf_buf_free(&use);
		if (ret != MAILFERRY_E_NOTSUPP)
			return ret;
		imapc_api->log(storage->ctx, MAILFERRY_LOG_WARNING,
		               "imapc: %s refused the special-use attributes "
		               "of mailbox '%s'; creating it without them",
		               storage->display, name);
	}
	return run_name_cmd(storage, "CREATE", name, NULL, NULL,
	                    MAILFERRY_E_EXISTS);
}

int imapc_mailbox_delete(struct mailferry_storage *_storage, const char *name,
                         int directory)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;
	int ret;

	(void)directory;
	if ((ret = check_writable(storage)) < 0)
		return ret;
	return run_name_cmd(storage, "DELETE", name, NULL, NULL,
	                    MAILFERRY_E_NOTFOUND);
}

int imapc_mailbox_rename(struct mailferry_storage *_storage,
                         const char *old_name, const char *new_name)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;
	int ret;

	if ((ret = check_writable(storage)) < 0)
		return ret;
	return run_name_cmd(storage, "RENAME", old_name, new_name, NULL,
	                    MAILFERRY_E_NOTFOUND);
}

int imapc_mailbox_set_subscribed(struct mailferry_storage *_storage,
                                 const char *name, int subscribed)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;
	int ret;

	if ((ret = check_writable(storage)) < 0)
		return ret;
	/* (un)subscribing twice is harmless, so any retry is fine */
	return run_name_cmd(storage, subscribed ? "SUBSCRIBE" : "UNSUBSCRIBE",
	                    name, NULL, NULL, 1);
}

int imapc_mailbox_update(struct mailferry_storage *_storage, const char *name,
                         const struct mailferry_mailbox_update *update)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;

	if (update->fields == 0)
		return 0;
	return imapc_api->set_error(storage->ctx, MAILFERRY_E_NOTSUPP,
	                            "mailbox '%s': IMAP cannot set a "
	                            "mailbox's GUID, UIDVALIDITY, UIDNEXT or "
	                            "modseqs",
	                            name);
}
