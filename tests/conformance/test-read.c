/* SPDX-License-Identifier: MIT */
/*
 * test-read.c - the read half of the conformance suite, run against every
 * driver (read-only ones only run this half): descriptor, listing, status,
 * message records, bodies byte for byte, iterator and stream ends, error
 * paths, refusal of writes on read-only stores, and a 64 MiB message read
 * with bounded memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf-tests.h"

#define ALL_FIELDS                                                             \
	(MAILFERRY_FIELD_GUID | MAILFERRY_FIELD_FLAGS |                        \
	 MAILFERRY_FIELD_MODSEQ | MAILFERRY_FIELD_RECEIVED |                   \
	 MAILFERRY_FIELD_SAVED | MAILFERRY_FIELD_PHYSICAL_SIZE |               \
	 MAILFERRY_FIELD_VIRTUAL_SIZE)

#define SLOT_PRESENT(ops, slot)                                                \
	((ops)->struct_size >= offsetof(struct mailferry_driver_ops, slot) +   \
	                           sizeof((ops)->slot) &&                      \
	 (ops)->slot != NULL)

static int guid_is_zero(const uint8_t guid[16])
{
	for (int i = 0; i < 16; i++) {
		if (guid[i] != 0)
			return 0;
	}
	return 1;
}

static int is_hex32(const char *s)
{
	size_t n = strlen(s);

	return n == 32 && strspn(s, "0123456789abcdefABCDEF") == n;
}

START_TEST(test_descriptor)
{
	const struct mf_driver *drv = mf_driver_at((size_t)_i);
	const struct mailferry_driver *d = drv->desc;
	const struct mailferry_driver_ops *ops = d->ops;
	const char *base = strrchr(drv->path, '/');
	char *file;

	ck_assert_uint_eq(d->abi_major, MAILFERRY_ABI_MAJOR);
	ck_assert_uint_le(d->abi_minor, MAILFERRY_ABI_MINOR);
	ck_assert_uint_ge(d->struct_size, sizeof(struct mailferry_driver));
	ck_assert_ptr_nonnull(d->name);
	ck_assert_msg(d->name[0] != '\0' &&
	                  strspn(d->name, "abcdefghijklmnopqrstuvwxyz"
	                                  "0123456789_-") == strlen(d->name),
	              "driver name '%s' is not [a-z0-9_-]+", d->name);
	file = mf_strdup_printf("%s.so", d->name);
	ck_assert_str_eq(base == NULL ? drv->path : base + 1, file);
	free(file);
	ck_assert_ptr_nonnull(d->version);
	ck_assert_ptr_nonnull(d->description);
	ck_assert_ptr_nonnull(ops);
	ck_assert_uint_ge(ops->struct_size,
	                  sizeof(struct mailferry_driver_ops));

	/* the read half is required of every driver */
	ck_assert(SLOT_PRESENT(ops, storage_open));
	ck_assert(SLOT_PRESENT(ops, storage_close));
	ck_assert(SLOT_PRESENT(ops, storage_info));
	ck_assert(SLOT_PRESENT(ops, mailbox_list_begin));
	ck_assert(SLOT_PRESENT(ops, mailbox_list_next));
	ck_assert(SLOT_PRESENT(ops, mailbox_list_end));
	ck_assert(SLOT_PRESENT(ops, mailbox_open));
	ck_assert(SLOT_PRESENT(ops, mailbox_close));
	ck_assert(SLOT_PRESENT(ops, mailbox_status));
	ck_assert(SLOT_PRESENT(ops, msg_iter_begin));
	ck_assert(SLOT_PRESENT(ops, msg_iter_next));
	ck_assert(SLOT_PRESENT(ops, msg_iter_end));
	ck_assert(SLOT_PRESENT(ops, msg_open));
	ck_assert(SLOT_PRESENT(ops, stream_read));
	ck_assert(SLOT_PRESENT(ops, stream_close));

	if ((d->caps & MAILFERRY_CAP_READONLY) == 0) {
		ck_assert(SLOT_PRESENT(ops, mailbox_create));
		ck_assert(SLOT_PRESENT(ops, mailbox_delete));
		ck_assert(SLOT_PRESENT(ops, mailbox_rename));
		ck_assert(SLOT_PRESENT(ops, mailbox_update));
		ck_assert(SLOT_PRESENT(ops, trans_begin));
		ck_assert(SLOT_PRESENT(ops, save_begin));
		ck_assert(SLOT_PRESENT(ops, save_write));
		ck_assert(SLOT_PRESENT(ops, save_finish));
		ck_assert(SLOT_PRESENT(ops, save_cancel));
		ck_assert(SLOT_PRESENT(ops, update_flags));
		ck_assert(SLOT_PRESENT(ops, expunge));
		ck_assert(SLOT_PRESENT(ops, trans_commit));
		ck_assert(SLOT_PRESENT(ops, trans_rollback));
	}
	/* optional groups come whole, and a claimed capability has them */
	ck_assert_int_eq(SLOT_PRESENT(ops, mailbox_log_begin),
	                 SLOT_PRESENT(ops, mailbox_log_next));
	ck_assert_int_eq(SLOT_PRESENT(ops, mailbox_log_begin),
	                 SLOT_PRESENT(ops, mailbox_log_end));
	ck_assert_int_eq(SLOT_PRESENT(ops, subscriptions_begin),
	                 SLOT_PRESENT(ops, subscriptions_next));
	ck_assert_int_eq(SLOT_PRESENT(ops, subscriptions_begin),
	                 SLOT_PRESENT(ops, subscriptions_end));
	ck_assert_int_eq(SLOT_PRESENT(ops, expunge_iter_begin),
	                 SLOT_PRESENT(ops, expunge_iter_next));
	ck_assert_int_eq(SLOT_PRESENT(ops, expunge_iter_begin),
	                 SLOT_PRESENT(ops, expunge_iter_end));
	if ((d->caps & MAILFERRY_CAP_CHANGE_LOG) != 0)
		ck_assert(SLOT_PRESENT(ops, expunge_iter_begin));
	if ((d->caps & MAILFERRY_CAP_MAILBOX_LOG) != 0)
		ck_assert(SLOT_PRESENT(ops, mailbox_log_begin));
	if ((d->caps & MAILFERRY_CAP_SUBSCRIPTIONS) != 0) {
		ck_assert(SLOT_PRESENT(ops, subscriptions_begin));
		if ((d->caps & MAILFERRY_CAP_READONLY) == 0)
			ck_assert(SLOT_PRESENT(ops, mailbox_set_subscribed));
	}
	if ((d->caps & MAILFERRY_CAP_PURGE) != 0)
		ck_assert(SLOT_PRESENT(ops, purge));
}
END_TEST

