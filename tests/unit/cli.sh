#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end test of the mailferry program: global options, usage errors and
# exit codes, help, drivers, and the read-only commands against the
# in-memory test driver (tests/unit/drivers/testdrv.c).
set -u

top_build=${MF_TOP_BUILDDIR:-$(pwd)}
M="$top_build/core/cli/mailferry"
DRV_DIR="$top_build/tests/unit/drivers/.libs"
if [ ! -x "$M" ] || [ ! -f "$DRV_DIR/tgood.so" ]; then
	echo "FAIL: build first: $M or $DRV_DIR/tgood.so missing"
	exit 1
fi

TMP=$(mktemp -d /tmp/mf-cli-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# Only the good driver, so stderr carries no refusal warnings.
mkdir "$TMP/drv"
ln -s "$DRV_DIR/tgood.so" "$TMP/drv/tgood.so"
export MAILFERRY_DRIVER_PATH="$TMP/drv" MAILFERRY_SKIP_DEFAULT_DIR=1
export TZ=UTC
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# run WANT_RC ARGS...: run mailferry, keep stdout in $out, stderr in $err
run() {
	local want=$1
	shift
	"$M" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	out=$(cat "$TMP/out")
	err=$(cat "$TMP/err")
	if [ "$rc" != "$want" ]; then
		fail "mailferry $*: exit $rc, wanted $want (stderr: $err)"
		return 1
	fi
	return 0
}

# expect_err TEXT: stderr must contain TEXT
expect_err() {
	case "$err" in
	*"$1"*) ;;
	*) fail "stderr lacks '$1': $err" ;;
	esac
}

expect_out() {
	case "$out" in
	*"$1"*) ;;
	*) fail "stdout lacks '$1': $out" ;;
	esac
}

# Usage errors say what is wrong on the first line and show the usage.
usage_error() {
	local want=$1
	shift
	if run 64 "$@"; then
		expect_err "$want"
		expect_err "usage: "
		[ -z "$out" ] || fail "mailferry $*: stdout not empty: $out"
	fi
}

# --- global options, help ---------------------------------------------
run 0 --version && expect_out "mailferry "
run 0 --version && expect_out "(driver ABI 1."
run 0 help && for c in drivers "mailbox list" "mailbox status" fetch sync \
	backup dump help; do expect_out "  $c"; done
run 0 help fetch && expect_out "usage: mailferry fetch LOCATION FIELDS"
run 0 help mailbox status && expect_out "usage: mailferry mailbox status"
run 0 --help && expect_out "commands:"
usage_error "missing command"
usage_error "unknown command 'frobnicate'" frobnicate
usage_error "did you mean 'mailbox list', 'mailbox status'?" mailbox
usage_error "did you mean" mailbox frob
usage_error "unknown option '-z'" -z drivers
usage_error "option -c needs a value" -c
usage_error "unknown formatter 'xml'" -f xml drivers
usage_error "-o 'noequals': expected key=value" -o noequals drivers
usage_error "no command 'frob'" help frob
usage_error "unexpected argument 'x'" drivers x
usage_error "unknown option '-f' (global options such as -f go before the command)" \
	fetch -f tab tgood:/x uid
usage_error "unknown option '-s'" mailbox list tgood:/x -s
usage_error "unknown option '-x'" mailbox status tgood:/x messages -x
usage_error "unknown option '-v'" drivers -v
usage_error "unknown option '-x'" dump -x

# config file errors: exit 78 (EX_CONFIG) naming file:line
run 78 -c "$TMP/nonexistent.conf" drivers &&
	expect_err "$TMP/nonexistent.conf"
printf 'a = 1\nnamespace inbox {\n' >"$TMP/bad.conf"
run 78 -c "$TMP/bad.conf" drivers &&
	expect_err "config: $TMP/bad.conf:2: unterminated section"
printf 'tgood_stop = from config\n' >"$TMP/good.conf"
run 77 -c "$TMP/good.conf" mailbox list tgood:/x &&
	expect_err "tgood:/x: open failed: stopped: from config"
run 0 -D -c "$TMP/good.conf" drivers &&
	expect_err "debug: config: 1 settings read from $TMP/good.conf"
# -o overrides the file
run 77 -c "$TMP/good.conf" -o tgood_stop=override mailbox list tgood:/x &&
	expect_err "stopped: override"

# --- drivers ----------------------------------------------------------
run 0 drivers &&
	expect_out "name=tgood version=9.9-test abi=1.0 caps=msg-guids,read-only file=$TMP/drv/tgood.so status=loaded"
