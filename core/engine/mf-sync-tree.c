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
#include "mf-sync-tree.h"

#define OTHER(i) (1 - (i))

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
			ret = mf_tree_set_guid(ctx, s, first, guid);
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
static int cmp_node_name_desc(const void *x, const void *y)
{
	const struct mf_tnode *const *a = x, *const *b = y;
	return strcmp((*b)->name, (*a)->name);
}

static int apply_box_deletes(struct mf_sync_ctx *ctx)
{
	for (int i = 0; i < 2; i++) {
		struct mf_sync_side *s = &ctx->side[i],
		                    *o = &ctx->side[OTHER(i)];
		MF_ARRAY(struct mf_tnode *) todo = MF_ARRAY_INIT;
		int ret = 0;

		for (size_t k = 0; k < s->log.count; k++) {
			const struct mf_tlog *l = &s->log.items[k];
			struct mf_tnode *n;

			if (l->type != MAILFERRY_LOG_DELETE_MAILBOX ||
			    mf_tree_box_by_guid(s, l->id) != NULL)
				continue;
			n = mf_tree_box_by_guid(o, l->id);
			if (n == NULL)
				continue;
			if (!o->writable) {
				/* -1: the source keeps it; the destination
				 * does not get it back either */
				n->exists = false;
				continue;
			}
			mf_array_push(&todo, n);
		}
		/* Children first (a child's name sorts after its parent's):
		 * a parent deleted before its children would stay behind as
		 * a directory in stores that keep one (IMAP servers). */
		mf_qsort(todo.items, todo.count, sizeof(todo.items[0]),
		         cmp_node_name_desc);
		for (size_t k = 0; k < todo.count && ret >= 0; k++) {
			if (todo.items[k]->exists && todo.items[k]->is_box)
				ret = mf_tree_delete(ctx, o, todo.items[k]);
		}
		mf_array_free(&todo);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Backup: destination mailboxes the source does not have, or whose
 * UIDVALIDITY differs or UIDNEXT is higher than the source's (UIDs that
 * can never match), are deleted; they are recreated from the source.
 * INBOX cannot be deleted in every store (a Maildir++ root, IMAP): it is
 * emptied in place and takes the source's identity instead. When UIDs
 * are not kept (id_mode), only the mailbox's existence matters. */
static int backup_prune(struct mf_sync_ctx *ctx)
{
	struct mf_sync_side *src = &ctx->side[ctx->source];
	struct mf_sync_side *dst = &ctx->side[OTHER(ctx->source)];

	for (size_t i = 0; i < dst->nodes.count; i++) {
		struct mf_tnode *d = &dst->nodes.items[i];
		struct mf_tnode *sn;
		bool is_inbox;
		int ret;

		if (!d->exists || !d->is_box)
			continue;
		sn = mf_tree_box_by_guid(src, d->guid);
		is_inbox = strcmp(d->name, "INBOX") == 0;
		if (sn != NULL &&
		    (!is_inbox || strcmp(sn->name, "INBOX") == 0) &&
		    (ctx->id_mode || (sn->uidvalidity == d->uidvalidity &&
		                      d->uidnext <= sn->uidnext)))
			continue;
		if (is_inbox) {
			/* INBOX stays INBOX: it follows the source's INBOX,
			 * even when it has another source mailbox's GUID */
			const struct mf_tnode *same =
			    mf_tree_node_by_name(src, d->name);
			if (same != NULL && !same->is_box)
				same = NULL;
			if (same == NULL) {
				/* the source has none */
				ret = mf_tree_delete_inbox(ctx, dst, d);
			} else if (ctx->id_mode) {
				/* contents are matched by identity later */
				ret = ctx->by_name
				          ? 0
				          : mf_tree_set_guid(ctx, dst, d,
				                             same->guid);
			} else if (sn == NULL &&
			           mf_tree_box_by_guid(dst, same->guid) ==
			               NULL &&
			           d->uidnext <= same->uidnext) {
				ret = mf_tree_adopt(ctx, dst, d, same);
			} else {
				ret = mf_tree_reset_box(ctx, dst, d, same);
			}
			if (ret < 0)
				return ret;
			continue;
		}
		if (sn == NULL) {
			/* a mailbox of the same name the destination made
			 * itself (autocreated INBOX): take the source's
			 * identity in place when its UIDs allow it; INBOX
			 * cannot be deleted */
			struct mf_tnode *same =
			    mf_tree_node_by_name(src, d->name);
			if (same != NULL && same->is_box &&
			    mf_tree_box_by_guid(dst, same->guid) == NULL &&
			    d->uidnext <= same->uidnext) {
				ret = mf_tree_adopt(ctx, dst, d, same);
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
		ret = mf_tree_delete(ctx, dst, d);
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

		if (!na->exists || !na->is_box ||
		    mf_tree_box_by_guid(b, na->guid))
			continue;
		nb = mf_tree_node_by_name(b, na->name);
		if (nb == NULL || !nb->is_box ||
		    mf_tree_box_by_guid(a, nb->guid))
			continue;
		if (ctx->source >= 0) {
			loser_side = &ctx->side[OTHER(ctx->source)];
		} else {
			loser_side = memcmp(na->guid, nb->guid, 16) < 0 ? a : b;
		}
		loser = loser_side == a ? na : nb;
		winner = loser_side == a ? nb : na;
		ret = mf_tree_set_guid(ctx, loser_side, loser, winner->guid);
		na->merged = nb->merged = true;
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
		nb = mf_tree_box_by_guid(b, na->guid);
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
		na = mf_tree_box_by_guid(a, c->node->guid);
		nb = mf_tree_box_by_guid(b, c->node->guid);
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

/* A temporary name for node n of side s that no node has. */
static char *temp_name(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                       const char *base)
{
	char *temp;

	for (;;) {
		temp = mf_strdup_printf("%s-temp-%x", base, ctx->tmp_counter++);
		if (mf_tree_node_by_name(s, temp) == NULL)
			return temp;
		free(temp);
	}
}

/* n is to be renamed onto dir, a directory that holds other mailboxes.
 * Stores with real directories (dbox, Maildir with LAYOUT=fs, IMAP
 * servers) refuse to rename onto it, so dir moves away with its children
 * first and n takes its name; the children come back below n in the next
 * passes (their wanted names did not change) and the emptied temporary
 * directory is removed at the end. */
static int take_over_dir(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                         struct mf_tnode *n, struct mf_tnode *dir)
{
	char *temp = temp_name(ctx, s, dir->name);
	int ret = mf_tree_rename(ctx, s, dir, temp);

	free(temp);
	if (ret != 0)
		return ret;
	dir->vacated = true;
	return mf_tree_rename(ctx, s, n, n->want);
}

/* Directories emptied by take_over_dir() go once their children left. */
static int drop_vacated_dirs(struct mf_sync_ctx *ctx, struct mf_sync_side *s)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *d = &s->nodes.items[i];
		int ret;

		if (!d->exists || d->is_box || !d->vacated ||
		    mf_tree_has_children(s, d->name))
			continue;
		ret = mf_tree_delete(ctx, s, d);
		if (ret < 0)
			return ret;
		/* not a change of the user's tree */
		ctx->res->boxes_deleted--;
	}
	return 0;
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
			return drop_vacated_dirs(ctx, s);
		occ = mf_tree_node_by_name(s, n->want);
		if (occ != NULL && !occ->is_box &&
		    !is_below(n->want, n->name) &&
		    mf_tree_has_children(s, occ->name)) {
			ret = take_over_dir(ctx, s, n, occ);
		} else if (is_below(n->want, n->name) ||
		           (occ != NULL && occ->is_box)) {
			struct mf_tnode *mv =
			    occ != NULL && occ->is_box &&
			            !is_below(n->want, n->name)
			        ? occ
			        : n;
			char *temp =
			    temp_name(ctx, s, mv == n ? "mailferry" : mv->name);
			ret = mf_tree_rename(ctx, s, mv, temp);
			free(temp);
		} else {
			ret = mf_tree_rename(ctx, s, n, n->want);
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
		if (n->exists && n->is_box &&
		    mf_tree_box_by_guid(s, n->guid) == NULL)
			mf_array_push(&todo, n);
	}
	mf_qsort(todo.items, todo.count, sizeof(todo.items[0]), cmp_node_name);
	for (size_t k = 0; k < todo.count && ret >= 0; k++) {
		const struct mf_tnode *from = todo.items[k];
		const char *name = from->want != NULL ? from->want : from->name;
		struct mf_tnode *occ = mf_tree_node_by_name(s, name);

		if (occ != NULL && occ->is_box) {
			mf_sync_changed(ctx,
			                "%s: cannot create mailbox %s: "
			                "the name is taken",
			                s->label, name);
			continue;
		}
		if (occ != NULL)
			occ->exists = false; /* directory becomes the box */
		ret = mf_tree_create(ctx, s, from, name);
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
			    mf_tree_node_by_name(o, n->name) != NULL)
				continue;
			/* a directory with children is implied by them
			 * (Maildir++ lists such parents, other stores do
			 * not): the children bring it where needed */
			if (mf_tree_has_children(s, n->name))
				continue;
			if (ctx->p->mode == MF_ENGINE_BACKUP)
				delete_here = i != ctx->source;
			else
				delete_here =
				    mf_tree_log_ts(o, MAILFERRY_LOG_DELETE_DIR,
				                   n->name) > n->rename_ts;
			if (delete_here) {
				if (s->writable &&
				    !mf_tree_has_children(s, n->name))
					ret = mf_tree_delete(ctx, s, n);
			} else if (o->writable) {
				struct mf_tnode copy = *n;
				copy.want = NULL;
				ret = mf_tree_create(ctx, o, &copy, n->name);
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
		ret = mf_tree_op_failed(
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
				int64_t sub_ts = mf_tree_log_ts(
				    s, MAILFERRY_LOG_SUBSCRIBE, name);
				int64_t unsub_ts = mf_tree_log_ts(
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

/* By-name matching: every mailbox's identity becomes its canonical name
 * (mf_tree_name_id), so that the GUID-driven merge below matches, creates
 * and deletes by name and never renames. Two real names with one canonical
 * form cannot both be synced: the later one is left out. */
static void name_identities(struct mf_sync_side *s)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		struct mf_tnode *n = &s->nodes.items[i];

		if (!n->exists || !n->is_box)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct mf_tnode *o = &s->nodes.items[j];
			if (o->exists && o->is_box &&
			    strcmp(o->name, n->name) == 0) {
				mf_warning("%s: mailboxes %s and %s have the "
				           "same name after separator "
				           "translation; %s is not synced",
				           s->label, o->real, n->real, n->real);
				n->exists = false;
				break;
			}
		}
		if (n->exists)
			mf_tree_name_id(n->name, n->guid);
	}
}

int mf_sync_tree(struct mf_sync_ctx *ctx)
{
	int ret;

	for (int i = 0; i < 2; i++) {
		ret = mf_tree_fill_side(ctx, &ctx->side[i]);
		if (ret < 0)
			return ret;
	}
	for (int i = 0; i < 2; i++) {
		if (ctx->by_name)
			name_identities(&ctx->side[i]);
		else
			ret = fix_duplicate_guids(ctx, &ctx->side[i]);
		if (ret < 0)
			return ret;
		mf_tree_propagate_ts(&ctx->side[i]);
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
