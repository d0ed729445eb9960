/* SPDX-License-Identifier: MIT */
/*
 * test-log.c - conformance of the optional tree-history parts, for drivers
 * that claim them: the mailbox change log (MAILFERRY_CAP_MAILBOX_LOG) and
 * subscriptions (MAILFERRY_CAP_SUBSCRIPTIONS). The engine decides deletes
 * and renames from these records, so their ids must be exactly the ones
 * driver.h documents.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "conf-tests.h"

struct log_rec {
	uint32_t type;
	uint8_t id[16];
	int64_t timestamp;
};
typedef MF_ARRAY(struct log_rec) log_recs_t;

static int begin_writable_with(struct conf_env *env, int idx, uint32_t caps,
                               const char *what)
{
	if (conf_begin(env, idx, CONF_EMPTY) < 0)
		return -1;
	if (env->readonly) {
		printf("%s: %s skipped: read-only store\n", env->name, what);
		conf_end(env);
		return -1;
	}
	if (conf_skip_without(env, caps, what)) {
		conf_end(env);
		return -1;
	}
	return 0;
}

/* The id of name-keyed records: the first 16 bytes of SHA-1(name). */
static void name_id(const char *name, uint8_t id_r[16])
{
	uint8_t digest[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)name, strlen(name), digest);
	memcpy(id_r, digest, 16);
}

static void read_log(struct conf_env *env, log_recs_t *recs_r)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_log_iter *iter = NULL;
	const struct mailferry_log_record *rec;
	int ret;

	memset(recs_r, 0, sizeof(*recs_r));
	ret = ops->mailbox_log_begin(CONF_ST(env), &iter);
	ck_assert_msg(ret == 0, "%s: mailbox_log_begin = %d: %s", env->name,
	              ret, CONF_ERR(env));
	while ((ret = ops->mailbox_log_next(iter, &rec)) > 0) {
		struct log_rec *r = mf_array_append_zero(recs_r);

		ck_assert_uint_ge(rec->struct_size,
		                  sizeof(struct mailferry_log_record));
		r->type = rec->type;
		memcpy(r->id, rec->id, 16);
		r->timestamp = rec->timestamp;
	}
	ck_assert_msg(ret == 0, "%s: mailbox_log_next = %d: %s", env->name, ret,
	              CONF_ERR(env));
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(ops->mailbox_log_next(iter, &rec), 0);
	ck_assert_int_eq(ops->mailbox_log_end(&iter), 0);
	ck_assert_ptr_null(iter);
}

/* The record of type with id, checked to be dated within the test. */
static const struct log_rec *find_rec(struct conf_env *env,
                                      const log_recs_t *recs, uint32_t type,
                                      const uint8_t id[16], int64_t since,
                                      const char *what)
{
	int64_t now = (int64_t)time(NULL);

	for (size_t i = 0; i < recs->count; i++) {
		const struct log_rec *r = &recs->items[i];

		if (r->type != type || memcmp(r->id, id, 16) != 0)
			continue;
		ck_assert_msg(r->timestamp >= since - 1 &&
		                  r->timestamp <= now + 1,
		              "%s: %s record dated %lld, test ran %lld..%lld",
		              env->name, what, (long long)r->timestamp,
		              (long long)since, (long long)now);
		return r;
	}
	ck_abort_msg("%s: no %s record in the mailbox log (%zu records)",
	             env->name, what, recs->count);
	return NULL;
}

START_TEST(test_mailbox_log)
{
	const struct mailferry_driver_ops *ops;
	int64_t start = (int64_t)time(NULL);
	struct mailferry_mailbox_status st;
	struct mailferry_mailbox *box;
	uint8_t gone_guid[16], renamed_id[16];
	struct conf_env env;
	log_recs_t recs;
	int ret;

	if (begin_writable_with(&env, _i, MAILFERRY_CAP_MAILBOX_LOG,
	                        "mailbox log") < 0)
		return;
	ops = CONF_OPS(&env);
	conf_create(&env, "LogGone", NULL, 0);
	box = conf_box_open(&env, "LogGone");
	conf_box_status(&env, box, &st);
	memcpy(gone_guid, st.guid, 16);
	ops->mailbox_close(&box);
	ret = ops->mailbox_delete(CONF_ST(&env), "LogGone", 0);
	ck_assert_msg(ret == 0, "%s: delete = %d: %s", env.name, ret,
	              CONF_ERR(&env));

	conf_create(&env, "LogOld", NULL, 0);
	ret = ops->mailbox_rename(CONF_ST(&env), "LogOld", "LogNew");
	ck_assert_msg(ret == 0, "%s: rename = %d: %s", env.name, ret,
	              CONF_ERR(&env));
	name_id("LogNew", renamed_id);

	/* from a fresh handle: the log is on disk */
	conf_reopen(&env);
	read_log(&env, &recs);
	if ((env.caps & MAILFERRY_CAP_MAILBOX_GUIDS) != 0)
		find_rec(&env, &recs, MAILFERRY_LOG_DELETE_MAILBOX, gone_guid,
		         start, "DELETE_MAILBOX (id = the mailbox GUID)");
	find_rec(&env, &recs, MAILFERRY_LOG_RENAME, renamed_id, start,
	         "RENAME (id = SHA-1 of the new name)");
	mf_array_free(&recs);
	conf_end(&env);
}
END_TEST

