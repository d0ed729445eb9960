/* SPDX-License-Identifier: MIT */
/*
 * Stores that cannot keep UIDs, message GUIDs or mailbox GUIDs (IMAP,
 * modelled by memdrv IMAPLIKE=1) as backup destinations and two-way peers:
 * mailboxes are matched by name, messages by header hash, the message SETS
 * end equal, nothing is lost or duplicated, a second run is a no-op. And a
 * backup destination whose INBOX cannot be deleted (memdrv INBOXFIXED=1,
 * like Maildir++) and cannot be made identical in place: it is emptied and
 * restarts its UIDs under the source's UIDVALIDITY.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine-harness.h"
#include "mf-alloc.h"
#include "mf-hex.h"

#define IMAPLIKE ":IMAPLIKE=1:NOGUIDS=1"

static struct mf_storage *A, *B;

static void setup(void)
{
	h_init();
	A = h_open("a", NULL);
	B = h_open("b", IMAPLIKE);
}

static void teardown(void)
{
	h_close(&A);
	h_close(&B);
	h_cleanup();
}

/* One run A -> B (backup) or A <-> B; *res_r filled, freed by caller.
 * state: NULL or the -s value. */
static int run(enum mf_engine_mode mode, bool full, const char *state,
               struct mf_sync_result *res_r)
{
	struct mf_sync_params p;

	h_params(&p);
	p.mode = mode;
	p.full = full;
	p.state = state;
	return h_sync(&p, A, B, res_r);
}

static int run_ok(enum mf_engine_mode mode)
{
	struct mf_sync_result r;
	int code = run(mode, false, NULL, &r);

	if (code != 0)
		fprintf(stderr, "exit %d: %s\n", code,
		        r.reason != NULL  ? r.reason
		        : r.error != NULL ? r.error
		                          : "");
	mf_sync_result_free(&r);
	return code;
}

/* A second run changes nothing and exits 0 (fast and full). */
static void assert_noop(enum mf_engine_mode mode)
{
	for (int full = 0; full < 2; full++) {
		struct mf_sync_result r;
		int code = run(mode, full != 0, NULL, &r);

		ck_assert_msg(code == 0 && h_result_noop(&r),
		              "%s second run: exit %d (%s), %u/%u boxes, "
		              "%llu/%llu/%llu msgs",
		              full ? "full" : "fast", code,
		              r.reason != NULL ? r.reason : "", r.boxes_created,
		              r.boxes_deleted, (unsigned long long)r.msgs_saved,
		              (unsigned long long)r.msgs_expunged,
		              (unsigned long long)r.msgs_flag_changed);
		mf_sync_result_free(&r);
	}
}

/* Same mailboxes, same (body, flags, keywords) multisets. */
static void assert_same_content(const char *when)
{
	struct h_snap a, b;
	char *diff;

	h_snap(A, &a);
	h_snap(B, &b);
	diff = h_snap_diff_content(&a, &b);
	if (diff != NULL) {
		char *da = h_snap_dump(&a), *db = h_snap_dump(&b);
		ck_abort_msg("%s: stores differ: %s\nA:\n%sB:\n%s", when, diff,
		             da, db);
	}
	h_snap_free(&a);
	h_snap_free(&b);
}

/* Everything, UIDs, UIDVALIDITY and GUIDs included. */
static void assert_identical(void)
{
	h_assert_identical(A, B);
}

/* B's INBOX is there and no "-temp-" name was made. */
static void assert_inbox_kept(void)
{
	struct h_snap b;

	h_snap(B, &b);
	ck_assert_msg(h_snap_box(&b, "INBOX") != NULL, "INBOX is gone");
	for (size_t i = 0; i < b.boxes.count; i++)
		ck_assert_msg(strstr(b.boxes.items[i].name, "-temp-") == NULL,
		              "temporary name %s", b.boxes.items[i].name);
	h_snap_free(&b);
}

