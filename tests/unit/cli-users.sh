#!/bin/bash
# SPDX-License-Identifier: MIT
# sync/backup for several users (-u USER, -u MASK, -F FILE, -A): the
# locations are expanded per user (%u, %n, %d, ~), each user gets its own
# summary line, the exit status is the worst of the users' runs, and
# nothing of one user's mail ends up in another's store.
set -u

top_src=${MF_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${MF_TOP_BUILDDIR:-$(pwd)}
M="$top_build/core/cli/mailferry"
export MAILFERRY_DRIVER_PATH="$top_build/plugins/maildir/.libs:$top_build/plugins/sdbox/.libs:$top_build/plugins/mdbox/.libs"
export MAILFERRY_SKIP_DEFAULT_DIR=1 TZ=UTC
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
check() { # rc label
	if [ "$1" = 0 ]; then ok "$2"; else fail "$2"; fi
}

# two virtual users with their own Maildirs (one message each, told apart)
for u in alice@example.org bob@example.org; do
	d=$T/example.org/${u%@*}/Maildir
	mkdir -p "$d/cur" "$d/new" "$d/tmp"
	printf 'From: x@y\nSubject: for %s\nMessage-ID: <%s>\n\nhello %s\n' \
		"$u" "$u" "$u" > "$d/cur/1700000000.M1P1.h:2,S"
done
SRC="maildir:$T/%d/%n/Maildir"
DST="mdbox:$T/%d/%n/mdbox"
count() { # user -> messages in that user's mdbox
	"$M" mailbox status "mdbox:$T/${1#*@}/${1%@*}/mdbox" messages INBOX 2>/dev/null |
		sed -n 's/.*messages=\([0-9]*\).*/\1/p'
}
subject_of() { # user
	"$M" -f tab fetch "mdbox:$T/${1#*@}/${1%@*}/mdbox" 'hdr.subject' 2>/dev/null |
		tail -n +2
}

# -u: one user
"$M" -o "mail_location=$SRC" backup -u alice@example.org "$DST" 2> "$T/err"
check $? "-u alice: exit 0"
grep -q '^mailferry: user alice@example.org: 1 mailboxes created' "$T/err"
check $? "-u: the summary names the user ($(head -1 "$T/err"))"
[ "$(count alice@example.org)" = 1 ] && [ ! -e "$T/example.org/bob/mdbox" ]
check $? "-u: only alice's store was written"

# -F: a user file (comments and blank lines skipped)
printf '# users\nalice@example.org\n\n  bob@example.org extra fields\n' > "$T/users"
"$M" -o "mail_location=$SRC" backup -F "$T/users" "$DST" 2> "$T/err"
check $? "-F: exit 0"
[ "$(grep -c '^mailferry: user ' "$T/err")" = 2 ]
check $? "-F: one summary per user"
[ "$(count bob@example.org)" = 1 ] && [ "$(count alice@example.org)" = 1 ]
check $? "-F: both users converted, one message each"
[ "$(subject_of bob@example.org)" = "for bob@example.org" ]
check $? "-F: bob's store holds bob's mail"

# -u MASK over the system users, restricted to uid 65534 (nobody)
mkdir -p "$T/sys/nobody/Maildir/cur" "$T/sys/nobody/Maildir/new" "$T/sys/nobody/Maildir/tmp"
"$M" -o "mail_location=maildir:$T/sys/%u/Maildir" -o first_valid_uid=65534 \
	-o last_valid_uid=65534 backup -u 'nob*' "mdbox:$T/sys/%u/mdbox" 2> "$T/err"
check $? "-u MASK: exit 0"
[ -d "$T/sys/nobody/mdbox" ] && grep -q '^mailferry: user nobody: ' "$T/err"
check $? "-u MASK: the matching system user was synced"
"$M" -o "mail_location=maildir:$T/sys/%u/Maildir" -o first_valid_uid=65534 \
	-o last_valid_uid=65534 backup -A "mdbox:$T/sys/%u/mdbox" 2> "$T/err"
check $? "-A: exit 0 ($(tail -1 "$T/err"))"
[ "$(grep -c '^mailferry: user ' "$T/err")" = 1 ]
check $? "-A: every user in the uid range, no other"

# a failing user: the others still run, the exit status is the failure's
printf 'alice@example.org\nghost@example.org\nbob@example.org\n' > "$T/users2"
"$M" -o "mail_location=maildir:$T/%d/%n/Maildir:INBOX=$T/%d/%n/Maildir" \
	-o mail_fsync=never backup -F "$T/users2" "$DST" 2> "$T/err"
rc=$?
[ $rc != 0 ] && [ $rc != 2 ]
check $? "a user whose store fails makes the run fail (exit $rc)"
[ "$(grep -c '^mailferry: user .*: 0 mailboxes created' "$T/err")" = 2 ]
check $? "the other users still ran"

# errors: no user matches, -s with several users, unreadable file
"$M" -o "mail_location=$SRC" backup -u 'zz*' "$DST" 2> /dev/null
[ $? = 67 ]
check $? "-u MASK matching nobody: exit 67"
"$M" -o "mail_location=$SRC" sync -s '' -F "$T/users" "$DST" > /dev/null 2>&1
[ $? = 64 ]
check $? "-s with several users: usage error"
"$M" -o "mail_location=$SRC" backup -F "$T/nonexistent" "$DST" 2> "$T/err"
rc=$?
[ $rc != 0 ] && grep -q nonexistent "$T/err"
check $? "-F missing file: a clear error ($(head -1 "$T/err"))"

[ $failures = 0 ]
