/* SPDX-License-Identifier: MIT */
/*
 * memdrv - a small but complete writable test driver for the engine tests.
 *
 * A store is a directory holding one text file "store" (mailboxes, messages,
 * flag-change log, expunge log, mailbox log, subscriptions) rewritten
 * atomically after every change, and one file per message body under
 * "msg/". State therefore survives across process runs (the CLI tests run
 * mailferry several times on the same stores).
 *
 * Location options: SEP=<c> hierarchy separator (default '/'), NOGUIDS=1
 * (no message GUIDs: the engine must match by header hash), NOLOG=1 (no
 * mailbox log), NOCOPY=1 (no copy slot), IMAPLIKE=1 (a store like an IMAP
 * server: no wanted UIDs, GUIDs or UIDVALIDITY on save/create, no mailbox
 * GUIDs the engine can set, no mailbox log, mailbox_update NOTSUPP),
 * INBOXFIXED=1 (INBOX cannot be deleted or renamed, as in Maildir++; implied
 * by IMAPLIKE), NORESTART=1 (a UIDVALIDITY change of an empty mailbox keeps
 * UIDNEXT instead of restarting it at 1). The mailbox-log clock is
 * $MEMDRV_CLOCK when set (tests make timestamps deterministic), else the
 * real time. $MEMDRV_CRASH_AFTER=N ends the process after the Nth
 * store write (crash tests). ctl op 1000 drops the change history of every
 * mailbox (the next changed-since query older than now fails with
 * NOHISTORY); ops 1001, 1002 and 1003 count messages iterated, copied
 * and mailbox opens.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mailferry/driver.h>
#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-file.h"
#include "mf-hex.h"

#define MEMDRV_CTL_DROP_HISTORY 1000
/* arg: uint64_t *: messages returned by msg_iter so far (process-wide) */
#define MEMDRV_CTL_ITER_COUNT 1001
/* arg: uint64_t *: messages copied by the copy slot so far (process-wide) */
#define MEMDRV_CTL_COPY_COUNT 1002
/* arg: uint64_t *: mailbox_open calls so far (process-wide) */
#define MEMDRV_CTL_OPEN_COUNT 1003

static uint64_t iter_returned, copies_made, opens_made;

static const struct mailferry_core_api *api;

typedef MF_ARRAY(char *) strv;

struct mm_msg {
	uint32_t uid;
	char *guid;
	uint32_t flags;
	strv kw; /* sorted */
	uint64_t modseq;
	int64_t recv, saved;
	uint64_t size;
	uint32_t body;
	char *pop3_uidl;
	uint32_t pop3_order;
};

struct mm_chg {
	uint64_t modseq;
	uint32_t uid;
	uint32_t fadd, frm;
	strv kwadd, kwrm;
	bool sync;
};

struct mm_exp {
	uint64_t modseq;
	uint32_t uid;
	bool have;
	uint8_t guid[16];
};

struct mm_box {
	char *name;
	bool dir;
	uint8_t guid[16];
	uint32_t uv, uidnext;
	uint64_t hms, floor;
	uint32_t special;
	MF_ARRAY(struct mm_msg) msgs;
	MF_ARRAY(struct mm_chg) chg;
	MF_ARRAY(struct mm_exp) exp;
};

struct mm_log {
	uint32_t type;
	uint8_t id[16];
	int64_t ts;
};

struct mailferry_storage {
	struct mailferry_ctx *ctx;
	char *path;
	char sep;
	uint32_t caps;
	uint32_t next_body;
	bool imaplike, inbox_fixed, norestart;
	MF_ARRAY(struct mm_box *) boxes;
	strv subs;
	MF_ARRAY(struct mm_log) log;
	struct mailferry_storage_info info;
};

struct mailferry_mailbox {
	struct mailferry_storage *st;
	char *name;
};

/* ------------------------------------------------------------ helpers */

static int64_t clock_now(void)
{
	const char *c = getenv("MEMDRV_CLOCK");
	return c != NULL ? strtoll(c, NULL, 10) : (int64_t)time(NULL);
}

static void strv_free(strv *v)
{
	for (size_t i = 0; i < v->count; i++)
		free(v->items[i]);
	mf_array_free(v);
}

static bool strv_has(const strv *v, const char *s)
{
	for (size_t i = 0; i < v->count; i++) {
		if (strcmp(v->items[i], s) == 0)
			return true;
	}
	return false;
}

static void strv_remove(strv *v, const char *s)
{
	for (size_t i = 0; i < v->count; i++) {
		if (strcmp(v->items[i], s) == 0) {
			free(v->items[i]);
			memmove(&v->items[i], &v->items[i + 1],
			        (v->count - i - 1) * sizeof(char *));
			v->count--;
			return;
		}
	}
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_add(strv *v, const char *s)
{
	if (strv_has(v, s))
		return;
	mf_array_push(v, mf_strdup(s));
	mf_qsort(v->items, v->count, sizeof(char *), cmp_strp);
}

static void strv_from(strv *v, const char *const *list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		strv_add(v, list[i]);
}

static void name_hash(const char *name, uint8_t id[16])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len;
	EVP_Digest(name, strlen(name), md, &len, EVP_sha1(), NULL);
	memcpy(id, md, 16);
}

static void add_log(struct mailferry_storage *st, uint32_t type,
                    const uint8_t id[16])
{
	struct mm_log *l;

	if ((st->caps & MAILFERRY_CAP_MAILBOX_LOG) == 0)
		return;
	l = mf_array_append_zero(&st->log);
	l->type = type;
	memcpy(l->id, id, 16);
	l->ts = clock_now();
}

static void add_log_name(struct mailferry_storage *st, uint32_t type,
                         const char *name)
{
	uint8_t id[16];
	name_hash(name, id);
	add_log(st, type, id);
}

static struct mm_box *box_find(struct mailferry_storage *st, const char *name)
{
	for (size_t i = 0; i < st->boxes.count; i++) {
		if (strcmp(st->boxes.items[i]->name, name) == 0)
			return st->boxes.items[i];
	}
	return NULL;
}

static void msg_free(struct mm_msg *m)
{
	free(m->guid);
	free(m->pop3_uidl);
	strv_free(&m->kw);
}

static void box_free(struct mm_box *b)
{
	for (size_t i = 0; i < b->msgs.count; i++)
		msg_free(&b->msgs.items[i]);
	mf_array_free(&b->msgs);
	for (size_t i = 0; i < b->chg.count; i++) {
		strv_free(&b->chg.items[i].kwadd);
		strv_free(&b->chg.items[i].kwrm);
	}
	mf_array_free(&b->chg);
	mf_array_free(&b->exp);
	free(b->name);
	free(b);
}

/* --------------------------------------------------------- persistence */

static void put_str(struct mf_buf *out, const char *s)
{
	if (s == NULL || s[0] == '\0')
		mf_buf_append_c(out, '-');
	else
		mf_buf_append_hex(out, s, strlen(s));
}

static void put_strv(struct mf_buf *out, const strv *v)
{
	if (v->count == 0) {
		mf_buf_append_c(out, '-');
		return;
	}
	for (size_t i = 0; i < v->count; i++) {
		if (i > 0)
			mf_buf_append_c(out, ',');
		mf_buf_append_hex(out, v->items[i], strlen(v->items[i]));
	}
}

