# SPDX-License-Identifier: MIT
# tests/interop/qa-common.sh - helpers shared by the QA interop tests
# (sourced). Every store gets its own private Dovecot configuration (a
# dc_init root); the state of a store is what the real Dovecot reports
# (doveadm fetch/status/list) plus the exact stored bytes as mailferry
# reads them (body.sha256), normalised by qa-norm.py.
set -u
: "${MF_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MF_TOP_BUILDDIR:=$MF_TOP_SRCDIR}"
. "$MF_TOP_SRCDIR/tests/lib/dovecot.sh"

MF_BIN=$MF_TOP_BUILDDIR/core/cli/mailferry
if [ -z "${MAILFERRY_DRIVER_PATH:-}" ]; then
	MAILFERRY_DRIVER_PATH=
	for d in maildir sdbox mdbox imapc; do
		MAILFERRY_DRIVER_PATH=$MAILFERRY_DRIVER_PATH:$MF_TOP_BUILDDIR/plugins/$d/.libs
	done
	MAILFERRY_DRIVER_PATH=${MAILFERRY_DRIVER_PATH#:}
	MAILFERRY_SKIP_DEFAULT_DIR=1
	LD_BIND_NOW=1
	export MAILFERRY_DRIVER_PATH MAILFERRY_SKIP_DEFAULT_DIR LD_BIND_NOW
fi
# doveadm prints local time
TZ=UTC
export TZ
CORPUS=$MF_TOP_SRCDIR/tests/data/corpus/notmuch
QA_NORM="python3 $MF_TOP_SRCDIR/tests/interop/qa-norm.py"
MFO="-o mail_fsync=never"

dc_require
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 missing"; exit 77; }
[ -x "$MF_BIN" ] || { echo "FAIL: $MF_BIN not built"; exit 1; }

qa_fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; qa_fail=1; }
qa_check() { # STATUS LABEL: returns STATUS
	if [ "$1" = 0 ]; then ok "$2"; else bad "$2"; fi
	return "$1"
}

qa_setup() {
	DC_BASE=$(mktemp -d /tmp/mf-qa.XXXXXX)
	chmod 755 "$DC_BASE"
	T=$DC_BASE
	if [ -z "${KEEP:-}" ]; then trap dc_cleanup EXIT; else echo "keeping $T"; fi
}

# Formats: mdpp (Maildir++), mdfs (maildir LAYOUT=fs), sdbox, mdbox and
# sdboxz/mdboxz (mail_compress=zstd; Dovecot reads them with its zlib
# plugin).
declare -A LOC FMT
qa_store() { # NAME FORMAT: a fresh (not yet existing) store
	local name=$1 fmt=$2 dcloc extra=
	case $fmt in
	mdpp) dcloc="maildir:@ROOT@/Maildir" ;;
	mdfs) dcloc="maildir:@ROOT@/Maildir:LAYOUT=fs" ;;
	sdbox | sdboxz) dcloc="sdbox:@ROOT@/mail" ;;
	mdbox | mdboxz) dcloc="mdbox:@ROOT@/mail" ;;
	*) echo "qa_store: unknown format $fmt" >&2; exit 1 ;;
	esac
	case $fmt in *z) extra='mail_plugins = zlib' ;; esac
	rm -rf "${DC_BASE:?}/$name"
	dc_init "$name" "$dcloc" "$extra"
	LOC[$name]=${dcloc//@ROOT@/$DC_BASE/$name}
	FMT[$name]=$fmt
}

# mailferry options for writing into store NAME
mf_opts() {
	case ${FMT[$1]} in *z) echo "$MFO -o mail_compress=zstd" ;; *) echo "$MFO" ;; esac
}

# doveadm as nobody on store NAME. Like dc_doveadm, but hands only that
# store to nobody: chown -R of the whole test tree before every call grows
# with the number of stores and dominated the run time.
qa_doveadm() { # NAME ARGS...
	local name=$1
	shift
	chown -R "$DC_USER:$DC_GROUP" "$DC_BASE/$name"
	setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER=test \
		HOME="$DC_BASE/$name/home" doveadm -c "$DC_BASE/$name/dovecot.conf" "$@"
}

