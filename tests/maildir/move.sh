#!/bin/bash
# SPDX-License-Identifier: MIT
# A message given a new UID inside its mailbox (copy from the same mailbox
# + expunge of the old UID in one transaction, what the engine does for a
# UID conflict) keeps its file: the driver rewrites dovecot-uidlist once,
# renames the file for the wanted flags and records expunge + append in
# the index. Checked: new UID, same GUID and body, wanted flags, no new
# file, Dovecot reads the same; then kill -9 at each commit step and at
# random instants of many moves: every message is at its old or its new
# UID, never both, never neither.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap 'kill $(jobs -p) 2>/dev/null; dc_cleanup' EXIT

N=12
dc_init move "maildir:@ROOT@/Maildir"
root=$DC_ROOT
M=$root/Maildir
loc="maildir:$M"
md_gen_msgs "$root/msgs" $N
{
	echo "begin INBOX"
	for i in $(seq 1 $N); do
		case $((i % 3)) in
		0) echo "save $root/msgs/msg$i.eml" ;; # into new/
		1) echo "save $root/msgs/msg$i.eml flags=Seen kw=\$Label1,k$i" ;;
		2) echo "save $root/msgs/msg$i.eml flags=Flagged" \
			"guid=00112233445566778899aabbccddee$(printf %02x "$i")" ;;
		esac
	done
	echo commit
} | "$MDWRITER" "$loc" > /dev/null
md_check $? "store written"
cp -a "$M" "$root/base"

# "uid<TAB>guid<TAB>flags<TAB>sha256" per message (\Recent left out)
fetch() { # [MAILBOX]
	"$MAILFERRY" -f tab fetch "$loc" 'uid guid flags body.sha256' \
		mailbox "${1:-INBOX}" all | tail -n +2 |
		sed -e 's/\\Recent \{0,1\}//' -e 's/ \{1,\}\t/\t/'
}
inodes() { find "$M/cur" "$M/new" -type f -printf '%i\n' | sort; }

# --- one transaction: three moves (through the transaction's own handle
# and through another one, from cur/ and new/) and a plain copy ---
fetch > "$root/before"
inodes > "$root/ino.before"
"$MDWRITER" "$loc" > "$root/w.out" <<EOS
begin INBOX sync
copy . 1 uid=20 flags=Answered kw=moved
expunge 1
copy INBOX 2 uid=21 flags=Seen
expunge 2
copy . 3 uid=22
expunge 3
copy . 4 uid=23 flags=Draft
commit
EOS
md_check $? "moves committed"
grep -q '^uids: 20 21 22 23$' "$root/w.out"
md_check $? "the moves and the copy got their UIDs: $(cat "$root/w.out")"
fetch > "$root/after"
field() { awk -F'\t' -v u="$2" -v f="$3" '$1 == u { print $f }' "$root/$1"; }
rc=0
for m in "1 20 \\Answered moved" "2 21 \\Seen" "3 22 " "4 23 \\Draft"; do
	set -- $m
	old=$1 new=$2
	shift 2
	want="$*"
	# (the plain copy, saved without a GUID, gets one of its own)
	[ "$new" = 23 ] ||
		[ "$(field after "$new" 2)" = "$(field before "$old" 2)" ] || {
		echo "UID $new: GUID $(field after "$new" 2), not $(field before "$old" 2)"
		rc=1
	}
	[ "$(field after "$new" 4)" = "$(field before "$old" 4)" ] || {
		echo "UID $new: other body"
		rc=1
	}
	[ "$(field after "$new" 3)" = "$want" ] || {
		echo "UID $new: flags '$(field after "$new" 3)', not '$want'"
		rc=1
	}
done
for old in 1 2 3; do
	[ -z "$(field after "$old" 1)" ] || {
		echo "UID $old still there"
		rc=1
	}
