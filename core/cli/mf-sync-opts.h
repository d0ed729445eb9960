/* SPDX-License-Identifier: MIT */
/*
 * mf-sync-opts.h - the command line of `mailferry sync` and `mailferry
 * backup`, parsed and validated into one struct for the engine. Every
 * doveadm-sync(1) option is accepted with the same meaning; invalid
 * combinations are refused here, before anything is opened.
 */
#ifndef MF_SYNC_OPTS_H
#define MF_SYNC_OPTS_H

#include <time.h>

#include "mf-array.h"

enum mf_sync_mode {
	MF_SYNC_TWO_WAY, /* sync */
	MF_SYNC_ONE_WAY, /* sync -1: merge into DEST, never delete there */
	MF_SYNC_BACKUP,  /* backup: make DEST identical to SRC */
};

/* Strings point into the argv given to mf_sync_opts_parse() (borrowed). */
struct mf_sync_opts {
	enum mf_sync_mode mode;
	bool full;              /* -f */
	bool purge_remote;      /* -P */
	bool reverse;           /* -R */
	bool replicator_notify; /* -U */
	bool lock;              /* -l given */
	uint32_t lock_timeout;  /* -l SECS */
	const char *rawlog;     /* -r PATH */
	const char *mailbox;    /* -m NAME (NULL = all) */
	bool have_mailbox_guid; /* -g GUID */
	uint8_t mailbox_guid[16];
	/* -m "" or -g "": sync the mailbox tree only, no messages */
	bool no_mail_sync;
	MF_ARRAY(const char *) namespaces; /* -n PREFIX (repeatable) */
	bool all_namespaces;               /* -N */
	MF_ARRAY(const char *) excludes;   /* -x MASK (repeatable) */
	const char *all_mailbox;           /* -a NAME */
	/* -s STATE: NULL = not given; "" = stateful, no previous state */
	const char *state;
	uint32_t io_timeout_secs; /* -T SECS, default 600 */
	time_t since;             /* -t DATE, 0 = none */
	time_t until;             /* -e DATE, 0 = none */
	const char *sync_flag;    /* -O FLAG, without a leading '-' */
	bool sync_flag_negated;   /* -O -FLAG */
	uint64_t max_size;        /* -I SIZE, 0 = none */
	bool default_dest;        /* -d: DEST from mail_replica */
	const char *user;         /* -u USER|MASK */
	bool all_users;           /* -A */
	const char *users_file;   /* -F FILE */
	const char *socket_path;  /* -S SOCKET */
	bool dry_run;             /* --dry-run */
	/* Positionals: [SRC] DEST. src NULL = the mail_location setting;
	 * dest NULL only with -d. */
	const char *src;
	const char *dest;
};

#define MF_SYNC_DEFAULT_IO_TIMEOUT 600

/* Parse argv[0..argc-1] (the arguments after "sync"/"backup"; backup
 * selects the backup command). now is the reference for intervals in -t
 * and -e ("30d" = 30 days before now). Returns 0, or -1 with *error_r
 * allocated saying exactly what is wrong. opts must be cleared with
 * mf_sync_opts_clear() either way. */
int mf_sync_opts_parse(struct mf_sync_opts *opts, bool backup, time_t now,
                       int argc, char *const argv[], char **error_r);
void mf_sync_opts_clear(struct mf_sync_opts *opts);

/* Dates as doveadm accepts them for -t/-e: YYYY-MM-DD (local midnight),
 * an IMAP date (DD-Mon-YYYY), a unix timestamp, or an interval back from
 * now ("30d", "12 hours"). Returns 0 or -1. */
int mf_sync_parse_date(const char *str, time_t now, time_t *time_r);

#endif