START_TEST(test_storage_info)
{
	const struct mailferry_storage_info *info, *again;
	struct conf_env env;

	if (conf_begin(&env, _i, CONF_EMPTY) < 0)
		return;
	info = env.storage->info;
	ck_assert_uint_ge(info->struct_size,
	                  sizeof(struct mailferry_storage_info));
	ck_assert_msg((info->caps & ~env.drv->desc->caps) == 0,
	              "%s: storage claims caps 0x%x beyond the driver's 0x%x",
	              env.name, info->caps, env.drv->desc->caps);
	ck_assert_msg(info->hier_sep == '/' || info->hier_sep == '.',
	              "%s: hierarchy separator '%c'", env.name, info->hier_sep);
	ck_assert_ptr_nonnull(info->display);
	ck_assert_str_ne(info->display, "");
	ck_assert_int_eq(CONF_OPS(&env)->storage_info(CONF_ST(&env), &again),
	                 0);
	ck_assert_uint_eq(again->caps, info->caps);
	conf_end(&env);
}
END_TEST

START_TEST(test_list)
{
	const struct conf_fixture *fx = conf_fixture();
	conf_list_t list, slist;
	struct conf_env env;

	if (conf_begin(&env, _i, CONF_FIXTURE) < 0)
		return;
	conf_list(&env, 0, &list);
	for (size_t i = 0; i < list.count; i++) {
		const char *name = list.items[i].name;
		const char *slash = strrchr(name, '/');

		for (size_t j = i + 1; j < list.count; j++)
			ck_assert_msg(strcmp(name, list.items[j].name) != 0,
			              "%s: '%s' listed twice", env.name, name);
		if (slash != NULL) {
			/* a listed parent comes before its children */
			char *parent = mf_strndup(name, (size_t)(slash - name));
			for (size_t j = i + 1; j < list.count; j++)
				ck_assert_msg(
				    strcmp(list.items[j].name, parent) != 0,
				    "%s: '%s' listed after its child "
				    "'%s'",
				    env.name, parent, name);
			free(parent);
		}
		if ((list.items[i].flags & MAILFERRY_MAILBOX_CHILDREN) != 0) {
			size_t len = strlen(name), k;
			for (k = 0; k < list.count; k++) {
				if (strncmp(list.items[k].name, name, len) ==
				        0 &&
				    list.items[k].name[len] == '/')
					break;
			}
			ck_assert_msg(k < list.count,
			              "%s: '%s' has CHILDREN but none listed",
			              env.name, name);
		}
	}
	for (size_t b = 0; b < fx->boxes.count; b++) {
		const struct conf_box *fbox = &fx->boxes.items[b];
		const struct conf_listed *l = conf_list_find(&list, fbox->name);

		ck_assert_msg(l != NULL, "%s: mailbox '%s' not listed",
		              env.name, fbox->name);
		ck_assert_msg((l->flags & MAILFERRY_MAILBOX_NOSELECT) == 0,
		              "%s: mailbox '%s' listed as NOSELECT", env.name,
		              fbox->name);
	}

	/* with STATUS: the numbers mailbox_status() gives */
	conf_list(&env, MAILFERRY_LIST_STATUS, &slist);
	ck_assert_uint_eq(slist.count, list.count);
	for (size_t b = 0; b < fx->boxes.count; b++) {
		const struct conf_box *fbox = &fx->boxes.items[b];
		const struct conf_listed *l =
		    conf_list_find(&slist, fbox->name);
		const struct conf_listed *l0 =
		    conf_list_find(&list, fbox->name);
		struct mailferry_mailbox_status st;
		struct mailferry_mailbox *box;

		ck_assert_ptr_nonnull(l);
		box = conf_box_open(&env, fbox->name);
		conf_box_status(&env, box, &st);
		CONF_OPS(&env)->mailbox_close(&box);
		ck_assert_ptr_null(box);
		if ((l->flags & MAILFERRY_MAILBOX_HAVE_STATUS) != 0) {
			ck_assert_uint_eq(l->status.messages, st.messages);
			ck_assert_uint_eq(l->status.uidvalidity,
			                  st.uidvalidity);
			ck_assert_uint_eq(l->status.uidnext, st.uidnext);
		}
		if ((env.caps & MAILFERRY_CAP_MAILBOX_GUIDS) == 0)
			continue;
		ck_assert_msg(!guid_is_zero(st.guid),
		              "%s: mailbox '%s' has no GUID", env.name,
		              fbox->name);
		if (!guid_is_zero(l0->status.guid))
			ck_assert_mem_eq(l0->status.guid, st.guid, 16);
		for (size_t o = 0; o < b; o++) {
			const struct conf_listed *other =
			    conf_list_find(&slist, fx->boxes.items[o].name);
			ck_assert_ptr_nonnull(other);
			if (!guid_is_zero(other->status.guid))
				ck_assert_msg(memcmp(other->status.guid,
				                     st.guid, 16) != 0,
				              "%s: '%s' and '%s' share a GUID",
				              env.name, fbox->name,
				              fx->boxes.items[o].name);
		}
	}
	conf_list_free(&list);
	conf_list_free(&slist);
	conf_end(&env);
}
END_TEST

