#!/bin/sh
# Runs one kind of test (unit | integration | e2e | faults | package), or all of them after the type check.
# Node 20's test runner has no glob support and no .ts default pattern, so the files are listed here.
# Each kind runs with its own TMPDIR, which must be empty afterwards: a test that leaves a temporary
# directory behind (a data directory, a JetStream store) fails the run, naming what it left.
set -eu
kind="${1:-all}"
run() {
  files=$(find "test/$1" -name '*.test.ts' | sort)
  [ -n "$files" ] || { echo "no $1 tests"; return 0; }
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/qingyu-test-$1-XXXXXX")
  status=0
  # shellcheck disable=SC2086
  TMPDIR="$tmp" node --import tsx --test --test-reporter="${TEST_REPORTER:-spec}" --test-concurrency="${TEST_CONCURRENCY:-1}" --test-timeout="${2:-${TEST_TIMEOUT_MS:-120000}}" $files || status=$?
  # tsx keeps its compile cache in the temporary directory: that one is not a test's leftover.
  left=$(find "$tmp" -mindepth 1 -maxdepth 1 ! -name 'tsx-*' -printf '%f\n')
  rm -rf "$tmp"
  if [ -n "$left" ]; then
    echo "$1 tests left temporary files behind:" >&2
    echo "$left" >&2
    [ "$status" -ne 0 ] || status=1
  fi
  return "$status"
}
case "$kind" in
  all)
    npx tsc --noEmit -p .
    npx tsc --noEmit -p server/console
    run unit
    run integration
    run e2e
    ;;
  unit | integration | e2e | faults) run "$kind" ;;
  # npm pack (a build), an npm install and four tsc runs: minutes on a busy machine.
  package) run package "${TEST_TIMEOUT_MS:-900000}" ;;
  *) echo "usage: $0 [all|unit|integration|e2e|faults|package]" >&2; exit 2 ;;
esac
