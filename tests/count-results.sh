#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Count test results of one or more automake build dirs.
# Check programs count each of their checks; other tests count once.
# Prints "PASSED FAILED SKIPPED" (numbers only) for the given dirs.
set -u
passed=0 failed=0 skipped=0
for dir in "$@"; do
	[ -d "$dir" ] || continue
	while IFS= read -r trs; do
		log=${trs%.trs}.log
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n1)
		summary=""
		[ -f "$log" ] && summary=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n1)
		if [ -n "$summary" ]; then
			checks=$(echo "$summary" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
			fails=$(echo "$summary" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
			errs=$(echo "$summary" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
			passed=$((passed + checks - fails - errs))
			failed=$((failed + fails + errs))
			# a crash after the summary still fails the program
			case $res in FAIL|ERROR|XPASS)
				[ $((fails + errs)) -eq 0 ] && failed=$((failed + 1));;
			esac
		else
			case $res in
			PASS|XFAIL) passed=$((passed + 1));;
			SKIP) skipped=$((skipped + 1));;
			*) failed=$((failed + 1));;
			esac
		fi
	done < <(find "$dir" -name '*.trs' | sort)
done
echo "$passed $failed $skipped"
