/* SPDX-License-Identifier: MIT */
/* The mailbox tree of a dbox storage: listing, create, delete, rename,
 * subscriptions and the mailbox change log. */
#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "mf-mailbox-log.h"
#include "mf-subscriptions.h"
#include "mf-uidvalidity.h"
#include "dbox-ops.h"

/* ---- listing ---- */

struct dbox_list_entry {
	char *name;
	uint32_t flags;
};

struct mailferry_list_iter {
	struct mailferry_storage *st;
	uint32_t flags;
	MF_ARRAY(struct dbox_list_entry) entries;
	size_t pos;
	struct mailferry_mailbox_info info;
	int error;
};

static bool is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dbox_list_entry *)a)->name,
	              ((const struct dbox_list_entry *)b)->name);
}

/* Walk dir (storage name prefix sprefix, UTF-8 prefix vprefix); returns
 * true when something below is listed (for the CHILDREN flag). */
static bool list_walk(struct mailferry_list_iter *it, const char *dir,
                      const char *vprefix, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool any = false;

	if (d == NULL) {
		if (errno != ENOENT && errno != ENOTDIR)
			it->error = dbox_error(it->st, dbox_errno_code(errno),
			                       "opendir(%s) failed: %s", dir,
			                       strerror(errno));
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		char *path, *vname, *mails;
		struct dbox_list_entry *e;
		size_t idx;

		if (de->d_name[0] == '.' ||
		    strcmp(de->d_name, DBOX_MAIL_DIR) == 0)
			continue;
		path = mf_strdup_printf("%s/%s", dir, de->d_name);
		if (!is_dir(path) || depth > 64) {
			free(path);
			continue;
		}
		vname = dbox_name_from_storage(de->d_name);
		if (vname == NULL) {
			dbox_api->log(it->st->ctx, MAILFERRY_LOG_WARNING,
			              "%s: not a valid modified UTF-7 mailbox "
			              "name, skipped",
			              path);
			free(path);
			continue;
		}
		any = true;
		idx = it->entries.count;
		e = mf_array_append_zero(&it->entries);
		e->name = vprefix[0] == '\0'
		              ? mf_strdup(vname)
		              : mf_strdup_printf("%s/%s", vprefix, vname);
		mails = mf_strdup_printf("%s/" DBOX_MAIL_DIR, path);
		if (!is_dir(mails))
			e->flags |= MAILFERRY_MAILBOX_NOSELECT;
		free(mails);
		{
			char *child_prefix = mf_strdup(e->name);
			if (list_walk(it, path, child_prefix, depth + 1))
				it->entries.items[idx].flags |=
				    MAILFERRY_MAILBOX_CHILDREN;
			free(child_prefix);
		}
		free(vname);
		free(path);
	}
	closedir(d);
	return any;
}

int dbox_mailbox_list_begin(struct mailferry_storage *st, uint32_t flags,
                            struct mailferry_list_iter **iter_r)
{
	struct mailferry_list_iter *it = mf_calloc(1, sizeof(*it));
	char *dir = mf_strdup_printf("%s/" DBOX_MAILBOX_DIR, st->root);

	it->st = st;
	it->flags = flags;
	list_walk(it, dir, "", 0);
	free(dir);
	/* sorted by name: a parent sorts before its children ("a" < "a/b")
	 * except when a sibling like "a b" sorts in between, which is fine:
	 * the parent still comes first */
	mf_qsort(it->entries.items, it->entries.count,
	         sizeof(*it->entries.items), entry_cmp);
	*iter_r = it;
	return 0;
}

int dbox_mailbox_list_next(struct mailferry_list_iter *it,
                           const struct mailferry_mailbox_info **info_r)
{
	struct dbox_list_entry *e;

	if (it->pos >= it->entries.count)
		return 0;
	e = &it->entries.items[it->pos++];
	mf_zero(&it->info);
	it->info.struct_size = sizeof(it->info);
	it->info.name = e->name;
	it->info.flags = e->flags;
	it->info.status.struct_size = sizeof(it->info.status);
	if ((e->flags & MAILFERRY_MAILBOX_NOSELECT) == 0) {
		struct mailferry_mailbox *box;
		int ret = dbox_mailbox_open_unchecked(it->st, e->name, &box);

		if (ret == 0) {
			if ((it->flags & MAILFERRY_LIST_STATUS) != 0) {
				ret = dbox_mailbox_status_fill(
				    box, &it->info.status);
				if (ret == 0)
					it->info.flags |=
					    MAILFERRY_MAILBOX_HAVE_STATUS;
			} else {
				dbox_index_guid(it->st->fmt, box->idx,
				                it->info.status.guid);
			}
			dbox_ops.mailbox_close(&box);
		}
		/* a mailbox directory without index is a new, empty
		 * mailbox to Dovecot: list it without status */
		if (ret < 0 && ret != MAILFERRY_E_NOTFOUND && it->error == 0)
			it->error = ret;
	}
	*info_r = &it->info;
	return 1;
}

