#!/bin/bash
# SPDX-License-Identifier: MIT
# `mailferry purge` and `mailferry force-resync` on stores Dovecot then
# serves: purge reclaims the space of mail Dovecot expunged without losing
# any other message; force-resync rebuilds an sdbox mailbox whose index was
# deleted, with the same UIDs and GUIDs, and Dovecot agrees afterwards.
set -u

top_src=${MF_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${MF_TOP_BUILDDIR:-$(pwd)}
. "$top_src/tests/lib/dovecot.sh"
dc_require

M="$top_build/core/cli/mailferry"
export MAILFERRY_DRIVER_PATH="$top_build/plugins/maildir/.libs:$top_build/plugins/sdbox/.libs:$top_build/plugins/mdbox/.libs"
export MAILFERRY_SKIP_DEFAULT_DIR=1 TZ=UTC
trap dc_cleanup EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

src="$top_src/tests/data/sample-maildir"
summary() { # location -> "uid guid sha256" lines of every mailbox
	"$M" -f tab fetch "$1" 'mailbox uid guid body.sha256' | tail -n +2 | sort
}

# --- purge (mdbox) -----------------------------------------------------
dc_init purge "mdbox:@ROOT@/mdbox"
cp -r "$src" "$DC_ROOT/src"
"$M" backup "maildir:$DC_ROOT/src" "mdbox:$DC_ROOT/mdbox" >/dev/null 2>&1 ||
	fail "backup into mdbox"
dc_doveadm expunge mailbox INBOX uid 1:4 || fail "doveadm expunge"
before=$(summary "mdbox:$DC_ROOT/mdbox")
size_before=$(cat "$DC_ROOT"/mdbox/storage/m.* | wc -c)
"$M" purge "mdbox:$DC_ROOT/mdbox" || fail "mailferry purge exit $?"
size_after=$(cat "$DC_ROOT"/mdbox/storage/m.* | wc -c)
[ "$(summary "mdbox:$DC_ROOT/mdbox")" = "$before" ] &&
	ok "purge kept every message that was not expunged" ||
	fail "purge changed the remaining messages"
[ "$size_after" -lt "$size_before" ] &&
	ok "purge reclaimed space ($size_before -> $size_after bytes)" ||
	fail "purge reclaimed nothing ($size_before -> $size_after)"
dc_doveadm fetch 'uid guid' all >"$DC_ROOT/dc.out" 2>"$DC_ROOT/dc.err" ||
	fail "doveadm fetch after purge"
[ ! -s "$DC_ROOT/dc.err" ] && ok "Dovecot reads the purged store quietly" ||
	fail "Dovecot complained: $(cat "$DC_ROOT/dc.err")"
[ "$(grep -c '^uid:' "$DC_ROOT/dc.out")" = "$(echo "$before" | grep -c .)" ] &&
	ok "Dovecot sees the same message count" ||
	fail "Dovecot sees a different message count"

# --- force-resync (sdbox) ----------------------------------------------
dc_init resync "sdbox:@ROOT@/sdbox"
cp -r "$src" "$DC_ROOT/src"
"$M" backup "maildir:$DC_ROOT/src" "sdbox:$DC_ROOT/sdbox" >/dev/null 2>&1 ||
	fail "backup into sdbox"
before=$(summary "sdbox:$DC_ROOT/sdbox")
rm -f "$DC_ROOT"/sdbox/mailboxes/INBOX/dbox-Mails/dovecot.index*
"$M" force-resync "sdbox:$DC_ROOT/sdbox" INBOX ||
	fail "mailferry force-resync exit $?"
[ "$(summary "sdbox:$DC_ROOT/sdbox")" = "$before" ] &&
	ok "force-resync rebuilt INBOX with the same UIDs, GUIDs and bodies" ||
	fail "force-resync lost or changed messages"
# Dovecot's own force-resync always says "Rebuilding index" for sdbox (it
# does so on a store it wrote itself); anything else, or a change in what
# it then serves, means our rebuild left something to repair.
dc_doveadm fetch 'mailbox uid guid flags' all >"$DC_ROOT/dc1" || fail "fetch"
dc_doveadm force-resync '*' 2>"$DC_ROOT/dc.err" || fail "doveadm force-resync"
grep -v 'Rebuilding index$' "$DC_ROOT/dc.err" >"$DC_ROOT/dc.other"
dc_doveadm fetch 'mailbox uid guid flags' all >"$DC_ROOT/dc2" || fail "fetch"
[ ! -s "$DC_ROOT/dc.other" ] && cmp -s "$DC_ROOT/dc1" "$DC_ROOT/dc2" &&
	ok "Dovecot's force-resync finds nothing to change afterwards" ||
	fail "Dovecot repaired: $(cat "$DC_ROOT/dc.other"; diff "$DC_ROOT/dc1" "$DC_ROOT/dc2")"
"$M" force-resync "sdbox:$DC_ROOT/sdbox" Nope 2>/dev/null
[ $? = 68 ] && ok "a missing mailbox exits 68" || fail "missing mailbox exit"

[ "$failures" = 0 ] && echo "cli-maint: all passed"
exit $((failures > 0))