done
[ "$(field after 4 2)" = "$(field before 4 2)" ] || rc=1
[ "$(wc -l < "$root/after")" = $((N + 1)) ] || rc=1
md_check $rc "moved messages: new UID, same GUID and body, wanted flags"
inodes > "$root/ino.after"
[ -z "$(comm -23 "$root/ino.before" "$root/ino.after")" ] &&
	[ "$(comm -13 "$root/ino.before" "$root/ino.after" | wc -l)" = 1 ] &&
	[ -z "$(ls -A "$M/tmp")" ]
md_check $? "moves kept their files, only the copy is a new one"
grep -c "^[0-9]* .*:$(field before 1 2)\$" "$M/dovecot-uidlist" |
	grep -qx 1 && grep -q "^20 :$(field before 1 2)\$" "$M/dovecot-uidlist"
md_check $? "uidlist: the file is listed once, under its new UID"
guid1=$(printf %s "$(field before 1 2)" | sha1sum | cut -c9-40)
printf 'changes INBOX 0\n' | "$MDWRITER" "$loc" > "$root/ch"
grep -q "^expunged: 1 $guid1\$" "$root/ch" &&
	grep -q "^expunged: 2 $(field before 2 2)\$" "$root/ch" &&
	grep -q "^expunged: 3 " "$root/ch"
md_check $? "index: the old UIDs are expunged with their GUIDs"
md_compare "$loc" "after the moves"
dc_doveadm fetch 'uid guid' mailbox INBOX uid 20:23 |
	awk '/^uid:/ { u = $2 } /^guid:/ { print u "\t" $2 }' > "$root/dc.ug"
awk -F'\t' '$1 >= 20 { print $1 "\t" $2 }' "$root/after" | diff - "$root/dc.ug"
md_check $? "doveadm fetch uid guid of the moved messages"
dc_doveadm fetch 'uid guid flags' all > "$root/dc.before"
dc_doveadm force-resync INBOX 2> "$root/resync.err"
dc_doveadm fetch 'uid guid flags' all > "$root/dc.after"
cmp -s "$root/dc.before" "$root/dc.after" && [ ! -s "$root/resync.err" ]
md_check $? "doveadm force-resync changes nothing"

# --- kill -9 at each step of a commit with three moves ---
# check_once BASELIST PHASE FETCHER: every GUID of BASELIST once, at its
# old UID (PHASE old), its new one (new) or either (any), as FETCHER
# ("uid<TAB>guid" lines) sees them
dc_fetch() {
	dc_doveadm fetch 'uid guid' mailbox INBOX all |
		awk '/^uid:/ { u = $2 } /^guid:/ { print u "\t" $2 }'
}
check_once() {
	local base=$1 phase=$2
	$3 > "$root/now" || return 1
	# moves are UID -> UID + 100 in these scripts
	awk -F'\t' -v phase="$phase" '
		NR == FNR { old[$2] = $1; next }
		{
			seen[$2]++
			o = old[$2]
			if (!($2 in old)) { print "new GUID " $2; bad = 1; next }
			if ($1 != o && $1 != o + 100) { print $2 " at UID " $1 " (was " o ")"; bad = 1 }
			if (phase == "old" && $1 != o) { print $2 " moved too early"; bad = 1 }
			if (phase == "new" && $1 == o && o <= 3) { print $2 " not moved"; bad = 1 }
		}
		END {
			for (g in old)
				if (seen[g] != 1) { print "GUID " g " seen " seen[g] + 0 " times"; bad = 1 }
			exit bad
		}' "$base" "$root/now"
}
cat > "$root/moves3" <<EOS
begin INBOX sync
copy . 1 uid=101 flags=Seen,Answered kw=x
expunge 1
copy . 2 uid=102
expunge 2
copy . 3 uid=103 flags=Flagged
expunge 3
commit
EOS
(cd "$root/base" && "$MAILFERRY" -f tab fetch "maildir:$root/base" \
	'uid guid flags body.sha256' mailbox INBOX all | tail -n +2) \
	> "$root/base.list"
