/* SPDX-License-Identifier: MIT */
/*
 * One tree change on one side: the driver call (skipped in a dry run, which
 * prints it instead), the counters, and the matching update of the
 * in-memory tree so later decisions see the new state.
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

/* --------------------------------------------------------- operations */

/* A tree change failed: EXISTS/NOTFOUND mean the store changed under us
 * (exit 2, a second run fixes it); other errors fail the run. */
int mf_tree_op_failed(struct mf_sync_ctx *ctx, struct mf_sync_side *s, int ret,
                      const char *what, const char *name)
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

/* Node n of side s is gone (deleted by this run): remember it as a
 * directory delete newer than anything in the logs, as the store's own log
 * will say on the next run. The directory sync then removes what is left
 * of it on the other side (a directory kept for children this run deleted
 * there) instead of creating it back here. */
static void log_gone(struct mf_sync_side *s, const struct mf_tnode *n)
{
	struct mf_tlog l;

	mf_zero(&l);
	l.type = MAILFERRY_LOG_DELETE_DIR;
	mf_sync_name_hash(n->real, l.id);
	l.ts = INT64_MAX;
	mf_array_push(&s->log, l);
}

/* The parents of a mailbox this run deleted or renamed away that have no
 * child left: a parent only there for its children (Maildir++, or a
 * mailbox deleted while it had children) goes with the last of them in
 * Dovecot's stores and in ours; a store that keeps empty directories (an
 * IMAP server) is asked to remove it, which only ever removes an empty
 * directory. Either way it is gone from the tree, or the directory sync
 * would create it again on the other side. */
static void drop_emptied_parents(struct mf_sync_ctx *ctx,
                                 struct mf_sync_side *s, const char *name)
{
	char *parent = mf_strdup(name), *slash;

	while ((slash = strrchr(parent, '/')) != NULL) {
		struct mf_tnode *p;

		*slash = '\0';
		p = mf_tree_node_by_name(s, parent);
		if (p == NULL || !p->exists || p->is_box ||
		    mf_tree_has_children(s, parent))
			break;
		if (!ctx->p->dry_run && !p->planned &&
		    s->st->ops->mailbox_delete(s->st->st, p->real, 1) < 0)
			mf_debug("%s: directory %s stays: %s", s->label,
			         p->real, mf_sync_side_error(s));
		p->exists = false;
		log_gone(s, p);
	}
	free(parent);
}

int mf_tree_delete(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                   struct mf_tnode *n)
{
	int ret = 0;

	mf_sync_note(ctx, s, "delete %s %s",
	             n->is_box ? "mailbox" : "directory", n->real);
	if (!ctx->p->dry_run && !n->planned)
		ret = s->st->ops->mailbox_delete(s->st->st, n->real,
		                                 n->is_box ? 0 : 1);
	if (ret == MAILFERRY_E_NOTFOUND && !n->is_box) {
		/* a directory that only existed through its children (IMAP,
		 * Maildir++) went with them: it is gone, as wanted */
		ret = 0;
	}
	if (ret < 0)
		return mf_tree_op_failed(ctx, s, ret, "deleting mailbox",
		                         n->real);
	if (n->is_box && mf_tree_has_children(s, n->name)) {
		/* the children stay: what remains is their parent
		 * directory */
		n->is_box = false;
		memset(n->guid, 0, sizeof(n->guid));
	} else {
		n->exists = false;
		log_gone(s, n);
		drop_emptied_parents(ctx, s, n->name);
	}
	ctx->res->boxes_deleted++;
	return 0;
}

int mf_tree_delete_inbox(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                         struct mf_tnode *n)
{
	int ret = 0;

	mf_sync_note(ctx, s, "delete mailbox %s", n->real);
	if (!ctx->p->dry_run && !n->planned)
		ret = s->st->ops->mailbox_delete(s->st->st, n->real, 0);
	if (ret == MAILFERRY_E_TEMP || ret == MAILFERRY_E_NOSPACE ||
	    ret == MAILFERRY_E_CANCELED)
		return mf_tree_op_failed(ctx, s, ret, "deleting mailbox",
		                         n->real);
	if (ret < 0) {
		mf_debug("%s: %s cannot be deleted (%s): emptying it", s->label,
		         n->real, mf_sync_side_error(s));
		return mf_tree_reset_box(ctx, s, n, NULL);
	}
	if (mf_tree_has_children(s, n->name)) {
		n->is_box = false;
		memset(n->guid, 0, sizeof(n->guid));
	} else {
		n->exists = false;
	}
	ctx->res->boxes_deleted++;
	return 0;
}

