# SPDX-License-Identifier: MIT
# imapc: an IMAP server as a store (source or destination).
# The response parser also goes into a small convenience
# library so the unit tests and the fuzzer link them without the driver.
noinst_LTLIBRARIES += plugins/imapc/libimapcproto.la
plugins_imapc_libimapcproto_la_SOURCES = \
	plugins/imapc/imapc-parser.c plugins/imapc/imapc-parser.h

driver_LTLIBRARIES += plugins/imapc/imapc.la
plugins_imapc_imapc_la_SOURCES = \
	plugins/imapc/imapc-private.h \
	plugins/imapc/imapc-conn.c plugins/imapc/imapc-conn.h \
	plugins/imapc/imapc-client.c plugins/imapc/imapc-client.h \
	plugins/imapc/imapc-auth.c \
	plugins/imapc/imapc-settings.c plugins/imapc/imapc-settings.h \
	plugins/imapc/imapc-names.c \
	plugins/imapc/imapc-storage.c \
	plugins/imapc/imapc-mailbox.c \
	plugins/imapc/imapc-fetch.c \
	plugins/imapc/imapc-save.c \
	plugins/imapc/imapc-driver.c
plugins_imapc_imapc_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
# the keepalive thread (imapc_max_idle_time)
plugins_imapc_imapc_la_CFLAGS = $(AM_CFLAGS) -pthread
plugins_imapc_imapc_la_LDFLAGS = $(MF_DRIVER_LINK) -pthread
plugins_imapc_imapc_la_LIBADD = plugins/imapc/libimapcproto.la \
	core/lib/libmflib.la $(OPENSSL_LIBS)
