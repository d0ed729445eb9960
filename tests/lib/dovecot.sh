# SPDX-License-Identifier: MIT
# tests/lib/dovecot.sh - drive the real Dovecot 2.3 from shell tests.
#
# Source it, then:
#   dc_init NAME LOCATION [EXTRA_CONFIG]   # private config under $DC_ROOT
#   dc_doveadm ARGS...                     # doveadm as nobody with that config
#   dc_doveadm_asis ARGS...                # the same without chown -R first
#   dc_imap < commands                     # PREAUTH imap on stdio
#   dc_cleanup                             # remove the temp tree
#
# Dovecot refuses mail access as root, so everything runs as nobody:nogroup
# through setpriv; dc_doveadm first hands the whole tree to nobody, so stores
# written by mailferry (running as root) are readable and writable by Dovecot.
# Tests that cannot find doveadm exit 77 (skip) through dc_require.

DC_USER=${DC_USER:-nobody}
DC_GROUP=${DC_GROUP:-nogroup}

dc_require() {
	if ! command -v doveadm >/dev/null 2>&1; then
		echo "SKIP: doveadm not installed (apt-get install dovecot-core dovecot-imapd)"
		exit 77
	fi
	if ! command -v setpriv >/dev/null 2>&1; then
		echo "SKIP: setpriv not found (util-linux)"
		exit 77
	fi
}

# dc_init NAME LOCATION [EXTRA]: LOCATION may use @ROOT@ for the test root.
dc_init() {
	local name=$1 loc=$2 extra=${3:-}
	dc_require
	if [ -z "${DC_BASE:-}" ]; then
		DC_BASE=$(mktemp -d /tmp/mf-dc.XXXXXX)
		chmod 755 "$DC_BASE"
	fi
	DC_ROOT=$DC_BASE/$name
	mkdir -p "$DC_ROOT/run" "$DC_ROOT/home"
	loc=${loc//@ROOT@/$DC_ROOT}
	DC_LOCATION=$loc
	cat > "$DC_ROOT/dovecot.conf" <<EOC
protocols =
base_dir = $DC_ROOT/run
state_dir = $DC_ROOT/run
log_path = $DC_ROOT/log
info_log_path = $DC_ROOT/log
ssl = no
mail_location = $loc
first_valid_uid = 1
first_valid_gid = 1
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
}
$extra
EOC
	chown -R "$DC_USER:$DC_GROUP" "$DC_BASE"
}

# Run a command as the unprivileged mail user with the test environment.
dc_as_user() {
	# Files may come and go meanwhile (a mailferry run writing into the
	# same store concurrently): chown then reports them as missing; that
	# is no failure of anything under test.
	chown -R "$DC_USER:$DC_GROUP" "$DC_BASE" 2>/dev/null
	setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER=test \
		HOME="$DC_ROOT/home" "$@"
}

dc_doveadm() {
	dc_as_user doveadm -c "$DC_ROOT/dovecot.conf" "$@"
}

# The same two without handing the tree to the mail user first: for tests
# of the ownership and modes mailferry gives the files it creates.
dc_as_user_asis() {
	setpriv --reuid="$DC_USER" --regid="$DC_GROUP" --clear-groups \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER=test \
		HOME="$DC_ROOT/home" "$@"
}

dc_doveadm_asis() {
	dc_as_user_asis doveadm -c "$DC_ROOT/dovecot.conf" "$@"
}

# PREAUTH IMAP server on stdin/stdout.
dc_imap() {
	dc_as_user doveadm -c "$DC_ROOT/dovecot.conf" exec imap
}

dc_cleanup() {
	if [ -n "${DC_BASE:-}" ] && [ -d "$DC_BASE" ]; then
		rm -rf "$DC_BASE"
	fi
}
