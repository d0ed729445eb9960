/* SPDX-License-Identifier: MIT */
/*
 * Sync scenarios (one rule each, dsync reference §2-§4 and §7) and
 * model-based randomized two-way syncs between two memdrv stores.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine-harness.h"
#include "mf-alloc.h"
#include "mf-hex.h"

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

/* sync A<->B two-way (full unless told otherwise); returns exit code */
static int sync2(bool full)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	int code;

	h_params(&p);
	p.full = full;
	code = h_sync(&p, A, B, &r);
	if (code != 0 && r.reason != NULL)
		fprintf(stderr, "exit %d: %s\n", code, r.reason);
	mf_sync_result_free(&r);
	return code;
}

/* Both stores identical (tree, GUIDs, UIDs, flags, keywords, bodies). */
static void assert_same(void)
{
	h_assert_identical(A, B);
}

/* A second run must change nothing and exit 0. */
static void assert_noop(void)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	int code;

	h_params(&p);
	p.full = true;
	code = h_sync(&p, A, B, &r);
	ck_assert_msg(code == 0, "second run exit %d: %s", code,
	              r.reason != NULL ? r.reason : "");
	ck_assert_msg(h_result_noop(&r),
	              "second run not a no-op: %u/%u/%u boxes, %llu/%llu/%llu "
	              "msgs",
	              r.boxes_created, r.boxes_deleted, r.boxes_renamed,
	              (unsigned long long)r.msgs_saved,
	              (unsigned long long)r.msgs_expunged,
	              (unsigned long long)r.msgs_flag_changed);
	mf_sync_result_free(&r);
}

static const struct h_box *box_of(struct h_snap *s, const char *name)
{
	const struct h_box *b = h_snap_box(s, name);
	ck_assert_msg(b != NULL, "mailbox %s missing", name);
	return b;
}

/* ------------------------------------------------------------ messages */

START_TEST(new_mail_both_sides)
{
	struct h_snap s;

	h_create(A, "INBOX");
	ck_assert_int_eq(sync2(true), 0);
	h_save(A, "INBOX", 1);
	h_save(B, "INBOX", 2);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &s);
	/* UID 1 was issued on both sides for different mails: both moved */
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.count, 2);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.items[0].uid, 2);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.items[1].uid, 3);
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(one_side_new_mail_keeps_uids)
{
	struct h_snap s;

	h_create(A, "INBOX");
	for (unsigned int i = 1; i <= 5; i++)
		h_save(A, "INBOX", i);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(B, &s);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.count, 5);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.items[4].uid, 5);
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(expunge_both_ways)
{
	uint32_t u1, u2;

	h_create(A, "INBOX");
	u1 = h_save(A, "INBOX", 1);
	u2 = h_save(A, "INBOX", 2);
	h_save(A, "INBOX", 3);
	ck_assert_int_eq(sync2(true), 0);
	h_expunge(A, "INBOX", u1);
	h_expunge(B, "INBOX", u2);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	ck_assert_int_eq(h_count(A, "INBOX"), 1);
	assert_noop();
}
END_TEST

START_TEST(expunge_beats_flag_change)
{
	uint32_t u;

	h_create(A, "INBOX");
	u = h_save(A, "INBOX", 1);
	ck_assert_int_eq(sync2(true), 0);
	h_expunge(A, "INBOX", u);
	h_flags(B, "INBOX", u, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN, NULL);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	ck_assert_int_eq(h_count(B, "INBOX"), 0);
	assert_noop();
}
END_TEST

START_TEST(flags_merged_per_flag)
{
	uint32_t u;
	struct h_snap s;

	h_create(A, "INBOX");
	u = h_save(A, "INBOX", 1);
	ck_assert_int_eq(sync2(true), 0);
	h_flags(A, "INBOX", u, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN, NULL);
	h_flags(B, "INBOX", u, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_FLAGGED,
	        "$Work");
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &s);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.items[0].flags,
	                  MAILFERRY_FLAG_SEEN | MAILFERRY_FLAG_FLAGGED);
	ck_assert_str_eq(box_of(&s, "INBOX")->msgs.items[0].keywords, "$Work");
	h_snap_free(&s);
	/* remove on one side, add another keyword on the other */
	h_flags(A, "INBOX", u, MAILFERRY_MODIFY_REMOVE, MAILFERRY_FLAG_SEEN,
	        "$Work");
	h_flags(B, "INBOX", u, MAILFERRY_MODIFY_ADD, 0, "$Later");
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(B, &s);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.items[0].flags,
	                  MAILFERRY_FLAG_FLAGGED);
	ck_assert_str_eq(box_of(&s, "INBOX")->msgs.items[0].keywords, "$Later");
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(duplicate_guid_instances)
{
	uint32_t u;
	struct h_snap s;

	h_create(A, "INBOX");
	u = h_save(A, "INBOX", 1);
	(void)u;
	ck_assert_int_eq(sync2(true), 0);
	/* a second copy of the same body saved on B gets its own GUID; a
	 * copy with the same GUID is made through the engine's copy path
	 * when B has to move a mail: UID conflict with A */
	h_save(A, "INBOX", 2);
	h_save(B, "INBOX", 3);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &s);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.count, 3);
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(header_hash_mode)
{
	struct mf_storage *c, *d;
	struct h_snap s;
	struct mf_sync_params p;
	struct mf_sync_result r;

	c = h_open("c", ":NOGUIDS=1");
	d = h_open("d", ":NOGUIDS=1");
	h_create(c, "INBOX");
	h_save(c, "INBOX", 1);
	h_save(c, "INBOX", 2);
	h_params(&p);
	p.full = true;
	ck_assert_int_eq(h_sync(&p, c, d, &r), 0);
	mf_sync_result_free(&r);
	h_save(d, "INBOX", 3);
	h_save(c, "INBOX", 4);
	ck_assert_int_eq(h_sync(&p, c, d, &r), 0);
	mf_sync_result_free(&r);
	h_snap(d, &s);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.count, 4);
	h_snap_free(&s);
	ck_assert_int_eq(h_sync(&p, c, d, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, 0);
	mf_sync_result_free(&r);
	h_close(&c);
	h_close(&d);
}
END_TEST

/* --------------------------------------------------------------- tree */

START_TEST(create_both_sides)
{
	h_create(A, "INBOX");
	h_create(A, "Work");
	h_create(B, "Lists/dev");
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	assert_noop();
}
END_TEST

START_TEST(rename_one_side)
{
	struct h_snap s;

	h_create(A, "Old");
	h_save(A, "Old", 1);
	ck_assert_int_eq(sync2(true), 0);
	ck_assert_int_eq(h_rename(B, "Old", "New"), 0);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &s);
	ck_assert_ptr_null(h_snap_box(&s, "Old"));
	ck_assert_uint_eq(box_of(&s, "New")->msgs.count, 1);
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(rename_both_newer_wins)
{
	struct h_snap s;

	h_create(A, "X");
	ck_assert_int_eq(sync2(true), 0);
	ck_assert_int_eq(h_rename(A, "X", "FromA"), 0);
	h_tick(10);
	ck_assert_int_eq(h_rename(B, "X", "FromB"), 0);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &s);
	ck_assert_ptr_nonnull(h_snap_box(&s, "FromB"));
	ck_assert_ptr_null(h_snap_box(&s, "FromA"));
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(rename_swap)
{
	struct h_snap s, before;

	h_create(A, "One");
	h_create(A, "Two");
	h_save(A, "One", 1);
	ck_assert_int_eq(sync2(true), 0);
	h_snap(A, &before);
	ck_assert_int_eq(h_rename(A, "One", "tmp"), 0);
	ck_assert_int_eq(h_rename(A, "Two", "One"), 0);
	ck_assert_int_eq(h_rename(A, "tmp", "Two"), 0);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(B, &s);
	ck_assert_uint_eq(box_of(&s, "Two")->msgs.count, 1);
	ck_assert(memcmp(box_of(&s, "Two")->guid, box_of(&before, "One")->guid,
	                 16) == 0);
	h_snap_free(&s);
	h_snap_free(&before);
	assert_noop();
}
END_TEST

START_TEST(rename_parent_child_swap)
{
	struct h_snap s, before;

	h_create(A, "p");
	h_create(A, "p/c");
	ck_assert_int_eq(sync2(true), 0);
	h_snap(A, &before);
	/* on B: p/c becomes top-level q, p moves below it as q/p */
	ck_assert_int_eq(h_rename(B, "p/c", "q"), 0);
	ck_assert_int_eq(h_rename(B, "p", "q/p"), 0);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &s);
	ck_assert(memcmp(box_of(&s, "q")->guid, box_of(&before, "p/c")->guid,
	                 16) == 0);
	ck_assert(memcmp(box_of(&s, "q/p")->guid, box_of(&before, "p")->guid,
	                 16) == 0);
	h_snap_free(&s);
	h_snap_free(&before);
	assert_noop();
}
END_TEST

