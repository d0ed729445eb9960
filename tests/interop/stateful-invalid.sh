#!/bin/bash
# SPDX-License-Identifier: MIT
# An invalid -s state (garbage, truncated) makes the sync a full one, as in
# doveadm sync: a UID conflict in a mailbox whose counters (messages,
# uidnext, highestmodseq) are equal on both sides (one new, different mail
# on each) is still found and resolved. (qa-findings.md #6: the fallback
# used to skip such mailboxes, fixed by the engine in db7415f.)
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