MAILFERRY_DRIVER_PATH="$DRV_DIR" run 0 drivers
for f in tmajor:"built for driver ABI 2.0" tminor:"built for driver ABI 1." \
	tnoentry:"no mailferry_driver_entry symbol" \
	tnull:"mailferry_driver_entry() returned NULL" \
	tname:"describes itself as driver 'other'" \
	tsmalldesc:"descriptor struct_size 12" tsmallops:"ops struct_size 16" \
	tnullslot:"required slot msg_open is NULL"; do
	expect_out "file=$DRV_DIR/${f%%:*}.so status=refused: ${f#*:}"
done
MAILFERRY_DRIVER_PATH="$TMP/drv:$DRV_DIR/../dup/.libs" run 0 drivers &&
	expect_out "status=refused: duplicate driver name 'tgood'"
run 0 -f json drivers && expect_out '[{"name":"tgood","version":"9.9-test"'

# --- storage errors ---------------------------------------------------
run 68 mailbox list tgood:missing &&
	expect_err "mailferry: tgood:missing: open failed: no store at missing"
run 68 mailbox list nosuch:/x && expect_err "no driver 'nosuch' found"
run 64 mailbox list nodriver && expect_err "expected driver:path"
run 64 mailbox list tgood:/x:BAD=1 && expect_err "unknown option BAD=1"
usage_error "missing LOCATION" mailbox list

# --- mailbox list / status --------------------------------------------
run 0 mailbox list tgood:/x && [ "$out" = $'INBOX\nLists\nLists/dev' ] ||
	fail "mailbox list: $out"
run 0 mailbox list tgood:/x '%' && [ "$out" = $'INBOX\nLists' ] ||
	fail "mailbox list %: $out"
run 0 mailbox list -s tgood:/x && [ "$out" = $'INBOX\nGone' ] ||
	fail "mailbox list -s: $out"
run 0 mailbox list -s tgood:/x 'G*' && [ "$out" = "Gone" ] ||
	fail "mailbox list -s G*: $out"
# -D shows the driver's debug lines, prefixed with the location
run 0 -D mailbox list tgood:/x && expect_err "debug: tgood:/x: opened /x"
run 0 mailbox list tgood:/x && [ -z "$err" ] || fail "stderr without -D: $err"
run 0 mailbox list tgood:/x 'Lists/*' inbox &&
	[ "$out" = $'INBOX\nLists/dev' ] || fail "mailbox list masks: $out"
