#!/bin/bash
# SPDX-License-Identifier: MIT
# Capabilities used when the server offers them, and the fallbacks:
#   1. NAMESPACE: a Dovecot with a Courier-style personal namespace
#      (prefix "INBOX.", separator ".") is read and written with names
#      relative to the prefix, learned from NAMESPACE (no
#      imapc_list_prefix); no-namespace shows what is seen without it.
#   2. MOVE: a copy inside a mailbox plus the expunge of its source in one
#      transaction is one UID MOVE (the message keeps its GUID, the old UID
#      is gone); without MOVE, UID COPY + UID EXPUNGE with the same result;
#      a plain copy is UID COPY.
#   3. CREATE-SPECIAL-USE: CREATE ... (USE (\Sent)) when offered (Dovecot
#      told to announce it; the scripted server keeps the attribute, and
#      refuses a second \Sent with [USEATTR]: created plainly), a plain
#      CREATE otherwise; special-use reaches an IMAP destination through
#      the engine.
#   4. UTF8=ACCEPT (Dovecot 2.3 has none: the scripted server
#      fakeimapd.py): names are UTF-8 on the wire after ENABLE, modified
#      UTF-7 without it, the same names either way.
#   5. imapc_max_idle_time: a connection idle longer than that gets NOOPs,
#      so a NAT-like proxy cutting idle flows does not drop it; without
#      the keepalive the same pause costs a reconnect.
#   6. without message GUIDs (no-x-guid) the headers the engine hashes are
#      fetched in batches, each once.
. "$(dirname "$0")/common.sh"

FAKE="python3 $MF_TOP_SRCDIR/tests/imapc/fakeimapd.py"
# the commands of a raw log, without timestamp, tag and CRLF
cmds() { grep -a ' C: ' "$1" | sed -E 's/^[0-9.]+ C: m[0-9]+ //; s/\r$//'; }

# ---------------------------------------------------------------- 1.
imapd_start 'namespace inbox {
  prefix = INBOX.
  separator = .
}' || exit 1
LOC=imap://test@127.0.0.1:$IMAPD_PORT/
imapd_doveadm mailbox create -u test INBOX.Lists INBOX.Lists.dev "INBOX.Entwürfe"
for i in 1 2 3; do
	printf 'Subject: ns %s\nMessage-ID: <ns%s@t>\n\nbody %s\n' $i $i $i |
		imapd_doveadm save -u test -m INBOX.Lists.dev
done
printf 'Subject: inbox\nMessage-ID: <in@t>\n\nin\n' | imapd_doveadm save -u test -m INBOX

"$MF" -o imapc_rawlog="$WORK/ns.raw" mailbox list "$LOC" | sort > "$WORK/ns.list"
printf 'Entwürfe\nINBOX\nLists\nLists/dev\n' > "$WORK/ns.want"
check "NAMESPACE prefix 'INBOX.' learned: names relative to it, INBOX listed" \
	cmp -s "$WORK/ns.list" "$WORK/ns.want"
check "NAMESPACE was asked, no imapc_list_prefix needed" grep -q 'C: m[0-9]* NAMESPACE' "$WORK/ns.raw"
"$MF" -o imapc_features=no-namespace mailbox list "$LOC" | sort > "$WORK/nons.list"
check "without NAMESPACE the prefix shows ('INBOX/Lists/dev')" grep -qx 'INBOX/Lists/dev' "$WORK/nons.list"

# read through the namespace into a Maildir, rename a folder there and
# write it back through the namespace
"$MF" -o mail_fsync=never backup "$LOC" "maildir:$WORK/ns-md" > /dev/null 2>&1 ||
	fail "backup from the namespace server"
n=$("$MF" -f tab fetch "maildir:$WORK/ns-md" "uid" mailbox Lists/dev | tail -n +2 | wc -l)
check "Lists/dev arrived with its 3 messages ($n)" [ "$n" = 3 ]
"$TOOL" rename "maildir:$WORK/ns-md" Lists/dev Projekte || fail "rename in the Maildir"
"$MF" -o mail_fsync=never backup "maildir:$WORK/ns-md" "$LOC" > "$WORK/ns-back.out" 2>&1 ||
	fail "backup into the namespace server: $(tail -2 "$WORK/ns-back.out")"