static uint32_t uid_at(struct mf_storage *st, const char *box, size_t i)
{
	struct h_snap s;
	const struct h_box *b;
	uint32_t uid;

	h_snap(st, &s);
	b = h_snap_box(&s, box);
	ck_assert_msg(b != NULL && b->msgs.count > i, "%s: no message %zu", box,
	              i);
	uid = b->msgs.items[i].uid;
	h_snap_free(&s);
	return uid;
}

/* --------------------------------------------------- IMAP-like stores */

START_TEST(backup_to_imaplike)
{
	h_create(A, "INBOX");
	h_create(A, "Work");
	h_create(A, "Work/sub");
	for (unsigned int i = 1; i <= 5; i++)
		h_save(A, "INBOX", i);
	for (unsigned int i = 6; i <= 8; i++)
		h_save(A, "Work", i);
	h_flags(A, "INBOX", 2, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN,
	        "$Label1");
	h_flags(A, "Work", 1, MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_FLAGGED,
	        NULL);
	/* the destination has mail of its own and its own INBOX */
	h_create(B, "INBOX");
	h_save(B, "INBOX", 100);
	h_save(B, "INBOX", 3); /* the same message as the source's */

	ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
	assert_same_content("first backup");
	assert_inbox_kept();
	assert_noop(MF_ENGINE_BACKUP);

	/* changes on the source, and on the destination (reverted) */
	h_save(A, "INBOX", 9);
	h_flags(A, "INBOX", 2, MAILFERRY_MODIFY_REMOVE, MAILFERRY_FLAG_SEEN,
	        NULL);
	h_flags(A, "INBOX", 4, MAILFERRY_MODIFY_ADD, 0, "Later");
	h_expunge(A, "INBOX", 1);
	ck_assert_int_eq(h_rename(A, "Work", "Archive"), 0);
	h_save(B, "INBOX", 101);
	h_flags(B, "INBOX", uid_at(B, "INBOX", 0), MAILFERRY_MODIFY_ADD,
	        MAILFERRY_FLAG_DELETED, NULL);
	h_create(B, "Junk");
	ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
	assert_same_content("incremental backup");
	assert_inbox_kept();
	assert_noop(MF_ENGINE_BACKUP);
}
END_TEST

/* A conversion into an empty IMAP-like mailbox is saved window by window
 * (the source list is not kept): every message once, in source UID order,
 * filters applied, and the next backup is a no-op. */
START_TEST(backup_to_empty_imaplike_streamed)
{
	struct mf_sync_params p;
	struct mf_sync_result r;
	struct h_snap s;
	const struct h_box *b;

	h_create(A, "INBOX");
	h_create(A, "Big");
	for (unsigned int i = 1; i <= 20; i++) {
		char *text =
		    mf_strdup_printf("Message-ID: <s%u@x>\n\n%u\n", i, i);
		h_save_text(A, "Big", text, i % 5 == 0 ? 1000 : 5000);
		free(text);
	}
	h_params(&p);
	p.mode = MF_ENGINE_BACKUP;
	p.received_after = 2000;
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert_uint_eq(r.msgs_saved, 16);
	mf_sync_result_free(&r);
	h_snap(B, &s);
	b = h_snap_box(&s, "Big");
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->msgs.count, 16);
	/* saved in the source's order: UIDs ascend with the bodies */
	for (size_t i = 1; i < b->msgs.count; i++)
		ck_assert_uint_lt(b->msgs.items[i - 1].uid,
		                  b->msgs.items[i].uid);
	h_snap_free(&s);
	ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
	ck_assert(h_result_noop(&r));
	mf_sync_result_free(&r);
}
END_TEST

/* The source has no INBOX: an IMAP INBOX cannot be deleted; it is
 * emptied, and that is a stable result. */
START_TEST(backup_to_imaplike_without_source_inbox)
{
	struct h_snap b;

	h_create(A, "Work");
	h_save(A, "Work", 1);
	h_create(B, "INBOX");
	h_save(B, "INBOX", 2);
	ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
	h_snap(B, &b);
	ck_assert_msg(h_snap_box(&b, "INBOX") != NULL &&
	                  h_snap_box(&b, "INBOX")->msgs.count == 0,
	              "INBOX not emptied");
	ck_assert_msg(h_snap_box(&b, "Work") != NULL &&
	                  h_snap_box(&b, "Work")->msgs.count == 1,
	              "Work not copied");
	h_snap_free(&b);
	assert_noop(MF_ENGINE_BACKUP);
}
END_TEST

