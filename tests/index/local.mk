# SPDX-License-Identifier: MIT
# Tests of core/index: unit tests (Check), a test-only CLI that prints what
# the reader sees, and shell tests against the real Dovecot.
check_PROGRAMS += tests/index/mf-index-tool
tests_index_mf_index_tool_SOURCES = tests/index/mf-index-tool.c
tests_index_mf_index_tool_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/index
tests_index_mf_index_tool_LDADD = core/index/libmfindex.la core/lib/libmflib.la

TESTS += tests/index/dovecot-read.sh
EXTRA_DIST += tests/index/dovecot-read.sh
TESTS += tests/index/dovecot-write.sh
EXTRA_DIST += tests/index/dovecot-write.sh

check_PROGRAMS += tests/index/test-index
TESTS += tests/index/test-index
tests_index_test_index_SOURCES = tests/index/test-index.c
tests_index_test_index_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/index
tests_index_test_index_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_index_test_index_LDADD = core/index/libmfindex.la core/lib/libmflib.la \
	$(CHECK_LIBS)