run 0 mailbox status tgood:/x all &&
	[ "$out" = "INBOX messages=3 recent=1 uidnext=5 uidvalidity=1234 unseen=1 highestmodseq=10 vsize=0 guid=11111111111111111111111111111111 firstsaved=1700000005
Lists/dev messages=1 recent=0 uidnext=8 uidvalidity=1234 unseen=1 highestmodseq=10 vsize=0 guid=22222222222222222222222222222222 firstsaved=1700000305" ] ||
	fail "mailbox status all: $out"
run 0 mailbox status tgood:/x 'first_recent_uid highestpvtmodseq' &&
	[ "$out" = $'INBOX first_recent_uid=4 highestpvtmodseq=0\nLists/dev first_recent_uid=8 highestpvtmodseq=0' ] ||
	fail "mailbox status first_recent_uid: $out"
run 0 -f tab mailbox status tgood:/x 'messages uidnext' INBOX &&
	[ "$out" = $'mailbox\tmessages\tuidnext\nINBOX\t3\t5' ] ||
	fail "mailbox status tab: $out"
run 0 -f table mailbox status tgood:/x 'messages guid' 'Lists/%' &&
	[ "$out" = "mailbox   messages guid
Lists/dev 1        22222222222222222222222222222222" ] ||
	fail "mailbox status table: $out"
run 0 -f json mailbox status tgood:/x messages &&
	[ "$out" = '[{"mailbox":"INBOX","messages":"3"},{"mailbox":"Lists/dev","messages":"1"}]' ] ||
	fail "mailbox status json: $out"
usage_error "unknown status field 'bogus'" mailbox status tgood:/x 'messages bogus'
usage_error "missing FIELDS" mailbox status tgood:/x
run 68 mailbox status tgood:/x messages Nope && expect_err "tgood:/x: mailbox Nope: not found"
run 0 mailbox status tgood:/x messages "Nope*" && [ -z "$out" ] || fail "status of an empty mask: $out"

# --- fetch ------------------------------------------------------------
run 0 fetch tgood:/x 'uid flags' mailbox INBOX &&
	[ "$out" = $'uid: 1\nflags: \\Seen\n\f\nuid: 2\nflags: \\Flagged \\Seen $Label1 kw2\n\f\nuid: 4\nflags: \\Recent' ] ||
	fail "fetch uid flags: $(printf '%q' "$out")"
run 0 fetch tgood:/x 'mailbox uid guid keywords modseq date.received date.saved.unixtime size.physical hdr.message-id hdr.subject' mailbox INBOX uid 2 &&
	[ "$out" = "mailbox: INBOX
uid: 2
guid: guid-two
keywords: \$Label1 kw2
modseq: 3
date.received: 2023-11-14 22:15:00
date.saved.unixtime: 1700000105
size.physical: 86
hdr.message-id: <m2@example.org>
hdr.subject: two
  folded" ] || fail "fetch fields: $out"
run 0 -f tab fetch tgood:/x 'mailbox uid seq' uid '4:*' &&
	[ "$out" = $'mailbox\tuid\tseq\nINBOX\t4\t3\nLists/dev\t7\t1' ] ||
	fail "fetch tab: $out"
# text streams the message unchanged; body.sha256 hashes the same bytes
"$M" -f tab fetch tgood:/x text mailbox Lists/dev >"$TMP/text" 2>"$TMP/err" ||
	fail "fetch text: $(cat "$TMP/err")"
printf 'text\nSubject: dev\n\nhello\n\n' | cmp -s - "$TMP/text" ||
	fail "fetch text output differs: $(cat -A "$TMP/text")"
want_sha=$(printf 'Subject: dev\n\nhello\n' | sha256sum | cut -d' ' -f1)
run 0 -f flow fetch tgood:/x body.sha256 mailbox Lists/dev &&
	[ "$out" = "body.sha256=$want_sha" ] || fail "body.sha256: $out"
run 0 -f json fetch tgood:/x 'uid text' mailbox INBOX uid 4 &&
	[ "$out" = '[{"uid":"4","text":"Subject: four\n\n"}]' ] ||
	fail "fetch json: $out"
# hdr and body split the message at its first empty line (the test driver
# returns 7 bytes per read, so the split crosses read boundaries)
run 0 fetch tgood:/x 'hdr body' mailbox INBOX uid 2 &&
	[ "$out" = "hdr:
From: b@example.org
Subject: two
  folded
Message-Id: <m2@example.org>

body:
body two
line" ] || fail "fetch hdr body: $out"
run 0 -f json fetch tgood:/x 'hdr body' mailbox INBOX uid 4 &&
	[ "$out" = '[{"hdr":"Subject: four\n\n","body":""}]' ] ||
	fail "fetch hdr body json: $out"
usage_error "unknown fetch field 'bogus'" fetch tgood:/x 'uid bogus'
usage_error "invalid UID set 'x'" fetch tgood:/x uid uid x
usage_error "unsupported search key 'since'" fetch tgood:/x uid since 1d
usage_error "search key 'mailbox' needs" fetch tgood:/x uid mailbox
usage_error "missing FIELDS" fetch tgood:/x
run 68 fetch tgood:/x uid mailbox Nope && expect_err "mailbox Nope: not found"

# --- dump (the decoders themselves are tested in tests/index) ----------
printf 'V\t2\n\nINBOX\nLists/dev\n' >"$TMP/subscriptions"
run 0 dump "$TMP/subscriptions" && expect_out "INBOX" && expect_out "Lists/dev"
run 68 dump "$TMP/nothere" && expect_err "dump $TMP/nothere: no such file"
usage_error "missing FILE" dump
usage_error "unexpected argument 'b'" dump a b

# --- sync / backup: validation, then the engine placeholder -----------
usage_error "-1 is not valid for backup" backup -1 maildir:/x
usage_error "missing destination" sync -f
usage_error "-l: invalid number of seconds 'soon'" sync -l soon maildir:/x
usage_error "-g: invalid mailbox GUID" backup -g 123 maildir:/x
usage_error "-u, -A and -F are mutually exclusive" sync -A -u x maildir:/x
usage_error "-t: invalid date" sync -t tomorrow maildir:/x
usage_error "option '-f' after the destination" sync maildir:/x -f
run 64 sync -z x && expect_err "usage: mailferry sync [-1fPRU]"
# A valid command line gets past validation: whatever the engine then says
# about these (missing) stores, it is not a usage error.
valid_sync() {
	"$M" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	err=$(cat "$TMP/err")
	if [ "$rc" = 64 ] || [ "$rc" = 0 ]; then
		fail "mailferry $*: exit $rc (stderr: $err)"
	fi
	case "$err" in
	*"usage: "*) fail "mailferry $*: usage error: $err" ;;
	esac
}
valid_sync sync -1 -f -m INBOX -t 30d -x Trash -T 5 nosuch:/a nosuch:/b
valid_sync backup -R -s "" -l 3 -g 0123456789abcdef0123456789abcdef \
	nosuch:/a nosuch:/b

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "PASS: cli.sh"
exit 0
