/* SPDX-License-Identifier: MIT */
/*
 * Scale: two-way sync of a 1,000,000-message mailbox (gendrv) against a
 * copy missing the newest mails and with some flags changed. Checks the
 * result, and prints time and peak memory (the engine keeps one compact
 * record per message and side, never a body).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "engine-harness.h"

#define N 1000000u

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void set_flag(struct mf_storage *st, uint32_t uid, uint32_t flag)
{
	struct mailferry_mailbox *box;
	struct mailferry_trans *t;
	struct mailferry_uid_range r = {uid, uid};
	struct mailferry_uidset set = {&r, 1};

	ck_assert_int_eq(st->ops->mailbox_open(st->st, "INBOX", 0, &box), 0);
	ck_assert_int_eq(st->ops->trans_begin(box, 0, &t), 0);
	ck_assert_int_eq(
	    st->ops->update_flags(t, &set, MAILFERRY_MODIFY_ADD, flag, NULL),
	    0);
	ck_assert_int_eq(st->ops->trans_commit(&t, NULL), 0);
	st->ops->mailbox_close(&box);
}

START_TEST(million_messages)
{
	struct mf_storage *a, *b;
	struct mf_sync_params p;
	struct mf_sync_result r;
	struct rusage ru;
	double t0, t1;
	char loc[64];

	h_init();
	snprintf(loc, sizeof(loc), "gendrv:%u", N);
	a = h_open_loc(loc);
	snprintf(loc, sizeof(loc), "gendrv:%u", N - 10);
	b = h_open_loc(loc);
	set_flag(b, 5, MAILFERRY_FLAG_FLAGGED);
	set_flag(b, 500000, MAILFERRY_FLAG_ANSWERED);

	h_params(&p);
	p.full = true;
	t0 = now();
	ck_assert_int_eq(h_sync(&p, a, b, &r), 0);
	t1 = now();
	ck_assert_uint_eq(r.msgs_saved, 10);
	/* the two flag changes reach the other side, nothing else moves */
	ck_assert_uint_eq(r.msgs_flag_changed, 2);
	ck_assert_uint_eq(r.msgs_expunged, 0);
	mf_sync_result_free(&r);
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr,
	        "scale: %u messages synced in %.2f s, peak RSS %ld MB\n", N,
	        t1 - t0, ru.ru_maxrss / 1024);
	/* metadata only: well below 100 bytes per message and side
	 * (AddressSanitizer roughly doubles it) */
#ifdef __SANITIZE_ADDRESS__
	const long limit_mb = 700;
#else
	const long limit_mb = 300;
#endif
	ck_assert_msg(ru.ru_maxrss / 1024 < limit_mb, "peak RSS %ld MB",
	              ru.ru_maxrss / 1024);

	/* and a second run finds nothing to do */
	ck_assert_int_eq(h_sync(&p, a, b, &r), 0);
	ck_assert_uint_eq(r.msgs_saved + r.msgs_flag_changed + r.msgs_expunged,
	                  0);
	mf_sync_result_free(&r);
	h_close(&a);
	h_close(&b);
	h_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine-scale");
	TCase *tc = tcase_create("scale");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, million_messages);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
