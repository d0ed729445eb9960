/* SPDX-License-Identifier: MIT */
#include "engine-harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-hex.h"
#include "mf-log.h"

static char *tmpdir;
bool h_snap_no_dirs;
static long clock_value = 1700000000;

void h_tick(int secs)
{
	char buf[32];

	clock_value += secs;
	snprintf(buf, sizeof(buf), "%ld", clock_value);
	setenv("MEMDRV_CLOCK", buf, 1);
}

void h_init(void)
{
	const char *top = getenv("MF_TOP_BUILDDIR");
	char tmpl[] = "/tmp/mf-engine-test.XXXXXX";
	char *path;

	if (top == NULL)
		top = ".";
	path =
	    mf_strdup_printf("%s/tests/engine/.libs:%s/plugins/maildir/.libs:"
	                     "%s/plugins/sdbox/.libs:%s/plugins/mdbox/.libs",
	                     top, top, top, top);
	setenv("MAILFERRY_DRIVER_PATH", path, 1);
	setenv("MAILFERRY_SKIP_DEFAULT_DIR", "1", 1);
	free(path);
	mf_drivers_load();
	ck_assert_msg(mf_driver_find("memdrv") != NULL,
	              "memdrv test driver not found in tests/engine/.libs");
	tmpdir = mf_strdup(mkdtemp(tmpl));
	ck_assert_ptr_nonnull(tmpdir);
	h_tick(0);
	mf_log_set_level(getenv("MF_TEST_DEBUG") != NULL ? MF_LOG_DEBUG
	                                                 : MF_LOG_WARNING);
}

void h_cleanup(void)
{
	char *cmd;

	if (tmpdir == NULL)
		return;
	cmd = mf_strdup_printf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", tmpdir);
	free(cmd);
	mf_free(&tmpdir);
}

const char *h_dir(void)
{
	return tmpdir;
}

struct mf_storage *h_open(const char *name, const char *opts)
{
	char *loc = mf_strdup_printf("memdrv:@DIR@/%s%s", name,
	                             opts != NULL ? opts : "");
	struct mf_storage *st = h_open_loc(loc);

	free(loc);
	return st;
}

struct mf_storage *h_open_loc(const char *location)
{
	struct mf_storage *st;
	struct mf_buf b = MF_BUF_INIT;
	const char *p = strstr(location, "@DIR@");
	char *loc, *error = NULL;
	int ret;

	if (p != NULL) {
		mf_buf_append(&b, location, (size_t)(p - location));
		mf_buf_append_str(&b, tmpdir);
		mf_buf_append_str(&b, p + 5);
	} else {
		mf_buf_append_str(&b, location);
	}
	loc = mf_buf_detach(&b);

	ret = mf_storage_open(loc, NULL, NULL, NULL, MAILFERRY_STORAGE_CREATE,
	                      &st, &error);
	ck_assert_msg(ret == 0, "open %s: %s", loc, error);
	free(loc);
	return st;
}

void h_close(struct mf_storage **st)
{
	mf_storage_close(st);
}

int h_create_guid(struct mf_storage *st, const char *name,
                  const uint8_t guid[16], uint32_t uidvalidity)
{
	struct mailferry_mailbox_create cr;

	mf_zero(&cr);
	cr.struct_size = sizeof(cr);
	if (guid != NULL)
		memcpy(cr.guid, guid, 16);
	cr.uidvalidity = uidvalidity;
	h_tick(1);
	return st->ops->mailbox_create(st->st, name, &cr);
}

void h_create(struct mf_storage *st, const char *name)
{
	int ret = h_create_guid(st, name, NULL, 0);
	ck_assert_msg(ret == 0, "create %s: %s", name, mf_storage_error(st));
}

int h_delete(struct mf_storage *st, const char *name)
{
	h_tick(1);
	return st->ops->mailbox_delete(st->st, name, 0);
}

int h_rename(struct mf_storage *st, const char *from, const char *to)
{
	h_tick(1);
	return st->ops->mailbox_rename(st->st, from, to);
}

void h_subscribe(struct mf_storage *st, const char *name, bool on)
{
	h_tick(1);
	ck_assert_int_eq(
	    st->ops->mailbox_set_subscribed(st->st, name, on ? 1 : 0), 0);
}

static struct mailferry_mailbox *open_box(struct mf_storage *st,
                                          const char *box)
{
	struct mailferry_mailbox *mb;
	int ret = st->ops->mailbox_open(st->st, box, 0, &mb);
	ck_assert_msg(ret == 0, "open mailbox %s: %s", box,
	              mf_storage_error(st));
	return mb;
}

