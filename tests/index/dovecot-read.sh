#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/index/dovecot-read.sh - stores written by the REAL Dovecot (made
# here, at test time, never by hand) must be read by core/index exactly as
# Dovecot reports them: for each store, `mf-index-tool state` must agree
# field by field with `doveadm fetch 'uid flags modseq guid'` and
# `doveadm mailbox status 'messages uidvalidity uidnext highestmodseq
# guid'`. Covers sdbox with and without dovecot.index, rotated .log.2,
# mdbox (map + guid extension) and maildir, plus changes/expunges since a
# modseq compared with IMAP CHANGEDSINCE / QRESYNC VANISHED.
set -u
TOP_SRC=${MF_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TOP_BUILD=${MF_TOP_BUILDDIR:-$TOP_SRC}
TOOL=$TOP_BUILD/tests/index/mf-index-tool
. "$TOP_SRC/tests/lib/dovecot.sh"
dc_require
[ -x "$TOOL" ] || { echo "FAIL: $TOOL not built"; exit 1; }
trap dc_cleanup EXIT
# every incremental refresh of core/index is checked against a full load
export MF_INDEX_CHECK_INCREMENTAL=1

fails=0
passes=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { passes=$((passes + 1)); }

msg() { # msg N -> a small distinct message on stdout
	printf 'From: t%s@example.com\r\nSubject: msg %s\r\nMessage-ID: <%s.mf@test>\r\n\r\nbody %s\r\n' "$1" "$1" "$1" "$1"
}

save_n() { # save_n MAILBOX FIRST LAST
	local i
	for i in $(seq "$2" "$3"); do
		msg "$i" > "$DC_BASE/m.eml"
		dc_doveadm save -m "$1" < "$DC_BASE/m.eml" || fail "save $1 $i"
	done
}

# The mutations every store gets (flags, keywords, expunges, mailboxes).
scenario() {
	local box=$1
	save_n "$box" 1 6
	dc_doveadm flags add '\Seen $Label1' mailbox "$box" uid 1
	dc_doveadm flags add '\Flagged Junk' mailbox "$box" uid 2:3
	dc_doveadm flags remove '$Label1' mailbox "$box" uid 1
	dc_doveadm flags add '\Answered \Draft NonJunk' mailbox "$box" uid 4
	dc_doveadm flags replace '\Deleted $Label2' mailbox "$box" uid 5
	dc_doveadm expunge mailbox "$box" uid 3
	save_n "$box" 7 8
	dc_doveadm flags add '$Label1' mailbox "$box" uid 7
	dc_doveadm expunge mailbox "$box" uid 6
}

# doveadm's view, normalised to mf-index-tool's "state" format.
dovecot_state() { # dovecot_state MAILBOX WITH_GUID
	local box=$1 fields='uid flags modseq'
	[ "$2" = yes ] && fields='uid flags modseq guid'
	dc_doveadm -f flow mailbox status \
		'messages uidnext uidvalidity highestmodseq guid' "$box" |
		sed -e 's/^[^ ]* //'
	dc_doveadm -f tab fetch "$fields" mailbox "$box" all | tail -n +2 |
		sed -e 's/\\Recent//; s/  */ /g; s/\t /\t/; s/ \t/\t/'
}

# compare STORE_DESC INDEX_DIR MAILBOX [guid-source]
#   guid-source: ext (guid index extension), sdbox (u.N metadata), none
compare() {
	local desc=$1 dir=$2 box=$3 gsrc=$4 want got
	# FETCH MODSEQ enables modseq tracking in the index (Dovecot writes
	# the "modseq" extension); read afterwards, like Dovecot itself.
	dc_doveadm fetch modseq mailbox "$box" all > /dev/null
	want=$(dovecot_state "$box" "$([ "$gsrc" = none ] && echo no || echo yes)")
	got=$("$TOOL" state "$dir" dovecot.index) || { fail "$desc: tool failed"; return; }
	if [ "$gsrc" = sdbox ]; then
		got=$(echo "$got" | while IFS= read -r line; do
			case $line in
			messages=*) echo "$line" ;;
			*) uid=${line%%	*}
			   g=$(grep -a -o '^G[0-9a-f]\{32\}' "$dir/u.$uid" | cut -c2-)
			   printf '%s\t%s\n' "$line" "$g" ;;
			esac
		done)
	fi
	if [ "$gsrc" = none ]; then
		# maildir keeps the mailbox GUID in dovecot-uidlist, not the index
		want=$(echo "$want" | sed -e '1s/ guid=.*$//')
		got=$(echo "$got" | sed -e '1s/ guid=.*$//')
	fi
	if [ "$want" != "$got" ]; then
		fail "$desc: reader disagrees with doveadm"
		diff <(echo "$want") <(echo "$got") | sed 's/^/    /'
	else
		pass
	fi
}

