/* SPDX-License-Identifier: MIT */
/*
 * md-writer - drive a storage through the driver ABI from a small script,
 * for the maildir interop tests (the CLI has no save command).
 *
 *   md-writer [-o KEY=VALUE]... LOCATION < SCRIPT
 *
 * One command per line, tokens separated by single spaces, '#' comments:
 *   create NAME [GUIDHEX [UIDVALIDITY]]
 *   begin MAILBOX [sync]        start a transaction
 *   save FILE [uid=N] [guid=G] [flags=Seen,Flagged,...] [kw=a,b]
 *        [date=UNIXTIME]        save one message (inside begin/commit)
 *   saveall DIR                 save every regular file under DIR, sorted
 *   link FILE ...               like save, through save_from_path
 *   copy MAILBOX UID [uid=N] [guid=G] [flags=...] [kw=...] [date=T]
 *                               copy a message of MAILBOX (inside
 *                               begin/commit) through the copy slot;
 *                               MAILBOX "." is the transaction's own
 *                               handle
 *   flags UID add|remove|replace FLAGS [KW,KW...]   (FLAGS "-" = none)
 *   expunge UID
 *   commit                      prints "uids: N N N..."
 *   subscribe NAME / unsubscribe NAME / rename OLD NEW / delete NAME
 *   update NAME [guid=HEX] [uidvalidity=N] [uidnext=N] [modseq=N]
 *   subscriptions               prints "sub: NAME" lines
 *   mailboxlog                  prints "log: TYPE GUIDHEX" lines
 *   resync [MAILBOX]            force_resync (all mailboxes without NAME)
 *   run SHELL COMMAND...        run a command (e.g. rename files behind
 *                               the driver's back in the middle of a
 *                               transaction)
 *   changes MAILBOX MODSEQ      prints "changed: UID MODSEQ +FLAGS -FLAGS"
 *                               and "expunged: UID GUIDHEX" lines
 * Every failure is printed with the storage's error text and makes the
 * program exit 1 at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-driver.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "mf-settings.h"

static struct mf_storage *storage;
static struct mailferry_mailbox *box;
static struct mailferry_trans *trans;
static unsigned int lineno;

static void fail(const char *what, int ret)
{
	fprintf(stderr, "md-writer: line %u: %s failed (%d): %s\n", lineno,
	        what, ret, mf_storage_error(storage));
	exit(1);
}

static uint32_t parse_flags(const char *list)
{
	static const struct {
		const char *name;
		uint32_t flag;
	} names[] = {
	    {"Answered", MAILFERRY_FLAG_ANSWERED},
	    {"Flagged", MAILFERRY_FLAG_FLAGGED},
	    {"Deleted", MAILFERRY_FLAG_DELETED},
	    {"Seen", MAILFERRY_FLAG_SEEN},
	    {"Draft", MAILFERRY_FLAG_DRAFT},
	};
	uint32_t flags = 0;
	char *copy = mf_strdup(list), *p = copy;

	while (p != NULL && *p != '\0' && strcmp(p, "-") != 0) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
			if (strcmp(p, names[i].name) == 0)
				flags |= names[i].flag;
		}
		p = comma == NULL ? NULL : comma + 1;
	}
	free(copy);
	return flags;
}

/* Split a comma list into a NULL-terminated array (into storage). */
static const char **split_list(char *list)
{
	const char **out = mf_calloc(strlen(list) + 2, sizeof(char *));
	size_t n = 0;
	char *p = list;

	while (p != NULL && *p != '\0') {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		out[n++] = p;
		p = comma == NULL ? NULL : comma + 1;
	}
	return out;
}

/* Save parameters from "uid=N guid=G flags=A,B kw=x,y date=T" options;
 * *kw_r is the keyword array to free(). */
static void parse_save_opts(struct mailferry_save *save, char **opts,
                            size_t nopts, const char ***kw_r)
{
	mf_zero(save);
	save->struct_size = sizeof(*save);
	save->size_hint = UINT64_MAX;
	*kw_r = NULL;
	for (size_t i = 0; i < nopts; i++) {
		if (mf_str_begins(opts[i], "uid="))
			save->uid = (uint32_t)strtoul(opts[i] + 4, NULL, 10);
		else if (mf_str_begins(opts[i], "guid="))
			save->guid = opts[i] + 5;
		else if (mf_str_begins(opts[i], "flags="))
			save->flags = parse_flags(opts[i] + 6);
		else if (mf_str_begins(opts[i], "kw="))
			*kw_r = split_list(opts[i] + 3);
		else if (mf_str_begins(opts[i], "date="))
			save->received_date = strtoll(opts[i] + 5, NULL, 10);
	}
	save->keywords = *kw_r;
}

