#!/bin/bash
# SPDX-License-Identifier: MIT
# (Was XFAIL, doc/known-issues.md §1, fixed.) A Maildir folder written by
# Dovecot with more than 26 keywords keeps only the first 26 in file names
# (a-z, dovecot-keywords); the others live only in dovecot.index.
# `doveadm backup` keeps all of them; mailferry must too, into every
# format. Expected: Dovecot reports the same 40 keywords after the backup.
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/qa-common.sh"
qa_setup
qa_store src mdpp
printf 'Subject: many keywords\nMessage-ID: <kw@qa>\n\nx\n' | dca src save -m INBOX
printf 'Subject: second\nMessage-ID: <kw2@qa>\n\ny\n' | dca src save -m INBOX
dca src flags add "$(seq -f 'kw%02g' -s ' ' 1 40)" mailbox INBOX uid 1
dca src flags add 'kw33 kw40 \Seen' mailbox INBOX uid 2
qa_pick_failed
qa_snapshot src "$T/start"
grep -c kw40 "$T/start.fetch" | grep -qx 2 || bad "setup: Dovecot did not store 40 keywords"
n=$(grep -o 'kw[0-9]*' "$T/start.bytes" | wc -l)
[ "$n" = 42 ]
qa_check $? "mailferry reads all 42 keyword settings of the Dovecot maildir (read $n)"
for f in mdpp mdfs sdbox mdbox; do
	qa_store "x-$f" $f
	"$MF_BIN" $MFO backup "${LOC[src]}" "${LOC[x-$f]}" 2> "$T/err" ||
		{ bad "backup to $f:"; head -3 "$T/err"; }
	qa_snapshot "x-$f" "$T/x-$f"
	qa_same "$T/start" "$T/x-$f" "40 keywords survive mdpp -> $f" "status fetch"
done
exit $qa_fail
