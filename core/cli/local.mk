# SPDX-License-Identifier: MIT
# The mailferry program. Everything but main() is in the convenience
# library libmfcli so the unit tests can link the parsers and commands.
noinst_LTLIBRARIES += core/cli/libmfcli.la
core_cli_libmfcli_la_SOURCES = \
	core/cli/mf-cli.c core/cli/mf-cli.h \
	core/cli/mf-cli-commands.c \
	core/cli/mf-cli-store.c core/cli/mf-cli-store.h \
	core/cli/mf-cli-users.c core/cli/mf-cli-users.h \
	core/cli/mf-cli-util.c core/cli/mf-cli-util.h \
	core/cli/mf-fmt.c core/cli/mf-fmt.h \
	core/cli/mf-sync-opts.c core/cli/mf-sync-opts.h \
	core/cli/cmd-help.c \
	core/cli/cmd-drivers.c \
	core/cli/cmd-mailbox-list.c \
	core/cli/cmd-mailbox-status.c \
	core/cli/cmd-fetch.c \
	core/cli/cmd-sync.c \
	core/cli/cmd-dump.c core/cli/cmd-maint.c
core_cli_libmfcli_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/index \
	-I$(top_srcdir)/core/engine
core_cli_libmfcli_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)

# What a program linking libmfcli needs, in link order.
MF_CLI_LIBS = core/cli/libmfcli.la core/engine/libmfengine.la \
	core/loader/libmfloader.la \
	core/index/libmfindex.la core/lib/libmflib.la \
	$(LTDL_LIBS) $(OPENSSL_LIBS)

bin_PROGRAMS += core/cli/mailferry
core_cli_mailferry_SOURCES = core/cli/main.c
core_cli_mailferry_LDADD = $(MF_CLI_LIBS)
