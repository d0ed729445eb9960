#!/bin/bash
# SPDX-License-Identifier: MIT
# A mail client renaming files in cur/ while we read the directory can
# hide a file from one readdir(). A record whose file a scan misses is
# scanned for again before it counts as expunged; with a client renaming
# all the time the second scan can miss another file than the first. That
# file was seen by the first scan: it must keep its UID, not be expunged
# from the index and come back under a new UID (Dovecot then warns
# "Expunged message reappeared" and a sync would expunge and copy it
# again). The race is made deterministic with the driver's race hook
# (MAILFERRY_MAILDIR_RACE), which runs between the two scans.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

dc_init race "maildir:@ROOT@/Maildir"
root=$DC_ROOT
M=$root/Maildir
loc="maildir:$M"
md_gen_msgs "$root/msgs" 4
"$MDWRITER" "$loc" > /dev/null <<EOS
begin INBOX
save $root/msgs/msg1.eml flags=Seen
save $root/msgs/msg2.eml flags=Seen
save $root/msgs/msg3.eml flags=Seen
save $root/msgs/msg4.eml flags=Seen
commit
EOS
md_check $? "three messages saved"
uids() { "$MAILFERRY" fetch "$loc" 'uid flags' mailbox INBOX |
	awk '/^uid: /{u=$2} /^flags: /{sub(/^flags: */, ""); print u, $0}'; }
[ "$(uids | cut -d' ' -f1 | tr '\n' ' ')" = "1 2 3 4 " ]
md_check $? "UIDs 1 2 3 4"
f1=$(grep -l 'message 1 ' "$M"/cur/* | head -1)
f2=$(grep -l 'message 2 ' "$M"/cur/* | head -1)
[ -n "$f1" ] && [ -n "$f2" ]
md_check $? "files of messages 1 and 2 found in cur/"

# An outside client expunges a message (so a scan misses a record and
# scans again) and, while the second scan runs, renames message 2 (a flag
# added): that scan does not see it, the first one did.
# race AT DELETE FROM TO: hide FROM during the AT-th second scan of the
# next mailferry run, put it back as TO; DELETE is removed first.
race() {
	rm -f "$root/count" "$root/moved"
	cat > "$root/hook" <<EOS
#!/bin/sh
n=\$(cat "$root/count" 2>/dev/null || echo 0)
case \$1 in
rescan)
	n=\$((n + 1)); echo \$n > "$root/count"
	[ \$n = $1 ] && mv "$3" "$root/aside/m2" ;;
rescanned)
	[ -e "$root/aside/m2" ] && mv "$root/aside/m2" "$4" && touch "$root/moved" ;;
esac
exit 0
EOS
	chmod 755 "$root/hook"
	rm -f "$2"
}
mkdir -p "$root/aside"
f3=$(grep -l 'message 3 ' "$M"/cur/* | head -1)
f4=$(grep -l 'message 4 ' "$M"/cur/* | head -1)

# 1. A reader: its one pass scans twice.
race 1 "$f1" "$f2" "${f2}F"
MAILFERRY_MAILDIR_RACE="$root/hook" "$MAILFERRY" fetch "$loc" 'uid flags' \
	mailbox INBOX > "$root/f.race" 2> "$root/w.race"
[ -e "$root/moved" ]
md_check $? "reader: the hook hid message 2 from the second scan ($(cat "$root/count" 2>/dev/null) rescans)"
got=$(awk '/^uid: /{u=$2} /^flags: /{sub(/^flags: */, ""); print u, $0}' "$root/f.race")
echo "$got" | grep -q '^2 ' && [ "$(echo "$got" | cut -d' ' -f1 | tr '\n' ' ')" = "2 3 4 " ]
md_check $? "reader: message 2 listed under UID 2, message 1 gone (got: $(echo "$got" | tr '\n' ';'))"

