#!/bin/bash
# SPDX-License-Identifier: MIT
# mailferry killed with SIGKILL at eight points of a conversion of a few
# thousand messages (bench/gen-corpus, fixed seeds), then run again to
# completion: every source message is at the destination exactly once
# (multiset of mailbox + GUID + sha256 of the stored bytes), UIDs and flags
# equal the source's, Dovecot opens the result without a warning
# (force-resync says only what it says for healthy stores), and one more
# run is a no-op. Pairs: backup maildir->mdbox, maildir->sdbox,
# mdbox->maildir; two-way sync maildir<->maildir where both sides have
# their own mail in same-named mailboxes (merged, §2.6).
# The kill points are fractions k/9 (k = 1..8) of a measured full run.
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/qa-common.sh"
qa_setup
GEN=$MF_TOP_SRCDIR/bench/gen-corpus
N=${QA_MESSAGES:-2000}
SEED_A=${QA_SEED:-4242}
SEED_B=$((SEED_A + 1))
KILLS=${QA_KILLS:-8}
echo "corpus: $N messages, seeds $SEED_A and $SEED_B, $KILLS kills per pair"
[ -x "$GEN" ] || { bad "bench/gen-corpus missing"; exit 1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# store NAME FORMAT made from a generated Maildir++ (seed, count)
gen_store() { # NAME SEED COUNT
	qa_store "$1" mdpp
	python3 "$GEN" --messages "$3" --folders 6 --seed "$2" "$T/$1/Maildir" > /dev/null 2>&1 ||
		bad "gen-corpus failed"
}

# "mailbox guid sha256" for every message (mailferry's reading)
mf_set() { # NAME OUT
	"$MF_BIN" $MFO -f json fetch "${LOC[$1]}" 'mailbox uid guid flags body.sha256 size.virtual' \
		2> "$T/fetch.err" | $QA_NORM mf-fetch > "$2.full"
	grep -q . "$T/fetch.err" && { bad "mailferry fetch $1:"; head -3 "$T/fetch.err"; }
	cut -f1,3,6 "$2.full" | LC_ALL=C sort > "$2"
}

# Dovecot's view of store NAME: no warning, no error, and force-resync
# prints nothing but the lines it prints for healthy stores too
dovecot_ok() { # NAME LABEL
	local n=$1 label=$2 extra
	dca "$n" mailbox status 'messages uidnext' '*' > /dev/null
	dca "$n" -f json fetch 'mailbox uid guid flags size.virtual date.received text' all |
		$QA_NORM dc-fetch | cut -f1,3 | LC_ALL=C sort > "$T/$n.dc"
	qa_pick_failed
	extra=$(qa_resync_lines "$n" | grep -v -e 'Rebuilding index$' -e 'storage: rebuilding indexes$' \
		-e 'fscking index file STORE/.*storage/dovecot.map.index$')
	[ -z "$extra" ] || { bad "$label: force-resync: $extra"; }
	dca "$n" -f json fetch 'mailbox uid guid flags size.virtual date.received text' all |
		$QA_NORM dc-fetch | cut -f1,3 | LC_ALL=C sort > "$T/$n.dc2"
	qa_pick_failed
	cmp -s "$T/$n.dc" "$T/$n.dc2" || bad "$label: Dovecot's view changed by force-resync"
}

# run CMD with 8 SIGKILLs, then to completion, then once more (no-op)
killed_runs() { # LABEL CMD...
	local label=$1 t0 full k d pid rc i
	shift
	for k in $(seq 1 $KILLS); do
		d=$((FULL_MS * k / (KILLS + 1)))
		"$@" > /dev/null 2> "$T/kill.err" &
		pid=$!
		sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
		kill -9 $pid 2> /dev/null
		{ wait $pid; } 2> /dev/null
		echo "  $label: kill $k after ${d} ms"
	done
	for i in 1 2 3; do
		"$@" > /dev/null 2> "$T/run.err"
		rc=$?
		[ $rc = 0 ] && break
		echo "  $label: run to completion $i: exit $rc: $(head -2 "$T/run.err")"
		[ $rc = 2 ] || break
	done
	[ $rc = 0 ] || bad "$label: run after the kills exits $rc"
	"$@" > /dev/null 2> "$T/run.err"
	rc=$?
	[ $rc = 0 ] && grep -q "$QA_NOOP" "$T/run.err"
	qa_check $? "$label: next run is a no-op ($(tail -1 "$T/run.err"))"
}

measure() { # CMD...: sets FULL_MS from one complete run
	local t0
	t0=$(now_ms)
	"$@" > /dev/null 2> "$T/run.err" || { bad "full run $*: $(head -2 "$T/run.err")"; }
	FULL_MS=$(($(now_ms) - t0))
	[ $FULL_MS -lt 40 ] && FULL_MS=40
	[ -n "${QA_FULL_MS:-}" ] && FULL_MS=$QA_FULL_MS
	echo "  full run: $FULL_MS ms"
}

gen_store src "$SEED_A" "$N"
mf_set src "$T/src.set"
[ "$(wc -l < "$T/src.set")" = "$N" ] || bad "source has $(wc -l < "$T/src.set") messages, not $N"
cut -f1,2 "$T/src.set" | uniq -d | grep -q . && bad "generated source has duplicate GUIDs"

one_way() { # DSTFORMAT [SRCNAME]
	local f=$1 s=${2:-src} label
	label="backup ${FMT[$s]} -> $f"
	qa_store "m-$f" "$f"
	measure "$MF_BIN" $MFO backup "${LOC[$s]}" "${LOC[m-$f]}"
	qa_store "k-$f-$s" "$f"
	killed_runs "$label" "$MF_BIN" $MFO backup "${LOC[$s]}" "${LOC[k-$f-$s]}"
	mf_set "$s" "$T/$s.set"
	mf_set "k-$f-$s" "$T/k.set"
	cmp -s "$T/$s.set" "$T/k.set"
	qa_check $? "$label: every message exactly once ($(wc -l < "$T/k.set"))" ||
		diff "$T/$s.set" "$T/k.set" | head -5
	cut -f1-5 "$T/$s.set.full" > "$T/a"
	cut -f1-5 "$T/k.set.full" > "$T/b"
	cmp -s "$T/a" "$T/b"
	qa_check $? "$label: same UIDs and flags as the source"
	dovecot_ok "k-$f-$s" "$label"
	cut -f1,2 "$T/k.set" | LC_ALL=C sort > "$T/a"
	cmp -s "$T/a" "$T/k-$f-$s.dc"
	qa_check $? "$label: Dovecot sees every message exactly once"
}

if [ -z "${QA_TWOWAY:-}" ]; then
	one_way mdbox
	one_way sdbox
	one_way mdpp m-mdbox
fi

# two-way (QA_TWOWAY=1, run by interrupt-twoway.sh, XFAIL: qa-findings.md
# #2): a pair synced before, then new mail on both sides. noconflicts: A
# gets new mail in INBOX, B in Sent, and flag changes. conflicts: both get
# new mail in the same folders, i.e. the same new UIDs (dsync renumbers
# both copies), and B a new folder.
newmail() { # NAME SEED COUNT [FOLDER]: drop generated mail into new/
	local dir=$T/$1/Maildir
	rm -rf "$T/gen"
	python3 "$GEN" --messages "$3" --folders 1 --seed "$2" "$T/gen" > /dev/null 2>&1
	[ -n "${4:-}" ] && dir=$dir/.$4 && mkdir -p "$dir/cur" "$dir/new" "$dir/tmp" && : > "$dir/maildirfolder"
	# as an MDA delivers: into new/, without flags (the generated file
	# names carry keyword letters of the generator's own dovecot-keywords,
	# which mean other keywords, or nothing, in this Maildir)
	local f
	for f in "$T/gen/cur/"*; do
		f=${f##*/}
		cp "$T/gen/cur/$f" "$dir/new/${f%%:*}"
	done
}
twoway_case() { # conflicts|noconflicts
	gen_store a "$SEED_A" $((N / 3))
	qa_store b mdpp
	"$MF_BIN" $MFO sync "${LOC[a]}" "${LOC[b]}" 2> "$T/err" || { bad "first sync:"; head -3 "$T/err"; }
	newmail a $((SEED_A + 2)) $((N / 3))
	if [ "$1" = conflicts ]; then
		newmail b $((SEED_A + 3)) $((N / 4))
		# (a folder created on one side, filled by the sync: the same
		# duplicates, qa-findings.md #2)
		newmail b $((SEED_A + 4)) $((N / 4)) Fresh
		label="sync mdpp <-> mdpp, new mail on both sides (UID conflicts)"
	else
		newmail b $((SEED_A + 3)) $((N / 4)) Sent
		dca b flags add '\Flagged $Label2' mailbox INBOX uid 1:50
		dca b flags remove '\Seen' mailbox INBOX uid 20:80
		label="sync mdpp <-> mdpp, new mail on both sides (no UID conflicts)"
	fi
	mf_set a "$T/a0.set"
	mf_set b "$T/b0.set"
	LC_ALL=C sort -u "$T/a0.set" "$T/b0.set" > "$T/union.set"
	rm -rf "$T/ma" "$T/mb"
	cp -a "$T/a" "$T/ma" && cp -a "$T/b" "$T/mb"
	LOC[ma]=${LOC[a]//\/a\//\/ma\/}
	LOC[mb]=${LOC[b]//\/b\//\/mb\/}
	FMT[ma]=mdpp FMT[mb]=mdpp
	measure "$MF_BIN" $MFO sync "${LOC[ma]}" "${LOC[mb]}"
	mf_set ma "$T/ma.set"
	cmp -s "$T/union.set" "$T/ma.set"
	qa_check $? "$label: (without kills) both sides hold the union once"
	killed_runs "$label" "$MF_BIN" $MFO sync "${LOC[a]}" "${LOC[b]}"
	mf_set a "$T/a.set"
	mf_set b "$T/b.set"
	cmp -s "$T/union.set" "$T/a.set" && cmp -s "$T/union.set" "$T/b.set"
	qa_check $? "$label: both sides hold the union, every message once ($(wc -l < "$T/union.set"))" ||
		{ echo "  side a: $(wc -l < "$T/a.set") messages, $(cut -f1,2 "$T/a.set" | uniq -d | wc -l) GUIDs more than once"
		  echo "  side b: $(wc -l < "$T/b.set") messages, $(cut -f1,2 "$T/b.set" | uniq -d | wc -l) GUIDs more than once"; }
	cut -f1-5 "$T/a.set.full" > "$T/x"
	cut -f1-5 "$T/b.set.full" > "$T/y"
	cmp -s "$T/x" "$T/y"
	qa_check $? "$label: both sides have the same UIDs and flags"
	dovecot_ok a "$label: side a"
	dovecot_ok b "$label: side b"
}

if [ -n "${QA_TWOWAY:-}" ]; then
	twoway_case noconflicts
	twoway_case conflicts
fi
exit $qa_fail
