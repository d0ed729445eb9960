/* SPDX-License-Identifier: MIT */
/*
 * test-write.c - the write half of the conformance suite, for drivers that
 * are not read-only: the mailbox tree with GUIDs, saves with wanted UIDs,
 * GUIDs, flags, keywords and dates, flag changes with modseqs, expunges and
 * their log, UID rules, rollback and cancel. Capabilities a driver does
 * not claim are skipped; claimed ones must work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf-hex.h"
#include "conf.h"
#include "conf-tests.h"

static const uint8_t guid_a[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                   0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
                                   0xdd, 0xee, 0xff, 0x01};
static const uint8_t guid_b[16] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6,
                                   0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c,
                                   0x6d, 0x7e, 0x8f, 0x90};

/* Non-ASCII, nested: a driver must encode it on disk its own way and give
 * it back unchanged. */
#define UNI_PARENT                                                             \
	"\xc3\x9cnic\xc3\xb6"                                                  \
	"de"
#define UNI_CHILD UNI_PARENT "/\xce\xa9mega"

static int begin_writable(struct conf_env *env, int idx, unsigned setup)
{
	if (conf_begin(env, idx, setup) < 0)
		return -1;
	if (env->readonly) {
		printf("%s: write half skipped: read-only store\n", env->name);
		conf_end(env);
		return -1;
	}
	return 0;
}

static void box_guid(struct conf_env *env, const char *name, uint8_t guid_r[16])
{
	struct mailferry_mailbox *box = conf_box_open(env, name);
	struct mailferry_mailbox_status st;

	conf_box_status(env, box, &st);
	memcpy(guid_r, st.guid, 16);
	CONF_OPS(env)->mailbox_close(&box);
}

static void expect_missing(struct conf_env *env, const char *name)
{
	struct mailferry_mailbox *box = NULL;
	int ret;

	ret = CONF_OPS(env)->mailbox_open(CONF_ST(env), conf_name(env, name), 0,
	                                  &box);
	ck_assert_msg(ret == MAILFERRY_E_NOTFOUND,
	              "%s: open of removed '%s' gave %d, not NOTFOUND",
	              env->name, name, ret);
}

