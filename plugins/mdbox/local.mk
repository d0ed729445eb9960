# SPDX-License-Identifier: MIT
# The mdbox driver: messages in shared storage/m.N files, found through the
# map index. The shared dbox code (plugins/dbox-common) is built by
# plugins/sdbox/local.mk, which defines DBOX_COMMON_LIBS.
driver_LTLIBRARIES += plugins/mdbox/mdbox.la
plugins_mdbox_mdbox_la_SOURCES = \
	plugins/mdbox/mdbox.c \
	plugins/mdbox/mdbox-map.c plugins/mdbox/mdbox-map.h \
	plugins/mdbox/mdbox-purge.c plugins/mdbox/mdbox-purge.h \
	plugins/mdbox/mdbox-rebuild.c plugins/mdbox/mdbox-rebuild.h
plugins_mdbox_mdbox_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/index -I$(top_srcdir)/plugins/dbox-common
plugins_mdbox_mdbox_la_LDFLAGS = $(MF_DRIVER_LINK)
plugins_mdbox_mdbox_la_LIBADD = $(DBOX_COMMON_LIBS)

# Test helper writing stores through a dbox driver (used by the interop
# scripts in tests/dbox).
check_PROGRAMS += tests/dbox/dbox-put
tests_dbox_dbox_put_SOURCES = tests/dbox/dbox-put.c
tests_dbox_dbox_put_LDADD = core/loader/libmfloader.la core/lib/libmflib.la \
	$(LTDL_LIBS) $(OPENSSL_LIBS)
