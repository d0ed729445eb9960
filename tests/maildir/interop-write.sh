#!/bin/bash
# SPDX-License-Identifier: MIT
# mailferry writes a Maildir through the driver (flags, keywords, wanted
# UIDs, GUIDs, dates, renames, deletes, subscriptions); Dovecot must read it
# with identical results, `doveadm force-resync` must change nothing, and
# changes Dovecot makes afterwards must reach mailferry through the index
# (modseqs, expunges with GUIDs).
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT

run_layout() {
	local name=$1 opt=$2 root loc
	dc_init "$name" "maildir:@ROOT@/Maildir$opt"
	root=$DC_ROOT
	opt=${opt//@ROOT@/$root}
	loc="maildir:$root/Maildir$opt"
	md_gen_msgs "$root/msgs" 16
	: > "$root/msgs/empty.eml"
	"$MDWRITER" "$loc" > "$root/w.out" <<EOS
create Work
create Wörk/Sub 00112233445566778899aabbccddeeff 1234567
create 日本語/深い
create Old/Child
begin INBOX
save $root/msgs/msg1.eml flags=Seen kw=\$Label1,Junk date=1600000000
save $root/msgs/msg2.eml uid=10 guid=0123456789abcdef0123456789abcdef
save $root/msgs/msg3.eml guid=my-own-guid flags=Flagged,Answered
save $root/msgs/msg4.eml
save $root/msgs/empty.eml
save $root/msgs/msg5.eml uid=20 flags=Draft,Deleted kw=NonJunk date=1500000000
commit
begin Wörk/Sub
save $root/msgs/msg6.eml uid=5 kw=Other
saveall $root/msgs
commit
begin INBOX
flags 10 add Seen,Draft \$Label1
flags 1 remove - Junk
flags 11 replace Seen Work
expunge 12
commit
begin Old/Child
save $root/msgs/msg7.eml
commit
rename Old Renamed
subscribe Work
subscribe Wörk/Sub
subscribe INBOX
unsubscribe Work
update Work uidnext=100 modseq=50
EOS
	md_check $? "$name: md-writer script"
	grep -q '^uids: 1 10 11 12 13 20$' "$root/w.out"
	md_check $? "$name: wanted UIDs honoured, others assigned in order"
	md_compare "$loc" "$name written by mailferry"
	dc_doveadm fetch "$MD_FIELDS" all > "$root/before"
	dc_doveadm force-resync '*' 2> "$root/resync.err"
	[ ! -s "$root/resync.err" ]
	md_check $? "$name: doveadm force-resync prints nothing: $(head -c 500 "$root/resync.err")"
	dc_doveadm fetch "$MD_FIELDS" all > "$root/after"
	diff -u "$root/before" "$root/after" | head -20
	cmp -s "$root/before" "$root/after"
	md_check $? "$name: doveadm force-resync changes nothing"
	dc_doveadm mailbox list -s > "$root/subs"
	[ "$(LC_ALL=C sort "$root/subs" | tr '\n' ' ')" = "INBOX Wörk/Sub " ]
	md_check $? "$name: subscriptions as Dovecot sees them"
	dc_doveadm mailbox status 'uidnext highestmodseq' Work > "$root/st"
	grep -q 'uidnext=100' "$root/st" && grep -q 'highestmodseq=5[0-9]' "$root/st"
	md_check $? "$name: mailbox_update min uidnext/modseq ($(cat "$root/st"))"

	# Dovecot changes things; mailferry sees them by modseq and expunge log
	local hm
	hm=$("$MAILFERRY" mailbox status "$loc" highestmodseq INBOX | sed 's/.*=//')
	dc_doveadm flags add '\Answered' mailbox INBOX uid 1
	dc_doveadm expunge mailbox INBOX uid 11
	dc_as_user sh -c "doveadm -c $root/dovecot.conf save -m INBOX < $root/msgs/msg8.eml"
	md_compare "$loc" "$name after Dovecot's changes"
	printf 'begin INBOX\nexpunge 10\ncommit\n' | "$MDWRITER" "$loc" > /dev/null
	printf 'changes INBOX %s\n' "$hm" | "$MDWRITER" "$loc" > "$root/ch"
	# Dovecot's own external expunge record carries no GUID; ours do
	grep -q '^changed: 1 ' "$root/ch" && grep -q '^changed: 21 ' "$root/ch" &&
		! grep -q '^changed: 10 ' "$root/ch" &&
		grep -q '^expunged: 11 ' "$root/ch" &&
		grep -q '^expunged: 10 0123456789abcdef0123456789abcdef$' "$root/ch"
	md_check $? "$name: changes since modseq $hm: $(tr '\n' ';' < "$root/ch")"
	md_compare "$loc" "$name after mailferry's expunge"
}

run_layout pp ""
run_layout fs ":LAYOUT=fs"
# index and control files elsewhere, as Dovecot's INDEX= and CONTROL=
run_layout ctl ":INDEX=@ROOT@/index:CONTROL=@ROOT@/control"
run_layout ctlfs ":LAYOUT=fs:INDEX=@ROOT@/index:CONTROL=@ROOT@/control"
exit $md_fail