START_TEST(twoway_with_imaplike)
{
	struct h_snap a;
	size_t total = 0;

	h_create(A, "INBOX");
	for (unsigned int i = 1; i <= 3; i++)
		h_save(A, "INBOX", i);
	h_create(B, "INBOX");
	h_save(B, "INBOX", 10);
	h_save(B, "INBOX", 11);
	h_create(B, "Other");
	h_save(B, "Other", 12);
	h_flags(B, "INBOX", uid_at(B, "INBOX", 0), MAILFERRY_MODIFY_ADD,
	        MAILFERRY_FLAG_ANSWERED, "Kw");

	ck_assert_int_eq(run_ok(MF_ENGINE_TWOWAY), 0);
	assert_same_content("first two-way run");
	h_snap(A, &a);
	for (size_t i = 0; i < a.boxes.count; i++)
		total += a.boxes.items[i].msgs.count;
	h_snap_free(&a);
	ck_assert_uint_eq(total, 6); /* the union, nothing twice */
	assert_noop(MF_ENGINE_TWOWAY);

	/* new mail and flag changes on both sides */
	h_save(A, "Other", 13);
	h_save(B, "INBOX", 14);
	h_flags(A, "INBOX", uid_at(A, "INBOX", 1), MAILFERRY_MODIFY_ADD,
	        MAILFERRY_FLAG_SEEN, NULL);
	h_flags(B, "INBOX", uid_at(B, "INBOX", 2), MAILFERRY_MODIFY_ADD,
	        MAILFERRY_FLAG_FLAGGED, "Other");
	ck_assert_int_eq(run_ok(MF_ENGINE_TWOWAY), 0);
	assert_same_content("two-way run after changes");
	assert_inbox_kept();
	assert_noop(MF_ENGINE_TWOWAY);
}
END_TEST

/* With a state, an expunge on either side reaches the other where the
 * UIDs of both sides still hold the same messages. */
START_TEST(twoway_state_carries_expunges)
{
	struct mf_sync_result r;
	char *state;

	h_create(A, "INBOX");
	h_create(A, "Solo");
	for (unsigned int i = 1; i <= 4; i++)
		h_save(A, "Solo", i);
	ck_assert_int_eq(run(MF_ENGINE_TWOWAY, false, "", &r), 0);
	state = mf_strdup(r.state);
	mf_sync_result_free(&r);
	assert_same_content("first run");

	h_expunge(B, "Solo", uid_at(B, "Solo", 1));
	h_expunge(A, "Solo", uid_at(A, "Solo", 2));
	ck_assert_int_eq(run(MF_ENGINE_TWOWAY, false, state, &r), 0);
	free(state);
	state = mf_strdup(r.state);
	mf_sync_result_free(&r);
	assert_same_content("stateful run");
	ck_assert_int_eq(h_count(A, "Solo"), 2);

	ck_assert_int_eq(run(MF_ENGINE_TWOWAY, false, state, &r), 0);
	ck_assert_msg(h_result_noop(&r), "stateful second run not a no-op");
	mf_sync_result_free(&r);
	free(state);
}
END_TEST

/* Flag and keyword changes made on either side survive a two-way run,
 * with and without a state, though the IMAP-like side keeps no history of
 * them (its changes are told by its own modseqs, or by being the side
 * that cannot tell). */
static bool has_kw(struct mf_storage *st, const char *box, size_t i,
                   const char *kw, uint32_t flag)
{
	struct h_snap s;
	const struct h_box *b;
	bool ret;

	h_snap(st, &s);
	b = h_snap_box(&s, box);
	ck_assert_msg(b != NULL && b->msgs.count > i, "%s: no message %zu", box,
	              i);
	ret = (kw == NULL || strstr(b->msgs.items[i].keywords, kw) != NULL) &&
	      (b->msgs.items[i].flags & flag) == flag;
	h_snap_free(&s);
	return ret;
}

