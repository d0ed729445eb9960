/* SPDX-License-Identifier: MIT */
/*
 * A backup by identity into a non-empty destination (the re-run of an IMAP
 * migration: header hashes, a destination that cannot keep UIDs, memdrv
 * NOGUIDS=1 and IMAPLIKE=1) on random histories: the in-memory match (the
 * default window holds both sides) and the one through temporary files
 * (windows 1 and 3) give the same destination (UIDs, flags, keywords),
 * the same counters and the same state, run after run. Histories have
 * duplicates by identity on either side, messages both sides have at
 * other UIDs and with other flags, expunges on both sides, and runs with
 * a -t style flag filter.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine-harness.h"
#include "mf-alloc.h"
#include "mf-buf.h"

static struct mf_storage *A, *B;

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return n == 0 ? 0 : (uint32_t)((r->s >> 33) % n);
}

static const char *const boxes[] = {"INBOX", "Work"};

/* Random changes on st: saves drawn from a small pool of messages (so
 * that both sides and one side twice have the same ones), flag changes,
 * expunges. */
static void random_ops(struct rng *r, struct mf_storage *st, unsigned int n)
{
	static const char *const kws[] = {NULL, "$Work", "$Later"};

	for (unsigned int i = 0; i < n; i++) {
		const char *box = boxes[rnd(r, MF_N_ELEMENTS(boxes))];
		uint32_t op = rnd(r, 100);
		struct h_snap s;
		const struct h_box *b;

		if (op < 55) {
			(void)h_save(st, box, 1 + rnd(r, 40));
			continue;
		}
		h_snap(st, &s);
		b = h_snap_box(&s, box);
		if (b != NULL && b->msgs.count > 0) {
			const struct h_msg *m =
			    &b->msgs.items[rnd(r, (uint32_t)b->msgs.count)];
			if (op < 85)
				h_flags(st, box, m->uid,
				        (enum mailferry_modify)rnd(r, 2),
				        1u << rnd(r, 5), kws[rnd(r, 3)]);
			else
				h_expunge(st, box, m->uid);
		}
		h_snap_free(&s);
	}
}

/* What one backup run gave: the destination, the counters, the state. */
static char *run_backup(unsigned int window, bool filtered, uint64_t seed,
                        unsigned int round)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	struct h_snap a, b;
	struct mf_buf out = MF_BUF_INIT;
	char *dump;
	int code;

	h_params(&p);
	p.mode = MF_ENGINE_BACKUP;
	p.full = true;
	p.window = window;
	p.state = "";
	if (filtered)
		p.sync_flag = "\\Seen";
	code = h_sync(&p, A, B, &r);
	ck_assert_msg(code == 0, "seed %llu round %u window %u: exit %d (%s)",
	              (unsigned long long)seed, round, window, code,
	              r.error != NULL ? r.error : "");
	mf_buf_printf(&out, "saved %llu expunged %llu flags %llu moved %llu\n",
	              (unsigned long long)r.msgs_saved,
	              (unsigned long long)r.msgs_expunged,
	              (unsigned long long)r.msgs_flag_changed,
	              (unsigned long long)r.msgs_moved);
	mf_buf_printf(&out, "state %s\n", r.state != NULL ? r.state : "");
	mf_sync_result_free(&r);
	h_snap(A, &a);
	h_snap(B, &b);
	if (!filtered) {
		char *diff = h_snap_diff_content(&a, &b);
		ck_assert_msg(diff == NULL,
		              "seed %llu round %u window %u: destination "
		              "differs: %s",
		              (unsigned long long)seed, round, window, diff);
	}
	dump = h_snap_dump(&b);
	mf_buf_append(&out, dump, strlen(dump));
	free(dump);
	h_snap_free(&a);
	h_snap_free(&b);
	/* and the next run has nothing to do (with a filter, not always: a
	 * run into an empty mailbox filters each source message, a later
	 * one pairs the duplicates of an id first, so a filtered instance
	 * can pair and a kept one then lacks a partner; the paths still
	 * have to agree on it) */
	code = h_sync(&p, A, B, &r);
	ck_assert_int_eq(code, 0);
	ck_assert_msg(filtered || h_result_noop(&r),
	              "seed %llu round %u window %u: second run not a no-op "
	              "(%llu saved, %llu expunged, %llu flags)\n%s",
	              (unsigned long long)seed, round, window,
	              (unsigned long long)r.msgs_saved,
	              (unsigned long long)r.msgs_expunged,
	              (unsigned long long)r.msgs_flag_changed, out.data);
	mf_buf_printf(&out, "again: saved %llu expunged %llu flags %llu\n",
	              (unsigned long long)r.msgs_saved,
	              (unsigned long long)r.msgs_expunged,
	              (unsigned long long)r.msgs_flag_changed);
	mf_sync_result_free(&r);
	return mf_buf_detach(&out);
}

#define ROUNDS 8

/* One history, backed up round after round with window w; the runs'
 * results in res[round]. */
static void history(uint64_t seed, unsigned int w, bool filtered,
                    char *res[ROUNDS])
{
	struct rng r = {seed * 2654435761u + 3};
	char tag[64];

	/* the same seed gives the same mailbox GUIDs whatever the window */
	snprintf(tag, sizeof(tag), "%llu#%u", (unsigned long long)seed, w);
	setenv("MEMDRV_SEED", tag, 1);
	h_init();
	A = h_open("a", ":NOGUIDS=1");
	B = h_open("b", ":NOGUIDS=1:IMAPLIKE=1");
	for (size_t i = 0; i < MF_N_ELEMENTS(boxes); i++) {
		h_create(A, boxes[i]);
		h_create(B, boxes[i]);
	}
	/* the destination starts with mail of its own */
	random_ops(&r, B, 12);
	for (unsigned int round = 0; round < ROUNDS; round++) {
		random_ops(&r, A, 2 + rnd(&r, 10));
		random_ops(&r, B, rnd(&r, 6));
		res[round] = run_backup(w, filtered, seed, round);
	}
	h_close(&A);
	h_close(&B);
	h_cleanup();
	unsetenv("MEMDRV_SEED");
}

static void same_results(uint64_t seed, bool filtered)
{
	static const unsigned int windows[] = {0, 1, 3};
	char *ref[ROUNDS], *cur[ROUNDS];

	history(seed, windows[0], filtered, ref);
	for (size_t w = 1; w < MF_N_ELEMENTS(windows); w++) {
		history(seed, windows[w], filtered, cur);
		for (unsigned int k = 0; k < ROUNDS; k++) {
			ck_assert_msg(strcmp(ref[k], cur[k]) == 0,
			              "seed %llu round %u window %u:\n%s\n"
			              "in memory:\n%s",
			              (unsigned long long)seed, k, windows[w],
			              cur[k], ref[k]);
			free(cur[k]);
		}
	}
	for (unsigned int k = 0; k < ROUNDS; k++)
		free(ref[k]);
}

START_TEST(random_same_result)
{
	same_results(100 + (uint64_t)_i, false);
}
END_TEST

START_TEST(random_filtered_same_result)
{
	same_results(200 + (uint64_t)_i, true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine-backup-ids");
	TCase *tc = tcase_create("backup-ids");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, random_same_result, 0, 8);
	tcase_add_loop_test(tc, random_filtered_same_result, 0, 3);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
