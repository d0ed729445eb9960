/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the engine's pure parts: the state string (with the test
 * vectors of the dsync reference §4.1), the header hash, the per-bit flag
 * merge, UID assignment for new mails, and mailbox-name wildcards.
 */
#include <check.h>
#include <stdlib.h>

#include "mf-buf.h"
#include "mf-header-hash.h"
#include "mf-hex.h"
#include "mf-sync-private.h"
#include "mf-sync-state.h"

START_TEST(state_empty_vector)
{
	struct mf_sync_state st = {MF_ARRAY_INIT};
	const char *error = NULL;
	char *s = mf_sync_state_format(&st);

	ck_assert_str_eq(s, "AQAAAHm4+Jk=");
	ck_assert_int_eq(mf_sync_state_parse(s, &st, &error), MF_SYNC_STATE_OK);
	ck_assert_uint_eq(st.boxes.count, 0);
	free(s);
	mf_sync_state_free(&st);
}
END_TEST

START_TEST(state_one_box_vector)
{
	static const char vec[] = "AQAAAAARIjNEVWZ3iJmqu8zd7v/SApZJKgAAAGQAAAAA"
	                          "AAAAAAAAAAAAAAAoAAAA20jctQ==";
	struct mf_sync_state st = {MF_ARRAY_INIT};
	struct mf_sync_box_state *b;
	const char *error = NULL;
	char *s;

	b = mf_array_append_zero(&st.boxes);
	ck_assert_int_eq(
	    mf_guid128_from_hex("00112233445566778899aabbccddeeff", b->guid),
	    0);
	b->uidvalidity = 1234567890;
	b->last_common_uid = 42;
	b->last_common_modseq = 100;
	b->messages = 40;
	s = mf_sync_state_format(&st);
	ck_assert_str_eq(s, vec);
	free(s);
	mf_sync_state_free(&st);

	ck_assert_int_eq(mf_sync_state_parse(vec, &st, &error),
	                 MF_SYNC_STATE_OK);
	ck_assert_uint_eq(st.boxes.count, 1);
	ck_assert_uint_eq(st.boxes.items[0].uidvalidity, 1234567890);
	ck_assert_uint_eq(st.boxes.items[0].last_common_uid, 42);
	ck_assert_uint_eq(st.boxes.items[0].last_common_modseq, 100);
	ck_assert_uint_eq(st.boxes.items[0].messages, 40);
	mf_sync_state_free(&st);
}
END_TEST