START_TEST(twoway_flag_changes_survive)
{
	for (int stateful = 0; stateful < 2; stateful++) {
		struct mf_sync_result r;
		char *state = mf_strdup("");
		char kw[16];

		h_close(&A);
		h_close(&B);
		A = h_open(stateful ? "fa2" : "fa", NULL);
		B = h_open(stateful ? "fb2" : "fb", IMAPLIKE);
		h_create(A, "INBOX");
		for (unsigned int i = 1; i <= 6; i++)
			h_save(A, "INBOX", i);
		for (int round = 0; round < 3; round++) {
			ck_assert_int_eq(run(MF_ENGINE_TWOWAY, false,
			                     stateful ? state : NULL, &r),
			                 0);
			free(state);
			state = mf_strdup(r.state != NULL ? r.state : "");
			mf_sync_result_free(&r);
			assert_same_content("flag round");
			/* one change on each side, on different messages */
			snprintf(kw, sizeof(kw), "OnB%d", round);
			h_flags(B, "INBOX", uid_at(B, "INBOX", (size_t)round),
			        MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_SEEN, kw);
			snprintf(kw, sizeof(kw), "OnA%d", round);
			h_flags(
			    A, "INBOX", uid_at(A, "INBOX", (size_t)round + 3),
			    MAILFERRY_MODIFY_ADD, MAILFERRY_FLAG_FLAGGED, kw);
			ck_assert_int_eq(run(MF_ENGINE_TWOWAY, false,
			                     stateful ? state : NULL, &r),
			                 0);
			free(state);
			state = mf_strdup(r.state != NULL ? r.state : "");
			mf_sync_result_free(&r);
			assert_same_content("after flag changes");
			snprintf(kw, sizeof(kw), "OnB%d", round);
			ck_assert_msg(
			    !stateful || has_kw(A, "INBOX", (size_t)round, kw,
			                        MAILFERRY_FLAG_SEEN),
			    "%s: the change on the IMAP-like side was "
			    "reverted (round %d)",
			    stateful ? "stateful" : "stateless", round);
			snprintf(kw, sizeof(kw), "OnA%d", round);
			ck_assert_msg(has_kw(B, "INBOX", (size_t)round + 3, kw,
			                     MAILFERRY_FLAG_FLAGGED),
			              "%s: the change on the other side was "
			              "reverted (round %d)",
			              stateful ? "stateful" : "stateless",
			              round);
			/* and a removal on the IMAP-like side of a flag the
			 * other side once added: with a state the removal is
			 * known to be the newer change */
			if (!stateful)
				continue;
			h_flags(B, "INBOX",
			        uid_at(B, "INBOX", (size_t)round + 3),
			        MAILFERRY_MODIFY_REMOVE, MAILFERRY_FLAG_FLAGGED,
			        NULL);
			ck_assert_int_eq(run(MF_ENGINE_TWOWAY, false,
			                     stateful ? state : NULL, &r),
			                 0);
			free(state);
			state = mf_strdup(r.state != NULL ? r.state : "");
			mf_sync_result_free(&r);
			ck_assert_msg(!has_kw(A, "INBOX", (size_t)round + 3,
			                      NULL, MAILFERRY_FLAG_FLAGGED),
			              "%s: a removal on the IMAP-like side was "
			              "reverted (round %d)",
			              stateful ? "stateful" : "stateless",
			              round);
		}
		free(state);
	}
}
END_TEST

/* --------------------------------------------- INBOX reset in place */

static void reopen_b(const char *opts)
{
	static unsigned int n;
	char name[16];

	snprintf(name, sizeof(name), "c%u", n++);
	h_close(&B);
	B = h_open(name, opts);
}