int dbox_mailbox_list_end(struct mailferry_list_iter **_it)
{
	struct mailferry_list_iter *it = *_it;
	int ret;

	if (it == NULL)
		return 0;
	*_it = NULL;
	ret = it->error;
	for (size_t i = 0; i < it->entries.count; i++)
		free(it->entries.items[i].name);
	mf_array_free(&it->entries);
	free(it);
	return ret;
}

/* ---- mailbox log ---- */

static char *mailbox_log_path(struct mailferry_storage *st)
{
	return mf_strdup_printf("%s/dovecot.mailbox.log", st->root);
}

int dbox_log_guid(struct mailferry_storage *st, int type,
                  const uint8_t guid[16])
{
	struct mf_mailbox_log_rec rec;
	char *path = mailbox_log_path(st), *err = NULL;
	int ret = 0;

	mf_zero(&rec);
	rec.type = (uint8_t)type;
	memcpy(rec.guid, guid, 16);
	rec.timestamp = (int64_t)time(NULL);
	if (mf_mailbox_log_append_perm(path, &rec, 1, &st->perm, &err) < 0)
		ret = dbox_error_take(st, MAILFERRY_E_TEMP, err);
	free(path);
	return ret;
}

int dbox_log_name(struct mailferry_storage *st, int type, const char *name)
{
	uint8_t guid[16];

	mf_mailbox_log_name_guid(name, guid);
	return dbox_log_guid(st, type, guid);
}

struct mailferry_log_iter {
	struct mf_mailbox_log_rec *recs;
	uint32_t count, pos;
	struct mailferry_log_record rec;
};

int dbox_mailbox_log_begin(struct mailferry_storage *st,
                           struct mailferry_log_iter **iter_r)
{
	struct mailferry_log_iter *it = mf_calloc(1, sizeof(*it));
	char *path = mailbox_log_path(st), *err = NULL;

	if (mf_mailbox_log_read(path, &it->recs, &it->count, &err) < 0) {
		free(path);
		free(it);
		return dbox_error_take(st, MAILFERRY_E_INVALIDDATA, err);
	}
	free(path);
	*iter_r = it;
	return 0;
}

int dbox_mailbox_log_next(struct mailferry_log_iter *it,
                          const struct mailferry_log_record **rec_r)
{
	while (it->pos < it->count) {
		const struct mf_mailbox_log_rec *r = &it->recs[it->pos++];

		if (r->type < MF_MAILBOX_LOG_DELETE_MAILBOX ||
		    r->type > MF_MAILBOX_LOG_UNSUBSCRIBE)
			continue; /* create-dir: not an ABI record */
		mf_zero(&it->rec);
		it->rec.struct_size = sizeof(it->rec);
		it->rec.type = r->type;
		memcpy(it->rec.id, r->guid, 16);
		it->rec.timestamp = r->timestamp;
		*rec_r = &it->rec;
		return 1;
	}
	return 0;
}

int dbox_mailbox_log_end(struct mailferry_log_iter **_it)
{
	struct mailferry_log_iter *it = *_it;

	if (it != NULL) {
		*_it = NULL;
		free(it->recs);
		free(it);
	}
	return 0;
}

/* ---- subscriptions ---- */

struct mailferry_subs_iter {
	char **names;
	uint32_t count, pos;
	char *cur;
};

static char *subs_path(struct mailferry_storage *st)
{
	return mf_strdup_printf("%s/subscriptions", st->root);
}

int dbox_subscriptions_begin(struct mailferry_storage *st,
                             struct mailferry_subs_iter **iter_r)
{
	struct mailferry_subs_iter *it = mf_calloc(1, sizeof(*it));
	char *path = subs_path(st), *err = NULL;

	if (mf_subscriptions_read(path, '/', &it->names, &it->count, &err) <
	    0) {
		free(path);
		free(it);
		return dbox_error_take(st, MAILFERRY_E_INVALIDDATA, err);
	}
	free(path);
	*iter_r = it;
	return 0;
}