# 2. A writer: the pass under the uidlist lock (the second one) decides
#    what the uidlist and the index keep.
race 2 "$f3" "${f2}F" "${f2}FR"
MAILFERRY_MAILDIR_RACE="$root/hook" "$MDWRITER" "$loc" > /dev/null 2> "$root/w.race" <<EOS
begin INBOX
commit
EOS
[ -e "$root/moved" ]
md_check $? "writer: the hook hid message 2 from the second scan under the lock ($(cat "$root/count" 2>/dev/null) rescans)"
got=$(uids)
echo "$got" | grep -q '^2 .*\\Answered.*\\Flagged' && [ "$(echo "$got" | cut -d' ' -f1 | tr '\n' ' ')" = "2 4 " ]
md_check $? "writer: message 2 keeps UID 2 and its new flags, message 3 is gone (got: $(echo "$got" | tr '\n' ';'))"
! grep -q 'not in the index' "$root/w.race"
md_check $? "the index kept UID 2"
dc_doveadm fetch 'uid' mailbox INBOX > "$root/f.dc" 2> "$root/w.dc"
! grep -qi 'reappeared' "$root/w.dc" && [ "$(grep -c '^uid: ' "$root/f.dc")" = 2 ]
md_check $? "Dovecot sees UIDs 2 and 4, no expunged message reappearing ($(tr '\n' ' ' < "$root/w.dc"))"
md_compare "$loc" "after the races" 'mailbox uid guid flags'

# 3. A writer that finds nothing to number syncs without the uidlist
#    lock: Dovecot commits a save between our uidlist read and our index
#    update. The new index record
#    is newer than our view, not expunged (it was: Dovecot then gave the
#    message a new UID, "Expunged message reappeared").
printf 'Subject: late\nMessage-ID: <late@test>\n\nlate\n' > "$root/late.eml"
cat > "$root/hook" <<EOS
#!/bin/sh
[ "\$1" = index-sync ] && [ ! -e "$root/saved" ] || exit 0
touch "$root/saved"
chown -R "$DC_USER:$DC_GROUP" "$DC_BASE" 2>/dev/null
setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups \
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER=test HOME="$root/home" \
	doveadm -c "$root/dovecot.conf" save -m INBOX < "$root/late.eml"
EOS
chmod 755 "$root/hook"
f4=$(ls "$M"/cur/* | head -1)
mv "$f4" "${f4}T"	# a flag change: the reader rescans, nothing to lock for
MAILFERRY_MAILDIR_RACE="$root/hook" "$MDWRITER" "$loc" > /dev/null 2> "$root/w.late" <<EOS
begin INBOX
commit
EOS
[ -e "$root/saved" ]
md_check $? "Dovecot saved a message while a writer was between its unlocked scan and its index update"
dc_doveadm fetch 'uid hdr.message-id' mailbox INBOX > "$root/f.dc" 2> "$root/w.dc"
! grep -qi 'reappeared' "$root/w.dc" && grep -q 'late@test' "$root/f.dc"
md_check $? "Dovecot's message keeps its UID, no expunged message reappearing ($(tr '\n' ' ' < "$root/w.dc"))"
md_compare "$loc" "after the late save" 'mailbox uid guid flags'

# 4. Two different messages that share a base name (a restore, a careless
#    copy): the second gets a new base name and its own UID, every other
#    message keeps its UID and Dovecot agrees. (Whether that scan re-sorts
#    after the rename cannot be seen from outside: a record it misses is
#    found by the second scan, which reads the renamed name sorted.)
D=$M/.Dup
mkdir -p "$D/cur" "$D/new" "$D/tmp"
for i in 1 2 3 4 5 6; do
	printf 'Subject: d%d\nMessage-ID: <d%d@test>\n\nd%d\n' $i $i $i \
		> "$D/cur/170000000$i.M1P1.zz:2,S"
done
printf 'Subject: twin\nMessage-ID: <twin@test>\n\ntwin\n' > "$D/cur/1700000003.M1P1.zz:2,F"
"$MDWRITER" "$loc" > /dev/null 2> "$root/w.dup" <<EOS
begin Dup
commit
EOS
"$MAILFERRY" fetch "$loc" 'uid hdr.message-id' mailbox Dup > "$root/f.dup"
ids=$(grep -c '^hdr.message-id' "$root/f.dup")
uids=$(grep '^uid: ' "$root/f.dup" | sort -u | wc -l)
[ "$ids" = 7 ] && [ "$uids" = 7 ] && grep -q 'twin@test' "$root/f.dup" &&
	[ "$(ls "$D/cur" | wc -l)" = 7 ]
md_check $? "two messages with one base name: 7 messages, 7 UIDs ($ids, $uids; $(tr '\n' ' ' < "$root/w.dup"))"
md_compare "$loc" "after the base-name twin" 'mailbox uid guid flags'
exit $md_fail
