#!/bin/bash
# SPDX-License-Identifier: MIT
# A two-way sync into a Maildir dies after its saves were renamed into
# cur/ but before dovecot-uidlist was written (MAILFERRY_MAILDIR_CRASH=
# commit-renamed), with GUIDs that are not Dovecot-style base names (no
# ,S= and ,W=: mail delivered by another MDA). The rerun must leave each
# message exactly once on both sides (no copy back of the unlisted files),
# with the same GUIDs (the save journal gives the unlisted files theirs).
set -u
top_src=${MF_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${MF_TOP_BUILDDIR:-$(pwd)}
M="$top_build/core/cli/mailferry"
export MAILFERRY_DRIVER_PATH="$top_build/plugins/maildir/.libs"
export MAILFERRY_SKIP_DEFAULT_DIR=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/a/cur" "$T/a/new" "$T/a/tmp" "$T/b"
for i in 1 2 3; do
	printf 'From: x@y\nSubject: %d\nMessage-ID: <orphan%d@x>\n\nbody %d\n' \
		"$i" "$i" "$i" > "$T/a/cur/1700000000.M${i}P1.host:2,S"
done
MAILFERRY_MAILDIR_CRASH=commit-renamed "$M" -o mail_fsync=never \
	sync "maildir:$T/a" "maildir:$T/b" > /dev/null 2>&1
echo "killed run: exit $?"
"$M" -o mail_fsync=never sync "maildir:$T/a" "maildir:$T/b" 2> "$T/err" ||
	{ cat "$T/err"; exit 1; }
# a full compare (-f) too: a plain rerun may skip the mailbox when both
# sides' counters agree, which hid lost GUIDs (then copied both ways)
"$M" -o mail_fsync=never sync -f "maildir:$T/a" "maildir:$T/b" 2> "$T/err" ||
	{ cat "$T/err"; exit 1; }
guids() { "$M" fetch "maildir:$1" "uid guid" mailbox INBOX | grep '^guid:'; }
[ "$(guids "$T/a")" = "$(guids "$T/b")" ] ||
	{ echo "GUIDs differ:"; guids "$T/a"; guids "$T/b"; exit 1; }
na=$("$M" mailbox status "maildir:$T/a" messages INBOX | sed 's/.*messages=//')
nb=$("$M" mailbox status "maildir:$T/b" messages INBOX | sed 's/.*messages=//')
echo "after the rerun: a has $na, b has $nb messages (want 3 and 3)"
[ "$na" = 3 ] && [ "$nb" = 3 ]