START_TEST(delete_propagates)
{
	h_create(A, "Trash");
	h_create(A, "a");
	h_create(A, "a/b");
	h_create(A, "a/b/c");
	h_save(A, "Trash", 1);
	ck_assert_int_eq(sync2(true), 0);
	ck_assert_int_eq(h_delete(B, "Trash"), 0);
	ck_assert_int_eq(h_delete(B, "a/b/c"), 0);
	ck_assert_int_eq(h_delete(B, "a/b"), 0);
	ck_assert_int_eq(h_delete(B, "a"), 0);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	ck_assert_int_eq(h_count(A, "Trash"), -1);
	ck_assert_int_eq(h_count(A, "a/b/c"), -1);
	assert_noop();
}
END_TEST

START_TEST(delete_then_recreate_keeps_new)
{
	struct h_snap s;

	h_create(A, "Box");
	ck_assert_int_eq(sync2(true), 0);
	ck_assert_int_eq(h_delete(A, "Box"), 0);
	h_create(B, "Other");
	ck_assert_int_eq(h_delete(B, "Box"), 0);
	h_create(B, "Box"); /* new GUID, same name */
	h_save(B, "Box", 7);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &s);
	ck_assert_uint_eq(box_of(&s, "Box")->msgs.count, 1);
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(same_name_different_guid_merged)
{
	struct h_snap a, b;
	uint8_t ga[16], gb[16];

	memset(ga, 0x11, 16);
	memset(gb, 0x22, 16);
	ck_assert_int_eq(h_create_guid(A, "INBOX", ga, 100), 0);
	ck_assert_int_eq(h_create_guid(B, "INBOX", gb, 200), 0);
	h_save(A, "INBOX", 1);
	h_save(B, "INBOX", 2);
	h_save(B, "INBOX", 3);
	/* the default fast mode must not skip the merged mailbox */
	int code = sync2(false);
	ck_assert(code == 0 || code == 2);
	if (code == 2)
		ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &a);
	h_snap(B, &b);
	/* higher GUID, UIDVALIDITY of the side with more mails */
	ck_assert(memcmp(box_of(&a, "INBOX")->guid, gb, 16) == 0);
	ck_assert_uint_eq(box_of(&a, "INBOX")->uidvalidity, 200);
	ck_assert_uint_eq(box_of(&a, "INBOX")->msgs.count, 3);
	h_snap_free(&a);
	h_snap_free(&b);
	assert_noop();
}
END_TEST

START_TEST(subscriptions)
{
	struct h_snap s;

	h_create(A, "X");
	h_create(A, "Y");
	h_subscribe(A, "X", true);
	h_subscribe(B, "Ghost", true); /* non-existent mailbox */
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_subscribe(A, "X", false);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(B, &s);
	ck_assert_uint_eq(s.subs.count, 1);
	ck_assert_str_eq(s.subs.items[0], "Ghost");
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(duplicate_mailbox_guid_repaired)
{
	uint8_t g[16];

	memset(g, 0x33, 16);
	ck_assert_int_eq(h_create_guid(A, "copy1", g, 5), 0);
	ck_assert_int_eq(h_create_guid(A, "copy2", g, 5), 0);
	h_save(A, "copy1", 1);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	assert_noop();
}
END_TEST

START_TEST(separator_mismatch)
{
	struct mf_storage *c = h_open("c", ":SEP=.");
	struct mf_sync_params p;
	struct mf_sync_result r;
	struct h_snap s;

	h_create(A, "Lists/dev");
	h_create(A, "a.b");
	h_save(A, "Lists/dev", 1);
	h_params(&p);
	p.full = true;
	ck_assert_int_eq(h_sync(&p, A, c, &r), 0);
	mf_sync_result_free(&r);
	h_snap(c, &s);
	/* snapshots show '/' as separator */
	ck_assert_uint_eq(box_of(&s, "Lists/dev")->msgs.count, 1);
	ck_assert_ptr_nonnull(h_snap_box(&s, "a_b"));
	h_snap_free(&s);
	ck_assert_int_eq(h_sync(&p, A, c, &r), 0);
	ck_assert_uint_eq(r.boxes_renamed + r.boxes_created + r.msgs_saved, 0);
	mf_sync_result_free(&r);
	h_close(&c);
}
END_TEST

/* ---------------------------------------------------------- modes */

static int run_mode(enum mf_engine_mode mode, bool reverse)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	int code;

	h_params(&p);
	p.mode = mode;
	p.reverse = reverse;
	/* fast mode may skip a mailbox whose counters happen to agree
	 * (dsync's CHANGED false negative, reference §7.45) */
	p.full = true;
	code = h_sync(&p, A, B, &r);
	mf_sync_result_free(&r);
	return code;
}

START_TEST(backup_makes_identical)
{
	uint32_t u;

	h_create(A, "INBOX");
	u = h_save(A, "INBOX", 1);
	h_save(A, "INBOX", 2);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	assert_same();
	/* destination changes are reverted, its own mail removed, a box it
	 * created is deleted */
	h_save(B, "INBOX", 9);
	h_flags(B, "INBOX", u, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_DELETED,
	        NULL);
	h_create(B, "Junk");
	h_expunge(A, "INBOX", u);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	assert_same();
	ck_assert_int_eq(h_count(B, "Junk"), -1);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
}
END_TEST

START_TEST(backup_recreates_conflicting_box)
{
	h_create(A, "INBOX");
	h_save(A, "INBOX", 1);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	/* both got a different UID 2: the destination cannot keep it */
	h_save(A, "INBOX", 2);
	h_save(B, "INBOX", 3);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	assert_same();
}
END_TEST

START_TEST(backup_dry_run_recreate)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	struct h_snap b0, b1;
	char *d;

	h_create(A, "INBOX");
	h_save(A, "INBOX", 1);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	h_create(A, "Work");
	h_save(A, "Work", 4);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	h_save(A, "INBOX", 2);
	h_save(B, "INBOX", 3);
	h_save(A, "Work", 5);
	h_save(B, "Work", 6);
	h_snap(B, &b0);
	/* both mailboxes would be rebuilt (INBOX emptied in place): the
	 * dry run shows their messages saved again and changes nothing */
	h_params(&p);
	p.mode = MF_ENGINE_BACKUP;
	p.full = true;
	p.dry_run = true;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, 4);
	ck_assert_uint_eq(r.msgs_expunged, 2); /* INBOX emptied */
	ck_assert_uint_eq(r.msgs_flag_changed, 0);
	mf_sync_result_free(&r);
	h_snap(B, &b1);
	d = h_snap_diff(&b0, &b1, true);
	ck_assert_msg(d == NULL, "dry run changed B: %s", d);
	h_snap_free(&b0);
	h_snap_free(&b1);
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	assert_same();
}
END_TEST

/* Save text on st with the GUID of the message at uid of box on from. */
static uint32_t save_same_guid(struct mf_storage *st, struct mf_storage *from,
                               uint32_t uid, const char *text)
{
	struct h_snap s;
	const struct h_box *b;
	struct mailferry_mailbox *mb;
	struct mailferry_trans *t;
	struct mailferry_commit_result cr = {.struct_size = sizeof(cr)};
	struct mailferry_save sv = {.struct_size = sizeof(sv)};
	uint32_t got;

	h_snap(from, &s);
	b = box_of(&s, "INBOX");
	for (size_t i = 0; i < b->msgs.count; i++) {
		if (b->msgs.items[i].uid == uid)
			sv.guid = b->msgs.items[i].guid;
	}
	ck_assert_ptr_nonnull(sv.guid);
	ck_assert_int_eq(st->ops->mailbox_open(st->st, "INBOX", 0, &mb), 0);
	ck_assert_int_eq(st->ops->trans_begin(mb, 0, &t), 0);
	ck_assert_int_eq(st->ops->save_begin(t, &sv), 0);
	ck_assert_int_eq(st->ops->save_write(t, text, strlen(text)), 0);
	ck_assert_int_eq(st->ops->save_finish(t), 0);
	ck_assert_int_eq(st->ops->trans_commit(&t, &cr), 0);
	ck_assert_uint_eq(cr.saved_count, 1);
	got = cr.saved_uids[0];
	st->ops->mailbox_close(&mb);
	h_snap_free(&s);
	return got;
}

/* A message given a new UID on one side (same GUID, old UID expunged):
 * the other side copies it from the instance it is about to expunge
 * instead of transferring it, two-way (the expunge is a common one) and
 * in a backup (a destination-only UID). */
