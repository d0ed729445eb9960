# SPDX-License-Identifier: MIT
# tests/maildir/md-common.sh - helpers shared by the maildir shell tests.
# Source after tests/lib/dovecot.sh.

: "${MF_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MF_TOP_BUILDDIR:=$MF_TOP_SRCDIR}"
MAILFERRY=$MF_TOP_BUILDDIR/core/cli/mailferry
MDWRITER=$MF_TOP_BUILDDIR/tests/maildir/md-writer
if [ -z "${MAILFERRY_DRIVER_PATH:-}" ]; then
	MAILFERRY_DRIVER_PATH=$MF_TOP_BUILDDIR/plugins/maildir/.libs
	MAILFERRY_SKIP_DEFAULT_DIR=1
	LD_BIND_NOW=1
	export MAILFERRY_DRIVER_PATH MAILFERRY_SKIP_DEFAULT_DIR LD_BIND_NOW
fi
# doveadm prints local time; make both sides agree
TZ=UTC
export TZ

md_fail=0
md_check() { # NAME: prints ok/FAIL from the last command's status
	if [ "$1" = 0 ]; then
		echo "ok: $2"
	else
		echo "FAIL: $2"
		md_fail=1
	fi
}

# Fields compared between doveadm and mailferry, message by message.
MD_FIELDS='mailbox uid guid flags size.physical size.virtual date.received text'
MD_STATUS='messages uidvalidity uidnext guid highestmodseq'

# "NAME k=v k=v" lines with the fields sorted, lines sorted.
md_norm_status() {
	awk '{ name=$0; sub(/ [a-z_]+=.*$/, "", name); rest=substr($0, length(name)+2);
	       n=split(rest, f, " "); for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (f[j]<f[i]) {t=f[i];f[i]=f[j];f[j]=t}
	       line=name; for (i=1;i<=n;i++) line=line " " f[i]; print line }' | LC_ALL=C sort
}

# md_compare LOCATION LABEL [FIELDS]: doveadm and mailferry agree on every
# selectable mailbox's status and messages.
md_compare() {
	local loc=$1 label=$2 fields=${3:-$MD_FIELDS} box rc=0
	dc_doveadm mailbox status "$MD_STATUS" '*' | md_norm_status > "$DC_ROOT/st.dc"
	"$MAILFERRY" mailbox status "$loc" "$MD_STATUS" | md_norm_status > "$DC_ROOT/st.mf"
	if ! diff -u "$DC_ROOT/st.dc" "$DC_ROOT/st.mf"; then rc=1; fi
	while read -r box; do
		dc_doveadm fetch "$fields" mailbox "$box" > "$DC_ROOT/f.dc"
		"$MAILFERRY" fetch "$loc" "$fields" mailbox "$box" > "$DC_ROOT/f.mf"
		if ! cmp -s "$DC_ROOT/f.dc" "$DC_ROOT/f.mf"; then
			echo "mailbox $box differs:"
			diff -u "$DC_ROOT/f.dc" "$DC_ROOT/f.mf" | head -40
			rc=1
		fi
	done < <(cut -d' ' -f1 "$DC_ROOT/st.dc")
	md_check $rc "$label: doveadm and mailferry agree ($(wc -l < "$DC_ROOT/st.dc") mailboxes)"
}

# md_gen_msgs DIR N: N varied messages (LF, CRLF, no final newline,
# 8-bit, long lines) generated deterministically.
md_gen_msgs() {
	local dir=$1 n=$2 i
	mkdir -p "$dir"
	for i in $(seq 1 "$n"); do
		{
			printf 'From: sender%d@example.org\n' "$i"
			printf 'To: rcpt@example.com\n'
			printf 'Subject: message %d äöü\n' "$i"
			printf 'Message-ID: <gen-%d@example.org>\n' "$i"
			printf 'Date: Mon, 2 Nov 2026 10:%02d:00 +0000\n\n' $((i % 60))
			printf 'body line %d\n' "$i"
			head -c $((i * 37 % 3000)) /dev/zero | tr '\0' 'x'
			printf '\n'
		} > "$dir/msg$i.eml"
		case $((i % 4)) in
		1) sed -i 's/$/\r/' "$dir/msg$i.eml" ;;
		2) printf 'no final newline' >> "$dir/msg$i.eml" ;;
		esac
	done
}
