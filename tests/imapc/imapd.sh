# SPDX-License-Identifier: MIT
# tests/imapc/imapd.sh - run a real Dovecot imapd for the imapc tests.
#
# Source it, then:
#   imapd_start [EXTRA_CONFIG]  # Dovecot on 127.0.0.1, random high ports
#   imapd_doveadm ARGS...       # doveadm against that server's config
#   imapd_stop                  # stop it (by pid) and remove the tree
#
# After imapd_start: IMAPD_ROOT, IMAPD_PORT (plain + STARTTLS), IMAPD_SSL_PORT
# (imaps), IMAPD_CA (CA certificate that signed the server's certificate,
# issued for "localhost" only), IMAPD_BAD_CA (an unrelated CA), the users
# test/secret, other/secret2 and the master user master/mpass.
#
# The master process runs as root (it must bind and drop privileges), every
# other process as nobody: default_internal_user/default_login_user and
# mail_uid are nobody, first_valid_uid = 1 lets nobody own mail. Tests exit
# 77 only when dovecot or openssl is really missing.

imapd_require() {
	for tool in dovecot doveadm openssl; do
		if ! command -v $tool >/dev/null 2>&1; then
			echo "SKIP: $tool not installed"
			exit 77
		fi
	done
}

imapd_gen_certs() {
	local d=$IMAPD_ROOT/ssl
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mailferry test CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1 || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=unrelated CA" \
		-keyout "$d/bad-ca.key" -out "$d/bad-ca.crt" >/dev/null 2>&1 || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || return 1
	printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' > "$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext" -out "$d/server.crt" \
		>/dev/null 2>&1 || return 1
	IMAPD_CA=$d/ca.crt
	IMAPD_BAD_CA=$d/bad-ca.crt
}

imapd_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

imapd_write_config() {
	local extra=$1
	cat > "$IMAPD_ROOT/dovecot.conf" <<EOC
protocols = imap
listen = 127.0.0.1
base_dir = $IMAPD_ROOT/run
state_dir = $IMAPD_ROOT/state
log_path = $IMAPD_ROOT/log
info_log_path = $IMAPD_ROOT/log
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
first_valid_uid = 1
first_valid_gid = 1
mail_uid = nobody
mail_gid = nogroup
mail_location = maildir:$IMAPD_ROOT/mail/%u
mail_fsync = never
ssl = yes
ssl_cert = <$IMAPD_ROOT/ssl/server.crt
ssl_key = <$IMAPD_ROOT/ssl/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
passdb {
  driver = passwd-file
  args = scheme=PLAIN $IMAPD_ROOT/master-passwd
  master = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN $IMAPD_ROOT/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$IMAPD_ROOT/home/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAPD_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPD_SSL_PORT
    ssl = yes
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
$extra
EOC
}

imapd_start() {
	local extra=${1:-} try
	imapd_require
	if [ -z "${IMAPD_ROOT:-}" ]; then
		IMAPD_ROOT=$(mktemp -d /tmp/mf-imapd.XXXXXX)
		chmod 755 "$IMAPD_ROOT"
		mkdir -p "$IMAPD_ROOT/run" "$IMAPD_ROOT/state" \
			"$IMAPD_ROOT/mail" "$IMAPD_ROOT/home"
		imapd_gen_certs || { echo "FAIL: openssl could not make certificates"; return 1; }
		printf 'test:{PLAIN}secret\nother:{PLAIN}secret2\n' > "$IMAPD_ROOT/passwd"
		printf 'master:{PLAIN}mpass\n' > "$IMAPD_ROOT/master-passwd"
		chown -R nobody:nogroup "$IMAPD_ROOT/mail" "$IMAPD_ROOT/home"
	fi
	for try in 1 2 3 4 5 6 7 8; do
		IMAPD_PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		IMAPD_SSL_PORT=$(( IMAPD_PORT + 1 ))
		imapd_port_free $IMAPD_PORT && imapd_port_free $IMAPD_SSL_PORT || continue
		imapd_write_config "$extra"
		if dovecot -c "$IMAPD_ROOT/dovecot.conf" 2>>"$IMAPD_ROOT/start.err"; then
			for _ in $(seq 50); do
				[ -s "$IMAPD_ROOT/run/master.pid" ] && \
					! imapd_port_free $IMAPD_PORT && break
				sleep 0.1
			done
			IMAPD_PID=$(cat "$IMAPD_ROOT/run/master.pid" 2>/dev/null)
			if [ -n "$IMAPD_PID" ] && ! imapd_port_free $IMAPD_PORT; then
				return 0
			fi
			imapd_kill
		fi
	done
	echo "FAIL: could not start dovecot:"
	cat "$IMAPD_ROOT/start.err" "$IMAPD_ROOT/log" 2>/dev/null | tail -20
	return 1
}

# Stop the server and its processes, serving sessions included, as a
# crash or a reboot would (keeping the tree, for a restart with
# imapd_start). Only the master we started and its children are killed.
imapd_kill() {
	local pid=${IMAPD_PID:-} kids
	[ -n "$pid" ] || pid=$(cat "$IMAPD_ROOT/run/master.pid" 2>/dev/null)
	[ -n "$pid" ] || return 0
	# the master's children, from /proc (no procps needed)
	kids=$(grep -l "^PPid:[[:space:]]*$pid\$" /proc/[0-9]*/status 2>/dev/null |
		sed 's|/proc/\([0-9]*\)/status|\1|')
	# sessions first (the master would only stop them gracefully), then
	# the master, then whatever it started meanwhile
	[ -n "$kids" ] && kill -9 $kids 2>/dev/null
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null
	fi
	IMAPD_PID=
}

imapd_stop() {
	[ -n "${IMAPD_ROOT:-}" ] || return 0
	imapd_kill
	rm -rf "$IMAPD_ROOT"
	IMAPD_ROOT=
}

imapd_doveadm() {
	doveadm -c "$IMAPD_ROOT/dovecot.conf" "$@"
}
