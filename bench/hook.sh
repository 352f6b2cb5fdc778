#!/usr/bin/env bash
# The runner hook's cost per job: `gpugate doctor --format condition` (what
# quick mode runs on a healthy machine; a broken one runs doctor once more
# for the report), RUNS times each, warm (the second run on), with the
# TensorFlow gpugate finds loaded and with --for-tensorflow (no load).
# Prints the median wall time of each.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
cargo build --release -q
python3 - "$RUNS" <<'PY'
import statistics, subprocess, sys, time
runs = int(sys.argv[1])
for label, extra in (("finds and loads TensorFlow", []),
                     ("--for-tensorflow 2.20 (no load)", ["--for-tensorflow", "2.20"])):
    times = []
    for i in range(runs + 1):
        start = time.monotonic()
        out = subprocess.run(["./target/release/gpugate", "doctor", "--format", "condition", *extra],
                             capture_output=True)
        assert out.returncode in (0, 101), out
        if i:  # the first run warms the page cache
            times.append(time.monotonic() - start)
    print(f"doctor --format condition, {label}: median {statistics.median(times):.2f} s over {runs} runs")
PY
