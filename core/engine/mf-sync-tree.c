/* SPDX-License-Identifier: MIT */
/*
 * Mailbox tree sync (dsync reference §2): mailboxes are matched by GUID;
 * deletes, renames and subscription changes are decided with the mailbox
 * logs' timestamps; names claimed by two mailboxes are resolved with
 * "-temp-" names; every decision is a pure function of both trees, so
 * sync(A,B) and sync(B,A) give the same tree.
 *
 * Both trees are in hand, so the merge is computed once and each side gets
 * the half that concerns it (a side that must not change gets nothing).
 */
#include <stdlib.h>
#include <strings.h>
#include <sys/random.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-private.h"

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

static struct mf_tnode *node_by_name(struct mf_sync_side *s, const char *name)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];
		if (n->exists && strcmp(n->name, name) == 0)
			return n;
	}
	return NULL;
}

static struct mf_tnode *box_by_guid(struct mf_sync_side *s,
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

static int fill_side(struct mf_sync_ctx *ctx, struct mf_sync_side *s)
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
static int64_t log_ts_name(struct mf_sync_side *s, uint32_t type,
                           const char *canon)
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

static void propagate_rename_ts(struct mf_sync_side *s)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];
		n->rename_ts = log_ts_name(s, MAILFERRY_LOG_RENAME, n->name);
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

/* --------------------------------------------------------- operations */

static void update_counts(struct mf_sync_ctx *ctx, int ret, unsigned int *ctr)
{
	if (ret == 0)
		(*ctr)++;
	(void)ctx;
}

/* A tree change failed: EXISTS/NOTFOUND mean the store changed under us
 * (exit 2, a second run fixes it); other errors fail the run. */
static int tree_op_failed(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                          int ret, const char *what, const char *name)
{
	if (ret == MAILFERRY_E_EXISTS || ret == MAILFERRY_E_NOTFOUND ||
	    ret == MAILFERRY_E_NOTSUPP) {
		mf_sync_changed(ctx, "%s: %s %s: %s", s->label, what, name,
		                mf_sync_side_error(s));
		return 0;
	}
	return mf_sync_fail(ctx, ret, "%s: %s %s: %s", s->label, what, name,
	                    mf_sync_side_error(s));
}

static bool has_children(struct mf_sync_side *s, const char *name);

static int op_delete(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                     struct mf_tnode *n)
{
	int ret = 0;

	mf_sync_note(ctx, s, "delete %s %s",
	             n->is_box ? "mailbox" : "directory", n->real);
	if (!ctx->p->dry_run && !n->planned)
		ret = s->st->ops->mailbox_delete(s->st->st, n->real,
		                                 n->is_box ? 0 : 1);
	if (ret < 0)
		return tree_op_failed(ctx, s, ret, "deleting mailbox", n->real);
	if (n->is_box && has_children(s, n->name)) {
		/* the children stay: what remains is their parent
		 * directory */
		n->is_box = false;
		memset(n->guid, 0, sizeof(n->guid));
	} else {
		n->exists = false;
	}
	update_counts(ctx, ret, &ctx->res->boxes_deleted);
	return 0;
}

static bool has_children(struct mf_sync_side *s, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];
		if (n->exists && strncmp(n->name, name, len) == 0 &&
		    n->name[len] == '/')
			return true;
	}
	return false;
}

/* Rename node n (and, as stores do, everything below it) to canonical
 * name to. */
static int op_rename(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                     struct mf_tnode *n, const char *to)
{
	char *to_real = mf_sync_side_name(s, to);
	char *old_name = mf_strdup(n->name);
	char *old_real = mf_strdup(n->real);
	size_t olen = strlen(old_name), orlen = strlen(old_real);
	int ret = 0;

	mf_sync_note(ctx, s, "rename %s to %s", old_real, to_real);
	if (!ctx->p->dry_run && !n->planned)
		ret = s->st->ops->mailbox_rename(s->st->st, old_real, to_real);
	if (ret < 0) {
		ret = tree_op_failed(ctx, s, ret, "renaming mailbox", old_real);
		free(to_real);
		free(old_name);
		free(old_real);
		return ret < 0 ? ret : 1;
	}
	ctx->res->boxes_renamed++;
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *c = &s->nodes.items[i];
		if (!c->exists)
			continue;
		if (c == n) {
			free(c->name);
			free(c->real);
			c->name = mf_strdup(to);
			c->real = mf_strdup(to_real);
		} else if (strncmp(c->name, old_name, olen) == 0 &&
		           c->name[olen] == '/' &&
		           strncmp(c->real, old_real, orlen) == 0) {
			char *nn = mf_strdup_printf("%s%s", to, c->name + olen);
			char *nr =
			    mf_strdup_printf("%s%s", to_real, c->real + orlen);
			free(c->name);
			free(c->real);
			c->name = nn;
			c->real = nr;
		}
	}
	free(to_real);
	free(old_name);
	free(old_real);
	return 0;
}

