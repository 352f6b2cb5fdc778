#!/usr/bin/env bash
# `gpugate report merge` at scale: two nightly reports of N test cases each
# (the same names, a tenth of them failing in the second) merged into one
# matrix, for N from 5,000 to 200,000. Medians of RUNS runs of the release
# binary (bench/measure.py).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
dir=target/bench/merge
mkdir -p "$dir"
cargo build --release -q
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
for n in (5000, 20000, 100000, 200000):
    for night in (1, 2):
        with open(f"{d}/night{night}-{n}.xml", "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
            f.write(f'<testsuite name="big" tests="{n}">\n')
            f.write(f'<properties><property name="nvidia.driver" value="58{night}.0"/></properties>\n')
            for i in range(n):
                if night == 2 and i % 10 == 0:
                    f.write(f'<testcase classname="big" name="case {i}"><failure message="slower than the baseline"/></testcase>\n')
                else:
                    f.write(f'<testcase classname="big" name="case {i}"/>\n')
            f.write('</testsuite>\n</testsuites>\n')
PY
commands="{"
for n in 5000 20000 100000 200000; do
  commands+="\"report merge, 2 × $n cases\": [\"./target/release/gpugate\", \"report\", \"merge\", \"$dir/night1-$n.xml\", \"$dir/night2-$n.xml\", \"--format\", \"json\", \"--out\", \"$dir/merged.json\"],"
done
commands="${commands%,}}"
python3 bench/measure.py "{\"runs\": $RUNS, \"commands\": $commands}"
