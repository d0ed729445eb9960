#!/bin/bash
# SPDX-License-Identifier: MIT
# Compressed Maildir as Dovecot's zlib plugin keeps it (mail_plugins = zlib,
# plugin { zlib_save = zstd | gz }): every file is one compressed stream,
# recognised by its magic bytes, and its name carries the plain sizes.
#  - reading: a Maildir written by Dovecot with zstd and with gz reads in
#    mailferry exactly as doveadm shows it (sizes, bytes, flags, status),
#    also for compressed files whose names have no S=/W=;
#  - writing: `mailferry backup` with mail_compress / zlib_save writes
#    compressed files that Dovecot reads identically to the plain source;
#  - conversions: compressed Maildir -> sdbox / mdbox -> Maildir keeps
#    every byte;
#  - bad input: bzip2 mail (Dovecot can write it, we cannot read it) and a
#    truncated file fail with an error naming the file and the problem,
#    and the other messages are still copied.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT
for d in sdbox mdbox; do
	case ":$MAILFERRY_DRIVER_PATH:" in
	*"/plugins/$d/.libs:"*) ;;
	*) MAILFERRY_DRIVER_PATH=$MAILFERRY_DRIVER_PATH:$MF_TOP_BUILDDIR/plugins/$d/.libs ;;
	esac
done
export MAILFERRY_DRIVER_PATH

zconf() { # ALGO: the Dovecot configuration of the zlib plugin
	printf 'mail_plugins = zlib\nplugin {\n  zlib_save = %s\n}\n' "$1"
}
magic_of() { # ALGO: the first bytes of its files, in hex
	case $1 in zstd) echo 28b52ffd ;; gz) echo 1f8b ;; bz2) echo 425a68 ;; esac
}
# all_compressed DIR ALGO: every message file under DIR starts with the
# magic of ALGO (and there is at least one)
all_compressed() {
	local f n=0 bad=0 magic
	magic=$(magic_of "$2")
	while IFS= read -r -d '' f; do
		n=$((n + 1))
		[ "$(head -c ${#magic} "$f" | od -An -tx1 | tr -d ' \n' | head -c ${#magic})" = "$magic" ] ||
			{ echo "not $2: $f"; bad=1; }
	done < <(find "$1" \( -path '*/cur/*' -o -path '*/new/*' \) -type f -print0)
	[ $n -gt 0 ] && [ $bad = 0 ]
}
# names_have_plain_sizes DIR: S= of every file is its decompressed size
names_have_plain_sizes() {
	local f s n bad=0
	while IFS= read -r -d '' f; do
		s=$(basename "$f" | sed -n 's/.*,S=\([0-9]*\).*/\1/p')
		n=$( (zstd -dcq < "$f" 2> /dev/null || gzip -dc < "$f") | wc -c)
		[ "$s" = "$n" ] || { echo "$f: S=$s but $n plain bytes"; bad=1; }
	done < <(find "$1" \( -path '*/cur/*' -o -path '*/new/*' \) -type f -print0)
	[ $bad = 0 ]
}
# mf_view LOCATION: every message of every mailbox, by mailferry, with a
# hash of its bytes (\Recent depends on who looked first: left out)
mf_view() {
	"$MAILFERRY" fetch "$1" 'mailbox uid guid flags size.physical size.virtual date.received body.sha256' |
		tr '\f' '\n' | sed -e 's/ *\\Recent//' -e 's/ *$//'
}
# dc_view: the same, by doveadm, mailbox by mailbox (text instead of the
# hash doveadm does not have)
dc_view() {
	local box
	dc_doveadm mailbox list | LC_ALL=C sort | while read -r box; do
		dc_doveadm fetch "$MD_FIELDS" mailbox "$box"
	done
}

# A plain Maildir written by Dovecot: the source of the writing tests.
dc_init plain "maildir:@ROOT@/Maildir"
PLAIN=$DC_ROOT
md_gen_msgs "$PLAIN/msgs" 14
chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
dc_doveadm mailbox create Work 'Wörk/Sub'
for i in $(seq 1 14); do
	box=INBOX
	[ $i -gt 8 ] && box=Work
	[ $i -gt 12 ] && box='Wörk/Sub'
	dc_as_user sh -c "doveadm -c $PLAIN/dovecot.conf save -m '$box' < $PLAIN/msgs/msg$i.eml"
done
dc_doveadm flags add '\Seen $Label1' mailbox INBOX uid 1:3
dc_doveadm expunge mailbox INBOX uid 2
dc_view > "$DC_BASE/view.plain"

