#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build mailferry (installing what it needs on Debian 12, as root) and run the
# main job on the bundled sample: convert a Maildir to Dovecot's mdbox format,
# then run the same backup again (an incremental no-op) and show the result.
# Output goes to ./_quickstart/ (the bundled sample itself is not modified).
set -eu
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
out=$top/_quickstart
build=$out/build

tests/install-deps.sh
./bootstrap >/dev/null 2>&1 || ./bootstrap
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
	(cd "$build" && "$top/configure" >configure.log 2>&1) || { tail -n 20 "$build/configure.log"; exit 1; }
fi
make -C "$build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

# Use the drivers just built (no install needed).
MAILFERRY_DRIVER_PATH=
for d in maildir sdbox mdbox imapc; do
	MAILFERRY_DRIVER_PATH=$MAILFERRY_DRIVER_PATH${MAILFERRY_DRIVER_PATH:+:}$build/plugins/$d/.libs
done
export MAILFERRY_DRIVER_PATH
mf=$build/core/cli/mailferry

# A backup writes its own bookkeeping (dovecot-uidlist, indexes) into the
# source as Dovecot does, so work on a copy of the bundled sample.
rm -rf "$out/Maildir" "$out/mdbox"
cp -r tests/data/sample-maildir "$out/Maildir"
rm -f "$out/Maildir/README.md"

set -x
"$mf" backup maildir:"$out/Maildir" mdbox:"$out/mdbox"
"$mf" backup maildir:"$out/Maildir" mdbox:"$out/mdbox"
"$mf" mailbox status mdbox:"$out/mdbox" 'messages uidvalidity uidnext guid' '*'
"$mf" -f tab fetch mdbox:"$out/mdbox" 'mailbox uid flags size.physical hdr.message-id' mailbox INBOX
