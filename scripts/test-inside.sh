#!/usr/bin/env bash
# test-inside.sh runs the suites; scripts/test.sh calls it inside a private
# network namespace. Each suite prints its own result; the last line counts
# the suites that passed and failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
ip link set lo up

passed=0 failed=0 failures=()
suite() {
  local name=$1; shift
  local t0=$SECONDS
  echo "=== suite $name"
  if "$@"; then
    passed=$((passed+1)); echo "--- suite $name PASS ($((SECONDS-t0))s)"
  else
    failed=$((failed+1)); failures+=("$name"); echo "--- suite $name FAIL ($((SECONDS-t0))s)"
  fi
}
gofmt_clean() { local out; out=$(gofmt -l . | grep -v '^vendor/'); [ -z "$out" ] || { echo "gofmt: $out"; return 1; }; }

suite gofmt gofmt_clean
suite vet go vet ./...
suite staticcheck "$(go env GOPATH)/bin/staticcheck" ./...
# The hostile-LAN suite runs on its own (floods against the real binary, about a minute).
suite unit go test -race -count=1 $(go list ./... | grep -v /hostile)
suite hostile go test -count=1 -v ./hostile/
suite e2e bash e2e/run.sh
suite docker bash dockertest/run.sh

[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