for algo in zstd gz; do
	# ---- reading what Dovecot wrote ----
	dc_init "dc-$algo" "maildir:@ROOT@/Maildir" "$(zconf $algo)"
	R=$DC_ROOT
	cp -a "$PLAIN/msgs" "$R/msgs"
	chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
	dc_doveadm mailbox create Work
	for i in $(seq 1 10); do
		box=INBOX
		[ $i -gt 6 ] && box=Work
		dc_as_user sh -c "doveadm -c $R/dovecot.conf save -m $box < $R/msgs/msg$i.eml"
	done
	dc_doveadm flags add '\Flagged Junk' mailbox INBOX uid 2:3
	dc_doveadm expunge mailbox Work uid 1
	all_compressed "$R/Maildir" $algo
	md_check $? "$algo: Dovecot wrote compressed files"
	# a compressed file without sizes in its name, as other tools leave
	# them: both sides must decompress it to know its sizes
	if [ $algo = zstd ]; then
		zstd -q -c < "$R/msgs/msg11.eml" > "$R/Maildir/new/1700000000.M1P1.other"
	else
		gzip -c < "$R/msgs/msg11.eml" > "$R/Maildir/new/1700000000.M1P1.other"
	fi
	md_compare "maildir:$R/Maildir" "$algo: Dovecot-written compressed Maildir"

	# ---- writing: backup of the plain store, compressed ----
	dc_init "mf-$algo" "maildir:@ROOT@/Maildir" "$(zconf $algo)"
	W=$DC_ROOT
	if [ $algo = zstd ]; then
		opts=(-o mail_compress=zstd -o mail_compress_level=19)
	else
		opts=(-o zlib_save=gz)
	fi
	"$MAILFERRY" "${opts[@]}" backup "maildir:$PLAIN/Maildir" "maildir:$W/Maildir"
	md_check $? "$algo: mailferry backup with ${opts[*]} (exit 0)"
	all_compressed "$W/Maildir" $algo
	md_check $? "$algo: mailferry wrote compressed files"
	names_have_plain_sizes "$W/Maildir"
	md_check $? "$algo: S= in the file names is the plain size"
	dc_view > "$DC_BASE/view.$algo"
	diff -u "$DC_BASE/view.plain" "$DC_BASE/view.$algo" | head -20
	grep -q '^uid: ' "$DC_BASE/view.plain" &&
		cmp -s "$DC_BASE/view.plain" "$DC_BASE/view.$algo"
	md_check $? "$algo: Dovecot reads mailferry's compressed Maildir as the plain source"
	md_compare "maildir:$W/Maildir" "$algo: mailferry-written compressed Maildir"
	# Dovecot and mailferry keep writing the same store
	dc_as_user sh -c "doveadm -c $W/dovecot.conf save -m Work < $PLAIN/msgs/msg1.eml"
	dc_doveadm flags add '\Answered' mailbox Work uid 1
	"$MAILFERRY" "${opts[@]}" backup "maildir:$PLAIN/Maildir" "maildir:$W/Maildir"
	md_check $? "$algo: incremental backup reverting Dovecot's changes (exit 0)"
	dc_view > "$DC_BASE/view.$algo.2"
	cmp -s "$DC_BASE/view.plain" "$DC_BASE/view.$algo.2"
	md_check $? "$algo: after the incremental backup Dovecot sees the source again"
	dc_doveadm force-resync '*' 2> "$DC_BASE/resync.err"
	dc_view > "$DC_BASE/view.$algo.3"
	cmp -s "$DC_BASE/view.plain" "$DC_BASE/view.$algo.3"
	md_check $? "$algo: doveadm force-resync changes nothing"
	# a copy inside the store shares the compressed file, as Dovecot's
	# maildir copy does, and reads as the original
	uid=$("$MDWRITER" "${opts[@]}" "maildir:$W/Maildir" <<EOS | sed -n 's/^uids: //p'
begin Work
copy INBOX 1
commit
EOS
)
	dc_doveadm fetch text mailbox INBOX uid 1 > "$DC_BASE/copy.orig"
	dc_doveadm fetch text mailbox Work uid "${uid:-0}" > "$DC_BASE/copy.new"
	[ -n "$uid" ] && [ -s "$DC_BASE/copy.orig" ] &&
		cmp -s "$DC_BASE/copy.orig" "$DC_BASE/copy.new" &&
		[ -n "$(find "$W/Maildir/.Work" -type f -links 2 -name '*,S=*')" ]
	md_check $? "$algo: copy of a compressed message is a hard link Dovecot reads as the original"
	md_compare "maildir:$W/Maildir" "$algo: after the copy"

	# ---- conversions keep the bytes ----
	mf_view "maildir:$R/Maildir" > "$DC_BASE/mf.$algo"
	for fmt in sdbox mdbox; do
		"$MAILFERRY" backup "maildir:$R/Maildir" "$fmt:$DC_BASE/$fmt-$algo" &&
			"$MAILFERRY" backup "$fmt:$DC_BASE/$fmt-$algo" "maildir:$DC_BASE/back-$fmt-$algo"
		md_check $? "$algo: compressed Maildir -> $fmt -> Maildir (exit 0)"
		mf_view "$fmt:$DC_BASE/$fmt-$algo" > "$DC_BASE/mf.$fmt"
		mf_view "maildir:$DC_BASE/back-$fmt-$algo" > "$DC_BASE/mf.back"
		diff -u "$DC_BASE/mf.$algo" "$DC_BASE/mf.$fmt" | head -20
		diff -u "$DC_BASE/mf.$algo" "$DC_BASE/mf.back" | head -20
		grep -q '^body.sha256: [0-9a-f]\{64\}$' "$DC_BASE/mf.$algo" &&
			cmp -s "$DC_BASE/mf.$algo" "$DC_BASE/mf.$fmt" &&
			cmp -s "$DC_BASE/mf.$algo" "$DC_BASE/mf.back"
		md_check $? "$algo: $fmt and the Maildir made from it hold the same bytes ($(grep -c '^uid:' "$DC_BASE/mf.$algo") messages)"
	done
