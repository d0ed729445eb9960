#!/bin/bash
# SPDX-License-Identifier: MIT
# A message given a new UID inside its mailbox (the engine's copy +
# expunge of the old UID in one transaction) is at its old UID or at its
# new one, never at both and never at neither, whenever the writer is
# killed: at each step of the commit (MAILFERRY_DBOX_CRASH_AT) and at
# random moments. After each kill mailferry and Dovecot list the same
# messages with the same GUIDs and flags, before and after Dovecot's
# force-resync. For sdbox Dovecot also gets the killed store first (its
# rebuild adds every u.* file: no file may then exist twice); flags of a
# message caught mid-move may be lost that way, never the message.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
total_fail=0
msgs=$(cd "$CORPUS/lkml/cur" && ls | head -40)

# mailbox, GUID and flags of every message, one line each (no UIDs: they
# change), from mailferry and from Dovecot
mf_set() { $MF fetch "$loc" 'mailbox guid flags' | norm | paste -sd ' ' | sed 's/ mailbox: /\nmailbox: /g' | sort; }
dc_set() { dcq fetch 'mailbox guid flags' all | norm | paste -sd ' ' | sed 's/ mailbox: /\nmailbox: /g' | sed 's/ *$//' | sort; }
guids_of() { sed -n 's/.*guid: \([^ ]*\).*/\1/p' "$1" | sort; }

# check_state WHAT: the store holds exactly the reference messages
check_state() {
	local what=$1
	mf_set > "$DC_ROOT/mf.set"
	if ! cmp -s "$DC_ROOT/ref.set" "$DC_ROOT/mf.set"; then
		echo "FAIL: $fmt: $what: mailferry's messages differ:"
		diff "$DC_ROOT/ref.set" "$DC_ROOT/mf.set" | head -6
		fail=1
	fi
	dc_set > "$DC_ROOT/dc.set"
	if ! cmp -s "$DC_ROOT/ref.set" "$DC_ROOT/dc.set"; then
		echo "FAIL: $fmt: $what: Dovecot's messages differ:"
		diff "$DC_ROOT/ref.set" "$DC_ROOT/dc.set" | head -6
		fail=1
	fi
	compare_fetch "$loc" "$fmt: $what"
}

# dovecot_first WHAT: a copy of the killed store goes to Dovecot's
# force-resync before any mailferry writer recovered it
dovecot_first() {
	local what=$1 copy=$DC_ROOT/copy
	rm -rf "$copy"
	cp -a "$DC_ROOT/mail" "$copy"
	dc_doveadm -o "mail_location=$fmt:$copy" force-resync '*' >/dev/null 2>&1
	dc_doveadm -o "mail_location=$fmt:$copy" fetch 'mailbox guid flags' all \
		2>/dev/null | norm | paste -sd ' ' |
		sed 's/ mailbox: /\nmailbox: /g' | sed 's/ *$//' | sort \
		> "$DC_ROOT/first.set"
	guids_of "$DC_ROOT/ref.set" > "$DC_ROOT/ref.guids"
	guids_of "$DC_ROOT/first.set" > "$DC_ROOT/first.guids"
	if ! cmp -s "$DC_ROOT/ref.guids" "$DC_ROOT/first.guids"; then
		echo "FAIL: $fmt: $what: Dovecot's rebuild of the killed store:"
		diff "$DC_ROOT/ref.guids" "$DC_ROOT/first.guids" | head -6
		fail=1
	fi
	rm -rf "$copy"
}

