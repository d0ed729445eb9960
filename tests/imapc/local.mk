# SPDX-License-Identifier: MIT
# Tests of the imapc driver: parser and mUTF-7 units (Check), and shell
# tests against a real Dovecot imapd started on 127.0.0.1 (imapd.sh).
IMAPC_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/imapc

check_PROGRAMS += tests/imapc/test-imapc-parser
TESTS += tests/imapc/test-imapc-parser
tests_imapc_test_imapc_parser_SOURCES = tests/imapc/test-imapc-parser.c
tests_imapc_test_imapc_parser_CPPFLAGS = $(IMAPC_TEST_CPPFLAGS)
tests_imapc_test_imapc_parser_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_imapc_test_imapc_parser_LDADD = plugins/imapc/libimapcproto.la \
	core/lib/libmflib.la $(CHECK_LIBS)

# A small program driving stores through the loader (writes, copies,
# change listings, memory-bounded reads) for the shell tests.
check_PROGRAMS += tests/imapc/imapc-tool
tests_imapc_imapc_tool_SOURCES = tests/imapc/imapc-tool.c
tests_imapc_imapc_tool_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_imapc_imapc_tool_LDADD = core/loader/libmfloader.la \
	core/lib/libmflib.la $(LTDL_LIBS) $(OPENSSL_LIBS)

# A proxy that cuts the first connection at a chosen point (reconnect tests).
check_PROGRAMS += tests/imapc/imapc-dropproxy
tests_imapc_imapc_dropproxy_SOURCES = tests/imapc/imapc-dropproxy.c

# Shell tests against a real Dovecot imapd on 127.0.0.1.
TESTS += tests/imapc/imapc-read.sh tests/imapc/imapc-write.sh \
	tests/imapc/imapc-fault.sh tests/imapc/imapc-engine.sh \
	tests/imapc/imapc-auth.sh tests/imapc/imapc-objectid.sh \
	tests/imapc/imapc-dest.sh tests/imapc/imapc-ext.sh \
	tests/imapc/imapc-prefetch.sh
EXTRA_DIST += tests/imapc/imapd.sh tests/imapc/common.sh \
	tests/imapc/imapc-read.sh tests/imapc/imapc-write.sh \
	tests/imapc/imapc-fault.sh tests/imapc/imapc-engine.sh \
	tests/imapc/imapc-auth.sh tests/imapc/imapc-objectid.sh \
	tests/imapc/imapc-dest.sh tests/imapc/imapc-ext.sh \
	tests/imapc/imapc-prefetch.sh tests/imapc/fakeimapd.py

# The parser's fuzz entry replayed over the corpus (every prefix and
# mutations) in every build; with --enable-fuzz (CC=clang) also a libFuzzer
# binary (run by tests/run-fuzzers.sh with that corpus as seeds).
check_PROGRAMS += tests/imapc/fuzz-replay
TESTS += tests/imapc/fuzz-replay
tests_imapc_fuzz_replay_SOURCES = tests/imapc/fuzz-replay.c \
	tests/imapc/fuzz-imap-parser.c
tests_imapc_fuzz_replay_CPPFLAGS = $(IMAPC_TEST_CPPFLAGS)
tests_imapc_fuzz_replay_LDADD = plugins/imapc/libimapcproto.la \
	core/lib/libmflib.la
EXTRA_DIST += tests/imapc/fuzz-corpus
if ENABLE_FUZZ
noinst_PROGRAMS += tests/imapc/fuzz-imap-parser
# the parser is compiled in here so that it gets coverage feedback
tests_imapc_fuzz_imap_parser_SOURCES = tests/imapc/fuzz-imap-parser.c \
	plugins/imapc/imapc-parser.c core/lib/mf-utf7.c \
	core/lib/mf-alloc.c core/lib/mf-buf.c
tests_imapc_fuzz_imap_parser_CPPFLAGS = $(IMAPC_TEST_CPPFLAGS)
tests_imapc_fuzz_imap_parser_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_imapc_fuzz_imap_parser_LDFLAGS = -fsanitize=fuzzer
endif

# The client's pipelining against scripted servers.
check_PROGRAMS += tests/imapc/test-imapc-client
TESTS += tests/imapc/test-imapc-client
tests_imapc_test_imapc_client_SOURCES = tests/imapc/test-imapc-client.c \
	plugins/imapc/imapc-conn.c plugins/imapc/imapc-client.c \
	plugins/imapc/imapc-auth.c
tests_imapc_test_imapc_client_CPPFLAGS = $(IMAPC_TEST_CPPFLAGS) \
	$(OPENSSL_CFLAGS)
tests_imapc_test_imapc_client_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_imapc_test_imapc_client_LDADD = plugins/imapc/libimapcproto.la \
	core/lib/libmflib.la $(OPENSSL_LIBS) $(CHECK_LIBS)
