/* SPDX-License-Identifier: MIT */
/* The one table of sub-commands: help, usage errors and dispatch use it. */
#include "mf-cli.h"

const struct mf_cli_cmd mf_cli_commands[] = {
    {
        "help",
        "[COMMAND]",
        "show the commands, or the usage of one",
        "Without an argument, lists every command with a one-line "
        "summary. With a command name\n(e.g. 'mailbox status'), "
        "prints its usage and description.",
        mf_cmd_help,
    },
    {
        "drivers",
        "",
        "list the storage drivers found and the files refused",
        "Loads every <name>.so in $MAILFERRY_DRIVER_PATH (colon-"
        "separated) and then in the\ndefault driver directory, and "
        "prints each driver's name, version, ABI, capabilities\nand "
        "file. Files that could not be used are listed with the "
        "reason (wrong ABI,\nmissing entry symbol, name mismatch, "
        "duplicate name, dlopen error...).",
        mf_cmd_drivers,
    },
    {
        "mailbox list",
        "[-s] LOCATION [MASK]...",
        "list the mailboxes of a store",
        "Prints the name of every mailbox and directory of LOCATION "
        "that matches one of the\nMASKs (default: all). In a mask, "
        "'*' matches anything and '%' anything except the\nhierarchy "
        "separator, as in IMAP LIST. With -s, prints the subscribed "
        "names instead\n(which need not exist as mailboxes).",
        mf_cmd_mailbox_list,
    },
    {
        "mailbox status",
        "LOCATION FIELDS [MASK]...",
        "show the status of mailboxes",
        "FIELDS is a space-separated list (one argument) of: messages "
        "recent uidnext\nuidvalidity unseen highestmodseq "
        "highestpvtmodseq vsize guid first_recent_uid\nfirstsaved, or "
        "'all' (doveadm's set). Prints one row per selectable mailbox\n"
        "matching a MASK (default: all), by default as 'NAME "
        "field=value...'.",
        mf_cmd_mailbox_status,
    },
    {
        "fetch",
        "LOCATION FIELDS [mailbox NAME|MASK] [uid SET|all]",
        "print fields of messages",
        "FIELDS is a space-separated list (one argument) of: mailbox "
        "mailbox-guid seq uid\nguid flags keywords modseq "
        "date.received date.saved date.received.unixtime\n"
        "date.saved.unixtime size.physical size.virtual pop3.uidl "
        "pop3.order hdr hdr.<name>\nbody body.sha256 text. 'text' is "
        "the whole message as stored, 'hdr' its header\n(up to the empty "
        "line), 'body' the rest; 'body.sha256' is the SHA-256 of the "
        "whole\nmessage. Without 'mailbox', every selectable mailbox is "
        "read. The default output\nis 'field: value' lines with a form "
        "feed line between messages (-f pager).",
        mf_cmd_fetch,
    },
    {
        "sync",
        "[-1fPRU] [-l SECS] [-r RAWLOG] [-m MAILBOX] [-g GUID] "
        "[-n NS|-N] [-x MASK]... [-a MAILBOX] [-s STATE] [-T SECS] "
        "[-t DATE] [-e DATE] [-O FLAG] [-I SIZE] [-u USER|-A|-F FILE] "
        "[-S SOCKET] [--dry-run] -d|[SRC] DEST",
        "two-way synchronization (doveadm sync)",
        "Merges the changes of both sides so that both end up "
        "identical, without losing\nanything. With -1, a one-way merge "
        "into DEST that never deletes there. SRC defaults\nto the "
        "mail_location setting. Options as in doveadm-sync(1); see "
        "mailferry(1).",
        mf_cmd_sync,
    },
    {
        "backup",
        "[-fPRU] [-l SECS] [-r RAWLOG] [-m MAILBOX] [-g GUID] "
        "[-n NS|-N] [-x MASK]... [-a MAILBOX] [-s STATE] [-T SECS] "
        "[-t DATE] [-e DATE] [-O FLAG] [-I SIZE] [-u USER|-A|-F FILE] "
        "[-S SOCKET] [--dry-run] -d|[SRC] DEST",
        "one-way synchronization: make DEST identical to SRC",
        "Copies SRC to DEST and reverts every change made in DEST "
        "(with -R, the other way\nround). Options as in "
        "doveadm-backup(1); see mailferry(1).",
        mf_cmd_backup,
    },
    {
        "dump",
        "FILE",
        "decode a Dovecot index, log, mailbox log or subscriptions file",
        "Prints the contents of a Dovecot index-family file "
        "(dovecot.index*, *.log,\ndovecot.mailbox.log, subscriptions) "
        "in readable form, like doveadm dump.",
        mf_cmd_dump,
    },
    {
        "purge",
        "LOCATION",
        "reclaim the space of expunged mail (doveadm purge)",
        "Rewrites the storage files that still hold expunged messages "
        "(mdbox: m.N files with\nmessages no mailbox refers to) and "
        "removes what is no longer needed. Stores that\nfree space at "
        "expunge time (maildir, sdbox) have nothing to purge.",
        mf_cmd_purge,
    },
    {
        "force-resync",
        "LOCATION [MASK]...",
        "rebuild indexes from the mail files (doveadm force-resync)",
        "Rebuilds the index of every mailbox matching a MASK (default: "
        "all) from its mail\nfiles, keeping flags where the index or its "
        ".backup still has them, for stores\ndamaged outside mailferry. "
        "A driver without a rebuild rescans each mailbox.",
        mf_cmd_force_resync,
    },
    {NULL, NULL, NULL, NULL, NULL},
};
