/* SPDX-License-Identifier: MIT */
/*
 * mf-cli.h - the `mailferry` command line: global options, the command
 * table, exit codes and the helpers every sub-command uses.
 *
 * Each sub-command lives in its own cmd-*.c file and is listed once in
 * mf_cli_commands[] (mf-cli-commands.c); help, usage errors and dispatch are
 * all driven by that table.
 */
#ifndef MF_CLI_H
#define MF_CLI_H

#include <stdio.h>

#include "mf-common.h"
#include "mf-fmt.h"

struct mf_settings;

/* Exit codes, the sysexits.h values doveadm uses. */
enum mf_exit {
	MF_EX_OK = 0,
	/* sync/backup: finished, but some changes could not be applied;
	 * running again usually fixes it */
	MF_EX_CHANGED = 2,
	MF_EX_USAGE = 64,       /* bad command line */
	MF_EX_NOTPOSSIBLE = 65, /* EX_DATAERR: invalid data, exists... */
	MF_EX_NOUSER = 67,      /* unknown user */
	MF_EX_NOTFOUND = 68,    /* mailbox, file or driver not found */
	MF_EX_CANTCREAT = 73,   /* out of space / quota */
	MF_EX_TEMPFAIL = 75,    /* temporary failure: try again */
	MF_EX_NOPERM = 77,      /* permission denied */
	MF_EX_CONFIG = 78,      /* configuration error */
};

/* Global state of one run, filled from the global options. */
struct mf_cli {
	struct mf_settings *set; /* config file + -o overrides */
	const char *config_path; /* NULL when no file was read */
	bool debug, verbose;
	/* -f: the formatter asked for, or false = the command's default */
	bool fmt_given;
	enum mf_fmt_kind fmt;
	const struct mf_cli_cmd *cmd; /* the command being run */
	/* -u/-A/-F: the user a command runs for now (%u, %n, %d in
	 * locations) and that user's home (~, %h; NULL for a virtual user);
	 * user NULL = the user running mailferry */
	const char *user, *home;
};

struct mf_cli_cmd {
	const char *name;      /* "mailbox status": words separated by ' ' */
	const char *usage;     /* arguments after the name */
	const char *help;      /* one line for `mailferry help` */
	const char *long_help; /* paragraphs for `mailferry help NAME` */
	/* argv[0] is the first argument after the command name. Returns an
	 * enum mf_exit value. */
	int (*run)(struct mf_cli *cli, int argc, char **argv);
};

/* The table, terminated by an entry with name NULL. */
extern const struct mf_cli_cmd mf_cli_commands[];

/* The whole program; main() only calls this. */
int mf_cli_main(int argc, char **argv);

/* Print "mailferry: <cmd>: <message>" and the usage line to stderr;
 * returns MF_EX_USAGE. */
int mf_cli_usage_error(const struct mf_cli *cli, const char *fmt, ...)
    MF_PRINTF(2, 3);
/* For commands without options of their own: a usage error naming the
 * first argument that looks like an option (global options such as -f go
 * before the command). Returns MF_EX_OK or MF_EX_USAGE. */
int mf_cli_reject_options(const struct mf_cli *cli, int argc, char **argv);
/* Print "mailferry: <message>" to stderr; returns code. */
int mf_cli_fail(int code, const char *fmt, ...) MF_PRINTF(2, 3);
/* Exit code for a negative mailferry error (driver.h). */
int mf_cli_exit_code(int error);
/* The formatter kind to use: -f if given, else def. */
enum mf_fmt_kind mf_cli_fmt(const struct mf_cli *cli, enum mf_fmt_kind def);
/* Find a command by the words at argv[0..]; *words_r = words consumed. */
const struct mf_cli_cmd *mf_cli_find(int argc, char **argv, int *words_r);
void mf_cli_print_usage(FILE *out, const struct mf_cli_cmd *cmd);

/* The help command (cmd-help.c). */
int mf_cmd_help(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_drivers(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_mailbox_list(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_mailbox_status(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_fetch(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_sync(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_backup(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_dump(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_purge(struct mf_cli *cli, int argc, char **argv);
int mf_cmd_force_resync(struct mf_cli *cli, int argc, char **argv);

#endif
