#!/usr/bin/env bash
# Produces the harness figures in BENCHMARKS.md: how a run's cost grows with
# the number of environment checks (10 to 10,000), what a worker's start
# costs, and what one crash-and-replace cycle costs. Medians of RUNS runs
# of the release binary (bench/measure.py).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
dir=target/bench/scale
mkdir -p "$dir"
cargo build --release -q
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
for n in (1, 10, 100, 1000, 10000):
    with open(f"{d}/env-{n}.toml", "w") as f:
        for i in range(n):
            f.write(f'[[check]]\nname = "var {i}"\nkind = "env.var"\nvar = "HOME"\nmatches = "^/"\n\n')
for n in (1, 10):
    with open(f"{d}/loads-{n}.toml", "w") as f:
        for i in range(n):
            f.write(f'[[check]]\nname = "ok {i}"\nkind = "library.loads"\nlibrary = "./ok.so"\n\n')
    with open(f"{d}/crashes-{n}.toml", "w") as f:
        for i in range(n):
            f.write(f'[[check]]\nname = "segv {i}"\nkind = "library.loads"\nlibrary = "./segv.so"\n\n')
PY
cc -shared -fPIC -o "$dir/ok.so" fixtures/native/ok.c
cc -shared -fPIC -o "$dir/segv.so" fixtures/native/segv_on_load.c
commands="{"
for n in 1 10 100 1000 10000; do
  commands+="\"env.var × $n\": [\"./target/release/gpugate\", \"--suite\", \"$dir/env-$n.toml\", \"--junit\", \"$dir/j.xml\"],"
done
for n in 1 10; do
  commands+="\"library.loads (one worker) × $n\": [\"./target/release/gpugate\", \"--suite\", \"$dir/loads-$n.toml\", \"--junit\", \"$dir/j.xml\"],"
  commands+="\"segfaulting library.loads × $n\": [\"./target/release/gpugate\", \"--suite\", \"$dir/crashes-$n.toml\", \"--junit\", \"$dir/j.xml\", \"--test-threads\", \"1\"],"
done
commands="${commands%,}}"
python3 bench/measure.py "{\"runs\": $RUNS, \"allow_failure\": true, \"commands\": $commands}"
