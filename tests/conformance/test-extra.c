/* SPDX-License-Identifier: MIT */
/*
 * test-extra.c - conformance of the less common write paths: mailbox_update
 * (required of writable drivers), the optional accelerators when a driver
 * has them (copy, msg_get_path, save_from_path, update_modseq) and the
 * metadata behind POP3, DATES and PURGE when claimed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf-buf.h"
#include "mf-file.h"
#include "conf.h"
#include "conf-tests.h"

#define HAS_SLOT(env, slot)                                                    \
	(CONF_OPS(env)->struct_size >=                                         \
	     offsetof(struct mailferry_driver_ops, slot) +                     \
	         sizeof(CONF_OPS(env)->slot) &&                                \
	 CONF_OPS(env)->slot != NULL)

static int begin_writable(struct conf_env *env, int idx, const char *what)
{
	if (conf_begin(env, idx, CONF_EMPTY) < 0)
		return -1;
	if (env->readonly) {
		printf("%s: %s skipped: read-only store\n", env->name, what);
		conf_end(env);
		return -1;
	}
	return 0;
}

static int update(struct conf_env *env, const char *name,
                  struct mailferry_mailbox_update *u)
{
	u->struct_size = sizeof(*u);
	return CONF_OPS(env)->mailbox_update(CONF_ST(env), conf_name(env, name),
	                                     u);
}

START_TEST(test_mailbox_update)
{
	static const uint8_t new_guid[16] = {
	    0xfe, 0xed, 0xfa, 0xce, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	struct mailferry_mailbox_update u;
	struct mailferry_mailbox_status st0, st;
	struct mailferry_mailbox *box;
	struct conf_env env;
	uint32_t *uids, *more;
	int ret;

	if (begin_writable(&env, _i, "mailbox_update") < 0)
		return;
	memset(&u, 0, sizeof(u));
	u.fields = MAILFERRY_UPDATE_MIN_UIDNEXT;
	u.min_uidnext = 100;
	ret = update(&env, "Missing-x7", &u);
	if (ret == MAILFERRY_E_NOTSUPP && env.remote) {
		/* a server has no command for it: nothing to test */
		printf("%s: mailbox_update skipped: NOTSUPP (%s)\n", env.name,
		       CONF_ERR(&env));
		conf_end(&env);
		return;
	}
	ck_assert_msg(ret == MAILFERRY_E_NOTFOUND,
	              "%s: updating a missing mailbox gave %d", env.name, ret);

	conf_create(&env, "Upd", NULL, 0);
	box = conf_box_open(&env, "Upd");
	uids = conf_save_plain(&env, box, 2);
	conf_box_status(&env, box, &st0);
	CONF_OPS(&env)->mailbox_close(&box);

	/* UIDNEXT only ever rises */
	memset(&u, 0, sizeof(u));
	u.fields = MAILFERRY_UPDATE_MIN_UIDNEXT;
	u.min_uidnext = st0.uidnext + 1000;
	ret = update(&env, "Upd", &u);
	ck_assert_msg(ret == 0, "%s: raising UIDNEXT = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	u.min_uidnext = 1;
	ck_assert_int_eq(update(&env, "Upd", &u), 0);
	conf_reopen(&env);
	box = conf_box_open(&env, "Upd");
	conf_box_status(&env, box, &st);
	ck_assert_msg(st.uidnext >= st0.uidnext + 1000,
	              "%s: UIDNEXT %u after raising it to %u", env.name,
	              st.uidnext, st0.uidnext + 1000);
	ck_assert_uint_eq(st.messages, 2);
	more = conf_save_plain(&env, box, 1);
	ck_assert_msg(more[0] >= st0.uidnext + 1000,
	              "%s: saved UID %u below the raised UIDNEXT %u", env.name,
	              more[0], st0.uidnext + 1000);
	free(more);
	CONF_OPS(&env)->mailbox_close(&box);

	if ((env.caps & MAILFERRY_CAP_MODSEQ) != 0) {
		memset(&u, 0, sizeof(u));
		u.fields = MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ;
		u.min_highest_modseq = st.highest_modseq + 500;
		ret = update(&env, "Upd", &u);
		ck_assert_msg(ret == 0, "%s: raising HIGHESTMODSEQ = %d: %s",
		              env.name, ret, CONF_ERR(&env));
		box = conf_box_open(&env, "Upd");
		conf_box_status(&env, box, &st0);
		ck_assert_uint_ge(st0.highest_modseq, u.min_highest_modseq);
		CONF_OPS(&env)->mailbox_close(&box);
	}
	if ((env.caps & MAILFERRY_CAP_MAILBOX_GUIDS) != 0) {
		memset(&u, 0, sizeof(u));
		u.fields = MAILFERRY_UPDATE_GUID;
		memcpy(u.guid, new_guid, 16);
		ret = update(&env, "Upd", &u);
		ck_assert_msg(ret == 0, "%s: setting the GUID = %d: %s",
		              env.name, ret, CONF_ERR(&env));
		box = conf_box_open(&env, "Upd");
		conf_box_status(&env, box, &st);
		ck_assert_mem_eq(st.guid, new_guid, 16);
		CONF_OPS(&env)->mailbox_close(&box);
	}
	if ((env.caps & MAILFERRY_CAP_SET_UIDVALIDITY) != 0) {
		memset(&u, 0, sizeof(u));
		u.fields = MAILFERRY_UPDATE_UIDVALIDITY;
		u.uidvalidity = 777777;
		ret = update(&env, "Upd", &u);
		ck_assert_msg(ret == 0, "%s: setting UIDVALIDITY = %d: %s",
		              env.name, ret, CONF_ERR(&env));
		conf_reopen(&env);
		box = conf_box_open(&env, "Upd");
		conf_box_status(&env, box, &st);
		ck_assert_uint_eq(st.uidvalidity, 777777);
		/* the messages stay */
		ck_assert_uint_eq(st.messages, 3);
		CONF_OPS(&env)->mailbox_close(&box);
	}
	free(uids);
	conf_end(&env);
}
END_TEST