int dbox_subscriptions_next(struct mailferry_subs_iter *it, const char **name_r)
{
	while (it->pos < it->count) {
		const char *sname = it->names[it->pos++];

		free(it->cur);
		it->cur = dbox_name_from_storage(sname);
		/* names that are not valid mUTF-7 are shown as stored */
		if (it->cur == NULL)
			it->cur = mf_strdup(sname);
		*name_r = it->cur;
		return 1;
	}
	return 0;
}

int dbox_subscriptions_end(struct mailferry_subs_iter **_it)
{
	struct mailferry_subs_iter *it = *_it;

	if (it != NULL) {
		*_it = NULL;
		mf_subscriptions_free(&it->names);
		free(it->cur);
		free(it);
	}
	return 0;
}

int dbox_mailbox_set_subscribed(struct mailferry_storage *st, const char *name,
                                int subscribed)
{
	char *path = subs_path(st), *err = NULL, *sname;
	char **names = NULL;
	uint32_t count = 0, i;
	MF_ARRAY(const char *) out = MF_ARRAY_INIT;
	bool found = false;
	int ret = 0;

	if (st->readonly) {
		free(path);
		return dbox_error(st, MAILFERRY_E_PERM, "%s is read-only",
		                  st->display);
	}
	/* subscriptions may name mailboxes that do not exist, but the name
	 * must still be valid */
	{
		char *norm = dbox_name_normalise(st, name);
		if (norm == NULL) {
			free(path);
			return MAILFERRY_E_INVALID;
		}
		sname = dbox_name_to_storage(norm);
		free(norm);
	}
	if (mf_subscriptions_read(path, '/', &names, &count, &err) < 0) {
		ret = dbox_error_take(st, MAILFERRY_E_INVALIDDATA, err);
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (strcmp(names[i], sname) == 0) {
			found = true;
			if (subscribed)
				mf_array_push(&out, names[i]);
		} else {
			mf_array_push(&out, names[i]);
		}
	}
	if (found == (subscribed != 0))
		goto out; /* nothing changes */
	if (subscribed)
		mf_array_push(&out, sname);
	if (mf_subscriptions_write_perm(path, '/', out.items,
	                                (uint32_t)out.count, &st->perm,
	                                &err) < 0) {
		ret = dbox_error_take(st, MAILFERRY_E_TEMP, err);
		goto out;
	}
	ret = dbox_log_name(st,
	                    subscribed ? MF_MAILBOX_LOG_SUBSCRIBE
	                               : MF_MAILBOX_LOG_UNSUBSCRIBE,
	                    name);
out:
	mf_array_free(&out);
	if (names != NULL)
		mf_subscriptions_free(&names);
	free(sname);
	free(path);
	return ret;
}

/* ---- create / delete / rename ---- */

/* Dovecot caches the mailbox list in dovecot.list.index; after changing
 * the tree behind its back the safe move is to drop that cache (it is
 * rebuilt from the directories). */
static void drop_list_index(struct mailferry_storage *st)
{
	static const char *const names[] = {"dovecot.list.index",
	                                    "dovecot.list.index.log",
	                                    "dovecot.list.index.log.2"};

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		char *p = mf_strdup_printf("%s/%s", st->root, names[i]);
		(void)unlink(p);
		free(p);
	}
}

static int check_writable(struct mailferry_storage *st)
{
	if (st->readonly)
		return dbox_error(st, MAILFERRY_E_PERM, "%s is read-only",
		                  st->display);
	return 0;
}

