/* SPDX-License-Identifier: MIT */
/*
 * The driver ABI layout, frozen. Every public struct of
 * <mailferry/driver.h> has its sizeof and the offsetof of every member
 * written out below as literal numbers for x86_64 (LP64), ABI 1.0. Any
 * change that moves a field, resizes a struct or reorders a slot fails
 * here: that is an ABI break, which needs a new major version (or, for an
 * appended field, new rows here and a minor bump).
 * The frozen enum values (error codes, capability and flag bits) are
 * checked too.
 */
#include <check.h>
#include <stdlib.h>

#include <mailferry/driver.h>

struct layout {
	const char *what;
	size_t actual;
	size_t frozen;
};

#define OFF(s, f, v)                                                           \
	{                                                                      \
#s "." #f, offsetof(struct s, f), v                            \
	}
#define SIZE(s, v)                                                             \
	{                                                                      \
		"sizeof " #s, sizeof(struct s), v                              \
	}

static const struct layout layouts[] = {
    SIZE(mailferry_core_api, 80),
    OFF(mailferry_core_api, abi_major, 0),
    OFF(mailferry_core_api, abi_minor, 4),
    OFF(mailferry_core_api, struct_size, 8),
    OFF(mailferry_core_api, set_error, 16),
    OFF(mailferry_core_api, log, 24),
    OFF(mailferry_core_api, setting, 32),
    OFF(mailferry_core_api, alloc, 40),
    OFF(mailferry_core_api, realloc, 48),
    OFF(mailferry_core_api, free, 56),
    OFF(mailferry_core_api, random, 64),
    OFF(mailferry_core_api, should_stop, 72),
    SIZE(mailferry_storage_info, 24),
    OFF(mailferry_storage_info, struct_size, 0),
    OFF(mailferry_storage_info, caps, 4),
    OFF(mailferry_storage_info, hier_sep, 8),
    OFF(mailferry_storage_info, display, 16),
    SIZE(mailferry_mailbox_status, 56),
    OFF(mailferry_mailbox_status, struct_size, 0),
    OFF(mailferry_mailbox_status, guid, 4),
    OFF(mailferry_mailbox_status, uidvalidity, 20),
    OFF(mailferry_mailbox_status, uidnext, 24),
    OFF(mailferry_mailbox_status, messages, 28),
    OFF(mailferry_mailbox_status, first_recent_uid, 32),
    OFF(mailferry_mailbox_status, highest_modseq, 40),
    OFF(mailferry_mailbox_status, highest_pvt_modseq, 48),
    SIZE(mailferry_mailbox_info, 80),
    OFF(mailferry_mailbox_info, struct_size, 0),
    OFF(mailferry_mailbox_info, name, 8),
    OFF(mailferry_mailbox_info, flags, 16),
    OFF(mailferry_mailbox_info, special_use, 20),
    OFF(mailferry_mailbox_info, status, 24),
    SIZE(mailferry_log_record, 32),
    OFF(mailferry_log_record, struct_size, 0),
    OFF(mailferry_log_record, type, 4),
    OFF(mailferry_log_record, id, 8),
    OFF(mailferry_log_record, timestamp, 24),
    SIZE(mailferry_mailbox_create, 32),
    OFF(mailferry_mailbox_create, struct_size, 0),
    OFF(mailferry_mailbox_create, guid, 4),
    OFF(mailferry_mailbox_create, uidvalidity, 20),
    OFF(mailferry_mailbox_create, directory, 24),
    OFF(mailferry_mailbox_create, special_use, 28),
    SIZE(mailferry_mailbox_update, 56),
    OFF(mailferry_mailbox_update, struct_size, 0),
    OFF(mailferry_mailbox_update, fields, 4),
    OFF(mailferry_mailbox_update, guid, 8),
    OFF(mailferry_mailbox_update, uidvalidity, 24),
    OFF(mailferry_mailbox_update, min_uidnext, 28),
    OFF(mailferry_mailbox_update, min_first_recent_uid, 32),
    OFF(mailferry_mailbox_update, min_highest_modseq, 40),
    OFF(mailferry_mailbox_update, min_highest_pvt_modseq, 48),
    SIZE(mailferry_msg_query, 32),
    OFF(mailferry_msg_query, struct_size, 0),
    OFF(mailferry_msg_query, uid_first, 4),
    OFF(mailferry_msg_query, uid_last, 8),
    OFF(mailferry_msg_query, fields, 12),
    OFF(mailferry_msg_query, flags, 16),
    OFF(mailferry_msg_query, changed_since, 24),
    SIZE(mailferry_msg, 112),
    OFF(mailferry_msg, struct_size, 0),
    OFF(mailferry_msg, uid, 4),
    OFF(mailferry_msg, guid, 8),
    OFF(mailferry_msg, flags, 16),
    OFF(mailferry_msg, keywords, 24),
    OFF(mailferry_msg, modseq, 32),
    OFF(mailferry_msg, received_date, 40),
    OFF(mailferry_msg, save_date, 48),
    OFF(mailferry_msg, physical_size, 56),
    OFF(mailferry_msg, virtual_size, 64),
    OFF(mailferry_msg, pop3_uidl, 72),
    OFF(mailferry_msg, pop3_order, 80),
    OFF(mailferry_msg, flags_added, 84),
    OFF(mailferry_msg, flags_removed, 88),
    OFF(mailferry_msg, keywords_added, 96),
    OFF(mailferry_msg, keywords_removed, 104),
    SIZE(mailferry_expunge, 40),
    OFF(mailferry_expunge, struct_size, 0),
    OFF(mailferry_expunge, uid, 4),
    OFF(mailferry_expunge, guid, 8),
    OFF(mailferry_expunge, have_guid, 24),
    OFF(mailferry_expunge, modseq, 32),
    SIZE(mailferry_save, 80),
    OFF(mailferry_save, struct_size, 0),
    OFF(mailferry_save, uid, 4),
    OFF(mailferry_save, guid, 8),
    OFF(mailferry_save, flags, 16),
    OFF(mailferry_save, keywords, 24),
    OFF(mailferry_save, received_date, 32),
    OFF(mailferry_save, save_date, 40),
    OFF(mailferry_save, min_modseq, 48),
    OFF(mailferry_save, pop3_uidl, 56),
    OFF(mailferry_save, pop3_order, 64),
    OFF(mailferry_save, size_hint, 72),
    SIZE(mailferry_uid_range, 8),
    OFF(mailferry_uid_range, first, 0),
    OFF(mailferry_uid_range, last, 4),
    SIZE(mailferry_uidset, 16),
    OFF(mailferry_uidset, ranges, 0),
    OFF(mailferry_uidset, count, 8),
    SIZE(mailferry_commit_result, 24),
    OFF(mailferry_commit_result, struct_size, 0),
    OFF(mailferry_commit_result, uidvalidity, 4),
    OFF(mailferry_commit_result, saved_uids, 8),
    OFF(mailferry_commit_result, saved_count, 16),
    SIZE(mailferry_open_params, 64),
    OFF(mailferry_open_params, struct_size, 0),
    OFF(mailferry_open_params, path, 8),
    OFF(mailferry_open_params, option_keys, 16),
    OFF(mailferry_open_params, option_values, 24),
    OFF(mailferry_open_params, option_count, 32),
    OFF(mailferry_open_params, user, 40),
    OFF(mailferry_open_params, home, 48),
    OFF(mailferry_open_params, flags, 56),
    SIZE(mailferry_driver_ops, 368),
    OFF(mailferry_driver_ops, struct_size, 0),
    OFF(mailferry_driver_ops, storage_open, 8),
    OFF(mailferry_driver_ops, storage_close, 16),
    OFF(mailferry_driver_ops, storage_info, 24),
    OFF(mailferry_driver_ops, mailbox_list_begin, 32),
    OFF(mailferry_driver_ops, mailbox_list_next, 40),
    OFF(mailferry_driver_ops, mailbox_list_end, 48),
    OFF(mailferry_driver_ops, mailbox_log_begin, 56),
    OFF(mailferry_driver_ops, mailbox_log_next, 64),
    OFF(mailferry_driver_ops, mailbox_log_end, 72),
    OFF(mailferry_driver_ops, subscriptions_begin, 80),
    OFF(mailferry_driver_ops, subscriptions_next, 88),
    OFF(mailferry_driver_ops, subscriptions_end, 96),
    OFF(mailferry_driver_ops, mailbox_create, 104),
    OFF(mailferry_driver_ops, mailbox_delete, 112),
    OFF(mailferry_driver_ops, mailbox_rename, 120),
    OFF(mailferry_driver_ops, mailbox_set_subscribed, 128),
    OFF(mailferry_driver_ops, mailbox_update, 136),
    OFF(mailferry_driver_ops, mailbox_open, 144),
    OFF(mailferry_driver_ops, mailbox_close, 152),
    OFF(mailferry_driver_ops, mailbox_status, 160),
    OFF(mailferry_driver_ops, msg_iter_begin, 168),
    OFF(mailferry_driver_ops, msg_iter_next, 176),
    OFF(mailferry_driver_ops, msg_iter_end, 184),
    OFF(mailferry_driver_ops, expunge_iter_begin, 192),
    OFF(mailferry_driver_ops, expunge_iter_next, 200),
    OFF(mailferry_driver_ops, expunge_iter_end, 208),
    OFF(mailferry_driver_ops, msg_open, 216),
    OFF(mailferry_driver_ops, stream_read, 224),
    OFF(mailferry_driver_ops, stream_close, 232),
    OFF(mailferry_driver_ops, trans_begin, 240),
    OFF(mailferry_driver_ops, save_begin, 248),
    OFF(mailferry_driver_ops, save_write, 256),
    OFF(mailferry_driver_ops, save_finish, 264),
    OFF(mailferry_driver_ops, save_cancel, 272),
    OFF(mailferry_driver_ops, update_flags, 280),
    OFF(mailferry_driver_ops, update_modseq, 288),
    OFF(mailferry_driver_ops, expunge, 296),
    OFF(mailferry_driver_ops, trans_commit, 304),
    OFF(mailferry_driver_ops, trans_rollback, 312),
    OFF(mailferry_driver_ops, copy, 320),
    OFF(mailferry_driver_ops, msg_get_path, 328),
    OFF(mailferry_driver_ops, save_from_path, 336),
    OFF(mailferry_driver_ops, purge, 344),
    OFF(mailferry_driver_ops, force_resync, 352),
    OFF(mailferry_driver_ops, ctl, 360),
    SIZE(mailferry_driver, 56),
    OFF(mailferry_driver, abi_major, 0),
    OFF(mailferry_driver, abi_minor, 4),
    OFF(mailferry_driver, struct_size, 8),
    OFF(mailferry_driver, name, 16),
    OFF(mailferry_driver, version, 24),
    OFF(mailferry_driver, description, 32),
    OFF(mailferry_driver, caps, 40),
    OFF(mailferry_driver, ops, 48),
};

