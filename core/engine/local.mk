# SPDX-License-Identifier: MIT
# libmfengine: the sync engine (tree sync, message merge, state codec),
# linked into the mailferry program.
noinst_LTLIBRARIES += core/engine/libmfengine.la
core_engine_libmfengine_la_SOURCES = \
	core/engine/mf-sync.c core/engine/mf-sync.h \
	core/engine/mf-sync-private.h \
	core/engine/mf-sync-tree.c core/engine/mf-sync-tree.h \
	core/engine/mf-sync-tree-fill.c core/engine/mf-sync-tree-ops.c \
	core/engine/mf-sync-msgs.c core/engine/mf-sync-box.h \
	core/engine/mf-sync-stream.c core/engine/mf-sync-spill.c \
	core/engine/mf-sync-read.c core/engine/mf-sync-merge.c \
	core/engine/mf-sync-apply.c core/engine/mf-sync-kw.c \
	core/engine/mf-sync-flags.c \
	core/engine/mf-sync-uids.c \
	core/engine/mf-sync-progress.c \
	core/engine/mf-sync-state.c core/engine/mf-sync-state.h \
	core/engine/mf-header-hash.c core/engine/mf-header-hash.h \
	core/engine/mf-digest.c core/engine/mf-digest.h
core_engine_libmfengine_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
core_engine_libmfengine_la_LIBADD = core/lib/libmflib.la $(OPENSSL_LIBS)
