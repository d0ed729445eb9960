#!/bin/bash
# SPDX-License-Identifier: MIT
# mailferry force-resync rebuilds an mdbox map (storage/dovecot.map.index*)
# that is lost or damaged, from the m.N files, the way Dovecot's storage
# rebuild would (issue #6): every message comes back in its mailbox with
# its UID, GUID, flags and text, and Dovecot then serves the store without
# any warning or rebuild of its own. The store is written by Dovecot
# (with a copy shared by two mailboxes, non-ASCII names, keywords) plus a
# few messages saved by mailferry.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
fail=0
fmt=mdbox
dc_init "map-rebuild" "mdbox:@ROOT@/mail"
loc=$DC_LOCATION
storage=$DC_ROOT/mail/storage
FETCH='mailbox uid guid flags text'
msgs=$(cd "$CORPUS/lkml/cur" && ls | head -60)

i=0
for m in $msgs; do
	i=$((i + 1))
	case $((i % 3)) in
	0) box=INBOX ;; 1) box='Entwürfe/Sub' ;; *) box=Lists ;;
	esac
	dc_doveadm mailbox create -s "$box" 2>/dev/null
	dc_doveadm save -m "$box" < "$CORPUS/lkml/cur/$m" || fail=1
done
dcq flags add '\Seen' mailbox INBOX 1:4
dcq flags add '\Flagged $Label1' mailbox Lists 2
dcq flags add 'work' mailbox 'Entwürfe/Sub' all
dcq mailbox create Archive
dcq copy Archive mailbox INBOX 2:3
dcq expunge mailbox Lists 5
dcq purge
printf 'save INBOX %s flags=FS kw=mf\nsave Lists %s\n' "$DATA/msg1.eml" \
	"$DATA/msg1.eml" | $PUT "$loc" || fail=1
dcq fetch "$FETCH" all | norm > "$DC_ROOT/ref"
[ "$(grep -c '^guid: ' "$DC_ROOT/ref")" = 63 ] ||
	{ echo "FAIL: the store was not written: $(grep -c '^guid: ' "$DC_ROOT/ref") messages"; fail=1; }

# "mailbox guid" pairs, sorted, from a fetch output
pairs() { awk '/^mailbox: /{b=substr($0,10)} /^guid: /{print b, substr($0,7)}' | sort; }

# rebuild SCENARIO: force-resync, then Dovecot sees exactly the reference
# store, warns about nothing and its own force-resync changes nothing
rebuild() {
	local what=$1
	$MF force-resync "$loc" 2> "$DC_ROOT/mf.err" ||
		{ echo "FAIL: $what: force-resync failed:"; cat "$DC_ROOT/mf.err"; fail=1; }
	dcq fetch "$FETCH" all | norm > "$DC_ROOT/after"
	if ! cmp -s "$DC_ROOT/ref" "$DC_ROOT/after"; then
		echo "FAIL: $what: Dovecot's view after force-resync differs:"
		diff "$DC_ROOT/ref" "$DC_ROOT/after" | head -10
		fail=1
	fi
	$MF fetch "$loc" "$FETCH" | norm > "$DC_ROOT/mf.after"
	cmp -s "$DC_ROOT/ref" "$DC_ROOT/mf.after" ||
		{ echo "FAIL: $what: mailferry's view differs:"; diff "$DC_ROOT/ref" "$DC_ROOT/mf.after" | head -10; fail=1; }
	resync_output '*' > "$DC_ROOT/resync"
	if [ -s "$DC_ROOT/resync" ]; then
		echo "FAIL: $what: Dovecot's force-resync found problems:"
		head -4 "$DC_ROOT/resync"
		fail=1
	fi
	dcq fetch "$FETCH" all | norm > "$DC_ROOT/after2"
	cmp -s "$DC_ROOT/ref" "$DC_ROOT/after2" ||
		{ echo "FAIL: $what: changed by Dovecot's force-resync"; diff "$DC_ROOT/ref" "$DC_ROOT/after2" | head; fail=1; }
	compare_fetch "$loc" "$what"
}

# 1. the map is gone
rm -f "$storage"/dovecot.map.index*
# a writer refuses the store instead of guessing
echo "save INBOX $DATA/msg1.eml" | $PUT "$loc" 2>"$DC_ROOT/err" &&
	{ echo "FAIL: a save into a store without its map succeeded"; fail=1; }
grep -q 'force-resync' "$DC_ROOT/err" ||
	{ echo "FAIL: no force-resync hint: $(cat "$DC_ROOT/err")"; fail=1; }
rebuild "map deleted"

