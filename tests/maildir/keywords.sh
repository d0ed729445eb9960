#!/bin/bash
# SPDX-License-Identifier: MIT
# Keywords beyond the 26 file name letters: Dovecot keeps those only in
# dovecot.index (keyword records, per-message bits). mailferry reads them
# merged with the letters, and writes them there when it saves or changes
# more keywords than letters are free; Dovecot must show the same
# keywords, and changes on either side must reach the other.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
trap dc_cleanup EXIT

dc_init kw "maildir:@ROOT@/Maildir"
root=$DC_ROOT
M=$root/Maildir
loc="maildir:$M"
md_gen_msgs "$root/msgs" 4
for i in 1 2 3; do
	dc_as_user sh -c "doveadm -c $root/dovecot.conf save -m INBOX < $root/msgs/msg$i.eml"
done
kws() { seq -f "kw%02g" -s "$1" "$2" "$3"; }
# kw01..kw26 get the letters, kw27..kw30 only the index
dc_doveadm flags add "$(kws ' ' 1 30)" mailbox INBOX uid 1
dc_doveadm flags add 'kw28 kw02 \Seen' mailbox INBOX uid 2
[ "$(wc -l < "$M/dovecot-keywords")" = 26 ]
md_check $? "Dovecot gave 26 letters, the rest is in its index"
"$MAILFERRY" fetch "$loc" 'uid keywords' mailbox INBOX uid 1 > "$root/f1"
[ "$(grep -o 'kw[0-9]*' "$root/f1" | wc -l)" = 30 ]
md_check $? "mailferry reads all 30 keywords of UID 1"
md_compare "$loc" "Dovecot's keywords"

hm=$("$MAILFERRY" mailbox status "$loc" highestmodseq INBOX | sed 's/.*=//')
"$MDWRITER" "$loc" > "$root/w.out" <<EOS
begin INBOX
flags 1 remove - kw28,kw03
flags 1 add - kw31,kw32
flags 2 replace Flagged kw29,kw30,kw05,kw33
flags 3 add Answered kw27
save $root/msgs/msg4.eml flags=Seen kw=kw01,kw29,kw34,new1
commit
begin INBOX sync
copy . 1 uid=20 flags=Seen kw=$(kws , 1 2),$(kws , 4 27),kw29,kw30,kw31,kw32
expunge 1
commit
EOS
md_check $? "mailferry's changes committed ($(tr '\n' ' ' < "$root/w.out"))"
want() { # UID KEYWORDS...: Dovecot's keywords of UID are these
	local uid=$1
	shift
	dc_doveadm fetch flags mailbox INBOX uid "$uid" |
		sed -n 's/^flags: //p' | tr ' ' '\n' | sed '/^$/d; /^\\/d' |
		LC_ALL=C sort > "$root/have"
	printf '%s\n' "$@" | LC_ALL=C sort > "$root/want"
	diff "$root/want" "$root/have" > "$root/kwdiff" || {
		echo "UID $uid:"
		cat "$root/kwdiff"
		return 1
	}
}
want 20 $(kws ' ' 1 2) $(kws ' ' 4 27) kw29 kw30 kw31 kw32
md_check $? "Dovecot: moved UID 20 has every keyword (letters and index-only)"
want 2 kw29 kw30 kw05 kw33
md_check $? "Dovecot: replace on UID 2 (index-only kw28 and letter kw02 dropped)"
want 3 kw27
md_check $? "Dovecot: index-only keyword added to UID 3"
want 4 kw01 kw29 kw34 new1
md_check $? "Dovecot: saved UID 4 with index-only keywords"
md_compare "$loc" "after mailferry's keyword changes"
printf 'changes INBOX %s\n' "$hm" | "$MDWRITER" "$loc" > "$root/ch"
grep -q '^changed: 2 ' "$root/ch" && grep -q '^changed: 3 ' "$root/ch"
md_check $? "changes since $hm list the keyword changes: $(tr '\n' ';' < "$root/ch")"

# Dovecot changes index-only keywords; mailferry sees it
hm=$("$MAILFERRY" mailbox status "$loc" highestmodseq INBOX | sed 's/.*=//')
dc_doveadm flags remove 'kw30' mailbox INBOX uid 20
dc_doveadm flags add 'kw40' mailbox INBOX uid 3
md_compare "$loc" "after Dovecot's keyword changes"
printf 'changes INBOX %s\n' "$hm" | "$MDWRITER" "$loc" > "$root/ch"
grep -q '^changed: 20 ' "$root/ch" && grep -q '^changed: 3 ' "$root/ch"
md_check $? "changes since $hm list Dovecot's changes: $(tr '\n' ';' < "$root/ch")"
# a rescan by mailferry keeps them (its index sync leaves them alone)
touch "$M/cur"
printf 'begin INBOX\nflags 2 add Seen\ncommit\n' | "$MDWRITER" "$loc" > /dev/null
want 3 kw27 kw40
md_check $? "a mailferry sync keeps index-only keywords it did not change"
md_compare "$loc" "at the end"

# a letter dovecot-keywords does not map (its name was lost): Dovecot
# calls it unknown-<n> and keeps the letter taken; so do we
dc_init kwu "maildir:@ROOT@/Maildir"
root=$DC_ROOT
M=$root/Maildir
loc="maildir:$M"
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf '0 known\n' > "$M/dovecot-keywords"
cp "$root/../kw/msgs/msg1.eml" "$M/cur/1700000001.M1P1.host:2,Sac"
cp "$root/../kw/msgs/msg2.eml" "$M/cur/1700000002.M2P1.host:2,"
"$MAILFERRY" fetch "$loc" 'uid flags' mailbox INBOX uid 1 > "$root/f"
grep -q '^flags: .*known unknown-2' "$root/f"
md_check $? "a letter without a name reads as unknown-2: $(grep flags "$root/f")"
printf 'begin INBOX\nflags 2 add - brandnew\ncommit\n' | "$MDWRITER" "$loc" > /dev/null
grep -q '^2 unknown-2$' "$M/dovecot-keywords" && ! ls "$M/cur" | grep -q 'M2P1.host:2,c$'
md_check $? "its letter stays taken: a new keyword gets another ($(ls "$M/cur" | tr '\n' ' '))"
md_compare "$loc" "unknown letters"
exit $md_fail
