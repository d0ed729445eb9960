# SPDX-License-Identifier: MIT
# libmfloader: locations, driver loading, the core API table handed to
# drivers, and struct mf_storage. Linked into the mailferry program and the
# tests; never into drivers.
noinst_LTLIBRARIES += core/loader/libmfloader.la
core_loader_libmfloader_la_SOURCES = \
	core/loader/mf-location.c core/loader/mf-location.h \
	core/loader/mf-driver.c core/loader/mf-driver.h \
	core/loader/mf-core-api.c \
	core/loader/mf-storage.c
core_loader_libmfloader_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
core_loader_libmfloader_la_LIBADD = $(LTDL_LIBS) $(OPENSSL_LIBS)
