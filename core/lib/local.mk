# SPDX-License-Identifier: MIT
# libmflib: base utilities shared by the core and the in-tree drivers
# (drivers link their own static copy; it never crosses the ABI).
noinst_LTLIBRARIES += core/lib/libmflib.la
core_lib_libmflib_la_SOURCES = \
	core/lib/mf-alloc.c core/lib/mf-alloc.h \
	core/lib/mf-buf.c core/lib/mf-buf.h \
	core/lib/mf-array.h \
	core/lib/mf-common.h core/lib/banned.h \
	core/lib/mf-file.c core/lib/mf-file.h \
	core/lib/mf-hex.c core/lib/mf-hex.h \
	core/lib/mf-log.c core/lib/mf-log.h \
	core/lib/mf-utf7.c core/lib/mf-utf7.h
core_lib_libmflib_la_SOURCES += core/lib/mf-settings.c core/lib/mf-settings.h
core_lib_libmflib_la_SOURCES += core/lib/mf-perm.c core/lib/mf-perm.h

# libmfcompress: compressed mail as Dovecot's zlib plugin reads and writes
# it (detection, bounded-memory decompression, compression). Separate from
# libmflib so that only the drivers storing mail locally link zstd/zlib.
noinst_LTLIBRARIES += core/lib/libmfcompress.la
core_lib_libmfcompress_la_SOURCES = \
	core/lib/mf-compress.c core/lib/mf-compress.h \
	core/lib/mf-zinput.c core/lib/mf-zinput.h
core_lib_libmfcompress_la_CPPFLAGS = $(AM_CPPFLAGS) $(ZSTD_CFLAGS) \
	$(ZLIB_CFLAGS)
core_lib_libmfcompress_la_LIBADD = $(ZSTD_LIBS) $(ZLIB_LIBS)