START_TEST(copy_from_expunged_instance)
{
	static const char text[] = "Message-ID: <moved@x>\n\nmoved\n";
	uint64_t before;
	uint32_t u;

	for (int mode = 0; mode < 2; mode++) {
		h_close(&A);
		h_close(&B);
		h_cleanup();
		h_init();
		A = h_open("a", NULL);
		B = h_open("b", NULL);
		h_create(A, "INBOX");
		u = h_save_text(A, "INBOX", text, 1000);
		for (unsigned int i = 0; i < 7; i++)
			h_save(A, "INBOX", 10 + i);
		ck_assert_int_eq(mode == 0 ? sync2(true)
		                           : run_mode(MF_ENGINE_BACKUP, false),
		                 0);
		save_same_guid(A, A, u, text);
		h_expunge(A, "INBOX", u);
		before = h_memdrv_counter(A, H_MEMDRV_COPIES);
		ck_assert_int_eq(mode == 0 ? sync2(true)
		                           : run_mode(MF_ENGINE_BACKUP, false),
		                 0);
		ck_assert_uint_eq(h_memdrv_counter(A, H_MEMDRV_COPIES) - before,
		                  1);
		assert_same();
		if (mode == 0)
			assert_noop();
		else
			ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
	}
}
END_TEST

/* Many messages renumbered on the source (same GUIDs at new UIDs): the
 * destination's old instances are expunged in batches while the walk goes
 * on; a message already expunged is never used as a copy source. */
START_TEST(backup_renumbered_many)
{
	static const unsigned int sizes[] = {20, 38, 47, 50};
	struct mf_sync_params p;
	struct mf_sync_result r;
	char text[160];

	for (unsigned int k = 0; k < MF_N_ELEMENTS(sizes) * 5; k++) {
		unsigned int n = sizes[k / 5], w = k % 5 + 1;

		h_close(&A);
		h_close(&B);
		h_cleanup();
		h_init();
		A = h_open("a", NULL);
		B = h_open("b", NULL);
		h_create(A, "INBOX");
		for (unsigned int i = 1; i <= n; i++)
			h_save(A, "INBOX", i);
		ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, false), 0);
		for (uint32_t u = 1; u <= n; u++) {
			/* the same body as h_save() gave it */
			snprintf(text, sizeof(text),
			         "Date: Mon, 1 Jan 2024 00:00:%02u +0000\n"
			         "Message-ID: <m%u@test>\n"
			         "Subject: message %u\n\nbody %u\n",
			         u % 60, u, u, u);
			save_same_guid(A, A, u, text);
			h_expunge(A, "INBOX", u);
		}
		h_params(&p);
		p.mode = MF_ENGINE_BACKUP;
		p.full = true;
		p.window = w;
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		ck_assert_msg(!r.changes_during_sync,
		              "%u messages, window %u: %s", n, w, r.reason);
		ck_assert_uint_eq(r.msgs_saved, n);
		ck_assert_uint_eq(r.msgs_expunged, n);
		mf_sync_result_free(&r);
		assert_same();
	}
}
END_TEST

START_TEST(backup_reverse)
{
	h_create(B, "INBOX");
	h_save(B, "INBOX", 1);
	h_create(A, "Local");
	ck_assert_int_eq(run_mode(MF_ENGINE_BACKUP, true), 0);
	assert_same();
	ck_assert_int_eq(h_count(A, "Local"), -1);
}
END_TEST

START_TEST(oneway_merge)
{
	struct h_snap a;

	h_create(A, "INBOX");
	h_save(A, "INBOX", 1);
	ck_assert_int_eq(run_mode(MF_ENGINE_ONEWAY, false), 0);
	h_save(B, "INBOX", 2); /* destination's own mail stays */
	h_save(A, "INBOX", 3);
	h_create(B, "DestOnly");
	ck_assert_int_eq(run_mode(MF_ENGINE_ONEWAY, false), 0);
	ck_assert_int_eq(h_count(B, "INBOX"), 3);
	ck_assert_int_eq(h_count(B, "DestOnly"), 0);
	h_snap(A, &a);
	ck_assert_uint_eq(box_of(&a, "INBOX")->msgs.count, 2);
	ck_assert_ptr_null(h_snap_box(&a, "DestOnly"));
	h_snap_free(&a);
	ck_assert_int_eq(run_mode(MF_ENGINE_ONEWAY, false), 0);
	ck_assert_int_eq(h_count(B, "INBOX"), 3);
}
END_TEST

START_TEST(dry_run_changes_nothing)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	struct h_snap a0, b0, a1, b1;
	char *d;

	h_create(A, "INBOX");
	h_save(A, "INBOX", 1);
	h_create(B, "Other");
	h_save(B, "Other", 2);
	h_snap(A, &a0);
	h_snap(B, &b0);
	h_params(&p);
	p.dry_run = true;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert_uint_eq(r.boxes_created, 2);
	ck_assert_uint_eq(r.msgs_saved, 2);
	mf_sync_result_free(&r);
	h_snap(A, &a1);
	h_snap(B, &b1);
	d = h_snap_diff(&a0, &a1, true);
	ck_assert_msg(d == NULL, "dry run changed A: %s", d);
	d = h_snap_diff(&b0, &b1, true);
	ck_assert_msg(d == NULL, "dry run changed B: %s", d);
	h_snap_free(&a0);
	h_snap_free(&b0);
	h_snap_free(&a1);
	h_snap_free(&b1);
}
END_TEST

START_TEST(filters)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	const char *ex[] = {"Spam*"};

	h_create(A, "INBOX");
	h_create(A, "Spam");
	h_create(A, "Spam2");
	h_create(A, "Work");
	h_save_text(A, "INBOX", "Message-ID: <old>\n\nold\n", 1000);
	h_save_text(A, "INBOX", "Message-ID: <new>\n\nnew\n", 5000);
	h_params(&p);
	p.excludes = ex;
	p.exclude_count = 1;
	p.received_after = 2000;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	ck_assert_int_eq(h_count(B, "Spam"), -1);
	ck_assert_int_eq(h_count(B, "Work"), 0);
	ck_assert_int_eq(h_count(B, "INBOX"), 1);
	/* -m: only that mailbox */
	h_save(A, "Work", 5);
	h_params(&p);
	p.mailbox = "INBOX";
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	ck_assert_int_eq(h_count(B, "Work"), 0);
	ck_assert_int_eq(h_count(B, "INBOX"), 2);
	/* -I: only small mails; -O: only mails with a flag */
	h_create(A, "Sized");
	h_save_text(A, "Sized", "Message-ID: <small>\n\ns\n", 5000);
	h_save_text(A, "Sized",
	            "Message-ID: <big>\n\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
	            5000);
	h_params(&p);
	p.mailbox = "Sized";
	p.max_size = 30;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	ck_assert_int_eq(h_count(B, "Sized"), 1);
	h_create(A, "Flagged");
	uint32_t fu = h_save(A, "Flagged", 90);
	h_save(A, "Flagged", 91);
	h_flags(A, "Flagged", fu, MAILFERRY_MODIFY_ADD, 0, "$Important");
	h_params(&p);
	p.mailbox = "Flagged";
	p.sync_flag = "$Important";
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	ck_assert_int_eq(h_count(B, "Flagged"), 1);
	/* and nothing is deleted because of a filter */
	ck_assert_int_eq(h_count(A, "Flagged"), 2);
	ck_assert_int_eq(h_count(A, "Sized"), 2);
	/* -e: received before */
	h_params(&p);
	p.received_before = 2000;
	p.mailbox = "Work";
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	ck_assert_int_eq(h_count(B, "Work"), 0);
}
END_TEST

/* ------------------------------------------------------------- state */

static char *sync_state(const char *state, int *code_r,
                        struct mf_sync_result *out)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	char *s;

	h_params(&p);
	p.state = state;
	*code_r = h_sync(&p, A, B, &r);
	s = mf_strdup(r.state != NULL ? r.state : "");
	if (out != NULL) {
		*out = r;
		out->state = out->reason = out->error = NULL;
	}
	mf_sync_result_free(&r);
	return s;
}

START_TEST(stateful_incremental)
{
	int code;
	char *st, *st2;
	uint32_t u;
	struct mf_sync_result r;

	h_create(A, "INBOX");
	u = h_save(A, "INBOX", 1);
	h_save(A, "INBOX", 2);
	st = sync_state("", &code, NULL);
	ck_assert_int_eq(code, 0);
	ck_assert_str_ne(st, "");
	/* unchanged: nothing to do */
	st2 = sync_state(st, &code, &r);
	ck_assert_int_eq(code, 0);
	ck_assert_uint_eq(r.msgs_saved + r.msgs_flag_changed, 0);
	free(st2);
	h_flags(B, "INBOX", u, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN, NULL);
	h_save(B, "INBOX", 3);
	h_expunge(A, "INBOX", u + 1);
	st2 = sync_state(st, &code, NULL);
	ck_assert_int_eq(code, 0);
	assert_same();
	ck_assert_int_eq(h_count(A, "INBOX"), 2);
	free(st);
	st = st2;
	/* corrupt state: warning + full sync, same result */
	h_save(A, "INBOX", 4);
	st2 = sync_state("garbage!", &code, NULL);
	ck_assert_int_eq(code, 0);
	assert_same();
	free(st2);
	/* history gone: fall back to a full compare */
	h_save(B, "INBOX", 5);
	ck_assert_int_eq(A->ops->ctl(A->st, 1000, NULL), 0);
	ck_assert_int_eq(B->ops->ctl(B->st, 1000, NULL), 0);
	h_save(A, "INBOX", 6);
	st2 = sync_state(st, &code, NULL);
	ck_assert_int_eq(code, 0);
	assert_same();
	ck_assert_int_eq(h_count(A, "INBOX"), 5);
	free(st);
	free(st2);
	assert_noop();
}
END_TEST

