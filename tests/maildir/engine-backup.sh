#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end through the engine: a Maildir written by Dovecot is backed up
# by `mailferry backup` into a Maildir (LAYOUT=fs) and both look identical
# to doveadm (UIDs, GUIDs, flags, keywords, sizes, dates, bytes, status);
# Dovecot then changes the source and an incremental backup follows.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT

dc_init dst "maildir:@ROOT@/Maildir:LAYOUT=fs"
DST=$DC_ROOT
dc_init src "maildir:@ROOT@/Maildir"
SRC=$DC_ROOT
md_gen_msgs "$SRC/msgs" 20
chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
dc_doveadm mailbox create Work 'Wörk/Sub' 'A&B'
for i in $(seq 1 12); do
	dc_as_user sh -c "doveadm -c $SRC/dovecot.conf save -m INBOX < $SRC/msgs/msg$i.eml"
done
for i in 13 14 15; do
	dc_as_user sh -c "doveadm -c $SRC/dovecot.conf save -m 'Wörk/Sub' < $SRC/msgs/msg$i.eml"
done
dc_doveadm flags add '\Seen $Label1' mailbox INBOX uid 1:5
dc_doveadm flags add '\Flagged Junk' mailbox INBOX uid 3
dc_doveadm expunge mailbox INBOX uid 4
dc_doveadm mailbox subscribe INBOX 'Wörk/Sub'

# same doveadm view of both stores
same_view() {
	local label=$1 side box
	for side in src dst; do
		if [ $side = src ]; then DC_ROOT=$SRC; else DC_ROOT=$DST; fi
		dc_doveadm mailbox status "$MD_STATUS" '*' | md_norm_status |
			sed 's/ highestmodseq=[0-9]*//' > "$DC_BASE/st.$side"
		: > "$DC_BASE/view.$side"
		# mailbox by mailbox: doveadm's listing order depends on the layout
		while read -r box; do
			dc_doveadm fetch "$MD_FIELDS" mailbox "$box" >> "$DC_BASE/view.$side"
		done < <(cut -d' ' -f1 "$DC_BASE/st.$side")
	done
	diff -u "$DC_BASE/view.src" "$DC_BASE/view.dst" | head -30
	cmp -s "$DC_BASE/view.src" "$DC_BASE/view.dst" &&
		diff -u "$DC_BASE/st.src" "$DC_BASE/st.dst"
	md_check $? "$label: Dovecot sees the same messages and status ($(grep -c '^uid:' "$DC_BASE/view.src") messages)"
}

"$MAILFERRY" backup "maildir:$SRC/Maildir" "maildir:$DST/Maildir:LAYOUT=fs"
md_check $? "first backup (exit 0)"
same_view "first backup"

dc_init src "maildir:@ROOT@/Maildir" # back to the source config
dc_doveadm flags remove '$Label1' mailbox INBOX uid 1
dc_doveadm flags add '\Answered NewKw' mailbox INBOX uid 2
dc_doveadm expunge mailbox INBOX uid 5
dc_as_user sh -c "doveadm -c $SRC/dovecot.conf save -m Work < $SRC/msgs/msg16.eml"
"$MAILFERRY" backup "maildir:$SRC/Maildir" "maildir:$DST/Maildir:LAYOUT=fs"
md_check $? "incremental backup (exit 0)"
same_view "incremental backup"
DC_ROOT=$DST
dc_doveadm force-resync '*' 2> "$DST/resync.err"
[ ! -s "$DST/resync.err" ]
md_check $? "force-resync of the backup is silent: $(head -c 300 "$DST/resync.err")"
exit $md_fail