static struct mf_tnode *append_node(struct mf_sync_side *s, const char *canon,
                                    bool is_box, const uint8_t guid[16])
{
	struct mf_tnode *n = mf_array_append_zero(&s->nodes);

	n->name = mf_strdup(canon);
	n->real = mf_sync_side_name(s, canon);
	n->is_box = is_box;
	n->exists = true;
	if (guid != NULL)
		memcpy(n->guid, guid, 16);
	return n;
}

static int op_create(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                     const struct mf_tnode *from, const char *canon)
{
	struct mailferry_mailbox_create cr;
	struct mf_tnode *n;
	char *real = mf_sync_side_name(s, canon);
	int ret = 0;

	mf_zero(&cr);
	cr.struct_size = sizeof(cr);
	cr.directory = from->is_box ? 0 : 1;
	if (from->is_box) {
		memcpy(cr.guid, from->guid, 16);
		cr.uidvalidity = from->uidvalidity;
	}
	cr.special_use = from->special_use;
	mf_sync_note(ctx, s, "create %s %s",
	             from->is_box ? "mailbox" : "directory", real);
	if (!ctx->p->dry_run)
		ret = s->st->ops->mailbox_create(s->st->st, real, &cr);
	if (ret < 0) {
		ret = tree_op_failed(ctx, s, ret, "creating mailbox", real);
		free(real);
		return ret;
	}
	free(real);
	ctx->res->boxes_created++;
	n = append_node(s, canon, from->is_box,
	                from->is_box ? from->guid : NULL);
	n->uidvalidity = from->uidvalidity;
	n->uidnext = 1;
	n->special_use = from->special_use;
	n->planned = ctx->p->dry_run;
	return 0;
}

static int op_set_guid(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                       struct mf_tnode *n, const uint8_t guid[16])
{
	struct mailferry_mailbox_update up;
	char hex[MF_GUID128_HEX_LEN];
	int ret = 0;

	mf_guid128_to_hex(guid, hex);
	mf_zero(&up);
	up.struct_size = sizeof(up);
	up.fields = MAILFERRY_UPDATE_GUID;
	memcpy(up.guid, guid, 16);
	mf_sync_note(ctx, s, "set GUID of mailbox %s to %s", n->real, hex);
	if (!ctx->p->dry_run)
		ret = s->st->ops->mailbox_update(s->st->st, n->real, &up);
	if (ret < 0)
		return tree_op_failed(ctx, s, ret, "changing the GUID of",
		                      n->real);
	memcpy(n->guid, guid, 16);
	return 0;
}

/* Backup destination: give mailbox n the identity (GUID, UIDVALIDITY) of
 * the source's mailbox src of the same name. */
static int op_adopt(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                    struct mf_tnode *n, const struct mf_tnode *src)
{
	struct mailferry_mailbox_update up;
	int ret = 0;

	mf_zero(&up);
	up.struct_size = sizeof(up);
	up.fields = MAILFERRY_UPDATE_GUID | MAILFERRY_UPDATE_UIDVALIDITY;
	memcpy(up.guid, src->guid, 16);
	up.uidvalidity = src->uidvalidity;
	mf_sync_note(ctx, s,
	             "give mailbox %s the source's GUID and "
	             "UIDVALIDITY %u",
	             n->real, src->uidvalidity);
	if (!ctx->p->dry_run)
		ret = s->st->ops->mailbox_update(s->st->st, n->real, &up);
	if (ret < 0)
		return tree_op_failed(ctx, s, ret, "changing the identity of",
		                      n->real);
	memcpy(n->guid, src->guid, 16);
	n->uidvalidity = src->uidvalidity;
	return 0;
}

/* --------------------------------------------------------------- merge */

/* Duplicate GUIDs within one side (copied directories): the node whose
 * name sorts first gets a fresh random GUID, until all are unique. */