START_TEST(stateful_reads_only_changes)
{
	/* with a state, a sync reads what changed, not every message */
	int code;
	char *st, *st2;
	uint64_t before, full_cost, state_cost;
	struct mf_sync_result r;

	h_create(A, "INBOX");
	for (unsigned int i = 1; i <= 200; i++)
		h_save(A, "INBOX", i);
	st = sync_state("", &code, NULL);
	ck_assert_int_eq(code, 0);
	h_flags(B, "INBOX", 7, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN, NULL);
	h_save(A, "INBOX", 201);
	before = h_memdrv_counter(A, H_MEMDRV_LISTED);
	st2 = sync_state(st, &code, &r);
	state_cost = h_memdrv_counter(A, H_MEMDRV_LISTED) - before;
	ck_assert_int_eq(code, 0);
	ck_assert_uint_eq(r.msgs_saved, 1);
	ck_assert_uint_eq(r.msgs_flag_changed, 1);
	assert_same();
	before = h_memdrv_counter(A, H_MEMDRV_LISTED);
	ck_assert_int_eq(sync2(true), 0);
	full_cost = h_memdrv_counter(A, H_MEMDRV_LISTED) - before;
	fprintf(stderr, "messages read: stateful %llu, full %llu\n",
	        (unsigned long long)state_cost, (unsigned long long)full_cost);
	ck_assert_msg(state_cost < 20 && full_cost >= 400,
	              "stateful read %llu messages, full %llu",
	              (unsigned long long)state_cost,
	              (unsigned long long)full_cost);
	free(st);
	free(st2);
}
END_TEST

START_TEST(state_from_the_future)
{
	/* a store restored from an older backup: the saved state is newer
	 * than the mailbox; it must be detected, never trusted */
	int code;
	char *st, *st2, *cmd;

	h_create(A, "INBOX");
	h_save(A, "INBOX", 1);
	st = sync_state("", &code, NULL);
	ck_assert_int_eq(code, 0);
	h_close(&B);
	cmd = mf_strdup_printf("cp -a '%s/b' '%s/b-old'", h_dir(), h_dir());
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	B = h_open("b", NULL);
	h_save(A, "INBOX", 2);
	h_save(A, "INBOX", 3);
	free(st);
	st = sync_state("", &code, NULL);
	ck_assert_int_eq(code, 0);
	/* restore B's old copy; A gets one more mail */
	h_close(&B);
	cmd = mf_strdup_printf("rm -rf '%s/b' && mv '%s/b-old' '%s/b'", h_dir(),
	                       h_dir(), h_dir());
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	B = h_open("b", NULL);
	h_save(A, "INBOX", 4);
	st2 = sync_state(st, &code, NULL);
	ck_assert_int_eq(code, 0);
	assert_same();
	ck_assert_int_eq(h_count(B, "INBOX"), 4);
	free(st);
	free(st2);
	assert_noop();
}
END_TEST

START_TEST(user_lock)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	char *path = mf_strdup_printf("%s/lock", h_dir());
	int fds[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		/* another sync holding the per-user lock */
		int fd = open(path, O_RDWR | O_CREAT, 0600);
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		sleep(5);
		_exit(0);
	}
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	h_params(&p);
	p.lock_path = path;
	p.lock_secs = 1;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 75);
	ck_assert_ptr_nonnull(strstr(r.error, "locked"));
	mf_sync_result_free(&r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* free again */
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	free(path);
}
END_TEST

START_TEST(purge_destination)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	uint32_t u;
	char *cmd;

	h_create(A, "INBOX");
	u = h_save(A, "INBOX", 1);
	h_save(A, "INBOX", 2);
	ck_assert_int_eq(sync2(true), 0);
	h_expunge(A, "INBOX", u);
	h_params(&p);
	p.purge = true;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	/* memdrv keeps expunged bodies until purged: B has 1 left */
	cmd = mf_strdup_printf("test $(ls '%s/b/msg' | wc -l) -eq 1", h_dir());
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}
END_TEST

START_TEST(mailbox_guid_filter)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	struct h_snap s;
	char hex[33];

	h_create(A, "One");
	h_create(A, "Two");
	h_snap(A, &s);
	mf_hex_encode(box_of(&s, "Two")->guid, 16, hex);
	h_snap_free(&s);
	h_params(&p);
	p.mailbox_guid = hex;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	mf_sync_result_free(&r);
	ck_assert_int_eq(h_count(B, "Two"), 0);
	ck_assert_int_eq(h_count(B, "One"), -1);
}
END_TEST

START_TEST(same_body_twice_in_mailbox)
{
	struct h_snap s;
	static const char text[] = "Message-ID: <same@x>\n\nsame\n";

	h_create(A, "INBOX");
	h_save_text(A, "INBOX", text, 1000);
	h_save_text(A, "INBOX", text, 1000);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(B, &s);
	ck_assert_uint_eq(box_of(&s, "INBOX")->msgs.count, 2);
	h_snap_free(&s);
	assert_noop();
}
END_TEST

START_TEST(many_messages_batched)
{
	struct mf_sync_params p;
	struct mf_sync_result r;

	h_create(A, "INBOX");
	/* one transaction with many saves on A */
	struct mailferry_mailbox *mb;
	struct mailferry_trans *t;
	ck_assert_int_eq(A->ops->mailbox_open(A->st, "INBOX", 0, &mb), 0);
	ck_assert_int_eq(A->ops->trans_begin(mb, 0, &t), 0);
	for (unsigned int i = 0; i < 2500; i++) {
		struct mailferry_save sv = {.struct_size = sizeof(sv)};
		char *txt =
		    mf_strdup_printf("Message-ID: <n%u@x>\n\n%u\n", i, i);
		ck_assert_int_eq(A->ops->save_begin(t, &sv), 0);
		ck_assert_int_eq(A->ops->save_write(t, txt, strlen(txt)), 0);
		ck_assert_int_eq(A->ops->save_finish(t), 0);
		free(txt);
	}
	ck_assert_int_eq(A->ops->trans_commit(&t, NULL), 0);
	A->ops->mailbox_close(&mb);
	h_params(&p);
	p.commit_interval = 100;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, 2500);
	mf_sync_result_free(&r);
	assert_same();
	assert_noop();
}
END_TEST

/* ------------------------------------------------------- interruptions */

typedef MF_ARRAY(char *) guidlist;

static int cmp_strp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* "mailbox/guid" of every message of both stores before the sync, minus
 * what one side expunged: what must exist exactly once afterwards */
static void guids_of(struct mf_storage *st, guidlist *out)
{
	struct h_snap s;

	h_snap(st, &s);
	for (size_t i = 0; i < s.boxes.count; i++) {
		const struct h_box *b = &s.boxes.items[i];
		for (size_t k = 0; k < b->msgs.count; k++)
			mf_array_push(out,
			              mf_strdup_printf("%s/%s", b->name,
			                               b->msgs.items[k].guid));
	}
	h_snap_free(&s);
	mf_qsort(out->items, out->count, sizeof(char *), cmp_strp);
}

static void guids_free(guidlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	mf_array_free(l);
}

/* A pair with new mail on both sides in the same mailbox (UID
 * conflicts: both sides' mails get new UIDs by moves), new mail in
 * another mailbox, flag changes and expunges. */
