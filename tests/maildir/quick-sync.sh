#!/bin/bash
# SPDX-License-Identifier: MIT
# Reading an unchanged Maildir without a rescan, as Dovecot does: the
# index's "maildir" header records when new/ and cur/ were scanned (their
# mtimes) and which dovecot-uidlist the index reflects. While they hold,
# mailbox_open/mailbox_status/listing read the uidlist and the index and
# neither read cur/ nor touch a message file, and a no-op sync takes no
# sync lock. Checked: the quick view equals a full scan's; every kind of
# change (Dovecot's flag change, save, index-only keyword, an MDA's file in
# new/, a client's rename in cur/) is seen; Dovecot still sees changes made
# after mailferry recorded the header; the sync lock is Dovecot's
# .dovecot-box-sync.lock and is taken when a sync has work to do.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap 'kill $(jobs -p) 2>/dev/null; dc_cleanup' EXIT

dc_init qs "maildir:@ROOT@/Maildir"
root=$DC_ROOT
M=$root/Maildir
loc="maildir:$M"
md_gen_msgs "$root/msgs" 8
"$MDWRITER" "$loc" > /dev/null <<EOS
create Work
begin INBOX
save $root/msgs/msg1.eml flags=Seen kw=\$Label1,k1
save $root/msgs/msg2.eml
save $root/msgs/msg3.eml flags=Flagged
commit
begin Work
save $root/msgs/msg4.eml flags=Seen
commit
EOS
for i in 5 6; do
	dc_as_user sh -c "doveadm -c $root/dovecot.conf save -m INBOX < $root/msgs/msg$i.eml"
done
dc_doveadm flags add "$(seq -f 'kw%02g' -s ' ' 1 28)" mailbox INBOX uid 3
FIELDS='uid guid flags modseq size.physical size.virtual'
fetch() { "$MAILFERRY" fetch "$loc" "$FIELDS" mailbox INBOX; }
# age: the directories last changed long ago (a scan right after a
# change is not trusted for a second); then a writer's scan records it
age() {
	find "$M" -type d \( -name cur -o -name new \) -exec touch -d '-1 hour' {} +
	printf 'changes INBOX 0\nchanges Work 0\n' | "$MDWRITER" "$loc" > /dev/null
}
# quick CMD...: run CMD under strace; true when it never opened a cur/
HAVE_STRACE=0
command -v strace > /dev/null && HAVE_STRACE=1
# (LeakSanitizer cannot work under ptrace: off for the traced runs)
trace() { # FILE CMD...
	local out=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -e trace=openat,open -o "$out" "$@"
}
cur_opened() { # TRACEFILE
	grep -E 'open(at)?\(.*/cur", O_RDONLY.*O_DIRECTORY' "$1" | grep -q .
}

age
fetch > "$root/full"
grep -q 'maildir' <("$MAILFERRY" dump "$M/dovecot.index.log" 2>/dev/null) 
md_check $? "a writer's scan records the maildir header in the index"
if [ $HAVE_STRACE = 1 ]; then
	trace "$root/trace" "$MAILFERRY" fetch "$loc" "$FIELDS" mailbox INBOX \
		> "$root/quick"
	! cur_opened "$root/trace"
	md_check $? "an unchanged mailbox is read without reading cur/"
	! grep -q '/cur/[^"]' "$root/trace"
	md_check $? "... and without opening a message file"
else
	"$MAILFERRY" fetch "$loc" "$FIELDS" mailbox INBOX > "$root/quick"
	echo "(strace missing: not checking which files are opened)"