imapd_doveadm mailbox list -u test | sort > "$WORK/ns-back.list"
check "the new folder is created under the prefix (INBOX.Projekte)" grep -qx INBOX.Projekte "$WORK/ns-back.list"
check "and the old one deleted" bash -c "! grep -qx INBOX.Lists.dev '$WORK/ns-back.list'"
n=$(imapd_doveadm -f tab fetch -u test uid mailbox INBOX.Projekte all | tail -n +2 | wc -l)
check "with its 3 messages ($n)" [ "$n" = 3 ]
imapd_stop

# ---------------------------------------------------------------- 2.
imapd_start 'imap_capability = +CREATE-SPECIAL-USE' || exit 1
LOC=imap://test@127.0.0.1:$IMAPD_PORT/
for i in 1 2 3 4; do
	printf 'Subject: mv %s\nMessage-ID: <mv%s@t>\n\nbody %s\n' $i $i $i |
		imapd_doveadm save -u test -m INBOX
done
imapd_doveadm flags add -u test '\Flagged $Label1' mailbox INBOX uid 2
guid2=$(imapd_doveadm -f tab fetch -u test guid mailbox INBOX uid 2 | tail -1)
new=$("$TOOL" -o imapc_rawlog="$WORK/mv.raw" move "$LOC" INBOX 2)
check "copy + expunge in one transaction is one UID MOVE" grep -qx 'UID MOVE 2 "INBOX"' <(cmds "$WORK/mv.raw")
check "and nothing else changes flags or expunges" \
	bash -c "! grep -aEq ' C: m[0-9]+ UID (STORE|EXPUNGE|COPY)' '$WORK/mv.raw'"
got=$(imapd_doveadm -f tab fetch -u test "guid flags" mailbox INBOX uid "$new" | tail -1)
check "moved message at its new UID $new keeps GUID, flags, keywords" \
	[ "$got" = "$guid2	\\Flagged \$Label1" ]
n=$(imapd_doveadm -f tab fetch -u test uid mailbox INBOX uid 2 | tail -n +2 | wc -l)
check "old UID 2 is gone" [ "$n" = 0 ]

new=$("$TOOL" -o imapc_features=no-move -o imapc_rawlog="$WORK/nomv.raw" move "$LOC" INBOX 3)
cmds "$WORK/nomv.raw" | grep -E '^UID (MOVE|COPY|STORE|EXPUNGE)' > "$WORK/nomv.cmds"
check "without MOVE: UID COPY, then \\Deleted and UID EXPUNGE of the source" \
	bash -c "grep -qx 'UID COPY 3 \"INBOX\"' '$WORK/nomv.cmds' && grep -qx 'UID EXPUNGE 3' '$WORK/nomv.cmds' && ! grep -q MOVE '$WORK/nomv.cmds'"
n=$(imapd_doveadm -f tab fetch -u test uid mailbox INBOX all | tail -n +2 | wc -l)
check "still 4 messages after two moves ($n)" [ "$n" = 4 ]

new=$("$TOOL" -o imapc_rawlog="$WORK/dup.raw" dup "$LOC" INBOX 1)
check "a copy inside the mailbox is UID COPY (new UID $new)" grep -qx 'UID COPY 1 "INBOX"' <(cmds "$WORK/dup.raw")
n=$(imapd_doveadm -f tab fetch -u test uid mailbox INBOX header message-id '<mv1@t>' | tail -n +2 | wc -l)
check "two instances of it now" [ "$n" = 2 ]

# ---------------------------------------------------------------- 3.
"$TOOL" -o imapc_rawlog="$WORK/su.raw" create "$LOC" Versendet sent || fail "create with special-use"
check "CREATE-SPECIAL-USE offered: CREATE ... (USE (\\Sent))" \
	grep -qx 'CREATE "Versendet" (USE (\\Sent))' <(cmds "$WORK/su.raw")
"$TOOL" -o imapc_features=no-create-special-use -o imapc_rawlog="$WORK/nosu.raw" \
	create "$LOC" Papierkorb trash || fail "create without special-use"
check "not offered: a plain CREATE" grep -qx 'CREATE "Papierkorb"' <(cmds "$WORK/nosu.raw")
imapd_stop

# the scripted server keeps the attribute and refuses a second \Sent
cat > "$WORK/su.json" <<'EOF'
{"caps": "IMAP4rev1 LITERAL+ UIDPLUS ENABLE SPECIAL-USE CREATE-SPECIAL-USE",
 "uidvalidity": 7, "mailboxes": {"INBOX": {"uidnext": 1, "msgs": [],
 "special": [], "subscribed": true}}}