static void crash_setup(guidlist *want)
{
	guidlist a = MF_ARRAY_INIT, b = MF_ARRAY_INIT, c = MF_ARRAY_INIT;
	unsigned int n = 0;

	h_create(A, "INBOX");
	h_create(A, "Work");
	for (int i = 0; i < 12; i++)
		h_save(A, "INBOX", ++n);
	ck_assert_int_eq(sync2(true), 0);
	guids_of(A, &c);
	for (int i = 0; i < 9; i++)
		h_save(A, "INBOX", ++n);
	for (int i = 0; i < 7; i++)
		h_save(B, "INBOX", ++n);
	for (int i = 0; i < 5; i++)
		h_save(B, "Work", ++n);
	h_flags(A, "INBOX", 2, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN, NULL);
	h_expunge(B, "INBOX", 3);
	h_expunge(A, "INBOX", 5);
	guids_of(A, &a);
	guids_of(B, &b);
	/* the union, common messages once, without those that were common
	 * and one side expunged */
	for (size_t i = 0, j = 0; i < a.count || j < b.count;) {
		int d = i == a.count   ? 1
		        : j == b.count ? -1
		                       : strcmp(a.items[i], b.items[j]);
		const char *g = d <= 0 ? a.items[i] : b.items[j];
		i += d <= 0;
		j += d >= 0;
		if (d != 0 && mf_bsearch(&g, c.items, c.count, sizeof(char *),
		                         cmp_strp) != NULL)
			continue;
		mf_array_push(want, mf_strdup(g));
	}
	guids_free(&a);
	guids_free(&b);
	guids_free(&c);
}

/* Kill (MEMDRV_CRASH_AFTER) a two-way sync after its 1st, 2nd, ...
 * durable change, then run it to the end: every message exactly once on
 * both sides, nothing expunged comes back, a further run is a no-op. */
static void crash_loop(bool full)
{
	for (unsigned int n = 1;; n++) {
		guidlist want = MF_ARRAY_INIT, got = MF_ARRAY_INIT;
		struct mf_sync_params p;
		struct mf_sync_result r;
		int status, code = 2;
		pid_t pid;

		h_close(&A);
		h_close(&B);
		h_cleanup();
		h_init();
		A = h_open("a", NULL);
		B = h_open("b", NULL);
		crash_setup(&want);
		fflush(NULL);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			char num[16];
			snprintf(num, sizeof(num), "%u", n);
			setenv("MEMDRV_CRASH_AFTER", num, 1);
			h_params(&p);
			p.full = full;
			p.commit_interval = 2;
			_exit(h_sync(&p, A, B, &r));
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status));
		/* the stores changed under this process: read them anew */
		h_close(&A);
		h_close(&B);
		A = h_open("a", NULL);
		B = h_open("b", NULL);
		for (int i = 0; i < 3 && code == 2; i++)
			code = sync2(full);
		ck_assert_msg(code == 0, "crash after %u: rerun exit %d", n,
		              code);
		assert_same();
		guids_of(A, &got);
		for (size_t i = 0; i < MF_MAX(want.count, got.count); i++) {
			const char *w = i < want.count ? want.items[i] : "-";
			const char *g = i < got.count ? got.items[i] : "-";
			ck_assert_msg(strcmp(w, g) == 0,
			              "crash after change %u (%s): want %s, "
			              "have %s (%zu vs %zu messages)",
			              n, full ? "full" : "fast", w, g,
			              want.count, got.count);
		}
		guids_free(&want);
		guids_free(&got);
		assert_noop();
		if (WEXITSTATUS(status) != 77)
			break; /* the sync ran to its end: every point done */
	}
}

/* Real stores for the tree tests below: loop index i picks the pair. */
static const char *const tree_pairs[][2] = {
    {"sdbox:@DIR@/tp-a", "maildir:@DIR@/tp-b"},
    {"maildir:@DIR@/tp-a", "sdbox:@DIR@/tp-b"},
    {"maildir:@DIR@/tp-a", "maildir:@DIR@/tp-b"},
    {"mdbox:@DIR@/tp-a", "maildir:@DIR@/tp-b"},
    {"memdrv:@DIR@/tp-a", "maildir:@DIR@/tp-b"},
    {"maildir:@DIR@/tp-a", "mdbox:@DIR@/tp-b"},
};

static void open_pair(int i)
{
	h_close(&A);
	h_close(&B);
	A = h_open_loc(tree_pairs[i][0]);
	B = h_open_loc(tree_pairs[i][1]);
}

/* A parent deleted before its child on one side (model seed 412): the
 * other side deletes both and keeps no directory of the parent, so the
 * run creates nothing and a second run deletes nothing. */
START_TEST(tree_delete_parent_then_child)
{
	struct mf_sync_params p;
	struct mf_sync_result r;

	open_pair(_i);
	h_create(A, "Lists");
	h_create(A, "Lists/x");
	h_save(A, "Lists", 1);
	h_save(A, "Lists/x", 1);
	h_create(A, "Work");
	ck_assert_int_eq(sync2(true), 0);
	h_tick(2);
	ck_assert_int_eq(h_delete(A, "Lists"), 0);
	ck_assert_int_eq(h_delete(A, "Lists/x"), 0);
	h_params(&p);
	p.full = true;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert_msg(r.boxes_deleted == 2 && r.boxes_created == 0,
	              "%s: %u deleted, %u created", tree_pairs[_i][1],
	              r.boxes_deleted, r.boxes_created);
	mf_sync_result_free(&r);
	assert_same();
	h_tick(2);
	assert_noop();
}
END_TEST

/* The only child of a parent that exists only through it is deleted on
 * one side (model seeds 20003, 20007): the parent goes with it on both
 * sides; the other side's directory is neither created nor deleted. */
START_TEST(tree_delete_only_child)
{
	struct mf_sync_params p;
	struct mf_sync_result r;

	open_pair(_i % 6);
	h_create(A, "Lists/x");
	h_save(A, "Lists/x", 1);
	ck_assert_int_eq(sync2(true), 0);
	h_tick(2);
	ck_assert_int_eq(h_delete(_i < 6 ? B : A, "Lists/x"), 0);
	h_params(&p);
	p.full = true;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert_msg(r.boxes_deleted == 1 && r.boxes_created == 0,
	              "%s/%s: %u deleted, %u created", tree_pairs[_i % 6][0],
	              tree_pairs[_i % 6][1], r.boxes_deleted, r.boxes_created);
	mf_sync_result_free(&r);
	assert_same();
	h_tick(2);
	assert_noop();
}
END_TEST

/* A mailbox with a child deleted on one side, the child on the other
 * (model seed 20003 with memdrv, which keeps the parent's directory):
 * both go on both sides, nothing comes back. */
START_TEST(tree_delete_parent_here_child_there)
{
	open_pair(_i);
	h_create(A, "Work");
	h_create(A, "Work/a");
	h_save(A, "Work", 1);
	h_save(A, "Work/a", 1);
	ck_assert_int_eq(sync2(true), 0);
	h_tick(2);
	ck_assert_int_eq(h_delete(A, "Work"), 0);
	ck_assert_int_eq(h_delete(B, "Work/a"), 0);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_tick(2);
	assert_noop();
}
END_TEST

/* The only child of a parent that exists only through it is renamed away
 * on one side (model seed 30007): the other side renames it too and its
 * parent goes; no directory is created or deleted, now or next run. */
START_TEST(tree_rename_only_child_away)
{
	struct mf_sync_params p;
	struct mf_sync_result r;

	open_pair(_i % 6);
	h_create(A, "Work/a");
	h_save(A, "Work/a", 1);
	ck_assert_int_eq(sync2(true), 0);
	h_tick(2);
	ck_assert_int_eq(h_rename(_i < 6 ? B : A, "Work/a", "Moved"), 0);
	h_params(&p);
	p.full = true;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert_msg(r.boxes_renamed == 1 && r.boxes_created == 0 &&
	                  r.boxes_deleted == 0,
	              "%s/%s: %u renamed, %u created, %u deleted",
	              tree_pairs[_i % 6][0], tree_pairs[_i % 6][1],
	              r.boxes_renamed, r.boxes_created, r.boxes_deleted);
	mf_sync_result_free(&r);
	assert_same();
	h_tick(2);
	assert_noop();
}
END_TEST

/* Renaming onto a name that exists only as the parent of another mailbox
 * on the other side (model seed 419): Work/a created on A while B renamed
 * Lists to Work. Both end with Work (Lists' GUID), Work/x and Work/a. */
START_TEST(tree_rename_onto_implied_parent)
{
	struct h_snap a;

	open_pair(_i);
	h_create(A, "Lists");
	h_create(A, "Lists/x");
	h_save(A, "Lists", 1);
	ck_assert_int_eq(sync2(true), 0);
	h_tick(2);
	h_create(A, "Work/a");
	ck_assert_int_eq(h_rename(B, "Lists", "Work"), 0);
	ck_assert_int_eq(sync2(true), 0);
	assert_same();
	h_snap(A, &a);
	ck_assert_ptr_nonnull(h_snap_box(&a, "Work"));
	ck_assert_ptr_nonnull(h_snap_box(&a, "Work/x"));
	ck_assert_ptr_nonnull(h_snap_box(&a, "Work/a"));
	ck_assert_ptr_null(h_snap_box(&a, "Lists"));
	h_snap_free(&a);
	h_tick(2);
	assert_noop();
}
END_TEST

