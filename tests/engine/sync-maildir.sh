#!/bin/bash
# SPDX-License-Identifier: MIT
# mailferry sync between two Maildirs written and read by the real Dovecot:
# after each sync `doveadm fetch` shows identical UIDs, GUIDs, flags,
# keywords and sizes on both sides; a second run changes nothing; a sync
# killed with SIGKILL half-way and run again reaches the same state.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

FIELDS='mailbox uid guid flags size.physical'

dc_init a "maildir:@ROOT@/Maildir"
ROOT_A=$DC_ROOT
LOC_A="maildir:$ROOT_A/Maildir"
dc_init b "maildir:@ROOT@/Maildir"
ROOT_B=$DC_ROOT
LOC_B="maildir:$ROOT_B/Maildir"
md_gen_msgs "$DC_BASE/msgs" 40

on_a() { DC_ROOT=$ROOT_A dc_doveadm "$@"; }
on_b() { DC_ROOT=$ROOT_B dc_doveadm "$@"; }
save_a() { DC_ROOT=$ROOT_A dc_doveadm save -m "$1" < "$2"; }
save_b() { DC_ROOT=$ROOT_B dc_doveadm save -m "$1" < "$2"; }

# both sides' view through Dovecot, normalised
fetch_all() {
	DC_ROOT=$1 dc_doveadm fetch "$FIELDS" mailbox '*' |
		awk '/^mailbox: /{m=$2} /^uid: /{u=$2} /^guid: /{g=$2}
		     /^flags: /{sub(/^flags: ?/, ""); f=$0}
		     /^size.physical: /{print m, u, g, f, $2}' | LC_ALL=C sort
}

compare() { # LABEL
	fetch_all "$ROOT_A" > "$DC_BASE/fa"
	fetch_all "$ROOT_B" > "$DC_BASE/fb"
	DC_ROOT=$ROOT_A dc_doveadm mailbox list | LC_ALL=C sort > "$DC_BASE/la"
	DC_ROOT=$ROOT_B dc_doveadm mailbox list | LC_ALL=C sort > "$DC_BASE/lb"
	local rc=0
	if ! diff -u "$DC_BASE/la" "$DC_BASE/lb"; then rc=1; fi
	if ! diff -u "$DC_BASE/fa" "$DC_BASE/fb" | head -30; then rc=1; fi
	cmp -s "$DC_BASE/fa" "$DC_BASE/fb" || rc=1
	md_check $rc "$1: Dovecot sees identical stores ($(wc -l < "$DC_BASE/fa") messages)"
}

sync_ab() { # LABEL [ARGS...]: expects exit 0
	local label=$1
	shift
	"$MAILFERRY" sync "$@" "$LOC_A" "$LOC_B" > "$DC_BASE/out" 2> "$DC_BASE/err"
	local rc=$?
	if [ $rc != 0 ]; then cat "$DC_BASE/err"; fi
	md_check $rc "$label: sync exit $rc"
}

noop() { # LABEL: a second run must change nothing
	"$MAILFERRY" sync -f "$LOC_A" "$LOC_B" 2> "$DC_BASE/err"
	local rc=$?
	grep -q '0 mailboxes created, 0 deleted, 0 renamed; 0 messages saved, 0 expunged, 0 flag changes' "$DC_BASE/err" || rc=1
	if [ $rc != 0 ]; then cat "$DC_BASE/err"; fi
	md_check $rc "$1: second run is a no-op"
}

# 1. Dovecot creates both stores; both get mail with the same UIDs
#    (UID conflicts) and their own folders.
on_a mailbox create Work Lists/dev >/dev/null
on_b mailbox create Work Archive >/dev/null
for i in 1 2 3 4 5; do save_a INBOX "$DC_BASE/msgs/msg$i.eml"; done
for i in 6 7 8; do save_b INBOX "$DC_BASE/msgs/msg$i.eml"; done
save_a Work "$DC_BASE/msgs/msg9.eml"
save_b Archive "$DC_BASE/msgs/msg10.eml"
on_a flags add '\Seen $Label1' mailbox INBOX uid 1
on_b flags add '\Flagged' mailbox INBOX uid 2
sync_ab "first sync"
compare "first sync"
noop "first sync"
[ "$(on_a mailbox status messages INBOX)" = "INBOX messages=8" ]
md_check $? "INBOX has all 8 messages"