fi
diff -u "$root/full" "$root/quick"
md_check $? "the quick view equals the full scan's (flags, index-only keywords, modseqs, sizes)"
md_compare "$loc" "quick view"
# status from the index alone (listing and lazily opened mailboxes)
# equals the status after a full scan, also with \Recent files in new/
# and after an IMAP session raised the first recent UID
STATUS='messages uidvalidity uidnext guid highestmodseq first_recent_uid'
status_quick_vs_full() { # LABEL
	age
	"$MAILFERRY" mailbox status "$loc" "$STATUS" > "$root/st.quick"
	find "$M" -type d -name cur -exec touch {} +
	"$MAILFERRY" mailbox status "$loc" "$STATUS" > "$root/st.full"
	diff -u "$root/st.full" "$root/st.quick"
	md_check $? "$1: status without a scan = status after a full scan ($(grep '^INBOX' "$root/st.full"))"
}
ls "$M/new" | grep -q . || echo "(no file in new/?)"
status_quick_vs_full "files in new/"
printf 'a select INBOX\r\nb logout\r\n' | dc_imap > /dev/null 2>&1
cp "$root/msgs/msg8.eml" "$M/new/1700000009.M9P9.mda"
status_quick_vs_full "first recent UID raised by IMAP, a file in new/"

# each kind of change is seen
check_seen() { # LABEL
	# mailferry first (a reader: modseqs of changes nobody indexed yet
	# are Dovecot's to give), then Dovecot
	fetch | grep -v '^modseq' > "$root/now"
	dc_doveadm fetch "$FIELDS" mailbox INBOX | grep -v '^modseq' > "$root/dc"
	sed -i 's/\\Recent \{0,1\}//' "$root/now" "$root/dc"
	diff -u "$root/dc" "$root/now" > "$root/d" && ! cmp -s "$root/full" "$root/now"
	md_check $? "$1: seen by mailferry, as Dovecot sees it"
	cat "$root/d" | head -20
	cp "$root/now" "$root/full"
	age
}
sed -i -e 's/\\Recent \{0,1\}//' -e '/^modseq/d' "$root/full"
dc_doveadm flags add '\Answered' mailbox INBOX uid 2
check_seen "Dovecot's flag change"
dc_doveadm flags remove 'kw27' mailbox INBOX uid 3
check_seen "Dovecot's index-only keyword change (no file renamed)"
dc_as_user sh -c "doveadm -c $root/dovecot.conf save -m INBOX < $root/msgs/msg7.eml"
check_seen "Dovecot's save"
f=$(ls "$M/cur" | grep ':2,S' | head -1)
mv "$M/cur/$f" "$M/cur/${f}T"
check_seen "a client's rename in cur/"
cp "$root/msgs/msg8.eml" "$M/tmp/1700000000.M1P1.mda"
mv "$M/tmp/1700000000.M1P1.mda" "$M/new/1700000000.M1P1.mda"
check_seen "an MDA's delivery into new/"

# Dovecot trusts the header mailferry wrote only while it holds: a file
# renamed and one delivered after it must reach Dovecot
age
f=$(ls "$M/cur" | grep ':2,S' | head -1)
mv "$M/cur/$f" "$M/cur/${f}F"
cp "$root/msgs/msg1.eml" "$M/new/1700000001.M2P1.mda"
dc_doveadm fetch 'guid flags' mailbox INBOX > "$root/dc"
grep -q "^guid: 1700000001.M2P1.mda$" "$root/dc" &&
	grep -q "^guid: ${f%%:*}$" "$root/dc" &&
	awk -v g="${f%%:*}" '$1 == "guid:" { cur = $2 } $1 == "flags:" && cur == g && /Flagged/ { ok = 1 } END { exit !ok }' "$root/dc"
md_check $? "Dovecot sees changes made after mailferry recorded the header"
md_compare "$loc" "after Dovecot's rescan"

# the sync lock: Dovecot's file name, not taken by a no-op sync, taken
# (and waited for) when there is something to do
age
rm -rf "$root/B"
"$MAILFERRY" sync "$loc" "maildir:$root/B" > /dev/null 2>&1
"$MAILFERRY" sync "$loc" "maildir:$root/B" > /dev/null 2>&1
find "$M" "$root/B" -type d \( -name cur -o -name new \) -exec touch -d '-1 hour' {} +
"$MAILFERRY" sync "$loc" "maildir:$root/B" > /dev/null 2>&1
if [ $HAVE_STRACE = 1 ]; then
	trace "$root/trace" "$MAILFERRY" sync "$loc" "maildir:$root/B" \
		> "$root/out" 2>&1
	md_check $? "no-op sync: $(cat "$root/out")"
	! cur_opened "$root/trace" && ! grep -q 'box-sync.lock' "$root/trace"
	md_check $? "a no-op sync of unchanged Maildirs reads no cur/ and takes no sync lock"