done

# ---- bad settings: refused, naming the setting ----
for set in "mail_compress=lz4:mail_compress = lz4" \
	"zlib_save=bz2:zlib_save = bz2" \
	"zlib_save=zstd zlib_save_level=99:zlib_save_level = 99"; do
	args=()
	for kv in ${set%%:*}; do args+=(-o "$kv"); done
	"$MAILFERRY" "${args[@]}" mailbox list "maildir:$PLAIN/Maildir" > /dev/null 2> "$DC_BASE/err"
	rc=$?
	[ $rc != 0 ] && grep -qF "${set#*:}" "$DC_BASE/err"
	md_check $? "setting ${set%%:*} refused (exit $rc): $(cat "$DC_BASE/err")"
done

# ---- bad input ----
dc_init bad "maildir:@ROOT@/Maildir" "$(zconf bz2)"
B=$DC_ROOT
dc_doveadm mailbox create Work
for i in 1 2; do
	dc_as_user sh -c "doveadm -c $B/dovecot.conf save -m INBOX < $PLAIN/msgs/msg$i.eml"
done
all_compressed "$B/Maildir" bz2
md_check $? "bz2: Dovecot wrote bzip2 files"
dc_init bad "maildir:@ROOT@/Maildir" "$(zconf zstd)"
dc_as_user sh -c "doveadm -c $B/dovecot.conf save -m Work < $PLAIN/msgs/msg3.eml"
dc_as_user sh -c "doveadm -c $B/dovecot.conf save -m Work < $PLAIN/msgs/msg4.eml"
bzfile=$(find "$B/Maildir/cur" "$B/Maildir/new" -type f | head -1)
"$MAILFERRY" fetch "maildir:$B/Maildir" text mailbox INBOX > /dev/null 2> "$DC_BASE/err"
rc=$?
[ $rc != 0 ] && grep -q "$(basename "$bzfile")" "$DC_BASE/err" &&
	grep -q 'bzip2-compressed mail is not supported' "$DC_BASE/err"
md_check $? "bz2: reading fails naming the file and the format (exit $rc)"
cat "$DC_BASE/err"
# truncate one zstd message of Work (its name still says the plain size)
zfile=$(find "$B/Maildir/.Work/cur" "$B/Maildir/.Work/new" -type f | sort | head -1)
truncate -s 40 "$zfile"
"$MAILFERRY" fetch "maildir:$B/Maildir" text mailbox Work > /dev/null 2> "$DC_BASE/err"
rc=$?
[ $rc != 0 ] && grep -q "$(basename "$zfile")" "$DC_BASE/err" &&
	grep -q 'truncated' "$DC_BASE/err"
md_check $? "truncated zstd file: reading fails naming the file (exit $rc)"
cat "$DC_BASE/err"
# a backup stops at the unreadable mail, says which it is, and leaves
# the source as it was
# (the message files: reading may update indexes, as Dovecot's does)
msg_sums() {
	find "$B/Maildir" \( -path '*/cur/*' -o -path '*/new/*' \) -type f \
		-exec sha256sum {} + | cut -d" " -f1 | sort
}
msg_sums > "$DC_BASE/src.before"
"$MAILFERRY" backup "maildir:$B/Maildir" "sdbox:$DC_BASE/bad-copy" 2> "$DC_BASE/err"
rc=$?
msg_sums > "$DC_BASE/src.after"
[ $rc != 0 ] && grep -q "$B/Maildir/new/.*: bzip2-compressed" "$DC_BASE/err" &&
	cmp -s "$DC_BASE/src.before" "$DC_BASE/src.after"
md_check $? "backup with unreadable mail fails (exit $rc), names it, source unchanged"
cat "$DC_BASE/err"
exit $md_fail
