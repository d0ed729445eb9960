#!/bin/bash
# SPDX-License-Identifier: MIT
# The force_resync slot repairs what was done to the files behind the
# index's back, the way `doveadm force-resync` would, and Dovecot agrees
# with the result: a deleted message file is expunged, a message file the
# index lacks is added with its UID, a lost index is rebuilt from the files
# keeping UIDs and GUIDs, and an intact store is left unchanged.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
total_fail=0

for fmt in sdbox mdbox; do
	fail=0
	dc_init "resync-$fmt" "$fmt:@ROOT@/mail"
	loc=$DC_LOCATION
	box=$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails
	{
		echo "create Work"
		for i in 1 2 3 4 5; do echo "save INBOX $DATA/msg1.eml flags=S kw=k$i"; done
		echo "save Work $DATA/msg1.eml flags=F"
	} | $PUT "$loc" || fail=1
	# intact: nothing changes
	$MF fetch "$loc" "$FIELDS" | norm > "$DC_ROOT/a"
	echo resync | $PUT "$loc" || fail=1
	$MF fetch "$loc" "$FIELDS" | norm > "$DC_ROOT/b"
	cmp -s "$DC_ROOT/a" "$DC_ROOT/b" ||
		{ echo "FAIL: $fmt: resync changed an intact store"; diff "$DC_ROOT/a" "$DC_ROOT/b" | head; fail=1; }
	if [ $fmt = sdbox ]; then
		rm "$box/u.2"                         # lost file
		cp "$box/u.5" "$box/u.9"              # file the index lacks
		echo resync | $PUT "$loc" 2>/dev/null || fail=1
		uids=$($MF fetch "$loc" uid mailbox INBOX | sed -n 's/^uid: //p' | tr '\n' ' ')
		[ "$uids" = "1 3 4 5 9 " ] || { echo "FAIL: sdbox: uids after resync: $uids"; fail=1; }
		compare_fetch "$loc" "sdbox after resync"
		# index lost entirely: rebuilt from the files, UIDs kept
		rm -f "$box"/dovecot.index*
		echo resync | $PUT "$loc" 2>/dev/null || fail=1
		uids=$($MF fetch "$loc" uid mailbox INBOX | sed -n 's/^uid: //p' | tr '\n' ' ')
		[ "$uids" = "1 3 4 5 9 " ] || { echo "FAIL: sdbox: uids after index loss: $uids"; fail=1; }
		compare_fetch "$loc" "sdbox after index rebuild"
	else
		# the storage file of uid 2 disappears
		rm "$DC_ROOT/mail/storage/m.2"
		echo resync | $PUT "$loc" 2>/dev/null || fail=1
		uids=$($MF fetch "$loc" uid mailbox INBOX | sed -n 's/^uid: //p' | tr '\n' ' ')
		[ "$uids" = "1 3 4 5 " ] || { echo "FAIL: mdbox: uids after resync: $uids"; fail=1; }
		compare_fetch "$loc" "mdbox after resync"
		# Work's index lost: its message comes back by its B metadata
		g=$($MF fetch "$loc" guid mailbox Work | sed -n 's/^guid: //p')
		rm -f "$DC_ROOT"/mail/mailboxes/Work/dbox-Mails/dovecot.index*
		echo resync | $PUT "$loc" 2>/dev/null || fail=1
		g2=$($MF fetch "$loc" guid mailbox Work | sed -n 's/^guid: //p')
		[ -n "$g" ] && [ "$g" = "$g2" ] ||
			{ echo "FAIL: mdbox: Work's message not restored ($g / $g2)"; fail=1; }
		compare_fetch "$loc" "mdbox after storage rebuild"
	fi
	check_failed
	[ $fail = 0 ] && echo "ok: resync-$fmt"
	total_fail=$((total_fail + fail))
done
[ $total_fail = 0 ] || exit 1
exit 0