fi
# a lock held (fcntl, as Dovecot's dsync) on INBOX: a sync with work to
# do there waits for it and gives up after mailbox_lock_timeout
dc_doveadm flags add '\Seen' mailbox INBOX uid 2
python3 - "$M/.dovecot-box-sync.lock" 6 <<'EOP' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(sys.argv[1] + ".held", "w").close()
time.sleep(int(sys.argv[2]))
EOP
holder=$!
for _ in $(seq 1 50); do [ -e "$M/.dovecot-box-sync.lock.held" ] && break; sleep 0.1; done
"$MAILFERRY" -o mailbox_lock_timeout=1 sync "$loc" "maildir:$root/B" > "$root/out" 2>&1
rc=$?
[ $rc != 0 ] && grep -q 'box-sync.lock' "$root/out"
md_check $? "a changed mailbox waits for Dovecot's .dovecot-box-sync.lock (exit $rc: $(head -c 300 "$root/out"))"
wait $holder
rm -f "$M/.dovecot-box-sync.lock.held"
"$MAILFERRY" sync "$loc" "maildir:$root/B" > "$root/out" 2>&1
md_check $? "and syncs once it is free: $(cat "$root/out")"
# a two-way sync decides its fast and stateful skips on the listing's
# statuses (without opening the mailboxes again): changes made right
# after the previous sync, within its second, on either side, must still
# be seen by the next one
same_sides() { # LABEL
	local a b
	a=$("$MAILFERRY" fetch "$loc" 'guid flags' mailbox '*' 2>&1 | sed 's/ *\\Recent//; s/ *$//')
	b=$("$MAILFERRY" fetch "maildir:$root/B" 'guid flags' mailbox '*' 2>&1 | sed 's/ *\\Recent//; s/ *$//')
	[ -n "$a" ] && [ "$a" = "$b" ]
	md_check $? "$1: both sides agree"
	[ "$a" = "$b" ] || diff -u <(echo "$a") <(echo "$b") | head -20
}
"$MAILFERRY" sync "$loc" "maildir:$root/B" > /dev/null 2>&1
st=$("$MAILFERRY" sync -s '' "$loc" "maildir:$root/B" 2> /dev/null)
for mode in fast stateful; do
	n=$(ls "$M/cur" "$M/new" "$root/B/cur" "$root/B/new" | grep -c .)
	if [ $mode = fast ]; then
		"$MAILFERRY" sync "$loc" "maildir:$root/B" > /dev/null 2>&1
	else
		st=$("$MAILFERRY" sync -s "$st" "$loc" "maildir:$root/B" 2> /dev/null)
	fi
	# same second: an MDA's file in A's new/, a client's flag in B's cur/
	cp "$root/msgs/msg2.eml" "$M/new/1700000100.M$n.$mode"
	f=$(ls "$root/B/cur" | grep -v ':2,.*D' | head -1)
	mv "$root/B/cur/$f" "$root/B/cur/${f%%:*}:2,D${f#*:2,}"
	if [ $mode = fast ]; then
		"$MAILFERRY" sync "$loc" "maildir:$root/B" > "$root/out" 2>&1
	else
		st=$("$MAILFERRY" sync -s "$st" "$loc" "maildir:$root/B" 2> "$root/out")
	fi
	md_check $? "$mode sync right after a sync: $(cat "$root/out")"
	"$MAILFERRY" fetch "maildir:$root/B" 'guid' mailbox INBOX | grep -q "1700000100.M$n.$mode"
	md_check $? "$mode: the file delivered within the previous sync's second reached B"
	"$MAILFERRY" fetch "$loc" 'guid flags' mailbox INBOX | grep -A1 "^guid: ${f%%:*}$" | grep -q Draft
	md_check $? "$mode: the flag set in B within the previous sync's second reached A"
	same_sides "$mode"
done
exit $md_fail
