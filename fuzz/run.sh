#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60), seeded from
# fuzz/corpus/TARGET and the fixtures. Needs nightly Rust and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Crashes land in fuzz/artifacts/TARGET/; reproduce one with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
declare -A extra=(
  [suite_parse]="fixtures/suites fixtures/suites/bad"
  [vars_expand]=""
  [worker_protocol]=""
  [junit_read]="fixtures/junit fixtures/snapshots"
)
for target in suite_parse vars_expand worker_protocol junit_read; do
  echo "== $target (${SECONDS_EACH}s)"
  # shellcheck disable=SC2086
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" ${extra[$target]} -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10
done
