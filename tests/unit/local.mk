# SPDX-License-Identifier: MIT
# Unit tests (Check, fork mode) for settings, locations, the driver loader,
# the ABI layout and the CLI, plus an end-to-end shell test of the program.

# Test drivers: one source, each .so broken in one way (see testdrv.c).
# -rpath makes libtool build shared objects although they are never
# installed; dup/ holds a second "tgood" for the duplicate-name test.
TESTDRV_LDFLAGS = $(MF_DRIVER_LINK) -rpath /nowhere

check_LTLIBRARIES += tests/unit/drivers/tgood.la
tests_unit_drivers_tgood_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tgood_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tmajor.la
tests_unit_drivers_tmajor_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tmajor_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"tmajor"' -DTD_ABI_MAJOR='(MAILFERRY_ABI_MAJOR + 1)' -DTD_ABI_MINOR=0
tests_unit_drivers_tmajor_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tminor.la
tests_unit_drivers_tminor_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tminor_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"tminor"' -DTD_ABI_MINOR='(MAILFERRY_ABI_MINOR + 1)'
tests_unit_drivers_tminor_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tnoentry.la
tests_unit_drivers_tnoentry_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tnoentry_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"tnoentry"' -DTD_NO_ENTRY
# exports everything but the entry point (an empty export list would not link)
tests_unit_drivers_tnoentry_la_LDFLAGS = -module -avoid-version -shared \
	-rpath /nowhere $(SAN_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tnull.la
tests_unit_drivers_tnull_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tnull_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"tnull"' -DTD_RETURN_NULL
tests_unit_drivers_tnull_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tname.la
tests_unit_drivers_tname_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tname_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"other"'
tests_unit_drivers_tname_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tsmalldesc.la
tests_unit_drivers_tsmalldesc_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tsmalldesc_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"tsmalldesc"' -DTD_SMALL_DESC
tests_unit_drivers_tsmalldesc_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tsmallops.la
tests_unit_drivers_tsmallops_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tsmallops_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"tsmallops"' -DTD_SMALL_OPS
tests_unit_drivers_tsmallops_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/tnullslot.la
tests_unit_drivers_tnullslot_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_tnullslot_la_CPPFLAGS = $(AM_CPPFLAGS) -DTD_NAME='"tnullslot"' -DTD_NULL_SLOT
tests_unit_drivers_tnullslot_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_LTLIBRARIES += tests/unit/drivers/dup/tgood.la
tests_unit_drivers_dup_tgood_la_SOURCES = tests/unit/drivers/testdrv.c
tests_unit_drivers_dup_tgood_la_LDFLAGS = $(TESTDRV_LDFLAGS)

check_PROGRAMS += tests/unit/test-settings
TESTS += tests/unit/test-settings
tests_unit_test_settings_SOURCES = tests/unit/test-settings.c
tests_unit_test_settings_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_test_settings_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_settings_LDADD = $(MF_CLI_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-location
TESTS += tests/unit/test-location
tests_unit_test_location_SOURCES = tests/unit/test-location.c
tests_unit_test_location_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_test_location_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_location_LDADD = $(MF_CLI_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-loader
TESTS += tests/unit/test-loader
tests_unit_test_loader_SOURCES = tests/unit/test-loader.c
tests_unit_test_loader_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_test_loader_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_loader_LDADD = $(MF_CLI_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-sync-opts
TESTS += tests/unit/test-sync-opts
tests_unit_test_sync_opts_SOURCES = tests/unit/test-sync-opts.c
tests_unit_test_sync_opts_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_test_sync_opts_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_sync_opts_LDADD = $(MF_CLI_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-cli
TESTS += tests/unit/test-cli
tests_unit_test_cli_SOURCES = tests/unit/test-cli.c
tests_unit_test_cli_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_test_cli_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_cli_LDADD = $(MF_CLI_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-abi-layout
TESTS += tests/unit/test-abi-layout
tests_unit_test_abi_layout_SOURCES = tests/unit/test-abi-layout.c
tests_unit_test_abi_layout_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_test_abi_layout_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_abi_layout_LDADD =  $(CHECK_LIBS)

# End-to-end: the program's usage errors, exit codes, help, drivers,
# mailbox list/status and fetch against the test driver.
TESTS += tests/unit/cli.sh
EXTRA_DIST += tests/unit/cli.sh

# The same Dovecot-written Maildir read by doveadm and by mailferry (through
# the maildir driver): fetch, mailbox status and list print the same bytes.
TESTS += tests/unit/cli-doveadm.sh
EXTRA_DIST += tests/unit/cli-doveadm.sh

# The config/location/sync-option fuzz entry, replayed over built-in seeds
# and mutations in every build; with --enable-fuzz also a libFuzzer binary.
check_PROGRAMS += tests/unit/fuzz-config-replay
TESTS += tests/unit/fuzz-config-replay
tests_unit_fuzz_config_replay_SOURCES = tests/unit/fuzz-config-replay.c \
	tests/unit/fuzz-config.c
tests_unit_fuzz_config_replay_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_fuzz_config_replay_LDADD = $(MF_CLI_LIBS)
if ENABLE_FUZZ
noinst_PROGRAMS += tests/unit/fuzz-config
tests_unit_fuzz_config_SOURCES = tests/unit/fuzz-config.c
tests_unit_fuzz_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/cli
tests_unit_fuzz_config_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_unit_fuzz_config_LDFLAGS = -fsanitize=fuzzer
tests_unit_fuzz_config_LDADD = $(MF_CLI_LIBS)
endif
EXTRA_DIST += tests/unit/fuzz-corpus

check_PROGRAMS += tests/unit/test-tmpfile
TESTS += tests/unit/test-tmpfile
tests_unit_test_tmpfile_SOURCES = tests/unit/test-tmpfile.c
tests_unit_test_tmpfile_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_tmpfile_LDADD = core/lib/libmflib.la $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-strv
TESTS += tests/unit/test-strv
tests_unit_test_strv_SOURCES = tests/unit/test-strv.c
tests_unit_test_strv_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_strv_LDADD = core/lib/libmflib.la $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-utf7
TESTS += tests/unit/test-utf7
tests_unit_test_utf7_SOURCES = tests/unit/test-utf7.c
tests_unit_test_utf7_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_utf7_LDADD = core/lib/libmflib.la $(CHECK_LIBS)

TESTS += tests/unit/cli-maint.sh
EXTRA_DIST += tests/unit/cli-maint.sh

# sync/backup per user: -u USER|MASK, -F FILE, -A.
TESTS += tests/unit/cli-users.sh
EXTRA_DIST += tests/unit/cli-users.sh

check_PROGRAMS += tests/unit/test-compress
TESTS += tests/unit/test-compress
tests_unit_test_compress_SOURCES = tests/unit/test-compress.c
tests_unit_test_compress_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_compress_LDADD = core/lib/libmfcompress.la \
	core/lib/libmflib.la $(ZSTD_LIBS) $(ZLIB_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-perm
TESTS += tests/unit/test-perm
tests_unit_test_perm_SOURCES = tests/unit/test-perm.c
tests_unit_test_perm_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_perm_LDADD = core/lib/libmflib.la $(CHECK_LIBS)