static int fix_duplicate_guids(struct mf_sync_ctx *ctx, struct mf_sync_side *s)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *a = &s->nodes.items[i];
		if (!a->exists || !a->is_box)
			continue;
		for (size_t j = i + 1; j < s->nodes.count; j++) {
			struct mf_tnode *b = &s->nodes.items[j];
			struct mf_tnode *first;
			uint8_t guid[16];
			int ret;

			if (!b->exists || !b->is_box ||
			    memcmp(a->guid, b->guid, 16) != 0)
				continue;
			first = strcmp(a->name, b->name) < 0 ? a : b;
			mf_error("%s: mailboxes %s and %s have the same GUID; "
			         "giving %s a new one",
			         s->label, a->real, b->real, first->real);
			if (!s->writable) {
				/* cannot repair: leave the first out */
				first->exists = false;
				continue;
			}
			if (getrandom(guid, sizeof(guid), 0) !=
			    (ssize_t)sizeof(guid))
				return mf_sync_fail(ctx, MAILFERRY_E_TEMP,
				                    "getrandom() failed");
			ret = op_set_guid(ctx, s, first, guid);
			if (ret < 0)
				return ret;
			i = (size_t)-1; /* restart: the new GUID may clash */
			break;
		}
	}
	return 0;
}

/* Mailboxes deleted on one side (logged with their GUID) and still present
 * on the other are deleted there, unless the GUID exists again where it was
 * deleted (restored). Two-way and one-way only. */
