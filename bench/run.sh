#!/usr/bin/env bash
# Produces the figures in BENCHMARKS.md: gpugate's cpu-basic (warm cache)
# against the same checks as a pytest suite over TensorFlow's Python API.
# Needs network access to the package registries the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
# Both sides run the same TensorFlow release.
TF=${TF:-2.21.0}
VENV=target/bench-venv-$TF
if [ ! -x "$VENV/bin/pytest" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "tensorflow-cpu==$TF" pytest
fi
cargo build --release -q
./target/release/gpugate fetch-tensorflow --cpu --tensorflow-version "$TF" >/dev/null
./target/release/gpugate --suite cpu-basic --tensorflow-version "$TF" --junit target/bench/junit.xml >/dev/null 2>&1
python3 bench/measure.py "$(cat <<JSON
{"runs": $RUNS, "commands": {
  "gpugate --suite cpu-basic": ["./target/release/gpugate", "--suite", "cpu-basic", "--tensorflow-version", "$TF", "--junit", "target/bench/junit.xml"],
  "pytest bench/test_cpu_basic.py": ["$VENV/bin/pytest", "-q", "-p", "no:cacheprovider", "bench/test_cpu_basic.py"]
}}
JSON
)"
# The compute checks' own figures, then the harness's scaling and worker costs.
RUNS=${COMPUTE_RUNS:-5} bash bench/compute.sh
RUNS=$RUNS bash bench/scale.sh
RUNS=$RUNS bash bench/merge.sh
# Provisioning the full CUDA stack from an empty cache (network-bound).
bash bench/provision.sh
# TensorFlow's own library loader, asked on the default release's CUDA stack.
RUNS=$RUNS bash bench/loader.sh
