/* SPDX-License-Identifier: MIT */
/*
 * Reading one side's mailbox tree: mailboxes with their status, the
 * -m/-g/-x/-n filters, subscriptions, and the mailbox log whose timestamps
 * decide renames, directory deletes and subscription changes.
 */
#include <stdlib.h>
#include <strings.h>
#include <sys/random.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-tree.h"

#define OTHER(i) (1 - (i))

/* ---------------------------------------------------------------- fill */

static const char *const special_names[] = {
    "\\All",  "\\Archive", "\\Drafts", "\\Flagged",
    "\\Junk", "\\Sent",    "\\Trash",  "\\Important",
};

static bool special_match(const char *mask, uint32_t special_use)
{
	for (size_t i = 0; i < MF_N_ELEMENTS(special_names); i++) {
		if ((special_use & (1u << i)) != 0 &&
		    strcasecmp(mask, special_names[i]) == 0)
			return true;
	}
	return false;
}

bool mf_sync_wildcard_match(const char *mask, const char *name, char sep)
{
	while (*mask != '\0') {
		if (*mask == '*') {
			mask++;
			for (const char *p = name;; p++) {
				if (mf_sync_wildcard_match(mask, p, sep))
					return true;
				if (*p == '\0')
					return false;
			}
		}
		if (*mask == '%') {
			mask++;
			for (const char *p = name;; p++) {
				if (mf_sync_wildcard_match(mask, p, sep))
					return true;
				if (*p == '\0' || *p == sep)
					return false;
			}
		}
		if (*name == '\0')
			return false;
		if (*mask != '?' && *mask != *name)
			return false;
		mask++;
		name++;
	}
	return *name == '\0';
}

bool mf_sync_box_selected(const struct mf_sync_ctx *ctx, const char *canon,
                          const uint8_t guid[16], uint32_t special_use)
{
	const struct mf_sync_params *p = ctx->p;

	if (p->mailbox != NULL && p->mailbox[0] != '\0') {
		if (p->mailbox[0] == '\\') {
			if (!special_match(p->mailbox, special_use))
				return false;
		} else if (!mf_sync_wildcard_match(p->mailbox, canon, '/')) {
			return false;
		}
	}
	if (p->mailbox_guid != NULL && p->mailbox_guid[0] != '\0') {
		char hex[MF_GUID128_HEX_LEN];

		if (guid == NULL)
			return false;
		mf_guid128_to_hex(guid, hex);
		if (strcasecmp(hex, p->mailbox_guid) != 0)
			return false;
	}
	for (size_t i = 0; i < p->exclude_count; i++) {
		const char *x = p->excludes[i];

		if (x[0] == '\\' ? special_match(x, special_use)
		                 : mf_sync_wildcard_match(x, canon, '/'))
			return false;
	}
	if (p->prefix_count > 0) {
		bool ok = false;

		for (size_t i = 0; i < p->prefix_count && !ok; i++)
			ok = mf_str_begins(canon, p->prefixes[i]);
		if (!ok)
			return false;
	}
	return true;
}

struct mf_tnode *mf_tree_node_by_name(struct mf_sync_side *s, const char *name)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];
		if (n->exists && strcmp(n->name, name) == 0)
			return n;
	}
	return NULL;
}

struct mf_tnode *mf_tree_box_by_guid(struct mf_sync_side *s,
                                     const uint8_t guid[16])
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];
		if (n->exists && n->is_box && memcmp(n->guid, guid, 16) == 0)
			return n;
	}
	return NULL;
}

static int fill_status(struct mf_sync_side *s, struct mf_tnode *n)
{
	struct mf_storage *st = s->st;
	struct mailferry_mailbox *box;
	struct mailferry_mailbox_status status;
	int ret;

	ret = st->ops->mailbox_open(st->st, n->real, MAILFERRY_MAILBOX_READONLY,
	                            &box);
	if (ret < 0)
		return ret;
	mf_zero(&status);
	status.struct_size = sizeof(status);
	ret = st->ops->mailbox_status(box, &status);
	st->ops->mailbox_close(&box);
	if (ret < 0)
		return ret;
	memcpy(n->guid, status.guid, 16);
	n->uidvalidity = status.uidvalidity;
	n->uidnext = status.uidnext;
	n->messages = status.messages;
	n->highest_modseq = status.highest_modseq;
	return 0;
}