# 2. its main index file is garbage (the log still holds the map); a
#    message expunged and waiting for purge stays expunged
dcq expunge mailbox INBOX 1
dcq fetch "$FETCH" all | norm > "$DC_ROOT/ref"
[ -e "$storage/dovecot.map.index" ] ||
	{ echo "FAIL: Dovecot wrote no dovecot.map.index to damage"; fail=1; }
printf 'garbage garbage garbage garbage garbage garbage' |
	dd of="$storage/dovecot.map.index" bs=1 seek=8 conv=notrunc 2>/dev/null
$MF fetch "$loc" guid > /dev/null 2>&1 &&
	{ echo "FAIL: a damaged map index was read without complaint"; fail=1; }
rebuild "map index damaged"

# 3. index and log are garbage: the map comes from the m.N files alone
#    (after a purge: nothing then tells a message waiting for purge from
#    a lost one, see 5)
dcq purge
dcq fetch "$FETCH" all | norm > "$DC_ROOT/ref"
head -c 2000 /dev/urandom > "$storage/dovecot.map.index"
head -c 3000 /dev/urandom > "$storage/dovecot.map.index.log"
rm -f "$storage/dovecot.map.index.log.2"
rebuild "map index and log damaged"

# 4. map and one mailbox index lost: that mailbox's messages come back
#    into it by their "B" metadata (new UIDs, flags lost, GUIDs kept)
$MF fetch "$loc" guid mailbox Lists | sort > "$DC_ROOT/lists.ref"
rm -f "$storage"/dovecot.map.index* \
	"$DC_ROOT"/mail/mailboxes/Lists/dbox-Mails/dovecot.index*
$MF force-resync "$loc" 2>/dev/null || { echo "FAIL: force-resync (4)"; fail=1; }
$MF fetch "$loc" guid mailbox Lists | sort > "$DC_ROOT/lists.after"
cmp -s "$DC_ROOT/lists.ref" "$DC_ROOT/lists.after" ||
	{ echo "FAIL: Lists after losing its index:"; diff "$DC_ROOT/lists.ref" "$DC_ROOT/lists.after"; fail=1; }
dcq fetch 'mailbox guid' all | pairs > "$DC_ROOT/dc4"
pairs < "$DC_ROOT/ref" > "$DC_ROOT/ref4"
cmp -s "$DC_ROOT/ref4" "$DC_ROOT/dc4" ||
	{ echo "FAIL: messages after losing map and a mailbox index:"; diff "$DC_ROOT/ref4" "$DC_ROOT/dc4" | head; fail=1; }
resync_output '*' > "$DC_ROOT/resync"
[ -s "$DC_ROOT/resync" ] && { echo "FAIL: (4) Dovecot's force-resync found problems:"; head -4 "$DC_ROOT/resync"; fail=1; }

# 5. the map lost while a message waits for purge: like Dovecot's
#    rebuild, ours cannot know it was expunged and restores it; both
#    rebuilds give the same messages
dcq expunge mailbox INBOX 6
rm -f "$storage"/dovecot.map.index*
rm -rf "$DC_ROOT/copy"
cp -a "$DC_ROOT/mail" "$DC_ROOT/copy"
$MF force-resync "$loc" 2>/dev/null || { echo "FAIL: force-resync (5)"; fail=1; }
dc_doveadm -o "mail_location=mdbox:$DC_ROOT/copy" force-resync '*' 2>/dev/null
dcq fetch 'mailbox guid' all | pairs > "$DC_ROOT/mf5"
dc_doveadm -o "mail_location=mdbox:$DC_ROOT/copy" fetch 'mailbox guid' all \
	2>/dev/null | pairs > "$DC_ROOT/dc5"
cmp -s "$DC_ROOT/mf5" "$DC_ROOT/dc5" ||
	{ echo "FAIL: (5) mailferry's and Dovecot's rebuilds differ:"; diff "$DC_ROOT/mf5" "$DC_ROOT/dc5" | head; fail=1; }
cmp -s "$DC_ROOT/mf5" "$DC_ROOT/dc4" ||
	{ echo "FAIL: (5) the expunged message was not restored:"; diff "$DC_ROOT/dc4" "$DC_ROOT/mf5" | head; fail=1; }
resync_output '*' > "$DC_ROOT/resync"
[ -s "$DC_ROOT/resync" ] && { echo "FAIL: (5) Dovecot's force-resync found problems:"; head -4 "$DC_ROOT/resync"; fail=1; }

check_failed
[ $fail = 0 ] && echo "ok: map-rebuild"
[ $fail = 0 ] || exit 1
exit 0
