/* SPDX-License-Identifier: MIT */
/*
 * test-threads.c - driver.h allows distinct storages to be used from
 * different threads at the same time (rule O5). Each thread gets its own
 * store (a separate location, filled with the fixture), reads every message
 * and (writable drivers) saves more, all at once; nothing may differ or be
 * lost. Two storages on the *same* store in one process are not covered:
 * Dovecot-compatible fcntl locks do not exclude threads of one process.
 * Failures are counted in the threads and asserted afterwards.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf-tests.h"

#define THREADS 2
#define ROUNDS 3
#define SAVES 10

struct worker {
	struct conf_env env;
	int idx;
	char box[16];
	int errors;
	char first_error[256];
};

static void worker_fail(struct worker *w, const char *what, int ret,
                        const struct mf_storage *storage)
{
	if (w->errors++ == 0)
		snprintf(w->first_error, sizeof(w->first_error), "%s: %d: %s",
		         what, ret,
		         storage != NULL ? mf_storage_error(storage) : "");
}

/* Read one whole message; -1 on any error or mismatch. */
static int worker_read(struct worker *w, struct mf_storage *st,
                       struct mailferry_mailbox *box, uint32_t uid,
                       const struct conf_msg *want)
{
	struct mailferry_stream *stream = NULL;
	char *data = mf_malloc(want->size * 2 + 65536);
	size_t size = 0, got;
	int ret;

	ret = st->ops->msg_open(box, uid, 0, &stream);
	while (ret == 0) {
		ret = st->ops->stream_read(stream, data + size, 4096, &got);
		if (ret == 0 && got == 0)
			break;
		size += got;
		if (size > want->size * 2 + 60000) {
			ret = -1;
			break;
		}
	}
	if (stream != NULL)
		st->ops->stream_close(&stream);
	if (ret != 0) {
		worker_fail(w, "read", ret, st);
	} else if (!conf_same_body(&w->env, data, size, want->data,
	                           want->size)) {
		worker_fail(w, want->origin, -1, NULL);
		ret = -1;
	}
	free(data);
	return ret;
}

static void worker_read_all(struct worker *w, struct mf_storage *st)
{
	const struct conf_fixture *fx = conf_fixture();

	for (size_t b = 0; b < fx->boxes.count; b++) {
		const struct conf_box *fbox = &fx->boxes.items[b];
		struct mailferry_msg_query q;
		struct mailferry_msg_iter *iter = NULL;
		struct mailferry_mailbox *box = NULL;
		const struct mailferry_msg *msg;
		uint32_t *uids = mf_calloc(fbox->msgs.count + 1, sizeof(*uids));
		size_t n = 0;
		int ret;

		ret = st->ops->mailbox_open(
		    st->st, conf_name(&w->env, fbox->name), 0, &box);
		if (ret != 0) {
			worker_fail(w, "mailbox_open", ret, st);
			free(uids);
			continue;
		}
		memset(&q, 0, sizeof(q));
		q.struct_size = sizeof(q);
		q.uid_last = UINT32_MAX;
		q.fields = MAILFERRY_FIELD_GUID;
		ret = st->ops->msg_iter_begin(box, &q, &iter);
		while (ret == 0 &&
		       (ret = st->ops->msg_iter_next(iter, &msg)) > 0) {
			if (n < fbox->msgs.count)
				uids[n] = msg->uid;
			n++;
			ret = 0;
		}
		if (iter != NULL && st->ops->msg_iter_end(&iter) < 0 &&
		    ret == 0)
			ret = -1;
		if (ret != 0 || n != fbox->msgs.count)
			worker_fail(w, "msg_iter", ret, st);
		for (size_t m = 0; ret == 0 && m < n && m < fbox->msgs.count;
		     m++)
			worker_read(w, st, box, uids[m], &fbox->msgs.items[m]);
		st->ops->mailbox_close(&box);
		free(uids);
	}
}

static void worker_save(struct worker *w, struct mf_storage *st)
{
	struct mailferry_mailbox *box = NULL;
	struct mailferry_trans *trans = NULL;
	struct mailferry_save save;
	int ret;

	ret = st->ops->mailbox_open(st->st, w->box, 0, &box);
	if (ret != 0) {
		worker_fail(w, "mailbox_open(own)", ret, st);
		return;
	}
	for (int i = 0; i < SAVES && ret == 0; i++) {
		const struct conf_msg *m = conf_fixture_msg((size_t)i % 5);

		memset(&save, 0, sizeof(save));
		save.struct_size = sizeof(save);
		save.size_hint = m->size;
		ret = st->ops->trans_begin(box, 0, &trans);
		if (ret == 0)
			ret = st->ops->save_begin(trans, &save);
		if (ret == 0)
			ret = st->ops->save_write(trans, m->data, m->size);
		if (ret == 0)
			ret = st->ops->save_finish(trans);
		if (ret == 0)
			ret = st->ops->trans_commit(&trans, NULL);
		else if (trans != NULL)
			st->ops->trans_rollback(&trans);
		if (ret != 0)
			worker_fail(w, "save", ret, st);
	}
	st->ops->mailbox_close(&box);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (int r = 0; r < ROUNDS; r++) {
		worker_read_all(w, w->env.storage);
		if (!w->env.readonly)
			worker_save(w, w->env.storage);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct worker workers[THREADS];
	pthread_t threads[THREADS];

	memset(workers, 0, sizeof(workers));
	for (int t = 0; t < THREADS; t++) {
		struct worker *w = &workers[t];

		if (conf_begin(&w->env, _i, CONF_FIXTURE) < 0) {
			for (int o = 0; o < t; o++)
				conf_end(&workers[o].env);
			return;
		}
		w->idx = t;
		snprintf(w->box, sizeof(w->box), "Thread%d", t);
		if (!w->env.readonly)
			conf_create(&w->env, w->box, NULL, 0);
	}
	for (int t = 0; t < THREADS; t++)
		ck_assert_int_eq(
		    pthread_create(&threads[t], NULL, worker_run, &workers[t]),
		    0);
	for (int t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
	for (int t = 0; t < THREADS; t++) {
		struct worker *w = &workers[t];

		ck_assert_msg(w->errors == 0,
		              "%s: thread %d: %d errors, first: %s",
		              w->env.name, t, w->errors, w->first_error);
		if (!w->env.readonly) {
			struct mailferry_mailbox_status st;
			struct mailferry_mailbox *box =
			    conf_box_open(&w->env, w->box);
			conf_box_status(&w->env, box, &st);
			ck_assert_uint_eq(st.messages, ROUNDS * SAVES);
			CONF_OPS(&w->env)->mailbox_close(&box);
		}
		conf_end(&w->env);
	}
}
END_TEST

void conf_add_thread_tests(Suite *s, int ndrivers)
{
	TCase *tc = tcase_create("threads");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_threads, 0, ndrivers);
	suite_add_tcase(s, tc);
}
