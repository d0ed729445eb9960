#!/bin/bash
# SPDX-License-Identifier: MIT
# A backup whose destination INBOX cannot be made identical in place: it
# holds UIDs the source never had (foreign mail written by Dovecot) and the
# source's INBOX UIDs are lower. Dovecot 2.3 `doveadm backup` deletes such
# an INBOX, which fails on Maildir++ ("INBOX can't be deleted.", exit 65,
# for ever). mailferry empties it in place and gives it the source's
# UIDVALIDITY and GUID, so that its UIDs restart: afterwards Dovecot shows
# the destination with the source's UIDs, GUID, UIDVALIDITY, UIDNEXT,
# flags and messages, and a second run is a no-op with exit 0.
# Then the same through the eml sample driver, which renumbers its UIDs
# when a file is inserted earlier (same UIDVALIDITY): backups converge.
# Stores whose driver does not (yet) restart UIDNEXT of an emptied mailbox
# with a new UIDVALIDITY get every source message with new UIDs, exit 2.
set -u
: "${MF_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MF_TOP_BUILDDIR:=$MF_TOP_SRCDIR}"
. "$MF_TOP_SRCDIR/tests/lib/dovecot.sh"
dc_require
trap dc_cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

B=$MF_TOP_BUILDDIR
MF=$B/core/cli/mailferry
export MAILFERRY_DRIVER_PATH=$B/plugins/maildir/.libs:$B/plugins/sdbox/.libs:$B/plugins/mdbox/.libs:$B/tests/conformance/.libs
export MAILFERRY_SKIP_DEFAULT_DIR=1
CORPUS=$MF_TOP_SRCDIR/tests/data/corpus/notmuch
mapfile -t MSGS < <(find "$CORPUS/lkml" -type f | sort | head -16)

# drivers that restart the UIDs of an emptied mailbox with a new UIDVALIDITY
RESTART="sdbox mdbox maildir"
# drivers that keep UIDNEXT (none in tree; the engine then copies with new UIDs)
KEEPNEXT=""

FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
pass() { echo "ok: $*"; }

# Dovecot's view of a store: per mailbox its status, per message UID,
# flags, Message-ID and size
dc_view() {
	local m
	dc_doveadm mailbox list | LC_ALL=C sort | while read -r m; do
		dc_doveadm -f tab mailbox status "messages uidvalidity uidnext guid" "$m" |
			tail -n +2 | sed "s|^|$m\t|"
	done
	dc_doveadm -f tab fetch "mailbox uid flags hdr.message-id size.virtual" all |
		tail -n +2 | sed -E 's/\\Recent ?//; s/ \t/\t/' | LC_ALL=C sort
}

# mailferry's view without UIDs: mailbox, flags, bytes
content() {
	"$MF" -f tab fetch "$1" "mailbox flags body.sha256" | tail -n +2 |
		LC_ALL=C sort
}

# run EXPECTED LABEL ARGS...: a mailferry run with an expected exit code
run() {
	local want=$1 label=$2 code
	shift 2
	"$MF" "$@" > "$DC_BASE/out" 2> "$DC_BASE/err"
	code=$?
	if [ "$code" = "$want" ]; then
		pass "$label: exit $code"
	else
		fail "$label: exit $code, not $want: $(grep -v ' mailboxes created' "$DC_BASE/err" | head -3)"
	fi
}

noop_summary() {
	grep -q ' 0 mailboxes created, 0 deleted, 0 renamed; 0 messages saved, 0 expunged, 0 flag changes' "$DC_BASE/err"
}

# --- the source: a Maildir written by Dovecot, INBOX UIDs 1..3
dc_init src "maildir:@ROOT@/Maildir"
SRC_ROOT=$DC_ROOT
SRC=maildir:$SRC_ROOT/Maildir
for f in "${MSGS[@]:0:3}"; do dc_doveadm save < "$f"; done
dc_doveadm flags add '\Seen $Label1' mailbox INBOX uid 2
dc_doveadm mailbox create Sub
for f in "${MSGS[@]:3:2}"; do dc_doveadm save -m Sub < "$f"; done
DC_ROOT=$SRC_ROOT dc_view | grep -v -i '^sub' > "$DC_BASE/src-inbox.v"

