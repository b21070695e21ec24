#!/usr/bin/env bash
# Builds every fuzz target; with --run [SECONDS], also runs each one for SECONDS (default 20),
# one at a time, starting from the checked-in seeds.
#
# Needs no nightly toolchain: cargo-fuzz passes -Z flags (sanitizers, coverage) to rustc, and
# RUSTC_BOOTSTRAP=1 lets a stable rustc accept them. cargo-fuzz is installed from crates.io when
# missing. Used by .ci/run (build only).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"

run=false
seconds=20
if [ "${1:-}" = "--run" ]; then
  run=true
  seconds="${2:-20}"
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz/check.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets=$(cargo fuzz list)
# -a: debug assertions on, so the crate's debug_assert! invariants are fuzzed too.
cargo fuzz build -a
echo "fuzz/check.sh: built $(echo "$targets" | wc -l) targets: $(echo $targets)"

if $run; then
  for t in $targets; do
    mkdir -p "corpus/$t"
    dict=()
    case "$t" in handshake_*) dict=(-dict=handshake.dict) ;; esac
    echo "fuzz/check.sh: running $t for ${seconds}s"
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    if ! cargo fuzz run -a "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" "${dict[@]}" >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      echo "fuzz/check.sh: $t failed: the input is in fuzz/artifacts/$t/" >&2
      exit 1
    fi
    grep -E '^(#[0-9]+[[:space:]]+DONE|Done )' "$log"
  done
fi
