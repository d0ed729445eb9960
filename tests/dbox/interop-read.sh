#!/bin/bash
# SPDX-License-Identifier: MIT
# Stores written by the real Dovecot 2.3 (plain, zstd- and gzip-compressed
# mail, rotated transaction logs, expunged-but-unpurged mdbox mail, ALT
# storage) read by mailferry's sdbox/mdbox drivers: `mailferry fetch` and
# `mailferry mailbox status` equal doveadm's.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
total_fail=0

# 40 real messages in a few folders
files=$(cd "$CORPUS" && find . -type f ! -path './lkml/*' | sort | head -40)

for fmt in sdbox mdbox; do
	name=dovecot-$fmt
	fields_for $fmt
	fail=0
	dc_init "$name" "$fmt:@ROOT@/mail:ALT=@ROOT@/alt" \
		$'mail_plugins = zlib\nmail_index_log_rotate_min_size = 1k\nmail_index_log_rotate_max_size = 2k\nmail_index_log_rotate_min_age = 0\nmdbox_rotate_size = 16k'
	conf=$DC_ROOT/dovecot.conf
	dcq mailbox create Work 'Entwürfe/Sub'
	dcq mailbox subscribe INBOX Work
	i=0
	for f in $files; do
		i=$((i + 1))
		# a third plain, a third zstd, a third gzip
		case $((i % 3)) in
		1) sed -i '/^plugin {/,$d' "$conf" ;;
		2) sed -i '/^plugin {/,$d' "$conf"
		   printf 'plugin {\n  zlib_save = zstd\n}\n' >> "$conf" ;;
		0) sed -i '/^plugin {/,$d' "$conf"
		   printf 'plugin {\n  zlib_save = gz\n}\n' >> "$conf" ;;
		esac
		case $((i % 4)) in
		0) box=INBOX ;; 1) box=Work ;; 2) box='Entwürfe/Sub' ;; 3) box=INBOX ;;
		esac
		dcq save -m "$box" < "$CORPUS/$f"
	done
	dcq flags add '\Seen $Label1' mailbox INBOX uid 1:5
	dcq flags add '\Flagged Junk' mailbox Work uid 2
	dcq flags remove '$Label1' mailbox INBOX uid 2
	dcq expunge mailbox INBOX uid 3
	dcq expunge mailbox Work uid 1
	dcq altmove mailbox INBOX uid 1:4
	# make sure Dovecot really wrote both kinds of compressed mail
	for magic in '\x28\xb5\x2f\xfd' '\x1f\x8b\x08'; do
		LC_ALL=C grep -rqaP "$magic" "$DC_ROOT/mail" "$DC_ROOT/alt" ||
			{ echo "FAIL: $name: no $magic body written"; fail=1; }
	done
	compare_fetch "$DC_LOCATION" "$name"
	ls "$DC_ROOT"/mail/mailboxes/INBOX/dbox-Mails/dovecot.index.log.2 \
		>/dev/null 2>&1 || echo "note: $name: no log rotation happened"
	if [ $fmt = mdbox ]; then
		# expunged but not purged mail is invisible to both
		dcq purge
		compare_fetch "$DC_LOCATION" "$name after purge"
	fi
	if ! $MF fetch "$DC_LOCATION" 'uid text' mailbox INBOX >/dev/null; then
		echo "FAIL: $name: reading bodies"; fail=1
	fi
	check_failed
	[ $fail = 0 ] && echo "ok: $name"
	total_fail=$((total_fail + fail))
done
[ $total_fail = 0 ] || exit 1
exit 0