int dbox_mailbox_create(struct mailferry_storage *st, const char *name,
                        const struct mailferry_mailbox_create *params)
{
	char *norm, *path = NULL, *mails = NULL, *err = NULL;
	uint8_t guid[16];
	uint32_t uidvalidity = params != NULL ? params->uidvalidity : 0;
	int ret;

	if ((ret = check_writable(st)) < 0)
		return ret;
	norm = dbox_name_normalise(st, name);
	if (norm == NULL)
		return MAILFERRY_E_INVALID;
	path = dbox_mailbox_path(st->root, norm);
	mails = mf_strdup_printf("%s/" DBOX_MAIL_DIR, path);
	if (params != NULL && params->directory) {
		if (is_dir(mails)) {
			ret = dbox_error(st, MAILFERRY_E_EXISTS,
			                 "mailbox %s already exists", norm);
		} else if (is_dir(path)) {
			/* already there as a \NoSelect directory (e.g. made
			 * as the parent of a child): what was asked */
			ret = 0;
		} else if (mf_perm_mkdir_parents(&st->perm, path, &err) < 0) {
			ret = dbox_error_take(st, dbox_errno_code(errno), err);
		}
		goto out;
	}
	{
		char *log =
		    mf_strdup_printf("%s/" DBOX_INDEX_PREFIX ".log", mails);
		char *idx = mf_strdup_printf("%s/" DBOX_INDEX_PREFIX, mails);
		bool exists = access(log, F_OK) == 0 || access(idx, F_OK) == 0;

		free(log);
		free(idx);
		if (exists) {
			ret = dbox_error(st, MAILFERRY_E_EXISTS,
			                 "mailbox %s already exists", norm);
			goto out;
		}
	}
	if (mf_perm_mkdir_parents(&st->perm, mails, &err) < 0) {
		ret = dbox_error_take(st, dbox_errno_code(errno), err);
		goto out;
	}
	if (params != NULL && !mf_guid128_is_empty(params->guid)) {
		memcpy(guid, params->guid, 16);
	} else if (dbox_api->random(guid, sizeof(guid)) < 0) {
		ret = dbox_error(st, MAILFERRY_E_TEMP,
		                 "random() for a mailbox GUID failed");
		goto out;
	}
	if (uidvalidity == 0 &&
	    mf_uidvalidity_next_perm(st->root, &st->perm, &uidvalidity, &err) <
	        0) {
		ret = dbox_error_take(st, MAILFERRY_E_TEMP, err);
		goto out;
	}
	ret = dbox_mailbox_create_index(st, mails, guid, uidvalidity, 1);
out:
	free(norm);
	free(path);
	free(mails);
	return ret;
}

/* Remove every file in dir and dir itself (dbox-Mails holds no
 * subdirectories). */
static int remove_mail_dir(struct mailferry_storage *st, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	if (d == NULL)
		return errno == ENOENT ? 0
		                       : dbox_error(st, dbox_errno_code(errno),
		                                    "opendir(%s) failed: %s",
		                                    dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		p = mf_strdup_printf("%s/%s", dir, de->d_name);
		if (unlink(p) < 0 && errno != ENOENT && ret == 0)
			ret = dbox_error(st, dbox_errno_code(errno),
			                 "unlink(%s) failed: %s", p,
			                 strerror(errno));
		free(p);
	}
	closedir(d);
	if (ret == 0 && rmdir(dir) < 0 && errno != ENOENT)
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "rmdir(%s) failed: %s", dir, strerror(errno));
	return ret;
}

/* rmdir path and its now-empty parents up to <root>/mailboxes. */
static void rmdir_empty_parents(struct mailferry_storage *st, char *path)
{
	size_t stop = strlen(st->root) + 1 + strlen(DBOX_MAILBOX_DIR);

	while (strlen(path) > stop) {
		if (rmdir(path) < 0 && errno != ENOENT)
			break;
		char *slash = strrchr(path, '/');
		if (slash == NULL)
			break;
		*slash = '\0';
	}
}

