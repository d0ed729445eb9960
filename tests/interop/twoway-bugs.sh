#!/bin/bash
# SPDX-License-Identifier: MIT
# KNOWN BUGS (XFAIL, qa-findings.md #5; #3 and #4 fixed: their scenarios
# flags-both-sides, expunge-only and expunge-vs-flag run in twoway.sh): the twoway.sh scenarios where
# mailferry's result differs from doveadm sync's:
#  rename-vs-newmail: the subscription of a renamed mailbox is dropped (#5)
QA_SCEN_SET=bugs
export QA_SCEN_SET
exec bash "${MF_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/interop/twoway.sh"
