#!/bin/bash
# SPDX-License-Identifier: MIT
# mailferry and Dovecot writing the same sdbox/mdbox store at the same
# time: both lock the same index logs (and the mdbox map), so every message
# either side saved is there exactly once, UIDs are unique, and Dovecot
# reports no problem.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
total_fail=0
N=40

for fmt in sdbox mdbox; do
	fail=0
	dc_init "conc-$fmt" "$fmt:@ROOT@/mail"
	loc=$DC_LOCATION
	echo "save INBOX $DATA/msg1.eml" | $PUT "$loc" > /dev/null || fail=1
	for i in $(seq 1 $N); do
		echo "save INBOX $DATA/msg1.eml kw=ours flags=S"
		echo "flags INBOX 1 add F"
	done > "$DC_ROOT/script"
	# both run as the mail user, as they would on a server
	dc_as_user env MAILFERRY_DRIVER_PATH="$MAILFERRY_DRIVER_PATH" \
		MAILFERRY_SKIP_DEFAULT_DIR=1 LD_BIND_NOW=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
		$PUT "$loc" < "$DC_ROOT/script" > "$DC_ROOT/put.out" 2>&1 &
	pid=$!
	for i in $(seq 1 $N); do
		dc_doveadm save -m INBOX < "$CORPUS/html/attribute-text" 2>> "$DC_ROOT/dc.err" ||
			echo "doveadm save $i failed" >> "$DC_ROOT/dc.err"
	done
	wait $pid || { echo "FAIL: $fmt: dbox-put failed:"; head -5 "$DC_ROOT/put.out"; fail=1; }
	if [ -s "$DC_ROOT/dc.err" ]; then
		echo "FAIL: $fmt: doveadm complained while we wrote:"; head -5 "$DC_ROOT/dc.err"; fail=1
	fi
	n=$(dcq mailbox status messages INBOX | sed 's/.*messages=//')
	[ "$n" = $((2 * N + 1)) ] || { echo "FAIL: $fmt: $n messages, expected $((2 * N + 1))"; fail=1; }
	ours=$(dcq search mailbox INBOX keyword ours | wc -l)
	[ "$ours" = $N ] || { echo "FAIL: $fmt: $ours of our $N saves found"; fail=1; }
	compare_fetch "$loc" "conc-$fmt"
	check_failed
	[ $fail = 0 ] && echo "ok: concurrent-$fmt"
	total_fail=$((total_fail + fail))
done
[ $total_fail = 0 ] || exit 1
exit 0
