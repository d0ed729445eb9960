#!/bin/bash
# SPDX-License-Identifier: MIT
# mailferry run as root creating a dbox store that did not exist: the new
# root, the directories made on the way to it and everything inside take
# the owner and group of the nearest existing parent directory (a backup
# into /home/alice/Mail/mdbox is alice's), so Dovecot running as that user
# works on it without anyone fixing the tree; under a root-owned parent the
# store stays root's. See doc/config.md, "Ownership and modes of what mailferry creates".
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
dc_require
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (mailferry must run as root, Dovecot as $DC_USER)"
	exit 77
fi
trap dc_cleanup EXIT
total_fail=0

# the source, written by mailferry
dc_init src "sdbox:@ROOT@/mail"
SRC=$DC_LOCATION
store_script | $PUT "$SRC" >/dev/null || { echo "FAIL: source not written"; exit 1; }
for fmt in sdbox mdbox; do
	dc_init "own-$fmt" "$fmt:@ROOT@/users/Mail/$fmt"
	eval "ROOT_$fmt=\$DC_ROOT"
done
# from here on nothing is chowned behind mailferry's back (dc_init hands
# the whole test tree to the mail user)
for fmt in sdbox mdbox; do
	eval "r=\$ROOT_$fmt"
	mkdir -m 0750 "$r/users"
	chown "$DC_USER:$DC_GROUP" "$r/users"
	mkdir -m 0755 "$r/roothome"
done
touch "$DC_BASE/start"

for fmt in sdbox mdbox; do
	fail=0
	eval "DC_ROOT=\$ROOT_$fmt"
	dest=$DC_ROOT/users/Mail/$fmt
	$MF backup "$SRC" "$fmt:$dest" || { echo "FAIL: $fmt: backup as root"; fail=1; }
	bad=$(find "$DC_ROOT/users" -mindepth 1 -newer "$DC_BASE/start" \
		\( \! -user "$DC_USER" -o \! -group "$DC_GROUP" \) -printf '%u:%g %p\n')
	n=$(find "$dest" -type f | wc -l)
	if [ -n "$bad" ] || [ "$n" -lt 10 ]; then
		echo "FAIL: $fmt: not all of the $n new files are $DC_USER:$DC_GROUP's:"
		echo "$bad" | head -5
		fail=1
	fi
	# Dovecot as the user, on the tree as mailferry left it
	{
		dc_doveadm_asis fetch 'mailbox uid guid flags' all > "$DC_ROOT/dc.out" &&
			dc_doveadm_asis flags add '\Answered' mailbox INBOX all &&
			dc_doveadm_asis expunge mailbox INBOX uid 5 &&
			dc_doveadm_asis mailbox create "New/Box" &&
			dc_as_user_asis sh -c "doveadm -c $DC_ROOT/dovecot.conf save -m New/Box < $DATA/msg1.eml" &&
			dc_doveadm_asis force-resync '*'
	} > "$DC_ROOT/dc.log" 2>&1 || { echo "FAIL: $fmt: Dovecot as $DC_USER:"; head -5 "$DC_ROOT/dc.log"; fail=1; }
	grep -qi 'permission denied\|eacces' "$DC_ROOT/dc.log" &&
		{ echo "FAIL: $fmt: Dovecot hit permissions:"; head -5 "$DC_ROOT/dc.log"; fail=1; }
	$MF fetch "$SRC" 'mailbox uid guid flags' | norm > "$DC_ROOT/src.out"
	norm < "$DC_ROOT/dc.out" > "$DC_ROOT/dst.out"
	cmp -s "$DC_ROOT/src.out" "$DC_ROOT/dst.out" ||
		{ echo "FAIL: $fmt: Dovecot reads other messages:"; diff "$DC_ROOT/src.out" "$DC_ROOT/dst.out" | head; fail=1; }
	# a second run into the existing store: the owner comes from its root
	$MF backup "$SRC" "$fmt:$dest" || { echo "FAIL: $fmt: second backup"; fail=1; }
	bad=$(find "$dest" \( \! -user "$DC_USER" -o \! -group "$DC_GROUP" \) -printf '%u:%g %p\n')
	[ -z "$bad" ] || { echo "FAIL: $fmt: after the second backup:"; echo "$bad" | head -5; fail=1; }
	# under a root-owned parent the store stays root's
	$MF backup "$SRC" "$fmt:$DC_ROOT/roothome/$fmt" || { echo "FAIL: $fmt: backup under root's dir"; fail=1; }
	bad=$(find "$DC_ROOT/roothome/$fmt" \! -user root -printf '%u:%g %p\n')
	[ -z "$bad" ] || { echo "FAIL: $fmt: under a root-owned parent:"; echo "$bad" | head -5; fail=1; }
	[ $fail = 0 ] && echo "ok: ownership-$fmt"
	total_fail=$((total_fail + fail))
done
[ $total_fail = 0 ] || exit 1
exit 0
