#!/bin/bash
# SPDX-License-Identifier: MIT
# imapc as a destination (and source) against a real Dovecot imapd, driven
# through the driver ABI by imapc-tool: copies IMAP->IMAP (master user
# login for both) and IMAP->maildir->IMAP keep every message's bytes,
# flags and keywords once; flag changes are batched; expunges, tree
# changes and subscriptions land as asked; change listings with QRESYNC,
# and without CONDSTORE/QRESYNC/UIDPLUS on the server; a message the server
# refuses (NO [LIMIT]) fails naming it while the others are kept.
. "$(dirname "$0")/common.sh"

QUOTA_CONF='mail_plugins = $mail_plugins quota
plugin {
  quota = count:User quota
  quota_rule = *:storage=1G
  quota_vsizes = yes
  quota_max_mail_size = 20k
}'
imapd_start "$QUOTA_CONF" || exit 1
H=127.0.0.1:$IMAPD_PORT

# sha256 of every stored message, with mailbox, uid, flags: the content of
# a user's store as Dovecot sees it
store_sums() {
	local user=$1
	imapd_doveadm -f tab fetch -u "$user" "mailbox uid guid flags" all |
		tail -n +2 | norm_flags |
		while IFS=$'\t' read -r box uid guid flags; do
			f=$(find "$IMAPD_ROOT/mail/$user" -name "$guid*" -type f | head -1)
			printf '%s\t%s\t%s\t%s\n' "$box" "$uid" "$flags" \
				"$(sha256sum < "$f" | cut -d' ' -f1)"
		done | sort
}

# --- source data for user "other", written by Dovecot
for f in $(find "$CORPUS/default/cur" "$CORPUS/lkml" -type f | sort | head -25); do
	imapd_doveadm save -u other < "$f"
done
imapd_doveadm mailbox create -u other "Entwürfe" "Lists/dev"
for f in $(find "$CORPUS/html" -type f | sort | head -4); do
	imapd_doveadm save -u other -m "Entwürfe" < "$f"
	imapd_doveadm save -u other -m "Lists/dev" < "$f"
done
imapd_doveadm flags add -u other '\Seen $Label1 Junk' mailbox INBOX uid 1:6
imapd_doveadm flags add -u other '\Flagged \Answered \Draft' mailbox INBOX uid 4:9
imapd_doveadm flags add -u other '$Forwarded' mailbox 'Entwürfe' uid 2
store_sums other > "$WORK/other.sums"

# --- IMAP -> IMAP, both logged in as the master user (PLAIN authzid)
MASTER="-o imapc_master_user=master"
MAILFERRY_IMAPC_PASSWORD=mpass "$TOOL" $MASTER -o imapc_rawlog="$WORK/copy.raw" \
	copy "imap://other@$H/" "imap://test@$H/" > "$WORK/copy.out" ||
	fail "copy other -> test"
total=$(wc -l < "$WORK/other.sums")
n=$(grep -a -c ' C: m[0-9]* APPEND ' "$WORK/copy.raw")
check "saves went out as MULTIAPPENDs: $n APPEND commands for $total messages" [ "$n" -le 3 ]
n=$(grep -a -c ' C: m[0-9]* UID FETCH [0-9,:]* (UID BODY' "$WORK/copy.raw")
check "bodies fetched in batches: $n UID FETCH commands for $total messages" \
	[ "$n" -lt "$total" ]
n=$(grep -a -c ' S: \* [0-9]* FETCH (UID [0-9]* BODY\[\]' "$WORK/copy.raw")
check "every body came exactly once ($n for $total)" [ "$n" = "$total" ]
store_sums test > "$WORK/test.sums"
check "IMAP->IMAP copy: every message once, same bytes/flags/keywords" \
	cmp -s "$WORK/other.sums" "$WORK/test.sums"
[ "$FAILED" = 0 ] || diff "$WORK/other.sums" "$WORK/test.sums" | head

# --- IMAP -> maildir -> IMAP (a new mailbox tree under "Back")
"$TOOL" copy "imap://test@$H/" "maildir:$WORK/md:LAYOUT=fs" > /dev/null ||
	fail "copy imap -> maildir"
"$MF" -f tab fetch "maildir:$WORK/md:LAYOUT=fs" "mailbox uid flags body.sha256" |
	tail -n +2 | norm_flags | sort > "$WORK/md.sums"
