#!/bin/bash
# SPDX-License-Identifier: MIT
# The engine's move to a new UID (copy + expunge in one transaction, made
# when new mail on both sides of a two-way sync took the same UIDs) on
# sdbox and mdbox stores, killed at each step of the dbox commit
# (MAILFERRY_DBOX_CRASH_AT): the next run finishes the sync and every
# message is on both sides exactly once, as Dovecot sees it too, before and
# after its force-resync.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
total_fail=0
msgs=($(cd "$CORPUS/lkml/cur" && ls | head -30))

# mailbox + GUID of every message of store $1 (location), sorted
guids() { $MF fetch "$1" 'mailbox guid' | awk '/^mailbox: /{b=$2} /^guid: /{print b, $2}' | sort; }

for fmt in sdbox mdbox; do
	if [ $fmt = sdbox ]; then
		points="move-journal move-renamed:2 before-index-commit after-index-commit"
	else
		points="before-index-commit after-index-commit"
	fi
	for p in $points; do
		fail=0
		name=$fmt-${p//:/-}
		dc_init "$name" "$fmt:@ROOT@/a"
		A=$DC_LOCATION
		B="$fmt:$DC_ROOT/b"
		{
			for m in "${msgs[@]:0:10}"; do echo "save INBOX $CORPUS/lkml/cur/$m flags=S"; done
		} | $PUT "$A" >/dev/null || fail=1
		$MF backup "$A" "$B" 2>/dev/null || fail=1
		# new mail on both sides, same UIDs: conflicts (different counts, or
		# the sync would see equal mailbox states and skip the mailbox)
		for m in "${msgs[@]:10:8}"; do echo "save INBOX $CORPUS/lkml/cur/$m kw=a"; done |
			$PUT "$A" >/dev/null || fail=1
		for m in "${msgs[@]:18:6}"; do echo "save INBOX $CORPUS/lkml/cur/$m kw=b"; done |
			$PUT "$B" >/dev/null || fail=1
		{ guids "$A"; guids "$B"; } | sort -u > "$DC_ROOT/want"
		(MAILFERRY_DBOX_CRASH_AT=$p $MF sync "$A" "$B"; exit $?) \
			>/dev/null 2>&1
		rc=$?
		[ $rc = 137 ] || { echo "FAIL: $name: sync was not killed at $p (exit $rc)"; fail=1; }
		$MF sync "$A" "$B" >/dev/null 2>"$DC_ROOT/err" ||
			{ echo "FAIL: $name: sync after the kill:"; head -3 "$DC_ROOT/err"; fail=1; }
		for side in A B; do
			loc=${!side}
			guids "$loc" > "$DC_ROOT/got"
			cmp -s "$DC_ROOT/want" "$DC_ROOT/got" ||
				{ echo "FAIL: $name: side $side after the kill and a rerun:"; diff "$DC_ROOT/want" "$DC_ROOT/got" | head -6; fail=1; }
		done
		compare_fetch "$A" "$name"
		resync_output '*' > "$DC_ROOT/resync"
		[ -s "$DC_ROOT/resync" ] && { echo "FAIL: $name: Dovecot's force-resync:"; head -3 "$DC_ROOT/resync"; fail=1; }
		guids "$A" > "$DC_ROOT/got"
		cmp -s "$DC_ROOT/want" "$DC_ROOT/got" ||
			{ echo "FAIL: $name: after Dovecot's force-resync:"; diff "$DC_ROOT/want" "$DC_ROOT/got" | head -6; fail=1; }
		check_failed
		[ $fail = 0 ] && echo "ok: $name"
		total_fail=$((total_fail + fail))
	done
done
[ $total_fail = 0 ] || exit 1
exit 0