struct box_snapshot {
	uint32_t uidvalidity;
	conf_recs_t recs;
};

/* Check one fixture mailbox against the store; fill snap for a later
 * stability comparison. */
static void check_box(struct conf_env *env, const struct conf_box *fbox,
                      struct box_snapshot *snap)
{
	static const size_t chunks[] = {4096, 1, 7, 65536, 100};
	struct mailferry_mailbox_status st;
	struct mailferry_mailbox *box;
	conf_recs_t recs;

	box = conf_box_open(env, fbox->name);
	conf_box_status(env, box, &st);
	ck_assert_msg(st.uidvalidity != 0, "%s: '%s' has UIDVALIDITY 0",
	              env->name, fbox->name);
	ck_assert_msg(st.messages == fbox->msgs.count,
	              "%s: '%s' has %u messages, the fixture %zu", env->name,
	              fbox->name, st.messages, fbox->msgs.count);
	conf_msgs(env, box, 1, UINT32_MAX, ALL_FIELDS, &recs);
	ck_assert_uint_eq(recs.count, fbox->msgs.count);

	for (size_t m = 0; m < recs.count; m++) {
		const struct conf_rec *r = &recs.items[m];
		const struct conf_msg *want = &fbox->msgs.items[m];
		size_t size;
		char *data;

		ck_assert_msg(r->uid < st.uidnext,
		              "%s: '%s' UID %u not below UIDNEXT %u", env->name,
		              fbox->name, r->uid, st.uidnext);
		data = conf_read_msg(env, box, r->uid,
		                     chunks[m % MF_N_ELEMENTS(chunks)], &size);
		ck_assert_msg(
		    conf_same_body(env, data, size, want->data, want->size),
		    "%s: '%s' UID %u: %zu bytes read back differ from "
		    "the %zu bytes of %s",
		    env->name, fbox->name, r->uid, size, want->size,
		    want->origin);
		free(data);
		ck_assert_msg(r->physical_size == UINT64_MAX ||
		                  r->physical_size == want->size ||
		                  (env->remote &&
		                   r->physical_size ==
		                       conf_crlf_size(want->data, want->size)),
		              "%s: '%s' UID %u: physical size %llu, body has "
		              "%zu bytes",
		              env->name, fbox->name, r->uid,
		              (unsigned long long)r->physical_size, want->size);
		ck_assert_msg(
		    r->virtual_size == UINT64_MAX ||
		        r->virtual_size ==
		            conf_crlf_size(want->data, want->size),
		    "%s: '%s' UID %u: virtual size %llu, want %llu", env->name,
		    fbox->name, r->uid, (unsigned long long)r->virtual_size,
		    (unsigned long long)conf_crlf_size(want->data, want->size));
		if ((env->caps & MAILFERRY_CAP_MSG_GUIDS) != 0) {
			ck_assert_msg(r->guid != NULL,
			              "%s: '%s' UID %u has no GUID", env->name,
			              fbox->name, r->uid);
			if ((env->caps & MAILFERRY_CAP_GUID128_ONLY) != 0)
				ck_assert_msg(is_hex32(r->guid),
				              "%s: GUID '%s' is not 128-bit",
				              env->name, r->guid);
			for (size_t o = 0; o < m; o++)
				ck_assert_msg(
				    strcmp(recs.items[o].guid, r->guid) != 0,
				    "%s: '%s' UIDs %u and %u share "
				    "GUID %s",
				    env->name, fbox->name, recs.items[o].uid,
				    r->uid, r->guid);
		}
		if ((env->caps & MAILFERRY_CAP_MODSEQ) != 0) {
			ck_assert_msg(r->modseq > 0 &&
			                  r->modseq <= st.highest_modseq,
			              "%s: '%s' UID %u modseq %llu, highest "
			              "%llu",
			              env->name, fbox->name, r->uid,
			              (unsigned long long)r->modseq,
			              (unsigned long long)st.highest_modseq);
		}
		ck_assert_msg(r->received_date >= 0,
		              "%s: negative received date", env->name);
	}
	CONF_OPS(env)->mailbox_close(&box);
	snap->uidvalidity = st.uidvalidity;
	snap->recs = recs;
}

