#!/usr/bin/env bash
# Produces the compute figures in BENCHMARKS.md: what tensorflow.fit_parity
# and tensorflow.throughput measure on this machine, as medians over RUNS
# runs of bench/compute.toml, read back from the JUnit reports.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release -q
./target/release/gpugate fetch-tensorflow >/dev/null
mkdir -p target/bench
for i in $(seq "$RUNS"); do
  ./target/release/gpugate --suite bench/compute.toml --test-threads 1 \
    --junit "target/bench/compute-$i.xml" >/dev/null 2>&1
done
python3 - "$RUNS" <<'PY'
import statistics, sys, xml.etree.ElementTree as ET
runs = int(sys.argv[1])
values, times = {}, {}
for i in range(1, runs + 1):
    for case in ET.parse(f"target/bench/compute-{i}.xml").iter("testcase"):
        name = case.get("name")
        if case.find("failure") is not None or case.find("error") is not None:
            sys.exit(f"{name} did not pass in run {i}")
        times.setdefault(name, []).append(float(case.get("time")))
        out = case.find("system-out")
        for line in (out.text or "").splitlines() if out is not None else []:
            key, _, value = line.partition(": ")
            try:
                number = float(value)
            except ValueError:
                continue
            values.setdefault((name, key), []).append(number)
for (name, key), vs in sorted(values.items()):
    print(f"| {name} | {key} | {statistics.median(vs):.4g} | {min(vs):.4g} | {max(vs):.4g} |")
for name, ts in times.items():
    print(f"| {name} | seconds | {statistics.median(ts):.3f} | {min(ts):.3f} | {max(ts):.3f} |")
PY
