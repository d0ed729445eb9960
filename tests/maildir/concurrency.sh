#!/bin/bash
# SPDX-License-Identifier: MIT
# Several writers on one Maildir at once: mailferry saving in many small
# transactions, Dovecot saving (doveadm save), an MDA dropping files into
# new/ and a mail client renaming files in cur/ to change flags. At the end
# every message is there exactly once, no UID was given twice, the uidlist
# is sane, and Dovecot and mailferry agree.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap 'kill $(jobs -p) 2>/dev/null; dc_cleanup' EXIT

N=60
dc_init conc "maildir:@ROOT@/Maildir"
root=$DC_ROOT
M=$root/Maildir
loc="maildir:$M"
mkdir -p "$root/mf" "$root/dc" "$root/mda"
for src in mf dc mda; do
	for i in $(seq 1 $N); do
		printf 'Message-ID: <%s-%d@test>\nSubject: %s %d\n\nbody %s %d\n' \
			"$src" "$i" "$src" "$i" "$src" "$i" > "$root/$src/$i.eml"
	done
done
# every writer runs as the mail user, as on a real server
as_user() {
	setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER=test \
		HOME="$root/home" MAILFERRY_DRIVER_PATH="$MAILFERRY_DRIVER_PATH" \
		MAILFERRY_SKIP_DEFAULT_DIR=1 LD_BIND_NOW=1 TZ=UTC "$@"
}
chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
# create the store first, so every writer starts from the same INBOX
echo 'create Other' | as_user "$MDWRITER" "$loc" > /dev/null

(	# mailferry: one transaction per 3 messages
	for i in $(seq 1 3 $N); do
		{
			echo "begin INBOX"
			for j in $i $((i + 1)) $((i + 2)); do
				[ "$j" -le $N ] && echo "save $root/mf/$j.eml flags=Seen"
			done
			echo commit
		} | as_user "$MDWRITER" "$loc" > "$root/commit.$i" ||
			echo "mailferry writer failed" >> "$root/errors"
	done
) &
(	# Dovecot
	for i in $(seq 1 $N); do
		as_user doveadm -c "$root/dovecot.conf" save -m INBOX \
			< "$root/dc/$i.eml" ||
			echo "doveadm save failed" >> "$root/errors"
	done
) &
(	# an MDA: tmp/ then rename into new/
	for i in $(seq 1 $N); do
		name="$((1700000000 + i)).M${i}P$$.mda"
		as_user cp "$root/mda/$i.eml" "$M/tmp/$name"
		as_user mv "$M/tmp/$name" "$M/new/$name"
	done
) &
(	# a mail client flagging whatever it finds in cur/
	for round in $(seq 1 40); do
		for f in "$M"/cur/*:2,S; do
			[ -e "$f" ] || continue
			as_user mv "$f" "${f}F" 2>/dev/null
		done
	done
) &
wait
[ ! -s "$root/errors" ]
md_check $? "all writers succeeded $(cat "$root/errors" 2>/dev/null)"

"$MAILFERRY" fetch "$loc" 'uid hdr.message-id' mailbox INBOX > "$root/f.mf" 2> "$root/w.mf"
grep -i '^hdr.message-id' "$root/f.mf" | sort > "$root/ids"
[ "$(wc -l < "$root/ids")" = $((3 * N)) ] && [ -z "$(uniq -d "$root/ids")" ]
md_check $? "every message exactly once ($(wc -l < "$root/ids") of $((3 * N)))"
grep '^uid: ' "$root/f.mf" | sort | uniq -d > "$root/dupuids"
[ ! -s "$root/dupuids" ]
md_check $? "no UID given twice"
awk 'NR > 1 { if ($1 <= prev) bad = 1; prev = $1 } NR == 1 { next } END { exit bad }' "$M/dovecot-uidlist"
md_check $? "uidlist UIDs strictly ascending"
cut -d: -f2- "$M/dovecot-uidlist" | tail -n +2 | sort | uniq -d > "$root/dupfiles"
[ ! -s "$root/dupfiles" ]
md_check $? "uidlist lists every file once"
# the UIDs our commits reported are the ones the messages kept
for i in $(seq 1 3 $N); do
	set -- $(sed -n 's/^uids: //p' "$root/commit.$i")
	for j in $i $((i + 1)) $((i + 2)); do
		[ "$j" -le $N ] || continue
		echo "uid: $1 <mf-$j@test>"
		shift
	done
done | sort > "$root/uids.committed"
awk '/^uid: /{u=$2} /^hdr.message-id: <mf-/{print "uid: " u " " $2}' "$root/f.mf" |
	sort > "$root/uids.now"
[ "$(wc -l < "$root/uids.now")" = $N ] && cmp -s "$root/uids.committed" "$root/uids.now"
md_check $? "every UID reported at commit is the message's UID"
# a client renames files between our refresh and our commit: the flag
# change and the expunge still reach the right files
mkdir -p "$root/race"
printf 'Subject: a\n\na\n' > "$root/race/a.eml"
printf 'Subject: b\n\nb\n' > "$root/race/b.eml"
as_user "$MDWRITER" "$loc" > /dev/null <<EOS
create Race
begin Race
save $root/race/a.eml
save $root/race/b.eml
commit
begin Race
run for f in $M/.Race/new/*; do mv "\$f" "$M/.Race/cur/\$(basename "\$f"):2,S"; done
flags 2 add Flagged
expunge 1
commit
EOS
md_check $? "transaction over files renamed behind its back"
ls "$M/.Race/cur" > "$root/race.ls"
[ "$(ls "$M/.Race/new" | wc -l)" = 0 ] && [ "$(wc -l < "$root/race.ls")" = 1 ] &&
	grep -q ':2,FS$' "$root/race.ls"
md_check $? "expunged file gone, flag added to the renamed file ($(tr '\n' ' ' < "$root/race.ls"))"
"$MAILFERRY" fetch "$loc" 'uid flags' mailbox Race > "$root/race.f"
[ "$(grep -c '^uid:' "$root/race.f")" = 1 ] && grep -q '^uid: 2$' "$root/race.f"
md_check $? "UID 2 kept, UID 1 expunged, nothing resurrected"
md_compare "$loc" "after concurrent writers" 'mailbox uid guid flags size.physical'
exit $md_fail
