#!/bin/bash
# SPDX-License-Identifier: MIT
# interrupt.sh's two-way cases: mailferry sync maildir<->maildir killed 8
# times at fractions of a full run, then run to the end: every message
# exactly once on both sides, same UIDs and flags, a further run is a
# no-op. (Was XFAIL, known-issues #2: a UID change was a copy and an
# expunge committed apart; now the engine commits a move as one
# transaction and the maildir driver renumbers the file in one
# dovecot-uidlist rewrite; saves keep the GUID as the file's base name,
# so a save killed before its uidlist write is still recognised.)
QA_TWOWAY=1
export QA_TWOWAY
exec bash "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/interrupt.sh"
