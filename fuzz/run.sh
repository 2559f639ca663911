#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 30), starting from seeds/<target>/
# and keeping what it finds in corpus/<target>/ (not committed). Exit code 1 and the crashing
# input under artifacts/<target>/ when a target fails. Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
targets=(identifiers record_pointer record_scan receipt audit_export store_codec)
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== fuzz $t for ${seconds}s"
  set +e
  cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"corpus/$t.log" 2>&1
  status=$?
  set -e
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs)" "corpus/$t.log" || true
  if [ "$status" -ne 0 ]; then
    grep -E "panicked at|ERROR|SUMMARY" -A2 "corpus/$t.log" | head -20 >&2
    echo "fuzz target $t failed; the input is under fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