for drv in $RESTART $KEEPNEXT; do
	case $drv in
	maildir) loc="maildir:@ROOT@/Maildir" ;;
	*) loc="$drv:@ROOT@/mail" ;;
	esac
	# the destination: its own INBOX with six messages (UIDs 1..6)
	dc_init "dst-$drv" "$loc"
	DST_ROOT=$DC_ROOT
	DST=${loc//@ROOT@/$DST_ROOT}
	for f in "${MSGS[@]:8:6}"; do dc_doveadm save < "$f"; done
	dc_doveadm flags add '\Flagged' mailbox INBOX uid 1:6

	case " $RESTART " in
	*" $drv "*)
		run 0 "$drv: backup over a foreign INBOX" backup "$SRC" "$DST"
		DC_ROOT=$DST_ROOT dc_view > "$DC_BASE/dst.v"
		DC_ROOT=$SRC_ROOT dc_view > "$DC_BASE/src.v"
		if cmp -s "$DC_BASE/src.v" "$DC_BASE/dst.v"; then
			pass "$drv: Dovecot sees the source's UIDs, UIDVALIDITY, GUID, flags and messages"
		else
			fail "$drv: Dovecot's views differ"
			diff "$DC_BASE/src.v" "$DC_BASE/dst.v" | head -10
		fi
		run 0 "$drv: second run" backup "$SRC" "$DST"
		noop_summary && pass "$drv: second run is a no-op" ||
			fail "$drv: second run: $(tail -1 "$DC_BASE/err")"
		;;
	*)
		run 2 "$drv: backup over a foreign INBOX (UIDs cannot restart)" \
			backup "$SRC" "$DST"
		grep -q "cannot restart its UIDs" "$DC_BASE/err" &&
			pass "$drv: the run says why" ||
			fail "$drv: no reason given: $(tail -2 "$DC_BASE/err")"
		if [ "$(content "$SRC")" = "$(content "$DST")" ]; then
			pass "$drv: every source message is there, nothing else"
		else
			fail "$drv: contents differ"
		fi
		;;
	esac
	DC_ROOT=$SRC_ROOT dc_view | grep -v -i '^sub' > "$DC_BASE/src2.v"
	cmp -s "$DC_BASE/src-inbox.v" "$DC_BASE/src2.v" ||
		fail "$drv: the source changed"
done

# --- eml: a file inserted before others renumbers the UIDs
EML=$DC_BASE/eml
mkdir -p "$EML/Archiv"
cp "${MSGS[0]}" "$EML/a.eml"
cp "${MSGS[1]}" "$EML/c.eml"
cp "${MSGS[2]}" "$EML/e.eml"
cp "${MSGS[3]}" "$EML/Archiv/x.eml"
for drv in $RESTART $KEEPNEXT; do
	rm -f "$EML/b.eml" "$EML/d.eml"
	case $drv in
	maildir) dst="maildir:$DC_BASE/eml-$drv/Maildir" ;;
	*) dst="$drv:$DC_BASE/eml-$drv/mail" ;;
	esac
	run 0 "eml -> $drv: first backup" backup "eml:$EML" "$dst"
	cp "${MSGS[4]}" "$EML/b.eml"
	cp "${MSGS[5]}" "$EML/d.eml"
	case " $RESTART " in
	*" $drv "*)
		run 0 "eml -> $drv: backup after renumbering" backup "eml:$EML" "$dst"
		a=$("$MF" -f tab fetch "eml:$EML" "mailbox uid body.sha256" | LC_ALL=C sort)
		b=$("$MF" -f tab fetch "$dst" "mailbox uid body.sha256" | LC_ALL=C sort)
		[ "$a" = "$b" ] && pass "eml -> $drv: same UIDs and bytes as eml" ||
			fail "eml -> $drv: differs: $(diff <(echo "$a") <(echo "$b") | head -4)"
		run 0 "eml -> $drv: third run" backup "eml:$EML" "$dst"
		noop_summary && pass "eml -> $drv: third run is a no-op" ||
			fail "eml -> $drv: third run: $(tail -1 "$DC_BASE/err")"
		;;
	*)
		run 2 "eml -> $drv: backup after renumbering (UIDs cannot restart)" \
			backup "eml:$EML" "$dst"
		[ "$(content "eml:$EML" | cut -f1,3)" = "$(content "$dst" | cut -f1,3)" ] &&
			pass "eml -> $drv: every eml message is there, nothing else" ||
			fail "eml -> $drv: contents differ"
		;;
	esac
done

exit $FAILED
