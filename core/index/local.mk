# SPDX-License-Identifier: MIT
# libmfindex: Dovecot-compatible index, transaction log, mailbox log,
# subscriptions and uidvalidity files (core/index/mf-index.h and friends).
# A convenience library: the core and the dbox/maildir drivers link their
# own static copy.
noinst_LTLIBRARIES += core/index/libmfindex.la
# (also compiled straight into the libFuzzer binary, instrumented)
MF_INDEX_SRCS = \
	core/index/mf-index.h core/index/mf-index-private.h \
	core/index/mf-index.c \
	core/index/mf-index-map.c \
	core/index/mf-index-file.c \
	core/index/mf-index-log.c \
	core/index/mf-index-sync.c \
	core/index/mf-index-lock.c \
	core/index/mf-index-trans.c \
	core/index/mf-index-changes.c \
	core/index/mf-mailbox-log.c core/index/mf-mailbox-log.h \
	core/index/mf-subscriptions.c core/index/mf-subscriptions.h \
	core/index/mf-uidvalidity.c core/index/mf-uidvalidity.h \
	core/index/mf-dump.c core/index/mf-dump.h
core_index_libmfindex_la_SOURCES = $(MF_INDEX_SRCS)
core_index_libmfindex_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/index
core_index_libmfindex_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
core_index_libmfindex_la_LIBADD = $(OPENSSL_LIBS)
EXTRA_DIST += core/index/README.md