static char *get_str(const char *tok)
{
	size_t len = strlen(tok);
	char *s;

	if (strcmp(tok, "-") == 0)
		return NULL;
	s = mf_calloc(len / 2 + 1, 1);
	if (mf_hex_decode(tok, s, len / 2) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void get_strv(strv *v, char *tok)
{
	char *save = NULL;

	if (strcmp(tok, "-") == 0)
		return;
	for (char *p = strtok_r(tok, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		char *s = get_str(p);
		if (s != NULL) {
			strv_add(v, s);
			free(s);
		}
	}
}

/* $MEMDRV_CRASH_AFTER=N: the process dies (exit 77, like a SIGKILL: no
 * cleanup) right after the Nth durable change of any store, so tests can
 * interrupt a sync between any two commits. */
static void crash_point(void)
{
	static unsigned long done;
	const char *c = getenv("MEMDRV_CRASH_AFTER");

	if (c != NULL && *c != '\0' && ++done == strtoul(c, NULL, 10))
		_exit(77);
}

static int store_write(struct mailferry_storage *st)
{
	struct mf_buf out = MF_BUF_INIT;
	char *path, *error = NULL;
	int ret;

	mf_buf_printf(&out, "S %d %u\n", st->sep, st->next_body);
	for (size_t i = 0; i < st->boxes.count; i++) {
		const struct mm_box *b = st->boxes.items[i];
		mf_buf_append_str(&out, "B ");
		put_str(&out, b->name);
		mf_buf_printf(&out, " %d ", b->dir ? 1 : 0);
		mf_buf_append_hex(&out, b->guid, 16);
		mf_buf_printf(&out, " %u %u %llu %llu %u\n", b->uv, b->uidnext,
		              (unsigned long long)b->hms,
		              (unsigned long long)b->floor, b->special);
		for (size_t k = 0; k < b->msgs.count; k++) {
			const struct mm_msg *m = &b->msgs.items[k];
			mf_buf_printf(&out, "M %u ", m->uid);
			put_str(&out, m->guid);
			mf_buf_printf(&out, " %u %llu %lld %lld %llu %u ",
			              m->flags, (unsigned long long)m->modseq,
			              (long long)m->recv, (long long)m->saved,
			              (unsigned long long)m->size, m->body);
			put_str(&out, m->pop3_uidl);
			mf_buf_printf(&out, " %u ", m->pop3_order);
			put_strv(&out, &m->kw);
			mf_buf_append_c(&out, '\n');
		}
		for (size_t k = 0; k < b->chg.count; k++) {
			const struct mm_chg *c = &b->chg.items[k];
			mf_buf_printf(&out, "C %llu %u %u %u %d ",
			              (unsigned long long)c->modseq, c->uid,
			              c->fadd, c->frm, c->sync ? 1 : 0);
			put_strv(&out, &c->kwadd);
			mf_buf_append_c(&out, ' ');
			put_strv(&out, &c->kwrm);
			mf_buf_append_c(&out, '\n');
		}
		for (size_t k = 0; k < b->exp.count; k++) {
			const struct mm_exp *e = &b->exp.items[k];
			mf_buf_printf(&out, "E %llu %u %d ",
			              (unsigned long long)e->modseq, e->uid,
			              e->have ? 1 : 0);
			mf_buf_append_hex(&out, e->guid, 16);
			mf_buf_append_c(&out, '\n');
		}
	}
	for (size_t i = 0; i < st->log.count; i++) {
		const struct mm_log *l = &st->log.items[i];
		mf_buf_printf(&out, "L %u ", l->type);
		mf_buf_append_hex(&out, l->id, 16);
		mf_buf_printf(&out, " %lld\n", (long long)l->ts);
	}
	for (size_t i = 0; i < st->subs.count; i++) {
		mf_buf_append_str(&out, "U ");
		put_str(&out, st->subs.items[i]);
		mf_buf_append_c(&out, '\n');
	}
	path = mf_strdup_printf("%s/store", st->path);
	ret =
	    mf_file_write_atomic(path, out.data, out.len, 0600, false, &error);
	free(path);
	mf_buf_free(&out);
	if (ret < 0) {
		ret = api->set_error(st->ctx, MAILFERRY_E_TEMP, "memdrv: %s",
		                     error);
		free(error);
		return ret;
	}
	crash_point();
	return 0;
}

static int store_read(struct mailferry_storage *st)
{
	struct mf_buf data = MF_BUF_INIT;
	char *path = mf_strdup_printf("%s/store", st->path);
	char *error = NULL, *save = NULL;
	struct mm_box *box = NULL;
	int ret;

	ret = mf_file_read_all(path, &data, &error);
	free(path);
	if (ret < 0) {
		ret = api->set_error(st->ctx, MAILFERRY_E_TEMP, "memdrv: %s",
		                     error);
		free(error);
		return ret;
	}
	for (char *line = strtok_r(data.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *t[16];
		size_t n = 0;
		char *s2 = NULL;
		for (char *p = strtok_r(line, " ", &s2); p != NULL && n < 16;
		     p = strtok_r(NULL, " ", &s2))
			t[n++] = p;
		if (n == 0)
			continue;
		if (t[0][0] == 'S' && n >= 3) {
			st->sep = (char)atoi(t[1]);
			st->next_body = (uint32_t)strtoul(t[2], NULL, 10);
		} else if (t[0][0] == 'B' && n >= 9) {
			box = mf_calloc(1, sizeof(*box));
			box->name = get_str(t[1]);
			box->dir = atoi(t[2]) != 0;
			mf_hex_decode(t[3], box->guid, 16);
			box->uv = (uint32_t)strtoul(t[4], NULL, 10);
			box->uidnext = (uint32_t)strtoul(t[5], NULL, 10);
			box->hms = strtoull(t[6], NULL, 10);
			box->floor = strtoull(t[7], NULL, 10);
			box->special = (uint32_t)strtoul(t[8], NULL, 10);
			mf_array_push(&st->boxes, box);
		} else if (t[0][0] == 'M' && n >= 12 && box != NULL) {
			struct mm_msg *m = mf_array_append_zero(&box->msgs);
			m->uid = (uint32_t)strtoul(t[1], NULL, 10);
			m->guid = get_str(t[2]);
			m->flags = (uint32_t)strtoul(t[3], NULL, 10);
			m->modseq = strtoull(t[4], NULL, 10);
			m->recv = strtoll(t[5], NULL, 10);
			m->saved = strtoll(t[6], NULL, 10);
			m->size = strtoull(t[7], NULL, 10);
			m->body = (uint32_t)strtoul(t[8], NULL, 10);
			m->pop3_uidl = get_str(t[9]);
			m->pop3_order = (uint32_t)strtoul(t[10], NULL, 10);
			get_strv(&m->kw, t[11]);
		} else if (t[0][0] == 'C' && n >= 8 && box != NULL) {
			struct mm_chg *c = mf_array_append_zero(&box->chg);
			c->modseq = strtoull(t[1], NULL, 10);
			c->uid = (uint32_t)strtoul(t[2], NULL, 10);
			c->fadd = (uint32_t)strtoul(t[3], NULL, 10);
			c->frm = (uint32_t)strtoul(t[4], NULL, 10);
			c->sync = atoi(t[5]) != 0;
			get_strv(&c->kwadd, t[6]);
			get_strv(&c->kwrm, t[7]);
		} else if (t[0][0] == 'E' && n >= 5 && box != NULL) {
			struct mm_exp *e = mf_array_append_zero(&box->exp);
			e->modseq = strtoull(t[1], NULL, 10);
			e->uid = (uint32_t)strtoul(t[2], NULL, 10);
			e->have = atoi(t[3]) != 0;
			mf_hex_decode(t[4], e->guid, 16);
		} else if (t[0][0] == 'L' && n >= 4) {
			struct mm_log *l = mf_array_append_zero(&st->log);
			l->type = (uint32_t)strtoul(t[1], NULL, 10);
			mf_hex_decode(t[2], l->id, 16);
			l->ts = strtoll(t[3], NULL, 10);
		} else if (t[0][0] == 'U' && n >= 2) {
			char *s = get_str(t[1]);
			if (s != NULL)
				mf_array_push(&st->subs, s);
		}
	}
	mf_buf_free(&data);
	return 0;
}

/* ------------------------------------------------------------- storage */

static int mm_storage_open(struct mailferry_ctx *ctx,
                           const struct mailferry_open_params *params,
                           struct mailferry_storage **storage_r)
{
	struct mailferry_storage *st;
	char *path, *error = NULL;
	struct stat sb;
	int ret;

	if (params->path == NULL || params->path[0] == '\0')
		return api->set_error(ctx, MAILFERRY_E_INVALID,
		                      "memdrv: location has no path");
	st = mf_calloc(1, sizeof(*st));
	st->ctx = ctx;
	st->path = mf_strdup(params->path);
	st->sep = '/';
	st->next_body = 1;
	st->caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
	           MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |
	           MAILFERRY_CAP_CHANGE_LOG | MAILFERRY_CAP_MAILBOX_GUIDS |
	           MAILFERRY_CAP_MAILBOX_LOG | MAILFERRY_CAP_KEYWORDS |
	           MAILFERRY_CAP_POP3 | MAILFERRY_CAP_PURGE |
	           MAILFERRY_CAP_SUBSCRIPTIONS | MAILFERRY_CAP_SET_UIDVALIDITY |
	           MAILFERRY_CAP_DATES;
	for (size_t i = 0; i < params->option_count; i++) {
		const char *k = params->option_keys[i];
		const char *v = params->option_values[i];
		if (strcmp(k, "SEP") == 0 && v != NULL && v[0] != '\0') {
			st->sep = v[0];
		} else if (strcmp(k, "NOGUIDS") == 0) {
			st->caps &= ~(MAILFERRY_CAP_MSG_GUIDS |
			              MAILFERRY_CAP_SAVE_GUID);
		} else if (strcmp(k, "NOLOG") == 0) {
			st->caps &= ~MAILFERRY_CAP_MAILBOX_LOG;
		} else if (strcmp(k, "IMAPLIKE") == 0) {
			st->caps &=
			    ~(MAILFERRY_CAP_SAVE_GUID | MAILFERRY_CAP_SAVE_UID |
			      MAILFERRY_CAP_MAILBOX_GUIDS |
			      MAILFERRY_CAP_MAILBOX_LOG |
			      MAILFERRY_CAP_SET_UIDVALIDITY |
			      MAILFERRY_CAP_POP3 | MAILFERRY_CAP_PURGE);
			st->imaplike = true;
			st->inbox_fixed = true;
		} else if (strcmp(k, "INBOXFIXED") == 0) {
			st->inbox_fixed = true;
		} else if (strcmp(k, "NORESTART") == 0) {
			st->norestart = true;
		} else if (strcmp(k, "NOCOPY") == 0) {
			/* checked by mm_copy */
			st->caps |= 1u << 31;
		} else {
			ret = api->set_error(ctx, MAILFERRY_E_INVALID,
			                     "memdrv: unknown option %s", k);
			free(st->path);
			free(st);
			return ret;
		}
	}
	path = mf_strdup_printf("%s/store", st->path);
	if (stat(path, &sb) < 0) {
		char sepopt = st->sep;
		if ((params->flags & MAILFERRY_STORAGE_CREATE) == 0 &&
		    stat(st->path, &sb) < 0) {
			free(path);
			ret = api->set_error(ctx, MAILFERRY_E_NOTFOUND,
			                     "memdrv: %s: no such store",
			                     st->path);
			free(st->path);
			free(st);
			return ret;
		}
		char *msgdir = mf_strdup_printf("%s/msg", st->path);
		if (mf_mkdir_parents(msgdir, 0700, &error) < 0) {
			ret = api->set_error(ctx, MAILFERRY_E_TEMP,
			                     "memdrv: %s", error);
			free(error);
			free(msgdir);
			free(path);
			free(st->path);
			free(st);
			return ret;
		}
		free(msgdir);
		st->sep = sepopt;
		ret = store_write(st);
	} else {
		char sepopt = st->sep;
		ret = store_read(st);
		st->sep = sepopt;
	}
	free(path);
	if (ret < 0) {
		free(st->path);
		free(st);
		return ret;
	}
	st->info.struct_size = sizeof(st->info);
	st->info.caps = st->caps & ~(1u << 31);
	st->info.hier_sep = st->sep;
	st->info.display = st->path;
	*storage_r = st;
	return 0;
}

static void mm_storage_close(struct mailferry_storage **stp)
{
	struct mailferry_storage *st = *stp;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->boxes.count; i++)
		box_free(st->boxes.items[i]);
	mf_array_free(&st->boxes);
	strv_free(&st->subs);
	mf_array_free(&st->log);
	free(st->path);
	free(st);
	*stp = NULL;
}

static int mm_storage_info(struct mailferry_storage *st,
                           const struct mailferry_storage_info **info_r)
{
	*info_r = &st->info;
	return 0;
}

/* ---------------------------------------------------------------- list */

struct mailferry_list_iter {
	struct mailferry_storage *st;
	size_t pos;
	MF_ARRAY(struct mm_box *) order;
	struct mailferry_mailbox_info info;
};

static int cmp_box_name(const void *a, const void *b)
{
	return strcmp((*(struct mm_box *const *)a)->name,
	              (*(struct mm_box *const *)b)->name);
}

static int mm_list_begin(struct mailferry_storage *st, uint32_t flags,
                         struct mailferry_list_iter **iter_r)
{
	struct mailferry_list_iter *it = mf_calloc(1, sizeof(*it));

	(void)flags;
	it->st = st;
	for (size_t i = 0; i < st->boxes.count; i++)
		mf_array_push(&it->order, st->boxes.items[i]);
	mf_qsort(it->order.items, it->order.count, sizeof(struct mm_box *),
	         cmp_box_name);
	*iter_r = it;
	return 0;
}

static int mm_list_next(struct mailferry_list_iter *it,
                        const struct mailferry_mailbox_info **info_r)
{
	struct mm_box *b;

	if (it->pos >= it->order.count)
		return 0;
	b = it->order.items[it->pos++];
	mf_zero(&it->info);
	it->info.struct_size = sizeof(it->info);
	it->info.name = b->name;
	it->info.special_use = b->special;
	it->info.status.struct_size = sizeof(it->info.status);
	if (b->dir) {
		it->info.flags = MAILFERRY_MAILBOX_NOSELECT;
	} else {
		it->info.flags = MAILFERRY_MAILBOX_HAVE_STATUS;
		memcpy(it->info.status.guid, b->guid, 16);
		it->info.status.uidvalidity = b->uv;
		it->info.status.uidnext = b->uidnext;
		it->info.status.messages = (uint32_t)b->msgs.count;
		it->info.status.first_recent_uid = b->uidnext;
		it->info.status.highest_modseq = b->hms;
	}
	*info_r = &it->info;
	return 1;
}

static int mm_list_end(struct mailferry_list_iter **itp)
{
	mf_array_free(&(*itp)->order);
	free(*itp);
	*itp = NULL;
	return 0;
}

struct mailferry_log_iter {
	struct mailferry_storage *st;
	size_t pos;
	struct mailferry_log_record rec;
};

static int mm_log_begin(struct mailferry_storage *st,
                        struct mailferry_log_iter **iter_r)
{
	struct mailferry_log_iter *it;

	if ((st->caps & MAILFERRY_CAP_MAILBOX_LOG) == 0)
		return api->set_error(st->ctx, MAILFERRY_E_NOTSUPP,
		                      "memdrv: no mailbox log");
	it = mf_calloc(1, sizeof(*it));
	it->st = st;
	*iter_r = it;
	return 0;
}

static int mm_log_next(struct mailferry_log_iter *it,
                       const struct mailferry_log_record **rec_r)
{
	const struct mm_log *l;

	if (it->pos >= it->st->log.count)
		return 0;
	l = &it->st->log.items[it->pos++];
	it->rec.struct_size = sizeof(it->rec);
	it->rec.type = l->type;
	memcpy(it->rec.id, l->id, 16);
	it->rec.timestamp = l->ts;
	*rec_r = &it->rec;
	return 1;
}

static int mm_log_end(struct mailferry_log_iter **itp)
{
	free(*itp);
	*itp = NULL;
	return 0;
}

struct mailferry_subs_iter {
	struct mailferry_storage *st;
	size_t pos;
};

static int mm_subs_begin(struct mailferry_storage *st,
                         struct mailferry_subs_iter **iter_r)
{
	struct mailferry_subs_iter *it = mf_calloc(1, sizeof(*it));
	it->st = st;
	*iter_r = it;
	return 0;
}

static int mm_subs_next(struct mailferry_subs_iter *it, const char **name_r)
{
	if (it->pos >= it->st->subs.count)
		return 0;
	*name_r = it->st->subs.items[it->pos++];
	return 1;
}

static int mm_subs_end(struct mailferry_subs_iter **itp)
{
	free(*itp);
	*itp = NULL;
	return 0;
}

/* --------------------------------------------------------- tree changes */

/* With $MEMDRV_SEED set, "random" GUIDs and UIDVALIDITYs come from a
 * seeded generator so that test runs are reproducible. */
static int random_bytes(void *buf, size_t size)
{
	static uint64_t state;
	static char last_seed[64];
	const char *seed = getenv("MEMDRV_SEED");
	uint8_t *p = buf;

	if (seed == NULL)
		return api->random(buf, size);
	if (strcmp(seed, last_seed) != 0) {
		/* a new value restarts the sequence; "N#run" seeds with N
		 * only, so a test can restart the same sequence */
		state = 1469598103934665603ull;
		for (const char *c = seed; *c != '\0' && *c != '#'; c++)
			state = (state ^ (uint8_t)*c) * 1099511628211ull;
		mf_strlcpy(last_seed, seed, sizeof(last_seed));
	}
	for (size_t i = 0; i < size; i++) {
		/* xorshift64* */
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		p[i] = (uint8_t)((state * 2685821657736338717ull) >> 56);
	}
	return 0;
}

static int mm_create(struct mailferry_storage *st, const char *name,
                     const struct mailferry_mailbox_create *p)
{
	struct mm_box *b = box_find(st, name);
	static const uint8_t zero[16];

	if (name[0] == '\0' || name[0] == st->sep ||
	    name[strlen(name) - 1] == st->sep)
		return api->set_error(st->ctx, MAILFERRY_E_INVALID,
		                      "memdrv: invalid mailbox name '%s'",
		                      name);
	if (b != NULL && (!b->dir || p->directory))
		return api->set_error(st->ctx, MAILFERRY_E_EXISTS,
		                      "memdrv: mailbox %s exists", name);
	if (b == NULL) {
		b = mf_calloc(1, sizeof(*b));
		b->name = mf_strdup(name);
		mf_array_push(&st->boxes, b);
	}
	b->dir = p->directory != 0;
	b->special = p->special_use;
	if (!b->dir) {
		if (memcmp(p->guid, zero, 16) != 0 && !st->imaplike)
			memcpy(b->guid, p->guid, 16);
		else
			random_bytes(b->guid, 16);
		b->uv = st->imaplike ? 0 : p->uidvalidity;
		if (b->uv == 0) {
			random_bytes(&b->uv, sizeof(b->uv));
			b->uv = (b->uv & 0x7fffffff) | 1;
		}
		b->uidnext = 1;
		b->hms = 1;
	}
	return store_write(st);
}

static bool has_children(struct mailferry_storage *st, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < st->boxes.count; i++) {
		const char *n = st->boxes.items[i]->name;
		if (strncmp(n, name, len) == 0 && n[len] == st->sep)
			return true;
	}
	return false;
}

static void box_remove(struct mailferry_storage *st, struct mm_box *b)
{
	for (size_t i = 0; i < st->boxes.count; i++) {
		if (st->boxes.items[i] == b) {
			st->boxes.items[i] = st->boxes.items[--st->boxes.count];
			break;
		}
	}
	box_free(b);
}

static int mm_delete(struct mailferry_storage *st, const char *name,
                     int directory)
{
	struct mm_box *b = box_find(st, name);

	if (b == NULL || (directory != 0) != b->dir)
		return api->set_error(
		    st->ctx, MAILFERRY_E_NOTFOUND, "memdrv: no %s %s",
		    directory ? "directory" : "mailbox", name);
	if (st->inbox_fixed && strcasecmp(name, "INBOX") == 0)
		return api->set_error(st->ctx, MAILFERRY_E_PERM,
		                      "memdrv: INBOX cannot be deleted");
	if (directory) {
		if (has_children(st, name))
			return api->set_error(st->ctx, MAILFERRY_E_EXISTS,
			                      "memdrv: directory %s has "
			                      "children",
			                      name);
		add_log_name(st, MAILFERRY_LOG_DELETE_DIR, name);
		box_remove(st, b);
	} else {
		add_log(st, MAILFERRY_LOG_DELETE_MAILBOX, b->guid);
		if (has_children(st, name)) {
			/* keep the children: it becomes a directory */
			for (size_t i = 0; i < b->msgs.count; i++)
				msg_free(&b->msgs.items[i]);
			b->msgs.count = 0;
			for (size_t i = 0; i < b->chg.count; i++) {
				strv_free(&b->chg.items[i].kwadd);
				strv_free(&b->chg.items[i].kwrm);
			}
			b->chg.count = 0;
			b->exp.count = 0;
			b->dir = true;
			memset(b->guid, 0, 16);
		} else {
			box_remove(st, b);
		}
	}
	return store_write(st);
}

static int mm_rename(struct mailferry_storage *st, const char *old_name,
                     const char *new_name)
{
	struct mm_box *b = box_find(st, old_name), *t = box_find(st, new_name);
	size_t olen = strlen(old_name);

	if (b == NULL)
		return api->set_error(st->ctx, MAILFERRY_E_NOTFOUND,
		                      "memdrv: no mailbox %s", old_name);
	if (st->inbox_fixed && strcasecmp(old_name, "INBOX") == 0)
		return api->set_error(st->ctx, MAILFERRY_E_PERM,
		                      "memdrv: INBOX cannot be renamed");
	if (t != NULL && !(t->dir && !b->dir))
		return api->set_error(st->ctx, MAILFERRY_E_EXISTS,
		                      "memdrv: mailbox %s exists", new_name);
	if (strncmp(new_name, old_name, olen) == 0 && new_name[olen] == st->sep)
		return api->set_error(st->ctx, MAILFERRY_E_INVALID,
		                      "memdrv: cannot rename %s below itself",
		                      old_name);
	if (new_name[0] == '\0')
		return api->set_error(st->ctx, MAILFERRY_E_INVALID,
		                      "memdrv: empty name");
	if (t != NULL) {
		/* a directory takes the mailbox; children stay */
		box_remove(st, t);
	}
	for (size_t i = 0; i < st->boxes.count; i++) {
		struct mm_box *c = st->boxes.items[i];
		if (strncmp(c->name, old_name, olen) == 0 &&
		    c->name[olen] == st->sep) {
			char *n =
			    mf_strdup_printf("%s%s", new_name, c->name + olen);
			if (box_find(st, n) != NULL) {
				free(n);
				continue;
			}
			free(c->name);
			c->name = n;
		}
	}
	free(b->name);
	b->name = mf_strdup(new_name);
	add_log_name(st, MAILFERRY_LOG_RENAME, new_name);
	return store_write(st);
}

static int mm_set_subscribed(struct mailferry_storage *st, const char *name,
                             int subscribed)
{
	if (subscribed)
		strv_add(&st->subs, name);
	else
		strv_remove(&st->subs, name);
	add_log_name(st,
	             subscribed ? MAILFERRY_LOG_SUBSCRIBE
	                        : MAILFERRY_LOG_UNSUBSCRIBE,
	             name);
	return store_write(st);
}

static int mm_update(struct mailferry_storage *st, const char *name,
                     const struct mailferry_mailbox_update *up)
{
	struct mm_box *b = box_find(st, name);

	if (b == NULL || b->dir)
		return api->set_error(st->ctx, MAILFERRY_E_NOTFOUND,
		                      "memdrv: no mailbox %s", name);
	if (st->imaplike && up->fields != 0)
		return api->set_error(st->ctx, MAILFERRY_E_NOTSUPP,
		                      "memdrv: mailbox %s cannot be updated",
		                      name);
	if ((up->fields & MAILFERRY_UPDATE_GUID) != 0)
		memcpy(b->guid, up->guid, 16);
	if ((up->fields & MAILFERRY_UPDATE_UIDVALIDITY) != 0 &&
	    up->uidvalidity != b->uv) {
		b->uv = up->uidvalidity;
		/* an empty mailbox with a new UIDVALIDITY is as if new */
		if (b->msgs.count == 0 && !st->norestart)
			b->uidnext = 1;
	}
	if ((up->fields & MAILFERRY_UPDATE_MIN_UIDNEXT) != 0 &&
	    up->min_uidnext > b->uidnext)
		b->uidnext = up->min_uidnext;
	if ((up->fields & MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ) != 0 &&
	    up->min_highest_modseq > b->hms)
		b->hms = up->min_highest_modseq;
	return store_write(st);
}

/* ------------------------------------------------------------ mailbox */

static struct mm_box *box_of(struct mailferry_mailbox *box)
{
	struct mm_box *b = box_find(box->st, box->name);
	return b != NULL && !b->dir ? b : NULL;
}

static int mm_open(struct mailferry_storage *st, const char *name,
                   uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct mm_box *b = box_find(st, name);
	struct mailferry_mailbox *box;

	(void)flags;
	opens_made++;
	if (b == NULL || b->dir)
		return api->set_error(st->ctx, MAILFERRY_E_NOTFOUND,
		                      "memdrv: no mailbox %s", name);
	box = mf_calloc(1, sizeof(*box));
	box->st = st;
	box->name = mf_strdup(name);
	*box_r = box;
	return 0;
}

static void mm_close(struct mailferry_mailbox **boxp)
{
	if (*boxp == NULL)
		return;
	free((*boxp)->name);
	free(*boxp);
	*boxp = NULL;
}

static int mm_status(struct mailferry_mailbox *box,
                     struct mailferry_mailbox_status *s)
{
	struct mm_box *b = box_of(box);

	if (b == NULL)
		return api->set_error(box->st->ctx, MAILFERRY_E_NOTFOUND,
		                      "memdrv: mailbox %s is gone", box->name);
	mf_zero(s);
	s->struct_size = sizeof(*s);
	memcpy(s->guid, b->guid, 16);
	s->uidvalidity = b->uv;
	s->uidnext = b->uidnext;
	s->messages = (uint32_t)b->msgs.count;
	s->first_recent_uid = b->uidnext;
	s->highest_modseq = b->hms;
	return 0;
}

struct mailferry_msg_iter {
	struct mm_box *b;
	bool imaplike;
	struct mailferry_msg_query q;
	size_t pos;
	struct mailferry_msg msg;
	strv kwadd, kwrm;
	MF_ARRAY(const char *) kwl, kwal, kwrl;
};

static int mm_iter_begin(struct mailferry_mailbox *box,
                         const struct mailferry_msg_query *q,
                         struct mailferry_msg_iter **iter_r)
{
	struct mm_box *b = box_of(box);
	struct mailferry_msg_iter *it;

	if (b == NULL)
		return api->set_error(box->st->ctx, MAILFERRY_E_NOTFOUND,
		                      "memdrv: mailbox %s is gone", box->name);
	if (q->changed_since > 0 && q->changed_since < b->floor)
		return api->set_error(box->st->ctx, MAILFERRY_E_NOHISTORY,
		                      "memdrv: modseq %llu is no longer in "
		                      "the change log of %s",
		                      (unsigned long long)q->changed_since,
		                      box->name);
	it = mf_calloc(1, sizeof(*it));
	it->b = b;
	it->imaplike = box->st->imaplike;
	it->q = *q;
	*iter_r = it;
	return 0;
}

static void push_list(void *arrp, const strv *v)
{
	MF_ARRAY(const char *) *arr = arrp;
	arr->count = 0;
	for (size_t i = 0; i < v->count; i++)
		mf_array_push(arr, v->items[i]);
	mf_array_push(arr, NULL);
}

static int mm_iter_next(struct mailferry_msg_iter *it,
                        const struct mailferry_msg **msg_r)
{
	const struct mailferry_msg_query *q = &it->q;
	bool skip_sync = (q->flags & MAILFERRY_QUERY_SKIP_SYNC_CHANGES) != 0;

	while (it->pos < it->b->msgs.count) {
		const struct mm_msg *m = &it->b->msgs.items[it->pos++];
		uint32_t fadd = 0, frm = 0;
		bool changed = false;

		if (m->uid < q->uid_first || m->uid > q->uid_last)
			continue;
		if (q->changed_since > 0 && m->modseq <= q->changed_since)
			continue;
		strv_free(&it->kwadd);
		strv_free(&it->kwrm);
		for (size_t i = 0; i < it->b->chg.count; i++) {
			const struct mm_chg *c = &it->b->chg.items[i];
			if (c->uid != m->uid || c->modseq <= q->changed_since ||
			    (skip_sync && c->sync))
				continue;
			changed = true;
			fadd = (fadd & ~c->frm) | c->fadd;
			frm = (frm & ~c->fadd) | c->frm;
			for (size_t k = 0; k < c->kwadd.count; k++) {
				strv_remove(&it->kwrm, c->kwadd.items[k]);
				strv_add(&it->kwadd, c->kwadd.items[k]);
			}
			for (size_t k = 0; k < c->kwrm.count; k++) {
				strv_remove(&it->kwadd, c->kwrm.items[k]);
				strv_add(&it->kwrm, c->kwrm.items[k]);
			}
		}
		if (it->imaplike && q->changed_since > 0) {
			/* IMAP's CHANGEDSINCE: by modseq, the sync's own
			 * changes included, no per-flag history */
			if (m->modseq <= q->changed_since)
				continue;
		} else if (q->changed_since > 0 && skip_sync && !changed) {
			continue;
		}
		mf_zero(&it->msg);
		it->msg.struct_size = sizeof(it->msg);
		it->msg.uid = m->uid;
		it->msg.guid = m->guid;
		it->msg.flags = m->flags;
		push_list(&it->kwl, &m->kw);
		it->msg.keywords = it->kwl.items;
		it->msg.modseq = m->modseq;
		it->msg.received_date = m->recv;
		it->msg.save_date = m->saved;
		it->msg.physical_size = m->size;
		it->msg.virtual_size = UINT64_MAX;
		it->msg.pop3_uidl = m->pop3_uidl;
		it->msg.pop3_order = m->pop3_order;
		if ((q->fields & MAILFERRY_FIELD_CHANGES) != 0 &&
		    !it->imaplike) {
			it->msg.flags_added = fadd;
			it->msg.flags_removed = frm;
			push_list(&it->kwal, &it->kwadd);
			push_list(&it->kwrl, &it->kwrm);
			it->msg.keywords_added = it->kwal.items;
			it->msg.keywords_removed = it->kwrl.items;
		}
		iter_returned++;
		*msg_r = &it->msg;
		return 1;
	}
	return 0;
}

static int mm_iter_end(struct mailferry_msg_iter **itp)
{
	struct mailferry_msg_iter *it = *itp;
	strv_free(&it->kwadd);
	strv_free(&it->kwrm);
	mf_array_free(&it->kwl);
	mf_array_free(&it->kwal);
	mf_array_free(&it->kwrl);
	free(it);
	*itp = NULL;
	return 0;
}

struct mailferry_expunge_iter {
	struct mm_box *b;
	uint64_t since;
	size_t pos;
	struct mailferry_expunge e;
};

static int mm_exp_begin(struct mailferry_mailbox *box, uint64_t since,
                        struct mailferry_expunge_iter **iter_r)
{
	struct mm_box *b = box_of(box);
	struct mailferry_expunge_iter *it;

	if (b == NULL)
		return api->set_error(box->st->ctx, MAILFERRY_E_NOTFOUND,
		                      "memdrv: mailbox %s is gone", box->name);
	if (since > 0 && since < b->floor)
		return api->set_error(box->st->ctx, MAILFERRY_E_NOHISTORY,
		                      "memdrv: modseq %llu is no longer in "
		                      "the expunge log of %s",
		                      (unsigned long long)since, box->name);
	it = mf_calloc(1, sizeof(*it));
	it->b = b;
	it->since = since;
	*iter_r = it;
	return 0;
}

static int mm_exp_next(struct mailferry_expunge_iter *it,
                       const struct mailferry_expunge **e_r)
{
	while (it->pos < it->b->exp.count) {
		const struct mm_exp *e = &it->b->exp.items[it->pos++];
		if (e->modseq <= it->since)
			continue;
		mf_zero(&it->e);
		it->e.struct_size = sizeof(it->e);
		it->e.uid = e->uid;
		it->e.have_guid = e->have ? 1 : 0;
		memcpy(it->e.guid, e->guid, 16);
		it->e.modseq = e->modseq;
		*e_r = &it->e;
		return 1;
	}
	return 0;
}

static int mm_exp_end(struct mailferry_expunge_iter **itp)
{
	free(*itp);
	*itp = NULL;
	return 0;
}

static struct mm_msg *msg_find(struct mm_box *b, uint32_t uid)
{
	for (size_t i = 0; i < b->msgs.count; i++) {
		if (b->msgs.items[i].uid == uid)
			return &b->msgs.items[i];
	}
	return NULL;
}

struct mailferry_stream {
	int fd;
};

static int mm_msg_open(struct mailferry_mailbox *box, uint32_t uid,
                       uint32_t flags, struct mailferry_stream **stream_r)
{
	struct mm_box *b = box_of(box);
	struct mm_msg *m = b != NULL ? msg_find(b, uid) : NULL;
	struct mailferry_stream *s;
	char *path;
	int fd;

	(void)flags;
	if (m == NULL)
		return api->set_error(box->st->ctx, MAILFERRY_E_EXPUNGED,
		                      "memdrv: %s UID %u expunged", box->name,
		                      uid);
	path = mf_strdup_printf("%s/msg/%u", box->st->path, m->body);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int ret = api->set_error(box->st->ctx, MAILFERRY_E_TEMP,
		                         "memdrv: open(%s) failed: %s", path,
		                         strerror(errno));
		free(path);
		return ret;
	}
	free(path);
	s = mf_calloc(1, sizeof(*s));
	s->fd = fd;
	*stream_r = s;
	return 0;
}

static int mm_stream_read(struct mailferry_stream *s, void *buf, size_t size,
                          size_t *size_r)
{
	ssize_t n = read(s->fd, buf, size);

	if (n < 0)
		return MAILFERRY_E_TEMP;
	*size_r = (size_t)n;
	return 0;
}

static void mm_stream_close(struct mailferry_stream **sp)
{
	if (*sp == NULL)
		return;
	close((*sp)->fd);
	free(*sp);
	*sp = NULL;
}

/* -------------------------------------------------------- transactions */

enum op_type { OP_SAVE, OP_FLAGS, OP_MODSEQ, OP_EXPUNGE };

struct op {
	enum op_type type;
	/* save */
	struct mm_msg msg;
	uint64_t min_modseq;
	/* flags / expunge */
	MF_ARRAY(struct mailferry_uid_range) uids;
	enum mailferry_modify modify;
	uint32_t flags;
	strv kw;
	uint32_t uid;
};

struct mailferry_trans {
	struct mailferry_mailbox *box;
	bool sync;
	MF_ARRAY(struct op) ops;
	int save_fd; /* open while a save is in progress */
	struct op *cur;
	MF_ARRAY(uint32_t) saved;
};

static int mm_trans_begin(struct mailferry_mailbox *box, uint32_t flags,
                          struct mailferry_trans **trans_r)
{
	struct mailferry_trans *t = mf_calloc(1, sizeof(*t));

	t->box = box;
	t->sync = (flags & MAILFERRY_TRANS_SYNC) != 0;
	t->save_fd = -1;
	*trans_r = t;
	return 0;
}

static int mm_save_begin(struct mailferry_trans *t,
                         const struct mailferry_save *s)
{
	struct mailferry_storage *st = t->box->st;
	struct op *op = mf_array_append_zero(&t->ops);
	char *path;

	op->type = OP_SAVE;
	op->msg.uid = (st->caps & MAILFERRY_CAP_SAVE_UID) != 0 ? s->uid : 0;
	op->msg.guid = s->guid != NULL && s->guid[0] != '\0' &&
	                       (st->caps & MAILFERRY_CAP_SAVE_GUID) != 0
	                   ? mf_strdup(s->guid)
	                   : NULL;
	op->msg.flags = s->flags & MAILFERRY_FLAGS_MASK;
	strv_from(&op->msg.kw, s->keywords);
	op->msg.recv = s->received_date != 0 ? s->received_date : clock_now();
	op->msg.saved = s->save_date != 0 ? s->save_date : clock_now();
	op->msg.pop3_uidl =
	    s->pop3_uidl != NULL ? mf_strdup(s->pop3_uidl) : NULL;
	op->msg.pop3_order = s->pop3_order;
	op->min_modseq = s->min_modseq;
	op->msg.body = st->next_body++;
	path = mf_strdup_printf("%s/msg/%u", st->path, op->msg.body);
	t->save_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	free(path);
	if (t->save_fd < 0) {
		t->ops.count--;
		msg_free(&op->msg);
		return api->set_error(st->ctx, MAILFERRY_E_TEMP,
		                      "memdrv: creating body file: %s",
		                      strerror(errno));
	}
	t->cur = op;
	return 0;
}

static int mm_save_write(struct mailferry_trans *t, const void *data,
                         size_t size)
{
	if (t->save_fd < 0 || mf_write_full(t->save_fd, data, size) < 0)
		return api->set_error(t->box->st->ctx, MAILFERRY_E_TEMP,
		                      "memdrv: write failed");
	t->cur->msg.size += size;
	return 0;
}

static int mm_save_finish(struct mailferry_trans *t)
{
	close(t->save_fd);
	t->save_fd = -1;
	if (t->cur->msg.guid == NULL &&
	    (t->box->st->caps & MAILFERRY_CAP_MSG_GUIDS) != 0) {
		uint8_t g[16];
		char hex[33];
		random_bytes(g, 16);
		mf_hex_encode(g, 16, hex);
		t->cur->msg.guid = mf_strdup(hex);
	}
	if ((t->box->st->caps & MAILFERRY_CAP_MSG_GUIDS) == 0) {
		free(t->cur->msg.guid);
		t->cur->msg.guid = NULL;
	}
	t->cur = NULL;
	return 0;
}

static void mm_save_cancel(struct mailferry_trans *t)
{
	if (t->save_fd >= 0)
		close(t->save_fd);
	t->save_fd = -1;
	if (t->cur != NULL) {
		msg_free(&t->cur->msg);
		t->ops.count--;
		t->cur = NULL;
	}
}

static int mm_update_flags(struct mailferry_trans *t,
                           const struct mailferry_uidset *uids,
                           enum mailferry_modify modify, uint32_t flags,
                           const char *const *keywords)
{
	struct op *op = mf_array_append_zero(&t->ops);

	op->type = OP_FLAGS;
	for (size_t i = 0; i < uids->count; i++)
		mf_array_push(&op->uids, uids->ranges[i]);
	op->modify = modify;
	op->flags = flags & MAILFERRY_FLAGS_MASK;
	strv_from(&op->kw, keywords);
	return 0;
}

static int mm_update_modseq(struct mailferry_trans *t, uint32_t uid,
                            uint64_t min_modseq)
{
	struct op *op = mf_array_append_zero(&t->ops);
	op->type = OP_MODSEQ;
	op->uid = uid;
	op->min_modseq = min_modseq;
	return 0;
}

static int mm_expunge(struct mailferry_trans *t,
                      const struct mailferry_uidset *uids)
{
	struct op *op = mf_array_append_zero(&t->ops);

	op->type = OP_EXPUNGE;
	for (size_t i = 0; i < uids->count; i++)
		mf_array_push(&op->uids, uids->ranges[i]);
	return 0;
}

static bool in_ranges(const struct op *op, uint32_t uid)
{
	for (size_t i = 0; i < op->uids.count; i++) {
		if (uid >= op->uids.items[i].first &&
		    uid <= op->uids.items[i].last)
			return true;
	}
	return false;
}

static void op_free(struct op *op)
{
	msg_free(&op->msg);
	mf_array_free(&op->uids);
	strv_free(&op->kw);
}

static void trans_free(struct mailferry_trans *t)
{
	for (size_t i = 0; i < t->ops.count; i++)
		op_free(&t->ops.items[i]);
	mf_array_free(&t->ops);
	mf_array_free(&t->saved);
	if (t->save_fd >= 0)
		close(t->save_fd);
	free(t);
}

static void apply_flags(struct mm_box *b, struct mm_msg *m, const struct op *op,
                        bool sync)
{
	uint32_t nf = m->flags;
	strv nk = MF_ARRAY_INIT;
	struct mm_chg *c;

	for (size_t i = 0; i < m->kw.count; i++)
		mf_array_push(&nk, mf_strdup(m->kw.items[i]));
	switch (op->modify) {
	case MAILFERRY_MODIFY_ADD:
		nf |= op->flags;
		for (size_t i = 0; i < op->kw.count; i++)
			strv_add(&nk, op->kw.items[i]);
		break;
	case MAILFERRY_MODIFY_REMOVE:
		nf &= ~op->flags;
		for (size_t i = 0; i < op->kw.count; i++)
			strv_remove(&nk, op->kw.items[i]);
		break;
	case MAILFERRY_MODIFY_REPLACE:
		nf = op->flags;
		strv_free(&nk);
		for (size_t i = 0; i < op->kw.count; i++)
			strv_add(&nk, op->kw.items[i]);
		break;
	}
	c = mf_array_append_zero(&b->chg);
	c->fadd = nf & ~m->flags;
	c->frm = m->flags & ~nf;
	for (size_t i = 0; i < nk.count; i++) {
		if (!strv_has(&m->kw, nk.items[i]))
			strv_add(&c->kwadd, nk.items[i]);
	}
	for (size_t i = 0; i < m->kw.count; i++) {
		if (!strv_has(&nk, m->kw.items[i]))
			strv_add(&c->kwrm, m->kw.items[i]);
	}
	if (c->fadd == 0 && c->frm == 0 && c->kwadd.count == 0 &&
	    c->kwrm.count == 0) {
		strv_free(&c->kwadd);
		strv_free(&c->kwrm);
		b->chg.count--;
		strv_free(&nk);
		return;
	}
	c->uid = m->uid;
	c->sync = sync;
	c->modseq = ++b->hms;
	m->modseq = c->modseq;
	m->flags = nf;
	strv_free(&m->kw);
	m->kw = nk;
}

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct mm_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : (x->uid > y->uid ? 1 : 0);
}