# 2. Changes on both sides, then a stateful sync.
STATE=$("$MAILFERRY" sync -s "" "$LOC_A" "$LOC_B" 2>/dev/null)
on_a flags add '\Answered' mailbox INBOX uid 6
on_b flags remove '\Flagged' mailbox INBOX uid 7
on_b flags add 'Junk' mailbox INBOX uid 7
on_a expunge mailbox INBOX uid 8
save_b INBOX "$DC_BASE/msgs/msg11.eml"
save_a Lists/dev "$DC_BASE/msgs/msg12.eml"
on_b mailbox rename Archive Archive2 >/dev/null
sync_ab "stateful sync" -s "$STATE"
compare "stateful sync"
noop "stateful sync"

# 2b. Mailbox delete, rename and subscriptions made by Dovecot on one side.
on_a mailbox delete Lists/dev >/dev/null
on_a mailbox subscribe Work
on_b mailbox rename Work Work2 >/dev/null
sync_ab "tree changes"
compare "tree changes"
[ "$(on_b mailbox list | grep -c '^Lists/dev$')" = 0 ] &&
	[ "$(on_a mailbox list | grep -c '^Work2$')" = 1 ]
md_check $? "delete and rename reached the other side"
[ "$(DC_ROOT=$ROOT_A dc_doveadm mailbox list -s | LC_ALL=C sort | tr '\n' ' ')" = \
  "$(DC_ROOT=$ROOT_B dc_doveadm mailbox list -s | LC_ALL=C sort | tr '\n' ' ')" ]
md_check $? "subscriptions agree"
noop "tree changes"

# 2c. Dovecot's own dsync agrees: run after mailferry, it finds nothing to
#     change on either side (same UIDs, GUIDs, flags, mailbox GUIDs).
fetch_all "$ROOT_A" > "$DC_BASE/before_a"
fetch_all "$ROOT_B" > "$DC_BASE/before_b"
DC_ROOT=$ROOT_A dc_doveadm sync -f "maildir:$ROOT_B/Maildir" > "$DC_BASE/dsync.out" 2>&1
rc=$?
if [ $rc != 0 ]; then cat "$DC_BASE/dsync.out"; fi
md_check $rc "doveadm sync after mailferry exits 0"
fetch_all "$ROOT_A" > "$DC_BASE/after_a"
fetch_all "$ROOT_B" > "$DC_BASE/after_b"
cmp -s "$DC_BASE/before_a" "$DC_BASE/after_a" && cmp -s "$DC_BASE/before_b" "$DC_BASE/after_b"
rc=$?
if [ $rc != 0 ]; then diff "$DC_BASE/before_a" "$DC_BASE/after_a" | head; diff "$DC_BASE/before_b" "$DC_BASE/after_b" | head; fi
md_check $rc "doveadm sync changed nothing"

# 2d. And the other way round: Dovecot's dsync merges fresh changes, then
#     mailferry agrees there is nothing left to do.
save_a INBOX "$DC_BASE/msgs/msg13.eml"
save_b INBOX "$DC_BASE/msgs/msg14.eml"
on_b flags add '\Deleted' mailbox INBOX uid 1
on_a mailbox create FromDovecot >/dev/null
# (-f: without it dsync skips INBOX here, whose counters agree although
# both sides got a different mail at UID 13: its CHANGED false negative)
DC_ROOT=$ROOT_A dc_doveadm sync -f "maildir:$ROOT_B/Maildir" > "$DC_BASE/dsync.out" 2>&1
md_check $? "doveadm sync of new changes exits 0"
fetch_all "$ROOT_A" > "$DC_BASE/dsync_a"
fetch_all "$ROOT_B" > "$DC_BASE/dsync_b"
cmp -s "$DC_BASE/dsync_a" "$DC_BASE/dsync_b"
md_check $? "doveadm sync -f made the stores identical"
noop "after doveadm sync"
compare "after doveadm sync"

