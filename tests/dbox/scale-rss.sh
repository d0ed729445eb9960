#!/bin/bash
# SPDX-License-Identifier: MIT
# Peak RSS of the dbox drivers does not grow with the mailbox size: a
# backup of N generated messages into mdbox, a backup of that mdbox into
# another one, a full (-f) and a no-op two-way sync between them each stay
# within a fixed allowance above the same command on a tiny mailbox.
#
# What may grow: the transaction logs are read whole (each is rotated at
# 1 MiB, so an index holds at most ~2 MiB of them), the engine keeps a
# window of messages. What must not: the index records (dovecot.index is
# mapped, not copied; a walk lets go of the pages it read), per-message
# arrays of the drivers. Before that, 100,000 messages took 30-40 MB more
# than 2,000 (~260 bytes a message for a backup into mdbox).
#
# MF_DBOX_RSS_N sets N (default 100000). Under AddressSanitizer (its
# shadow memory and quarantine say nothing about what we keep) the
# commands run but the RSS bounds are not checked; the output says so.
set -u
: "${MF_TOP_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
B=$MF_TOP_BUILDDIR
MF=$B/core/cli/mailferry
MAILFERRY_DRIVER_PATH=$B/tests/engine/.libs:$B/plugins/sdbox/.libs:$B/plugins/mdbox/.libs
MAILFERRY_SKIP_DEFAULT_DIR=1
export MAILFERRY_DRIVER_PATH MAILFERRY_SKIP_DEFAULT_DIR
N=${MF_DBOX_RSS_N:-100000}
SMALL=2000
# allowed growth over the tiny mailbox, in KiB: up to four indexes' logs
# (2 MiB each), the engine's window and slack for allocator noise
ALLOW_KB=$((12 * 1024))

[ -x "$MF" ] || { echo "mailferry not built"; exit 1; }
[ -x /usr/bin/time ] || { echo "SKIP: no /usr/bin/time"; exit 77; }
ls "$B"/tests/engine/.libs/gendrv.so >/dev/null 2>&1 ||
	{ echo "SKIP: tests/engine/gendrv not built"; exit 77; }
asan=${MF_ASAN:-0} # set by make check in --enable-asan builds
if grep -qa __asan_init "$MF" "$B"/plugins/mdbox/.libs/mdbox.so 2>/dev/null ||
	ldd "$MF" 2>/dev/null | grep -q libasan; then
	asan=1
fi

T=$(mktemp -d /tmp/mf-dbox-rss.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0

# peak KB LABEL ARGS...: run mailferry, print its peak RSS in KiB
peak() {
	local label=$1
	shift
	if ! /usr/bin/time -f %M -o "$T/time" "$MF" -o mail_fsync=never "$@" \
		> /dev/null 2> "$T/err"; then
		echo "FAIL: $label: mailferry $* failed:" >&2
		head -5 "$T/err" >&2
		fail=1
		echo 0
		return
	fi
	tail -1 "$T/time"
}

# measure SIZE: the four commands on a fresh pair of stores
measure() {
	local n=$1 d=$T/s$1
	mkdir -p "$d"
	echo "backup-gendrv-mdbox $(peak "backup gendrv:$n" backup "gendrv:$n" "mdbox:$d/a")"
	echo "backup-mdbox-mdbox $(peak "backup mdbox" backup "mdbox:$d/a" "mdbox:$d/b")"
	echo "sync-full $(peak "sync -f" sync -f "mdbox:$d/a" "mdbox:$d/b")"
	echo "sync-noop $(peak "no-op sync" sync "mdbox:$d/a" "mdbox:$d/b")"
	rm -rf "$d"
}

measure $SMALL > "$T/small"
measure "$N" > "$T/large"
while read -r what small; do
	large=$(awk -v w="$what" '$1 == w { print $2 }' "$T/large")
	grow=$((large - small))
	echo "$what: $SMALL messages $small KiB, $N messages $large KiB" \
		"(+$grow KiB, $((grow * 1024 / (N - SMALL))) bytes/message)"
	if [ "$asan" = 1 ]; then
		continue
	fi
	if [ "$small" = 0 ] || [ "$large" = 0 ]; then
		continue # failed, reported
	fi
	if [ "$grow" -gt "$ALLOW_KB" ]; then
		echo "FAIL: $what: peak RSS grew by $grow KiB from $SMALL to" \
			"$N messages (allowed $ALLOW_KB)"
		fail=1
	fi
done < "$T/small"
if [ "$asan" = 1 ]; then
	echo "NOTE: AddressSanitizer build: RSS bounds not checked"
fi
[ "$fail" = 0 ] && echo "ok: peak RSS within $ALLOW_KB KiB of a $SMALL-message mailbox"
exit $fail
