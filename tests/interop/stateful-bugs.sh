#!/bin/bash
# SPDX-License-Identifier: MIT
# KNOWN BUG (XFAIL, qa-findings.md #6): with an invalid -s state mailferry
# warns "falling back to full sync" but skips mailboxes whose counters
# (messages, uidnext, highestmodseq) are equal on both sides, like the fast
# mode does: a UID conflict (one new, different mail on each side) stays
# unresolved and the sync exits 0. doveadm sync treats an invalid state as
# a full sync (-f), which resolves it. Expected: the same as `sync -f`.
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/qa-common.sh"
qa_setup
qa_store a mdpp
dca a mailbox create Sent
for i in 1 2 3; do printf 'Subject: m%d\n\nbody %d\n' $i $i | dca a save -m Sent; done
qa_store b mdpp
"$MF_BIN" $MFO sync -s "" "${LOC[a]}" "${LOC[b]}" > "$T/state" 2> "$T/err" ||
	{ bad "first sync:"; cat "$T/err"; }
printf 'Subject: only on a\n\nA\n' | dca a save -m Sent
printf 'Subject: only on b\n\nB\n' | dca b save -m Sent
qa_pick_failed
for st in 'garbage!!' "$(head -c 20 "$T/state")"; do
	for s in a b; do
		qa_store "$s-x" mdpp
		rm -rf "$T/$s-x/Maildir" && cp -a "$T/$s/Maildir" "$T/$s-x/"
	done
	"$MF_BIN" $MFO sync -s "$st" "${LOC[a-x]}" "${LOC[b-x]}" > /dev/null 2> "$T/err"
	echo "  state '$st': exit $?: $(head -1 "$T/err")"
	for s in a-x b-x; do
		qa_snapshot "$s" "$T/$s"
	done
	qa_same "$T/a-x" "$T/b-x" "invalid state '$st': both sides identical" "status fetch"
	grep -c . "$T/a-x.fetch" | grep -qx 5
	qa_check $? "invalid state '$st': both new mails on side a ($(grep -c . "$T/a-x.fetch") mails)"
done
exit $qa_fail
