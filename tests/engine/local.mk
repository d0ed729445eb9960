# SPDX-License-Identifier: MIT
# Engine tests: pure algorithm units, and scenario / model-based sync tests
# between two stores of the memdrv test driver (loaded through the loader).
check_LTLIBRARIES += tests/engine/memdrv.la
tests_engine_memdrv_la_SOURCES = tests/engine/memdrv.c
tests_engine_memdrv_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
# check_LTLIBRARIES are not installed; -rpath makes libtool build a .so
tests_engine_memdrv_la_LDFLAGS = $(MF_DRIVER_LINK) -rpath /nowhere
tests_engine_memdrv_la_LIBADD = core/lib/libmflib.la $(OPENSSL_LIBS)

# gendrv: generated messages for the 1,000,000-message scale test
check_LTLIBRARIES += tests/engine/gendrv.la
tests_engine_gendrv_la_SOURCES = tests/engine/gendrv.c
tests_engine_gendrv_la_LDFLAGS = $(MF_DRIVER_LINK) -rpath /nowhere
tests_engine_gendrv_la_LIBADD = core/lib/libmflib.la

MF_ENGINE_TEST_LIBS = core/engine/libmfengine.la core/loader/libmfloader.la \
	core/lib/libmflib.la $(LTDL_LIBS) $(OPENSSL_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/engine/test-engine-units tests/engine/test-engine-sync
TESTS += tests/engine/test-engine-units tests/engine/test-engine-sync
tests_engine_test_engine_units_SOURCES = tests/engine/test-engine-units.c
tests_engine_test_engine_units_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/engine $(OPENSSL_CFLAGS) $(CHECK_CFLAGS)
tests_engine_test_engine_units_LDADD = $(MF_ENGINE_TEST_LIBS)

tests_engine_test_engine_sync_SOURCES = tests/engine/test-engine-sync.c \
	tests/engine/engine-harness.c tests/engine/engine-harness.h
tests_engine_test_engine_sync_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/engine $(OPENSSL_CFLAGS) $(CHECK_CFLAGS)
tests_engine_test_engine_sync_LDADD = $(MF_ENGINE_TEST_LIBS)
# the test needs the driver built first
EXTRA_tests_engine_test_engine_sync_DEPENDENCIES = tests/engine/memdrv.la

# stores that cannot keep UIDs / mailbox GUIDs (memdrv IMAPLIKE=1), and
# a destination INBOX that cannot be deleted (INBOXFIXED=1)
check_PROGRAMS += tests/engine/test-engine-ids
TESTS += tests/engine/test-engine-ids
tests_engine_test_engine_ids_SOURCES = tests/engine/test-engine-ids.c \
	tests/engine/engine-harness.c tests/engine/engine-harness.h
tests_engine_test_engine_ids_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/engine $(OPENSSL_CFLAGS) $(CHECK_CFLAGS)
tests_engine_test_engine_ids_LDADD = $(MF_ENGINE_TEST_LIBS)
EXTRA_tests_engine_test_engine_ids_DEPENDENCIES = tests/engine/memdrv.la

check_PROGRAMS += tests/engine/test-engine-scale
TESTS += tests/engine/test-engine-scale
tests_engine_test_engine_scale_SOURCES = tests/engine/test-engine-scale.c \
	tests/engine/engine-harness.c tests/engine/engine-harness.h
tests_engine_test_engine_scale_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/engine $(OPENSSL_CFLAGS) $(CHECK_CFLAGS)
tests_engine_test_engine_scale_LDADD = $(MF_ENGINE_TEST_LIBS)
EXTRA_tests_engine_test_engine_scale_DEPENDENCIES = tests/engine/gendrv.la

# two Maildirs synced by mailferry and checked with the real Dovecot,
# including a SIGKILL half-way (skipped only when doveadm is missing)
TESTS += tests/engine/sync-maildir.sh
EXTRA_DIST += tests/engine/sync-maildir.sh

# a backup over a destination INBOX that cannot be made identical in place
# (Dovecot-written stores), and over UIDs the eml sample driver renumbered
TESTS += tests/engine/backup-inbox.sh
EXTRA_DIST += tests/engine/backup-inbox.sh

# the index's incremental refresh equals a full load on real stores
TESTS += tests/engine/incremental-check.sh
EXTRA_DIST += tests/engine/incremental-check.sh

# the CLI end to end (maildir + memdrv; no Dovecot needed)
TESTS += tests/engine/sync-cli.sh
EXTRA_DIST += tests/engine/sync-cli.sh

# the window size, the stateful no-op and the merge of new mail on both
# sides through temporary files (memdrv)
check_PROGRAMS += tests/engine/test-engine-window
TESTS += tests/engine/test-engine-window
tests_engine_test_engine_window_SOURCES = tests/engine/test-engine-window.c \
	tests/engine/engine-harness.c tests/engine/engine-harness.h
tests_engine_test_engine_window_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/engine $(OPENSSL_CFLAGS) $(CHECK_CFLAGS)
tests_engine_test_engine_window_LDADD = $(MF_ENGINE_TEST_LIBS)
EXTRA_tests_engine_test_engine_window_DEPENDENCIES = tests/engine/memdrv.la

# a by-identity backup into a non-empty destination: the in-memory match
# and the one through temporary files agree on random histories (memdrv)
check_PROGRAMS += tests/engine/test-engine-backup-ids
TESTS += tests/engine/test-engine-backup-ids
tests_engine_test_engine_backup_ids_SOURCES = \
	tests/engine/test-engine-backup-ids.c \
	tests/engine/engine-harness.c tests/engine/engine-harness.h
tests_engine_test_engine_backup_ids_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/engine $(OPENSSL_CFLAGS) $(CHECK_CFLAGS)
tests_engine_test_engine_backup_ids_LDADD = $(MF_ENGINE_TEST_LIBS)
EXTRA_tests_engine_test_engine_backup_ids_DEPENDENCIES = tests/engine/memdrv.la