START_TEST(inbox_reset_in_place)
{
	reopen_b(":INBOXFIXED=1");
	h_create(A, "INBOX");
	for (unsigned int i = 1; i <= 3; i++)
		h_save(A, "INBOX", i);
	h_create(B, "INBOX");
	for (unsigned int i = 11; i <= 16; i++)
		h_save(B, "INBOX", i);
	/* foreign mail at UIDs 1..6, the source's UIDs are lower */
	ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
	assert_identical();
	assert_noop(MF_ENGINE_BACKUP);

	/* both got a different UID 4: INBOX is reset again */
	h_save(A, "INBOX", 4);
	h_save(B, "INBOX", 20);
	ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
	assert_identical();
	/* a message lost on the destination only: it cannot come back at
	 * its UID without a reset either */
	h_expunge(B, "INBOX", 2);
	ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
	assert_identical();
	assert_noop(MF_ENGINE_BACKUP);
}
END_TEST

/* The destination's INBOX has the GUID of another source mailbox (e.g.
 * an earlier backup of a source whose mailboxes were shuffled): INBOX is
 * never renamed away; it follows the source's INBOX, the other mailbox is
 * made anew. */
START_TEST(inbox_with_another_boxs_guid)
{
	struct h_snap a;
	uint8_t guid[16];

	reopen_b(":INBOXFIXED=1");
	h_create(A, "INBOX");
	h_save(A, "INBOX", 1);
	h_create(A, "Work");
	h_save(A, "Work", 2);
	h_snap(A, &a);
	memcpy(guid, h_snap_box(&a, "Work")->guid, 16);
	h_snap_free(&a);
	ck_assert_int_eq(h_create_guid(B, "INBOX", guid, 0), 0);
	h_save(B, "INBOX", 3);
	ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
	assert_identical();
	assert_inbox_kept();
	assert_noop(MF_ENGINE_BACKUP);
}
END_TEST

/* A store that does not restart UIDNEXT when an empty mailbox gets a new
 * UIDVALIDITY: nothing is lost, the messages get new UIDs, the run says
 * so (exit 2). */
START_TEST(inbox_reset_without_uid_restart)
{
	struct mf_sync_result r;
	int code;

	reopen_b(":INBOXFIXED=1:NORESTART=1");
	h_create(A, "INBOX");
	for (unsigned int i = 1; i <= 3; i++)
		h_save(A, "INBOX", i);
	h_create(B, "INBOX");
	for (unsigned int i = 11; i <= 16; i++)
		h_save(B, "INBOX", i);
	code = run(MF_ENGINE_BACKUP, false, NULL, &r);
	ck_assert_int_eq(code, 2);
	ck_assert_msg(r.reason != NULL &&
	                  strstr(r.reason, "cannot restart its UIDs") != NULL,
	              "reason: %s", r.reason != NULL ? r.reason : "(none)");
	mf_sync_result_free(&r);
	assert_same_content("backup without UID restart");
}
END_TEST

/* A dry run plans the reset, the copies and the expunges but changes
 * nothing, on an IMAP-like destination and on a fixed INBOX. */
START_TEST(dry_run_changes_nothing)
{
	static const char *const opts[] = {IMAPLIKE, ":INBOXFIXED=1"};

	for (size_t i = 0; i < MF_N_ELEMENTS(opts); i++) {
		struct mf_sync_params p;
		struct mf_sync_result r;
		struct h_snap a0, b0, a1, b1;
		char *diff;
		FILE *out = tmpfile();

		reopen_b(opts[i]);
		h_create(A, "INBOX");
		h_save(A, "INBOX", 1);
		h_create(A, "Work");
		h_save(A, "Work", 2);
		h_create(B, "INBOX");
		h_save(B, "INBOX", 3);
		h_save(B, "INBOX", 4);
		h_snap(A, &a0);
		h_snap(B, &b0);
		h_params(&p);
		p.mode = MF_ENGINE_BACKUP;
		p.dry_run = true;
		p.out = out;
		ck_assert_int_eq(h_sync(&p, A, B, &r), 0);
		ck_assert_msg(r.msgs_saved == 2 && r.boxes_created == 1,
		              "%s: dry run planned %llu saves, %u creates",
		              opts[i], (unsigned long long)r.msgs_saved,
		              r.boxes_created);
		mf_sync_result_free(&r);
		fclose(out);
		h_snap(A, &a1);
		h_snap(B, &b1);
		diff = h_snap_diff(&a0, &a1, true);
		ck_assert_msg(diff == NULL, "%s: source changed: %s", opts[i],
		              diff);
		diff = h_snap_diff(&b0, &b1, true);
		ck_assert_msg(diff == NULL, "%s: destination changed: %s",
		              opts[i], diff);
		h_snap_free(&a0);
		h_snap_free(&b0);
		h_snap_free(&a1);
		h_snap_free(&b1);
		/* and the real run then does it */
		ck_assert_int_eq(run_ok(MF_ENGINE_BACKUP), 0);
		assert_same_content("after the dry run");
		h_close(&A);
		A = h_open(i == 0 ? "a2" : "a3", NULL);
	}
}
END_TEST