for fmt in sdbox mdbox; do
	fail=0
	dc_init "move-$fmt" "$fmt:@ROOT@/mail"
	loc=$DC_LOCATION
	i=0
	{
		echo "create Work"
		for m in $msgs; do
			i=$((i + 1))
			case $((i % 4)) in
			0) f=S ;; 1) f=FS ;; 2) f=R ;; *) f= ;;
			esac
			echo "save INBOX $CORPUS/lkml/cur/$m flags=$f kw=k$((i % 5))"
		done
		echo "save Work $DATA/msg1.eml flags=D"
	} | $PUT "$loc" || fail=1
	mf_set > "$DC_ROOT/ref.set"
	[ "$(wc -l < "$DC_ROOT/ref.set")" = 41 ] ||
		{ echo "FAIL: $fmt: store not written"; fail=1; }

	# one move: same GUID, flags and body at the new UID
	$MF fetch "$loc" 'guid flags text' mailbox INBOX uid 3 > "$DC_ROOT/before"
	next=$($MF mailbox status "$loc" uidnext INBOX | sed 's/.*uidnext=//')
	echo "move INBOX 3" | $PUT "$loc" || fail=1
	$MF fetch "$loc" 'guid flags text' mailbox INBOX uid "$next" > "$DC_ROOT/after"
	if [ ! -s "$DC_ROOT/before" ] || ! cmp -s "$DC_ROOT/before" "$DC_ROOT/after"; then
		echo "FAIL: $fmt: uid 3 moved to $next differs"
		diff "$DC_ROOT/before" "$DC_ROOT/after" | head -5
		fail=1
	fi
	n=$($MF fetch "$loc" uid mailbox INBOX uid 3 | wc -l)
	[ "$n" = 0 ] || { echo "FAIL: $fmt: uid 3 still there after its move"; fail=1; }
	check_state "after one move"
	echo "moveall INBOX" | $PUT "$loc" || fail=1
	check_state "after moving every message"

	# killed at each step of the commit
	if [ $fmt = sdbox ]; then
		points="move-journal move-renamed move-renamed:7 before-index-commit after-index-commit"
	else
		points="before-index-commit after-index-commit"
	fi
	for p in $points; do
		(echo "moveall INBOX" |
			MAILFERRY_DBOX_CRASH_AT=$p $PUT "$loc") >/dev/null 2>&1
		[ $? = 137 ] || { echo "FAIL: $fmt: crash point $p not reached"; fail=1; }
		# a reader before any recovery
		mf_set > "$DC_ROOT/mf.set"
		cmp -s "$DC_ROOT/ref.set" "$DC_ROOT/mf.set" ||
			{ echo "FAIL: $fmt: killed at $p: reader sees:"; diff "$DC_ROOT/ref.set" "$DC_ROOT/mf.set" | head -6; fail=1; }
		dovecot_first "killed at $p"
		echo "open INBOX" | $PUT "$loc" >/dev/null || fail=1
		check_state "killed at $p"
		if [ $fmt = sdbox ]; then
			n=$(find "$DC_ROOT/mail" -name '.temp.*' | wc -l)
			[ "$n" = 0 ] || { echo "FAIL: $fmt: killed at $p: $n temp files left"; fail=1; }
		fi
	done

	# killed at random moments of many moves (one message, or all, per
	# transaction), with durable commits so that they take some time
	for k in $(seq 1000); do
		echo "moveall INBOX 1"
		echo "moveall INBOX"
	done > "$DC_ROOT/script"
	hits=0
	for round in $(seq 12); do
		$B/tests/dbox/dbox-put -o mail_fsync=always "$loc" \
			< "$DC_ROOT/script" >/dev/null 2>&1 &
		pid=$!
		sleep "0.$((RANDOM % 4 + 1))$((RANDOM % 10))"
		kill -9 $pid 2>/dev/null && hits=$((hits + 1))
		wait $pid 2>/dev/null
		mf_set > "$DC_ROOT/mf.set"
		cmp -s "$DC_ROOT/ref.set" "$DC_ROOT/mf.set" ||
			{ echo "FAIL: $fmt: random kill $round: reader sees:"; diff "$DC_ROOT/ref.set" "$DC_ROOT/mf.set" | head -6; fail=1; }
		[ $fmt = sdbox ] && dovecot_first "random kill $round"
		echo "open INBOX" | $PUT "$loc" >/dev/null || fail=1
		check_state "random kill $round"
	done
	# the writer must have been running when it was killed
	[ $hits -ge 6 ] || { echo "FAIL: $fmt: only $hits of 12 kills hit a running writer"; fail=1; }

	# Dovecot's own check repairs nothing and changes nothing
	dcq fetch 'mailbox uid guid flags' all | norm > "$DC_ROOT/pre"
	resync_output '*' > "$DC_ROOT/resync"
	if [ -s "$DC_ROOT/resync" ]; then
		echo "FAIL: $fmt: force-resync found problems:"
		head -4 "$DC_ROOT/resync"; fail=1
	fi
	dcq fetch 'mailbox uid guid flags' all | norm > "$DC_ROOT/post"
	cmp -s "$DC_ROOT/pre" "$DC_ROOT/post" ||
		{ echo "FAIL: $fmt: force-resync changed UIDs/GUIDs/flags"; diff "$DC_ROOT/pre" "$DC_ROOT/post" | head; fail=1; }
	check_state "after Dovecot's force-resync"
	check_failed
	[ $fail = 0 ] && echo "ok: move-$fmt"
	total_fail=$((total_fail + fail))
done
# sdbox with ALT storage: a message Dovecot moved to the alternate
# storage moves there (rename inside ALT, index flag kept), and a kill
# before the index commit is undone there too
fail=0
fmt=sdbox
dc_init "move-alt" "sdbox:@ROOT@/mail:ALT=@ROOT@/alt"
loc=$DC_LOCATION
for m in $(echo "$msgs" | head -6); do
	echo "save INBOX $CORPUS/lkml/cur/$m flags=S kw=alt"
done | $PUT "$loc" || fail=1
dcq altmove all
mf_set > "$DC_ROOT/ref.set"
n=$(ls "$DC_ROOT/alt/mailboxes/INBOX/dbox-Mails" | grep -c '^u\.')
[ "$n" = 6 ] || { echo "FAIL: alt: Dovecot's altmove left $n files in ALT"; fail=1; }
echo "moveall INBOX 3" | $PUT "$loc" || fail=1
check_state "ALT: after moving 3"
(echo "moveall INBOX" |
	MAILFERRY_DBOX_CRASH_AT=move-renamed:4 $PUT "$loc") >/dev/null 2>&1
mf_set > "$DC_ROOT/mf.set"
cmp -s "$DC_ROOT/ref.set" "$DC_ROOT/mf.set" ||
	{ echo "FAIL: alt: killed: reader sees:"; diff "$DC_ROOT/ref.set" "$DC_ROOT/mf.set" | head -6; fail=1; }
echo "open INBOX" | $PUT "$loc" >/dev/null 2>&1 || fail=1
check_state "ALT: killed mid-move"
n=$(ls "$DC_ROOT/alt/mailboxes/INBOX/dbox-Mails" | grep -c '^u\.')
[ "$n" = 6 ] || { echo "FAIL: alt: $n files in ALT after the moves"; fail=1; }
resync_output '*' > "$DC_ROOT/resync"
[ -s "$DC_ROOT/resync" ] && { echo "FAIL: alt: force-resync found problems:"; head -4 "$DC_ROOT/resync"; fail=1; }
check_state "ALT: after Dovecot's force-resync"
check_failed
[ $fail = 0 ] && echo "ok: move-alt"
total_fail=$((total_fail + fail))
[ $total_fail = 0 ] || exit 1
exit 0