# 2e. Same starting point, conflicting changes on both sides: Dovecot's
#     dsync on one copy and mailferry on another must give the same result
#     (UIDs of renumbered conflicts, GUIDs, flags, keywords).
save_a INBOX "$DC_BASE/msgs/msg15.eml"
save_a INBOX "$DC_BASE/msgs/msg16.eml"
save_b INBOX "$DC_BASE/msgs/msg17.eml"
on_a flags add '\Seen' mailbox INBOX uid 2
on_b flags add '\Flagged $Work' mailbox INBOX uid 2
on_b flags remove '\Seen' mailbox INBOX uid 1
on_a expunge mailbox INBOX uid 3
save_b Work2 "$DC_BASE/msgs/msg18.eml"
dc_init a2 "maildir:@ROOT@/Maildir"
ROOT_A2=$DC_ROOT
dc_init b2 "maildir:@ROOT@/Maildir"
ROOT_B2=$DC_ROOT
rm -rf "$ROOT_A2/Maildir" "$ROOT_B2/Maildir"
cp -a "$ROOT_A/Maildir" "$ROOT_A2/Maildir"
cp -a "$ROOT_B/Maildir" "$ROOT_B2/Maildir"
DC_ROOT=$ROOT_A dc_doveadm sync -f "maildir:$ROOT_B/Maildir" > "$DC_BASE/dsync.out" 2>&1
md_check $? "doveadm sync -f of conflicting changes exits 0"
"$MAILFERRY" sync -f "maildir:$ROOT_A2/Maildir" "maildir:$ROOT_B2/Maildir" 2> "$DC_BASE/err"
md_check $? "mailferry sync -f of the same changes exits 0"
fetch_all "$ROOT_A" > "$DC_BASE/dsync_a"
fetch_all "$ROOT_A2" > "$DC_BASE/mf_a"
fetch_all "$ROOT_B2" > "$DC_BASE/mf_b"
if ! cmp -s "$DC_BASE/dsync_a" "$DC_BASE/mf_a"; then diff "$DC_BASE/dsync_a" "$DC_BASE/mf_a"; false; fi
md_check $? "mailferry's result equals dsync's"
cmp -s "$DC_BASE/mf_a" "$DC_BASE/mf_b"
md_check $? "mailferry's two sides are identical"

