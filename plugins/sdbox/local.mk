# SPDX-License-Identifier: MIT
# dbox-common: code shared by the sdbox and mdbox drivers (dbox file format,
# the generic mailbox/transaction logic; compression comes from
# core/lib/libmfcompress.la). A convenience library linked statically into both drivers; defined here because the top-level
# Makefile.am includes only this fragment for it.
noinst_LTLIBRARIES += plugins/dbox-common/libdboxcommon.la
plugins_dbox_common_libdboxcommon_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/index -I$(top_srcdir)/plugins/dbox-common
plugins_dbox_common_libdboxcommon_la_SOURCES = \
	plugins/dbox-common/dbox-file.c plugins/dbox-common/dbox-file.h \
	plugins/dbox-common/dbox-writer.c plugins/dbox-common/dbox-writer.h \
	plugins/dbox-common/dbox-body.c plugins/dbox-common/dbox-body.h \
	plugins/dbox-common/dbox-storage.c plugins/dbox-common/dbox-storage.h \
	plugins/dbox-common/dbox-settings.c \
	plugins/dbox-common/dbox-names.c \
	plugins/dbox-common/dbox-temp.c plugins/dbox-common/dbox-temp.h \
	plugins/dbox-common/dbox-move.c plugins/dbox-common/dbox-move.h \
	plugins/dbox-common/dbox-list.c \
	plugins/dbox-common/dbox-mailbox.c \
	plugins/dbox-common/dbox-trans.c \
	plugins/dbox-common/dbox-resync.c plugins/dbox-common/dbox-resync.h \
	plugins/dbox-common/dbox-ops.c plugins/dbox-common/dbox-ops.h
plugins_dbox_common_libdboxcommon_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)

DBOX_COMMON_LIBS = plugins/dbox-common/libdboxcommon.la \
	core/index/libmfindex.la core/lib/libmfcompress.la core/lib/libmflib.la \
	$(ZSTD_LIBS) $(ZLIB_LIBS) $(OPENSSL_LIBS)

# The sdbox driver: one file per message.
driver_LTLIBRARIES += plugins/sdbox/sdbox.la
plugins_sdbox_sdbox_la_SOURCES = plugins/sdbox/sdbox.c
plugins_sdbox_sdbox_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/index -I$(top_srcdir)/plugins/dbox-common
plugins_sdbox_sdbox_la_LDFLAGS = $(MF_DRIVER_LINK)
plugins_sdbox_sdbox_la_LIBADD = $(DBOX_COMMON_LIBS)

# Unit tests of the dbox file format and compression.
check_PROGRAMS += tests/dbox/test-dbox-file
TESTS += tests/dbox/test-dbox-file
tests_dbox_test_dbox_file_SOURCES = tests/dbox/test-dbox-file.c
tests_dbox_test_dbox_file_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugins/dbox-common $(CHECK_CFLAGS)
tests_dbox_test_dbox_file_LDADD = $(DBOX_COMMON_LIBS) $(CHECK_LIBS)
check_PROGRAMS += tests/dbox/test-dbox-names
TESTS += tests/dbox/test-dbox-names
tests_dbox_test_dbox_names_SOURCES = tests/dbox/test-dbox-names.c
tests_dbox_test_dbox_names_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/index -I$(top_srcdir)/plugins/dbox-common \
	$(CHECK_CFLAGS)
tests_dbox_test_dbox_names_LDADD = $(DBOX_COMMON_LIBS) $(CHECK_LIBS)

# Interop with the real Dovecot (tests/lib/dovecot.sh); dbox-put is built by
# plugins/mdbox/local.mk.
TESTS += tests/dbox/interop-write.sh tests/dbox/interop-read.sh \
	tests/dbox/corrupt.sh tests/dbox/resync.sh tests/dbox/settings.sh \
	tests/dbox/concurrent.sh tests/dbox/mailbox-log.sh \
	tests/dbox/crash.sh tests/dbox/convert.sh tests/dbox/move.sh \
	tests/dbox/map-rebuild.sh tests/dbox/ownership.sh \
	tests/interop/dbox-move-sync.sh tests/dbox/scale-rss.sh
EXTRA_DIST += tests/dbox/interop-write.sh tests/dbox/interop-read.sh \
	tests/dbox/corrupt.sh tests/dbox/resync.sh tests/dbox/settings.sh \
	tests/dbox/concurrent.sh tests/dbox/mailbox-log.sh \
	plugins/dbox-common/README.md \
	tests/dbox/crash.sh tests/dbox/convert.sh tests/dbox/interop-common.sh \
	tests/dbox/move.sh tests/dbox/map-rebuild.sh tests/dbox/ownership.sh \
	tests/interop/dbox-move-sync.sh tests/dbox/scale-rss.sh \
	tests/dbox/data/README tests/dbox/data/msg1.eml \
	tests/dbox/data/sdbox-u.1 tests/dbox/data/sdbox-zstd-u.1 \
	tests/dbox/data/mdbox-m.1

# The dbox parser fuzz entry, replayed over Dovecot's and our files and
# their mutations in every build; with --enable-fuzz also a libFuzzer binary.
check_PROGRAMS += tests/dbox/fuzz-dbox-replay
TESTS += tests/dbox/fuzz-dbox-replay
tests_dbox_fuzz_dbox_replay_SOURCES = tests/dbox/fuzz-dbox-replay.c \
	tests/dbox/fuzz-dbox.c
tests_dbox_fuzz_dbox_replay_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugins/dbox-common
tests_dbox_fuzz_dbox_replay_LDADD = $(DBOX_COMMON_LIBS)
if ENABLE_FUZZ
noinst_PROGRAMS += tests/dbox/fuzz-dbox
tests_dbox_fuzz_dbox_SOURCES = tests/dbox/fuzz-dbox.c
tests_dbox_fuzz_dbox_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugins/dbox-common
tests_dbox_fuzz_dbox_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_dbox_fuzz_dbox_LDFLAGS = -fsanitize=fuzzer
tests_dbox_fuzz_dbox_LDADD = $(DBOX_COMMON_LIBS)
endif
