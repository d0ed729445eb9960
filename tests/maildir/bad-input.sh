#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad input in a Maildir: broken uidlist lines, duplicate UIDs, a broken
# uidlist header, file names that do not parse, a missing cur/, an
# unreadable file, empty / CRLF / unterminated messages, a stale lock.
# Each gives a warning naming the file; every message file stays on disk
# and gets exactly one UID; Dovecot then agrees with what we made of it.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT

dc_init bad "maildir:@ROOT@/Maildir"
M=$DC_ROOT/Maildir
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.NoCur/new" "$M/.BadHdr/cur"
msg() { printf 'Subject: %s\n\nbody of %s\n' "$1" "$1"; }
msg one > "$M/cur/one"
mv "$M/cur/one" "$M/cur/1700000001.M1P1.host,S=26,W=29:2,S"
msg two > "$M/cur/1700000002.M1P1.host:2,FS"
msg three > "$M/cur/1700000003.M1P1.host"
msg four > "$M/new/1700000004.M1P1.host"
msg five > "$M/cur/1700000005.M1P1.host:2,Sa"
msg six > "$M/cur/1700000006.M1P1.host:1,experimental"
msg seven > "$M/cur/1700000007.M1P1.host:2,SPz,extra"
: > "$M/cur/1700000008.M1P1.host:2,"
printf 'Subject: crlf\r\n\r\nbody\r\n' > "$M/cur/1700000009.M1P1.host:2,"
printf 'Subject: unterminated\n\nno newline' > "$M/cur/1700000010.M1P1.host:2,"
msg dot > "$M/cur/.hidden-not-a-message"
msg nocur > "$M/.NoCur/new/1700000011.M1P1.host"
msg badhdr > "$M/.BadHdr/cur/1700000012.M1P1.host:2,S"
cat > "$M/dovecot-uidlist" <<EOU
3 V1234 N3 G00112233445566778899aabbccddeeff
1 :1700000001.M1P1.host,S=26,W=29
this line is broken
5 :1700000005.M1P1.host
5 :1700000002.M1P1.host
3 :1700000003.M1P1.host
9 zbad :1700000007.M1P1.host
10 :1700000099.M1P1.gone
EOU
printf 'garbage\n0 $Label1\n' > "$M/dovecot-keywords"
printf '3 V0 N0\n1 :1700000012.M1P1.host\n' > "$M/.BadHdr/dovecot-uidlist"
# a stale uidlist lock of a process that no longer exists
sh -c 'exit 0' & wait $!
printf "%s:%s" "$!" "$(hostname)" > "$M/dovecot-uidlist.lock"

nfiles=$(find "$M" -type f -path '*/cur/*' -o -type f -path '*/new/*' | grep -v hidden | wc -l)
"$MAILFERRY" fetch "maildir:$M" 'mailbox uid guid flags' > "$DC_ROOT/fetch1" 2> "$DC_ROOT/warn1"
md_check $? "fetch of a damaged maildir succeeds"
cat "$DC_ROOT/warn1"
for needle in 'line 3' 'line 5' 'line 6' "invalid extension field 'zbad'" \
	'.BadHdr/dovecot-uidlist: line 1: broken or unsupported header' \
	'dovecot-keywords: line 1' '.NoCur/cur: missing' \
	; do
	grep -qF -- "$needle" "$DC_ROOT/warn1"
	md_check $? "warning names: $needle"
done
# every message file has exactly one UID
n=$(grep -c '^uid: ' "$DC_ROOT/fetch1")
[ "$n" = "$nfiles" ]
md_check $? "all $nfiles message files are listed ($n)"
[ "$(find "$M" -type f -path '*/cur/*' -o -type f -path '*/new/*' | grep -v hidden | wc -l)" = "$nfiles" ] &&
	[ -f "$M/cur/.hidden-not-a-message" ]
md_check $? "no file was deleted"
awk '/^mailbox: /{b=$2} /^uid: /{print b, $2}' "$DC_ROOT/fetch1" | sort | uniq -d > "$DC_ROOT/dups"
[ ! -s "$DC_ROOT/dups" ]
md_check $? "no UID given twice"
# a writable open repairs what a read-only fetch only reported; the stale
# lock of a dead process is taken over at once (not after 120 s)
start=$(date +%s)
echo resync | "$MDWRITER" "maildir:$M" > /dev/null 2> "$DC_ROOT/warn-resync"
md_check $? "resync of the damaged maildir"
[ $(( $(date +%s) - start )) -lt 30 ] && [ ! -e "$M/dovecot-uidlist.lock" ]
md_check $? "stale uidlist lock of a dead process taken over"
grep -q '^3 V1234 N' "$M/dovecot-uidlist" && grep -q '^1 :1700000001' "$M/dovecot-uidlist" &&
	grep -q '^5 :1700000005' "$M/dovecot-uidlist" &&
	grep -q '^9 :1700000007' "$M/dovecot-uidlist" && ! grep -q 'gone' "$M/dovecot-uidlist" &&
	[ -d "$M/.NoCur/cur" ] && grep -q '^3 V[1-9]' "$M/.BadHdr/dovecot-uidlist"
md_check $? "rewritten uidlists keep the good lines' UIDs ($(tr '\n' '|' < "$M/dovecot-uidlist"))"
"$MAILFERRY" fetch "maildir:$M" 'mailbox uid guid flags' > "$DC_ROOT/fetch2" 2> "$DC_ROOT/warn2"
grep -v -e 'empty message' -e 'CRLF' -e 'newline' -e hidden "$DC_ROOT/warn2" > "$DC_ROOT/warn2b"
[ ! -s "$DC_ROOT/warn2b" ]
md_check $? "second run has no new warnings: $(cat "$DC_ROOT/warn2b")"
cmp -s "$DC_ROOT/fetch1" "$DC_ROOT/fetch2"
md_check $? "UIDs, GUIDs and flags the same as the read-only run reported"
# flags of odd names: unknown letters and extra info kept on rewrite
printf 'begin INBOX\nflags 9 add Flagged\ncommit\n' | "$MDWRITER" "maildir:$M" > /dev/null
ls "$M/cur" | grep -q '^1700000007.M1P1.host:2,FPSz,extra$'
md_check $? "unknown flag letters and extra info survive a flag change"
# an unreadable message: clear error naming it, the file is kept
chmod 000 "$M/cur/1700000003.M1P1.host:2,"* 2>/dev/null || chmod 000 "$M/cur/1700000003.M1P1.host"
chmod 755 "$DC_BASE" "$DC_ROOT"; chmod -R a+rX "$M"; chmod 000 "$M"/cur/1700000003.M1P1.host*
setpriv --reuid=nobody --regid=nogroup --clear-groups "$MAILFERRY" fetch "maildir:$M" 'uid text' mailbox INBOX > /dev/null 2> "$DC_ROOT/warn3"
grep -q '1700000003.M1P1.host.*Permission denied' "$DC_ROOT/warn3"
md_check $? "unreadable file: error names it ($(head -c 300 "$DC_ROOT/warn3"))"
ls "$M"/cur/1700000003.M1P1.host* > /dev/null
md_check $? "unreadable file kept"
chmod 600 "$M"/cur/1700000003.M1P1.host*
# Dovecot agrees with the repaired maildir
# (no text: doveadm adds a newline after an unterminated message)
md_compare "maildir:$M" "repaired maildir" \
	'mailbox uid guid flags size.physical size.virtual date.received'
[ "$(find "$M" -type f -path '*/cur/*' -o -type f -path '*/new/*' | grep -v hidden | wc -l)" = "$nfiles" ]
md_check $? "still no file deleted"
exit $md_fail