START_TEST(test_mailbox_tree)
{
	struct mailferry_mailbox_create params;
	struct mailferry_mailbox *box;
	struct conf_env env;
	conf_list_t list;
	uint8_t guid[16];
	uint32_t *uids;
	int guids, ret;

	if (begin_writable(&env, _i, CONF_EMPTY) < 0)
		return;
	guids = (env.caps & MAILFERRY_CAP_MAILBOX_GUIDS) != 0;
	conf_create(&env, "alpha", guids ? guid_a : NULL, 0);
	conf_create(&env, "alpha/beta", guids ? guid_b : NULL, 0);
	conf_create(&env, UNI_CHILD, NULL, 0);
	box = conf_box_open(&env, "alpha");
	uids = conf_save_plain(&env, box, 1);
	CONF_OPS(&env)->mailbox_close(&box);

	conf_list(&env, 0, &list);
	ck_assert_ptr_nonnull(conf_list_find(&list, "alpha"));
	ck_assert_ptr_nonnull(conf_list_find(&list, "alpha/beta"));
	ck_assert_msg(conf_list_find(&list, UNI_CHILD) != NULL,
	              "%s: non-ASCII mailbox not listed back unchanged",
	              env.name);
	ck_assert_msg(conf_list_find(&list, UNI_PARENT) != NULL,
	              "%s: parent of a nested create not listed", env.name);
	conf_list_free(&list);
	if (guids) {
		box_guid(&env, "alpha", guid);
		ck_assert_mem_eq(guid, guid_a, 16);
		box_guid(&env, "alpha/beta", guid);
		ck_assert_mem_eq(guid, guid_b, 16);
	}

	/* creating an existing mailbox is refused */
	memset(&params, 0, sizeof(params));
	params.struct_size = sizeof(params);
	ret = CONF_OPS(&env)->mailbox_create(CONF_ST(&env), "alpha", &params);
	ck_assert_msg(ret == MAILFERRY_E_EXISTS,
	              "%s: creating an existing mailbox gave %d, not EXISTS",
	              env.name, ret);
	ck_assert_str_ne(CONF_ERR(&env), "");

	/* rename moves children, keeps GUIDs and messages */
	ret = CONF_OPS(&env)->mailbox_rename(CONF_ST(&env), "alpha", "gamma");
	ck_assert_msg(ret == 0, "%s: rename = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	expect_missing(&env, "alpha");
	expect_missing(&env, "alpha/beta");
	box = conf_box_open(&env, "gamma");
	conf_check_body(&env, box, uids[0], conf_fixture_msg(0));
	CONF_OPS(&env)->mailbox_close(&box);
	if (guids) {
		box_guid(&env, "gamma", guid);
		ck_assert_mem_eq(guid, guid_a, 16);
		box_guid(&env, "gamma/beta", guid);
		ck_assert_mem_eq(guid, guid_b, 16);
	}
	ret = CONF_OPS(&env)->mailbox_rename(CONF_ST(&env), "gamma",
	                                     conf_name(&env, UNI_CHILD));
	ck_assert_msg(ret == MAILFERRY_E_EXISTS,
	              "%s: rename onto an existing mailbox gave %d", env.name,
	              ret);
	ret = CONF_OPS(&env)->mailbox_rename(CONF_ST(&env), "missing-x7",
	                                     "other");
	ck_assert_msg(ret == MAILFERRY_E_NOTFOUND,
	              "%s: rename of a missing mailbox gave %d", env.name, ret);

	/* delete */
	ret = CONF_OPS(&env)->mailbox_delete(CONF_ST(&env),
	                                     conf_name(&env, "gamma/beta"), 0);
	ck_assert_msg(ret == 0, "%s: delete = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	expect_missing(&env, "gamma/beta");
	ret = CONF_OPS(&env)->mailbox_delete(CONF_ST(&env),
	                                     conf_name(&env, "gamma/beta"), 0);
	ck_assert_msg(ret == MAILFERRY_E_NOTFOUND,
	              "%s: deleting a deleted mailbox gave %d", env.name, ret);
	ret = CONF_OPS(&env)->mailbox_delete(CONF_ST(&env), "gamma", 0);
	ck_assert_msg(ret == 0, "%s: delete = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	expect_missing(&env, "gamma");

	/* all of it is on disk */
	conf_reopen(&env);
	conf_list(&env, 0, &list);
	ck_assert_ptr_null(conf_list_find(&list, "alpha"));
	ck_assert_ptr_null(conf_list_find(&list, "gamma"));
	ck_assert_ptr_null(conf_list_find(&list, "gamma/beta"));
	ck_assert_ptr_nonnull(conf_list_find(&list, UNI_CHILD));
	conf_list_free(&list);

	if ((env.caps & MAILFERRY_CAP_SET_UIDVALIDITY) != 0) {
		struct mailferry_mailbox_status st;

		conf_create(&env, "uv", NULL, 12345);
		box = conf_box_open(&env, "uv");
		conf_box_status(&env, box, &st);
		ck_assert_uint_eq(st.uidvalidity, 12345);
		CONF_OPS(&env)->mailbox_close(&box);
	}
	free(uids);
	conf_end(&env);
}
END_TEST

static int keywords_equal(char *const *got, const char *const *want)
{
	size_t n = 0, m = 0;

	while (want != NULL && want[n] != NULL)
		n++;
	while (got[m] != NULL)
		m++;
	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t j;
		for (j = 0; j < m && strcmp(got[j], want[i]) != 0; j++)
			;
		if (j == m)
			return 0;
	}
	return 1;
}

START_TEST(test_save_params)
{
	static const char *const kw0[] = {"$Forwarded", "work", NULL};
	static const char *const kw1[] = {"$Junk", NULL};
	static const char *const guids[] = {"0123456789abcdef0123456789abcdef",
	                                    "fedcba9876543210fedcba9876543210",
	                                    "00112233445566778899aabbccddeeff"};
	static const uint32_t want_uids[] = {5, 9, 10};
	static const uint32_t flags[] = {
	    MAILFERRY_FLAG_SEEN,
	    MAILFERRY_FLAG_FLAGGED | MAILFERRY_FLAG_ANSWERED,
	    MAILFERRY_FLAG_DRAFT | MAILFERRY_FLAG_SEEN};
	const char *const *kws[] = {kw0, kw1, NULL};
	struct mailferry_mailbox_status st;
	struct mailferry_mailbox *box;
	struct conf_save saves[3];
	struct conf_env env;
	conf_recs_t recs;
	uint32_t *uids, uidvalidity;

	if (begin_writable(&env, _i, CONF_EMPTY) < 0)
		return;
	conf_create(&env, "Saves", NULL, 0);
	box = conf_box_open(&env, "Saves");
	memset(saves, 0, sizeof(saves));
	for (size_t i = 0; i < 3; i++) {
		saves[i].data = conf_fixture_msg(i)->data;
		saves[i].size = conf_fixture_msg(i)->size;
		saves[i].flags = flags[i];
		if ((env.caps & MAILFERRY_CAP_SAVE_UID) != 0)
			saves[i].uid = want_uids[i];
		if ((env.caps & MAILFERRY_CAP_SAVE_GUID) != 0)
			saves[i].guid = guids[i];
		if ((env.caps & MAILFERRY_CAP_KEYWORDS) != 0)
			saves[i].keywords = kws[i];
		if ((env.caps & MAILFERRY_CAP_DATES) != 0)
			saves[i].received_date = 1262304000 + (int64_t)i * 3600;
	}
	uids = conf_save_msgs(&env, box, saves, 3, &uidvalidity);
	conf_box_status(&env, box, &st);
	ck_assert_uint_ne(st.uidvalidity, 0);
	if (uidvalidity != 0)
		ck_assert_uint_eq(uidvalidity, st.uidvalidity);
	ck_assert_uint_eq(st.messages, 3);
	ck_assert_uint_gt(st.uidnext, uids[2]);
	if ((env.caps & MAILFERRY_CAP_SAVE_UID) != 0) {
		for (size_t i = 0; i < 3; i++)
			ck_assert_msg(uids[i] == want_uids[i],
			              "%s: wanted UID %u, got %u", env.name,
			              want_uids[i], uids[i]);
	}
	CONF_OPS(&env)->mailbox_close(&box);

	/* check from a fresh handle: it is all on disk */
	for (int round = 0; round < 2; round++) {
		conf_reopen(&env);
		box = conf_box_open(&env, "Saves");
		conf_msgs(&env, box, 1, UINT32_MAX,
		          MAILFERRY_FIELD_GUID | MAILFERRY_FIELD_FLAGS |
		              MAILFERRY_FIELD_RECEIVED,
		          &recs);
		ck_assert_uint_eq(recs.count, 3);
		for (size_t i = 0; i < 3; i++) {
			const struct conf_rec *r = &recs.items[i];

			ck_assert_uint_eq(r->uid, uids[i]);
			ck_assert_msg((r->flags & MAILFERRY_FLAGS_MASK) ==
			                  flags[i],
			              "%s: UID %u flags 0x%x, saved 0x%x",
			              env.name, r->uid, r->flags, flags[i]);
			if ((env.caps & MAILFERRY_CAP_KEYWORDS) != 0)
				ck_assert_msg(
				    keywords_equal(r->keywords, kws[i]),
				    "%s: UID %u keywords differ", env.name,
				    r->uid);
			if ((env.caps & MAILFERRY_CAP_SAVE_GUID) != 0)
				ck_assert_msg(
				    r->guid != NULL &&
				        strcmp(r->guid, guids[i]) == 0,
				    "%s: UID %u GUID %s, saved %s", env.name,
				    r->uid, r->guid ? r->guid : "(none)",
				    guids[i]);
			if ((env.caps & MAILFERRY_CAP_DATES) != 0)
				ck_assert_int_eq(r->received_date,
				                 saves[i].received_date);
			conf_check_body(&env, box, r->uid, conf_fixture_msg(i));
		}
		conf_recs_free(&recs);
		CONF_OPS(&env)->mailbox_close(&box);
	}

	/* a wanted UID below UIDNEXT is refused, and nothing is saved */
	if ((env.caps & MAILFERRY_CAP_SAVE_UID) != 0) {
		const struct mailferry_driver_ops *ops = CONF_OPS(&env);
		struct mailferry_trans *trans = NULL;
		struct mailferry_save save;
		int ret;

		box = conf_box_open(&env, "Saves");
		ck_assert_int_eq(ops->trans_begin(box, 0, &trans), 0);
		memset(&save, 0, sizeof(save));
		save.struct_size = sizeof(save);
		save.uid = 3;
		save.size_hint = conf_fixture_msg(4)->size;
		ret = ops->save_begin(trans, &save);
		if (ret == 0) {
			ck_assert_int_eq(
			    ops->save_write(trans, conf_fixture_msg(4)->data,
			                    conf_fixture_msg(4)->size),
			    0);
			ret = ops->save_finish(trans);
		}
		if (ret == 0) {
			ret = ops->trans_commit(&trans, NULL);
		} else {
			ops->trans_rollback(&trans);
		}
		ck_assert_msg(ret == MAILFERRY_E_EXISTS,
		              "%s: saving UID 3 below UIDNEXT gave %d, not "
		              "EXISTS",
		              env.name, ret);
		ck_assert_ptr_null(trans);
		conf_box_status(&env, box, &st);
		ck_assert_uint_eq(st.messages, 3);
		CONF_OPS(&env)->mailbox_close(&box);
	}
	free(uids);
	conf_end(&env);
}
END_TEST

static void update(struct conf_env *env, struct mailferry_trans *trans,
                   uint32_t uid, enum mailferry_modify modify, uint32_t flags,
                   const char *const *keywords)
{
	struct mailferry_uid_range range = {uid, uid};
	struct mailferry_uidset set = {&range, 1};
	int ret;

	if ((env->caps & MAILFERRY_CAP_KEYWORDS) == 0)
		keywords = NULL;
	ret = CONF_OPS(env)->update_flags(trans, &set, modify, flags, keywords);
	ck_assert_msg(ret == 0, "%s: update_flags(%u) = %d: %s", env->name, uid,
	              ret, CONF_ERR(env));
}

START_TEST(test_flags_modseq)
{
	static const char *const kw_alpha[] = {"alpha", NULL};
	static const char *const kw_beta[] = {"beta", NULL};
	const struct mailferry_driver_ops *ops;
	struct mailferry_mailbox_status st0, st1;
	struct mailferry_trans *trans = NULL;
	struct mailferry_mailbox *box;
	struct conf_save saves[4];
	struct conf_env env;
	conf_recs_t r0, r1, changed;
	uint32_t *uids;
	int modseq, kw;

	if (begin_writable(&env, _i, CONF_EMPTY) < 0)
		return;
	ops = CONF_OPS(&env);
	modseq = (env.caps & MAILFERRY_CAP_MODSEQ) != 0;
	kw = (env.caps & MAILFERRY_CAP_KEYWORDS) != 0;
	conf_create(&env, "Flags", NULL, 0);
	box = conf_box_open(&env, "Flags");
	memset(saves, 0, sizeof(saves));
	for (size_t i = 0; i < 4; i++) {
		saves[i].data = conf_fixture_msg(i)->data;
		saves[i].size = conf_fixture_msg(i)->size;
	}
	saves[1].flags = MAILFERRY_FLAG_SEEN | MAILFERRY_FLAG_FLAGGED;
	saves[3].flags = MAILFERRY_FLAG_ANSWERED;
	uids = conf_save_msgs(&env, box, saves, 4, NULL);
	conf_box_status(&env, box, &st0);
	conf_msgs(&env, box, 1, UINT32_MAX,
	          MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_MODSEQ, &r0);

	ck_assert_int_eq(ops->trans_begin(box, 0, &trans), 0);
	update(&env, trans, uids[0], MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN,
	       kw_alpha);
	update(&env, trans, uids[1], MAILFERRY_MODIFY_REMOVE,
	       MAILFERRY_FLAG_FLAGGED, NULL);
	update(&env, trans, uids[2], MAILFERRY_MODIFY_REPLACE,
	       MAILFERRY_FLAG_DRAFT, kw_beta);
	/* UIDs that do not exist are skipped silently */
	update(&env, trans, st0.uidnext + 100, MAILFERRY_MODIFY_ADD,
	       MAILFERRY_FLAG_SEEN, NULL);
	ck_assert_int_eq(ops->trans_commit(&trans, NULL), 0);

	conf_box_status(&env, box, &st1);
	conf_msgs(&env, box, 1, UINT32_MAX,
	          MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_MODSEQ, &r1);
	ck_assert_uint_eq(r1.count, 4);
	ck_assert_uint_eq(r1.items[0].flags & MAILFERRY_FLAGS_MASK,
	                  MAILFERRY_FLAG_SEEN);
	ck_assert_uint_eq(r1.items[1].flags & MAILFERRY_FLAGS_MASK,
	                  MAILFERRY_FLAG_SEEN);
	ck_assert_uint_eq(r1.items[2].flags & MAILFERRY_FLAGS_MASK,
	                  MAILFERRY_FLAG_DRAFT);
	ck_assert_uint_eq(r1.items[3].flags & MAILFERRY_FLAGS_MASK,
	                  MAILFERRY_FLAG_ANSWERED);
	if (kw) {
		ck_assert(keywords_equal(r1.items[0].keywords, kw_alpha));
		ck_assert(keywords_equal(r1.items[1].keywords, NULL));
		ck_assert(keywords_equal(r1.items[2].keywords, kw_beta));
		ck_assert(keywords_equal(r1.items[3].keywords, NULL));
	}
	ck_assert_uint_eq(st1.uidvalidity, st0.uidvalidity);
	ck_assert_uint_eq(st1.uidnext, st0.uidnext);

	if (modseq) {
		for (size_t i = 0; i < 4; i++) {
			ck_assert_uint_gt(r0.items[i].modseq, 0);
			ck_assert_uint_le(r1.items[i].modseq,
			                  st1.highest_modseq);
		}
		for (size_t i = 0; i < 3; i++)
			ck_assert_msg(r1.items[i].modseq > st0.highest_modseq,
			              "%s: changed UID %u kept modseq %llu "
			              "(highest was %llu)",
			              env.name, r1.items[i].uid,
			              (unsigned long long)r1.items[i].modseq,
			              (unsigned long long)st0.highest_modseq);
		/* an untouched message keeps its modseq: a raised one would
		 * make its old flags win a per-flag merge by modseq */
		ck_assert_msg(r1.items[3].modseq == r0.items[3].modseq,
		              "%s: untouched UID %u modseq went from %llu to "
		              "%llu",
		              env.name, r1.items[3].uid,
		              (unsigned long long)r0.items[3].modseq,
		              (unsigned long long)r1.items[3].modseq);
		ck_assert_uint_gt(st1.highest_modseq, st0.highest_modseq);
	} else {
		printf("%s: modseq checks skipped: capability not claimed\n",
		       env.name);
	}

	/* what changed since the old highest modseq */
	if ((env.caps & MAILFERRY_CAP_CHANGE_LOG) != 0 && modseq) {
		struct mailferry_msg_query q;
		struct mailferry_msg_iter *iter = NULL;
		const struct mailferry_msg *msg;
		int ret;

		memset(&q, 0, sizeof(q));
		q.struct_size = sizeof(q);
		q.uid_last = UINT32_MAX;
		q.fields = MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_MODSEQ;
		q.changed_since = st0.highest_modseq;
		ck_assert_int_eq(ops->msg_iter_begin(box, &q, &iter), 0);
		memset(&changed, 0, sizeof(changed));
		while ((ret = ops->msg_iter_next(iter, &msg)) > 0)
			mf_array_append_zero(&changed)->uid = msg->uid;
		ck_assert_int_eq(ret, 0);
		ck_assert_int_eq(ops->msg_iter_end(&iter), 0);
		ck_assert_msg(changed.count == 3,
		              "%s: %zu messages changed since %llu, want 3",
		              env.name, changed.count,
		              (unsigned long long)st0.highest_modseq);
		for (size_t i = 0; i < 3; i++)
			ck_assert_uint_eq(changed.items[i].uid, uids[i]);
		mf_array_free(&changed);
	}
	conf_recs_free(&r0);
	conf_recs_free(&r1);

	/* removing the keyword again, persisted */
	if (kw) {
		ck_assert_int_eq(ops->trans_begin(box, 0, &trans), 0);
		update(&env, trans, uids[0], MAILFERRY_MODIFY_REMOVE, 0,
		       kw_alpha);
		ck_assert_int_eq(ops->trans_commit(&trans, NULL), 0);
	}
	CONF_OPS(&env)->mailbox_close(&box);
	conf_reopen(&env);
	box = conf_box_open(&env, "Flags");
	conf_msgs(&env, box, 1, UINT32_MAX, MAILFERRY_FIELD_FLAGS, &r1);
	ck_assert_uint_eq(r1.items[0].flags & MAILFERRY_FLAGS_MASK,
	                  MAILFERRY_FLAG_SEEN);
	ck_assert(keywords_equal(r1.items[0].keywords, NULL));
	ck_assert_uint_eq(r1.items[2].flags & MAILFERRY_FLAGS_MASK,
	                  MAILFERRY_FLAG_DRAFT);
	conf_recs_free(&r1);
	CONF_OPS(&env)->mailbox_close(&box);
	free(uids);
	conf_end(&env);
}
END_TEST

START_TEST(test_expunge)
{
	const struct mailferry_driver_ops *ops;
	struct mailferry_mailbox_status st0, st1;
	struct mailferry_trans *trans = NULL;
	struct mailferry_uid_range ranges[2];
	struct mailferry_uidset set = {ranges, 2};
	struct mailferry_mailbox *box;
	struct conf_env env;
	conf_recs_t before, recs;
	uint32_t *uids, *more;
	int ret;

	if (begin_writable(&env, _i, CONF_EMPTY) < 0)
		return;
	ops = CONF_OPS(&env);
	conf_create(&env, "Exp", NULL, 0);
	box = conf_box_open(&env, "Exp");
	uids = conf_save_plain(&env, box, 4);
	conf_box_status(&env, box, &st0);
	conf_msgs(&env, box, 1, UINT32_MAX, MAILFERRY_FIELD_GUID, &before);

	/* the second and the last (highest UID) */
	ranges[0].first = ranges[0].last = uids[1];
	ranges[1].first = ranges[1].last = uids[3];
	ck_assert_int_eq(ops->trans_begin(box, 0, &trans), 0);
	ret = ops->expunge(trans, &set);
	ck_assert_msg(ret == 0, "%s: expunge = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	ck_assert_int_eq(ops->trans_commit(&trans, NULL), 0);

	conf_box_status(&env, box, &st1);
	ck_assert_uint_eq(st1.messages, 2);
	ck_assert_msg(st1.uidnext == st0.uidnext,
	              "%s: UIDNEXT went from %u to %u by an expunge", env.name,
	              st0.uidnext, st1.uidnext);
	ck_assert_uint_eq(st1.uidvalidity, st0.uidvalidity);
	conf_msgs(&env, box, 1, UINT32_MAX, 0, &recs);
	ck_assert_uint_eq(recs.count, 2);
	ck_assert_uint_eq(recs.items[0].uid, uids[0]);
	ck_assert_uint_eq(recs.items[1].uid, uids[2]);
	conf_recs_free(&recs);
	conf_expect_no_msg(&env, box, uids[1], "an expunged UID");

	if ((env.caps & MAILFERRY_CAP_CHANGE_LOG) != 0) {
		struct mailferry_expunge_iter *iter = NULL;
		const struct mailferry_expunge *exp;
		uint32_t seen[2];
		size_t n = 0;
		uint64_t prev = 0;

		ret = ops->expunge_iter_begin(box, st0.highest_modseq, &iter);
		ck_assert_msg(ret == 0, "%s: expunge_iter_begin = %d: %s",
		              env.name, ret, CONF_ERR(&env));
		while ((ret = ops->expunge_iter_next(iter, &exp)) > 0) {
			const struct conf_rec *r =
			    conf_recs_find(&before, exp->uid);

			ck_assert_msg(n < 2, "%s: more than 2 expunges",
			              env.name);
			ck_assert_uint_ge(exp->modseq, prev);
			prev = exp->modseq;
			seen[n++] = exp->uid;
			ck_assert_ptr_nonnull(r);
			if (exp->have_guid && r->guid != NULL &&
			    strlen(r->guid) == 32) {
				char hex[MF_GUID128_HEX_LEN];
				mf_guid128_to_hex(exp->guid, hex);
				ck_assert_str_eq(hex, r->guid);
			}
		}
		ck_assert_int_eq(ret, 0);
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(ops->expunge_iter_next(iter, &exp), 0);
		ck_assert_int_eq(ops->expunge_iter_end(&iter), 0);
		ck_assert_uint_eq(n, 2);
		ck_assert(seen[0] != seen[1]);
		ck_assert(seen[0] == uids[1] || seen[0] == uids[3]);
		ck_assert(seen[1] == uids[1] || seen[1] == uids[3]);
	} else {
		printf("%s: expunge log skipped: capability not claimed\n",
		       env.name);
	}
	conf_recs_free(&before);

	/* UIDs are never reused, also after reopening */
	CONF_OPS(&env)->mailbox_close(&box);
	conf_reopen(&env);
	box = conf_box_open(&env, "Exp");
	conf_box_status(&env, box, &st1);
	ck_assert_uint_eq(st1.uidvalidity, st0.uidvalidity);
	ck_assert_uint_ge(st1.uidnext, st0.uidnext);
	more = conf_save_plain(&env, box, 1);
	ck_assert_msg(more[0] > uids[3],
	              "%s: new message got UID %u, expunged max was %u",
	              env.name, more[0], uids[3]);
	CONF_OPS(&env)->mailbox_close(&box);
	free(more);
	free(uids);
	conf_end(&env);
}
END_TEST

START_TEST(test_rollback_cancel)
{
	const struct mailferry_driver_ops *ops;
	struct mailferry_commit_result result;
	struct mailferry_mailbox_status st;
	struct mailferry_trans *trans = NULL;
	struct mailferry_uid_range range;
	struct mailferry_uidset set = {&range, 1};
	struct mailferry_mailbox *box;
	struct mailferry_save save;
	struct conf_env env;
	conf_recs_t recs;
	uint32_t *uids, kept_uid;

	if (begin_writable(&env, _i, CONF_EMPTY) < 0)
		return;
	ops = CONF_OPS(&env);
	conf_create(&env, "Roll", NULL, 0);
	box = conf_box_open(&env, "Roll");

	/* cancel one save, keep the next */
	memset(&save, 0, sizeof(save));
	save.struct_size = sizeof(save);
	save.size_hint = UINT64_MAX;
	ck_assert_int_eq(ops->trans_begin(box, 0, &trans), 0);
	ck_assert_int_eq(ops->save_begin(trans, &save), 0);
	ck_assert_int_eq(ops->save_write(trans, conf_fixture_msg(0)->data, 100),
	                 0);
	ops->save_cancel(trans);
	ck_assert_int_eq(ops->save_begin(trans, &save), 0);
	ck_assert_int_eq(ops->save_write(trans, conf_fixture_msg(1)->data,
	                                 conf_fixture_msg(1)->size),
	                 0);
	ck_assert_int_eq(ops->save_finish(trans), 0);
	memset(&result, 0, sizeof(result));
	result.struct_size = sizeof(result);
	ck_assert_int_eq(ops->trans_commit(&trans, &result), 0);
	ck_assert_uint_eq(result.saved_count, 1);
	kept_uid = result.saved_uids[0];
	conf_msgs(&env, box, 1, UINT32_MAX, 0, &recs);
	ck_assert_uint_eq(recs.count, 1);
	conf_check_body(&env, box, recs.items[0].uid, conf_fixture_msg(1));
	conf_recs_free(&recs);

	/* a rolled back save and flag change leave no trace */
	ck_assert_int_eq(ops->trans_begin(box, 0, &trans), 0);
	ck_assert_int_eq(ops->save_begin(trans, &save), 0);
	ck_assert_int_eq(ops->save_write(trans, conf_fixture_msg(2)->data,
	                                 conf_fixture_msg(2)->size),
	                 0);
	ck_assert_int_eq(ops->save_finish(trans), 0);
	range.first = range.last = kept_uid;
	ck_assert_int_eq(ops->update_flags(trans, &set, MAILFERRY_MODIFY_ADD,
	                                   MAILFERRY_FLAG_FLAGGED, NULL),
	                 0);
	ops->trans_rollback(&trans);
	ck_assert_ptr_null(trans);
	conf_box_status(&env, box, &st);
	ck_assert_uint_eq(st.messages, 1);
	conf_msgs(&env, box, 1, UINT32_MAX, MAILFERRY_FIELD_FLAGS, &recs);
	ck_assert_uint_eq(recs.count, 1);
	ck_assert_uint_eq(recs.items[0].flags & MAILFERRY_FLAG_FLAGGED, 0);
	conf_recs_free(&recs);

	/* and a commit afterwards still works */
	uids = conf_save_plain(&env, box, 1);
	conf_box_status(&env, box, &st);
	ck_assert_uint_eq(st.messages, 2);
	free(uids);
	CONF_OPS(&env)->mailbox_close(&box);
	conf_end(&env);
}
END_TEST

/* Save one message with a wrong size hint. Returns 0 when it was stored
 * (its UID in *uid_r), or the error. */
static int save_with_hint(struct conf_env *env, struct mailferry_mailbox *box,
                          const struct conf_msg *m, uint64_t hint,
                          uint32_t *uid_r)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_commit_result result;
	struct mailferry_trans *trans = NULL;
	struct mailferry_save save;
	int ret;

	*uid_r = 0;
	memset(&save, 0, sizeof(save));
	save.struct_size = sizeof(save);
	save.size_hint = hint;
	ck_assert_int_eq(ops->trans_begin(box, 0, &trans), 0);
	ret = ops->save_begin(trans, &save);
	if (ret == 0)
		ret = ops->save_write(trans, m->data, m->size);
	if (ret == 0)
		ret = ops->save_finish(trans);
	if (ret != 0) {
		ops->trans_rollback(&trans);
		return ret;
	}
	memset(&result, 0, sizeof(result));
	result.struct_size = sizeof(result);
	ret = ops->trans_commit(&trans, &result);
	if (ret == 0 && result.saved_count == 1)
		*uid_r = result.saved_uids[0];
	return ret;
}

START_TEST(test_size_hint)
{
	const struct conf_msg *m = conf_fixture_msg(4);
	const uint64_t hints[] = {m->size / 2, (uint64_t)m->size * 3, 0};
	struct mailferry_mailbox_status st;
	struct mailferry_mailbox *box;
	struct conf_env env;
	uint32_t uid, stored = 0;
	int ret;

	if (begin_writable(&env, _i, CONF_EMPTY) < 0)
		return;
	conf_create(&env, "Hint", NULL, 0);
	box = conf_box_open(&env, "Hint");
	/* a wrong hint fails with INVALID or is ignored; the message is
	 * never stored cut to the hint */
	for (size_t h = 0; h < MF_N_ELEMENTS(hints); h++) {
		ret = save_with_hint(&env, box, m, hints[h], &uid);
		ck_assert_msg(ret == 0 || ret == MAILFERRY_E_INVALID,
		              "%s: size hint %llu for %zu bytes gave %d: %s",
		              env.name, (unsigned long long)hints[h], m->size,
		              ret, CONF_ERR(&env));
		if (ret == 0) {
			conf_check_body(&env, box, uid, m);
			stored++;
		}
	}
	conf_box_status(&env, box, &st);
	ck_assert_uint_eq(st.messages, stored);
	CONF_OPS(&env)->mailbox_close(&box);
	conf_end(&env);
}
END_TEST

START_TEST(test_refresh)
{
	struct mailferry_mailbox_status st0, st1;
	struct mailferry_mailbox *box, *other_box = NULL;
	struct mf_storage *other = NULL;
	struct conf_env env;
	conf_recs_t recs;
	uint32_t *uids;
	char *error = NULL;
	int ret;

	if (begin_writable(&env, _i, CONF_EMPTY) < 0)
		return;
	conf_create(&env, "Shared", NULL, 0);
	box = conf_box_open(&env, "Shared");
	conf_box_status(&env, box, &st0);

	/* a second storage on the same location, as another process would
	 * have it, with the mailbox already open */
	ret = mf_storage_open(env.location, NULL, NULL, env.tmp, 0, &other,
	                      &error);
	ck_assert_msg(ret == 0, "%s: second open: %s", env.name, error);
	ret = other->ops->mailbox_open(other->st, conf_name(&env, "Shared"), 0,
	                               &other_box);
	ck_assert_msg(ret == 0, "%s: second mailbox_open: %s", env.name,
	              mf_storage_error(other));

	uids = conf_save_plain(&env, box, 2);

	/* mailbox_status refreshes: the other handle now sees both */
	memset(&st1, 0, sizeof(st1));
	ret = other->ops->mailbox_status(other_box, &st1);
	ck_assert_msg(ret == 0, "%s: mailbox_status: %s", env.name,
	              mf_storage_error(other));
	ck_assert_msg(st1.messages == st0.messages + 2,
	              "%s: another handle sees %u messages after 2 saves to an "
	              "empty mailbox",
	              env.name, st1.messages);
	ck_assert_uint_eq(st1.uidvalidity, st0.uidvalidity);
	ck_assert_uint_gt(st1.uidnext, uids[1]);
	{
		struct conf_env oenv = env;

		oenv.storage = other;
		conf_msgs(&oenv, other_box, 1, UINT32_MAX, 0, &recs);
		ck_assert_uint_eq(recs.count, 2);
		ck_assert_uint_eq(recs.items[0].uid, uids[0]);
		ck_assert_uint_eq(recs.items[1].uid, uids[1]);
		conf_check_body(&oenv, other_box, uids[1], conf_fixture_msg(1));
		conf_recs_free(&recs);

		/* and an expunge and a flag change made through the first */
		struct mailferry_uid_range r0 = {uids[0], uids[0]};
		struct mailferry_uid_range r1 = {uids[1], uids[1]};
		struct mailferry_uidset set0 = {&r0, 1}, set1 = {&r1, 1};
		struct mailferry_trans *trans = NULL;

		ck_assert_int_eq(CONF_OPS(&env)->trans_begin(box, 0, &trans),
		                 0);
		ck_assert_int_eq(CONF_OPS(&env)->expunge(trans, &set0), 0);
		ck_assert_int_eq(CONF_OPS(&env)->update_flags(
		                     trans, &set1, MAILFERRY_MODIFY_ADD,
		                     MAILFERRY_FLAG_FLAGGED, NULL),
		                 0);
		ck_assert_int_eq(CONF_OPS(&env)->trans_commit(&trans, NULL), 0);
		ck_assert_int_eq(other->ops->mailbox_status(other_box, &st1),
		                 0);
		ck_assert_msg(st1.messages == st0.messages + 1,
		              "%s: another handle sees %u messages after an "
		              "expunge",
		              env.name, st1.messages);
		conf_msgs(&oenv, other_box, 1, UINT32_MAX,
		          MAILFERRY_FIELD_FLAGS, &recs);
		ck_assert_uint_eq(recs.count, 1);
		ck_assert_uint_eq(recs.items[0].uid, uids[1]);
		ck_assert_msg(
		    (recs.items[0].flags & MAILFERRY_FLAG_FLAGGED) != 0,
		    "%s: another handle misses a flag change", env.name);
		conf_recs_free(&recs);
	}
	other->ops->mailbox_close(&other_box);
	mf_storage_close(&other);
	CONF_OPS(&env)->mailbox_close(&box);
	free(uids);
	conf_end(&env);
}
END_TEST

void conf_add_write_tests(Suite *s, int ndrivers)
{
	TCase *tc = tcase_create("write");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_mailbox_tree, 0, ndrivers);
	tcase_add_loop_test(tc, test_save_params, 0, ndrivers);
	tcase_add_loop_test(tc, test_flags_modseq, 0, ndrivers);
	tcase_add_loop_test(tc, test_expunge, 0, ndrivers);
	tcase_add_loop_test(tc, test_rollback_cancel, 0, ndrivers);
	tcase_add_loop_test(tc, test_size_hint, 0, ndrivers);
	tcase_add_loop_test(tc, test_refresh, 0, ndrivers);
	suite_add_tcase(s, tc);
}
