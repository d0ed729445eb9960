/* SPDX-License-Identifier: MIT */
/*
 * Scale: syncs of 200,000- and 1,000,000-message mailboxes (gendrv, which
 * keeps a generated message as one bit): a two-way sync against a copy
 * missing the newest mails and with some flags changed, a conversion
 * (backup) and a first two-way sync into an empty store, and a no-op
 * comparison. Each checks its result and prints time and peak RSS; the
 * engine reads and decides a window of messages at a time, so the peak
 * must stay under a fixed bound and must not grow from 200,000 to
 * 1,000,000 messages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "engine-harness.h"

/* peak RSS bound for any size. AddressSanitizer keeps freed memory in
 * its quarantine (256 MB by default): there only a loose bound, and no
 * growth check. */
#ifdef __SANITIZE_ADDRESS__
#define LIMIT_MB 500
#define CHECK_GROWTH 0
/* A smaller quarantine (256 MB by default): 400,000 header hashes alone
 * fill the default one with freed blocks, which says nothing of what the
 * engine keeps. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=32";
}
#else
#define LIMIT_MB 40
#define CHECK_GROWTH 1
#endif
/* what 5 times the messages may add to the peak */
#define GROWTH_MB 6

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static long peak_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
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

static struct mf_storage *gen(uint32_t n)
{
	char loc[64];

	snprintf(loc, sizeof(loc), "gendrv:%u", n);
	return h_open_loc(loc);
}

static void report(const char *what, uint32_t n, double secs)
{
	long mb = peak_mb();

	fprintf(stderr, "scale: %s, %u messages: %.2f s, peak RSS %ld MB\n",
	        what, n, secs, mb);
	ck_assert_msg(mb < LIMIT_MB, "%s, %u messages: peak RSS %ld MB", what,
	              n, mb);
}

/* the second run of any of them finds nothing to do */
static void assert_noop(struct mf_sync_params *p, struct mf_storage *a,
                        struct mf_storage *b, uint32_t n)
{
	struct mf_sync_result r;
	double t0 = now();

	ck_assert_int_eq(h_sync(p, a, b, &r), 0);
	ck_assert_uint_eq(r.msgs_saved + r.msgs_flag_changed + r.msgs_expunged +
	                      r.msgs_moved,
	                  0);
	mf_sync_result_free(&r);
	report("no-op full comparison", n, now() - t0);
}

