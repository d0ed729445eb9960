# SPDX-License-Identifier: MIT
# tests/imapc/common.sh - shared setup of the imapc shell tests: paths,
# the real Dovecot (imapd.sh), cleanup on exit, small assertions.
set -u
: "${MF_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MF_TOP_BUILDDIR:=$MF_TOP_SRCDIR}"
. "$MF_TOP_SRCDIR/tests/imapc/imapd.sh"

MF=$MF_TOP_BUILDDIR/core/cli/mailferry
TOOL=$MF_TOP_BUILDDIR/tests/imapc/imapc-tool
PROXY=$MF_TOP_BUILDDIR/tests/imapc/imapc-dropproxy
CORPUS=$MF_TOP_SRCDIR/tests/data/corpus/notmuch
: "${MAILFERRY_DRIVER_PATH:=$MF_TOP_BUILDDIR/plugins/imapc/.libs:$MF_TOP_BUILDDIR/plugins/maildir/.libs}"
export MAILFERRY_DRIVER_PATH MAILFERRY_SKIP_DEFAULT_DIR=1
# the password never goes on a command line
export MAILFERRY_IMAPC_PASSWORD=secret
unset MAILFERRY_RAWLOG

WORK=$(mktemp -d /tmp/mf-imapc-test.XXXXXX)
PROXY_PID=
FAILED=0

cleanup() {
	[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
	imapd_stop
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	FAILED=1
}

pass() {
	echo "ok: $*"
}

# check NAME CMD...: run, and fail when it fails
check() {
	local name=$1
	shift
	if "$@" >/dev/null; then pass "$name"; else fail "$name"; fi
}

# proxy_start MODE N: the drop proxy in front of the server
proxy_start() {
	rm -f "$WORK/proxy.port"
	"$PROXY" "$WORK/proxy.port" "$IMAPD_PORT" "$1" "$2" &
	PROXY_PID=$!
	for _ in $(seq 50); do
		[ -s "$WORK/proxy.port" ] && break
		sleep 0.05
	done
	PROXY_PORT=$(cat "$WORK/proxy.port")
}

proxy_stop() {
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=
}

# Drop \Recent from tab output (it depends on which session saw a message
# first) and the blanks it leaves.
norm_flags() {
	sed -E 's/\\Recent//g; s/  +/ /g; s/ +(\t|$)/\1/g; s/\t +/\t/g'
}

finish() {
	if [ "$FAILED" != 0 ]; then
		echo "--- dovecot log (tail)"
		tail -20 "$IMAPD_ROOT/log" 2>/dev/null
		exit 1
	fi
	exit 0
}
