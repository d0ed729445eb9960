#!/bin/bash
# SPDX-License-Identifier: MIT
# dovecot.mailbox.log: the same tree operations done by doveadm on one store
# and by mailferry on another leave the same records (type and name hash;
# delete-mailbox carries each store's own mailbox GUID), and Dovecot reads
# ours. Names include non-ASCII (hashed as UTF-8 with '/', like Dovecot).
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT

for fmt in sdbox mdbox; do
	dc_init "mlog-dc-$fmt" "$fmt:@ROOT@/mail"
	dc_root_dc=$DC_ROOT
	dcq mailbox create Archive Tmp 'Entwürfe/Sub'
	dcq mailbox rename Tmp Arch2
	dcq mailbox subscribe INBOX 'Entwürfe/Sub'
	dcq mailbox unsubscribe INBOX
	dcq mailbox delete Archive
	dc_init "mlog-mf-$fmt" "$fmt:@ROOT@/mail"
	printf '%s\n' 'create Archive' 'create Tmp' 'create Entwürfe/Sub' \
		'rename Tmp Arch2' 'subscribe INBOX' 'subscribe Entwürfe/Sub' \
		'unsubscribe INBOX' 'delete Archive' | $PUT "$DC_LOCATION" ||
		{ echo "FAIL: $fmt: dbox-put"; fail=1; }
	for r in "$dc_root_dc" "$DC_ROOT"; do
		# the records without timestamps, delete-mailbox GUIDs masked
		dc_as_user doveadm dump "$r/mail/dovecot.mailbox.log" |
			sed -n 's/^#[0-9]*: \([a-z-]*\) \([0-9a-f]*\).*/\1 \2/p' |
			sed 's/^delete-mailbox .*/delete-mailbox GUID/' > "$r/mlog"
	done
	if ! cmp -s "$dc_root_dc/mlog" "$DC_ROOT/mlog" || [ ! -s "$DC_ROOT/mlog" ]; then
		echo "FAIL: $fmt: mailbox logs differ (doveadm < > mailferry):"
		diff "$dc_root_dc/mlog" "$DC_ROOT/mlog"; fail=1
	fi
	dcq mailbox list > /dev/null
	check_failed
done
[ $fail = 0 ] && echo "ok: mailbox-log"
exit $fail
