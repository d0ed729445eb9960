#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/conformance/imapc.sh - the driver conformance suite against the imapc
# driver talking to a real Dovecot imapd on 127.0.0.1: every test logs in as
# a fresh user (Dovecot's static passdb accepts any name), so each starts
# from an empty account as the suite assumes.
# Exit 0 pass, 1 fail, 77 when dovecot is not installed.
set -u
: "${MF_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MF_TOP_BUILDDIR:=$MF_TOP_SRCDIR}"
export MF_TOP_SRCDIR MF_TOP_BUILDDIR
. "$MF_TOP_SRCDIR/tests/imapc/imapd.sh"

trap imapd_stop EXIT
imapd_start 'passdb {
  driver = static
  args = password=secret
}' || exit 1

export MAILFERRY_DRIVER_PATH=$MF_TOP_BUILDDIR/plugins/imapc/.libs
export MAILFERRY_SKIP_DEFAULT_DIR=1
export MAILFERRY_IMAPC_PASSWORD=secret
export MF_CONFORMANCE_IMAPC="imap://@ID@@127.0.0.1:$IMAPD_PORT/"
export MF_CONFORMANCE_DRIVERS=imapc
"$MF_TOP_BUILDDIR/tests/conformance/test-conformance"
ret=$?
if [ $ret -ne 0 ]; then
	echo "--- dovecot log (tail)"
	tail -20 "$IMAPD_ROOT/log" 2>/dev/null
	exit 1
fi
exit 0
