# SPDX-License-Identifier: MIT
# dbox-common: code shared by the sdbox and mdbox drivers (dbox file format,
# compression, the generic mailbox/transaction logic). A convenience library
# linked statically into both drivers; defined here because the top-level
# Makefile.am includes only this fragment for it.
noinst_LTLIBRARIES += plugins/dbox-common/libdboxcommon.la
plugins_dbox_common_libdboxcommon_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/index -I$(top_srcdir)/plugins/dbox-common \
	$(ZSTD_CFLAGS) $(ZLIB_CFLAGS)
plugins_dbox_common_libdboxcommon_la_SOURCES = \
	plugins/dbox-common/dbox-file.c plugins/dbox-common/dbox-file.h \
	plugins/dbox-common/dbox-compress.c plugins/dbox-common/dbox-compress.h \
	plugins/dbox-common/dbox-writer.c plugins/dbox-common/dbox-writer.h \
	plugins/dbox-common/dbox-body.c plugins/dbox-common/dbox-body.h

DBOX_COMMON_LIBS = plugins/dbox-common/libdboxcommon.la \
	core/lib/libmflib.la $(ZSTD_LIBS) $(ZLIB_LIBS)

# Unit tests of the dbox file format and compression.
check_PROGRAMS += tests/dbox/test-dbox-file
TESTS += tests/dbox/test-dbox-file
tests_dbox_test_dbox_file_SOURCES = tests/dbox/test-dbox-file.c
tests_dbox_test_dbox_file_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugins/dbox-common $(CHECK_CFLAGS)
tests_dbox_test_dbox_file_LDADD = $(DBOX_COMMON_LIBS) $(CHECK_LIBS)