uint32_t h_save_text(struct mf_storage *st, const char *box, const char *text,
                     int64_t received)
{
	struct mailferry_mailbox *mb = open_box(st, box);
	struct mailferry_trans *t;
	struct mailferry_save save;
	struct mailferry_commit_result cr;
	uint32_t uid;

	mf_zero(&save);
	save.struct_size = sizeof(save);
	save.received_date = received;
	save.size_hint = strlen(text);
	ck_assert_int_eq(st->ops->trans_begin(mb, 0, &t), 0);
	ck_assert_int_eq(st->ops->save_begin(t, &save), 0);
	ck_assert_int_eq(st->ops->save_write(t, text, strlen(text)), 0);
	ck_assert_int_eq(st->ops->save_finish(t), 0);
	mf_zero(&cr);
	cr.struct_size = sizeof(cr);
	ck_assert_int_eq(st->ops->trans_commit(&t, &cr), 0);
	ck_assert_uint_eq(cr.saved_count, 1);
	uid = cr.saved_uids[0];
	st->ops->mailbox_close(&mb);
	return uid;
}

uint32_t h_save(struct mf_storage *st, const char *box, unsigned int n)
{
	char *text = mf_strdup_printf("Date: Mon, 1 Jan 2024 00:00:%02u +0000\n"
	                              "Message-ID: <m%u@test>\n"
	                              "Subject: message %u\n\nbody %u\n",
	                              n % 60, n, n, n);
	uint32_t uid = h_save_text(st, box, text, 1700000000 + n);
	free(text);
	return uid;
}

void h_flags(struct mf_storage *st, const char *box, uint32_t uid,
             enum mailferry_modify mode, uint32_t flags, const char *kw)
{
	struct mailferry_mailbox *mb = open_box(st, box);
	struct mailferry_trans *t;
	struct mailferry_uid_range r = {uid, uid};
	struct mailferry_uidset set = {&r, 1};
	const char *kws[2] = {kw, NULL};

	ck_assert_int_eq(st->ops->trans_begin(mb, 0, &t), 0);
	ck_assert_int_eq(st->ops->update_flags(t, &set, mode, flags,
	                                       kw != NULL ? kws : NULL),
	                 0);
	ck_assert_int_eq(st->ops->trans_commit(&t, NULL), 0);
	st->ops->mailbox_close(&mb);
}

void h_expunge(struct mf_storage *st, const char *box, uint32_t uid)
{
	struct mailferry_mailbox *mb = open_box(st, box);
	struct mailferry_trans *t;
	struct mailferry_uid_range r = {uid, uid};
	struct mailferry_uidset set = {&r, 1};

	ck_assert_int_eq(st->ops->trans_begin(mb, 0, &t), 0);
	ck_assert_int_eq(st->ops->expunge(t, &set), 0);
	ck_assert_int_eq(st->ops->trans_commit(&t, NULL), 0);
	st->ops->mailbox_close(&mb);
}

int h_count(struct mf_storage *st, const char *box)
{
	struct mailferry_mailbox *mb;
	struct mailferry_mailbox_status s;

	if (st->ops->mailbox_open(st->st, box, 0, &mb) < 0)
		return -1;
	mf_zero(&s);
	s.struct_size = sizeof(s);
	ck_assert_int_eq(st->ops->mailbox_status(mb, &s), 0);
	st->ops->mailbox_close(&mb);
	return (int)s.messages;
}

/* ----------------------------------------------------------- snapshots */

static char *body_md5(struct mf_storage *st, struct mailferry_mailbox *mb,
                      uint32_t uid)
{
	struct mailferry_stream *s;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t out[EVP_MAX_MD_SIZE];
	unsigned int len;
	char buf[4096], hex[33];
	size_t n;

	ck_assert_int_eq(st->ops->msg_open(mb, uid, 0, &s), 0);
	EVP_DigestInit_ex(md, EVP_md5(), NULL);
	while (st->ops->stream_read(s, buf, sizeof(buf), &n) == 0 && n > 0)
		EVP_DigestUpdate(md, buf, n);
	st->ops->stream_close(&s);
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
	mf_hex_encode(out, 16, hex);
	return mf_strdup(hex);
}

