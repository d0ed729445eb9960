#!/bin/bash
# SPDX-License-Identifier: MIT
# Dovecot's base name rule for saves: a message GUID that is a usable
# maildir base name carrying the message's real ,S= and ,W= becomes the
# file's base name (no G extension), unless the mailbox already lists that
# name or an earlier save of the transaction took it; everything else gets
# a generated name and the GUID in the uidlist. So a save killed after its
# rename into cur/ and before the uidlist write keeps its GUID: the next
# scan reads it from the name, and a sync does not copy the message again.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT

dc_init sg "maildir:@ROOT@/Maildir"
root=$DC_ROOT
M=$root/Maildir
loc="maildir:$M"
md_gen_msgs "$root/msgs" 8
# hard links come from a directory of the mailbox's permissions
mkdir -m 0700 "$root/ln"
cp "$root/msgs/msg1.eml" "$root/msgs/msg3.eml" "$root/ln/"
chmod 0600 "$root/ln/"*
# the name a maildir would give message N: "<unique>,S=<size>,W=<vsize>"
gname() { # N UNIQUE
	local f=$root/msgs/msg$1.eml size lf
	size=$(wc -c < "$f")
	lf=$(tr -cd '\n' < "$f" | wc -c)
	cr=$(grep -c $'\r$' "$f")
	echo "$2,S=$size,W=$((size + lf - cr))"
}
g1=$(gname 1 1700000001.M1P1.src)
g2=$(gname 2 1700000002.M2P1.src)
g3=$(gname 3 1700000003.M3P1.src)
g4=$(gname 4 1700000004.M4P1.src)
g5=$(gname 5 1700000005.M5P1.src)
bad_s=$(gname 6 1700000006.M6P1.src | sed 's/,S=\([0-9]*\)/,S=1\1/')
no_w=$(gname 6 1700000006.M6P1.src | sed 's/,W=.*//')
hex=00112233445566778899aabbccddeeff
"$MDWRITER" "$loc" > "$root/w.out" <<EOS
begin INBOX
save $root/msgs/msg7.eml
commit
begin INBOX
save $root/msgs/msg1.eml guid=$g1
save $root/msgs/msg2.eml guid=$g2 flags=Seen kw=\$Label1
save $root/msgs/msg1.eml guid=$g1
save $root/msgs/msg6.eml guid=$bad_s
save $root/msgs/msg6.eml guid=$no_w
save $root/msgs/msg8.eml guid=$hex
link $root/ln/msg3.eml guid=$g3
commit
begin INBOX
save $root/msgs/msg2.eml guid=$g2
expunge 1
commit
EOS
md_check $? "saves committed"
grep -q '^uids: 2 3 4 5 6 7 8$' "$root/w.out" && grep -q '^uids: 9$' "$root/w.out"
md_check $? "UIDs: $(tr '\n' ' ' < "$root/w.out")"
ul=$M/dovecot-uidlist
# name_of UID: the base name the uidlist gives it; gext_of UID: its G
name_of() { awk -v u="$1" 'NR > 1 && $1 == u { sub(/^.*:/, ""); print }' "$ul"; }
gext_of() { awk -v u="$1" 'NR > 1 && $1 == u { for (i = 2; i <= NF; i++) if ($i ~ /^G/) print substr($i, 2) }' "$ul"; }
rc=0
for e in "2 $g1" "3 $g2" "8 $g3"; do
	set -- $e
	[ "$(name_of "$1")" = "$2" ] && [ -z "$(gext_of "$1")" ] || {
		echo "UID $1: named $(name_of "$1") G=$(gext_of "$1"), not $2"
		rc=1
	}
done
md_check $rc "GUIDs with the right ,S= and ,W= are the base names (plain save, flags, link)"
rc=0
for e in "4 $g1" "5 $bad_s" "6 $no_w" "7 $hex" "9 $g2"; do
	set -- $e
	[ "$(gext_of "$1")" = "$2" ] && [ "$(name_of "$1")" != "$2" ] || {
		echo "UID $1: named $(name_of "$1") G=$(gext_of "$1"), want G=$2"
		rc=1
	}
done
md_check $rc "a taken name, a wrong ,S=, no ,W=, a 128-bit GUID: a new name and a G extension"
"$MAILFERRY" -f tab fetch "$loc" 'uid guid' mailbox INBOX all | tail -n +2 > "$root/ug"
printf '%s\n' "2	$g1" "3	$g2" "4	$g1" "5	$bad_s" "6	$no_w" "7	$hex" "8	$g3" "9	$g2" |
	diff - <(grep -v '^1	' "$root/ug")
md_check $? "mailferry reports every GUID as saved"
md_compare "$loc" "saved with GUIDs"
dc_doveadm fetch 'uid guid' mailbox INBOX all |
	awk '/^uid:/ { u = $2 } /^guid:/ { print u "\t" $2 }' | diff "$root/ug" -
md_check $? "doveadm fetch uid guid agrees"

# --- killed between the renames into new/ and cur/ and the uidlist write
# (the uidlist append of a saves-only commit, and the full commit of a
# transaction with an expunge): the GUIDs survive in the names ---
for how in append full; do
	rm -rf "$M"
	"$MDWRITER" "$loc" > /dev/null <<EOS
begin INBOX
save $root/msgs/msg7.eml
save $root/msgs/msg8.eml
commit
EOS
	{
		echo "begin INBOX"
		echo "save $root/msgs/msg4.eml guid=$g4"
		echo "save $root/msgs/msg5.eml guid=$g5 flags=Flagged"
		echo "link $root/ln/msg1.eml guid=$g1"
		[ $how = full ] && echo "expunge 2"
		echo "commit"
	} > "$root/script"
	MAILFERRY_MAILDIR_CRASH=commit-renamed "$MDWRITER" "$loc" \
		< "$root/script" > /dev/null 2>&1
	st=$?
	[ $st = 137 ] && [ -z "$(grep -e "$g4" -e "$g5" -e "$g1" "$ul")" ]
	md_check $? "$how: killed after the renames, before the uidlist write (exit $st)"
	cp -a "$M" "$root/crashed"
	# Dovecot's view of the crashed store, then mailferry's next run
	dc_doveadm fetch 'guid' mailbox INBOX all | sed -n 's/^guid: //p' |
		sort > "$root/dc.g"
	printf '%s\n' "$g1" "$g4" "$g5" | sort | comm -23 - "$root/dc.g" |
		grep -q . && rc=1 || rc=0
	md_check $rc "$how: Dovecot finds the saved messages under their GUIDs"
	rm -rf "$M"
	mv "$root/crashed" "$M"
	# (a writer, as the next sync: it brings the index up to date)
	printf 'changes INBOX 0\n' | "$MDWRITER" "$loc" > /dev/null
	"$MAILFERRY" -f tab fetch "$loc" 'guid' mailbox INBOX all | tail -n +2 |
		sort > "$root/mf.g"
	printf '%s\n' "$g1" "$g4" "$g5" | sort | comm -23 - "$root/mf.g" |
		grep -q . && rc=1 || rc=0
	md_check $rc "$how: mailferry's rescan finds them under their GUIDs"
	[ "$(wc -l < "$root/mf.g")" = 5 ]
	md_check $? "$how: every message once ($(wc -l < "$root/mf.g"))"
	md_compare "$loc" "$how: after the crash"
done
exit $md_fail
