#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every libFuzzer target (executables named fuzz-*) of a build made with
# --enable-fuzz for a bounded time each. A target's seed corpus, if any, is
# tests/<area>/fuzz-corpus/<target>/ in the source tree (copied, never
# written to). Exit 1 if any target found a crash.
set -u
build=$1 secs=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
rc=0 n=0
while IFS= read -r bin; do
	name=$(basename "$bin")
	area=$(basename "$(dirname "$(dirname "$bin")")")
	[ "$(basename "$(dirname "$bin")")" = .libs ] || area=$(basename "$(dirname "$bin")")
	work=$(mktemp -d)
	seed=$top/tests/$area/fuzz-corpus/$name
	[ -d "$seed" ] && cp -r "$seed/." "$work/"
	echo "fuzz: $name for ${secs}s"
	if ! "$bin" -max_total_time="$secs" -rss_limit_mb=2048 \
			-artifact_prefix="$build/$name-" "$work" >"$build/$name.out" 2>&1; then
		echo "fuzz: $name FAILED"; tail -n 30 "$build/$name.out"; rc=1
	fi
	rm -rf "$work"
	n=$((n + 1))
done < <(find "$build" -type f -perm -u+x -name 'fuzz-*' ! -name '*.o' ! -path '*/.libs/*' | sort)
echo "fuzz: ran $n targets"
exit $rc
