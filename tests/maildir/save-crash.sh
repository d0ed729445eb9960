#!/bin/bash
# SPDX-License-Identifier: MIT
# Saves whose GUID the file name cannot carry (32-hex dbox GUIDs, names of
# another MDA without ,S= and ,W=) keep their GUID when the commit is
# killed between the renames into new/ or cur/ and the dovecot-uidlist
# write: the save journal (mailferry-save-journal) gives the unlisted
# files their GUIDs and UIDs back on the next sync, also after Dovecot
# listed them first. Without it the files came back under GUIDs made from
# their new names and a two-way sync copied them both ways (duplicates:
# tests/engine/sync-maildir.sh "every message once after SIGKILL").
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

dc_init sc "maildir:@ROOT@/Maildir"
root=$DC_ROOT
md_gen_msgs "$root/msgs" 6
hex1=00112233445566778899aabbccddeeff
hex2=ffeeddccbbaa99887766554433221100
# "uid guid" lines of a store's INBOX, as mailferry reads them
guids() { "$MAILFERRY" fetch "maildir:$1" "uid guid" mailbox INBOX |
	awk '/^uid: /{u=$2} /^guid: /{print u, $2}'; }
writer_script() {
	cat <<EOS
begin INBOX
save $root/msgs/msg1.eml guid=$hex1
save $root/msgs/msg2.eml guid=1700000000.M2P1.mda flags=Seen
save $root/msgs/msg3.eml guid=$hex2
commit
EOS
}
want="1 $hex1
2 1700000000.M2P1.mda
3 $hex2"
# writer_script killed at a crash point: crash_save POINT MAILDIR
crash_save() {
	(writer_script | MAILFERRY_MAILDIR_CRASH=$1 "$MDWRITER" "maildir:$2" \
		> /dev/null 2>&1) 2> /dev/null
}
# an empty transaction: the mailbox is synced as a writer
touch_box() { printf 'begin INBOX\ncommit\n' | "$MDWRITER" "maildir:$1" > /dev/null; }

# 1. Killed after the renames, before the uidlist write: the next read
#    names every file with its saved GUID and planned UID.
M=$root/k1
mkdir -p "$M"
crash_save commit-renamed "$M"
[ -f "$M/mailferry-save-journal" ]
md_check $? "killed after the renames: the journal is there"
got=$(guids "$M")
[ "$got" = "$want" ] || { echo "got: $got"; false; }
md_check $? "killed after the renames: a reader sees UIDs and GUIDs kept"
touch_box "$M"
got=$(guids "$M")
[ "$got" = "$want" ] && [ ! -e "$M/mailferry-save-journal" ]
md_check $? "the journal is removed once the uidlist has its records"

# 2. Killed after the second of three renames.
M=$root/k2
mkdir -p "$M"
crash_save commit-renamed-one:2 "$M"
got=$(guids "$M")
[ "$got" = "$(echo "$want" | head -2)" ] || { echo "got: $got"; false; }
md_check $? "killed half-way through the renames: the renamed keep theirs"

# 3. Killed after writing the journal, before any rename: nothing saved,
#    the journal goes away, the next save works as usual.
M=$root/k3
mkdir -p "$M"
crash_save commit-journal "$M"
touch_box "$M"
[ -z "$(guids "$M")" ] && [ ! -e "$M/mailferry-save-journal" ]
md_check $? "killed before the renames: nothing listed, journal gone"
writer_script | "$MDWRITER" "maildir:$M" > /dev/null
got=$(guids "$M")
[ "$got" = "$want" ] || { echo "got: $got"; false; }
md_check $? "killed before the renames: the next commit saves normally"

# 4. Dovecot lists the orphans first (without GUIDs); mailferry's next
#    sync gives them their GUIDs, which Dovecot then reports too.
crash_save commit-renamed "$root/Maildir"
rm -f "$root/Maildir/dovecot-uidlist.lock" # (Dovecot would wait for it)
dc_doveadm mailbox status messages INBOX > /dev/null
touch_box "$root/Maildir"
got=$(guids "$root/Maildir")
[ "$got" = "$want" ] || { echo "got: $got"; false; }
md_check $? "Dovecot listed them first: mailferry restores the GUIDs"
got=$(dc_doveadm fetch "uid guid" mailbox INBOX |
	awk '/^uid: /{u=$2} /^guid: /{print u, $2}')
[ "$got" = "$want" ] || { echo "got: $got"; false; }
md_check $? "Dovecot reads the restored GUIDs"

# 5. A two-way sync from mail another MDA delivered (names without ,S=
#    and ,W=) killed after its renames; the rerun with a full compare
#    (-f) leaves every message exactly once on both sides.
A=$root/ta
B=$root/tb
mkdir -p "$A/cur" "$A/new" "$A/tmp" "$B"
for i in 1 2 3 4 5; do
	cp "$root/msgs/msg$i.eml" "$A/new/1700000000.M${i}P1.mda"
done
(MAILFERRY_MAILDIR_CRASH=commit-renamed "$MAILFERRY" -o mail_fsync=never \
	sync "maildir:$A" "maildir:$B" > /dev/null 2>&1; true) 2> /dev/null
"$MAILFERRY" -o mail_fsync=never sync -f "maildir:$A" "maildir:$B" \
	2> "$root/err"
md_check $? "two-way rerun after the kill exits 0"
na=$(guids "$A" | wc -l)
nb=$(guids "$B" | wc -l)
[ "$na" = 5 ] && [ "$nb" = 5 ] && [ "$(guids "$A")" = "$(guids "$B")" ] ||
	{ echo "a: $na, b: $nb messages"; cat "$root/err"; false; }
md_check $? "two-way rerun: every message once, same UIDs and GUIDs"

exit $md_fail