START_TEST(test_read_bodies)
{
	const struct conf_fixture *fx = conf_fixture();
	struct box_snapshot *before, after;
	struct conf_env env;

	if (conf_begin(&env, _i, CONF_FIXTURE) < 0)
		return;
	before = mf_calloc(fx->boxes.count, sizeof(*before));
	for (size_t b = 0; b < fx->boxes.count; b++)
		check_box(&env, &fx->boxes.items[b], &before[b]);

	/* everything again from a fresh handle: UIDVALIDITY, UIDs and GUIDs
	 * are stable */
	conf_reopen(&env);
	for (size_t b = 0; b < fx->boxes.count; b++) {
		const char *name = fx->boxes.items[b].name;

		check_box(&env, &fx->boxes.items[b], &after);
		ck_assert_msg(after.uidvalidity == before[b].uidvalidity,
		              "%s: '%s' UIDVALIDITY changed on reopen",
		              env.name, name);
		for (size_t m = 0; m < after.recs.count; m++) {
			const struct conf_rec *r0 = &before[b].recs.items[m];
			const struct conf_rec *r1 = &after.recs.items[m];
			ck_assert_uint_eq(r0->uid, r1->uid);
			if (r0->guid != NULL || r1->guid != NULL) {
				ck_assert_msg(
				    r0->guid != NULL && r1->guid != NULL &&
				        strcmp(r0->guid, r1->guid) == 0,
				    "%s: '%s' UID %u GUID changed on "
				    "reopen",
				    env.name, name, r0->uid);
			}
		}
		conf_recs_free(&after.recs);
		conf_recs_free(&before[b].recs);
	}
	free(before);
	conf_end(&env);
}
END_TEST

