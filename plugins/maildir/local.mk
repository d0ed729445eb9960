# SPDX-License-Identifier: MIT
# maildir.so: Maildir (Maildir++ / LAYOUT=fs) read and written as
# Dovecot 2.3 does. A small core (uidlist, file names, keywords, names)
# is also built as a convenience library for the unit tests.
noinst_LTLIBRARIES += plugins/maildir/libmaildir-core.la
plugins_maildir_libmaildir_core_la_SOURCES = \
	plugins/maildir/maildir-dotlock.c plugins/maildir/maildir-dotlock.h \
	plugins/maildir/maildir-filename.c plugins/maildir/maildir-filename.h \
	plugins/maildir/maildir-keywords.c plugins/maildir/maildir-keywords.h \
	plugins/maildir/maildir-layout.c plugins/maildir/maildir-layout.h \
	plugins/maildir/maildir-uidlist.c plugins/maildir/maildir-uidlist.h \
	plugins/maildir/maildir-warn.c plugins/maildir/maildir-warn.h

driver_LTLIBRARIES += plugins/maildir/maildir.la
plugins_maildir_maildir_la_SOURCES = \
	plugins/maildir/maildir-storage.c plugins/maildir/maildir-storage.h \
	plugins/maildir/maildir-list.c \
	plugins/maildir/maildir-mailbox.c \
	plugins/maildir/maildir-subs.c \
	plugins/maildir/maildir-sync.c \
	plugins/maildir/maildir-index.c \
	plugins/maildir/maildir-mail.c \
	plugins/maildir/maildir-save.c \
	plugins/maildir/maildir-journal.c plugins/maildir/maildir-journal.h
plugins_maildir_maildir_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/index $(OPENSSL_CFLAGS)
# compressed mail (Dovecot's zlib plugin) comes from libmfcompress
plugins_maildir_maildir_la_LDFLAGS = $(MF_DRIVER_LINK)
plugins_maildir_maildir_la_LIBADD = plugins/maildir/libmaildir-core.la \
	core/index/libmfindex.la core/lib/libmfcompress.la \
	core/lib/libmflib.la $(ZSTD_LIBS) $(ZLIB_LIBS) $(OPENSSL_LIBS)