EOF
FLOC="imapc:"
"$TOOL" -o imapc_command="$FAKE $WORK/su.json $WORK/su.log" create "$FLOC" Gesendet sent ||
	fail "create on the scripted server"
"$TOOL" -o imapc_command="$FAKE $WORK/su.json $WORK/su.log" create "$FLOC" Sent2 sent 2> "$WORK/su2.err" ||
	fail "second \\Sent create"
"$TOOL" -o imapc_command="$FAKE $WORK/su.json $WORK/su.log" list "$FLOC" > "$WORK/su.list"
check "the server recorded \\Sent on Gesendet" grep -qx 'Gesendet flags=0 special=32' "$WORK/su.list"
check "a refused attribute ([USEATTR]): created plainly" grep -qx 'Sent2 flags=0 special=0' "$WORK/su.list"
check "and said so" grep -q "refused the special-use" "$WORK/su2.err"

# ---------------------------------------------------------------- 4.
cat > "$WORK/u8.json" <<'EOF'
{"caps": "IMAP4rev1 LITERAL+ UIDPLUS ENABLE UTF8=ACCEPT NAMESPACE",
 "uidvalidity": 9, "namespace": ["", "/"],
 "mailboxes": {
  "INBOX": {"uidnext": 2, "special": [], "subscribed": true, "msgs": [
   {"uid": 1, "flags": ["\\Seen"], "date": "02-Jan-2020 10:00:00 +0000",
    "body": "Subject: hi\r\nMessage-ID: <u1@t>\r\n\r\nhello\r\n"}]},
  "Entwürfe": {"uidnext": 3, "special": [], "subscribed": true, "msgs": [
   {"uid": 2, "flags": [], "date": "03-Jan-2020 10:00:00 +0000",
    "body": "Subject: draft\r\nMessage-ID: <u2@t>\r\n\r\nd\r\n"}]},
  "日本語": {"uidnext": 1, "special": [], "subscribed": false, "msgs": []},
  "日本語/子 & more": {"uidnext": 1, "special": [], "subscribed": false,
   "msgs": []}}}
EOF
cp "$WORK/u8.json" "$WORK/u8-orig.json"
U8="imapc_command=$FAKE $WORK/u8.json $WORK/u8.log"
"$MF" -o "$U8" mailbox list "$FLOC" | sort > "$WORK/u8.list"
printf 'Entwürfe\nINBOX\n日本語\n日本語/子 & more\n' | sort > "$WORK/u8.want"
check "UTF8=ACCEPT: UTF-8 names listed" cmp -s "$WORK/u8.list" "$WORK/u8.want"
check "after ENABLE UTF8=ACCEPT" grep -q 'ENABLE UTF8=ACCEPT' "$WORK/u8.log"
"$MF" -o mail_fsync=never -o "$U8" backup "$FLOC" "maildir:$WORK/u8-md" > /dev/null 2>&1 ||
	fail "backup from the UTF-8 server"
check "the Maildir has the names in modified UTF-7 (.Entw&APw-rfe)" [ -d "$WORK/u8-md/.Entw&APw-rfe" ]
n=$("$MF" -f tab fetch "maildir:$WORK/u8-md" "uid" mailbox Entwürfe | tail -n +2 | wc -l)
check "with its message ($n)" [ "$n" = 1 ]
"$TOOL" -o "$U8" create "$FLOC" "Neuer Ördner" || fail "create on the UTF-8 server"
check "a new name goes out as UTF-8" grep -q 'CREATE "Neuer Ördner"' "$WORK/u8.log"
check "and is stored under that name" grep -q '"Neuer Ördner"' "$WORK/u8.json"

# the same server without UTF8=ACCEPT for us: modified UTF-7 both ways
: > "$WORK/u8.log"
"$MF" -o "$U8" -o imapc_features=no-utf8 mailbox list "$FLOC" | sort > "$WORK/m7.list"
printf 'Entwürfe\nINBOX\nNeuer Ördner\n日本語\n日本語/子 & more\n' | sort > "$WORK/m7.want"
check "no-utf8: the same names, through modified UTF-7" cmp -s "$WORK/m7.list" "$WORK/m7.want"
check "and no ENABLE UTF8=ACCEPT" bash -c "! grep -q 'UTF8=ACCEPT' '$WORK/u8.log'"
"$TOOL" -o "$U8" -o imapc_features=no-utf8 create "$FLOC" "Zweiter Ördner" || fail "create, mUTF-7"
check "a new name goes out in modified UTF-7" grep -q 'CREATE "Zweiter &ANY-rdner"' "$WORK/u8.log"
check "and arrives as the same name" grep -q '"Zweiter Ördner"' "$WORK/u8.json"