static int mm_trans_commit(struct mailferry_trans **tp,
                           struct mailferry_commit_result *res)
{
	struct mailferry_trans *t = *tp;
	struct mailferry_storage *st = t->box->st;
	struct mm_box *b = box_of(t->box);
	uint32_t next;
	int ret;

	*tp = NULL;
	if (b == NULL) {
		trans_free(t);
		return api->set_error(st->ctx, MAILFERRY_E_NOTFOUND,
		                      "memdrv: mailbox is gone");
	}
	/* check the wanted UIDs first: a failed commit changes nothing */
	next = b->uidnext;
	for (size_t i = 0; i < t->ops.count; i++) {
		const struct op *op = &t->ops.items[i];
		if (op->type != OP_SAVE || op->msg.uid == 0 ||
		    (st->caps & MAILFERRY_CAP_SAVE_UID) == 0)
			continue;
		if (op->msg.uid < next) {
			trans_free(t);
			return api->set_error(st->ctx, MAILFERRY_E_EXISTS,
			                      "memdrv: wanted UID %u < next "
			                      "free UID %u",
			                      op->msg.uid, next);
		}
		next = op->msg.uid + 1;
	}
	for (size_t i = 0; i < t->ops.count; i++) {
		struct op *op = &t->ops.items[i];
		switch (op->type) {
		case OP_SAVE: {
			struct mm_msg m = op->msg;
			mf_zero(&op->msg);
			if (m.uid == 0 || m.uid < b->uidnext)
				m.uid = b->uidnext;
			b->uidnext = m.uid + 1;
			m.modseq = ++b->hms;
			if (m.modseq < op->min_modseq) {
				m.modseq = op->min_modseq;
				b->hms = m.modseq;
			}
			if (!t->sync) {
				/* a new mail is a change others must see */
				struct mm_chg *c =
				    mf_array_append_zero(&b->chg);
				c->uid = m.uid;
				c->modseq = m.modseq;
			}
			mf_array_push(&b->msgs, m);
			mf_array_push(&t->saved, m.uid);
			break;
		}
		case OP_FLAGS:
			for (size_t k = 0; k < b->msgs.count; k++) {
				if (in_ranges(op, b->msgs.items[k].uid))
					apply_flags(b, &b->msgs.items[k], op,
					            t->sync);
			}
			break;
		case OP_MODSEQ: {
			struct mm_msg *m = msg_find(b, op->uid);
			if (m != NULL && m->modseq < op->min_modseq) {
				m->modseq = op->min_modseq;
				if (b->hms < m->modseq)
					b->hms = m->modseq;
			}
			break;
		}
		case OP_EXPUNGE:
			for (size_t k = 0; k < b->msgs.count;) {
				struct mm_msg *m = &b->msgs.items[k];
				if (!in_ranges(op, m->uid)) {
					k++;
					continue;
				}
				struct mm_exp *e =
				    mf_array_append_zero(&b->exp);
				e->uid = m->uid;
				e->modseq = ++b->hms;
				e->have =
				    m->guid != NULL &&
				    mf_guid128_from_hex(m->guid, e->guid) == 0;
				msg_free(m);
				memmove(m, m + 1,
				        (b->msgs.count - k - 1) * sizeof(*m));
				b->msgs.count--;
			}
			break;
		}
	}
	mf_qsort(b->msgs.items, b->msgs.count, sizeof(struct mm_msg),
	         cmp_msg_uid);
	ret = store_write(st);
	if (ret == 0 && res != NULL) {
		static MF_ARRAY(uint32_t) last_saved;
		mf_array_free(&last_saved);
		for (size_t i = 0; i < t->saved.count; i++)
			mf_array_push(&last_saved, t->saved.items[i]);
		res->uidvalidity = b->uv;
		res->saved_uids = last_saved.items;
		res->saved_count = last_saved.count;
	}
	trans_free(t);
	return ret;
}

