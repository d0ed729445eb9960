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

# The fuzz entry replayed over the corpus (and mutations of it) in every
# build; with --enable-fuzz (CC=clang) also a libFuzzer binary.
check_PROGRAMS += tests/index/fuzz-replay
TESTS += tests/index/fuzz-replay
tests_index_fuzz_replay_SOURCES = tests/index/fuzz-replay.c tests/index/fuzz-index.c
tests_index_fuzz_replay_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/index
tests_index_fuzz_replay_LDADD = core/index/libmfindex.la core/lib/libmflib.la
EXTRA_DIST += tests/index/fuzz-corpus
if ENABLE_FUZZ
noinst_PROGRAMS += tests/index/fuzz-index
# the parsers are compiled in here so that they get coverage feedback
tests_index_fuzz_index_SOURCES = tests/index/fuzz-index.c $(MF_INDEX_SRCS) \
	core/lib/mf-alloc.c core/lib/mf-buf.c core/lib/mf-file.c \
	core/lib/mf-hex.c core/lib/mf-log.c core/lib/mf-perm.c
tests_index_fuzz_index_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/index
tests_index_fuzz_index_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) -fsanitize=fuzzer
tests_index_fuzz_index_LDFLAGS = -fsanitize=fuzzer
tests_index_fuzz_index_LDADD = $(OPENSSL_LIBS)
endif
