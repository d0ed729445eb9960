#!/bin/bash
# SPDX-License-Identifier: MIT
# Migration through the sync engine: `mailferry backup imap://... maildir:`
# from a real Dovecot, first in full, then incrementally after changes on
# the server (new mail, flag changes, expunges, a new mailbox), with
# QRESYNC and with a server that offers neither CONDSTORE nor QRESYNC. After
# every run the maildir must hold exactly the server's messages (bytes,
# flags, keywords), and Dovecot must read the maildir the same way.
. "$(dirname "$0")/common.sh"

. "$MF_TOP_SRCDIR/tests/lib/dovecot.sh"
imapd_start || exit 1
dc_init mig "maildir:@ROOT@/Maildir"
trap 'cleanup; dc_cleanup' EXIT
DEST=$DC_ROOT/Maildir

for f in $(find "$CORPUS/default/cur" -type f | sort | head -15); do
	imapd_doveadm save -u test < "$f"
done
imapd_doveadm mailbox create -u test "Entwürfe" "Lists/dev"
for f in $(find "$CORPUS/lkml" -type f | sort | head -8); do
	imapd_doveadm save -u test -m "Lists/dev" < "$f"
done
imapd_doveadm flags add -u test '\Seen $Label1' mailbox INBOX uid 1:5

# mailbox, flags, sha256 of the bytes, per message; UIDs are left out
# because a migration need not keep them
server_view() {
	"$MF" -f tab fetch "imap://test@127.0.0.1:$IMAPD_PORT/" \
		"mailbox flags body.sha256" | tail -n +2 | norm_flags | sort
}
dest_view() {
	"$MF" -f tab fetch "maildir:$DEST" "mailbox flags body.sha256" |
		tail -n +2 | norm_flags | sort
}
# Dovecot reading the maildir we wrote: same messages and flags
dovecot_view() {
	dc_doveadm -f tab fetch "mailbox flags text" all 2>/dev/null |
		grep -c '^'
}

run_backup() {
	local what=$1
	shift
	if ! "$MF" "$@" backup "imap://test@127.0.0.1:$IMAPD_PORT/" "maildir:$DEST" \
		> "$WORK/backup.out" 2> "$WORK/backup.err"; then
		fail "$what: backup failed: $(tail -3 "$WORK/backup.err")"
		return
	fi
	server_view > "$WORK/server.v"
	dest_view > "$WORK/dest.v"
	if cmp -s "$WORK/server.v" "$WORK/dest.v"; then
		pass "$what: maildir equals the server ($(wc -l < "$WORK/server.v") messages)"
	else
		fail "$what: maildir differs from the server"
		diff "$WORK/server.v" "$WORK/dest.v" | head -5
	fi
}

change_server() {
	local tag=$1
	printf 'Subject: new %s\nMessage-ID: <new-%s@t>\n\nnew\n' "$tag" "$tag" |
		imapd_doveadm save -u test
	printf 'Subject: draft %s\n\nd\n' "$tag" | imapd_doveadm save -u test -m "Entwürfe"
	imapd_doveadm flags add -u test '\Flagged Work' mailbox INBOX uid 6:7
	imapd_doveadm flags remove -u test '\Seen' mailbox INBOX uid 1
	first=$(imapd_doveadm search -u test mailbox "Lists/dev" all | head -1 | cut -d' ' -f2)
	imapd_doveadm expunge -u test mailbox "Lists/dev" uid "$first"
	imapd_doveadm mailbox create -u test "New $tag"
	printf 'Subject: in new\n\nx\n' | imapd_doveadm save -u test -m "New $tag"
}

run_backup "first full backup"
n=$(dovecot_view)
check "Dovecot reads the migrated maildir" [ "$n" -gt "$(wc -l < "$WORK/server.v")" ]
run_backup "second run without changes"
check "an unchanged second run saves nothing" grep -q " 0 messages saved" "$WORK/backup.err"

change_server a
run_backup "incremental run with QRESYNC"
check "only the changes were copied" grep -q " 3 messages saved, 1 expunged" "$WORK/backup.err"

# the same server without CONDSTORE/QRESYNC: full comparison by UID
imapd_kill
imapd_start "imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE UIDPLUS NAMESPACE" || exit 1
change_server b
run_backup "incremental run without CONDSTORE/QRESYNC"
check "only the changes were copied (no QRESYNC)" grep -q " 3 messages saved, 1 expunged" "$WORK/backup.err"
n=$(dovecot_view)
check "Dovecot reads the maildir after the incremental runs" \
	[ "$n" -gt "$(wc -l < "$WORK/server.v")" ]
# per message: Dovecot's view of mailbox, flags and bytes equals ours
dc_doveadm -f tab fetch "mailbox uid flags" all | tail -n +2 | norm_flags |
	while IFS=$'\t' read -r box uid flags; do
		sum=$(dc_doveadm fetch text mailbox "$box" uid "$uid" |
			tail -c +7 | sha256sum | cut -d' ' -f1)
		printf '%s\t%s\t%s\n' "$box" "$flags" "$sum"
	done | sort > "$WORK/dovecot.v"
check "Dovecot sees exactly the server's messages in the maildir" \
	cmp -s "$WORK/dovecot.v" "$WORK/server.v"

finish
