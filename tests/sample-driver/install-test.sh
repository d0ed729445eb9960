#!/bin/bash
# SPDX-License-Identifier: MIT
# install-test.sh BUILD_DIR - prove that a third party can build a driver
# from the INSTALLED mailferry SDK alone and that the installed mailferry
# loads and serves it:
#   1. make -C BUILD_DIR install DESTDIR=<tmp>
#   2. build the eml sample driver from a copy of its sources with nothing
#      but the staged pkg-config file and headers (no path into the tree)
#   3. run the staged mailferry with MAILFERRY_DRIVER_PATH at eml.so:
#      `drivers`, `mailbox list`, `mailbox status` and `fetch` on the
#      bundled sample must print what sha1sum/sha256sum/stat say
#   4. `backup` the eml tree into a Maildir with the staged maildir driver:
#      identical messages and identities, an idempotent second run, and the
#      real Dovecot (when installed) reading the same UIDs and GUIDs.
# Exit 0 pass, 1 fail, 77 when a needed tool is missing.
set -u

if [ $# -ne 1 ] || [ ! -f "$1/Makefile" ]; then
	echo "usage: $0 BUILD_DIR (a configured mailferry build directory)" >&2
	exit 1
fi
for tool in make cc pkg-config sha1sum sha256sum nm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
sample=$(cd "$here/../data/sample-eml" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mf-sdk.XXXXXX")
trap 'command -v dc_cleanup >/dev/null && dc_cleanup; rm -rf "$tmp"' EXIT
stage=$tmp/stage
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
die() {
	echo "FAIL: $*"
	exit 1
}

# ---- 1. install -------------------------------------------------------
make -C "$build" install DESTDIR="$stage" >"$tmp/install.log" 2>&1 ||
	{ tail -20 "$tmp/install.log"; die "make install DESTDIR=$stage"; }
pc=$(find "$stage" -name mailferry-driver.pc | head -1)
[ -n "$pc" ] || die "no mailferry-driver.pc installed under $stage"
bin=$(find "$stage" -path '*/bin/mailferry' -type f | head -1)
[ -n "$bin" ] || die "no bin/mailferry installed under $stage"

# Only the staged .pc is visible, and its /usr/local/... paths resolve
# inside the stage through the sysroot.
export PKG_CONFIG_LIBDIR=$(dirname "$pc")
export PKG_CONFIG_PATH=
export PKG_CONFIG_SYSROOT_DIR=$stage
sdk_cflags=$(pkg-config --cflags mailferry-driver) ||
	die "pkg-config --cflags mailferry-driver"
case "$sdk_cflags" in
*"$stage"*) ;;
*) die "pkg-config cflags '$sdk_cflags' do not point into $stage" ;;
esac
echo "SDK cflags: $sdk_cflags"

# The installed headers stand alone, even for a strict C99 compiler.
printf '#include <mailferry/driver.h>\nint main(void){return 0;}\n' \
	>"$tmp/hdr.c"
cc -std=c99 -pedantic -Wall -Wextra -Werror $sdk_cflags -c \
	-o "$tmp/hdr.o" "$tmp/hdr.c" || fail "installed driver.h does not compile alone"

# ---- 2. build the sample driver out of tree ---------------------------
mkdir -p "$tmp/src" "$tmp/drivers"
cp "$here"/*.c "$here"/*.h "$here/Makefile" "$tmp/src/"
make -C "$tmp/src" CFLAGS="-O2 -g -Werror" >"$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log"; die "building eml.so against the installed SDK"; }
if grep -q -e '-I[^ ]*/core' "$tmp/build.log"; then
	fail "the out-of-tree build used an include path into the source tree"
fi
make -C "$tmp/src" check-exports || fail "eml.so exports more than its entry point"
cp "$tmp/src/eml.so" "$tmp/drivers/"

# ---- 3. the installed mailferry serves eml: ---------------------------
export MAILFERRY_DRIVER_PATH=$tmp/drivers
export MAILFERRY_SKIP_DEFAULT_DIR=1
export LD_LIBRARY_PATH=$(dirname "$(dirname "$pc")")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mf() { "$bin" "$@"; }
loc=eml:$sample

