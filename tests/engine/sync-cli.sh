#!/bin/bash
# SPDX-License-Identifier: MIT
# `mailferry sync` / `backup` end to end through the CLI (maildir and the
# memdrv test driver, no Dovecot needed): summary line, state on stdout,
# invalid state, exit codes with one clear line on stderr, --dry-run,
# -d with mail_replica, backup -R.
set -u
: "${MF_TOP_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
MAILFERRY=$MF_TOP_BUILDDIR/core/cli/mailferry
MAILFERRY_DRIVER_PATH=$MF_TOP_BUILDDIR/tests/engine/.libs:$MF_TOP_BUILDDIR/plugins/maildir/.libs
MAILFERRY_SKIP_DEFAULT_DIR=1
export MAILFERRY_DRIVER_PATH MAILFERRY_SKIP_DEFAULT_DIR
T=$(mktemp -d /tmp/mf-sync-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # STATUS LABEL
	if [ "$1" = 0 ]; then echo "ok: $2"; else echo "FAIL: $2"; fail=1; fi
}

mkdir -p "$T/src/cur" "$T/src/new" "$T/src/tmp" "$T/src/.Work/cur" \
	"$T/src/.Work/new" "$T/src/.Work/tmp"
for i in 1 2 3; do
	printf 'Message-ID: <c%d@x>\nSubject: %d\n\nbody %d\n' $i $i $i \
		> "$T/src/cur/170000000$i.M${i}P1.host:2,S"
done
printf 'Message-ID: <w@x>\n\nwork\n' > "$T/src/.Work/new/1700000009.M9P1.host"
SRC=maildir:$T/src
DST=memdrv:$T/dst

count() { # LOCATION MAILBOX -> number of messages
	"$MAILFERRY" mailbox status "$1" messages "$2" 2>/dev/null |
		sed -n 's/.*messages=\([0-9]*\).*/\1/p'
}

# 1. first sync: exit 0 and the one-line summary
"$MAILFERRY" sync "$SRC" "$DST" 2> "$T/err"
check $? "first sync exits 0"
grep -q '^mailferry: 2 mailboxes created, 0 deleted, 0 renamed; 4 messages saved, 0 expunged, 0 flag changes, 0 moved to new UIDs; [0-9]* bytes; [0-9.]* s$' "$T/err"
check $? "summary line: $(tail -1 "$T/err")"
[ "$(count "$DST" INBOX)" = 3 ] && [ "$(count "$DST" Work)" = 1 ]
check $? "destination has all messages"

# 1b. a first two-way sync into a new Maildir says nothing but its summary
# (its INBOX takes the other side's UIDVALIDITY: no index warning)
"$MAILFERRY" sync gendrv:5 "maildir:$T/fresh" 2> "$T/err"
check $? "first sync into a new Maildir exits 0"
[ "$(wc -l < "$T/err")" = 1 ] && grep -q '^mailferry: 0 mailboxes created.* 5 messages saved' "$T/err"
check $? "only the summary on stderr: $(head -2 "$T/err" | tr '\n' '|')"

# 2. state on stdout, usable by the next run
STATE=$("$MAILFERRY" sync -s "" "$SRC" "$DST" 2>/dev/null)
check $? "sync -s '' exits 0"
echo "$STATE" | grep -Eq '^[A-Za-z0-9+/]+=*$' && [ ${#STATE} -gt 12 ]
check $? "state printed: $STATE"
printf 'Message-ID: <c4@x>\n\nfour\n' > "$T/src/new/1700000004.M4P1.host"
STATE2=$("$MAILFERRY" sync -s "$STATE" "$SRC" "$DST" 2>/dev/null)
check $? "incremental sync exits 0"
[ "$(count "$DST" INBOX)" = 4 ] && [ -n "$STATE2" ]
check $? "incremental sync copied the new mail"

# 3. invalid state: warning and a full sync, exit 0
"$MAILFERRY" sync -s 'not a state!' "$SRC" "$DST" > "$T/out" 2> "$T/err"
check $? "invalid state still exits 0"
grep -q 'invalid' "$T/err"
check $? "invalid state warned: $(grep invalid "$T/err")"

# 4. failures: one clear line and the right exit code
"$MAILFERRY" sync memdrv:"$T/nope" "$DST" 2> "$T/err"
rc=$?
[ $rc = 68 ] && [ "$(wc -l < "$T/err")" = 1 ]
check $? "missing source: exit $rc, '$(cat "$T/err")'"
"$MAILFERRY" sync > /dev/null 2>&1
rc=$?
[ $rc = 64 ]
check $? "usage error: exit $rc"

# 5. --dry-run prints the changes and makes none
printf 'Message-ID: <c5@x>\n\nfive\n' > "$T/src/new/1700000005.M5P1.host"
"$MAILFERRY" sync --dry-run "$SRC" "$DST" > "$T/out" 2> "$T/err"
check $? "dry run exits 0"
grep -q '^dry-run: remote: save to INBOX UID' "$T/out"
check $? "dry run lists the save: $(head -1 "$T/out")"
[ "$(count "$DST" INBOX)" = 4 ]
check $? "dry run changed nothing"

# 6. -d: the destination comes from mail_replica
cat > "$T/conf" <<EOF
mail_location = $SRC
mail_replica = $DST
EOF
"$MAILFERRY" -c "$T/conf" sync -d 2> "$T/err"
check $? "sync -d with mail_replica exits 0"
[ "$(count "$DST" INBOX)" = 5 ]
check $? "sync -d copied the new mail"

# 7. backup -R: the remote is the source; local becomes identical
"$MAILFERRY" backup -R memdrv:"$T/copy" "$DST" 2> "$T/err"
check $? "backup -R exits 0"
[ "$(count memdrv:"$T/copy" INBOX)" = 5 ] && [ "$(count memdrv:"$T/copy" Work)" = 1 ]
check $? "backup -R made the local store a copy"
"$MAILFERRY" backup -R memdrv:"$T/copy" "$DST" 2> "$T/err"
grep -q '0 messages saved, 0 expunged, 0 flag changes' "$T/err"
check $? "second backup is a no-op"

# 8. -o dsync_msgs_window=N: a tiny window gives the same copy; a bad value
# is refused with one line naming the setting
"$MAILFERRY" -o dsync_msgs_window=2 backup gendrv:25 "maildir:$T/win" 2> "$T/err"
check $? "backup with dsync_msgs_window=2 exits 0"
[ "$(count "maildir:$T/win" INBOX)" = 25 ]
check $? "window of 2: all 25 messages copied"
"$MAILFERRY" -o dsync_msgs_window=2 sync -f gendrv:25 "maildir:$T/win" 2> "$T/err"
grep -q '0 messages saved, 0 expunged, 0 flag changes' "$T/err"
check $? "window of 2: the next full sync is a no-op"
"$MAILFERRY" -o dsync_msgs_window=lots sync gendrv:25 "maildir:$T/win" 2> "$T/err"
rc=$?
[ $rc != 0 ] && [ $rc != 2 ] && grep -q dsync_msgs_window "$T/err" && [ "$(wc -l < "$T/err")" = 1 ]
check $? "bad dsync_msgs_window: exit $rc, $(head -1 "$T/err")"

exit $fail