# doveadm on store NAME; anything on stderr or a non-zero exit is a failure
# (Dovecot logs every inconsistency it repairs there).
dca() { # NAME ARGS...
	local name=$1 rc
	shift
	qa_doveadm "$name" "$@" 2> "$DC_BASE/.dca.err"
	rc=$?
	if [ $rc != 0 ] || [ -s "$DC_BASE/.dca.err" ]; then
		echo "FAIL: doveadm $* on $name: exit $rc:" >&2
		head -5 "$DC_BASE/.dca.err" >&2
		: > "$DC_BASE/.failed"
	fi
	return $rc
}
qa_pick_failed() {
	if [ -e "$DC_BASE/.failed" ]; then qa_fail=1; rm -f "$DC_BASE/.failed"; fi
}

# qa_snapshot NAME OUT [quick]: OUT.list OUT.subs OUT.status OUT.fetch
# OUT.bytes (quick: status and fetch only)
qa_snapshot() {
	local name=$1 out=$2
	if [ -z "${3:-}" ]; then
		dca "$name" mailbox list | LC_ALL=C sort > "$out.list"
		dca "$name" mailbox list -s | LC_ALL=C sort > "$out.subs"
	fi
	dca "$name" mailbox status 'messages uidvalidity uidnext guid' '*' |
		$QA_NORM status > "$out.status"
	dca "$name" -f json fetch 'mailbox uid guid flags size.virtual date.received text' all |
		$QA_NORM dc-fetch > "$out.fetch"
	[ -n "${3:-}" ] && { qa_pick_failed; return; }
	# shellcheck disable=SC2046
	"$MF_BIN" $MFO -f json fetch "${LOC[$name]}" 'mailbox uid guid flags body.sha256 size.virtual' \
		2> "$DC_BASE/.mf.err" | $QA_NORM mf-fetch > "$out.bytes"
	# (the notes about CRLF and a missing final newline are expected)
	if grep -v -e 'message has CRLF line endings (stored as is)$' \
		-e 'message does not end with a newline$' -e 'empty message file$' \
		"$DC_BASE/.mf.err" > "$DC_BASE/.mf.err2"; then
		echo "FAIL: mailferry fetch on $name said:" >&2
		head -5 "$DC_BASE/.mf.err2" >&2
		: > "$DC_BASE/.failed"
	fi
	qa_pick_failed
}

# qa_same A B LABEL [KINDS]: snapshots A and B are equal
qa_same() {
	local a=$1 b=$2 label=$3 kinds=${4:-list subs status fetch bytes} k rc=0
	for k in $kinds; do
		if ! cmp -s "$a.$k" "$b.$k"; then
			echo "  $label: $k differs (< expected, > actual):"
			diff "$a.$k" "$b.$k" | head -12 | sed 's/^/    /'
			rc=1
		fi
	done
	qa_check $rc "$label"
	return $rc
}

# force-resync output of store NAME with the store path replaced by STORE,
# unique lines (how many times a line repeats depends on the mailbox count)
qa_resync_lines() { # NAME
	qa_doveadm "$1" force-resync '*' 2>&1 |
		sed -e "s|$DC_BASE/$1|STORE|g" -e 's/^doveadm([^)]*): //' | LC_ALL=C sort -u
}

# the summary line of a run that changed nothing
QA_NOOP='0 mailboxes created, 0 deleted, 0 renamed; 0 messages saved, 0 expunged, 0 flag changes'

# qa_drop DIR SEQ FLAGS < message: put a message into a maildir folder the
# way an MDA does (no Dovecot involved, bytes kept exactly), with a fixed
# name and mtime (= received date) so runs are reproducible.
qa_drop() {
	local dir=$1 seq=$2 fl=$3 f
	f=$(printf '%s/cur/%d.M%dP1.qa:2,%s' "$dir" $((1700000000 + seq)) "$seq" "$fl")
	cat > "$f"
	touch -d "@$((1700000000 + seq * 7))" "$f"
}

