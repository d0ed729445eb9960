#!/bin/bash
# SPDX-License-Identifier: MIT
# Risky corners of `mailferry backup`:
#  1. mail delivered into the source maildir's new/ (tmp/ + rename, as an
#     MDA does) while a backup of ~1500 messages runs: nothing delivered is
#     lost at the source, the next backup brings it over, every message
#     exactly once at the destination;
#  2. a destination changed by Dovecot between two backups (new mail,
#     flags, expunge, a new mailbox): the next backup makes it identical to
#     the source again, Dovecot warns about nothing;
#  3. one ~200 MB message: maildir -> mdbox -> sdbox(zstd) -> maildir with
#     the bytes unchanged (sha256) and a bounded peak RSS (/usr/bin/time).
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/qa-common.sh"
qa_setup
GEN=$MF_TOP_SRCDIR/bench/gen-corpus
SEED=${QA_SEED:-77}
echo "seed $SEED"

set_of() { # NAME OUT: mailbox guid sha256 per message
	"$MF_BIN" $MFO -f json fetch "${LOC[$1]}" 'mailbox uid guid flags body.sha256 size.virtual' \
		2> "$T/fetch.err" | $QA_NORM mf-fetch > "$2.full"
	grep -q . "$T/fetch.err" && { bad "fetch $1:"; head -3 "$T/fetch.err"; }
	cut -f1,3,6 "$2.full" | LC_ALL=C sort > "$2"
}

# 1. concurrent delivery
qa_store src mdpp
python3 "$GEN" --messages 1500 --folders 3 --seed "$SEED" "$T/src/Maildir" > /dev/null 2>&1 ||
	bad "gen-corpus failed"
qa_store dst mdbox
deliver() { # COUNT: MDA-style deliveries into INBOX
	local i f
	for i in $(seq 1 "$1"); do
		f=$(printf '1700%06d.M%dP%d.mda' "$i" "$i" $$)
		printf 'Subject: delivered %d\nMessage-ID: <dlv%d@qa>\n\nbody %d\n' "$i" "$i" "$i" \
			> "$T/src/Maildir/tmp/$f"
		mv "$T/src/Maildir/tmp/$f" "$T/src/Maildir/new/$f"
	done
}
"$MF_BIN" $MFO backup "${LOC[src]}" "${LOC[dst]}" > /dev/null 2> "$T/b1.err" &
pid=$!
deliver 200
wait $pid
rc=$?
echo "  backup during delivery: exit $rc: $(tail -1 "$T/b1.err")"
[ $rc = 0 ] || [ $rc = 2 ] || { bad "backup during delivery exit $rc:"; head -3 "$T/b1.err"; }
n=$(ls "$T/src/Maildir/new" "$T/src/Maildir/cur" | grep -c 'mda')
[ "$n" = 200 ]
qa_check $? "all 200 delivered files are still in the source ($n)"
"$MF_BIN" $MFO backup "${LOC[src]}" "${LOC[dst]}" > /dev/null 2> "$T/b2.err" ||
	{ bad "second backup:"; head -3 "$T/b2.err"; }
set_of src "$T/src.set"
set_of dst "$T/dst.set"
cmp -s "$T/src.set" "$T/dst.set"
qa_check $? "after delivery + backup: destination = source, each once ($(wc -l < "$T/dst.set"))" ||
	diff "$T/src.set" "$T/dst.set" | head -5
[ "$(wc -l < "$T/src.set")" = 1700 ]
qa_check $? "source has 1500 + 200 messages ($(wc -l < "$T/src.set"))"
dca dst mailbox status 'messages' '*' > /dev/null
qa_pick_failed

# 2. destination changed by Dovecot between two backups
qa_snapshot src "$T/s2"
printf 'Subject: at the destination\n\nx\n' | dca dst save -m INBOX
dca dst flags add '\Flagged kwDst' mailbox INBOX uid 1:5
dca dst flags remove '\Seen' mailbox '*' uid 1:20
dca dst expunge mailbox INBOX uid 6:8
dca dst mailbox create 'Only at dst'
qa_pick_failed
"$MF_BIN" $MFO backup "${LOC[src]}" "${LOC[dst]}" > /dev/null 2> "$T/b3.err"
rc=$?
echo "  backup over a changed destination: exit $rc: $(tail -1 "$T/b3.err")"
[ $rc = 0 ] || { bad "backup over changed destination exit $rc:"; head -3 "$T/b3.err"; }
qa_snapshot dst "$T/d2"
qa_same "$T/s2" "$T/d2" "destination changed by Dovecot is made identical to the source again"
"$MF_BIN" $MFO backup "${LOC[src]}" "${LOC[dst]}" > /dev/null 2> "$T/b4.err"
grep -q "$QA_NOOP" "$T/b4.err"
qa_check $? "and the next backup is a no-op"

# 3. one huge message
SIZE_MB=${QA_HUGE_MB:-200}
qa_store big mdpp
dca big mailbox status messages INBOX > /dev/null
{
	printf 'Subject: huge\nMessage-ID: <huge@qa>\nContent-Type: application/octet-stream\n\n'
	head -c $((SIZE_MB * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76
} > "$T/big/Maildir/cur/1700000000.M1P1.huge:2,S"
want=$(sha256sum < "$T/big/Maildir/cur/1700000000.M1P1.huge:2,S" | cut -d' ' -f1)
echo "  huge message: $(stat -c %s "$T/big/Maildir/cur/1700000000.M1P1.huge:2,S") bytes"
MAX_KB=${QA_MAX_RSS_KB:-65536}
[ -n "${MF_ASAN:-}" ] && MAX_KB=$((MAX_KB * 6))
hop() { # FROM TO [OPTS]
	local from=$1 to=$2 rss
	shift 2
	/usr/bin/time -f %M -o "$T/rss" "$MF_BIN" $MFO "$@" backup "${LOC[$from]}" "${LOC[$to]}" \
		> /dev/null 2> "$T/hop.err" || { bad "backup $from -> $to:"; head -3 "$T/hop.err"; }
	rss=$(tail -1 "$T/rss")
	[ "$rss" -le "$MAX_KB" ]
	qa_check $? "huge: ${FMT[$from]} -> ${FMT[$to]}: peak RSS $rss KB (limit $MAX_KB)"
	got=$("$MF_BIN" $MFO fetch "${LOC[$to]}" body.sha256 2> /dev/null | sed -n 's/^body.sha256: //p')
	[ "$got" = "$want" ]
	qa_check $? "huge: ${FMT[$from]} -> ${FMT[$to]}: bytes unchanged"
}
qa_store big-m mdbox
qa_store big-z sdboxz
qa_store big-b mdfs
hop big big-m
hop big-m big-z -o mail_compress=zstd
hop big-z big-b
dca big-z fetch 'size.virtual' all > /dev/null
dca big-m fetch 'size.virtual' all > /dev/null
qa_pick_failed
exit $qa_fail