START_TEST(crash_anywhere_twoway)
{
	crash_loop(_i == 1);
}
END_TEST

/* ----------------------------------------------------------- model test */

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return n == 0 ? 0 : (uint32_t)((r->s >> 33) % n);
}

static const char *const box_names[] = {"INBOX", "Work",    "Work/a",
                                        "Lists", "Lists/x", "Trash"};

/* Message GUIDs that must survive: (msg guid) for every live message. */
typedef MF_ARRAY(char *) strlist;

static bool list_has(const strlist *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->items[i], s) == 0)
			return true;
	}
	return false;
}

static void list_del(strlist *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->items[i], s) == 0) {
			free(l->items[i]);
			l->items[i] = l->items[--l->count];
			return;
		}
	}
}

static void list_free(strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	mf_array_free(l);
}

/* name with the store's hierarchy separator (static buffer) */
static const char *real_name(struct mf_storage *st, const char *name)
{
	static char buf[128];

	mf_strlcpy(buf, name, sizeof(buf));
	for (char *c = buf; *c != '\0'; c++) {
		if (*c == '/')
			*c = st->info->hier_sep;
	}
	return buf;
}

/* Random changes on one store. Messages are identified by their body
 * (unique per save) so that stores without GUIDs work the same. */
static void random_ops(struct rng *r, struct mf_storage *st, strlist *live,
                       strlist *deleted, unsigned int *msgno, unsigned int nops)
{
	for (unsigned int i = 0; i < nops; i++) {
		struct h_snap s;
		uint32_t op = rnd(r, 100);
		const char *name = box_names[rnd(r, MF_N_ELEMENTS(box_names))];
		const struct h_box *b;

		h_snap(st, &s);
		b = h_snap_box(&s, name);
		if (op < 8) {
			if (b == NULL)
				(void)h_create_guid(st, real_name(st, name),
				                    NULL, 0);
		} else if (op < 12) {
			if (b != NULL && !b->dir &&
			    strcmp(name, "INBOX") != 0) {
				char hex[33];
				for (size_t k = 0; k < b->msgs.count; k++)
					list_del(live,
					         b->msgs.items[k].body_md5);
				mf_hex_encode(b->guid, 16, hex);
				if (h_delete(st, b->real) == 0)
					mf_array_push(deleted, mf_strdup(hex));
			}
		} else if (op < 16) {
			const char *to =
			    box_names[rnd(r, MF_N_ELEMENTS(box_names))];
			if (b != NULL && !b->dir && strcmp(name, "INBOX") != 0)
				(void)h_rename(st, b->real, real_name(st, to));
		} else if (op < 20) {
			h_subscribe(st, real_name(st, name), rnd(r, 2) == 0);
		} else if (op < 60) {
			if (b != NULL && !b->dir) {
				struct h_snap s2;
				uint32_t uid = h_save(st, b->real, ++*msgno);
				h_snap(st, &s2);
				const struct h_box *b2 = h_snap_box(&s2, name);
				for (size_t k = 0; k < b2->msgs.count; k++) {
					if (b2->msgs.items[k].uid == uid)
						mf_array_push(
						    live,
						    mf_strdup(b2->msgs.items[k]
						                  .body_md5));
				}
				h_snap_free(&s2);
			}
		} else if (op < 85) {
			if (b != NULL && !b->dir && b->msgs.count > 0) {
				const struct h_msg *m = &b->msgs.items[rnd(
				    r, (uint32_t)b->msgs.count)];
				static const char *const kws[] = {
				    NULL, "$Work", "$Later", "Junk"};
				h_flags(st, b->real, m->uid,
				        (enum mailferry_modify)rnd(r, 2),
				        1u << rnd(r, 5), kws[rnd(r, 4)]);
			}
		} else {
			if (b != NULL && !b->dir && b->msgs.count > 0) {
				const struct h_msg *m = &b->msgs.items[rnd(
				    r, (uint32_t)b->msgs.count)];
				list_del(live, m->body_md5);
				h_expunge(st, b->real, m->uid);
			}
		}
		h_snap_free(&s);
	}
}

/* After a sync: no message twice on a side, and every live message on
 * at least one side (A == B is checked separately). */
static void check_live(const strlist *live, uint64_t seed, unsigned int round)
{
	strlist seen = MF_ARRAY_INIT;
	struct mf_storage *sides[2] = {A, B};

	for (int side = 0; side < 2; side++) {
		struct h_snap s;
		strlist mine = MF_ARRAY_INIT;

		h_snap(sides[side], &s);
		for (size_t i = 0; i < s.boxes.count; i++) {
			const struct h_box *b = &s.boxes.items[i];
			for (size_t k = 0; k < b->msgs.count; k++) {
				const char *g = b->msgs.items[k].body_md5;
				ck_assert_msg(!list_has(&mine, g),
				              "seed %llu round %u: message %s "
				              "twice on side %d",
				              (unsigned long long)seed, round,
				              g, side);
				mf_array_push(&mine, mf_strdup(g));
				mf_array_push(&seen, mf_strdup(g));
			}
		}
		list_free(&mine);
		h_snap_free(&s);
	}
	for (size_t i = 0; i < live->count; i++)
		ck_assert_msg(list_has(&seen, live->items[i]),
		              "seed %llu round %u: message %s lost",
		              (unsigned long long)seed, round, live->items[i]);
	list_free(&seen);
}

enum algo { ALGO_FULL, ALGO_FAST, ALGO_STATE };

/* Run `rounds` rounds of random changes on both sides followed by a sync;
 * returns the final snapshot of A for comparisons between algorithms. */
enum kind {
	KIND_MEM,
	KIND_SEP,
	KIND_HASH,
	KIND_MAILDIR,
	KIND_MIXED,
	KIND_MAILDIR_SDBOX,
	KIND_MAILDIR_MDBOX,
	KIND_SDBOX_MDBOX,
	KIND_SDBOX_MAILDIR,
	KIND_MDBOX_MAILDIR,
	KIND_MDBOX_SDBOX,
};
static bool model_verbose;

static void dump_both(const char *when)
{
	struct h_snap a, b;
	char *da, *db;

	h_snap(A, &a);
	h_snap(B, &b);
	da = h_snap_dump(&a);
	db = h_snap_dump(&b);
	fprintf(stderr, "--- %s\nA:\n%sB:\n%s", when, da, db);
	free(da);
	free(db);
	h_snap_free(&a);
	h_snap_free(&b);
}

static const char *const kind_loc[][2] = {
    [KIND_MEM] = {"memdrv:@DIR@/%s-a", "memdrv:@DIR@/%s-b"},
    [KIND_SEP] = {"memdrv:@DIR@/%s-a", "memdrv:@DIR@/%s-b:SEP=."},
    [KIND_HASH] = {"memdrv:@DIR@/%s-a:NOGUIDS=1",
                   "memdrv:@DIR@/%s-b:NOGUIDS=1"},
    [KIND_MAILDIR] = {"maildir:@DIR@/%s-a", "maildir:@DIR@/%s-b"},
    [KIND_MIXED] = {"memdrv:@DIR@/%s-a", "maildir:@DIR@/%s-b"},
    [KIND_MAILDIR_SDBOX] = {"maildir:@DIR@/%s-a", "sdbox:@DIR@/%s-b"},
    [KIND_MAILDIR_MDBOX] = {"maildir:@DIR@/%s-a", "mdbox:@DIR@/%s-b"},
    [KIND_SDBOX_MDBOX] = {"sdbox:@DIR@/%s-a", "mdbox:@DIR@/%s-b"},
    [KIND_SDBOX_MAILDIR] = {"sdbox:@DIR@/%s-a", "maildir:@DIR@/%s-b"},
    [KIND_MDBOX_MAILDIR] = {"mdbox:@DIR@/%s-a", "maildir:@DIR@/%s-b"},
    [KIND_MDBOX_SDBOX] = {"mdbox:@DIR@/%s-a", "sdbox:@DIR@/%s-b"},
};

/* Replace A and B by fresh stores of kind, named after tag. */
static void model_open(enum kind kind, const char *tag)
{
	char loc[256];

	h_close(&A);
	h_close(&B);
	/* Maildir++ cannot hold an empty directory that memdrv can, and a
	 * dbox store keeps a deleted parent's directory as \NoSelect where
	 * another format has none: non-selectable entries are compared only
	 * between stores of one kind */
	h_snap_no_dirs = kind == KIND_MIXED || kind >= KIND_MAILDIR_SDBOX;
	snprintf(loc, sizeof(loc), kind_loc[kind][0], tag);
	A = h_open_loc(loc);
	snprintf(loc, sizeof(loc), kind_loc[kind][1], tag);
	B = h_open_loc(loc);
	if (kind == KIND_MAILDIR || kind >= KIND_MAILDIR_SDBOX) {
		/* (Maildir++ always has an INBOX; dbox stores get one the
		 * same way so that the trees can agree) */
		h_create(A, "INBOX");
		h_create(B, "INBOX");
	} else if (kind == KIND_MIXED) {
		h_create(A, "INBOX"); /* maildir always has one */
	}
}