bool mf_tree_has_children(struct mf_sync_side *s, const char *name)
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
int mf_tree_rename(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
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
		ret = mf_tree_op_failed(ctx, s, ret, "renaming mailbox",
		                        old_real);
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
	/* the old parents may be left without children, as after a delete */
	drop_emptied_parents(ctx, s, old_name);
	free(to_real);
	free(old_name);
	free(old_real);
	return 0;
}

struct mf_tnode *mf_tree_append_node(struct mf_sync_side *s, const char *canon,
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

int mf_tree_create(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
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
		/* by name, the GUID is a name's, not the mailbox's: the
		 * store makes its own */
		if (!ctx->by_name)
			memcpy(cr.guid, from->guid, 16);
		cr.uidvalidity = from->uidvalidity;
	}
	cr.special_use = from->special_use;
	mf_sync_note(ctx, s, "create %s %s",
	             from->is_box ? "mailbox" : "directory", real);
	if (!ctx->p->dry_run)
		ret = s->st->ops->mailbox_create(s->st->st, real, &cr);
	if (ret < 0) {
		ret = mf_tree_op_failed(ctx, s, ret, "creating mailbox", real);
		free(real);
		return ret;
	}
	free(real);
	ctx->res->boxes_created++;
	n = mf_tree_append_node(s, canon, from->is_box,
	                        from->is_box ? from->guid : NULL);
	if (from->is_box && ctx->by_name)
		mf_tree_name_id(canon, n->guid);
	n->uidvalidity = from->uidvalidity;
	n->uidnext = 1;
	n->special_use = from->special_use;
	n->planned = ctx->p->dry_run;
	return 0;
}

int mf_tree_set_guid(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
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
		return mf_tree_op_failed(ctx, s, ret, "changing the GUID of",
		                         n->real);
	memcpy(n->guid, guid, 16);
	return 0;
}

/* Backup destination: give mailbox n the identity (GUID, UIDVALIDITY) of
 * the source's mailbox src of the same name. */
int mf_tree_adopt(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
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
		return mf_tree_op_failed(ctx, s, ret,
		                         "changing the identity of", n->real);
	memcpy(n->guid, src->guid, 16);
	n->uidvalidity = src->uidvalidity;
	return 0;
}

void mf_tree_name_id(const char *canon, uint8_t id_r[16])
{
	char *key = mf_strdup_printf("mailferry-name:%s", canon);

	mf_sync_name_hash(key, id_r);
	free(key);
}

/* Expunge every message of mailbox n; *count_r = how many. */
static int expunge_all(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                       struct mf_tnode *n, uint32_t *count_r)
{
	struct mf_storage *st = s->st;
	struct mailferry_mailbox *box = NULL;
	struct mailferry_msg_iter *iter;
	struct mailferry_trans *trans;
	const struct mailferry_msg *m;
	struct mailferry_msg_query q;
	MF_ARRAY(struct mailferry_uid_range) ranges = MF_ARRAY_INIT;
	struct mailferry_uidset set;
	const char *what = "opening";
	int ret, ret2;

	*count_r = 0;
	ret = st->ops->mailbox_open(st->st, n->real, 0, &box);
	if (ret == 0) {
		what = "listing";
		mf_zero(&q);
		q.struct_size = sizeof(q);
		q.uid_first = 1;
		q.uid_last = UINT32_MAX;
		ret = st->ops->msg_iter_begin(box, &q, &iter);
	}
	if (ret == 0) {
		while ((ret = st->ops->msg_iter_next(iter, &m)) > 0) {
			struct mailferry_uid_range *r =
			    ranges.count > 0 ? &ranges.items[ranges.count - 1]
			                     : NULL;
			if (r != NULL && r->last + 1 == m->uid) {
				r->last = m->uid;
			} else {
				r = mf_array_append_zero(&ranges);
				r->first = r->last = m->uid;
			}
			(*count_r)++;
		}
		ret2 = st->ops->msg_iter_end(&iter);
		if (ret == 0)
			ret = ret2;
	}
	if (ret == 0 && ranges.count > 0) {
		what = "expunging";
		set.ranges = ranges.items;
		set.count = ranges.count;
		ret = st->ops->trans_begin(box, MAILFERRY_TRANS_SYNC, &trans);
		if (ret == 0) {
			ret = st->ops->expunge(trans, &set);
			if (ret == 0)
				ret = st->ops->trans_commit(&trans, NULL);
			else
				st->ops->trans_rollback(&trans);
		}
	}
	if (box != NULL)
		st->ops->mailbox_close(&box);
	mf_array_free(&ranges);
	if (ret < 0)
		return mf_sync_fail(ctx, ret, "%s: mailbox %s: %s: %s",
		                    s->label, n->real, what,
		                    mf_sync_side_error(s));
	return 0;
}