static int cmp_box(const void *a, const void *b)
{
	return strcmp(((const struct h_box *)a)->name,
	              ((const struct h_box *)b)->name);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void h_snap(struct mf_storage *st, struct h_snap *snap)
{
	struct mailferry_list_iter *it;
	const struct mailferry_mailbox_info *info;
	struct mailferry_subs_iter *sit;
	const char *name;

	mf_zero(snap);
	ck_assert_int_eq(st->ops->mailbox_list_begin(st->st, 0, &it), 0);
	while (st->ops->mailbox_list_next(it, &info) > 0) {
		struct h_box *b = mf_array_append_zero(&snap->boxes);
		b->name = mf_strdup(info->name);
		b->real = mf_strdup(info->name);
		for (char *c = b->name; *c != '\0'; c++) {
			if (*c == st->info->hier_sep)
				*c = '/';
		}
		b->dir = (info->flags & MAILFERRY_MAILBOX_NOSELECT) != 0;
	}
	st->ops->mailbox_list_end(&it);
	mf_qsort(snap->boxes.items, snap->boxes.count, sizeof(struct h_box),
	         cmp_box);
	/* a directory with children is implied by them (some stores list
	 * such parents, some do not): leave it out */
	for (size_t i = 0; i < snap->boxes.count;) {
		struct h_box *b = &snap->boxes.items[i];
		size_t len = strlen(b->name);
		bool parent =
		    b->dir && i + 1 < snap->boxes.count &&
		    strncmp(snap->boxes.items[i + 1].name, b->name, len) == 0 &&
		    snap->boxes.items[i + 1].name[len] == '/';
		if (b->dir && h_snap_no_dirs)
			parent = true;
		if (!parent) {
			i++;
			continue;
		}
		free(b->name);
		free(b->real);
		memmove(b, b + 1,
		        (snap->boxes.count - i - 1) * sizeof(struct h_box));
		snap->boxes.count--;
	}
	for (size_t i = 0; i < snap->boxes.count; i++) {
		struct h_box *b = &snap->boxes.items[i];
		struct mailferry_mailbox *mb;
		struct mailferry_mailbox_status s;
		struct mailferry_msg_query q;
		struct mailferry_msg_iter *mit;
		const struct mailferry_msg *m;
		MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;

		if (b->dir)
			continue;
		mb = open_box(st, b->real);
		mf_zero(&s);
		s.struct_size = sizeof(s);
		ck_assert_int_eq(st->ops->mailbox_status(mb, &s), 0);
		memcpy(b->guid, s.guid, 16);
		b->uidvalidity = s.uidvalidity;
		b->uidnext = s.uidnext;
		mf_zero(&q);
		q.struct_size = sizeof(q);
		q.uid_first = 1;
		q.uid_last = UINT32_MAX;
		q.fields = MAILFERRY_FIELD_GUID | MAILFERRY_FIELD_FLAGS;
		ck_assert_int_eq(st->ops->msg_iter_begin(mb, &q, &mit), 0);
		while (st->ops->msg_iter_next(mit, &m) > 0) {
			struct h_msg *x = mf_array_append_zero(&b->msgs);
			MF_ARRAY(char *) kws = MF_ARRAY_INIT;
			struct mf_buf kb = MF_BUF_INIT;

			x->uid = m->uid;
			x->guid = mf_strdup(m->guid != NULL ? m->guid : "");
			x->flags = m->flags & MAILFERRY_FLAGS_MASK;
			for (size_t k = 0;
			     m->keywords != NULL && m->keywords[k] != NULL; k++)
				mf_array_push(&kws, (char *)m->keywords[k]);
			mf_qsort(kws.items, kws.count, sizeof(char *),
			         cmp_strp);
			for (size_t k = 0; k < kws.count; k++)
				mf_buf_printf(&kb, "%s%s", k > 0 ? " " : "",
				              kws.items[k]);
			x->keywords = mf_buf_detach(&kb);
			mf_array_free(&kws);
			mf_array_push(&uids, m->uid);
		}
		st->ops->msg_iter_end(&mit);
		for (size_t k = 0; k < b->msgs.count; k++)
			b->msgs.items[k].body_md5 =
			    body_md5(st, mb, uids.items[k]);
		mf_array_free(&uids);
		st->ops->mailbox_close(&mb);
	}
	if (MF_HAS_OP(st, subscriptions_begin) &&
	    st->ops->subscriptions_begin(st->st, &sit) == 0) {
		while (st->ops->subscriptions_next(sit, &name) > 0) {
			char *n = mf_strdup(name);
			for (char *c = n; *c != '\0'; c++) {
				if (*c == st->info->hier_sep)
					*c = '/';
			}
			mf_array_push(&snap->subs, n);
		}
		st->ops->subscriptions_end(&sit);
		mf_qsort(snap->subs.items, snap->subs.count, sizeof(char *),
		         cmp_strp);
	}
}

void h_snap_free(struct h_snap *snap)
{
	for (size_t i = 0; i < snap->boxes.count; i++) {
		struct h_box *b = &snap->boxes.items[i];
		for (size_t k = 0; k < b->msgs.count; k++) {
			free(b->msgs.items[k].guid);
			free(b->msgs.items[k].keywords);
			free(b->msgs.items[k].body_md5);
		}
		mf_array_free(&b->msgs);
		free(b->name);
		free(b->real);
	}
	mf_array_free(&snap->boxes);
	for (size_t i = 0; i < snap->subs.count; i++)
		free(snap->subs.items[i]);
	mf_array_free(&snap->subs);
}

const struct h_box *h_snap_box(const struct h_snap *s, const char *name)
{
	for (size_t i = 0; i < s->boxes.count; i++) {
		if (strcmp(s->boxes.items[i].name, name) == 0)
			return &s->boxes.items[i];
	}
	return NULL;
}

char *h_snap_diff(const struct h_snap *a, const struct h_snap *b, bool full)
{
	if (a->boxes.count != b->boxes.count)
		return mf_strdup_printf("mailbox count %zu vs %zu",
		                        a->boxes.count, b->boxes.count);
	for (size_t i = 0; i < a->boxes.count; i++) {
		const struct h_box *x = &a->boxes.items[i];
		const struct h_box *y = &b->boxes.items[i];
		if (strcmp(x->name, y->name) != 0)
			return mf_strdup_printf("mailbox %s vs %s", x->name,
			                        y->name);
		if (x->dir != y->dir)
			return mf_strdup_printf("%s: directory vs mailbox",
			                        x->name);
		if (memcmp(x->guid, y->guid, 16) != 0)
			return mf_strdup_printf("%s: mailbox GUIDs differ",
			                        x->name);
		if (full && x->uidvalidity != y->uidvalidity)
			return mf_strdup_printf("%s: UIDVALIDITY %u vs %u",
			                        x->name, x->uidvalidity,
			                        y->uidvalidity);
		if (x->msgs.count != y->msgs.count)
			return mf_strdup_printf("%s: %zu vs %zu messages",
			                        x->name, x->msgs.count,
			                        y->msgs.count);
		for (size_t k = 0; k < x->msgs.count; k++) {
			const struct h_msg *m = &x->msgs.items[k];
			const struct h_msg *n = &y->msgs.items[k];
			if (m->uid != n->uid || strcmp(m->guid, n->guid) != 0 ||
			    strcmp(m->body_md5, n->body_md5) != 0)
				return mf_strdup_printf(
				    "%s: message %zu: UID %u/%s vs UID "
				    "%u/%s",
				    x->name, k, m->uid, m->guid, n->uid,
				    n->guid);
			if (full && (m->flags != n->flags ||
			             strcmp(m->keywords, n->keywords) != 0))
				return mf_strdup_printf(
				    "%s: UID %u: flags %x [%s] vs %x [%s]",
				    x->name, m->uid, m->flags, m->keywords,
				    n->flags, n->keywords);
		}
	}
	if (a->subs.count != b->subs.count)
		return mf_strdup_printf("subscription count %zu vs %zu",
		                        a->subs.count, b->subs.count);
	for (size_t i = 0; i < a->subs.count; i++) {
		if (strcmp(a->subs.items[i], b->subs.items[i]) != 0)
			return mf_strdup_printf("subscription %s vs %s",
			                        a->subs.items[i],
			                        b->subs.items[i]);
	}
	return NULL;
}

static int cmp_str_ptr(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* "md5 flags keywords" of every message of b, sorted */
static char **box_content(const struct h_box *b)
{
	char **v = mf_calloc(b->msgs.count + 1, sizeof(char *));

	for (size_t k = 0; k < b->msgs.count; k++) {
		const struct h_msg *m = &b->msgs.items[k];
		v[k] = mf_strdup_printf("%s %x [%s]", m->body_md5, m->flags,
		                        m->keywords);
	}
	mf_qsort(v, b->msgs.count, sizeof(char *), cmp_str_ptr);
	return v;
}

char *h_snap_diff_content(const struct h_snap *a, const struct h_snap *b)
{
	if (a->boxes.count != b->boxes.count)
		return mf_strdup_printf("mailbox count %zu vs %zu",
		                        a->boxes.count, b->boxes.count);
	for (size_t i = 0; i < a->boxes.count; i++) {
		const struct h_box *x = &a->boxes.items[i];
		const struct h_box *y = &b->boxes.items[i];
		char **cx, **cy, *diff = NULL;

		if (strcmp(x->name, y->name) != 0)
			return mf_strdup_printf("mailbox %s vs %s", x->name,
			                        y->name);
		if (x->dir != y->dir)
			return mf_strdup_printf("%s: directory vs mailbox",
			                        x->name);
		if (x->msgs.count != y->msgs.count)
			return mf_strdup_printf("%s: %zu vs %zu messages",
			                        x->name, x->msgs.count,
			                        y->msgs.count);
		cx = box_content(x);
		cy = box_content(y);
		for (size_t k = 0; k < x->msgs.count && diff == NULL; k++) {
			if (strcmp(cx[k], cy[k]) != 0)
				diff = mf_strdup_printf("%s: %s vs %s", x->name,
				                        cx[k], cy[k]);
		}
		for (size_t k = 0; k < x->msgs.count; k++) {
			free(cx[k]);
			free(cy[k]);
		}
		free(cx);
		free(cy);
		if (diff != NULL)
			return diff;
	}
	if (a->subs.count != b->subs.count)
		return mf_strdup_printf("subscription count %zu vs %zu",
		                        a->subs.count, b->subs.count);
	for (size_t i = 0; i < a->subs.count; i++) {
		if (strcmp(a->subs.items[i], b->subs.items[i]) != 0)
			return mf_strdup_printf("subscription %s vs %s",
			                        a->subs.items[i],
			                        b->subs.items[i]);
	}
	return NULL;
}

char *h_snap_dump(const struct h_snap *s)
{
	struct mf_buf out = MF_BUF_INIT;

	for (size_t i = 0; i < s->boxes.count; i++) {
		const struct h_box *b = &s->boxes.items[i];
		char hex[33];
		mf_hex_encode(b->guid, 16, hex);
		mf_buf_printf(&out, "  %s%s %.8s uv=%u next=%u:", b->name,
		              b->dir ? " (dir)" : "", hex, b->uidvalidity,
		              b->uidnext);
		for (size_t k = 0; k < b->msgs.count; k++)
			mf_buf_printf(
			    &out, " %u:%.6s:%x%s%s", b->msgs.items[k].uid,
			    b->msgs.items[k].body_md5, b->msgs.items[k].flags,
			    b->msgs.items[k].keywords[0] != '\0' ? ":" : "",
			    b->msgs.items[k].keywords);
		mf_buf_append_c(&out, '\n');
	}
	for (size_t i = 0; i < s->subs.count; i++)
		mf_buf_printf(&out, "  sub %s\n", s->subs.items[i]);
	return mf_buf_detach(&out);
}

void h_params(struct mf_sync_params *p)
{
	static FILE *devnull;

	const char *w = getenv("MF_TEST_WINDOW");

	mf_zero(p);
	if (devnull == NULL)
		devnull = fopen("/dev/null", "w");
	p->out = devnull;
	/* a few messages per window: every scenario crosses window
	 * boundaries ($MF_TEST_WINDOW=0 runs them with the default) */
	p->window = w != NULL ? (unsigned int)strtoul(w, NULL, 10) : 3;
}

int h_sync(const struct mf_sync_params *p, struct mf_storage *a,
           struct mf_storage *b, struct mf_sync_result *res_r)
{
	int ret = mf_sync_run(p, a, b, res_r);

	if (ret < 0)
		fprintf(stderr, "sync failed: %s\n",
		        res_r->error != NULL ? res_r->error : "?");
	return mf_sync_exit_code(ret, res_r);
}

void h_assert_identical(struct mf_storage *a, struct mf_storage *b)
{
	struct h_snap sa, sb;
	char *diff;

	h_snap(a, &sa);
	h_snap(b, &sb);
	diff = h_snap_diff(&sa, &sb, true);
	if (diff != NULL) {
		char *da = h_snap_dump(&sa), *db = h_snap_dump(&sb);
		ck_abort_msg("stores differ: %s\nA:\n%sB:\n%s", diff, da, db);
	}
	h_snap_free(&sa);
	h_snap_free(&sb);
}

bool h_result_noop(const struct mf_sync_result *r)
{
	return r->msgs_saved == 0 && r->msgs_expunged == 0 &&
	       r->msgs_moved == 0 && r->msgs_flag_changed == 0 &&
	       r->boxes_created == 0 && r->boxes_deleted == 0 &&
	       r->boxes_renamed == 0;
}

uint64_t h_memdrv_counter(struct mf_storage *st, uint32_t op)
{
	uint64_t n = 0;

	ck_assert_int_eq(st->ops->ctl(st->st, op, &n), 0);
	return n;
}
