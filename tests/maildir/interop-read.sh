#!/bin/bash
# SPDX-License-Identifier: MIT
# Dovecot writes a Maildir (Maildir++ and LAYOUT=fs): many mailboxes, nested
# and non-ASCII names, keywords, expunges, renames, subscriptions, messages
# left in new/. mailferry must report exactly what doveadm reports: status,
# uid, guid, flags, keywords, sizes, received date and the message bytes.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT

run_layout() {
	local name=$1 opt=$2 root
	dc_init "$name" "maildir:@ROOT@/Maildir$opt"
	root=$DC_ROOT
	md_gen_msgs "$root/msgs" 12
	chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
	dc_doveadm mailbox create Work Work/Sub 'Wörk/Sub' 'Entwürfe' 'A&B' \
		'日本語/深い/階層' Tmp
	for i in 1 2 3 4 5 6; do
		dc_as_user sh -c "doveadm -c $root/dovecot.conf save -m INBOX < $root/msgs/msg$i.eml"
	done
	for i in 7 8 9; do
		dc_as_user sh -c "doveadm -c $root/dovecot.conf save -m 'Wörk/Sub' < $root/msgs/msg$i.eml"
	done
	for i in 10 11 12; do
		dc_as_user sh -c "doveadm -c $root/dovecot.conf save -m Tmp < $root/msgs/msg$i.eml"
	done
	dc_doveadm flags add '\Seen $Label1' mailbox INBOX uid 1
	dc_doveadm flags add '\Flagged Junk NonJunk' mailbox INBOX uid 2:3
	dc_doveadm flags add '\Answered \Draft \Deleted' mailbox INBOX uid 4
	dc_doveadm flags remove 'Junk' mailbox INBOX uid 3
	dc_doveadm flags add 'Hulle $Forwarded' mailbox 'Wörk/Sub' uid 2
	dc_doveadm expunge mailbox INBOX uid 5
	dc_doveadm expunge mailbox 'Wörk/Sub' uid 1
	dc_doveadm mailbox rename Tmp 'Archive/2026'
	dc_doveadm mailbox subscribe INBOX Work 'Wörk/Sub' 'A&B' NoSuchBox
	dc_doveadm mailbox unsubscribe Work
	# an IMAP session moves new/ messages to cur/ in INBOX only
	printf 'a select INBOX\r\nb logout\r\n' | dc_imap > /dev/null 2>&1
	md_compare "maildir:$root/Maildir$opt" "$name"

	# subscriptions as Dovecot lists them
	dc_doveadm mailbox list -s | LC_ALL=C sort > "$root/subs.dc"
	echo subscriptions | "$MDWRITER" "maildir:$root/Maildir$opt" |
		sed -n 's/^sub: //p' | LC_ALL=C sort > "$root/subs.mf"
	diff -u "$root/subs.dc" "$root/subs.mf"
	md_check $? "$name: subscriptions"
	# the mailbox log Dovecot wrote: rename of Tmp, (un)subscribes
	echo mailboxlog | "$MDWRITER" "maildir:$root/Maildir$opt" > "$root/mlog"
	grep -q "^log: 3 $(printf 'Archive/2026' | sha1sum | cut -c1-32)$" "$root/mlog" &&
		grep -q "^log: 5 $(printf 'Work' | sha1sum | cut -c1-32)$" "$root/mlog"
	md_check $? "$name: mailbox log has Dovecot's rename and unsubscribe"
	# listing: same selectable mailbox names
	dc_doveadm mailbox list | LC_ALL=C sort > "$root/list.dc"
	"$MAILFERRY" mailbox list "maildir:$root/Maildir$opt" | LC_ALL=C sort > "$root/list.mf"
	diff -u "$root/list.dc" "$root/list.mf"
	md_check $? "$name: mailbox list"
}

run_layout pp ""
run_layout fs ":LAYOUT=fs"
exit $md_fail
