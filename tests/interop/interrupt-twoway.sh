#!/bin/bash
# SPDX-License-Identifier: MIT
# KNOWN BUG (XFAIL, qa-findings.md #2): interrupt.sh's two-way cases,
# mailferry sync maildir<->maildir killed 8 times, then run to the end.
# mailferry gives a mail a new UID by copy + expunge, committed apart; a
# SIGKILL in between leaves both copies and the next run keeps both (and
# sends both to the other side); mails saved but not yet in
# dovecot-uidlist when killed get new UIDs and go the same way. doveadm
# sync killed the same way does not duplicate. Expected: every message
# exactly once on both sides.
QA_TWOWAY=1
export QA_TWOWAY
exec bash "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/interrupt.sh"