# 2f. Tree changes on both sides, same comparison with dsync: renames on
#     each side, a delete, new mailboxes, mail into a renamed mailbox.
"$MAILFERRY" sync -f "$LOC_A" "$LOC_B" 2>/dev/null
on_a mailbox create Projects Projects/x Shared >/dev/null
"$MAILFERRY" sync -f "$LOC_A" "$LOC_B" 2>/dev/null
sleep 1 # the mailbox log has one-second timestamps
on_a mailbox rename Projects/x Projects/y >/dev/null
on_b mailbox rename Shared Common >/dev/null
on_b mailbox delete Work2 >/dev/null
on_a mailbox create OnlyA >/dev/null
on_b mailbox create OnlyB >/dev/null
save_b Common "$DC_BASE/msgs/msg19.eml"
save_a Projects/y "$DC_BASE/msgs/msg20.eml"
rm -rf "$ROOT_A2/Maildir" "$ROOT_B2/Maildir"
cp -a "$ROOT_A/Maildir" "$ROOT_A2/Maildir"
cp -a "$ROOT_B/Maildir" "$ROOT_B2/Maildir"
DC_ROOT=$ROOT_A dc_doveadm sync -f "maildir:$ROOT_B/Maildir" > "$DC_BASE/dsync.out" 2>&1
md_check $? "doveadm sync -f of tree changes exits 0"
"$MAILFERRY" sync -f "maildir:$ROOT_A2/Maildir" "maildir:$ROOT_B2/Maildir" 2> "$DC_BASE/err"
md_check $? "mailferry sync -f of the same tree changes exits 0"
fetch_all "$ROOT_A" > "$DC_BASE/dsync_a"
fetch_all "$ROOT_A2" > "$DC_BASE/mf_a"
DC_ROOT=$ROOT_A dc_doveadm mailbox list | LC_ALL=C sort > "$DC_BASE/dsync_l"
DC_ROOT=$ROOT_A2 dc_doveadm mailbox list | LC_ALL=C sort > "$DC_BASE/mf_l"
if ! cmp -s "$DC_BASE/dsync_l" "$DC_BASE/mf_l"; then diff "$DC_BASE/dsync_l" "$DC_BASE/mf_l"; false; fi
md_check $? "tree: mailferry's mailboxes equal dsync's"
if ! cmp -s "$DC_BASE/dsync_a" "$DC_BASE/mf_a"; then diff "$DC_BASE/dsync_a" "$DC_BASE/mf_a"; false; fi
md_check $? "tree: mailferry's messages equal dsync's"

# 2g. The same mailbox renamed differently on both sides: the later
#     rename wins, as with dsync.
"$MAILFERRY" sync -f "$LOC_A" "$LOC_B" 2>/dev/null
on_a mailbox rename OnlyA RenamedOnA >/dev/null
sleep 1
on_b mailbox rename OnlyA RenamedOnB >/dev/null
rm -rf "$ROOT_A2/Maildir" "$ROOT_B2/Maildir"
cp -a "$ROOT_A/Maildir" "$ROOT_A2/Maildir"
cp -a "$ROOT_B/Maildir" "$ROOT_B2/Maildir"
DC_ROOT=$ROOT_A dc_doveadm sync -f "maildir:$ROOT_B/Maildir" > "$DC_BASE/dsync.out" 2>&1
md_check $? "doveadm sync -f of a rename conflict exits 0"
"$MAILFERRY" sync -f "maildir:$ROOT_A2/Maildir" "maildir:$ROOT_B2/Maildir" 2> "$DC_BASE/err"
md_check $? "mailferry sync -f of the same rename conflict exits 0"
DC_ROOT=$ROOT_A dc_doveadm mailbox list | LC_ALL=C sort > "$DC_BASE/dsync_l"
DC_ROOT=$ROOT_A2 dc_doveadm mailbox list | LC_ALL=C sort > "$DC_BASE/mf_l"
if ! cmp -s "$DC_BASE/dsync_l" "$DC_BASE/mf_l"; then diff "$DC_BASE/dsync_l" "$DC_BASE/mf_l"; false; fi
md_check $? "rename conflict: mailferry's mailboxes equal dsync's"
grep -q '^RenamedOnB$' "$DC_BASE/mf_l"
md_check $? "rename conflict: the later rename won"

# 2h. A mailbox of the same name created on both sides with mail in each:
#     merged into one that keeps both mails. (Dovecot 2.3's dsync reports
#     "Remote lost mailbox GUID" here, exit 2 on every run, and keeps only
#     one side's mail; mailferry must lose nothing.)
on_a mailbox create Twin >/dev/null
on_b mailbox create Twin >/dev/null
save_a Twin "$DC_BASE/msgs/msg21.eml"
save_b Twin "$DC_BASE/msgs/msg22.eml"
"$MAILFERRY" sync "$LOC_A" "$LOC_B" 2> "$DC_BASE/err"
rc=$?
if [ $rc = 2 ]; then
	"$MAILFERRY" sync "$LOC_A" "$LOC_B" 2> "$DC_BASE/err"
	rc=$?
