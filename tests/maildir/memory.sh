#!/bin/bash
# SPDX-License-Identifier: MIT
# Memory of the maildir driver per message: a no-op `sync -f` of two synced
# N-message Maildirs and a `fetch` of one keep box->msgs and the uidlist of
# each side in memory (the format's floor: every base name), and nothing
# more. Peak RSS minus that of the same commands on empty Maildirs, per
# message and side, must stay under a bound the old driver exceeded: with
# one malloc per base name, GUID and file name, 30,000 messages took 368
# B/message/side for sync -f and 269 for fetch; now 284-323 (it varies
# from run to run) and 174-186 (at
# 100,000: 293 -> 233 and 202 -> 155; a fifth of the rest is the index's
# change list, not the driver). Skipped under the sanitizers, whose
# allocator changes every figure.
set -u
: "${MF_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$MF_TOP_SRCDIR/tests/maildir/md-common.sh"

if [ -n "${MF_ASAN:-}" ]; then
	echo "SKIP: sanitizer build, peak RSS says nothing about the driver"
	exit 77
fi
[ -x /usr/bin/time ] || { echo "SKIP: no /usr/bin/time"; exit 77; }

N=${MD_MEMORY_MSGS:-30000}
SYNC_MAX=${MD_MEMORY_SYNC_MAX:-350}   # B/message/side, old: 368-386
FETCH_MAX=${MD_MEMORY_FETCH_MAX:-228} # B/message, old: 263-269
T=$(mktemp -d "${TMPDIR:-/tmp}/md-memory.XXXXXX")
trap 'rm -rf "$T"' EXIT
O="-o mail_fsync=never"

for d in a e1 e2; do mkdir -p "$T/$d/cur" "$T/$d/new" "$T/$d/tmp"; done
# N small seen messages named as Dovecot names them (,S= and ,W=), some
# flagged: they stay in cur/
awk -v n="$N" -v dir="$T/a/cur" 'BEGIN {
	for (i = 1; i <= n; i++) {
		body = "Subject: m" i "\nMessage-ID: <" i "@mem>\n\nbody " i "\n"
		size = length(body); lines = 4
		f = sprintf("%s/%d.M%dP%d.memhost,S=%d,W=%d:2,%s", dir,
		            1700000000 + int(i / 100), i, 4242, size,
		            size + lines, i % 3 == 0 ? "FS" : "S")
		printf "%s", body > f
		close(f)
	}
}'
"$MAILFERRY" $O backup maildir:"$T/a" maildir:"$T/b" > /dev/null 2>&1 ||
	{ echo "FAIL: backup"; exit 1; }
"$MAILFERRY" $O sync -f maildir:"$T/e1" maildir:"$T/e2" > /dev/null 2>&1
"$MAILFERRY" $O sync -f maildir:"$T/a" maildir:"$T/b" > /dev/null 2>&1 ||
	{ echo "FAIL: first sync -f"; exit 1; }
got=$(ls "$T/b/cur" "$T/b/new" | grep -c memhost)
[ "$got" = "$N" ] || { echo "FAIL: b has $got messages, not $N"; exit 1; }

rss() { # peak RSS in KB of the command
	/usr/bin/time -f %M -o "$T/rss" "$@" > /dev/null 2> "$T/err" ||
		{ echo "FAIL: $*"; cat "$T/err"; exit 1; }
	tail -1 "$T/rss"
}
per_msg() { # FULL_KB EMPTY_KB SIDES
	echo $((($1 - $2) * 1024 / (N * $3)))
}

empty=$(rss "$MAILFERRY" $O sync -f maildir:"$T/e1" maildir:"$T/e2")
full=$(rss "$MAILFERRY" $O sync -f maildir:"$T/a" maildir:"$T/b")
b=$(per_msg "$full" "$empty" 2)
[ "$b" -le "$SYNC_MAX" ]
md_check $? "no-op sync -f of 2 x $N messages: $full KB (empty: $empty KB), $b B/message/side (bound $SYNC_MAX)"

empty=$(rss "$MAILFERRY" fetch maildir:"$T/e1" uid mailbox INBOX)
full=$(rss "$MAILFERRY" fetch maildir:"$T/a" uid mailbox INBOX)
b=$(per_msg "$full" "$empty" 1)
[ "$b" -le "$FETCH_MAX" ]
md_check $? "fetch of $N messages: $full KB (empty: $empty KB), $b B/message (bound $FETCH_MAX)"
exit $md_fail
