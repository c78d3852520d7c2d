#!/usr/bin/env bash
# Runs a fuzzing search on every Fuzz target for FUZZTIME each, one after
# another. A target fails the run when the search finds an input: Go writes
# it to testdata/fuzz/<Target>/ (commit it: it becomes a regression case).
#
# go test -fuzz sometimes exits non-zero when -fuzztime runs out while a
# worker is mid-input: "context deadline exceeded", with no input written.
# That is the fuzzing engine stopping untidily after a search that found
# nothing, not a finding: it is reported and counts as clean. Any other
# failure fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${FUZZTIME:-10s}

# search PKG TARGET: 0 when clean, 1 otherwise.
search() {
  local pkg=$1 target=$2 dir before after out rc=0
  dir=$pkg/testdata/fuzz/$target
  before=$(ls "$dir" 2>/dev/null | sort || true)
  out=$(mktemp)
  go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "./$pkg" >"$out" 2>&1 || rc=$?
  after=$(ls "$dir" 2>/dev/null | sort || true)
  if ((rc == 0)); then
    tail -n 2 "$out"; rm -f "$out"; return 0
  fi
  cat "$out"
  if [[ $before != "$after" ]]; then
    echo "fuzz: $target found an input; it is in $dir" >&2
  elif grep -q '^    context deadline exceeded$' "$out"; then
    echo "fuzz: $target: the fuzzing engine stopped with 'context deadline exceeded' after its search; no input found" >&2
    rm -f "$out"
    return 0
  else
    echo "fuzz: $target failed (exit $rc) without writing an input" >&2
  fi
  rm -f "$out"
  return 1
}

for pkg in $(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$pkg"/*_test.go); do
    echo "== fuzz ./$pkg $target for $fuzztime"
    search "$pkg" "$target" || exit 1
  done
done