/* -1 into an IMAP-like store: the destination gets every source message
 * once and keeps its own; a second run changes nothing. */
START_TEST(oneway_to_imaplike)
{
	struct h_snap b;

	h_create(A, "INBOX");
	h_save(A, "INBOX", 1);
	h_save(A, "INBOX", 2);
	h_create(B, "INBOX");
	h_save(B, "INBOX", 2);
	h_save(B, "INBOX", 3);
	ck_assert_int_eq(run_ok(MF_ENGINE_ONEWAY), 0);
	h_snap(B, &b);
	ck_assert_uint_eq(h_snap_box(&b, "INBOX")->msgs.count, 3);
	h_snap_free(&b);
	ck_assert_int_eq(h_count(A, "INBOX"), 2);
	assert_noop(MF_ENGINE_ONEWAY);
}
END_TEST

/* ------------------------------------------------------------ models */

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return n == 0 ? 0 : (uint32_t)((r->s >> 33) % n);
}

static const char *const names[] = {"INBOX", "Work", "Work/a", "Lists"};

typedef MF_ARRAY(char *) strlist;

static bool list_has(const strlist *l, const char *str)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->items[i], str) == 0)
			return true;
	}
	return false;
}

static void list_free(strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	mf_array_free(l);
}

/* Random changes on st; msgno gives every saved message a unique body.
 * The bodies of expunged messages and deleted mailboxes go to gone. */
static void random_ops(struct rng *r, struct mf_storage *st,
                       unsigned int *msgno, unsigned int nops, bool renames,
                       strlist *gone)
{
	for (unsigned int i = 0; i < nops; i++) {
		const char *name = names[rnd(r, MF_N_ELEMENTS(names))];
		uint32_t op = rnd(r, 100);
		struct h_snap s;
		const struct h_box *b;

		h_snap(st, &s);
		b = h_snap_box(&s, name);
		if (b == NULL || b->dir) {
			if (b == NULL)
				(void)h_create_guid(st, name, NULL, 0);
		} else if (op < 45) {
			h_save(st, name, ++*msgno);
		} else if (op < 75 && b->msgs.count > 0) {
			static const char *const kws[] = {NULL, "$Work",
			                                  "Later", "Junk"};
			h_flags(
			    st, name,
			    b->msgs.items[rnd(r, (uint32_t)b->msgs.count)].uid,
			    (enum mailferry_modify)rnd(r, 2), 1u << rnd(r, 5),
			    kws[rnd(r, 4)]);
		} else if (op < 90 && b->msgs.count > 0) {
			const struct h_msg *m =
			    &b->msgs.items[rnd(r, (uint32_t)b->msgs.count)];
			mf_array_push(gone, mf_strdup(m->body_md5));
			h_expunge(st, name, m->uid);
		} else if (op < 95 && renames && strcmp(name, "INBOX") != 0) {
			const char *to = names[rnd(r, MF_N_ELEMENTS(names))];
			(void)h_rename(st, name, to);
		} else if (strcmp(name, "INBOX") != 0) {
			for (size_t k = 0; k < b->msgs.count; k++)
				mf_array_push(
				    gone, mf_strdup(b->msgs.items[k].body_md5));
			(void)h_delete(st, name);
		}
		h_snap_free(&s);
	}
}