# the odd messages: CRLF, no final newline, NUL and 8-bit bytes, a form
# feed, an empty body, a 100 KB line, an empty file
qa_odd_messages() { # DIR FIRST-SEQ
	local d=$1 s=$2
	printf 'Subject: crlf\r\nMessage-ID: <crlf@qa>\r\n\r\nline 1\r\nline 2\r\n' | qa_drop "$d" $s S
	printf 'Subject: no final newline\nMessage-ID: <noeol@qa>\n\nlast line' | qa_drop "$d" $((s + 1)) ''
	printf 'Subject: nul \xe9\r\nMessage-ID: <nul@qa>\r\n\r\nnul\x00byte \xff\xfe\x01 form\x0cfeed\r\nno final' |
		qa_drop "$d" $((s + 2)) F
	printf 'Subject: header only\nMessage-ID: <hdr@qa>\n' | qa_drop "$d" $((s + 3)) ''
	{ printf 'Subject: long line\nMessage-ID: <long@qa>\n\n'; head -c 100000 /dev/zero | tr '\0' 'y'; } |
		qa_drop "$d" $((s + 4)) RS
	qa_drop "$d" $((s + 5)) '' < /dev/null
	printf 'From nobody\nSubject: mixed\r\nMessage-ID: <mixed@qa>\n\r\n\r\n.\r\nFrom here\n' | qa_drop "$d" $((s + 6)) ''
}

# qa_make_source NAME: a Maildir++ written by Dovecot: folders (nested,
# non-ASCII, '&', empty, \NoSelect parents), the notmuch corpus (dropped
# into cur/ as an MDA would), mail saved by doveadm, odd messages, flags,
# many keywords, subscriptions (also of a mailbox that does not exist)
# and expunges.
qa_make_source() {
	local name=$1 r i f b fl
	qa_store "$name" mdpp
	r=$DC_BASE/$name/Maildir
	dca "$name" mailbox create Work 'Entwürfe/Sub' 'A&B' 'Документы' \
		'Lists/dev/deep' Trash 'Empty box'
	dca "$name" mailbox status messages INBOX > /dev/null
	i=0
	while read -r f; do
		i=$((i + 1))
		case $f in
		lkml/*) b=.Lists.dev.deep ;;
		duplicate/* | broken/* | threading/*) b=.Work ;;
		*) b= ;;
		esac
		case $f in *:2,*S*) fl=S ;; *) fl= ;; esac
		qa_drop "$r/$b" $i "$fl" < "$CORPUS/$f"
	done < <(cd "$CORPUS" && find . -type f ! -name README | sed 's|^\./||' | LC_ALL=C sort |
		awk -v max="${QA_LKML:-40}" '!/^lkml/ || n++ < max')
	qa_odd_messages "$r" 1000
	for i in 1 2 3; do
		printf 'Subject: saved %d\nMessage-ID: <saved%d@qa>\n\nbody %d\n' $i $i $i |
			dca "$name" save -m 'Entwürfe/Sub'
		printf 'Subject: doc %d\nMessage-ID: <doc%d@qa>\n\nтекст %d\n' $i $i $i |
			dca "$name" save -m 'Документы'
		printf 'Subject: amp %d\n\nx\n' $i | dca "$name" save -m 'A&B'
	done
	dca "$name" flags add '\Seen $Label1' mailbox INBOX uid 1:20
	dca "$name" flags add '\Flagged Junk NonJunk $Forwarded' mailbox Work uid 2:9
	dca "$name" flags add '\Answered \Draft' mailbox 'Entwürfe/Sub' uid 1
	# (20: Maildir keeps at most 26 keywords per folder in file names,
	# more live only in dovecot.index; keywords-many.sh tests those)
	dca "$name" flags add "$(seq -f 'kw%02g' -s ' ' 1 20)" mailbox INBOX uid 5
	dca "$name" flags remove '\Seen' mailbox INBOX uid 3
	dca "$name" flags add '\Deleted' mailbox Work uid 10
	dca "$name" expunge mailbox INBOX uid 7:8
	dca "$name" expunge mailbox 'Lists/dev/deep' uid 1:3
	dca "$name" expunge mailbox 'A&B' uid 2
	dca "$name" mailbox subscribe INBOX Work 'Entwürfe/Sub' 'Документы' 'Gone/Away'
	qa_pick_failed
}
