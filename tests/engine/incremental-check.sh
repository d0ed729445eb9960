#!/bin/bash
# SPDX-License-Identifier: MIT
# The index's incremental refresh (read only what the log gained since the
# last load) must give what a full load gives. MF_INDEX_CHECK_INCREMENTAL
# makes every incremental refresh compare itself with a full load and
# abort on a difference; the tree tests on real stores delete and recreate
# mailboxes, whose new index files can get the old inode, header and size
# back within one second (a refresh used to keep the old UIDVALIDITY).
set -u
: "${MF_TOP_BUILDDIR:=.}"
MF_INDEX_CHECK_INCREMENTAL=1 CK_RUN_CASE=tree-real \
	"$MF_TOP_BUILDDIR/tests/engine/test-engine-sync"