/* No mailbox of st holds a body twice. */
static void assert_no_duplicates(struct mf_storage *st, uint64_t seed,
                                 unsigned int round)
{
	struct h_snap s;

	h_snap(st, &s);
	for (size_t i = 0; i < s.boxes.count; i++) {
		const struct h_box *b = &s.boxes.items[i];
		for (size_t k = 0; k < b->msgs.count; k++)
			for (size_t j = k + 1; j < b->msgs.count; j++)
				ck_assert_msg(
				    strcmp(b->msgs.items[k].body_md5,
				           b->msgs.items[j].body_md5) != 0,
				    "seed %llu round %u: %s holds a "
				    "message twice",
				    (unsigned long long)seed, round, b->name);
	}
	h_snap_free(&s);
}

static void model_backup(uint64_t seed, unsigned int rounds)
{
	struct rng r = {seed * 2654435761u + 3};
	unsigned int msgno = 0;
	strlist gone = MF_ARRAY_INIT;
	char tag[64];

	snprintf(tag, sizeof(tag), "%llu#ids", (unsigned long long)seed);
	setenv("MEMDRV_SEED", tag, 1);
	/* both have an INBOX, as real stores do */
	h_create(A, "INBOX");
	h_create(B, "INBOX");
	for (unsigned int round = 0; round < rounds; round++) {
		struct mf_sync_result res;
		struct h_snap a0, a1;
		char *diff;
		int code;

		random_ops(&r, A, &msgno, 1 + rnd(&r, 6), true, &gone);
		random_ops(&r, B, &msgno, rnd(&r, 4), true, &gone);
		h_snap(A, &a0);
		code = run(MF_ENGINE_BACKUP, rnd(&r, 2) == 0, NULL, &res);
		ck_assert_msg(code == 0, "seed %llu round %u: exit %d (%s)",
		              (unsigned long long)seed, round, code,
		              res.reason != NULL  ? res.reason
		              : res.error != NULL ? res.error
		                                  : "");
		mf_sync_result_free(&res);
		h_snap(A, &a1);
		diff = h_snap_diff(&a0, &a1, true);
		ck_assert_msg(diff == NULL, "seed %llu round %u: source: %s",
		              (unsigned long long)seed, round, diff);
		h_snap_free(&a0);
		h_snap_free(&a1);
		assert_same_content("model backup");
		code = run(MF_ENGINE_BACKUP, false, NULL, &res);
		ck_assert_msg(code == 0 && h_result_noop(&res),
		              "seed %llu round %u: second run not a no-op",
		              (unsigned long long)seed, round);
		mf_sync_result_free(&res);
	}
	list_free(&gone);
}

