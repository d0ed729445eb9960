#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/index/dovecot-write.sh - changes written through core/index to a
# mailbox created by the REAL Dovecot must be seen by Dovecot exactly, must
# leave nothing for `doveadm force-resync` to repair, and Dovecot's own
# later changes must be read back with the right modseqs. Then both write
# the same mailbox concurrently (200 operations each, with log rotation and
# index rewrites forced small) and no update may be lost.
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
check() { # check DESC WANT GOT
	if [ "$2" = "$3" ]; then pass; else
		fail "$1"; diff <(echo "$2") <(echo "$3") | sed 's/^/    /'; fi
}

# Run the tool as the mail user, like a real deployment would, without
# the chown of dc_as_user (Dovecot may be running at the same time).
tool() {
	setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups \
		env -i PATH=/usr/bin:/bin MF_INDEX_CHECK_INCREMENTAL=1 \
		MF_INDEX_ROTATE_MAX="${MF_INDEX_ROTATE_MAX:-}" \
		MF_INDEX_REWRITE_MIN="${MF_INDEX_REWRITE_MIN:-}" "$TOOL" "$@"
}

msg() {
	printf 'From: t%s@example.com\r\nSubject: msg %s\r\nMessage-ID: <%s.w@test>\r\n\r\nbody %s\r\n' "$1" "$1" "$1" "$1"
}

fetch() { # uid flags guid as Dovecot reports them (\Recent dropped)
	dc_doveadm -f tab fetch "${2:-uid flags guid}" mailbox "${1:-INBOX}" all |
		tail -n +2 | sed -e 's/\\Recent//; s/  */ /g; s/\t /\t/; s/ \t/\t/; s/ $//'
}

dovecot_state() {
	dc_doveadm -f flow mailbox status \
		'messages uidnext uidvalidity highestmodseq guid' INBOX | sed -e 's/^[^ ]* //'
	fetch INBOX 'uid flags modseq'
}
our_state() {
	tool state "$D" dovecot.index
}
# force-resync always announces "Rebuilding index" (Dovecot does so on
# its own stores too); anything else it says is a complaint
resync_clean() {
	if grep -v 'Rebuilding index' "$DC_BASE/resync.err" | grep -q .; then
		fail "force-resync complained:"; sed 's/^/    /' "$DC_BASE/resync.err"
	else
		pass
	fi
}
box_ids() {
	dc_doveadm -f flow mailbox status 'uidvalidity guid messages uidnext' INBOX
}
no_dovecot_errors() { # DESC: nothing Dovecot complained about so far
	if grep -i -E 'corrupt|error|panic|fatal|rebuild' "$DC_ROOT/log" > "$DC_BASE/errs" 2>/dev/null; then
		fail "$1: Dovecot logged problems:"; sed 's/^/    /' "$DC_BASE/errs"
	else
		pass
	fi
}

dc_init w1 "sdbox:@ROOT@/mail"
for i in 1 2 3 4 5 6; do
	msg $i > "$DC_BASE/m.eml"; dc_doveadm save -m INBOX < "$DC_BASE/m.eml"
done
dc_doveadm mailbox create Scratch
msg 99 > "$DC_BASE/m.eml"; dc_doveadm save -m Scratch < "$DC_BASE/m.eml"
dc_doveadm flags add '\Seen Junk' mailbox INBOX uid 2
dc_doveadm flags add '$Label1' mailbox INBOX uid 5
D=$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails
dc_doveadm fetch modseq mailbox INBOX all > /dev/null
before=$(fetch)
g4=$(echo "$before" | awk -F'\t' '$1 == 4 {print $3}')

# --- 1. our changes become Dovecot's view exactly ---
rm -f "$D/u.4"     # sdbox: the backend part of an expunge
cp "$DC_ROOT/mail/mailboxes/Scratch/dbox-Mails/u.1" "$D/u.7"
chown "$DC_USER:$DC_GROUP" "$D/u.7"
gnew=$(grep -a -o '^G[0-9a-f]\{32\}' "$D/u.7" | cut -c2-)
tool write "$D" dovecot.index -e '+1:\Flagged' '-2:\Seen' '+1:mfKeyword' \
	'-2:Junk' '+3:\Answered' "expunge:4:$g4" 'append:7:8' '+7:mfNew' ||
	fail "write through core/index failed"