static int subscribed(struct conf_env *env, const char *name)
{
	const struct mailferry_driver_ops *ops = CONF_OPS(env);
	struct mailferry_subs_iter *iter = NULL;
	const char *got;
	int ret, found = 0;

	ret = ops->subscriptions_begin(CONF_ST(env), &iter);
	ck_assert_msg(ret == 0, "%s: subscriptions_begin = %d: %s", env->name,
	              ret, CONF_ERR(env));
	while ((ret = ops->subscriptions_next(iter, &got)) > 0) {
		if (strcmp(got, conf_name(env, name)) == 0)
			found++;
	}
	ck_assert_int_eq(ret, 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(ops->subscriptions_next(iter, &got), 0);
	ck_assert_int_eq(ops->subscriptions_end(&iter), 0);
	ck_assert_msg(found <= 1, "%s: '%s' subscribed %d times", env->name,
	              name, found);
	return found;
}

static void set_subscribed(struct conf_env *env, const char *name, int on)
{
	int ret = CONF_OPS(env)->mailbox_set_subscribed(
	    CONF_ST(env), conf_name(env, name), on);

	ck_assert_msg(ret == 0, "%s: set_subscribed(%s, %d) = %d: %s",
	              env->name, name, on, ret, CONF_ERR(env));
}

START_TEST(test_subscriptions)
{
	int64_t start = (int64_t)time(NULL);
	struct conf_env env;
	uint8_t id[16];
	int ret, non_mailbox = 1;

	if (begin_writable_with(&env, _i, MAILFERRY_CAP_SUBSCRIPTIONS,
	                        "subscriptions") < 0)
		return;
	conf_create(&env, "Subbed/Child", NULL, 0);
	conf_create(&env, "Dropped", NULL, 0);
	set_subscribed(&env, "Subbed/Child", 1);
	/* a subscription need not name an existing mailbox (an IMAP server
	 * may refuse that; then it must say so) */
	ret = CONF_OPS(&env)->mailbox_set_subscribed(
	    CONF_ST(&env), conf_name(&env, "Not/There"), 1);
	if (ret < 0 && env.remote) {
		printf("%s: the server refused to subscribe a non-mailbox: "
		       "%s\n",
		       env.name, CONF_ERR(&env));
		ck_assert_str_ne(CONF_ERR(&env), "");
		non_mailbox = 0;
	} else {
		ck_assert_msg(ret == 0,
		              "%s: subscribing a non-mailbox = %d: %s",
		              env.name, ret, CONF_ERR(&env));
	}
	set_subscribed(&env, "Dropped", 1);
	set_subscribed(&env, "Dropped", 0);

	conf_reopen(&env);
	ck_assert_msg(subscribed(&env, "Subbed/Child") == 1,
	              "%s: subscription lost", env.name);
	ck_assert_msg(subscribed(&env, "Not/There") == non_mailbox,
	              "%s: subscription to a non-mailbox lost", env.name);
	ck_assert_msg(subscribed(&env, "Dropped") == 0,
	              "%s: unsubscribe did not stick", env.name);

	if ((env.caps & MAILFERRY_CAP_MAILBOX_LOG) != 0) {
		log_recs_t recs;

		read_log(&env, &recs);
		name_id(conf_name(&env, "Subbed/Child"), id);
		find_rec(&env, &recs, MAILFERRY_LOG_SUBSCRIBE, id, start,
		         "SUBSCRIBE (id = SHA-1 of the name)");
		name_id("Dropped", id);
		find_rec(&env, &recs, MAILFERRY_LOG_UNSUBSCRIBE, id, start,
		         "UNSUBSCRIBE (id = SHA-1 of the name)");
		mf_array_free(&recs);
	}
	conf_end(&env);
}
END_TEST

void conf_add_log_tests(Suite *s, int ndrivers)
{
	TCase *tc = tcase_create("log");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_mailbox_log, 0, ndrivers);
	tcase_add_loop_test(tc, test_subscriptions, 0, ndrivers);
	suite_add_tcase(s, tc);
}