out=$(mf drivers 2>&1) || fail "mailferry drivers exited $?"
echo "$out"
echo "$out" | grep -q "name=eml .*status=loaded" || fail "mailferry drivers does not list eml as loaded"

# Expected values, computed without mailferry.
mailbox_dir() { if [ "$1" = INBOX ]; then echo "$sample"; else echo "$sample/$1"; fi; }
mailboxes() {
	echo INBOX
	(cd "$sample" && find . -mindepth 1 -type d ! -name '.*' | sed 's|^\./||')
}
msg_files() { (cd "$(mailbox_dir "$1")" && LC_ALL=C ls -1 | grep '\.eml$' | LC_ALL=C sort); }

mailboxes | LC_ALL=C sort >"$tmp/want-list"
mf mailbox list "$loc" >"$tmp/got-list.raw" 2>"$tmp/err" || fail "mailbox list: $(cat "$tmp/err")"
LC_ALL=C sort "$tmp/got-list.raw" >"$tmp/got-list"
diff -u "$tmp/want-list" "$tmp/got-list" || fail "mailbox list differs"

: >"$tmp/want-status"
: >"$tmp/want-fetch"
while read -r box; do
	n=$(msg_files "$box" | wc -l)
	g=$(printf '%s' "$box" | sha1sum | cut -c1-32)
	uv=$((0x${g:0:8} & 0x7fffffff))
	[ "$uv" -ne 0 ] || uv=1
	printf '%s\t%s\t%s\t%s\t%s\n' "$box" "$n" "$uv" $((n + 1)) "$g" >>"$tmp/want-status"
	uid=0
	while read -r f; do
		uid=$((uid + 1))
		p=$(mailbox_dir "$box")/$f
		size=$(stat -c %s "$p")
		lf=$(tr -cd '\n' <"$p" | wc -c)
		crlf=$(LC_ALL=C grep -c $'\r$' "$p")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$box" "$uid" \
			"$(sha1sum <"$p" | cut -c1-40)" \
			"$(sha256sum <"$p" | cut -c1-64)" \
			"$size" $((size + lf - crlf)) "$(stat -c %Y "$p")" \
			>>"$tmp/want-fetch"
	done < <(msg_files "$box")
done <"$tmp/want-list"

mf -f tab mailbox status "$loc" 'messages uidvalidity uidnext guid' '*' \
	>"$tmp/got-status.raw" 2>"$tmp/err" || fail "mailbox status: $(cat "$tmp/err")"
tail -n +2 "$tmp/got-status.raw" | LC_ALL=C sort >"$tmp/got-status"
LC_ALL=C sort -o "$tmp/want-status" "$tmp/want-status"
diff -u "$tmp/want-status" "$tmp/got-status" || fail "mailbox status differs"

mf -f tab fetch "$loc" 'mailbox uid guid body.sha256' all \
	>"$tmp/got-fetch.raw" 2>"$tmp/err" || fail "fetch: $(cat "$tmp/err")"
head -1 "$tmp/got-fetch.raw" | grep -q "^mailbox	uid	guid	body.sha256$" ||
	fail "fetch header: $(head -1 "$tmp/got-fetch.raw")"
tail -n +2 "$tmp/got-fetch.raw" | LC_ALL=C sort >"$tmp/got-fetch"
cut -f1-4 "$tmp/want-fetch" | LC_ALL=C sort >"$tmp/want-fetch4"
diff -u "$tmp/want-fetch4" "$tmp/got-fetch" || fail "fetch mailbox/uid/guid/body.sha256 differs"
[ "$(wc -l <"$tmp/got-fetch")" -eq 20 ] || fail "fetch printed $(wc -l <"$tmp/got-fetch") messages, the sample has 20"

mf -f tab fetch "$loc" \
	'mailbox uid guid body.sha256 size.physical size.virtual date.received.unixtime' all \
	>"$tmp/got-sizes.raw" 2>"$tmp/err" || fail "fetch sizes: $(cat "$tmp/err")"
tail -n +2 "$tmp/got-sizes.raw" | LC_ALL=C sort >"$tmp/got-sizes"
LC_ALL=C sort "$tmp/want-fetch" >"$tmp/want-sizes"
diff -u "$tmp/want-sizes" "$tmp/got-sizes" || fail "fetch sizes/dates differ"