static int update_box(struct mf_sync_side *s, struct mf_tnode *n,
                      uint32_t fields, const uint8_t guid[16],
                      uint32_t uidvalidity)
{
	struct mailferry_mailbox_update up;

	mf_zero(&up);
	up.struct_size = sizeof(up);
	up.fields = fields;
	if (guid != NULL)
		memcpy(up.guid, guid, 16);
	up.uidvalidity = uidvalidity;
	return s->st->ops->mailbox_update(s->st->st, n->real, &up);
}

int mf_tree_reset_box(struct mf_sync_ctx *ctx, struct mf_sync_side *s,
                      struct mf_tnode *n, const struct mf_tnode *src)
{
	struct mf_storage *st = s->st;
	struct mailferry_mailbox *box;
	struct mailferry_mailbox_status status;
	uint32_t uv = src != NULL ? src->uidvalidity : 0, count;
	bool set_guid = src != NULL && !ctx->by_name &&
	                (s->caps & MAILFERRY_CAP_MAILBOX_GUIDS) != 0;
	int ret;

	mf_sync_note(ctx, s, "empty mailbox %s in place%s", n->real,
	             uv != 0 ? " and restart its UIDs" : "");
	if (ctx->p->dry_run || n->planned) {
		ctx->res->msgs_expunged += n->messages;
		n->messages = 0;
		if (uv != 0) {
			n->uidvalidity = uv;
			n->uidnext = 1;
		}
		if (set_guid)
			memcpy(n->guid, src->guid, 16);
		return 0;
	}
	ret = expunge_all(ctx, s, n, &count);
	if (ret < 0)
		return ret;
	ctx->res->msgs_expunged += count;
	if (uv != 0) {
		/* a new UIDVALIDITY on an empty mailbox restarts its UIDs;
		 * when it already has the wanted one, pass through another */
		if (n->uidvalidity == uv)
			ret = update_box(s, n, MAILFERRY_UPDATE_UIDVALIDITY,
			                 NULL, uv > 1 ? uv - 1 : uv + 1);
		if (ret == 0)
			ret = update_box(
			    s, n,
			    MAILFERRY_UPDATE_UIDVALIDITY |
			        (set_guid ? MAILFERRY_UPDATE_GUID : 0),
			    set_guid ? src->guid : NULL, uv);
		if (ret == MAILFERRY_E_NOTSUPP)
			ret = 0; /* the store keeps its identity */
		if (ret < 0)
			return mf_tree_op_failed(
			    ctx, s, ret, "changing the identity of", n->real);
	}
	ret = st->ops->mailbox_open(st->st, n->real, MAILFERRY_MAILBOX_READONLY,
	                            &box);
	if (ret == 0) {
		mf_zero(&status);
		status.struct_size = sizeof(status);
		ret = st->ops->mailbox_status(box, &status);
		st->ops->mailbox_close(&box);
	}
	if (ret < 0)
		return mf_sync_fail(ctx, ret, "%s: mailbox %s: status: %s",
		                    s->label, n->real, mf_sync_side_error(s));
	if (!ctx->by_name)
		memcpy(n->guid, status.guid, 16);
	n->uidvalidity = status.uidvalidity;
	n->uidnext = status.uidnext;
	n->messages = status.messages;
	n->highest_modseq = status.highest_modseq;
	n->merged = true; /* its counters say nothing now */
	n->uids_stuck = uv != 0 && status.uidnext > 1;
	if (n->uids_stuck)
		mf_sync_changed(
		    ctx,
		    "%s: mailbox %s cannot restart its UIDs after "
		    "being emptied (UIDNEXT stays %u); its messages "
		    "are copied with new UIDs",
		    s->label, n->real, status.uidnext);
	return 0;
}