int dbox_mailbox_delete(struct mailferry_storage *st, const char *name,
                        int directory)
{
	struct mailferry_mailbox *box = NULL;
	char *norm, *path, *mails;
	uint8_t guid[16];
	int ret;

	if ((ret = check_writable(st)) < 0)
		return ret;
	norm = dbox_name_normalise(st, name);
	if (norm == NULL)
		return MAILFERRY_E_INVALID;
	path = dbox_mailbox_path(st->root, norm);
	mails = mf_strdup_printf("%s/" DBOX_MAIL_DIR, path);
	if (directory) {
		if (!is_dir(path)) {
			ret = dbox_error(st, MAILFERRY_E_NOTFOUND,
			                 "mailbox %s does not exist", norm);
		} else if (is_dir(mails)) {
			ret = dbox_error(st, MAILFERRY_E_EXISTS,
			                 "%s is a mailbox, not a directory",
			                 norm);
		} else if (rmdir(path) < 0) {
			ret = dbox_error(st, dbox_errno_code(errno),
			                 "rmdir(%s) failed: %s", path,
			                 strerror(errno));
		} else {
			drop_list_index(st);
			ret =
			    dbox_log_name(st, MF_MAILBOX_LOG_DELETE_DIR, norm);
		}
		goto out;
	}
	if (!is_dir(mails)) {
		ret = dbox_error(st, MAILFERRY_E_NOTFOUND,
		                 "mailbox %s does not exist", norm);
		goto out;
	}
	ret = dbox_mailbox_open_internal(st, norm, false, false, &box);
	if (ret < 0)
		goto out;
	dbox_index_guid(st->fmt, box->idx, guid);
	/* Mark the index deleted first: a Dovecot opening it meanwhile sees
	 * a mailbox being deleted, not a broken one. */
	{
		struct mf_index_trans *t =
		    mf_index_trans_begin(box->idx, MF_INDEX_TRANS_EXTERNAL);
		mf_index_trans_index_deleted(t, true);
		ret = mf_index_trans_commit(&t);
		if (ret < 0)
			ret = dbox_index_error(st, box->idx, ret);
	}
	if (ret == 0 && st->fmt->mailbox_deleting != NULL)
		ret = st->fmt->mailbox_deleting(box);
	dbox_ops.mailbox_close(&box);
	if (ret < 0)
		goto out;
	if (st->alt_root != NULL) {
		char *apath = dbox_mailbox_path(st->alt_root, norm);
		char *amails = mf_strdup_printf("%s/" DBOX_MAIL_DIR, apath);
		ret = remove_mail_dir(st, amails);
		if (ret == 0)
			rmdir_empty_parents(st, apath);
		free(amails);
		free(apath);
	}
	if (ret == 0)
		ret = remove_mail_dir(st, mails);
	if (ret < 0)
		goto out;
	/* a mailbox with children stays as a \NoSelect parent */
	{
		/* rmdir_empty_parents() shortens the string it is given */
		char *tmp = mf_strdup(path);
		rmdir_empty_parents(st, tmp);
		free(tmp);
	}
	drop_list_index(st);
	ret = dbox_log_guid(st, MF_MAILBOX_LOG_DELETE_MAILBOX, guid);
	/* as Dovecot: the directory went too (no children kept it) */
	if (ret == 0 && !is_dir(path))
		ret = dbox_log_name(st, MF_MAILBOX_LOG_DELETE_DIR, norm);
out:
	free(norm);
	free(path);
	free(mails);
	return ret;
}

static int rename_tree(struct mailferry_storage *st, const char *root,
                       const char *old_name, const char *new_name,
                       bool must_exist)
{
	char *from = dbox_mailbox_path(root, old_name);
	char *to = dbox_mailbox_path(root, new_name);
	char *parent = mf_strdup(to), *slash, *err = NULL;
	int ret = 0;

	slash = strrchr(parent, '/');
	*slash = '\0';
	if (!must_exist && !is_dir(from))
		goto out;
	if (mf_perm_mkdir_parents(&st->perm, parent, &err) < 0) {
		ret = dbox_error_take(st, dbox_errno_code(errno), err);
		goto out;
	}
	if (rename(from, to) < 0) {
		ret = dbox_error(st, dbox_errno_code(errno),
		                 "rename(%s, %s) failed: %s", from, to,
		                 strerror(errno));
	}
out:
	free(parent);
	free(from);
	free(to);
	return ret;
}

int dbox_mailbox_rename(struct mailferry_storage *st, const char *old_name,
                        const char *new_name)
{
	char *from = NULL, *to = NULL, *from_path = NULL, *to_path = NULL;
	int ret;

	if ((ret = check_writable(st)) < 0)
		return ret;
	from = dbox_name_normalise(st, old_name);
	to = dbox_name_normalise(st, new_name);
	if (from == NULL || to == NULL) {
		ret = MAILFERRY_E_INVALID;
		goto out;
	}
	if (strcmp(from, "INBOX") == 0 || strcmp(to, "INBOX") == 0 ||
	    (mf_str_begins(to, from) && to[strlen(from)] == '/')) {
		ret = dbox_error(st, MAILFERRY_E_INVALID,
		                 "cannot rename %s to %s", from, to);
		goto out;
	}
	from_path = dbox_mailbox_path(st->root, from);
	to_path = dbox_mailbox_path(st->root, to);
	if (!is_dir(from_path)) {
		ret = dbox_error(st, MAILFERRY_E_NOTFOUND,
		                 "mailbox %s does not exist", from);
		goto out;
	}
	if (is_dir(to_path)) {
		ret = dbox_error(st, MAILFERRY_E_EXISTS,
		                 "mailbox %s already exists", to);
		goto out;
	}
	if (st->alt_root != NULL) {
		ret = rename_tree(st, st->alt_root, from, to, false);
		if (ret < 0)
			goto out;
	}
	ret = rename_tree(st, st->root, from, to, true);
	if (ret < 0)
		goto out;
	rmdir_empty_parents(st, from_path);
	drop_list_index(st);
	ret = dbox_log_name(st, MF_MAILBOX_LOG_RENAME, to);
out:
	free(from);
	free(to);
	free(from_path);
	free(to_path);
	return ret;
}
