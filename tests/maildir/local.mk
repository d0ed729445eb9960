# SPDX-License-Identifier: MIT
# Tests of the maildir driver: file formats (Check) and interop with the
# real Dovecot (shell, through the mailferry CLI).
check_PROGRAMS += tests/maildir/test-maildir-formats
TESTS += tests/maildir/test-maildir-formats
tests_maildir_test_maildir_formats_SOURCES = tests/maildir/test-maildir-formats.c
tests_maildir_test_maildir_formats_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugins/maildir
tests_maildir_test_maildir_formats_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_maildir_test_maildir_formats_LDADD = \
	plugins/maildir/libmaildir-core.la core/lib/libmflib.la $(CHECK_LIBS)

# md-writer: saves/changes through the driver ABI for the interop tests
check_PROGRAMS += tests/maildir/md-writer
tests_maildir_md_writer_SOURCES = tests/maildir/md-writer.c
tests_maildir_md_writer_LDADD = core/loader/libmfloader.la \
	core/lib/libmflib.la $(LTDL_LIBS) $(OPENSSL_LIBS)

# interop with the real Dovecot (skipped only when doveadm is missing)
TESTS += tests/maildir/interop-read.sh tests/maildir/interop-write.sh \
	tests/maildir/corpus.sh tests/maildir/bad-input.sh \
	tests/maildir/concurrency.sh tests/maildir/engine-backup.sh \
	tests/maildir/fsync.sh tests/maildir/compress.sh \
	tests/maildir/permissions.sh tests/maildir/move.sh \
	tests/maildir/save-guid.sh tests/maildir/keywords.sh \
	tests/maildir/quick-sync.sh tests/maildir/save-crash.sh \
	tests/maildir/memory.sh tests/maildir/scan-race.sh
EXTRA_DIST += tests/maildir/interop-read.sh tests/maildir/md-common.sh \
	tests/maildir/interop-write.sh tests/maildir/corpus.sh \
	tests/maildir/bad-input.sh tests/maildir/concurrency.sh \
	tests/maildir/engine-backup.sh tests/maildir/fsync.sh \
	tests/maildir/compress.sh tests/maildir/permissions.sh \
	tests/maildir/move.sh tests/maildir/save-guid.sh \
	tests/maildir/keywords.sh tests/maildir/quick-sync.sh \
	tests/maildir/save-crash.sh tests/maildir/memory.sh tests/maildir/scan-race.sh
