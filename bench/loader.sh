#!/usr/bin/env bash
# What asking TensorFlow's own library loader adds to a run: `gpugate facts`
# against a provisioned CUDA stack (default: gpugate's default release, from
# $GPUGATE_CACHE_DIR or the real-binary tier's cache), RUNS times. Prints the
# median of the loader's own time (`tensorflow.loader.seconds`: a fresh
# worker that loads libtensorflow_framework.so.2 and the seven CUDA
# libraries) and of the whole `facts` run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
cache=${GPUGATE_CACHE_DIR:-${GPUGATE_REAL_DIR:-$HOME/.cache/gpugate-real}/cache}
cargo build --release -q
version=$(./target/release/gpugate fetch-tensorflow --help | sed -n 's/.*\[default: \([0-9.]*\)\].*/\1/p' | head -1)
stack="$cache/tensorflow/$version-gpu/tensorflow"
[ -f "$stack/libtensorflow_framework.so.2" ] || {
  echo "bench/loader.sh: no $version GPU stack in $cache (run tests/real/prepare.sh)" >&2
  exit 1
}
python3 - "$RUNS" "$stack" <<'PY'
import json, statistics, subprocess, sys, time
runs, stack = int(sys.argv[1]), sys.argv[2]
loader, whole = [], []
for _ in range(runs):
    start = time.monotonic()
    out = subprocess.run(["./target/release/gpugate", "facts", "--format", "json",
                          "--tensorflow-lib", stack], capture_output=True, check=True)
    whole.append(time.monotonic() - start)
    check = json.loads(out.stdout)["tensorflow"]["loader"]
    assert check["outcome"]["state"] == "answered", check
    loader.append(check["seconds"])
print(f"stack: {stack}")
print(f"loader check: {statistics.median(loader):.3f} s (median of {runs})")
print(f"facts, whole run: {statistics.median(whole):.3f} s (median of {runs})")
PY
