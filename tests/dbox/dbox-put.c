/* SPDX-License-Identifier: MIT */
/*
 * dbox-put - test helper: write into a store through its driver (loaded
 * like the mailferry program does), driven by a small script on stdin, so
 * the interop tests can check what Dovecot makes of stores we wrote
 * before the sync engine exists. One command per line:
 *
 *   create NAME [uidvalidity=N] [guid=HEX]     mailbox (or dir=1)
 *   subscribe NAME | unsubscribe NAME
 *   save NAME FILE [uid=N] [flags=SADFT] [kw=a,b] [guid=G] [received=T]
 *        [pop3=UIDL] [order=N]                  one message, own commit
 *   savedir NAME DIR [flags=..]                 every file of DIR, one commit
 *   flags NAME UID add|remove|replace FLAGS [kw=a,b]
 *   expunge NAME UID
 *   rename OLD NEW | delete NAME
 *   purge | resync [NAME]
 *   abort-save NAME FILE     write a message and _exit() without committing
 *   move NAME UID [NEWUID]   give a message a new UID (default: uidnext) as
 *                            the engine does: copy + expunge, one commit
 *   moveall NAME [MAX]       the same for every message (or the first MAX),
 *                            in one transaction
 *   open NAME                open the mailbox for writing and close it (the
 *                            driver's recovery of killed writers runs)
 *
 * usage: dbox-put [-o key=value]... LOCATION < script
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-driver.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "mf-settings.h"

static struct mf_storage *st;
static const char *location;

static void die(const char *what, int ret)
{
	fprintf(stderr, "dbox-put: %s: %s (%s)\n", what, mf_storage_error(st),
	        mf_error_name(ret));
	exit(1);
}

static const char *opt(char **args, const char *key)
{
	size_t len = strlen(key);

	for (size_t i = 0; args[i] != NULL; i++) {
		if (strncmp(args[i], key, len) == 0 && args[i][len] == '=')
			return args[i] + len + 1;
	}
	return NULL;
}

static uint32_t parse_flags(const char *s)
{
	uint32_t f = 0;

	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case 'R':
			f |= MAILFERRY_FLAG_ANSWERED;
			break;
		case 'F':
			f |= MAILFERRY_FLAG_FLAGGED;
			break;
		case 'T':
			f |= MAILFERRY_FLAG_DELETED;
			break;
		case 'S':
			f |= MAILFERRY_FLAG_SEEN;
			break;
		case 'D':
			f |= MAILFERRY_FLAG_DRAFT;
			break;
		default:
			break;
		}
	}
	return f;
}

/* Split "a,b" into a NULL-terminated array (pointers into a copy). */
static char **split_kw(const char *s, char **copy_r)
{
	char **v;
	size_t n = 1;

	*copy_r = NULL;
	if (s == NULL || *s == '\0')
		return NULL;
	*copy_r = mf_strdup(s);
	for (const char *p = s; *p; p++)
		n += *p == ',';
	v = mf_calloc(n + 1, sizeof(*v));
	n = 0;
	for (char *p = *copy_r, *tok = p;; p++) {
		if (*p == ',' || *p == '\0') {
			bool end = *p == '\0';
			*p = '\0';
			v[n++] = tok;
			tok = p + 1;
			if (end)
				break;
		}
	}
	return v;
}

static struct mailferry_mailbox *open_box(const char *name)
{
	struct mailferry_mailbox *box;
	int ret = st->ops->mailbox_open(st->st, name, 0, &box);

	if (ret < 0)
		die("mailbox_open", ret);
	return box;
}