# Bad input: clear errors naming the thing, non-zero exit.
if mf mailbox list "eml:$tmp/no-such-dir" >/dev/null 2>"$tmp/err"; then
	fail "mailbox list of a missing directory succeeded"
fi
grep -q "no-such-dir" "$tmp/err" || fail "missing-directory error does not name it: $(cat "$tmp/err")"
cp -r "$sample" "$tmp/broken"
ln -s loop.eml "$tmp/broken/loop.eml"
if mf -f tab fetch "eml:$tmp/broken" 'uid guid' mailbox INBOX >/dev/null 2>"$tmp/err"; then
	fail "fetch over an unreadable message file succeeded"
fi
grep -q "loop.eml" "$tmp/err" || fail "unreadable-file error does not name the file: $(cat "$tmp/err")"

# ---- 4. a third-party driver as a sync source -------------------------
# The installed mailferry backs the eml tree up into a Maildir with the
# installed maildir driver: same messages, UIDs, GUIDs and identities, a
# second run changes nothing, and the real Dovecot reads the result alike.
drvdir=$(pkg-config --variable=driverdir mailferry-driver)
if [ -f "$drvdir/maildir.so" ]; then
	export MAILFERRY_DRIVER_PATH=$tmp/drivers:$drvdir
	md=maildir:$tmp/Maildir
	mf backup "$loc" "$md" >"$tmp/backup.out" 2>&1 ||
		fail "backup $loc -> $md: $(cat "$tmp/backup.out")"
	mf -f tab fetch "$md" 'mailbox uid guid body.sha256' all \
		>"$tmp/md-fetch.raw" 2>"$tmp/err" || fail "fetch $md: $(cat "$tmp/err")"
	tail -n +2 "$tmp/md-fetch.raw" | LC_ALL=C sort >"$tmp/md-fetch"
	diff -u "$tmp/want-fetch4" "$tmp/md-fetch" || fail "the Maildir backup differs from the eml tree"
	mf -f tab mailbox status "$md" 'messages uidvalidity uidnext guid' '*' \
		>"$tmp/md-status.raw" 2>"$tmp/err" || fail "mailbox status $md: $(cat "$tmp/err")"
	tail -n +2 "$tmp/md-status.raw" | LC_ALL=C sort >"$tmp/md-status"
	diff -u "$tmp/want-status" "$tmp/md-status" || fail "the Maildir backup's mailbox identities differ"
	mf backup "$loc" "$md" >"$tmp/backup2.out" 2>&1 || fail "second backup: $(cat "$tmp/backup2.out")"
	grep -q " 0 messages saved, 0 expunged, 0 flag changes" "$tmp/backup2.out" ||
		fail "a second backup changed something: $(cat "$tmp/backup2.out")"
	echo "backup eml -> maildir: $(tail -1 "$tmp/backup.out")"
	if command -v doveadm >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
		. "$here/../lib/dovecot.sh"
		dc_init sample "maildir:@ROOT@/Maildir"
		cp -R "$tmp/Maildir" "$DC_ROOT/Maildir"
		dc_doveadm -f tab fetch 'mailbox uid guid' all 2>"$tmp/err" |
			tail -n +2 | LC_ALL=C sort >"$tmp/dc-fetch"
		cut -f1-3 "$tmp/want-fetch4" | LC_ALL=C sort >"$tmp/want-fetch3"
		if diff -u "$tmp/want-fetch3" "$tmp/dc-fetch"; then
			echo "ok: Dovecot reads the backup's $(wc -l <"$tmp/dc-fetch") messages with the same UIDs and GUIDs"
		else
			fail "Dovecot reads the Maildir backup differently: $(cat "$tmp/err")"
		fi
		dc_cleanup
	else
		echo "note: doveadm not installed, the Dovecot cross-check was not run"
	fi
else
	fail "no maildir.so installed in $drvdir"
fi

if [ "$failures" -ne 0 ]; then
	echo "install-test: $failures check(s) failed"
	exit 1
fi
echo "install-test: eml built against the installed SDK and served by the installed mailferry"
exit 0