START_TEST(test_layout)
{
	const struct layout *l = &layouts[_i];

	ck_assert_msg(l->actual == l->frozen,
	              "%s is %zu, frozen at %zu: driver ABI layout changed",
	              l->what, l->actual, l->frozen);
}
END_TEST

START_TEST(test_versions)
{
	ck_assert_int_eq(MAILFERRY_ABI_MAJOR, 1);
	ck_assert_int_ge(MAILFERRY_ABI_MINOR, 0);
	ck_assert(MAILFERRY_ABI_COMPATIBLE(1, 0, 1, 0));
	ck_assert(MAILFERRY_ABI_COMPATIBLE(1, 3, 1, 2));
	ck_assert(!MAILFERRY_ABI_COMPATIBLE(1, 2, 1, 3));
	ck_assert(!MAILFERRY_ABI_COMPATIBLE(1, 0, 2, 0));
	ck_assert(!MAILFERRY_ABI_COMPATIBLE(2, 0, 1, 0));
}
END_TEST

START_TEST(test_enum_values)
{
	static const struct {
		const char *what;
		long actual, frozen;
	} values[] = {
#define V(name, v) {#name, (long)(name), v}
	    V(MAILFERRY_OK, 0),
	    V(MAILFERRY_E_TEMP, -1),
	    V(MAILFERRY_E_NOTFOUND, -2),
	    V(MAILFERRY_E_EXISTS, -3),
	    V(MAILFERRY_E_PERM, -4),
	    V(MAILFERRY_E_NOSPACE, -5),
	    V(MAILFERRY_E_EXPUNGED, -6),
	    V(MAILFERRY_E_INUSE, -7),
	    V(MAILFERRY_E_INVALIDDATA, -8),
	    V(MAILFERRY_E_NOTSUPP, -9),
	    V(MAILFERRY_E_LIMIT, -10),
	    V(MAILFERRY_E_NOMEM, -11),
	    V(MAILFERRY_E_CANCELED, -12),
	    V(MAILFERRY_E_NOHISTORY, -13),
	    V(MAILFERRY_E_INVALID, -14),
	    V(MAILFERRY_CAP_MSG_GUIDS, 1L << 0),
	    V(MAILFERRY_CAP_SAVE_GUID, 1L << 1),
	    V(MAILFERRY_CAP_SAVE_UID, 1L << 2),
	    V(MAILFERRY_CAP_MODSEQ, 1L << 3),
	    V(MAILFERRY_CAP_CHANGE_LOG, 1L << 4),
	    V(MAILFERRY_CAP_MAILBOX_GUIDS, 1L << 5),
	    V(MAILFERRY_CAP_MAILBOX_LOG, 1L << 6),
	    V(MAILFERRY_CAP_KEYWORDS, 1L << 7),
	    V(MAILFERRY_CAP_POP3, 1L << 8),
	    V(MAILFERRY_CAP_PURGE, 1L << 9),
	    V(MAILFERRY_CAP_READONLY, 1L << 10),
	    V(MAILFERRY_CAP_GUID128_ONLY, 1L << 11),
	    V(MAILFERRY_CAP_SUBSCRIPTIONS, 1L << 12),
	    V(MAILFERRY_CAP_SET_UIDVALIDITY, 1L << 13),
	    V(MAILFERRY_CAP_DATES, 1L << 14),
	    V(MAILFERRY_LOG_DEBUG, 0),
	    V(MAILFERRY_LOG_INFO, 1),
	    V(MAILFERRY_LOG_WARNING, 2),
	    V(MAILFERRY_LOG_ERROR, 3),
	    V(MAILFERRY_FLAG_ANSWERED, 1L << 0),
	    V(MAILFERRY_FLAG_FLAGGED, 1L << 1),
	    V(MAILFERRY_FLAG_DELETED, 1L << 2),
	    V(MAILFERRY_FLAG_SEEN, 1L << 3),
	    V(MAILFERRY_FLAG_DRAFT, 1L << 4),
	    V(MAILFERRY_FLAG_RECENT, 1L << 5),
	    V(MAILFERRY_FLAGS_MASK, 0x1f),
	    V(MAILFERRY_SPECIAL_ALL, 1L << 0),
	    V(MAILFERRY_SPECIAL_ARCHIVE, 1L << 1),
	    V(MAILFERRY_SPECIAL_DRAFTS, 1L << 2),
	    V(MAILFERRY_SPECIAL_FLAGGED, 1L << 3),
	    V(MAILFERRY_SPECIAL_JUNK, 1L << 4),
	    V(MAILFERRY_SPECIAL_SENT, 1L << 5),
	    V(MAILFERRY_SPECIAL_TRASH, 1L << 6),
	    V(MAILFERRY_SPECIAL_IMPORTANT, 1L << 7),
	    V(MAILFERRY_MAILBOX_NOSELECT, 1L << 0),
	    V(MAILFERRY_MAILBOX_HAVE_STATUS, 1L << 1),
	    V(MAILFERRY_MAILBOX_CHILDREN, 1L << 2),
	    V(MAILFERRY_LIST_STATUS, 1L << 0),
	    V(MAILFERRY_LOG_DELETE_MAILBOX, 1),
	    V(MAILFERRY_LOG_DELETE_DIR, 2),
	    V(MAILFERRY_LOG_RENAME, 3),
	    V(MAILFERRY_LOG_SUBSCRIBE, 4),
	    V(MAILFERRY_LOG_UNSUBSCRIBE, 5),
	    V(MAILFERRY_UPDATE_GUID, 1L << 0),
	    V(MAILFERRY_UPDATE_UIDVALIDITY, 1L << 1),
	    V(MAILFERRY_UPDATE_MIN_UIDNEXT, 1L << 2),
	    V(MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ, 1L << 3),
	    V(MAILFERRY_UPDATE_MIN_FIRST_RECENT_UID, 1L << 4),
	    V(MAILFERRY_UPDATE_MIN_HIGHEST_PVT_MODSEQ, 1L << 5),
	    V(MAILFERRY_FIELD_GUID, 1L << 0),
	    V(MAILFERRY_FIELD_FLAGS, 1L << 1),
	    V(MAILFERRY_FIELD_MODSEQ, 1L << 2),
	    V(MAILFERRY_FIELD_RECEIVED, 1L << 3),
	    V(MAILFERRY_FIELD_SAVED, 1L << 4),
	    V(MAILFERRY_FIELD_PHYSICAL_SIZE, 1L << 5),
	    V(MAILFERRY_FIELD_VIRTUAL_SIZE, 1L << 6),
	    V(MAILFERRY_FIELD_POP3, 1L << 7),
	    V(MAILFERRY_FIELD_CHANGES, 1L << 8),
	    V(MAILFERRY_QUERY_SKIP_SYNC_CHANGES, 1L << 0),
	    V(MAILFERRY_OPEN_HEADER_ONLY, 1L << 0),
	    V(MAILFERRY_MAILBOX_READONLY, 1L << 0),
	    V(MAILFERRY_MAILBOX_SYNC_LOCK, 1L << 1),
	    V(MAILFERRY_TRANS_SYNC, 1L << 0),
	    V(MAILFERRY_MODIFY_ADD, 0),
	    V(MAILFERRY_MODIFY_REMOVE, 1),
	    V(MAILFERRY_MODIFY_REPLACE, 2),
	    V(MAILFERRY_STORAGE_READONLY, 1L << 0),
	    V(MAILFERRY_STORAGE_CREATE, 1L << 1),
#undef V
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		ck_assert_msg(values[i].actual == values[i].frozen,
		              "%s is %ld, frozen at %ld", values[i].what,
		              values[i].actual, values[i].frozen);
	ck_assert_str_eq(MAILFERRY_DRIVER_ENTRY_SYMBOL,
	                 "mailferry_driver_entry");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("abi-layout");
	TCase *tc = tcase_create("layout");
	SRunner *sr;
	int failed;

#if !defined(__x86_64__) || !defined(__LP64__)
	/* the frozen numbers are for x86_64 LP64 */
	return 77;
#endif
	tcase_add_loop_test(tc, test_layout, 0,
	                    (int)(sizeof(layouts) / sizeof(layouts[0])));
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_enum_values);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
