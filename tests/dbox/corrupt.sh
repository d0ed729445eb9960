#!/bin/bash
# SPDX-License-Identifier: MIT
# Damaged dbox files give a clear error naming the file and the offset,
# never a crash, never silently short mail, and the other messages stay
# readable.
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
T=$(mktemp -d /tmp/mf-dbox-corrupt.XXXXXX)
trap 'rm -rf "$T"' EXIT

expect_error() { # WHAT FILE-PATTERN CMD...
	local what=$1 pat=$2; shift 2
	if "$@" > "$T/out" 2> "$T/err"; then
		echo "FAIL: $what: succeeded"; fail=1; return
	fi
	if ! grep -q "$pat" "$T/err" || ! grep -q 'offset' "$T/err"; then
		echo "FAIL: $what: error does not name $pat and an offset:"
		cat "$T/err"; fail=1
	fi
	if grep -qi 'sanitizer\|segmentation\|core dumped' "$T/err"; then
		echo "FAIL: $what: crashed"; cat "$T/err"; fail=1
	fi
}

for fmt in sdbox mdbox; do
	for comp in plain zstd; do
		loc="$fmt:$T/$fmt-$comp"
		before=$fail
		opt=""
		[ $comp = zstd ] && opt="-o mail_compress=zstd"
		printf 'save INBOX %s\nsave INBOX %s\nsave INBOX %s\n' \
			"$DATA/msg1.eml" "$CORPUS/html/attribute-text" \
			"$DATA/msg1.eml" | $PUT $opt "$loc" || fail=1
		if [ $fmt = sdbox ]; then
			f=$T/$fmt-$comp/mailboxes/INBOX/dbox-Mails/u.2
			pat=u.2
		else
			# one new m.N file per transaction: uid 2 is in m.2
			f=$T/$fmt-$comp/storage/m.2
			pat=m.2
		fi
		cp "$f" "$T/orig"
		size=$(stat -c %s "$f")
		for cut in 10 40 80 $((size - 5)); do
			cp "$T/orig" "$f"
			truncate -s $cut "$f"
			expect_error "$fmt-$comp truncated at $cut" "$pat" \
				$MF fetch "$loc" 'uid text' mailbox INBOX uid 2
		done
		# bytes flipped inside the (compressed) body
		cp "$T/orig" "$f"
		printf 'XXXXXXXX' | dd of="$f" bs=1 seek=60 conv=notrunc 2>/dev/null
		if [ $comp = zstd ]; then
			expect_error "$fmt-$comp corrupt zstd body" "$pat" \
				$MF fetch "$loc" 'uid text' mailbox INBOX uid 2
		fi
		# the neighbours are still fine
		cp "$T/orig" "$f"
		truncate -s 50 "$f"
		for uid in 1 3; do
			$MF fetch "$loc" 'uid text' mailbox INBOX uid $uid \
				> "$T/ok" 2>&1 || { echo "FAIL: $fmt-$comp: uid $uid unreadable"; cat "$T/ok"; fail=1; }
		done
		[ $fail = "$before" ] && echo "ok: corrupt $fmt-$comp"
	done
done
exit $fail