fi
md_check $rc "same-name mailboxes: sync exits 0"
compare "same-name mailboxes"
[ "$(on_a mailbox status messages Twin)" = "Twin messages=2" ]
md_check $? "same-name mailboxes: both mails kept"
noop "same-name mailboxes"

# 3. Backup A -> C, then C equals A.
dc_init c "maildir:@ROOT@/Maildir"
ROOT_C=$DC_ROOT
"$MAILFERRY" backup "$LOC_A" "maildir:$ROOT_C/Maildir" 2> "$DC_BASE/err"
rc=$?
if [ $rc != 0 ]; then cat "$DC_BASE/err"; fi
md_check $rc "backup exit 0"
fetch_all "$ROOT_A" > "$DC_BASE/fa"
fetch_all "$ROOT_C" > "$DC_BASE/fc"
cmp -s "$DC_BASE/fa" "$DC_BASE/fc"
md_check $? "backup: Dovecot sees the destination identical to the source"

# 4. SIGKILL half-way through a big first sync, then run again.
mkdir -p "$DC_BASE/big"
for i in $(seq 1 1500); do
	printf 'Message-ID: <big-%d@x>\nSubject: big %d\n\n%s\n' "$i" "$i" \
		"$(head -c $((i % 700 + 50)) /dev/zero | tr '\0' y)" \
		> "$DC_BASE/big/$i.eml"
done
on_a mailbox create Big >/dev/null
mkdir -p "$ROOT_A/Maildir/.Big/new"
for i in $(seq 1 1500); do
	cp "$DC_BASE/big/$i.eml" "$ROOT_A/Maildir/.Big/new/1700000000.M${i}P1.host"
done
on_a mailbox status messages Big >/dev/null # Dovecot assigns the UIDs
"$MAILFERRY" sync "$LOC_A" "$LOC_B" 2>/dev/null &
pid=$!
sleep 0.3
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
echo "killed at $(ls "$ROOT_B/Maildir/.Big/cur" "$ROOT_B/Maildir/.Big/new" 2>/dev/null | wc -l) files"
"$MAILFERRY" sync "$LOC_A" "$LOC_B" 2> "$DC_BASE/err"
rc=$?
if [ $rc = 2 ]; then
	"$MAILFERRY" sync "$LOC_A" "$LOC_B" 2> "$DC_BASE/err"
	rc=$?
fi
if [ $rc != 0 ]; then cat "$DC_BASE/err"; fi
md_check $rc "re-run after SIGKILL"
compare "after SIGKILL"
noop "after SIGKILL"
[ "$(on_b mailbox status messages Big)" = "Big messages=1500" ]
md_check $? "every message once after SIGKILL"

# 4. Maildir to Maildir on one filesystem: messages are hard-linked, not
#    copied (driver slots msg_get_path/save_from_path), and Dovecot serves
#    the linked copy like any other.
dc_init c "maildir:@ROOT@/Maildir"
ROOT_C=$DC_ROOT
"$MAILFERRY" backup "$LOC_A" "maildir:$ROOT_C/Maildir" 2> "$DC_BASE/err"
md_check $? "backup maildir -> maildir"
n_all=$(find "$ROOT_C/Maildir" \( -path '*/cur/*' -o -path '*/new/*' \) -type f | wc -l)
n_linked=$(find "$ROOT_C/Maildir" \( -path '*/cur/*' -o -path '*/new/*' \) -type f -links +1 | wc -l)
[ "$n_all" -gt 1000 ] && [ "$n_linked" = "$n_all" ]
md_check $? "every message hard-linked ($n_linked of $n_all)"
fetch_all "$ROOT_A" > "$DC_BASE/fa"
fetch_all "$ROOT_C" > "$DC_BASE/fc"
cmp -s "$DC_BASE/fa" "$DC_BASE/fc"
md_check $? "Dovecot sees the linked backup equal to its source"

exit $md_fail