static void model_twoway(uint64_t seed, unsigned int rounds, bool stateful)
{
	struct rng r = {seed * 2654435761u + 5};
	unsigned int msgno = 0;
	strlist gone = MF_ARRAY_INIT;
	char tag[64], *state = mf_strdup("");

	snprintf(tag, sizeof(tag), "%llu#ids2", (unsigned long long)seed);
	setenv("MEMDRV_SEED", tag, 1);
	h_create(A, "INBOX");
	h_create(B, "INBOX");
	for (unsigned int round = 0; round < rounds; round++) {
		struct mf_sync_result res;
		struct h_snap before[2];
		int code;

		/* without mailbox GUIDs a rename looks like a copy: no
		 * renames here, so that "nothing twice" holds */
		random_ops(&r, A, &msgno, rnd(&r, 5), false, &gone);
		random_ops(&r, B, &msgno, rnd(&r, 5), false, &gone);
		h_snap(A, &before[0]);
		h_snap(B, &before[1]);
		code = run(MF_ENGINE_TWOWAY, !stateful && rnd(&r, 2) == 0,
		           stateful ? state : NULL, &res);
		ck_assert_msg(code == 0, "seed %llu round %u: exit %d (%s)",
		              (unsigned long long)seed, round, code,
		              res.reason != NULL  ? res.reason
		              : res.error != NULL ? res.error
		                                  : "");
		if (stateful) {
			free(state);
			state = mf_strdup(res.state);
		}
		mf_sync_result_free(&res);
		assert_same_content("model two-way");
		assert_no_duplicates(A, seed, round);
		/* nothing either side had before is lost: every message
		 * that was not expunged or deleted on some side is still
		 * in its mailbox */
		struct h_snap after;
		h_snap(A, &after);
		for (int side = 0; side < 2; side++) {
			for (size_t i = 0; i < before[side].boxes.count; i++) {
				const struct h_box *ob =
				    &before[side].boxes.items[i];
				const struct h_box *nb =
				    h_snap_box(&after, ob->name);
				for (size_t k = 0; k < ob->msgs.count; k++) {
					bool found = list_has(
					    &gone, ob->msgs.items[k].body_md5);
					for (size_t j = 0;
					     nb != NULL && j < nb->msgs.count &&
					     !found;
					     j++)
						found =
						    strcmp(nb->msgs.items[j]
						               .body_md5,
						           ob->msgs.items[k]
						               .body_md5) == 0;
					ck_assert_msg(
					    found,
					    "seed %llu round %u: message %s of "
					    "%s lost",
					    (unsigned long long)seed, round,
					    ob->msgs.items[k].body_md5,
					    ob->name);
				}
			}
			h_snap_free(&before[side]);
		}
		h_snap_free(&after);
		code =
		    run(MF_ENGINE_TWOWAY, false, stateful ? state : NULL, &res);
		ck_assert_msg(code == 0 && h_result_noop(&res),
		              "seed %llu round %u: second run not a no-op "
		              "(exit %d)",
		              (unsigned long long)seed, round, code);
		if (stateful) {
			free(state);
			state = mf_strdup(res.state);
		}
		mf_sync_result_free(&res);
	}
	free(state);
	list_free(&gone);
}

START_TEST(model_ids_backup)
{
	model_backup(500 + (uint64_t)_i, 15);
}
END_TEST

START_TEST(model_ids_backup_guids)
{
	/* an IMAP server with message GUIDs it cannot take (X-GUID) */
	h_close(&B);
	B = h_open("b2", ":IMAPLIKE=1");
	model_backup(600 + (uint64_t)_i, 15);
}
END_TEST

START_TEST(model_ids_twoway)
{
	model_twoway(700 + (uint64_t)_i, 15, false);
}
END_TEST

START_TEST(model_ids_twoway_both)
{
	/* IMAP <-> IMAP */
	h_close(&A);
	A = h_open("a2", IMAPLIKE);
	model_twoway(900 + (uint64_t)_i, 15, _i % 2 == 1);
}
END_TEST

START_TEST(model_ids_twoway_state)
{
	model_twoway(800 + (uint64_t)_i, 15, true);
}
END_TEST

static Suite *ids_suite(void)
{
	Suite *s = suite_create("engine-ids");
	TCase *tc = tcase_create("scenarios");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, backup_to_imaplike);
	tcase_add_test(tc, backup_to_imaplike_without_source_inbox);
	tcase_add_test(tc, backup_to_empty_imaplike_streamed);
	tcase_add_test(tc, twoway_with_imaplike);
	tcase_add_test(tc, twoway_state_carries_expunges);
	tcase_add_test(tc, twoway_flag_changes_survive);
	tcase_add_test(tc, inbox_reset_in_place);
	tcase_add_test(tc, inbox_reset_without_uid_restart);
	tcase_add_test(tc, inbox_with_another_boxs_guid);
	tcase_add_test(tc, dry_run_changes_nothing);
	tcase_add_test(tc, oneway_to_imaplike);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, model_ids_backup, 0, 3);
	tcase_add_loop_test(tc, model_ids_backup_guids, 0, 2);
	tcase_add_loop_test(tc, model_ids_twoway, 0, 3);
	tcase_add_loop_test(tc, model_ids_twoway_state, 0, 3);
	tcase_add_loop_test(tc, model_ids_twoway_both, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ids_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
