#!/bin/bash
# SPDX-License-Identifier: MIT
# The conversion a Dovecot admin runs: `mailferry backup maildir:... mdbox:...`
# and on through sdbox back to maildir. Dovecot, pointed at each result,
# returns the same UIDs, GUIDs, flags, keywords, sizes, dates and bytes as
# it does for the original maildir; an incremental run after changes on the
# source converges again; a zstd-compressed mdbox target works too.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
trap dc_cleanup EXIT
MFB="$MF backup"
F='mailbox uid guid flags size.virtual date.received text'
ST='messages uidnext uidvalidity guid'

# doveadm on store NAME (created with dc_init earlier)
on() { local n=$1; shift; DC_ROOT=$DC_BASE/$n; "$@"; }

snapshot() { # NAME OUT
	on "$1" dcq fetch "$F" all | norm > "$2.fetch"
	on "$1" dcq mailbox status "$ST" '*' | sort > "$2.status"
}

same() { # A B WHAT
	for k in fetch status; do
		if ! cmp -s "$1.$k" "$2.$k"; then
			echo "FAIL: $3: $k differs:"; diff "$1.$k" "$2.$k" | head -20
			fail=1
		fi
	done
}

dc_init src "maildir:@ROOT@/Maildir:LAYOUT=fs"
dc_init mdbox "mdbox:@ROOT@/mail"
dc_init sdbox "sdbox:@ROOT@/mail"
dc_init back "maildir:@ROOT@/Maildir:LAYOUT=fs"
dc_init zmdbox "mdbox:@ROOT@/mail" $'mail_plugins = zlib'
T=$DC_BASE

# the source, written by Dovecot
on src dcq mailbox create Work 'Entwürfe/Sub' 'A&B'
on src dcq mailbox subscribe INBOX Work
on src dcq save -m INBOX < "$DATA/msg1.eml"
i=0
for f in $(cd "$CORPUS" && find . -type f ! -path './lkml/*' | sort | head -50); do
	i=$((i + 1))
	case $((i % 3)) in 0) b=INBOX ;; 1) b=Work ;; 2) b='Entwürfe/Sub' ;; esac
	on src dcq save -m "$b" < "$CORPUS/$f"
done
on src dcq flags add '\Seen $Label1' mailbox INBOX uid 1:7
on src dcq flags add '\Flagged Junk NonJunk' mailbox Work uid 2:4
on src dcq flags add '\Answered \Draft' mailbox 'Entwürfe/Sub' uid 1
on src dcq expunge mailbox Work uid 5
snapshot src "$T/src"

run() { # SRC-LOC DST-LOC OPTS...
	local s=$1 d=$2; shift 2
	if ! $MFB "$@" "$s" "$d" 2> "$T/backup.err"; then
		echo "FAIL: backup $s -> $d:"; cat "$T/backup.err"; fail=1
	fi
}

run "maildir:$T/src/Maildir:LAYOUT=fs" "mdbox:$T/mdbox/mail"
snapshot mdbox "$T/mdbox"
same "$T/src" "$T/mdbox" "maildir -> mdbox"
run "mdbox:$T/mdbox/mail" "sdbox:$T/sdbox/mail"
snapshot sdbox "$T/sdbox"
same "$T/src" "$T/sdbox" "mdbox -> sdbox"
run "sdbox:$T/sdbox/mail" "maildir:$T/back/Maildir:LAYOUT=fs"
snapshot back "$T/back"
same "$T/src" "$T/back" "sdbox -> maildir"
# Dovecot finds nothing to repair in what we wrote
for n in mdbox sdbox; do
	on $n resync_output '*' > "$T/rs"
	[ -s "$T/rs" ] && { echo "FAIL: force-resync $n:"; head -4 "$T/rs"; fail=1; }
	snapshot $n "$T/$n.rs"
	same "$T/src" "$T/$n.rs" "$n after force-resync"
done

# changes on the source, then an incremental backup
on src dcq flags remove '$Label1' mailbox INBOX uid 2
on src dcq flags add '\Deleted' mailbox Work uid 2
on src dcq expunge mailbox INBOX uid 3
on src dcq save -m Work < "$DATA/msg1.eml"
on src dcq mailbox create 'Neu'
snapshot src "$T/src2"
run "maildir:$T/src/Maildir:LAYOUT=fs" "mdbox:$T/mdbox/mail"
snapshot mdbox "$T/mdbox2"
same "$T/src2" "$T/mdbox2" "incremental maildir -> mdbox"
# Dovecot purges what the backup expunged
on mdbox dcq purge
snapshot mdbox "$T/mdbox3"
same "$T/src2" "$T/mdbox3" "mdbox after doveadm purge"

# compressed target
MF="$MF -o mail_compress=zstd" MFB="$MF -o mail_compress=zstd backup" \
	run "maildir:$T/src/Maildir:LAYOUT=fs" "mdbox:$T/zmdbox/mail"
LC_ALL=C grep -qaP '\x28\xb5\x2f\xfd' "$T"/zmdbox/mail/storage/m.* ||
	{ echo "FAIL: zstd target has no zstd bodies"; fail=1; }
snapshot zmdbox "$T/zmdbox"
same "$T/src2" "$T/zmdbox" "maildir -> zstd mdbox"

check_failed
	[ $fail = 0 ] && echo "ok: conversions"
exit $fail