check "IMAP->maildir copy keeps bytes, flags and keywords" \
	cmp -s "$WORK/md.sums" "$WORK/other.sums"
rm -rf "$IMAPD_ROOT/mail/other"
MAILFERRY_IMAPC_PASSWORD=secret2 "$TOOL" copy "maildir:$WORK/md:LAYOUT=fs" \
	"imap://other@$H/" > /dev/null || fail "copy maildir -> imap"
store_sums other > "$WORK/back.sums"
check "maildir->IMAP copy keeps bytes, flags and keywords" \
	cmp -s "$WORK/back.sums" "$WORK/test.sums"

# --- flag changes: batched by identical flag sets into few UID STOREs
L="imap://test@$H/"
"$TOOL" -o imapc_rawlog="$WORK/raw" flags "$L" INBOX \
	1 add seen -- 3 add seen -- 5:6 add seen -- 2 remove seen \
	-- 7 add flagged '$Work' -- 8 add flagged '$Work' -- 1:2 replace answered ||
	fail "flags"
n=$(grep -c 'UID STORE' "$WORK/raw")
check "7 flag changes sent as $n UID STORE commands (<= 4)" [ "$n" -le 4 ]
got=$(imapd_doveadm -f tab fetch -u test "uid flags" mailbox INBOX uid 1:8 |
	tail -n +2 | norm_flags | tr '\t\n' ':;')
want='1:\Answered;2:\Answered;3:\Seen $Label1 Junk;4:\Answered \Flagged \Seen \Draft $Label1 Junk;5:\Answered \Flagged \Seen \Draft $Label1 Junk;6:\Answered \Flagged \Seen \Draft $Label1 Junk;7:\Answered \Flagged \Draft $Work;8:\Answered \Flagged \Draft $Work;'
case "$got" in
"$want"*) pass "flags applied in order" ;;
*) fail "flags applied: $got" ;;
esac
check "keyword added" imapd_doveadm search -u test mailbox INBOX uid 7 keyword '$Work'
check "no credentials in the raw log" bash -c "! grep -q -e secret -e c2VjcmV0 '$WORK/raw'"

# --- expunge exactly the asked UIDs
before=$(imapd_doveadm search -u test mailbox INBOX all | wc -l)
"$TOOL" expunge "$L" INBOX 2 10:11 || fail "expunge"
after=$(imapd_doveadm -f tab fetch -u test uid mailbox INBOX all | tail -n +2 | tr '\n' ' ')
check "expunged 3 of $before" [ "$(echo $after | wc -w)" = $((before - 3)) ]
case " $after" in
*" 2 "*|*" 10 "*|*" 11 "*) fail "expunged UIDs still there: $after" ;;
*) pass "the right UIDs are gone" ;;
esac

# --- tree changes and subscriptions (UTF-8 names through mUTF-7)
"$TOOL" create "$L" "Projekte/Ärger & Co" || fail "create"
"$TOOL" subscribe "$L" "Projekte/Ärger & Co" || fail "subscribe"
check "created with a UTF-8 name" imapd_doveadm mailbox status -u test messages "Projekte/Ärger & Co"
check "subscribed" bash -c "'$TOOL' subscriptions '$L' | grep -qx 'Projekte/Ärger & Co'"
"$TOOL" rename "$L" "Projekte/Ärger & Co" "Projekte/Frieden" || fail "rename"
"$TOOL" delete "$L" "Projekte/Frieden" || fail "delete"
no_projekte() {
	! imapd_doveadm mailbox list -u test | grep -q '^Projekte/'
}
check "renamed and deleted" no_projekte
"$TOOL" delete "$L" "No/Such" 2> "$WORK/del.err"
check "deleting a missing mailbox fails with NOTFOUND" grep -q "not found" "$WORK/del.err"

