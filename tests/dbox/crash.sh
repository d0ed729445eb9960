#!/bin/bash
# SPDX-License-Identifier: MIT
# Crash safety of the dbox drivers: a save killed before its commit leaves
# only temp files, which Dovecot ignores and the next mailferry run
# removes; a writer killed with SIGKILL at random points leaves a store
# that Dovecot and mailferry open without warnings or force-resync, with
# every message whose commit had returned.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
total_fail=0
msgs=$(cd "$CORPUS/lkml/cur" && ls | head -60)

for fmt in sdbox mdbox; do
	fail=0
	dc_init "crash-$fmt" "$fmt:@ROOT@/mail"
	loc=$DC_LOCATION
	printf 'save INBOX %s\nsave INBOX %s\n' "$DATA/msg1.eml" "$DATA/msg1.eml" |
		$PUT "$loc" >/dev/null || fail=1
	echo "abort-save INBOX $DATA/msg1.eml" | $PUT "$loc" >/dev/null
	n=$(find "$DC_ROOT/mail" -name '.temp.*' | wc -l)
	[ "$n" -ge 1 ] || { echo "FAIL: $fmt: abort-save left no temp file"; fail=1; }
	dcq mailbox status messages INBOX > "$DC_ROOT/st"
	grep -q 'messages=2' "$DC_ROOT/st" || { echo "FAIL: $fmt: uncommitted save visible: $(cat "$DC_ROOT/st")"; fail=1; }
	echo "save INBOX $DATA/msg1.eml" | $PUT "$loc" >/dev/null || fail=1
	n=$(find "$DC_ROOT/mail" -name '.temp.*' | wc -l)
	[ "$n" = 0 ] || { echo "FAIL: $fmt: next run left $n temp files"; fail=1; }

	# SIGKILL a writer at random moments, five times
	for round in 1 2 3 4 5; do
		for m in $msgs; do
			echo "save INBOX $CORPUS/lkml/cur/$m flags=S kw=r$round"
		done > "$DC_ROOT/script"
		before=$($MF mailbox status "$loc" messages INBOX | sed 's/.*messages=//')
		DBOX_PUT_REPORT=1 $PUT "$loc" < "$DC_ROOT/script" \
			> "$DC_ROOT/committed" &
		pid=$!
		sleep "0.$((RANDOM % 4 + 1))"
		kill -9 $pid 2>/dev/null
		wait $pid 2>/dev/null
		done_n=$(grep -c committed "$DC_ROOT/committed")
		dcq mailbox status messages INBOX > "$DC_ROOT/st"
		now=$(sed 's/.*messages=//' "$DC_ROOT/st")
		if [ -z "$now" ] || [ "$now" -lt $((before + done_n)) ]; then
			echo "FAIL: $fmt round $round: $before + $done_n committed, Dovecot sees ${now:-nothing}"
			fail=1
		fi
		compare_fetch "$loc" "$fmt after kill $round"
	done
	# Dovecot's own consistency check finds nothing to repair (it
	# always prints "Rebuilding index" for sdbox; other lines are
	# problems)
	resync_output INBOX > "$DC_ROOT/resync"
	if [ -s "$DC_ROOT/resync" ]; then
		echo "FAIL: $fmt: force-resync found problems:"
		head -4 "$DC_ROOT/resync"; fail=1
	fi
	compare_fetch "$loc" "$fmt after force-resync"
	check_failed
	[ $fail = 0 ] && echo "ok: crash-$fmt"
	total_fail=$((total_fail + fail))
done
[ $total_fail = 0 ] || exit 1
exit 0
