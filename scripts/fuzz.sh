#!/usr/bin/env bash
# Runs every Go fuzz target of both modules (the library at the root and
# the test module in test/) for FUZZTIME each (default 10s).
# A failure that leaves a crasher in testdata/fuzz is a bug and fails at
# once. A failure without one (a fuzz worker that hung or died on a busy
# machine, or minimizing past the deadline: Go reports "context deadline
# exceeded") is shown and the target is run again, up to three times.
# Inputs are not minimized (-fuzzminimizetime=0x), so no minimization can
# outlast FUZZTIME; a crasher is kept as found.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
GO=${GO:-go}
for mod in . test; do
  for pkg in $($GO -C "$mod" list ./...); do
    dir=$($GO -C "$mod" list -f '{{.Dir}}' "$pkg")
    for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //'); do
      echo "fuzz $pkg $t ($FUZZTIME)"
      for attempt in 1 2 3; do
        out=$(mktemp)
        before=$( (find "$dir/testdata/fuzz/$t" -type f 2>/dev/null || true) | wc -l)
        if $GO -C "$mod" test -run='^$' -fuzz="^$t\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=0x "$pkg" >"$out" 2>&1; then
          rm -f "$out"
          break
        fi
        after=$( (find "$dir/testdata/fuzz/$t" -type f 2>/dev/null || true) | wc -l)
        echo "FAIL fuzz $pkg $t (attempt $attempt)"
        cat "$out"
        rm -f "$out"
        if [ "$after" -gt "$before" ] || [ "$attempt" = 3 ]; then
          exit 1
        fi
      done
    done
  done
done
