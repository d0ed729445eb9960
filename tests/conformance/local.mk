# SPDX-License-Identifier: MIT
# The driver conformance suite: one Check program run against every driver
# the loader finds, plus the eml sample driver built in tree from
# tests/sample-driver so the suite always has a third-party-style driver.
check_PROGRAMS += tests/conformance/test-conformance
TESTS += tests/conformance/test-conformance
# the same suite against imapc and a real Dovecot imapd on 127.0.0.1
TESTS += tests/conformance/imapc.sh
EXTRA_DIST += tests/conformance/imapc.sh
tests_conformance_test_conformance_SOURCES = \
	tests/conformance/test-conformance.c \
	tests/conformance/test-read.c \
	tests/conformance/test-write.c \
	tests/conformance/test-log.c \
	tests/conformance/test-extra.c \
	tests/conformance/test-threads.c \
	tests/conformance/test-eml.c \
	tests/conformance/test-samples.c \
	tests/conformance/conf-env.c \
	tests/conformance/conf-fixture.c \
	tests/conformance/conf-util.c \
	tests/conformance/conf.h \
	tests/conformance/conf-tests.h
tests_conformance_test_conformance_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMF_CONF_SRCDIR='"$(abs_top_srcdir)"' \
	-DMF_CONF_BUILDDIR='"$(abs_top_builddir)"'
tests_conformance_test_conformance_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) \
	$(OPENSSL_CFLAGS)
tests_conformance_test_conformance_LDADD = core/loader/libmfloader.la \
	core/lib/libmflib.la $(CHECK_LIBS) $(OPENSSL_LIBS)
# the suite needs eml.so even when built alone (make tests/conformance/...)
EXTRA_tests_conformance_test_conformance_DEPENDENCIES = \
	tests/conformance/eml.la

# eml.so, from the same sources as the out-of-tree sample build; only the
# entry point is exported, as the SDK's Makefile does with visibility.
check_LTLIBRARIES += tests/conformance/eml.la
tests_conformance_eml_la_SOURCES = \
	tests/sample-driver/eml.c \
	tests/sample-driver/eml-tree.c \
	tests/sample-driver/eml-mailbox.c \
	tests/sample-driver/eml-msg.c \
	tests/sample-driver/eml-sha1.c \
	tests/sample-driver/eml-private.h \
	tests/sample-driver/eml-sha1.h
tests_conformance_eml_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
tests_conformance_eml_la_LDFLAGS = $(MF_DRIVER_LINK) -rpath /nowhere

EXTRA_DIST += tests/sample-driver/Makefile tests/sample-driver/README.md \
	tests/sample-driver/install-test.sh \
	tests/data/sample-eml tests/data/sample-maildir