static void mm_trans_rollback(struct mailferry_trans **tp)
{
	if (*tp == NULL)
		return;
	trans_free(*tp);
	*tp = NULL;
}

static int mm_copy(struct mailferry_trans *t, struct mailferry_mailbox *src,
                   uint32_t src_uid, const struct mailferry_save *save)
{
	struct mailferry_stream *s;
	char buf[8192];
	size_t n;
	int ret;

	if ((t->box->st->caps & (1u << 31)) != 0)
		return MAILFERRY_E_NOTSUPP;
	ret = mm_msg_open(src, src_uid, 0, &s);
	if (ret < 0)
		return ret;
	ret = mm_save_begin(t, save);
	while (ret == 0 &&
	       (ret = mm_stream_read(s, buf, sizeof(buf), &n)) == 0 && n > 0)
		ret = mm_save_write(t, buf, n);
	mm_stream_close(&s);
	if (ret < 0) {
		mm_save_cancel(t);
		return ret;
	}
	ret = mm_save_finish(t);
	if (ret == 0)
		copies_made++;
	return ret;
}

static int mm_purge(struct mailferry_storage *st)
{
	/* drop body files no message refers to */
	for (uint32_t id = 1; id < st->next_body; id++) {
		bool used = false;
		for (size_t i = 0; i < st->boxes.count && !used; i++) {
			const struct mm_box *b = st->boxes.items[i];
			for (size_t k = 0; k < b->msgs.count && !used; k++)
				used = b->msgs.items[k].body == id;
		}
		if (!used) {
			char *path =
			    mf_strdup_printf("%s/msg/%u", st->path, id);
			(void)unlink(path);
			free(path);
		}
	}
	return 0;
}