static void save_file(struct mailferry_trans *t, const char *path, char **args)
{
	struct mailferry_save s;
	struct mf_buf data = MF_BUF_INIT;
	char *err = NULL, *kwcopy;
	char **kw = split_kw(opt(args, "kw"), &kwcopy);
	const char *v;
	int ret;

	if (mf_file_read_all(path, &data, &err) < 0) {
		fprintf(stderr, "dbox-put: %s\n", err);
		exit(1);
	}
	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	s.uid = (v = opt(args, "uid")) ? (uint32_t)strtoul(v, NULL, 10) : 0;
	s.guid = opt(args, "guid");
	s.flags = parse_flags(opt(args, "flags"));
	s.keywords = (const char *const *)kw;
	s.received_date =
	    (v = opt(args, "received")) ? strtoll(v, NULL, 10) : 0;
	s.save_date = (v = opt(args, "saved")) ? strtoll(v, NULL, 10) : 0;
	s.pop3_uidl = opt(args, "pop3");
	s.pop3_order =
	    (v = opt(args, "order")) ? (uint32_t)strtoul(v, NULL, 10) : 0;
	s.size_hint = data.len;
	if ((ret = st->ops->save_begin(t, &s)) < 0)
		die("save_begin", ret);
	/* odd chunks so CRLF pairs straddle writes */
	for (size_t off = 0; off < data.len; off += 777) {
		ret = st->ops->save_write(t, data.data + off,
		                          MF_MIN((size_t)777, data.len - off));
		if (ret < 0)
			die("save_write", ret);
	}
	if ((ret = st->ops->save_finish(t)) < 0)
		die("save_finish", ret);
	free(kw);
	free(kwcopy);
	mf_buf_free(&data);
}

static void commit(struct mailferry_trans **t)
{
	struct mailferry_commit_result res;
	int ret = st->ops->trans_commit(t, &res);

	if (ret < 0)
		die("trans_commit", ret);
	/* the crash test counts these: each line is a durable commit */
	if (getenv("DBOX_PUT_REPORT") != NULL) {
		printf("committed\n");
		fflush(stdout);
	}
}

struct move_src {
	uint32_t uid, flags;
	char **kw; /* NULL-terminated copies, or NULL */
};

/* Move messages uids[0..count) of box to new_uid, new_uid + 1, ... in one
 * transaction, keeping flags and keywords: the engine's copy + expunge. */
static void move_msgs(struct mailferry_mailbox *box, const uint32_t *uids,
                      size_t count, uint32_t new_uid)
{
	MF_ARRAY(struct move_src) msgs = MF_ARRAY_INIT;
	struct mailferry_msg_query q;
	struct mailferry_msg_iter *it;
	const struct mailferry_msg *m;
	struct mailferry_trans *t;
	int ret;

	memset(&q, 0, sizeof(q));
	q.struct_size = sizeof(q);
	q.fields = MAILFERRY_FIELD_FLAGS;
	if ((ret = st->ops->msg_iter_begin(box, &q, &it)) < 0)
		die("msg_iter_begin", ret);
	while ((ret = st->ops->msg_iter_next(it, &m)) > 0) {
		struct move_src *src;
		size_t n = 0;

		for (size_t i = 0; i < count && n == 0; i++)
			n = uids[i] == m->uid;
		if (n == 0)
			continue;
		src = mf_array_append_zero(&msgs);
		src->uid = m->uid;
		src->flags = m->flags;
		for (n = 0; m->keywords != NULL && m->keywords[n] != NULL; n++)
			;
		if (n > 0) {
			src->kw = mf_calloc(n + 1, sizeof(char *));
			for (size_t i = 0; i < n; i++)
				src->kw[i] = mf_strdup(m->keywords[i]);
		}
	}
	if (ret < 0)
		die("msg_iter_next", ret);
	(void)st->ops->msg_iter_end(&it);
	if ((ret = st->ops->trans_begin(box, MAILFERRY_TRANS_SYNC, &t)) < 0)
		die("trans_begin", ret);
	for (size_t i = 0; i < msgs.count; i++) {
		struct mailferry_save s;
		struct mailferry_uid_range r;
		struct mailferry_uidset set = {&r, 1};

		memset(&s, 0, sizeof(s));
		s.struct_size = sizeof(s);
		s.uid = new_uid++;
		s.flags = msgs.items[i].flags;
		s.keywords = (const char *const *)msgs.items[i].kw;
		s.size_hint = UINT64_MAX;
		if ((ret = st->ops->copy(t, box, msgs.items[i].uid, &s)) < 0)
			die("copy", ret);
		r.first = r.last = msgs.items[i].uid;
		if ((ret = st->ops->expunge(t, &set)) < 0)
			die("expunge", ret);
	}
	commit(&t);
	for (size_t i = 0; i < msgs.count; i++) {
		for (size_t k = 0;
		     msgs.items[i].kw != NULL && msgs.items[i].kw[k] != NULL;
		     k++)
			free(msgs.items[i].kw[k]);
		free(msgs.items[i].kw);
	}
	mf_array_free(&msgs);
}