# changes/expunges since a modseq against IMAP CONDSTORE/QRESYNC
compare_history() { # desc dir box since
	local desc=$1 dir=$2 box=$3 since=$4 uv imap want got
	uv=$("$TOOL" state "$dir" | sed -n '1s/.*uidvalidity=\([0-9]*\).*/\1/p')
	imap=$(printf 'a ENABLE QRESYNC\r\nb SELECT %s (QRESYNC (%s %s))\r\nc UID FETCH 1:* (FLAGS) (CHANGEDSINCE %s)\r\nd LOGOUT\r\n' \
		"$box" "$uv" "$since" "$since" | dc_imap 2>/dev/null | tr -d '\r')
	want=$(echo "$imap" | sed -n 's/^\* [0-9]* FETCH (.*UID \([0-9]*\).*/\1/p' | sort -n | uniq | tr '\n' ' ')
	got=$("$TOOL" changes "$dir" dovecot.index "$since" | sed -n 's/^changed \([0-9]*\).*/\1/p' | tr '\n' ' ')
	if [ "$want" != "$got" ]; then
		fail "$desc: changes since $since: imap [$want] ours [$got]"
	else
		pass
	fi
	want=$(echo "$imap" | sed -n 's/^\* VANISHED (EARLIER) //p' | tr ',' '\n' |
		awk -F: '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }' | sort -n | tr '\n' ' ')
	got=$("$TOOL" expunges "$dir" dovecot.index "$since" | awk '{print $2}' | sort -n | tr '\n' ' ')
	if [ "$want" != "$got" ]; then
		fail "$desc: expunges since $since: imap [$want] ours [$got]"
	else
		pass
	fi
}

# 1. sdbox, default settings: small log, no dovecot.index
dc_init sdbox-log "sdbox:@ROOT@/mail"
scenario INBOX
D=$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails
[ -e "$D/dovecot.index" ] && fail "sdbox-log: expected no dovecot.index"
compare "sdbox (log only)" "$D" INBOX sdbox
compare_history "sdbox (log only)" "$D" INBOX 0
compare_history "sdbox (log only)" "$D" INBOX 9

# 2. sdbox with forced dovecot.index writes, more changes after that
dc_init sdbox-idx "sdbox:@ROOT@/mail" "mail_index_rewrite_min_log_bytes = 1
mail_index_rewrite_max_log_bytes = 1"
scenario INBOX
D=$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails
[ -e "$D/dovecot.index" ] || fail "sdbox-idx: expected dovecot.index"
compare "sdbox (index)" "$D" INBOX sdbox
dc_doveadm flags add '\Seen' mailbox INBOX uid 1:8
compare "sdbox (index, later changes)" "$D" INBOX sdbox
compare_history "sdbox (index)" "$D" INBOX 5

# 3. sdbox with a rotated log (.log.2) and a large log
dc_init sdbox-rot "sdbox:@ROOT@/mail" "mail_index_log_rotate_max_size = 3k
mail_index_log_rotate_min_size = 1k
mail_index_log2_max_age = 1d"
scenario INBOX
save_n INBOX 9 30
for u in $(seq 9 2 29); do
	dc_doveadm flags add "\\Seen kw$u" mailbox INBOX uid "$u"
