#!/bin/bash
# SPDX-License-Identifier: MIT
# mail_fsync: "optimized" (default) makes a commit of many saves durable
# with a handful of sync calls, never one per message; "always" syncs every
# message; "never" does not sync at all; a bad value is refused with an
# error naming the setting.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
if ! command -v strace > /dev/null 2>&1; then
	echo "SKIP: strace not installed"
	exit 77
fi
T=$(mktemp -d /tmp/mf-fsync.XXXXXX)
trap 'rm -rf "$T"' EXIT
md_gen_msgs "$T/msgs" 50

syncs() { # MODE: number of fsync-like calls for saving 50 messages
	rm -rf "$T/M"
	printf 'create Box\n' | "$MDWRITER" "maildir:$T/M" > /dev/null
	printf 'begin Box\nsaveall %s\ncommit\n' "$T/msgs" |
		strace -f -c -e trace=fsync,fdatasync,syncfs -o "$T/strace.$1" \
			"$MDWRITER" -o "mail_fsync=$1" "maildir:$T/M" > /dev/null
	[ "$("$MAILFERRY" mailbox status "maildir:$T/M" messages Box)" = "Box messages=50" ] || echo "not saved"
	awk '$NF ~ /^(fsync|fdatasync|syncfs)$/ { n += $4 } END { print n + 0 }' "$T/strace.$1"
}
n=$(syncs optimized)
[ "$n" -ge 1 ] && [ "$n" -le 10 ]
md_check $? "optimized: $n sync calls for a commit of 50 messages"
n=$(syncs always)
[ "$n" -ge 50 ]
md_check $? "always: $n sync calls (one per message at least)"
n=$(syncs never)
[ "$n" = 0 ]
md_check $? "never: $n sync calls"
"$MDWRITER" -o mail_fsync=sometimes "maildir:$T/M" < /dev/null 2> "$T/err"
[ $? -ne 0 ] && grep -q "mail_fsync: invalid value 'sometimes'" "$T/err"
md_check $? "a bad mail_fsync is refused: $(cat "$T/err")"
exit $md_fail