static int mm_ctl(struct mailferry_storage *st, uint32_t op, void *arg)
{
	if (op == MEMDRV_CTL_ITER_COUNT) {
		*(uint64_t *)arg = iter_returned;
		return 0;
	}
	if (op == MEMDRV_CTL_COPY_COUNT) {
		*(uint64_t *)arg = copies_made;
		return 0;
	}
	if (op == MEMDRV_CTL_OPEN_COUNT) {
		*(uint64_t *)arg = opens_made;
		return 0;
	}
	if (op != MEMDRV_CTL_DROP_HISTORY)
		return MAILFERRY_E_NOTSUPP;
	for (size_t i = 0; i < st->boxes.count; i++) {
		struct mm_box *b = st->boxes.items[i];
		for (size_t k = 0; k < b->chg.count; k++) {
			strv_free(&b->chg.items[k].kwadd);
			strv_free(&b->chg.items[k].kwrm);
		}
		b->chg.count = 0;
		b->exp.count = 0;
		b->floor = b->hms;
	}
	return store_write(st);
}

static const struct mailferry_driver_ops mm_ops = {
    .struct_size = sizeof(struct mailferry_driver_ops),
    .storage_open = mm_storage_open,
    .storage_close = mm_storage_close,
    .storage_info = mm_storage_info,
    .mailbox_list_begin = mm_list_begin,
    .mailbox_list_next = mm_list_next,
    .mailbox_list_end = mm_list_end,
    .mailbox_log_begin = mm_log_begin,
    .mailbox_log_next = mm_log_next,
    .mailbox_log_end = mm_log_end,
    .subscriptions_begin = mm_subs_begin,
    .subscriptions_next = mm_subs_next,
    .subscriptions_end = mm_subs_end,
    .mailbox_create = mm_create,
    .mailbox_delete = mm_delete,
    .mailbox_rename = mm_rename,
    .mailbox_set_subscribed = mm_set_subscribed,
    .mailbox_update = mm_update,
    .mailbox_open = mm_open,
    .mailbox_close = mm_close,
    .mailbox_status = mm_status,
    .msg_iter_begin = mm_iter_begin,
    .msg_iter_next = mm_iter_next,
    .msg_iter_end = mm_iter_end,
    .expunge_iter_begin = mm_exp_begin,
    .expunge_iter_next = mm_exp_next,
    .expunge_iter_end = mm_exp_end,
    .msg_open = mm_msg_open,
    .stream_read = mm_stream_read,
    .stream_close = mm_stream_close,
    .trans_begin = mm_trans_begin,
    .save_begin = mm_save_begin,
    .save_write = mm_save_write,
    .save_finish = mm_save_finish,
    .save_cancel = mm_save_cancel,
    .update_flags = mm_update_flags,
    .update_modseq = mm_update_modseq,
    .expunge = mm_expunge,
    .trans_commit = mm_trans_commit,
    .trans_rollback = mm_trans_rollback,
    .copy = mm_copy,
    .purge = mm_purge,
    .ctl = mm_ctl,
};

static const struct mailferry_driver mm_driver = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_driver),
    .name = "memdrv",
    .version = "1",
    .description = "engine test driver (directory-backed)",
    .caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_SAVE_GUID |
            MAILFERRY_CAP_SAVE_UID | MAILFERRY_CAP_MODSEQ |
            MAILFERRY_CAP_CHANGE_LOG | MAILFERRY_CAP_MAILBOX_GUIDS |
            MAILFERRY_CAP_MAILBOX_LOG | MAILFERRY_CAP_KEYWORDS |
            MAILFERRY_CAP_POP3 | MAILFERRY_CAP_PURGE |
            MAILFERRY_CAP_SUBSCRIPTIONS | MAILFERRY_CAP_SET_UIDVALIDITY |
            MAILFERRY_CAP_DATES,
    .ops = &mm_ops,
};

MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *core_api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
{
	(void)core_abi_minor;
	if (core_abi_major != MAILFERRY_ABI_MAJOR)
		return NULL;
	api = core_api;
	return &mm_driver;
}