START_TEST(test_copy)
{
	struct mailferry_mailbox *src, *dst;
	struct mailferry_commit_result result;
	struct mailferry_trans *trans = NULL;
	struct mailferry_save save;
	struct conf_env env;
	conf_recs_t recs;
	uint32_t *uids;
	int ret;

	if (begin_writable(&env, _i, "copy") < 0)
		return;
	if (!HAS_SLOT(&env, copy)) {
		printf("%s: copy skipped: optional slot absent\n", env.name);
		conf_end(&env);
		return;
	}
	conf_create(&env, "CopySrc", NULL, 0);
	conf_create(&env, "CopyDst", NULL, 0);
	src = conf_box_open(&env, "CopySrc");
	dst = conf_box_open(&env, "CopyDst");
	uids = conf_save_plain(&env, src, 2);

	memset(&save, 0, sizeof(save));
	save.struct_size = sizeof(save);
	save.flags = MAILFERRY_FLAG_SEEN | MAILFERRY_FLAG_FLAGGED;
	save.size_hint = UINT64_MAX;
	ck_assert_int_eq(CONF_OPS(&env)->trans_begin(dst, 0, &trans), 0);
	ret = CONF_OPS(&env)->copy(trans, src, uids[1], &save);
	if (ret == MAILFERRY_E_NOTSUPP) {
		printf("%s: copy skipped: NOTSUPP\n", env.name);
		CONF_OPS(&env)->trans_rollback(&trans);
	} else {
		ck_assert_msg(ret == 0, "%s: copy = %d: %s", env.name, ret,
		              CONF_ERR(&env));
		memset(&result, 0, sizeof(result));
		result.struct_size = sizeof(result);
		ck_assert_int_eq(CONF_OPS(&env)->trans_commit(&trans, &result),
		                 0);
		ck_assert_uint_eq(result.saved_count, 1);
		conf_msgs(&env, dst, 1, UINT32_MAX, MAILFERRY_FIELD_FLAGS,
		          &recs);
		ck_assert_uint_eq(recs.count, 1);
		ck_assert_uint_eq(recs.items[0].flags & MAILFERRY_FLAGS_MASK,
		                  MAILFERRY_FLAG_SEEN | MAILFERRY_FLAG_FLAGGED);
		conf_check_body(&env, dst, recs.items[0].uid,
		                conf_fixture_msg(1));
		conf_recs_free(&recs);
		/* the source is untouched */
		conf_msgs(&env, src, 1, UINT32_MAX, 0, &recs);
		ck_assert_uint_eq(recs.count, 2);
		conf_recs_free(&recs);
		conf_check_body(&env, src, uids[1], conf_fixture_msg(1));
	}
	CONF_OPS(&env)->mailbox_close(&src);
	CONF_OPS(&env)->mailbox_close(&dst);
	free(uids);
	conf_end(&env);
}
END_TEST

