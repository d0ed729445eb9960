#!/bin/bash
# SPDX-License-Identifier: MIT
# Ownership and modes of what mailferry creates, as Dovecot would make
# them: an admin runs `mailferry backup` (and saves through the driver) as
# root into stores whose root directory belongs to the mail user (nobody,
# group nogroup, mode 0750, and a setgid 02770 variant). Every file and
# directory mailferry creates must belong to nobody:nogroup with the modes
# derived from the root (directories its mode, files the same without x
# bits), and Dovecot running as nobody -- without anyone fixing the tree
# first -- must read and change everything: fetch, flags, expunge, save,
# create, rename, force-resync. Then mailferry runs again on Dovecot's
# changes, and Dovecot once more. Maildir (both layouts), sdbox and mdbox.
set -u
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/lib/dovecot.sh"
. "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/maildir/md-common.sh"
dc_require
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (mailferry must run as root, Dovecot as $DC_USER)"
	exit 77
fi
trap dc_cleanup EXIT
for d in sdbox mdbox; do
	case ":$MAILFERRY_DRIVER_PATH:" in
	*"/plugins/$d/.libs:"*) ;;
	*) MAILFERRY_DRIVER_PATH=$MAILFERRY_DRIVER_PATH:$MF_TOP_BUILDDIR/plugins/$d/.libs ;;
	esac
done
export MAILFERRY_DRIVER_PATH

# The source: a Maildir written by Dovecot, with subscriptions and several
# mailboxes.
dc_init src "maildir:@ROOT@/Maildir"
SRC=$DC_ROOT
md_gen_msgs "$SRC/msgs" 8
chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
dc_doveadm mailbox create Work 'Work/Sub' 'Wörk'
for i in 1 2 3 4 5 6; do
	box=INBOX
	[ $i -gt 3 ] && box=Work/Sub
	dc_as_user sh -c "doveadm -c $SRC/dovecot.conf save -m $box < $SRC/msgs/msg$i.eml"
done
dc_doveadm flags add '\Seen $Label1' mailbox INBOX uid 1
dc_doveadm mailbox subscribe INBOX Work/Sub

# Every destination is configured before mailferry runs: dc_init hands the
# whole test tree to nobody, which must not happen afterwards.
names=()
declare -A LOC MODE
add_dest() { # NAME DRIVER-LOCATION-TEMPLATE ROOTMODE
	dc_init "$1" "$2"
	names+=("$1")
	LOC[$1]=${2//@ROOT@/$DC_ROOT}
	MODE[$1]=$3
}
add_dest md-pp "maildir:@ROOT@/Maildir" 0750
add_dest md-fs "maildir:@ROOT@/Maildir:LAYOUT=fs" 0750
add_dest sdbox "sdbox:@ROOT@/Maildir" 0750
add_dest mdbox "mdbox:@ROOT@/Maildir" 0750
add_dest md-sgid "maildir:@ROOT@/Maildir" 2770
add_dest mdbox-sgid "mdbox:@ROOT@/Maildir" 2770
for n in "${names[@]}"; do
	root=$DC_BASE/$n/Maildir
	mkdir "$root"
	chown "$DC_USER:$DC_GROUP" "$root"
	chmod "${MODE[$n]}" "$root"
done
# from here on nothing is chowned behind mailferry's back
touch "$DC_BASE/start"

# check_tree NAME LABEL: everything under the root belongs to nobody:nogroup
# with the modes the root hands down
check_tree() {
	local n=$1 root=$DC_BASE/$1/Maildir mode dmode fmode bad
	mode=${MODE[$n]}
	dmode=$(printf '%o' $((8#$mode & 8#7777)))
	fmode=$(printf '%o' $(((8#$mode & 8#666) | 8#600)))
	bad=$(find "$root" -mindepth 1 \( \
		\( \! -user "$DC_USER" \) -o \( \! -group "$DC_GROUP" \) -o \
		\( -type d \! -perm "$dmode" \) -o \
		\( -type f \! -name 'dovecot-uidvalidity.*' \! -perm "$fmode" \) -o \
		\( -type f -name 'dovecot-uidvalidity.*' \! -perm 444 \) \
		\) -printf '%M %u:%g %p\n')
	[ -z "$bad" ] && [ -n "$(find "$root" -mindepth 1 -newer "$DC_BASE/start" -type f)" ]
	md_check $? "$n: $2: every file owned by $DC_USER:$DC_GROUP, dirs $dmode, files $fmode ($(find "$root" -mindepth 1 | wc -l) entries)"
	[ -n "$bad" ] && echo "$bad" | head -10
}

# dovecot_works NAME LABEL: Dovecot as nobody, on the tree as mailferry
# left it, reads everything and can change everything
dovecot_works() {
	local n=$1 rc=0 out=$DC_BASE/$1/dc.out
	DC_ROOT=$DC_BASE/$n
	: > "$out"
	{
		dc_doveadm_asis mailbox status 'messages uidnext' '*' &&
			dc_doveadm_asis fetch 'mailbox uid flags text' all > /dev/null &&
			dc_doveadm_asis flags add '\Answered NewKw' mailbox INBOX all &&
			dc_doveadm_asis expunge mailbox Work/Sub uid 1 &&
			dc_doveadm_asis mailbox create "New$2" &&
			dc_as_user_asis sh -c "doveadm -c $DC_ROOT/dovecot.conf save -m New$2 < $SRC/msgs/msg7.eml" &&
			dc_doveadm_asis mailbox rename "New$2" "Renamed$2" &&
			dc_doveadm_asis mailbox subscribe "Renamed$2" &&
			dc_doveadm_asis force-resync '*'
	} >> "$out" 2>&1 || rc=1
	if grep -qi 'permission denied\|EACCES\|failed' "$out"; then rc=1; fi
	md_check $rc "$n: $2: Dovecot as $DC_USER reads and changes it all"
	[ $rc = 0 ] || head -20 "$out"
}

for n in "${names[@]}"; do
	"$MAILFERRY" backup "maildir:$SRC/Maildir" "${LOC[$n]}"
	md_check $? "$n: mailferry backup as root (exit 0)"
	check_tree "$n" "after the backup"
	dovecot_works "$n" 1
	# mailferry again, now over what Dovecot created: what Dovecot
	# changed is reverted, mailferry's new files follow the same rules
	"$MAILFERRY" backup "maildir:$SRC/Maildir" "${LOC[$n]}"
	md_check $? "$n: second backup over Dovecot's changes (exit 0)"
	check_tree "$n" "after the second backup"
	dovecot_works "$n" 2
done

# saves through the driver into an existing store (not a backup): new
# mailbox, messages, flags, keywords, subscriptions
for n in md-pp sdbox; do
	"$MDWRITER" "${LOC[$n]}" > /dev/null <<EOS
create Saved
begin Saved
save $SRC/msgs/msg8.eml flags=Seen kw=Junk
commit
begin INBOX
save $SRC/msgs/msg1.eml
flags 1 add Flagged NewKw2
commit
subscribe Saved
EOS
	md_check $? "$n: saves through the driver as root (exit 0)"
	check_tree "$n" "after saving"
	dovecot_works "$n" 3
done
exit $md_fail