int mf_tree_fill_side(struct mf_sync_ctx *ctx, struct mf_sync_side *s)
{
	struct mf_storage *st = s->st;
	struct mailferry_list_iter *iter;
	const struct mailferry_mailbox_info *info;
	int ret;

	ret = st->ops->mailbox_list_begin(st->st, MAILFERRY_LIST_STATUS, &iter);
	if (ret < 0)
		return mf_sync_fail(ctx, ret, "%s: listing mailboxes: %s",
		                    s->label, mf_sync_side_error(s));
	while ((ret = st->ops->mailbox_list_next(iter, &info)) > 0) {
		struct mf_tnode n;

		mf_zero(&n);
		n.real = mf_strdup(info->name);
		n.name = mf_sync_canon_name(ctx, s->sep, info->name);
		n.is_box = (info->flags & MAILFERRY_MAILBOX_NOSELECT) == 0;
		n.exists = true;
		n.special_use = info->special_use;
		memcpy(n.guid, info->status.guid, 16);
		if ((info->flags & MAILFERRY_MAILBOX_HAVE_STATUS) != 0) {
			n.uidvalidity = info->status.uidvalidity;
			n.uidnext = info->status.uidnext;
			n.messages = info->status.messages;
			n.highest_modseq = info->status.highest_modseq;
		}
		mf_array_push(&s->nodes, n);
	}
	{
		int ret2 = st->ops->mailbox_list_end(&iter);
		if (ret == 0)
			ret = ret2;
	}
	if (ret < 0)
		return mf_sync_fail(ctx, ret, "%s: listing mailboxes: %s",
		                    s->label, mf_sync_side_error(s));
	/* status where the listing did not give it, then filters */
	for (size_t i = 0; i < s->nodes.count;) {
		struct mf_tnode *n = &s->nodes.items[i];

		if (n->is_box && n->uidvalidity == 0) {
			ret = fill_status(s, n);
			if (ret == MAILFERRY_E_NOTFOUND) {
				n->exists = false; /* deleted meanwhile */
			} else if (ret < 0) {
				return mf_sync_fail(
				    ctx, ret, "%s: mailbox %s: status: %s",
				    s->label, n->real, mf_sync_side_error(s));
			}
		}
		if (!n->exists || !mf_sync_box_selected(
		                      ctx, n->name, n->is_box ? n->guid : NULL,
		                      n->special_use)) {
			free(n->name);
			free(n->real);
			s->nodes.items[i] = s->nodes.items[--s->nodes.count];
			continue;
		}
		i++;
	}

	/* subscriptions */
	if (MF_HAS_OP(st, subscriptions_begin) &&
	    MF_HAS_OP(st, mailbox_set_subscribed)) {
		struct mailferry_subs_iter *siter;
		const char *name;

		ret = st->ops->subscriptions_begin(st->st, &siter);
		if (ret == MAILFERRY_E_NOTSUPP) {
			ret = 0;
		} else if (ret == 0) {
			s->have_subs = true;
			while ((ret = st->ops->subscriptions_next(siter,
			                                          &name)) > 0) {
				struct mf_tsub sub;
				sub.name =
				    mf_sync_canon_name(ctx, s->sep, name);
				sub.subscribed = true;
				if (!mf_sync_box_selected(ctx, sub.name, NULL,
				                          0)) {
					free(sub.name);
					continue;
				}
				mf_array_push(&s->subs, sub);
			}
			int ret2 = st->ops->subscriptions_end(&siter);
			if (ret == 0)
				ret = ret2;
		}
		if (ret < 0)
			return mf_sync_fail(ctx, ret,
			                    "%s: listing subscriptions: %s",
			                    s->label, mf_sync_side_error(s));
	}

	/* mailbox log */
	if (MF_HAS_OP(st, mailbox_log_begin)) {
		struct mailferry_log_iter *liter;
		const struct mailferry_log_record *rec;

		ret = st->ops->mailbox_log_begin(st->st, &liter);
		if (ret == MAILFERRY_E_NOTSUPP) {
			ret = 0;
		} else if (ret == 0) {
			while ((ret = st->ops->mailbox_log_next(liter, &rec)) >
			       0) {
				struct mf_tlog l;
				l.type = rec->type;
				memcpy(l.id, rec->id, 16);
				l.ts = rec->timestamp;
				mf_array_push(&s->log, l);
			}
			int ret2 = st->ops->mailbox_log_end(&liter);
			if (ret == 0)
				ret = ret2;
		}
		if (ret < 0)
			return mf_sync_fail(ctx, ret,
			                    "%s: reading the mailbox log: %s",
			                    s->label, mf_sync_side_error(s));
	}
	return 0;
}

/* Latest timestamp of a log record of type for canonical name, hashed in
 * the side's own separator as the store wrote it; 0 if none. */
int64_t mf_tree_log_ts(struct mf_sync_side *s, uint32_t type, const char *canon)
{
	char *real = mf_sync_side_name(s, canon);
	uint8_t id[16];
	int64_t ts = 0;

	mf_sync_name_hash(real, id);
	free(real);
	for (size_t i = 0; i < s->log.count; i++) {
		const struct mf_tlog *l = &s->log.items[i];
		if (l->type == type && memcmp(l->id, id, 16) == 0)
			ts = MF_MAX(ts, l->ts);
	}
	return ts;
}

void mf_tree_propagate_ts(struct mf_sync_side *s)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];
		n->rename_ts = mf_tree_log_ts(s, MAILFERRY_LOG_RENAME, n->name);
	}
	/* a node is at least as new as any of its ancestors */
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];
		for (size_t j = 0; j < s->nodes.count; j++) {
			struct mf_tnode *a = &s->nodes.items[j];
			size_t len = strlen(a->name);
			if (i != j && strncmp(n->name, a->name, len) == 0 &&
			    n->name[len] == '/')
				n->rename_ts =
				    MF_MAX(n->rename_ts, a->rename_ts);
		}
	}
}
