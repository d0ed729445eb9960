/* SPDX-License-Identifier: MIT */
/*
 * Engine tests around the message windows: the window size (the
 * dsync_msgs_window setting) never changes a result, a stateful sync of
 * an unchanged mailbox lists no message, and new mail on both sides above
 * the last common UID (merged through temporary files when it does not
 * fit a window) ends as the in-memory merge would, two-way and by
 * identity. Stores are memdrv ones (engine-harness.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine-harness.h"
#include "mf-alloc.h"

static struct mf_storage *A, *B;

static void setup(void)
{
	h_init();
	A = h_open("a", NULL);
	B = h_open("b", NULL);
}

static void teardown(void)
{
	h_close(&A);
	h_close(&B);
	h_cleanup();
}

static char *sync_state(const char *state, struct mf_sync_result *out)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	char *s;

	h_params(&p);
	p.state = state;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	s = mf_strdup(r.state != NULL ? r.state : "");
	if (out != NULL) {
		*out = r;
		out->state = out->reason = out->error = NULL;
	}
	mf_sync_result_free(&r);
	return s;
}

static void assert_same(void)
{
	h_assert_identical(A, B);
}

/* A stateful run over an unchanged mailbox lists none of its messages
 * (dsync's STATE mode skips it); once either side changes, it syncs. */
START_TEST(stateful_noop_lists_nothing)
{
	struct mf_sync_result r;
	uint64_t a0, b0, o0;
	char *st, *st2;

	h_create(A, "INBOX");
	h_create(A, "Other");
	for (unsigned int i = 1; i <= 40; i++)
		h_save(A, "INBOX", i);
	h_save(A, "Other", 100);
	st = sync_state("", NULL);
	/* a first stateful run settles the modseqs both sides record */
	st2 = sync_state(st, NULL);
	free(st);
	st = st2;
	assert_same();

	a0 = h_memdrv_counter(A, H_MEMDRV_LISTED);
	b0 = h_memdrv_counter(B, H_MEMDRV_LISTED);
	o0 = h_memdrv_counter(A, H_MEMDRV_OPENS);
	st2 = sync_state(st, &r);
	ck_assert_uint_eq(h_memdrv_counter(A, H_MEMDRV_LISTED), a0);
	ck_assert_uint_eq(h_memdrv_counter(B, H_MEMDRV_LISTED), b0);
	/* the listing's status was enough: no mailbox opened */
	ck_assert_uint_eq(h_memdrv_counter(A, H_MEMDRV_OPENS), o0);
	ck_assert_uint_eq(r.boxes_skipped, 2);
	ck_assert_uint_eq(r.msgs_saved + r.msgs_flag_changed + r.msgs_expunged,
	                  0);
	/* the state of an unchanged mailbox is kept as it was */
	ck_assert_str_eq(st2, st);
	free(st2);

	/* a flag change on the second side only (dsync would not look) */
	h_flags(B, "INBOX", 7, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_FLAGGED,
	        NULL);
	a0 = h_memdrv_counter(A, H_MEMDRV_LISTED);
	st2 = sync_state(st, &r);
	ck_assert_uint_gt(h_memdrv_counter(A, H_MEMDRV_LISTED), a0);
	ck_assert_uint_eq(r.msgs_flag_changed, 1);
	ck_assert_uint_eq(r.boxes_skipped, 1); /* Other */
	assert_same();
	free(st);
	st = st2;

	/* new mail, and an expunge that keeps UIDNEXT */
	h_save(A, "Other", 101);
	h_expunge(B, "INBOX", 3);
	st2 = sync_state(st, &r);
	ck_assert_uint_eq(r.msgs_saved, 1);
	ck_assert_uint_eq(r.msgs_expunged, 1);
	assert_same();
	ck_assert_int_eq(h_count(A, "INBOX"), 39);
	free(st);
	st = st2;

	/* and it is quiet again */
	a0 = h_memdrv_counter(A, H_MEMDRV_LISTED);
	b0 = h_memdrv_counter(B, H_MEMDRV_LISTED);
	st2 = sync_state(st, &r);
	ck_assert_uint_eq(h_memdrv_counter(A, H_MEMDRV_LISTED), a0);
	ck_assert_uint_eq(h_memdrv_counter(B, H_MEMDRV_LISTED), b0);
	ck_assert_uint_eq(r.boxes_skipped, 2);
	free(st);
	free(st2);

	/* a fast (stateless) run over equal counters opens nothing either */
	{
		struct mf_sync_params p;

		h_params(&p);
		o0 = h_memdrv_counter(A, H_MEMDRV_OPENS);
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		ck_assert_uint_eq(h_memdrv_counter(A, H_MEMDRV_OPENS), o0);
		ck_assert_uint_eq(r.boxes_skipped, 2);
		mf_sync_result_free(&r);
		/* new mail on one side: that mailbox is opened and synced */
		h_save(B, "Other", 102);
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		ck_assert_uint_gt(h_memdrv_counter(A, H_MEMDRV_OPENS), o0);
		ck_assert_uint_eq(r.msgs_saved, 1);
		ck_assert_uint_eq(r.boxes_skipped, 1);
		mf_sync_result_free(&r);
		assert_same();
	}
}
END_TEST

/* Build the same two diverged stores in A and B: common mail, expunges,
 * flag changes and new mail on both sides, including UID conflicts. */