static int apply_box_deletes(struct mf_sync_ctx *ctx)
{
	for (int i = 0; i < 2; i++) {
		struct mf_sync_side *s = &ctx->side[i],
		                    *o = &ctx->side[OTHER(i)];
		for (size_t k = 0; k < s->log.count; k++) {
			const struct mf_tlog *l = &s->log.items[k];
			struct mf_tnode *n;
			int ret;

			if (l->type != MAILFERRY_LOG_DELETE_MAILBOX ||
			    box_by_guid(s, l->id) != NULL)
				continue;
			n = box_by_guid(o, l->id);
			if (n == NULL)
				continue;
			if (!o->writable) {
				/* -1: the source keeps it; the destination
				 * does not get it back either */
				n->exists = false;
				continue;
			}
			ret = op_delete(ctx, o, n);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* Backup: destination mailboxes the source does not have, or whose
 * UIDVALIDITY differs or UIDNEXT is higher than the source's (UIDs that
 * can never match), are deleted; they are recreated from the source. */
static int backup_prune(struct mf_sync_ctx *ctx)
{
	struct mf_sync_side *src = &ctx->side[ctx->source];
	struct mf_sync_side *dst = &ctx->side[OTHER(ctx->source)];

	for (size_t i = 0; i < dst->nodes.count; i++) {
		struct mf_tnode *d = &dst->nodes.items[i];
		struct mf_tnode *sn;
		int ret;

		if (!d->exists || !d->is_box)
			continue;
		sn = box_by_guid(src, d->guid);
		if (sn != NULL && sn->uidvalidity == d->uidvalidity &&
		    d->uidnext <= sn->uidnext)
			continue;
		if (sn == NULL) {
			/* a mailbox of the same name the destination made
			 * itself (autocreated INBOX): take the source's
			 * identity in place when its UIDs allow it; INBOX
			 * cannot be deleted */
			struct mf_tnode *same = node_by_name(src, d->name);
			if (same != NULL && same->is_box &&
			    box_by_guid(dst, same->guid) == NULL &&
			    d->uidnext <= same->uidnext) {
				ret = op_adopt(ctx, dst, d, same);
				if (ret < 0)
					return ret;
				continue;
			}
		}
		if (sn != NULL)
			mf_warning("%s: deleting mailbox %s: its UIDs cannot "
			           "match the source's (UIDVALIDITY %u vs %u, "
			           "UIDNEXT %u vs %u); it is copied again",
			           dst->label, d->real, d->uidvalidity,
			           sn->uidvalidity, d->uidnext, sn->uidnext);
		ret = op_delete(ctx, dst, d);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Same name, different GUID, neither known to the other side (typically
 * both sides autocreated INBOX): they are one mailbox. Two-way: both take
 * the higher GUID. One-way: the destination takes the source's. */
static int merge_same_name(struct mf_sync_ctx *ctx)
{
	struct mf_sync_side *a = &ctx->side[0], *b = &ctx->side[1];

	for (size_t i = 0; i < a->nodes.count; i++) {
		struct mf_tnode *na = &a->nodes.items[i], *nb;
		struct mf_sync_side *loser_side;
		struct mf_tnode *loser, *winner;
		int ret;

		if (!na->exists || !na->is_box || box_by_guid(b, na->guid))
			continue;
		nb = node_by_name(b, na->name);
		if (nb == NULL || !nb->is_box || box_by_guid(a, nb->guid))
			continue;
		if (ctx->source >= 0) {
			loser_side = &ctx->side[OTHER(ctx->source)];
		} else {
			loser_side = memcmp(na->guid, nb->guid, 16) < 0 ? a : b;
		}
		loser = loser_side == a ? na : nb;
		winner = loser_side == a ? nb : na;
		ret = op_set_guid(ctx, loser_side, loser, winner->guid);
		if (ret < 0)
			return ret;
	}
	return 0;
}

struct claim {
	const char *want;
	struct mf_tnode *node; /* a representative node */
	bool unchanged;        /* already has this name wherever it exists */
	int64_t ts;
};

static int cmp_claim(const void *x, const void *y)
{
	const struct claim *a = x, *b = y;
	int c = strcmp(a->want, b->want);

	if (c != 0)
		return c;
	/* winner first: unchanged, then newer, then lower GUID */
	if (a->unchanged != b->unchanged)
		return a->unchanged ? -1 : 1;
	if (a->ts != b->ts)
		return a->ts > b->ts ? -1 : 1;
	return memcmp(a->node->guid, b->node->guid, 16);
}

static void set_want(struct mf_tnode *n, const char *want)
{
	free(n->want);
	n->want = mf_strdup(want);
}

/* Decide each mailbox's final name. A mailbox known on both sides under
 * different names takes the name with the newer rename timestamp (a
 * backup source always wins; equal timestamps: the lower name, which both
 * directions agree on). Two mailboxes wanting one name: the one already
 * there, else the newer, else the lower GUID keeps it; the others get
 * "<name>-temp-<guid>". */
static void decide_names(struct mf_sync_ctx *ctx)
{
	struct mf_sync_side *a = &ctx->side[0], *b = &ctx->side[1];
	MF_ARRAY(struct claim) claims = MF_ARRAY_INIT;

	for (int i = 0; i < 2; i++) {
		struct mf_sync_side *s = &ctx->side[i];
		for (size_t k = 0; k < s->nodes.count; k++) {
			struct mf_tnode *n = &s->nodes.items[k];
			free(n->want);
			n->want = NULL;
		}
	}
	for (size_t i = 0; i < a->nodes.count; i++) {
		struct mf_tnode *na = &a->nodes.items[i], *nb;
		const struct mf_tnode *w;
		struct claim c;

		if (!na->exists || !na->is_box)
			continue;
		nb = box_by_guid(b, na->guid);
		if (nb == NULL || strcmp(na->name, nb->name) == 0) {
			w = na;
		} else if (ctx->source >= 0 &&
		           ctx->p->mode == MF_ENGINE_BACKUP) {
			w = ctx->source == 0 ? na : nb;
		} else if (strcmp(na->name, "INBOX") == 0 ||
		           strcmp(nb->name, "INBOX") == 0) {
			/* INBOX is never renamed away */
			w = strcmp(na->name, "INBOX") == 0 ? na : nb;
		} else if (na->rename_ts != nb->rename_ts) {
			w = na->rename_ts > nb->rename_ts ? na : nb;
		} else {
			w = strcmp(na->name, nb->name) < 0 ? na : nb;
		}
		set_want(na, w->name);
		if (nb != NULL)
			set_want(nb, w->name);
		c.want = na->want;
		c.node = na;
		c.unchanged = strcmp(na->name, na->want) == 0 &&
		              (nb == NULL || strcmp(nb->name, nb->want) == 0);
		c.ts = MF_MAX(na->rename_ts, nb != NULL ? nb->rename_ts : 0);
		mf_array_push(&claims, c);
	}
	for (size_t i = 0; i < b->nodes.count; i++) {
		struct mf_tnode *nb = &b->nodes.items[i];
		struct claim c;

		if (!nb->exists || !nb->is_box || nb->want != NULL)
			continue;
		set_want(nb, nb->name);
		c.want = nb->want;
		c.node = nb;
		c.unchanged = true;
		c.ts = nb->rename_ts;
		mf_array_push(&claims, c);
	}
	mf_qsort(claims.items, claims.count, sizeof(claims.items[0]),
	         cmp_claim);
	for (size_t i = 1; i < claims.count; i++) {
		struct claim *c = &claims.items[i];
		char hex[MF_GUID128_HEX_LEN];
		char *temp;
		struct mf_tnode *na, *nb;

		if (strcmp(c->want, claims.items[i - 1].want) != 0)
			continue;
		/* c loses: both sides give it the same temporary name */
		mf_guid128_to_hex(c->node->guid, hex);
		temp = mf_strdup_printf("%s-temp-%s", c->want, hex);
		na = box_by_guid(a, c->node->guid);
		nb = box_by_guid(b, c->node->guid);
		if (na != NULL)
			set_want(na, temp);
		if (nb != NULL)
			set_want(nb, temp);
		free(temp);
	}
	mf_array_free(&claims);
}

static bool is_below(const char *name, const char *parent)
{
	size_t len = strlen(parent);
	return strncmp(name, parent, len) == 0 && name[len] == '/';
}

/* Move every mailbox of side s to its wanted name. Renames carry the
 * children along, a name still occupied is first vacated through a
 * temporary name, and a move below itself goes via a temporary root name;
 * bounded so that a bug cannot loop forever. */
static int apply_renames(struct mf_sync_ctx *ctx, struct mf_sync_side *s)
{
	size_t limit = 3 * s->nodes.count + 10;

	for (size_t pass = 0; pass < limit; pass++) {
		struct mf_tnode *n = NULL, *occ;
		int ret;

		for (size_t i = 0; i < s->nodes.count; i++) {
			struct mf_tnode *c = &s->nodes.items[i];
			if (c->exists && c->is_box && c->want != NULL &&
			    strcmp(c->name, c->want) != 0) {
				n = c;
				break;
			}
		}
		if (n == NULL)
			return 0;
		occ = node_by_name(s, n->want);
		if (is_below(n->want, n->name) ||
		    (occ != NULL && occ->is_box)) {
			struct mf_tnode *mv =
			    occ != NULL && occ->is_box &&
			            !is_below(n->want, n->name)
			        ? occ
			        : n;
			char *temp;
			do {
				temp = mf_strdup_printf("%s-temp-%x",
				                        mv == n ? "mailferry"
				                                : mv->name,
				                        ctx->tmp_counter++);
				if (node_by_name(s, temp) == NULL)
					break;
				free(temp);
			} while (1);
			ret = op_rename(ctx, s, mv, temp);
			free(temp);
		} else {
			ret = op_rename(ctx, s, n, n->want);
		}
		if (ret < 0)
			return ret;
		if (ret > 0) {
			/* failed softly: give up on this mailbox */
			set_want(n, n->name);
		}
	}
	mf_sync_changed(ctx, "%s: mailbox renames did not converge", s->label);
	return 0;
}

static int cmp_node_name(const void *x, const void *y)
{
	const struct mf_tnode *const *a = x, *const *b = y;
	return strcmp((*a)->name, (*b)->name);
}

/* Mailboxes of the other side that this side lacks are created with the
 * same GUID and UIDVALIDITY. */
static int apply_creates(struct mf_sync_ctx *ctx, int i)
{
	struct mf_sync_side *s = &ctx->side[i], *o = &ctx->side[OTHER(i)];
	MF_ARRAY(struct mf_tnode *) todo = MF_ARRAY_INIT;
	int ret = 0;

	for (size_t k = 0; k < o->nodes.count; k++) {
		struct mf_tnode *n = &o->nodes.items[k];
		if (n->exists && n->is_box && box_by_guid(s, n->guid) == NULL)
			mf_array_push(&todo, n);
	}
	mf_qsort(todo.items, todo.count, sizeof(todo.items[0]), cmp_node_name);
	for (size_t k = 0; k < todo.count && ret >= 0; k++) {
		const struct mf_tnode *from = todo.items[k];
		const char *name = from->want != NULL ? from->want : from->name;
		struct mf_tnode *occ = node_by_name(s, name);

		if (occ != NULL && occ->is_box) {
			mf_sync_changed(ctx,
			                "%s: cannot create mailbox %s: "
			                "the name is taken",
			                s->label, name);
			continue;
		}
		if (occ != NULL)
			occ->exists = false; /* directory becomes the box */
		ret = op_create(ctx, s, from, name);
	}
	mf_array_free(&todo);
	return ret;
}

/* Directories (non-selectable nodes): present on one side only ⇒ created
 * on the other, unless the other side deleted it (DELETE_DIR log record)
 * after it was last created or renamed here, then it is deleted here if
 * nothing is below it. Backup: the destination follows the source. */
static int sync_dirs(struct mf_sync_ctx *ctx)
{
	for (int i = 0; i < 2; i++) {
		struct mf_sync_side *s = &ctx->side[i],
		                    *o = &ctx->side[OTHER(i)];
		for (size_t k = 0; k < s->nodes.count; k++) {
			struct mf_tnode *n = &s->nodes.items[k];
			bool delete_here;
			int ret = 0;

			if (!n->exists || n->is_box ||
			    node_by_name(o, n->name) != NULL)
				continue;
			if (ctx->p->mode == MF_ENGINE_BACKUP)
				delete_here = i != ctx->source;
			else
				delete_here =
				    log_ts_name(o, MAILFERRY_LOG_DELETE_DIR,
				                n->name) > n->rename_ts;
			if (delete_here) {
				if (s->writable && !has_children(s, n->name))
					ret = op_delete(ctx, s, n);
			} else if (o->writable) {
				struct mf_tnode copy = *n;
				copy.want = NULL;
				ret = op_create(ctx, o, &copy, n->name);
			}
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static struct mf_tsub *sub_find(struct mf_sync_side *s, const char *name)
{
	for (size_t i = 0; i < s->subs.count; i++) {
		if (strcmp(s->subs.items[i].name, name) == 0)
			return &s->subs.items[i];
	}
	return NULL;
}

static int op_subscribe(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                        const char *canon, bool subscribe)
{
	char *real = mf_sync_side_name(s, canon);
	int ret = 0;

	mf_sync_note(ctx, s, "%s %s", subscribe ? "subscribe" : "unsubscribe",
	             real);
	if (!ctx->p->dry_run)
		ret = s->st->ops->mailbox_set_subscribed(s->st->st, real,
		                                         subscribe ? 1 : 0);
	if (ret < 0)
		ret = tree_op_failed(
		    ctx, s, ret, subscribe ? "subscribing" : "unsubscribing",
		    real);
	free(real);
	return ret;
}

/* Subscriptions: the newer (un)subscribe record wins, equal timestamps
 * prefer subscribed; backup: the source's. */
static int sync_subs(struct mf_sync_ctx *ctx)
{
	if (!ctx->side[0].have_subs || !ctx->side[1].have_subs)
		return 0;
	for (int i = 0; i < 2; i++) {
		struct mf_sync_side *s = &ctx->side[i],
		                    *o = &ctx->side[OTHER(i)];
		for (size_t k = 0; k < s->subs.count; k++) {
			const char *name = s->subs.items[k].name;
			bool subscribe_other;
			int ret = 0;

			if (sub_find(o, name) != NULL)
				continue;
			if (ctx->p->mode == MF_ENGINE_BACKUP) {
				subscribe_other = i == ctx->source;
			} else {
				int64_t sub_ts = log_ts_name(
				    s, MAILFERRY_LOG_SUBSCRIBE, name);
				int64_t unsub_ts = log_ts_name(
				    o, MAILFERRY_LOG_UNSUBSCRIBE, name);
				subscribe_other = unsub_ts <= sub_ts;
			}
			if (subscribe_other) {
				if (o->writable)
					ret = op_subscribe(ctx, o, name, true);
			} else if (s->writable) {
				ret = op_subscribe(ctx, s, name, false);
			}
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

int mf_sync_tree(struct mf_sync_ctx *ctx)
{
	int ret;

	for (int i = 0; i < 2; i++) {
		ret = fill_side(ctx, &ctx->side[i]);
		if (ret < 0)
			return ret;
	}
	for (int i = 0; i < 2; i++) {
		ret = fix_duplicate_guids(ctx, &ctx->side[i]);
		if (ret < 0)
			return ret;
		propagate_rename_ts(&ctx->side[i]);
	}
	if (ctx->p->mode == MF_ENGINE_BACKUP) {
		ret = backup_prune(ctx);
	} else {
		ret = apply_box_deletes(ctx);
		if (ret == 0)
			ret = merge_same_name(ctx);
	}
	if (ret < 0)
		return ret;
	decide_names(ctx);
	for (int i = 0; i < 2; i++) {
		if (!ctx->side[i].writable)
			continue;
		ret = apply_renames(ctx, &ctx->side[i]);
		if (ret < 0)
			return ret;
	}
	for (int i = 0; i < 2; i++) {
		if (!ctx->side[i].writable)
			continue;
		ret = apply_creates(ctx, i);
		if (ret < 0)
			return ret;
	}
	ret = sync_dirs(ctx);
	if (ret == 0)
		ret = sync_subs(ctx);
	return ret;
}