/* Two-way: the newest 10 mails and two flag changes cross. */
static void twoway(uint32_t n)
{
	struct mf_storage *a = gen(n), *b = gen(n - 10);
	struct mf_sync_params p;
	struct mf_sync_result r;
	double t0;

	set_flag(b, 5, MAILFERRY_FLAG_FLAGGED);
	set_flag(b, n / 2, MAILFERRY_FLAG_ANSWERED);
	h_params(&p);
	p.window = 0;
	p.full = true;
	t0 = now();
	ck_assert_int_eq(h_sync(&p, a, b, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, 10);
	/* the two flag changes reach the other side, nothing else moves */
	ck_assert_uint_eq(r.msgs_flag_changed, 2);
	ck_assert_uint_eq(r.msgs_expunged + r.msgs_moved, 0);
	mf_sync_result_free(&r);
	report("two-way, 10 new + 2 flag changes", n, now() - t0);
	assert_noop(&p, a, b, n);
	h_close(&a);
	h_close(&b);
}

/* Everything into an empty store: backup (a conversion) or the first
 * two-way sync. */
static void into_empty(uint32_t n, enum mf_engine_mode mode)
{
	struct mf_storage *a = gen(n), *b = gen(0);
	struct mf_sync_params p;
	struct mf_sync_result r;
	double t0;

	h_params(&p);
	p.window = 0;
	p.mode = mode;
	t0 = now();
	ck_assert_int_eq(h_sync(&p, a, b, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, n);
	ck_assert_uint_eq(r.msgs_flag_changed + r.msgs_expunged + r.msgs_moved,
	                  0);
	mf_sync_result_free(&r);
	report(mode == MF_ENGINE_BACKUP ? "backup into an empty store"
	                                : "first two-way sync into an empty "
	                                  "store",
	       n, now() - t0);
	ck_assert_int_eq(h_count(b, "INBOX"), (int)n);
	p.full = true;
	assert_noop(&p, a, b, n);
	h_close(&a);
	h_close(&b);
}

/* New mail on both sides above the last common UID: two stores share
 * their first 50,000 messages, then each has n other ones at the same
 * UIDs (all conflicts: every one of them gets a new UID on both sides).
 * A dry run does all the reading, pairing and numbering without making
 * the stores grow, so the peak is the engine's; a real run of a smaller
 * pair checks the result. */
static void both_new(uint32_t n, bool dry_run)
{
	char loc[96];
	struct mf_storage *a, *b;
	struct mf_sync_params p;
	struct mf_sync_result r;
	double t0;

	a = gen(50000 + n);
	snprintf(loc, sizeof(loc), "gendrv:%u:FROM=50000:OFFSET=10000000",
	         50000 + n);
	b = h_open_loc(loc);
	h_params(&p);
	p.window = 0;
	p.full = true;
	p.dry_run = dry_run;
	t0 = now();
	ck_assert_int_eq(h_sync(&p, a, b, &r), 0);
	/* each side: its own n moved to new UIDs, the other's n saved */
	ck_assert_uint_eq(r.msgs_saved, 2 * (uint64_t)n);
	ck_assert_uint_eq(r.msgs_moved, 2 * (uint64_t)n);
	ck_assert_uint_eq(r.msgs_expunged, 0);
	mf_sync_result_free(&r);
	report(dry_run ? "two-way, new mail on both sides (dry run)"
	               : "two-way, new mail on both sides",
	       n, now() - t0);
	if (!dry_run) {
		ck_assert_int_eq(h_count(a, "INBOX"), (int)(50000 + 2 * n));
		ck_assert_int_eq(h_count(b, "INBOX"), (int)(50000 + 2 * n));
		assert_noop(&p, a, b, n);
	}
	h_close(&a);
	h_close(&b);
}

START_TEST(twoway_both_sides_new)
{
	h_init();
	both_new(200000, true);
	both_new(20000, false);
	h_cleanup();
}
END_TEST

/* By identity (header hashes; one side cannot keep UIDs, as an IMAP
 * server): n messages each, the last 50,000 of one side are the first
 * 50,000 of the other (the same messages at other UIDs). Dry run, as
 * above: both sides get what they lack. */
START_TEST(twoway_by_identity)
{
	const uint32_t n = 200000, overlap = 50000;
	char loc[96];
	struct mf_storage *a, *b;
	struct mf_sync_params p;
	struct mf_sync_result r;
	double t0;

	h_init();
	snprintf(loc, sizeof(loc), "gendrv:%u:NOGUIDS=1", n);
	a = h_open_loc(loc);
	snprintf(loc, sizeof(loc), "gendrv:%u:NOGUIDS=1:NOSAVEUID=1:OFFSET=%u",
	         n, n - overlap);
	b = h_open_loc(loc);
	h_params(&p);
	p.window = 0;
	p.full = true;
	p.dry_run = true;
	t0 = now();
	ck_assert_int_eq(h_sync(&p, a, b, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, 2 * (uint64_t)(n - overlap));
	ck_assert_uint_eq(r.msgs_moved + r.msgs_expunged + r.msgs_flag_changed,
	                  0);
	mf_sync_result_free(&r);
	report("two-way by identity, 50,000 in common (dry run)", n,
	       now() - t0);
	h_close(&a);
	h_close(&b);
	h_cleanup();
}
END_TEST

/* Backup by identity into a non-empty destination (the re-run of an IMAP
 * migration: header hashes, the destination cannot keep UIDs): n source
 * messages, n destination ones, of which the first n - split are the
 * source's last ones at other UIDs (and often other flags). Dry run, as
 * above: the source-only ones are saved, the destination-only ones
 * expunged, the common ones take the source's flags. */
START_TEST(backup_by_identity)
{
	const uint32_t n = 200000, split = 149999;
	const uint32_t common = n - split;
	char loc[96];
	struct mf_storage *a, *b;
	struct mf_sync_params p;
	struct mf_sync_result r;
	uint64_t flags = 0;
	double t0;

	/* destination UID v holds source message v + split */
	for (uint32_t u = split + 1; u <= n; u++) {
		if ((u % 3 == 0) != ((u - split) % 3 == 0))
			flags++;
	}
	h_init();
	snprintf(loc, sizeof(loc), "gendrv:%u:NOGUIDS=1", n);
	a = h_open_loc(loc);
	snprintf(loc, sizeof(loc), "gendrv:%u:NOGUIDS=1:NOSAVEUID=1:OFFSET=%u",
	         n, split);
	b = h_open_loc(loc);
	h_params(&p);
	p.window = 0;
	p.mode = MF_ENGINE_BACKUP;
	p.full = true;
	p.dry_run = true;
	t0 = now();
	ck_assert_int_eq(h_sync(&p, a, b, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, n - common);
	ck_assert_uint_eq(r.msgs_expunged, n - common);
	ck_assert_uint_eq(r.msgs_flag_changed, flags);
	ck_assert_uint_eq(r.msgs_moved, 0);
	mf_sync_result_free(&r);
	report("backup by identity, 50,001 in common (dry run)", n, now() - t0);
	h_close(&a);
	h_close(&b);
	h_cleanup();
}
END_TEST

/* 200,000 messages, then 1,000,000 in the same process: the peak after
 * the big one is no more than GROWTH_MB above the small one's. */
static void both_sizes(void (*run)(uint32_t, int), int arg)
{
	long small_mb, big_mb;

	h_init();
	run(200000, arg);
	small_mb = peak_mb();
	run(1000000, arg);
	big_mb = peak_mb();
	fprintf(stderr,
	        "scale: peak RSS %ld MB at 200,000, %ld MB at "
	        "1,000,000 messages\n",
	        small_mb, big_mb);
	ck_assert_msg(!CHECK_GROWTH || big_mb - small_mb <= GROWTH_MB,
	              "peak RSS grew from %ld MB to %ld MB", small_mb, big_mb);
	h_cleanup();
}

static void run_twoway(uint32_t n, int arg)
{
	(void)arg;
	twoway(n);
}

static void run_into_empty(uint32_t n, int mode)
{
	into_empty(n, (enum mf_engine_mode)mode);
}

START_TEST(twoway_new_and_flags)
{
	both_sizes(run_twoway, 0);
}
END_TEST

START_TEST(conversion_into_empty)
{
	both_sizes(run_into_empty, MF_ENGINE_BACKUP);
}
END_TEST

START_TEST(first_twoway_into_empty)
{
	both_sizes(run_into_empty, MF_ENGINE_TWOWAY);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine-scale");
	TCase *tc = tcase_create("scale");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, twoway_new_and_flags);
	tcase_add_test(tc, conversion_into_empty);
	tcase_add_test(tc, first_twoway_into_empty);
	suite_add_tcase(s, tc);
	/* what is merged through temporary files (CK_RUN_CASE=merge) */
	tc = tcase_create("merge");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, twoway_both_sides_new);
	tcase_add_test(tc, twoway_by_identity);
	tcase_add_test(tc, backup_by_identity);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
