#!/bin/bash
# SPDX-License-Identifier: MIT
# IMAP as a sync DESTINATION through the engine, against a real Dovecot
# imapd. IMAP cannot keep UIDs, mailbox GUIDs or UIDVALIDITY, so the engine
# matches mailboxes by name and messages by header hash and makes the
# message SETS equal: after every run the server holds exactly the
# source's messages (bytes modulo CRLF, flags, keywords, internal date =
# received date) in mailboxes of the same names, INBOX is never renamed or
# deleted, and a second run changes nothing and exits 0.
#   1. maildir (written by Dovecot) -> IMAP: full, then incremental after
#      new mail, flag/keyword changes, expunges, a renamed and a new folder,
#      and changes made on the destination (reverted);
#   2. IMAP -> IMAP (user other -> user test, master-user logins);
#   3. two-way sync maildir <-> IMAP converging, with and without a state.
. "$(dirname "$0")/common.sh"
. "$MF_TOP_SRCDIR/tests/lib/dovecot.sh"

imapd_start || exit 1
dc_init src "maildir:@ROOT@/Maildir"
trap 'cleanup; dc_cleanup' EXIT
SRC=maildir:$DC_ROOT/Maildir
H=127.0.0.1:$IMAPD_PORT
TESTU="imap://test@$H/"
OTHERU="imap://other@$H/"

# APPEND through Dovecot's own imap on the source (flags and INTERNALDATE
# as given): dc_append BOX FLAGS DATE FILE...
dc_append() {
	local box=$1 flags=$2 date=$3 f n i=0
	shift 3
	{
		for f in "$@"; do
			n=$(wc -c < "$f")
			printf 'a%d APPEND "%s" (%s) "%s" {%d+}\r\n' $i "$box" \
				"$flags" "$date" "$n"
			cat "$f"
			printf '\r\n'
			i=$((i + 1))
		done
		printf 'z LOGOUT\r\n'
	} | dc_imap > "$WORK/append.out" 2>&1
	if [ "$(grep -c '^a[0-9]* OK' "$WORK/append.out")" != "$#" ]; then
		fail "APPEND to $box: $(grep -v '^\*' "$WORK/append.out" | head -3)"
	fi
}

# mailbox, flags + keywords, internal date, sha256 of the bytes (LF line
# ends: the imapc stream gives LF like the local stores), sorted: the
# content of a store without its UIDs
VIEWOPT=
view() {
	"$MF" $VIEWOPT -f tab fetch "$@" "mailbox flags date.received.unixtime body.sha256" |
		tail -n +2 | norm_flags | sort
}

# run NAME CMD...: a mailferry run that must exit 0
run() {
	local name=$1
	shift
	"$MF" "$@" > "$WORK/run.out" 2> "$WORK/run.err"
	local code=$?
	if [ $code != 0 ]; then
		fail "$name: exit $code: $(grep -v '^mailferry: [0-9]* mailboxes' "$WORK/run.err" | head -3)"
		return 1
	fi
	return 0
}

# noop NAME CMD...: a second run that must change nothing and exit 0
noop() {
	local name=$1
	shift
	run "$name" "$@" || return
	if grep -q ' 0 mailboxes created, 0 deleted, 0 renamed; 0 messages saved, 0 expunged, 0 flag changes' "$WORK/run.err"; then
		pass "$name: no-op, exit 0"
	else
		fail "$name: not a no-op: $(tail -1 "$WORK/run.err")"
	fi
}

# same NAME A B: the two stores hold the same content
same() {
	local name=$1
	view "$2" > "$WORK/a.v"
	view "$3" > "$WORK/b.v"
	if [ -s "$WORK/a.v" ] && cmp -s "$WORK/a.v" "$WORK/b.v"; then
		pass "$name ($(wc -l < "$WORK/a.v") messages)"
	else
		fail "$name"
		diff "$WORK/a.v" "$WORK/b.v" | head -8
	fi
}

# INBOX is never renamed away nor are "-temp-" names left behind
inbox_intact() {
	local user=$1 list
	list=$(imapd_doveadm mailbox list -u "$user")
	if printf '%s\n' "$list" | grep -qx INBOX &&
		! printf '%s\n' "$list" | grep -q -- '-temp-'; then
		pass "$user: INBOX in place, no temporary names"
	else
		fail "$user: mailbox list: $(printf '%s ' $list)"
	fi
}

mapfile -t DEF < <(find "$CORPUS/default/cur" -type f | sort | head -16)
mapfile -t LKML < <(find "$CORPUS/lkml" -type f | sort | head -8)
mapfile -t MORE < <(find "$CORPUS/lkml" -type f | sort | sed -n 9,16p)