START_TEST(test_paths)
{
	struct mailferry_trans *trans = NULL;
	struct mailferry_mailbox *box, *dst;
	struct mailferry_save save;
	struct mf_buf buf = MF_BUF_INIT;
	const struct conf_msg *want = conf_fixture_msg(2);
	struct conf_env env;
	const char *path = NULL;
	char *copy, *error;
	uint32_t *uids;
	int ret;

	if (begin_writable(&env, _i, "msg_get_path") < 0)
		return;
	if (!HAS_SLOT(&env, msg_get_path)) {
		printf("%s: msg_get_path skipped: optional slot absent\n",
		       env.name);
		conf_end(&env);
		return;
	}
	conf_create(&env, "Paths", NULL, 0);
	box = conf_box_open(&env, "Paths");
	uids = conf_save_plain(&env, box, 3);
	ret = CONF_OPS(&env)->msg_get_path(box, uids[2], &path);
	if (ret == MAILFERRY_E_NOTSUPP) {
		printf("%s: msg_get_path skipped: NOTSUPP\n", env.name);
		goto out;
	}
	ck_assert_msg(ret == 0, "%s: msg_get_path = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	ck_assert_ptr_nonnull(path);
	/* the file holds exactly what msg_open() gives */
	ck_assert_msg(mf_file_read_all(path, &buf, &error) == 0, "%s", error);
	ck_assert_msg(buf.len == want->size &&
	                  memcmp(buf.data, want->data, buf.len) == 0,
	              "%s: %s is not the message's bytes", env.name, path);
	mf_buf_free(&buf);

	if (HAS_SLOT(&env, save_from_path)) {
		copy = mf_strdup(path);
		conf_create(&env, "PathsDst", NULL, 0);
		dst = conf_box_open(&env, "PathsDst");
		memset(&save, 0, sizeof(save));
		save.struct_size = sizeof(save);
		save.flags = MAILFERRY_FLAG_ANSWERED;
		save.size_hint = want->size;
		ck_assert_int_eq(CONF_OPS(&env)->trans_begin(dst, 0, &trans),
		                 0);
		ret = CONF_OPS(&env)->save_from_path(trans, &save, copy);
		if (ret == MAILFERRY_E_NOTSUPP) {
			printf("%s: save_from_path: NOTSUPP\n", env.name);
			CONF_OPS(&env)->trans_rollback(&trans);
		} else {
			conf_recs_t recs;

			ck_assert_msg(ret == 0, "%s: save_from_path = %d: %s",
			              env.name, ret, CONF_ERR(&env));
			ck_assert_int_eq(
			    CONF_OPS(&env)->trans_commit(&trans, NULL), 0);
			conf_msgs(&env, dst, 1, UINT32_MAX,
			          MAILFERRY_FIELD_FLAGS, &recs);
			ck_assert_uint_eq(recs.count, 1);
			ck_assert_uint_eq(recs.items[0].flags &
			                      MAILFERRY_FLAGS_MASK,
			                  MAILFERRY_FLAG_ANSWERED);
			conf_check_body(&env, dst, recs.items[0].uid, want);
			conf_recs_free(&recs);
			/* and the source still has its message */
			conf_check_body(&env, box, uids[2], want);
		}
		CONF_OPS(&env)->mailbox_close(&dst);
		free(copy);
	}
out:
	CONF_OPS(&env)->mailbox_close(&box);
	free(uids);
	conf_end(&env);
}
END_TEST

START_TEST(test_update_modseq)
{
	struct mailferry_mailbox_status st;
	struct mailferry_trans *trans = NULL;
	struct mailferry_mailbox *box;
	struct conf_env env;
	conf_recs_t recs;
	uint64_t want;
	uint32_t *uids;
	int ret;

	if (begin_writable(&env, _i, "update_modseq") < 0)
		return;
	if (!HAS_SLOT(&env, update_modseq) ||
	    conf_skip_without(&env, MAILFERRY_CAP_MODSEQ, "update_modseq")) {
		if (!HAS_SLOT(&env, update_modseq))
			printf("%s: update_modseq skipped: optional slot "
			       "absent\n",
			       env.name);
		conf_end(&env);
		return;
	}
	conf_create(&env, "Modseq", NULL, 0);
	box = conf_box_open(&env, "Modseq");
	uids = conf_save_plain(&env, box, 2);
	conf_box_status(&env, box, &st);
	want = st.highest_modseq + 1000;
	ck_assert_int_eq(CONF_OPS(&env)->trans_begin(box, 0, &trans), 0);
	ret = CONF_OPS(&env)->update_modseq(trans, uids[0], want);
	ck_assert_msg(ret == 0, "%s: update_modseq = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	ck_assert_int_eq(CONF_OPS(&env)->trans_commit(&trans, NULL), 0);
	conf_box_status(&env, box, &st);
	conf_msgs(&env, box, 1, UINT32_MAX, MAILFERRY_FIELD_MODSEQ, &recs);
	ck_assert_msg(recs.items[0].modseq >= want,
	              "%s: modseq %llu after raising it to %llu", env.name,
	              (unsigned long long)recs.items[0].modseq,
	              (unsigned long long)want);
	ck_assert_uint_ge(st.highest_modseq, recs.items[0].modseq);
	ck_assert_uint_lt(recs.items[1].modseq, want);
	conf_recs_free(&recs);
	CONF_OPS(&env)->mailbox_close(&box);
	free(uids);
	conf_end(&env);
}
END_TEST

START_TEST(test_pop3_dates)
{
	struct mailferry_mailbox *box;
	struct conf_save saves[2];
	struct conf_env env;
	conf_recs_t recs;
	uint32_t *uids;
	int pop3, dates;

	if (begin_writable(&env, _i, "pop3/dates") < 0)
		return;
	pop3 = (env.caps & MAILFERRY_CAP_POP3) != 0;
	dates = (env.caps & MAILFERRY_CAP_DATES) != 0;
	if (!pop3 && !dates) {
		printf("%s: pop3/dates skipped: capabilities not claimed\n",
		       env.name);
		conf_end(&env);
		return;
	}
	conf_create(&env, "Meta", NULL, 0);
	box = conf_box_open(&env, "Meta");
	memset(saves, 0, sizeof(saves));
	for (size_t i = 0; i < 2; i++) {
		saves[i].data = conf_fixture_msg(i)->data;
		saves[i].size = conf_fixture_msg(i)->size;
	}
	if (pop3) {
		saves[0].pop3_uidl = "UIDL-0001.abc";
		saves[0].pop3_order = 2;
		saves[1].pop3_uidl = "UIDL-0002.def";
		saves[1].pop3_order = 1;
	}
	if (dates) {
		saves[0].received_date = 1300000000;
		saves[0].save_date = 1300000100;
		saves[1].received_date = 1400000000;
		saves[1].save_date = 1400000100;
	}
	uids = conf_save_msgs(&env, box, saves, 2, NULL);
	CONF_OPS(&env)->mailbox_close(&box);
	conf_reopen(&env);
	box = conf_box_open(&env, "Meta");
	conf_msgs(&env, box, 1, UINT32_MAX,
	          MAILFERRY_FIELD_POP3 | MAILFERRY_FIELD_RECEIVED |
	              MAILFERRY_FIELD_SAVED,
	          &recs);
	ck_assert_uint_eq(recs.count, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct conf_rec *r = &recs.items[i];

		ck_assert_uint_eq(r->uid, uids[i]);
		if (pop3) {
			ck_assert_msg(
			    r->pop3_uidl != NULL &&
			        strcmp(r->pop3_uidl, saves[i].pop3_uidl) == 0,
			    "%s: UID %u POP3 UIDL '%s', saved '%s'", env.name,
			    r->uid, r->pop3_uidl ? r->pop3_uidl : "(none)",
			    saves[i].pop3_uidl);
			ck_assert_uint_eq(r->pop3_order, saves[i].pop3_order);
		}
		if (dates) {
			ck_assert_int_eq(r->received_date,
			                 saves[i].received_date);
			ck_assert_int_eq(r->save_date, saves[i].save_date);
		}
	}
	conf_recs_free(&recs);
	CONF_OPS(&env)->mailbox_close(&box);
	free(uids);
	conf_end(&env);
}
END_TEST

START_TEST(test_purge)
{
	struct mailferry_uid_range range;
	struct mailferry_uidset set = {&range, 1};
	struct mailferry_trans *trans = NULL;
	struct mailferry_mailbox *box;
	struct conf_env env;
	conf_recs_t recs;
	uint32_t *uids;
	int ret;

	if (begin_writable(&env, _i, "purge") < 0)
		return;
	if (conf_skip_without(&env, MAILFERRY_CAP_PURGE, "purge")) {
		conf_end(&env);
		return;
	}
	conf_create(&env, "Purge", NULL, 0);
	box = conf_box_open(&env, "Purge");
	uids = conf_save_plain(&env, box, 3);
	range.first = range.last = uids[1];
	ck_assert_int_eq(CONF_OPS(&env)->trans_begin(box, 0, &trans), 0);
	ck_assert_int_eq(CONF_OPS(&env)->expunge(trans, &set), 0);
	ck_assert_int_eq(CONF_OPS(&env)->trans_commit(&trans, NULL), 0);
	CONF_OPS(&env)->mailbox_close(&box);
	ret = CONF_OPS(&env)->purge(CONF_ST(&env));
	ck_assert_msg(ret == 0, "%s: purge = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	/* what was not expunged survives purging, byte for byte */
	conf_reopen(&env);
	box = conf_box_open(&env, "Purge");
	conf_msgs(&env, box, 1, UINT32_MAX, 0, &recs);
	ck_assert_uint_eq(recs.count, 2);
	ck_assert_uint_eq(recs.items[0].uid, uids[0]);
	ck_assert_uint_eq(recs.items[1].uid, uids[2]);
	conf_check_body(&env, box, uids[0], conf_fixture_msg(0));
	conf_check_body(&env, box, uids[2], conf_fixture_msg(2));
	conf_recs_free(&recs);
	CONF_OPS(&env)->mailbox_close(&box);
	free(uids);
	conf_end(&env);
}
END_TEST

void conf_add_extra_tests(Suite *s, int ndrivers)
{
	TCase *tc = tcase_create("extra");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_mailbox_update, 0, ndrivers);
	tcase_add_loop_test(tc, test_copy, 0, ndrivers);
	tcase_add_loop_test(tc, test_paths, 0, ndrivers);
	tcase_add_loop_test(tc, test_update_modseq, 0, ndrivers);
	tcase_add_loop_test(tc, test_pop3_dates, 0, ndrivers);
	tcase_add_loop_test(tc, test_purge, 0, ndrivers);
	suite_add_tcase(s, tc);
}
