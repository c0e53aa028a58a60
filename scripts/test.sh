#!/bin/sh
# Runs one kind of test (unit | integration | e2e | faults | package), or all of them after the type check.
# Node 20's test runner has no glob support and no .ts default pattern, so the files are listed here.
set -eu
kind="${1:-all}"
run() {
  files=$(find "test/$1" -name '*.test.ts' | sort)
  [ -n "$files" ] || { echo "no $1 tests"; return 0; }
  # shellcheck disable=SC2086
  node --import tsx --test --test-reporter="${TEST_REPORTER:-spec}" --test-concurrency="${TEST_CONCURRENCY:-1}" --test-timeout="${2:-${TEST_TIMEOUT_MS:-120000}}" $files
}
case "$kind" in
  all)
    npx tsc --noEmit -p .
    run unit
    run integration
    run e2e
    ;;
  unit | integration | e2e | faults) run "$kind" ;;
  # npm pack (a build), an npm install and four tsc runs: minutes on a busy machine.
  package) run package "${TEST_TIMEOUT_MS:-900000}" ;;
  *) echo "usage: $0 [all|unit|integration|e2e|faults|package]" >&2; exit 2 ;;
esac