START_TEST(test_iter_ranges)
{
	struct mailferry_mailbox_status st;
	struct mailferry_mailbox *box;
	conf_recs_t all, part;
	struct conf_env env;

	if (conf_begin(&env, _i, CONF_FIXTURE) < 0)
		return;
	box = conf_box_open(&env, "INBOX");
	conf_box_status(&env, box, &st);
	conf_msgs(&env, box, 0, UINT32_MAX, 0, &all);
	ck_assert_uint_ge(all.count, 5);

	conf_msgs(&env, box, all.items[1].uid, all.items[3].uid,
	          MAILFERRY_FIELD_GUID, &part);
	ck_assert_uint_eq(part.count, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(part.items[i].uid, all.items[i + 1].uid);
	conf_recs_free(&part);

	conf_msgs(&env, box, all.items[all.count - 1].uid, UINT32_MAX, 0,
	          &part);
	ck_assert_uint_eq(part.count, 1);
	conf_recs_free(&part);

	conf_msgs(&env, box, st.uidnext, UINT32_MAX, 0, &part);
	ck_assert_uint_eq(part.count, 0);
	conf_recs_free(&part);

	conf_recs_free(&all);
	CONF_OPS(&env)->mailbox_close(&box);
	conf_end(&env);
}
END_TEST

START_TEST(test_errors_read)
{
	struct mailferry_mailbox_status st;
	struct mailferry_mailbox *box = NULL;
	struct mf_storage *storage = NULL;
	struct conf_env env;
	char *location, *error = NULL;
	int ret;

	if (conf_begin(&env, _i, CONF_FIXTURE) < 0)
		return;
	ret = CONF_OPS(&env)->mailbox_open(CONF_ST(&env), "no-such-mailbox-x7",
	                                   0, &box);
	ck_assert_msg(ret == MAILFERRY_E_NOTFOUND,
	              "%s: opening a missing mailbox gave %d, not NOTFOUND",
	              env.name, ret);
	ck_assert_ptr_null(box);
	ck_assert_msg(strstr(CONF_ERR(&env), "no-such-mailbox-x7") != NULL,
	              "%s: error '%s' does not name the mailbox", env.name,
	              CONF_ERR(&env));

	box = conf_box_open(&env, "INBOX");
	conf_box_status(&env, box, &st);
	conf_expect_no_msg(&env, box, st.uidnext, "UIDNEXT");
	CONF_OPS(&env)->mailbox_close(&box);

	/* a store that does not exist, without CREATE */
	if (strcmp(env.name, "imapc") != 0) {
		location =
		    mf_strdup_printf("%s:%s/not-there", env.name, env.tmp);
		ret = mf_storage_open(location, NULL, NULL, env.tmp, 0,
		                      &storage, &error);
		ck_assert_msg(ret == MAILFERRY_E_NOTFOUND,
		              "%s: opening %s gave %d (%s), not NOTFOUND",
		              env.name, location, ret,
		              error != NULL ? error : "");
		ck_assert_msg(error != NULL && strstr(error, "not-there"),
		              "%s: error '%s' does not name the path", env.name,
		              error);
		free(error);
		free(location);
	}
	conf_end(&env);
}
END_TEST

START_TEST(test_readonly_refuses)
{
	const struct mailferry_driver_ops *ops;
	struct mailferry_mailbox_create params;
	struct mailferry_trans *trans = NULL;
	struct mailferry_mailbox *box;
	conf_list_t before, after;
	struct conf_env env;

	if (conf_begin(&env, _i, CONF_FIXTURE) < 0)
		return;
	if (!env.readonly) {
		printf("%s: read-only refusal skipped: not a read-only store\n",
		       env.name);
		conf_end(&env);
		return;
	}
	ops = CONF_OPS(&env);
	conf_list(&env, 0, &before);
	memset(&params, 0, sizeof(params));
	params.struct_size = sizeof(params);
	if (ops->mailbox_create != NULL)
		ck_assert_int_lt(
		    ops->mailbox_create(CONF_ST(&env), "New", &params), 0);
	if (ops->mailbox_delete != NULL)
		ck_assert_int_lt(ops->mailbox_delete(CONF_ST(&env), "Edge", 0),
		                 0);
	if (ops->mailbox_rename != NULL)
		ck_assert_int_lt(
		    ops->mailbox_rename(CONF_ST(&env), "Edge", "Edge2"), 0);
	box = conf_box_open(&env, "INBOX");
	if (ops->trans_begin != NULL) {
		ck_assert_int_lt(ops->trans_begin(box, 0, &trans), 0);
		ck_assert_ptr_null(trans);
	}
	CONF_OPS(&env)->mailbox_close(&box);
	conf_list(&env, 0, &after);
	ck_assert_uint_eq(before.count, after.count);
	for (size_t i = 0; i < before.count; i++)
		ck_assert_str_eq(before.items[i].name, after.items[i].name);
	conf_list_free(&before);
	conf_list_free(&after);
	conf_end(&env);
}
END_TEST

START_TEST(test_big_message)
{
	/* A quarter of the message proves it is streamed; under the
	 * sanitizers (MF_ASAN) freed buffers sit in ASan's quarantine for a
	 * while, so allow half, still far below a message held whole. */
	const long limit_kib =
	    (long)(CONF_BIG_SIZE / 1024 / (getenv("MF_ASAN") != NULL ? 2 : 4));
	struct mailferry_mailbox *box;
	struct conf_env env;
	conf_recs_t recs;
	long before, saved, after;

	before = conf_maxrss_kib();
	/* for writable drivers this saves the message through the ABI */
	if (conf_begin(&env, _i, CONF_BIG) < 0)
		return;
	saved = conf_maxrss_kib();
	box = conf_box_open(&env, CONF_BIG_BOX);
	conf_msgs(&env, box, 1, UINT32_MAX,
	          MAILFERRY_FIELD_PHYSICAL_SIZE | MAILFERRY_FIELD_GUID, &recs);
	ck_assert_uint_eq(recs.count, 1);
	ck_assert_msg(recs.items[0].physical_size == UINT64_MAX ||
	                  recs.items[0].physical_size == CONF_BIG_SIZE ||
	                  (env.remote &&
	                   recs.items[0].physical_size == conf_big_crlf_size()),
	              "%s: big message physical size %llu", env.name,
	              (unsigned long long)recs.items[0].physical_size);
	conf_check_big(&env, box, recs.items[0].uid);
	conf_recs_free(&recs);
	CONF_OPS(&env)->mailbox_close(&box);
	after = conf_maxrss_kib();
	printf("%s: %llu MiB message: peak RSS +%ld KiB after %s, +%ld KiB "
	       "after reading it back\n",
	       env.name, (unsigned long long)(CONF_BIG_SIZE >> 20),
	       saved - before, env.readonly ? "setup" : "saving it",
	       after - before);
	ck_assert_msg(saved - before < limit_kib,
	              "%s: peak RSS grew by %ld KiB while saving a %llu KiB "
	              "message (limit %ld KiB): the body is not streamed",
	              env.name, saved - before,
	              (unsigned long long)(CONF_BIG_SIZE / 1024), limit_kib);
	ck_assert_msg(after - before < limit_kib,
	              "%s: peak RSS grew by %ld KiB reading a %llu KiB message "
	              "(limit %ld KiB): the body is not streamed",
	              env.name, after - before,
	              (unsigned long long)(CONF_BIG_SIZE / 1024), limit_kib);
	conf_end(&env);
}
END_TEST

void conf_add_read_tests(Suite *s, int ndrivers)
{
	TCase *tc = tcase_create("read");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_descriptor, 0, ndrivers);
	tcase_add_loop_test(tc, test_storage_info, 0, ndrivers);
	tcase_add_loop_test(tc, test_list, 0, ndrivers);
	tcase_add_loop_test(tc, test_read_bodies, 0, ndrivers);
	tcase_add_loop_test(tc, test_iter_ranges, 0, ndrivers);
	tcase_add_loop_test(tc, test_errors_read, 0, ndrivers);
	tcase_add_loop_test(tc, test_readonly_refuses, 0, ndrivers);
	tcase_add_loop_test(tc, test_big_message, 0, ndrivers);
	suite_add_tcase(s, tc);
}