for step in commit-renamed:old commit-flags:old commit-uidlist:new \
	commit-index:new; do
	point=${step%:*} phase=${step#*:}
	rm -rf "$M"
	cp -a "$root/base" "$M"
	MAILFERRY_MAILDIR_CRASH=$point "$MDWRITER" "$loc" \
		< "$root/moves3" > /dev/null 2>&1
	st=$?
	[ $st = 137 ] || echo "md-writer exit $st, not killed at $point"
	# as Dovecot finds the store (on a copy: Dovecot's sync of a
	# changed uidlist ends \Recent differently than ours would) ...
	cp -a "$M" "$root/crashed"
	check_once "$root/base.list" "$phase" dc_fetch
	md_check $? "killed at $point: Dovecot sees every message once, at the $phase UIDs"
	rm -rf "$M"
	mv "$root/crashed" "$M"
	# ... and as mailferry's next run (a writer: it brings the index
	# up to date), then Dovecot again
	printf 'changes INBOX 0\n' | "$MDWRITER" "$loc" > /dev/null
	check_once "$root/base.list" "$phase" fetch
	md_check $? "killed at $point: mailferry sees every message once, at the $phase UIDs"
	md_compare "$loc" "killed at $point"
done

# --- kill -9 at random instants of many moves ---
rm -rf "$M"
cp -a "$root/base" "$M"
md_gen_msgs "$root/many" 120
printf 'create Rand\nbegin Rand\nsaveall %s\ncommit\n' "$root/many" |
	"$MDWRITER" "$loc" > /dev/null
fetch Rand | cut -f2 | sort > "$root/rand.guids"
# a script moving every message of Rand, three per transaction
move_script() {
	local next=$1 n=0 u
	echo "begin Rand sync"
	while read -r u; do
		if [ $((n % 2)) = 0 ]; then
			echo "copy . $u uid=$((next + n)) flags=Seen kw=r$((n % 30))"
		else
			echo "copy Rand $u"
		fi
		echo "expunge $u"
		n=$((n + 1))
		[ $((n % 3)) = 0 ] && printf 'commit\nbegin Rand sync\n'
	done
	echo commit
}
rand_state() {
	fetch Rand > "$root/rand.now" &&
		cut -f1 "$root/rand.now" > "$root/rand.uids" &&
		next=$("$MAILFERRY" mailbox status "$loc" uidnext Rand | sed 's/.*=//')
}
rand_state
start=$(date +%s%N)
move_script "$next" < "$root/rand.uids" | "$MDWRITER" "$loc" > /dev/null
md_check $? "120 moves in 40 transactions"
span=$((($(date +%s%N) - start) / 1000000))
rc=0
kills=0
for i in $(seq 1 30); do
	rand_state || { rc=1; break; }
	move_script "$next" < "$root/rand.uids" > "$root/rand.script"
	"$MDWRITER" "$loc" < "$root/rand.script" > /dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v r=$RANDOM -v s="$span" 'BEGIN { printf "%.3f", r / 32768 * s / 1000 }')"
	kill -9 $pid 2>/dev/null && kills=$((kills + 1))
	wait $pid 2>/dev/null
	fetch Rand > "$root/rand.now" || { rc=1; break; }
	if ! cut -f2 "$root/rand.now" | sort | cmp -s - "$root/rand.guids"; then
		echo "after kill $i:"
		cut -f2 "$root/rand.now" | sort | diff "$root/rand.guids" - | head
		rc=1
		break
	fi
done
md_check $rc "$kills kills in 30 runs of moves (span ${span} ms): every message once"
[ -z "$(ls -A "$M/.Rand/tmp")" ]
md_check $? "moves leave nothing in tmp/"
# the next run (a writer) brings the index up to date: doveadm mailbox
# status reads Dovecot's index as it is, without a sync
printf 'changes Rand 0\n' | "$MDWRITER" "$loc" > /dev/null
md_compare "$loc" "after the killed moves"
exit $md_fail