# --- change tracking with QRESYNC: changed flags and expunges since a modseq
"$TOOL" info "$L" > "$WORK/info"
check "caps with QRESYNC + X-GUID" grep -q "msg-guids modseq change-log keywords subscriptions" "$WORK/info"
check "IMAP cannot keep GUIDs/UIDs on save" bash -c "! grep -q -e save-guid -e save-uid '$WORK/info'"
ms=$(imapd_doveadm mailbox status -u test highestmodseq INBOX | sed 's/.*=//')
imapd_doveadm flags add -u test '\Deleted' mailbox INBOX uid 3
imapd_doveadm flags remove -u test '\Seen' mailbox INBOX uid 5
imapd_doveadm expunge -u test mailbox INBOX uid 4
"$TOOL" changes "$L" INBOX "$ms" > "$WORK/changes"
check "changes since modseq $ms: flags of 3 and 5" \
	bash -c "grep -q '^changed 3 ' '$WORK/changes' && grep -q '^changed 5 ' '$WORK/changes' && [ \$(grep -c '^changed' '$WORK/changes') = 2 ]"
check "expunges since modseq $ms: UID 4" bash -c "grep '^expunged' '$WORK/changes' | tr '\n' ' ' | grep -qx 'expunged 4 '"

# --- a message over the server's size limit: NO [LIMIT], named; others kept
imapd_doveadm mailbox create -u test Limit
printf 'Subject: small1\nMessage-ID: <s1@t>\n\nx\n' > "$WORK/s1.eml"
(printf 'Subject: huge\nMessage-ID: <huge@t>\n\n'; head -c 40000 /dev/zero | tr '\0' 'y' | fold -w 70) > "$WORK/huge.eml"
printf 'Subject: small2\nMessage-ID: <s2@t>\n\nz\n' > "$WORK/s2.eml"
"$TOOL" append "$L" Limit "$WORK/s1.eml" "$WORK/huge.eml" "$WORK/s2.eml" \
	> "$WORK/limit.out" 2> "$WORK/limit.err"
rc=$?
check "append with a refused message fails" [ $rc != 0 ]
check "the error is LIMIT and names the message" \
	grep -q "limit exceeded.*message #2 (.*Message-ID <huge@t>).*\[LIMIT\]" "$WORK/limit.err"
[ "$FAILED" = 0 ] || cat "$WORK/limit.err"
check "the other two are stored, with their UIDs reported" \
	bash -c "[ \"\$(tr '\n' ' ' < '$WORK/limit.out')\" = '1 0 2 ' ]"
subjects=$(imapd_doveadm -f tab fetch -u test hdr.subject mailbox Limit all | tail -n +2 | tr '\n' ' ')
check "server has exactly the two small ones ($subjects)" [ "$subjects" = "small1 small2 " ]

# --- the same server without CONDSTORE, QRESYNC and UIDPLUS
imapd_kill
imapd_start "imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE NAMESPACE LIST-EXTENDED" ||
	exit 1
H=127.0.0.1:$IMAPD_PORT
L="imap://test@$H/"
"$TOOL" info "$L" > "$WORK/info2"
check "caps without modseq/change-log" bash -c "! grep -q -e modseq -e change-log '$WORK/info2'"
"$TOOL" changes "$L" INBOX 1 > "$WORK/changes2"
check "changes without CONDSTORE: no history, full listing" \
	bash -c "grep -q 'no history' '$WORK/changes2' && grep -q 'expunges not supported' '$WORK/changes2'"
n=$(grep -c '^changed' "$WORK/changes2")
m=$(imapd_doveadm search -u test mailbox INBOX all | wc -l)
check "full listing has all $m messages" [ "$n" = "$m" ]
first=$(imapd_doveadm search -u test mailbox INBOX all | head -1 | cut -d' ' -f2)
"$TOOL" expunge "$L" INBOX "$first" 2> "$WORK/exp2.err"
check "no UIDPLUS + another \\Deleted message: refused, nothing lost" \
	grep -q "not expunging" "$WORK/exp2.err"
check "... and the \\Deleted message is still there" \
	imapd_doveadm search -u test mailbox INBOX uid 3
imapd_doveadm flags remove -u test '\Deleted' mailbox INBOX all
"$TOOL" expunge "$L" INBOX "$first" || fail "expunge without UIDPLUS"
check "expunge without UIDPLUS removed exactly one" \
	[ "$(imapd_doveadm search -u test mailbox INBOX all | wc -l)" = $((m - 1)) ]
"$TOOL" append "$L" Limit "$WORK/s2.eml" > /dev/null || fail "append without UIDPLUS"
subjects=$(imapd_doveadm -f tab fetch -u test hdr.subject mailbox Limit all | tail -n +2 | tr '\n' ' ')
check "append without UIDPLUS stored it once ($subjects)" [ "$subjects" = "small1 small2 small2 " ]

finish
