#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build mailferry and run the whole test suite, as CI does:
#   1. install build/test dependencies (Debian 12, needs root),
#   2. a strict build (-Wall -Wextra -Werror) and `make check`,
#   3. the sample out-of-tree driver built against the installed SDK,
#   4. an ASan+UBSan build and `make check` again,
#   5. the libFuzzer targets for a bounded time (when clang is available).
# Ends with one line "N passed, N failed[, N skipped]"; exit 0 only if
# nothing failed. Build dirs go under _check/ (FUZZ_SECONDS=0 skips step 5).
set -u
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
fuzz_secs=${FUZZ_SECONDS:-60}
out=$top/_check
extra_failed=0 extra_passed=0 extra_skipped=0

started=$(date +%s)
step() { printf '\n=== %s (%ds) ===\n' "$*" $(($(date +%s) - started)); }
note_result() { # name rc
	if [ "$2" -eq 0 ]; then
		extra_passed=$((extra_passed + 1)); echo "PASS: $1"
	elif [ "$2" -eq 77 ]; then
		extra_skipped=$((extra_skipped + 1)); echo "SKIP: $1"
	else
		extra_failed=$((extra_failed + 1)); echo "FAIL: $1"
	fi
}

step "dependencies"
if ! "$top/tests/install-deps.sh"; then
	echo "0 passed, 1 failed"
	exit 1
fi

step "bootstrap"
./bootstrap >/dev/null 2>&1 || { ./bootstrap; echo "0 passed, 1 failed"; exit 1; }

# build NAME CONFIGURE-ARGS...: configure and build in $out/NAME
build() {
	local name=$1; shift
	rm -rf "${out:?}/$name"
	mkdir -p "$out/$name"
	(cd "$out/$name" && "$top/configure" --enable-devel "$@" >configure.out 2>&1) ||
		{ tail -n 30 "$out/$name/configure.out"; return 1; }
	make -C "$out/$name" -j"$jobs" >"$out/$name/make.out" 2>&1 ||
		{ tail -n 60 "$out/$name/make.out"; return 1; }
}

run_checks() { # NAME
	make -C "$out/$1" -j"$jobs" check >"$out/$1/check.out" 2>&1
	local rc=$?
	grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS|XFAIL):' "$out/$1/check.out"
	if [ $rc -ne 0 ]; then
		# show the logs of what failed, for the CI transcript
		find "$out/$1" -name '*.trs' -exec grep -l -E ':test-result: (FAIL|ERROR)' {} + |
			while read -r trs; do
				echo "--- ${trs%.trs}.log (tail)"
				tail -n 40 "${trs%.trs}.log"
			done
	fi
	echo "slowest tests ($1):"
	find "$out/$1" -name '*.trs' -exec grep -H ':mf-seconds:' {} + |
		sed -E 's|^'"$out/$1"'/(.*)\.trs::mf-seconds: ([0-9]+)|\2 \1|' |
		sort -rn | head -n 8 | sed 's/^/  /'
	return $rc
}

step "strict build"
if build plain; then
	note_result "strict build" 0
	step "make check (plain)"
	run_checks plain
	step "benchmark smoke run"
	MAILFERRY="$out/plain/core/cli/mailferry" bash "$top/bench/smoke" \
		>"$out/plain/bench-smoke.out" 2>&1
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 77 ] && tail -n 40 "$out/plain/bench-smoke.out"
	note_result "benchmark smoke run" $rc
	step "sample driver against the installed SDK"
	bash "$top/tests/sample-driver/install-test.sh" "$out/plain"
	note_result "sample driver install test" $?
else
	note_result "strict build" 1
fi

step "ASan+UBSan build"
if build asan --enable-asan; then
	note_result "asan build" 0
	step "make check (ASan+UBSan)"
	run_checks asan
else
	note_result "asan build" 1
fi

if [ "$fuzz_secs" -gt 0 ] && command -v clang >/dev/null 2>&1; then
	step "fuzz (${fuzz_secs}s per target)"
	if build fuzz --enable-fuzz CC=clang; then
		bash "$top/tests/run-fuzzers.sh" "$out/fuzz" "$fuzz_secs"
		note_result "fuzzers" $?
	else
		note_result "fuzz build" 1
	fi
fi

read -r p f s < <("$top/tests/count-results.sh" "$out/plain" "$out/asan")
p=$((p + extra_passed)); f=$((f + extra_failed)); s=$((s + extra_skipped))
echo
if [ "$s" -gt 0 ]; then
	echo "$p passed, $f failed, $s skipped"
else
	echo "$p passed, $f failed"
fi
[ "$f" -eq 0 ]