want=$(echo "$before" | awk -F'\t' -v g="$gnew" 'BEGIN { OFS = "\t" }
	$1 == 1 { $2 = ($2 == "" ? "\\Flagged" : "\\Flagged " $2) " mfKeyword"; sub(/^\\Flagged \\Flagged/, "\\Flagged", $2) }
	$1 == 2 { $2 = "" }
	$1 == 3 { $2 = "\\Answered" }
	$1 == 4 { next }
	{ print }
	END { print 7, "\\Seen mfNew", g }')
after=$(fetch)
check "Dovecot sees exactly our changes" "$want" "$after"
check "our reader agrees with Dovecot after our write" "$(dovecot_state)" "$(our_state)"

# nothing for a rebuild to repair
ids=$(box_ids)
dc_doveadm force-resync INBOX 2> "$DC_BASE/resync.err" || fail "force-resync failed"
check "force-resync kept UIDVALIDITY, GUID, counts" "$ids" "$(box_ids)"
resync_clean
check "force-resync changed nothing" "$after" "$(fetch)"
no_dovecot_errors "after our write"

# --- 2. Dovecot writes more; we read its records with the right modseqs ---
hm=$(our_state | sed -n '1s/.*highestmodseq=\([0-9]*\).*/\1/p')
dc_doveadm flags add '\Draft' mailbox INBOX uid 1
dc_doveadm flags remove 'mfNew' mailbox INBOX uid 7
dc_doveadm expunge mailbox INBOX uid 3
check "reader after Dovecot's changes" "$(dovecot_state)" "$(our_state)"
ch=$(tool changes "$D" dovecot.index "$hm" | grep '^changed' | sed 's/ [0-9]*$//')
check "changes since $hm" "$(printf 'changed 1 +0x10 -0x00\nchanged 7 +0x00 -0x00 -mfNew')" "$ch"
ex=$(tool expunges "$D" dovecot.index "$hm" | awk '{print $2}')
check "expunges since $hm" "3" "$ex"
m1=$(our_state | awk -F'\t' '$1 == 1 {print $3}')
[ "$m1" -gt "$hm" ] && pass || fail "uid 1 modseq $m1 not above $hm"

# --- 2b. a dovecot.index written by us is read by Dovecot ---
before=$(fetch INBOX 'uid flags modseq guid')
tool write "$D" dovecot.index write-main || fail "write-main failed"
dc_doveadm dump "$D/dovecot.index" > "$DC_BASE/dump.out" 2> "$DC_BASE/dump.err" ||
	fail "doveadm dump of our dovecot.index failed"
grep -i -q 'corrupt\|error' "$DC_BASE/dump.err" "$DC_BASE/dump.out" &&
	{ fail "doveadm dump complains about our dovecot.index"; cat "$DC_BASE/dump.err"; }
check "Dovecot reads our dovecot.index" "$before" "$(fetch INBOX 'uid flags modseq guid')"
dc_doveadm flags add '\Flagged' mailbox INBOX uid 2
check "reader after Dovecot continued on our index" "$(dovecot_state)" "$(our_state)"
no_dovecot_errors "after our dovecot.index"

# --- 2c. a mailbox whose index we created from nothing ---
N=$DC_ROOT/mail/mailboxes/Ours/dbox-Mails
mkdir -p "$N"
for u in 3 8; do
	cp "$DC_ROOT/mail/mailboxes/Scratch/dbox-Mails/u.1" "$N/u.$u"
done
chown -R "$DC_USER:$DC_GROUP" "$DC_ROOT/mail/mailboxes/Ours"
mbguid=00112233445566778899aabbccddeeff
setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups env -i PATH=/usr/bin:/bin \
	"$TOOL" write "$N" dovecot.index -e "ext-intro:dbox-hdr:24:0:0" \
	"ext-hdr:dbox-hdr:0:00000000${mbguid}00000000" uidvalidity:1234567890 \
	append:3:8 append:8:0 '+8:\Flagged' '+3:$Label1' nextuid:20 ||
	fail "creating an index from nothing failed"
st=$(dc_doveadm -f flow mailbox status 'messages uidnext uidvalidity guid' Ours)
check "Dovecot opens our new mailbox" \
	"Ours messages=2 uidnext=20 uidvalidity=1234567890 guid=$mbguid" "$st"
check "Dovecot sees our new mailbox's messages" \
	"$(printf '3\t\\Seen $Label1\n8\t\\Flagged')" "$(fetch Ours 'uid flags')"
no_dovecot_errors "after our new mailbox"

# --- 3. both write at once ---
dc_init w2 "sdbox:@ROOT@/mail" "mail_index_log_rotate_max_size = 6k
mail_index_log_rotate_min_size = 4k
mail_index_rewrite_min_log_bytes = 4k"
D=$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails
for i in $(seq 1 12); do
	msg $i > "$DC_BASE/m.eml"; dc_doveadm save -m INBOX < "$DC_BASE/m.eml"
done
dc_doveadm fetch modseq mailbox INBOX all > /dev/null
chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
MF_INDEX_ROTATE_MAX=5000 MF_INDEX_REWRITE_MIN=3000 \
	tool stress "$D" dovecot.index 200 4242 25 > "$DC_BASE/ours.ops" 2> "$DC_BASE/ours.err" &
ours=$!
: > "$DC_BASE/dc.ops"
n=0
RANDOM=777
while [ $n -lt 200 ]; do
	uid=$((RANDOM % 12 + 1)); k=$((RANDOM % 4))
	case $k in
	0) op=add; f='\Seen' ;; 1) op=remove; f='\Seen' ;;
	2) op=add; f="dc$((RANDOM % 2))" ;; 3) op=remove; f="dc$((RANDOM % 2))" ;;
	esac
	# several flag changes per doveadm run keeps the loop fast
	if setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups env -i \
		PATH=/usr/bin:/bin USER=test HOME="$DC_ROOT/home" \
		doveadm -c "$DC_ROOT/dovecot.conf" flags $op "$f" mailbox INBOX uid $uid 2>> "$DC_BASE/dc.err"; then
		echo "$uid $([ $op = add ] && echo +)$([ $op = remove ] && echo -)$f" >> "$DC_BASE/dc.ops"
	else
		fail "doveadm flags failed during the concurrent run"
	fi
	n=$((n + 1))
