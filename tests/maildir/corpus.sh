#!/bin/bash
# SPDX-License-Identifier: MIT
# Real mail (tests/data/corpus/notmuch) and a generated corpus (CRLF, no
# final newline, empty, 8-bit, large) go through save -> fetch
# byte-identical, in both layouts; hard-link copies (save_from_path) keep
# the bytes too, and Dovecot reads the same bytes back.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT

CORPUS=$MF_TOP_SRCDIR/tests/data/corpus/notmuch

run_layout() {
	local name=$1 opt=$2 root loc n
	dc_init "$name" "maildir:@ROOT@/Maildir$opt"
	root=$DC_ROOT
	loc="maildir:$root/Maildir$opt"
	md_gen_msgs "$root/gen" 40
	: > "$root/gen/zz-empty.eml"
	head -c 3000000 /dev/urandom | base64 > "$root/gen/zz-large.eml"
	printf 'create Real\nbegin Real\nsaveall %s\ncommit\ncreate Gen\nbegin Gen\nsaveall %s\ncommit\n' \
		"$CORPUS" "$root/gen" | "$MDWRITER" "$loc" > "$root/w.out" 2> "$root/w.err"
	md_check $? "$name: saved the corpora"
	for box in Real Gen; do
		# expected: the files in save order, as sha256 lines
		awk -v b="$box" '/^file: /{print substr($0, 7)}' "$root/w.out" |
			{ if [ "$box" = Real ]; then grep "^$CORPUS/"; else grep -v "^$CORPUS/"; fi; } |
			while read -r f; do sha256sum < "$f" | cut -d' ' -f1; done > "$root/exp.$box"
		"$MAILFERRY" fetch "$loc" 'body.sha256' mailbox "$box" |
			sed -n 's/^body.sha256: //p' > "$root/got.$box"
		n=$(wc -l < "$root/exp.$box")
		[ "$n" -gt 0 ] && cmp -s "$root/exp.$box" "$root/got.$box"
		md_check $? "$name: $box: $n messages byte-identical after save + fetch"
	done
	# Dovecot returns the same bytes (text) as mailferry
	dc_doveadm fetch 'uid text' mailbox Real > "$root/real.dc"
	"$MAILFERRY" fetch "$loc" 'uid text' mailbox Real > "$root/real.mf"
	cmp -s "$root/real.dc" "$root/real.mf"
	md_check $? "$name: Dovecot reads the real corpus byte-identical"
	md_compare "$loc" "$name corpora"

	# hard-link copies from another maildir on the same filesystem
	local src first
	src=$(ls "$root"/Maildir$([ -n "$opt" ] && echo /Gen || echo /.Gen)/{cur,new}/* 2>/dev/null | head -3)
	{
		echo "create Linked"
		echo "begin Linked"
		for f in $src; do echo "link $f flags=Seen"; done
		echo commit
	} | "$MDWRITER" "$loc" > /dev/null
	md_check $? "$name: save_from_path"
	first=$(echo "$src" | head -1)
	[ "$(stat -c %h "$first")" = 2 ]
	md_check $? "$name: save_from_path made a hard link"
	for f in $src; do sha256sum < "$f" | cut -d' ' -f1; done > "$root/exp.link"
	"$MAILFERRY" fetch "$loc" 'body.sha256' mailbox Linked |
		sed -n 's/^body.sha256: //p' > "$root/got.link"
	cmp -s "$root/exp.link" "$root/got.link"
	md_check $? "$name: linked messages byte-identical"
	md_compare "$loc" "$name with hard links"
}

run_layout pp ""
run_layout fs ":LAYOUT=fs"
exit $md_fail