static void save_file(const char *path, char **opts, size_t nopts,
                      bool use_link)
{
	const struct mailferry_driver_ops *ops = storage->ops;
	struct mailferry_save save;
	const char **kw = NULL;
	struct mf_buf data = MF_BUF_INIT;
	char *error = NULL;
	int ret;

	parse_save_opts(&save, opts, nopts, &kw);
	if (use_link) {
		ret = ops->save_from_path(trans, &save, path);
		if (ret < 0)
			fail("save_from_path", ret);
		free(kw);
		return;
	}
	if (mf_file_read_all(path, &data, &error) < 0) {
		fprintf(stderr, "md-writer: %s\n", error);
		exit(1);
	}
	save.size_hint = data.len;
	if ((ret = ops->save_begin(trans, &save)) < 0)
		fail("save_begin", ret);
	/* write in uneven chunks to exercise the CR/LF bookkeeping */
	for (size_t off = 0; off < data.len;) {
		size_t n = MF_MIN((size_t)7 + off % 5000, data.len - off);

		if ((ret = ops->save_write(trans, data.data + off, n)) < 0)
			fail("save_write", ret);
		off += n;
	}
	if ((ret = ops->save_finish(trans)) < 0)
		fail("save_finish", ret);
	mf_buf_free(&data);
	free(kw);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct file_list {
	char **items;
	size_t count;
	size_t cap;
};

static void collect_files(const char *dir, struct file_list *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		fprintf(stderr, "md-writer: opendir(%s): %s\n", dir,
		        strerror(errno));
		exit(1);
	}
	while ((e = readdir(d)) != NULL) {
		char *p;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		p = mf_strdup_printf("%s/%s", dir, e->d_name);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			collect_files(p, files);
			free(p);
		} else if (S_ISREG(st.st_mode)) {
			mf_array_push(files, p);
		} else {
			free(p);
		}
	}
	closedir(d);
}

static void save_all(const char *dir)
{
	struct file_list files = MF_ARRAY_INIT;

	collect_files(dir, &files);
	if (files.count > 1)
		qsort(files.items, files.count, sizeof(char *), cmp_str);
	for (size_t i = 0; i < files.count; i++) {
		save_file(files.items[i], NULL, 0, false);
		printf("file: %s\n", files.items[i]);
		free(files.items[i]);
	}
	mf_array_free(&files);
}

static void uidset_one(uint32_t uid, struct mailferry_uid_range *r,
                       struct mailferry_uidset *set)
{
	r->first = r->last = uid;
	set->ranges = r;
	set->count = 1;
}

static void print_changes(const char *name, uint64_t since)
{
	const struct mailferry_driver_ops *ops = storage->ops;
	struct mailferry_mailbox *b;
	struct mailferry_msg_iter *it;
	struct mailferry_expunge_iter *eit;
	struct mailferry_msg_query q;
	const struct mailferry_msg *m;
	const struct mailferry_expunge *e;
	char hex[MF_GUID128_HEX_LEN];
	int ret;

	if ((ret = ops->mailbox_open(storage->st, name, 0, &b)) < 0)
		fail("mailbox_open", ret);
	mf_zero(&q);
	q.struct_size = sizeof(q);
	q.uid_last = UINT32_MAX;
	q.fields = MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_MODSEQ |
	           MAILFERRY_FIELD_CHANGES;
	q.changed_since = since;
	if ((ret = ops->msg_iter_begin(b, &q, &it)) < 0)
		fail("msg_iter_begin", ret);
	while ((ret = ops->msg_iter_next(it, &m)) > 0)
		printf("changed: %u %llu +%x -%x\n", m->uid,
		       (unsigned long long)m->modseq, m->flags_added,
		       m->flags_removed);
	if (ret < 0 || (ret = ops->msg_iter_end(&it)) < 0)
		fail("msg_iter", ret);
	if ((ret = ops->expunge_iter_begin(b, since, &eit)) < 0)
		fail("expunge_iter_begin", ret);
	while ((ret = ops->expunge_iter_next(eit, &e)) > 0) {
		mf_guid128_to_hex(e->guid, hex);
		printf("expunged: %u %s\n", e->uid, e->have_guid ? hex : "-");
	}
	if (ret < 0 || (ret = ops->expunge_iter_end(&eit)) < 0)
		fail("expunge_iter", ret);
	ops->mailbox_close(&b);
}