static void diverge(void)
{
	h_create(A, "INBOX");
	for (unsigned int i = 1; i <= 12; i++)
		h_save(A, "INBOX", i);
	{
		struct mf_sync_params p;
		struct mf_sync_result r;
		h_params(&p);
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		mf_sync_result_free(&r);
	}
	h_expunge(A, "INBOX", 4);
	h_expunge(B, "INBOX", 9);
	h_flags(A, "INBOX", 2, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN, "$a");
	h_flags(B, "INBOX", 2, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_ANSWERED,
	        "$b");
	/* both sides get new mail at the same UIDs (conflicts), the same
	 * message on both sides (paired), and more on one side */
	for (unsigned int i = 20; i < 27; i++)
		h_save(A, "INBOX", i);
	for (unsigned int i = 40; i < 45; i++)
		h_save(B, "INBOX", i);
	h_save(B, "INBOX", 22);
	h_save(A, "INBOX", 41);
	h_save(A, "INBOX", 41);
	h_flags(B, "INBOX", 13, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_FLAGGED,
	        NULL);
}

/* The result of a sync does not depend on the window: 1, 2, 3, 5 and the
 * default give the same stores. */
START_TEST(window_size_same_result)
{
	static const unsigned int windows[] = {0, 1, 2, 3, 5};
	char *ref_a = NULL;

	for (size_t w = 0; w < MF_N_ELEMENTS(windows); w++) {
		struct mf_sync_params p;
		struct mf_sync_result r;
		struct h_snap a, b;
		char *da;

		char seed[32];

		/* the same GUIDs each time: "N#run" restarts sequence N */
		snprintf(seed, sizeof(seed), "7#%zu", w);
		setenv("MEMDRV_SEED", seed, 1);
		h_close(&A);
		h_close(&B);
		h_cleanup();
		setup();
		diverge();
		h_params(&p);
		p.window = windows[w];
		p.full = true;
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		mf_sync_result_free(&r);
		assert_same();
		h_snap(A, &a);
		da = h_snap_dump(&a);
		if (ref_a == NULL) {
			ref_a = da;
		} else {
			if (strcmp(ref_a, da) != 0)
				fprintf(stderr, "window %u:\n%s\ndefault:\n%s",
				        windows[w], da, ref_a);
			ck_assert_msg(strcmp(ref_a, da) == 0,
			              "window %u:\n%s\ndefault:\n%s",
			              windows[w], da, ref_a);
			free(da);
		}
		h_snap(B, &b);
		h_snap_free(&a);
		h_snap_free(&b);
	}
	free(ref_a);
	unsetenv("MEMDRV_SEED");
}
END_TEST

/* By identity (B cannot keep UIDs, neither has GUIDs): the in-memory
 * merge (the default window) and the one through temporary files
 * (windows 1 and 3) give the same stores and the same state, and a
 * stateful run after it finds nothing to do. */
START_TEST(by_identity_window_same_result)
{
	static const unsigned int windows[] = {0, 1, 3};
	char *ref[3] = {NULL, NULL, NULL};

	for (size_t w = 0; w < MF_N_ELEMENTS(windows); w++) {
		struct mf_sync_params p;
		struct mf_sync_result r;
		struct h_snap a, b;
		char seed[32], *cur[3], *st;

		snprintf(seed, sizeof(seed), "9#%zu", w);
		setenv("MEMDRV_SEED", seed, 1);
		h_close(&A);
		h_close(&B);
		h_cleanup();
		h_init();
		A = h_open("a", ":NOGUIDS=1");
		B = h_open("b", ":NOGUIDS=1:IMAPLIKE=1");
		h_create(A, "INBOX");
		h_create(B, "INBOX");
		/* 2, 5, 8 on both sides (at other UIDs), the rest on one */
		for (unsigned int i = 1; i <= 9; i++)
			h_save(A, "INBOX", i);
		for (unsigned int i = 2; i <= 14; i += 3)
			h_save(B, "INBOX", i);
		h_save(B, "INBOX", 20);
		h_flags(B, "INBOX", 1, MAILFERRY_MODIFY_ADD,
		        MAILFERRY_FLAG_FLAGGED, "$x");
		h_params(&p);
		p.window = windows[w];
		p.state = "";
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		st = mf_strdup(r.state);
		mf_sync_result_free(&r);
		h_snap(A, &a);
		h_snap(B, &b);
		cur[0] = h_snap_dump(&a);
		cur[1] = h_snap_dump(&b);
		cur[2] = st;
		ck_assert_ptr_null(h_snap_diff_content(&a, &b));
		h_snap_free(&a);
		h_snap_free(&b);
		/* nothing left to do, with the state */
		p.state = st;
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		ck_assert_uint_eq(
		    r.msgs_saved + r.msgs_flag_changed + r.msgs_expunged, 0);
		mf_sync_result_free(&r);
		for (int k = 0; k < 3; k++) {
			if (ref[k] == NULL) {
				ref[k] = cur[k];
				continue;
			}
			ck_assert_msg(strcmp(ref[k], cur[k]) == 0,
			              "window %u:\n%s\ndefault:\n%s",
			              windows[w], cur[k], ref[k]);
			free(cur[k]);
		}
	}
	for (int k = 0; k < 3; k++)
		free(ref[k]);
	unsetenv("MEMDRV_SEED");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine-window");
	TCase *tc = tcase_create("window");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stateful_noop_lists_nothing);
	tcase_add_test(tc, window_size_same_result);
	tcase_add_test(tc, by_identity_window_same_result);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
