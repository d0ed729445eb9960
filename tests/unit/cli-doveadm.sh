#!/bin/bash
# SPDX-License-Identifier: MIT
# mailferry's read-only commands print what doveadm prints: the same store
# (a Maildir written by the real Dovecot) is read by `doveadm fetch /
# mailbox status / mailbox list` and by `mailferry` through the maildir
# driver, and the outputs are compared byte for byte (mailbox order aside,
# which is each program's listing order; and mailferry ends JSON with a
# newline).
set -u

top_src=${MF_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${MF_TOP_BUILDDIR:-$(pwd)}
. "$top_src/tests/lib/dovecot.sh"
dc_require

M="$top_build/core/cli/mailferry"
DRV="$top_build/plugins/maildir/.libs"
if [ ! -x "$M" ] || [ ! -f "$DRV/maildir.so" ]; then
	echo "FAIL: build first: $M or $DRV/maildir.so missing"
	exit 1
fi
export MAILFERRY_DRIVER_PATH="$DRV" MAILFERRY_SKIP_DEFAULT_DIR=1 TZ=UTC
trap dc_cleanup EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

dc_init cmp "maildir:@ROOT@/Maildir"
corpus="$top_src/tests/data/corpus/notmuch/default/cur"
for f in 29:2, 30:2, 31:2, 32:2, 33:2,; do
	dc_as_user env TZ=UTC doveadm -c "$DC_ROOT/dovecot.conf" save -m INBOX \
		<"$corpus/$f" || fail "doveadm save $f"
done
dc_doveadm mailbox create Lists/dev || fail "doveadm mailbox create"
dc_doveadm flags add '\Seen $Label1' mailbox INBOX uid 2 || fail flags
dc_doveadm flags add '\Answered \Draft' mailbox INBOX uid 3 || fail flags
dc_doveadm mailbox subscribe INBOX Lists/dev || fail "doveadm subscribe"
# odd shapes: no header, no body, no empty line at all
dc_doveadm mailbox create Odd || fail "doveadm mailbox create Odd"
for m in '\nno header\n' 'Subject: no body\n\n' 'Subject: no blank line\n' \
	'Subject: x\n\n\n\nblank lines\n'; do
	printf "$m" | dc_as_user doveadm -c "$DC_ROOT/dovecot.conf" save -m Odd ||
		fail "doveadm save $m"
done
loc="maildir:$DC_ROOT/Maildir"
out=$(mktemp -d /tmp/mf-cli-doveadm.XXXXXX)
trap 'dc_cleanup; rm -rf "$out"' EXIT

# compare NAME DOVEADM-ARGS -- MAILFERRY-ARGS (outputs sorted when SORT=1)
compare() {
	local name=$1
	shift
	local d=() m=()
	while [ "$1" != "--" ]; do
		d+=("$1")
		shift
	done
	shift
	m=("$@")
	dc_as_user env TZ=UTC doveadm -c "$DC_ROOT/dovecot.conf" "${d[@]}" \
		>"$out/$name.d" 2>"$out/$name.derr" ||
		fail "doveadm ${d[*]}: $(cat "$out/$name.derr")"
	"$M" "${m[@]}" >"$out/$name.m" 2>"$out/$name.merr" ||
		fail "mailferry ${m[*]}: $(cat "$out/$name.merr")"
	if [ -n "${FILTER:-}" ]; then
		sed -i -e "$FILTER" "$out/$name.d" "$out/$name.m"
	fi
	if [ "${SORT:-0}" = 1 ]; then
		sort -o "$out/$name.d" "$out/$name.d"
		sort -o "$out/$name.m" "$out/$name.m"
	fi
	if [ "${JSON:-0}" = 1 ]; then
		echo >>"$out/$name.d"
	fi
	cmp -s "$out/$name.d" "$out/$name.m" ||
		fail "$name differs: $(diff "$out/$name.d" "$out/$name.m" | head -20)"
}

F='uid guid flags modseq date.received date.saved date.received.unixtime size.physical size.virtual hdr.message-id hdr.subject text'
compare fetch fetch "$F" mailbox INBOX all -- fetch "$loc" "$F" mailbox INBOX all
compare fetch-tab -f tab fetch 'uid flags hdr.from' mailbox INBOX uid 2:4 -- \
	-f tab fetch "$loc" 'uid flags hdr.from' mailbox INBOX uid 2:4
compare fetch-flow -f flow fetch 'uid seq flags' mailbox INBOX all -- \
	-f flow fetch "$loc" 'uid seq flags' mailbox INBOX all
JSON=1 compare fetch-json -f json fetch 'uid flags' mailbox INBOX all -- \
	-f json fetch "$loc" 'uid flags' mailbox INBOX all
compare fetch-parts fetch 'uid hdr body text size.physical' mailbox Odd all -- \
	fetch "$loc" 'uid hdr body text size.physical' mailbox Odd all
S='messages recent uidnext uidvalidity unseen highestmodseq vsize guid'
SORT=1 compare status mailbox status "$S" '*' -- mailbox status "$loc" "$S" '*'
# firstsaved: Dovecot's value comes from its own bookkeeping, ours is the
# first message's save date; they may differ by the second the save took.
SORT=1 FILTER='s/ firstsaved=[0-9]*$/ firstsaved=N/' compare status-all \
	mailbox status all '*' -- mailbox status "$loc" all '*'
SORT=1 compare status-tab -f tab mailbox status 'messages uidnext' '*' -- \
	-f tab mailbox status "$loc" 'messages uidnext' '*'
SORT=1 compare list mailbox list -- mailbox list "$loc"
SORT=1 compare list-mask mailbox list 'Lists/%' -- mailbox list "$loc" 'Lists/%'
SORT=1 compare list-subscribed mailbox list -s -- mailbox list -s "$loc"

if [ "$failures" -ne 0 ]; then
	echo "$failures comparison(s) failed"
	exit 1
fi
echo "PASS: cli-doveadm.sh"
