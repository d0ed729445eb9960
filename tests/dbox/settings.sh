#!/bin/bash
# SPDX-License-Identifier: MIT
# Settings of the dbox drivers: bad values are refused with an error naming
# the setting, Dovecot's zlib_save/zlib_save_level work like mail_compress,
# mdbox_rotate_size rotates m.N files, and mail_fsync decides how often
# data reaches the disk (never: no fsync at all; optimized: per commit, not
# per message; always: per message).
. "$MF_TOP_SRCDIR/tests/dbox/interop-common.sh"
T=$(mktemp -d /tmp/mf-dbox-set.XXXXXX)
trap 'rm -rf "$T"' EXIT
P="$B/tests/dbox/dbox-put"
MSGS=$CORPUS/crypto

refused() { # WORD ARGS...: dbox-put must fail naming WORD
	local word=$1; shift
	if echo "save INBOX $DATA/msg1.eml" | "$P" "$@" > /dev/null 2> "$T/err"; then
		echo "FAIL: accepted: $*"; fail=1
	elif ! grep -q -- "$word" "$T/err"; then
		echo "FAIL: error for $* does not name $word:"; cat "$T/err"; fail=1
	fi
}

n=0
for fmt in sdbox mdbox; do
	n=$((n + 1))
	refused mail_fsync -o mail_fsync=sometimes "$fmt:$T/a$n"
	refused mail_compress -o mail_compress=lz4 "$fmt:$T/b$n"
	refused mail_compress_level -o mail_compress=zstd -o mail_compress_level=99 "$fmt:$T/c$n"
	refused zlib_save_level -o zlib_save=zstd -o zlib_save_level=x "$fmt:$T/d$n"
	refused ALT "$fmt:$T/e$n:ALT="
	refused INDEX "$fmt:$T/f$n:INDEX=/tmp/x"
done
refused mdbox_rotate_size -o mdbox_rotate_size=big "mdbox:$T/g"

# Dovecot's plugin setting names compress too
echo "save INBOX $DATA/msg1.eml" |
	"$P" -o zlib_save=zstd -o zlib_save_level=19 "sdbox:$T/z" || fail=1
LC_ALL=C grep -qaP '\x28\xb5\x2f\xfd' "$T/z/mailboxes/INBOX/dbox-Mails/u.1" ||
	{ echo "FAIL: zlib_save=zstd wrote no zstd body"; fail=1; }

# gzip as Dovecot's zlib_save = gz writes it, where this build has zlib;
# elsewhere a clear refusal
if grep -q '^#define HAVE_ZLIB 1' "$B/config.h"; then
	echo "save INBOX $DATA/msg1.eml" |
		"$P" -o zlib_save=gz -o zlib_save_level=9 "mdbox:$T/gz" || fail=1
	LC_ALL=C grep -qaP '^\x1f\x8b\x08' "$T"/gz/storage/m.* ||
		{ echo "FAIL: zlib_save=gz wrote no gzip body"; fail=1; }
	refused zlib_save_level -o zlib_save=gz -o zlib_save_level=10 "sdbox:$T/gz2"
else
	refused zlib -o mail_compress=gz "sdbox:$T/gz"
fi

# rotation: one transaction of 4 messages with a 1k limit -> several files
printf 'savedir INBOX %s\n' "$MSGS" |
	"$P" -o mail_fsync=never -o mdbox_rotate_size=1k "mdbox:$T/r" || fail=1
files=$(ls "$T/r/storage" | grep -c '^m\.')
[ "$files" -ge 3 ] || { echo "FAIL: mdbox_rotate_size=1k made $files files"; fail=1; }

# mail_fsync, counted with strace
if command -v strace > /dev/null; then
	count() { # MODE FMT
		printf 'savedir INBOX %s\n' "$MSGS" > "$T/script"
		strace -f -qq -e trace=fsync,fdatasync,syncfs -o "$T/trace" \
			"$P" -o mail_fsync=$1 "$2:$T/fs-$1-$2" < "$T/script" > /dev/null
		grep -c 'sync(' "$T/trace"
	}
	for fmt in sdbox mdbox; do
		never=$(count never $fmt)
		opt=$(count optimized $fmt)
		always=$(count always $fmt)
		[ "$never" = 0 ] || { echo "FAIL: $fmt: mail_fsync=never made $never fsync calls"; fail=1; }
		[ "$opt" -gt 0 ] || { echo "FAIL: $fmt: mail_fsync=optimized made no fsync"; fail=1; }
		[ "$always" -ge "$opt" ] || { echo "FAIL: $fmt: always ($always) < optimized ($opt)"; fail=1; }
		echo "$fmt: fsync calls for 4 messages in one commit: never=$never optimized=$opt always=$always"
	done
	# mdbox optimized: the messages share one file, synced once; sdbox
	# optimized: one syncfs() for the commit's files instead of one
	# fdatasync() each
	for fmt in mdbox sdbox; do
		[ "$(count optimized $fmt)" -lt "$(count always $fmt)" ] ||
			{ echo "FAIL: $fmt: optimized is not cheaper than always"; fail=1; }
	done
	count optimized sdbox > /dev/null
	n=$(grep -c 'syncfs(' "$T/trace")
	[ "$n" = 1 ] || { echo "FAIL: sdbox: optimized made $n syncfs calls for one commit"; fail=1; }
else
	echo "FAIL: strace not installed (needed to count fsync calls)"; fail=1
fi

[ $fail = 0 ] && echo "ok: settings"
exit $fail