# ---------------------------------------------------------------- source
dc_doveadm mailbox create "Lists/dev" "Entwürfe" "Archive"
dc_append INBOX '\Seen' "01-Jan-2020 10:00:00 +0000" "${DEF[@]:0:4}"
dc_append INBOX '\Seen \Flagged $Label1' "02-Feb-2021 11:30:00 +0100" "${DEF[@]:4:3}"
dc_append INBOX '' "03-Mar-2022 12:00:00 -0500" "${DEF[@]:7:5}"
dc_append Lists/dev '\Answered Work' "04-Apr-2019 08:00:00 +0000" "${LKML[@]:0:6}"
dc_append "Entw&APw-rfe" '\Draft' "05-May-2023 09:15:00 +0200" "${MORE[@]:0:3}"
dc_append Archive '\Seen' "06-Jun-2018 06:06:06 +0000" "${DEF[@]:12:2}"

# ------------------------------------------------------- 1. maildir -> IMAP
run "maildir -> IMAP: first backup" backup "$SRC" "$TESTU" &&
	same "maildir -> IMAP: server holds the source's messages" "$SRC" "$TESTU"
noop "maildir -> IMAP: second run" backup "$SRC" "$TESTU"
inbox_intact test

# changes on the source: new mail, flags and keywords, expunges, a renamed
# folder, a new folder; and on the destination: a foreign message, a flag
dc_append INBOX '\Seen Later' "07-Jul-2024 07:07:07 +0000" "${DEF[@]:14:2}"
dc_doveadm flags add '\Flagged NewKw' mailbox INBOX uid 1:2
dc_doveadm flags remove '\Seen' mailbox INBOX uid 3
dc_doveadm flags remove '$Label1' mailbox INBOX uid 5
dc_doveadm expunge mailbox INBOX uid 8:9
dc_doveadm expunge mailbox Lists/dev uid 1
dc_doveadm mailbox rename "Lists/dev" "Lists/devel"
dc_doveadm mailbox create "Fresh"
dc_append Fresh '' "08-Aug-2024 08:08:08 +0000" "${LKML[@]:6:2}"
imapd_doveadm save -u test < "${MORE[3]}"
imapd_doveadm flags add -u test '\Deleted' mailbox Archive uid 1

run "maildir -> IMAP: incremental backup" backup "$SRC" "$TESTU" &&
	same "maildir -> IMAP: changes on both sides -> the source's content" \
		"$SRC" "$TESTU"
noop "maildir -> IMAP: second incremental run" backup "$SRC" "$TESTU"
inbox_intact test
if imapd_doveadm mailbox list -u test | grep -qx "Lists/dev"; then
	fail "the renamed folder's old name is still on the server"
else
	pass "the renamed folder's old name is gone from the server"
fi

# ---------------------------------------------------------- 2. IMAP -> IMAP
for f in "${LKML[@]:0:5}"; do imapd_doveadm save -u other < "$f"; done
imapd_doveadm mailbox create -u other "Projekte/Übersicht"
for f in "${MORE[@]:4:4}"; do imapd_doveadm save -u other -m "Projekte/Übersicht" < "$f"; done
imapd_doveadm flags add -u other '\Seen $Forwarded' mailbox INBOX uid 2:4
imapd_doveadm flags add -u other '\Flagged' mailbox "Projekte/Übersicht" uid 1

M="-o imapc_master_user=master"
VIEWOPT=$M
export MAILFERRY_IMAPC_PASSWORD=mpass
run "IMAP -> IMAP: backup other -> test" $M backup "$OTHERU" "$TESTU" &&
	same "IMAP -> IMAP: test holds other's messages" "$OTHERU" "$TESTU"
noop "IMAP -> IMAP: second run" $M backup "$OTHERU" "$TESTU"
inbox_intact test

imapd_doveadm expunge -u other mailbox INBOX uid 1
imapd_doveadm flags remove -u other '$Forwarded' mailbox INBOX uid 3
printf 'Subject: late\nMessage-ID: <late@t>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nlate\n' |
	imapd_doveadm save -u other
imapd_doveadm mailbox rename -u other "Projekte/Übersicht" "Projekte/Archiv"
run "IMAP -> IMAP: incremental backup" $M backup "$OTHERU" "$TESTU" &&
	same "IMAP -> IMAP: changes copied" "$OTHERU" "$TESTU"
noop "IMAP -> IMAP: second incremental run" $M backup "$OTHERU" "$TESTU"
VIEWOPT=
export MAILFERRY_IMAPC_PASSWORD=secret