done
dc_doveadm expunge mailbox INBOX uid 10:14
D=$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails
[ -e "$D/dovecot.index.log.2" ] || fail "sdbox-rot: expected dovecot.index.log.2"
compare "sdbox (rotated)" "$D" INBOX sdbox
# history after the point where Dovecot gave every message a modseq
hm=$("$TOOL" state "$D" | sed -n '1s/.*highestmodseq=\([0-9]*\).*/\1/p')
dc_doveadm flags remove '\Seen' mailbox INBOX uid 9:11
dc_doveadm flags add 'late' mailbox INBOX uid 30
dc_doveadm expunge mailbox INBOX uid 20
compare "sdbox (rotated, later changes)" "$D" INBOX sdbox
compare_history "sdbox (rotated)" "$D" INBOX "$hm"
# without .log.2 the start of the history is gone
rm -f "$D/dovecot.index.log.2"
"$TOOL" changes "$D" dovecot.index 1 > "$DC_BASE/out" 2>&1
rc=$?
if [ $rc -eq 3 ] && grep -q 'no longer in the transaction logs' "$DC_BASE/out"; then
	pass
else
	fail "sdbox (rotated): modseq 1 without .log.2 must be NOHISTORY (rc=$rc)"
	cat "$DC_BASE/out"
fi

# 4. sdbox subfolders, renamed/deleted mailboxes, subscriptions
dc_init sdbox-boxes "sdbox:@ROOT@/mail"
dc_doveadm mailbox create Work Work/Sub Tmp
dc_doveadm mailbox subscribe INBOX Work Work/Sub
dc_doveadm mailbox rename Tmp Archive
dc_doveadm mailbox delete Archive
scenario Work/Sub
compare "sdbox (Work/Sub)" "$DC_ROOT/mail/mailboxes/Work/Sub/dbox-Mails" Work/Sub sdbox
"$TOOL" dump "$DC_ROOT/mail/subscriptions" > "$DC_BASE/subs" || fail "dump subscriptions"
if [ "$(cat "$DC_BASE/subs")" = "$(printf 'INBOX\nWork\nWork/Sub')" ]; then pass; else
	fail "subscriptions read as: $(cat "$DC_BASE/subs")"; fi
"$TOOL" dump "$DC_ROOT/mail/dovecot.mailbox.log" > "$DC_BASE/mlog" || fail "dump mailbox log"
arch=$(printf 'Archive' | sha1sum | cut -c1-32)
if grep -q "rename $arch" "$DC_BASE/mlog" && grep -q "delete-dir $arch" "$DC_BASE/mlog" &&
   grep -q "^.*: delete-mailbox " "$DC_BASE/mlog" &&
   [ "$(grep -c subscribe "$DC_BASE/mlog")" -eq 3 ]; then pass; else
	fail "mailbox log decoded wrongly:"; cat "$DC_BASE/mlog"; fi

# 5. mdbox: message GUIDs in the "guid" extension, map index
dc_init mdbox "mdbox:@ROOT@/mail" "mail_index_rewrite_min_log_bytes = 1"
scenario INBOX
compare "mdbox" "$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails" INBOX ext
"$TOOL" state "$DC_ROOT/mail/storage" dovecot.map.index > "$DC_BASE/map" ||
	fail "mdbox: map index unreadable"
[ "$(head -1 "$DC_BASE/map" | sed 's/.*messages=\([0-9]*\).*/\1/')" -ge 6 ] &&
	pass || fail "mdbox map: $(head -1 "$DC_BASE/map")"

# 6. maildir (the index is a cache there, but it must still be read right)
dc_init maildir "maildir:@ROOT@/Maildir"
scenario INBOX
compare "maildir" "$DC_ROOT/Maildir" INBOX none

# every file decodes with mf_dump_file()
for f in $(find "$DC_BASE" -name 'dovecot.index' -o -name 'dovecot.index.log*' \
	-o -name 'dovecot.map.index*' -o -name 'dovecot.list.index*' -o -name 'dovecot.index.backup' |
	grep -v cache); do
	"$TOOL" dump "$f" > /dev/null 2> "$DC_BASE/err" || { fail "dump $f: $(cat "$DC_BASE/err")"; }
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