START_TEST(state_invalid)
{
	static const char *const bad[] = {
	    "not base64!",
	    "AQAA",
	    "AQAAAHm4+Jo=", /* CRC off by one */
	    "AQAAAHm4+Jk",  /* no padding */
	    "",
	};
	for (size_t i = 0; i < MF_N_ELEMENTS(bad); i++) {
		struct mf_sync_state st = {MF_ARRAY_INIT};
		const char *error = NULL;
		ck_assert_msg(mf_sync_state_parse(bad[i], &st, &error) ==
		                  MF_SYNC_STATE_INVALID,
		              "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(error);
		mf_sync_state_free(&st);
	}
}
END_TEST

START_TEST(state_v0_is_empty)
{
	struct mf_sync_state st = {MF_ARRAY_INIT};
	struct mf_buf bin = MF_BUF_INIT, b64 = MF_BUF_INIT;
	const char *error = NULL;
	uint8_t rec[40] = {1, 2, 3};
	uint32_t crc;
	uint8_t c[4];

	/* four zero bytes: the v0 empty state */
	ck_assert_int_eq(mf_sync_state_parse("AAAAAA==", &st, &error),
	                 MF_SYNC_STATE_OLD);
	/* one 40-byte v0 record + CRC */
	mf_buf_append(&bin, rec, sizeof(rec));
	crc = mf_crc32(0, bin.data, bin.len);
	c[0] = (uint8_t)crc;
	c[1] = (uint8_t)(crc >> 8);
	c[2] = (uint8_t)(crc >> 16);
	c[3] = (uint8_t)(crc >> 24);
	mf_buf_append(&bin, c, 4);
	mf_base64_encode(bin.data, bin.len, &b64);
	ck_assert_int_eq(mf_sync_state_parse(mf_buf_str(&b64), &st, &error),
	                 MF_SYNC_STATE_OLD);
	ck_assert_uint_eq(st.boxes.count, 0);
	mf_buf_free(&bin);
	mf_buf_free(&b64);
}
END_TEST

START_TEST(crc32_known)
{
	ck_assert_uint_eq(mf_crc32(0, "123456789", 9), 0xcbf43926u);
}
END_TEST

static void hash_of(const char *msg, unsigned int version, char hex[33])
{
	struct mf_header_hash *hh = mf_header_hash_new(NULL, version);

	mf_header_hash_feed(hh, msg, strlen(msg));
	mf_header_hash_finish(hh, hex, NULL);
	mf_header_hash_free(&hh);
}

START_TEST(header_hash_rules)
{
	char a[33], b[33], c[33];

	/* no Date / Message-ID at all: md5("\n") */
	hash_of("Subject: x\n\nbody\n", 3, a);
	ck_assert_str_eq(a, MF_HEADER_HASH_EMPTY);
	/* only the selected fields count; CRLF = LF; other headers and the
	 * body do not matter */
	hash_of("Date: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: a\n"
	        "Message-ID: <x@y>\n\nbody one\n",
	        3, a);
	hash_of("Received: z\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	        "Message-ID: <x@y>\r\n\r\nbody two\r\n",
	        3, b);
	ck_assert_str_eq(a, b);
	/* version 3: spaces dropped, 8-bit runs become one '?' */
	hash_of("Date: Mon,1 Jan\n\n", 3, a);
	hash_of("Date:   Mon, 1 Jan\n\n", 3, b);
	ck_assert_str_eq(a, b);
	hash_of("Message-ID: <\xc3\xa4@x>\n\n", 3, a);
	hash_of("Message-ID: <?@x>\n\n", 3, b);
	ck_assert_str_eq(a, b);
	/* version 1 hashes raw */
	hash_of("Message-ID: <?@x>\n\n", 1, c);
	hash_of("Message-ID: <??@x>\n\n", 1, a);
	ck_assert_str_ne(a, c);
	/* header names are case-insensitive */
	hash_of("message-id: <a>\n\n", 3, a);
	hash_of("Message-Id: <a>\n\n", 3, b);
	ck_assert_str_ne(a, MF_HEADER_HASH_EMPTY);
	(void)b;
}
END_TEST

START_TEST(header_hash_normalize)
{
	struct mf_buf out = MF_BUF_INIT;
	bool prev = false;

	mf_header_hash_normalize(3, (const uint8_t *)"a ?\x80\x01 ?b\t\n", 10,
	                         &prev, &out);
	/* '?' runs collapse, but a dropped space ends a run */
	ck_assert_str_eq(mf_buf_str(&out), "a??b\t\n");
	mf_buf_free(&out);
}
END_TEST

#define F_SEEN MAILFERRY_FLAG_SEEN
#define F_FLAG MAILFERRY_FLAG_FLAGGED

START_TEST(flag_merge_table)
{
	static const struct {
		struct mf_flag_merge_in in;
		uint32_t want;
		const char *what;
	} cases[] = {
	    {{0, 0, 0, 0, 0, 0, true}, 0, "nothing"},
	    {{F_SEEN, F_SEEN, 0, 0, 0, 0, false},
	     F_SEEN,
	     "local add wins over unchanged remote"},
	    {{F_SEEN, F_SEEN, 0, F_FLAG, F_FLAG, 0, false},
	     F_SEEN | F_FLAG,
	     "both added different flags: union"},
	    {{0, 0, F_SEEN, F_SEEN | F_FLAG, F_FLAG, 0, false},
	     F_FLAG,
	     "local removed seen, remote added flagged"},
	    {{F_SEEN, F_SEEN, 0, 0, 0, F_SEEN, true},
	     F_SEEN,
	     "conflict: preferred local add"},
	    {{F_SEEN, F_SEEN, 0, 0, 0, F_SEEN, false},
	     0,
	     "conflict: preferred remote remove"},
	    {{F_SEEN, 0, 0, 0, 0, 0, true},
	     F_SEEN,
	     "unexplained: preferred local value"},
	    {{F_SEEN, 0, 0, 0, 0, 0, false},
	     0,
	     "unexplained: preferred remote value"},
	    {{F_SEEN, 0, F_SEEN, F_SEEN, 0, 0, false},
	     F_SEEN,
	     "finals agree: stay"},
	};
	for (size_t i = 0; i < MF_N_ELEMENTS(cases); i++)
		ck_assert_msg(mf_sync_merge_flags(&cases[i].in) ==
		                  cases[i].want,
		              "%s: got %x want %x", cases[i].what,
		              mf_sync_merge_flags(&cases[i].in), cases[i].want);
}
END_TEST

static void nm(struct mf_newmail *m, uint8_t id, uint32_t uid, uint8_t side)
{
	memset(m, 0, sizeof(*m));
	m->id[0] = id;
	m->uid = uid;
	m->side = side;
}

static uint32_t final_of(const struct mf_newmail *m, size_t n, uint8_t id,
                         uint8_t side)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i].id[0] == id && m[i].side == side)
			return m[i].final_uid;
	}
	return 0;
}