static void run(char **tok, size_t n)
{
	const struct mailferry_driver_ops *ops = storage->ops;
	int ret = 0;

	if (strcmp(tok[0], "create") == 0 && n >= 2) {
		struct mailferry_mailbox_create c;

		mf_zero(&c);
		c.struct_size = sizeof(c);
		if (n >= 3 && mf_guid128_from_hex(tok[2], c.guid) < 0)
			fail("guid parse", -14);
		if (n >= 4)
			c.uidvalidity = (uint32_t)strtoul(tok[3], NULL, 10);
		if ((ret = ops->mailbox_create(storage->st, tok[1], &c)) < 0)
			fail("create", ret);
	} else if (strcmp(tok[0], "begin") == 0 && n >= 2) {
		if ((ret = ops->mailbox_open(storage->st, tok[1], 0, &box)) < 0)
			fail("mailbox_open", ret);
		if ((ret = ops->trans_begin(
		         box, n >= 3 ? MAILFERRY_TRANS_SYNC : 0, &trans)) < 0)
			fail("trans_begin", ret);
	} else if (strcmp(tok[0], "save") == 0 && n >= 2) {
		save_file(tok[1], tok + 2, n - 2, false);
	} else if (strcmp(tok[0], "link") == 0 && n >= 2) {
		save_file(tok[1], tok + 2, n - 2, true);
	} else if (strcmp(tok[0], "saveall") == 0 && n >= 2) {
		save_all(tok[1]);
	} else if (strcmp(tok[0], "copy") == 0 && n >= 3) {
		struct mailferry_mailbox *src = NULL;
		struct mailferry_save save;
		const char **kw;

		parse_save_opts(&save, tok + 3, n - 3, &kw);
		if (strcmp(tok[1], ".") == 0)
			src = box;
		else if ((ret = ops->mailbox_open(storage->st, tok[1], 0,
		                                  &src)) < 0)
			fail("mailbox_open", ret);
		ret = ops->copy(trans, src, (uint32_t)strtoul(tok[2], NULL, 10),
		                &save);
		if (src != box)
			ops->mailbox_close(&src);
		free(kw);
		if (ret < 0)
			fail("copy", ret);
	} else if (strcmp(tok[0], "flags") == 0 && n >= 4) {
		struct mailferry_uid_range r;
		struct mailferry_uidset set;
		enum mailferry_modify mod =
		    strcmp(tok[2], "add") == 0      ? MAILFERRY_MODIFY_ADD
		    : strcmp(tok[2], "remove") == 0 ? MAILFERRY_MODIFY_REMOVE
		                                    : MAILFERRY_MODIFY_REPLACE;
		const char **kw = n >= 5 ? split_list(tok[4]) : NULL;

		uidset_one((uint32_t)strtoul(tok[1], NULL, 10), &r, &set);
		ret = ops->update_flags(trans, &set, mod, parse_flags(tok[3]),
		                        kw);
		free(kw);
		if (ret < 0)
			fail("update_flags", ret);
	} else if (strcmp(tok[0], "expunge") == 0 && n >= 2) {
		struct mailferry_uid_range r;
		struct mailferry_uidset set;

		uidset_one((uint32_t)strtoul(tok[1], NULL, 10), &r, &set);
		if ((ret = ops->expunge(trans, &set)) < 0)
			fail("expunge", ret);
	} else if (strcmp(tok[0], "commit") == 0) {
		struct mailferry_commit_result res;

		mf_zero(&res);
		res.struct_size = sizeof(res);
		if ((ret = ops->trans_commit(&trans, &res)) < 0)
			fail("commit", ret);
		printf("uids:");
		for (size_t i = 0; i < res.saved_count; i++)
			printf(" %u", res.saved_uids[i]);
		printf("\n");
		ops->mailbox_close(&box);
	} else if ((strcmp(tok[0], "subscribe") == 0 ||
	            strcmp(tok[0], "unsubscribe") == 0) &&
	           n >= 2) {
		if ((ret = ops->mailbox_set_subscribed(storage->st, tok[1],
		                                       tok[0][0] == 's')) < 0)
			fail("subscribe", ret);
	} else if (strcmp(tok[0], "rename") == 0 && n >= 3) {
		if ((ret = ops->mailbox_rename(storage->st, tok[1], tok[2])) <
		    0)
			fail("rename", ret);
	} else if (strcmp(tok[0], "delete") == 0 && n >= 2) {
		if ((ret = ops->mailbox_delete(storage->st, tok[1], 0)) < 0)
			fail("delete", ret);
	} else if (strcmp(tok[0], "subscriptions") == 0) {
		struct mailferry_subs_iter *it;
		const char *name;

		if ((ret = ops->subscriptions_begin(storage->st, &it)) < 0)
			fail("subscriptions_begin", ret);
		while ((ret = ops->subscriptions_next(it, &name)) > 0)
			printf("sub: %s\n", name);
		if (ret < 0 || (ret = ops->subscriptions_end(&it)) < 0)
			fail("subscriptions", ret);
	} else if (strcmp(tok[0], "mailboxlog") == 0) {
		struct mailferry_log_iter *it;
		const struct mailferry_log_record *rec;
		char hex[MF_GUID128_HEX_LEN];

		if ((ret = ops->mailbox_log_begin(storage->st, &it)) < 0)
			fail("mailbox_log_begin", ret);
		while ((ret = ops->mailbox_log_next(it, &rec)) > 0) {
			mf_guid128_to_hex(rec->id, hex);
			printf("log: %u %s\n", rec->type, hex);
		}
		if (ret < 0 || (ret = ops->mailbox_log_end(&it)) < 0)
			fail("mailbox log", ret);
	} else if (strcmp(tok[0], "run") == 0 && n >= 2) {
		struct mf_buf cmd = MF_BUF_INIT;

		for (size_t i = 1; i < n; i++)
			mf_buf_printf(&cmd, "%s%s", i > 1 ? " " : "", tok[i]);
		if (system(mf_buf_str(&cmd)) != 0) {
			fprintf(stderr, "md-writer: line %u: '%s' failed\n",
			        lineno, mf_buf_str(&cmd));
			exit(1);
		}
		mf_buf_free(&cmd);
	} else if (strcmp(tok[0], "resync") == 0) {
		if ((ret = ops->force_resync(storage->st,
		                             n >= 2 ? tok[1] : NULL)) < 0)
			fail("force_resync", ret);
	} else if (strcmp(tok[0], "changes") == 0 && n >= 3) {
		print_changes(tok[1], strtoull(tok[2], NULL, 10));
	} else if (strcmp(tok[0], "update") == 0 && n >= 2) {
		struct mailferry_mailbox_update u;

		mf_zero(&u);
		u.struct_size = sizeof(u);
		for (size_t i = 2; i < n; i++) {
			if (mf_str_begins(tok[i], "guid=") &&
			    mf_guid128_from_hex(tok[i] + 5, u.guid) == 0) {
				u.fields |= MAILFERRY_UPDATE_GUID;
			} else if (mf_str_begins(tok[i], "uidvalidity=")) {
				u.fields |= MAILFERRY_UPDATE_UIDVALIDITY;
				u.uidvalidity =
				    (uint32_t)strtoul(tok[i] + 12, NULL, 10);
			} else if (mf_str_begins(tok[i], "uidnext=")) {
				u.fields |= MAILFERRY_UPDATE_MIN_UIDNEXT;
				u.min_uidnext =
				    (uint32_t)strtoul(tok[i] + 8, NULL, 10);
			} else if (mf_str_begins(tok[i], "modseq=")) {
				u.fields |= MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ;
				u.min_highest_modseq =
				    strtoull(tok[i] + 7, NULL, 10);
			}
		}
		if ((ret = ops->mailbox_update(storage->st, tok[1], &u)) < 0)
			fail("update", ret);
	} else {
		fprintf(stderr, "md-writer: line %u: bad command '%s'\n",
		        lineno, tok[0]);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct mf_settings *set = mf_settings_new();
	char line[8192], *error = NULL;
	int ret, argi = 1;

	while (argi + 1 < argc && strcmp(argv[argi], "-o") == 0) {
		if (mf_settings_set_override(set, argv[argi + 1], &error) < 0) {
			fprintf(stderr, "md-writer: %s\n", error);
			return 1;
		}
		argi += 2;
	}
	if (argi >= argc) {
		fprintf(stderr,
		        "usage: md-writer [-o K=V]... LOCATION < SCRIPT\n");
		return 2;
	}
	ret = mf_storage_open(argv[argi], set, NULL, NULL,
	                      MAILFERRY_STORAGE_CREATE, &storage, &error);
	if (ret < 0) {
		fprintf(stderr, "md-writer: %s\n", error);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *tok[64], *p = line;
		size_t n = 0;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		while (p != NULL && n < MF_N_ELEMENTS(tok)) {
			char *sp = strchr(p, ' ');

			if (sp != NULL)
				*sp = '\0';
			tok[n++] = p;
			p = sp == NULL ? NULL : sp + 1;
		}
		run(tok, n);
	}
	if (trans != NULL) {
		fprintf(stderr, "md-writer: missing commit at the end\n");
		return 1;
	}
	mf_storage_close(&storage);
	mf_settings_free(&set);
	return 0;
}
