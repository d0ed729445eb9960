# SPDX-License-Identifier: MIT
# Helpers shared by the dbox interop tests (sourced).
. "$MF_TOP_SRCDIR/tests/lib/dovecot.sh"

B=$MF_TOP_BUILDDIR
MF="$B/core/cli/mailferry -o mail_fsync=never"
PUT="$B/tests/dbox/dbox-put -o mail_fsync=never"
DATA=$MF_TOP_SRCDIR/tests/dbox/data
CORPUS=$MF_TOP_SRCDIR/tests/data/corpus/notmuch
FIELDS='mailbox uid guid flags size.virtual size.physical date.received pop3.uidl pop3.order text'
# mdbox stores the save date; sdbox's is the file's ctime, which any chown
# changes (Dovecot caches it, so the two can differ by design)
fields_for() { # FMT
	FIELDS="${FIELDS// date.saved/}"
	if [ "$1" = mdbox ]; then
		FIELDS="${FIELDS% text} date.saved text"
	fi
}
fail=0

[ -x "$B/core/cli/mailferry" ] || { echo "mailferry not built"; exit 1; }

# Normalise fetch output: Dovecot adds \Recent (a session flag mailferry
# does not report) and separates messages with form feeds.
norm() {
	# one message per line, sorted (the programs list mailboxes in
	# different orders), then back to lines
	awk 'BEGIN { RS = "\f\n" } { gsub(/\n/, "\001"); print }' | sort |
	tr '\001' '\n' |
	sed -e 's/ \\Recent//; s/^\\Recent //; s/\\Recent$//' -e '/^\f*$/d' -e 's/ *$//'
}

# dc_doveadm, failing on anything on stderr (Dovecot logs warnings there)
dcq() {
	local err
	err=$(mktemp)
	if ! dc_doveadm "$@" 2>"$err"; then
		{ echo "FAIL: doveadm $* exited non-zero:"; head -4 "$err"; } >&2
		: > "$DC_BASE/.failed"
		fail=1
	elif [ -s "$err" ]; then
		{ echo "FAIL: doveadm $* warned:"; head -4 "$err"; } >&2
		: > "$DC_BASE/.failed"
		fail=1
	fi
	rm -f "$err"
}

# doveadm force-resync, minus the lines it prints for every healthy store
# too (checked against Dovecot-written stores: sdbox "Rebuilding index",
# mdbox "fscking index file ...map.index" and "rebuilding indexes");
# anything else it says (e.g. "Inconsistency in map index") is a problem.
resync_output() { # MAILBOX-MASK
	dc_doveadm force-resync "$1" 2>&1 |
		grep -v -e 'Rebuilding index$' -e 'storage: rebuilding indexes$' \
			-e 'fscking index file .*/storage/dovecot.map.index$'
}

# dcq may run in a pipeline (a subshell): pick up its failures here
check_failed() {
	if [ -e "$DC_BASE/.failed" ]; then
		fail=1
		rm -f "$DC_BASE/.failed"
	fi
}

# compare doveadm fetch and mailferry fetch of the store $1 (location)
compare_fetch() {
	local loc=$1 what=$2
	dcq fetch "$FIELDS" all | norm > "$DC_ROOT/dc.out"
	$MF fetch "$loc" "$FIELDS" | norm > "$DC_ROOT/mf.out" || fail=1
	if ! cmp -s "$DC_ROOT/dc.out" "$DC_ROOT/mf.out"; then
		echo "FAIL: $what: doveadm fetch and mailferry fetch differ:"
		diff "$DC_ROOT/dc.out" "$DC_ROOT/mf.out" | head -20
		fail=1
	fi
	dcq mailbox status 'messages uidnext uidvalidity guid' '*' | sort \
		> "$DC_ROOT/dc.st"
	$MF mailbox status "$loc" 'messages uidnext uidvalidity guid' '*' |
		sort > "$DC_ROOT/mf.st" || fail=1
	if ! cmp -s "$DC_ROOT/dc.st" "$DC_ROOT/mf.st"; then
		echo "FAIL: $what: mailbox status differs:"
		diff "$DC_ROOT/dc.st" "$DC_ROOT/mf.st"
		fail=1
	fi
	check_failed
}

# The script writing the test store through dbox-put: nested non-ASCII
# names, keywords, sparse and wanted UIDs, hex and non-hex GUIDs, POP3
# data, subscriptions, real mail from the notmuch corpus.
store_script() {
	cat <<EOS
create INBOX uidvalidity=1234567890 guid=00112233445566778899aabbccddeeff
create Entwürfe/Sub
create A&B
create Lists/dev
save INBOX $DATA/msg1.eml uid=5 flags=S kw=\$Label1,Junk received=1700000000 guid=a0000000000000000000000000000001
save INBOX $DATA/msg1.eml uid=9 flags=FR received=1700000001
save INBOX $DATA/msg1.eml flags=D kw=Work guid=1700000000.M1P2.host pop3=UIDL-1 order=3
save Entwürfe/Sub $DATA/msg1.eml guid=b0000000000000000000000000000002 flags=SD
save A&B $DATA/msg1.eml
subscribe INBOX
subscribe Entwürfe/Sub
subscribe Lists/dev
flags INBOX 9 add T kw=later
flags INBOX 5 remove S kw=Junk
flags INBOX 10 replace S kw=one,two
expunge A&B 1
EOS
	(cd "$CORPUS" && find . -mindepth 2 -type f |
		sed 's|^\./||; s|/[^/]*$||' | sort -u) |
	while read -r dir; do
		echo "create corpus/$dir"
		echo "savedir corpus/$dir $CORPUS/$dir flags=S"
	done
}