START_TEST(uid_assign_conflict)
{
	struct mf_newmail m[4];
	uint32_t next;

	/* both sides delivered a different mail as UID 5: both renumbered
	 * above both UIDNEXTs */
	nm(&m[0], 1, 5, 0);
	nm(&m[1], 2, 5, 1);
	next = mf_sync_assign_uids(m, 2, 6, 6);
	ck_assert_uint_eq(final_of(m, 2, 1, 0), 6);
	ck_assert_uint_eq(final_of(m, 2, 2, 1), 7);
	ck_assert_uint_eq(next, 8);

	/* a local-only mail above the remote's UIDNEXT keeps its UID */
	nm(&m[0], 1, 9, 0);
	next = mf_sync_assign_uids(m, 1, 10, 5);
	ck_assert_uint_eq(m[0].final_uid, 9);
	ck_assert_uint_eq(next, 10);

	/* the same mail on both sides at the same UID: kept */
	nm(&m[0], 3, 7, 0);
	nm(&m[1], 3, 7, 1);
	next = mf_sync_assign_uids(m, 2, 8, 8);
	ck_assert_uint_eq(m[0].final_uid, 7);
	ck_assert_uint_eq(m[1].final_uid, 7);

	/* the same mail at different UIDs: the one the other side never
	 * issued is usable */
	nm(&m[0], 4, 3, 0);
	nm(&m[1], 4, 8, 1);
	next = mf_sync_assign_uids(m, 2, 4, 9);
	ck_assert_uint_eq(m[0].final_uid, 8);
	ck_assert_uint_eq(m[1].final_uid, 8);
	ck_assert_uint_eq(next, 9);
}
END_TEST

START_TEST(uid_assign_dsync_order)
{
	/* conflicts get new UIDs in dsync's order: both sides' new mails
	 * merged by GUID string (then UID), not by UID */
	struct mf_newmail m[3];

	memset(m, 0, sizeof(m));
	m[0].uid = 14; /* local, conflicts with the remote's UID 14 */
	m[0].guid_str = "1795451536.M813807P1259.vm";
	m[0].id[0] = 0xee;
	m[1].uid = 15; /* local, above the remote's UIDNEXT: kept */
	m[1].guid_str = "1795451536.M823807P1259.vm";
	m[1].id[0] = 0x01;
	m[2].uid = 14; /* remote */
	m[2].side = 1;
	m[2].guid_str = "1795451536.M868742P1264.vm";
	m[2].id[0] = 0x10;
	ck_assert_uint_eq(mf_sync_assign_uids(m, 3, 16, 15), 18);
	for (int i = 0; i < 3; i++) {
		if (m[i].uid == 15)
			ck_assert_uint_eq(m[i].final_uid, 15);
		else if (m[i].side == 0)
			ck_assert_uint_eq(m[i].final_uid, 16);
		else
			ck_assert_uint_eq(m[i].final_uid, 17);
	}
}
END_TEST

START_TEST(wildcards)
{
	ck_assert(mf_sync_wildcard_match("INBOX", "INBOX", '/'));
	ck_assert(mf_sync_wildcard_match("Lists/*", "Lists/a/b", '/'));
	ck_assert(!mf_sync_wildcard_match("Lists/%", "Lists/a/b", '/'));
	ck_assert(mf_sync_wildcard_match("Lists/%", "Lists/a", '/'));
	ck_assert(mf_sync_wildcard_match("T?ash", "Trash", '/'));
	ck_assert(!mf_sync_wildcard_match("Trash", "Trash2", '/'));
}
END_TEST

static Suite *units_suite(void)
{
	Suite *s = suite_create("engine-units");
	TCase *tc = tcase_create("units");

	tcase_add_test(tc, state_empty_vector);
	tcase_add_test(tc, state_one_box_vector);
	tcase_add_test(tc, state_invalid);
	tcase_add_test(tc, state_v0_is_empty);
	tcase_add_test(tc, crc32_known);
	tcase_add_test(tc, header_hash_rules);
	tcase_add_test(tc, header_hash_normalize);
	tcase_add_test(tc, flag_merge_table);
	tcase_add_test(tc, uid_assign_conflict);
	tcase_add_test(tc, uid_assign_dsync_order);
	tcase_add_test(tc, wildcards);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(units_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
