# SPDX-License-Identifier: MIT
# libmfindex: Dovecot-compatible index, transaction log, mailbox log,
# subscriptions and uidvalidity files (core/index/mf-index.h and friends).
# A convenience library: the core and the dbox/maildir drivers link their
# own static copy.
noinst_LTLIBRARIES += core/index/libmfindex.la
core_index_libmfindex_la_SOURCES = \
	core/index/mf-index.h \
	core/index/mf-mailbox-log.h \
	core/index/mf-subscriptions.h \
	core/index/mf-uidvalidity.c core/index/mf-uidvalidity.h \
	core/index/mf-dump.h
core_index_libmfindex_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/index