done
wait $ours || { fail "concurrent writer failed"; cat "$DC_BASE/ours.err"; }
[ "$(wc -l < "$DC_BASE/ours.ops")" -eq 200 ] && pass || fail "only $(wc -l < "$DC_BASE/ours.ops") of our ops ran"
[ -s "$DC_BASE/dc.err" ] && { fail "doveadm complained:"; head "$DC_BASE/dc.err"; }
# expected final state: per (uid, flag) the last operation of its writer
expected=$(cat "$DC_BASE/ours.ops" "$DC_BASE/dc.ops" | awk '
	{ f = substr($2, 2); st[$1 " " f] = substr($2, 1, 1) }
	END { for (k in st) if (st[k] == "+") print k }' | sort)
actual=$(fetch INBOX 'uid flags' | awk -F'\t' '{ n = split($2, a, " "); for (i = 1; i <= n; i++) print $1 " " a[i] }' | sort)
check "no lost update (Dovecot's view)" "$expected" "$actual"
check "reader agrees with Dovecot after the concurrent run" "$(dovecot_state)" "$(our_state)"
ls "$D" > "$DC_BASE/files"
grep -q 'dovecot.index.log.2' "$DC_BASE/files" && pass || fail "no log rotation happened in the concurrent run"
before=$(fetch)
ids=$(box_ids)
dc_doveadm force-resync INBOX 2> "$DC_BASE/resync.err" || fail "force-resync failed"
check "force-resync kept UIDVALIDITY, GUID, counts" "$ids" "$(box_ids)"
resync_clean
check "force-resync changed nothing after the concurrent run" "$before" "$(fetch)"
no_dovecot_errors "after the concurrent run"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
