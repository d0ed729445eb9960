#!/bin/bash
# SPDX-License-Identifier: MIT
# Stores written by mailferry's sdbox/mdbox drivers (plain, zstd and gzip,
# with and without ALT) are served by the real Dovecot 2.3 unchanged: doveadm
# fetch/status equal mailferry's, force-resync changes nothing, and
# Dovecot then appends, flags, expunges and purges without a warning.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
total_fail=0

# The smallest stores first: one message, every file written by one or two
# transactions (catches a missing tail-offset update in the map log).
for fmt in sdbox mdbox; do
	dc_init "tiny-$fmt" "$fmt:@ROOT@/mail"
	echo "save INBOX $DATA/msg1.eml flags=S" | $PUT "$DC_LOCATION" ||
		{ echo "FAIL: tiny-$fmt: dbox-put"; fail=1; }
	compare_fetch "$DC_LOCATION" "tiny-$fmt"
	check_failed
	[ $fail = 0 ] && echo "ok: tiny-$fmt"
done

# every dimension for each format, in six runs instead of twelve (gzip
# only where this build has zlib)
combos="sdbox-plain-noalt sdbox-zstd-alt mdbox-plain-alt mdbox-zstd-noalt"
grep -q '^#define HAVE_ZLIB 1' "$B/config.h" &&
	combos="$combos sdbox-gz-noalt mdbox-gz-alt"
for combo in $combos; do
	IFS=- read -r fmt comp alt <<< "$combo"
	fields_for $fmt
	name=$combo
	total_fail=$((total_fail + fail)); fail=0
	loc="$fmt:@ROOT@/mail"
	[ $alt = alt ] && loc="$loc:ALT=@ROOT@/alt"
	extra=""
	opts=""
	if [ $comp != plain ]; then
		extra=$'mail_plugins = zlib\nplugin {\n  zlib_save = '$comp$'\n}'
		opts="-o mail_compress=$comp"
	fi
	[ $fmt = mdbox ] && opts="$opts -o mdbox_rotate_size=64k"
	dc_init "$name" "$loc" "$extra"
	loc=$DC_LOCATION
	if ! store_script | $PUT $opts "$loc"; then
		echo "FAIL: $name: dbox-put failed"; fail=1; continue
	fi
	magic=
	[ $comp = zstd ] && magic='28 b5 2f fd'
	[ $comp = gz ] && magic='1f 8b 08'
	if [ -n "$magic" ] && [ $fmt = sdbox ] &&
	   ! head -c 64 "$DC_ROOT/mail/mailboxes/INBOX/dbox-Mails/u.5" |
	     tail -c 18 | od -An -tx1 | grep -q "$magic"; then
		echo "FAIL: $name: u.5 body is not $comp"; fail=1
	fi
	if [ $comp = gz ] && [ $fmt = mdbox ] &&
	   ! LC_ALL=C grep -qaP '^\x1f\x8b\x08' "$DC_ROOT"/mail/storage/m.*; then
		echo "FAIL: $name: no gzip body in the m.N files"; fail=1
	fi
	compare_fetch "$loc" "$name"
	cp "$DC_ROOT/dc.out" "$DC_ROOT/before"
	# force-resync must find nothing to change
	resync_output '*' > "$DC_ROOT/rs"
	[ -s "$DC_ROOT/rs" ] && { echo "FAIL: $name: force-resync complained:"; head -4 "$DC_ROOT/rs"; fail=1; }
	dcq fetch "$FIELDS" all | norm > "$DC_ROOT/after"
	if ! cmp -s "$DC_ROOT/before" "$DC_ROOT/after"; then
		echo "FAIL: $name: force-resync changed the store:"
		diff "$DC_ROOT/before" "$DC_ROOT/after" | head; fail=1
	fi
	if [ $alt = alt ]; then
		# Dovecot moves everything to ALT; we must read it from there
		dcq altmove all
		[ -n "$(find "$DC_ROOT/alt" -type f -name '[um].*')" ] ||
			{ echo "FAIL: $name: altmove moved nothing"; fail=1; }
		compare_fetch "$loc" "$name after altmove"
		# and expunge there
		echo "expunge corpus/html 1" | $PUT "$loc" ||
			{ echo "FAIL: $name: expunge in ALT"; fail=1; }
		compare_fetch "$loc" "$name after expunge in ALT"
	fi
	# our own expunge + purge: space comes back, Dovecot agrees
	if [ $fmt = mdbox ]; then
		before_sz=$(cat "$DC_ROOT"/mail/storage/m.* "$DC_ROOT"/alt/storage/m.* 2>/dev/null | wc -c)
		printf 'expunge corpus/lkml/cur 3\nexpunge corpus/lkml/cur 4\npurge\n' |
			$PUT $opts "$loc" || { echo "FAIL: $name: purge"; fail=1; }
		after_sz=$(cat "$DC_ROOT"/mail/storage/m.* "$DC_ROOT"/alt/storage/m.* 2>/dev/null | wc -c)
		[ "$after_sz" -lt "$before_sz" ] ||
			{ echo "FAIL: $name: purge freed nothing ($before_sz -> $after_sz)"; fail=1; }
		compare_fetch "$loc" "$name after our purge"
		resync_output '*' > "$DC_ROOT/rs"
		[ -s "$DC_ROOT/rs" ] && { echo "FAIL: $name: force-resync after purge:"; head -4 "$DC_ROOT/rs"; fail=1; }
	fi
	# Dovecot keeps working on the store
	dcq save -m INBOX < "$DATA/msg1.eml"
	dcq flags add '\Answered $Forwarded' mailbox INBOX uid 5
	dcq flags remove '\Seen' mailbox 'Entwürfe/Sub' uid 1
	dcq expunge mailbox INBOX uid 9
	dcq mailbox create 'Neu/Ordner'
	dcq purge
	compare_fetch "$loc" "$name after Dovecot's changes"
	# and we keep working after Dovecot
	printf 'save INBOX %s flags=S\nflags INBOX 5 add F\n' "$DATA/msg1.eml" |
		$PUT $opts "$loc" || { echo "FAIL: $name: save after Dovecot"; fail=1; }
	compare_fetch "$loc" "$name after a second mailferry run"
	if [ -s "$DC_ROOT/log" ] && grep -Ei 'warning|error|panic' "$DC_ROOT/log"; then
		echo "FAIL: $name: Dovecot logged problems"; fail=1
	fi
	check_failed
	[ $fail = 0 ] && echo "ok: $name"
done
total_fail=$((total_fail + fail))
[ $total_fail = 0 ] || exit 1
exit 0