static void model_run(uint64_t seed, unsigned int rounds, enum algo algo,
                      enum kind kind, struct h_snap *final_r)
{
	struct rng r = {seed * 2654435761u + 7};
	strlist live = MF_ARRAY_INIT;
	unsigned int msgno = 0;
	char *state = mf_strdup("");
	char seedbuf[64];

	/* the same seed gives the same GUIDs whatever the algorithm */
	static unsigned int run;
	snprintf(seedbuf, sizeof(seedbuf), "%llu#%u", (unsigned long long)seed,
	         ++run);
	setenv("MEMDRV_SEED", seedbuf, 1);
	snprintf(seedbuf, sizeof(seedbuf), "s%llu-%d-%d",
	         (unsigned long long)seed, (int)algo, (int)kind);
	model_open(kind, seedbuf);
	fprintf(stderr,
	        "model: seed %llu, %u rounds, algorithm %d, stores %s / %s\n",
	        (unsigned long long)seed, rounds, (int)algo, kind_loc[kind][0],
	        kind_loc[kind][1]);
	for (unsigned int round = 0; round < rounds; round++) {
		struct mf_sync_params p;
		struct mf_sync_result res;
		int code;

		if (model_verbose)
			dump_both("before round");
		strlist deleted = MF_ARRAY_INIT;
		random_ops(&r, A, &live, &deleted, &msgno, rnd(&r, 6));
		random_ops(&r, B, &live, &deleted, &msgno, rnd(&r, 6));
		/* a mailbox deleted on one side is deleted on the other too,
		 * with the mail the other side put in it meanwhile (dsync:
		 * mailbox deletion always applies) */
		for (int side = 0; side < 2 && deleted.count > 0; side++) {
			struct h_snap ds;
			h_snap(side == 0 ? A : B, &ds);
			for (size_t i = 0; i < ds.boxes.count; i++) {
				const struct h_box *db = &ds.boxes.items[i];
				char hex[33];
				mf_hex_encode(db->guid, 16, hex);
				if (!list_has(&deleted, hex))
					continue;
				for (size_t k = 0; k < db->msgs.count; k++)
					list_del(&live,
					         db->msgs.items[k].body_md5);
			}
			h_snap_free(&ds);
		}
		list_free(&deleted);
		if (model_verbose) {
			fprintf(stderr, "=== round %u\n", round);
			dump_both("after changes");
		}
		h_params(&p);
		p.full = algo == ALGO_FULL;
		p.state = algo == ALGO_STATE ? state : NULL;
		code = h_sync(&p, A, B, &res);
		if (algo == ALGO_STATE) {
			free(state);
			state = mf_strdup(res.state != NULL ? res.state : "");
		}
		if (code == 0 && algo == ALGO_FAST) {
			/* fast mode skips mailboxes whose UIDVALIDITY,
			 * UIDNEXT, HIGHESTMODSEQ and count agree even when
			 * their contents differ (dsync's CHANGED false
			 * negative, reference §7.45): nothing may be lost,
			 * and the periodic full sync converges */
			check_live(&live, seed, round);
			mf_sync_result_free(&res);
			h_params(&p);
			p.full = true;
			code = h_sync(&p, A, B, &res);
		}
		if (code == 2) {
			/* allowed: a second run finishes it */
			mf_sync_result_free(&res);
			h_params(&p);
			p.full = true;
			code = h_sync(&p, A, B, &res);
		}
		ck_assert_msg(code == 0, "seed %llu round %u: exit %d (%s)",
		              (unsigned long long)seed, round, code,
		              res.reason != NULL  ? res.reason
		              : res.error != NULL ? res.error
		                                  : "");
		mf_sync_result_free(&res);
		{
			struct h_snap a, b;
			char *diff;
			h_snap(A, &a);
			h_snap(B, &b);
			diff = h_snap_diff(&a, &b, true);
			if (diff != NULL) {
				char *da = h_snap_dump(&a),
				     *db = h_snap_dump(&b);
				ck_abort_msg(
				    "seed %llu round %u: %s\nA:\n%sB:\n%s",
				    (unsigned long long)seed, round, diff, da,
				    db);
			}
			h_snap_free(&a);
			h_snap_free(&b);
		}
		if (model_verbose)
			dump_both("after sync");
		check_live(&live, seed, round);
		/* the second run is a no-op (memdrv <-> maildir: an empty
		 * directory memdrv keeps is "created" again on the Maildir++
		 * side each run, which cannot hold one; known limitation) */
		h_params(&p);
		p.full = true;
		code = h_sync(&p, A, B, &res);
		ck_assert_msg(
		    code == 0 && res.msgs_saved == 0 &&
		        res.msgs_expunged == 0 && res.msgs_flag_changed == 0 &&
		        (res.boxes_created == 0 || h_snap_no_dirs) &&
		        res.boxes_deleted == 0 && res.boxes_renamed == 0,
		    "seed %llu round %u: second run not a no-op "
		    "(exit %d, %llu saved, %llu expunged, %llu flags, "
		    "%u/%u/%u boxes)",
		    (unsigned long long)seed, round, code,
		    (unsigned long long)res.msgs_saved,
		    (unsigned long long)res.msgs_expunged,
		    (unsigned long long)res.msgs_flag_changed,
		    res.boxes_created, res.boxes_deleted, res.boxes_renamed);
		mf_sync_result_free(&res);
	}
	if (final_r != NULL)
		h_snap(A, final_r);
	list_free(&live);
	free(state);
}

/* backup / -1 with random changes on both sides: the source never
 * changes; backup makes the destination identical; -1 gives the
 * destination every source message and keeps its own ones. */
static void model_oneway(uint64_t seed, unsigned int rounds,
                         enum mf_engine_mode mode)
{
	struct rng r = {seed * 2654435761u + 11};
	strlist live = MF_ARRAY_INIT, deleted = MF_ARRAY_INIT;
	unsigned int msgno = 0;
	char tag[64];

	snprintf(tag, sizeof(tag), "%llu#mode%d", (unsigned long long)seed,
	         (int)mode);
	setenv("MEMDRV_SEED", tag, 1);
	snprintf(tag, sizeof(tag), "o%llu-%d", (unsigned long long)seed,
	         (int)mode);
	model_open(KIND_MEM, tag);
	fprintf(stderr, "model: seed %llu, %u rounds, mode %d\n",
	        (unsigned long long)seed, rounds, (int)mode);
	for (unsigned int round = 0; round < rounds; round++) {
		struct mf_sync_params p;
		struct mf_sync_result res;
		struct h_snap a0, a1, b1;
		char *diff;
		int code;

		random_ops(&r, A, &live, &deleted, &msgno, rnd(&r, 6));
		/* destination changes only matter to -1 */
		random_ops(&r, B, &live, &deleted, &msgno, rnd(&r, 4));
		h_snap(A, &a0);
		h_params(&p);
		p.mode = mode;
		p.full = true;
		code = h_sync(&p, A, B, &res);
		if (code == 2) {
			mf_sync_result_free(&res);
			code = h_sync(&p, A, B, &res);
		}
		ck_assert_msg(code == 0, "seed %llu round %u: exit %d (%s)",
		              (unsigned long long)seed, round, code,
		              res.reason != NULL  ? res.reason
		              : res.error != NULL ? res.error
		                                  : "");
		mf_sync_result_free(&res);
		h_snap(A, &a1);
		diff = h_snap_diff(&a0, &a1, true);
		ck_assert_msg(diff == NULL,
		              "seed %llu round %u: source changed: %s",
		              (unsigned long long)seed, round, diff);
		h_snap(B, &b1);
		if (mode == MF_ENGINE_BACKUP) {
			diff = h_snap_diff(&a1, &b1, true);
			if (diff != NULL) {
				char *da = h_snap_dump(&a1),
				     *db = h_snap_dump(&b1);
				ck_abort_msg(
				    "seed %llu round %u: %s\nA:\n%sB:\n%s",
				    (unsigned long long)seed, round, diff, da,
				    db);
			}
		} else {
			/* every source message is in the destination */
			strlist inb = MF_ARRAY_INIT;
			for (size_t i = 0; i < b1.boxes.count; i++)
				for (size_t k = 0;
				     k < b1.boxes.items[i].msgs.count; k++)
					mf_array_push(
					    &inb, mf_strdup(b1.boxes.items[i]
					                        .msgs.items[k]
					                        .body_md5));
			for (size_t i = 0; i < a1.boxes.count; i++) {
				const struct h_box *ab = &a1.boxes.items[i];
				if (h_snap_box(&b1, ab->name) == NULL)
					continue; /* deleted on the destination */
				for (size_t k = 0; k < ab->msgs.count; k++)
					ck_assert_msg(
					    list_has(
					        &inb,
					        ab->msgs.items[k].body_md5),
					    "seed %llu round %u: source "
					    "message "
					    "%s missing in the destination",
					    (unsigned long long)seed, round,
					    ab->msgs.items[k].body_md5);
			}
			list_free(&inb);
		}
		h_snap_free(&a0);
		h_snap_free(&a1);
		h_snap_free(&b1);
		/* a second run changes nothing */
		code = h_sync(&p, A, B, &res);
		ck_assert_msg(code == 0 && res.msgs_saved == 0 &&
		                  res.msgs_expunged == 0 &&
		                  res.msgs_flag_changed == 0 &&
		                  res.boxes_created + res.boxes_deleted +
		                          res.boxes_renamed ==
		                      0,
		              "seed %llu round %u: second run not a no-op",
		              (unsigned long long)seed, round);
		mf_sync_result_free(&res);
	}
	list_free(&live);
	list_free(&deleted);
}

