#!/bin/bash
# SPDX-License-Identifier: MIT
# Every ordered pair of local formats through `mailferry backup`:
# Maildir++, maildir LAYOUT=fs, sdbox, mdbox, and sdbox/mdbox with
# mail_compress=zstd. The start is a Maildir++ written by Dovecot (see
# qa_make_source) with the notmuch corpus and odd messages. After every hop
# the real Dovecot must report exactly the start: mailbox names,
# subscriptions, mailbox status (messages, uidvalidity, uidnext, guid),
# per message uid, guid, flags+keywords, virtual size, received date and
# text; mailferry must read the same stored bytes (sha256) as at the start;
# `doveadm force-resync` says nothing beyond what it says for a store
# Dovecot wrote itself (same format, same content); a second backup is a
# no-op. Dovecot's own `doveadm backup` of the start is compared too, so a
# difference there would show where Dovecot itself does not keep something.
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/qa-common.sh"
qa_setup
FORMATS="mdpp mdfs sdbox mdbox sdboxz mdboxz"
echo "formats: $FORMATS (no random choices in this test)"

qa_make_source src
qa_snapshot src "$T/start"
echo "start: $(wc -l < "$T/start.fetch") messages in $(wc -l < "$T/start.status") mailboxes"
# mailferry reads the bytes an MDA wrote: multiset of file hashes = what
# mailferry reports for the source
( cd "$T/src/Maildir" && find . \( -path '*/cur/*' -o -path '*/new/*' \) -type f -exec sha256sum {} + ) |
	awk '{ print $1 }' | LC_ALL=C sort > "$T/files.sha"
cut -f6 "$T/start.bytes" | LC_ALL=C sort > "$T/start.sha"
cmp -s "$T/files.sha" "$T/start.sha"
qa_check $? "mailferry reads the source files' exact bytes"

backup() { # SRC DST LABEL: backup, then a second one that must be a no-op
	local s=$1 d=$2 label=$3 rc
	# shellcheck disable=SC2046
	"$MF_BIN" $(mf_opts "$d") backup "${LOC[$s]}" "${LOC[$d]}" > "$T/out" 2> "$T/err"
	rc=$?
	if [ $rc != 0 ] || grep -qv '^mailferry: ' "$T/err"; then
		bad "$label: backup exit $rc:"; head -5 "$T/err"
	fi
	# shellcheck disable=SC2046
	"$MF_BIN" $(mf_opts "$d") backup "${LOC[$s]}" "${LOC[$d]}" > "$T/out" 2> "$T/err"
	rc=$?
	if [ $rc != 0 ] || ! grep -q "$QA_NOOP" "$T/err"; then
		bad "$label: second backup is not a no-op (exit $rc):"; head -5 "$T/err"
	fi
}

# what force-resync prints for stores Dovecot wrote (doveadm backup)
declare -A REF
for base in mdpp sdbox mdbox; do
	qa_store "ref-$base" $base
	qa_doveadm src backup "${LOC[ref-$base]}" > "$T/err" 2>&1 ||
		{ bad "doveadm backup to $base:"; head -5 "$T/err"; }
	qa_snapshot "ref-$base" "$T/ref-$base"
	# (information only: Dovecot's own backup turns CRLF into LF in dbox)
	saved_fail=$qa_fail
	if ! qa_same "$T/start" "$T/ref-$base" "doveadm backup -> $base" > "$T/note"; then
		echo "note: Dovecot's own backup to $base differs from the start:"
		sed 's/^FAIL: /(not a failure) /' "$T/note"
	fi
	qa_fail=$saved_fail
	REF[$base]=$(qa_resync_lines "ref-$base")
done
ref_base() { case $1 in mdpp | mdfs) echo mdpp ;; sdbox*) echo sdbox ;; mdbox*) echo mdbox ;; esac; }

verify() { # NAME LABEL
	local n=$1 label=$2 extra
	qa_snapshot "$n" "$T/$n"
	qa_same "$T/start" "$T/$n" "$label: Dovecot and mailferry see the start"
	extra=$(comm -13 <(printf '%s\n' "${REF[$(ref_base "${FMT[$n]}")]}") <(qa_resync_lines "$n"))
	if [ -n "$extra" ]; then
		bad "$label: force-resync says more than for Dovecot's own store:"
		printf '%s\n' "$extra" | head -5
	fi
	# and after Dovecot rebuilt its indexes everything is still the same
	qa_snapshot "$n" "$T/$n.rs" quick
	qa_same "$T/start" "$T/$n.rs" "$label: unchanged after doveadm force-resync" "status fetch" >/dev/null ||
		qa_same "$T/start" "$T/$n.rs" "$label: unchanged after doveadm force-resync" "status fetch"
}

# first hop: the Dovecot-written source into every format
for f in $FORMATS; do
	qa_store "x-$f" $f
	backup src "x-$f" "mdpp(dovecot) -> $f"
	verify "x-$f" "mdpp(dovecot) -> $f"
done
# every ordered pair
for a in $FORMATS; do
	for b in $FORMATS; do
		[ $a = $b ] && continue
		qa_store "p-$a-$b" $b
		backup "x-$a" "p-$a-$b" "$a -> $b"
		verify "p-$a-$b" "$a -> $b"
	done
done
[ $qa_fail = 0 ] && echo "ok: conversions"
exit $qa_fail