# ------------------------------------------------ 3. two-way maildir <-> IMAP
# a maildir with some mail of its own against the server's user test
dc_init two "maildir:@ROOT@/Maildir"
TWO=maildir:$DC_ROOT/Maildir
dc_append INBOX '\Seen' "09-Sep-2020 09:09:09 +0000" "${DEF[@]:0:3}"
dc_doveadm mailbox create "Local"
dc_append Local '' "10-Oct-2020 10:10:10 +0000" "${MORE[@]:0:2}"
view "$TESTU" > "$WORK/server-before.v"
run "sync maildir <-> IMAP: first run" sync "$TWO" "$TESTU" &&
	same "sync maildir <-> IMAP: both sides hold the union" "$TWO" "$TESTU"
noop "sync maildir <-> IMAP: second run" sync "$TWO" "$TESTU"
n=$(view "$TESTU" | wc -l)
check "nothing lost or duplicated: $n = server's $(wc -l < "$WORK/server-before.v") + 5" \
	[ "$n" = $(( $(wc -l < "$WORK/server-before.v") + 5 )) ]

# changes on both sides: new mail, flags; then a stateful run that also
# carries an expunge over
printf 'Subject: on imap\nMessage-ID: <on-imap@t>\n\nx\n' | imapd_doveadm save -u test
dc_append Local '\Flagged' "11-Nov-2020 11:11:11 +0000" "${LKML[7]}"
imapd_doveadm flags add -u test 'Shared' mailbox Local uid 1
run "sync maildir <-> IMAP: changes on both sides" sync "$TWO" "$TESTU" &&
	same "sync maildir <-> IMAP: converged" "$TWO" "$TESTU"
noop "sync maildir <-> IMAP: second run after changes" sync "$TWO" "$TESTU"

STATE=$("$MF" sync -s "" "$TWO" "$TESTU" 2> "$WORK/run.err") ||
	fail "sync -s '': $(tail -2 "$WORK/run.err")"
uid=$(imapd_doveadm search -u test mailbox Local all | head -1 | cut -d' ' -f2)
imapd_doveadm expunge -u test mailbox Local uid "$uid"
before=$(view "$TWO" | wc -l)
STATE=$("$MF" sync -s "$STATE" "$TWO" "$TESTU" 2> "$WORK/run.err") ||
	fail "sync -s STATE: $(tail -2 "$WORK/run.err")"
same "sync -s: an expunge on the server reaches the maildir" "$TWO" "$TESTU"
check "sync -s: the maildir lost exactly that message" \
	[ "$(view "$TWO" | wc -l)" = $((before - 1)) ]
STATE=$("$MF" sync -s "$STATE" "$TWO" "$TESTU" 2> "$WORK/run.err")
check "sync -s: the next stateful run exits 0" [ $? = 0 ]
check "sync -s: the next stateful run changes nothing" \
	grep -q ' 0 messages saved, 0 expunged, 0 flag changes' "$WORK/run.err"
# with the state, flag changes of both sides survive: the server's are
# told by its modseqs since the last run (it keeps no flag history)
uid=$(imapd_doveadm search -u test mailbox INBOX all | head -1 | cut -d' ' -f2)
imapd_doveadm flags add -u test 'OnServer' mailbox INBOX uid "$uid"
uid=$(dc_doveadm search mailbox INBOX all | tail -1 | cut -d' ' -f2)
dc_doveadm flags add 'OnMaildir \Flagged' mailbox INBOX uid "$uid"
STATE=$("$MF" sync -s "$STATE" "$TWO" "$TESTU" 2> "$WORK/run.err") ||
	fail "sync -s after flag changes: $(tail -2 "$WORK/run.err")"
imapd_doveadm flags remove -u test '\Flagged' mailbox INBOX all
STATE=$("$MF" sync -s "$STATE" "$TWO" "$TESTU" 2> "$WORK/run.err") ||
	fail "sync -s after a flag removal: $(tail -2 "$WORK/run.err")"
same "sync -s: flag changes on both sides converge" "$TWO" "$TESTU"
for kw in OnServer OnMaildir; do
	check "sync -s: keyword $kw on both sides" [ \
		"$(view "$TWO" | grep -c "$kw")" = 1 -a "$(view "$TESTU" | grep -c "$kw")" = 1 ]
done
check "sync -s: the server's flag removal won" \
	[ "$(view "$TWO" | grep '^INBOX' | grep -c 'Flagged')" = 0 ]

# the maildir (its UIDVALIDITYs now the server's) as Dovecot reads it
dc_doveadm -f tab fetch "mailbox flags" all | tail -n +2 | norm_flags |
	sort > "$WORK/dc.v"
view "$TWO" | cut -f1,2 | sort > "$WORK/mf.v"
check "Dovecot reads the two-way maildir as mailferry does" \
	cmp -s "$WORK/dc.v" "$WORK/mf.v"

finish