# a whole tree written through UTF8=ACCEPT lands under the right names
cp "$WORK/u8-orig.json" "$WORK/u8.json"
python3 - "$WORK/u8.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1], encoding="utf-8"))
s["mailboxes"] = {"INBOX": s["mailboxes"]["INBOX"]}
json.dump(s, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
EOF
"$MF" -o mail_fsync=never backup "maildir:$WORK/u8-md" "imapc::IMAPC_COMMAND=$FAKE $WORK/u8.json $WORK/u8.log" \
	> "$WORK/u8w.out" 2>&1 || fail "backup into the UTF-8 server: $(tail -2 "$WORK/u8w.out")"
check "Entwürfe created by the engine under its UTF-8 name" \
	python3 -c "import json,sys; m=json.load(open('$WORK/u8.json',encoding='utf-8'))['mailboxes']; sys.exit(0 if len(m['Entwürfe']['msgs'])==1 and '日本語/子 & more' in m else 1)"

# ---------------------------------------------------------------- 5.
imapd_start || exit 1
printf 'Subject: idle\n\nidle\n' | imapd_doveadm save -u test -m INBOX
# a proxy that cuts a flow idle for 2.5 s, a pause of 5 s between calls
proxy_start idle 2500
"$TOOL" -o imapc_max_idle_time=1 -o imapc_connection_retry_interval=100 \
	-o imapc_rawlog="$WORK/ka.raw" idle "imap://test@127.0.0.1:$PROXY_PORT/" INBOX 5 \
	> "$WORK/ka.out" 2> "$WORK/ka.err" || fail "idle run with keepalive: $(cat "$WORK/ka.err")"
proxy_stop
check "keepalive: both rounds read the mailbox" [ "$(tr '\n' ' ' < "$WORK/ka.out")" = "1 1 " ]
n=$(cmds "$WORK/ka.raw" | grep -c '^NOOP$')
check "NOOPs went out during the pause ($n)" [ "$n" -ge 4 ]
check "and the connection was never dropped" bash -c "! grep -q reconnecting '$WORK/ka.err'"
proxy_start idle 2500
"$TOOL" -o imapc_max_idle_time=0 -o imapc_connection_retry_interval=100 \
	idle "imap://test@127.0.0.1:$PROXY_PORT/" INBOX 5 > "$WORK/noka.out" 2> "$WORK/noka.err" ||
	fail "idle run without keepalive: $(cat "$WORK/noka.err")"
proxy_stop
check "without it (imapc_max_idle_time=0) the cut is noticed and reconnected" \
	grep -q reconnecting "$WORK/noka.err"
check "and the mailbox is still read" [ "$(tr '\n' ' ' < "$WORK/noka.out")" = "1 1 " ]

# ---------------------------------------------------------------- 6.
# without message GUIDs the engine hashes every header: prefetched in
# batches too, not one round trip per message
for i in $(seq 2 30); do
	printf 'Subject: h %s\nMessage-ID: <h%s@t>\n\nbody %s\n' $i $i $i |
		imapd_doveadm save -u test -m INBOX
done
"$MF" -o mail_fsync=never -o imapc_features=no-x-guid -o imapc_rawlog="$WORK/hdr.raw" \
	backup "imap://test@127.0.0.1:$IMAPD_PORT/" "maildir:$WORK/hdr-md" > /dev/null 2>&1 ||
	fail "backup without GUIDs"
n=$(cmds "$WORK/hdr.raw" | grep -c 'BODY.PEEK\[HEADER\]')
h=$(grep -a -c ' S: \* [0-9]* FETCH (UID [0-9]* BODY\[HEADER\]' "$WORK/hdr.raw")
check "headers hashed: $h headers in $n commands" [ "$h" = 30 -a "$n" -lt 10 ]
n=$("$MF" -f tab fetch "maildir:$WORK/hdr-md" "uid" mailbox INBOX | tail -n +2 | wc -l)
check "and all 30 messages copied ($n)" [ "$n" = 30 ]

finish