static uint32_t box_uidnext(struct mailferry_mailbox *box)
{
	struct mailferry_mailbox_status status;
	int ret = st->ops->mailbox_status(box, &status);

	if (ret < 0)
		die("mailbox_status", ret);
	return status.uidnext;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run(char **a, size_t n)
{
	struct mailferry_mailbox *box;
	struct mailferry_trans *t;
	int ret = 0;
	const char *cmd = a[0];

	if (strcmp(cmd, "create") == 0 && n >= 2) {
		struct mailferry_mailbox_create c;
		const char *v;

		memset(&c, 0, sizeof(c));
		c.struct_size = sizeof(c);
		if ((v = opt(a + 2, "uidvalidity")) != NULL)
			c.uidvalidity = (uint32_t)strtoul(v, NULL, 10);
		if ((v = opt(a + 2, "guid")) != NULL)
			mf_guid128_from_hex(v, c.guid);
		c.directory = opt(a + 2, "dir") != NULL;
		ret = st->ops->mailbox_create(st->st, a[1], &c);
	} else if (strcmp(cmd, "subscribe") == 0 && n == 2) {
		ret = st->ops->mailbox_set_subscribed(st->st, a[1], 1);
	} else if (strcmp(cmd, "unsubscribe") == 0 && n == 2) {
		ret = st->ops->mailbox_set_subscribed(st->st, a[1], 0);
	} else if ((strcmp(cmd, "save") == 0 ||
	            strcmp(cmd, "abort-save") == 0) &&
	           n >= 3) {
		box = open_box(a[1]);
		if ((ret = st->ops->trans_begin(box, 0, &t)) < 0)
			die("trans_begin", ret);
		save_file(t, a[2], a + 3);
		if (strcmp(cmd, "abort-save") == 0)
			_exit(0); /* as if killed before the commit */
		commit(&t);
		st->ops->mailbox_close(&box);
	} else if (strcmp(cmd, "savedir") == 0 && n >= 3) {
		DIR *d = opendir(a[2]);
		struct dirent *de;
		MF_ARRAY(char *) files = MF_ARRAY_INIT;

		if (d == NULL) {
			perror(a[2]);
			exit(1);
		}
		while ((de = readdir(d)) != NULL) {
			char *f = mf_strdup_printf("%s/%s", a[2], de->d_name);
			struct stat sb;
			bool reg = stat(f, &sb) == 0 && S_ISREG(sb.st_mode);

			free(f);
			if (de->d_name[0] != '.' && reg)
				mf_array_push(&files,
				              mf_strdup_printf("%s/%s", a[2],
				                               de->d_name));
		}
		closedir(d);
		mf_qsort(files.items, files.count, sizeof(char *), name_cmp);
		box = open_box(a[1]);
		if ((ret = st->ops->trans_begin(box, 0, &t)) < 0)
			die("trans_begin", ret);
		for (size_t i = 0; i < files.count; i++) {
			save_file(t, files.items[i], a + 3);
			free(files.items[i]);
		}
		mf_array_free(&files);
		commit(&t);
		st->ops->mailbox_close(&box);
	} else if (strcmp(cmd, "flags") == 0 && n >= 5) {
		struct mailferry_uid_range r;
		struct mailferry_uidset set = {&r, 1};
		char *kwcopy, **kw = split_kw(opt(a + 5, "kw"), &kwcopy);
		enum mailferry_modify m =
		    strcmp(a[3], "add") == 0      ? MAILFERRY_MODIFY_ADD
		    : strcmp(a[3], "remove") == 0 ? MAILFERRY_MODIFY_REMOVE
		                                  : MAILFERRY_MODIFY_REPLACE;

		r.first = r.last = (uint32_t)strtoul(a[2], NULL, 10);
		box = open_box(a[1]);
		if ((ret = st->ops->trans_begin(box, 0, &t)) < 0)
			die("trans_begin", ret);
		ret = st->ops->update_flags(t, &set, m, parse_flags(a[4]),
		                            (const char *const *)kw);
		if (ret < 0)
			die("update_flags", ret);
		commit(&t);
		st->ops->mailbox_close(&box);
		free(kw);
		free(kwcopy);
	} else if (strcmp(cmd, "expunge") == 0 && n == 3) {
		struct mailferry_uid_range r;
		struct mailferry_uidset set = {&r, 1};

		r.first = r.last = (uint32_t)strtoul(a[2], NULL, 10);
		box = open_box(a[1]);
		if ((ret = st->ops->trans_begin(box, 0, &t)) < 0)
			die("trans_begin", ret);
		if ((ret = st->ops->expunge(t, &set)) < 0)
			die("expunge", ret);
		commit(&t);
		st->ops->mailbox_close(&box);
	} else if (strcmp(cmd, "move") == 0 && (n == 3 || n == 4)) {
		uint32_t uid = (uint32_t)strtoul(a[2], NULL, 10);

		box = open_box(a[1]);
		move_msgs(box, &uid, 1,
		          n == 4 ? (uint32_t)strtoul(a[3], NULL, 10)
		                 : box_uidnext(box));
		st->ops->mailbox_close(&box);
	} else if (strcmp(cmd, "moveall") == 0 && (n == 2 || n == 3)) {
		MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;
		struct mailferry_msg_query q;
		struct mailferry_msg_iter *it;
		const struct mailferry_msg *m;
		size_t max = n == 3 ? strtoul(a[2], NULL, 10) : SIZE_MAX;

		box = open_box(a[1]);
		memset(&q, 0, sizeof(q));
		q.struct_size = sizeof(q);
		if ((ret = st->ops->msg_iter_begin(box, &q, &it)) < 0)
			die("msg_iter_begin", ret);
		while (uids.count < max &&
		       (ret = st->ops->msg_iter_next(it, &m)) > 0)
			mf_array_push(&uids, m->uid);
		if (ret < 0)
			die("msg_iter_next", ret);
		(void)st->ops->msg_iter_end(&it);
		move_msgs(box, uids.items, uids.count, box_uidnext(box));
		mf_array_free(&uids);
		st->ops->mailbox_close(&box);
	} else if (strcmp(cmd, "open") == 0 && n == 2) {
		box = open_box(a[1]);
		st->ops->mailbox_close(&box);
	} else if (strcmp(cmd, "rename") == 0 && n == 3) {
		ret = st->ops->mailbox_rename(st->st, a[1], a[2]);
	} else if (strcmp(cmd, "delete") == 0 && n == 2) {
		ret = st->ops->mailbox_delete(st->st, a[1], 0);
	} else if (strcmp(cmd, "purge") == 0) {
		ret = st->ops->purge(st->st);
	} else if (strcmp(cmd, "resync") == 0) {
		ret = st->ops->force_resync(st->st, n > 1 ? a[1] : NULL);
	} else {
		fprintf(stderr, "dbox-put: bad command line: %s\n", cmd);
		exit(2);
	}
	if (ret < 0)
		die(cmd, ret);
}

int main(int argc, char **argv)
{
	struct mf_settings *set = mf_settings_new();
	char line[8192], *err = NULL;
	int i = 1, ret;

	while (i + 1 < argc && strcmp(argv[i], "-o") == 0) {
		if (mf_settings_set_override(set, argv[i + 1], &err) < 0) {
			fprintf(stderr, "dbox-put: %s\n", err);
			return 2;
		}
		i += 2;
	}
	if (i + 1 != argc) {
		fprintf(stderr,
		        "usage: dbox-put [-o k=v]... LOCATION < script\n");
		return 2;
	}
	location = argv[i];
	mf_drivers_load();
	ret = mf_storage_open(location, set, NULL, NULL,
	                      MAILFERRY_STORAGE_CREATE, &st, &err);
	if (ret < 0) {
		fprintf(stderr, "dbox-put: %s\n", err);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *args[64], *p = line;
		size_t n = 0;

		line[strcspn(line, "\n")] = '\0';
		while (*p != '\0' && n < 63) {
			while (*p == ' ')
				*p++ = '\0';
			if (*p == '\0' || *p == '#')
				break;
			args[n++] = p;
			while (*p != '\0' && *p != ' ')
				p++;
		}
		args[n] = NULL;
		if (n > 0)
			run(args, n);
	}
	mf_storage_close(&st);
	mf_settings_free(&set);
	return 0;
}