START_TEST(model_random_backup)
{
	model_oneway(8000 + (uint64_t)_i, 20, MF_ENGINE_BACKUP);
}
END_TEST

START_TEST(model_random_oneway)
{
	model_oneway(9000 + (uint64_t)_i, 20, MF_ENGINE_ONEWAY);
}
END_TEST

START_TEST(model_random_full)
{
	model_run(1000 + (uint64_t)_i, 25, ALGO_FULL, KIND_MEM, NULL);
}
END_TEST

START_TEST(model_random_fast)
{
	model_run(2000 + (uint64_t)_i, 25, ALGO_FAST, KIND_MEM, NULL);
}
END_TEST

START_TEST(model_random_state)
{
	model_run(3000 + (uint64_t)_i, 25, ALGO_STATE, KIND_MEM, NULL);
}
END_TEST

START_TEST(model_random_separators)
{
	model_run(4000 + (uint64_t)_i, 25, ALGO_STATE, KIND_SEP, NULL);
}
END_TEST

START_TEST(model_random_header_hash)
{
	/* stateful and full: incremental sync without GUIDs (§7.29) */
	model_run(5000 + (uint64_t)_i, 25, _i % 2 == 0 ? ALGO_FULL : ALGO_STATE,
	          KIND_HASH, NULL);
}
END_TEST

START_TEST(model_random_mixed)
{
	/* two different drivers: memdrv <-> maildir */
	model_run(6500 + (uint64_t)_i, 15, _i % 2 == 0 ? ALGO_STATE : ALGO_FULL,
	          KIND_MIXED, NULL);
}
END_TEST

START_TEST(model_random_maildir)
{
	model_run(6000 + (uint64_t)_i, 15, _i % 2 == 0 ? ALGO_STATE : ALGO_FULL,
	          KIND_MAILDIR, NULL);
}
END_TEST

/* The dbox drivers against maildir and each other, each direction
 * (issue #6): loop index i picks the pair, stateful and full alternate. */
START_TEST(model_random_dbox)
{
	static const enum kind kinds[] = {
	    KIND_MAILDIR_SDBOX, KIND_MAILDIR_MDBOX, KIND_SDBOX_MDBOX,
	    KIND_SDBOX_MAILDIR, KIND_MDBOX_MAILDIR, KIND_MDBOX_SDBOX};

	model_run(6800 + (uint64_t)_i, 12, _i % 2 == 0 ? ALGO_STATE : ALGO_FULL,
	          kinds[_i % 6], NULL);
}
END_TEST

/* The same history synced with full, fast and stateful syncs ends in the
 * same stores. */
START_TEST(model_algorithms_agree)
{
	struct h_snap full, other;
	uint64_t seed = 7000 + (uint64_t)_i;

	model_run(seed, 20, ALGO_FULL, KIND_MEM, &full);
	for (enum algo a = ALGO_FAST; a <= ALGO_STATE; a++) {
		char *diff;
		model_run(seed, 20, a, KIND_MEM, &other);
		diff = h_snap_diff(&full, &other, true);
		ck_assert_msg(diff == NULL,
		              "seed %llu: algorithm %d differs from full: %s",
		              (unsigned long long)seed, (int)a, diff);
		h_snap_free(&other);
	}
	h_snap_free(&full);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("engine-sync");
	TCase *tc = tcase_create("scenarios");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, new_mail_both_sides);
	tcase_add_test(tc, one_side_new_mail_keeps_uids);
	tcase_add_test(tc, expunge_both_ways);
	tcase_add_test(tc, expunge_beats_flag_change);
	tcase_add_test(tc, flags_merged_per_flag);
	tcase_add_test(tc, duplicate_guid_instances);
	tcase_add_test(tc, header_hash_mode);
	tcase_add_test(tc, create_both_sides);
	tcase_add_test(tc, rename_one_side);
	tcase_add_test(tc, rename_both_newer_wins);
	tcase_add_test(tc, rename_swap);
	tcase_add_test(tc, rename_parent_child_swap);
	tcase_add_test(tc, delete_propagates);
	tcase_add_test(tc, delete_then_recreate_keeps_new);
	tcase_add_test(tc, same_name_different_guid_merged);
	tcase_add_test(tc, subscriptions);
	tcase_add_test(tc, duplicate_mailbox_guid_repaired);
	tcase_add_test(tc, separator_mismatch);
	tcase_add_test(tc, backup_makes_identical);
	tcase_add_test(tc, backup_recreates_conflicting_box);
	tcase_add_test(tc, backup_reverse);
	tcase_add_test(tc, backup_dry_run_recreate);
	tcase_add_test(tc, copy_from_expunged_instance);
	tcase_add_test(tc, backup_renumbered_many);
	tcase_add_test(tc, oneway_merge);
	tcase_add_test(tc, dry_run_changes_nothing);
	tcase_add_test(tc, filters);
	tcase_add_test(tc, stateful_incremental);
	tcase_add_test(tc, state_from_the_future);
	tcase_add_test(tc, stateful_reads_only_changes);
	tcase_add_test(tc, user_lock);
	tcase_add_test(tc, purge_destination);
	tcase_add_test(tc, mailbox_guid_filter);
	tcase_add_test(tc, same_body_twice_in_mailbox);
	tcase_add_test(tc, many_messages_batched);
	suite_add_tcase(s, tc);

	tc = tcase_create("tree-real");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, tree_delete_parent_then_child, 0, 4);
	tcase_add_loop_test(tc, tree_rename_onto_implied_parent, 0, 4);
	tcase_add_loop_test(tc, tree_delete_only_child, 0, 12);
	tcase_add_loop_test(tc, tree_rename_only_child_away, 0, 12);
	tcase_add_loop_test(tc, tree_delete_parent_here_child_there, 0, 6);
	suite_add_tcase(s, tc);

	tc = tcase_create("crash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, crash_anywhere_twoway, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, model_random_full, 0, 4);
	tcase_add_loop_test(tc, model_random_fast, 0, 4);
	tcase_add_loop_test(tc, model_random_state, 0, 4);
	tcase_add_loop_test(tc, model_random_separators, 0, 3);
	tcase_add_loop_test(tc, model_random_header_hash, 0, 4);
	tcase_add_loop_test(tc, model_random_maildir, 0, 2);
	tcase_add_loop_test(tc, model_random_mixed, 0, 2);
	tcase_add_loop_test(tc, model_random_dbox, 0, 6);
	tcase_add_loop_test(tc, model_algorithms_agree, 0, 3);
	tcase_add_loop_test(tc, model_random_backup, 0, 3);
	tcase_add_loop_test(tc, model_random_oneway, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

START_TEST(model_debug)
{
	const char *algo = getenv("MF_MODEL_ALGO");
	const char *kind = getenv("MF_MODEL_KIND");

	model_verbose = true;
	model_run(strtoull(getenv("MF_MODEL_SEED"), NULL, 10), 30,
	          (enum algo)atoi(algo != NULL ? algo : "0"),
	          (enum kind)atoi(kind != NULL ? kind : "0"), NULL);
}
END_TEST

int main(void)
{
	int failed;
	/* MF_MODEL_SEED=N MF_MODEL_KIND=k MF_MODEL_ALGO=a: run one model
	 * history, printing both stores around every round */
	if (getenv("MF_MODEL_SEED") != NULL) {
		Suite *s = suite_create("engine-model-debug");
		TCase *tc = tcase_create("debug");
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 600);
		tcase_add_test(tc, model_debug);
		suite_add_tcase(s, tc);
		SRunner *dr = srunner_create(s);
		srunner_run_all(dr, CK_NORMAL);
		failed = srunner_ntests_failed(dr);
		srunner_free(dr);
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	SRunner *sr = srunner_create(sync_suite());

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
